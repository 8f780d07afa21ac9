"""2-D toy data; the Gaussian mixture whose q(x_t) and score are exact."""

import pytest
import torch

import ddpm_lib as dl


@pytest.mark.parametrize("t", [0, 1, 10, 200, 1000])
def test_closed_form_score_is_the_gradient_of_the_log_density(sched, gen, t):
    mix = dl.eight_gaussians().noised(sched, t)
    x = 2.5 * torch.randn(64, 2, generator=gen, dtype=torch.float64)
    x.requires_grad_(True)
    (grad,) = torch.autograd.grad(mix.log_prob(x).sum(), x)
    torch.testing.assert_close(mix.score(x.detach()), grad)


def test_noised_mixture_is_the_law_of_q_sample(sched, gen):
    # Draw x_0 from the mixture, noise it with Eq. (4), and compare with
    # samples of the closed-form q(x_t): means, covariances, and log-density.
    mix, t, n = dl.eight_gaussians(), 150, 200_000
    x0 = mix.sample(n, generator=gen).double()
    x_t = dl.q_sample(
        sched, x0, t, torch.randn(x0.shape, generator=gen, dtype=torch.float64)
    )
    y = mix.noised(sched, t).sample(n, generator=gen).double()
    torch.testing.assert_close(x_t.mean(0), y.mean(0), atol=0.02, rtol=0)
    torch.testing.assert_close(x_t.T.cov(), y.T.cov(), atol=0.03, rtol=0)
    # The average log-density of q_sample's draws is -(cross-entropy) of
    # q(x_t) with itself: it matches that of the mixture's own draws.
    noised = mix.noised(sched, t)
    assert noised.log_prob(x_t).mean().item() == pytest.approx(
        noised.log_prob(y).mean().item(), abs=0.02
    )


def test_noised_mixture_parameters(sched):
    mix = dl.eight_gaussians(radius=2.0, std=0.1)
    assert mix.noised(sched, 0).means.equal(mix.means)
    end = mix.noised(sched, 1000)
    ab = sched.alpha_bar[1000]
    torch.testing.assert_close(end.means, ab.sqrt() * mix.means)
    torch.testing.assert_close(end.stds, (ab * 0.01 + 1 - ab).sqrt().expand(8))


def test_optimal_eps_beats_perturbed_predictors(sched, gen):
    # ε*(x_t) = E[ε | x_t] minimises E‖ε − f(x_t)‖² over all f.
    mix, t, n = dl.eight_gaussians(), 100, 100_000
    x0 = mix.sample(n, generator=gen).double()
    eps = torch.randn(x0.shape, generator=gen, dtype=torch.float64)
    x_t = dl.q_sample(sched, x0, t, eps)
    best = mix.optimal_eps(sched, x_t, t)
    loss = (eps - best).square().mean()
    for other in (best * 1.1, best * 0.9, best + 0.05, x_t * 0):
        assert (eps - other).square().mean() > loss


def test_procedural_toys_are_reproducible_and_2d():
    for make in (dl.two_moons, dl.swiss_roll):
        a = make(500, generator=torch.Generator().manual_seed(0))
        b = make(500, generator=torch.Generator().manual_seed(0))
        assert a.shape == (500, 2) and a.equal(b)
        assert a.abs().max() < 3


def test_mixture_errors():
    with pytest.raises(ValueError, match="means"):
        dl.GaussianMixture(torch.zeros(3), torch.ones(3), torch.ones(3) / 3)
    with pytest.raises(ValueError, match="sum to 1"):
        dl.GaussianMixture(torch.zeros(2, 2), torch.ones(2), torch.ones(2))
    with pytest.raises(ValueError, match="positive"):
        dl.GaussianMixture(
            torch.zeros(2, 2), torch.zeros(2), torch.ones(2) / 2
        )
