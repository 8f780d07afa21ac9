"""Helpers and figures of the schedules chapter show the math."""

import math

import matplotlib
import numpy as np
import pytest
import torch

import ddpm_lib as dl
from ddpm_book import schedules as bs

matplotlib.use("Agg")


def test_named_schedules_and_beta_ranges():
    sched = bs.named_schedule("quadratic", 50, beta_1=1e-3, beta_T=0.05)
    torch.testing.assert_close(
        sched.beta, dl.quadratic_schedule(50, beta_1=1e-3, beta_T=0.05).beta
    )
    cosine = bs.named_schedule("cosine", 50, beta_1=0.1, beta_T=0.2)
    torch.testing.assert_close(cosine.beta, dl.cosine_schedule(50).beta)
    with pytest.raises(ValueError, match="unknown schedule"):
        bs.named_schedule("exponential", 10)
    assert bs.beta_endpoints(bs.DDPM_RANGE, 100) == (1e-4, 0.02)
    b1, bT = bs.beta_endpoints(bs.RESCALED_RANGE, 100)
    assert (b1, bT) == pytest.approx((1e-3, 0.2))
    with pytest.raises(ValueError, match="unknown beta range"):
        bs.beta_endpoints("1 → 2", 10)


def test_ranged_schedule_is_the_named_schedule_with_the_range():
    torch.testing.assert_close(
        bs.ranged_schedule("linear", 200, bs.RESCALED_RANGE).beta,
        dl.linear_schedule(200, beta_1=5e-4, beta_T=0.1).beta,
    )
    torch.testing.assert_close(
        bs.ranged_schedule("linear", 300, bs.DDPM_RANGE).beta,
        dl.linear_schedule(300).beta,
    )


@pytest.mark.parametrize("T", [100, 200, 250, 300, 4000])
def test_rescaling_keeps_the_sum_of_betas(T):
    # Σ β_t = T (β_1 + β_T) / 2 for a linear schedule: the same as T = 1000.
    total = bs.ranged_schedule("linear", T, bs.RESCALED_RANGE).beta.sum()
    reference = dl.linear_schedule(1000).beta.sum()
    assert total.item() == pytest.approx(reference.item(), rel=1e-12)


def test_log_snr_is_the_log_of_the_snr(sched):
    torch.testing.assert_close(bs.log_snr(sched), sched.snr()[1:].log())


@pytest.mark.parametrize("T", [100, 200, 300, 1000])
def test_end_of_chain_is_the_prior_term_of_a_saturated_image(T):
    sched = dl.linear_schedule(T)
    end = bs.end_of_chain(sched)
    a = sched.alpha_bar[T].item()
    assert end.T == T and end.alpha_bar_T == a
    assert end.signal == pytest.approx(math.sqrt(a))
    # For x_0 = ±1 the KL of N(√a x_0, 1 − a) from N(0, 1) is −½ log(1 − a)
    # nats per pixel.
    assert end.prior_bpd == pytest.approx(
        -0.5 * math.log1p(-a) / math.log(2), rel=1e-9
    )
    # It bounds L_T of any image in [-1, 1], e.g. a random one.
    x0 = torch.rand(4, 1, 8, 8, dtype=torch.float64) * 2 - 1
    assert (dl.prior_bpd(sched, x0) <= end.prior_bpd).all()
    x0[:, :, 0, 0] = -1.0  # a black pixel counts as much as a white one
    x0[:, :, 1:] = 1.0
    assert dl.prior_bpd(sched, x0).max() < end.prior_bpd


def test_fewer_steps_leave_more_of_the_image_unless_rescaled():
    # log ᾱ_T ≈ −T (β_1 + β_T) / 2: proportional to T with a fixed range,
    # the same for every T once the range is scaled by 1000 / T.
    fixed = {T: bs.end_of_chain(dl.linear_schedule(T)) for T in (200, 300)}
    ddpm = bs.end_of_chain(dl.linear_schedule(1000))
    for T, end in fixed.items():
        first_order = math.exp(-T * (1e-4 + 0.02) / 2)
        assert end.alpha_bar_T == pytest.approx(first_order, rel=0.05)
        assert end.prior_bpd > 1000 * ddpm.prior_bpd
        rescaled = bs.end_of_chain(
            bs.ranged_schedule("linear", T, bs.RESCALED_RANGE)
        )
        assert rescaled.alpha_bar_T == pytest.approx(ddpm.alpha_bar_T, rel=0.5)
        assert rescaled.prior_bpd < 2 * ddpm.prior_bpd
    assert fixed[200].alpha_bar_T > fixed[300].alpha_bar_T > 0.01


