"""Images from a trained UNet: DDPM or DDIM, labels and guidance, batched.

This is where the network meets the samplers of
:mod:`ddpm_lib.diffusion.sampling`: a wrapper turns
``unet(x_t, t, labels)`` into the ``model(x_t, t) -> ε`` they expect,
combining the conditional and the unconditional prediction when
classifier-free guidance is asked for.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor, nn

from ddpm_lib.diffusion.forward import Prediction, eps_from_prediction
from ddpm_lib.diffusion.guidance import guided_eps
from ddpm_lib.diffusion.sampling import (
    ddim_sample,
    ddim_timesteps,
    ddpm_sample,
    final_sample,
)
from ddpm_lib.diffusion.schedules import Schedule

__all__ = ["class_labels", "eps_model", "fast_network", "generate"]


def class_labels(
    n: int, num_classes: int | None, *, device=None
) -> Tensor | None:
    """Labels 0, 1, …, num_classes − 1, 0, 1, … for ``n`` samples: every
    class equally often, in order (None for an unconditional network)."""
    if num_classes is None:
        return None
    return torch.arange(n, device=device) % num_classes


def eps_model(
    unet: nn.Module,
    sched: Schedule,
    *,
    labels: Tensor | None = None,
    guidance: float = 0.0,
    prediction: Prediction | str = Prediction.EPS,
) -> Callable[[Tensor, Tensor], Tensor]:
    """``unet`` as a noise predictor ``(x_t, t) -> ε`` for the samplers.

    Args:
        unet: A :class:`~ddpm_lib.networks.unet.UNet` (or any
            ``f(x, t, labels)``).
        sched: The schedule the network was trained with.
        labels: Class labels (B,), or None for unconditional samples.
        guidance: Classifier-free guidance weight w ≥ 0 (needs labels and
            a class-conditional network); 0 means no guidance.
        prediction: What the network outputs: ``"eps"``, ``"x0"`` or ``"v"``.
    """
    if not (guidance >= 0 and math.isfinite(guidance)):  # NaN fails >=
        raise ValueError(
            f"guidance must be a finite number >= 0; got {guidance}"
        )
    null = getattr(getattr(unet, "config", None), "null_label", None)
    if guidance > 0 and (labels is None or null is None):
        raise ValueError(
            "classifier-free guidance needs class labels and a "
            "class-conditional network (a *_cond preset)"
        )

    def predict(x_t: Tensor, t: Tensor) -> Tensor:
        if guidance == 0:
            out = unet(x_t, t, labels)
            return eps_from_prediction(sched, x_t, t, out, prediction)
        both = unet(
            torch.cat([x_t, x_t]),
            torch.cat([t, t]),
            torch.cat([labels, torch.full_like(labels, null)]),
        )  # (2B, C, H, W): conditional half, then unconditional half
        cond, uncond = (
            eps_from_prediction(sched, x_t, t, out, prediction)
            for out in both.chunk(2)
        )
        return guided_eps(cond, uncond, w=guidance)

    return predict


class _Fast(nn.Module):
    """A network under bf16 autocast and/or torch.compile; float32 out."""

    def __init__(self, unet: nn.Module, device, *, bf16, compile) -> None:
        super().__init__()
        self.unet, self.config = unet, unet.config
        self.device_type, self.bf16 = device.type, bf16
        self.call = torch.compile(unet) if compile else unet

    def forward(self, x: Tensor, t: Tensor, labels=None) -> Tensor:
        with torch.autocast(
            self.device_type, dtype=torch.bfloat16, enabled=self.bf16
        ):
            return self.call(x, t, labels).float()


def fast_network(
    unet: nn.Module, device, *, bf16: bool = False, compile: bool = False
) -> nn.Module:
    """``unet`` under bf16 autocast and/or torch.compile (float32 out)."""
    if not (bf16 or compile):
        return unet
    return _Fast(unet, device, bf16=bf16, compile=compile)


@torch.no_grad()
def generate(
    unet: nn.Module,
    sched: Schedule,
    n: int,
    *,
    sampler: str = "ddim",
    steps: int = 50,
    eta: float = 0.0,
    labels: Tensor | None = None,
    guidance: float = 0.0,
    prediction: Prediction | str = Prediction.EPS,
    clip_x0: bool = True,
    generator: torch.Generator | None = None,
    batch_size: int = 256,
    bf16: bool = False,
    compile: bool = False,
) -> Tensor:
    """Sample ``n`` images, shape (n, C, H, W) in [-1, 1].

    Args:
        unet: The trained network (its EMA copy, usually).
        sched: Its schedule.
        n: Number of images.
        sampler: ``"ddpm"`` (Algorithm 2, T steps, σ_t² = β_t) or
            ``"ddim"`` (``steps`` steps, trailing spacing, η = ``eta``).
        steps: DDIM steps (ignored by DDPM).
        eta: DDIM's η.
        labels: Class labels (n,) for a class-conditional network.
        guidance: Classifier-free guidance weight w.
        prediction: What the network outputs.
        clip_x0: Clip x̂_0 to [-1, 1] in every step (as the paper's code).
        generator: Random source, on the network's device.
        batch_size: Images per network call.
        bf16: Run the network under bfloat16 autocast (the sampler's
            arithmetic stays float32). Faster on GPUs with bf16 units.
        compile: ``torch.compile`` the network (the first call compiles;
            later calls with the same shapes reuse it).
    """
    if sampler not in ("ddpm", "ddim"):
        raise ValueError(f"sampler must be 'ddpm' or 'ddim'; got {sampler!r}")
    if not 0 <= eta <= 1:  # NaN fails every comparison
        raise ValueError(f"eta must lie in [0, 1]; got {eta}")
    if labels is not None and labels.shape != (n,):
        raise ValueError(f"labels must have shape ({n},); got {labels.shape}")
    param = next(unet.parameters())
    cfg = unet.config
    sched = sched.to(param.device)
    net = fast_network(unet, param.device, bf16=bf16, compile=compile)
    out = []
    for start in range(0, n, batch_size):
        size = min(batch_size, n - start)
        x_T = torch.randn(  # noqa: N806
            (size, cfg.image_channels, cfg.image_size, cfg.image_size),
            generator=generator,
            device=param.device,
        )
        part = None if labels is None else labels[start : start + size]
        model = eps_model(
            net, sched, labels=part, guidance=guidance, prediction=prediction
        )
        if sampler == "ddpm":
            trajectory = ddpm_sample(
                model, sched, x_T, clip_x0=clip_x0, generator=generator
            )
        else:
            trajectory = ddim_sample(
                model,
                sched,
                x_T,
                ddim_timesteps(sched.T, steps),
                eta=eta,
                clip_x0=clip_x0,
                generator=generator,
            )
        out.append(final_sample(trajectory).clamp(-1, 1))
    return torch.cat(out)
