"""The hidden tests: stricter than the visible checks.

Every hidden test cell calls ``ex.assert_passes(check, fn)``, which runs
``check(fn, strict=True)``: more cases than the visible check, and the
library function that is the answer refused while the learner's function
runs. The book's own solutions pass; an answer that calls the library's
answer, or that only handles the visible cases, fails with a message.
"""

import math
import re
import sys
import types
from pathlib import Path

import nbformat
import pytest
import torch
import torch.nn.functional as F  # noqa: N812

import ddpm_lib as dl
from ddpm_book import exercises as ex
from ddpm_book.exercises import (
    evaluation,
    forward,
    grading,
    network,
    objective,
    posterior,
    sampling,
    schedules,
    training,
)

ROOT = Path(__file__).resolve().parents[1]
HIDDEN_CELL = re.compile(
    r"### BEGIN HIDDEN TESTS\n"
    r"ex\.assert_passes\(ex\.(check_\w+), (\w+)\)\n"
    r"### END HIDDEN TESTS"
)


def book_exercises() -> list[tuple[str, str, str, dict]]:
    """(chapter, check name, function name, namespace with the book's
    solution) for every hidden test cell in the book."""
    found = []
    for path in sorted((ROOT / "book").glob("*.ipynb")):
        cells = nbformat.read(path, as_version=4).cells
        namespace = {"torch": torch, "dl": dl, "F": F, "math": math}
        for cell in cells:
            if cell.cell_type != "code":
                continue
            if "### BEGIN SOLUTION" in cell.source:
                exec(cell.source, namespace)  # the book's solution
            if "HIDDEN TESTS" in cell.source:
                m = HIDDEN_CELL.fullmatch(cell.source.strip())
                assert m, f"{path.name}: {cell.source}"
                found.append((path.stem, m.group(1), m.group(2), namespace))
    return found


BOOK = book_exercises()
IDS = [f"{chapter}-{name}" for chapter, _, name, _ in BOOK]

# The library functions each exercise refuses, by exercise name.
ANSWERS = {
    value.name: value.answer_functions
    for module in (
        evaluation,
        forward,
        network,
        objective,
        posterior,
        sampling,
        schedules,
    )
    for value in vars(module).values()
    if isinstance(value, grading.Exercise)
}
ANSWERS[training.NAME] = training.ANSWER_FUNCTIONS


def test_every_hidden_cell_uses_the_strict_check():
    assert len(BOOK) == 15
    checks = {check for _, check, _, _ in BOOK}
    checks_of_ex = {n for n in ex.__all__ if n.startswith("check_")}
    assert checks == checks_of_ex
    assert all(ANSWERS.values()), "every exercise names its answer"


@pytest.mark.parametrize("chapter, check, name, namespace", BOOK, ids=IDS)
def test_the_books_solution_passes_the_hidden_check(
    chapter, check, name, namespace
):
    feedback = getattr(ex, check)(namespace[name], strict=True)
    assert feedback.passed and "Note" not in feedback.message, feedback
    ex.assert_passes(getattr(ex, check), namespace[name])


def _resolve(path):
    return grading._resolve(path)


def delegating(path):
    """What a learner writes who calls the library's answer."""
    module, _, attr = path.rpartition(".")
    home = sys.modules[module] if module else dl
    return lambda *args, **kwargs: getattr(home, attr)(*args, **kwargs)


@pytest.mark.parametrize("chapter, check, name, namespace", BOOK, ids=IDS)
def test_an_answer_that_calls_the_library_fails(
    chapter, check, name, namespace
):
    for path in ANSWERS[name]:
        original = _resolve(path)
        fn = delegating(path)
        visible = getattr(ex, check)(fn)
        feedback = getattr(ex, check)(fn, strict=True)
        assert not feedback.passed, feedback
        label = path if "." in path else f"dl.{path}"
        assert f"calls {label}, the library's answer" in feedback.message
        assert "write the formula yourself" in feedback.message
        assert _resolve(path) is original, "the library is restored"
        assert not visible.unfinished
    # The hidden test cell says why, not a bare AssertionError.
    path = ANSWERS[name][0]
    with pytest.raises(AssertionError, match="the library's answer"):
        ex.assert_passes(getattr(ex, check), delegating(path))


def test_the_library_function_itself_is_refused_everywhere_it_lives():
    import ddpm_lib.diffusion.forward as home

    original = dl.q_sample
    learner = types.ModuleType("learner")  # a notebook that imported it
    learner.q_sample = dl.q_sample
    sys.modules["learner"] = learner
    try:
        for fn in (
            dl.q_sample,  # passed as the answer itself
            lambda s, x0, t, e: home.q_sample(s, x0, t, e),
            lambda s, x0, t, e: learner.q_sample(s, x0, t, e),
        ):
            feedback = ex.check_q_sample(fn, strict=True)
            assert "calls dl.q_sample" in feedback.message, feedback
            assert ex.check_q_sample(fn).passed  # the visible check
    finally:
        del sys.modules["learner"]
    assert dl.q_sample is original and home.q_sample is original
    assert learner.q_sample is original


