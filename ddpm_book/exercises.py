"""Checks for the book's coding exercises: they grade and name the mistake.

Each ``check_*`` function calls a learner's function on several inputs
(steps t = 1, T and in between; toy data and image batches; float32 and
float64) and compares the result with the library's reference. When the
answer is wrong it looks for the classic mistakes — the variance where the
standard deviation belongs, ᾱ_{t−1} for ᾱ_t, a cosine schedule without its
square, noise added at t = 1, … — and says in words which one it found.

A check never raises: it returns a :class:`Feedback`, which a notebook
shows as one line, so "Run all" carries on past an unfinished exercise.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch
from torch import Tensor

from ddpm_lib.diffusion import forward
from ddpm_lib.diffusion import objective as bound
from ddpm_lib.diffusion import posterior as reverse
from ddpm_lib.diffusion.guidance import guided_eps
from ddpm_lib.diffusion.objective import loss_simple
from ddpm_lib.diffusion.schedules import (
    Schedule,
    append_dims,
    cosine_schedule,
    linear_schedule,
    schedule_from_betas,
)
from ddpm_lib.networks.embedding import timestep_embedding

__all__ = [
    "Feedback",
    "check_alpha_bar",
    "check_cosine_alpha_bar",
    "check_ddpm_step",
    "check_guided_eps",
    "check_loss_simple",
    "check_mu_theta",
    "check_normal_kl",
    "check_q_posterior",
    "check_q_sample",
    "check_timestep_embedding",
    "check_x0_from_eps",
]


@dataclass(frozen=True)
class Feedback:
    """The outcome of a check, shown as one line in a notebook.

    Attributes:
        name: The exercise's function name.
        passed: True when every case matched the reference.
        unfinished: True when the function still raises
            ``NotImplementedError``.
        message: What the learner reads.
    """

    name: str
    passed: bool
    message: str
    unfinished: bool = False

    def __repr__(self) -> str:
        mark = "✔" if self.passed else ("…" if self.unfinished else "✘")
        return f"{mark} {self.name}: {self.message}"

    __str__ = __repr__


@dataclass(frozen=True)
class _Case:
    args: tuple
    about: str  # for messages, e.g. "t = [1, 2, ...], data (6, 2) float64"


@dataclass(frozen=True)
class _Mistake:
    hint: str
    fn: Callable


@dataclass(frozen=True)
class _Exercise:
    name: str
    reference: Callable
    cases: Callable[[], list[_Case]]
    equation: str  # reminder shown with an unrecognised error
    mistakes: Sequence[_Mistake] = ()
    returns: str = "a tensor of the data's shape"
    outputs: Callable[[object], list[Tensor]] = field(default=lambda y: [y])


# --------------------------------------------------------------------------
# Running a check


def _describe_t(t: Tensor) -> str:
    values = t.tolist()
    return f"t = {values}" if len(values) <= 6 else f"{len(values)} steps"


def _close(got: Tensor, want: Tensor) -> bool:
    if got.shape != want.shape:
        try:  # values broadcast to the same thing, e.g. (B,) vs (B, 1, 1)
            got = got.reshape(want.shape)
        except RuntimeError:
            return False
    # float32 answers may compute 1 − ᾱ_t ≈ 1e-4 in float32, losing about
    # three digits to cancellation; the classic mistakes differ far more.
    low = torch.float64 not in (got.dtype, want.dtype) or (
        torch.float32 in (got.dtype, want.dtype)
    )
    rtol, atol = (3e-3, 3e-3) if low else (1e-9, 1e-11)
    return torch.allclose(
        got.double(), want.double(), rtol=rtol, atol=atol, equal_nan=False
    )


def _as_outputs(exercise: _Exercise, value) -> list[Tensor] | str:
    """The learner's outputs as tensors, or a message saying what is off."""
    if value is None:
        return "returns None; did you forget the `return` statement?"
    try:
        outputs = exercise.outputs(value)
    except (TypeError, ValueError, RuntimeError):
        return f"returns a {type(value).__name__}; expected {exercise.returns}"
    for out in outputs:
        if not isinstance(out, Tensor):
            return (
                f"returns a {type(out).__name__}; expected a torch.Tensor "
                "(keep the computation in torch)"
            )
        if not out.is_floating_point():
            return f"returns a tensor of dtype {out.dtype}; expected floats"
    return outputs


def _shape_problem(got: list[Tensor], want: list[Tensor]) -> str | None:
    for g, w in zip(got, want, strict=True):
        if g.shape == w.shape or (
            w.ndim > 0 and g.squeeze().shape == w.squeeze().shape
        ):
            continue  # e.g. β̃ as (B,) instead of (B, 1, 1, 1)
        message = f"returns shape {tuple(g.shape)}; expected {tuple(w.shape)}"
        if w.ndim == 0:
            return message + ", a single number: take the mean"
        return (
            message + ". Per-example schedule values must broadcast over "
            "the data: reshape them to (B, 1, ..., 1), e.g. with "
            "ddpm_lib.append_dims(v, x.ndim)"
        )
    return None


