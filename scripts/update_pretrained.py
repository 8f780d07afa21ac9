"""Make everything that depends on the shipped model agree with a new one.

After a GPU run (``bash bench/gpu_run.sh OUTDIR``), on the CPU, in about
five minutes:

1. the weights, the 10,000-sample evaluation and the quality sweep (FCD
   and class agreement against DDIM steps and guidance) come from OUTDIR;
2. the training record (results/runs/pretrained_train.json) is read from
   OUTDIR/log.txt, which is kept as results/logs/gpu_run_N.txt;
3. the CPU sampling timing is measured again (bench/cpu_sample.py);
4. the model card and its class grid are rewritten
   (scripts/model_card.py --figure).

    python scripts/update_pretrained.py OUTDIR --log-name gpu_run_4.txt

The chapters read these files when the book is built, so the next build
shows the new model.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WEIGHTS = ROOT / "ddpm_lib" / "weights" / "fashion_small_cond.pt"


def training_record(log: str, log_path: str) -> dict:
    """The train step of a gpu_run.sh log, as the model card reads it."""
    command = re.search(
        r"^== train: (python -m ddpm_lib\.train .*?) \(\d+ s left\)$",
        log,
        re.M,
    )
    seconds = re.search(r"^== train: exit 0, (\d+) s$", log, re.M)
    final = re.search(
        r"^step (\d+): loss [\d.]+, (\d+) images/s; checkpoint", log, re.M
    )
    if not (command and seconds and final):
        raise SystemExit("error: the log holds no finished train step")
    words = command.group(1).split()
    minutes = words[words.index("--max-minutes") + 1]
    steps, batch = (
        int(final.group(1)),
        int(words[words.index("--batch-size") + 1]),
    )
    rates = [
        int(r)
        for r in re.findall(r"^step \d+/\d+: .*?, (\d+) images/s$", log, re.M)
    ]
    return {
        "command": command.group(1).replace(
            " --out runs/eager/", " --out runs/"
        ),
        "export": "python -m ddpm_lib.export runs/pretrained/checkpoint.pt "
        "ddpm_lib/weights/fashion_small_cond.pt",
        "stopped_by": f"the time budget (--max-minutes {minutes}) at step "
        f"{steps}",
        "steps": steps,
        "batch_size": batch,
        "images_seen": steps * batch,
        "training_loop_minutes": float(minutes),
        "process_seconds": int(seconds.group(1)),
        "images_per_s": max(rates or [int(final.group(2))]),
        "gpu": log.splitlines()[0].split(",")[0],
        "torch": re.search(r"^torch (\S+)$", log, re.M).group(1),
        "log": log_path,
    }


# Result files of a GPU run, and where they are kept.
RESULTS = {
    "pretrained_eval.json": "pretrained_eval.json",
    "quality_gpu.json": "quality_steps.json",  # the sampling chapter's
    "quality_guidance_gpu.json": "quality_guidance.json",  # guidance's
    "likelihood_gpu.json": "likelihood.json",  # evaluation chapter's
    "quality_protocol_gpu.json": "quality_protocol.json",  # its protocol
}


def describe_shipped(source: Path, target: Path) -> None:
    """Keep a result file of the GPU run as one about the shipped weights.

    It was computed on the GPU machine's copy (its command says where);
    the copy in the package has the same hash, checked here.
    """
    from ddpm_lib.evaluation.provenance import sha256

    result = json.loads(source.read_text())
    if result["provenance"]["checkpoint_sha256"] != sha256(WEIGHTS):
        raise SystemExit(f"error: {source} describes other weights")
    result["provenance"]["checkpoint"] = str(WEIGHTS.relative_to(ROOT))
    target.write_text(json.dumps(result, indent=1) + "\n")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("outdir", type=Path, help="the folder gpu_run.sh wrote")
    p.add_argument("--log-name", required=True, help="e.g. gpu_run_4.txt")
    p.add_argument("--commit", required=True, help="the commit the run used")
    p.add_argument("--date", required=True, help="the run's date, YYYY-MM-DD")
    p.add_argument("--skip-timing", action="store_true")
    args = p.parse_args(argv)
    new = args.outdir / "fashion_small_cond.pt"
    for path in (
        new,
        args.outdir / "pretrained_eval.json",
        args.outdir / "log.txt",
    ):
        if not path.is_file():
            raise SystemExit(
                f"error: {path} is missing; run bench/gpu_run.sh first"
            )
    from ddpm_lib.evaluation.provenance import sha256

    log_path = f"results/logs/{args.log_name}"
    record = training_record((args.outdir / "log.txt").read_text(), log_path)
    shutil.copyfile(args.outdir / "log.txt", ROOT / log_path)
    shutil.copyfile(new, WEIGHTS)
    # The evaluation ran on the GPU machine's copy of the weights (its
    # command says where); the file now describes the shipped copy, which
    # has the same hash.
    for name, kept_as in RESULTS.items():
        if (args.outdir / name).is_file():
            describe_shipped(args.outdir / name, ROOT / "results" / kept_as)
    record.update(
        commit=args.commit, date=args.date, weights_sha256=sha256(WEIGHTS)
    )
    out = ROOT / "results" / "runs" / "pretrained_train.json"
    out.write_text(json.dumps(record, indent=1) + "\n")
    run = [sys.executable]
    if not args.skip_timing:
        timing = ["bench/cpu_sample.py", "--threads", "2", "--checkpoint",
                  "ddpm_lib/weights/fashion_small_cond.pt",
                  "--json", "results/bench/cpu_sample.json"]  # fmt: skip
        subprocess.run(run + timing, cwd=ROOT, check=True)
    subprocess.run(
        run + ["scripts/model_card.py", "--figure"], cwd=ROOT, check=True
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
