"""Moments of linear-Gaussian chains and the Monte-Carlo moment check."""

import math

import pytest
import torch
from conftest import all_schedules

import ddpm_lib as dl
from ddpm_book.moments import chain_moments, check_moments, z_tolerance


@pytest.mark.parametrize("name", ["linear", "cosine", "quadratic", "sigmoid"])
def test_ddpm_scale_gives_eq_4(name):
    # c_t = √α_t: m_t = √ᾱ_t and v_t = 1 − ᾱ_t, Ho et al. (2020) Eq. (4).
    sched = all_schedules(200)[name]
    moments = chain_moments(sched.beta, sched.alpha.sqrt())
    torch.testing.assert_close(moments.mean_coef, sched.alpha_bar.sqrt())
    torch.testing.assert_close(moments.var, 1 - sched.alpha_bar)
    # and unit-variance data keeps unit variance at every step
    kept = chain_moments(sched.beta, sched.alpha.sqrt(), var0=1.0).var
    torch.testing.assert_close(kept, torch.ones_like(kept))


def test_scale_one_adds_the_betas(sched):
    ones = torch.ones_like(sched.beta)
    moments = chain_moments(sched.beta, ones, var0=0.5)
    torch.testing.assert_close(moments.var, 0.5 + torch.cumsum(sched.beta, 0))
    torch.testing.assert_close(moments.mean_coef, ones)


def test_general_scale_restated():
    # v_t = Σ_s β_s ∏_{r>s} c_r² + var0 ∏_r c_r², written out by brute force
    beta = torch.tensor([0.0, 0.1, 0.3, 0.2], dtype=torch.float64)
    scale = torch.tensor([9.0, 0.5, 1.2, 0.9], dtype=torch.float64)
    moments = chain_moments(beta, scale, var0=2.0)
    for t in range(4):
        var = 2.0 * math.prod(scale[1 : t + 1].tolist()) ** 2
        for s in range(1, t + 1):
            var += (
                beta[s].item() * math.prod(scale[s + 1 : t + 1].tolist()) ** 2
            )
        assert moments.var[t].item() == pytest.approx(var, rel=1e-12)
        coef = math.prod(scale[1 : t + 1].tolist())
        assert moments.mean_coef[t].item() == pytest.approx(coef, rel=1e-12)


def test_chain_moments_match_a_simulated_chain(sched):
    # Another scale (c_t = α_t): simulate the chain and compare.
    gen = torch.Generator().manual_seed(1)
    x0 = torch.tensor([1.0, -0.5, 0.0], dtype=torch.float64)
    n, t_end = 5000, 100
    x = x0.expand(n, 3).clone()
    for t in range(1, t_end + 1):
        noise = torch.randn(n, 3, generator=gen, dtype=torch.float64)
        x = sched.alpha[t] * x + sched.beta[t].sqrt() * noise
    moments = chain_moments(sched.beta, sched.alpha)
    right = check_moments(x, moments.mean_coef[t_end] * x0, moments.var[t_end])
    assert right.passed, right
    # DDPM's moments are not those of this chain, and the check says so.
    wrong = check_moments(
        x, sched.alpha_bar[t_end].sqrt() * x0, 1 - sched.alpha_bar[t_end]
    )
    assert not wrong.passed


def test_z_tolerance():
    assert z_tolerance(1, false_alarm=0.05) == pytest.approx(1.959964, 1e-6)
    assert z_tolerance(10, false_alarm=0.05) == pytest.approx(
        2.807034, 1e-6
    )  # Bonferroni: two-sided tail 0.005 each
    assert z_tolerance(100) > z_tolerance(10) > z_tolerance(1)
    with pytest.raises(ValueError):
        z_tolerance(0)
    with pytest.raises(ValueError):
        z_tolerance(3, false_alarm=1.5)


def test_z_scores_are_standard_normal_under_the_truth():
    # Many independent coordinates: the z-scores' spread is about 1.
    gen = torch.Generator().manual_seed(2)
    samples = 3 + 2 * torch.randn(400, 4000, generator=gen)
    result = check_moments(samples, 3.0, 4.0)
    assert result.mean_z.std().item() == pytest.approx(1, abs=0.05)
    assert result.var_z.std().item() == pytest.approx(1, abs=0.08)
    assert abs(result.mean_z.mean().item()) < 0.05
    assert result.passed


def test_check_moments_detects_small_errors():
    gen = torch.Generator().manual_seed(3)
    n = 10_000
    samples = torch.randn(n, 2, generator=gen, dtype=torch.float64)
    se_mean = 1 / math.sqrt(n)
    assert not check_moments(samples, 8 * se_mean, 1.0).passed
    se_var = math.sqrt(2 / (n - 1))
    assert not check_moments(samples, 0.0, 1 + 8 * se_var).passed
    assert check_moments(samples, 0.0, 1.0).passed


def test_check_moments_rejects_bad_input():
    with pytest.raises(ValueError, match="two samples"):
        check_moments(torch.zeros(1, 3), 0.0, 1.0)
    with pytest.raises(ValueError, match="positive"):
        check_moments(torch.zeros(5, 3), 0.0, 0.0)
    with pytest.raises(ValueError, match=r"\(T\+1,\)"):
        chain_moments(torch.zeros(3), torch.zeros(4))


def test_q_chain_passes_the_check(sched):
    # The library's chain against Eq. (4), as the book does it.
    gen = torch.Generator().manual_seed(4)
    x0 = torch.tensor([[0.9, -0.3]], dtype=torch.float64).expand(5000, 2)
    t = 200
    x_t = dl.q_chain(sched, x0, t, generator=gen)
    ab = sched.alpha_bar[t]
    assert check_moments(x_t, ab.sqrt() * x0[0], 1 - ab).passed
