#!/usr/bin/env bash
# Run a command with the emulator's kernels built with AddressSanitizer + UndefinedBehaviorSanitizer.
#
#   bash tinygrad_med/kernelcheck/run_sanitized.sh                 # the kernel tests
#   bash tinygrad_med/kernelcheck/run_sanitized.sh python -m pytest tests/test_pool.py -q
#
# Why each line:
# - TGM_EMULATOR_SANITIZE=1 makes emulator.py build every kernel file with
#   -fsanitize=address,undefined -fno-sanitize-recover=all (separate cache entries);
# - an ASan-instrumented library can only be loaded into a process whose first library is
#   libasan, and python is not built with ASan: so libasan goes into LD_PRELOAD (the emulator
#   strips it again for the g++ and nvcc it starts);
# - detect_leaks=0: CPython keeps memory alive at exit by design, LeakSanitizer would report it;
# - an out-of-bounds access or undefined behaviour in a kernel then ends the process with a
#   report naming the .cu file and line (exit code 1 from ASan/UBSan; pytest dies with it).
# ASan warns once that it "doesn't fully support makecontext/swapcontext": harmless here, the
# emulator tells ASan about every switch between fiber stacks.
set -euo pipefail
cxx=${TGM_EMULATOR_CXX:-g++}
libasan=$($cxx -print-file-name=libasan.so)
if [[ ! -e $libasan ]]; then
  echo "run_sanitized.sh: $cxx has no libasan.so (Debian: apt-get install libasan8)" >&2
  exit 2
fi
export LD_PRELOAD="$libasan${LD_PRELOAD:+:$LD_PRELOAD}"
export TGM_EMULATOR_SANITIZE=1
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1}
if (($# == 0)); then
  set -- python -m pytest tests/test_kernelcheck.py -q
fi
exec "$@"
