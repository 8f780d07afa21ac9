"""The true backward variance of the posterior chapter restates the math.

``ddpm_book.posterior`` computes Var(x_{t−1} | x_t) for data on finitely
many points as a mixture of ddpm_lib's posteriors q(x_{t−1} | x_t, x_0).
These tests check it against closed forms derived by hand, against Bayes'
rule done by brute force on a grid of x_{t−1} (no q_posterior), and
against simulation of the forward chain; then the chapter's claims: the
pointwise counterexample, and the bracket of the average.
"""

import math

import matplotlib
import pytest
import torch

import ddpm_lib as dl
from ddpm_book import posterior as bp
from ddpm_book.notation import seed_schedule

matplotlib.use("Agg")

STEPS = [1, 2, 5, 10, 50, 100, 200, 500, 1000]


pytestmark = pytest.mark.usefixtures("one_thread")


def coefficient_x0(sched, t):
    """√ᾱ_{t−1} β_t / (1 − ᾱ_t): how μ̃_t moves with x_0, Eq. (7)."""
    ab, ab_prev, beta = sched.alpha_bar[t], sched.alpha_bar[t - 1], sched.beta
    return (ab_prev.sqrt() * beta[t] / (1 - ab)).item()


def beta_tilde(sched, t):
    return dl.reverse_variance(sched, torch.tensor([t]), "beta_tilde").item()


def test_point_data_checks_its_arguments():
    data = bp.two_points()
    assert data.mean == 0 and data.variance == pytest.approx(1)
    one = torch.ones(1, dtype=torch.float64)
    with pytest.raises(ValueError, match="expected points"):
        bp.PointData(torch.zeros(2, dtype=torch.float64), one)
    with pytest.raises(ValueError, match=">= 0"):
        bp.PointData(torch.zeros(2), torch.tensor([1.5, -0.5]))
    with pytest.raises(ValueError, match="sum to 1"):
        bp.PointData(torch.zeros(2), torch.tensor([0.5, 0.6]))
    with pytest.raises(ValueError, match="std > 0"):
        bp.gaussian_points(0.0)
    gauss = bp.gaussian_points(0.7)
    assert gauss.mean == pytest.approx(0, abs=1e-12)
    assert gauss.variance == pytest.approx(0.49, rel=1e-12)


def test_bad_steps_and_shapes_fail_clearly(sched):
    data = bp.two_points()
    for t in (0, sched.T + 1):
        with pytest.raises(ValueError, match="1 <= t <= T"):
            bp.reverse_moments(sched, data, 0.0, t)
        with pytest.raises(ValueError, match="1 <= t <= T"):
            bp.average_reverse_variance(sched, data, t)
    with pytest.raises(ValueError, match=r"shape \(M,\)"):
        bp.reverse_moments(sched, data, torch.zeros(2, 2), 10)


@pytest.mark.parametrize("t", STEPS)
def test_the_data_posterior_is_a_logistic_for_two_points(sched, t):
    # p(+1 | x_t) / p(−1 | x_t) = exp(2 √ᾱ_t x_t / (1 − ᾱ_t)).
    x_t = torch.linspace(-2, 2, 41, dtype=torch.float64)
    ab = sched.alpha_bar[t]
    p = bp.data_posterior(sched, bp.two_points(), x_t, t)
    torch.testing.assert_close(
        p[:, 1], torch.sigmoid(2 * ab.sqrt() * x_t / (1 - ab))
    )
    torch.testing.assert_close(p.sum(dim=1), torch.ones_like(x_t))


@pytest.mark.parametrize("t", STEPS)
def test_a_single_point_gives_the_posterior_itself(sched, t):
    # x_0 = c for sure: q(x_{t−1} | x_t) = q(x_{t−1} | x_t, x_0 = c).
    c = torch.tensor([0.4], dtype=torch.float64)
    point = bp.PointData(c, torch.ones(1, dtype=torch.float64))
    x_t = torch.tensor([-1.0, 0.0, 0.9], dtype=torch.float64)
    mean, var = bp.reverse_moments(sched, point, x_t, t)
    mu, bt = dl.q_posterior(sched, c.expand(3)[:, None], x_t[:, None], t)
    torch.testing.assert_close(mean, mu[:, 0])
    torch.testing.assert_close(var, bt[:, 0])
    assert bp.average_reverse_variance(sched, point, t) == pytest.approx(
        beta_tilde(sched, t), rel=1e-12, abs=1e-300
    )


