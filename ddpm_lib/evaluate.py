"""Evaluate samples of a trained model on Fashion-MNIST, with provenance.

Examples:
    python -m ddpm_lib.evaluate --reference --n 10000 \\
        --json results/fashion_reference.json
    python -m ddpm_lib.evaluate --checkpoint runs/tiny/checkpoint.pt \\
        --n 1000 --bpd 100 --json results/tiny.json

The report gives, for N samples against the first N test images: the
Fréchet classifier distance (FCD) and KID, the floor (N training images:
what a perfect model scores) and the ceiling (N noise images), the
predicted-class histogram (mode dropping), the distance of every sample
to its nearest training image (memorisation) and, for a class-conditional
model, the class agreement: the share of samples the evaluation classifier
reads back as the class they were asked for, at the run's --guidance and
at --agreement-guidance (default: the book's weight, w = 2); optionally the
variational bound in bits/dim on test images. FCD depends on N: compare
equal N only; 10,000 for headline figures. The JSON file records the
command, the commit, the hardware and the hashes of the checkpoint and the
classifier.
"""

from __future__ import annotations

import argparse
import sys

import torch

from ddpm_lib import arguments as types
from ddpm_lib.arguments import Parser, UsageError, check_distinct, report
from ddpm_lib.device import default_device
from ddpm_lib.diffusion.guidance import BOOK_GUIDANCE
from ddpm_lib.diffusion.objective import vlb_bpd
from ddpm_lib.evaluation.classifier import load_classifier
from ddpm_lib.evaluation.metrics import (
    class_agreement,
    class_histogram,
    fcd,
    kid,
    nearest_neighbour_distances,
)
from ddpm_lib.evaluation.provenance import write_result
from ddpm_lib.io.checkpoint import load_model
from ddpm_lib.io.data import load_images
from ddpm_lib.io.files import OutputError, atomic_write
from ddpm_lib.io.images import model_to_pixels, pixels_to_model
from ddpm_lib.pipeline import class_labels, generate
from ddpm_lib.sample import check_finite_samples

__all__ = ["reference_report"]

FASHION_TEST = 10_000  # Fashion-MNIST test images: the largest N


def _distances(real, fake, classifier) -> dict:
    mean, std = kid(real, fake, classifier=classifier)
    return {"fcd": fcd(real, fake, classifier=classifier), "kid": [mean, std]}


def _fashion_mnist():
    """The test and training images in model range."""
    test = pixels_to_model(load_images("fashion_mnist", split="test").pixels)
    train = pixels_to_model(load_images("fashion_mnist").pixels)
    return test, train


def reference_report(n: int, *, seed: int = 0) -> dict:
    """FCD and KID floor (train vs test) and ceiling (noise vs test)."""
    return _reference(n, seed, load_classifier(), *_fashion_mnist())


def _reference(n: int, seed: int, classifier, test, train) -> dict:
    if not 2 <= n <= len(test):
        raise ValueError(f"--n must be in 2..{len(test)}; got {n}")
    g = torch.Generator().manual_seed(seed)
    noise = torch.randn(n, 1, 28, 28, generator=g).clamp(-1, 1)
    return {
        "n": n,
        "reference": f"the first {n} Fashion-MNIST test images",
        "floor": _distances(test[:n], train[:n], classifier),
        "ceiling": _distances(test[:n], noise, classifier),
    }


