# RemoteMedia — the two commands a newcomer needs:
#   make demo   set up, build and run the main example
#   make test   set up, build and run every test (ASan + UBSan, leak check)
# Other targets: build, bench, wasm, packages, fuzz, soak, install (PREFIX=...), clean.
# `make demo` builds quietly (the log goes to build/release/demo-build.log);
# V=1 shows the build output.

JOBS     ?= $(shell nproc 2>/dev/null || echo 2)
RELEASE  ?= build/release
SANITIZE ?= build/asan
PREFIX   ?= /usr/local
V        ?= 0
FUZZ     ?= build/fuzz
FUZZ_SECONDS ?= 60
FUZZ_SLICE_SECONDS ?= 10
SOAK_SECONDS ?= 3600

.PHONY: all build test test-release test-python demo bench wasm packages test-wasm fuzz fuzz-build fuzz-slice soak install clean bootstrap

all: build

bootstrap:
	@scripts/bootstrap --quiet

build: bootstrap
	@cmake -S . -B $(RELEASE) -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX=$(PREFIX) >/dev/null
	@cmake --build $(RELEASE) -j$(JOBS)

# Every suite runs against the sanitizer build; LeakSanitizer checks each
# test process for leaks at exit.
test: bootstrap
	@cmake -S . -B $(SANITIZE) -DCMAKE_BUILD_TYPE=Debug -DCMAKE_C_FLAGS_DEBUG="-O1 -g" -DRM_SANITIZE=ON >/dev/null
	@cmake --build $(SANITIZE) -j$(JOBS)
	@cd $(SANITIZE) && ctest --output-on-failure -j$(JOBS)
	@$(MAKE) --no-print-directory test-release
	@$(MAKE) --no-print-directory test-wasm
	@$(MAKE) --no-print-directory fuzz-slice

# Suites that need a build without sanitizers: the Python package (CPython
# and ASan do not mix), the installed library used from outside the tree, and
# `make demo` itself.
test-release: build
	@cd $(RELEASE) && ctest --output-on-failure -R '^(python|install|demo|conformance_python)$$'

test-python: build
	@cd $(RELEASE) && ctest --output-on-failure -R '^python$$'

# Only the targets the demo runs (the CLI and its library), quietly.
demo: bootstrap
	@cmake -S . -B $(RELEASE) -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX=$(PREFIX) >/dev/null
ifeq ($(V),1)
	@cmake --build $(RELEASE) -j$(JOBS) --target rmedia
else
	@echo "Building rmedia (quietly; V=1 shows the build, log: $(RELEASE)/demo-build.log)"
	@cmake --build $(RELEASE) -j$(JOBS) --target rmedia >$(RELEASE)/demo-build.log 2>&1 || \
	  { tail -40 $(RELEASE)/demo-build.log; echo "make demo: the build failed (full log: $(RELEASE)/demo-build.log)"; exit 1; }
endif
	@scripts/demo $(RELEASE)

bench: build
	@scripts/bench $(RELEASE)

wasm: bootstrap
	@scripts/build-wasm

# The example .rmpkg packages (examples/packages) with the wasm runtime.
packages: build
	@test -f build/wasm/remotemedia.wasm || scripts/build-wasm
	@mkdir -p build/packages
	@for p in calculator text-processor audio-preprocess python-nodes; do \
	  py=; test -d examples/packages/$$p/python && py="--python examples/packages/$$p/python"; \
	  $(RELEASE)/rmedia pack examples/packages/$$p/manifest.json --wasm build/wasm/remotemedia.wasm $$py \
	    --metadata examples/packages/$$p/metadata.json -o build/packages/$$p.rmpkg || exit 1; done

# Compares rmedia.wasm under Node's WASI, and remotemedia.wasm through the
# TypeScript package web/ (Node's test runner, .rmpkg packages both ways), with
# a native rmedia: the sanitizer build's when `make test` made one, else the
# release build (built if needed); then the conformance cases through the wasm
# library (tests/conformance, --host wasm); then the browser demo web/demo in
# headless chromium (playwright-core): Python nodes in Pyodide, packages and the
# conformance cases in the page included (docs/browser.md).
test-wasm: wasm
	@native=$(SANITIZE)/rmedia; \
	if [ ! -x $$native ]; then $(MAKE) --no-print-directory build || exit 1; native=$(RELEASE)/rmedia; fi; \
	tests/wasm/run.sh build/wasm $$native && \
	(cd web && node scripts/embed-python.mjs && node_modules/.bin/tsc -p tsconfig.json && RMEDIA_NATIVE=$(CURDIR)/$$native node --test test/) && \
	/usr/bin/python3 tests/conformance/run.py --host wasm --exact --wasm build/wasm/remotemedia.wasm && \
	cd web/demo && npm run --silent build && RMEDIA_NATIVE=$(CURDIR)/$$native node --test test/

# libFuzzer targets (tests/fuzz/README.md), built with clang-14 into $(FUZZ).
# `make fuzz` runs each for FUZZ_SECONDS from the committed corpus (new
# entries go to $(FUZZ)/scratch); `make test` runs a FUZZ_SLICE_SECONDS slice
# of each, which also replays every crash regression.  Either fails on any
# crash, leak, timeout or out-of-memory.
fuzz-build: bootstrap
	@cmake -S . -B $(FUZZ) -DCMAKE_C_COMPILER=clang-14 -DRM_FUZZ=ON -DCMAKE_BUILD_TYPE=Debug \
	  -DCMAKE_C_FLAGS_DEBUG="-O1 -g" >/dev/null
	@cmake --build $(FUZZ) -j$(JOBS)

fuzz: fuzz-build
	@tests/fuzz/run.sh $(FUZZ) $(FUZZ_SECONDS)

fuzz-slice: fuzz-build
	@tests/fuzz/run.sh --fresh $(FUZZ) $(FUZZ_SLICE_SECONDS)

# Soak test of rmedia serve, not part of `make test` or CI (tests/soak/soak.py):
# SOAK_SECONDS of many concurrent real-time streams, clients SIGKILLed at
# random, a test-only node failing at random behind a circuit breaker; RSS,
# heap in use (glibc, from /metrics), fds and sessions sampled every minute;
# the clients leave once after warm-up and at the end: fails if heap in use
# or RSS at the end's rest passes the first rest's, on RSS growth under load,
# fd leaks or a session left behind.  tests/soak/README.md; figures:
# docs/benchmarks.md.
soak: build
	@/usr/bin/python3 tests/soak/soak.py --build $(RELEASE) --seconds $(SOAK_SECONDS)

# The installed rmedia finds its library through its runpath ($$ORIGIN/../lib),
# so any PREFIX works without LD_LIBRARY_PATH or ldconfig.
install: build
	@cmake --install $(RELEASE) --prefix $(PREFIX)

clean:
	rm -rf build