def _all_close(got: list[Tensor], want: list[Tensor]) -> bool:
    return all(_close(g, w) for g, w in zip(got, want, strict=True))


def _explains(mistake: _Mistake, exercise: _Exercise, cases, answers) -> bool:
    """Does ``mistake`` reproduce the learner's answer on every case where
    it can be computed (and on at least one)?"""
    computed = 0
    for case, got in zip(cases, answers, strict=True):
        try:
            wrong = exercise.outputs(mistake.fn(*case.args))
        except Exception:  # the mistake does not apply to this input
            continue
        if len(wrong) != len(got) or not _all_close(got, wrong):
            return False
        computed += 1
    return computed > 0


def _check(exercise: _Exercise, fn: Callable) -> Feedback:
    name = exercise.name
    if not callable(fn):
        return Feedback(name, False, f"expected a function; got {fn!r}")
    cases = exercise.cases()
    answers, failures, notes = [], [], set()
    for case in cases:
        try:
            value = fn(*case.args)
        except NotImplementedError:
            return Feedback(
                name,
                False,
                "not written yet: replace `raise NotImplementedError()` "
                "with your code, then run this cell again.",
                unfinished=True,
            )
        except Exception as error:  # a learner's bug: report, never raise
            message = f"raised {type(error).__name__}: {error}"
            if "must match the size of tensor" in str(error):
                message += (
                    ". Per-example values of shape (B,) must become "
                    "(B, 1, ..., 1) to broadcast over the data, e.g. "
                    "ddpm_lib.append_dims(v, x.ndim)"
                )
            return Feedback(name, False, f"{message} (for {case.about})")
        got = _as_outputs(exercise, value)
        if isinstance(got, str):
            return Feedback(name, False, got)
        want = exercise.outputs(exercise.reference(*case.args))
        if len(got) != len(want):
            return Feedback(
                name,
                False,
                f"returns {len(got)} values; expected {exercise.returns}",
            )
        problem = _shape_problem(got, want)
        if problem:
            return Feedback(name, False, f"{problem} (for {case.about})")
        answers.append(got)
        if not _all_close(got, want):
            failures.append((case, got, want))
            continue
        for g, w in zip(got, want, strict=True):
            if g.dtype != w.dtype:
                notes.add(
                    f"it returns {g.dtype} where the library returns "
                    f"{w.dtype}; cast schedule values with .to(x) to "
                    "follow the data's dtype"
                )
    if not failures:
        message = f"correct on {len(cases)} test cases."
        if notes:
            message += " Note: " + "; ".join(sorted(notes)) + "."
        return Feedback(name, True, message)
    for mistake in exercise.mistakes:
        if _explains(mistake, exercise, cases, answers):
            return Feedback(name, False, f"your {name} {mistake.hint}")
    case, got, want = failures[0]
    worst = max(
        (g.reshape(w.shape).double() - w.double()).abs().max().item()
        for g, w in zip(got, want, strict=True)
    )
    return Feedback(
        name,
        False,
        f"wrong values for {case.about} (largest difference {worst:.3g}). "
        f"Compare your code with {exercise.equation}.",
    )


# --------------------------------------------------------------------------
# Inputs


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _data_cases(
    sched: Schedule, n_tensors: int, *, seed: int = 0
) -> list[tuple[Tensor, tuple[Tensor, ...], str]]:
    """(t, tensors, about) for toy points and images, float64 and float32."""
    layouts = [
        (torch.tensor([1, 2, 10, 100, 500, sched.T]), (2,), torch.float64),
        (torch.tensor([3, 250, sched.T - 1, 1]), (1, 5, 5), torch.float32),
        (torch.tensor([700, 2, 1]), (3, 4, 4), torch.float64),
    ]
    cases = []
    for i, (t, shape, dtype) in enumerate(layouts):
        g = _gen(seed + i)
        tensors = tuple(
            torch.randn((len(t), *shape), generator=g, dtype=dtype)
            for _ in range(n_tensors)
        )
        about = (
            f"{_describe_t(t)}, data of shape {(len(t), *shape)} "
            f"in {str(dtype).removeprefix('torch.')}"
        )
        cases.append((t, tensors, about))
    return cases


def _coef(values: Tensor, t: Tensor, x: Tensor) -> Tensor:
    """values[t] as (B, 1, ..., 1) in x's dtype — for the mistake variants."""
    return append_dims(values[t].to(x.dtype), x.ndim)


_SCHED = linear_schedule(1000)


