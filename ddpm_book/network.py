"""Looking inside the UNet ε_θ(x_t, t) of ``ddpm_lib.networks``.

The chapter on the network traces a batch through a UNet with forward
hooks (:func:`shape_trace`), counts the parameters of its parts
(:func:`parameter_counts`), compares time embeddings of different steps
(:func:`embedding_similarity`) and isolates the one line of a residual
block where the step t enters (:func:`time_added`), which the exercise
on adding the time embedding grades against.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F  # noqa: N812
from torch import Tensor, nn

from ddpm_lib.networks.embedding import timestep_embedding
from ddpm_lib.networks.unet import ResBlock, UNet

__all__ = [
    "PARTS",
    "embedding_similarity",
    "parameter_counts",
    "shape_trace",
    "time_added",
    "time_added_as",
]


def shape_trace(
    model: nn.Module, x: Tensor, t: Tensor, **kwargs
) -> list[tuple[str, tuple[int, ...]]]:
    """The output shape of every module that runs in ``model(x, t)``.

    Forward hooks record each module's output in the order the modules
    finish, so a block's parts come before the block itself and the
    network (named ``""``) comes last.

    Args:
        model: A network, e.g. ``ddpm_lib.UNet(ddpm_lib.unet_config(
            "seed"))``.
        x: Input batch, shape (B, C, H, W).
        t: Steps, shape (B,).
        **kwargs: Passed on to ``model``, e.g. ``labels``.

    Returns:
        (module name, output shape) pairs, names as in
        ``model.named_modules()``.
    """
    trace: list[tuple[str, tuple[int, ...]]] = []

    def record(name: str) -> Callable:
        def hook(module, inputs, output) -> None:
            if isinstance(output, Tensor):
                trace.append((name, tuple(output.shape)))

        return hook

    handles = [
        module.register_forward_hook(record(name))
        for name, module in model.named_modules()
    ]
    try:
        with torch.no_grad():
            model(x, t, **kwargs)
    finally:
        for handle in handles:
            handle.remove()
    return trace


# The parts of a UNet in the order the data meets them: (label, the
# attributes of ``UNet`` that make it up).
PARTS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("time embedding MLP", ("time_mlp",)),
    ("label embedding", ("label_emb",)),
    ("input conv", ("conv_in",)),
    ("down path", ("down",)),
    ("middle", ("mid",)),
    ("up path", ("up",)),
    ("output (norm + conv)", ("norm_out", "conv_out")),
)


def parameter_counts(model: UNet) -> dict[str, int]:
    """Number of parameters of each part of a UNet (see :data:`PARTS`).

    Parts the network does not have (the label embedding of an
    unconditional net) are left out; the counts add up to
    ``model.num_parameters()``. Works on the meta device.
    """
    counts = {}
    for label, names in PARTS:
        modules = [getattr(model, name) for name in names]
        if all(module is None for module in modules):
            continue
        counts[label] = sum(
            p.numel() for m in modules if m is not None for p in m.parameters()
        )
    return counts


def embedding_similarity(t: Tensor, t_other: Tensor, dim: int) -> Tensor:
    """Cosine similarity of the sinusoidal embeddings of two steps.

    Args:
        t: Steps, shape (B,).
        t_other: Steps, shape (B,).
        dim: Embedding width.

    Returns:
        cos∠(emb(t), emb(t_other)), shape (B,).
    """
    return F.cosine_similarity(
        timestep_embedding(t, dim), timestep_embedding(t_other, dim), dim=1
    )


class _Replace(nn.Module):
    """Ignores its input and returns a fixed tensor."""

    def __init__(self, value: Tensor) -> None:
        super().__init__()
        self.value = value

    def forward(self, _: Tensor) -> Tensor:
        return self.value


def time_added(h: Tensor, temb: Tensor, time_proj: nn.Module) -> Tensor:
    """The feature map right after a ``ResBlock`` adds the time embedding.

    Runs the library's ``ResBlock.forward`` with ``time_proj`` as the
    block's projection and the output of its first convolution replaced
    by ``h``, and returns what reaches the block's second GroupNorm: the
    line ``h = h + self.time_proj(F.silu(temb))[:, :, None, None]``,
    taken from the library rather than copied.

    Args:
        h: Feature map after the first convolution, shape (B, C, H, W).
        temb: Time embedding after the network's MLP, shape (B, E).
        time_proj: The block's projection E → C, e.g. ``nn.Linear(E, C)``.

    Returns:
        Shape (B, C, H, W), in ``h``'s dtype.
    """
    channels = h.shape[1]
    block = ResBlock(channels, channels, temb.shape[1], 0.0, 1)
    block = block.to(h.dtype).eval()
    block.time_proj = time_proj
    seen = []
    swap = block.conv1.register_forward_hook(lambda m, i, o: h)
    peek = block.norm2.register_forward_pre_hook(
        lambda m, inputs: seen.append(inputs[0])
    )
    try:
        block(torch.zeros_like(h), temb)
    finally:
        swap.remove()
        peek.remove()
    return seen[0]


def time_added_as(h: Tensor, temb: Tensor, projected: Tensor) -> Tensor:
    """:func:`time_added` with the block's projection replaced by a fixed
    output ``projected``, shape (B, C): for the exercise's mistakes in
    what gets projected."""
    return time_added(h, temb, _Replace(projected))
