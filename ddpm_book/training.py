"""Helpers of the chapter "Training": a run on a CPU and what it learned.

The run itself is ddpm_lib's :class:`~ddpm_lib.training.trainer.Trainer`;
this module only sets it up for the book (:func:`book_config`,
:func:`fashion_data`), measures the trained network one step t at a time
(:func:`loss_by_t`), samples the raw and the averaged weights from the
same noise (:func:`raw_and_ema`) and reads the frames of the longer run
that :mod:`ddpm_book.training_frames` ships (:func:`load_frames`).
"""

from __future__ import annotations

import io

import numpy as np
import torch
from torch import Tensor, nn

import ddpm_lib as dl
from ddpm_lib.io.data import DeviceDataset, load_images
from ddpm_lib.networks.unet import PRESETS
from ddpm_lib.training.config import TrainConfig

__all__ = [
    "book_config",
    "fashion_data",
    "load_frames",
    "loss_by_t",
    "raw_and_ema",
]


def book_config(steps: int, batch_size: int, **changes) -> TrainConfig:
    """The ``tiny`` preset for a short CPU run: the paper's defaults except
    a learning rate of 1e-3 with a short warm-up (a few hundred steps
    cannot wait for 5000 warm-up steps at 2e-4)."""
    options = {
        "model": PRESETS["tiny"],
        "steps": steps,
        "batch_size": batch_size,
        "lr": 1e-3,
        "warmup_steps": max(1, steps // 10),
        "log_every": max(1, steps // 50),
        "checkpoint_every": 0,
    }
    return TrainConfig(**(options | changes))


def fashion_data(
    split: str = "train", *, limit: int | None = None, device="cpu"
) -> DeviceDataset:
    """Fashion-MNIST in [-1, 1] on ``device`` (the first ``limit``)."""
    return DeviceDataset.from_images(
        load_images("fashion_mnist", split=split), device, limit=limit
    )


@torch.no_grad()
def loss_by_t(
    model: nn.Module,
    sched: dl.Schedule,
    x0: Tensor,
    ts,
    *,
    generator: torch.Generator,
    batch_size: int = 256,
) -> Tensor:
    """L_simple at each fixed step t, averaged over the images ``x0``.

    Args:
        model: A network ``model(x_t, t)`` predicting ε.
        sched: Its schedule.
        x0: Held-out images (N, C, H, W) in [-1, 1].
        ts: The steps t (1-based) to measure at.
        generator: Source of the noise ε (one draw per image and t).
        batch_size: Images per network call.

    Returns:
        float64 tensor (len(ts),): the mean of ‖ε − ε_θ(x_t, t)‖² per
        element at each t, Ho et al. Eq. 14 without the average over t.
    """
    out = []
    for t in ts:
        total = 0.0
        for part in x0.split(batch_size):
            eps = torch.randn(part.shape, generator=generator)
            loss = dl.loss_simple(sched, model, part, t=int(t), eps=eps)
            total += loss.item() * len(part)
        out.append(total / len(x0))
    return torch.tensor(out, dtype=torch.float64)


def raw_and_ema(
    model: nn.Module,
    ema_model: nn.Module,
    sched: dl.Schedule,
    n: int,
    *,
    seed: int = 0,
    steps: int = 50,
) -> tuple[Tensor, Tensor]:
    """DDIM samples (n, C, H, W) of the raw and of the EMA weights, both
    from the same x_T (a generator seeded with ``seed`` for each)."""
    samples = []
    for net in (model, ema_model):
        g = torch.Generator().manual_seed(seed)
        samples.append(dl.generate(net, sched, n, steps=steps, generator=g))
    return samples[0], samples[1]


def load_frames(result: dict) -> np.ndarray:
    """The uint8 frames (K, N, H, W) that a training-frames result names.

    Found in ``results/`` or downloaded, as
    :func:`~ddpm_book.notebook.result_bytes` finds a result file.
    """
    from ddpm_book.notebook import result_bytes  # IPython: notebooks only

    name = result["frames_file"]
    data = result_bytes(name)
    with np.load(io.BytesIO(data)) as npz:
        frames, steps = npz["frames"], npz["steps"]
    if list(frames.shape) != result["frames_shape"] or (
        steps.tolist() != result["steps"]
    ):
        raise ValueError(f"{name} does not match the result that names it")
    return frames
