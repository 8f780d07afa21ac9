"""The exercise kit: references pass, stubs are "unfinished", and every
classic mistake — written here by hand, as a learner would — gets its hint.
The checks' references are the library's functions, and each mistake the
kit knows is recognised and named.
"""

import math
import subprocess
import sys

import pytest
import torch

import ddpm_lib as dl
from ddpm_book import exercises as ex
from ddpm_book.exercises import (
    forward,
    grading,
    network,
    objective,
    posterior,
    schedules,
)


def col(v, x):
    """(B,) schedule values as (B, 1, ..., 1) in x's dtype."""
    return v.to(x.dtype).reshape(-1, *[1] * (x.ndim - 1))


def stub(*args):
    raise NotImplementedError()


# -- what a learner writes when they get it right ---------------------------


def my_q_sample(sched, x0, t, eps):
    ab = col(sched.alpha_bar[t], x0)
    return ab.sqrt() * x0 + (1 - ab).sqrt() * eps


def my_x0_from_eps(sched, x_t, t, eps):
    ab = col(sched.alpha_bar[t], x_t)
    return (x_t - (1 - ab).sqrt() * eps) / ab.sqrt()


def my_mu_theta(sched, x_t, t, eps):
    a, b = col(sched.alpha[t], x_t), col(sched.beta[t], x_t)
    ab = col(sched.alpha_bar[t], x_t)
    return (x_t - b / (1 - ab).sqrt() * eps) / a.sqrt()


def my_q_posterior(sched, x0, x_t, t):
    ab, ab_prev = sched.alpha_bar[t], sched.alpha_bar[t - 1]
    a, b = sched.alpha[t], sched.beta[t]
    c0 = col(ab_prev.sqrt() * b / (1 - ab), x0)
    ct = col(a.sqrt() * (1 - ab_prev) / (1 - ab), x0)
    return c0 * x0 + ct * x_t, col((1 - ab_prev) / (1 - ab) * b, x0)


def my_ddpm_step(sched, x_t, t, eps, z):
    sigma = col(sched.beta[t].sqrt(), x_t)
    z = z * col((t > 1).double(), x_t)
    return my_mu_theta(sched, x_t, t, eps) + sigma * z


def my_loss(sched, model, x0, t, eps):
    return ((eps - model(my_q_sample(sched, x0, t, eps), t)) ** 2).mean()


def my_cosine(T, s):
    f = [
        math.cos((t / T + s) / (1 + s) * math.pi / 2) ** 2
        for t in range(T + 1)
    ]
    return torch.tensor(f, dtype=torch.float64) / f[0]


def my_embedding(t, dim):
    half = dim // 2
    freqs = torch.exp(-math.log(10000) * torch.arange(half) / (half - 1))
    angles = t[:, None].float() * freqs
    return torch.cat([angles.sin(), angles.cos()], dim=1)


CORRECT = [
    (ex.check_alpha_bar, lambda beta: torch.cumprod(1 - beta, 0)),
    (ex.check_cosine_alpha_bar, my_cosine),
    (ex.check_q_sample, my_q_sample),
    (ex.check_x0_from_eps, my_x0_from_eps),
    (ex.check_q_posterior, my_q_posterior),
    (ex.check_mu_theta, my_mu_theta),
    (ex.check_ddpm_step, my_ddpm_step),
    (ex.check_loss_simple, my_loss),
    (ex.check_normal_kl, dl.normal_kl),
    (ex.check_timestep_embedding, my_embedding),
    (ex.check_guided_eps, lambda c, u, w: (1 + w) * c - w * u),
]


@pytest.mark.parametrize(
    "check, fn", CORRECT, ids=lambda x: getattr(x, "__name__", "")
)
def test_correct_answers_pass_and_stubs_are_unfinished(check, fn):
    good = check(fn)
    assert good.passed and not good.unfinished, good
    assert repr(good).startswith("✔") and "correct on" in good.message
    unfinished = check(stub)
    assert unfinished.unfinished and not unfinished.passed
    assert "not written yet" in repr(unfinished)


# -- the classic mistakes ---------------------------------------------------


def q_sample_variance(sched, x0, t, eps):
    ab = col(sched.alpha_bar[t], x0)
    return ab.sqrt() * x0 + (1 - ab) * eps


def q_sample_off_by_one(sched, x0, t, eps):
    ab = col(sched.alpha_bar[t - 1], x0)
    return ab.sqrt() * x0 + (1 - ab).sqrt() * eps


def q_sample_alpha_not_bar(sched, x0, t, eps):
    a = col(sched.alpha[t], x0)
    return a.sqrt() * x0 + (1 - a).sqrt() * eps


