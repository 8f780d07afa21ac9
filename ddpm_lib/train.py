"""Train a DDPM from the command line.

Examples:
    python -m ddpm_lib.train --preset tiny --steps 2000 --out runs/tiny
    python -m ddpm_lib.train --out runs/tiny --resume --steps 4000
    torchrun --nproc_per_node=2 -m ddpm_lib.train --preset fashion \\
        --out runs/fashion --bf16 --compile

The run folder receives checkpoint.pt (model, EMA, optimizer, step,
config, schedule and random state; rewritten atomically, never with a
NaN or an infinity), history.json (the loss every --log-every steps)
and, with --sample-every, samples_<step>.png grids drawn from the EMA
weights. One run writes a folder at a time (it is locked). Ctrl-C or
SIGTERM stops after the current step with a checkpoint (exit status 130
or 143); --resume continues from there. --resume keeps the run's
settings: only --steps, --max-minutes, the intervals and the speed
switches may change.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import signal
import sys
import threading
import time
from dataclasses import fields, replace
from pathlib import Path

from ddpm_lib import arguments as types
from ddpm_lib.arguments import Parser, UsageError, report
from ddpm_lib.io.checkpoint import (
    CHECKPOINT,
    LIMITS,
    check_network_size,
    load_checkpoint,
    run_config,
)
from ddpm_lib.io.data import (
    DataNotFoundError,
    DeviceDataset,
    image_shape,
    load_images,
)
from ddpm_lib.io.files import OutputError, atomic_write
from ddpm_lib.io.run_folder import check_run_folder, locked_run_folder
from ddpm_lib.networks.unet import PRESETS, UNetConfig, unet_config
from ddpm_lib.training.config import RESUMABLE, SCHEDULES, TrainConfig
from ddpm_lib.training.distributed import (
    distributed_from_env,
    rank_and_world,
)
from ddpm_lib.training.trainer import (
    Trainer,
    TrainingDiverged,
    check_config,
)

DEFAULTS = TrainConfig()
# Flags that override the preset's network.
NETWORK = (
    "base_channels",
    "channel_mults",
    "num_res_blocks",
    "attn_resolutions",
    "num_groups",
    "dropout",
)


def parser() -> argparse.ArgumentParser:
    p = Parser(
        prog="python -m ddpm_lib.train",
        description=__doc__.split("\n\n")[0],
        epilog=__doc__.split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    run = p.add_argument_group("the run")
    run.add_argument(
        "--out", required=True, type=types.run_folder, help="run folder"
    )
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
        "--data-limit",
        type=types.positive_int,
        help="train on the first N images only",
    )
    run.add_argument(
        "--steps", type=types.positive_int, help="total optimizer steps"
    )
    run.add_argument(
        "--max-minutes",
        type=types.positive_float,
        help="stop cleanly (with a checkpoint) after this many minutes",
    )
    run.add_argument(
        "--batch-size", type=types.positive_int, default=DEFAULTS.batch_size
    )
    run.add_argument("--seed", type=types.seed, default=DEFAULTS.seed)
    run.add_argument(
        "--device",
        type=types.device,
        help="cpu, cuda, cuda:1, mps (default: the best one)",
    )
    math = p.add_argument_group("diffusion and optimisation")
    math.add_argument(
        "--T", type=types.int_in(1, LIMITS["T"]), default=DEFAULTS.T
    )
    math.add_argument(
        "--schedule", default=DEFAULTS.schedule, choices=sorted(SCHEDULES)
    )
    math.add_argument(
        "--prediction", default=DEFAULTS.prediction, choices=["eps", "x0", "v"]
    )
    math.add_argument(
        "--lr",
        type=types.float_in(0, 1, low_open=True),
        default=DEFAULTS.lr,
        help="Adam's learning rate, in (0, 1]",
    )
    math.add_argument(
        "--warmup-steps",
        type=types.non_negative_int,
        default=DEFAULTS.warmup_steps,
    )
    math.add_argument(
        "--grad-clip", type=types.positive_float, default=DEFAULTS.grad_clip
    )
    math.add_argument(
        "--ema-decay", type=types.float_in(0, 1), default=DEFAULTS.ema_decay
    )
    math.add_argument(
        "--label-dropout",
        type=types.float_in(0, 1, high_open=True),
        default=DEFAULTS.label_dropout,
    )
    net = p.add_argument_group("network overrides (on top of --preset)")
    net.add_argument("--base-channels", type=types.positive_int)
    net.add_argument("--channel-mults", type=types.int_list, help="e.g. 1,2,2")
    net.add_argument(
        "--num-res-blocks", type=types.int_in(0, LIMITS["num_res_blocks"])
    )
    net.add_argument(
        "--attn-resolutions", type=types.int_list, help="e.g. 16 or 7"
    )
    net.add_argument("--num-groups", type=types.positive_int)
    net.add_argument("--dropout", type=types.float_in(0, 1, high_open=True))
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
    out.add_argument(
        "--log-every", type=types.positive_int, default=DEFAULTS.log_every
    )
    out.add_argument(
        "--checkpoint-every",
        type=types.non_negative_int,
        default=DEFAULTS.checkpoint_every,
        help="steps between checkpoints (0: at the end only)",
    )
    out.add_argument(
        "--sample-every",
        type=types.non_negative_int,
        default=DEFAULTS.sample_every,
        help="steps between sample grids (0: never)",
    )
    out.add_argument(
        "--no-progress",
        action="store_true",
        help="print a line per --log-every steps instead of a progress line",
    )
    return p


def parse(argv=None) -> tuple[argparse.Namespace, set[str]]:
    """The arguments, and the names of those given on the command line
    (a flag given with its default value counts as given)."""
    p = parser()
    unset = object()
    dests = {a.dest for a in p._actions if a.dest != argparse.SUPPRESS}
    args = p.parse_args(
        argv, namespace=argparse.Namespace(**dict.fromkeys(dests, unset))
    )
    given = {k for k, v in vars(args).items() if v is not unset}
    for name in dests - given:
        setattr(args, name, p.get_default(name))
    return args, given


def config_from_args(args) -> TrainConfig:
    overrides = {
        name: getattr(args, name)
        for name in NETWORK
        if getattr(args, name) is not None
    }
    model = unet_config(args.preset, **overrides)
    names = {f.name for f in fields(TrainConfig)} - {"model"}
    values = {k: getattr(args, k) for k in names if hasattr(args, k)}
    values = {k: v for k, v in values.items() if v is not None}
    return TrainConfig(model=model, **values)


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def resumed_from_args(
    saved: TrainConfig, args, given: set[str]
) -> tuple[TrainConfig, list[str]]:
    """The saved run with the flags a resume may change applied.

    Returns:
        The config, and the applied changes in words.

    Raises:
        UsageError: naming every given flag that would change the run.
    """
    changes, applied, refused = {}, [], []
    names = {f.name for f in fields(TrainConfig)} - {"model"}
    for name in sorted(given & names):
        value, was = getattr(args, name), getattr(saved, name)
        if name in RESUMABLE:
            changes[name] = value
            if value != was:
                applied.append(f"{_flag(name)} {value} (was {was})")
        elif value != was:
            refused.append(f"{_flag(name)} {value} (the run's: {was})")
    overrides = {n: getattr(args, n) for n in NETWORK if n in given}
    if "preset" in given or overrides:
        wanted = (
            unet_config(args.preset, **overrides)
            if "preset" in given
            else replace(saved.model, **overrides)
        )
        for f in fields(UNetConfig):
            value, was = getattr(wanted, f.name), getattr(saved.model, f.name)
            if value != was:
                source = (
                    _flag(f.name)
                    if f.name in overrides
                    else (f"--preset {args.preset}: {f.name}")
                )
                refused.append(f"{source} {value} (the run's: {was})")
    if refused:
        raise UsageError(
            f"--resume continues the run in {args.out} with its own "
            f"settings, and these flags would change them: "
            f"{', '.join(refused)}. Drop them to continue the run, or start "
            "a new run with another --out (a resumed run may change only "
            f"{', '.join(_flag(n) for n in sorted(RESUMABLE))})"
        )
    return replace(saved, **changes), applied


class StopSignals:
    """Ctrl-C (SIGINT) and SIGTERM (a scheduler's pre-emption) ask the run
    to stop after its current step, with a checkpoint. A second Ctrl-C
    stops at once; the last checkpoint stays (saves are atomic). Other
    repeats are the same request (torchrun follows a Ctrl-C with SIGTERM
    to every process)."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self) -> None:
        self.signum: int | None = None
        self.previous: dict = {}

    def __enter__(self) -> StopSignals:
        if threading.current_thread() is threading.main_thread():
            for s in self.SIGNALS:
                self.previous[s] = signal.signal(s, self.handle)
        return self

    def __exit__(self, *exc) -> None:
        for s, handler in self.previous.items():
            signal.signal(s, handler)

    def handle(self, signum, frame) -> None:
        if self.signum == signum == signal.SIGINT:
            raise KeyboardInterrupt
        if self.signum is None:
            self.signum = signum

    def __call__(self) -> bool:
        return self.signum is not None


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


def check_before_data(config: TrainConfig) -> None:
    """What can be refused before the data is loaded or a network built."""
    check_network_size(config.model)
    m = config.model
    want = image_shape(config.dataset)
    if want != (m.image_channels, m.image_size, m.image_size):
        raise ValueError(
            f"{config.dataset} has images of shape {want} but the network "
            f"expects {(m.image_channels, m.image_size, m.image_size)}; "
            "pick a preset for this dataset"
        )
    if config.data_limit is not None and config.batch_size > config.data_limit:
        raise ValueError(
            f"--batch-size {config.batch_size} is larger than --data-limit "
            f"{config.data_limit}; lower one or raise the other"
        )


def plan(args, given: set[str]) -> tuple[TrainConfig, int, list[str]]:
    """The run's config, its starting step and, on --resume, the flags
    applied; refuses whatever cannot work, before any work."""
    out = args.out
    check_run_folder(out, resume=args.resume)
    if not args.resume:
        config = config_from_args(args)
        check_before_data(config)
        return config, 0, []
    state = load_checkpoint(out / CHECKPOINT)
    config, applied = resumed_from_args(
        run_config(state, out / CHECKPOINT), args, given
    )
    step = int(state["step"])
    if "steps" in given and config.steps <= step:
        raise UsageError(
            f"the run in {out} is at step {step}: --steps {config.steps} "
            "is not beyond it. Pass a larger --steps to train further"
        )
    check_before_data(config)
    return config, step, applied


def run(args, given: set[str] = frozenset()) -> int:
    out = args.out = Path(args.out)
    checkpoint = out / CHECKPOINT
    config, step, applied = plan(args, given)
    if step >= config.steps:
        print(
            f"the run in {out} already reached step {step} of "
            f"{config.steps}; nothing to do (pass a larger --steps to train "
            "further)"
        )
        return 0
    with contextlib.ExitStack() as stack:
        device = stack.enter_context(distributed_from_env())
        device = args.device or device
        rank, world = rank_and_world()
        check_config(config, device, world)
        if rank == 0:  # the one process that writes
            stack.enter_context(locked_run_folder(out))
            check_run_folder(out, resume=args.resume)  # now no one else can
            if args.resume:
                changed = f"; changed: {', '.join(applied)}" if applied else ""
                print(f"resuming {out} at step {step} of {config.steps}"
                      f"{changed}", flush=True)  # fmt: skip
        stop = stack.enter_context(StopSignals())
        images = load_images(config.dataset, split="train")
        data = DeviceDataset.from_images(
            images, device, limit=config.data_limit
        )
        hooks = {"should_stop": stop}
        if args.no_progress:
            hooks["on_log"] = functools.partial(_print, steps=config.steps)
        else:
            hooks["progress"] = ProgressLine
        if args.resume:
            trainer = Trainer.resume(checkpoint, data, config=config, **hooks)
        else:
            trainer = Trainer(config, data, out_dir=out, **hooks)
        try:
            history = trainer.train()
        finally:
            if trainer.rank == 0:
                text = json.dumps(trainer.history, indent=1).encode()
                atomic_write(out / "history.json", lambda f: f.write(text))
        stopped = 128 + stop.signum if stop.signum else 0
        if trainer.rank != 0:
            return stopped
        if history:
            last = history[-1]
            print(
                f"step {last['step']}: loss {last['loss']:.4f}, "
                f"{last['images_per_s']:.0f} images/s; checkpoint in "
                f"{checkpoint}"
            )
        if stop.signum:
            print(
                f"stopped by {signal.Signals(stop.signum).name} at step "
                f"{trainer.step}; the checkpoint in {checkpoint} is from step "
                f"{trainer.saved_step}; continue with: python -m "
                f"ddpm_lib.train --out {out} --resume",
                file=sys.stderr,
            )
    return stopped


def main(argv=None) -> int:
    try:
        args, given = parse(argv)
        return run(args, given)
    except (
        UsageError,
        ValueError,  # CheckpointError, RunFolderError, DataFileError too
        DataNotFoundError,
        OutputError,
        TrainingDiverged,
    ) as error:
        return report(error)
    except KeyboardInterrupt:
        report("interrupted; the last checkpoint written is kept")
        return 130


if __name__ == "__main__":
    sys.exit(main())
