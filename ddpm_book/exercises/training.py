"""Check for the training chapter: one step's loss with its random draws.

The learner writes ``training_loss(sched, model, x0, generator)``: draw
t ~ Uniform{1..T} and ε ~ N(0, I) with ``generator``, noise ``x0`` to
x_t, and return L_simple on the batch (Ho et al. Algorithm 1, lines 3–5).
Its draws cannot be compared with the library's, so the check hands it a
*spy* network that records every (x_t, t) it is shown and answers with
the noise implied by x_t (from the library's ``eps_from_x0``) plus a
known offset, so a correct loss is the same number whatever was drawn.
From what the spy saw, the library's ``loss_simple`` with that t and
that ε is the loss the learner must return; the classic mistakes are
the same call with its inputs or outputs perturbed.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

import ddpm_lib as dl
from ddpm_book.exercises.grading import (
    Delegated,
    Feedback,
    default_schedule,
    generator,
    refusing,
)

__all__ = ["check_training_loss"]

NAME = "training_loss"
# Calls per check and their batch: 25,600 draws of t, so a correct draw
# misses t = 1 or t = T with probability about 2 (1 − 1/1000)^25600 ≈ 1e-11.
CALLS = 400
BATCH = 64
# Each call's data (shape after the batch, dtype), in turn; the strict
# check adds toy points and a rank-5 batch, and other seeds.
LAYOUTS = (((1, 4, 4), torch.float64),)
HIDDEN_LAYOUTS = (
    ((1, 4, 4), torch.float64),
    ((2,), torch.float32),
    ((2, 3, 2, 2), torch.float64),
)
HIDDEN_SEED = 10_000
# The library functions that are the answer, refused by the strict check.
ANSWER_FUNCTIONS = ("loss_simple",)
# Whose source gives the answer away: it draws t and ε as the answer must.
REVEALS = ("ddpm_lib.training.step.draw_batch",)
DRAWS_FROM_ZERO = (
    "draws t from 0…T−1; the paper's steps are 1..T: "
    "torch.randint(1, T + 1, (B,), generator=generator)"
)
# What the check recognises, in the words of its messages (for the
# instructors' page; tests/test_exercises.py makes each mistake).
RECOGNISED = (
    "draws t from 0…T−1, or above T, or never reaches t = 1 or t = T",
    "draws one t for the whole batch",
    "passes t as floats",
    "calls the model more than once",
    "feeds x_0 to the model instead of x_t",
    "compares the output with x_0 instead of ε",
    "sums the squared errors instead of averaging them",
    "averages over the batch only, or over part of the axes",
    "draws a fresh ε for the target",
    "ignores the generator, so the same seed draws differently",
)
NOT_WRITTEN = (
    "not written yet: replace `raise NotImplementedError()` with your "
    "code, then run this cell again."
)


class Spy:
    """A stand-in network that records its inputs and returns the noise
    implied by x_t, plus a fixed offset, so the loss has a known value."""

    def __init__(self, sched: dl.Schedule, x0: Tensor) -> None:
        self.sched, self.x0 = sched, x0
        self.offset = 0.1 * torch.linspace(-1, 1, x0[0].numel()).reshape(
            x0.shape[1:]
        ).to(x0)  # fmt: skip
        self.seen: list[tuple[Tensor, Tensor]] = []

    def implied_eps(self, x_t: Tensor, t: Tensor) -> Tensor:
        """ε with x_t = √ᾱ_t x_0 + √(1 − ᾱ_t) ε (t clamped into 1..T)."""
        t = t.clamp(1, self.sched.T).expand(x_t.shape[0])
        return dl.eps_from_x0(self.sched, x_t, t, self.x0)

    def __call__(self, x_t: Tensor, t) -> Tensor:
        t = torch.as_tensor(t)
        self.seen.append((x_t.detach().clone(), t.detach().clone()))
        return self.implied_eps(x_t, t) + self.offset


def _reference(spy: Spy, x_t: Tensor, t: Tensor, **kwargs) -> Tensor:
    """The library's L_simple for the draws the spy saw."""
    t = t.expand(x_t.shape[0])
    eps = spy.implied_eps(x_t, t)
    return dl.loss_simple(spy.sched, spy, spy.x0, t=t, eps=eps, **kwargs)


def _close(a: Tensor, b: Tensor) -> bool:
    return torch.allclose(a.double(), b.double(), rtol=1e-4, atol=1e-8)


def _one_call(
    fn, sched, seed, layout=LAYOUTS[0]
) -> tuple[Spy, object] | Feedback:
    """Call ``fn`` once on a fresh spy; a Feedback when it fails."""
    g = generator(seed)
    shape, dtype = layout
    x0 = torch.rand((BATCH, *shape), generator=g, dtype=dtype)
    spy = Spy(sched, 2 * x0 - 1)
    try:
        value = fn(sched, spy, spy.x0, generator(1000 + seed))
    except Delegated as error:
        return Feedback(NAME, False, f"your {NAME} {error}")
    except NotImplementedError:
        return Feedback(NAME, False, NOT_WRITTEN, unfinished=True)
    except Exception as error:  # a learner's bug: report, never raise
        if "1 <= t <= T" in str(error) and "[0," in str(error):
            return Feedback(NAME, False, f"your {NAME} {DRAWS_FROM_ZERO}")
        message = f"raised {type(error).__name__}: {error}"
        return Feedback(NAME, False, message)
    return spy, value