def _sched_data_cases(n_tensors: int) -> Callable[[], list[_Case]]:
    def cases():
        return [
            _Case((_SCHED, *tensors[:1], t, *tensors[1:]), about)
            for t, tensors, about in _data_cases(_SCHED, n_tensors)
        ]

    return cases


# --------------------------------------------------------------------------
# Schedules


def _alpha_bar_reference(beta: Tensor) -> Tensor:
    return schedule_from_betas(beta[1:]).alpha_bar


_ALPHA_BAR = _Exercise(
    name="alpha_bar",
    reference=_alpha_bar_reference,
    cases=lambda: (
        [
            _Case(
                (linear_schedule(T).beta,), f"the linear schedule with T = {T}"
            )
            for T in (10, 1000)
        ]
        + [_Case((cosine_schedule(50).beta,), "the cosine schedule, T = 50")]
    ),
    equation="ᾱ_t = ∏_{s=1}^{t} (1 − β_s), with ᾱ_0 = 1 at index 0",
    returns="a tensor of T + 1 values, alpha_bar[0] = 1",
    mistakes=[
        _Mistake(
            "multiplies the β's; ᾱ_t is the product of the α_s = 1 − β_s",
            lambda beta: torch.cat([beta[:1] + 1, torch.cumprod(beta[1:], 0)]),
        ),
        _Mistake(
            "multiplies the β's; ᾱ_t is the product of the α_s = 1 − β_s",
            lambda beta: torch.cumprod(beta, 0),
        ),
        _Mistake(
            "adds the α's; ᾱ_t is their product (torch.cumprod)",
            lambda beta: torch.cumsum(1 - beta, 0),
        ),
        _Mistake(
            "is off by one: ᾱ_t includes α_t itself, ∏ over s = 1..t, so "
            "alpha_bar[1] = α_1",
            lambda beta: torch.cat(
                [beta.new_ones(1), torch.cumprod(1 - beta, 0)[:-1]]
            ),
        ),
    ],
)


def check_alpha_bar(fn: Callable[[Tensor], Tensor]) -> Feedback:
    """Check ``fn(beta) -> alpha_bar``: ᾱ_t = ∏_{s≤t} (1 − β_s).

    ``beta`` has T + 1 entries with ``beta[0] == 0`` (index = t); so must
    the result, with ``alpha_bar[0] == 1``.
    """
    return _check(_ALPHA_BAR, fn)


def _cosine_reference(T: int, s: float) -> Tensor:
    t = torch.arange(T + 1, dtype=torch.float64)
    f = torch.cos((t / T + s) / (1 + s) * math.pi / 2) ** 2
    return f / f[0]


def _cosine_variant(T, s, *, power=2, shift=0, normalise=True, offset=True):
    t = torch.arange(T + 1, dtype=torch.float64) + shift
    s_used = s if offset else 0.0
    f = torch.cos((t / T + s_used) / (1 + s_used) * math.pi / 2) ** power
    return f / f[0] if normalise else f


_COSINE = _Exercise(
    name="cosine_alpha_bar",
    reference=_cosine_reference,
    cases=lambda: [
        _Case((1000, 0.008), "T = 1000, s = 0.008"),
        _Case((20, 0.1), "T = 20, s = 0.1"),
    ],
    equation=(
        "Nichol & Dhariwal (2021) Eq. 17: ᾱ_t = f(t)/f(0), "
        "f(t) = cos²((t/T + s)/(1 + s) · π/2)"
    ),
    returns="a tensor of T + 1 values, alpha_bar[0] = 1",
    mistakes=[
        _Mistake(
            "is the cosine schedule without its square: f(t) = "
            "cos²((t/T + s)/(1 + s) · π/2), squared",
            lambda T, s: _cosine_variant(T, s, power=1),
        ),
        _Mistake(
            "does not divide by f(0): ᾱ_t = f(t)/f(0), so that ᾱ_0 = 1",
            lambda T, s: _cosine_variant(T, s, normalise=False),
        ),
        _Mistake(
            "drops the offset s: it keeps β_t from being tiny near t = 0",
            lambda T, s: _cosine_variant(T, s, offset=False),
        ),
        _Mistake(
            "is off by one: index t of the result is ᾱ_t = f(t)/f(0), "
            "starting from t = 0",
            lambda T, s: _cosine_variant(T, s, shift=1),
        ),
    ],
)


def check_cosine_alpha_bar(fn: Callable[[int, float], Tensor]) -> Feedback:
    """Check ``fn(T, s) -> alpha_bar`` of shape (T+1,), Nichol & Dhariwal
    (2021) Eq. 17 (before clipping β_t)."""
    return _check(_COSINE, fn)


# --------------------------------------------------------------------------
# The forward process


