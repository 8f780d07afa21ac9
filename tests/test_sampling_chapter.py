"""The sampling chapter's helpers (ddpm_book.sampling) and its exercise.

The helpers are checked against the library's samplers on the exact noise
predictor of a Gaussian mixture, where every computation is deterministic
and independent of the batch, so "the same as ddpm_sample" means equal to
the last bit.
"""

import json
from pathlib import Path

import pytest
import torch

import ddpm_lib as dl
from ddpm_book import sampling as bs
from ddpm_book.exercises import sampling as es

NOTEBOOK = Path(__file__).resolve().parents[1] / "book" / "sampling.ipynb"


@pytest.fixture
def toy():
    """A short schedule, the eight Gaussians' exact ε, and a start x_T."""
    sched = dl.linear_schedule(40, beta_T=0.2)
    model = bs.mixture_eps_model(dl.eight_gaussians(), sched)
    g = torch.Generator().manual_seed(0)
    x_T = torch.randn(6, 2, generator=g, dtype=torch.float64)  # noqa: N806
    return sched, model, x_T, g


def test_recorded_steps_run_from_T_to_0_and_include_1():
    steps = bs.recorded_steps(1000, 25)
    assert steps[0] == 1000 and steps[-1] == 0 and 1 in steps
    assert all(a > b for a, b in zip(steps, steps[1:], strict=False))
    assert 20 <= len(steps) <= 26
    with pytest.raises(ValueError):
        bs.recorded_steps(1000, 2)


def test_record_keeps_the_asked_steps_of_ddpm_sample(toy):
    sched, model, x_T, g = toy  # noqa: N806
    state = g.get_state()
    traj = bs.record(
        dl.ddpm_sample(model, sched, x_T, generator=g), [40, 7, 0]
    )
    assert traj.t == [40, 7, 0]
    assert traj.x_t.shape == traj.x0_hat.shape == (3, 6, 2)
    g.set_state(state)
    full = list(dl.ddpm_sample(model, sched, x_T, generator=g))
    assert torch.equal(traj.x_t[1], full[40 - 7].x_t)
    assert torch.equal(traj.x_t[2], full[-1].x_t)
    with pytest.raises(ValueError):
        bs.record(iter(full), [999])


@pytest.mark.parametrize("clip_x0", [False, True])
def test_side_by_side_chains_are_ddpm_sample(toy, clip_x0):
    sched, model, x_T, g = toy  # noqa: N806
    state = g.get_state()
    runs = bs.ddpm_side_by_side(
        model,
        sched,
        x_T,
        clip_x0=clip_x0,
        generator=g,
        keep=range(sched.T + 1),
    )
    for variance in ("beta", "beta_tilde"):
        g.set_state(state)
        reference = list(
            dl.ddpm_sample(
                model,
                sched,
                x_T,
                variance=variance,
                clip_x0=clip_x0,
                generator=g,
            )
        )
        run = runs[variance]
        assert run.t == [r.t for r in reference]
        assert torch.equal(run.x_t, torch.stack([r.x_t for r in reference]))
        assert torch.equal(
            run.x0_hat, torch.stack([r.x0_hat for r in reference])
        )
    assert not torch.equal(runs["beta"].x_t[-1], runs["beta_tilde"].x_t[-1])


def test_noises_like_ddpm_sample_reproduce_ddpm_sample(toy):
    sched, model, x_T, g = toy  # noqa: N806
    state = g.get_state()
    noises = bs.noises_like_ddpm_sample(x_T.shape, sched.T, generator=g)
    assert noises.shape == (sched.T + 1, *x_T.shape)
    assert not noises[0].any()
    g.set_state(state)
    library = dl.final_sample(dl.ddpm_sample(model, sched, x_T, generator=g))
    assert torch.equal(es.reference_loop(model, sched, x_T, noises), library)


def test_mixture_eps_model_takes_ints_and_mixed_steps():
    sched = dl.linear_schedule(50)
    mixture = dl.eight_gaussians()
    model = bs.mixture_eps_model(mixture, sched)
    x = torch.randn(4, 2, generator=torch.Generator().manual_seed(1))
    t = torch.tensor([3, 3, 40, 1])
    got = model(x, t)
    for i, step in enumerate(t.tolist()):
        want = mixture.optimal_eps(sched, x[i : i + 1], step)
        torch.testing.assert_close(got[i : i + 1], want)
    torch.testing.assert_close(model(x, 7), mixture.optimal_eps(sched, x, 7))


# -- the exercise ---------------------------------------------------------


