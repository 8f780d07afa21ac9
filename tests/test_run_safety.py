"""Runs that cannot be lost or poisoned.

A checkpoint never holds a NaN; no command overwrites one; --resume never
ignores a flag; one run writes a folder at a time; Ctrl-C and SIGTERM
save; killed saves leave no litter; damaged or absurd checkpoints give
the one checkpoint error; devices are named right.
"""

import errno
import json
import os
import signal
import subprocess
import sys
import time
import zipfile
from dataclasses import replace

import pytest
import torch

import ddpm_lib as dl
from ddpm_lib import evaluate, export, sample, train, train_classifier
from ddpm_lib.io import checkpoint as ckpt
from ddpm_lib.io.checkpoint import (
    CheckpointError,
    load_checkpoint,
    load_model,
    save_checkpoint,
)
from ddpm_lib.io.files import OutputError
from ddpm_lib.io.run_folder import LOCK, locked_run_folder
from ddpm_lib.networks.unet import unet_config

SMALL = [
    "--data-limit", "64", "--batch-size", "8", "--warmup-steps", "0",
    "--log-every", "1", "--no-progress", "--dropout", "0",
    "--device", "cpu",
]  # fmt: skip


def small_data(n=32):
    g = torch.Generator().manual_seed(0)
    x = torch.rand(n, 1, 28, 28, generator=g) * 2 - 1
    return dl.DeviceDataset(x, torch.arange(n) % 10)


def config(**changes):
    base = dl.TrainConfig(
        model=unet_config("tiny", dropout=0.0),
        batch_size=8,
        warmup_steps=0,
        log_every=1,
        checkpoint_every=1,
        steps=2,
    )
    return replace(base, **changes)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """A run folder with a 2-step checkpoint of the tiny network."""
    out = tmp_path_factory.mktemp("run")
    dl.Trainer(config(), small_data(), out_dir=out).train()
    return out


@pytest.fixture(autouse=True)
def no_work(monkeypatch):
    """Record every start of real work (sampling, data, training)."""
    started = []

    def recorder(name):
        def fail(*args, **kwargs):
            started.append(name)
            raise AssertionError(f"{name} started")

        return fail

    for module in (sample, evaluate):
        monkeypatch.setattr(module, "generate", recorder("sampling"))
    monkeypatch.setattr(
        train_classifier, "train_classifier", recorder("training")
    )
    return started


def finite(path):
    state = torch.load(path, weights_only=True)
    return not ckpt.non_finite_tensors(
        {k: state[k] for k in ("model", "ema", "optimizer")}
    )


# -- 1. the last good checkpoint is finite ---------------------------------


def poison_the_optimizer_after(step):
    """A Trainer.train_step whose Adam state turns NaN after ``step``: the
    next update makes the weights NaN while the loss computed before it
    is still finite (as --lr inf or --grad-clip nan once did)."""
    real = dl.Trainer.train_step

    def train_step(self):
        if self.step == step:  # the checkpoint of `step` is written
            for state in self.optimizer.state.values():
                state["exp_avg_sq"].fill_(float("nan"))
        return real(self)

    return train_step


def test_a_diverging_run_never_saves_non_finite_weights(tmp_path, monkeypatch):
    monkeypatch.setattr(
        dl.Trainer, "train_step", poison_the_optimizer_after(2)
    )
    trainer = dl.Trainer(config(steps=4), small_data(), out_dir=tmp_path)
    with pytest.raises(dl.TrainingDiverged, match="weights became NaN"):
        trainer.train()
    assert trainer.step == 3 and trainer.history[-1]["step"] == 3
    assert load_checkpoint(tmp_path / "checkpoint.pt")["step"] == 2
    assert finite(tmp_path / "checkpoint.pt")


