# ferry: the two commands a user needs are `make demo` and `make check`.
# Both install what is missing (scripts/install-deps) before building.

BUILD      ?= build
ASAN_BUILD ?= build-asan
MESON_OPTS ?=

.PHONY: all deps build check demo bench faults fuzz clean

all: build

deps:
	@./scripts/install-deps

build: deps
	@if [ ! -f $(BUILD)/build.ninja ]; then meson setup $(BUILD) $(MESON_OPTS) >/dev/null; fi
	@ninja -C $(BUILD) >/dev/null

# All tests, in the normal build and again under ASan/UBSan; ends with the
# line "N passed, N failed".
check: deps
	@./scripts/run-checks $(BUILD) $(ASAN_BUILD)

demo: build
	@./scripts/demo $(BUILD)

bench: build
	@./bench/run $(BUILD)

# The whole fault matrix (docs/faults.md): every fault at every point of a
# migration, plain and --p2p, two cells at once (FAULTS_JOBS); needs root
# (network namespaces).  Prints the matrix and ends with "N passed, N failed".
FAULTS_JOBS ?= 2
faults: build
	@FERRY_SOURCE_DIR=$(CURDIR) FERRY_BUILD_DIR=$(abspath $(BUILD)) \
	    python3 tests/e2e/test_faults.py --set full --jobs $(FAULTS_JOBS)

# The libFuzzer harnesses of tests/fuzz/ (docs/security.md, "Fuzzing"), one
# after the other, FUZZ_SECONDS each, in a clang build of their own
# (FUZZ_BUILD); FUZZ_TARGETS picks some (e.g. "uri qmp").  New inputs and
# crashes stay under FUZZ_BUILD/fuzz-runs/.  Prints each fuzzer's executions,
# new coverage and crashes, and ends with "fuzz: N executions, N crashes ...".
FUZZ_BUILD   ?= build-fuzz
FUZZ_SECONDS ?= 60
FUZZ_TARGETS ?=
fuzz: deps
	@./scripts/run-fuzz $(FUZZ_BUILD) $(FUZZ_SECONDS) $(FUZZ_TARGETS)

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD)
