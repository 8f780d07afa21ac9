"""The chapter "Where the ideas lead" (ddpm_book.beyond) and its equations.

Each equation the chapter shows is restated here and checked against
something independent: the score identity against autograd and a grid,
the guidance identity against Bayes' rule, DDIM's Euler form against the
library's step, the probability-flow ODE against the VP-SDE's, the SDE's
moments against a simulation, flow matching's velocity against finite
differences and a grid posterior.
"""

import math
import re
from pathlib import Path

import matplotlib
import pytest
import torch

import ddpm_lib as dl
from ddpm_book import beyond as bb
from ddpm_book.objective import component_posterior, sample_summary
from ddpm_book.sampling import mixture_eps_model

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
T = 1000


@pytest.fixture(scope="module")
def mixture():
    return dl.eight_gaussians()


@pytest.fixture(scope="module")
def linear():
    return dl.linear_schedule(T)


def noisy_points(mixture, sched, t, n, seed):
    g = torch.Generator().manual_seed(seed)
    x0 = mixture.sample(n, generator=g).double()
    eps = torch.randn(x0.shape, generator=g, dtype=torch.float64)
    return dl.q_sample(sched, x0, t, eps)


# -- quoted numbers --------------------------------------------------------


def test_every_quoted_figure_cites_an_entry_of_the_bibliography():
    bib = (ROOT / "book" / "references.bib").read_text()
    keys = set(re.findall(r"^@\w+\{([^,]+),", bib, flags=re.M))
    assert len(keys) == len(re.findall(r"^@\w+\{", bib, flags=re.M))
    for name, figure in bb.PAPER_FIGURES.items():
        assert figure.cite in keys, name
        assert figure.value > 0 and figure.what, name


def test_the_chapter_quotes_only_registered_figures():
    text = (ROOT / "book" / "beyond.ipynb").read_text()
    used = set(re.findall(r"paper\[\\?['\"](\w+)\\?['\"]\]", text))
    assert used, "the chapter reads no paper figures: has the syntax changed?"
    assert used <= set(bb.PAPER_FIGURES)


# -- 1. the score view -------------------------------------------------------


def test_autograd_score_of_a_gaussian_is_minus_x_minus_mu_over_var():
    mu, s = torch.tensor([[0.5, -1.0]], dtype=torch.float64), 0.7
    one = dl.GaussianMixture(
        means=mu,
        stds=torch.tensor([s], dtype=torch.float64),
        weights=torch.ones(1, dtype=torch.float64),
    )
    x = torch.randn(5, 2, generator=torch.Generator().manual_seed(0))
    got = bb.autograd_score(one.log_prob, x)
    torch.testing.assert_close(got, -(x.double() - mu) / s**2)


def test_grid_posterior_mean_of_a_gaussian_prior_is_the_textbook_one():
    # x_0 ~ N(μ, s² I), x = a x_0 + b ε: E[x_0 | x] = μ + a s² (x − aμ) /
    # (a² s² + b²), so E[ε | x] = (x − a E[x_0 | x]) / b.
    mu = torch.tensor([[0.3, -0.2]], dtype=torch.float64)
    s, a, b = 0.6, 0.8, 0.5
    prior = dl.GaussianMixture(
        means=mu,
        stds=torch.tensor([s], dtype=torch.float64),
        weights=torch.ones(1, dtype=torch.float64),
    )
    x = torch.randn(7, 2, generator=torch.Generator().manual_seed(1)).double()
    x0_mean = mu + a * s**2 * (x - a * mu) / (a**2 * s**2 + b**2)
    got = bb.posterior_mean_eps_grid(
        prior, x, signal=a, noise=b, half_width=6.0, n=801
    )
    torch.testing.assert_close(got, (x - a * x0_mean) / b)


def test_grid_posterior_refuses_what_it_cannot_do(mixture):
    x = torch.zeros(2, 2)
    with pytest.raises(ValueError, match="noise must be positive"):
        bb.posterior_mean_eps_grid(mixture, x, signal=1.0, noise=0.0)
    three_d = dl.GaussianMixture(
        means=torch.zeros(1, 3, dtype=torch.float64),
        stds=torch.ones(1, dtype=torch.float64),
        weights=torch.ones(1, dtype=torch.float64),
    )
    with pytest.raises(ValueError, match="2-D"):
        bb.posterior_mean_eps_grid(three_d, torch.zeros(2, 3), signal=1.0,
                                   noise=1.0)  # fmt: skip