def test_the_command_reports_which_checkpoint_it_kept(
    tmp_path, monkeypatch, capsys
):
    monkeypatch.setattr(
        dl.Trainer, "train_step", poison_the_optimizer_after(2)
    )
    out = tmp_path / "r"
    args = ["--out", str(out), "--steps", "5", "--checkpoint-every", "1"]
    assert train.main([*args, *SMALL]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: the weights became NaN or infinite")
    assert f"the checkpoint in {out} (step 2) was kept" in err
    assert finite(out / "checkpoint.pt")


@pytest.mark.parametrize(
    "changes",
    [
        {"lr": float("inf")},
        {"lr": float("nan")},
        {"lr": 1e39},
        {"grad_clip": float("nan")},
        {"grad_clip": float("inf")},
        {"ema_decay": float("nan")},
        {"max_minutes": float("nan")},
        {"max_minutes": -1.0},
        {"checkpoint_every": -2},
        {"sample_every": -1},
        {"data_limit": 0},
    ],
)
def test_non_finite_and_negative_settings_are_refused(changes):
    with pytest.raises(ValueError, match=next(iter(changes))):
        config(**changes)


def test_guidance_and_eta_must_be_finite():
    model = dl.UNet(unet_config("tiny_cond")).eval()
    sched, labels = dl.linear_schedule(10), torch.tensor([0])
    for w in (float("nan"), float("inf"), -1.0):
        with pytest.raises(ValueError, match="guidance"):
            dl.generate(model, sched, 1, steps=2, labels=labels, guidance=w)
    with pytest.raises(ValueError, match="eta"):
        dl.generate(model, sched, 1, steps=2, eta=float("nan"))


def poisoned(run_dir, tmp_path):
    """A checkpoint as an older version wrote it after a divergence."""
    state = load_checkpoint(run_dir / "checkpoint.pt")
    for weights in (state["model"], state["ema"]["module"]):
        for value in weights.values():
            if value.is_floating_point():
                value.fill_(float("nan"))
    return save_checkpoint(state, tmp_path / "nan" / "checkpoint.pt")


def test_no_command_uses_non_finite_weights(run_dir, tmp_path, capsys):
    path = poisoned(run_dir, tmp_path)
    with pytest.raises(CheckpointError, match="NaN or infinite weights"):
        load_model(path)
    png = tmp_path / "x.png"
    assert sample.main(["--checkpoint", str(path), "--out", str(png)]) == 2
    assert "NaN or infinite weights" in capsys.readouterr().err
    assert export.main([str(path), str(tmp_path / "e.pt")]) == 2
    assert "NaN or infinite weights" in capsys.readouterr().err
    assert evaluate.main(["--checkpoint", str(path), "--n", "2"]) == 2
    assert "NaN or infinite weights" in capsys.readouterr().err
    with pytest.raises(CheckpointError, match="NaN or infinite"):
        dl.Trainer.resume(path, small_data())
    assert not png.exists() and not (tmp_path / "e.pt").exists()


def test_sample_and_evaluate_refuse_non_finite_samples(
    run_dir, tmp_path, monkeypatch, capsys
):
    def nan_images(model, sched, n, **kwargs):
        return torch.full((n, 1, 28, 28), float("nan"))

    monkeypatch.setattr(sample, "generate", nan_images)
    monkeypatch.setattr(evaluate, "generate", nan_images)
    monkeypatch.setattr(
        evaluate, "_fashion_mnist", lambda: (torch.zeros(4, 1, 28, 28),) * 2
    )
    checkpoint = str(run_dir / "checkpoint.pt")
    png, pt = tmp_path / "x.png", tmp_path / "x.pt"
    base = ["--checkpoint", checkpoint, "--n", "2", "--device", "cpu"]
    assert sample.main([*base, "--out", str(png), "--tensor", str(pt)]) == 2
    assert "2 of 2 samples hold NaN" in capsys.readouterr().err
    assert not png.exists() and not pt.exists()
    report = tmp_path / "r.json"
    assert evaluate.main([*base, "--json", str(report)]) == 2
    assert "samples hold NaN" in capsys.readouterr().err
    assert not report.exists()


# -- 2. no command overwrites a training checkpoint ------------------------


def test_no_command_overwrites_a_training_checkpoint(
    run_dir, tmp_path, capsys, no_work
):
    path = run_dir / "checkpoint.pt"
    before = path.read_bytes()
    c = str(path)
    commands = [
        (export, [c, c]),
        (sample, ["--checkpoint", c, "--tensor", c]),
        (
            sample,
            [
                "--checkpoint",
                c,
                "--out",
                str(tmp_path / "x.png"),
                "--tensor",
                c,
            ],
        ),  # fmt: skip
        (evaluate, ["--checkpoint", c, "--json", c]),
        (evaluate, ["--checkpoint", c, "--save-samples", c]),
        (train_classifier, ["--out", c]),
    ]
    for command, argv in commands:
        assert command.main(argv) == 2, argv
        assert "training checkpoint" in capsys.readouterr().err
    assert path.read_bytes() == before and no_work == []


def test_an_export_may_replace_an_export_but_not_its_input(
    run_dir, tmp_path, capsys
):
    first = tmp_path / "m.pt"
    assert export.main([str(run_dir / "checkpoint.pt"), str(first)]) == 0
    assert export.main([str(run_dir / "checkpoint.pt"), str(first)]) == 0
    m = str(first)
    assert sample.main(["--checkpoint", m, "--tensor", m]) == 2
    assert "is an exported model" in capsys.readouterr().err
    png = str(tmp_path / "x.png")
    assert sample.main(["--checkpoint", m, "--out", png, "--tensor", png]) == 2
    assert "same file" in capsys.readouterr().err
    assert load_model(first)[2].model.base_channels == 16


# -- 3. --resume never ignores a flag --------------------------------------


def test_resume_refuses_flags_that_change_the_run(tmp_path, capsys):
    out = tmp_path / "r"
    assert train.main(["--out", str(out), "--steps", "2", *SMALL]) == 0
    capsys.readouterr()
    before = (out / "checkpoint.pt").read_bytes()
    argv = ["--out", str(out), "--resume", "--lr", "0.5", "--batch-size",
            "32", "--preset", "fashion"]  # fmt: skip
    assert train.main(argv) == 2
    err = capsys.readouterr().err
    for said in ("--lr 0.5 (the run's: 0.0002)", "--batch-size 32",
                 "--preset fashion: base_channels 64"):  # fmt: skip
        assert said in err
    assert (out / "checkpoint.pt").read_bytes() == before
    # Flags equal to the run's are fine; budget and logging may change.
    argv = ["--out", str(out), "--resume", *SMALL, "--lr", "2e-4",
            "--steps", "3", "--log-every", "3"]  # fmt: skip
    assert train.main(argv) == 0
    said = capsys.readouterr().out
    assert "changed: --log-every 3 (was 1), --steps 3 (was 2)" in said
    assert load_checkpoint(out / "checkpoint.pt")["step"] == 3
    assert train.main(["--out", str(out), "--resume", "--steps", "2"]) == 2
    assert "not beyond it" in capsys.readouterr().err


# -- 4. one run writes a folder at a time ----------------------------------


def test_a_second_run_into_a_locked_folder_is_refused(tmp_path, capsys):
    out = tmp_path / "r"
    with locked_run_folder(out):  # as a running training process holds it
        assert train.main(["--out", str(out), "--steps", "1", *SMALL]) == 2
    err = capsys.readouterr().err
    assert f"another process (pid {os.getpid()}) is training into" in err
    assert not (out / "checkpoint.pt").exists()


def test_a_killed_run_never_blocks_its_own_resume(tmp_path, capsys):
    out = tmp_path / "r"
    assert train.main(["--out", str(out), "--steps", "1", *SMALL]) == 0
    holder = subprocess.Popen(  # takes the lock, then is killed
        [sys.executable, "-c",
         "import fcntl, sys, time; f = open(sys.argv[1], 'a+'); "
         "fcntl.flock(f, fcntl.LOCK_EX); print('locked', flush=True); "
         "time.sleep(60)", str(out / LOCK)],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert holder.stdout.readline().strip() == "locked"
    argv = ["--out", str(out), "--resume", "--steps", "2"]
    assert train.main(argv) == 2
    holder.kill()
    holder.wait()
    assert train.main(argv) == 0
    assert load_checkpoint(out / "checkpoint.pt")["step"] == 2


def test_a_folder_that_is_not_a_run_is_never_written(tmp_path, capsys):
    out = tmp_path / "other"
    out.mkdir()
    (out / "history.json").write_text('{"something": "else"}')
    assert train.main(["--out", str(out), "--steps", "1", *SMALL]) == 2
    assert "not a run folder" in capsys.readouterr().err
    assert sorted(p.name for p in out.iterdir()) == ["history.json"]
    assert (out / "history.json").read_text() == '{"something": "else"}'


# -- 5. Ctrl-C and SIGTERM save and exit cleanly ---------------------------


def test_should_stop_ends_the_run_with_a_checkpoint(tmp_path):
    asked = iter([False, False, True])
    trainer = dl.Trainer(
        config(steps=50, checkpoint_every=100),
        small_data(),
        out_dir=tmp_path,
        should_stop=lambda: next(asked),
    )
    trainer.train()
    assert trainer.step == 2
    assert load_checkpoint(tmp_path / "checkpoint.pt")["step"] == 2


@pytest.mark.parametrize(
    "sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"]
)
def test_a_signal_saves_a_checkpoint_and_exits_cleanly(tmp_path, sig):
    out = tmp_path / "r"
    argv = [sys.executable, "-m", "ddpm_lib.train", "--out", str(out),
            "--steps", "100000", "--checkpoint-every", "0",
            *SMALL]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=env,
    )  # fmt: skip
    for _ in range(3):  # a few steps, then the signal
        assert proc.stdout.readline().startswith("step ")
    proc.send_signal(sig)
    out_text, err = proc.communicate(timeout=120)
    assert proc.returncode == 128 + sig, err
    assert "Traceback" not in err
    assert f"stopped by {signal.Signals(sig).name} at step" in err
    step = load_checkpoint(out / "checkpoint.pt")["step"]
    history = json.loads((out / "history.json").read_text())
    assert step >= 3 and history[-1]["step"] == step
    assert f"from step {step}; continue with" in err


