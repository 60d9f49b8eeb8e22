# livestore-sync — every task of the project. Needs Go (see go.mod; GOTOOLCHAIN below picks the
# release every target uses) and, for the compatibility tests in e2e/, Node.js 20+ with npm. Tools
# (buf, protoc plugins, staticcheck, govulncheck) come through the Go toolchain, pinned here and in
# go.mod; nothing else is downloaded.

GO          ?= go
# Every target builds, tests and checks with this Go release, which the go command fetches from the
# module proxy when it is not installed (go.mod's `go` line is the oldest release the code compiles
# with, not the one releases are built with). It fixes the standard library's vulnerabilities that
# `make vulncheck` finds in older ones (go1.26.8 has a dozen: net/http, crypto/tls, crypto/x509,
# html/template). GOTOOLCHAIN=local in the environment uses the installed Go instead.
export GOTOOLCHAIN ?= go1.27.3
BUF_VERSION := v1.75.0
BUF         := $(GO) run github.com/bufbuild/buf/cmd/buf@$(BUF_VERSION)
STATICCHECK := $(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2
BENCHSTAT   := $(GO) run golang.org/x/perf/cmd/benchstat@v0.0.0-20260908200009-22c9c6c9d4da
# `make vulncheck` checks the code against the Go vulnerability database of the golang.org/x/vulndb
# module at VULNDB_VERSION, as the module proxy serves it (its data/osv/ holds every report; vuln.go.dev
# is not asked). The database is built from it once per version, with the module's own indexdb, into
# VULNDB_DIR (in GOCACHE, outside the repository); bump VULNDB_VERSION to a newer pseudo-version
# (`go list -m golang.org/x/vulndb@latest`) to check against newer reports.
VULNDB_VERSION := v0.0.0-20261105234957-e22db6528018
VULNDB_DIR      = $(shell $(GO) env GOCACHE)/livestore-sync-vulndb/$(VULNDB_VERSION)
INDEXDB        := $(GO) run golang.org/x/vulndb/cmd/indexdb@$(VULNDB_VERSION)
GOVULNCHECK    := $(GO) run golang.org/x/vuln/cmd/govulncheck@v1.9.0
# `make bench` writes its results to BENCH_OUT and compares them with BENCH_BASE (machine-specific,
# not committed: `make bench-baseline` saves one). BENCHCOUNT runs of each benchmark give benchstat
# its confidence intervals; BENCH selects benchmarks by regexp, BENCHTIME sets each run's length.
BENCH       ?= .
BENCHCOUNT  ?= 6
BENCHTIME   ?= 1s
BENCH_OUT   ?= bench/new.txt
BENCH_BASE  ?= bench/baseline.txt
BIN         := bin/livestore-sync
ADDR        ?= localhost:8787
DATA_DIR    ?= ./data
# FUZZTIME is how much `make fuzz` runs each fuzz target: a count of runs (Nx), not a duration,
# because with a duration Go's fuzzing coordinator (seen with 1.26) can fail a target that found nothing
# ("context deadline exceeded" at the end, golang/go#75804). FUZZMINIMIZETIME bounds the minimizing
# of each new input: 0 spends the runs on fuzzing; raise it (e.g. 60s) to minimize a crasher. Each
# run first replays the target's seeds and the inputs earlier runs cached in GOCACHE
# (`go clean -fuzzcache` drops the cached ones).
FUZZTIME         ?= 5000x
FUZZMINIMIZETIME ?= 0
FUZZ              = $(GO) test -run '^$$' -fuzztime $(FUZZTIME) -fuzzminimizetime $(FUZZMINIMIZETIME)

SHELL       := bash
.SHELLFLAGS := -eu -o pipefail -c

.PHONY: all help build run test test-go fuzz test-e2e lint vulncheck check-generated generate bench bench-baseline bench-e2e clean

all: build

## help: list the targets
help:
	@grep -E '^## ' $(MAKEFILE_LIST) | sed -e 's/^## //' | awk '{ i = index($$0, ": "); printf "  %-16s %s\n", substr($$0, 1, i - 1), substr($$0, i + 2) }'

## build: compile the livestore-sync binary into bin/
build:
	$(GO) build -o $(BIN) ./cmd/livestore-sync

## run: start the server on $(ADDR) with its data in $(DATA_DIR)
run: build
	./$(BIN) serve --addr $(ADDR) --data-dir $(DATA_DIR)

## test: everything CI checks: lint, generated code up to date, Go tests (race detector), fuzz targets, Node compatibility tests
test: lint check-generated test-go fuzz test-e2e

# PG_TEST_NOTE is what test-go says when the PostgreSQL tests are skipped.
PG_TEST_NOTE := note: LIVESTORE_SYNC_TEST_POSTGRES is not set, so the PostgreSQL tests (the engine in service/storage/pgstore, \
  the multi-node tests) were skipped; set it to a PostgreSQL server URL to run them, e.g. \
  LIVESTORE_SYNC_TEST_POSTGRES='postgres://postgres@127.0.0.1:5432/test?sslmode=disable' (each test makes its own schema or database, dropped after)

## test-go: the Go tests, with the race detector; the PostgreSQL ones too when LIVESTORE_SYNC_TEST_POSTGRES holds a database URL (.ci/run sets it)
test-go:
	status=0; $(GO) test -race -count=1 ./... || status=$$?; \
	  if [ -z "$${LIVESTORE_SYNC_TEST_POSTGRES:-}" ]; then echo "$(PG_TEST_NOTE)"; fi; exit $$status

## fuzz: every fuzz target for $(FUZZTIME) runs, one after another (seeds in each package's testdata/fuzz/)
fuzz:
	$(FUZZ) -fuzz '^FuzzDecodeClientMessage$$' ./bridge/
	$(FUZZ) -fuzz '^FuzzSplitObject$$' ./bridge/
	$(FUZZ) -fuzz '^FuzzMatchSyncRequest$$' ./bridge/
	$(FUZZ) -fuzz '^FuzzServeHTTP$$' ./bridge/
	$(FUZZ) -fuzz '^FuzzDecodeMessage03$$' ./bridge/
	$(FUZZ) -fuzz '^FuzzMatchSyncRequest03$$' ./bridge/
	$(FUZZ) -fuzz '^FuzzAppendString$$' ./service/eventjson/
	$(FUZZ) -fuzz '^FuzzPulledEvent$$' ./service/eventjson/
	$(FUZZ) -fuzz '^FuzzPullResponse$$' ./service/eventjson/
	$(FUZZ) -fuzz '^FuzzValid$$' ./service/eventjson/
	$(FUZZ) -fuzz '^FuzzParseEvent$$' ./service/eventjson/
	$(FUZZ) -fuzz '^FuzzPushProto$$' ./service/
	$(FUZZ) -fuzz '^FuzzPushEvents$$' ./service/
	$(FUZZ) -fuzz '^FuzzDecodeValue$$' ./service/storage/pebblestore/
	$(FUZZ) -fuzz '^FuzzEncodeValue$$' ./service/storage/pebblestore/
	$(FUZZ) -fuzz '^FuzzStoreKeys$$' ./service/storage/pebblestore/
	$(FUZZ) -fuzz '^FuzzParseStoreKey$$' ./service/storage/pebblestore/
	$(FUZZ) -fuzz '^FuzzParseStat$$' ./internal/procstat/
	$(FUZZ) -fuzz '^FuzzParseStatusRSS$$' ./internal/procstat/
	$(FUZZ) -fuzz '^FuzzScanChunk$$' ./internal/loadgen/
	$(FUZZ) -fuzz '^FuzzParsePayload$$' ./service/storage/pgstore/

## test-e2e: the Node compatibility tests with LiveStore's published clients (e2e/: 0.4.0; e2e/v0.3/: 0.3.1, and both on one store)
test-e2e: build e2e/node_modules/.installed e2e/v0.3/node_modules/.installed
	cd e2e && LIVESTORE_SYNC_BIN=$(CURDIR)/$(BIN) npm test
	cd e2e/v0.3 && LIVESTORE_SYNC_BIN=$(CURDIR)/$(BIN) npm test

e2e/node_modules/.installed: e2e/package.json e2e/package-lock.json
	cd e2e && npm ci --no-audit --no-fund
	touch $@

e2e/v0.3/node_modules/.installed: e2e/v0.3/package.json e2e/v0.3/package-lock.json
	cd e2e/v0.3 && npm ci --no-audit --no-fund
	touch $@

## lint: buf lint and format, go mod tidy, go vet, staticcheck, gofmt, then vulncheck
lint:
	$(BUF) lint
	$(BUF) format --diff --exit-code
	$(GO) mod tidy -diff
	$(GO) vet ./...
	$(STATICCHECK) ./...
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './e2e/*')); \
	  if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(MAKE) --no-print-directory vulncheck