def model_report(args) -> dict:
    device = args.device or default_device()
    model, sched, config = load_model(args.checkpoint, device=device)
    m = config.model
    if (m.image_channels, m.image_size) != (1, 28):
        raise UsageError(
            f"{args.checkpoint} makes images of shape "
            f"{(m.image_channels, m.image_size, m.image_size)}; evaluation "
            "measures Fashion-MNIST models, (1, 28, 28)"
        )
    if args.sampler == "ddim" and args.steps > sched.T:
        raise UsageError(
            f"--steps must be in 1..{sched.T} (the model's T); got "
            f"{args.steps}"
        )
    classes = m.num_classes
    if args.guidance and classes is None:
        raise UsageError(
            "--guidance needs a class-conditional model; this checkpoint's "
            "network is unconditional"
        )
    # Everything the report needs is loaded before the sampling starts.
    classifier = load_classifier()
    test, train = _fashion_mnist()

    def draw(n: int, guidance: float) -> tuple[torch.Tensor, torch.Tensor]:
        labels = class_labels(n, classes, device=device)
        g = torch.Generator(device).manual_seed(args.seed)
        samples = generate(
            model,
            sched,
            n,
            sampler=args.sampler,
            steps=args.steps,
            labels=labels,
            guidance=guidance,
            prediction=config.prediction,
            generator=g,
            batch_size=args.batch_size,
        ).cpu()
        check_finite_samples(samples, args.checkpoint)
        return samples, labels

    samples, labels = draw(args.n, args.guidance)
    if args.save_samples:  # uint8 pixels and the requested labels
        saved = {
            "pixels": model_to_pixels(samples),
            "labels": None if labels is None else labels.cpu(),
        }
        atomic_write(args.save_samples, lambda f: torch.save(saved, f))
    report = _reference(args.n, args.seed, classifier, test, train)
    report["model"] = {
        "sampler": args.sampler,
        "steps": args.steps if args.sampler == "ddim" else sched.T,
        "guidance": args.guidance,
        **_distances(test[: args.n], samples, classifier),
        "class_histogram": class_histogram(
            samples, classifier=classifier
        ).tolist(),
    }
    if labels is not None:
        report["model"]["class_agreement"] = class_agreement(
            samples, labels, classifier=classifier
        )
        if args.agreement_n:
            n, w = args.agreement_n, args.agreement_guidance
            if w == args.guidance and n <= args.n:
                at, at_labels = samples[:n], labels[:n]
            else:
                at, at_labels = draw(n, w)
            report["model"]["class_agreement_at"] = {
                "guidance": w,
                "n": n,
                "share": class_agreement(at, at_labels, classifier=classifier),
            }
    dist, _ = nearest_neighbour_distances(samples, train)
    report["model"]["nearest_train_rms"] = {
        "min": dist.min().item(),
        "median": dist.median().item(),
        "share_below_0.05": (dist < 0.05).float().mean().item(),
    }
    if args.bpd:
        x = test[: args.bpd].to(device)
        g = torch.Generator(device).manual_seed(args.seed)
        bound = vlb_bpd(
            sched,
            lambda x_t, t: model(x_t, t),
            x,
            variance="beta",
            prediction=config.prediction,
            generator=g,
        )
        report["model"]["bits_per_dim"] = {
            "n": args.bpd,
            "total": bound.total.mean().item(),
            "prior": bound.prior.mean().item(),
            "decoder": bound.terms[:, 0].mean().item(),
        }
    return report


def parser() -> argparse.ArgumentParser:
    p = Parser(
        prog="python -m ddpm_lib.evaluate",
        description=__doc__.split("\n\n")[0],
        epilog=__doc__.split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--checkpoint", help="a trained model to evaluate")
    what.add_argument(
        "--reference",
        action="store_true",
        help="only the floor and ceiling of the protocol",
    )
    p.add_argument(
        "--n",
        type=types.int_in(2, FASHION_TEST),
        default=1000,
        help="sample count N",
    )
    p.add_argument("--sampler", choices=["ddim", "ddpm"], default="ddim")
    p.add_argument(
        "--steps", type=types.positive_int, default=50, help="DDIM steps"
    )
    p.add_argument("--guidance", type=types.non_negative_float, default=0.0)
    p.add_argument(
        "--agreement-guidance",
        metavar="W",
        type=types.non_negative_float,
        default=BOOK_GUIDANCE,
        help="also report the class agreement at this guidance weight "
        f"(default: {BOOK_GUIDANCE:g}, the book's)",
    )
    p.add_argument(
        "--agreement-n",
        type=types.int_in(0, FASHION_TEST),
        help="samples for that agreement (default: --n; 0: skip)",
    )
    p.add_argument(
        "--bpd",
        type=types.int_in(0, FASHION_TEST),
        default=0,
        help="test images for bits/dim (0: skip)",
    )
    p.add_argument("--seed", type=types.seed, default=0)
    p.add_argument(
        "--batch-size",
        type=types.positive_int,
        default=256,
        help="images per network call",
    )
    p.add_argument("--device", type=types.device)
    p.add_argument(
        "--json",
        type=types.output_file,
        help="write the report (with provenance) here",
    )
    p.add_argument(
        "--save-samples",
        metavar="FILE",
        type=types.output_file,
        help="also save the samples (uint8 pixels and labels, torch.save)",
    )
    return p


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        args = parser().parse_args(argv)
        check_distinct(
            {"--checkpoint": args.checkpoint},
            {"--json": args.json, "--save-samples": args.save_samples},
        )
        if args.agreement_n is None:
            args.agreement_n = args.n
        if args.reference:
            report_ = reference_report(args.n, seed=args.seed)
        else:
            report_ = model_report(args)
        text = write_result(
            args.json,
            report_,
            "python -m ddpm_lib.evaluate " + " ".join(argv),
            checkpoint=args.checkpoint,
        )
    except (UsageError, ValueError, FileNotFoundError, OutputError) as error:
        return report(error)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
