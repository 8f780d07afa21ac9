"""Checks for the network chapter and for guidance: the sinusoidal
timestep embedding, how a residual block adds it, and classifier-free
guidance."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F  # noqa: N812
from torch import Tensor, nn

import ddpm_lib as dl
from ddpm_book.exercises.grading import (
    Case,
    Exercise,
    Feedback,
    Mistake,
    generator,
    grade,
)
from ddpm_book.network import time_added, time_added_as

__all__ = ["check_add_time", "check_guided_eps", "check_timestep_embedding"]


def _halves(t: Tensor, dim: int) -> tuple[Tensor, Tensor]:
    """The library embedding's sin and cos halves, each (B, dim // 2)."""
    emb = dl.timestep_embedding(t, dim)
    return emb[:, : dim // 2], emb[:, dim // 2 :]


def _spaced_by_half(t: Tensor, dim: int) -> Tensor:
    # ω_i = 10000^(−i/half) is the library's 10000^(−i/(half − 1)) with
    # the longest period P chosen so that P^(1/(half − 1)) = 10000^(1/half).
    half = dim // 2
    return dl.timestep_embedding(
        t, dim, max_period=10_000.0 ** ((half - 1) / half)
    )


_EMBEDDING = Exercise(
    name="timestep_embedding",
    reference=dl.timestep_embedding,
    cases=lambda: [
        Case((torch.tensor([1, 2, 50, 999, 1000]), 8), "t = 1..1000, dim 8"),
        Case((torch.arange(1, 33), 32), "t = 1..32, dim 32"),
    ],
    hidden_cases=lambda: [
        Case((torch.tensor([7]), 6), "t = [7], dim 6"),
        Case(
            (torch.randint(1, 1001, (9,), generator=generator(21)), 128),
            "9 random steps in 1..1000, dim 128",
        ),
    ],
    answer_functions=("timestep_embedding",),
    equation=(
        "[sin(t·ω_i) | cos(t·ω_i)], ω_i = 10000^(−i/(half − 1)), "
        "halves concatenated"
    ),
    returns="a tensor of shape (B, dim)",
    mistakes=[
        Mistake(
            "has the sin and cos halves swapped; the DDPM code puts the sin "
            "half first: [sin(t·ω) | cos(t·ω)]",
            lambda t, d: torch.cat(_halves(t, d)[::-1], dim=1),
        ),
        Mistake(
            "interleaves sin and cos as the Transformer paper does; the "
            "DDPM code concatenates the two halves [sin | cos]",
            lambda t, d: torch.stack(_halves(t, d), dim=2).flatten(1),
        ),
        Mistake(
            "spaces the frequencies with i/half; the DDPM code uses "
            "i/(half − 1), so the last frequency is exactly 1/10000",
            _spaced_by_half,
        ),
    ],
)


def check_timestep_embedding(
    fn: Callable[[Tensor, int], Tensor], *, strict: bool = False
) -> Feedback:
    """Check ``fn(t, dim) -> (B, dim)`` sinusoidal embedding (even dim)."""
    return grade(_EMBEDDING, fn, strict=strict)


def _add_time_cases(hidden: bool = False) -> list[Case]:
    # C == W and H != C: adding along the wrong axis still runs and is
    # caught by its values, not by a shape error.
    g = generator(8 if hidden else 7)
    layouts = (
        (((1, 4, 2, 16), torch.float64), ((5, 3, 7, 4), torch.float32))
        if hidden
        else (((3, 5, 4, 8), torch.float32), ((2, 6, 3, 10), torch.float64))
    )
    cases = []
    for (b, c, h, e), dtype in layouts:
        proj = nn.Linear(e, c).to(dtype)
        with torch.no_grad():
            proj.weight.copy_(torch.randn(c, e, generator=g))
            proj.bias.copy_(torch.randn(c, generator=g))
        h_map = torch.randn(b, c, h, c, generator=g, dtype=dtype)
        temb = 2 * torch.randn(b, e, generator=g, dtype=dtype)
        about = f"h {(b, c, h, c)}, temb {(b, e)} in {str(dtype)[6:]}"
        cases.append(Case((h_map, temb, proj), about))
    return cases


def _along_width(h: Tensor, temb: Tensor, proj: nn.Module) -> Tensor:
    # The library's addition on h with C and W swapped, swapped back.
    return time_added(h.transpose(1, 3), temb, proj).transpose(1, 3)


_ADD_TIME = Exercise(
    name="add_time",
    reference=time_added,
    cases=_add_time_cases,
    hidden_cases=lambda: _add_time_cases(hidden=True),
    answer_functions=(
        "ddpm_book.network.time_added",
        "ddpm_book.network.time_added_as",
    ),
    reveals=("ddpm_lib.networks.unet.ResBlock",),  # adds the time
    equation=(
        "ResBlock.forward: h + time_proj(SiLU(temb)), the (B, C) result "
        "broadcast over H and W as (B, C, 1, 1)"
    ),
    returns="a tensor of h's shape (B, C, H, W)",
    mistakes=[
        Mistake(
            "adds the projection along the last axis (W); it holds one "
            "value per channel, so it must be reshaped to (B, C, 1, 1), "
            "e.g. [:, :, None, None]",
            _along_width,
        ),
        Mistake(  # the projection shown temb instead of SiLU(temb)
            "projects temb itself; the library applies SiLU first: "
            "time_proj(F.silu(temb))",
            lambda h, e, p: time_added_as(h, e, p(e)),
        ),
        Mistake(
            "applies SiLU after the projection; the library applies it "
            "before: time_proj(F.silu(temb))",
            lambda h, e, p: time_added_as(h, e, F.silu(p(F.silu(e)))),
        ),
        Mistake(  # the time term times h instead of plus h
            "multiplies h by the projection; the time embedding is added",
            lambda h, e, p: h * time_added(torch.zeros_like(h), e, p),
        ),
    ],
)


def check_add_time(fn: Callable, *, strict: bool = False) -> Feedback:
    """Check ``fn(h, temb, time_proj) -> h'``, the line of ``ResBlock``
    where the time embedding temb (B, E) is projected and added to the
    feature map h (B, C, H, W)."""
    return grade(_ADD_TIME, fn, strict=strict)


def _guidance_cases() -> list[Case]:
    g = generator(5)
    cond, uncond = (torch.randn(3, 2, 4, 4, generator=g) for _ in "cu")
    return [Case((cond, uncond, w), f"w = {w}") for w in (0.0, 0.5, 3.0)]


def _hidden_guidance_cases() -> list[Case]:
    g = generator(6)
    cases = []
    for shape, dtype, w in (
        ((1, 3, 2, 2), torch.float32, 7.5),
        ((6, 2), torch.float64, 1.25),
        ((2, 1, 3, 2, 2), torch.float64, 0.1),
    ):
        cond, uncond = (
            torch.randn(shape, generator=g, dtype=dtype) for _ in "cu"
        )
        about = f"w = {w}, shape {shape} in {str(dtype)[6:]}"
        cases.append(Case((cond, uncond, w), about))
    return cases


_GUIDANCE = Exercise(
    name="guided_eps",
    reference=lambda c, u, w: dl.guided_eps(c, u, w=w),
    cases=_guidance_cases,
    hidden_cases=_hidden_guidance_cases,
    answer_functions=("guided_eps",),
    equation="Ho & Salimans Eq. 6: ε̃ = (1 + w) · ε(x_t, c) − w · ε(x_t)",
    mistakes=[
        Mistake(  # the two predictions trade places
            "applies the guidance weight to the wrong term: ε̃ = (1 + w) · "
            "ε(x_t, c) − w · ε(x_t), the conditional prediction gets 1 + w",
            lambda c, u, w: dl.guided_eps(u, c, w=w),
        ),
        Mistake(  # ε(x_t) + w (ε(x_t, c) − ε(x_t)) is ε̃ less one step c − u
            "uses w as the guidance scale s = 1 + w (diffusers' "
            "convention); here ε̃ = ε(x_t) + (1 + w)(ε(x_t, c) − ε(x_t))",
            lambda c, u, w: dl.guided_eps(c, u, w=w) - (c - u),
        ),
    ],
)


def check_guided_eps(fn: Callable, *, strict: bool = False) -> Feedback:
    """Check ``fn(eps_cond, eps_uncond, w) -> eps``, classifier-free
    guidance, Ho & Salimans (2022) Eq. 6."""
    return grade(_GUIDANCE, fn, strict=strict)