def cosine_without_square(T, s):
    f = [math.cos((t / T + s) / (1 + s) * math.pi / 2) for t in range(T + 1)]
    return torch.tensor(f, dtype=torch.float64) / f[0]


def posterior_with_beta(sched, x0, x_t, t):
    mean, _ = my_q_posterior(sched, x0, x_t, t)
    return mean, col(sched.beta[t], x0)


def posterior_off_by_one(sched, x0, x_t, t):
    # ᾱ_t where ᾱ_{t-1} belongs: the 0-based habit of alphas_cumprod_prev.
    ab = sched.alpha_bar[t]
    a, b = sched.alpha[t], sched.beta[t]
    c0 = col(ab.sqrt() * b / (1 - ab), x0)
    ct = col(a.sqrt() * (1 - ab) / (1 - ab), x0)
    return c0 * x0 + ct * x_t, col(b, x0)


def step_noise_at_1(sched, x_t, t, eps, z):
    return my_mu_theta(sched, x_t, t, eps) + col(sched.beta[t].sqrt(), x_t) * z


def step_variance_as_std(sched, x_t, t, eps, z):
    z = z * col((t > 1).double(), x_t)
    return my_mu_theta(sched, x_t, t, eps) + col(sched.beta[t], x_t) * z


def step_missing_sqrt_alpha(sched, x_t, t, eps, z):
    b, ab = col(sched.beta[t], x_t), col(sched.alpha_bar[t], x_t)
    z = z * col((t > 1).double(), x_t)
    mean = x_t - b / (1 - ab).sqrt() * eps  # no 1/√α_t
    return mean + col(sched.beta[t].sqrt(), x_t) * z


def step_beta_tilde(sched, x_t, t, eps, z):
    ab, ab_prev, b = sched.alpha_bar[t], sched.alpha_bar[t - 1], sched.beta[t]
    sigma = col(((1 - ab_prev) / (1 - ab) * b).sqrt(), x_t)
    return my_mu_theta(sched, x_t, t, eps) + sigma * z * col(
        (t > 1).double(), x_t
    )


def mu_wrong_sign(sched, x_t, t, eps):
    a, b = col(sched.alpha[t], x_t), col(sched.beta[t], x_t)
    ab = col(sched.alpha_bar[t], x_t)
    return (x_t + b / (1 - ab).sqrt() * eps) / a.sqrt()


def mu_missing_sqrt_alpha(sched, x_t, t, eps):
    b, ab = col(sched.beta[t], x_t), col(sched.alpha_bar[t], x_t)
    return x_t - b / (1 - ab).sqrt() * eps


def x0_wrong_sign(sched, x_t, t, eps):
    ab = col(sched.alpha_bar[t], x_t)
    return (x_t + (1 - ab).sqrt() * eps) / ab.sqrt()


def loss_on_x0(sched, model, x0, t, eps):
    return ((eps - model(x0, t)) ** 2).mean()


