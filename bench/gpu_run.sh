#!/usr/bin/env bash
# Everything the GPU measures, in one run on one card, most important first:
# the speed paths' equivalence (the CUDA-graph training step against the
# eager one), the pretrained model (train, export, 10k-sample evaluation),
# then the benchmark tables and the profile. Each step runs only if the
# time left allows it; the log says which were skipped. Results land in
# OUTDIR.
#   bash bench/gpu_run.sh OUTDIR          (BUDGET=seconds, default 570)
#   ONLY="check train export evaluate" bash bench/gpu_run.sh OUTDIR
#   DRY=1 bash bench/gpu_run.sh OUTDIR    (a rehearsal on this machine's
#                                          CPU: every step, tiny sizes)
# The pretrained model trains with the whole step replayed as a CUDA graph
# at batch 512 when the graph passed its equivalence checks, else eagerly
# at batch 2048 (an eager step is bound by the host below that).
set -uo pipefail
out=${1:?usage: bash bench/gpu_run.sh OUTDIR}
mkdir -p "$out"
out=$(cd "$out" && pwd)
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export PYTHONUNBUFFERED=1
budget=${BUDGET:-570}
start=$(date +%s)
left() { echo $((budget - ($(date +%s) - start))); }
only=${ONLY:-}
step() { # name, seconds it needs at least, command...
  local name=$1 need=$2
  shift 2
  if [ -n "$only" ] && [[ " $only " != *" $name "* ]]; then return; fi
  if [ "$(left)" -lt "$need" ]; then
    echo "== $name: skipped, $(left) s left and it needs $need"
    return
  fi
  echo "== $name: $* ($(left) s left)"
  local t0
  t0=$(date +%s)
  timeout "$(($(left) - 3))" "$@"
  echo "== $name: exit $?, $(($(date +%s) - t0)) s"
}

# Sizes: the real run, or a rehearsal of every step on the CPU.
minutes=${TRAIN_MINUTES:-4.3}
n_eval=10000 n_agree=2000 eval_batch=2500 n_quality=2000
n_bpd=1000 n_protocol=10000
compare_args=(--preset fashion --batch-size 128 --steps 20 --repeats 3)
compare_big=(--preset fashion --batch-size 1024 --steps 5 --repeats 3)
profile_args=(--preset fashion --batch-size 128)
train_size=(--steps 100000)
runs=runs
if [ -n "${DRY:-}" ]; then
  export DDPM_FAST=1 CUDA_VISIBLE_DEVICES=""
  minutes=0.2 n_eval=20 n_agree=10 eval_batch=20 n_quality=10
  n_bpd=2 n_protocol=20
  compare_args=(--preset tiny --batch-size 4 --steps 2 --repeats 1)
  compare_big=(--preset tiny --batch-size 8 --steps 2 --repeats 1)
  profile_args=(--preset tiny --batch-size 4 --steps 2)
  train_size=(--steps 4)
  runs=$out/runs
  rm -rf "$runs"
else
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
fi
python -c 'import torch; print("torch", torch.__version__)'

step check 60 python bench/gpu_targets.py --parts "" --skip-compile \
  --json "$out/gpu_equivalence.json"
graph_ok=$(python - "$out/gpu_equivalence.json" <<'EOF'
import json, sys
try:
    checks = json.load(open(sys.argv[1]))["equivalence"]
except (OSError, KeyError, ValueError):
    checks = {}
graph = {k: v for k, v in checks.items() if k.startswith("CUDA-graph")}
print(int(bool(graph) and all(
    v["relative_error"] <= v["tolerance"] for v in graph.values())))
EOF
)
if [ "$graph_ok" = 1 ]; then
  path=(--cuda-graph --batch-size "${TRAIN_BATCH:-512}" --ema-decay 0.999)
else
  path=(--batch-size "${TRAIN_BATCH:-2048}" --ema-decay 0.995)
fi
[ -n "${DRY:-}" ] && path=(--batch-size 8 --ema-decay 0.9)
echo "== the pretrained model trains with: ${path[*]}"