@pytest.mark.parametrize("t", [5, 50, 250, 700, 1000])
def test_eps_star_is_the_scaled_score_and_the_posterior_mean(
    mixture, linear, t
):
    # ε* = E[ε | x_t] = −√(1 − ᾱ_t) ∇ log q(x_t), three independent ways.
    x_t = noisy_points(mixture, linear, t, 12, seed=t)
    check = bb.score_check(mixture, linear, t, x_t)
    torch.testing.assert_close(check.autograd, check.closed_form)
    torch.testing.assert_close(check.grid, check.closed_form)


def test_the_score_check_would_catch_a_wrong_scale(mixture, linear):
    # Without the factor −√(1 − ᾱ_t) the score is not the noise.
    x_t = noisy_points(mixture, linear, 300, 12, seed=2)
    check = bb.score_check(mixture, linear, 300, x_t)
    score = mixture.noised(linear, 300).score(x_t)
    assert not torch.allclose(-score, check.grid, atol=1e-3)


def test_component_is_one_class_of_the_mixture(mixture):
    alone = bb.component(mixture, 3)
    assert alone.means.shape == (1, 2) and alone.weights.item() == 1
    torch.testing.assert_close(alone.means[0], mixture.means[3])


@pytest.mark.parametrize("t", [50, 300, 800])
@pytest.mark.parametrize("w", [0.0, 0.5, 3.0])
def test_guidance_is_the_conditional_score_plus_w_classifier_scores(
    mixture, linear, t, w
):
    x_t = noisy_points(mixture, linear, t, 16, seed=3)
    for c in (0, 4, 7):
        guided, from_scores = bb.guidance_identity(
            mixture, linear, t, x_t, c, w
        )
        torch.testing.assert_close(guided, from_scores)


def test_implicit_classifier_score_is_bayes_rule(mixture, linear):
    # ∇ log q(c | x_t) = ∇ log q(x_t | c) − ∇ log q(x_t).
    t, c = 200, 2
    x_t = noisy_points(mixture, linear, t, 16, seed=4)
    cond = bb.component(mixture, c).noised(linear, t).score(x_t)
    uncond = mixture.noised(linear, t).score(x_t)
    got = bb.implicit_classifier_score(mixture, linear, t, x_t, c)
    torch.testing.assert_close(got, cond - uncond)
    # It is not zero: the classifier has something to say at t = 200.
    assert got.abs().max() > 0.1


def test_guidance_identity_is_not_trivially_true(mixture, linear):
    # With w > 0 guidance moves the prediction away from ε*(x_t, c), so
    # the identity constrains the classifier term.
    t, c = 300, 1
    x_t = noisy_points(mixture, linear, t, 16, seed=5)
    guided, _ = bb.guidance_identity(mixture, linear, t, x_t, c, 2.0)
    cond = bb.component(mixture, c).optimal_eps(linear, x_t.double(), t)
    assert not torch.allclose(guided, cond, atol=1e-3)
    # A classifier term with the wrong sign breaks it.
    classifier = bb.implicit_classifier_score(mixture, linear, t, x_t, c)
    scale = math.sqrt(1 - linear.alpha_bar[t].item())
    cond_score = bb.component(mixture, c).noised(linear, t).score(x_t)
    wrong = -scale * (cond_score - 2.0 * classifier)
    assert not torch.allclose(guided, wrong, atol=1e-3)


def test_score_field_figure_has_two_rows(mixture, linear):
    model = mixture_eps_model(mixture, linear)
    fig = bb.score_field_figure(model, mixture, linear, [10, 500], n=5)
    assert len(fig.axes) == 4
    assert [ax.get_title() for ax in fig.axes[:2]] == ["t = 10", "t = 500"]
    plt.close(fig)


# -- 2. the learned variance -------------------------------------------------


