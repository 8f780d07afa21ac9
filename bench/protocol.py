"""Why published FIDs disagree: the protocol, changed one thing at a time.

One set of N samples of a trained class-conditional model (DDIM-50, w = 0,
class labels 0–9 in turn, as ``python -m ddpm_lib.evaluate`` draws them)
is scored against Fashion-MNIST with the evaluation classifier's Fréchet
distance (FCD) and KID, and then one thing changes at a time:

- ``sample_count``: n samples against n test images, for growing n (FCD
  is biased upward at small n; KID is not). Where N holds several
  disjoint sets of n, each is scored and the row gives the mean and the
  standard deviation over the sets, so a single estimate's scatter shows;
- ``floor_count``: the same for n training images in place of samples
  (what a perfect model scores at each n; real images only, so it runs up
  to the whole test set);
- ``reference``: the N samples against N test images, then against N
  training images (the paper's 3.17 is against the training set);
- ``pixels``: the samples as floats, then rounded to 8-bit pixels as a
  saved PNG holds them.

    python bench/protocol.py --n 1000 --json results/quality_protocol.json \\
        --checkpoint ddpm_lib/weights/fashion_small_cond.pt
    DDPM_FAST=1 python bench/protocol.py --checkpoint CKPT  # a smoke run
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

import ddpm_lib as dl
from ddpm_book.modes import by_mode
from ddpm_lib.evaluation.classifier import load_classifier
from ddpm_lib.evaluation.metrics import fcd, kid
from ddpm_lib.evaluation.provenance import write_result
from ddpm_lib.io.checkpoint import CheckpointError

SAMPLE_COUNTS = (100, 250, 500, 1000, 2000, 5000, 10000)


REPEATS = 10  # disjoint sets scored per n, at most


def distances(real, fake, classifier) -> dict:
    """FCD and KID (mean, std over subsets) of two equal-sized sets."""
    size = min(1000, len(real), len(fake))
    mean, std = kid(
        real,
        fake,
        classifier=classifier,
        subset_size=size,
        subsets=50 if size < len(real) else 1,  # one subset: all of it
    )
    return {"fcd": fcd(real, fake, classifier=classifier), "kid": [mean, std]}


def scatter(real, fake, n: int, classifier) -> dict:
    """FCD and KID of disjoint sets of n: mean and std over the sets.

    ``real`` and ``fake`` hold at least n images each; up to
    :data:`REPEATS` pairs of disjoint sets (the first n, the next n, …)
    are scored. With one set, KID's std is that of its subsets.
    """
    repeats = max(1, min(REPEATS, len(real) // n, len(fake) // n))
    rows = [
        distances(
            real[i * n : (i + 1) * n], fake[i * n : (i + 1) * n], classifier
        )
        for i in range(repeats)
    ]
    fcds = torch.tensor([row["fcd"] for row in rows], dtype=torch.float64)
    kids = torch.tensor([row["kid"][0] for row in rows], dtype=torch.float64)
    single = repeats == 1
    return {
        "n": n,
        "repeats": repeats,
        "fcd": fcds.mean().item(),
        "fcd_std": None if single else fcds.std().item(),
        "kid": [
            kids.mean().item(),
            rows[0]["kid"][1] if single else kids.std().item(),
        ],
    }


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--n", type=int, default=by_mode(1000, 20))
    p.add_argument("--steps", type=int, default=by_mode(50, 2))
    p.add_argument(
        "--max-floor-n",
        type=int,
        default=by_mode(10000, 100),
        help="largest n of the floor rows",
    )
    p.add_argument(
        "--batch-size", type=int, default=500, help="images per call"
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device")
    p.add_argument("--json")
    args = p.parse_args(argv)
    if args.n < 2 or args.steps < 1 or args.batch_size < 1:
        raise SystemExit(
            "error: --n must be at least 2, --steps and --batch-size at "
            "least 1"
        )
    if args.json and not Path(args.json).resolve().parent.is_dir():
        raise SystemExit(
            f"error: the folder of --json {args.json} does not exist; "
            "create it or choose another path"
        )
    test = dl.pixels_to_model(
        dl.load_images("fashion_mnist", split="test").pixels
    )
    train = dl.pixels_to_model(dl.load_images("fashion_mnist").pixels)
    if not args.n <= args.max_floor_n <= len(test):
        raise SystemExit(
            f"error: need --n ≤ --max-floor-n ≤ {len(test)} (the test "
            f"images); got {args.n} and {args.max_floor_n}"
        )
    device = torch.device(args.device) if args.device else dl.default_device()
    try:
        model, sched, config = dl.load_model(args.checkpoint, device=device)
    except CheckpointError as error:
        raise SystemExit(f"error: {error}") from None
    if config.model.num_classes is None:
        raise SystemExit("error: this script needs a class-conditional model")
    classifier = load_classifier()
    start, cpu = time.perf_counter(), time.process_time()
    labels = dl.class_labels(args.n, config.model.num_classes, device=device)
    samples = dl.generate(
        model,
        sched,
        args.n,
        sampler="ddim",
        steps=args.steps,
        labels=labels,
        prediction=config.prediction,
        generator=torch.Generator(device).manual_seed(args.seed),
        batch_size=args.batch_size,
    ).cpu()
    sampling_seconds = time.perf_counter() - start
    print(f"{args.n} samples in {sampling_seconds:.0f} s", flush=True)
    counts = [n for n in SAMPLE_COUNTS if n < args.n] + [args.n]
    floor_counts = sorted(
        {n for n in SAMPLE_COUNTS if n < args.max_floor_n}
        | {args.n, args.max_floor_n}
    )
    rows = {"sample_count": [], "floor_count": []}
    for name, real, fake, sizes in (
        ("sample_count", test, samples, counts),
        ("floor_count", test, train, floor_counts),
    ):
        for n in sizes:
            row = scatter(real, fake, n, classifier)
            rows[name].append(row)
            print(
                f"{name:12s} n = {n:5d}: FCD {row['fcd']:7.2f}, KID "
                f"{row['kid'][0]:7.2f} ± {row['kid'][1]:.2f} "
                f"({row['repeats']} set(s))",
                flush=True,
            )
    n = args.n
    rows["reference"] = {
        "test": distances(test[:n], samples, classifier),
        "train": distances(train[:n], samples, classifier),
    }
    as_uint8 = dl.pixels_to_model(dl.model_to_pixels(samples))
    rows["pixels"] = {
        "float": rows["reference"]["test"],
        "uint8": distances(test[:n], as_uint8, classifier),
        "largest_change": (as_uint8 - samples).abs().max().item(),
    }
    for name in ("reference", "pixels"):
        line = ", ".join(
            f"{key} {value['fcd']:.2f}"
            for key, value in rows[name].items()
            if isinstance(value, dict)
        )
        print(f"{name}: FCD {line}")
    report = {
        "n": n,
        "sampler": "ddim",
        "steps": args.steps,
        "guidance": 0.0,
        "labels": "class labels 0-9 in turn",
        "reference": f"the first n Fashion-MNIST test images (n ≤ {n})",
        "sampling_seconds": sampling_seconds,
        "seconds": time.perf_counter() - start,
        "cpu_seconds": time.process_time() - cpu,
        **rows,
    }
    write_result(
        args.json,
        report,
        "python bench/protocol.py " + " ".join(argv),
        checkpoint=args.checkpoint,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
