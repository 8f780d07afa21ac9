"""Train a DDPM from the command line.

Examples:
    python -m ddpm_lib.train --preset tiny --steps 2000 --out runs/tiny
    python -m ddpm_lib.train --out runs/tiny --resume --steps 4000
    torchrun --nproc_per_node=2 -m ddpm_lib.train --preset fashion \\
        --out runs/fashion --bf16 --compile

The run folder receives checkpoint.pt (model, EMA, optimizer, step,
config, schedule and random state; rewritten atomically), history.json
(the loss every --log-every steps) and, with --sample-every,
samples_<step>.png grids drawn from the EMA weights.
"""

from __future__ import annotations

import argparse
import functools
import json
import sys
import time
from dataclasses import fields, replace
from pathlib import Path

from ddpm_lib.io.checkpoint import CHECKPOINT, CheckpointError, load_checkpoint
from ddpm_lib.io.data import DataNotFoundError, DeviceDataset, load_images
from ddpm_lib.networks.unet import PRESETS, unet_config
from ddpm_lib.training.config import RESUMABLE, SCHEDULES, TrainConfig
from ddpm_lib.training.distributed import distributed_from_env
from ddpm_lib.training.trainer import Trainer, TrainingDiverged

DEFAULTS = TrainConfig()


def _ints(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated integers, e.g. 1,2,2; got {text!r}"
        ) from None


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m ddpm_lib.train",
        description=__doc__.split("\n\n")[0],
        epilog=__doc__.split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    run = p.add_argument_group("the run")
    run.add_argument("--out", required=True, help="run folder")
    run.add_argument(
        "--resume",
        action="store_true",
        help="continue the run saved in --out (same batches and noise)",
    )
    run.add_argument(
        "--preset",
        default="tiny",
        choices=sorted(PRESETS),
        help="network preset (default: tiny, which trains on a laptop CPU)",
    )
    run.add_argument(
        "--dataset",
        default=DEFAULTS.dataset,
        choices=["fashion_mnist", "mnist", "cifar10"],
    )
    run.add_argument(
        "--data-limit", type=int, help="train on the first N images only"
    )
    run.add_argument("--steps", type=int, help="total optimizer steps")
    run.add_argument(
        "--max-minutes",
        type=float,
        help="stop cleanly (with a checkpoint) after this many minutes",
    )
    run.add_argument("--batch-size", type=int, default=DEFAULTS.batch_size)
    run.add_argument("--seed", type=int, default=DEFAULTS.seed)
    run.add_argument(
        "--device", help="cpu, cuda, cuda:1, mps (default: the best one)"
    )
    math = p.add_argument_group("diffusion and optimisation")
    math.add_argument("--T", type=int, default=DEFAULTS.T)
    math.add_argument(
        "--schedule", default=DEFAULTS.schedule, choices=sorted(SCHEDULES)
    )
    math.add_argument(
        "--prediction", default=DEFAULTS.prediction, choices=["eps", "x0", "v"]
    )
    math.add_argument("--lr", type=float, default=DEFAULTS.lr)
    math.add_argument(
        "--warmup-steps", type=int, default=DEFAULTS.warmup_steps
    )
    math.add_argument("--grad-clip", type=float, default=DEFAULTS.grad_clip)
    math.add_argument("--ema-decay", type=float, default=DEFAULTS.ema_decay)
    math.add_argument(
        "--label-dropout", type=float, default=DEFAULTS.label_dropout
    )
    net = p.add_argument_group("network overrides (on top of --preset)")
    net.add_argument("--base-channels", type=int)
    net.add_argument("--channel-mults", type=_ints, help="e.g. 1,2,2")
    net.add_argument("--num-res-blocks", type=int)
    net.add_argument("--attn-resolutions", type=_ints, help="e.g. 16 or 7")
    net.add_argument("--num-groups", type=int)
    net.add_argument("--dropout", type=float)
    speed = p.add_argument_group("speed paths (same results, faster)")
    speed.add_argument("--bf16", action="store_true", help="bf16 autocast")
    speed.add_argument("--compile", action="store_true", help="torch.compile")
    speed.add_argument("--channels-last", action="store_true")
    speed.add_argument("--fused-optimizer", action="store_true")
    speed.add_argument(
        "--cuda-graph",
        action="store_true",
        help="replay the whole training step as one CUDA graph (GPU only)",
    )
    out = p.add_argument_group("outputs")
    out.add_argument("--log-every", type=int, default=DEFAULTS.log_every)
    out.add_argument(
        "--checkpoint-every", type=int, default=DEFAULTS.checkpoint_every
    )
    out.add_argument("--sample-every", type=int, default=DEFAULTS.sample_every)
    out.add_argument(
        "--no-progress",
        action="store_true",
        help="print a line per --log-every steps instead of a progress line",
    )
    return p