@pytest.mark.parametrize("make", [dl.linear_schedule, dl.cosine_schedule])
def test_learned_variance_interpolates_in_log_space(make):
    sched = make(T)
    t = torch.arange(2, T + 1)
    beta = dl.reverse_variance(sched, t, "beta")
    beta_tilde = dl.reverse_variance(sched, t, "beta_tilde")
    ones = torch.ones(len(t), dtype=torch.float64)
    torch.testing.assert_close(bb.learned_variance(sched, t, ones), beta)
    torch.testing.assert_close(bb.learned_variance(sched, t, 0 * ones),
                               beta_tilde)  # fmt: skip
    for v in (0.25, 0.5, 1.7, -0.3):  # v is not constrained
        want = beta**v * beta_tilde ** (1 - v)
        got = bb.learned_variance(sched, t, v * ones)
        torch.testing.assert_close(got, want)
    # Between the two fixed choices for 0 ≤ v ≤ 1, increasing in v.
    mid = bb.learned_variance(sched, t, 0.5 * ones)
    assert (beta_tilde <= mid).all() and (mid <= beta).all()


def test_learned_variance_at_t_1_uses_beta_tilde_2(linear):
    t = torch.tensor([1, 1])
    v = torch.tensor([0.0, 1.0], dtype=torch.float64)
    got = bb.learned_variance(linear, t, v)
    beta_tilde_2 = dl.reverse_variance(linear, torch.tensor([2]), "beta_tilde")
    torch.testing.assert_close(got[0], beta_tilde_2[0])
    torch.testing.assert_close(got[1], linear.beta[1])
    assert torch.isfinite(got).all()


def test_learned_variance_broadcasts_over_images(linear):
    t = torch.tensor([5, 900])
    v = torch.rand(2, 1, 4, 4, dtype=torch.float64)
    got = bb.learned_variance(linear, t, v)
    assert got.shape == v.shape
    torch.testing.assert_close(
        got[1, 0, 2, 3],
        bb.learned_variance(linear, t[1:], v[1:, :, 2:3, 3:4])[0, 0, 0, 0],
    )


@pytest.mark.parametrize("make", [dl.linear_schedule, dl.cosine_schedule])
def test_variance_range_is_log_of_the_ratio_of_one_minus_alpha_bar(make):
    # β_t / β̃_t = (1 − ᾱ_t) / (1 − ᾱ_{t−1}).
    sched = make(T)
    a = sched.alpha_bar
    want = (1 - a[2:]).log() - (1 - a[1:-1]).log()
    got = bb.variance_range(sched)
    torch.testing.assert_close(got, want)
    assert (got > 0).all() and got[0] > 100 * got[-1]


def test_variance_range_figure_draws_one_line_per_schedule(linear):
    fig = bb.variance_range_figure(
        {"linear": linear, "cosine": dl.cosine_schedule(T)}
    )
    assert len(fig.axes[0].lines) == 2
    plt.close(fig)


# -- 3. DDIM as an ODE --------------------------------------------------------


def test_sigma_bar_starts_at_zero_and_grows(linear):
    s = bb.sigma_bar(linear)
    assert s[0] == 0 and (s[1:] > s[:-1]).all()
    torch.testing.assert_close(s, (1 / linear.alpha_bar - 1).sqrt())


@pytest.mark.parametrize(
    "t,t_prev", [(1000, 999), (1000, 0), (700, 350), (20, 19), (1, 0)]
)
def test_ddim_with_eta_0_is_an_euler_step_of_the_ode(linear, t, t_prev):
    g = torch.Generator().manual_seed(t)
    x_t = torch.randn(3, 1, 5, 5, generator=g, dtype=torch.float64)
    eps = torch.randn(x_t.shape, generator=g, dtype=torch.float64)
    euler = bb.euler_step(linear, x_t, t, t_prev, eps)
    ddim = dl.ddim_step(linear, x_t, t, t_prev, eps, eta=0.0)
    torch.testing.assert_close(euler, ddim)
    # Restated: x̄' = x̄ + (σ̄' − σ̄) ε in x̄ = x/√ᾱ, σ̄ = √(1 − ᾱ)/√ᾱ.
    a, a_prev = linear.alpha_bar[t], linear.alpha_bar[t_prev]
    s, s_prev = ((1 - a) / a).sqrt(), ((1 - a_prev) / a_prev).sqrt()
    want = a_prev.sqrt() * (x_t / a.sqrt() + (s_prev - s) * eps)
    torch.testing.assert_close(euler, want)


