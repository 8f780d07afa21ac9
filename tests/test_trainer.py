"""The training engine: it learns, resumes exactly, keeps its speed paths
honest, and never loses or trusts a bad checkpoint."""

import pickle
from dataclasses import replace

import pytest
import torch

import ddpm_lib as dl
from ddpm_lib import TrainConfig, Trainer, TrainingDiverged, load_model
from ddpm_lib.io.checkpoint import (
    CheckpointError,
    load_checkpoint,
    save_checkpoint,
)
from ddpm_lib.networks.unet import unet_config
from ddpm_lib.pipeline import generate
from ddpm_lib.training.ema import EMA
from ddpm_lib.training.step import GraphStep, build_step, optimizer_options


def small_data(n=64, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, 1, 28, 28, generator=g) * 2 - 1
    return dl.DeviceDataset(x, torch.arange(n) % 10)


def config(**changes):
    base = TrainConfig(
        model=unet_config("tiny", dropout=0.0),
        batch_size=8,
        warmup_steps=0,
        log_every=2,
        checkpoint_every=0,
        steps=4,
    )
    return replace(base, **changes)


def params(model):
    return torch.cat([p.detach().flatten() for p in model.parameters()])


def test_training_lowers_the_loss():
    trainer = Trainer(config(steps=40, log_every=10, lr=1e-3), small_data())
    history = trainer.train()
    assert [r["step"] for r in history] == [10, 20, 30, 40]
    assert history[-1]["loss"] < history[0]["loss"]
    assert all(r["images_per_s"] > 0 for r in history)


def test_resuming_continues_the_same_run(tmp_path):
    straight = Trainer(config(steps=6), small_data())
    straight.train()
    first = Trainer(config(steps=3), small_data(), out_dir=tmp_path)
    first.train()
    resumed = Trainer.resume(
        tmp_path / "checkpoint.pt",
        small_data(),
        config=config(steps=6),
    )
    assert resumed.step == 3
    resumed.train()
    assert torch.equal(params(resumed.model), params(straight.model))
    assert torch.equal(params(resumed.ema.module), params(straight.ema.module))
    assert resumed.history[-1] == {
        **straight.history[-1],
        "images_per_s": resumed.history[-1]["images_per_s"],
    }


@pytest.mark.parametrize(
    "switch, tol",
    [
        ({"channels_last": True}, 1e-5),
        ({"fused_optimizer": True}, 1e-6),
        ({"bf16": True}, 3e-2),
    ],
    ids=["channels_last", "fused_optimizer", "bf16_autocast"],
)
def test_speed_paths_compute_what_the_plain_path_computes(switch, tol):
    plain = Trainer(config(steps=3), small_data())
    fast = Trainer(config(steps=3, **switch), small_data())
    losses = [plain.train_step()[0].item() for _ in range(3)]
    fast_losses = [fast.train_step()[0].item() for _ in range(3)]
    assert fast_losses == pytest.approx(losses, rel=tol, abs=tol)
    if not switch.get("bf16"):
        torch.testing.assert_close(
            params(fast.model), params(plain.model), atol=tol, rtol=tol
        )


def test_compiled_network_computes_what_the_eager_one_computes():
    plain = Trainer(config(), small_data())
    compiled = Trainer(config(compile=True), small_data())
    for _ in range(2):
        a, b = plain.train_step()[0], compiled.train_step()[0]
        assert b.item() == pytest.approx(a.item(), rel=1e-4, abs=1e-5)
    torch.testing.assert_close(
        params(compiled.model), params(plain.model), atol=1e-4, rtol=1e-4
    )


def test_ema_is_the_textbook_average_with_warmup():
    net = torch.nn.Linear(3, 2)
    ema = EMA(net, decay=0.99, warmup=True)
    expected = params(net).clone()
    for n in range(5):
        with torch.no_grad():
            for p in net.parameters():
                p.add_(1.0)
        d = min(0.99, (1 + n) / (10 + n))
        expected = d * expected + (1 - d) * params(net)
        ema.update(net)
    torch.testing.assert_close(params(ema.module), expected)
    assert ema.current_decay() == pytest.approx(6 / 15)
    assert EMA(net, decay=0.5, warmup=False).current_decay() == 0.5
    with pytest.raises(ValueError, match="decay"):
        EMA(net, decay=1.0)


def test_ema_with_a_device_tensor_weight_updates_as_with_a_number():
    # The CUDA-graph step passes the weight as a tensor the host refills.
    torch.manual_seed(0)
    net = torch.nn.Linear(3, 2)
    by_number = EMA(net, decay=0.9, warmup=True)
    by_tensor = EMA(net, decay=0.9, warmup=True)
    weight = torch.zeros(())
    for _ in range(4):
        with torch.no_grad():
            for p in net.parameters():
                p.mul_(1.5).add_(0.25)
        by_number.update(net)
        weight.fill_(by_tensor.next_weight())
        by_tensor.average(net, weight)
    torch.testing.assert_close(
        params(by_tensor.module), params(by_number.module)
    )
    assert by_tensor.updates == by_number.updates == 4


