#!/usr/bin/env bash
# benchmarks/gpu_check.sh -- the one prepared GPU run for a session that is lent a GPU.
#
# Runs, on a machine with an NVIDIA GPU and CuPy (the device tool's H100/H200 image has CuPy,
# PyTorch, pytest, hypothesis, matplotlib), in the repository root, within about 8 minutes:
#   1. the GPU, driver and CuPy versions;
#   2. every test marked gpu (the `cuda` parameter of the device fixture: parity of every kernel
#      with the CPU path, gradient checks on cuda);
#   3. `tgm gradcheck --device cuda`: the gradient-check table of every op on the GPU;
#   4. the compile check of every kernel (nvcc: registers, spills, shared memory, PTX widths),
#      and each kernel file compiled by CuPy itself (RawModule, the path the ops use);
#   5. `tgm bench` on cpu and cuda (medians, roofline measured in the same run, PyTorch ratios).
# Everything goes under $OUT (default ./gpu-check-out): log.txt, gpu-tests.xml,
# gradcheck-cuda.json, bench-*.json and two PNG plots. Nothing is installed: wheels carried in
# .whl/ are installed first if present. Never edit numbers by hand: commit the files as they are.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-gpu-check-out}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}
log="$OUT/log.txt"
# GPU_CHECK_BUDGET=short: the same steps with tighter limits (about 6.5 minutes in all)
if [[ ${GPU_CHECK_BUDGET:-full} == short ]]; then
  t_tests=150 t_grad=60 t_compile=30 t_bench=120 bench_sizes="--size medium --size large" repeat=5
else
  t_tests=240 t_grad=120 t_compile=60 t_bench=240 bench_sizes="" repeat=7
fi
step() { echo; echo "== $* ($(date +%T))"; } >>"$log"

if ls .whl/*.whl >/dev/null 2>&1; then
  python3 -m pip install -q --no-index --no-deps --target /tmp/site .whl/*.whl && export PYTHONPATH=$PYTHONPATH:/tmp/site
fi

{
  step "machine"
  nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.mem --format=csv
  python3 -c "from tinygrad_med import backend; print(backend.device_properties() or backend.cuda_unavailable_reason())"

  step "GPU tests (pytest -m gpu)"
  timeout $t_tests python3 -m pytest -m gpu -q -p no:cacheprovider --junitxml="$OUT/gpu-tests.xml" 2>&1 | tail -40

  step "tgm gradcheck --device cuda"
  timeout $t_grad python3 -m tinygrad_med gradcheck --device cuda --json "$OUT/gradcheck-cuda.json"

  step "kernel compile check (nvcc) and CuPy RawModule compile of every kernel file"
  timeout $t_compile python3 -m tinygrad_med.kernelcheck.compile_check --no-nvrtc 2>&1 | tail -60
  timeout $t_compile python3 - <<'PY'
from tinygrad_med import backend
for path in sorted(backend.kernel_dir().glob("*.cu")):
    for dtype in ("float32", "float64"):
        for name in backend.kernel_signature(path.stem):
            backend.load_kernel(path.stem, name, dtype)
    print(f"cupy compiled {path.name}: {sorted(backend.kernel_signature(path.stem))}")
PY

  step "tgm bench (cpu and cuda)"
  # shellcheck disable=SC2086
  timeout $t_bench python3 -m tinygrad_med bench --device cuda --device cpu $bench_sizes --repeat $repeat --out "$OUT"
  step "done"
} >>"$log" 2>&1
tail -c 6000 "$log"