def test_an_euler_step_up_and_back_with_one_slope_is_exact(linear):
    # With a slope that does not change, x̄ moves on a straight line in σ̄.
    g = torch.Generator().manual_seed(0)
    x = torch.randn(4, 2, generator=g, dtype=torch.float64)
    eps = torch.randn(x.shape, generator=g, dtype=torch.float64)
    up = bb.euler_step(linear, x, 30, 600, eps)
    torch.testing.assert_close(bb.euler_step(linear, up, 600, 30, eps), x)
    with pytest.raises(ValueError, match="t_next"):
        bb.euler_step(linear, x, 30, T + 1, eps)
    with pytest.raises(ValueError, match="t must"):
        bb.euler_step(linear, x, -1, 3, eps)


def test_inversion_is_exact_for_a_constant_noise_predictor(linear):
    # ε_θ ≡ c: every Euler step follows the exact line, both ways.
    g = torch.Generator().manual_seed(1)
    x0 = torch.randn(5, 2, generator=g, dtype=torch.float64)
    c = torch.randn(1, 2, generator=g, dtype=torch.float64)

    def constant(x, t):
        return c.expand_as(x)

    steps = dl.ddim_timesteps(T, 7)
    x_T = bb.ddim_invert(constant, linear, x0, steps)
    a = linear.alpha_bar[steps[0]]
    torch.testing.assert_close(x_T, a.sqrt() * x0 + (1 - a).sqrt() * c)
    back = dl.final_sample(dl.ddim_sample(constant, linear, x_T, steps))
    torch.testing.assert_close(back, x0)


def test_inversion_error_shrinks_with_the_step_size(mixture, linear):
    model = mixture_eps_model(mixture, linear)
    x0 = mixture.sample(64, generator=torch.Generator().manual_seed(2))
    errors = bb.inversion_errors(model, linear, x0.double(), [10, 40, 160])
    rms = [errors[c][2] for c in (10, 40, 160)]
    assert rms[0] > rms[1] > rms[2]
    for x_T, back, err in errors.values():
        assert x_T.shape == back.shape == x0.shape
        assert err == pytest.approx(
            (back - x0.double()).square().mean().sqrt().item()
        )


def test_inversion_figure_has_a_row_per_step_count():
    x0 = torch.rand(3, 1, 6, 6) * 2 - 1
    results = {c: (torch.randn(3, 1, 6, 6), x0, 0.1) for c in (5, 20)}
    fig = bb.inversion_figure(x0, results)
    assert len(fig.axes) == 4 * 3
    plt.close(fig)


def test_the_ode_is_the_probability_flow_ode_of_the_vp_sde(mixture):
    # dx̄/dσ̄ = ε*(x, s) written for x = √ᾱ x̄ gives
    # dx/ds = −½ β x + √ᾱ ε* dσ̄/ds, which must equal the VP-SDE's
    # probability-flow drift −½ β x − ½ β ∇ log q_s(x). Continuous ᾱ(s).
    b_min, b_max = 0.1, 20.0

    def alpha_bar(s):
        return math.exp(-(b_min * s + 0.5 * (b_max - b_min) * s**2))

    def noised(s):
        a = alpha_bar(s)
        return dl.GaussianMixture(
            means=math.sqrt(a) * mixture.means,
            stds=(a * mixture.stds**2 + 1 - a).sqrt(),
            weights=mixture.weights,
        )

    def sigma_bar(s):
        return math.sqrt((1 - alpha_bar(s)) / alpha_bar(s))

    x = torch.randn(10, 2, generator=torch.Generator().manual_seed(3))
    x = x.double()
    for s in (0.05, 0.3, 0.7):
        a, beta = alpha_bar(s), b_min + s * (b_max - b_min)
        score = noised(s).score(x)
        eps_star = -math.sqrt(1 - a) * score
        h = 1e-6
        dsigma = (sigma_bar(s + h) - sigma_bar(s - h)) / (2 * h)
        ddim_form = -0.5 * beta * x + math.sqrt(a) * eps_star * dsigma
        flow_form = -0.5 * beta * x - 0.5 * beta * score
        torch.testing.assert_close(ddim_form, flow_form, rtol=1e-6,
                                   atol=1e-6)  # fmt: skip


