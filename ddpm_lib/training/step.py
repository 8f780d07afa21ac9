"""One training step of Algorithm 1 (Ho et al. 2020), built once per run.

:func:`draw_batch` draws lines 2–4 (x_0, t, ε, and the labels with
label dropout); :func:`build_step` returns the function that does lines
5–6 (the loss, its gradient, Adam) and the EMA update. It is built in one
of three ways with one call signature, ``step(batch, lr) -> (loss,
grad_norm)``, so the training loop never asks how:

* eager: plain PyTorch (``torch.compile`` of the network is part of it,
  since compiling changes the network, not the step);
* graph: on a GPU the whole step captured once in a CUDA graph and
  replayed, after a few eager warm-up steps, so small batches are not
  bound by launching thousands of kernels from Python.

Both read the loss and the gradient norm as device tensors: a step never
waits for the device.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import torch
from torch import Tensor, nn

from ddpm_lib.diffusion.objective import loss_simple, sample_timesteps
from ddpm_lib.diffusion.schedules import Schedule
from ddpm_lib.io.data import DeviceDataset
from ddpm_lib.training.config import TrainConfig
from ddpm_lib.training.ema import EMA

__all__ = [
    "GRAPH_WARMUP_STEPS",
    "Batch",
    "GraphStep",
    "Step",
    "build_step",
    "draw_batch",
    "optimizer_options",
]

# Eager steps (on a side stream) before a step is captured in a CUDA graph:
# they create the optimizer's state and warm up cuBLAS and autocast.
GRAPH_WARMUP_STEPS = 3


class Batch(NamedTuple):
    """One step's inputs: x_0 (B, C, H, W), t (B,), ε (B, C, H, W) and
    the labels (B,) or None."""

    x0: Tensor
    t: Tensor
    eps: Tensor
    labels: Tensor | None


# step(batch, lr) -> (loss, grad_norm), both 0-dim device tensors
Step = Callable[[Batch, float], tuple[Tensor, Tensor]]


def draw_batch(
    data: DeviceDataset,
    sched: Schedule,
    config: TrainConfig,
    step: int,
    generator: torch.Generator,
    *,
    rank: int = 0,
    world: int = 1,
) -> Batch:
    """This process's share of step ``step``'s global batch.

    Every process draws the same global batch (the data's order is a pure
    function of the seed and the step; t, ε and label dropout come from
    ``generator``) and keeps its slice, so N processes follow the
    trajectory of one process with the same global batch.
    """
    b, device = config.batch_size, data.device
    # Algorithm 1, line 2: x_0 ~ q(x_0).
    x0, labels = data.batch_at(step, b, seed=config.seed)
    # Algorithm 1, lines 3-4: t ~ Uniform{1..T}, ε ~ N(0, I).
    t = sample_timesteps(sched, b, device=device, generator=generator)
    eps = torch.randn(x0.shape, generator=generator, device=device)
    if config.model.num_classes is None:
        labels = None
    else:  # label dropout trains the unconditional (null) model too
        drop = torch.rand(b, generator=generator, device=device)
        null = torch.full_like(labels, config.model.null_label)
        labels = torch.where(drop < config.label_dropout, null, labels)
    if config.channels_last:
        x0 = x0.contiguous(memory_format=torch.channels_last)
        eps = eps.contiguous(memory_format=torch.channels_last)
    share = slice(rank * b // world, (rank + 1) * b // world)
    return Batch(
        x0[share],
        t[share],
        eps[share],
        None if labels is None else labels[share],
    )


def optimizer_options(config: TrainConfig) -> dict:
    """Adam's switches for a run (reapplied when a run resumes)."""
    return {
        "fused": True if config.fused_optimizer else None,
        # A graph replays Adam's step count and learning rate as device
        # tensors, never reading them on the host.
        "capturable": config.cuda_graph,
    }


