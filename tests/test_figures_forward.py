"""Figures of the schedule and forward-process chapters show the math."""

import matplotlib
import numpy as np
import pytest
import torch

import ddpm_lib as dl
from ddpm_book import forward as ff
from ddpm_book.moments import chain_moments

matplotlib.use("Agg")


@pytest.fixture
def image():
    gen = torch.Generator().manual_seed(0)
    x0 = torch.rand(1, 1, 8, 8, generator=gen, dtype=torch.float64) * 2 - 1
    eps = torch.randn(1, 1, 8, 8, generator=gen, dtype=torch.float64)
    return x0, eps


def test_named_schedules_and_beta_ranges():
    sched = ff.named_schedule("quadratic", 50, beta_1=1e-3, beta_T=0.05)
    torch.testing.assert_close(
        sched.beta, dl.quadratic_schedule(50, beta_1=1e-3, beta_T=0.05).beta
    )
    cosine = ff.named_schedule("cosine", 50, beta_1=0.1, beta_T=0.2)
    torch.testing.assert_close(cosine.beta, dl.cosine_schedule(50).beta)
    with pytest.raises(ValueError, match="unknown schedule"):
        ff.named_schedule("exponential", 10)
    assert ff.beta_endpoints("1e-4 → 0.02", 100) == (1e-4, 0.02)
    b1, bT = ff.beta_endpoints("1e-4 → 0.02, × 1000/T", 100)
    assert (b1, bT) == pytest.approx((1e-3, 0.2))
    with pytest.raises(ValueError, match="unknown beta range"):
        ff.beta_endpoints("1 → 2", 10)


@pytest.mark.parametrize("T", [100, 250, 4000])
def test_rescaling_keeps_the_sum_of_betas(T):
    # Σ β_t = T (β_1 + β_T) / 2 for a linear schedule: the same as T = 1000.
    b1, bT = ff.beta_endpoints("1e-4 → 0.02, × 1000/T", T)
    total = dl.linear_schedule(T, beta_1=b1, beta_T=bT).beta.sum()
    reference = dl.linear_schedule(1000).beta.sum()
    assert total.item() == pytest.approx(reference.item(), rel=1e-12)


def test_log_snr_is_the_log_of_the_snr(sched):
    torch.testing.assert_close(ff.log_snr(sched), sched.snr()[1:].log())


def _lines(ax):
    return [line.get_ydata() for line in ax.get_lines()]


def test_schedule_figure_plots_the_schedule(image):
    x0, eps = image
    fig = ff.schedule_figure(
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
    np.testing.assert_allclose(_lines(snr_ax)[1], ff.log_snr(sched))
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
    fig = ff.schedule_figure(
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


def test_sample_photo():
    photo = ff.sample_photo(32)
    assert photo.shape == (1, 1, 32, 32) and photo.dtype == torch.float64
    assert -1 <= photo.min() < -0.5 and 0.5 < photo.max() <= 1
    assert photo.std() > 0.2  # a photograph, not a flat field


def test_noising_figure_applies_eq_4(sched, image):
    x0, eps = image
    t = 300
    fig = ff.noising_figure(t=t, sched=sched, images={"a": x0}, eps={"a": eps})
    image_ax, hist_ax = fig.axes
    x_t = dl.q_sample(sched, x0, t, eps).clamp(-1, 1)
    expected = dl.image_grid(x_t.float()).squeeze(-1).numpy()
    shown = np.asarray(image_ax.get_images()[0].get_array())
    np.testing.assert_array_equal(shown, expected)
    # the histogram holds every pixel of x_t (all inside its range)
    counts = sum(p.get_height() for p in hist_ax.patches)
    width = hist_ax.patches[0].get_width()
    assert counts * width == pytest.approx(1.0)
    clean = ff.noising_figure(t=0, sched=sched, images={"a": x0}, eps={})
    shown = np.asarray(clean.axes[0].get_images()[0].get_array())
    np.testing.assert_array_equal(
        shown, dl.image_grid(x0.float()).squeeze(-1).numpy()
    )


def test_variance_figure_plots_the_chain_moments(sched):
    scales = {"ddpm": sched.alpha.sqrt(), "one": torch.ones_like(sched.beta)}
    fig = ff.variance_figure(sched, scales, var0=1.0)
    var_ax, mean_ax = fig.axes
    for line, scale in zip(var_ax.get_lines(), scales.values(), strict=True):
        moments = chain_moments(sched.beta, scale, var0=1.0)
        np.testing.assert_allclose(line.get_ydata(), moments.var)
    np.testing.assert_allclose(
        mean_ax.get_lines()[0].get_ydata(), sched.alpha_bar.sqrt()
    )


def test_schedule_frames_are_valid_explorer_frames(image):
    from ddpm_book.explorer import explore

    x0, eps = image
    t_values = [0, 0.5, 1.0]
    frames = ff.schedule_frames(t_values)
    assert len(frames) == (4 + 4 + 1) * 3
    controls = {
        "schedule": list(ff.SCHEDULES),
        "T": [100, 1000, 4000],
        "beta_range": list(ff.BETA_RANGES),
        "t_over_T": t_values,
    }
    explorer = explore(
        lambda **v: ff.schedule_figure(**v, x0=x0, eps=eps),
        controls,
        frames=frames,
    )
    assert len(explorer.combos) == len(frames)
    # the T lesson: at T = 100 both the fixed and the rescaled range exist
    moved = explorer.nearest(
        {
            "schedule": "linear",
            "T": 100,
            "beta_range": "1e-4 → 0.02, × 1000/T",
            "t_over_T": 0.5,
        },
        "beta_range",
    )
    assert moved["T"] == 100 and moved["beta_range"].endswith("1000/T")
    fig = explorer.frame(schedule="cosine", T=1000, t_over_T=1.0)
    assert "cosine" in fig._suptitle.get_text()