def test_the_cuda_graph_switch_is_refused_where_it_cannot_work(monkeypatch):
    with pytest.raises(ValueError, match="CUDA GPU.*Drop --cuda-graph"):
        Trainer(config(cuda_graph=True), small_data())
    with pytest.raises(ValueError, match="one of compile and cuda_graph"):
        config(cuda_graph=True, compile=True)
    monkeypatch.setattr(
        "ddpm_lib.training.trainer.rank_and_world", lambda: (0, 2)
    )
    with pytest.raises(ValueError, match="drop --cuda-graph under torchrun"):
        Trainer(config(cuda_graph=True), small_data())


class ReplayGraph:
    """Stands in for a CUDA graph on the CPU: "capture" records the step
    without running it and returns placeholder outputs; each replay runs
    the recorded step and writes its results into them, as a graph
    rewrites its fixed output tensors."""

    def __init__(self, body):
        self.body, self.replays = body, 0
        self.out = (torch.zeros(()), torch.zeros(()))

    def replay(self):
        self.replays += 1
        for fixed, value in zip(self.out, self.body(), strict=True):
            fixed.copy_(value)


def test_the_graph_step_feeds_each_replay_the_new_batch_lr_and_ema_weight(
    monkeypatch,
):
    # What the CUDA-graph step does around the graph — fixed input tensors
    # refilled with each step's batch, the learning rate and the EMA weight
    # as device tensors refilled in place, eager warm-up steps, one capture
    # — run on the CPU, where replaying means running the recorded step.
    cfg = config(steps=8, warmup_steps=4, ema_decay=0.9, fused_optimizer=True)
    eager = Trainer(cfg, small_data())
    graphed = Trainer(cfg, small_data())
    graph_cfg = replace(cfg, cuda_graph=True)  # past the GPU check
    graphed.optimizer = torch.optim.Adam(
        graphed.model.parameters(), lr=cfg.lr, **optimizer_options(graph_cfg)
    )
    graphed.step_fn = build_step(
        graph_cfg,
        graphed.sched,
        model=graphed.model,
        net=graphed.model,
        optimizer=graphed.optimizer,
        ema=graphed.ema,
    )
    assert isinstance(graphed.step_fn, GraphStep)
    captured = []

    def capture(body):
        captured.append(ReplayGraph(body))
        return captured[-1], captured[-1].out

    monkeypatch.setattr(graphed.step_fn, "capture", capture)
    monkeypatch.setattr(graphed.step_fn, "on_side_stream", lambda body: body())
    for _ in range(8):
        a = eager.train_step()[0].item()
        b = graphed.train_step()[0].item()
        assert b == pytest.approx(a, rel=1e-5)
    (graph,) = captured
    assert graph.replays == 8 - 3  # 3 eager warm-up steps, then replays
    assert isinstance(graphed.optimizer.param_groups[0]["lr"], torch.Tensor)
    torch.testing.assert_close(params(graphed.model), params(eager.model))
    torch.testing.assert_close(
        params(graphed.ema.module), params(eager.ema.module)
    )


def test_a_checkpoint_resumes_under_other_optimizer_switches(tmp_path):
    # A run saved by a GPU with the fused, capturable Adam of the CUDA-graph
    # step (learning rate as a tensor) continues on a CPU with plain Adam.
    straight = Trainer(config(steps=6), small_data())
    straight.train()
    first = Trainer(
        config(steps=3, fused_optimizer=True),
        small_data(),
        out_dir=tmp_path,
    )
    first.train()
    state = torch.load(tmp_path / "checkpoint.pt", weights_only=True)
    for group in state["optimizer"]["param_groups"]:
        group.update(capturable=True, lr=torch.tensor(group["lr"]))
    del state["checksum"]  # edited on purpose: the checksum no longer fits
    torch.save(state, tmp_path / "checkpoint.pt")
    resumed = Trainer.resume(
        tmp_path / "checkpoint.pt",
        small_data(),
        config=config(steps=6),
    )
    (group,) = resumed.optimizer.param_groups
    assert not group["capturable"] and not group["fused"]
    resumed.train()
    assert isinstance(group["lr"], float)
    torch.testing.assert_close(
        params(resumed.model), params(straight.model), atol=1e-6, rtol=1e-6
    )


def test_a_nan_loss_stops_the_run_and_keeps_the_good_checkpoint(tmp_path):
    data = small_data()
    trainer = Trainer(
        config(steps=2, checkpoint_every=2),
        data,
        out_dir=tmp_path,
    )
    trainer.train()
    good = (tmp_path / "checkpoint.pt").read_bytes()
    data.x[:] = float("nan")
    with pytest.raises(
        TrainingDiverged, match="lower the learning rate|Lower"
    ):
        trainer.train(steps=4)
    assert (tmp_path / "checkpoint.pt").read_bytes() == good


