"""The posterior (Eqs. 6-7), the reverse mean (Eq. 11) and one step back."""

import math

import pytest
import torch

import ddpm_lib as dl


def _log_normal(x, mean, var):
    return -0.5 * (x - mean) ** 2 / var - 0.5 * math.log(2 * math.pi * var)


@pytest.mark.parametrize("t", [2, 10, 500, 1000])
def test_brute_force_bayes_on_a_grid_gives_mu_tilde_and_beta_tilde(sched, t):
    # q(x_{t-1} | x_t, x_0) ∝ q(x_t | x_{t-1}) q(x_{t-1} | x_0), on a grid.
    x0, x_t = 0.6, -0.3
    alpha_t, beta_t = sched.alpha[t].item(), sched.beta[t].item()
    ab_prev = sched.alpha_bar[t - 1].item()
    # The grid covers both factors (likelihood in x_{t-1}, and prior).
    centres = (x_t / math.sqrt(alpha_t), math.sqrt(ab_prev) * x0)
    stds = (math.sqrt(beta_t / alpha_t), math.sqrt(1 - ab_prev))
    lo = min(c - 12 * s for c, s in zip(centres, stds, strict=True))
    hi = max(c + 12 * s for c, s in zip(centres, stds, strict=True))
    grid = torch.linspace(lo, hi, 400_001, dtype=torch.float64)
    log_p = _log_normal(x_t, math.sqrt(alpha_t) * grid, beta_t) + _log_normal(
        grid, math.sqrt(ab_prev) * x0, 1 - ab_prev
    )
    w = torch.softmax(log_p, dim=0)
    mean = (w * grid).sum()
    var = (w * (grid - mean) ** 2).sum()

    mu_tilde, beta_tilde = dl.q_posterior(
        sched,
        torch.tensor([[x0]], dtype=torch.float64),
        torch.tensor([[x_t]], dtype=torch.float64),
        t,
    )
    assert beta_tilde.shape == (1, 1)
    assert mu_tilde.item() == pytest.approx(mean.item(), rel=1e-6, abs=1e-9)
    assert beta_tilde.item() == pytest.approx(var.item(), rel=1e-4)


def test_beta_tilde_at_t_1_is_zero_and_below_beta(sched):
    x = torch.zeros(3, 1, 2, 2)
    t = torch.tensor([1, 2, 1000])
    mu, beta_tilde = dl.q_posterior(sched, x, x, t)
    assert beta_tilde.shape == (3, 1, 1, 1)
    assert beta_tilde[0].item() == 0
    assert (beta_tilde[1:].flatten() < sched.beta[t[1:]].float()).all()
    # At t = 1 the posterior collapses onto x_0.
    x0, x_1 = torch.randn(2, 5), torch.randn(2, 5)
    mu1, _ = dl.q_posterior(sched, x0, x_1, 1)
    torch.testing.assert_close(mu1, x0)


def test_eq_7_with_eq_15_plugged_in_is_eq_11(sched, gen):
    # Three equations tied together: μ̃_t(x̂_0(x_t, ε), x_t) = μ_θ(x_t, ε).
    x_t = torch.randn(6, 2, 3, 3, generator=gen, dtype=torch.float64)
    eps = torch.randn(6, 2, 3, 3, generator=gen, dtype=torch.float64)
    t = torch.tensor([1, 2, 3, 250, 999, 1000])
    x0_hat = dl.x0_from_eps(sched, x_t, t, eps)
    mu_tilde, _ = dl.q_posterior(sched, x0_hat, x_t, t)
    torch.testing.assert_close(mu_tilde, dl.mu_theta(sched, x_t, t, eps))


def test_mu_theta_is_eq_11(sched, gen):
    x_t = torch.randn(3, 4, generator=gen, dtype=torch.float64)
    eps = torch.randn(3, 4, generator=gen, dtype=torch.float64)
    t = torch.tensor([5, 50, 500])
    a, b = sched.alpha[t].view(-1, 1), sched.beta[t].view(-1, 1)
    ab = sched.alpha_bar[t].view(-1, 1)
    expected = (x_t - b / (1 - ab).sqrt() * eps) / a.sqrt()
    torch.testing.assert_close(dl.mu_theta(sched, x_t, t, eps), expected)


@pytest.mark.parametrize("variance", ["beta", "beta_tilde"])
def test_ddpm_step_adds_sigma_t_z_except_at_t_1(sched, gen, variance):
    x_t = torch.randn(3, 4, generator=gen, dtype=torch.float64)
    eps = torch.randn(3, 4, generator=gen, dtype=torch.float64)
    z = torch.randn(3, 4, generator=gen, dtype=torch.float64)
    t = torch.tensor([1, 2, 800])
    out = dl.ddpm_step(sched, x_t, t, eps, variance=variance, noise=z)
    mean = dl.mu_theta(sched, x_t, t, eps)
    if variance == "beta":
        var = sched.beta[t]
    else:
        ab = sched.alpha_bar
        var = (1 - ab[t - 1]) / (1 - ab[t]) * sched.beta[t]
    expected = mean + var.sqrt().view(-1, 1) * z
    expected[0] = mean[0]  # z = 0 at t = 1 (Algorithm 2, line 3)
    torch.testing.assert_close(out, expected)
    torch.testing.assert_close(
        dl.reverse_variance(sched, t, variance), var.to(torch.float64)
    )


