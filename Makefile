# RemoteMedia — the two commands a newcomer needs:
#   make demo   set up, build and run the main example
#   make test   set up, build and run every test (ASan + UBSan, leak check)
# Other targets: build, bench, wasm, install, clean.

JOBS     ?= $(shell nproc 2>/dev/null || echo 2)
RELEASE  ?= build/release
SANITIZE ?= build/asan
PREFIX   ?= /usr/local

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
# and ASan do not mix) and the installed library used from outside the tree.
test-release: build
	@cd $(RELEASE) && ctest --output-on-failure -R '^(python|install|conformance_python)$$'

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

install: build
	@cmake --install $(RELEASE)

clean:
	rm -rf build
