package mailparse

import (
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
