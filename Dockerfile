# syntax=docker/dockerfile:1
#
# newsbot container image: a static Go binary on a small Alpine base, run as a non-root user.
#
#   docker build --build-arg VERSION=$(git describe --tags --always --dirty) -t newsbot .
#   docker run --rm --env-file .env -v "$PWD/articles:/app/articles:ro" -p 8080:8080 newsbot
#
# Alpine rather than distroless so that HEALTHCHECK has a client (busybox wget) to probe
# /healthz with; the binary itself needs nothing from the image but CA certificates (HTTPS to
# Telegram and the feeds) and the time zone database (TIMEZONE).

# The builder runs on the build machine's own platform and cross-compiles, so a multi-arch
# build (docker buildx build --platform linux/amd64,linux/arm64) needs no emulation.
FROM --platform=$BUILDPLATFORM golang:1.26 AS build
WORKDIR /src

# Modules first: this layer is rebuilt only when go.mod or go.sum change.
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod \
    go mod download

# Sources: cmd/newsbot, internal/..., and locales/, whose *.toml files are embedded into the
# binary by go:embed at build time (nothing is read from disk at run time).
COPY . .

ARG VERSION=dev
ARG TARGETOS
ARG TARGETARCH
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=${TARGETOS} GOARCH=${TARGETARCH} \
    go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/newsbot ./cmd/newsbot


FROM alpine:3.22

ARG VERSION=dev
LABEL org.opencontainers.image.title="newsbot" \
      org.opencontainers.image.description="Telegram news bot for a multilingual publisher" \
      org.opencontainers.image.version="${VERSION}"

# ca-certificates: TLS to api.telegram.org and feeds; tzdata: TIMEZONE=Asia/Almaty.
# A fixed uid/gid so that files on mounted volumes can be granted to it on the host.
RUN apk add --no-cache ca-certificates tzdata \
 && addgroup -S -g 10001 newsbot \
 && adduser -S -D -H -u 10001 -G newsbot -s /sbin/nologin newsbot \
 && mkdir -p /app/articles

COPY --from=build /out/newsbot /usr/local/bin/newsbot

# ARTICLES_DIR defaults to ./articles, which is /app/articles here: mount the article store
# on it (read-only is enough; newsbot only reads it).
WORKDIR /app
VOLUME ["/app/articles"]

# newsbot logs to stderr, which the runtime collects like stdout; JSON is what log pipelines parse.
# Set LOG_FORMAT=text in the environment to read the logs by eye.
ENV LOG_FORMAT=json

USER 10001:10001

# HTTP_ADDR (default :8080): /healthz, /readyz, /metrics and the webhook.
EXPOSE 8080

# Liveness only: /healthz answers while the process lives. /readyz (Redis and Telegram) is for
# load balancers and orchestrators that must stop routing to a copy, not restart it.
HEALTHCHECK --interval=30s --timeout=5s --start-period=15s --retries=3 \
    CMD addr="${HTTP_ADDR:-:8080}"; wget -q -T 3 -O /dev/null "http://127.0.0.1:${addr##*:}/healthz" || exit 1

# The service stops cleanly on SIGTERM (docker stop) within 10 s.
STOPSIGNAL SIGTERM
ENTRYPOINT ["newsbot"]
CMD ["run"]
