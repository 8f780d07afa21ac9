"""The training loop: Algorithm 1 of Ho et al. (2020) at speed.

:class:`Trainer` sets a run up once — the network, Adam, the EMA, the
distributed wrapper, ``torch.compile`` and the step (eager or
graph-captured, :mod:`ddpm_lib.training.step`) — and then
:meth:`Trainer.train` is a loop that reads top to bottom: draw a batch,
step, log, checkpoint, sample. Every speed path is a switch in the
:class:`~ddpm_lib.training.config.TrainConfig` and computes the same thing
as the plain path. Losses are summed on the device and read only when
logged or checkpointed.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from dataclasses import fields, replace
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import Tensor

from ddpm_lib.io.checkpoint import (
    CHECKPOINT,
    EXPORT,
    CheckpointError,
    load_checkpoint,
    non_finite_message,
    non_finite_tensors,
    run_config,
    save_checkpoint,
)
from ddpm_lib.io.data import DeviceDataset
from ddpm_lib.io.images import save_png
from ddpm_lib.networks.unet import UNet
from ddpm_lib.pipeline import class_labels, generate
from ddpm_lib.training.config import RESUMABLE, TrainConfig, make_schedule
from ddpm_lib.training.distributed import rank_and_world
from ddpm_lib.training.ema import EMA
from ddpm_lib.training.step import build_step, draw_batch, optimizer_options

__all__ = ["Trainer", "TrainingDiverged", "check_config", "check_setup"]


class TrainingDiverged(RuntimeError):
    """The loss or the weights became NaN or infinite; the last checkpoint
    with finite weights is kept."""


class Trainer:
    """Trains a UNet with L_simple on a :class:`DeviceDataset`.

    Args:
        config: The run.
        data: Training images in [-1, 1] (with labels for a
            class-conditional network), already on the training device.
        out_dir: Where checkpoints and sample grids go (None: keep nothing
            on disk).
        progress: A tqdm-like factory for a progress bar, called as
            ``progress(total=, initial=, desc=, unit=)`` (e.g.
            ``tqdm.tqdm``); None for no bar.
        on_log: Called with each loss-history record (e.g. ``print``).
        should_stop: Asked before every step; True ends the run as its
            time budget does: with a checkpoint. The command line sets it
            on Ctrl-C and SIGTERM.
    """

    def __init__(
        self,
        config: TrainConfig,
        data: DeviceDataset,
        *,
        out_dir: str | os.PathLike | None = None,
        progress: Callable[..., Any] | None = None,
        on_log: Callable[[dict], None] | None = None,
        should_stop: Callable[[], bool] | None = None,
    ) -> None:
        self.config, self.data, self.device = config, data, data.device
        self.out_dir = None if out_dir is None else Path(out_dir)
        self.progress, self.on_log = progress, on_log
        self.should_stop = should_stop
        self.rank, self.world = rank_and_world()
        check_setup(config, data, self.world)
        self.sched = make_schedule(config).to(self.device)
        torch.manual_seed(config.seed)  # the initial weights
        self.model = UNet(config.model).to(self.device)
        if config.channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        self.ema = EMA(self.model, decay=config.ema_decay,
                       warmup=config.ema_warmup)  # fmt: skip
        self.optimizer = torch.optim.Adam(
            self.model.parameters(), lr=config.lr, **optimizer_options(config)
        )
        net = self.model
        if self.world > 1:
            net = torch.nn.parallel.DistributedDataParallel(net)
        if config.compile:
            net = torch.compile(net)
        self.step_fn = build_step(
            config, self.sched, model=self.model, net=net,
            optimizer=self.optimizer, ema=self.ema,
        )  # fmt: skip
        self.generator = torch.Generator(self.device).manual_seed(config.seed)
        self.step, self.history = 0, []
        self.saved_step: int | None = None  # of the last checkpoint written

    def lr_at(self, step: int) -> float:
        """Learning rate of a step: linear warm-up, then constant."""
        cfg = self.config
        if cfg.warmup_steps == 0:
            return cfg.lr
        return cfg.lr * min(1.0, (step + 1) / cfg.warmup_steps)

    def train_step(self) -> tuple[Tensor, Tensor]:
        """One optimizer step; returns (loss, grad norm) as device tensors."""
        batch = draw_batch(
            self.data, self.sched, self.config, self.step, self.generator,
            rank=self.rank, world=self.world,
        )  # fmt: skip
        loss, grad_norm = self.step_fn(batch, self.lr_at(self.step))
        self.step += 1
        return loss, grad_norm

    def train(self, steps: int | None = None) -> list[dict]:
        """Train up to ``steps`` in total (default: ``config.steps``).

        Returns the loss history: one record per ``log_every`` steps.

        Stops early, with a checkpoint, when ``max_minutes`` have passed
        or ``should_stop()`` says so.

        Raises:
            TrainingDiverged: if the loss or the weights become NaN or
                infinite; the last checkpoint written before is left as
                it was.
        """
        cfg = self.config
        target = cfg.steps if steps is None else steps
        bar = None
        if self.progress is not None and self.rank == 0:
            bar = self.progress(total=target, initial=self.step,
                                desc="training", unit="step")  # fmt: skip
        deadline = math.inf
        if cfg.max_minutes is not None:
            deadline = time.monotonic() + 60 * cfg.max_minutes
        window = Window(self.device)
        try:
            while self.step < target and not self.stopping(deadline):
                window.add(*self.train_step())
                if bar is not None:
                    bar.update(1)
                if self.step % cfg.log_every == 0 or self.step == target:
                    record = self.log(window)
                    if bar is not None:
                        bar.set_postfix(loss=f"{record['loss']:.4f}")
                if cfg.checkpoint_every and (
                    self.step % cfg.checkpoint_every == 0
                ):
                    self.save(window)
                if cfg.sample_every and self.step % cfg.sample_every == 0:
                    self.save_samples()
        finally:
            if bar is not None:
                bar.close()
        if window.steps:  # steps since the last reading (a time-budget stop)
            self.log(window)
        if self.saved_step != self.step:
            self.save(window)  # the end of the run, its budget, or a stop
        return self.history

    def stopping(self, deadline: float) -> bool:
        """Whether to stop before the next step: the time budget is spent
        or ``should_stop()`` asks. Processes under torchrun decide
        together, at logging steps (one collective), so all stop at one
        step; a lone process decides before every step."""
        wanted = time.monotonic() >= deadline or (
            self.should_stop is not None and bool(self.should_stop())
        )
        if self.world == 1:
            return wanted
        if self.step % self.config.log_every:
            return False
        flag = torch.tensor(float(wanted), device=self.device)
        dist.all_reduce(flag, op=dist.ReduceOp.MAX)
        return bool(flag.item())

    def _kept(self) -> str:
        """Which checkpoint a failed run leaves, for its error message."""
        if self.out_dir is None:
            return ""
        if self.saved_step is None:
            return f"; no checkpoint of this run was written to {self.out_dir}"
        return (
            f"; the checkpoint in {self.out_dir} (step {self.saved_step}) "
            "was kept"
        )

    def check_finite(self, loss: Tensor | float) -> float:
        """The loss as a number; TrainingDiverged if it is not finite."""
        loss = float(loss)  # a sync: only when logging or checkpointing
        if not math.isfinite(loss):
            raise TrainingDiverged(
                f"the loss became {loss} by step {self.step}{self._kept()}. "
                "Lower the learning rate (--lr), keep gradient clipping on, "
                "or check the data for NaN values."
            )
        return loss

    def log(self, window: Window) -> dict:
        """Append the mean loss of the steps since the last reading."""
        loss_sum = window.loss
        if self.world > 1:  # every process saw its share of the batch
            loss_sum = loss_sum.clone()
            dist.all_reduce(loss_sum)
            loss_sum /= self.world
        n, elapsed = window.steps, window.elapsed()
        record = {
            "step": self.step,
            "loss": self.check_finite(loss_sum / n),
            "grad_norm": (window.grad_norm / n).item(),
            "lr": self.lr_at(self.step - 1),
            "images_per_s": n * self.config.batch_size / max(elapsed, 1e-9),
        }
        self.history.append(record)
        window.reset()
        if self.on_log is not None and self.rank == 0:
            self.on_log(record)
        return record

    # -- outputs -----------------------------------------------------------

    def state(self) -> dict:
        """Everything needed to continue this run exactly."""
        rng = {"generator": self.generator.get_state()}
        rng["torch"] = torch.get_rng_state()
        if self.device.type == "cuda":
            rng["cuda"] = torch.cuda.get_rng_state(self.device)
        return {
            "config": self.config.to_dict(),
            "step": self.step,
            "model": self.model.state_dict(),
            "ema": self.ema.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "schedule_betas": self.sched.beta[1:].cpu().double(),
            "rng": rng,
            "history": self.history,
        }

    def save(self, window: Window | None = None) -> Path | None:
        """Write ``out_dir/checkpoint.pt`` (only the first process).

        The loss of the window of steps not yet logged, then every weight
        (network, EMA, optimizer state) is checked first: a checkpoint
        never holds a NaN or an infinity, so a diverged run never
        overwrites a good one.

        Raises:
            TrainingDiverged: if the loss or a weight is not finite.
        """
        if window is not None and window.steps:
            self.check_finite(window.loss / window.steps)
        state = self.state()
        bad = non_finite_tensors(
            {k: state[k] for k in ("model", "ema", "optimizer")}
        )
        if bad:
            raise TrainingDiverged(
                f"the weights became NaN or infinite by step {self.step} "
                f"({len(bad)} tensors, e.g. {bad[0]}){self._kept()}. Lower "
                "the learning rate (--lr) and keep gradient clipping on."
            )
        if self.out_dir is None or self.rank != 0:
            return None
        path = save_checkpoint(state, self.out_dir / CHECKPOINT)
        self.saved_step = self.step
        return path

    def save_samples(self, n: int = 64) -> Path | None:
        """A grid of EMA samples (DDIM-50) as ``samples_<step>.png``."""
        if self.out_dir is None or self.rank != 0:
            return None
        classes = self.config.model.num_classes
        g = torch.Generator(self.device).manual_seed(self.config.seed)
        images = generate(
            self.ema.module,
            self.sched,
            n,
            labels=class_labels(n, classes, device=self.device),
            prediction=self.config.prediction,
            generator=g,
        )
        path = self.out_dir / f"samples_{self.step:07d}.png"
        save_png(images, path, ncols=classes)
        return path

    @classmethod
    def resume(
        cls,
        path: str | os.PathLike,
        data: DeviceDataset,
        *,
        config: TrainConfig | None = None,
        out_dir: str | os.PathLike | None = None,
        **hooks,
    ) -> Trainer:
        """Continue the run saved at ``path`` (same batches, same noise).

        Args:
            path: A checkpoint written by :meth:`save`.
            data: The same training data.
            config: Optionally the run's config with changes; only
                ``steps``, the intervals and the speed switches may differ.
            out_dir: Where the run goes on (default: the checkpoint's
                folder).
            hooks: ``progress``, ``on_log`` and ``should_stop``, as for
                the constructor.

        Raises:
            CheckpointError: for a file that cannot be read, an export, a
                config that asks for an absurd network or differs from
                ``config`` where a run may not change, an incomplete
                state, or weights that are not finite.
        """
        state = load_checkpoint(path, map_location=data.device)
        if state.get("kind") == EXPORT:
            raise CheckpointError(
                f"{path} holds a model's EMA weights only (an export), so "
                "training cannot continue from it; resume from the run's "
                "checkpoint.pt"
            )
        saved = run_config(state, path)  # sizes checked before allocating
        if config is not None:
            saved = resumed_config(saved, config, path)
        weights = {k: state.get(k) for k in ("model", "ema", "optimizer")}
        bad = non_finite_tensors(weights)
        if bad:
            raise CheckpointError(non_finite_message(path, bad))
        out_dir = Path(path).parent if out_dir is None else out_dir
        trainer = cls(saved, data, out_dir=out_dir, **hooks)
        try:
            trainer.model.load_state_dict(state["model"])
            trainer.ema.load_state_dict(state["ema"])
            optimizer = state["optimizer"]
            for group in optimizer["param_groups"]:  # this run's switches
                group.update(optimizer_options(saved), lr=float(group["lr"]))
            trainer.optimizer.load_state_dict(optimizer)
            rng = state["rng"]
            trainer.generator.set_state(rng["generator"].cpu())
            torch.set_rng_state(rng["torch"].cpu())
            if "cuda" in rng and trainer.device.type == "cuda":
                torch.cuda.set_rng_state(rng["cuda"].cpu(), trainer.device)
            trainer.step = int(state["step"])
            trainer.history = list(state["history"])
        except Exception as error:  # any gap or mismatch, one error
            raise CheckpointError(
                f"{path} does not hold a complete ddpm_lib training state "
                f"({type(error).__name__}: {error})"
            ) from error
        if Path(out_dir) == Path(path).parent:  # the checkpoint it keeps
            trainer.saved_step = trainer.step
        return trainer


class Window:
    """Loss and gradient norm summed on the device since the last log."""

    def __init__(self, device: torch.device) -> None:
        self.loss = torch.zeros((), device=device)
        self.grad_norm = torch.zeros((), device=device)
        self.reset()

    def add(self, loss: Tensor, grad_norm: Tensor) -> None:
        self.loss += loss
        self.grad_norm += grad_norm
        self.steps += 1

    def elapsed(self) -> float:
        return time.perf_counter() - self.started

    def reset(self) -> None:
        self.loss.zero_()
        self.grad_norm.zero_()
        self.steps, self.started = 0, time.perf_counter()


def check_setup(config: TrainConfig, data: DeviceDataset, world: int):
    """Refuse, before any work, a run that cannot work on this data."""
    check_config(config, data.device, world)
    m, shape = config.model, tuple(data.x.shape[1:])
    want = (m.image_channels, m.image_size, m.image_size)
    if shape != want:
        raise ValueError(
            f"the data has images of shape {shape} but the network "
            f"expects {want}; pick a preset for this dataset"
        )
    if m.num_classes is not None and data.labels is None:
        raise ValueError("a class-conditional network needs labels")
    if config.batch_size > len(data):
        raise ValueError(
            f"batch_size {config.batch_size} is larger than the data "
            f"({len(data)} images); lower --batch-size or raise --data-limit"
        )


def check_config(config: TrainConfig, device: torch.device, world: int):
    """Refuse a run that cannot work on this device and process count
    (checked before the data is loaded)."""
    if config.cuda_graph and world > 1:
        raise ValueError(
            "cuda_graph trains on one GPU; drop --cuda-graph under torchrun"
        )
    if config.cuda_graph and torch.device(device).type != "cuda":
        raise ValueError(
            f"cuda_graph needs the data on a CUDA GPU; it is on "
            f"{device}. Drop --cuda-graph (it only helps on a GPU)"
        )
    if config.batch_size % world:
        raise ValueError(
            f"batch_size {config.batch_size} must divide evenly among "
            f"{world} processes"
        )


def resumed_config(
    saved: TrainConfig, config: TrainConfig, path: str | os.PathLike
) -> TrainConfig:
    """``saved`` with the fields a resume may change taken from ``config``.

    Raises:
        CheckpointError: if ``config`` changes a field that defines the run.
    """
    changed = [
        f.name
        for f in fields(TrainConfig)
        if f.name not in RESUMABLE
        and getattr(config, f.name) != getattr(saved, f.name)
    ]
    if changed:
        raise CheckpointError(
            f"{path} belongs to a run with a different {', '.join(changed)}"
            "; resume with the same settings or start a new run in another "
            "folder"
        )
    return replace(saved, **{k: getattr(config, k) for k in RESUMABLE})
