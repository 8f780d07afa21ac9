"""Every command refuses bad input before doing any work.

The test walks each command's arguments (every option that takes a value
must have bad values here) and calls its ``main(argv)`` in-process: the
answer is one line ``error: …``, exit status 2, no traceback, no work
started and nothing written.
"""

import os
import subprocess
import sys
from dataclasses import replace

import pytest
import torch

import ddpm_lib as dl
from ddpm_lib import evaluate, export, sample, train, train_classifier
from ddpm_lib.networks.unet import unet_config

COMMANDS = {
    "train": train,
    "sample": sample,
    "evaluate": evaluate,
    "export": export,
    "train_classifier": train_classifier,
}
UNWRITABLE = "/proc/ddpm-no-such-folder/out"  # no one may create files here


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """A training checkpoint, a file, a folder and a garbage .pt file."""
    root = tmp_path_factory.mktemp("inputs")
    g = torch.Generator().manual_seed(0)
    data = dl.DeviceDataset(torch.rand(16, 1, 28, 28, generator=g) * 2 - 1)
    config = replace(
        dl.TrainConfig(model=unet_config("tiny", dropout=0.0)),
        batch_size=8,
        steps=1,
        warmup_steps=0,
        log_every=1,
    )
    dl.Trainer(config, data, out_dir=root / "run").train()
    (root / "file.txt").write_text("not a folder")
    (root / "folder").mkdir()
    (root / "garbage.pt").write_text("not a checkpoint\n")
    return {
        "ckpt": str(root / "run" / "checkpoint.pt"),
        "file": str(root / "file.txt"),
        "folder": str(root / "folder"),
        "garbage": str(root / "garbage.pt"),
        "missing": str(root / "missing.pt"),
    }


def bad_values(f):
    """command -> option -> bad values; {name} is filled from ``files``."""
    outputs = [f["folder"], UNWRITABLE + ".pt", f["ckpt"], f["file"] + "/x"]
    return {
        "train": {
            "--out": [f["file"], UNWRITABLE, f["file"] + "/run"],
            "--preset": ["banana"],
            "--dataset": ["imagenet", "cifar10"],  # cifar10: not 28 × 28
            "--data-limit": ["-59990", "0", "x", "4"],  # 4: < batch 8
            "--steps": ["0", "-1", "1.5"],
            "--max-minutes": ["-1", "0", "nan", "inf"],
            "--batch-size": ["0", "-8"],
            "--seed": ["-1", "x", str(2**64)],
            "--device": ["banana", "cuda:99"],
            "--T": ["0", "10000000000"],
            "--schedule": ["exponential"],
            "--prediction": ["score"],
            "--lr": ["inf", "nan", "0", "-1", "1e39"],
            "--warmup-steps": ["-1"],
            "--grad-clip": ["nan", "inf", "0"],
            "--ema-decay": ["1.5", "nan", "-0.1"],
            "--label-dropout": ["1", "nan"],
            "--base-channels": ["-8", "0", "7", "100000"],
            "--channel-mults": ["1,0", "a", "", "1,64,64,64"],
            "--num-res-blocks": ["-1", "1000000"],
            "--attn-resolutions": ["-7", "5"],
            "--num-groups": ["0", "7", "-1"],
            "--dropout": ["1", "nan", "-0.5"],
            "--log-every": ["0"],
            "--checkpoint-every": ["-2"],
            "--sample-every": ["-1"],
        },
        "sample": {
            "--checkpoint": [f["missing"], f["garbage"], f["folder"]],
            "--n": ["0", "-3"],
            "--sampler": ["euler"],
            "--steps": ["0", "1001"],  # 1001 > the model's T
            "--eta": ["nan", "-1", "2"],
            "--label": ["-1", "3"],  # 3: the model is unconditional
            "--guidance": ["nan", "-1", "inf", "2"],
            "--seed": ["-1"],
            "--batch-size": ["0"],
            "--device": ["banana", "cuda:99"],
            "--out": [*outputs, f["folder"] + "/x.txt", f["folder"] + "/x"],
            "--tensor": outputs,
        },
        "evaluate": {
            "--checkpoint": [f["missing"], f["garbage"]],
            "--n": ["1", "10001", "-1"],
            "--sampler": ["euler"],
            "--steps": ["0", "1001"],
            "--guidance": ["nan", "-1", "1"],  # 1: unconditional model
            "--bpd": ["-1", "10001"],
            "--agreement-guidance": ["nan", "-1"],
            "--agreement-n": ["-1", "10001"],
            "--seed": ["-1"],
            "--batch-size": ["0"],
            "--device": ["banana"],
            "--json": outputs,
            "--save-samples": outputs,
        },
        "export": {
            "checkpoint": [f["missing"], f["garbage"]],
            "out": outputs,
        },
        "train_classifier": {
            "--out": outputs,
            "--epochs": ["0", "-1"],
            "--seed": ["-1"],
            "--device": ["banana"],
        },
    }


