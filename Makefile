# RemoteMedia — the two commands a newcomer needs:
#   make demo   set up, build and run the main example
#   make test   set up, build and run every test (ASan + UBSan, leak check)
# Other targets: build, bench, wasm, fuzz, install, clean.

JOBS     ?= $(shell nproc 2>/dev/null || echo 2)
RELEASE  ?= build/release
SANITIZE ?= build/asan
PREFIX   ?= /usr/local
FUZZ     ?= build/fuzz
FUZZ_SECONDS ?= 60
FUZZ_SLICE_SECONDS ?= 10

.PHONY: all build test test-release test-python demo bench wasm test-wasm fuzz fuzz-build fuzz-slice install clean bootstrap

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
# and ASan do not mix) and the installed library used from outside the tree.
test-release: build
	@cd $(RELEASE) && ctest --output-on-failure -R '^(python|install)$$'

test-python: build
	@cd $(RELEASE) && ctest --output-on-failure -R '^python$$'

demo: build
	@scripts/demo $(RELEASE)

bench: build
	@scripts/bench $(RELEASE)

wasm: bootstrap
	@scripts/build-wasm

# Compares rmedia.wasm under Node's WASI with a native rmedia: the sanitizer
# build's when `make test` made one, else the release build (built if needed).
test-wasm: wasm
	@native=$(SANITIZE)/rmedia; \
	if [ ! -x $$native ]; then $(MAKE) --no-print-directory build || exit 1; native=$(RELEASE)/rmedia; fi; \
	tests/wasm/run.sh build/wasm $$native

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

install: build
	@cmake --install $(RELEASE)

clean:
	rm -rf build
