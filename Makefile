# herd — the targets mean what they say. Every target installs what it
# needs on a fresh Debian machine (Go modules; Debian/npm packages where a
# test needs them).
GO        ?= go
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT    ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
LDFLAGS   := -s -w -X github.com/herdmon/herd/internal/buildinfo.Version=$(VERSION) -X github.com/herdmon/herd/internal/buildinfo.Commit=$(COMMIT)
DATA_DIR  ?= ./herd-data
export CGO_ENABLED=0

.PHONY: all build run test test-deps test-short bench fuzz dist lint deps clean ui ui-deps

all: build

deps:
	$(GO) mod download

build: deps
	$(GO) build -ldflags '$(LDFLAGS)' -o bin/herd ./cmd/herd

# The dashboard: web/ built with esbuild into internal/ui/dist, which go
# build embeds (without it the binary serves a how-to-build page).
# npm ci runs again only when the lock file changes.
ui: web/node_modules/.package-lock.json
	cd web && npm run --silent build

web/node_modules/.package-lock.json: web/package.json web/package-lock.json | ui-deps
	cd web && npm ci --no-audit --no-fund
	@touch $@

ui-deps:
	@command -v npm >/dev/null 2>&1 || { \
		echo "installing Debian packages nodejs npm (the dashboard's build)"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null; }

# Server on http://localhost:8086 with its data in ./herd-data.
run: ui build
	./bin/herd server --data-dir $(DATA_DIR) --http-addr :8086

# Debian packages the tests run against: a real InfluxDB 1.x for the
# InfluxQL differential suite; its influx shell, driven against herd by
# the e2e tests; OpenSSH servers (and ip, for network namespaces) as herd
# deploy's test hosts. Installed only when missing.
test-deps:
	@command -v influxd >/dev/null 2>&1 || { \
		echo "installing Debian package influxdb (differential query tests)"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq influxdb >/dev/null; }
	@command -v influx >/dev/null 2>&1 || { \
		echo "installing Debian package influxdb-client (influx shell e2e tests)"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq influxdb-client >/dev/null; }
	@test -x /usr/bin/chromium || { \
		echo "installing Debian package chromium (dashboard browser tests)"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }
	@{ test -x /usr/sbin/sshd && command -v ip >/dev/null 2>&1; } || { \
		echo "installing Debian packages openssh-server, iproute2 (herd deploy tests: sshd hosts in network namespaces)"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openssh-server iproute2 >/dev/null; }

# Every test: unit, integration (real processes), fuzz seed corpora, race detector.
test: deps test-deps ui
	@test -z "$$(gofmt -l cmd internal bench tests 2>/dev/null)" || { echo "gofmt needed:"; gofmt -l cmd internal bench tests; exit 1; }
	$(GO) mod tidy -diff   # go.mod and go.sum say exactly what the code imports
	$(GO) vet ./...
	GOOS=linux GOARCH=arm GOARM=6 $(GO) vet ./...   # 32-bit Pis: int overflows only show here
	CGO_ENABLED=1 $(GO) test -race -count=1 -timeout 20m ./...

test-short: deps
	$(GO) test -count=1 -short ./...

bench: build
	$(GO) test -run '^$$' -bench . -benchmem ./...
	bash bench/peers.sh

dist: deps ui
	@mkdir -p dist
	GOOS=linux GOARCH=amd64 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o dist/herd-linux-amd64 ./cmd/herd
	GOOS=linux GOARCH=arm64 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o dist/herd-linux-arm64 ./cmd/herd
	GOOS=linux GOARCH=arm GOARM=7 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o dist/herd-linux-armv7 ./cmd/herd
	GOOS=linux GOARCH=arm GOARM=6 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o dist/herd-linux-armv6 ./cmd/herd

lint:
	gofmt -l cmd internal bench tests
	$(GO) vet ./...

clean:
	rm -rf bin dist
