"""Exported models and the shipped pretrained model.

An export keeps the EMA weights and what sampling needs, loads like a
checkpoint, refuses to be resumed; the shipped model is class-conditional,
small, and good: the evaluation classifier recognises the class it was
asked for in most of its samples.
"""

from dataclasses import replace

import pytest
import torch

import ddpm_lib as dl
from ddpm_lib import TrainConfig, Trainer, export_model, load_model
from ddpm_lib.export import main as export_main
from ddpm_lib.io.checkpoint import CheckpointError
from ddpm_lib.networks.unet import unet_config
from ddpm_lib.pipeline import fast_network


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    g = torch.Generator().manual_seed(0)
    x = torch.rand(32, 1, 28, 28, generator=g) * 2 - 1
    data = dl.DeviceDataset(x, torch.arange(32) % 10)
    cfg = TrainConfig(
        model=unet_config("tiny_cond", dropout=0.0),
        batch_size=8,
        warmup_steps=0,
        steps=3,
        checkpoint_every=0,
        ema_decay=0.5,
    )
    Trainer(cfg, data, out_dir=out).train()
    return out / "checkpoint.pt"


def test_an_export_holds_the_ema_weights_and_loads_like_a_checkpoint(
    run, tmp_path
):
    path = export_model(run, tmp_path / "model.pt")
    ema, sched, config = load_model(run)
    exported, sched2, config2 = load_model(path)
    assert config2 == config
    assert torch.equal(sched2.beta, sched.beta)
    for (k, a), (k2, b) in zip(
        ema.state_dict().items(), exported.state_dict().items(), strict=True
    ):
        assert k == k2 and torch.equal(a, b)
    raw, _, _ = load_model(run, ema=False)  # the raw weights differ
    assert any(
        not torch.equal(a, b)
        for a, b in zip(raw.parameters(), ema.parameters(), strict=True)
    )
    assert path.stat().st_size < 0.5 * run.stat().st_size


def test_an_export_cannot_be_resumed_or_exported_again(run, tmp_path):
    path = export_model(run, tmp_path / "model.pt")
    data = dl.DeviceDataset(torch.zeros(8, 1, 28, 28), torch.zeros(8).long())
    with pytest.raises(CheckpointError, match="EMA weights only"):
        Trainer.resume(path, data)
    with pytest.raises(CheckpointError, match="EMA weights only"):
        load_model(path, ema=False)
    with pytest.raises(CheckpointError, match="already an export"):
        export_model(path, tmp_path / "again.pt")


def test_export_command(run, tmp_path, capsys):
    assert export_main([str(run), str(tmp_path / "m.pt")]) == 0
    assert "wrote" in capsys.readouterr().out
    assert export_main([str(tmp_path / "missing.pt"), "x.pt"]) == 2
    assert "no checkpoint" in capsys.readouterr().err


def test_the_bf16_sampling_path_matches_float32():
    torch.manual_seed(0)
    unet = dl.UNet(unet_config("tiny", dropout=0.0)).eval()
    for p in unet.parameters():  # no zero-initialised layers
        if p.ndim > 1 and not p.any():
            torch.nn.init.normal_(p, std=0.05)
    assert fast_network(unet, torch.device("cpu")) is unet
    fast = fast_network(unet, torch.device("cpu"), bf16=True)
    x, t = torch.randn(4, 1, 28, 28), torch.tensor([1, 10, 500, 1000])
    with torch.no_grad():
        ref, low = unet(x, t), fast(x, t)
    assert low.dtype == torch.float32
    assert 0 < (low - ref).norm() / ref.norm() < 2e-2  # bf16, not fp32
    sched = dl.linear_schedule(1000)
    a = dl.generate(
        unet, sched, 4, steps=3, generator=torch.Generator().manual_seed(1)
    )
    b = dl.generate(
        unet,
        sched,
        4,
        steps=3,
        bf16=True,
        generator=torch.Generator().manual_seed(1),
    )
    assert (a - b).abs().mean() < 0.02  # a clipped pixel may flip


