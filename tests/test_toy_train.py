"""The toy ε-network and its trainer: it really learns the optimal ε.

For a Gaussian mixture the best possible noise prediction is known in
closed form, ε*(x_t, t) = E[ε | x_t] (ddpm_lib.diffusion.toy). Because ε* is
that conditional mean, the loss of any predictor f splits exactly into

    E‖ε − f(x_t)‖² = E‖ε − ε*(x_t)‖² + E‖f(x_t) − ε*(x_t)‖²,

an irreducible part and the predictor's squared distance from ε*. So a
trained network is judged by how much of the reducible loss it removed,
and by its distance from ε* at individual steps.
"""

import math

import pytest
import torch

import ddpm_lib as dl
from ddpm_book.objective import (
    ToyEpsMLP,
    component_posterior,
    optimal_loss,
    sample_summary,
    train_toy,
)

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def trained():
    torch.set_num_threads(1)
    sched = dl.linear_schedule()
    mixture = dl.eight_gaussians()
    data = mixture.sample(20_000, generator=torch.Generator().manual_seed(1))
    run = train_toy(data, sched, steps=2000, seed=0)
    return sched, mixture, run


def _noised_batch(sched, mixture, t, n, seed):
    g = torch.Generator().manual_seed(seed)
    x0 = mixture.sample(n, generator=g)
    eps = torch.randn(x0.shape, generator=g)
    t = torch.full((n,), t) if isinstance(t, int) else t
    return dl.q_sample(sched, x0, t, eps), t, eps


def test_loss_removes_most_of_what_can_be_removed(trained):
    # Held-out x_0, t ~ U{1..T} and ε, the same for every predictor.
    sched, mixture, run = trained
    n = 20_000
    t = dl.sample_timesteps(
        sched, n, generator=torch.Generator().manual_seed(5)
    )
    x_t, t, eps = _noised_batch(sched, mixture, t, n, seed=6)
    with torch.no_grad():
        learned = (eps - run.model(x_t, t)).square().mean().item()
    best = torch.empty(n, 2, dtype=torch.float64)
    for step in t.unique().tolist():
        at = t == step
        best[at] = mixture.optimal_eps(sched, x_t[at].double(), step)
    optimal = (eps.double() - best).square().mean().item()
    zero = eps.square().mean().item()  # a network that predicts 0
    assert optimal < learned < zero
    # zero − optimal is the reducible loss; after 2000 steps the network
    # leaves under 1% of it (0.7–0.8% for seeds 0–2). Allow 3%: the best
    # predictor linear in x_t (what a network blind to the eight modes
    # could learn) leaves 15%.
    assert (learned - optimal) < 0.03 * (zero - optimal)


@pytest.mark.parametrize("t", [20, 100, 300, 1000])
def test_learned_eps_is_close_to_the_optimal_eps(trained, t):
    # Relative error ‖ε_θ − ε*‖² / ‖ε*‖², averaged over x_t ~ q(x_t): 1 for
    # a network that ignores x_t and predicts 0, at most 0.05 for this one
    # (seeds 0–2; largest at small t). The tolerance 0.15 leaves room for
    # other machines' rounding and still fails a network that has not
    # learned ε*, whose shape changes completely between t = 20 (a steep
    # pull towards the nearest of eight centres) and t = 1000 (≈ x_t).
    sched, mixture, run = trained
    x_t, steps, _ = _noised_batch(sched, mixture, t, 4000, seed=t)
    with torch.no_grad():
        learned = run.model(x_t, steps).double()
    best = mixture.optimal_eps(sched, x_t.double(), t)
    error = (learned - best).square().sum(1).mean()
    assert error / best.square().sum(1).mean() < 0.15


def test_samples_land_on_the_mixture(trained):
    # Algorithm 2 with the learned ε: every component gets its share and the
    # spread around the centres is close to the true 0.1.
    sched, mixture, run = trained
    x_T = torch.randn(1000, 2, generator=torch.Generator().manual_seed(3))
    g = torch.Generator().manual_seed(4)
    x0 = dl.final_sample(dl.ddpm_sample(run.model, sched, x_T, generator=g))
    nearest = torch.cdist(x0.double(), mixture.means).argmin(dim=1)
    shares = torch.bincount(nearest, minlength=8) / len(x0)
    assert (shares - 0.125).abs().max() < 0.05
    spread = (x0.double() - mixture.means[nearest]).square().mean().sqrt()
    assert 0.07 < spread < 0.16


def test_training_is_reproducible_and_leaves_global_randomness_alone():
    sched = dl.linear_schedule(100)
    data = torch.randn(64, 2)
    torch.manual_seed(123)
    before = torch.rand(3)
    torch.manual_seed(123)
    a = train_toy(data, sched, steps=5, batch_size=8, hidden=16, seed=7)
    after = torch.rand(3)
    b = train_toy(data, sched, steps=5, batch_size=8, hidden=16, seed=7)
    c = train_toy(data, sched, steps=5, batch_size=8, hidden=16, seed=8)
    assert before.equal(after)  # the global generator was not consumed
    assert a.losses.equal(b.losses) and a.losses.shape == (5,)
    for p, q in zip(a.model.parameters(), b.model.parameters(), strict=True):
        assert p.equal(q)
    assert not a.losses.equal(c.losses)
    assert not a.model.training


