# RemoteMedia — the two commands a newcomer needs:
#   make demo   set up, build and run the main example
#   make test   set up, build and run every test (ASan + UBSan, leak check)
# Other targets: build, bench, wasm, install (PREFIX=...), clean.
# `make demo` builds quietly (the log goes to build/release/demo-build.log);
# V=1 shows the build output.

JOBS     ?= $(shell nproc 2>/dev/null || echo 2)
RELEASE  ?= build/release
SANITIZE ?= build/asan
PREFIX   ?= /usr/local
V        ?= 0

.PHONY: all build test test-release test-python demo bench wasm test-wasm install clean bootstrap

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

# Suites that need a build without sanitizers: the Python package (CPython
# and ASan do not mix), the installed library used from outside the tree, and
# `make demo` itself.
test-release: build
	@cd $(RELEASE) && ctest --output-on-failure -R '^(python|install|demo)$$'

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

# Compares rmedia.wasm under Node's WASI, and remotemedia.wasm through the
# TypeScript package web/ (Node's test runner), with a native rmedia: the sanitizer
# build's when `make test` made one, else the release build (built if needed).
test-wasm: wasm
	@native=$(SANITIZE)/rmedia; \
	if [ ! -x $$native ]; then $(MAKE) --no-print-directory build || exit 1; native=$(RELEASE)/rmedia; fi; \
	tests/wasm/run.sh build/wasm $$native && \
	cd web && node_modules/.bin/tsc -p tsconfig.json && RMEDIA_NATIVE=$(CURDIR)/$$native node --test test/

# The installed rmedia finds its library through its runpath ($$ORIGIN/../lib),
# so any PREFIX works without LD_LIBRARY_PATH or ldconfig.
install: build
	@cmake --install $(RELEASE) --prefix $(PREFIX)

clean:
	rm -rf build
