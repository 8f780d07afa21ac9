"""Sample quality against sampling steps and guidance weight, with provenance.

For one trained class-conditional model, every row draws N images (class
labels 0–9 in turn, or none: the null label) and scores them against the
first N Fashion-MNIST test images with the evaluation classifier: FCD, KID,
the *agreement* — the share of samples the classifier assigns to the
class they were drawn for (what guidance buys) — and the *spread* — for
each class, how varied its samples' classifier features are next to the
test images of that class (1 = as varied as the data; what guidance
costs; see :func:`ddpm_book.guidance.class_spread`). FCD depends on N:
compare rows of one file, or files with the same N.

Rows: ``steps`` (DDIM steps at w = 0, and DDPM), ``guidance`` (a few
weights at DDIM-50), ``all`` (both), ``sweep`` (the guidance chapter's
weights w = 0 … 8 at ``--sweep-steps`` DDIM steps).

    python bench/quality.py --n 2000 --json results/quality.json \\
        --checkpoint ddpm_lib/weights/fashion_small_cond.pt
    python bench/quality.py --rows sweep --n 200 --sweep-steps 20 \\
        --batch-size 100 --json results/quality_guidance.json \\
        --checkpoint ddpm_lib/weights/fashion_small_cond.pt
    DDPM_FAST=1 python bench/quality.py --checkpoint CKPT   # a smoke run
"""

from __future__ import annotations

import argparse
import sys
import time

import torch

import ddpm_lib as dl
from ddpm_book.guidance import class_spread, features, spread_by_class
from ddpm_book.modes import by_mode
from ddpm_lib.evaluation.classifier import load_classifier
from ddpm_lib.evaluation.metrics import fcd, kid
from ddpm_lib.evaluation.provenance import write_result

# (sampler, steps, guidance, conditional)
STEPS = [("ddim", s, 0.0, True) for s in (10, 20, 50, 100)] + [
    ("ddpm", 1000, 0.0, True)
]
GUIDANCE = [("ddim", 50, 0.0, False)] + [
    ("ddim", 50, w, True) for w in (0.5, 1.0, 2.0, 4.0)
]
# The guidance chapter's sweep: these weights at --sweep-steps DDIM steps.
SWEEP_WEIGHTS = (0.0, 0.5, 1.0, 2.0, 3.0, 4.0, 6.0, 8.0)


def score(samples, labels, test, reference, classifier) -> dict:
    """FCD and KID against ``test``; agreement and spread given labels.

    ``reference`` holds the test images' spread of each class.
    """
    predicted = torch.cat(
        [classifier(part).argmax(1) for part in samples.split(1000)]
    )
    mean, std = kid(
        test,
        samples,
        classifier=classifier,
        subset_size=min(1000, len(samples)),
    )
    spread = None
    if labels is not None and labels.bincount().min() >= 2:
        spread = class_spread(
            samples, labels, reference, classifier=classifier
        )
    return {
        "fcd": fcd(test, samples, classifier=classifier),
        "kid": [mean, std],
        "agreement": None
        if labels is None
        else (predicted == labels.cpu()).float().mean().item(),
        "spread": spread,
        "spread_mean": None if spread is None else sum(spread) / len(spread),
    }


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--n", type=int, default=by_mode(2000, 20))
    p.add_argument(
        "--rows",
        choices=["steps", "guidance", "all", "sweep"],
        default="all",
    )
    p.add_argument(
        "--sweep-steps",
        type=int,
        default=by_mode(20, 2),
        help="DDIM steps of the sweep rows",
    )
    p.add_argument(
        "--batch-size", type=int, default=2000, help="images per call"
    )
    p.add_argument(
        "--max-steps",
        type=int,
        default=by_mode(1000, 10),
        help="skip rows with more sampler steps (smoke runs)",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device")
    p.add_argument("--json")
    args = p.parse_args(argv)
    device = torch.device(args.device) if args.device else dl.default_device()
    model, sched, config = dl.load_model(args.checkpoint, device=device)
    if config.model.num_classes is None:
        raise SystemExit("error: this script needs a class-conditional model")
    sweep = [("ddim", args.sweep_steps, w, True) for w in SWEEP_WEIGHTS]
    rows = {
        "steps": STEPS,
        "guidance": GUIDANCE,
        "all": STEPS + GUIDANCE,
        "sweep": sweep,
    }
    test_set = dl.load_images("fashion_mnist", split="test")
    real = dl.pixels_to_model(test_set.pixels)
    test = real[: args.n]
    classifier = load_classifier()
    reference = spread_by_class(
        features(real, classifier), test_set.labels, num_classes=10
    )
    labels = dl.class_labels(args.n, config.model.num_classes, device=device)
    results = []
    total, cpu = time.perf_counter(), time.process_time()
    print(
        f"{'sampler':8s} {'steps':>5s} {'w':>4s} {'labels':>7s} "
        f"{'FCD':>7s} {'KID':>8s} {'agree':>6s} {'spread':>6s} {'s':>6s}"
    )
    for sampler, steps, w, conditional in dict.fromkeys(rows[args.rows]):
        n_steps = steps if sampler == "ddim" else sched.T
        if n_steps > args.max_steps:
            continue
        g = torch.Generator(device).manual_seed(args.seed)
        start = time.perf_counter()
        samples = dl.generate(
            model,
            sched,
            args.n,
            sampler=sampler,
            steps=steps,
            labels=labels if conditional else None,
            guidance=w,
            prediction=config.prediction,
            generator=g,
            batch_size=args.batch_size,
        ).cpu()
        seconds = time.perf_counter() - start
        row = {
            "sampler": sampler,
            "steps": n_steps,
            "guidance": w,
            "conditional": conditional,
            "seconds": seconds,
            **score(
                samples,
                labels.cpu() if conditional else None,
                test,
                reference,
                classifier,
            ),
        }
        results.append(row)
        agree = "" if row["agreement"] is None else f"{row['agreement']:.3f}"
        spread = "" if row["spread"] is None else f"{row['spread_mean']:.3f}"
        print(
            f"{sampler:8s} {n_steps:5d} {w:4.1f} "
            f"{'class' if conditional else 'null':>7s} {row['fcd']:7.2f} "
            f"{row['kid'][0]:8.4f} {agree:>6s} {spread:>6s} {seconds:6.1f}",
            flush=True,
        )
    report = {
        "n": args.n,
        "reference": f"the first {args.n} Fashion-MNIST test images",
        "spread_reference": "all 10,000 Fashion-MNIST test images, by class",
        "seconds": time.perf_counter() - total,
        "cpu_seconds": time.process_time() - cpu,
        "rows": results,
    }
    write_result(
        args.json,
        report,
        "python bench/quality.py " + " ".join(argv),
        checkpoint=args.checkpoint,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
