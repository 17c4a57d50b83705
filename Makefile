# newsbot — make run (the service, reading .env), make test (everything CI runs).
GO      ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X main.version=$(VERSION)

.PHONY: run build test bench fuzz lint

# Built, then run (not `go run`): the operator sees newsbot's own exit line, not go run's
# "exit status 1" after it, and SIGTERM reaches newsbot itself.
run: .env build
	./bin/newsbot run

.env:
	cp .env.example .env
	@echo "created .env from .env.example: set TELEGRAM_BOT_TOKEN in it" >&2

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o bin/newsbot ./cmd/newsbot

test:
	./scripts/ensure-redis
	$(GO) vet ./...
	$(GO) test -race -count=1 -timeout 20m ./...

# Every benchmark of every package, including the delivery fan-out to 1,000,000 readers (about
# a minute and a half of it); the figures the issues ask for are printed as custom metrics
# (msgs/s, rtt/msg, rate/limit, peak-rss-MB, median-ms, ms/rescan, bytes/reader...).
bench:
	./scripts/ensure-redis
	DELIVERY_BENCH_MILLION=1 $(GO) test -run '^$$' -bench . -benchmem -timeout 30m ./...

fuzz:
	$(GO) test -run '^$$' -fuzz FuzzRender -fuzztime 3m ./internal/post/

lint:
	gofmt -l .
	$(GO) vet ./...
