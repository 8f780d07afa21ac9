"""Keep only the EMA weights of a training checkpoint (for sharing).

    python -m ddpm_lib.export runs/fashion/checkpoint.pt model.pt

The export is read by ``load_model``, ``python -m ddpm_lib.sample`` and
``python -m ddpm_lib.evaluate`` like a checkpoint; it cannot be resumed.
It may replace an earlier export, never a training checkpoint.
"""

from __future__ import annotations

import argparse
import sys

from ddpm_lib import arguments as types
from ddpm_lib.arguments import Parser, UsageError, check_distinct, report
from ddpm_lib.io.checkpoint import export_model
from ddpm_lib.io.files import OutputError


def parser() -> argparse.ArgumentParser:
    p = Parser(
        prog="python -m ddpm_lib.export", description=__doc__.split("\n\n")[0]
    )
    p.add_argument(
        "checkpoint",
        metavar="CHECKPOINT",
        help="a checkpoint.pt written by training",
    )
    p.add_argument(
        "out",
        metavar="OUT",
        type=types.export_file,
        help="the file to write",
    )
    return p


def main(argv=None) -> int:
    try:
        args = parser().parse_args(argv)
        check_distinct({"CHECKPOINT": args.checkpoint}, {"OUT": args.out})
        path = export_model(args.checkpoint, args.out)
    except (UsageError, ValueError, OutputError) as error:
        return report(error)
    print(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
