"""Figures of the forward-process chapter show the math."""

import matplotlib
import numpy as np
import pytest
import torch

import ddpm_lib as dl
from ddpm_book import forward as ff
from ddpm_book import schedules as bs
from ddpm_book.moments import chain_moments

matplotlib.use("Agg")


def test_the_forward_chapter_still_finds_the_schedules():
    # book/forward.ipynb compares the schedules through this module.
    assert ff.SCHEDULES == bs.SCHEDULES
    assert ff.named_schedule is bs.named_schedule


def test_sample_photo():
    photo = ff.sample_photo(32)
    assert photo.shape == (1, 1, 32, 32) and photo.dtype == torch.float64
    assert -1 <= photo.min() < -0.5 and 0.5 < photo.max() <= 1
    assert photo.std() > 0.2  # a photograph, not a flat field


def test_noising_figure_applies_the_marginal(sched, image):
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
