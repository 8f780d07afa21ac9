"""One training run as data: :class:`TrainConfig`, defaults from the paper.

Every field has a comment; every deviation from Ho et al. (2020) §4 and
Appendix B is a named option. The command line (``python -m
ddpm_lib.train``) builds one of these and nothing else reads its flags.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

from ddpm_lib.diffusion.forward import as_prediction
from ddpm_lib.diffusion.schedules import (
    Schedule,
    cosine_schedule,
    linear_schedule,
    quadratic_schedule,
    sigmoid_schedule,
)
from ddpm_lib.networks.unet import PRESETS, UNetConfig

__all__ = ["RESUMABLE", "SCHEDULES", "TrainConfig", "make_schedule"]

SCHEDULES = {
    "linear": linear_schedule,
    "cosine": cosine_schedule,
    "quadratic": quadratic_schedule,
    "sigmoid": sigmoid_schedule,
}
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
        for name in ("warmup_steps", "checkpoint_every", "sample_every"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0")
        if self.data_limit is not None and self.data_limit < 1:
            raise ValueError(
                f"data_limit must be >= 1 (or None); got {self.data_limit}"
            )
        # `not x > 0` also refuses NaN, which every comparison fails.
        if not 0 < self.lr <= 1:  # Adam moves each weight by about lr
            raise ValueError(f"lr must lie in (0, 1]; got {self.lr}")
        if not (self.grad_clip > 0 and math.isfinite(self.grad_clip)):
            raise ValueError(
                f"grad_clip must be a finite number > 0; got {self.grad_clip}"
            )
        if not 0 <= self.ema_decay <= 1:
            raise ValueError(
                f"ema_decay must lie in [0, 1]; got {self.ema_decay}"
            )
        if not 0 <= self.label_dropout < 1:
            raise ValueError("label_dropout must lie in [0, 1)")
        if self.max_minutes is not None and not (
            self.max_minutes > 0 and math.isfinite(self.max_minutes)
        ):
            raise ValueError(
                f"max_minutes must be a finite number > 0 (or None); got "
                f"{self.max_minutes}"
            )
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
