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

__all__ = ["Trainer", "TrainingDiverged"]


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite; the last good checkpoint is kept."""


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
    """

    def __init__(
        self,
        config: TrainConfig,
        data: DeviceDataset,
        *,
        out_dir: str | os.PathLike | None = None,
        progress: Callable[..., Any] | None = None,
        on_log: Callable[[dict], None] | None = None,
    ) -> None:
        self.config, self.data, self.device = config, data, data.device
        self.out_dir = None if out_dir is None else Path(out_dir)
        self.progress, self.on_log = progress, on_log
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

        Raises:
            TrainingDiverged: if the loss becomes NaN or infinite; the
                last checkpoint written before is left as it was.
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
            while self.step < target and time.monotonic() < deadline:
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
        every = cfg.checkpoint_every
        if not (every and self.step % every == 0):
            self.save(window)  # the end of the run or of its time budget
        return self.history

    def check_finite(self, loss: Tensor | float) -> float:
        """The loss as a number; TrainingDiverged if it is not finite."""
        loss = float(loss)  # a sync: only when logging or checkpointing
        if not math.isfinite(loss):
            where = ""
            if self.out_dir is not None:
                where = f"; the checkpoint in {self.out_dir} is from before"
            raise TrainingDiverged(
                f"the loss became {loss} by step {self.step}{where}. Lower "
                "the learning rate (--lr), keep gradient clipping on, or "
                "check the data for NaN values."
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

        With the window of steps not yet logged, its loss is checked first:
        a step whose loss was NaN never overwrites a good checkpoint.
        """
        if window is not None and window.steps:
            self.check_finite(window.loss / window.steps)
        if self.out_dir is None or self.rank != 0:
            return None
        return save_checkpoint(self.state(), self.out_dir / CHECKPOINT)

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
            hooks: ``progress`` and ``on_log``, as for the constructor.
        """
        state = load_checkpoint(path, map_location=data.device)
        if state.get("kind") == EXPORT:
            raise CheckpointError(
                f"{path} holds a model's EMA weights only (an export), so "
                "training cannot continue from it; resume from the run's "
                "checkpoint.pt"
            )
        saved = TrainConfig.from_dict(state["config"])
        if config is not None:
            saved = resumed_config(saved, config, path)
        out_dir = Path(path).parent if out_dir is None else out_dir
        trainer = cls(saved, data, out_dir=out_dir, **hooks)
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
    m, shape = config.model, tuple(data.x.shape[1:])
    want = (m.image_channels, m.image_size, m.image_size)
    if shape != want:
        raise ValueError(
            f"the data has images of shape {shape} but the network "
            f"expects {want}; pick a preset for this dataset"
        )
    if m.num_classes is not None and data.labels is None:
        raise ValueError("a class-conditional network needs labels")
    if config.cuda_graph and world > 1:
        raise ValueError(
            "cuda_graph trains on one GPU; drop --cuda-graph under torchrun"
        )
    if config.cuda_graph and data.device.type != "cuda":
        raise ValueError(
            f"cuda_graph needs the data on a CUDA GPU; it is on "
            f"{data.device}. Drop --cuda-graph (it only helps on a GPU)"
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
