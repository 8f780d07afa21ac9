"""The bound: Gaussian KL, the discretised decoder, L_T and the sum."""

import math

import pytest
import torch

import ddpm_lib as dl


def test_normal_kl_matches_torch_distributions_and_monte_carlo(gen):
    m1, v1 = torch.tensor([0.3, -1.0, 2.0]), torch.tensor([0.5, 2.0, 0.1])
    m2, v2 = torch.tensor([0.0, 0.5, 1.5]), torch.tensor([1.0, 0.3, 0.2])
    kl = dl.normal_kl(m1, v1, m2, v2)
    p = torch.distributions.Normal(m1, v1.sqrt())
    q = torch.distributions.Normal(m2, v2.sqrt())
    torch.testing.assert_close(kl, torch.distributions.kl_divergence(p, q))
    x = p.sample((400_000,))
    mc = (p.log_prob(x) - q.log_prob(x)).mean(0)
    torch.testing.assert_close(kl, mc, atol=0.02, rtol=0.02)
    assert dl.normal_kl(m1, v1, m1, v1).abs().max() < 1e-7


@pytest.mark.parametrize(
    "mean, std", [(0.0, 0.1), (0.93, 0.004), (-1.2, 0.5), (0.99, 2.0)]
)
def test_the_256_bin_probabilities_sum_to_one(mean, std):
    levels = torch.arange(256, dtype=torch.float64) / 127.5 - 1
    logp = dl.discretized_gaussian_log_likelihood(
        levels,
        torch.tensor(mean, dtype=torch.float64),
        torch.tensor(std, dtype=torch.float64),
    )
    assert logp.exp().sum().item() == pytest.approx(1.0, abs=1e-6)


def test_a_bin_holds_the_gaussian_mass_of_its_interval():
    x = torch.tensor([-1.0, 0.0 + 1 / 127.5, 1.0], dtype=torch.float64)
    mean, std = 0.05, 0.3

    def cdf(v):
        return 0.5 * (1 + math.erf((v - mean) / (std * math.sqrt(2))))

    expected = [
        cdf(-1 + 1 / 255),
        cdf(x[1].item() + 1 / 255) - cdf(x[1].item() - 1 / 255),
        1 - cdf(1 - 1 / 255),
    ]
    logp = dl.discretized_gaussian_log_likelihood(
        x,
        torch.tensor(mean, dtype=torch.float64),
        torch.tensor(std, dtype=torch.float64),
    )
    torch.testing.assert_close(
        logp.exp(), torch.tensor(expected, dtype=torch.float64)
    )


def test_prior_bpd_is_the_kl_to_a_standard_normal(sched):
    x0 = torch.tensor([[1.0, -1.0, 0.0, 0.5]], dtype=torch.float64)
    ab = sched.alpha_bar[-1].item()
    per_dim = [
        0.5 * (-math.log(1 - ab) + (1 - ab) + ab * v**2 - 1)
        for v in x0[0].tolist()
    ]
    expected = sum(per_dim) / 4 / math.log(2)
    assert dl.prior_bpd(sched, x0).item() == pytest.approx(expected, rel=1e-9)


def test_prior_bpd_on_real_fashion_mnist_is_the_papers_1e_minus_5(
    sched, fashion_mnist_test
):
    # Ho et al. §4: L_T ≈ 1e-5 bits/dim. We measure ≈ 2e-5 on the test set.
    x0 = dl.pixels_to_model(fashion_mnist_test.pixels).double()
    lt = dl.prior_bpd(sched, x0).mean().item()
    assert 5e-6 < lt < 5e-5


def ideal_model(sched, x0):
    def model(x_t, t):
        return dl.eps_from_x0(sched, x_t, t, x0)

    return model