def _q_variant(sched, x0, t, eps, *, mean, std, shift=0):
    t = t + shift
    return _coef(mean(sched), t, x0) * x0 + _coef(std(sched), t, x0) * eps


def _sqrt_ab(s):
    return s.alpha_bar.sqrt()


def _sqrt_1m_ab(s):
    return (1 - s.alpha_bar).sqrt()


_Q_SAMPLE = _Exercise(
    name="q_sample",
    reference=forward.q_sample,
    cases=_sched_data_cases(2),
    equation="Eq. 4: x_t = √ᾱ_t · x_0 + √(1 − ᾱ_t) · ε",
    mistakes=[
        _Mistake(
            "scales the noise by (1 − ᾱ_t); the standard deviation is "
            "√(1 − ᾱ_t)",
            lambda s, x0, t, e: _q_variant(
                s, x0, t, e, mean=_sqrt_ab, std=lambda s: 1 - s.alpha_bar
            ),
        ),
        _Mistake(
            "scales x_0 by ᾱ_t; the mean of q(x_t | x_0) is √ᾱ_t · x_0",
            lambda s, x0, t, e: _q_variant(
                s, x0, t, e, mean=lambda s: s.alpha_bar, std=_sqrt_1m_ab
            ),
        ),
        _Mistake(
            "uses ᾱ_t and 1 − ᾱ_t without square roots; x_t = √ᾱ_t · x_0 "
            "+ √(1 − ᾱ_t) · ε",
            lambda s, x0, t, e: _q_variant(
                s,
                x0,
                t,
                e,
                mean=lambda s: s.alpha_bar,
                std=lambda s: 1 - s.alpha_bar,
            ),
        ),
        _Mistake(
            "uses ᾱ_{t−1}, one step early: alpha_bar[t] already is ᾱ_t "
            "(index 0 is the clean data)",
            lambda s, x0, t, e: _q_variant(
                s, x0, t, e, mean=_sqrt_ab, std=_sqrt_1m_ab, shift=-1
            ),
        ),
        _Mistake(
            "uses ᾱ_{t+1}, one step late: alpha_bar[t] already is ᾱ_t "
            "(there is no 0-based shift in ddpm_lib)",
            lambda s, x0, t, e: _q_variant(
                s, x0, t, e, mean=_sqrt_ab, std=_sqrt_1m_ab, shift=1
            ),
        ),
        _Mistake(
            "uses α_t = 1 − β_t; jumping from x_0 to x_t needs the product "
            "ᾱ_t = α_1 · … · α_t",
            lambda s, x0, t, e: _q_variant(
                s,
                x0,
                t,
                e,
                mean=lambda s: s.alpha.sqrt(),
                std=lambda s: s.beta.sqrt(),
            ),
        ),
        _Mistake(
            "subtracts the noise; x_t = √ᾱ_t · x_0 + √(1 − ᾱ_t) · ε",
            lambda s, x0, t, e: _q_variant(
                s, x0, t, e, mean=_sqrt_ab, std=lambda s: -_sqrt_1m_ab(s)
            ),
        ),
    ],
)


def check_q_sample(fn: Callable) -> Feedback:
    """Check ``fn(sched, x0, t, eps) -> x_t``, Ho et al. (2020) Eq. 4."""
    return _check(_Q_SAMPLE, fn)


def _x0_variant(sched, x_t, t, eps, *, std, scale, sign=1, shift=0):
    t = t + shift
    return (x_t - sign * _coef(std(sched), t, x_t) * eps) * _coef(
        scale(sched), t, x_t
    )


def _rsqrt_ab(s):
    return s.alpha_bar.rsqrt()


_X0_FROM_EPS = _Exercise(
    name="x0_from_eps",
    reference=forward.x0_from_eps,
    cases=_sched_data_cases(2),
    equation="Eq. 15: x̂_0 = (x_t − √(1 − ᾱ_t) · ε) / √ᾱ_t",
    mistakes=[
        _Mistake(
            "removes (1 − ᾱ_t) · ε; the noise in x_t has standard "
            "deviation √(1 − ᾱ_t)",
            lambda s, x, t, e: _x0_variant(
                s, x, t, e, std=lambda s: 1 - s.alpha_bar, scale=_rsqrt_ab
            ),
        ),
        _Mistake(
            "adds the noise; x̂_0 subtracts √(1 − ᾱ_t) · ε from x_t",
            lambda s, x, t, e: _x0_variant(
                s, x, t, e, std=_sqrt_1m_ab, scale=_rsqrt_ab, sign=-1
            ),
        ),
        _Mistake(
            "forgets to divide by √ᾱ_t",
            lambda s, x, t, e: _x0_variant(
                s,
                x,
                t,
                e,
                std=_sqrt_1m_ab,
                scale=lambda s: s.alpha_bar * 0 + 1,
            ),
        ),
        _Mistake(
            "divides by ᾱ_t; x_0 was scaled by √ᾱ_t",
            lambda s, x, t, e: _x0_variant(
                s, x, t, e, std=_sqrt_1m_ab, scale=lambda s: 1 / s.alpha_bar
            ),
        ),
        _Mistake(
            "multiplies by √ᾱ_t; undoing the scaling divides by it",
            lambda s, x, t, e: _x0_variant(
                s, x, t, e, std=_sqrt_1m_ab, scale=_sqrt_ab
            ),
        ),
        _Mistake(
            "uses ᾱ_{t−1}, one step early: alpha_bar[t] already is ᾱ_t",
            lambda s, x, t, e: _x0_variant(
                s, x, t, e, std=_sqrt_1m_ab, scale=_rsqrt_ab, shift=-1
            ),
        ),
    ],
)


