"""Samples from one fixed noise at checkpoints along a training run.

Trains the ``tiny`` preset on Fashion-MNIST for a wall-clock budget and,
at checkpoints spaced geometrically in training time, draws the same
``--n`` DDIM samples (same x_T, same generator seed) from the EMA
weights. The frames (uint8, shape (K, N, 28, 28)) go to a ``.npz`` next
to the JSON result, which records the steps, the losses, the machine,
the wall time and the provenance. The chapter "Training" shows them with
a slider.

    python -m ddpm_book.training_frames --minutes 15 \\
        --out results/training_frames.json --threads 1
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch

from ddpm_lib.device import check_device
from ddpm_lib.evaluation.provenance import write_result
from ddpm_lib.io.data import DeviceDataset, load_images
from ddpm_lib.io.files import atomic_write
from ddpm_lib.networks.unet import PRESETS
from ddpm_lib.pipeline import generate
from ddpm_lib.training.config import TrainConfig
from ddpm_lib.training.trainer import Trainer

__all__ = ["checkpoint_times", "main", "to_uint8"]

# TrainConfig fields this command does not use (its loop is its own).
UNUSED = {"model", "steps", "max_minutes", "log_every", "checkpoint_every",
          "sample_every"}  # fmt: skip


def checkpoint_times(seconds: float, k: int, first: float = 0.03) -> list:
    """``k`` training times (s) from ``first``·seconds to ``seconds``,
    geometric, with time 0 (the initial weights) in front: k + 1 in all."""
    if k == 1:
        return [0.0, seconds]
    ratio = (1 / first) ** (1 / (k - 1))
    return [0.0] + [seconds * first * ratio**i for i in range(k)]


def to_uint8(images: torch.Tensor) -> np.ndarray:
    """Images in [-1, 1], (N, 1, H, W) → uint8 pixels (N, H, W)."""
    pixels = ((images.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    return pixels[:, 0].cpu().numpy()


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m ddpm_book.training_frames",
        description=__doc__.split("\n\n")[0],
    )
    p.add_argument(
        "--minutes",
        type=float,
        required=True,
        help="training time budget (sampling not counted)",
    )
    p.add_argument("--out", required=True, help="result file (.json)")
    p.add_argument(
        "--checkpoints",
        type=int,
        default=12,
        help="checkpoints after step 0 (default 12)",
    )
    p.add_argument("--n", type=int, default=16, help="samples per frame")
    p.add_argument("--ddim-steps", type=int, default=25)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--warmup-steps", type=int, default=100)
    p.add_argument("--ema-decay", type=float, default=0.999)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cpu")
    p.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch CPU threads (default: torch's choice)",
    )
    return p  # fmt: skip


def _check(args) -> str | None:
    """The first problem with the arguments, or None."""
    if not (math.isfinite(args.minutes) and args.minutes > 0):
        return f"--minutes must be a finite number > 0; got {args.minutes}"
    if args.checkpoints < 1:
        return f"--checkpoints must be >= 1; got {args.checkpoints}"
    if not 1 <= args.n <= 256:
        return f"--n must lie in 1..256; got {args.n}"
    if args.ddim_steps < 1:
        return f"--ddim-steps must be >= 1; got {args.ddim_steps}"
    if args.batch_size < 1:
        return f"--batch-size must be >= 1; got {args.batch_size}"
    if args.threads is not None and args.threads < 1:
        return f"--threads must be >= 1; got {args.threads}"
    out = Path(args.out)
    if out.suffix != ".json":
        return f"--out must end in .json; got {args.out}"
    if not out.parent.is_dir():
        return f"--out: folder {out.parent} does not exist"
    if out.is_dir():
        return f"--out: {out} is a folder"
    return None


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = _parser().parse_args(argv)
    problem = _check(args)
    if problem is None:
        try:
            device = check_device(args.device)
        except (ValueError, RuntimeError) as error:
            problem = f"--device: {error}"
    if problem is not None:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    started = time.monotonic()
    config = TrainConfig(
        model=PRESETS["tiny"],
        batch_size=args.batch_size,
        lr=args.lr,
        warmup_steps=args.warmup_steps,
        ema_decay=args.ema_decay,
        seed=args.seed,
    )
    data = DeviceDataset.from_images(load_images("fashion_mnist"), device)
    trainer = Trainer(config, data)

    def frame() -> np.ndarray:
        g = torch.Generator(device).manual_seed(args.seed)
        images = generate(trainer.ema.module, trainer.sched, args.n,
                          steps=args.ddim_steps, generator=g)  # fmt: skip
        return to_uint8(images)

    budget = 60 * args.minutes
    marks = checkpoint_times(budget, args.checkpoints)
    steps, seconds, losses, frames = [], [], [], []
    trained, loss_sum, loss_n = 0.0, 0.0, 0
    for mark in marks:
        while trained < mark:
            tick = time.perf_counter()
            loss, _ = trainer.train_step()
            loss_sum, loss_n = loss_sum + float(loss), loss_n + 1
            trained += time.perf_counter() - tick
        if steps and trainer.step == steps[-1]:
            continue  # no step since the last frame
        steps.append(trainer.step)
        seconds.append(round(trained, 2))
        losses.append(None if loss_n == 0 else loss_sum / loss_n)
        loss_sum, loss_n = 0.0, 0
        frames.append(frame())
        print(f"step {trainer.step:6d}  {trained:7.1f} s  "
              f"loss {losses[-1]}", flush=True)  # fmt: skip
    out = Path(args.out)
    npz = out.with_suffix(".npz")
    stack = np.stack(frames)  # (K, N, H, W)

    def write_npz(f) -> None:
        np.savez_compressed(f, frames=stack, steps=np.array(steps))

    atomic_write(npz, write_npz)
    result = {
        "what": "the same DDIM samples from the EMA weights along a run",
        "preset": "tiny",
        "dataset": "fashion_mnist",
        "config": {
            k: v for k, v in config.to_dict().items() if k not in UNUSED
        },  # fmt: skip
        "n": args.n,
        "ddim_steps": args.ddim_steps,
        "frames_file": npz.name,
        "frames_shape": list(stack.shape),
        "steps": steps,
        "train_seconds": seconds,
        "mean_loss_since_previous": losses,
        "images_seen": steps[-1] * args.batch_size,
        "minutes_budget": args.minutes,
        "wall_seconds": round(time.monotonic() - started, 1),
        "device": str(device),
        "threads": torch.get_num_threads(),
    }
    command = "python -m ddpm_book.training_frames " + " ".join(argv)
    write_result(out, result, command)
    print(f"wrote {out} and {npz}: {len(steps)} frames, "
          f"{steps[-1]} steps", flush=True)  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
