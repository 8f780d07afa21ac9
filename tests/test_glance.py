"""The figures of the chapter "Diffusion at a glance" show what they say."""

import re

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from matplotlib.collections import LineCollection

import ddpm_lib as dl
from ddpm_book.glance import plot_paths

matplotlib.use("Agg")

T = 1000


def _paths(n_points=3):
    """A DDPM-like path over every step and a DDIM-like one over a few."""
    gen = torch.Generator().manual_seed(0)
    ddpm_steps = list(range(T, -1, -1))  # 1000, 999, ..., 0
    ddim_steps = dl.ddim_timesteps(T, 10) + [0]  # 1000, 900, ..., 100, 0
    return {
        "DDPM": (
            ddpm_steps,
            torch.randn(len(ddpm_steps), n_points, 2, generator=gen),
        ),
        "DDIM-10": (
            ddim_steps,
            torch.randn(len(ddim_steps), n_points, 2, generator=gen),
        ),
    }


def _panels(fig):
    return [ax for ax in fig.axes if ax.collections and ax.get_title()]


def test_one_panel_per_sampler_and_point_each_with_one_path():
    paths = _paths()
    fig = plot_paths(paths, centres=dl.eight_gaussians().means, T=T)
    panels = _panels(fig)
    assert len(panels) == 2 * 3  # rows: samplers, columns: points
    for ax, (name, n) in zip(
        panels, [(s, n) for s in paths for n in range(3)], strict=True
    ):
        assert ax.get_title() == f"{name}, point {n + 1}"
        (line,) = [c for c in ax.collections if isinstance(c, LineCollection)]
        steps, points = paths[name]
        # The path of point n, segment by segment, in the order visited.
        segments = np.stack(line.get_segments())  # (K-1, 2, 2)
        np.testing.assert_allclose(segments[:, 0], points[:-1, n].numpy())
        np.testing.assert_allclose(segments[:, 1], points[1:, n].numpy())
        # Each segment is coloured by the step t it starts from.
        np.testing.assert_array_equal(line.get_array(), steps[:-1])
        assert line.norm.vmin == 0 and line.norm.vmax == T
    plt.close(fig)


def test_the_colour_bar_spans_the_steps():
    fig = plot_paths(_paths(1), centres=torch.zeros(1, 2), T=T)
    (bar,) = [ax for ax in fig.axes if ax.get_ylabel() == "step t"]
    assert bar.get_ylim() == (0, T)
    plt.close(fig)


def test_start_and_end_markers_sit_on_the_path():
    paths = _paths(1)
    fig = plot_paths(paths, centres=torch.zeros(1, 2), T=T)
    ax = _panels(fig)[0]
    marks = {c.get_label(): c.get_offsets()[0] for c in ax.collections}
    points = paths["DDPM"][1]
    np.testing.assert_allclose(marks["start $x_T$"], points[0, 0].numpy())
    np.testing.assert_allclose(marks["end $x_0$"], points[-1, 0].numpy())
    plt.close(fig)


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda p: {"A": (p["DDPM"][0], p["DDPM"][1][..., 0])}, "(K, N, 2)"),
        (lambda p: {"A": (p["DDPM"][0][:-1], p["DDPM"][1])}, "steps for"),
        (
            lambda p: {
                "A": p["DDPM"],
                "B": (p["DDIM-10"][0], p["DDIM-10"][1][:, :1]),
            },
            "same points",
        ),
        (lambda p: {}, "empty"),
    ],
)
def test_bad_paths_are_refused_with_a_reason(change, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        plot_paths(change(_paths()), centres=torch.zeros(1, 2), T=T)
