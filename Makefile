# herd — the targets mean what they say. Every target installs what it
# needs on a fresh Debian machine (Go modules; Debian/npm packages where a
# test needs them).
GO        ?= go
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT    ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
LDFLAGS   := -s -w -X github.com/herdmon/herd/internal/buildinfo.Version=$(VERSION) -X github.com/herdmon/herd/internal/buildinfo.Commit=$(COMMIT)
DATA_DIR  ?= ./herd-data
export CGO_ENABLED=0

.PHONY: all build run test test-deps test-arm test-short bench fuzz dist lint deps clean ui ui-deps

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
# deploy's test hosts; qemu-user for the ARM pass and smoke tests.
# Installed only when missing.
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
	@{ command -v qemu-arm-static && command -v qemu-aarch64-static; } >/dev/null 2>&1 || { \
		echo "installing Debian package qemu-user-static (tests on armv6, armv7 and arm64)"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq qemu-user-static >/dev/null; }

# Every test: unit, integration (real processes), fuzz seed corpora, race
# detector; then the ARM pass. tests/arm smoke-tests the armv6, armv7 and
# arm64 release binaries under qemu within the first go test.
test: deps test-deps ui
	@test -z "$$(gofmt -l cmd internal bench tests 2>/dev/null)" || { echo "gofmt needed:"; gofmt -l cmd internal bench tests; exit 1; }
	$(GO) mod tidy -diff   # go.mod and go.sum say exactly what the code imports
	$(GO) vet ./...
	GOOS=linux GOARCH=arm GOARM=6 $(GO) vet ./...   # 32-bit Pis: int overflows only show here
	CGO_ENABLED=1 $(GO) test -race -count=1 -timeout 20m ./...
	@$(MAKE) --no-print-directory test-arm

# The ARM pass: the tests compiled for the Raspberry Pis' platforms and run
# under qemu-user (tests/arm/exec.sh names the emulator explicitly: no
# binfmt_misc needed), in short mode, without the race detector (not
# supported there). Tests that start a child process (the test binary for
# the crash tests, a herd binary they build) start it through the same
# emulator (internal/testutil.Command), so kill -9 and crash tests run too.
# Not run on ARM:
#  - tests/compat and tests/deploy: against a real influxd / sshd hosts
#    that run amd64 herd, testing no ARM-specific code (the query engine's
#    unit tests do run);
#  - tests/arm: the release-binary smoke, which runs natively above and
#    drives qemu itself;
#  - tests/e2e TestHostileQueriesStayWithinMemory: 500,000 rows and
#    100,000 series take over 5 minutes under emulation; its memory
#    accounting is the same code on every platform.
# armv6 (Pi Zero/1, the weakest) runs every other package: about 3 minutes
# on the 2-core machine. armv7 and arm64 (about 1 minute each) run the
# packages where the platform shows: storage with its self-exec crash
# tests (64-bit atomics, fsync, file sizes), encodings, line protocol,
# models, config, httpapi, the agent (madvise, /proc) and cmd/herd; their
# query and e2e suites would add about 3 minutes each for code that
# armv6's run already tests on 32 bits.
ARM_EXEC     := $(CURDIR)/tests/arm/exec.sh
ARM_ALL       = $(shell $(GO) list ./... 2>/dev/null | grep -v -e /tests/compat$$ -e /tests/deploy$$ -e /tests/arm$$)
ARM_PLATFORM := ./internal/storage/... ./internal/lineproto ./internal/models ./internal/membudget ./internal/config \
	./internal/httpapi ./internal/buildinfo ./internal/agent/... ./cmd/herd
ARM_TEST     := $(GO) test -short -count=1 -timeout 15m -exec $(ARM_EXEC) -skip '^TestHostileQueriesStayWithinMemory$$'
test-arm: deps test-deps
	@start=$$(date +%s); GOOS=linux GOARCH=arm GOARM=6 $(ARM_TEST) $(ARM_ALL); rc=$$?; \
		echo "ARM pass armv6: $$(( $$(date +%s) - start ))s"; exit $$rc
	@start=$$(date +%s); GOOS=linux GOARCH=arm GOARM=7 $(ARM_TEST) $(ARM_PLATFORM); rc=$$?; \
		echo "ARM pass armv7: $$(( $$(date +%s) - start ))s"; exit $$rc
	@start=$$(date +%s); GOOS=linux GOARCH=arm64 $(ARM_TEST) $(ARM_PLATFORM); rc=$$?; \
		echo "ARM pass arm64: $$(( $$(date +%s) - start ))s"; exit $$rc

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
