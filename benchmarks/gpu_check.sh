#!/usr/bin/env bash
# GPU check (issue 18): train + encode on CPU and on CUDA, on the default graph and on one
# large graph; prints a table and writes $OUT/gpu_check.json (or benchmarks/_work/gpu/).
#
#   bash benchmarks/gpu_check.sh prepare   # HERE (no GPU): graphs + wheels into benchmarks/_work/gpu
#   bash benchmarks/gpu_check.sh run       # ON THE GPU MACHINE, with benchmarks/_work/gpu carried
#
# prepare: simulates the default data (chr21 @ 25 kb, 1,869 bins) and a large one (chr1 @ 25 kb,
# ~10,000 bins, --difficulty easy), builds both GM12878 graphs and the IMR90 graph to encode, and
# downloads the wheels the GPU image lacks (cooler, pyBigWig, hictkpy: common.py checks that
# they are installed; train/encode never import them) for CPython 3.12 manylinux.
# It prints the folder's size: the device tool carries at most 64 MiB (wheels ~15 MB; with the
# default edge rule the chr1 graphs are ~3 MB each, 9,959 bins and 147k edges). A larger graph:
#   LARGE_SIM="--chrom chr1 --res 10000 --zoom --difficulty easy" LARGE_GRAPH_ARGS="--max-dist 2000000" \
#     bash benchmarks/gpu_check.sh prepare   # (delete benchmarks/_work/gpu/large_* first)
#
# run: for each graph, train_vgae.py for a fixed number of epochs (no early stop) on
# --device cpu (all cores: --threads 0) and --device cuda, then encode_graph.py with each model
# on its device; wall time of each process and train_seconds from metrics.json; the speed-up
# is CPU / CUDA. The test AUC of each device's model is shown beside it: GPU kernels are not
# bit-identical to the CPU's, so the same seed gives close, not equal, numbers
# (CPU determinism is what the tests check). Budget: under 5 minutes on one H200.
#
# Device tool call (about 4 minutes of device time), from the repository root:
#   run(command="bash benchmarks/gpu_check.sh run", carry=["benchmarks/_work/gpu"], timeout_s=480)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
W=benchmarks/_work/gpu
EPOCHS_DEFAULT=${EPOCHS_DEFAULT:-300}   # the pipeline's default training length
EPOCHS_LARGE=${EPOCHS_LARGE:-50}

prepare() {
  source scripts/bootstrap.sh
  mkdir -p "$W/wheels" "$W/sim"
  local large=${LARGE_SIM:-"--chrom chr1 --res 25000 --zoom --difficulty easy"} res
  [ -f "$W/sim/default/GM12878.mcool" ] || "$PY" scripts/simulate_data.py --out "$W/sim/default" -q
  # shellcheck disable=SC2086
  [ -f "$W/sim/large/GM12878.mcool" ] || "$PY" scripts/simulate_data.py --out "$W/sim/large" $large -q
  for set in default large; do
    chrom=chr21 res=25000 extra=()
    if [ $set = large ]; then
      chrom=$(echo "$large" | sed -n 's/.*--chrom \([^ ]*\).*/\1/p'); res=$(echo "$large" | sed -n 's/.*--res \([0-9]*\).*/\1/p')
      read -r -a extra <<<"${LARGE_GRAPH_ARGS:-}"
    fi
    for cell in GM12878 IMR90; do
      [ -f "$W/${set}_${cell}.pt" ] || "$PY" scripts/build_graph.py --mcool "$W/sim/$set/$cell.mcool" \
        --bigwigs "$W/sim/$set/${cell}_CTCF.bw" "$W/sim/$set/${cell}_H3K27me3.bw" --chrom "$chrom" --res "$res" \
        --out "$W/${set}_${cell}.pt" -q "${extra[@]}"
    done
  done
  rm -rf "$W/sim"   # only the graphs travel
  "$PY" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
    -d "$W/wheels" cooler==0.11.0 pyBigWig==0.3.29 hictkpy==1.4.0
  du -sh "$W"; ls -la "$W" "$W/wheels"
}

run() {
  local out=${OUT:-$W}; mkdir -p "$out"
  PY=${PY:-python3}
  if ls "$W"/wheels/*.whl >/dev/null 2>&1; then
    "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site \
      "$W"/wheels/*.whl
    export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
  fi
  export MPLBACKEND=Agg PYTHONUNBUFFERED=1
  "$PY" - "$W" "$out" "$EPOCHS_DEFAULT" "$EPOCHS_LARGE" <<'PYEOF'
import json, subprocess, sys, time
from pathlib import Path
import numpy as np
import torch

w, out, e_def, e_large = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
info = {"torch": torch.__version__, "cuda": torch.cuda.is_available(),
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None}
print(json.dumps(info), flush=True)
if not info["cuda"]:
    sys.exit("no CUDA device visible to torch: nothing to compare")

def step(args):
    t = time.perf_counter()
    p = subprocess.run([sys.executable, *map(str, args)], capture_output=True, text=True)
    wall = time.perf_counter() - t
    if p.returncode != 0:
        raise SystemExit(f"{' '.join(map(str, args[:2]))} failed:\n{p.stderr[-3000:]}")
    return wall

rows = []
for name, epochs in (("default", e_def), ("large", e_large)):
    g1, g2 = w / f"{name}_GM12878.pt", w / f"{name}_IMR90.pt"
    res = {"graph": name, "epochs": epochs}
    for dev in ("cpu", "cuda"):
        d = Path("/tmp/gpu_check") / f"{name}_{dev}"
        threads = ["--threads", "0"] if dev == "cpu" else []
        res[f"train_wall_{dev}"] = step(["scripts/train_vgae.py", "--graph", g1, "--outdir", d, "--epochs", epochs,
                                         "--patience", epochs, "--device", dev, "-q", *threads])
        m = json.loads((d / "metrics.json").read_text())
        res[f"train_s_{dev}"], res[f"test_auc_{dev}"] = m["train_seconds"], m["test_auc"]
        res[f"encode_wall_{dev}"] = step(["scripts/encode_graph.py", "--model", d / "model.pt", "--graph", g2,
                                          "--out", d / "enc.npy", "--device", dev, "-q", *threads])
        res[f"emb_{dev}"] = np.load(d / "enc.npy")
    res["n_bins"] = len(res.pop("emb_cpu"))
    res.pop("emb_cuda")
    res["speedup_train"] = res["train_s_cpu"] / res["train_s_cuda"]
    res["speedup_encode_wall"] = res["encode_wall_cpu"] / res["encode_wall_cuda"]
    rows.append(res)
    print(json.dumps(res), flush=True)

print("\n| Graph | Bins | Epochs | Train CPU s | Train CUDA s | Speed-up | Encode CPU s | Encode CUDA s "
      "| Test AUC CPU / CUDA |")
print("|---|---|---|---|---|---|---|---|---|")
for r in rows:
    print(f"| {r['graph']} | {r['n_bins']:,} | {r['epochs']} | {r['train_s_cpu']:.1f} | {r['train_s_cuda']:.1f} | "
          f"{r['speedup_train']:.1f}× | {r['encode_wall_cpu']:.1f} | {r['encode_wall_cuda']:.1f} | "
          f"{r['test_auc_cpu']:.3f} / {r['test_auc_cuda']:.3f} |")
(out / "gpu_check.json").write_text(json.dumps({"info": info, "rows": rows}, indent=1))
PYEOF
}

case "${1:-}" in
  prepare) prepare;;
  run) run;;
  *) echo "usage: bash benchmarks/gpu_check.sh prepare|run" >&2; exit 2;;
esac
