package mailparse

import (
	"testing"
)

func TestNewAttachment(t *testing.T) {
	a := newAttachment("a.txt", "text/plain", []byte("abc"), "", false)
	if a.Size != 3 || a.SHA256 != "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" {
		t.Errorf("newAttachment = %+v", a)
	}
}

func TestAttachmentNames(t *testing.T) {
	check := func(got, want string) {
		t.Helper()
		if got != want {
			t.Errorf("got %q, want %q", got, want)
		}
	}
	check(messageFilename("Re: a/b: c?"), "Re_ a_b_ c_.eml")
	check(messageFilename(""), "message.eml")
	check(defaultFilename("image/jpeg", 2), "attachment-2.jpg")
	check(defaultFilename("text/x-log", 3), "attachment-3.txt")
	check(defaultFilename("application/x-thing", 4), "attachment-4.bin")
	check(defaultFilename("message/delivery-status", 1), "delivery-status.txt")
	check(defaultFilename("application/pgp-signature", 1), "signature.asc")
}