## vulncheck: govulncheck (pinned) against the vulnerability database of golang.org/x/vulndb at VULNDB_VERSION, from the module proxy, built once into VULNDB_DIR
vulncheck:
	@db='$(VULNDB_DIR)'; \
	  if [ ! -d "$$db" ]; then \
	    echo "building the vulnerability database $(VULNDB_VERSION) into $$db (once per version)"; \
	    $(GO) mod download golang.org/x/vulndb@$(VULNDB_VERSION); \
	    src=$$($(GO) list -m -f '{{.Dir}}' golang.org/x/vulndb@$(VULNDB_VERSION)); \
	    mkdir -p "$$(dirname "$$db")"; \
	    tmp=$$(mktemp -d "$$db.tmp.XXXXXX"); trap 'rm -rf "$$tmp"' EXIT; \
	    $(INDEXDB) -vulns "$$src/data/osv" -out "$$tmp"; \
	    chmod 755 "$$tmp"; mv -T "$$tmp" "$$db" 2>/dev/null || [ -d "$$db" ]; \
	  fi; \
	  $(GOVULNCHECK) -db "file://$$db" ./...

## generate: regenerate gen/ from proto/
generate:
	$(BUF) generate

## check-generated: fail when gen/ differs from what `make generate` writes
check-generated: generate
	@if [ -n "$$(git status --porcelain -- gen)" ]; then \
	  echo "gen/ is stale: run 'make generate' and commit the result"; git status --short -- gen; exit 1; fi

