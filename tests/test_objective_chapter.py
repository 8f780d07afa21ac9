"""The bound's weight λ_t on the noise error (ddpm_book.objective).

λ_t is checked against the bound itself: the KL term of the library
(``normal_kl`` between the posterior and the model's step) minus the same
KL with the exact mean (the constant C_t) equals λ_t times the squared
noise error, example by example.
"""

import pytest
import torch

import ddpm_lib as dl
from ddpm_book.objective import bound_weight


@pytest.mark.parametrize("variance", ["beta", "beta_tilde"])
@pytest.mark.parametrize("t", [2, 3, 10, 100, 999, 1000])
def test_weight_times_noise_error_is_the_kl_term(sched, gen, variance, t):
    x0 = torch.randn(64, 3, generator=gen, dtype=torch.float64)
    eps = torch.randn(x0.shape, generator=gen, dtype=torch.float64)
    error = 0.1 * torch.randn(x0.shape, generator=gen, dtype=torch.float64)
    x_t = dl.q_sample(sched, x0, t, eps)
    mu_tilde, beta_tilde = dl.q_posterior(sched, x0, x_t, t)
    mu = dl.mu_theta(sched, x_t, t, eps + error)
    sigma_sq = dl.reverse_variance(sched, torch.tensor([t]), variance)
    kl = dl.normal_kl(mu_tilde, beta_tilde, mu, sigma_sq).sum(dim=1)
    c_t = dl.normal_kl(mu_tilde, beta_tilde, mu_tilde, sigma_sq).sum(dim=1)
    weighted = bound_weight(sched, t, variance) * error.square().sum(dim=1)
    # rtol 1e-6: the subtraction loses digits, yet a weight without its
    # α_t (off by β_t ≥ 1e-4) would fail.
    torch.testing.assert_close(kl - c_t, weighted, rtol=1e-6, atol=0)


def test_weight_with_beta_at_t_1_is_one_over_two_alpha_1(sched):
    weight = bound_weight(sched, 1, "beta")
    torch.testing.assert_close(weight, 1 / (2 * sched.alpha[1:2]))


def test_beta_tilde_has_no_weight_at_t_1(sched):
    t = torch.arange(1, sched.T + 1)
    weight = bound_weight(sched, t, "beta_tilde")
    assert weight[0].isnan()
    assert weight[1:].isfinite().all()


def test_the_two_variances_differ_by_beta_over_beta_tilde(sched):
    t = torch.arange(2, sched.T + 1)
    ratio = bound_weight(sched, t, "beta_tilde") / bound_weight(
        sched, t, "beta"
    )
    # β_t / β̃_t = (1 − ᾱ_t) / (1 − ᾱ_{t−1}): large at t = 2, then → 1.
    expected = (1 - sched.alpha_bar[t]) / (1 - sched.alpha_bar[t - 1])
    torch.testing.assert_close(ratio, expected)
    assert ratio[0] > 2 and (ratio[:-1] >= ratio[1:]).all()
    assert ratio[-1] == pytest.approx(1, abs=1e-6)


def test_a_step_outside_1_to_T_is_an_error(sched):
    with pytest.raises(ValueError, match="1 <= t <= T"):
        bound_weight(sched, 0, "beta")
    with pytest.raises(ValueError):
        bound_weight(sched, torch.tensor([sched.T + 1]), "beta")