def base_argv(command, f, tmp):
    return {
        "train": ["--out", f"{tmp}/run", "--steps", "1", "--data-limit",
                  "64", "--batch-size", "8", "--device", "cpu"],
        "sample": ["--checkpoint", f["ckpt"], "--n", "2", "--steps", "2",
                   "--out", f"{tmp}/x.png", "--device", "cpu"],
        "evaluate": ["--checkpoint", f["ckpt"], "--n", "2", "--steps",
                     "2", "--device", "cpu"],
        "export": [f["ckpt"], f"{tmp}/e.pt"],
        "train_classifier": ["--out", f"{tmp}/c.pt"],
    }[command]  # fmt: skip


# Switches are bad only in combination.
BAD_COMBINATIONS = {
    "train": [
        ["--resume"],  # no checkpoint there
        ["--cuda-graph"],  # on the CPU
        ["--compile", "--cuda-graph"],
    ],
    "sample": [
        ["--tensor", "{tmp}/x.png"],  # --out and --tensor: one file
        ["--unconditional", "--guidance", "1"],
    ],
    "evaluate": [
        ["--reference", "--checkpoint", "{ckpt}"],
        ["--json", "{tmp}/r.json", "--save-samples", "{tmp}/r.json"],
    ],
    "export": [],
    "train_classifier": [],
}


def option_names(command) -> set[str]:
    """Every option of the command that takes a value (and positionals)."""
    p = COMMANDS[command].parser()
    names = set()
    for action in p._actions:
        if action.nargs == 0:  # switches and --help
            continue
        names.add(action.option_strings[0] if action.option_strings
                  else action.dest)  # fmt: skip
    return names


@pytest.mark.parametrize("command", COMMANDS)
def test_every_option_that_takes_a_value_has_bad_values_here(command, files):
    assert set(bad_values(files)[command]) == option_names(command)


@pytest.fixture
def work(monkeypatch):
    """Record every start of work: data, sampling, training, export."""
    started = []

    def record(name):
        def fail(*args, **kwargs):
            started.append(name)
            raise AssertionError(f"{name} started")

        return fail

    monkeypatch.setattr(train, "load_images", record("data"))
    for module in (sample, evaluate):
        monkeypatch.setattr(module, "generate", record("sampling"))
    monkeypatch.setattr(evaluate, "load_images", record("data"))
    monkeypatch.setattr(evaluate, "load_classifier", record("classifier"))
    monkeypatch.setattr(
        train_classifier, "train_classifier", record("training")
    )
    return started


def cases(f, tmp):
    for command, options in bad_values(f).items():
        for option, values in options.items():
            for value in values:
                yield command, option, value
        for combination in BAD_COMBINATIONS[command]:
            yield command, None, combination


def listing(folder):
    return sorted(str(p) for p in folder.rglob("*"))


def test_every_command_refuses_bad_input_before_any_work(
    files, tmp_path, capsys, work
):
    failures = []
    for command, option, value in cases(files, tmp_path):
        argv = base_argv(command, files, tmp_path)
        if option is None:
            fill = {**files, "tmp": tmp_path}
            argv += [v.format(**fill) for v in value]
        elif option.startswith("-"):
            argv += [option, value]
        else:  # a positional: replace it
            position = {"checkpoint": 0, "out": 1}[option]
            argv[position] = value
        before = listing(tmp_path)
        try:
            code = COMMANDS[command].main(argv)
        except BaseException as error:  # noqa: B036 - report them all
            failures.append((argv, f"raised {error!r}"))
            continue
        err = capsys.readouterr().err
        problems = []
        if code != 2:
            problems.append(f"exit {code}")
        if not err.startswith("error: ") or err.count("\n") != 1:
            problems.append(f"not one error line: {err!r}")
        if "Traceback" in err:
            problems.append("traceback")
        if work:
            problems.append(f"work started: {work}")
            work.clear()
        if listing(tmp_path) != before:
            problems.append("wrote files")
        if problems:
            failures.append((command, argv[len(base_argv(
                command, files, tmp_path)):] or argv, problems))  # fmt: skip
    assert failures == []


@pytest.mark.parametrize("command", COMMANDS)
def test_help_still_works(command, capsys):
    with pytest.raises(SystemExit) as info:
        COMMANDS[command].main(["--help"])
    assert info.value.code == 0
    assert "usage:" in capsys.readouterr().out


def test_a_device_this_machine_lacks_is_refused_with_the_reason(
    files, monkeypatch, capsys
):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    argv = [
        "--checkpoint",
        files["ckpt"],
        "--out",
        "x.png",
        "--device",
        "cuda",
    ]
    assert sample.main(argv) == 2
    err = capsys.readouterr().err
    assert "no CUDA GPU" in err and "damaged" not in err


def test_bad_input_under_torchrun_is_an_error_line_per_process(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    out = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone",
         "--nproc_per_node=2", "-m", "ddpm_lib.train",
         "--out", str(tmp_path / "r"), "--lr", "nan"],
        capture_output=True, text=True, env=env, timeout=300,
    )  # fmt: skip
    text = out.stdout + out.stderr
    assert out.returncode != 0
    assert text.count("error: --lr must be a finite number; got 'nan'") == 2
    # torchrun reports the failure itself; no process of ours crashed.
    assert "ddpm_lib/train.py" not in text
    assert not (tmp_path / "r").exists()
