# casegate — see README.md
GO       ?= go
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS  := -X main.version=$(VERSION)

.PHONY: build run test lint bench bench-intake bench-imap clean

build:
	$(GO) build -ldflags '$(LDFLAGS)' -o bin/casegate ./cmd/casegate

run:
	$(GO) run -ldflags '$(LDFLAGS)' ./cmd/casegate serve $(ARGS)

test:
	$(GO) vet ./...
	$(GO) test -race -count=1 -timeout 20m ./...
	# the gateway's whole suite once more, on PostgreSQL (skipped without it)
	CASEGATE_TEST_DATABASE=postgres $(GO) test -race -count=1 -timeout 20m ./gateway/

lint:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); exit 1; }
	$(GO) vet ./...

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...

# smtp-source against smtp-sink and against a fresh casegate, one run;
# BENCH_N, BENCH_SESSIONS, BENCH_SIZE override 3000 mails, 20 sessions, 5 KB.
bench-intake:
	GO=$(GO) ./cmd/casegate-load/bench-intake.sh

# An IMAP backlog drained through the real gateway and database from a real
# Dovecot (apt-get install dovecot-imapd); without Dovecot it fails, not skips.
bench-imap:
	CASEGATE_REQUIRE_DOVECOT=1 $(GO) test -run '^$$' -bench 'DovecotBacklog$$' -benchtime 3x ./cmd/casegate/

clean:
	rm -rf bin