def embedding_swapped(t, dim):
    e = my_embedding(t, dim)
    return torch.cat([e[:, dim // 2 :], e[:, : dim // 2]], dim=1)


def cosine_unnormalised(T, s):
    f = [
        math.cos((t / T + s) / (1 + s) * math.pi / 2) ** 2
        for t in range(T + 1)
    ]
    return torch.tensor(f, dtype=torch.float64)


def cosine_shifted(T, s):
    f = [
        math.cos((t / T + s) / (1 + s) * math.pi / 2) ** 2
        for t in range(1, T + 2)
    ]
    return torch.tensor(f, dtype=torch.float64) / f[0]


def mu_one_step_early(sched, x_t, t, eps):
    a, b = col(sched.alpha[t - 1], x_t), col(sched.beta[t - 1], x_t)
    ab = col(sched.alpha_bar[t - 1], x_t)
    return (x_t - b / (1 - ab).sqrt() * eps) / a.sqrt()


def posterior_swapped(sched, x0, x_t, t):
    return my_q_posterior(sched, x_t, x0, t)


def embedding_interleaved(t, dim):
    half = dim // 2
    freqs = torch.exp(-math.log(10000) * torch.arange(half) / (half - 1))
    angles = t[:, None].float() * freqs
    return torch.stack([angles.sin(), angles.cos()], dim=2).flatten(1)


def embedding_over_half(t, dim):
    half = dim // 2
    freqs = torch.exp(-math.log(10000) * torch.arange(half) / half)
    angles = t[:, None].float() * freqs
    return torch.cat([angles.sin(), angles.cos()], dim=1)


MISTAKES = [
    (
        ex.check_q_sample,
        q_sample_variance,
        "scales the noise by (1 − ᾱ_t); the standard deviation is √(1 − ᾱ_t)",
    ),
    (ex.check_q_sample, q_sample_off_by_one, "uses ᾱ_{t−1}, one step early"),
    (ex.check_q_sample, q_sample_alpha_not_bar, "uses α_t = 1 − β_t"),
    (
        ex.check_cosine_alpha_bar,
        cosine_without_square,
        "the cosine schedule without its square",
    ),
    (
        ex.check_alpha_bar,
        lambda beta: torch.cumprod(beta, 0),
        "multiplies the β's",
    ),
    (ex.check_q_posterior, posterior_with_beta, "returns β_t as the variance"),
    (
        ex.check_q_posterior,
        posterior_off_by_one,
        "uses ᾱ_t where ᾱ_{t−1} belongs",
    ),
    (ex.check_ddpm_step, step_noise_at_1, "adds noise at t = 1"),
    (
        ex.check_ddpm_step,
        step_variance_as_std,
        "multiplies z by β_t, the variance",
    ),
    (ex.check_ddpm_step, step_beta_tilde, "uses σ_t² = β̃_t"),
    (ex.check_ddpm_step, step_missing_sqrt_alpha, "forgets the factor 1/√α_t"),
    (ex.check_mu_theta, mu_wrong_sign, "a missing √α_t or a wrong sign"),
    (ex.check_mu_theta, mu_missing_sqrt_alpha, "forgets the factor 1/√α_t"),
    (ex.check_x0_from_eps, x0_wrong_sign, "adds the noise"),
    (ex.check_loss_simple, loss_on_x0, "feeds x_0 to the model"),
    (
        ex.check_normal_kl,
        lambda m1, v1, m2, v2: dl.normal_kl(m1, v1**2, m2, v2**2),
        "treats the variances as standard deviations",
    ),
    (
        ex.check_timestep_embedding,
        embedding_swapped,
        "sin and cos halves swapped",
    ),
    (
        ex.check_guided_eps,
        lambda c, u, w: (1 + w) * u - w * c,
        "applies the guidance weight to the wrong term",
    ),
    (
        ex.check_alpha_bar,
        lambda beta: torch.cumsum(1 - beta, 0),
        "adds the α's",
    ),
    (
        ex.check_alpha_bar,
        lambda beta: torch.cat(
            [beta.new_ones(1), torch.cumprod(1 - beta, 0)[:-1]]
        ),
        "is off by one",
    ),
    (ex.check_cosine_alpha_bar, cosine_unnormalised, "does not divide by f"),
    (ex.check_cosine_alpha_bar, cosine_shifted, "is off by one"),
    (
        ex.check_cosine_alpha_bar,
        lambda T, s: my_cosine(T, 0.0),
        "drops the offset s",
    ),
    (ex.check_q_posterior, posterior_swapped, "swaps the two coefficients"),
    (ex.check_mu_theta, mu_one_step_early, "uses the schedule one step early"),
    (ex.check_timestep_embedding, embedding_interleaved, "interleaves"),
    (ex.check_timestep_embedding, embedding_over_half, "i/half"),
    (
        ex.check_guided_eps,
        lambda c, u, w: u + w * (c - u),
        "uses w as the guidance scale",
    ),
]


@pytest.mark.parametrize(
    "check, fn, hint", MISTAKES, ids=[m[1].__name__ for m in MISTAKES]
)
def test_each_classic_mistake_gets_its_own_hint(check, fn, hint):
    feedback = check(fn)
    assert not feedback.passed and not feedback.unfinished
    assert hint in feedback.message, feedback.message
    assert repr(feedback).startswith("✘")


# -- anything else still gets a useful message, never a traceback -----------


def test_unrecognised_errors_point_to_the_equation():
    feedback = ex.check_q_sample(lambda s, x0, t, e: 0.9 * x0 + 0.1 * e)
    assert "wrong values for" in feedback.message
    assert "Eq. 4" in feedback.message


def test_crashes_none_and_shapes_are_reported_not_raised():
    def crashes(sched, x0, t, eps):
        return x0 @ eps  # shapes do not fit

    msg = ex.check_q_sample(crashes).message
    assert msg.startswith("raised RuntimeError") and "for t = " in msg

    def forgets_return(sched, x0, t, eps):
        col(sched.alpha_bar[t], x0).sqrt() * x0

    assert "forget the `return`" in ex.check_q_sample(forgets_return).message

    def unshaped(sched, x0, t, eps):
        return sched.alpha_bar[t].sqrt() * x0  # (B,) against (B, D)

    msg = ex.check_q_sample(unshaped).message
    assert "must match the size" in msg and "(B, 1, ..., 1)" in msg

    def no_broadcast(sched, x0, t, eps):
        return sched.alpha_bar[t].sqrt() * x0.flatten(1).T  # (D, B)

    msg = ex.check_q_sample(no_broadcast).message
    assert "returns shape" in msg and "append_dims" in msg
    msg = ex.check_q_posterior(lambda *a: my_q_posterior(*a)[0]).message
    assert "expected a pair (mu_tilde, beta_tilde)" in msg
    msg = ex.check_loss_simple(
        lambda s, m, x0, t, e: ((e - m(x0, t)) ** 2).flatten(1).mean(1)
    ).message
    assert "a single number" in msg
    assert "expected a function" in ex.check_q_sample(3).message
    msg = ex.check_q_sample(lambda s, x0, t, e: x0.numpy()).message
    assert "ndarray" in msg and "torch.Tensor" in msg


def test_a_float64_answer_for_float32_data_passes_with_a_note():
    def promotes(sched, x0, t, eps):
        ab = sched.alpha_bar[t].reshape(-1, *[1] * (x0.ndim - 1))  # float64
        return ab.sqrt() * x0 + (1 - ab).sqrt() * eps

    feedback = ex.check_q_sample(promotes)
    assert feedback.passed and "Note:" in feedback.message


def test_feedback_is_deterministic():
    assert repr(ex.check_q_sample(q_sample_variance)) == repr(
        ex.check_q_sample(q_sample_variance)
    )


# -- the design: references are the library's, mistakes perturb it ----------

LIBRARY = [
    (
        ex.check_alpha_bar,
        lambda beta: dl.schedule_from_betas(beta[1:]).alpha_bar,
    ),
    (ex.check_q_sample, dl.q_sample),
    (ex.check_x0_from_eps, dl.x0_from_eps),
    (ex.check_q_posterior, dl.q_posterior),
    (ex.check_mu_theta, dl.mu_theta),
    (
        ex.check_ddpm_step,
        lambda s, x, t, e, z: dl.ddpm_step(
            s, x, t, e, variance="beta", noise=z
        ),
    ),
    (
        ex.check_loss_simple,
        lambda s, m, x0, t, e: dl.loss_simple(s, m, x0, t=t, eps=e),
    ),
    (ex.check_normal_kl, dl.normal_kl),
    (ex.check_timestep_embedding, dl.timestep_embedding),
    (ex.check_guided_eps, lambda c, u, w: dl.guided_eps(c, u, w=w)),
]


@pytest.mark.parametrize(
    "check, fn", LIBRARY, ids=lambda x: getattr(x, "__name__", "")
)
def test_each_check_passes_the_library_function(check, fn):
    feedback = check(fn)
    assert feedback.passed and "Note" not in feedback.message, feedback


def test_the_cosine_check_is_the_library_schedule_before_clipping():
    # The library clips β_T, which only changes ᾱ_T (to nearly 0).
    for T, s in ((1000, 0.008), (20, 0.1)):
        mine, lib = my_cosine(T, s), dl.cosine_schedule(T, s=s).alpha_bar
        torch.testing.assert_close(mine[:-1], lib[:-1], rtol=1e-9, atol=0)
        assert lib[-1] < 1e-5 and mine[-1] < 1e-30


EXERCISES = [
    value
    for module in (schedules, forward, posterior, objective, network)
    for value in vars(module).values()
    if isinstance(value, grading.Exercise)
]


def runs_on_every_case(exercise, fn):
    try:
        for case in exercise.cases():
            fn(*case.args)
    except ValueError:
        return False
    return True


@pytest.mark.parametrize(
    "exercise, mistake",
    [(e, m) for e in EXERCISES for m in e.mistakes],
    ids=lambda x: getattr(x, "name", ""),
)
def test_every_known_mistake_is_recognised_and_named(exercise, mistake):
    if not runs_on_every_case(exercise, mistake.fn):
        # ∏ β_s underflows for T = 1000, which the library's schedule
        # rejects; a learner's cumprod(beta) is tested above.
        assert "multiplies the β's" in mistake.hint
        return
    feedback = grading.grade(exercise, mistake.fn)
    assert not feedback.passed
    assert mistake.hint in feedback.message, feedback.message


def test_every_exercise_is_found():
    names = {e.name for e in EXERCISES}
    assert len(names) == 12 and "cosine_alpha_bar" in names


def test_no_schedule_is_built_at_import():
    # Every schedule goes through schedule_from_betas; count its calls.
    code = """
import ddpm_lib.diffusion.schedules as s
calls = []
real = s.schedule_from_betas
s.schedule_from_betas = lambda *a, **k: calls.append(a) or real(*a, **k)
from ddpm_book import exercises as ex
assert not calls, "a schedule was built at import"
import ddpm_lib as dl
assert ex.check_q_sample(dl.q_sample).passed and calls
"""
    subprocess.run([sys.executable, "-c", code], check=True)