# -- 4. latent diffusion ------------------------------------------------------


def test_latent_compression_arithmetic():
    size = bb.latent_compression(512, 3, 8, 4)
    assert size["pixels"] == 512 * 512 * 3
    assert size["latent_side"] == 64
    assert size["latents"] == 64 * 64 * 4
    assert size["ratio"] == 48
    assert size["attention_ratio"] == (512 * 512 / (64 * 64)) ** 2 == 4096
    with pytest.raises(ValueError, match="multiple"):
        bb.latent_compression(28, 1, 8, 4)


# -- 5. the VP-SDE ---------------------------------------------------------


def test_vp_alpha_bar_is_exp_of_minus_the_integral(linear):
    # The integral of β(s) = Tβ_1 + s T(β_T − β_1), by the trapezoid rule.
    beta_1, beta_T = 1e-4, 0.02
    got = bb.vp_alpha_bar(linear, beta_1, beta_T)
    s = torch.linspace(0, 1, 200_001, dtype=torch.float64)
    beta = T * beta_1 + s * T * (beta_T - beta_1)
    integral = torch.cumulative_trapezoid(beta, s)
    for t in (1, 10, 100, 500, 1000):
        index = t * 200  # s = t / T
        want = math.exp(-integral[index - 1].item())
        assert got[t].item() == pytest.approx(want, rel=1e-8)
    assert got[0] == 1


def test_sum_and_integral_meet_at_T_and_the_product_differs_there(linear):
    sde = bb.vp_alpha_bar(linear, 1e-4, 0.02)
    sum_exp = torch.exp(-torch.cumsum(linear.beta, 0))
    assert sum_exp[-1].item() == pytest.approx(sde[-1].item(), rel=1e-12)
    # In between the sum lags the integral: Σ < ∫, so exp(−Σ) > exp(−∫).
    assert (sum_exp[1:-1] > sde[1:-1]).all()
    assert ((sum_exp / sde) - 1).abs().max() < 5e-3
    # ∏(1 − β)/exp(−Σβ) = exp(Σ (log(1 − β) + β)) ≈ exp(−½ Σ β²).
    ratio = linear.alpha_bar[-1] / sum_exp[-1]
    exact = torch.exp((torch.log1p(-linear.beta) + linear.beta).sum())
    torch.testing.assert_close(ratio, exact)
    second = math.exp(-0.5 * linear.beta.square().sum().item())
    assert ratio.item() == pytest.approx(second, rel=2e-3)


def test_ddpm_step_is_the_euler_maruyama_step_to_first_order(linear):
    # √(1 − β) x + √β ε against x − ½ β x + √β ε: they differ by
    # (√(1 − β) − 1 + β/2) x, of order β²/8.
    g = torch.Generator().manual_seed(4)
    x = torch.randn(100, 2, generator=g, dtype=torch.float64)
    eps = torch.randn(x.shape, generator=g, dtype=torch.float64)
    for t in (1, 500, 1000):
        beta = linear.beta[t].item()
        em = x - 0.5 * beta * x + math.sqrt(beta) * eps
        diff = (dl.q_step(linear, x, t, eps) - em).abs()
        coef = 1 - beta / 2 - math.sqrt(1 - beta)  # β²/8 + β³/16 + …
        torch.testing.assert_close(diff, coef * x.abs())
        assert beta**2 / 8 <= coef <= beta**2 / 7