def check_x0_from_eps(fn: Callable) -> Feedback:
    """Check ``fn(sched, x_t, t, eps) -> x0_hat``, Ho et al. (2020) Eq. 15."""
    return _check(_X0_FROM_EPS, fn)


# --------------------------------------------------------------------------
# The reverse process


def _posterior_parts(s, t, shift=0):
    """ᾱ_t, ᾱ_{t−1} (possibly shifted), α_t, β_t, all (B,) float64."""
    t_prev = (t - 1 + shift).clamp(min=0)
    return s.alpha_bar[t], s.alpha_bar[t_prev], s.alpha[t], s.beta[t]


def _posterior_variant(
    s, x0, x_t, t, *, shift=0, sqrt=True, variance="tilde", swap=False
):
    ab, ab_prev, a, b = _posterior_parts(s, t, shift)
    root = torch.sqrt if sqrt else (lambda v: v)
    c0 = root(ab_prev) * b / (1 - ab)
    ct = root(a) * (1 - ab_prev) / (1 - ab)
    if swap:
        c0, ct = ct, c0
    mean = (
        append_dims(c0.to(x0), x0.ndim) * x0
        + append_dims(ct.to(x0), x0.ndim) * x_t
    )
    beta_tilde = (1 - ab_prev) / (1 - ab) * b
    var = {
        "tilde": beta_tilde,
        "beta": b,
        "std": beta_tilde.sqrt(),
    }[variance]
    return mean, append_dims(var.to(x0), x0.ndim)


def _pair(value) -> list:
    if not isinstance(value, tuple | list) or len(value) != 2:
        raise TypeError("expected a pair")
    return list(value)


_Q_POSTERIOR = _Exercise(
    name="q_posterior",
    reference=reverse.q_posterior,
    cases=lambda: [
        _Case((_SCHED, x0, x_t, t), about)
        for t, (x0, x_t), about in _data_cases(_SCHED, 2)
    ],
    returns="a pair (mu_tilde, beta_tilde)",
    outputs=lambda pair: _pair(pair),
    equation=(
        "Eq. 7: μ̃_t = √ᾱ_{t−1} β_t/(1 − ᾱ_t) · x_0 + √α_t (1 − ᾱ_{t−1})/"
        "(1 − ᾱ_t) · x_t and β̃_t = (1 − ᾱ_{t−1})/(1 − ᾱ_t) · β_t"
    ),
    mistakes=[
        _Mistake(
            "returns β_t as the variance; the posterior's variance is "
            "β̃_t = (1 − ᾱ_{t−1})/(1 − ᾱ_t) · β_t",
            lambda s, x0, x_t, t: _posterior_variant(
                s, x0, x_t, t, variance="beta"
            ),
        ),
        _Mistake(
            "returns the standard deviation √β̃_t; q_posterior returns the "
            "variance β̃_t",
            lambda s, x0, x_t, t: _posterior_variant(
                s, x0, x_t, t, variance="std"
            ),
        ),
        _Mistake(
            "uses ᾱ_t where ᾱ_{t−1} belongs: alpha_bar[t - 1] is ᾱ_{t−1}",
            lambda s, x0, x_t, t: _posterior_variant(s, x0, x_t, t, shift=1),
        ),
        _Mistake(
            "uses ᾱ_{t−2} where ᾱ_{t−1} belongs: with index = t, "
            "alpha_bar[t - 1] is ᾱ_{t−1}",
            lambda s, x0, x_t, t: _posterior_variant(s, x0, x_t, t, shift=-1),
        ),
        _Mistake(
            "uses ᾱ_{t−1} and α_t without square roots in the mean; "
            "the coefficients have √ᾱ_{t−1} and √α_t",
            lambda s, x0, x_t, t: _posterior_variant(
                s, x0, x_t, t, sqrt=False
            ),
        ),
        _Mistake(
            "swaps the two coefficients: x_0's carries β_t, x_t's carries "
            "(1 − ᾱ_{t−1})",
            lambda s, x0, x_t, t: _posterior_variant(s, x0, x_t, t, swap=True),
        ),
    ],
)


