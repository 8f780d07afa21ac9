"""Keep only the EMA weights of a training checkpoint (for sharing).

    python -m ddpm_lib.export runs/fashion/checkpoint.pt model.pt

The export is read by ``load_model``, ``python -m ddpm_lib.sample`` and
``python -m ddpm_lib.evaluate`` like a checkpoint; it cannot be resumed.
"""

from __future__ import annotations

import argparse
import sys

from ddpm_lib.io.checkpoint import CheckpointError, export_model


def main(argv=None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m ddpm_lib.export", description=__doc__.split("\n\n")[0]
    )
    p.add_argument("checkpoint", help="a checkpoint.pt written by training")
    p.add_argument("out", help="the file to write")
    args = p.parse_args(argv)
    try:
        path = export_model(args.checkpoint, args.out)
    except CheckpointError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