# -- 6. temporary files of killed saves are cleared ------------------------


def test_temp_files_of_killed_saves_are_removed_on_start(tmp_path):
    out = tmp_path / "r"
    assert train.main(["--out", str(out), "--steps", "1", *SMALL]) == 0
    litter = [out / ".checkpoint.pt.99999.tmp", out / ".history.json.7.tmp"]
    for path in litter:
        path.write_bytes(b"half a file")
    (out / "notes.txt").write_text("mine")
    assert train.main(["--out", str(out), "--resume", "--steps", "2"]) == 0
    assert not any(p.exists() for p in litter)
    assert (out / "notes.txt").read_text() == "mine"


def test_a_run_killed_before_its_first_save_can_start_again(tmp_path):
    out = tmp_path / "r"
    out.mkdir()
    (out / LOCK).write_text("12345\n")  # what the killed run left
    (out / ".checkpoint.pt.12345.tmp").write_bytes(b"half")
    assert train.main(["--out", str(out), "--steps", "1", *SMALL]) == 0
    assert not (out / ".checkpoint.pt.12345.tmp").exists()


# -- 8. full disks, unwritable outputs -------------------------------------


def disk_full(monkeypatch):
    def full(obj, f, *args, **kwargs):
        f.write(b"part of it")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(torch, "save", full)