## bench: the Go benchmarks of the hot paths (PostgreSQL's with LIVESTORE_SYNC_TEST_POSTGRES), written to bench/new.txt and compared with benchstat to bench/baseline.txt when it exists (BENCH, BENCHCOUNT, BENCHTIME narrow them)
bench:
	@mkdir -p $(dir $(BENCH_OUT))
	$(GO) test -run '^$$' -bench '$(BENCH)' -benchmem -count $(BENCHCOUNT) -benchtime $(BENCHTIME) \
	  ./service/... ./bridge/ | tee $(BENCH_OUT)
	@if [ -f $(BENCH_BASE) ]; then $(BENCHSTAT) $(BENCH_BASE) $(BENCH_OUT); \
	  else echo "no baseline yet: 'make bench-baseline' saves this run as $(BENCH_BASE)"; fi

## bench-baseline: keep the last `make bench` run as the baseline later runs are compared with
bench-baseline:
	cp $(BENCH_OUT) $(BENCH_BASE)

## bench-e2e: throughput and latency under LiveStore's real client (e2e/bench.mjs), ws then http
bench-e2e: build e2e/node_modules/.installed
	cd e2e && LIVESTORE_SYNC_BIN=$(CURDIR)/$(BIN) node bench.mjs
	cd e2e && LIVESTORE_SYNC_BIN=$(CURDIR)/$(BIN) E2E_TRANSPORT=http node bench.mjs

## clean: remove the built binary
clean:
	rm -rf bin
