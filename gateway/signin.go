package gateway

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/casegate/casegate/store"
	"github.com/casegate/casegate/templates"
)

// Signing in to the pages, without passwords: a person asks for a link,
// casegate mails a one-time link to the address, and following it (a
// button: only the POST acts) starts a session. The link works once and
// for SignInLifetime; links and sessions are kept in the database, as
// hashes, so every instance sharing it honours them.
//
// A customer is any address that is the contact or a watcher of a case;
// an agent is an agents: address. Who asks for a link learns nothing of
// whether the address is known: an unknown one simply gets no mail. The
// sign-in mail counts against the recipient's hourly budget and the
// requesting client's (WithClient), like every notification.

// Kinds of sign-in.
const (
	KindCustomer = "customer"
	KindAgent    = "agent"
)

// SignInLifetime is how long a sign-in link works.
const SignInLifetime = 15 * time.Minute

// ErrSignInUsed is a sign-in link that was used already, has expired, or
// never existed.
var ErrSignInUsed = errors.New("this sign-in link was used already or has expired")

// RequestSignIn mails a one-time sign-in link of kind to email, when the
// address may sign in as that kind. It answers the same either way.
func (g *Gateway) RequestSignIn(ctx context.Context, kind, email string) error {
	_, addr, err := g.suppliedAddress("address", email)
	if err != nil {
		return err
	}
	switch kind {
	case KindAgent:
		if !g.isAgent(addr) {
			g.log.Info("sign-in link not sent: not an agent address", "address", addr)
			return nil
		}
	case KindCustomer:
		cases, err := g.store.PersonCases(ctx, addr, "", 0, 1)
		if err != nil {
			return err
		}
		if len(cases) == 0 {
			g.log.Info("sign-in link not sent: no case of this address", "address", addr)
			return nil
		}
	default:
		return fmt.Errorf("%w: kind %q", ErrInvalid, kind)
	}
	token := newSecret()
	path := "/signin/"
	if kind == KindAgent {
		path = "/console/signin/"
	}
	err = g.store.Write(ctx, func(tx *store.Tx) error {
		if err := tx.CreateLogin(ctx, hashSecret(token), kind, addr, SignInLifetime); err != nil {
			return err
		}
		data := templates.Data{Links: map[string]string{"signin": strings.TrimRight(g.cfg.PublicURL, "/") + path + token}}
		c := store.Case{Subject: "Your sign-in link"}
		return g.enqueue(ctx, tx, c, "signin", []recipient{{Email: addr, Role: kind}}, data, "")
	})
	if err != nil {
		return err
	}
	g.kick()
	return nil
}

// SignInInfo says whom a sign-in token signs in, without using it:
// ErrSignInUsed when it no longer works.
func (g *Gateway) SignInInfo(ctx context.Context, token string) (store.Login, error) {
	l, err := g.store.LoginByHash(ctx, hashSecret(token))
	if errors.Is(err, store.ErrNotFound) || err == nil && (l.UsedAt != nil || !g.store.Now().Before(l.ExpiresAt)) {
		return l, ErrSignInUsed
	}
	return l, err
}

// SignIn uses a sign-in token, once, and starts a session of ttl for its
// person: it returns the session's secret (for the cookie) and the
// session. ErrSignInUsed when the token no longer works.
func (g *Gateway) SignIn(ctx context.Context, token string, ttl time.Duration) (string, store.Session, error) {
	secret := newSecret()
	l, err := g.store.UseLogin(ctx, hashSecret(token), hashSecret(secret), ttl)
	if errors.Is(err, store.ErrNotFound) {
		return "", store.Session{}, ErrSignInUsed
	}
	if err != nil {
		return "", store.Session{}, err
	}
	g.log.Info("signed in", "kind", l.Kind, "who", l.Email)
	return secret, store.Session{Kind: l.Kind, Email: l.Email, ExpiresAt: g.store.Now().Add(ttl)}, nil
}

// StartSession starts a session of ttl for an agent who proved herself
// otherwise (an API token, named who) and returns its secret.
func (g *Gateway) StartSession(ctx context.Context, kind, who string, ttl time.Duration) (string, error) {
	secret := newSecret()
	err := g.store.Write(ctx, func(tx *store.Tx) error {
		return tx.CreateSession(ctx, hashSecret(secret), kind, who, ttl)
	})
	return secret, err
}

// Session reads the session of a cookie's secret; store.ErrNotFound when
// there is none or it expired.
func (g *Gateway) Session(ctx context.Context, secret string) (store.Session, error) {
	if secret == "" {
		return store.Session{}, store.ErrNotFound
	}
	return g.store.SessionByHash(ctx, hashSecret(secret))
}

// SignOut ends the session of a cookie's secret.
func (g *Gateway) SignOut(ctx context.Context, secret string) error {
	return g.store.DeleteSession(ctx, hashSecret(secret))
}

// IsAgent reports whether addr is an agents: address.
func (g *Gateway) IsAgent(addr string) bool { return g.isAgent(addr) }

func newSecret() string {
	var b [24]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

func hashSecret(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}