def test_a_full_disk_says_so_and_keeps_the_old_file(tmp_path, monkeypatch):
    path = save_checkpoint({"step": 1}, tmp_path / "c.pt")
    before = path.read_bytes()
    disk_full(monkeypatch)
    with pytest.raises(OutputError, match="no space left") as info:
        save_checkpoint({"step": 2}, path)
    assert str(tmp_path) in str(info.value)
    assert "previous file is kept" in str(info.value)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.pt"]


def test_a_full_disk_ends_a_run_with_one_line(tmp_path, monkeypatch, capsys):
    disk_full(monkeypatch)
    out = tmp_path / "r"
    assert train.main(["--out", str(out), "--steps", "2", *SMALL]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: no space left on the device holding")
    assert str(out) in err and "Traceback" not in err


# -- 10. damaged checkpoints: one error, with the path ---------------------


def test_garbage_files_give_the_checkpoint_error(tmp_path):
    text = tmp_path / "text.pt"
    text.write_text("hello, I am not a checkpoint\n" * 10)
    with pytest.raises(CheckpointError, match=str(text)):
        load_checkpoint(text)
    empty = tmp_path / "empty.pt"
    empty.write_bytes(b"")
    with pytest.raises(CheckpointError, match="damaged"):
        load_checkpoint(empty)


def test_every_flipped_byte_is_caught_or_harmless(run_dir, tmp_path):
    good = (run_dir / "checkpoint.pt").read_bytes()
    original = load_checkpoint(run_dir / "checkpoint.pt")
    g = torch.Generator().manual_seed(0)
    path = tmp_path / "flipped.pt"
    caught = 0
    for offset in torch.randint(0, len(good), (20,), generator=g).tolist():
        data = bytearray(good)
        data[offset] ^= 0xFF
        path.write_bytes(bytes(data))
        try:
            state = load_checkpoint(path)
        except CheckpointError as error:
            assert str(path) in str(error)
            caught += 1
        else:  # a byte nobody reads: the contents are intact
            assert ckpt.checksum(state) == ckpt.checksum(original)
    assert caught > 15


def tensor_data_span(path):
    """(start, end) of the largest stored tensor's bytes in the file."""
    with zipfile.ZipFile(path) as z:
        info = max(z.infolist(), key=lambda i: i.file_size)
    with open(path, "rb") as f:
        f.seek(info.header_offset + 26)
        name_len, extra_len = (int.from_bytes(f.read(2), "little")
                               for _ in range(2))  # fmt: skip
    start = info.header_offset + 30 + name_len + extra_len
    return start, start + info.file_size


def test_flipped_tensor_bytes_fail_the_checksum(run_dir, tmp_path):
    data = bytearray((run_dir / "checkpoint.pt").read_bytes())
    start, end = tensor_data_span(run_dir / "checkpoint.pt")
    for i in range(50):
        data[start + i * (end - start) // 50] ^= 0x10
    path = tmp_path / "flipped.pt"
    path.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="checksum"):
        load_model(path)
    # Files written before checksums existed still load.
    state = torch.load(dl.pretrained_path(), weights_only=True)
    state.pop("checksum", None)
    torch.save(state, tmp_path / "before_checksums.pt")
    load_model(tmp_path / "before_checksums.pt")
    dl.load_pretrained()


# -- 11. absurd sizes are refused before anything is allocated -------------


@pytest.mark.parametrize(
    "changes, said",
    [
        ({"image_size": 917504, "attn_resolutions": []}, "image_size is"),
        ({"base_channels": 2**20}, "parameters"),
        ({"num_res_blocks": 10**6}, "num_res_blocks is 1000000"),
        ({"num_groups": 0}, "ZeroDivisionError"),
        ({"channel_mults": [1, -1]}, "channel_mults"),
        ({"image_size": "big"}, "TypeError"),
    ],
)
def test_absurd_sizes_in_a_checkpoint_are_refused(
    run_dir, tmp_path, changes, said
):
    state = load_checkpoint(run_dir / "checkpoint.pt")
    state["config"]["model"].update(changes)
    path = save_checkpoint(state, tmp_path / "absurd.pt")
    start = time.monotonic()
    with pytest.raises(CheckpointError, match=said):
        load_model(path)
    with pytest.raises(CheckpointError, match=said):
        dl.Trainer.resume(path, small_data())
    assert time.monotonic() - start < 20


def test_absurd_sizes_on_the_command_line_are_refused(tmp_path, capsys):
    argv = [
        "--out",
        str(tmp_path / "r"),
        "--base-channels",
        "2048",
        "--channel-mults",
        "1,64,64",
        "--attn-resolutions",
        "7",
    ]
    assert train.main(argv) == 2
    err = capsys.readouterr().err
    assert "parameters" in err and "GB" in err
    assert not (tmp_path / "r").exists()


# -- 12. messages name the real cause --------------------------------------


def test_a_missing_device_is_not_called_damage(
    run_dir, tmp_path, monkeypatch, capsys
):
    with pytest.raises(ValueError, match="unknown device 'banana'"):
        dl.load_pretrained(device="banana")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 0)
    with pytest.raises(ValueError, match="no CUDA GPU") as info:
        load_model(run_dir / "checkpoint.pt", device="cuda")
    assert not isinstance(info.value, CheckpointError)
    argv = ["--checkpoint", str(run_dir / "checkpoint.pt"),
            "--out", str(tmp_path / "x.png"), "--device", "cuda"]  # fmt: skip
    assert sample.main(argv) == 2
    err = capsys.readouterr().err
    assert "no CUDA GPU" in err and "damaged" not in err