def test_a_caught_tripwire_still_fails_and_errors_restore_the_library():
    def sly(sched, x0, t, eps):
        try:
            return dl.q_sample(sched, x0, t, eps)
        except Exception:
            return forward.dl.q_sample(sched, x0, t, eps)

    assert "calls dl.q_sample" in ex.check_q_sample(sly, strict=True).message
    original = dl.q_sample
    with pytest.raises(RuntimeError), grading.refusing(("q_sample",)):
        assert dl.q_sample is not original
        raise RuntimeError("the block fails")
    assert dl.q_sample is original
    # Other helpers of the library stay allowed, the tripwire only fires
    # inside the learner's function, and the check still never raises.
    with grading.refusing(("q_sample",)) as guard:
        sched, x0 = dl.linear_schedule(10), torch.ones(2, 3)
        t = torch.tensor([1, 10])
        assert dl.q_sample(sched, x0, t, x0).shape == (2, 3)
        assert guard(dl.append_dims)(t, 3).shape == (2, 1, 1)
        with pytest.raises(grading.Delegated):
            guard(lambda: dl.q_sample(sched, x0, t, x0))()


# -- answers fitted to the visible cases ------------------------------------


def q_sample_for_ranks_2_and_4(sched, x0, t, eps):
    # Written for the toy points (B, 2) and images (B, C, H, W) only.
    shape = (-1, 1) if x0.ndim == 2 else (-1, 1, 1, 1)
    alpha_bar_t = sched.alpha_bar[t].to(x0.dtype).view(shape)
    return alpha_bar_t.sqrt() * x0 + (1 - alpha_bar_t).sqrt() * eps


def mu_theta_for_the_linear_schedule(sched, x_t, t, eps_pred):
    sched = dl.linear_schedule(1000)  # the schedule of the visible cases
    alpha_t = dl.coef_at(sched.alpha, t, x_t)
    beta_t = dl.coef_at(sched.beta, t, x_t)
    alpha_bar_t = dl.coef_at(sched.alpha_bar, t, x_t)
    eps_coef = beta_t / (1 - alpha_bar_t).sqrt()
    return (x_t - eps_coef * eps_pred) / alpha_t.sqrt()


def guided_eps_for_images(eps_cond, eps_uncond, w):
    b = eps_cond.shape[0]
    flat = (1 + w) * eps_cond.reshape(b, 2, 4, 4) - w * eps_uncond.reshape(
        b, 2, 4, 4
    )
    return flat.float()


def training_loss_for_images(sched, model, x0, generator):
    b = x0.shape[0]
    t = torch.randint(1, sched.T + 1, (b,), generator=generator)
    eps = torch.randn(x0.shape, generator=generator, dtype=x0.dtype)
    alpha_bar_t = sched.alpha_bar[t].to(x0.dtype).view(-1, 1, 1, 1)
    x_t = alpha_bar_t.sqrt() * x0 + (1 - alpha_bar_t).sqrt() * eps
    return (eps - model(x_t, t)).square().mean()


def embedding_for_dims_8_and_32(t, dim):
    half = 4 if dim == 8 else 16
    freqs = torch.exp(-math.log(10000) * torch.arange(half) / (half - 1))
    angles = t[:, None].float() * freqs
    return torch.cat([angles.sin(), angles.cos()], dim=1)


FITTED = [
    (ex.check_q_sample, q_sample_for_ranks_2_and_4),
    (ex.check_mu_theta, mu_theta_for_the_linear_schedule),
    (ex.check_guided_eps, guided_eps_for_images),
    (ex.check_training_loss, training_loss_for_images),
    (ex.check_timestep_embedding, embedding_for_dims_8_and_32),
]


@pytest.mark.parametrize(
    "check, fn", FITTED, ids=lambda x: getattr(x, "__name__", "")
)
def test_an_answer_fitted_to_the_visible_cases_fails_the_hidden_check(
    check, fn
):
    assert check(fn).passed  # the visible check cannot tell
    feedback = check(fn, strict=True)
    assert not feedback.passed and feedback.message, feedback
    with pytest.raises(AssertionError) as raised:
        ex.assert_passes(check, fn)
    assert str(raised.value) == str(feedback)


def test_the_hidden_cell_raises_with_the_feedback_message():
    chapter, check, name, _ = next(b for b in BOOK if b[2] == "q_sample")
    cell = next(
        c.source
        for c in nbformat.read(ROOT / "book" / f"{chapter}.ipynb", 4).cells
        if "HIDDEN TESTS" in c.source and name in c.source
    )
    namespace = {"ex": ex, name: q_sample_for_ranks_2_and_4}
    with pytest.raises(AssertionError) as raised:
        exec(cell, namespace)
    feedback = getattr(ex, check)(q_sample_for_ranks_2_and_4, strict=True)
    assert str(raised.value) == str(feedback)
    assert "q_sample" in str(raised.value) and "shape" in str(raised.value)