def test_the_network_is_time_conditioned():
    model = ToyEpsMLP(2, hidden=16, depth=2)
    x = torch.randn(4, 2)
    out1 = model(x, torch.full((4,), 1))
    out2 = model(x, torch.full((4,), 500))
    assert out1.shape == (4, 2) and not torch.allclose(out1, out2)


def test_bad_input_gives_clear_errors():
    sched = dl.linear_schedule(10)
    with pytest.raises(ValueError, match=r"\(N, D\)"):
        train_toy(torch.randn(10), sched)
    with pytest.raises(ValueError, match=r"\(N, D\)"):
        train_toy(torch.zeros(10, 2, dtype=torch.long), sched)
    with pytest.raises(ValueError, match="positive"):
        train_toy(torch.randn(10, 2), sched, steps=0)
    with pytest.raises(ValueError, match=r"\(B, 2\)"):
        ToyEpsMLP(2)(torch.randn(3, 3), torch.ones(3, dtype=torch.long))
    with pytest.raises(ValueError, match="depth"):
        ToyEpsMLP(2, depth=0)


def test_component_posterior_is_bayes_rule(sched):
    # Restated with the Gaussian density written out, on a mixture with
    # unequal weights and widths.
    mixture = dl.GaussianMixture(
        means=torch.tensor([[0, 0], [1, 0.5], [-1, 2]], dtype=torch.float64),
        stds=torch.tensor([0.3, 0.5, 1.0], dtype=torch.float64),
        weights=torch.tensor([0.5, 0.3, 0.2], dtype=torch.float64),
    )
    x = torch.randn(50, 2, generator=torch.Generator().manual_seed(0)) * 2
    x = x.double()
    sq = (x[:, None, :] - mixture.means[None]).square().sum(-1)  # (B, K)
    var = mixture.stds.square()
    density = torch.exp(-sq / (2 * var)) / (2 * math.pi * var)  # D = 2
    joint = mixture.weights * density
    expected = joint / joint.sum(1, keepdim=True)
    torch.testing.assert_close(component_posterior(mixture, x), expected)
    # After the whole forward process x_T says almost nothing: q(k | x_T)
    # ≈ w_k, up to log-ratios of about √ᾱ_T |x| |μ_k| ≈ 0.0064 · 4 · 2.
    noised = mixture.noised(sched, sched.T)
    far = component_posterior(noised, x)
    torch.testing.assert_close(
        far, mixture.weights.expand_as(far), atol=0.03, rtol=0
    )
    near = component_posterior(mixture.noised(sched, 1), mixture.means)
    assert (near.argmax(1) == torch.arange(3)).all()


def test_optimal_loss_of_one_gaussian_is_its_conditional_variance():
    # x_0 ~ N(μ, s² I): ε given x_t is Gaussian with variance
    # ᾱ_t s² / (ᾱ_t s² + 1 − ᾱ_t) per coordinate, so the floor of L_simple
    # is that variance averaged over t = 1..T.
    sched = dl.linear_schedule(200)
    s = 0.5
    one = dl.GaussianMixture(
        means=torch.tensor([[1.0, -0.5]], dtype=torch.float64),
        stds=torch.tensor([s], dtype=torch.float64),
        weights=torch.ones(1, dtype=torch.float64),
    )
    ab = sched.alpha_bar[1:]
    floor = (ab * s**2 / (ab * s**2 + 1 - ab)).mean().item()
    g = torch.Generator().manual_seed(0)
    estimate = optimal_loss(one, sched, 200_000, generator=g)
    # Monte Carlo error: the squared errors have std ≈ 1.4 · floor.
    assert estimate == pytest.approx(floor, rel=0.01)


def test_sample_summary_of_true_samples_is_the_truth():
    mixture = dl.eight_gaussians()
    g = torch.Generator().manual_seed(0)
    x = mixture.sample(40_000, generator=g)
    summary = sample_summary(x, mixture)
    torch.testing.assert_close(
        summary.shares, mixture.weights, atol=0.01, rtol=0
    )
    assert summary.spread == pytest.approx(0.1, rel=0.01)
    # Mean log-density of true samples = −entropy; for well-separated
    # components that is log w + the entropy of one 2-D Gaussian.
    entropy = -math.log(1 / 8) + math.log(2 * math.pi * math.e * 0.1**2)
    assert summary.log_density == pytest.approx(-entropy, abs=0.02)
    # Samples piled on one centre: one share of 1, no spread.
    piled = sample_summary(mixture.means[:1].expand(10, 2), mixture)
    assert piled.shares[0] == 1 and piled.spread == 0