step train 200 python -m ddpm_lib.train --preset fashion_small_cond \
  --out "$runs/pretrained" "${train_size[@]}" --lr "${TRAIN_LR:-1e-3}" \
  --warmup-steps 200 --bf16 --channels-last --fused-optimizer "${path[@]}" \
  --max-minutes "$minutes" --log-every 500 --checkpoint-every 2000 \
  --no-progress
if [ "$graph_ok" = 1 ] && [ ! -f "$runs/pretrained/checkpoint.pt" ]; then
  echo "== the graph run left no checkpoint: training eagerly instead"
  runs=$runs/eager
  step train 150 python -m ddpm_lib.train --preset fashion_small_cond \
    --out "$runs/pretrained" "${train_size[@]}" --lr "${TRAIN_LR:-1e-3}" \
    --warmup-steps 200 --bf16 --channels-last --fused-optimizer \
    --batch-size 2048 --ema-decay 0.995 --max-minutes 3 --log-every 500 \
    --checkpoint-every 2000 --no-progress
fi
step export 20 python -m ddpm_lib.export "$runs/pretrained/checkpoint.pt" \
  "$out/fashion_small_cond.pt"
# Unguided FCD and KID on 10,000 samples, and the class agreement at the
# book's guidance weight.
step evaluate 80 python -m ddpm_lib.evaluate \
  --checkpoint "$out/fashion_small_cond.pt" --n "$n_eval" \
  --agreement-n "$n_agree" --batch-size "$eval_batch" \
  --json "$out/pretrained_eval.json"
# The model card's command again, for the steps the card's run reached
# (not its time budget), into another folder (the shipped weights stay as
# they are), then the same evaluation: the run-to-run spread of the FCD.
# Only with ONLY=reproduce (it repeats the train step).
if [[ " $only " == *" reproduce "* ]]; then
  card=$(python scripts/model_card.py --reproduce-command)
  step reproduce 200 bash -c "${card/runs\/pretrained/runs\/reproduce} &&
    python -m ddpm_lib.export runs/reproduce/checkpoint.pt $out/reproduce.pt &&
    python -m ddpm_lib.evaluate --checkpoint $out/reproduce.pt --n $n_eval \
      --agreement-n $n_agree --batch-size $eval_batch \
      --json $out/reproduce_eval.json"
fi
step compare128 60 python bench/compare.py "${compare_args[@]}" \
  --no-sampling --json "$out/compare_gpu_b128.json"
# Where a batch-128 step's time goes, eager and as a CUDA graph: the
# evidence for a missed training target (add --trace FILE for a trace).
step profile 40 bash -c "python bench/profile_step.py ${profile_args[*]} \
  --path fast; python bench/profile_step.py ${profile_args[*]} --path graph"
step targets 70 python bench/gpu_targets.py --parts paper --skip-checks \
  --json "$out/gpu_targets.json"
# FCD and agreement against DDIM steps and the guidance weight (chapters)
step quality 60 python bench/quality.py --checkpoint "$out/fashion_small_cond.pt" \
  --n "$n_quality" --rows all --max-steps 100 --json "$out/quality_gpu.json"
# The guidance chapter's sweep (w from 0 to 8), at the GPU's N
step guidance 30 python bench/quality.py --checkpoint "$out/fashion_small_cond.pt" \
  --n "$n_quality" --rows sweep --json "$out/quality_guidance_gpu.json"
# The evaluation chapter: the bound over test images, and the protocol
# changed one thing at a time, at the GPU's N
step likelihood 60 python bench/likelihood.py \
  --checkpoint "$out/fashion_small_cond.pt" --n "$n_bpd" --batch-size 1000 \
  --json "$out/likelihood_gpu.json"
step protocol 30 python bench/protocol.py \
  --checkpoint "$out/fashion_small_cond.pt" --n "$n_protocol" --batch-size 2500 \
  --json "$out/quality_protocol_gpu.json"
step compare1024 60 python bench/compare.py "${compare_big[@]}" \
  --no-sampling --json "$out/compare_gpu_b1024.json"
echo "== done, $(left) s of the budget left"
