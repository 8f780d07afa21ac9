"""The grading engine: run a learner's function, compare, name the mistake.

An :class:`Exercise` names a reference (a function of ``ddpm_lib``), the
inputs to try (a list of :class:`Case`) and the classic mistakes (each a
:class:`Mistake` built from the library's functions by perturbing their
inputs or outputs). :func:`grade` runs the learner's function on every
case and returns a :class:`Feedback`; it never raises. This module holds
no formula of its own.

The visible check in a notebook is ``grade(exercise, fn)``. The hidden
test that grades an assignment is stricter, ``grade(exercise, fn,
strict=True)`` (in a notebook ``ex.assert_passes(ex.check_q_sample,
q_sample)``): it adds the exercise's hidden cases (other seeds, batch
sizes, data ranks, dtypes and schedules), and while the learner's function
runs, the library functions that *are* the answer (the exercise's
``answer_functions``) are tripwires, so calling them fails with a message.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

import torch
from torch import Tensor

import ddpm_lib as dl

__all__ = [
    "Case",
    "Delegated",
    "Exercise",
    "Feedback",
    "Mistake",
    "assert_passes",
    "data_cases",
    "default_schedule",
    "generator",
    "grade",
    "hidden_schedule",
    "pair",
    "refusing",
    "schedule_cases",
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
class Case:
    """One call of the learner's function: its arguments, and a few words
    about them for messages."""

    args: tuple
    about: str  # for messages, e.g. "t = [1, 2, ...], data (6, 2) float64"


@dataclass(frozen=True)
class Mistake:
    """A classic mistake: what the learner reads after "your <name>", and
    a function with the exercise's signature that makes the mistake (built
    from the library's functions)."""

    hint: str
    fn: Callable


@dataclass(frozen=True)
class Exercise:
    """A coding exercise: the reference (a library function), the cases,
    the equation to compare with, the mistakes to look for, what it
    returns and how to turn a return value into a list of tensors; for the
    strict (hidden) check, more cases and the library functions that are
    the answer, which the learner's function may not call."""

    name: str
    reference: Callable
    cases: Callable[[], list[Case]]
    equation: str  # reminder shown with an unrecognised error
    mistakes: Sequence[Mistake] = ()
    returns: str = "a tensor of the data's shape"
    outputs: Callable[[object], list[Tensor]] = field(default=lambda y: [y])
    # Cases only the strict check runs: other seeds, shapes and dtypes.
    hidden_cases: Callable[[], list[Case]] = field(default=lambda: [])
    # Library functions that are the answer, refused by the strict check:
    # a name in ddpm_lib ("q_sample") or a dotted path to a function.
    answer_functions: tuple[str, ...] = ()
    # Other functions whose source gives the answer away (a loop of the
    # same shape, a formula it contains): a student copy must not display
    # them, though the learner's function may call them.
    reveals: tuple[str, ...] = ()


class Delegated(Exception):
    """Raised by a tripwire: the learner's function called a library
    function that is the exercise's answer."""


def _answer_label(path: str) -> str:
    return path if "." in path else f"dl.{path}"


def _resolve(path: str) -> Callable:
    module, _, attr = path.rpartition(".")
    return getattr(importlib.import_module(module or "ddpm_lib"), attr)


def _refusal(label: str) -> str:
    return (
        f"calls {label}, the library's answer; write the formula yourself "
        "(other helpers of the library are fine)"
    )


def _tripwire(original: Callable, label: str, state: dict) -> Callable:
    """Stands in for ``original``: calls it, except while the learner's
    function runs, when it records the call and raises."""

    @functools.wraps(original)
    def tripwire(*args, **kwargs):
        if not state["armed"]:  # the reference or a mistake calls it
            return original(*args, **kwargs)
        state["tripped"].append(label)
        raise Delegated(_refusal(label))

    return tripwire