def check_q_posterior(fn: Callable) -> Feedback:
    """Check ``fn(sched, x0, x_t, t) -> (mu_tilde, beta_tilde)``, Eqs. 6–7."""
    return _check(_Q_POSTERIOR, fn)


def _mu_variant(s, x_t, t, eps, *, scale, coef, sign=1, shift=0):
    t = t + shift
    return _coef(scale(s), t, x_t) * (
        x_t - sign * _coef(coef(s), t, x_t) * eps
    )


def _eps_coef(s):
    return s.beta / (1 - s.alpha_bar).sqrt()


def _rsqrt_a(s):
    return s.alpha.rsqrt()


_MU_MISTAKES = [
    _Mistake(
        "forgets the factor 1/√α_t in front",
        lambda s, x, t, e: _mu_variant(
            s, x, t, e, scale=lambda s: s.alpha * 0 + 1, coef=_eps_coef
        ),
    ),
    _Mistake(
        "divides by √ᾱ_t; the factor is 1/√α_t (one step, not the product)",
        lambda s, x, t, e: _mu_variant(
            s, x, t, e, scale=_rsqrt_ab, coef=_eps_coef
        ),
    ),
    _Mistake(
        "divides β_t by (1 − ᾱ_t); the coefficient of ε is β_t/√(1 − ᾱ_t)",
        lambda s, x, t, e: _mu_variant(
            s,
            x,
            t,
            e,
            scale=_rsqrt_a,
            coef=lambda s: s.beta / (1 - s.alpha_bar),
        ),
    ),
    _Mistake(
        "has a missing √α_t or a wrong sign: μ_θ = 1/√α_t · (x_t − "
        "β_t/√(1 − ᾱ_t) · ε_θ)",
        lambda s, x, t, e: _mu_variant(
            s, x, t, e, scale=_rsqrt_a, coef=_eps_coef, sign=-1
        ),
    ),
    _Mistake(
        "multiplies by √α_t; the factor is 1/√α_t",
        lambda s, x, t, e: _mu_variant(
            s, x, t, e, scale=lambda s: s.alpha.sqrt(), coef=_eps_coef
        ),
    ),
    _Mistake(
        "uses the schedule one step early (t − 1): alpha[t], beta[t] and "
        "alpha_bar[t] already are α_t, β_t, ᾱ_t",
        lambda s, x, t, e: _mu_variant(
            s, x, t, e, scale=_rsqrt_a, coef=_eps_coef, shift=-1
        ),
    ),
]

_MU_THETA = _Exercise(
    name="mu_theta",
    reference=reverse.mu_theta,
    cases=_sched_data_cases(2),
    equation="Eq. 11: μ_θ = 1/√α_t · (x_t − β_t/√(1 − ᾱ_t) · ε_θ)",
    mistakes=_MU_MISTAKES,
)


def check_mu_theta(fn: Callable) -> Feedback:
    """Check ``fn(sched, x_t, t, eps_pred) -> mean``, Ho et al. Eq. 11."""
    return _check(_MU_THETA, fn)


def _step_reference(sched, x_t, t, eps, z):
    return reverse.ddpm_step(sched, x_t, t, eps, variance="beta", noise=z)


def _step_variant(s, x_t, t, eps, z, *, sigma, zero_at_1=True, mean=None):
    mu = (mean or reverse.mu_theta)(s, x_t, t, eps)
    if zero_at_1:
        z = torch.where(append_dims(t > 1, x_t.ndim), z, 0)
    return mu + _coef(sigma(s), t, x_t) * z


def _beta_tilde_all(s):
    ab = s.alpha_bar
    prev = torch.cat([ab[:1], ab[:-1]])  # index t → ᾱ_{t−1}
    return (1 - prev) / (1 - ab).clamp(min=1e-300) * s.beta


