#!/usr/bin/env bash
# One prepared GPU check (at most ~8 minutes, typically ~4), run from the repository root:
#
#   OUT=/path/to/out bash benchmarks/gpu_check.sh
#
# Needs python3 with torch (CUDA), timm, torchvision, xarray, pandas, pillow, tqdm, psutil, and
# netCDF4 + cftime (wheels unpacked to /tmp/site, added to PYTHONPATH below). Writes to $OUT:
#   env.txt          python/torch/CUDA/card
#   pytest_cuda.txt  the CUDA tests (pytest -k cuda)
#   bench.txt/.json  bench_paper_scale.py: decode-once speed-up (ResNet-50, ViT-B/16) side by
#                    side, label_units at paper size (113,305 x 20,000 x 768 units per layer),
#                    bf16 autocast label change, projection for the whole paper
#   nvidia_smi.csv   GPU utilisation / memory once a second during the benchmark
# Without CUDA it says so, the CUDA tests skip and the benchmark runs on the CPU at a tiny size.
set -u
export PYTHONUNBUFFERED=1 TQDM_DISABLE=1
export PYTHONPATH="$PWD/src:/tmp/site${PYTHONPATH:+:$PYTHONPATH}"
OUT="${OUT:-/tmp/gpu_check_out}"
PY="${PYTHON:-python3}"
N="${N:-20000}"
WORK="${WORK:-/tmp/vitconcepts_bench}"
mkdir -p "$OUT"
start=$(date +%s)
# netCDF4 + cftime wheels (cp312 manylinux) carried in .whl/: unpack them once to /tmp/site
if ! "$PY" -c "import netCDF4" 2>/dev/null && ls .whl/*.whl >/dev/null 2>&1; then
    mkdir -p /tmp/site
    for wheel in .whl/*.whl; do "$PY" -m zipfile -e "$wheel" /tmp/site; done
    echo "unpacked $(ls .whl/*.whl | wc -l) wheels from .whl/ to /tmp/site"
fi

echo "== environment" | tee "$OUT/env.txt"
"$PY" - <<'PY' 2>&1 | tee -a "$OUT/env.txt"
import importlib, os, sys
print("python", sys.version.split()[0], "cpus", os.cpu_count())
for name in ("torch", "torchvision", "timm", "netCDF4", "xarray", "numpy", "pandas", "PIL"):
    try:
        print(name, importlib.import_module(name).__version__)
    except Exception as error:  # noqa: BLE001
        print(name, "MISSING:", error)
import torch
print("cuda available:", torch.cuda.is_available())
if torch.cuda.is_available():
    free, total = torch.cuda.mem_get_info()
    print("card:", torch.cuda.get_device_name(0), f"free {free/1e9:.1f} / {total/1e9:.1f} GB")
PY
CUDA=$("$PY" -c "import torch; print(int(torch.cuda.is_available()))" 2>/dev/null || echo 0)
df -h /tmp /dev/shm | tee -a "$OUT/env.txt"

echo "== CUDA tests" | tee "$OUT/pytest_cuda.txt"
timeout 120 "$PY" -m pytest -q -p no:cacheprovider -rs -k cuda \
    tests/test_pixels.py tests/test_labeling.py tests/test_device.py 2>&1 | tail -25 \
    | tee -a "$OUT/pytest_cuda.txt"

SMI_PID=""
if [ "$CUDA" = "1" ]; then
    if command -v nvidia-smi >/dev/null; then
        nvidia-smi --query-gpu=timestamp,utilization.gpu,memory.used --format=csv -l 1 \
            > "$OUT/nvidia_smi.csv" 2>&1 &
        SMI_PID=$!
    fi
    # complevel 0: zlib (level 1, the default) would bound a GPU pass at a few hundred to
    # ~1,000 images/s in the writer thread; the benchmark prints the writer's rate for both.
    ARGS=(--n "$N" --label-n 113305 --concepts 20000 --label-layers 4 --bf16-n 4096 --complevel 0)
else
    echo "CUDA is not available: the benchmark runs on the CPU at a tiny size" | tee "$OUT/bench.txt"
    ARGS=(--n 16 --label-n 1000 --concepts 500 --label-layers 1 --bf16-n 16 --batch-size 8)
fi
echo "== benchmark ${ARGS[*]}" | tee -a "$OUT/bench.txt"
timeout 360 "$PY" benchmarks/bench_paper_scale.py --direct --workdir "$WORK" \
    --json "$OUT/bench.json" "${ARGS[@]}" 2>&1 | tee -a "$OUT/bench.txt"
rc=${PIPESTATUS[0]}
[ -n "$SMI_PID" ] && kill "$SMI_PID" 2>/dev/null
echo "benchmark exit code $rc; gpu_check took $(( $(date +%s) - start )) s" | tee -a "$OUT/bench.txt"
