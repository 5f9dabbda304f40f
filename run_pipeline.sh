#!/usr/bin/env bash
# chromatin-gnn: the whole pipeline, end to end.
#
#   bash run_pipeline.sh            # default: simulated GM12878/IMR90 chr21 @ 25 kb
#   bash run_pipeline.sh --help     # every option
#
# Stages (in order): simulate download graph compartments insulation train encode subcompartments
# visualize differential compare report
# A stage is skipped when its outputs are newer than its inputs and it was last
# run with the same command; --force re-runs it. Each stage writes
# <results>/logs/<stage>.log and the elapsed time is logged.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
STAGES=(simulate download graph compartments insulation train encode subcompartments visualize differential compare report)

# ---------------------------------------------------------------- defaults
CELL1=GM12878; CELL2=IMR90
RAW="data/raw"; PROCESSED="data/processed"; RESULTS="results"
MCOOL1=""; MCOOL2=""; MARKS=(CTCF H3K27ac H3K4me3 H3K36me3 H3K27me3 H3K9me3); MARKS_SET=0
CHROMS=(chr21); RES=25000; MAX_DIST=1000000; MIN_CONTACTS=10
EPOCHS=300; PATIENCE=""; HIDDEN=64; LATENT=32; LR=0.01; DROPOUT=0.2
DECODER=""; SEED=0; DEVICE=auto; BN=refit; MIN_RUN=""; N_PERM=1000
SIM_ARGS=(); ONLY=""; FROM=""; TO=""; FORCE=0; EXTRA_TRAIN=(); ORIENT=(); FEATURE_NORM=none
JOBS=$(nproc 2>/dev/null || echo 1); [ "$JOBS" -gt 4 ] && JOBS=4; THREADS=""

usage() {
  cat <<EOF
Usage: bash run_pipeline.sh [options]

Runs: simulate (only when <raw> holds no .mcool) -> download (missing ENCODE bigWigs,
real data only) -> graph -> compartments -> insulation -> train (cell 1) -> encode (cell 2)
-> subcompartments -> visualize -> differential (per-bin p/q against pseudo-replicates) -> compare -> report.

Data
  --cell1 NAME / --cell2 NAME   cell-line names              [$CELL1 / $CELL2]
  --mcool1 PATH / --mcool2 PATH Hi-C files                   [<raw>/<cell>.mcool]
  --marks M [M..]               bigWig marks, <raw>/<cell>_<mark>.bw [${MARKS[*]};
                                simulated data: the marks <raw>/simulation.json lists]
  --raw DIR                     raw inputs                   [$RAW]
  --processed DIR               graphs                       [$PROCESSED]
  --results DIR                 results, figures, logs, report [$RESULTS]
  --chrom C [C..] | all         chromosome(s)                [${CHROMS[*]}]
  --res BP                      resolution                   [$RES]
  --max-dist BP                 longest contact kept as an edge [$MAX_DIST]
  --min-contacts N              fewest raw contacts for an edge [$MIN_CONTACTS]; kept for compatibility:
                                build_graph's default edge rule (observed/expected quantile) ignores it
  --feature-norm none|zscore|rank|quantile  per-cell normalisation of the node features [$FEATURE_NORM]
                                (rank: cells whose tracks have different scales become comparable)
  --orient BW [BW..]            extra E1 orientation tracks for both cells (GC, TSS density);
                                with the marks, each arm is oriented by an active one (sign known
                                from its name), whatever the order of --marks
  --sim-args "..."              extra flags for scripts/simulate_data.py
Model
  --epochs N --patience N --hidden N --latent N --lr X --dropout X
  --decoder inner|distance      [train_vgae default]
  --seed N [$SEED]  --device auto|cpu|cuda [$DEVICE]  --bn frozen|refit [$BN]
  --train-args "..."            extra flags for scripts/train_vgae.py
Comparison
  --min-run N                   minimum run of switched bins  [compare default]
  --n-perm N                    permutations for p-values     [$N_PERM]
Control
  --only STAGE                  run one stage
  --from STAGE                  run from STAGE to the end (or to --to)
  --to STAGE                    stop after STAGE
  --force                       re-run stages even when their outputs are up to date
  --jobs N                      steps run at once [$JOBS = CPU cores, at most 4]: with N > 1 the two
                                cells of a per-cell stage run side by side, compartments + insulation
                                run beside train + encode, and subcompartments, visualize and
                                differential run together; --jobs 1 runs one step at a time.
                                Outputs are identical either way (each step is its own process)
  --threads N                   BLAS/OpenMP/torch/numba threads per step [1, or OMP_NUM_THREADS when
                                set]; one thread per step keeps every number independent of the
                                machine's core count; more can speed up single large steps
  -h, --help
Stages: ${STAGES[*]}
EOF
}

