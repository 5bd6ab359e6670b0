package dovecottest

import (
	"testing"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// Client is a second IMAP client beside the code under test: it appends
// mail and inspects what the poller did. It speaks plain IMAP and serves
// for any server, go-imap's in-memory one included.
type Client struct {
	IMAP *imapclient.Client // for what the helpers do not cover

	t testing.TB
}

// DialClient connects without TLS and logs in; the connection is closed
// when the test ends.
func DialClient(t testing.TB, addr, user, password string) *Client {
	t.Helper()
	c, err := imapclient.DialInsecure(addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.Login(user, password).Wait(); err != nil {
		t.Fatal(err)
	}
	return &Client{IMAP: c, t: t}
}

// Create creates folder.
func (c *Client) Create(folder string) {
	c.t.Helper()
	if err := c.IMAP.Create(folder, nil).Wait(); err != nil {
		c.t.Fatalf("create %s: %v", folder, err)
	}
}

// Delete deletes folder and the mail in it. Created again, the folder has a
// new UIDVALIDITY.
func (c *Client) Delete(folder string) {
	c.t.Helper()
	if err := c.IMAP.Unselect().Wait(); err != nil && c.IMAP.Mailbox() != nil {
		c.t.Fatalf("unselect: %v", err)
	}
	if err := c.IMAP.Delete(folder).Wait(); err != nil {
		c.t.Fatalf("delete %s: %v", folder, err)
	}
}

// Append appends raw to folder.
func (c *Client) Append(folder string, raw []byte) {
	c.t.Helper()
	cmd := c.IMAP.Append(folder, int64(len(raw)), nil)
	if _, err := cmd.Write(raw); err != nil {
		c.t.Fatalf("append to %s: %v", folder, err)
	}
	if err := cmd.Close(); err != nil {
		c.t.Fatalf("append to %s: %v", folder, err)
	}
	if _, err := cmd.Wait(); err != nil {
		c.t.Fatalf("append to %s: %v", folder, err)
	}
}

// Count returns the number of messages in folder, or -1 if it is missing.
func (c *Client) Count(folder string) int {
	c.t.Helper()
	data, err := c.IMAP.Status(folder, &imap.StatusOptions{NumMessages: true}).Wait()
	if err != nil {
		return -1
	}
	return int(*data.NumMessages)
}

// UIDValidity returns folder's UIDVALIDITY.
func (c *Client) UIDValidity(folder string) uint32 {
	c.t.Helper()
	data, err := c.IMAP.Status(folder, &imap.StatusOptions{UIDValidity: true}).Wait()
	if err != nil {
		c.t.Fatalf("status %s: %v", folder, err)
	}
	return data.UIDValidity
}

// Flags returns the UIDs of folder's messages with their flags.
func (c *Client) Flags(folder string) map[imap.UID][]imap.Flag {
	c.t.Helper()
	out := map[imap.UID][]imap.Flag{}
	for _, m := range c.fetch(folder, &imap.FetchOptions{UID: true, Flags: true}) {
		out[m.UID] = m.Flags
	}
	return out
}

// MessageIDs returns the Message-ID of each message in folder, in folder
// order, without angle brackets ("" for a message without one).
func (c *Client) MessageIDs(folder string) []string {
	c.t.Helper()
	var out []string
	for _, m := range c.fetch(folder, &imap.FetchOptions{Envelope: true}) {
		out = append(out, m.Envelope.MessageID)
	}
	return out
}

// fetch selects folder read-only, so nothing is marked \Seen, and fetches
// every message.
func (c *Client) fetch(folder string, opts *imap.FetchOptions) []*imapclient.FetchMessageBuffer {
	c.t.Helper()
	data, err := c.IMAP.Select(folder, &imap.SelectOptions{ReadOnly: true}).Wait()
	if err != nil {
		c.t.Fatalf("select %s: %v", folder, err)
	}
	defer func() { c.IMAP.Unselect().Wait() }()
	if data.NumMessages == 0 {
		return nil
	}
	msgs, err := c.IMAP.Fetch(imap.SeqSet{{Start: 1, Stop: 0}}, opts).Collect()
	if err != nil {
		c.t.Fatalf("fetch %s: %v", folder, err)
	}
	return msgs
}
