# casegate — see README.md
GO       ?= go
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS  := -X main.version=$(VERSION)

.PHONY: build run test lint bench clean

build:
	$(GO) build -ldflags '$(LDFLAGS)' -o bin/casegate ./cmd/casegate

run:
	$(GO) run -ldflags '$(LDFLAGS)' ./cmd/casegate serve $(ARGS)

test:
	$(GO) vet ./...
	$(GO) test -race -count=1 -timeout 20m ./...

lint:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); exit 1; }
	$(GO) vet ./...

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...

clean:
	rm -rf bin