@contextlib.contextmanager
def refusing(paths: Sequence[str]) -> Iterator[Callable[[Callable], Callable]]:
    """Turn the library functions named by ``paths`` into tripwires.

    Every module that holds one of them (``ddpm_lib``, the module that
    defines it, any module that imported the name, a notebook's
    ``__main__``) gets the tripwire instead, until the block ends, even
    on error. The block receives ``guard``: ``guard(fn)`` is ``fn`` with
    the tripwires armed while it runs; it raises :class:`Delegated` if
    ``fn`` called one of them, even when ``fn`` caught the error.

    Args:
        paths: Names in ``ddpm_lib`` (``"q_sample"``) or dotted paths
            (``"ddpm_lib.evaluation.metrics.frechet_distance"``).
    """
    state = {"armed": False, "tripped": []}
    wires = {}  # id(original) -> (original, tripwire)
    for path in paths:
        original = _resolve(path)
        label = _answer_label(path)
        wires[id(original)] = (original, _tripwire(original, label, state))
    patched = []  # (namespace, name, original)
    try:
        for module in list(sys.modules.values()):
            try:
                namespace = vars(module)
            except TypeError:  # None, or an object without __dict__
                continue
            for attr, value in list(namespace.items()):
                found = wires.get(id(value))
                if found is not None and found[0] is value:
                    namespace[attr] = found[1]
                    patched.append((namespace, attr, value))

        def guard(fn: Callable) -> Callable:
            found = wires.get(id(getattr(fn, "func", fn)))
            if found is not None and found[0] is fn:  # the answer itself
                fn = found[1]
            elif found is not None:  # functools.partial of the answer
                fn = functools.partial(found[1], *fn.args, **fn.keywords)

            def guarded(*args, **kwargs):
                state["armed"], state["tripped"] = True, []
                try:
                    value = fn(*args, **kwargs)
                except Exception:
                    if not state["tripped"]:
                        raise
                finally:
                    state["armed"] = False
                if state["tripped"]:
                    tripped = state["tripped"][0]
                    raise Delegated(_refusal(tripped))
                return value

            return guarded

        yield guard
    finally:
        for namespace, attr, value in reversed(patched):
            namespace[attr] = value


def _describe_t(t: Tensor) -> str:
    values = t.tolist()
    return f"t = {values}" if len(values) <= 6 else f"{len(values)} steps"


def _close(got: Tensor, want: Tensor, equal_nan: bool = False) -> bool:
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
        got.double(), want.double(), rtol=rtol, atol=atol, equal_nan=equal_nan
    )


def _as_outputs(exercise: Exercise, value) -> list[Tensor] | str:
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


def _all_close(
    got: list[Tensor], want: list[Tensor], equal_nan: bool = False
) -> bool:
    return all(_close(g, w, equal_nan) for g, w in zip(got, want, strict=True))


def _explains(mistake: Mistake, exercise: Exercise, cases, answers) -> bool:
    """Does ``mistake`` reproduce the learner's answer on every case where
    it can be computed (and on at least one)?"""
    computed = 0
    for case, got in zip(cases, answers, strict=True):
        try:
            wrong = exercise.outputs(mistake.fn(*case.args))
        except Exception:  # the mistake does not apply to this input
            continue
        # A mistake may give NaN where the learner's code does too, e.g. 0/0
        # from the schedule read one step early at t = 1.
        if len(wrong) != len(got) or not _all_close(got, wrong, True):
            return False
        computed += 1
    return computed > 0


def grade(
    exercise: Exercise, fn: Callable, *, strict: bool = False
) -> Feedback:
    """Run ``fn`` on the exercise's cases and say what is right or wrong.

    Never raises: a learner's exception, a missing return, a wrong type or
    shape all become a :class:`Feedback` with a message.

    Args:
        exercise: The exercise.
        fn: The learner's function.
        strict: The hidden test's check: add the exercise's hidden cases
            and refuse its ``answer_functions`` (see :func:`refusing`).
    """
    if not callable(fn):
        return Feedback(
            exercise.name, False, f"expected a function; got {fn!r}"
        )
    if not strict:
        return _grade(exercise, fn, exercise.cases())
    with refusing(exercise.answer_functions) as guard:
        cases = exercise.cases() + exercise.hidden_cases()
        return _grade(exercise, guard(fn), cases)


