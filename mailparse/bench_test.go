package mailparse

import (
	"fmt"
	"os"
	"testing"
)

// BenchmarkParseCorpus parses the corpus messages in turn; one operation
// is one message. Run it on one core for the messages per second of one
// gateway worker: go test -bench ParseCorpus -benchmem -cpu 1 ./mailparse
func BenchmarkParseCorpus(b *testing.B) {
	var msgs [][]byte
	size := 0
	for _, path := range corpusFiles(b) {
		raw, err := os.ReadFile(path)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := Parse(raw, corpusOptions); err != nil {
			continue // limit breakers are not typical mail
		}
		msgs = append(msgs, raw)
		size += len(raw)
	}
	b.SetBytes(int64(size / len(msgs)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := Parse(msgs[i%len(msgs)], corpusOptions); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}

// BenchmarkVisibleReply measures the visible-reply extraction alone on
// the texts of the corpus.
func BenchmarkVisibleReply(b *testing.B) {
	var texts []string
	for _, path := range corpusFiles(b) {
		raw, err := os.ReadFile(path)
		if err != nil {
			b.Fatal(err)
		}
		if m, err := Parse(raw, corpusOptions); err == nil {
			texts = append(texts, m.Text)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		VisibleReply(texts[i%len(texts)])
	}
}

// largePlainMail is a plain-text mail of about size bytes, of ordinary
// lines of text.
func largePlainMail(size int) []byte {
	b := []byte("From: Big Sender <big@customer.example>\r\nTo: support@localhost\r\n" +
		"Subject: A large plain mail\r\nMessage-ID: <large@customer.example>\r\n" +
		"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n")
	for n := 1; len(b) < size; n++ {
		b = fmt.Appendf(b, "Line %07d of the log the customer pasted: nothing unusual happened here.\r\n", n)
	}
	return b
}

// BenchmarkParseLarge parses one 20 MB plain-text mail; B/op is what the
// parser allocates for it, to be compared with the mail's size:
//
//	go test -run '^$' -bench ParseLarge -benchmem -memprofile mem.out ./mailparse
func BenchmarkParseLarge(b *testing.B) {
	raw := largePlainMail(20_000_000)
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(raw, corpusOptions); err != nil {
			b.Fatal(err)
		}
	}
}