_DDPM_STEP = _Exercise(
    name="ddpm_step",
    reference=_step_reference,
    cases=lambda: [
        _Case((_SCHED, x_t, t, eps, z), about)
        for t, (x_t, eps, z), about in _data_cases(_SCHED, 3)
    ],
    equation=(
        "Algorithm 2: x_{t−1} = μ_θ(x_t, t) + σ_t z with σ_t = √β_t, and "
        "z = 0 when t = 1"
    ),
    mistakes=[
        _Mistake(
            "adds noise at t = 1; Algorithm 2 uses z = 0 in the last step, "
            "so the sample ends on the mean",
            lambda s, x, t, e, z: _step_variant(
                s, x, t, e, z, sigma=lambda s: s.beta.sqrt(), zero_at_1=False
            ),
        ),
        _Mistake(
            "multiplies z by β_t, the variance; σ_t = √β_t is the standard "
            "deviation",
            lambda s, x, t, e, z: _step_variant(
                s, x, t, e, z, sigma=lambda s: s.beta
            ),
        ),
        _Mistake(
            "uses σ_t² = β̃_t; this exercise asks for σ_t² = β_t (both are "
            "valid choices, Ho et al. §3.2)",
            lambda s, x, t, e, z: _step_variant(
                s, x, t, e, z, sigma=lambda s: _beta_tilde_all(s).sqrt()
            ),
        ),
    ]
    + [
        _Mistake(
            f"computes the mean wrongly: it {m.hint}",
            lambda s, x, t, e, z, m=m: _step_variant(
                s,
                x,
                t,
                e,
                z,
                sigma=lambda s: s.beta.sqrt(),
                mean=m.fn,
            ),
        )
        for m in _MU_MISTAKES
    ],
)


def check_ddpm_step(fn: Callable) -> Feedback:
    """Check ``fn(sched, x_t, t, eps_pred, z) -> x_prev`` with σ_t² = β_t,
    Ho et al. (2020) Algorithm 2, lines 3–4."""
    return _check(_DDPM_STEP, fn)


# --------------------------------------------------------------------------
# The objective


def _probe_model(x_t: Tensor, t: Tensor) -> Tensor:
    """A fixed stand-in network: depends on both x_t and t."""
    return 0.5 * x_t + append_dims(t.to(x_t.dtype) / 1000, x_t.ndim)


def _loss_reference(sched, model, x0, t, eps):
    return loss_simple(sched, model, x0, t=t, eps=eps)


def _loss_variant(
    s, model, x0, t, eps, *, x_in=None, target=None, reduce="mean", t_in=None
):
    x_t = forward.q_sample(s, x0, t, eps)
    out = model(x_in(x0, x_t) if x_in else x_t, t if t_in is None else t_in(t))
    err = ((target(x0, eps) if target else eps) - out).square()
    return err.sum() if reduce == "sum" else err.mean()


_LOSS = _Exercise(
    name="loss_simple",
    reference=_loss_reference,
    cases=lambda: [
        _Case((_SCHED, _probe_model, x0, t, eps), about)
        for t, (x0, eps), about in _data_cases(_SCHED, 2)
    ],
    equation="Eq. 14: mean of ‖ε − ε_θ(√ᾱ_t x_0 + √(1 − ᾱ_t) ε, t)‖²",
    mistakes=[
        _Mistake(
            "feeds x_0 to the model; it must see the noisy x_t = "
            "√ᾱ_t x_0 + √(1 − ᾱ_t) ε",
            lambda s, m, x0, t, e: _loss_variant(
                s, m, x0, t, e, x_in=lambda x0, x_t: x0
            ),
        ),
        _Mistake(
            "compares the output with x_0; for ε-prediction the target is "
            "the noise ε",
            lambda s, m, x0, t, e: _loss_variant(
                s, m, x0, t, e, target=lambda x0, e: x0
            ),
        ),
        _Mistake(
            "sums the squared errors; L_simple is their mean (a sum ties "
            "the loss scale to the batch and image size)",
            lambda s, m, x0, t, e: _loss_variant(s, m, x0, t, e, reduce="sum"),
        ),
        _Mistake(
            "passes t − 1 to the model; ddpm_lib's networks take the "
            "paper's 1-based t",
            lambda s, m, x0, t, e: _loss_variant(
                s, m, x0, t, e, t_in=lambda t: t - 1
            ),
        ),
        _Mistake(
            "noises x_0 with the variance (1 − ᾱ_t); q_sample scales ε by "
            "the standard deviation √(1 − ᾱ_t)",
            lambda s, m, x0, t, e: (
                (
                    e
                    - m(
                        _q_variant(
                            s,
                            x0,
                            t,
                            e,
                            mean=_sqrt_ab,
                            std=lambda s: 1 - s.alpha_bar,
                        ),
                        t,
                    )
                )
                .square()
                .mean()
            ),
        ),
    ],
    returns="a single number (a 0-dim tensor)",
)


def check_loss_simple(fn: Callable) -> Feedback:
    """Check ``fn(sched, model, x0, t, eps) -> loss`` (a scalar tensor),
    L_simple of Ho et al. (2020) Eq. 14 / Algorithm 1."""
    return _check(_LOSS, fn)


def _kl_cases():
    g = _gen(11)
    cases = []
    for dtype, shape in ((torch.float64, (5,)), (torch.float32, (2, 3))):
        m1, m2 = (torch.randn(shape, generator=g, dtype=dtype) for _ in "12")
        v1, v2 = (
            torch.rand(shape, generator=g, dtype=dtype) + 0.1 for _ in "12"
        )
        cases.append(_Case((m1, v1, m2, v2), f"shape {shape}"))
    return cases


