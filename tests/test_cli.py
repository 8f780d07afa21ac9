"""The command lines: a newcomer's --help, real runs, and clear errors."""

import json
import os
import socket
import subprocess
import sys

import pytest
import torch

from ddpm_lib import sample, train
from ddpm_lib.io import data


def cli(module, *args):
    return subprocess.run(
        [sys.executable, "-m", f"ddpm_lib.{module}", *args],
        capture_output=True,
        text=True,
    )


SMALL = [
    "--data-limit", "256", "--batch-size", "16", "--warmup-steps", "0",
    "--log-every", "2", "--no-progress", "--dropout", "0",
]  # fmt: skip


def test_help_explains_the_options():
    out = cli("train", "--help")
    assert out.returncode == 0
    for option in ("--preset", "--resume", "--steps", "--bf16", "--compile"):
        assert option in out.stdout
    assert "torchrun" in out.stdout
    out = cli("sample", "--help")
    assert out.returncode == 0
    for option in ("--sampler", "--eta", "--label", "--guidance", "--seed"):
        assert option in out.stdout


def test_train_then_sample(tmp_path, capsys, fashion_mnist_test):
    run = tmp_path / "run"
    assert train.main(["--out", str(run), "--steps", "4", *SMALL]) == 0
    assert "step 4: loss" in capsys.readouterr().out
    history = json.loads((run / "history.json").read_text())
    assert [r["step"] for r in history] == [2, 4]
    png, tensor = tmp_path / "grid.png", tmp_path / "x.pt"
    code = sample.main(
        [
            "--checkpoint", str(run / "checkpoint.pt"), "--n", "4",
            "--steps", "3", "--out", str(png), "--tensor", str(tensor),
        ]
    )  # fmt: skip
    assert code == 0 and png.stat().st_size > 0
    images = torch.load(tensor, weights_only=True)
    assert images.shape == (4, 1, 28, 28) and images.abs().max() <= 1
    # Never overwrite a run by accident; resume it on purpose.
    assert train.main(["--out", str(run), "--steps", "6", *SMALL]) == 2
    assert "--resume" in capsys.readouterr().err
    assert train.main(["--out", str(run), "--resume", "--steps", "6"]) == 0
    assert json.loads((run / "history.json").read_text())[-1]["step"] == 6


def test_class_conditional_sampling_with_guidance(
    tmp_path, fashion_mnist_test
):
    run = tmp_path / "cond"
    args = ["--preset", "tiny_cond", "--steps", "2", *SMALL]
    assert train.main(["--out", str(run), *args]) == 0
    ckpt = str(run / "checkpoint.pt")
    out = str(tmp_path / "g.png")
    base = ["--checkpoint", ckpt, "--n", "2", "--steps", "2", "--out", out]
    assert sample.main([*base, "--label", "7", "--guidance", "2"]) == 0
    assert sample.main([*base, "--unconditional"]) == 0
    assert sample.main([*base, "--label", "10"]) == 2


@pytest.mark.parametrize(
    "args, message",
    [
        (["--attn-resolutions", "5"], "never reached"),
        (["--num-groups", "7"], "not divisible by num_groups"),
        (["--channel-mults", "1,2,2,2,2"], "divisible by"),
        (["--schedule", "cosine", "--lr", "-1"], "lr"),
        (["--resume"], "no checkpoint"),
    ],
)
def test_impossible_runs_are_refused_with_a_reason(
    tmp_path, capsys, args, message
):
    code = train.main(["--out", str(tmp_path / "r"), *args])
    assert code == 2
    assert message in capsys.readouterr().err


def test_a_missing_dataset_says_how_to_get_it(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv(data.DATA_DIR_ENV, raising=False)
    monkeypatch.setattr(data, "DEBIAN_FASHION_MNIST", tmp_path / "absent")
    monkeypatch.setattr(data, "DEFAULT_ROOT", tmp_path / "cache")

    def offline(spec, root, train):
        raise OSError("no network")

    monkeypatch.setattr(data, "_download", offline)
    assert train.main(["--out", str(tmp_path / "r"), "--steps", "1"]) == 2
    err = capsys.readouterr().err
    assert "apt-get install dataset-fashion-mnist" in err
    assert data.DATA_DIR_ENV in err


def test_sample_errors(tmp_path, capsys):
    missing = str(tmp_path / "none.pt")
    assert sample.main(["--checkpoint", missing, "--out", "x.png"]) == 2
    assert "no checkpoint" in capsys.readouterr().err
    assert sample.main(["--checkpoint", missing]) == 2
    assert "nothing to write" in capsys.readouterr().err


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_processes_follow_the_one_process_trajectory(
    tmp_path, fashion_mnist_test
):
    # DistributedDataParallel on 2 CPU processes (gloo), same global batch.
    args = [*SMALL, "--steps", "6", "--log-every", "1"]
    one = cli("train", "--out", str(tmp_path / "one"), *args)
    assert one.returncode == 0, one.stderr
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    two = subprocess.run(
        [
            sys.executable, "-m", "torch.distributed.run",
            "--nproc_per_node=2", f"--master_port={free_port()}",
            "-m", "ddpm_lib.train", "--out", str(tmp_path / "two"), *args,
        ],
        capture_output=True, text=True, env=env,
    )  # fmt: skip
    assert two.returncode == 0, two.stderr[-3000:]
    losses = [
        [
            r["loss"]
            for r in json.loads((tmp_path / d / "history.json").read_text())
        ]
        for d in ("one", "two")
    ]
    assert len(losses[0]) == 6
    assert losses[1] == pytest.approx(losses[0], rel=1e-4, abs=1e-5)
