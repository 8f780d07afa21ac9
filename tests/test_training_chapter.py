"""The chapter "Training": its helpers, its exercise check and the shipped
training-frames result (ddpm_book.training, ddpm_book.exercises.training,
ddpm_book.training_frames)."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch

import ddpm_lib as dl
from ddpm_book import training_frames
from ddpm_book.exercises.training import check_training_loss
from ddpm_book.training import book_config, load_frames, loss_by_t
from ddpm_lib.networks.unet import UNet

ROOT = Path(__file__).resolve().parents[1]
RESULT = ROOT / "results" / "training_frames.json"


# -- the exercise ------------------------------------------------------------


def correct(sched, model, x0, generator):
    t = torch.randint(1, sched.T + 1, (x0.shape[0],), generator=generator)
    eps = torch.randn(x0.shape, generator=generator, dtype=x0.dtype)
    x_t = dl.q_sample(sched, x0, t, eps)
    return (eps - model(x_t, t)).square().mean()


def with_t(low, high):
    def fn(sched, model, x0, generator):
        t = torch.randint(low, high, (x0.shape[0],), generator=generator)
        eps = torch.randn(x0.shape, generator=generator, dtype=x0.dtype)
        ab = sched.alpha_bar[t].reshape(-1, *[1] * (x0.ndim - 1))
        x_t = ab.sqrt() * x0 + (1 - ab).sqrt() * eps
        return (eps - model(x_t, t)).square().mean()

    return fn


def zero_based_with_q_sample(sched, model, x0, generator):
    t = torch.randint(0, sched.T, (x0.shape[0],), generator=generator)
    eps = torch.randn(x0.shape, generator=generator, dtype=x0.dtype)
    x_t = dl.q_sample(sched, x0, t, eps)
    return (eps - model(x_t, t)).square().mean()


def x0_target(sched, model, x0, generator):
    t = torch.randint(1, sched.T + 1, (x0.shape[0],), generator=generator)
    eps = torch.randn(x0.shape, generator=generator, dtype=x0.dtype)
    return (x0 - model(dl.q_sample(sched, x0, t, eps), t)).square().mean()


def fresh_noise(sched, model, x0, generator):
    t = torch.randint(1, sched.T + 1, (x0.shape[0],), generator=generator)
    eps = torch.randn(x0.shape, generator=generator, dtype=x0.dtype)
    x_t = dl.q_sample(sched, x0, t, eps)
    eps = torch.randn(x0.shape, generator=generator, dtype=x0.dtype)
    return (eps - model(x_t, t)).square().mean()


def errors(sched, model, x0, generator):
    t = torch.randint(1, sched.T + 1, (x0.shape[0],), generator=generator)
    eps = torch.randn(x0.shape, generator=generator, dtype=x0.dtype)
    return (eps - model(dl.q_sample(sched, x0, t, eps), t)).square()


def shown_x0(sched, model, x0, generator):
    t = torch.randint(1, sched.T + 1, (x0.shape[0],), generator=generator)
    eps = torch.randn(x0.shape, generator=generator, dtype=x0.dtype)
    return (eps - model(x0, t)).square().mean()


def one_t(sched, model, x0, generator):
    t = torch.randint(1, sched.T + 1, (1,), generator=generator)
    eps = torch.randn(x0.shape, generator=generator, dtype=x0.dtype)
    return (eps - model(dl.q_sample(sched, x0, t, eps), t)).square().mean()


def no_generator(sched, model, x0, generator):
    return dl.loss_simple(sched, model, x0)


def library(sched, model, x0, generator):
    return dl.loss_simple(sched, model, x0, generator=generator)


def unfinished(sched, model, x0, generator):
    raise NotImplementedError()


@pytest.mark.parametrize("fn", [correct, library])
def test_the_check_passes_correct_steps(fn):
    feedback = check_training_loss(fn)
    assert feedback.passed, feedback


@pytest.mark.parametrize(
    "fn, words",
    [
        (with_t(0, 1000), "draws t from 0…T−1"),
        (zero_based_with_q_sample, "draws t from 0…T−1"),
        (with_t(1, 1000), "never draws t = T"),
        (x0_target, "compares the model's output with x_0"),
        (fresh_noise, "draws a fresh ε for the target"),
        (lambda *a: errors(*a).sum(), "sums the squared errors"),
        (lambda *a: errors(*a).mean(0), "averages over part of the axes"),
        (
            lambda *a: errors(*a).sum((1, 2, 3)).mean(),
            "averages over the batch only",
        ),
        (shown_x0, "feeds x_0 to the model"),
        (one_t, "one t for the whole batch"),
        (no_generator, "generator=generator"),
    ],
)
def test_the_check_names_each_mistake(fn, words):
    feedback = check_training_loss(fn)
    assert not feedback.passed
    assert words in feedback.message, feedback


def test_an_unfinished_exercise_is_not_written_yet():
    feedback = check_training_loss(unfinished)
    assert feedback.unfinished and "not written yet" in feedback.message


def test_a_crash_is_reported_not_raised():
    feedback = check_training_loss(lambda *a: 1 / 0)
    assert not feedback.passed and "ZeroDivisionError" in feedback.message


# -- the helpers -------------------------------------------------------------


def test_loss_by_t_is_l_simple_at_a_fixed_step():
    sched = dl.linear_schedule(1000)
    torch.manual_seed(0)
    model = UNet(book_config(1, 2).model).eval()
    x0 = torch.rand(6, 1, 28, 28) * 2 - 1
    per_t = loss_by_t(
        model, sched, x0, [1, 500], generator=torch.Generator().manual_seed(3),
        batch_size=4,
    )  # fmt: skip
    g = torch.Generator().manual_seed(3)
    want = []
    for t in (1, 500):
        parts = [torch.randn(p.shape, generator=g) for p in x0.split(4)]
        with torch.no_grad():
            want.append(
                dl.loss_simple(sched, model, x0, t=t, eps=torch.cat(parts))
            )
    torch.testing.assert_close(per_t, torch.stack(want).double(), rtol=1e-5,
                               atol=1e-7)  # fmt: skip


def test_book_config_is_the_tiny_preset_with_a_short_warm_up():
    config = book_config(steps=600, batch_size=32)
    assert config.model.base_channels == 16
    assert config.warmup_steps == 60 and config.lr == 1e-3
    assert config.ema_decay == 0.9999  # the paper's


# -- the shipped frames and their command ------------------------------------


def test_the_shipped_frames_match_their_description():
    result = json.loads(RESULT.read_text())
    frames = load_frames(result)
    steps = result["steps"]
    assert frames.dtype == np.uint8
    assert list(frames.shape) == result["frames_shape"]
    assert frames.shape == (len(steps), result["n"], 28, 28)
    assert steps[0] == 0 and all(
        a < b for a, b in zip(steps, steps[1:], strict=False)
    )
    assert len(result["train_seconds"]) == len(steps)
    assert result["images_seen"] == steps[-1] * result["config"]["batch_size"]
    command = result["provenance"]["command"]
    assert command.startswith("python -m ddpm_book.training_frames ")
    assert "--out results/training_frames.json" in command
    # the later frames are images, not noise: they differ from the first
    assert np.abs(frames[-1].astype(int) - frames[0]).mean() > 10
    size = (
        RESULT.stat().st_size
        + (RESULT.parent / result["frames_file"]).stat().st_size
    )
    assert size < 300_000


def test_the_command_runs_on_a_tiny_budget(tmp_path):
    out = tmp_path / "frames.json"
    code = training_frames.main(
        ["--minutes", "0.01", "--checkpoints", "2", "--n", "2",
         "--ddim-steps", "2", "--batch-size", "4", "--threads", "1",
         "--out", str(out)]
    )  # fmt: skip
    assert code == 0
    result = json.loads(out.read_text())
    frames = load_frames_at(out, result)
    assert frames.shape == (len(result["steps"]), 2, 28, 28)
    assert result["steps"][0] == 0 and result["steps"][-1] >= 1
    assert result["provenance"]["command"].endswith(f"--out {out}")


def load_frames_at(out: Path, result: dict) -> np.ndarray:
    with np.load(out.parent / result["frames_file"]) as npz:
        assert npz["steps"].tolist() == result["steps"]
        return npz["frames"]


@pytest.mark.parametrize(
    "args, words",
    [
        (["--minutes", "0"], "--minutes"),
        (["--minutes", "nan"], "--minutes"),
        (["--minutes", "1", "--checkpoints", "0"], "--checkpoints"),
        (["--minutes", "1", "--n", "0"], "--n"),
        (["--minutes", "1", "--device", "banana"], "--device"),
    ],
)
def test_bad_arguments_are_one_error_line(tmp_path, capsys, args, words):
    code = training_frames.main([*args, "--out", str(tmp_path / "f.json")])
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and words in err[0]


@pytest.mark.parametrize(
    "out, words",
    [("frames.txt", "end in .json"), ("missing/f.json", "does not exist")],
)
def test_bad_output_paths_are_refused_before_any_work(
    tmp_path, capsys, out, words
):
    code = training_frames.main(
        ["--minutes", "1", "--out", str(tmp_path / out)]
    )
    assert code == 2
    assert words in capsys.readouterr().err
    assert not any(tmp_path.rglob("*.npz"))


def test_checkpoint_times_are_geometric_after_zero():
    times = training_frames.checkpoint_times(100.0, 3, first=0.01)
    assert times == pytest.approx([0.0, 1.0, 10.0, 100.0])
