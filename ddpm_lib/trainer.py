"""The training engine: Algorithm 1 of Ho et al. (2020) at speed.

One :class:`TrainConfig` describes a run (its defaults are the paper's);
:class:`Trainer` runs it on the device the data lives on. Every speed
path is a switch in the config and computes the same thing as the plain
path: bf16 autocast, ``torch.compile``, channels_last, the fused Adam
kernel, the foreach EMA, a dataset resident on the device, and on a GPU
the whole step (forward, backward, clipping, Adam, EMA) captured once in a
CUDA graph and replayed, so small batches are not bound by kernel
launches. The step never waits for the device: losses are summed on the
device and read only when logged.

Multi-GPU (or multi-process CPU) training goes through
``torchrun --nproc_per_node=N -m ddpm_lib.train``: every process draws the
same global batch and trains on its slice under DistributedDataParallel,
so N processes follow the trajectory of one process with the same global
batch.
"""

from __future__ import annotations

import contextlib
import math
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path

import torch
import torch.distributed as dist
from torch import Tensor

from ddpm_lib.checkpoint import CheckpointError, load_checkpoint
from ddpm_lib.checkpoint import save_checkpoint as _write
from ddpm_lib.data import DeviceDataset, save_png
from ddpm_lib.ema import EMA
from ddpm_lib.forward import as_prediction
from ddpm_lib.generate import generate
from ddpm_lib.losses import loss_simple
from ddpm_lib.schedules import (
    Schedule,
    cosine_schedule,
    linear_schedule,
    quadratic_schedule,
    schedule_from_betas,
    sigmoid_schedule,
)
from ddpm_lib.unet import PRESETS, UNet, UNetConfig

__all__ = [
    "EXPORT",
    "TrainConfig",
    "Trainer",
    "TrainingDiverged",
    "load_model",
    "make_schedule",
]

SCHEDULES = {
    "linear": linear_schedule,
    "cosine": cosine_schedule,
    "quadratic": quadratic_schedule,
    "sigmoid": sigmoid_schedule,
}
CHECKPOINT = "checkpoint.pt"
EXPORT = "ema-weights"  # the "kind" of a file written by export_model

# Fields that may change when a run is resumed; the rest define the run.
RESUMABLE = {
    "steps",
    "max_minutes",
    "log_every",
    "checkpoint_every",
    "sample_every",
    "compile",
    "channels_last",
    "fused_optimizer",
    "cuda_graph",
}
# Eager steps (on a side stream) before a step is captured in a CUDA graph:
# they create the optimizer's state and warm up cuBLAS and autocast.
GRAPH_WARMUP_STEPS = 3


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite; the last good checkpoint is kept."""


@dataclass(frozen=True)
class TrainConfig:
    """One training run. Defaults follow Ho et al. (2020) §4 / Appendix B."""

    model: UNetConfig = field(default_factory=lambda: PRESETS["tiny"])
    dataset: str = "fashion_mnist"  # fashion_mnist | mnist | cifar10
    data_limit: int | None = None  # train on the first N images only
    T: int = 1000  # diffusion steps
    schedule: str = "linear"  # linear | cosine | quadratic | sigmoid
    prediction: str = "eps"  # what the network predicts: eps | x0 | v
    steps: int = 10_000  # optimizer steps in the whole run
    batch_size: int = 128  # global batch (all processes together)
    lr: float = 2e-4  # Adam learning rate
    warmup_steps: int = 5000  # linear learning-rate warm-up
    grad_clip: float = 1.0  # max global gradient norm
    ema_decay: float = 0.9999  # EMA of the weights used for sampling
    ema_warmup: bool = True  # decay min(ema_decay, (1 + n) / (10 + n))
    label_dropout: float = 0.1  # P(label → null) for guidance training
    seed: int = 0  # weights, batches, t and ε
    bf16: bool = False  # autocast the network to bfloat16
    compile: bool = False  # torch.compile the network
    channels_last: bool = False  # NHWC memory layout
    fused_optimizer: bool = False  # Adam's fused kernel
    cuda_graph: bool = False  # replay the whole step as one CUDA graph
    log_every: int = 100  # steps between loss readings
    checkpoint_every: int = 1000  # steps between checkpoints (0: end only)
    sample_every: int = 0  # steps between sample grids (0: never)
    max_minutes: float | None = None  # stop (and checkpoint) after this

    def __post_init__(self) -> None:
        if self.schedule not in SCHEDULES:
            raise ValueError(
                f"schedule must be one of {sorted(SCHEDULES)}; got "
                f"{self.schedule!r}"
            )
        as_prediction(self.prediction)
        for name in ("T", "steps", "batch_size", "log_every"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1")
        if self.lr <= 0 or self.grad_clip <= 0 or self.warmup_steps < 0:
            raise ValueError("lr and grad_clip must be > 0, warmup >= 0")
        if not 0 <= self.label_dropout < 1:
            raise ValueError("label_dropout must lie in [0, 1)")
        if self.cuda_graph and self.compile:
            raise ValueError(
                "choose one of compile and cuda_graph (--compile, "
                "--cuda-graph): the graph already removes the launch cost "
                "that compiling reduces"
            )

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> TrainConfig:
        d = dict(d)
        d["model"] = UNetConfig.from_dict(d["model"])
        return cls(**d)


def make_schedule(config: TrainConfig) -> Schedule:
    return SCHEDULES[config.schedule](config.T)


def _distributed() -> tuple[int, int]:
    """(rank, world size) of this process; (0, 1) without torchrun."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