def test_ddpm_step_at_t_1_is_deterministic_even_with_drawn_noise(sched):
    x_t, eps = torch.randn(4, 2), torch.randn(4, 2)
    a = dl.ddpm_step(sched, x_t, 1, eps, variance="beta")
    b = dl.ddpm_step(sched, x_t, 1, eps, variance="beta")
    torch.testing.assert_close(a, b)


def test_ddpm_step_clip_x0_clips_the_prediction(sched, gen):
    x_t = 3 * torch.randn(8, 2, generator=gen, dtype=torch.float64)
    eps = torch.randn(8, 2, generator=gen, dtype=torch.float64)
    t = 5
    out = dl.ddpm_step(
        sched,
        x_t,
        t,
        eps,
        variance="beta",
        noise=torch.zeros_like(x_t),
        clip_x0=True,
    )
    x0_clipped = dl.x0_from_eps(sched, x_t, t, eps).clamp(-1, 1)
    expected, _ = dl.q_posterior(sched, x0_clipped, x_t, t)
    torch.testing.assert_close(out, expected)
    # Without clipping Eq. (7) and Eq. (11) agree, so clip_x0 only matters
    # where x̂_0 leaves [-1, 1].
    unclipped = dl.ddpm_step(
        sched, x_t, t, eps, variance="beta", noise=torch.zeros_like(x_t)
    )
    assert not torch.allclose(out, unclipped)


def test_ddim_with_eta_1_on_consecutive_steps_is_ddpm_with_beta_tilde(
    sched, gen
):
    x_t = torch.randn(5, 3, generator=gen, dtype=torch.float64)
    eps = torch.randn(5, 3, generator=gen, dtype=torch.float64)
    z = torch.randn(5, 3, generator=gen, dtype=torch.float64)
    t = torch.tensor([2, 3, 100, 500, 1000])
    ddim = dl.ddim_step(sched, x_t, t, t - 1, eps, eta=1.0, noise=z)
    ddpm = dl.ddpm_step(sched, x_t, t, eps, variance="beta_tilde", noise=z)
    torch.testing.assert_close(ddim, ddpm)
    sigma = dl.ddim_sigma(sched, t, t - 1, 1.0)
    torch.testing.assert_close(
        sigma**2, dl.reverse_variance(sched, t, "beta_tilde")
    )


def test_ddim_eta_0_is_deterministic_and_is_eq_12(sched, gen):
    x_t = torch.randn(4, 3, generator=gen, dtype=torch.float64)
    eps = torch.randn(4, 3, generator=gen, dtype=torch.float64)
    t, t_prev = (
        torch.tensor([1000, 600, 20, 1]),
        torch.tensor([980, 300, 0, 0]),
    )
    a = dl.ddim_step(sched, x_t, t, t_prev, eps)
    b = dl.ddim_step(sched, x_t, t, t_prev, eps, generator=gen)
    torch.testing.assert_close(a, b)
    ab, ab_prev = (
        sched.alpha_bar[t].view(-1, 1),
        sched.alpha_bar[t_prev].view(-1, 1),
    )
    x0_hat = (x_t - (1 - ab).sqrt() * eps) / ab.sqrt()
    torch.testing.assert_close(
        a, ab_prev.sqrt() * x0_hat + (1 - ab_prev).sqrt() * eps
    )
    # Landing on t_prev = 0 returns x̂_0 itself.
    torch.testing.assert_close(a[2:], x0_hat[2:])


def test_ddim_clip_keeps_the_step_consistent(sched, gen):
    x_t = 4 * torch.randn(16, 2, generator=gen, dtype=torch.float64)
    eps = torch.randn(16, 2, generator=gen, dtype=torch.float64)
    out = dl.ddim_step(sched, x_t, 10, 0, eps, clip_x0=True)
    assert out.abs().max() <= 1  # landing on x̂_0, which was clipped


def test_reverse_errors_say_what_was_expected(sched):
    x = torch.zeros(2, 3)
    with pytest.raises(ValueError, match="'beta' .* or 'beta_tilde'"):
        dl.ddpm_step(sched, x, 5, x, variance="large")
    with pytest.raises(ValueError, match="t_prev < t"):
        dl.ddim_step(sched, x, 5, 5, x)
    with pytest.raises(ValueError, match=r"eta must lie in \[0, 1\]"):
        dl.ddim_step(sched, x, 5, 4, x, eta=1.5)
    with pytest.raises(ValueError, match="0 <= t <= T"):
        dl.ddim_step(sched, x, 5, -1, x)
    with pytest.raises(ValueError, match="one shape"):
        dl.ddpm_step(sched, x, 5, torch.zeros(2, 2), variance="beta")
    with pytest.raises(ValueError, match="one shape"):
        dl.ddpm_step(sched, x, 5, x, variance="beta", noise=torch.zeros(3))
    with pytest.raises(ValueError, match="1 <= t <= T"):
        dl.q_posterior(sched, x, x, 1001)
