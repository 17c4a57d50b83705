# newsbot — make run (the service, reading .env), make test (everything CI runs).
GO      ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X main.version=$(VERSION)

.PHONY: run build test bench fuzz lint

run: .env
	$(GO) run -ldflags "$(LDFLAGS)" ./cmd/newsbot run

.env:
	cp .env.example .env
	@echo "created .env from .env.example: set TELEGRAM_BOT_TOKEN in it" >&2

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o bin/newsbot ./cmd/newsbot

test:
	./scripts/ensure-redis
	$(GO) vet ./...
	$(GO) test -race -count=1 -timeout 20m ./...

bench:
	./scripts/ensure-redis
	$(GO) test -run '^$$' -bench . -benchmem -timeout 30m ./...

fuzz:
	$(GO) test -run '^$$' -fuzz FuzzRender -fuzztime 3m ./internal/post/

lint:
	gofmt -l .
	$(GO) vet ./...
