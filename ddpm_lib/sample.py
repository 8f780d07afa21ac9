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
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from ddpm_lib.device import default_device
from ddpm_lib.io.checkpoint import CheckpointError, load_model
from ddpm_lib.io.images import save_png
from ddpm_lib.pipeline import class_labels, generate


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m ddpm_lib.sample",
        description=__doc__.split("\n\n")[0],
        epilog=__doc__.split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--checkpoint", required=True, help="a checkpoint.pt")
    p.add_argument("--n", type=int, default=64, help="number of images")
    p.add_argument("--sampler", choices=["ddim", "ddpm"], default="ddim")
    p.add_argument("--steps", type=int, default=50, help="DDIM steps")
    p.add_argument("--eta", type=float, default=0.0, help="DDIM's η")
    p.add_argument(
        "--label",
        type=int,
        help="class to draw (class-conditional models); default: all "
        "classes in turn",
    )
    p.add_argument(
        "--guidance",
        type=float,
        default=0.0,
        help="classifier-free guidance weight w (0: none)",
    )
    p.add_argument(
        "--unconditional",
        action="store_true",
        help="draw from a class-conditional model without labels",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--device", help="cpu, cuda, mps (default: the best)")
    p.add_argument("--no-ema", action="store_true", help="use the raw weights")
    p.add_argument("--out", help="PNG grid to write")
    p.add_argument("--tensor", help="also save the images as a .pt tensor")
    return p


def run(args) -> int:
    if not args.out and not args.tensor:
        raise ValueError("nothing to write: give --out and/or --tensor")
    if args.n < 1:
        raise ValueError("--n must be at least 1")
    device = torch.device(args.device) if args.device else default_device()
    model, sched, config = load_model(
        args.checkpoint, ema=not args.no_ema, device=device
    )
    classes = config.model.num_classes
    labels = None
    if classes is None:
        if args.label is not None or args.guidance:
            raise ValueError(
                "this checkpoint's network is unconditional: --label and "
                "--guidance need a class-conditional model (a *_cond preset)"
            )
    elif not args.unconditional:
        if args.label is not None and not 0 <= args.label < classes:
            raise ValueError(
                f"--label must be in 0..{classes - 1}; got {args.label}"
            )
        labels = (
            torch.full((args.n,), args.label, device=device)
            if args.label is not None
            else class_labels(args.n, classes, device=device)
        )
    elif args.guidance:
        raise ValueError("--guidance needs labels; drop --unconditional")
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
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        ncols = classes if labels is not None and args.label is None else None
        save_png(images, args.out, ncols=ncols)
        print(f"wrote {args.n} images to {args.out}")
    if args.tensor:
        Path(args.tensor).parent.mkdir(parents=True, exist_ok=True)
        torch.save(images.cpu(), args.tensor)
        print(
            f"wrote a tensor of shape {tuple(images.shape)} to {args.tensor}"
        )
    return 0


def main(argv=None) -> int:
    args = parser().parse_args(argv)
    try:
        return run(args)
    except (CheckpointError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