def build_step(
    config: TrainConfig,
    sched: Schedule,
    *,
    model: nn.Module,
    net: nn.Module,
    optimizer: torch.optim.Optimizer,
    ema: EMA,
) -> Step:
    """The run's training step, eager or graph-captured.

    Args:
        config: The run; ``cuda_graph`` picks the graph.
        sched: The noise schedule, on the training device.
        model: The network whose parameters Adam updates.
        net: What the forward pass calls: ``model`` itself, or wrapped
            (DistributedDataParallel, ``torch.compile``).
        optimizer: Adam over ``model``'s parameters.
        ema: The average of ``model``'s weights, updated every step.
    """

    def update(batch: Batch) -> tuple[Tensor, Tensor]:
        """Algorithm 1, lines 5-6: the loss, its gradient, Adam's step."""
        x0, t, eps, labels = batch
        autocast = torch.autocast(
            x0.device.type,
            dtype=torch.bfloat16,
            enabled=config.bf16,
            # a graph must not keep autocast's cast weights between steps
            cache_enabled=not config.cuda_graph,
        )
        with autocast:
            loss = loss_simple(
                sched,
                lambda x, s: net(x, s, labels),
                x0,
                t=t,
                eps=eps,
                prediction=config.prediction,
            )
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        grad_norm = nn.utils.clip_grad_norm_(
            model.parameters(), config.grad_clip, foreach=True
        )
        optimizer.step()
        return loss.detach(), grad_norm.detach()

    if config.cuda_graph:
        return GraphStep(update, model=model, optimizer=optimizer, ema=ema)

    def eager_step(batch: Batch, lr: float) -> tuple[Tensor, Tensor]:
        for group in optimizer.param_groups:
            group["lr"] = float(lr)
        out = update(batch)
        ema.update(model)
        return out

    return eager_step


class GraphStep:
    """The step as a CUDA graph: same inputs, same arithmetic.

    The batch, the learning rate and the EMA weight are computed on the
    host as in eager mode and copied into the graph's fixed tensors; the
    first :data:`GRAPH_WARMUP_STEPS` steps run eagerly on a side stream,
    then one step is captured and every later step replays it.
    """

    def __init__(
        self,
        update: Callable[[Batch], tuple[Tensor, Tensor]],
        *,
        model: nn.Module,
        optimizer: torch.optim.Optimizer,
        ema: EMA,
    ) -> None:
        self.update, self.model = update, model
        self.optimizer, self.ema = optimizer, ema
        self.inputs: Batch | None = None  # the graph's fixed inputs
        self.outputs: tuple[Tensor, Tensor] | None = None
        self.ema_weight: Tensor | None = None  # refilled before each replay
        self.warmed_up, self.graph = 0, None

    def __call__(self, batch: Batch, lr: float) -> tuple[Tensor, Tensor]:
        if self.inputs is None:
            self.inputs = Batch(
                *(b if b is None else b.clone() for b in batch)
            )
            self.ema_weight = torch.zeros((), device=batch.x0.device)
        for fixed, value in zip(self.inputs, batch, strict=True):
            if fixed is not None:
                fixed.copy_(value)
        for group in self.optimizer.param_groups:
            if not isinstance(group["lr"], Tensor):
                group["lr"] = torch.tensor(float(lr), device=batch.x0.device)
            group["lr"].fill_(lr)  # in place: the graph reads it
        self.ema_weight.fill_(self.ema.next_weight())
        if self.warmed_up < GRAPH_WARMUP_STEPS:
            self.warmed_up += 1
            return self.on_side_stream(self.body)
        if self.graph is None:
            self.optimizer.zero_grad(set_to_none=True)
            self.graph, self.outputs = self.capture(self.body)
        self.graph.replay()
        # copies: the graph overwrites its outputs at the next replay
        return self.outputs[0].clone(), self.outputs[1].clone()

    def body(self) -> tuple[Tensor, Tensor]:
        """What the graph records: the update and the EMA on fixed inputs."""
        out = self.update(self.inputs)
        self.ema.average(self.model, self.ema_weight)
        return out

    def on_side_stream(self, body: Callable[[], tuple]) -> tuple:
        """Run ``body`` eagerly on a side stream (warm-up before capture)."""
        device = self.inputs.x0.device
        side = torch.cuda.Stream(device)
        side.wait_stream(torch.cuda.current_stream(device))
        with torch.cuda.stream(side):
            out = body()
        torch.cuda.current_stream(device).wait_stream(side)
        return out

    def capture(self, body: Callable[[], tuple]) -> tuple:
        """Record ``body`` as a CUDA graph (nothing runs); (graph, outputs)."""
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            out = body()
        return graph, out
