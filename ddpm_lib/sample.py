"""Sample images from a trained checkpoint.

Examples:
    python -m ddpm_lib.sample --checkpoint runs/tiny/checkpoint.pt \\
        --n 64 --out samples.png
    python -m ddpm_lib.sample --checkpoint runs/cond/checkpoint.pt \\
        --label 7 --guidance 2 --sampler ddpm --out sneakers.png \\
        --tensor sneakers.pt

DDIM (the default, 50 steps, η = 0) is fast and deterministic for a seed;
DDPM runs the paper's Algorithm 2 over all T steps. The PNG is a grid of
all images; --tensor also saves them as a (n, C, H, W) tensor in [-1, 1].
Every output path is checked before sampling starts, and none may
replace a checkpoint.
"""

from __future__ import annotations

import argparse
import sys

import torch

from ddpm_lib import arguments as types
from ddpm_lib.arguments import Parser, UsageError, check_distinct, report
from ddpm_lib.device import default_device
from ddpm_lib.io.checkpoint import load_model
from ddpm_lib.io.files import OutputError, atomic_write
from ddpm_lib.io.images import save_png
from ddpm_lib.pipeline import class_labels, generate


def parser() -> argparse.ArgumentParser:
    p = Parser(
        prog="python -m ddpm_lib.sample",
        description=__doc__.split("\n\n")[0],
        epilog=__doc__.split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--checkpoint", required=True, help="a checkpoint.pt")
    p.add_argument(
        "--n", type=types.positive_int, default=64, help="number of images"
    )
    p.add_argument("--sampler", choices=["ddim", "ddpm"], default="ddim")
    p.add_argument(
        "--steps", type=types.positive_int, default=50, help="DDIM steps"
    )
    p.add_argument(
        "--eta", type=types.float_in(0, 1), default=0.0, help="DDIM's η"
    )
    p.add_argument(
        "--label",
        type=types.non_negative_int,
        help="class to draw (class-conditional models); default: all "
        "classes in turn",
    )
    p.add_argument(
        "--guidance",
        type=types.non_negative_float,
        default=0.0,
        help="classifier-free guidance weight w (0: none)",
    )
    p.add_argument(
        "--unconditional",
        action="store_true",
        help="draw from a class-conditional model without labels",
    )
    p.add_argument("--seed", type=types.seed, default=0)
    p.add_argument("--batch-size", type=types.positive_int, default=256)
    p.add_argument(
        "--device",
        type=types.device,
        help="cpu, cuda, mps (default: the best)",
    )
    p.add_argument("--no-ema", action="store_true", help="use the raw weights")
    p.add_argument("--out", type=types.image_file, help="PNG grid to write")
    p.add_argument(
        "--tensor",
        type=types.output_file,
        help="also save the images as a .pt tensor",
    )
    return p


def run(args) -> int:
    if not args.out and not args.tensor:
        raise UsageError("nothing to write: give --out and/or --tensor")
    check_distinct(
        {"--checkpoint": args.checkpoint},
        {"--out": args.out, "--tensor": args.tensor},
    )
    device = args.device or default_device()
    model, sched, config = load_model(
        args.checkpoint, ema=not args.no_ema, device=device
    )
    classes = config.model.num_classes
    labels = None
    if classes is None:
        if args.label is not None or args.guidance:
            raise UsageError(
                "this checkpoint's network is unconditional: --label and "
                "--guidance need a class-conditional model (a *_cond preset)"
            )
    elif not args.unconditional:
        if args.label is not None and not 0 <= args.label < classes:
            raise UsageError(
                f"--label must be in 0..{classes - 1}; got {args.label}"
            )
        labels = (
            torch.full((args.n,), args.label, device=device)
            if args.label is not None
            else class_labels(args.n, classes, device=device)
        )
    elif args.guidance:
        raise UsageError("--guidance needs labels; drop --unconditional")
    if args.sampler == "ddim" and args.steps > sched.T:
        raise UsageError(
            f"--steps must be in 1..{sched.T} (the model's T); got "
            f"{args.steps}"
        )
    generator = torch.Generator(device).manual_seed(args.seed)
    images = generate(
        model,
        sched,
        args.n,
        sampler=args.sampler,
        steps=args.steps,
        eta=args.eta,
        labels=labels,
        guidance=args.guidance,
        prediction=config.prediction,
        generator=generator,
        batch_size=args.batch_size,
    )
    check_finite_samples(images, args.checkpoint)
    if args.out:
        ncols = classes if labels is not None and args.label is None else None
        save_png(images, args.out, ncols=ncols)
        print(f"wrote {args.n} images to {args.out}")
    if args.tensor:
        images = images.cpu()
        atomic_write(args.tensor, lambda f: torch.save(images, f))
        print(
            f"wrote a tensor of shape {tuple(images.shape)} to {args.tensor}"
        )
    return 0


def check_finite_samples(images: torch.Tensor, checkpoint) -> None:
    """Refuse samples holding NaN or infinity (nothing is written)."""
    bad = int((~torch.isfinite(images)).flatten(1).any(1).sum())
    if bad:
        raise ValueError(
            f"{bad} of {len(images)} samples hold NaN or infinite values, so "
            f"nothing was written: the network in {checkpoint} is broken "
            "(its training diverged, or the file was damaged). Use an "
            "earlier checkpoint or train again"
        )


def main(argv=None) -> int:
    try:
        return run(parser().parse_args(argv))
    except (UsageError, ValueError, OutputError) as error:
        return report(error)


if __name__ == "__main__":
    sys.exit(main())
