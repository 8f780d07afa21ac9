"""Exponential moving average of a network's weights (the sampling model).

Ho et al. (2020) sample from an EMA of the weights with decay 0.9999.
With warm-up the decay starts small, min(decay, (1 + n) / (10 + n)) after
n updates, so early averages are not dominated by the random
initialisation. The update is one fused ``torch._foreach_lerp_`` over all
parameters, with the decay a Python number: no host-device sync. For a
step captured in a CUDA graph the weight is a device tensor instead
(:meth:`average`), which the host refills before each replay.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

__all__ = ["EMA"]


class EMA(nn.Module):
    """An averaged copy of ``model``: θ_ema ← d · θ_ema + (1 − d) · θ.

    Args:
        model: The network being trained; it is copied once.
        decay: The final decay d (the paper's 0.9999).
        warmup: Use d_n = min(decay, (1 + n) / (10 + n)) at update n.
    """

    def __init__(
        self, model: nn.Module, *, decay: float = 0.9999, warmup: bool = True
    ) -> None:
        super().__init__()
        if not 0 <= decay < 1:
            raise ValueError(f"decay must lie in [0, 1); got {decay!r}")
        self.module = copy.deepcopy(model).eval().requires_grad_(False)
        self.decay, self.warmup, self.updates = decay, warmup, 0

    def current_decay(self) -> float:
        """The decay the next update will use."""
        n = self.updates
        return (
            min(self.decay, (1 + n) / (10 + n)) if self.warmup else self.decay
        )

    def next_weight(self) -> float:
        """The weight 1 − d of the next update, counting that update."""
        weight = 1 - self.current_decay()
        self.updates += 1
        return weight

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        """Move the average one step towards ``model``'s weights."""
        self.average(model, self.next_weight())

    @torch.no_grad()
    def average(self, model: nn.Module, weight: float | torch.Tensor) -> None:
        """θ_ema ← θ_ema + weight · (θ − θ_ema); buffers are copied.

        ``weight`` may be a 0-dim device tensor: then no host value is read,
        so the update can be captured in a CUDA graph. It does not count
        the update (:meth:`next_weight` does).
        """
        averaged = list(self.module.parameters())
        current = [p.detach() for p in model.parameters()]
        if isinstance(weight, torch.Tensor):
            step = torch._foreach_sub(current, averaged)
            torch._foreach_mul_(step, weight)
            torch._foreach_add_(averaged, step)
        else:
            torch._foreach_lerp_(averaged, current, weight)
        for mine, theirs in zip(
            self.module.buffers(), model.buffers(), strict=True
        ):
            mine.copy_(theirs)

    def forward(self, *args, **kwargs):
        return self.module(*args, **kwargs)

    def state_dict(self, *args, **kwargs):
        return {"module": self.module.state_dict(), "updates": self.updates}

    def load_state_dict(self, state, strict: bool = True):
        self.module.load_state_dict(state["module"], strict=strict)
        self.updates = int(state["updates"])
