"""What the pretrained model costs on a CPU: 64 DDIM-50 samples, timed.

The book samples from the shipped model while it is built, and readers
without a GPU sample from it live; both run on a laptop-class CPU. This
times ``dl.generate`` for 64 class-conditional DDIM-50 samples, without
guidance and with it (guidance doubles the network's batch), on a chosen
number of torch threads, and reports the median of a few repeats.

    python bench/cpu_sample.py --threads 2 --json results/bench/cpu_sample.json
    DDPM_FAST=1 python bench/cpu_sample.py   # smoke run: 4 samples, 2 steps

Shared cores make this figure slow and noisy (torch's threads wait on each
other): measure on an otherwise idle machine and look at the load average
it records.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import torch

import ddpm_lib as dl
from ddpm_book.modes import by_mode
from ddpm_lib.evaluation.provenance import write_result


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--checkpoint", default=str(dl.pretrained_path()))
    p.add_argument("--n", type=int, default=by_mode(64, 4))
    p.add_argument("--steps", type=int, default=by_mode(50, 2))
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeats", type=int, default=by_mode(3, 1))
    p.add_argument(
        "--guidance", type=float, nargs="+", default=[0.0, 2.0],
        help="guidance weights to time (0 = none)",
    )  # fmt: skip
    p.add_argument("--json")
    args = p.parse_args(argv)
    if args.threads < 1 or args.n < 1 or args.steps < 1 or args.repeats < 1:
        p.error("--threads, --n, --steps and --repeats must be at least 1")
    torch.set_num_threads(args.threads)
    model, sched, config = dl.load_model(args.checkpoint, device="cpu")
    classes = config.model.num_classes
    labels = dl.class_labels(args.n, classes)
    load_before = os.getloadavg()[0]
    print(
        f"# {args.n} DDIM-{args.steps} samples on {args.threads} CPU threads, "
        f"median of {args.repeats} (load average {load_before:.2f})"
    )
    rows = []
    for w in args.guidance:
        if w and labels is None:
            continue  # guidance needs a class-conditional model
        times = []
        for repeat in range(args.repeats):
            g = torch.Generator().manual_seed(repeat)
            start = time.perf_counter()
            dl.generate(
                model, sched, args.n, steps=args.steps, labels=labels,
                guidance=w, prediction=config.prediction, generator=g,
                batch_size=args.n,
            )  # fmt: skip
            times.append(time.perf_counter() - start)
        median = statistics.median(times)
        rows.append({"guidance": w, "seconds": times, "median": median})
        print(
            f"guidance {w:3.1f}: {median:6.1f} s "
            f"(runs: {', '.join(f'{s:.1f}' for s in times)})",
            flush=True,
        )
    report = {
        "n": args.n,
        "steps": args.steps,
        "threads": args.threads,
        "load_average": [load_before, os.getloadavg()[0]],
        "rows": rows,
    }
    write_result(
        args.json,
        report,
        "python bench/cpu_sample.py " + " ".join(argv),
        checkpoint=args.checkpoint,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
