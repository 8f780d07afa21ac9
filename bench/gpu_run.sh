#!/usr/bin/env bash
# Everything the GPU measures, in one run on one card, most important first:
# the pretrained model (train, export, 10k-sample evaluation), then the
# benchmark tables. Each step runs only if the time left allows it; the
# log says which were skipped. Results land in OUTDIR.
#   bash bench/gpu_run.sh OUTDIR          (BUDGET=seconds, default 570)
#   ONLY="reproduce targets" bash bench/gpu_run.sh OUTDIR   (chosen steps)
set -uo pipefail
out=${1:?usage: bash bench/gpu_run.sh OUTDIR}
mkdir -p "$out"
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export PYTHONUNBUFFERED=1
budget=${BUDGET:-570}
start=$(date +%s)
left() { echo $((budget - ($(date +%s) - start))); }
only=${ONLY:-}  # e.g. "train export evaluate": run only these steps
step() { # name, seconds it needs at least, command...
  local name=$1 need=$2
  shift 2
  if [ -n "$only" ] && [[ " $only " != *" $name "* ]]; then return; fi
  if [ "$(left)" -lt "$need" ]; then
    echo "== $name: skipped, $(left) s left and it needs $need"
    return
  fi
  echo "== $name: $* ($(left) s left)"
  local t0=$(date +%s)
  timeout "$(($(left) - 3))" "$@"
  echo "== $name: exit $?, $(($(date +%s) - t0)) s"
}
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
python -c 'import torch; print("torch", torch.__version__)'

weights=ddpm_lib/weights/fashion_small_cond.pt
step train 250 python -m ddpm_lib.train --preset fashion_small_cond \
  --out runs/pretrained --steps 60000 --batch-size "${TRAIN_BATCH:-2048}" \
  --lr "${TRAIN_LR:-1e-3}" --warmup-steps 100 --ema-decay 0.995 \
  --bf16 --channels-last --fused-optimizer --max-minutes "${TRAIN_MINUTES:-3}" \
  --log-every 100 --checkpoint-every 500 --no-progress
step export 20 python -m ddpm_lib.export runs/pretrained/checkpoint.pt "$weights"
[ -f "$weights" ] && cp "$weights" "$out/"
step evaluate 80 python -m ddpm_lib.evaluate --checkpoint "$weights" \
  --n 10000 --batch-size 2500 --json "$out/pretrained_eval.json"
# The model card's command again, for the steps the card's run reached
# (not its time budget), into another folder (the shipped weights stay as
# they are), then the same evaluation: the run-to-run spread of the FCD.
# Only with ONLY=reproduce (it repeats the train step).
card=$(python scripts/model_card.py --reproduce-command)
if [[ " $only " == *" reproduce "* ]]; then
  step reproduce 200 bash -c "${card/runs\/pretrained/runs\/reproduce} &&
    python -m ddpm_lib.export runs/reproduce/checkpoint.pt $out/reproduce.pt &&
    python -m ddpm_lib.evaluate --checkpoint $out/reproduce.pt --n 10000 \
      --batch-size 2500 --json $out/reproduce_eval.json"
fi
step compare128 100 python bench/compare.py --preset fashion --batch-size 128 \
  --steps 20 --repeats 3 --sample-steps 10 --sample-batch 1000 \
  --json "$out/compare_gpu_b128.json"
step targets 150 python bench/gpu_targets.py --json "$out/gpu_targets.json"
step quality 40 python bench/quality.py --checkpoint "$weights" --n 2000 \
  --json "$out/quality.json"
step compare1024 60 python bench/compare.py --preset fashion \
  --batch-size 1024 --steps 5 --repeats 3 --no-sampling \
  --json "$out/compare_gpu_b1024.json"
step compare128_compiled 150 python bench/compare.py --preset fashion \
  --batch-size 128 --steps 20 --repeats 3 --no-sampling --compile \
  --json "$out/compare_gpu_b128_compiled.json"
# Where a batch-128 step's time goes, eager and as a CUDA graph: the
# evidence for a missed training target (add --trace FILE for a trace).
step profile 60 bash -c "python bench/profile_step.py --preset fashion \
  --batch-size 128 --path fast &&
  python bench/profile_step.py --preset fashion --batch-size 128 --path graph"
echo "== done, $(left) s of the budget left"
