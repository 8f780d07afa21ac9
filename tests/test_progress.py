"""The book's progress bar: tqdm in a notebook, plain lines in the build."""

from dataclasses import replace

import pytest
import torch

import ddpm_lib as dl
from ddpm_book.progress import progress
from ddpm_lib.networks.unet import unet_config


@pytest.fixture
def static(monkeypatch):
    monkeypatch.setenv("DDPM_BOOK_BUILD", "1")


@pytest.fixture
def live(monkeypatch):
    monkeypatch.delenv("DDPM_BOOK_BUILD", raising=False)


def test_progress_prints_plain_lines_in_the_book_build(static, capsys):
    for _ in progress(range(1000), desc="training", mininterval=0):
        pass
    out, err = capsys.readouterr()
    lines = out.splitlines()
    assert err == "" and "\r" not in out
    assert lines[0].startswith("training:   0%") and len(lines) >= 2
    assert lines[-1].startswith("training: 100%") and "1000/1000" in out
    assert out.isascii()
    # default: a long interval, so a short loop prints two lines only
    for _ in progress(range(10**5)):
        pass
    out, _ = capsys.readouterr()
    assert len(out.splitlines()) == 2


def test_progress_is_tqdm_auto_in_a_notebook(live):
    from tqdm.auto import tqdm

    bar = progress(total=3, disable=True)
    assert type(bar) is tqdm


def test_the_trainer_progress_bar_is_plain_text_in_the_book_build(
    static, capsys
):
    g = torch.Generator().manual_seed(0)
    x = torch.rand(16, 1, 28, 28, generator=g) * 2 - 1
    data = dl.DeviceDataset(x, torch.arange(16) % 10)
    config = replace(
        dl.TrainConfig(model=unet_config("tiny", dropout=0.0)),
        batch_size=4,
        warmup_steps=0,
        log_every=1,
        checkpoint_every=0,
        steps=3,
    )
    trainer = dl.Trainer(config, data, progress=progress)
    history = trainer.train()
    assert [r["step"] for r in history] == [1, 2, 3]
    out, err = capsys.readouterr()
    lines = out.splitlines()
    assert "\r" not in out and out.isascii() and "training:" not in err
    assert lines[0].startswith("training:   0%")
    assert lines[-1].startswith("training: 100%") and "3/3" in lines[-1]
    assert "loss=" in lines[-1]  # the trainer's postfix
