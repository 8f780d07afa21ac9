"""Train the Fashion-MNIST evaluation classifier from the command line.

Example:
    python -m ddpm_lib.train_classifier --epochs 8 --device cpu

Writes float16 weights (by default over the shipped ones in
``ddpm_lib/weights``) and prints the test accuracy before and after the
float16 rounding.
"""

from __future__ import annotations

import argparse
import sys

from ddpm_lib import arguments as types
from ddpm_lib.arguments import Parser, UsageError, report
from ddpm_lib.evaluation.classifier import (
    accuracy,
    load_classifier,
    save_weights,
    train_classifier,
    weights_path,
)
from ddpm_lib.io.data import load_images
from ddpm_lib.io.files import OutputError
from ddpm_lib.io.images import pixels_to_model


def parser() -> argparse.ArgumentParser:
    p = Parser(
        prog="python -m ddpm_lib.train_classifier",
        description="Train the Fashion-MNIST evaluation classifier.",
    )
    p.add_argument(
        "--out", type=types.output_file, default=str(weights_path())
    )
    p.add_argument("--epochs", type=types.positive_int, default=8)
    p.add_argument("--seed", type=types.seed, default=0)
    p.add_argument("--device", type=types.device, default="cpu")
    return p


def main(argv=None) -> int:
    try:
        args = parser().parse_args(argv)
        model, acc = train_classifier(
            epochs=args.epochs, seed=args.seed, device=args.device
        )
        digest = save_weights(model, args.out)
        reloaded = load_classifier(args.out)
        test = load_images("fashion_mnist", split="test")
    except (UsageError, ValueError, FileNotFoundError, OutputError) as error:
        return report(error)
    acc16 = accuracy(reloaded, pixels_to_model(test.pixels), test.labels)
    print(
        f"test accuracy {acc:.4f} (float32), {acc16:.4f} (float16 weights)"
        f"; wrote {args.out} (sha256 {digest[:16]}…)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
