# edged: `make run` runs the daemon on its embedded defaults, `make test` runs every test.
# Both install what they need first (`make deps`: Debian packages and ONNX Runtime).
SHELL := /bin/bash
GO ?= go
TAGS ?= rtlsdr
ORT_LIB := $(CURDIR)/third_party/onnxruntime/libonnxruntime.so.1
export EDGED_ORT_LIB ?= $(ORT_LIB)
export CGO_ENABLED := 1
# Tests and benchmarks use at most this long; CI has 2 cores and 90 minutes for everything.
TEST_TIMEOUT ?= 30m

.PHONY: all deps build build-arm64 deb systemd-test run test check check-kit e2e cover bench loadtest fuzz install reference basemap clean

all: build

deps:
	@scripts/deps.sh

# The version (git describe, scripts/version.sh) is stamped in with -ldflags.
build: deps
	TAGS='$(TAGS)' scripts/build.sh -o bin/edged

# The arm64 binary, cross-built (make deps installs the toolchain and arm64 libraries).
build-arm64: deps
	TAGS='$(TAGS)' scripts/build.sh -a arm64 -o bin/arm64/edged

# build/deb/edged_<version>_{amd64,arm64}.deb, each checked by lintian (ARCHES=amd64 for one).
deb: deps
	@scripts/deb.sh

# The amd64 package under a real systemd (a volatile systemd-nspawn container of this
# machine): install, ready, fixes, reload, watchdog, stop, exit 78, purge. Needs root.
systemd-test: deps
	@ARCHES=amd64 scripts/deb.sh
	@scripts/systemd-test.sh

run: build
	bin/edged run

# Static checks first (cheap, and they name the file), then every test with the race detector
# (the arm64 parity test among them), the unit offline, both packages with lintian, and the
# amd64 package under a real systemd. Steps the machine cannot do skip, saying why.
test: deps check check-kit
	$(GO) test -race -tags '$(TAGS)' -timeout $(TEST_TIMEOUT) ./...
	@scripts/check-systemd.sh
	@SKIP_MISSING=1 scripts/deb.sh
	@scripts/systemd-test.sh

check:
	@unformatted=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$unformatted" ]; then echo "gofmt would change: $$unformatted"; exit 1; fi
	$(GO) vet -tags '$(TAGS)' ./...
	@$(GO) mod tidy -diff >/dev/null || { echo "go mod tidy would change go.mod/go.sum:"; $(GO) mod tidy -diff; exit 1; }

# The interface documents, dashboard and alert rules, with their ecosystems' linters
# (installed pinned under build/ on first use): Redocly, the AsyncAPI parser, promtool.
check-kit:
	@scripts/check-kit.sh

# The end-to-end tests on their own (they also run inside `make test`): the built binary.
e2e: deps
	$(GO) test -race -tags '$(TAGS)' -run 'TestE2E' -v ./cmd/edged/

# Statement coverage of every package in the binary, the unit tests' and the end-to-end
# tests' (the real binary built with -cover) merged; prints the table README.md quotes.
cover: deps
	@GO='$(GO)' TAGS='$(TAGS)' TEST_TIMEOUT='$(TEST_TIMEOUT)' scripts/cover.sh build/cover

# Go benchmarks (medians: run benchstat on build/bench.txt), the spectrogram against a C FFTW
# reference, a 2.4 MS/s replay through the whole daemon with bbolt and MQTT, and what the
# daemon writes to its disk per fix (SD-card wear), its file size and its cache.
bench: build
	@mkdir -p build
	$(GO) test -tags '$(TAGS)' -run '^$$' -bench . -benchmem -count 3 ./capture/ ./infer/... ./store/ ./uplink/ ./internal/pipeline/ ./internal/ui/ | tee build/bench.txt
	@bench/run.sh
	@scripts/bench-replay.sh
	@scripts/bench-store.sh

loadtest: deps
	$(GO) run -tags '$(TAGS)' ./internal/cmd/loadtest -clients 100 -duration 10s -fresh 1
	$(GO) run -tags '$(TAGS)' ./internal/cmd/loadtest -clients 100 -duration 10s -fresh 0
	$(GO) run -tags '$(TAGS)' ./internal/cmd/loadtest -mode open -rate 500 -duration 10s -fresh 1

# Each fuzz target for a short while; seeds live in each package's testdata/fuzz/.
FUZZTIME ?= 20s
fuzz: deps
	@for pkg in $$($(GO) list ./...); do \
	  for f in $$($(GO) test -tags '$(TAGS)' -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
	    echo "== $$pkg $$f"; $(GO) test -tags '$(TAGS)' -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) -fuzzminimizetime 5s $$pkg || exit 1; \
	  done; done

install: build
	@scripts/install.sh

# Regenerate the reference model and the demo recording (python3-onnx, python3-numpy).
reference: deps
	/usr/bin/python3 models/reference/make_reference.py -o models/reference/beacon.onnx
	$(GO) run -tags '$(TAGS)' ./cmd/edged synth -beacon D -windows 8 -bursts odd -seed 1 -out configs/demo

# Regenerate the status page's offline basemap from Natural Earth (npm: world-atlas, pinned).
basemap:
	@scripts/basemap.sh

clean:
	rm -rf bin build