def test_the_vp_sde_has_the_stated_mean_and_variance():
    # Simulate dx = −½ β x ds + √β dw from x_0 = 1.5 to s = 0.5 and
    # compare with mean x_0 exp(−½∫β), variance 1 − exp(−∫β).
    b_min, b_max, steps, n = 0.1, 20.0, 2000, 40_000
    g = torch.Generator().manual_seed(5)
    x = torch.full((n,), 1.5, dtype=torch.float64)
    ds = 0.5 / steps
    for i in range(steps):
        beta = b_min + (i + 0.5) * ds * (b_max - b_min)
        dw = math.sqrt(ds) * torch.randn(n, generator=g, dtype=torch.float64)
        x = x - 0.5 * beta * x * ds + math.sqrt(beta) * dw
    integral = b_min * 0.5 + 0.5 * (b_max - b_min) * 0.25
    mean, var = 1.5 * math.exp(-0.5 * integral), 1 - math.exp(-integral)
    assert x.mean().item() == pytest.approx(mean, abs=4 / math.sqrt(n))
    assert x.var().item() == pytest.approx(var, rel=0.03)


def test_vp_figure_has_two_panels(linear):
    fig = bb.vp_figure(linear, 1e-4, 0.02)
    assert len(fig.axes) == 2 and len(fig.axes[0].lines) == 3
    plt.close(fig)


# -- 6. flow matching ------------------------------------------------------


def test_flow_path_ends_and_velocity():
    g = torch.Generator().manual_seed(6)
    x0 = torch.randn(8, 2, generator=g, dtype=torch.float64)
    eps = torch.randn(8, 2, generator=g, dtype=torch.float64)
    zeros, ones = torch.zeros(8), torch.ones(8)
    torch.testing.assert_close(bb.flow_path(x0, eps, zeros), x0)
    torch.testing.assert_close(bb.flow_path(x0, eps, ones), eps)
    t, h = torch.rand(8, generator=g, dtype=torch.float64), 1e-6
    finite = (bb.flow_path(x0, eps, t + h) - bb.flow_path(x0, eps, t - h)) / (
        2 * h
    )
    torch.testing.assert_close(finite, bb.flow_target(x0, eps))
    # Divided by 1 − t it is DDIM's line x_0 + σ̄ ε with σ̄ = t / (1 − t).
    torch.testing.assert_close(
        bb.flow_path(x0, eps, t) / (1 - t[:, None]),
        x0 + (t / (1 - t))[:, None] * eps,
    )


def test_v_prediction_is_the_velocity_along_a_circular_arc(linear):
    # x(φ) = cos φ x_0 + sin φ ε with cos φ = √ᾱ_t: dx/dφ = v.
    g = torch.Generator().manual_seed(7)
    x0 = torch.randn(8, 2, generator=g, dtype=torch.float64)
    eps = torch.randn(8, 2, generator=g, dtype=torch.float64)
    for t in (1, 300, 999):
        a = linear.alpha_bar[t]
        phi = math.atan2((1 - a).sqrt().item(), a.sqrt().item())
        h = 1e-6

        def x(angle):
            return math.cos(angle) * x0 + math.sin(angle) * eps

        finite = (x(phi + h) - x(phi - h)) / (2 * h)
        torch.testing.assert_close(
            finite, dl.v_from_eps(linear, x0, t, eps), rtol=1e-6, atol=1e-8
        )


@pytest.mark.parametrize("a,b", [(0.9, 0.3), (0.5, 0.5), (0.05, 0.99)])
def test_mixture_posterior_mean_matches_a_grid(mixture, a, b):
    g = torch.Generator().manual_seed(8)
    x = a * mixture.sample(10, generator=g).double() + b * torch.randn(
        10, 2, generator=g, dtype=torch.float64
    )
    eps_grid = bb.posterior_mean_eps_grid(mixture, x, signal=a, noise=b)
    got = bb.mixture_posterior_mean(mixture, x, a, b)
    torch.testing.assert_close(got, (x - b * eps_grid) / a)


def test_mixture_posterior_mean_gives_the_optimal_noise(mixture, linear):
    t = 250
    x_t = noisy_points(mixture, linear, t, 10, seed=9)
    a = linear.alpha_bar[t].sqrt().item()
    b = (1 - linear.alpha_bar[t]).sqrt().item()
    x0_mean = bb.mixture_posterior_mean(mixture, x_t, a, b)
    torch.testing.assert_close(
        (x_t - a * x0_mean) / b, mixture.optimal_eps(linear, x_t, t)
    )


