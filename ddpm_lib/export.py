"""Keep only the EMA weights of a training checkpoint (for sharing), or
write the network as an ONNX model.

    python -m ddpm_lib.export runs/fashion/checkpoint.pt model.pt
    python -m ddpm_lib.export runs/fashion/checkpoint.pt unet.onnx

The export is read by ``load_model``, ``python -m ddpm_lib.sample`` and
``python -m ddpm_lib.evaluate`` like a checkpoint; it cannot be resumed.
It may replace an earlier export, never a training checkpoint. An OUT
ending in .onnx gets the EMA network of a checkpoint or an export as an
ONNX model (see :mod:`ddpm_lib.io.onnx`), with float16 weights unless
``--float32`` is given.
"""

from __future__ import annotations

import argparse
import sys

from ddpm_lib import arguments as types
from ddpm_lib.arguments import Parser, UsageError, check_distinct, report
from ddpm_lib.io.checkpoint import export_model, load_model
from ddpm_lib.io.files import OutputError


def parser() -> argparse.ArgumentParser:
    p = Parser(
        prog="python -m ddpm_lib.export", description=__doc__.split("\n\n")[0]
    )
    p.add_argument(
        "checkpoint",
        metavar="CHECKPOINT",
        help="a checkpoint.pt written by training (or, for .onnx, an export)",
    )
    p.add_argument(
        "out",
        metavar="OUT",
        type=types.export_file,
        help="the file to write; .onnx writes an ONNX model",
    )
    p.add_argument(
        "--float32",
        action="store_true",
        help="ONNX only: keep the weights float32 (default: float16, half "
        "the size)",
    )
    return p


def main(argv=None) -> int:
    try:
        args = parser().parse_args(argv)
        check_distinct({"CHECKPOINT": args.checkpoint}, {"OUT": args.out})
        if args.out.suffix.lower() == ".onnx":
            from ddpm_lib.io.onnx import check_exporter, export_onnx

            check_exporter()  # before reading the checkpoint
            unet, _, _ = load_model(args.checkpoint)
            path = export_onnx(unet, args.out, float16=not args.float32)
        elif args.float32:
            raise UsageError("--float32 is for an OUT ending in .onnx")
        else:
            path = export_model(args.checkpoint, args.out)
    except (UsageError, ValueError, OutputError, RuntimeError) as error:
        return report(error)
    print(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