def _grade_call(spy: Spy, value) -> str | None:
    """What is wrong with one call's answer (None: nothing)."""
    if not isinstance(value, Tensor):
        if value is None:
            return "returns None; did you forget the `return` statement?"
        return f"returns a {type(value).__name__}; expected a torch.Tensor"
    if len(spy.seen) != 1:
        return (
            f"calls the model {len(spy.seen)} times; one call on the "
            "noisy batch x_t is all a step needs"
        )
    x_t, t = spy.seen[0]
    if t.is_floating_point():
        return "passes t as floats; draw integer steps with torch.randint"
    if t.numel() == 1 and BATCH > 1:
        return (
            "draws one t for the whole batch; draw one step per example, "
            "a tensor of shape (B,)"
        )
    if (t < 1).any():
        return DRAWS_FROM_ZERO
    if (t > spy.sched.T).any():
        return f"draws t above T = {spy.sched.T}; the steps are 1..T"
    if value.shape == x_t.shape[1:] or value.shape == x_t.shape[:1]:
        return (
            f"returns shape {tuple(value.shape)}: it averages over part "
            "of the axes only; L_simple is the mean over the batch and "
            "every coordinate, a single number"
        )
    if value.ndim != 0:
        return (
            f"returns shape {tuple(value.shape)}; expected a single "
            "number (a 0-dim tensor): take the mean"
        )
    if torch.equal(x_t, spy.x0):
        return (
            "feeds x_0 to the model; it must see the noisy x_t = "
            "√ᾱ_t x_0 + √(1 − ᾱ_t) ε"
        )
    want = _reference(spy, x_t, t)
    if _close(value, want):
        return None
    if _close(value, _reference(spy, x_t, t, prediction="x0")):
        return (
            "compares the model's output with x_0; for ε-prediction the "
            "target is the noise ε that made x_t"
        )
    if _close(value, want * x_t.numel()):
        return (
            "sums the squared errors; L_simple is their mean (a sum ties "
            "the loss scale to the batch and image size)"
        )
    if _close(value, want * x_t[0].numel()):
        return (
            "sums over the pixels and averages over the batch only; "
            "L_simple is the mean over every coordinate"
        )
    return "?"


def check_training_loss(fn: Callable, *, strict: bool = False) -> Feedback:
    """Check ``fn(sched, model, x0, generator) -> loss``: one training
    step's L_simple with t ~ Uniform{1..T} and ε ~ N(0, I) drawn from
    ``generator`` (Ho et al. Algorithm 1, lines 3–5).

    With ``strict`` (the hidden test): other seeds, data shapes and
    dtypes, and ``dl.loss_simple`` refused while ``fn`` runs.
    """
    if not callable(fn):
        return Feedback(NAME, False, f"expected a function; got {fn!r}")
    if not strict:
        return _check(fn, LAYOUTS, 0)
    with refusing(ANSWER_FUNCTIONS) as guard:
        return _check(guard(fn), HIDDEN_LAYOUTS, HIDDEN_SEED)


def _check(fn: Callable, layouts, first_seed: int) -> Feedback:
    sched = default_schedule()
    spies, values, unexplained = [], [], 0
    for call in range(CALLS):
        layout = layouts[call % len(layouts)]
        out = _one_call(fn, sched, first_seed + call, layout)
        if isinstance(out, Feedback):
            return out
        spy, value = out
        problem = _grade_call(spy, value)
        if problem == "?":
            unexplained += 1
        elif problem is not None:
            return Feedback(NAME, False, f"your {NAME} {problem}")
        spies.append(spy)
        values.append(value)
    if unexplained:
        # The loss of the same draws with an independent noise ε' in the
        # target: E‖ε' − ε_θ‖² = 1 + ‖ε_θ‖² per coordinate, on average.
        fresh = torch.stack(
            [1 + s(*s.seen[0]).double().square().mean() for s in spies]
        ).mean()
        got = torch.stack([v.detach().double() for v in values]).mean()
        if abs(got - fresh) < 0.1 * fresh:
            return Feedback(
                NAME,
                False,
                f"your {NAME} draws a fresh ε for the target; the target "
                "must be the same ε that made x_t",
            )
        return Feedback(
            NAME,
            False,
            f"wrong values on {unexplained} of {CALLS} batches. Compare "
            "with Algorithm 1, line 5: the mean of ‖ε − ε_θ(√ᾱ_t x_0 + "
            "√(1 − ᾱ_t) ε, t)‖², with the same ε in both places",
        )
    t = torch.cat([s.seen[0][1].reshape(-1) for s in spies])
    if t.max() < sched.T:
        return Feedback(
            NAME,
            False,
            f"your {NAME} never draws t = T in {len(t)} draws: the upper "
            "end of torch.randint is excluded, so use randint(1, T + 1)",
        )
    if t.min() > 1:
        return Feedback(
            NAME, False, f"your {NAME} never draws t = 1 in {len(t)} draws"
        )
    # The spy's answer makes the loss the same for every draw, so the
    # draws themselves are compared: the same seed must give the same t.
    again = _one_call(fn, sched, first_seed, layouts[0])
    if isinstance(again, tuple) and not all(
        torch.equal(a, b)
        for a, b in zip(again[0].seen[0], spies[0].seen[0], strict=True)
    ):
        return Feedback(
            NAME,
            False,
            f"your {NAME} draws differently for the same seed: draw "
            "t and ε with generator=generator",
        )
    return Feedback(NAME, True, f"correct on {CALLS} batches; t covers 1..T.")