_NORMAL_KL = _Exercise(
    name="normal_kl",
    reference=bound.normal_kl,
    cases=_kl_cases,
    equation="KL = ½ (log(v₂/v₁) + (v₁ + (m₁ − m₂)²)/v₂ − 1)",
    mistakes=[
        _Mistake(
            "treats the variances as standard deviations; the arguments "
            "are variances v = σ²",
            lambda m1, v1, m2, v2: bound.normal_kl(m1, v1**2, m2, v2**2),
        ),
        _Mistake(
            "computes KL(q ‖ p) instead of KL(p ‖ q); the KL divergence is "
            "not symmetric",
            lambda m1, v1, m2, v2: bound.normal_kl(m2, v2, m1, v1),
        ),
        _Mistake(
            "forgets the factor ½",
            lambda m1, v1, m2, v2: 2 * bound.normal_kl(m1, v1, m2, v2),
        ),
    ],
)


def check_normal_kl(fn: Callable) -> Feedback:
    """Check ``fn(mean1, var1, mean2, var2) -> KL`` per element, in nats."""
    return _check(_NORMAL_KL, fn)


# --------------------------------------------------------------------------
# The network's inputs and guidance


def _embedding_variant(t, dim, *, order="sin-cos", divisor=None):
    half = dim // 2
    i = torch.arange(half, dtype=torch.float32)
    freqs = torch.exp(-math.log(10_000.0) * i / (divisor or (half - 1)))
    angles = t.float()[:, None] * freqs[None, :]
    if order == "cos-sin":
        return torch.cat([angles.cos(), angles.sin()], dim=1)
    if order == "interleaved":
        return torch.stack([angles.sin(), angles.cos()], dim=2).flatten(1)
    return torch.cat([angles.sin(), angles.cos()], dim=1)


_EMBEDDING = _Exercise(
    name="timestep_embedding",
    reference=timestep_embedding,
    cases=lambda: [
        _Case((torch.tensor([1, 2, 50, 999, 1000]), 8), "t = 1..1000, dim 8"),
        _Case((torch.arange(1, 33), 32), "t = 1..32, dim 32"),
    ],
    equation=(
        "[sin(t·ω_i) | cos(t·ω_i)], ω_i = 10000^(−i/(half − 1)), "
        "halves concatenated"
    ),
    returns="a tensor of shape (B, dim)",
    mistakes=[
        _Mistake(
            "has the sin and cos halves swapped; the DDPM code puts the sin "
            "half first: [sin(t·ω) | cos(t·ω)]",
            lambda t, d: _embedding_variant(t, d, order="cos-sin"),
        ),
        _Mistake(
            "interleaves sin and cos as the Transformer paper does; the "
            "DDPM code concatenates the two halves [sin | cos]",
            lambda t, d: _embedding_variant(t, d, order="interleaved"),
        ),
        _Mistake(
            "spaces the frequencies with i/half; the DDPM code uses "
            "i/(half − 1), so the last frequency is exactly 1/10000",
            lambda t, d: _embedding_variant(t, d, divisor=d // 2),
        ),
    ],
)


def check_timestep_embedding(fn: Callable[[Tensor, int], Tensor]) -> Feedback:
    """Check ``fn(t, dim) -> (B, dim)`` sinusoidal embedding (even dim)."""
    return _check(_EMBEDDING, fn)


def _guidance_cases():
    g = _gen(5)
    cond, uncond = (torch.randn(3, 2, 4, 4, generator=g) for _ in "cu")
    return [_Case((cond, uncond, w), f"w = {w}") for w in (0.0, 0.5, 3.0)]


_GUIDANCE = _Exercise(
    name="guided_eps",
    reference=lambda c, u, w: guided_eps(c, u, w=w),
    cases=_guidance_cases,
    equation="Ho & Salimans Eq. 6: ε̃ = (1 + w) · ε(x_t, c) − w · ε(x_t)",
    mistakes=[
        _Mistake(
            "applies the guidance weight to the wrong term: ε̃ = (1 + w) · "
            "ε(x_t, c) − w · ε(x_t), the conditional prediction gets 1 + w",
            lambda c, u, w: (1 + w) * u - w * c,
        ),
        _Mistake(
            "uses w as the guidance scale s = 1 + w (diffusers' "
            "convention); here ε̃ = ε(x_t) + (1 + w)(ε(x_t, c) − ε(x_t))",
            lambda c, u, w: u + w * (c - u),
        ),
    ],
)


def check_guided_eps(fn: Callable) -> Feedback:
    """Check ``fn(eps_cond, eps_uncond, w) -> eps``, classifier-free
    guidance, Ho & Salimans (2022) Eq. 6."""
    return _check(_GUIDANCE, fn)
