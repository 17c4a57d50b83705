# newsbot — make run (the service, reading .env; the playground without a token), make test
# (everything CI runs).
GO      ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X main.version=$(VERSION)

.PHONY: run build test bench fuzz lint

# Built, then run (not `go run`): the operator sees newsbot's own exit line, not go run's
# "exit status 1" after it, and SIGTERM reaches newsbot itself. With a TELEGRAM_BOT_TOKEN (in
# the environment or ENV_FILE, default .env) that is the service; without one the playground:
# the same service against a Telegram stand-in, shown on a page (it prints one banner line
# with the page's address and the Redis it uses). redis-server is installed as for `make
# test`; the playground starts its own when nothing answers at REDIS_URL.
run: .env build
	@token="$${TELEGRAM_BOT_TOKEN:-$$(sed -n 's/^[[:space:]]*\(export[[:space:]]\{1,\}\)\{0,1\}TELEGRAM_BOT_TOKEN[[:space:]]*=//p' "$${ENV_FILE:-.env}" | tail -n 1 | sed 's/[[:space:]]#.*//' | tr -d "\"' \t\r")}"; \
	if [ -n "$$token" ]; then \
		exec ./bin/newsbot run; \
	else \
		./scripts/ensure-redis || echo "make run: no redis-server; the playground will use REDIS_URL if something answers there" >&2; \
		exec ./bin/newsbot playground; \
	fi

.env:
	cp .env.example .env
	@echo "created .env from .env.example: without TELEGRAM_BOT_TOKEN in it, make run runs the playground" >&2

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o bin/newsbot ./cmd/newsbot

test:
	./scripts/ensure-redis
	$(GO) vet ./...
	$(GO) test -race -count=1 -timeout 20m ./...

# Every benchmark of every package, including the delivery fan-out and a digest to 1,000,000
# readers (several minutes), the window of doubt at 30 and 100 msg/s and a simulated day of
# reading modes; the figures the issues ask for are printed as custom metrics (msgs/s, rtt/msg,
# rate/limit, peak-RSS-MB, in-doubt/kill, lost/kill, sent, stale, longest-wait-min, median-ms,
# ms/rescan, bytes/reader...).
bench:
	./scripts/ensure-redis
	DELIVERY_BENCH_MILLION=1 $(GO) test -run '^$$' -bench . -benchmem -timeout 30m ./...

fuzz:
	$(GO) test -run '^$$' -fuzz FuzzRender -fuzztime 3m ./internal/post/

lint:
	gofmt -l .
	$(GO) vet ./...