def _solution():
    """The notebook's solution of the exercise, run as the notebook does."""
    cells = json.loads(NOTEBOOK.read_text())["cells"]
    (source,) = [
        "".join(c["source"])
        for c in cells
        if c.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        == "sampling-loop"
    ]
    namespace = {"torch": torch, "dl": dl}
    exec(source, namespace)
    return namespace["sample"]


def test_the_check_passes_the_library_and_the_notebooks_solution():
    assert es.check_sampling_loop(es.reference_loop).passed
    assert es.check_sampling_loop(_solution()).passed


@pytest.mark.parametrize(
    "mistake", es._MISTAKES, ids=lambda m: m.hint.split(";")[0][:40]
)
def test_each_mistake_is_named(mistake):
    feedback = es.check_sampling_loop(mistake.fn)
    assert not feedback.passed
    assert mistake.hint in feedback.message


def test_each_mistake_changes_the_result():
    for case in es._cases():
        want = es.reference_loop(*case.args)
        for mistake in es._MISTAKES:
            got = mistake.fn(*case.args)
            assert not torch.allclose(got, want), mistake.hint


def test_an_unfinished_loop_is_not_written_yet():
    def sample(eps_model, sched, x_T, noises):  # noqa: N803
        raise NotImplementedError()

    feedback = es.check_sampling_loop(sample)
    assert feedback.unfinished and "not written yet" in feedback.message


def test_an_unknown_error_points_to_algorithm_2():
    def sample(eps_model, sched, x_T, noises):  # noqa: N803
        return 1.01 * es.reference_loop(eps_model, sched, x_T, noises)

    feedback = es.check_sampling_loop(sample)
    assert not feedback.passed and "Algorithm 2" in feedback.message


# -- the pretrained model -------------------------------------------------


@pytest.fixture(scope="module")
def pretrained():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield dl.load_pretrained()
    torch.set_num_threads(threads)


def test_start_noise_is_the_x_T_of_generate(pretrained):
    unet, sched, _ = pretrained
    labels = dl.class_labels(2, 10)
    g = torch.Generator().manual_seed(5)
    want = dl.generate(unet, sched, 2, steps=1, labels=labels, generator=g)
    x_T, _ = bs.start_noise(2, seed=5)  # noqa: N806
    model = dl.eps_model(unet, sched, labels=labels)
    run = dl.ddim_sample(model, sched, x_T, [sched.T], clip_x0=True)
    assert torch.equal(dl.final_sample(run).clamp(-1, 1), want)


def test_class_agreement_is_a_share(pretrained):
    from ddpm_lib.evaluation.classifier import load_classifier

    unet, sched, _ = pretrained
    share = bs.class_agreement(
        unet, sched, 10, 2, classifier=load_classifier()
    )
    assert 0 <= share <= 1 and (share * 10) == pytest.approx(round(share * 10))


# -- the result file and its figure ---------------------------------------


def test_quality_figure_draws_the_ddim_rows():
    rows = [
        {
            "sampler": "ddim",
            "steps": s,
            "guidance": 0.0,
            "conditional": True,
            "fcd": 100 / s,
            "agreement": 1 - 1 / s,
        }
        for s in (10, 20, 50)
    ]
    fig = bs.quality_figure({"n": 8, "rows": rows})
    left, right = fig.axes
    assert list(left.lines[0].get_xdata()) == [10, 20, 50]
    assert list(right.lines[0].get_ydata()) == [r["agreement"] for r in rows]


def test_the_quality_file_has_steps_rows_and_provenance():
    path = NOTEBOOK.parents[1] / "results" / "quality_steps.json"
    result = json.loads(path.read_text())
    steps = [
        r["steps"]
        for r in result["rows"]
        if r["sampler"] == "ddim" and r["conditional"] and r["guidance"] == 0
    ]
    assert len(steps) >= 3 and steps == sorted(steps)
    assert result["n"] >= 100
    assert "bench/quality.py" in result["provenance"]["command"]
    assert result["provenance"]["checkpoint_sha256"]


def test_figures_name_their_rows():
    x = torch.rand(3, 1, 28, 28) * 2 - 1
    fig = bs.samples_figure({"first": x, "second": -x})
    labels = [ax.get_ylabel() for ax in fig.axes[::3]]
    assert labels == ["first", "second"] and len(fig.axes) == 6
    traj = bs.Trajectory([5, 0], torch.stack([x, x]), torch.stack([x, -x]))
    fig = bs.trajectory_figure(traj, 1)
    assert fig._suptitle.get_text() == "t = 0"
