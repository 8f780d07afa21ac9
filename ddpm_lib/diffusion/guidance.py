"""Classifier-free guidance, Ho & Salimans (2022), arXiv:2207.12598, Eq. (6).

One network is trained with and without the class label c (the label is
dropped to a null label at random). At sampling time its two predictions
are combined:

    ε̃(x_t, c) = (1 + w) · ε_θ(x_t, c) − w · ε_θ(x_t)

w = 0 is plain conditional sampling; larger w trades diversity for
fidelity. diffusers calls s = 1 + w the "guidance scale".
"""

from __future__ import annotations

from torch import Tensor

from ddpm_lib.diffusion.forward import check_same_shape

__all__ = ["BOOK_GUIDANCE", "guided_eps"]

# The weight the book and the README draw class-conditioned samples with,
# and at which the evaluation reports its class agreement.
BOOK_GUIDANCE = 2.0


def guided_eps(eps_cond: Tensor, eps_uncond: Tensor, *, w: float) -> Tensor:
    """Guided noise prediction ε̃, Ho & Salimans (2022) Eq. (6).

    Args:
        eps_cond: ε_θ(x_t, c), the prediction with the label, (B, *S).
        eps_uncond: ε_θ(x_t), the prediction with the null label, (B, *S).
        w: Guidance weight, w ≥ 0 (w = 0: no guidance).
    """
    check_same_shape(eps_cond=eps_cond, eps_uncond=eps_uncond)
    if w < 0:
        raise ValueError(f"the guidance weight w must be >= 0; got {w!r}")
    return (1 + w) * eps_cond - w * eps_uncond