# -- siblings --------------------------------------------------------------


def test_processes_under_torchrun_agree_when_to_stop(monkeypatch):
    # Each process reads its own clock and its own signals; stopping at
    # different steps would leave one waiting forever in the next
    # all-reduce. They decide together, at logging steps.
    trainer = dl.Trainer(config(log_every=4), small_data())
    trainer.world = 2
    reduced = []

    def all_reduce(flag, op=None):
        reduced.append(flag.item())
        flag.fill_(1.0)  # the other process wants to stop

    monkeypatch.setattr(dl.training.trainer.dist, "all_reduce", all_reduce)
    trainer.step = 3  # not a logging step: no collective, no stop
    assert not trainer.stopping(deadline=0.0) and reduced == []
    trainer.step = 4
    assert trainer.stopping(deadline=float("inf")) and reduced == [0.0]


def test_evaluate_loads_its_data_before_sampling(
    run_dir, monkeypatch, capsys, no_work
):
    def missing(*args, **kwargs):
        raise dl.DataNotFoundError("fashion_mnist (test) not found locally")

    monkeypatch.setattr(evaluate, "load_images", missing)
    argv = ["--checkpoint", str(run_dir / "checkpoint.pt"), "--n", "2",
            "--device", "cpu"]  # fmt: skip
    assert evaluate.main(argv) == 2
    assert "not found locally" in capsys.readouterr().err
    assert no_work == []


