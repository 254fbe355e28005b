# Convenience wrapper over CMake. `make demo` and `make test` install missing
# Debian packages first (scripts/deps.sh), so they work on a fresh machine.
BUILD ?= build
ASAN_BUILD ?= build-asan
TSAN_BUILD ?= build-tsan
TSAN_TESTS ?= test_thread test_thread_oom
FUZZ_BUILD ?= build-fuzz
FUZZ_SECONDS ?= 60
FUZZ_TARGETS ?= sse http_response json provider decode_error call_error config http_server
JOBS ?= 2
PREFIX ?= /usr/local
CMAKE_FLAGS ?=

.PHONY: all deps build demo test asan tsan valgrind fuzz fuzz-ci bench install clean

all: build

deps:
	@./scripts/deps.sh

build: deps
	cmake -S . -B $(BUILD) -DLLMRT_WERROR=ON -DCMAKE_INSTALL_PREFIX=$(PREFIX) $(CMAKE_FLAGS)
	cmake --build $(BUILD) -j$(JOBS)

# The demo shows the demo: the build is quiet (one line; its full output in
# $(BUILD)/demo-build.log), and if it fails the errors are printed.
demo: deps
	@mkdir -p $(BUILD)
	@echo "building llmrt (log: $(BUILD)/demo-build.log) ..."
	@{ cmake -S . -B $(BUILD) -DLLMRT_WERROR=ON -DCMAKE_INSTALL_PREFIX=$(PREFIX) $(CMAKE_FLAGS) && \
	   cmake --build $(BUILD) -j$(JOBS) --target llmrt_tool; } >$(BUILD)/demo-build.log 2>&1 || { \
	  echo "build failed:"; \
	  grep -E -A4 '(error|Error|CMake Error)' $(BUILD)/demo-build.log | head -80; \
	  echo "(full log: $(BUILD)/demo-build.log)"; exit 1; }
	@./$(BUILD)/llmrt demo

test: build
	ctest --test-dir $(BUILD) --output-on-failure -j$(JOBS)

asan: deps
	cmake -S . -B $(ASAN_BUILD) -DLLMRT_WERROR=ON -DLLMRT_SANITIZE=ON -DLLMRT_BUILD_BENCH=OFF \
	  -DCMAKE_BUILD_TYPE=Debug $(CMAKE_FLAGS)
	cmake --build $(ASAN_BUILD) -j$(JOBS)
	ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  ctest --test-dir $(ASAN_BUILD) --output-on-failure -j$(JOBS)

# The tests of code that runs on several threads (TSAN_TESTS: the thread
# mode), built with ThreadSanitizer in $(TSAN_BUILD). Any data race fails.
tsan: deps
	cmake -S . -B $(TSAN_BUILD) -DLLMRT_WERROR=ON -DLLMRT_TSAN=ON -DLLMRT_BUILD_BENCH=OFF \
	  -DCMAKE_BUILD_TYPE=Debug $(CMAKE_FLAGS)
	cmake --build $(TSAN_BUILD) -j$(JOBS) --target $(TSAN_TESTS)
	TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 \
	  ctest --test-dir $(TSAN_BUILD) --output-on-failure -R '^($(subst $(eval) ,|,$(TSAN_TESTS)))$$'

# Every test binary under valgrind: no leaks, no invalid accesses.
valgrind: build
	./scripts/valgrind.sh $(BUILD)

# libFuzzer targets (tests/fuzz/README.md): clang is installed if missing
# (for this target only), everything is built with ASan and UBSan in
# $(FUZZ_BUILD), and each target runs FUZZ_SECONDS on a copy of its seed
# corpus. Any crash, leak or hang fails.
fuzz:
	@./scripts/deps.sh fuzz
	cmake -S . -B $(FUZZ_BUILD) -DCMAKE_C_COMPILER=clang -DLLMRT_FUZZ=ON -DLLMRT_BUILD_TESTS=OFF \
	  -DLLMRT_BUILD_BENCH=OFF $(CMAKE_FLAGS)
	cmake --build $(FUZZ_BUILD) -j$(JOBS) --target fuzz_all
	FUZZ_SECONDS=$(FUZZ_SECONDS) ./tests/fuzz/run.sh $(FUZZ_BUILD) $(FUZZ_TARGETS)

# The short run CI does: about a minute across all targets.
fuzz-ci:
	$(MAKE) fuzz FUZZ_SECONDS=7

bench: build
	@for b in $(BUILD)/bench/bench_*; do echo "== $$b"; $$b; done

install: build
	cmake --install $(BUILD)

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD)
