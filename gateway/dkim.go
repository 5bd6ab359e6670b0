package gateway

import (
	"bytes"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/emersion/go-msgauth/dkim"
	gomail "github.com/wneessen/go-mail"
)

// Outbound DKIM (RFC 6376; Ed25519 keys RFC 8463). Every notification is
// signed as the last step of composing it (compose.go), so whichever
// sender sends it sends the signed mail. The signature covers the body
// and the header fields below, relaxed/relaxed; a field listed but absent
// is signed as absent, so nobody can add one on the way.

// DKIMConfig is the signing key (config dkim.*). Without a key nothing is
// signed.
type DKIMConfig struct {
	Domain   string        // d=, the domain that takes responsibility (our From domain or its parent)
	Selector string        // s=, the key record is at SELECTOR._domainkey.DOMAIN
	Key      crypto.Signer // *rsa.PrivateKey or ed25519.PrivateKey
}

// dkimHeaders are the header fields a signature covers.
var dkimHeaders = []string{
	"From", "Reply-To", "To", "Cc", "Subject", "Date", "Message-ID", "In-Reply-To", "References",
	"MIME-Version", "Content-Type", "Content-Transfer-Encoding", "Auto-Submitted",
	"List-Unsubscribe", "List-Unsubscribe-Post", "X-Casegate-Case",
}

// signDKIM adds a DKIM-Signature to msg when a key is configured. The
// message is rendered once to be signed; a gomail message renders the same
// bytes every time (fixed Date, Message-ID and boundaries), so the copy
// the sender writes carries a valid signature.
func (g *Gateway) signDKIM(msg *gomail.Msg) error {
	d := g.rules().DKIM
	if d.Key == nil {
		return nil
	}
	var buf bytes.Buffer
	if _, err := msg.WriteTo(&buf); err != nil {
		return fmt.Errorf("dkim: render: %w", err)
	}
	s, err := dkim.NewSigner(&dkim.SignOptions{
		Domain: d.Domain, Selector: d.Selector, Signer: d.Key, HeaderKeys: dkimHeaders,
		HeaderCanonicalization: dkim.CanonicalizationRelaxed, BodyCanonicalization: dkim.CanonicalizationRelaxed,
	})
	if err != nil {
		return fmt.Errorf("dkim: %w", err)
	}
	defer s.Close()
	if _, err := s.Write(buf.Bytes()); err != nil {
		return fmt.Errorf("dkim: %w", err)
	}
	if err := s.Close(); err != nil {
		return fmt.Errorf("dkim: sign: %w", err)
	}
	v := strings.TrimSuffix(s.Signature(), "\r\n")
	v = strings.TrimSpace(v[strings.IndexByte(v, ':')+1:])
	msg.SetGenHeaderPreformatted("DKIM-Signature", v)
	return nil
}

// GenerateDKIMKey makes a new signing key: "rsa" (2048 bits) or "ed25519".
// It returns the key as a PKCS #8 PEM block and the TXT record to publish
// at SELECTOR._domainkey.DOMAIN.
func GenerateDKIMKey(kind string) (pemKey []byte, record string, err error) {
	var key crypto.Signer
	switch kind {
	case "rsa", "":
		key, err = rsa.GenerateKey(rand.Reader, 2048)
	case "ed25519":
		_, key, err = ed25519.GenerateKey(rand.Reader)
	default:
		return nil, "", fmt.Errorf("key type %q: must be rsa or ed25519", kind)
	}
	if err != nil {
		return nil, "", err
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, "", err
	}
	record, err = DKIMRecord(key.Public())
	if err != nil {
		return nil, "", err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), record, nil
}

// DKIMRecord is the DNS TXT record of a public key (RFC 6376 §3.6.1; RFC
// 8463 §4.2 for Ed25519, whose p= is the raw 32-byte key).
func DKIMRecord(pub crypto.PublicKey) (string, error) {
	switch pub := pub.(type) {
	case *rsa.PublicKey:
		der, err := x509.MarshalPKIXPublicKey(pub)
		if err != nil {
			return "", err
		}
		return "v=DKIM1; k=rsa; p=" + base64.StdEncoding.EncodeToString(der), nil
	case ed25519.PublicKey:
		return "v=DKIM1; k=ed25519; p=" + base64.StdEncoding.EncodeToString(pub), nil
	}
	return "", fmt.Errorf("unsupported key type %T", pub)
}

// LoadDKIMKey reads a PEM private key (PKCS #8, or PKCS #1 for RSA) from
// path; an RSA key must have at least 1024 bits (RFC 8301 §3.2).
func LoadDKIMKey(path string) (crypto.Signer, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	block, _ := pem.Decode(b)
	if block == nil {
		return nil, errors.New("no PEM key in the file")
	}
	var key any
	switch block.Type {
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	default:
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	}
	if err != nil {
		return nil, fmt.Errorf("parse key: %w", err)
	}
	switch k := key.(type) {
	case *rsa.PrivateKey:
		if k.N.BitLen() < 1024 {
			return nil, fmt.Errorf("RSA key of %d bits: at least 1024 are needed", k.N.BitLen())
		}
		return k, nil
	case ed25519.PrivateKey:
		return k, nil
	}
	return nil, fmt.Errorf("unsupported key type %T: use rsa or ed25519", key)
}