def test_checkpoints_are_written_atomically(tmp_path, monkeypatch):
    path = save_checkpoint({"step": 1}, tmp_path / "c.pt")
    before = path.read_bytes()

    def killed(obj, f, *args, **kwargs):
        f.write(b"half a checkpoint")
        raise KeyboardInterrupt  # the run is killed while writing

    monkeypatch.setattr(torch, "save", killed)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint({"step": 2}, path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.pt"]


def test_bad_checkpoints_get_clear_errors(tmp_path):
    with pytest.raises(CheckpointError, match="no checkpoint"):
        load_checkpoint(tmp_path / "missing.pt")
    damaged = tmp_path / "damaged.pt"
    save_checkpoint({"step": 1}, damaged)
    damaged.write_bytes(damaged.read_bytes()[:100])
    with pytest.raises(CheckpointError, match="damaged"):
        load_checkpoint(damaged)
    foreign = tmp_path / "foreign.pt"
    torch.save({"weights": torch.zeros(2)}, foreign)
    with pytest.raises(CheckpointError, match="not written by ddpm_lib"):
        load_checkpoint(foreign)
    code = tmp_path / "code.pt"
    with open(code, "wb") as f:
        pickle.dump({"format": "x", "danger": pickle.Pickler}, f)
    with pytest.raises(CheckpointError):
        load_checkpoint(code)


def test_resuming_with_another_config_is_refused(tmp_path):
    Trainer(config(steps=2), small_data(), out_dir=tmp_path).train()
    with pytest.raises(CheckpointError, match="different lr"):
        Trainer.resume(
            tmp_path / "checkpoint.pt",
            small_data(),
            config=config(steps=4, lr=1e-3),
        )


def test_load_model_returns_the_ema_network(tmp_path):
    trainer = Trainer(config(steps=3), small_data(), out_dir=tmp_path)
    trainer.train()
    model, sched, cfg = load_model(tmp_path / "checkpoint.pt")
    assert torch.equal(params(model), params(trainer.ema.module))
    raw, _, _ = load_model(tmp_path / "checkpoint.pt", ema=False)
    assert torch.equal(params(raw), params(trainer.model))
    assert sched.T == 1000 and cfg == trainer.config
    torch.testing.assert_close(sched.alpha_bar, trainer.sched.alpha_bar)


def test_data_that_does_not_fit_the_network_is_refused():
    cifar_net = config(model=unet_config("cifar10_ddpm"))
    with pytest.raises(ValueError, match="expects"):
        Trainer(cifar_net, small_data())
    unlabelled = dl.DeviceDataset(small_data().x)
    with pytest.raises(ValueError, match="needs labels"):
        Trainer(config(model=unet_config("tiny_cond")), unlabelled)
    with pytest.raises(ValueError, match="schedule"):
        config(schedule="exponential")


def test_generate_with_labels_and_guidance():
    model = dl_unet("tiny_cond")
    sched = dl.linear_schedule(50)
    g = torch.Generator().manual_seed(0)
    labels = torch.tensor([0, 1, 2])
    a = generate(
        model, sched, 3, steps=5, labels=labels, guidance=2.0, generator=g
    )
    assert a.shape == (3, 1, 28, 28) and a.abs().max() <= 1
    g = torch.Generator().manual_seed(0)
    b = generate(
        model, sched, 3, steps=5, labels=labels, guidance=2.0, generator=g
    )
    assert torch.equal(a, b)
    ddpm = generate(model, sched, 2, sampler="ddpm", batch_size=1)
    assert ddpm.shape == (2, 1, 28, 28)
    with pytest.raises(ValueError, match="class-conditional"):
        generate(dl_unet("tiny"), sched, 3, labels=labels, guidance=1.0)
    with pytest.raises(ValueError, match="sampler"):
        generate(model, sched, 1, sampler="euler")


def dl_unet(name):
    from ddpm_lib.networks.unet import UNet

    model = UNet(unet_config(name))
    torch.nn.init.normal_(model.conv_out.weight, std=0.05)
    return model.eval()


@pytest.mark.parametrize("prediction", ["x0", "v"])
def test_x0_and_v_prediction_train_and_sample(tmp_path, prediction):
    trainer = Trainer(
        config(steps=2, prediction=prediction),
        small_data(),
        out_dir=tmp_path,
    )
    trainer.train()
    model, sched, cfg = load_model(tmp_path / "checkpoint.pt")
    assert cfg.prediction == prediction
    images = generate(model, sched, 2, steps=3, prediction=cfg.prediction)
    assert images.shape == (2, 1, 28, 28) and torch.isfinite(images).all()