def test_exact_velocity_is_the_posterior_mean_of_eps_minus_x0(mixture):
    g = torch.Generator().manual_seed(10)
    x = torch.randn(10, 2, generator=g, dtype=torch.float64)
    for t in (0.1, 0.5, 0.9):
        eps_mean = bb.posterior_mean_eps_grid(mixture, x, signal=1 - t,
                                              noise=t)  # fmt: skip
        x0_mean = (x - t * eps_mean) / (1 - t)
        torch.testing.assert_close(
            bb.flow_velocity_exact(mixture, x, t), eps_mean - x0_mean
        )
    # At t = 1, x is the noise itself and E[x_0] = 0 (a centred mixture).
    torch.testing.assert_close(bb.flow_velocity_exact(mixture, x, 1.0), x)
    with pytest.raises(ValueError, match=r"\(0, 1\]"):
        bb.flow_velocity_exact(mixture, x, 0.0)


def test_euler_on_the_exact_velocity_draws_the_mixture(mixture):
    noise = torch.randn(3000, 2, generator=torch.Generator().manual_seed(11))
    x = bb.flow_sample(bb.exact_velocity_model(mixture), noise.double(), 100)
    summary = sample_summary(x, mixture)
    assert summary.spread == pytest.approx(0.1, rel=0.1)
    assert (summary.shares - 1 / 8).abs().max() < 0.03
    with pytest.raises(ValueError, match="steps"):
        bb.flow_sample(bb.exact_velocity_model(mixture), noise, 0)


def test_train_flow_learns_and_is_reproducible(mixture):
    data = mixture.sample(5000, generator=torch.Generator().manual_seed(12))
    run = bb.train_flow(data, steps=300, batch_size=128, hidden=32, seed=0)
    again = bb.train_flow(data, steps=300, batch_size=128, hidden=32, seed=0)
    assert run.losses.shape == (300,)
    assert torch.equal(run.losses, again.losses)
    assert run.losses[-50:].mean() < 0.8 * run.losses[:50].mean()
    assert not run.model.training
    with pytest.raises(ValueError, match="points of shape"):
        bb.train_flow(torch.zeros(10, dtype=torch.long).reshape(5, 2))


def test_train_flow_minimises_the_flow_matching_loss(mixture):
    # The loss it reports is ‖(ε − x_0) − v_θ(x_t, t)‖², whose floor is
    # reached by the exact velocity: a trained net is close to it.
    data = mixture.sample(20_000, generator=torch.Generator().manual_seed(13))
    run = bb.train_flow(data, steps=800, seed=1)
    velocity = bb.flow_velocity_model(run.model)
    x = torch.randn(500, 2, generator=torch.Generator().manual_seed(14))
    with torch.no_grad():
        for t in (0.5, 0.9):
            learned = velocity(x, torch.full((500,), t)).double()
            exact = bb.flow_velocity_exact(mixture, x, t)
            rel = (learned - exact).norm() / exact.norm()
            assert rel < 0.3, (t, rel)


def test_flow_and_ddim_run_the_two_samplers(mixture, linear):
    noise = torch.randn(50, 2, generator=torch.Generator().manual_seed(15))
    eps_model = mixture_eps_model(mixture, linear)
    velocity = bb.exact_velocity_model(mixture)
    pair = bb.flow_and_ddim(velocity, eps_model, linear, noise.double(), 4)
    torch.testing.assert_close(
        pair.flow, bb.flow_sample(velocity, noise.double(), 4)
    )
    direct = dl.final_sample(
        dl.ddim_sample(
            eps_model, linear, noise.double(), dl.ddim_timesteps(T, 4)
        )
    )
    torch.testing.assert_close(pair.ddim, direct)
    fig = bb.samplers_figure({2: pair, 4: pair})
    assert len(fig.axes) == 4
    plt.close(fig)


def test_component_posterior_is_the_classifier_used(mixture, linear):
    # The implicit classifier of the chapter is component_posterior of
    # the noised mixture; its log-gradient is what guidance adds.
    x_t = noisy_points(mixture, linear, 100, 4, seed=16)
    probs = component_posterior(mixture.noised(linear, 100), x_t)
    torch.testing.assert_close(probs.sum(1), torch.ones(4, dtype=probs.dtype))