def config_from_args(args) -> TrainConfig:
    overrides = {
        name: getattr(args, name)
        for name in (
            "base_channels",
            "channel_mults",
            "num_res_blocks",
            "attn_resolutions",
            "num_groups",
            "dropout",
        )
        if getattr(args, name) is not None
    }
    model = unet_config(args.preset, **overrides)
    names = {f.name for f in fields(TrainConfig)} - {"model"}
    values = {k: getattr(args, k) for k in names if hasattr(args, k)}
    values = {k: v for k, v in values.items() if v is not None}
    return TrainConfig(model=model, **values)


class ProgressLine:
    """A progress line on stderr, redrawn at most twice a second; the
    trainer calls it as it would call ``tqdm`` (the library needs none)."""

    def __init__(self, *, total: int, initial: int, desc: str, unit: str):
        self.n, self.total, self.desc, self.unit = initial, total, desc, unit
        self.postfix, self.shown = "", 0.0

    def update(self, n: int = 1) -> None:
        self.n += n
        if time.monotonic() - self.shown >= 0.5 or self.n == self.total:
            self.shown = time.monotonic()
            sys.stderr.write(
                f"\r{self.desc}: {self.n}/{self.total} {self.unit}s"
                f"{self.postfix}"
            )
            sys.stderr.flush()

    def set_postfix(self, **values) -> None:
        self.postfix = "".join(f", {k} {v}" for k, v in values.items())

    def close(self) -> None:
        sys.stderr.write("\n")


def _print(record: dict, *, steps: int) -> None:
    print(
        f"step {record['step']}/{steps}: loss {record['loss']:.4f}, grad norm "
        f"{record['grad_norm']:.3f}, {record['images_per_s']:.0f} images/s",
        flush=True,
    )


def run(args) -> int:
    out = Path(args.out)
    checkpoint = out / CHECKPOINT
    if checkpoint.exists() and not args.resume:
        step = load_checkpoint(checkpoint)["step"]
        raise CheckpointError(
            f"{out} already holds a run (step {step}); pass --resume to "
            "continue it, or choose another --out"
        )
    if args.resume and not checkpoint.exists():
        raise CheckpointError(f"--resume: no checkpoint in {out}")
    if args.resume:
        saved = TrainConfig.from_dict(load_checkpoint(checkpoint)["config"])
        # Flags left at their defaults keep the saved run's values.
        changes = {
            k: v
            for k, v in vars(args).items()
            if k in RESUMABLE and v is not None and v != getattr(DEFAULTS, k)
        }
        config = replace(saved, **changes)
    else:
        config = config_from_args(args)
    with distributed_from_env() as device:
        if args.device:
            import torch

            device = torch.device(args.device)
        images = load_images(config.dataset, split="train")
        data = DeviceDataset.from_images(
            images, device, limit=config.data_limit
        )
        if args.no_progress:
            hooks = {"on_log": functools.partial(_print, steps=config.steps)}
        else:
            hooks = {"progress": ProgressLine}
        if args.resume:
            trainer = Trainer.resume(checkpoint, data, config=config, **hooks)
        else:
            trainer = Trainer(config, data, out_dir=out, **hooks)
        try:
            history = trainer.train()
        finally:
            if trainer.rank == 0:
                out.mkdir(parents=True, exist_ok=True)
                (out / "history.json").write_text(
                    json.dumps(trainer.history, indent=1)
                )
        if trainer.rank == 0 and history:
            last = history[-1]
            print(
                f"step {last['step']}: loss {last['loss']:.4f}, "
                f"{last['images_per_s']:.0f} images/s; checkpoint in "
                f"{checkpoint}"
            )
    return 0


def main(argv=None) -> int:
    args = parser().parse_args(argv)
    try:
        return run(args)
    except (
        CheckpointError,
        DataNotFoundError,
        TrainingDiverged,
        ValueError,
    ) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