@pytest.mark.parametrize("t", STEPS)
@pytest.mark.parametrize("std", [0.5, 1.0, 2.0])
def test_gaussian_data_gives_the_jointly_gaussian_answer(sched, t, std):
    # x_0 ~ N(0, s²): (x_{t−1}, x_t) jointly Gaussian with v_t = Var(x_t) =
    # ᾱ_t s² + 1 − ᾱ_t, so Var(x_{t−1} | x_t) = β_t v_{t−1} / v_t at every
    # x_t, and E[x_{t−1} | x_t] = √α_t v_{t−1} / v_t · x_t. For s = 1 that
    # is exactly β_t.
    data = bp.gaussian_points(std, n=4001)  # spacing below the posterior
    ab, ab_prev = sched.alpha_bar[t], sched.alpha_bar[t - 1]
    v_t, v_prev = ab * std**2 + 1 - ab, ab_prev * std**2 + 1 - ab_prev
    expected = (sched.beta[t] * v_prev / v_t).item()
    x_t = torch.tensor([-2.0, -0.3, 0.0, 0.5, 2.5], dtype=torch.float64)
    mean, var = bp.reverse_moments(sched, data, x_t, t)
    torch.testing.assert_close(
        var, torch.full_like(x_t, expected), rtol=1e-9, atol=0
    )
    slope = (sched.alpha[t].sqrt() * v_prev / v_t).item()
    torch.testing.assert_close(mean, slope * x_t, rtol=1e-9, atol=1e-12)
    average = bp.average_reverse_variance(sched, data, t, n_grid=801)
    assert average == pytest.approx(expected, rel=1e-9)
    if std == 1.0:
        assert average == pytest.approx(sched.beta[t].item(), rel=1e-9)


@pytest.mark.parametrize("t", [2, 50, 100, 500])
def test_brute_force_bayes_on_a_grid_of_x_prev(sched, t):
    # q(x_{t−1} | x_t) ∝ q(x_t | x_{t−1}) q(x_{t−1}), with the noised data
    # q(x_{t−1}) = ½ N(−√ᾱ_{t−1}, 1 − ᾱ_{t−1}) + ½ N(+√ᾱ_{t−1}, 1 − ᾱ_{t−1})
    # evaluated on a fine grid: no q_posterior, no mixture algebra.
    ab_prev, alpha, beta = (
        sched.alpha_bar[t - 1],
        sched.alpha[t],
        sched.beta[t],
    )
    grid = torch.linspace(-3, 3, 600_001, dtype=torch.float64)
    prior = torch.logsumexp(
        torch.stack(
            [
                -0.5 * (grid - s * ab_prev.sqrt()) ** 2 / (1 - ab_prev)
                for s in (-1, 1)
            ]
        ),
        dim=0,
    )
    for x_t in (-0.7, 0.0, 0.3, 1.2):
        likelihood = -0.5 * (x_t - alpha.sqrt() * grid) ** 2 / beta
        w = torch.softmax(prior + likelihood, dim=0)
        mean = (w * grid).sum()
        var = (w * (grid - mean) ** 2).sum()
        got_mean, got_var = bp.reverse_moments(sched, bp.two_points(), x_t, t)
        assert got_mean.item() == pytest.approx(mean.item(), abs=1e-9)
        assert got_var.item() == pytest.approx(var.item(), rel=1e-6)


@pytest.mark.parametrize("t", STEPS)
def test_variance_is_beta_tilde_plus_the_spread_of_x0(sched, t):
    # Law of total variance given x_t: Var(x_{t−1} | x_t) = β̃_t + c² ·
    # Var(x_0 | x_t), c the x_0-coefficient of μ̃_t; for ±1 data
    # Var(x_0 | x_t) = 1 − tanh²(√ᾱ_t x_t / (1 − ᾱ_t)).
    x_t = torch.linspace(-1.5, 1.5, 31, dtype=torch.float64)
    ab = sched.alpha_bar[t]
    var_x0 = 1 - torch.tanh(ab.sqrt() * x_t / (1 - ab)) ** 2
    expected = beta_tilde(sched, t) + coefficient_x0(sched, t) ** 2 * var_x0
    _, var = bp.reverse_moments(sched, bp.two_points(), x_t, t)
    torch.testing.assert_close(var, expected, rtol=1e-10, atol=1e-300)


def test_the_pointwise_counterexample(sched):
    # ±1 data at x_t = 0: Var(x_0 | x_t = 0) = 1, and the algebra of the
    # chapter gives Var(x_{t−1} | x_t = 0) / β_t = 1 + ᾱ_{t−1} ᾱ_t β_t /
    # (1 − ᾱ_t)²: above one at every step.
    t = torch.arange(1, sched.T + 1)
    ratios = bp.variance_ratios(sched, bp.two_points(), t, n_grid=11)
    ab, ab_prev, beta = sched.alpha_bar[t], sched.alpha_bar[t - 1], sched.beta
    closed = 1 + ab_prev * ab * beta[t] / (1 - ab) ** 2
    torch.testing.assert_close(ratios.pointwise, closed, rtol=1e-9, atol=0)
    assert (ratios.pointwise > 1).all()
    assert ratios.pointwise[50 - 1].item() == pytest.approx(2.21, abs=0.005)
    assert ratios.pointwise[100 - 1].item() == pytest.approx(1.16, abs=0.005)
    assert ratios.pointwise[0].item() == pytest.approx(
        1 + sched.alpha[1].item() / sched.beta[1].item()
    )
    # Between the two choices (0 at β̃_t, 1 at β_t) it sits at
    # Var(x_0 | x_t = 0) / (1 − ᾱ_t) = 1 / (1 − ᾱ_t), the figure's right
    # panel.
    position = (ratios.pointwise - ratios.beta_tilde) / (1 - ratios.beta_tilde)
    torch.testing.assert_close(position, 1 / (1 - ab), rtol=1e-6, atol=0)


