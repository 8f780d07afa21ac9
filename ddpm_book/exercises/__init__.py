"""Checks for the book's coding exercises: they grade and name the mistake.

Each ``check_*`` function calls a learner's function on several inputs
(steps t = 1, T and in between; toy data and image batches; float32 and
float64) and compares the result with the library's function. When the
answer is wrong it looks for the classic mistakes — the variance where the
standard deviation belongs, ᾱ_{t−1} for ᾱ_t, a cosine schedule without its
square, noise added at t = 1, … — and says in words which one it found.
Every mistake is the library's function with its inputs or outputs
perturbed (see :mod:`ddpm_book.exercises.perturb`), never a second copy of
a formula.

A check never raises: it returns a :class:`Feedback`, which a notebook
shows as one line, so "Run all" carries on past an unfinished exercise.

The hidden test that grades an assignment is stricter:
``assert_passes(check_q_sample, q_sample)`` runs ``check_q_sample(q_sample,
strict=True)``, which adds cases the visible check does not show (other
seeds, batch sizes, data ranks, dtypes, schedules) and refuses the library
function that is the answer (``dl.q_sample`` here) while the learner's
function runs; on failure it raises an AssertionError with the message.

The engine is in :mod:`~ddpm_book.exercises.grading`; the checks are in
one module per chapter.
"""

import sys

from ddpm_book.exercises import training as _training
from ddpm_book.exercises.evaluation import check_frechet_distance
from ddpm_book.exercises.forward import check_q_sample, check_x0_from_eps
from ddpm_book.exercises.grading import Exercise, Feedback, assert_passes
from ddpm_book.exercises.network import (
    check_add_time,
    check_guided_eps,
    check_timestep_embedding,
)
from ddpm_book.exercises.objective import check_loss_simple, check_normal_kl
from ddpm_book.exercises.posterior import (
    check_ddpm_step,
    check_mu_theta,
    check_q_posterior,
)
from ddpm_book.exercises.sampling import check_sampling_loop
from ddpm_book.exercises.schedules import (
    check_alpha_bar,
    check_cosine_alpha_bar,
)
from ddpm_book.exercises.training import check_training_loss

__all__ = [
    "Feedback",
    "answer_names",
    "assert_passes",
    "check_add_time",
    "check_alpha_bar",
    "check_cosine_alpha_bar",
    "check_ddpm_step",
    "check_frechet_distance",
    "check_guided_eps",
    "check_loss_simple",
    "check_mu_theta",
    "check_normal_kl",
    "check_q_posterior",
    "check_q_sample",
    "check_sampling_loop",
    "check_timestep_embedding",
    "check_training_loss",
    "check_x0_from_eps",
    "coding_exercises",
]


def coding_exercises() -> dict[str, Exercise]:
    """Each check built on an :class:`Exercise`, by the check's name
    (``"check_q_sample"``); the training check has none."""
    found = {}
    for name, module in list(sys.modules.items()):
        if not name.startswith(f"{__name__}."):
            continue
        for value in vars(module).values():
            if isinstance(value, Exercise):
                check = f"check_{value.name}"
                found[
                    "check_sampling_loop" if value.name == "sample" else check
                ] = value
    return found


def answer_names() -> frozenset[str]:
    """The names of every function or class whose source is, or gives
    away, an exercise's answer: each exercise's ``answer_functions`` and
    ``reveals`` (their last dotted part, e.g. ``"q_sample"``,
    ``"ResBlock"``). A student copy displays none of them."""
    paths = [*_training.ANSWER_FUNCTIONS, *_training.REVEALS]
    for exercise in coding_exercises().values():
        paths += [*exercise.answer_functions, *exercise.reveals]
    return frozenset(path.rpartition(".")[2] for path in paths)
