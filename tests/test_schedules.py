"""Schedules: the index-is-t convention and each schedule's definition."""

import math

import pytest
import torch
from conftest import all_schedules

import ddpm_lib as dl


@pytest.mark.parametrize("name", ["linear", "cosine", "quadratic", "sigmoid"])
def test_index_zero_is_clean_data_and_alpha_bar_decreases(name):
    s = all_schedules()[name]
    assert s.T == 1000
    assert s.beta.shape == s.alpha.shape == s.alpha_bar.shape == (1001,)
    assert s.beta.dtype == torch.float64
    assert s.beta[0] == 0 and s.alpha[0] == 1 and s.alpha_bar[0] == 1
    assert ((s.beta[1:] > 0) & (s.beta[1:] < 1)).all()
    torch.testing.assert_close(s.alpha, 1 - s.beta)
    # ᾱ_t = ∏_{s<=t} α_s, checked term by term against a plain product.
    for t in (1, 2, 10, 500, 1000):
        assert s.alpha_bar[t].item() == pytest.approx(
            math.prod(s.alpha[1 : t + 1].tolist()), rel=1e-12
        )
    assert (s.alpha_bar[1:] < s.alpha_bar[:-1]).all()


def test_linear_matches_the_paper():
    s = dl.linear_schedule()
    assert s.beta[1].item() == pytest.approx(1e-4)
    assert s.beta[1000].item() == pytest.approx(0.02)
    steps = s.beta[2:] - s.beta[1:-1]
    torch.testing.assert_close(steps, torch.full_like(steps, 0.0199 / 999))
    # Ho et al.: x_T is nearly pure noise, ᾱ_T ≈ 4.036e-5.
    assert s.alpha_bar[1000].item() == pytest.approx(4.036e-5, rel=1e-3)


def test_the_seeds_linear_schedule_is_ours_shifted_by_one():
    # The seed's linear_beta_schedule: torch.linspace(1e-4, 0.02, T), 0-based.
    T = 300
    seed_betas = torch.linspace(1e-4, 0.02, T, dtype=torch.float64)
    s = dl.linear_schedule(T)
    torch.testing.assert_close(dl.interop.betas_zero_based(s), seed_betas)
    assert s.beta[dl.interop.from_zero_based(0)] == seed_betas[0]


def test_cosine_is_nichol_dhariwal_eq_17_with_the_square():
    T, s_off = 1000, 0.008
    s = dl.cosine_schedule(T, s=s_off)

    def f(t):
        return math.cos((t / T + s_off) / (1 + s_off) * math.pi / 2) ** 2

    for t in (1, 10, 250, 500, 900):
        assert s.alpha_bar[t].item() == pytest.approx(f(t) / f(0), rel=1e-9)
    # Without the square ᾱ at T/2 would be ≈ 0.71, with it ≈ 0.49.
    assert s.alpha_bar[500].item() == pytest.approx(0.4937, abs=1e-3)
    # Clipping only bites at the very end, where f(T) = 0.
    assert s.beta[T].item() == pytest.approx(0.999)
    assert s.beta[T - 1].item() < 0.999


def test_quadratic_and_sigmoid_formulas():
    q = dl.quadratic_schedule(100, beta_1=1e-4, beta_T=0.02)
    root = torch.linspace(1e-2, math.sqrt(0.02), 100, dtype=torch.float64)
    torch.testing.assert_close(q.beta[1:], root**2)
    sg = dl.sigmoid_schedule(100, beta_1=1e-4, beta_T=0.02)
    ramp = torch.sigmoid(torch.linspace(-6, 6, 100, dtype=torch.float64))
    torch.testing.assert_close(sg.beta[1:], 1e-4 + (0.02 - 1e-4) * ramp)


def test_snr_is_alpha_bar_over_its_complement(sched):
    snr = sched.snr()
    assert math.isinf(snr[0])
    t = 37
    expected = sched.alpha_bar[t] / (1 - sched.alpha_bar[t])
    assert snr[t].item() == pytest.approx(expected.item())
    assert (snr[2:] < snr[1:-1]).all()


def test_schedule_is_frozen_and_to_returns_a_copy(sched):
    with pytest.raises(AttributeError):
        sched.beta = sched.beta * 2
    moved = sched.to("cpu")
    assert moved is not sched and moved.T == sched.T
    torch.testing.assert_close(moved.alpha_bar, sched.alpha_bar)
    assert "T=1000" in repr(sched)


@pytest.mark.parametrize(
    "betas, message",
    [
        ([0.1, 0.0, 0.2], "β_2"),
        ([0.1, 1.0], "β_2"),
        ([-0.5], "β_1"),
        ([0.1, float("nan")], "β_2"),
        ([], "non-empty"),
        ([[0.1, 0.2]], "1-D"),
    ],
)
def test_bad_betas_are_refused(betas, message):
    with pytest.raises(ValueError, match=message):
        dl.schedule_from_betas(betas)


def test_alpha_bar_that_stops_decreasing_is_refused():
    # β close to 1 many times: ᾱ underflows to 0 and stops decreasing.
    with pytest.raises(ValueError, match="strictly decreasing"):
        dl.schedule_from_betas([0.999999] * 200)


@pytest.mark.parametrize(
    "make",
    [
        lambda: dl.linear_schedule(0),
        lambda: dl.linear_schedule(10.5),
        lambda: dl.linear_schedule(10, beta_1=0.02, beta_T=1e-4),
        lambda: dl.quadratic_schedule(10, beta_T=1.5),
        lambda: dl.sigmoid_schedule(10, beta_1=0),
        lambda: dl.cosine_schedule(10, s=-1),
        lambda: dl.cosine_schedule(10, max_beta=1),
    ],
)
def test_bad_schedule_arguments_are_refused(make):
    with pytest.raises(ValueError, match="expected|must"):
        make()


def test_a_hand_built_schedule_must_respect_index_zero():
    s = dl.linear_schedule(10)
    with pytest.raises(ValueError, match="index 0"):
        dl.Schedule(
            beta=s.beta[1:], alpha=s.alpha[1:], alpha_bar=s.alpha_bar[1:]
        )


def test_timesteps_accepts_int_and_tensor_and_refuses_bad_ones(sched):
    x = torch.zeros(3, 2)
    assert dl.timesteps(sched, 5, x).tolist() == [5, 5, 5]
    assert dl.timesteps(sched, torch.tensor([7]), x).tolist() == [7, 7, 7]
    assert dl.timesteps(sched, torch.tensor([1, 2, 1000]), x).dtype == (
        torch.long
    )
    for bad in (0, 1001, torch.tensor([0, 1, 2]), torch.tensor([1, 2, 1001])):
        with pytest.raises(ValueError, match="1 <= t <= T = 1000"):
            dl.timesteps(sched, bad, x)
    with pytest.raises(ValueError, match="integers"):
        dl.timesteps(sched, torch.tensor([1.0, 2.0, 3.0]), x)
    with pytest.raises(ValueError, match=r"shape \(B,\) = \(3,\)"):
        dl.timesteps(sched, torch.tensor([1, 2]), x)
    with pytest.raises(ValueError, match="int"):
        dl.timesteps(sched, 2.0, x)
    assert dl.timesteps(sched, 0, x, lowest=0).tolist() == [0, 0, 0]


def test_append_dims():
    v = torch.arange(3.0)
    assert dl.append_dims(v, 4).shape == (3, 1, 1, 1)
    assert dl.append_dims(v, 1).shape == (3,)
    with pytest.raises(ValueError):
        dl.append_dims(torch.zeros(2, 2), 1)
