# SPDX-License-Identifier: BSD-2-Clause
# A thin layer over CMake. The two commands that matter:
#   make demo   install what is needed, build the demo's programs in Release, print the headline
#               tables (one line per setup stage; full output in build/*.log)
#   make test   install what is needed, build Debug/Release/clang/TSan/ASan/fuzz, run every test
#               (one line per step with its time; full output in build*/test-*.log)
#   make clean  remove every build directory the scripts create (build/, build-*/)
JOBS ?= $(shell nproc)
export JOBS
# No "Entering/Leaving directory" lines from the make that CMake runs below this one.
MAKEFLAGS += --no-print-directory

.PHONY: all deps build test demo bench clean
.PHONY: docs

all: build

deps:
	@bash scripts/install-deps.sh

build: deps
	cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -Wno-dev
	cmake --build build -j$(JOBS)

test:
	@bash scripts/test.sh

# scripts/demo.sh installs and builds what it needs itself, quietly.
demo:
	@bash scripts/demo.sh

bench: build
	./build/bench/tsq-bench --tsq_tables

# build/, and build-<name>/ for every other build: debug, clang, tsan, asan, fuzz (scripts/test.sh,
# TSQ_BUILD_DIR=build-x makes build-x and build-x-*), and their configure logs.
clean:
	rm -rf build build-*/ build*.configure.log

# docs: the API reference (Doxygen, docs/Doxyfile, headers through docs/doxy-filter.py) in
# build/docs/html, every Doxygen warning an error; then the drift check of the prose docs
# (docs/check-names.py). Writes only under build/docs/. Needs doxygen (scripts/deps-debian.txt).
docs:
	@command -v doxygen >/dev/null || { echo "make docs: doxygen missing (apt-get install doxygen)"; exit 1; }
	rm -rf build/docs && mkdir -p build/docs
	doxygen docs/Doxyfile || { cat build/docs/warnings.log; exit 1; }
	python3 docs/check-names.py
	@echo "docs: build/docs/html/index.html"