class Trainer:
    """Trains a UNet with L_simple on a :class:`DeviceDataset`.

    Args:
        config: The run.
        data: Training images in [-1, 1] (with labels for a
            class-conditional network), already on the training device.
        out_dir: Where checkpoints, sample grids and the loss history go
            (None: keep nothing on disk).
        progress: Show a progress bar (tqdm; plain text in the book build).
        on_log: Called with each loss-history record (e.g. ``print``).
    """

    def __init__(
        self,
        config: TrainConfig,
        data: DeviceDataset,
        *,
        out_dir: str | os.PathLike | None = None,
        progress: bool = True,
        on_log: Callable[[dict], None] | None = None,
    ) -> None:
        self.config, self.data = config, data
        self.on_log = on_log
        self.device = data.device
        self.out_dir = Path(out_dir) if out_dir is not None else None
        self.progress = progress
        self.rank, self.world = _distributed()
        cfg, mcfg = config, config.model
        self._check_data()
        if cfg.cuda_graph and self.world > 1:
            raise ValueError(
                "cuda_graph trains on one GPU; drop --cuda-graph under "
                "torchrun"
            )
        if cfg.cuda_graph and self.device.type != "cuda":
            raise ValueError(
                f"cuda_graph needs the data on a CUDA GPU; it is on "
                f"{self.device}. Drop --cuda-graph (it only helps on a GPU)"
            )
        if cfg.batch_size % self.world:
            raise ValueError(
                f"batch_size {cfg.batch_size} must divide evenly among "
                f"{self.world} processes"
            )
        self.sched = make_schedule(cfg).to(self.device)
        torch.manual_seed(cfg.seed)  # the initial weights
        self.model = UNet(mcfg).to(self.device)
        if cfg.channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        self.ema = EMA(self.model, decay=cfg.ema_decay, warmup=cfg.ema_warmup)
        self.optimizer = torch.optim.Adam(
            self.model.parameters(), lr=cfg.lr, **self._optimizer_options()
        )
        self._set_lr(cfg.lr)
        self.net = self.model
        if self.world > 1:
            self.net = torch.nn.parallel.DistributedDataParallel(self.model)
        if cfg.compile:
            self.net = torch.compile(self.net)
        self.generator = torch.Generator(self.device).manual_seed(cfg.seed)
        self.step = 0
        self.history: list[dict] = []
        # The CUDA-graph step: its fixed input and output tensors, the
        # EMA weight the host refills, the eager steps so far, the graph.
        self._static: list | None = None
        self._static_out: tuple[Tensor, Tensor] | None = None
        self._ema_weight = torch.zeros((), device=self.device)
        self._graph_warmup = 0
        self._graph = None

    def _optimizer_options(self) -> dict:
        """Adam's switches for this run (reapplied after a resume)."""
        cfg = self.config
        return {
            "fused": True if cfg.fused_optimizer else None,
            # A graph replays Adam's step count and learning rate as
            # device tensors, never reading them on the host.
            "capturable": cfg.cuda_graph,
        }

    def _set_lr(self, lr: float) -> None:
        for group in self.optimizer.param_groups:
            if self.config.cuda_graph:
                if not isinstance(group["lr"], Tensor):
                    group["lr"] = torch.tensor(float(lr), device=self.device)
                group["lr"].fill_(lr)  # in place: the graph reads it
            else:
                group["lr"] = float(lr)

    # -- data and one step ------------------------------------------------

    def _check_data(self) -> None:
        m, shape = self.config.model, tuple(self.data.x.shape[1:])
        want = (m.image_channels, m.image_size, m.image_size)
        if shape != want:
            raise ValueError(
                f"the data has images of shape {shape} but the network "
                f"expects {want}; pick a preset for this dataset"
            )
        if m.num_classes is not None and self.data.labels is None:
            raise ValueError("a class-conditional network needs labels")

    def _batch(self) -> tuple[Tensor, Tensor, Tensor, Tensor | None]:
        """This process's slice of the global batch: x0, t, ε, labels."""
        cfg = self.config
        x0, labels = self.data.batch_at(
            self.step, cfg.batch_size, seed=cfg.seed
        )
        g, b = self.generator, cfg.batch_size
        # Algorithm 1, lines 3-4: t ~ Uniform{1..T}, ε ~ N(0, I).
        t = torch.randint(1, cfg.T + 1, (b,), generator=g, device=self.device)
        eps = torch.randn(x0.shape, generator=g, device=self.device)
        if cfg.model.num_classes is None:
            labels = None
        else:  # label dropout trains the unconditional (null) model too
            drop = torch.rand(b, generator=g, device=self.device)
            null = torch.full_like(labels, cfg.model.null_label)
            labels = torch.where(drop < cfg.label_dropout, null, labels)
        if cfg.channels_last:
            x0 = x0.contiguous(memory_format=torch.channels_last)
            eps = eps.contiguous(memory_format=torch.channels_last)
        # Under DDP each process takes its slice of the same global batch.
        share = slice(
            self.rank * b // self.world, (self.rank + 1) * b // self.world
        )
        labels = None if labels is None else labels[share]
        return x0[share], t[share], eps[share], labels

    def lr_at(self, step: int) -> float:
        """Learning rate of a step: linear warm-up, then constant."""
        cfg = self.config
        if cfg.warmup_steps == 0:
            return cfg.lr
        return cfg.lr * min(1.0, (step + 1) / cfg.warmup_steps)

    def train_step(self) -> tuple[Tensor, Tensor]:
        """One optimizer step; returns (loss, grad norm) as device tensors."""
        batch = self._batch()
        self._set_lr(self.lr_at(self.step))
        if self.config.cuda_graph:
            loss, grad_norm = self._graph_step(batch)
        else:
            loss, grad_norm = self._update(*batch)
            self.ema.update(self.model)
        self.step += 1
        return loss, grad_norm

    def _update(self, x0, t, eps, labels) -> tuple[Tensor, Tensor]:
        """Algorithm 1, lines 5-6: the loss, its gradient, Adam's step."""
        cfg = self.config
        autocast = torch.autocast(
            self.device.type,
            dtype=torch.bfloat16,
            enabled=cfg.bf16,
            # a graph must not keep autocast's cast weights between steps
            cache_enabled=not cfg.cuda_graph,
        )
        with autocast:
            loss = loss_simple(
                self.sched,
                lambda x, s: self.net(x, s, labels),
                x0,
                t=t,
                eps=eps,
                prediction=cfg.prediction,
            )
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        grad_norm = torch.nn.utils.clip_grad_norm_(
            self.model.parameters(), cfg.grad_clip, foreach=True
        )
        self.optimizer.step()
        return loss.detach(), grad_norm.detach()

    def _graph_step(self, batch) -> tuple[Tensor, Tensor]:
        """The step as a CUDA graph: same inputs, same arithmetic.

        The batch, the learning rate and the EMA weight are computed on the
        host as in eager mode and copied into the graph's fixed tensors;
        the first steps run eagerly on a side stream, then one step is
        captured and every later step replays it.
        """
        if self._static is None:
            self._static = [None if b is None else b.clone() for b in batch]
        for fixed, value in zip(self._static, batch, strict=True):
            if fixed is not None:
                fixed.copy_(value)
        self._ema_weight.fill_(self.ema.next_weight())

        def body() -> tuple[Tensor, Tensor]:
            out = self._update(*self._static)
            self.ema.average(self.model, self._ema_weight)
            return out

        if self._graph_warmup < GRAPH_WARMUP_STEPS:
            self._graph_warmup += 1
            return self._on_side_stream(body)
        if self._graph is None:
            self.optimizer.zero_grad(set_to_none=True)
            self._graph, self._static_out = self._capture(body)
        self._graph.replay()
        # copies: the graph overwrites its outputs at the next replay
        return self._static_out[0].clone(), self._static_out[1].clone()

    def _on_side_stream(self, body: Callable[[], tuple]) -> tuple:
        """Run ``body`` eagerly on a side stream (warm-up before capture)."""
        side = torch.cuda.Stream(self.device)
        side.wait_stream(torch.cuda.current_stream(self.device))
        with torch.cuda.stream(side):
            out = body()
        torch.cuda.current_stream(self.device).wait_stream(side)
        return out

    def _capture(self, body: Callable[[], tuple]) -> tuple:
        """Record ``body`` as a CUDA graph (nothing runs); (graph, outputs)."""
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            out = body()
        return graph, out

    # -- the loop ------------------------------------------------------------

    def train(self, steps: int | None = None) -> list[dict]:
        """Train up to ``steps`` in total (default: ``config.steps``).

        Returns the loss history: one record per ``log_every`` steps.

        Raises:
            TrainingDiverged: if the loss becomes NaN or infinite; the
                last checkpoint written before is left as it was.
        """
        cfg = self.config
        target = cfg.steps if steps is None else steps
        bar = self._progress_bar(target)
        window_loss = torch.zeros((), device=self.device)
        window_norm = torch.zeros((), device=self.device)
        window, started = 0, time.perf_counter()
        deadline = (
            None
            if cfg.max_minutes is None
            else time.monotonic() + 60 * cfg.max_minutes
        )
        try:
            while self.step < target:
                if deadline is not None and time.monotonic() > deadline:
                    target = self.step  # out of time: stop here, cleanly
                    break
                loss, norm = self.train_step()
                window_loss += loss
                window_norm += norm
                window += 1
                if bar is not None:
                    bar.update(1)
                if self.step % cfg.log_every == 0 or self.step == target:
                    record = self._log(
                        window_loss, window_norm, window, started
                    )
                    if bar is not None:
                        bar.set_postfix(loss=f"{record['loss']:.4f}")
                    window_loss.zero_()
                    window_norm.zero_()
                    window, started = 0, time.perf_counter()
                if cfg.checkpoint_every and (
                    self.step % cfg.checkpoint_every == 0
                ):
                    if window:  # never checkpoint weights from a NaN step
                        self._check_finite(window_loss / window)
                    self.save()
                if cfg.sample_every and self.step % cfg.sample_every == 0:
                    self.save_samples()
        finally:
            if bar is not None:
                bar.close()
        every = cfg.checkpoint_every
        if window:  # steps since the last reading (a time-budget stop)
            self._log(window_loss, window_norm, window, started)
        if self.step == target and not (every and target % every == 0):
            self.save()
        return self.history

    def _check_finite(self, loss: Tensor | float) -> float:
        loss = float(loss)  # a sync: only when logging or checkpointing
        if not math.isfinite(loss):
            where = (
                f"; the checkpoint in {self.out_dir} is from before"
                if self.out_dir is not None
                else ""
            )
            raise TrainingDiverged(
                f"the loss became {loss} by step {self.step}{where}. Lower "
                "the learning rate (--lr), keep gradient clipping on, or "
                "check the data for NaN values."
            )
        return loss

    def _log(self, loss_sum, norm_sum, n, started) -> dict:
        if self.world > 1:  # every process saw its share of the batch
            loss_sum = loss_sum.clone()
            dist.all_reduce(loss_sum)
            loss_sum /= self.world
        loss = self._check_finite(loss_sum / n)
        elapsed = time.perf_counter() - started
        record = {
            "step": self.step,
            "loss": loss,
            "grad_norm": (norm_sum / n).item(),
            "lr": self.lr_at(self.step - 1),
            "images_per_s": n * self.config.batch_size / max(elapsed, 1e-9),
        }
        self.history.append(record)
        if self.on_log is not None and self.rank == 0:
            self.on_log(record)
        return record

    def _progress_bar(self, target: int):
        if not self.progress or self.rank != 0 or self.step >= target:
            return None
        from ddpm_lib.explore import progress

        return progress(
            total=target, initial=self.step, desc="training", unit="step"
        )

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

    def save(self) -> Path | None:
        """Write ``out_dir/checkpoint.pt`` (only the first process)."""
        if self.out_dir is None or self.rank != 0:
            return None
        return _write(self.state(), self.out_dir / CHECKPOINT)

    def save_samples(self, n: int = 64) -> Path | None:
        """A grid of EMA samples (DDIM-50) as ``samples_<step>.png``."""
        if self.out_dir is None or self.rank != 0:
            return None
        m = self.config.model
        labels = None
        if m.num_classes is not None:
            labels = torch.arange(n, device=self.device) % m.num_classes
        g = torch.Generator(self.device).manual_seed(self.config.seed)
        images = generate(
            self.ema.module,
            self.sched,
            n,
            labels=labels,
            prediction=self.config.prediction,
            generator=g,
        )
        path = self.out_dir / f"samples_{self.step:07d}.png"
        ncols = m.num_classes or None
        save_png(images, path, ncols=ncols)
        return path

    @classmethod
    def resume(
        cls,
        path: str | os.PathLike,
        data: DeviceDataset,
        *,
        config: TrainConfig | None = None,
        out_dir: str | os.PathLike | None = None,
        progress: bool = True,
        on_log: Callable[[dict], None] | None = None,
    ) -> Trainer:
        """Continue the run saved at ``path`` (same batches, same noise).

        Args:
            path: A checkpoint written by :meth:`save`.
            data: The same training data.
            config: Optionally the run's config with changes; only
                ``steps``, the intervals and the speed switches may differ.
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
            changed = [
                f.name
                for f in fields(TrainConfig)
                if getattr(config, f.name) != getattr(saved, f.name)
                and f.name not in RESUMABLE
            ]
            if changed:
                raise CheckpointError(
                    f"{path} belongs to a run with a different "
                    f"{', '.join(changed)}; resume with the same settings "
                    "or start a new run in another folder"
                )
            saved = replace(
                saved, **{k: getattr(config, k) for k in RESUMABLE}
            )
        out_dir = Path(path).parent if out_dir is None else out_dir
        trainer = cls(
            saved, data, out_dir=out_dir, progress=progress, on_log=on_log
        )
        trainer.model.load_state_dict(state["model"])
        trainer.ema.load_state_dict(state["ema"])
        optimizer = state["optimizer"]
        for group in optimizer["param_groups"]:  # this run's switches
            group.update(trainer._optimizer_options(), lr=float(group["lr"]))
        trainer.optimizer.load_state_dict(optimizer)
        trainer.generator.set_state(state["rng"]["generator"].cpu())
        torch.set_rng_state(state["rng"]["torch"].cpu())
        if "cuda" in state["rng"] and trainer.device.type == "cuda":
            torch.cuda.set_rng_state(
                state["rng"]["cuda"].cpu(), trainer.device
            )
        trainer.step = int(state["step"])
        trainer.history = list(state["history"])
        return trainer


def load_model(
    path: str | os.PathLike,
    *,
    ema: bool = True,
    device: str | torch.device = "cpu",
) -> tuple[UNet, Schedule, TrainConfig]:
    """The trained network (EMA weights by default), its schedule and run.

    Raises:
        CheckpointError: for a missing, damaged or foreign file, or one
            whose weights do not fit its own config.
    """
    state = load_checkpoint(path, map_location=device)
    if not ema and state.get("kind") == EXPORT:
        raise CheckpointError(
            f"{path} holds the EMA weights only (an export); load it with "
            "ema=True (drop --no-ema)"
        )
    try:
        config = TrainConfig.from_dict(state["config"])
        model = UNet(config.model).to(device)
        weights = state["ema"]["module"] if ema else state["model"]
        model.load_state_dict(weights)
        sched = schedule_from_betas(state["schedule_betas"])
    except (KeyError, TypeError, RuntimeError, ValueError) as error:
        raise CheckpointError(
            f"{path} does not hold a complete ddpm_lib training state "
            f"({type(error).__name__}: {error})"
        ) from error
    return model.eval(), sched, config


def export_model(
    checkpoint: str | os.PathLike, out: str | os.PathLike
) -> Path:
    """Write the EMA weights of a training checkpoint, and nothing else.

    The file keeps what sampling and evaluation need (the run's config,
    its schedule, the step, the loss history) and drops the raw weights,
    the optimizer state and the random states: about a third of the size.
    :func:`load_model` reads it like a checkpoint.
    """
    state = load_checkpoint(checkpoint)
    if state.get("kind") == EXPORT:
        raise CheckpointError(f"{checkpoint} is already an export")
    model = state["ema"]["module"]
    return _write(
        {
            "kind": EXPORT,
            "config": state["config"],
            "step": state["step"],
            "ema": {"module": {k: v.float() for k, v in model.items()}},
            "schedule_betas": state["schedule_betas"],
            "history": state["history"],
        },
        out,
    )


@contextlib.contextmanager
def distributed_from_env():
    """Join the process group torchrun describes; leave it afterwards."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        yield torch.device("cuda" if torch.cuda.is_available() else "cpu")
        return
    local = int(os.environ.get("LOCAL_RANK", "0"))
    if torch.cuda.is_available():
        torch.cuda.set_device(local)
        device, backend = torch.device("cuda", local), "nccl"
    else:
        device, backend = torch.device("cpu"), "gloo"
    dist.init_process_group(backend)
    try:
        yield device
    finally:
        dist.destroy_process_group()