requires_pretrained = pytest.mark.skipif(
    not dl.pretrained_path().is_file(), reason="pretrained model not shipped"
)


@requires_pretrained
def test_the_pretrained_model_is_small_and_class_conditional():
    assert dl.pretrained_path().stat().st_size <= 16 * 2**20
    model, sched, config = dl.load_pretrained()
    assert config.model == replace(unet_config("fashion_small_cond"))
    assert sched.T == config.T and not model.training


@requires_pretrained
def test_the_pretrained_model_draws_the_class_it_is_asked_for():
    """Far above chance (10%) without guidance; guidance raises it further.

    On 2,000 samples the agreement is above 0.9 at DDIM-20 without guidance
    (results/logs/gpu_run_4.txt: 0.905); 40 samples carry about ±7% noise.
    """
    from ddpm_lib.evaluation.classifier import load_classifier

    model, sched, config = dl.load_pretrained()
    classifier = load_classifier()
    labels = torch.arange(40) % 10

    def agreement(w):
        g = torch.Generator().manual_seed(0)
        images = dl.generate(
            model, sched, 40, steps=20, labels=labels, guidance=w, generator=g
        )
        return (classifier(images).argmax(1) == labels).float().mean().item()

    plain, guided = agreement(0.0), agreement(1.0)
    assert plain >= 0.5, f"only {plain:.0%} recognised"
    assert guided >= 0.85 and guided > plain, (plain, guided)


@requires_pretrained
def test_the_model_card_and_the_training_record_describe_the_shipped_file():
    import json
    import subprocess
    import sys
    from pathlib import Path

    from ddpm_lib.evaluation.provenance import sha256

    root = Path(__file__).resolve().parent.parent
    run = json.loads((root / "results/runs/pretrained_train.json").read_text())
    assert run["weights_sha256"] == sha256(dl.pretrained_path())
    card = subprocess.run(
        [sys.executable, str(root / "scripts/model_card.py"), "--check"],
        capture_output=True,
        text=True,
    )
    assert card.returncode == 0, card.stdout + card.stderr


def test_the_reproduce_command_trains_the_recorded_steps_on_any_card():
    # The record's command stopped on a time budget; the card's reproduce
    # command is the same configuration, fixed at the steps it reached.
    import importlib.util
    import shlex
    from dataclasses import replace
    from pathlib import Path

    from ddpm_lib import train

    script = Path(__file__).resolve().parent.parent / "scripts/model_card.py"
    spec = importlib.util.spec_from_file_location("model_card", script)
    model_card = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(model_card)
    run = model_card.training_record()

    def config(command: str):
        words = shlex.split(command)
        assert words[:3] == ["python", "-m", "ddpm_lib.train"]
        return train.config_from_args(train.parser().parse_args(words[3:]))

    recorded = config(run["command"])
    again = config(model_card.reproduce_command(run))
    assert recorded.max_minutes is not None and again.max_minutes is None
    assert again.steps == run["steps"] < recorded.steps
    assert again == replace(recorded, steps=run["steps"], max_minutes=None)


def test_the_training_record_is_read_back_from_the_gpu_log(tmp_path):
    """scripts/update_pretrained.py rebuilds the committed record from the
    log it names; a folder without a GPU run's files is refused."""
    import importlib.util
    import json
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    script = root / "scripts/update_pretrained.py"
    spec = importlib.util.spec_from_file_location("update_pretrained", script)
    update = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(update)
    run = json.loads((root / "results/runs/pretrained_train.json").read_text())
    log = (root / run["log"]).read_text()
    again = update.training_record(log, run["log"])
    assert again == {
        k: v
        for k, v in run.items()
        if k not in ("commit", "date", "weights_sha256")
    }
    with pytest.raises(SystemExit, match="no finished train step"):
        update.training_record("== train: skipped\n", run["log"])
    with pytest.raises(SystemExit, match="run bench/gpu_run.sh first"):
        update.main(
            [
                str(tmp_path),
                "--log-name",
                "x.txt",
                "--commit",
                "c",
                "--date",
                "2026-01-01",
            ]  # fmt: skip
        )