def three_points() -> bp.PointData:
    """Skewed data, rescaled to variance one: x_0 ∈ {a, b, c}."""
    points = torch.tensor([-0.5, 0.2, 3.0], dtype=torch.float64)
    weights = torch.tensor([0.5, 0.4, 0.1], dtype=torch.float64)
    mean = (weights * points).sum()
    std = (weights * (points - mean) ** 2).sum().sqrt()
    return bp.PointData(points / std + 2.0, weights)  # any mean will do


@pytest.mark.parametrize(
    "data", [bp.two_points(), three_points()], ids=["two", "three"]
)
def test_the_average_lies_between_the_two_choices(sched, data):
    # β̃_t ≤ E[Var(x_{t−1} | x_t)] ≤ β_t for unit-variance data.
    assert data.variance == pytest.approx(1)
    t = torch.tensor(STEPS + [20, 150, 300, 700])
    ratios = bp.variance_ratios(sched, data, t)
    slack = 1e-12
    assert (ratios.average >= ratios.beta_tilde - slack).all()
    assert (ratios.average <= 1 + slack).all()
    # Strictly inside where neither end is met: non-Gaussian, spread data.
    middle = (t >= 100) & (t <= 300)
    assert (ratios.average[middle] > ratios.beta_tilde[middle] + 1e-5).all()
    assert (ratios.average[middle] < 1 - 1e-5).all()


def test_the_upper_end_is_the_gaussian_value_for_other_variances(sched):
    # For data of variance s², the bound is the Gaussian value β_t v_{t−1}
    # / v_t, above β_t for s > 1 (±2 data here).
    data = bp.PointData(
        torch.tensor([-2.0, 2.0], dtype=torch.float64),
        torch.tensor([0.5, 0.5], dtype=torch.float64),
    )
    for t in (10, 100, 300):
        ab, ab_prev = sched.alpha_bar[t], sched.alpha_bar[t - 1]
        v_t, v_prev = ab * 4 + 1 - ab, ab_prev * 4 + 1 - ab_prev
        bound = (sched.beta[t] * v_prev / v_t).item()
        average = bp.average_reverse_variance(sched, data, t)
        # At either end the two may agree to the last digits (rounding).
        low, high = beta_tilde(sched, t), bound
        assert low * (1 - 1e-12) <= average <= high * (1 + 1e-12)
        assert bound > sched.beta[t].item()


@pytest.mark.parametrize("t", [100, 200])
def test_the_average_matches_a_simulated_chain(sched, t):
    # E[(x_{t−1} − E[x_{t−1} | x_t])²] over simulated pairs is the average
    # of Var(x_{t−1} | x_t).
    gen = torch.Generator().manual_seed(t)
    n = 400_000
    sign = torch.randint(0, 2, (n, 1), generator=gen).double() * 2 - 1
    noise = torch.randn(2, n, 1, generator=gen, dtype=torch.float64)
    x_prev = dl.q_sample(sched, sign, t - 1, noise[0])
    x_t = dl.q_step(sched, x_prev, t, noise[1])
    mean, _ = bp.reverse_moments(sched, bp.two_points(), x_t[:, 0], t)
    sq = (x_prev[:, 0] - mean) ** 2
    error = 5 * sq.std().item() / math.sqrt(n)
    average = bp.average_reverse_variance(sched, bp.two_points(), t)
    assert sq.mean().item() == pytest.approx(average, abs=error)


def test_the_ratio_figure(sched):
    t = torch.tensor([1, 10, 100, 1000])
    ratios = bp.variance_ratios(sched, bp.two_points(), t)
    assert ratios.t.tolist() == t.tolist()
    for field in ratios[1:]:
        assert field.shape == (4,) and field.dtype == torch.float64
    assert ratios.average[2].item() == pytest.approx(
        bp.average_reverse_variance(sched, bp.two_points(), 100)
        / sched.beta[100].item()
    )
    fig = bp.variance_ratio_figure(ratios)
    assert len(fig.axes) == 2
    assert fig.axes[0].get_yscale() == "log"
    matplotlib.pyplot.close(fig)


def test_the_seeds_posterior_variance_is_beta_tilde(sched):
    # The chapter's note to the seed: the array is β̃_t, not β_t.
    seed = seed_schedule(sched.T)["posterior_variance"]  # index k = t − 1
    t = torch.arange(1, sched.T + 1)
    k = dl.interop.to_zero_based(t)
    torch.testing.assert_close(
        seed[k], dl.reverse_variance(sched, t, "beta_tilde")
    )
    assert seed[0] == 0 and (seed[k] < sched.beta[t]).all()
