"""eps_errors: the floor/excess split of L_simple against the exact ε*."""

import math

import pytest
import torch

import ddpm_lib as dl
from ddpm_book.objective import train_toy
from ddpm_book.toy_eps import eps_errors


def one_gaussian(std: float, dim: int = 2) -> dl.GaussianMixture:
    """Data N(0, std² I) as a one-component mixture."""
    return dl.GaussianMixture(
        means=torch.zeros(1, dim, dtype=torch.float64),
        stds=torch.tensor([std], dtype=torch.float64),
        weights=torch.ones(1, dtype=torch.float64),
    )


def zero_model(x_t, t):
    return torch.zeros_like(x_t)


@pytest.mark.parametrize("t", [1, 30, 300, 1000])
def test_gaussian_data_floor_and_excess_match_closed_forms(sched, gen, t):
    # For x_0 ~ N(0, s² I): x_t ~ N(0, v I) with v = ᾱ s² + 1 − ᾱ, and
    # ε* = √(1 − ᾱ) x_t / v, so per coordinate
    #   floor = Var(ε | x_t) = 1 − (1 − ᾱ)/v = ᾱ s² / v,
    #   E‖ε*‖² = (1 − ᾱ)/v   (the excess of the zero predictor),
    # and the zero predictor's loss is E ε² = 1.
    s = 0.5
    alpha_bar = sched.alpha_bar[t].item()
    v = alpha_bar * s**2 + 1 - alpha_bar
    e = eps_errors(
        zero_model, one_gaussian(s), sched, t, n=200_000, generator=gen
    )
    assert e.floor == pytest.approx(alpha_bar * s**2 / v, rel=0.02)
    assert e.excess == pytest.approx((1 - alpha_bar) / v, rel=0.02)
    assert e.loss == pytest.approx(1.0, rel=0.02)


@pytest.mark.parametrize("t", [1, 50, 500])
def test_the_exact_predictor_has_no_excess(sched, gen, t):
    mixture = dl.eight_gaussians()

    def exact(x_t, steps):
        return mixture.optimal_eps(sched, x_t, int(steps[0]))

    e = eps_errors(
        exact, mixture, sched, t, n=5000, generator=gen, dtype=torch.float64
    )
    assert e.excess < 1e-20
    assert e.loss == pytest.approx(e.floor, rel=1e-12)


def test_loss_is_floor_plus_excess_for_any_predictor(sched, gen):
    # The cross term E[(ε − ε*)·(ε* − ε_θ)] vanishes in expectation.
    mixture = dl.eight_gaussians()
    for t in (10, 100, 700):
        e = eps_errors(
            lambda x, s: 0.7 * x + 0.1,
            mixture,
            sched,
            t,
            n=200_000,
            generator=gen,
        )
        assert e.loss == pytest.approx(e.floor + e.excess, rel=0.02)
        assert e.excess > 0.005


def test_the_floor_falls_where_blobs_separate_and_vanishes_at_T(sched, gen):
    # Eight blobs of std 0.1: at t = 1 the noise (std 0.01) hides inside a
    # blob, unpredictable (floor ≈ 1); at t = T, x_T ≈ ε (floor ≈ 0).
    mixture = dl.eight_gaussians()
    first = eps_errors(zero_model, mixture, sched, 1, n=20_000, generator=gen)
    last = eps_errors(
        zero_model, mixture, sched, 1000, n=20_000, generator=gen
    )
    assert first.floor == pytest.approx(0.01 / (0.01 + 1e-4), rel=0.03)
    assert last.floor < 1e-3
    assert math.isclose(last.loss, 1.0, rel_tol=0.05)


def test_bad_arguments_are_refused(sched):
    mixture = dl.eight_gaussians()
    with pytest.raises(ValueError, match="1 <= t <= T"):
        eps_errors(zero_model, mixture, sched, 0, n=10)
    with pytest.raises(ValueError, match="one int step"):
        eps_errors(zero_model, mixture, sched, torch.tensor([3]), n=10)
    with pytest.raises(ValueError, match="returned shape"):
        eps_errors(lambda x, s: x[:, :1], mixture, sched, 3, n=10)


def test_a_trained_toy_model_has_little_excess_on_gaussian_data(sched, gen):
    # eps_errors tells a trained network from an untrained guess: for
    # Gaussian data ε* is linear in x_t, and a short run gets close to it.
    # Benchmark: the zero predictor, whose excess is E‖ε*‖² / D.
    mixture = one_gaussian(0.5)
    data = mixture.sample(4000, generator=gen)
    run = train_toy(data, sched, steps=300, hidden=32, depth=2, seed=0)
    assert run.losses[-50:].mean() < run.losses[:50].mean()
    # (At small t, ε* ≈ 0 is itself tiny, so compare where it is not.)
    for t in (200, 800):
        trained = eps_errors(
            run.model, mixture, sched, t, n=20_000, generator=gen
        )
        zero = eps_errors(
            zero_model, mixture, sched, t, n=20_000, generator=gen
        )
        assert trained.excess < 0.1 * zero.excess, t