def test_resuming_a_finished_run_does_nothing_and_says_so(tmp_path, capsys):
    out = tmp_path / "r"
    assert train.main(["--out", str(out), "--steps", "1", *SMALL]) == 0
    before = (out / "checkpoint.pt").read_bytes()
    capsys.readouterr()
    assert train.main(["--out", str(out), "--resume"]) == 0
    assert "nothing to do" in capsys.readouterr().out
    assert (out / "checkpoint.pt").read_bytes() == before


def test_an_incomplete_training_state_gives_the_checkpoint_error(
    run_dir, tmp_path
):
    state = load_checkpoint(run_dir / "checkpoint.pt")
    del state["optimizer"]
    path = save_checkpoint(state, tmp_path / "part.pt")
    with pytest.raises(CheckpointError, match="complete ddpm_lib training"):
        dl.Trainer.resume(path, small_data())
    del state["config"]
    path = save_checkpoint(state, tmp_path / "part.pt")
    with pytest.raises(CheckpointError, match="config"):
        load_model(path)


def test_damaged_classifier_weights_say_how_to_get_new_ones(tmp_path):
    from ddpm_lib.evaluation.classifier import load_classifier

    path = tmp_path / "classifier.pt"
    path.write_bytes(b"garbage")
    with pytest.raises(ValueError, match="train_classifier"):
        load_classifier(path)


def test_a_saved_state_dict_keeps_its_module_versions(run_dir):
    state = load_checkpoint(run_dir / "checkpoint.pt")
    assert state["model"]._metadata[""] == {"version": 1}


def test_a_second_ctrl_c_stops_at_once_other_repeats_do_not():
    stop = train.StopSignals()
    stop.handle(signal.SIGINT, None)
    assert stop() and stop.signum == signal.SIGINT
    with pytest.raises(KeyboardInterrupt):
        stop.handle(signal.SIGINT, None)  # impatient: the last save stays
    stop = train.StopSignals()
    stop.handle(signal.SIGTERM, None)
    stop.handle(signal.SIGINT, None)  # torchrun forwards; one request
    stop.handle(signal.SIGTERM, None)
    assert stop.signum == signal.SIGTERM