def test_first_step_below(sched):
    level = sched.alpha_bar[400].item()
    assert bs.first_step_below(sched, level) == 400
    assert bs.first_step_below(sched, level * (1 + 1e-9)) == 400
    assert bs.first_step_below(sched, level * (1 - 1e-9)) == 401
    assert bs.first_step_below(sched, 1.0) == 1
    assert bs.first_step_below(sched, sched.alpha_bar[-1].item()) == 1000
    with pytest.raises(ValueError, match="never falls"):
        bs.first_step_below(sched, sched.alpha_bar[-1].item() / 2)


def test_with_4000_steps_about_half_shuffle_noise(sched):
    # Σ_{s≤t} β_s of the T = 4000 schedule reaches DDPM's Σ β_t (≈ 10.05)
    # near t = 2000: β_t grows linearly, so the first half of the steps
    # holds a quarter of the schedule's total Σ β_t ≈ 40.2.
    long = dl.linear_schedule(4000)
    t = bs.first_step_below(long, sched.alpha_bar[-1].item())
    assert long.alpha_bar[t] <= sched.alpha_bar[-1] < long.alpha_bar[t - 1]
    assert 0.45 < (4000 - t) / 4000 < 0.55


def _lines(ax):
    return [line.get_ydata() for line in ax.get_lines()]


def test_schedule_figure_plots_the_schedule(image):
    x0, eps = image
    fig = bs.schedule_figure(
        schedule="sigmoid",
        T=200,
        beta_range="1e-4 → 0.01",
        t_over_T=0.25,
        x0=x0,
        eps=eps,
    )
    sched = dl.sigmoid_schedule(200, beta_1=1e-4, beta_T=0.01)
    beta_ax, alpha_bar_ax, snr_ax, image_ax = fig.axes
    # the second curve of each panel is the chosen schedule (the first is
    # the DDPM reference)
    np.testing.assert_allclose(_lines(beta_ax)[1], sched.beta[1:])
    np.testing.assert_allclose(_lines(alpha_bar_ax)[1], sched.alpha_bar[1:])
    np.testing.assert_allclose(_lines(snr_ax)[1], bs.log_snr(sched))
    np.testing.assert_allclose(
        _lines(alpha_bar_ax)[0], dl.linear_schedule().alpha_bar[1:]
    )
    x_t = dl.q_sample(sched, x0, 50, eps).clamp(-1, 1)
    shown = image_ax.get_images()[0].get_array()
    expected = dl.image_grid(x_t.float()).squeeze(-1).numpy()
    np.testing.assert_array_equal(np.asarray(shown), expected)
    assert "t = 50" in image_ax.get_title()
    assert f"{sched.alpha_bar[-1].item():.2e}" in fig._suptitle.get_text()


def test_schedule_figure_at_t_0_shows_the_clean_image(image):
    x0, eps = image
    fig = bs.schedule_figure(
        schedule="cosine",
        T=100,
        beta_range="1e-4 → 0.02",
        t_over_T=0.0,
        x0=x0,
        eps=eps,
    )
    shown = np.asarray(fig.axes[3].get_images()[0].get_array())
    expected = dl.image_grid(x0.float()).squeeze(-1).numpy()
    np.testing.assert_array_equal(shown, expected)


def test_schedule_frames_are_valid_explorer_frames(image):
    from ddpm_book.explorer import explore

    x0, eps = image
    t_values = [0, 0.5, 1.0]
    frames = bs.schedule_frames(t_values)
    assert len(frames) == (4 + 6 + 1) * 3
    controls = {
        "schedule": list(bs.SCHEDULES),
        "T": list(bs.EXPLORER_T),
        "beta_range": list(bs.BETA_RANGES),
        "t_over_T": t_values,
    }
    explorer = explore(
        lambda **v: bs.schedule_figure(**v, x0=x0, eps=eps),
        controls,
        frames=frames,
    )
    assert len(explorer.combos) == len(frames)
    # the T lesson: at T = 200 and 300 (the seed's T and the Annotated
    # Diffusion code's) both the fixed and the rescaled range exist
    for T in (200, 300, 4000):
        moved = explorer.nearest(
            {
                "schedule": "linear",
                "T": T,
                "beta_range": bs.RESCALED_RANGE,
                "t_over_T": 0.5,
            },
            "beta_range",
        )
        assert moved["T"] == T and moved["beta_range"] == bs.RESCALED_RANGE
    # moving T from DDPM's 1000 to the seed's 200 keeps the range
    moved = explorer.nearest(
        {
            "schedule": "linear",
            "T": 200,
            "beta_range": bs.DDPM_RANGE,
            "t_over_T": 1.0,
        },
        "T",
    )
    assert moved["T"] == 200 and moved["beta_range"] == bs.DDPM_RANGE
    fig = explorer.frame(schedule="cosine", T=1000, t_over_T=1.0)
    assert "cosine" in fig._suptitle.get_text()