die() { echo "run_pipeline: error: $*" >&2; exit 2; }
is_stage() { local s; for s in "${STAGES[@]}"; do [ "$s" = "$1" ] && return 0; done; return 1; }
need_stage() { is_stage "$1" || die "unknown stage '$1'; stages: ${STAGES[*]}"; }
need() { [ $# -ge 2 ] && [ -n "$2" ] || die "option $1 needs a value (see --help)"; }

while [ $# -gt 0 ]; do
  case "$1" in
    --cell1) need "$@"; CELL1=$2; shift 2;;
    --cell2) need "$@"; CELL2=$2; shift 2;;
    --mcool1) need "$@"; MCOOL1=$2; shift 2;;
    --mcool2) need "$@"; MCOOL2=$2; shift 2;;
    --raw) need "$@"; RAW=$2; shift 2;;
    --processed) need "$@"; PROCESSED=$2; shift 2;;
    --results) need "$@"; RESULTS=$2; shift 2;;
    --res) need "$@"; RES=$2; shift 2;;
    --max-dist|--max_dist) need "$@"; MAX_DIST=$2; shift 2;;
    --min-contacts|--min_contacts) need "$@"; MIN_CONTACTS=$2; shift 2;;
    --epochs) need "$@"; EPOCHS=$2; shift 2;;
    --patience) need "$@"; PATIENCE=$2; shift 2;;
    --hidden) need "$@"; HIDDEN=$2; shift 2;;
    --latent) need "$@"; LATENT=$2; shift 2;;
    --lr) need "$@"; LR=$2; shift 2;;
    --dropout) need "$@"; DROPOUT=$2; shift 2;;
    --decoder) need "$@"; DECODER=$2; shift 2;;
    --seed) need "$@"; SEED=$2; shift 2;;
    --device) need "$@"; DEVICE=$2; shift 2;;
    --bn) need "$@"; BN=$2; shift 2;;
    --min-run) need "$@"; MIN_RUN=$2; shift 2;;
    --n-perm) need "$@"; N_PERM=$2; shift 2;;
    --sim-args) need "$@"; read -r -a SIM_ARGS <<<"$2"; shift 2;;
    --train-args) need "$@"; read -r -a EXTRA_TRAIN <<<"$2"; shift 2;;
    --only) need "$@"; need_stage "$2"; ONLY=$2; shift 2;;
    --from) need "$@"; need_stage "$2"; FROM=$2; shift 2;;
    --to) need "$@"; need_stage "$2"; TO=$2; shift 2;;
    --force) FORCE=1; shift;;
    --jobs) need "$@"; JOBS=$2; shift 2;;
    --threads) need "$@"; THREADS=$2; shift 2;;
    --chrom)
      shift; CHROMS=()
      while [ $# -gt 0 ] && [ "${1#--}" = "$1" ]; do CHROMS+=("$1"); shift; done
      [ ${#CHROMS[@]} -gt 0 ] || die "--chrom needs at least one name (or 'all')";;
    --feature-norm) need "$@"; FEATURE_NORM=$2; shift 2;;
    --orient)
      shift; ORIENT=()
      while [ $# -gt 0 ] && [ "${1#--}" = "$1" ]; do ORIENT+=("$1"); shift; done
      [ ${#ORIENT[@]} -gt 0 ] || die "--orient needs at least one bigWig";;
    --marks)
      shift; MARKS=(); MARKS_SET=1
      while [ $# -gt 0 ] && [ "${1#--}" = "$1" ]; do MARKS+=("$1"); shift; done
      [ ${#MARKS[@]} -gt 0 ] || die "--marks needs at least one name";;
    -h|--help) usage; exit 0;;
    *) die "unknown option '$1' (see --help)";;
  esac
done
[ -n "$ONLY" ] && { [ -n "$FROM" ] || [ -n "$TO" ]; } && die "give --only, or --from/--to, not both"
[[ "$RES" =~ ^[0-9]+$ ]] && [ "$RES" -gt 0 ] || die "--res must be a positive integer in bp, got '$RES'"
[[ "$EPOCHS" =~ ^[0-9]+$ ]] || die "--epochs must be a non-negative integer, got '$EPOCHS'"
[[ "$JOBS" =~ ^[0-9]+$ ]] && [ "$JOBS" -gt 0 ] || die "--jobs must be a positive integer, got '$JOBS'"
[ -z "$THREADS" ] || { [[ "$THREADS" =~ ^[0-9]+$ ]] && [ "$THREADS" -gt 0 ]; } \
  || die "--threads must be a positive integer, got '$THREADS'"
# Threads per step: one by default, so multi-threaded float sums (BLAS, OpenMP) cannot make the numbers
# depend on the core count or on --jobs, and steps side by side do not oversubscribe the cores
THREADS=${THREADS:-${OMP_NUM_THREADS:-1}}
export OMP_NUM_THREADS=$THREADS MKL_NUM_THREADS=$THREADS OPENBLAS_NUM_THREADS=$THREADS NUMBA_NUM_THREADS=$THREADS

cd "$ROOT"
source scripts/bootstrap.sh

MCOOL1=${MCOOL1:-$RAW/$CELL1.mcool}; MCOOL2=${MCOOL2:-$RAW/$CELL2.mcool}
if [ "${CHROMS[*]}" = "all" ]; then TAG=all; else TAG=$(IFS=_; echo "${CHROMS[*]}"); fi
LOGS="$RESULTS/logs"; FIG="$RESULTS/figures"
mkdir -p "$LOGS" "$FIG" "$PROCESSED" "$RESULTS/$CELL1" "$RESULTS/$CELL2" 2>/dev/null \
  || die "cannot create output folders under $RESULTS / $PROCESSED; choose writable locations"
bw() { local c=$1 m out=(); for m in "${MARKS[@]}"; do out+=("$RAW/${c}_${m}.bw"); done; echo "${out[@]}"; }
BWS="$(bw "$CELL1") $(bw "$CELL2")"  # both cells' bigWigs
# (paths with spaces are not supported for the raw folder: bigWig lists are word-split)
G1="$PROCESSED/${CELL1}_${TAG}.pt"; G2="$PROCESSED/${CELL2}_${TAG}.pt"
C1="$RESULTS/$CELL1/compartments_${TAG}.csv"; C2="$RESULTS/$CELL2/compartments_${TAG}.csv"
E1="$RESULTS/$CELL1/emb.npy"; E2="$RESULTS/$CELL2/emb.npy"; MODEL="$RESULTS/$CELL1/model.pt"
TRUTH="$RAW/truth.tsv"

# ---------------------------------------------------------------- stage runner
selected() {  # is stage $1 part of this invocation (--only, or between --from and --to)?
  if [ -n "$ONLY" ]; then [ "$1" = "$ONLY" ]; return; fi
  local s on=1
  [ -n "$FROM" ] && on=0
  for s in "${STAGES[@]}"; do
    [ "$s" = "$FROM" ] && on=1
    [ "$s" = "$1" ] && { [ $on = 1 ]; return; }
    [ "$s" = "$TO" ] && on=0
  done
  return 1
}

up_to_date() {  # up_to_date STAGE "outputs..." "inputs..." : outputs exist, newer, same command
  local stage=$1 o i
  [ "$FORCE" = 1 ] && return 1
  [ -f "$LOGS/$stage.cmd" ] && [ "$(cat "$LOGS/$stage.cmd")" = "$CMDLINE" ] || return 1
  for o in $2; do
    [ -e "$o" ] || return 1
    for i in $3; do [ -e "$i" ] && [ "$i" -nt "$o" ] && return 1; done
  done
  return 0
}

stage() {  # stage NAME "outputs" "inputs" cmd... ; re-run when the command or inputs change
  local name=$1 outs=$2 ins=$3; shift 3
  CMDLINE="$* | raw=$RAW mcool=$MCOOL1,$MCOOL2 marks=${MARKS[*]}"
  selected "$name" || return 0
  if up_to_date "$name" "$outs" "$ins"; then
    echo "[pipeline] $name: up to date, skipped (--force to re-run)" >&2; return 0
  fi
  local log="$LOGS/$name.log" t0=$SECONDS
  echo "[pipeline] $name: running (log: $log)" >&2
  if ! { echo "\$ $*"; "$@"; } >"$log" 2>&1; then
    tail -n 5 "$log" | sed 's/^/    /' >&2
    echo "run_pipeline: error: stage '$name' failed after $((SECONDS - t0)) s; see $log" >&2
    exit 1
  fi
  printf '%s' "$CMDLINE" >"$LOGS/$name.cmd"
  echo "[pipeline] $name: done in $((SECONDS - t0)) s" >&2
}

per_cell() {  # per_cell FN args... : FN 1 args, then FN 2 args; side by side when JOBS > 1.
  # Each cell's output is kept apart and written to the stage log in cell order, as a serial run writes it.
  local fn=$1; shift
  if [ "$JOBS" -le 1 ]; then "$fn" 1 "$@" && "$fn" 2 "$@"; return; fi
  local out1 out2 r1=0 r2=0 pid
  out1=$(mktemp "$LOGS/.cell1.XXXXXX") && out2=$(mktemp "$LOGS/.cell2.XXXXXX") || return 1
  "$fn" 1 "$@" >"$out1" 2>&1 & pid=$!
  "$fn" 2 "$@" >"$out2" 2>&1 || r2=$?
  wait "$pid" || r1=$?
  cat "$out1"; [ "$r1" = 0 ] && cat "$out2"  # a serial run stops after a failed cell 1
  rm -f "$out1" "$out2"
  [ "$r1" = 0 ] && [ "$r2" = 0 ]
}

together() {  # together FN [FN..] : run the stage groups FN.. side by side (JOBS > 1), else in turn;
  # waits for all of them and stops the pipeline when any failed (each names its own stage and log)
  local fn pids=() failed=0 pid
  if [ "$JOBS" -le 1 ]; then for fn in "$@"; do "$fn"; done; return; fi
  for fn in "$@"; do ( "$fn" ) & pids+=($!); done
  for pid in "${pids[@]}"; do wait "$pid" || failed=1; done
  [ "$failed" = 0 ] || exit 1
}

# Per-cell steps run for both cells inside one stage.
graph_cell() {  # graph_cell K <build_graph flags...>
  local k=$1; shift; local cell="CELL$k" mcool="MCOOL$k" out="G$k"
  "$PY" scripts/build_graph.py --mcool "${!mcool}" --bigwigs $(bw "${!cell}") --feature-names "${MARKS[@]}" --out "${!out}" "$@"
}
graphs() { per_cell graph_cell "$@"; }  # graphs <build_graph flags...>
compartments_cell() {  # compartments_cell K <compute_compartments flags...>; E1 oriented per arm by the
  # marks (+ --orient tracks): an active one (or GC/TSS) with the largest |r|, the sign of each from its name
  local k=$1; shift; local cell="CELL$k" mcool="MCOOL$k" out="C$k"
  local names=("${MARKS[@]}") f; for f in "${ORIENT[@]}"; do names+=("$(basename "${f%.*}")"); done
  "$PY" scripts/compute_compartments.py --mcool "${!mcool}" --bigwig_orient $(bw "${!cell}") "${ORIENT[@]}" --orient-names "${names[@]}" --out "${!out}" "$@"
}
compartments() { per_cell compartments_cell "$@"; }

T_START=$SECONDS
export MPLBACKEND=Agg PYTHONUNBUFFERED=1

# simulate: only when the raw folder holds no .mcool at all (the default, offline run)
if ! ls "$RAW"/*.mcool >/dev/null 2>&1 && [ ! -e "${MCOOL1%%::*}" ]; then
  stage simulate "$MCOOL1 $MCOOL2 $TRUTH" "" \
    "$PY" scripts/simulate_data.py --out "$RAW" --cells "$CELL1" "$CELL2" --seed "$SEED" "${SIM_ARGS[@]}"
elif [ "$ONLY" = simulate ]; then
  echo "[pipeline] simulate: $RAW already holds .mcool files; nothing to simulate" >&2
fi
# marks: unless --marks was given, simulated data bring their own (--difficulty easy writes two);
# other data use the six when all their bigWigs are there, else the seed's two (ENCODE downloads)
if [ "$MARKS_SET" = 0 ] && [ -f "$RAW/simulation.json" ]; then
  read -r -a MARKS <<<"$("$PY" -c 'import json, sys
print(" ".join(json.load(open(sys.argv[1]))["summary"].get("marks", ["CTCF", "H3K27me3"])))' "$RAW/simulation.json")"
  BWS="$(bw "$CELL1") $(bw "$CELL2")"
elif [ "$MARKS_SET" = 0 ]; then
  for f in $BWS; do [ -e "$f" ] || { MARKS=(CTCF H3K27me3); BWS="$(bw "$CELL1") $(bw "$CELL2")"; break; }; done
fi
if selected graph || selected compartments; then
  for f in "$MCOOL1" "$MCOOL2"; do
    [ -e "${f%%::*}" ] || die "Hi-C file not found: $f; put your .mcool files in $RAW or pass --mcool1/--mcool2 (README: 'Real data')"
  done
fi

# download: bigWigs missing for either cell (real data; simulated runs already have them)
missing=0; for f in $BWS; do [ -e "$f" ] || missing=1; done
if [ $missing = 1 ]; then
  stage download "$BWS" "" \
    "$PY" scripts/download_data.py --raw-dir "$RAW" --cells "$CELL1" "$CELL2" --marks "${MARKS[@]}"
fi

stage graph "$G1 $G2" "$MCOOL1 $MCOOL2 $BWS" \
  graphs --chrom "${CHROMS[@]}" --res "$RES" --max_dist "$MAX_DIST" --min-contacts "$MIN_CONTACTS" \
  --feature-norm "$FEATURE_NORM"

# insulation: TAD insulation score + boundaries per cell (scored against planted TADs when simulated)
I1="$RESULTS/$CELL1/insulation_${TAG}.bedGraph"; I2="$RESULTS/$CELL2/insulation_${TAG}.bedGraph"
ins_truth=(); [ -e "$TRUTH" ] && ins_truth=(--truth "$TRUTH")
insulation_cell() {
  local k=$1; shift; local mcool="MCOOL$k" out="I$k"
  "$PY" scripts/compute_insulation.py --mcool "${!mcool}" --out "${!out}" "$@"
}
insulations() { per_cell insulation_cell "$@"; }

train_args=(--graph "$G1" --epochs "$EPOCHS" ${PATIENCE:+--patience "$PATIENCE"} --hidden "$HIDDEN" --latent "$LATENT"
            --lr "$LR" --dropout "$DROPOUT" --seed "$SEED" --device "$DEVICE" --outdir "$RESULTS/$CELL1")
[ -n "$DECODER" ] && train_args+=(--decoder "$DECODER")

# Two independent chains: the eigenvectors and insulation of both cells, and the model (train on cell 1,
# then encode cell 2); side by side when --jobs > 1.
calls_chain() {
  stage compartments "$C1 $C2" "$MCOOL1 $MCOOL2 $BWS ${ORIENT[*]}" \
    compartments --chrom "${CHROMS[@]}" --res "$RES"
  stage insulation "$I1 $I2" "$MCOOL1 $MCOOL2" \
    insulations --chrom "${CHROMS[@]}" --res "$RES" "${ins_truth[@]}"
}
model_chain() {
  stage train "$MODEL $E1" "$G1" "$PY" scripts/train_vgae.py "${train_args[@]}" "${EXTRA_TRAIN[@]}"
  stage encode "$E2" "$MODEL $G2" \
    "$PY" scripts/encode_graph.py --model "$MODEL" --graph "$G2" --out "$E2" --bn "$BN" --device "$DEVICE"
}
together calls_chain model_chain

# subcompartments: A1/A2/B1/B2/B3 per cell with baselines (scored against planted states when simulated)
S1="$RESULTS/$CELL1/subcompartments_${TAG}.csv"; S2="$RESULTS/$CELL2/subcompartments_${TAG}.csv"
subcomp_cell() {
  local k=$1; shift; local cell="CELL$k" emb="E$k" graph="G$k" comp="C$k" mcool="MCOOL$k" out="S$k" t=()
  [ -e "$TRUTH" ] && head -n 1 "$TRUTH" | grep -q "subcompartment_${!cell}" && t=(--truth "$TRUTH" --cell "${!cell}")
  "$PY" scripts/call_subcompartments.py --emb "${!emb}" --graph "${!graph}" --compartments "${!comp}" \
    --mcool "${!mcool}" --out "${!out}" "${t[@]}" "$@"
}
subcomps() { per_cell subcomp_cell "$@"; }
subcomp_stage() { stage subcompartments "$S1 $S2" "$E1 $E2 $G1 $G2 $C1 $C2" subcomps --res "$RES" --seed "$SEED"; }

truth_args=(); [ -e "$TRUTH" ] && truth_args=(--truth "$TRUTH")
visualize_stage() {
  stage visualize "$FIG/umap_silhouette.json" "$E1 $E2 $C1 $C2 $MODEL" \
    "$PY" scripts/visualize_embeddings.py --emb "$E1" "$E2" --labels "$CELL1" "$CELL2" \
    --compartments "$C1" "$C2" --graphs "$G1" "$G2" --model "$MODEL" --prefix "$FIG/umap" --seed "$SEED" "${truth_args[@]}"
}

# differential: per-bin p/q against within-cell pseudo-replicates (or <raw>/<cell>_rep2.mcool when present)
DIFF="$FIG/${TAG}_differential.csv"; diff_args=(--bn "$BN" --seed "$SEED" "${truth_args[@]}")
for k in 1 2; do c="CELL$k"; [ -e "$RAW/${!c}_rep2.mcool" ] && diff_args+=(--rep$k "$RAW/${!c}_rep2.mcool"); done
[ -n "$MIN_RUN" ] && diff_args+=(--min-run "$MIN_RUN")
differential_stage() {
  stage differential "$DIFF" "$MODEL $G1 $G2 $E1 $E2 $C1 $C2" \
    "$PY" scripts/differential.py --model "$MODEL" --mcool1 "$MCOOL1" --mcool2 "$MCOOL2" --graph1 "$G1" --graph2 "$G2" \
    --emb1 "$E1" --emb2 "$E2" --comp1 "$C1" --comp2 "$C2" --label1 "$CELL1" --label2 "$CELL2" \
    --prefix "$FIG/$TAG" "${diff_args[@]}"
}
compare_args=(--comp1 "$C1" --comp2 "$C2" --n-perm "$N_PERM" --seed "$SEED" "${truth_args[@]}")
[ -n "$MIN_RUN" ] && compare_args+=(--min-run "$MIN_RUN")
compare_stage() {  # after differential: its per-bin table goes into the summary when there is one
  local a=("${compare_args[@]}"); [ -e "$DIFF" ] && a+=(--diff "$DIFF")
  stage compare "$FIG/${TAG}_summary.json" "$E1 $E2 $C1 $C2 $DIFF" \
    "$PY" scripts/compare_embeddings.py --emb1 "$E1" --emb2 "$E2" --label1 "$CELL1" --label2 "$CELL2" \
    --prefix "$FIG/$TAG" "${a[@]}"
}
differential_chain() { differential_stage && compare_stage; }
# the three read the embeddings and calls and nothing of each other's (compare follows differential)
together subcomp_stage visualize_stage differential_chain

stage report "$RESULTS/report.md" "$RESULTS/$CELL1/metrics.json $FIG/umap_silhouette.json $FIG/${TAG}_summary.json" \
  "$PY" scripts/make_report.py --results "$RESULTS" --labels "$CELL1" "$CELL2" --chrom-tag "$TAG" \
  --out "$RESULTS/report.md"

echo "[pipeline] finished in $((SECONDS - T_START)) s" >&2
if [ -e "$RESULTS/report.md" ]; then
  echo "Results: $RESULTS/ (report: $RESULTS/report.md, figures: $FIG/, logs: $LOGS/)"
  "$PY" scripts/make_report.py --results "$RESULTS" --labels "$CELL1" "$CELL2" --chrom-tag "$TAG" --headline -q || true
fi