def test_kl_terms_vanish_for_the_ideal_model_with_beta_tilde(sched, gen):
    x0 = (
        torch.randint(0, 256, (3, 2, 2, 2), generator=gen).double() / 127.5 - 1
    )
    eps = torch.randn(x0.shape, generator=gen, dtype=torch.float64)
    t = torch.tensor([2, 50, 1000])
    terms = dl.vlb_term_bpd(
        sched, ideal_model(sched, x0), x0, t, eps, variance="beta_tilde"
    )
    assert terms.abs().max() < 1e-9
    # With σ_t² = β_t the KL is ½(log(β/β̃) + β̃/β − 1) per dim, nats.
    big = dl.vlb_term_bpd(
        sched, ideal_model(sched, x0), x0, t, eps, variance="beta"
    )
    b = sched.beta[t]
    bt = (1 - sched.alpha_bar[t - 1]) / (1 - sched.alpha_bar[t]) * b
    expected = 0.5 * (torch.log(b / bt) + bt / b - 1) / math.log(2)
    torch.testing.assert_close(big, expected)


def test_decoder_term_at_t_1_for_the_ideal_model(sched, gen):
    # μ_θ(x_1, 1) = x_0 exactly, std √β̃_2: each pixel's bin has mass
    # erf(1/255 / (√2 σ)).
    x0 = torch.randint(1, 255, (2, 6), generator=gen).double() / 127.5 - 1
    eps = torch.randn(x0.shape, generator=gen, dtype=torch.float64)
    term = dl.vlb_term_bpd(
        sched, ideal_model(sched, x0), x0, 1, eps, variance="beta"
    )
    ab = sched.alpha_bar
    beta_tilde_2 = (1 - ab[1]) / (1 - ab[2]) * sched.beta[2]
    mass = math.erf(1 / 255 / math.sqrt(2 * beta_tilde_2.item()))
    expected = -math.log(mass) / math.log(2)
    torch.testing.assert_close(
        term, torch.full((2,), expected, dtype=torch.float64)
    )


def test_term_from_eps_is_the_term_of_one_model_call(sched, gen):
    # One ε_θ scores both variances: the same numbers as calling the model.
    x0 = torch.randint(0, 256, (4, 3), generator=gen).double() / 127.5 - 1
    eps = torch.randn(x0.shape, generator=gen, dtype=torch.float64)
    t = torch.tensor([1, 2, 300, 1000])
    x_t = dl.q_sample(sched, x0, t, eps)

    def model(x, steps):
        return 0.3 * x + 0.01 * steps[:, None]

    for variance in ("beta", "beta_tilde"):
        want = dl.vlb_term_bpd(sched, model, x0, t, eps, variance=variance)
        got = dl.vlb_term_from_eps_bpd(
            sched, x0, x_t, t, model(x_t, t), variance=variance
        )
        torch.testing.assert_close(got, want, rtol=0, atol=0)


def test_vlb_bpd_adds_up_its_terms(gen):
    sched = dl.linear_schedule(20)
    x0 = torch.randint(0, 256, (2, 4), generator=gen).double() / 127.5 - 1
    bound = dl.vlb_bpd(
        sched, ideal_model(sched, x0), x0, variance="beta_tilde", generator=gen
    )
    assert bound.terms.shape == (2, 20) and bound.prior.shape == (2,)
    torch.testing.assert_close(bound.total, bound.prior + bound.terms.sum(1))
    # Only L_0 and L_T remain for the ideal model with σ_t² = β̃_t.
    assert bound.terms[:, 1:].abs().max() < 1e-9
    assert (bound.terms[:, 0] > 0).all()


def test_a_worse_model_has_a_larger_bound(gen):
    sched = dl.linear_schedule(20)
    x0 = torch.randint(0, 256, (4, 8), generator=gen).double() / 127.5 - 1
    good = dl.vlb_bpd(sched, ideal_model(sched, x0), x0, variance="beta")
    bad = dl.vlb_bpd(
        sched, lambda x, t: torch.zeros_like(x), x0, variance="beta"
    )
    assert (bad.total > good.total + 1).all()


def test_bound_errors():
    with pytest.raises(ValueError, match="T >= 2"):
        sched = dl.linear_schedule(1)
        x = torch.zeros(1, 2)
        dl.vlb_term_bpd(sched, lambda x, t: x, x, 1, x, variance="beta")