def assert_passes(check: Callable[..., Feedback], fn: Callable) -> None:
    """The hidden test of an exercise: ``check(fn, strict=True)``, raising
    an AssertionError that says what failed.

    Example, in a notebook's hidden test cell::

        ex.assert_passes(ex.check_q_sample, q_sample)
    """
    feedback = check(fn, strict=True)
    if not feedback.passed:
        raise AssertionError(str(feedback))


def _grade(exercise: Exercise, fn: Callable, cases: list[Case]) -> Feedback:
    name = exercise.name
    answers, failures, notes = [], [], set()
    for case in cases:
        try:
            value = fn(*case.args)
        except Delegated as error:
            return Feedback(name, False, f"your {name} {error}")
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


def pair(value) -> list:
    """The two outputs of a function that returns a pair, e.g. (μ̃, β̃)."""
    if not isinstance(value, tuple | list) or len(value) != 2:
        raise TypeError("expected a pair")
    return list(value)


def generator(seed: int) -> torch.Generator:
    """A seeded CPU random generator, so that every check is repeatable."""
    return torch.Generator().manual_seed(seed)


def data_cases(
    sched: dl.Schedule,
    n_tensors: int,
    *,
    seed: int = 0,
    hidden: bool = False,
) -> list[tuple[Tensor, tuple[Tensor, ...], str]]:
    """(t, tensors, about) for toy points and images, float64 and float32.

    With ``hidden``, the strict check's layouts instead: other batch sizes
    (one example among them), data of rank 3 and 5, steps spread over the
    whole schedule, whatever its T.
    """
    T = sched.T  # noqa: N806
    if hidden:
        layouts = [
            (torch.tensor([T, 1, 7, T // 2, 3]), (3,), torch.float32),
            (torch.tensor([2, T - 3]), (2, 3, 2, 2), torch.float64),
            (torch.tensor([T // 3]), (4, 6), torch.float64),
            (torch.tensor([1, 5, 60, 9, T, 17, 2]), (2, 3, 3), torch.float32),
        ]
    else:
        layouts = [
            (torch.tensor([1, 2, 10, 100, 500, T]), (2,), torch.float64),
            (torch.tensor([3, 250, T - 1, 1]), (1, 5, 5), torch.float32),
            (torch.tensor([700, 2, 1]), (3, 4, 4), torch.float64),
        ]
    cases = []
    for i, (t, shape, dtype) in enumerate(layouts):
        g = generator(seed + i)
        tensors = tuple(
            torch.randn((len(t), *shape), generator=g, dtype=dtype)
            for _ in range(n_tensors)
        )
        about = (
            f"{_describe_t(t)}, data of shape {(len(t), *shape)} "
            f"in {str(dtype).removeprefix('torch.')}"
        )
        if hidden:
            about += f", a schedule with T = {T}"
        cases.append((t, tensors, about))
    return cases


@functools.cache
def default_schedule() -> dl.Schedule:
    """The linear schedule, T = 1000, that the checks use; built on first
    use, not at import."""
    return dl.linear_schedule(1000)


@functools.cache
def hidden_schedule() -> dl.Schedule:
    """The schedule of the strict check's cases: another T and β_T, so
    that an answer tied to T = 1000 fails."""
    return dl.linear_schedule(200, beta_T=0.05)


def _sched_first(sched, t, first, *rest) -> tuple:
    return (sched, first, t, *rest)


def schedule_cases(
    n_tensors: int,
    arrange: Callable[..., tuple] = _sched_first,
    *,
    hidden: bool = False,
) -> Callable[[], list[Case]]:
    """Cases for ``fn(sched, ...)`` on the default schedule.

    Args:
        n_tensors: How many random tensors of the data's shape to draw.
        arrange: ``arrange(sched, t, *tensors)`` puts the arguments in the
            order the exercise's function takes them; by default
            ``(sched, first tensor, t, other tensors...)``.
        hidden: The strict check's cases instead: :func:`hidden_schedule`,
            other seeds and the hidden layouts of :func:`data_cases`.
    """

    def cases() -> list[Case]:
        sched = hidden_schedule() if hidden else default_schedule()
        seed = 100 if hidden else 0
        return [
            Case(arrange(sched, t, *tensors), about)
            for t, tensors, about in data_cases(
                sched, n_tensors, seed=seed, hidden=hidden
            )
        ]

    return cases
