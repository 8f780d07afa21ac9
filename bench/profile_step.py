"""Where a training step's time goes: a profile of a few steps.

For one preset, batch size and speed path, runs warm-up steps, then a few
steps under ``torch.profiler``, and prints per step: the wall time, the time
the device was busy running kernels (on a GPU), the kernel launches, the
operators that took the most time, and how many operators one step
dispatches below autograd (views and scalar reads included: host work that
a CUDA graph skips; the count does not depend on the device or the batch
size, so a CPU gives it too). A device busy for a small share of the wall
time means the step is bound by launching kernels from the host
(what a CUDA graph removes); a device busy nearly all the time means it is
bound by the kernels themselves.

    python bench/profile_step.py --preset fashion --batch-size 128 \\
        --path graph --trace /tmp/trace.json    # trace: chrome://tracing
    DDPM_FAST=1 python bench/profile_step.py --device cpu   # a smoke run

Paths: ``plain`` (fp32, eager), ``fast`` (bf16 autocast; on a GPU also
channels_last and fused Adam), ``graph`` (fast, replayed as a CUDA graph;
GPU only).
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace

import torch
from torch.profiler import ProfilerActivity, profile
from torch.utils._python_dispatch import TorchDispatchMode

import ddpm_lib as dl
from ddpm_book.modes import by_mode
from ddpm_lib.device import describe_device

# Host-side calls that start work on the GPU: one per kernel, or one per
# replayed graph.
LAUNCHES = {"cudaLaunchKernel", "cuLaunchKernel", "cudaLaunchKernelExC"}
GRAPH_LAUNCHES = {"cudaGraphLaunch"}


def switches(path: str, device: torch.device) -> dict:
    if path == "plain":
        return {}
    fast = {"bf16": True}
    if device.type == "cuda":
        fast.update(channels_last=True, fused_optimizer=True)
    if path == "graph":
        fast["cuda_graph"] = True
    return fast


class CountOperators(TorchDispatchMode):
    """Counts the operators that reach the kernels (below autograd)."""

    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.count += 1
        return func(*args, **(kwargs or {}))


def device_time_us(event) -> float:
    """An event's own kernel time in µs (the attribute was renamed)."""
    for name in ("self_device_time_total", "self_cuda_time_total"):
        if hasattr(event, name):
            return getattr(event, name)
    return 0.0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--preset", default=by_mode("fashion", "tiny"))
    p.add_argument("--batch-size", type=int, default=by_mode(128, 4))
    p.add_argument(
        "--path", choices=["plain", "fast", "graph"], default="fast"
    )
    p.add_argument("--steps", type=int, default=by_mode(10, 2))
    p.add_argument("--device", default=str(dl.default_device()))
    p.add_argument("--rows", type=int, default=12, help="operators listed")
    p.add_argument("--trace", help="also write a Chrome trace here")
    args = p.parse_args(argv)
    device = torch.device(args.device)
    if args.path == "graph" and device.type != "cuda":
        p.error("--path graph needs a CUDA GPU; use plain or fast here")
    if args.preset not in dl.PRESETS:
        p.error(f"unknown preset {args.preset!r}; one of {sorted(dl.PRESETS)}")
    if args.steps < 1 or args.batch_size < 1:
        p.error("--steps and --batch-size must be at least 1")

    model_cfg = dl.unet_config(args.preset)
    n, c, size = (
        4 * args.batch_size,
        model_cfg.image_channels,
        model_cfg.image_size,
    )
    x = torch.rand(n, c, size, size, device=device) * 2 - 1
    labels = dl.class_labels(n, model_cfg.num_classes or 10, device=device)
    config = dl.TrainConfig(
        model=model_cfg, batch_size=args.batch_size, warmup_steps=0
    )
    trainer = dl.Trainer(
        replace(config, **switches(args.path, device)),
        dl.DeviceDataset(x, labels),
        progress=False,
    )
    if not trainer.config.fused_optimizer:
        # Adam's foreach path, its default on a GPU (on a CPU it loops over
        # the parameters), so that a CPU counts the operators a GPU runs.
        for group in trainer.optimizer.param_groups:
            group["foreach"] = True
    for _ in range(5):  # warm-up; a graph is captured at the 4th step
        trainer.train_step()
    with CountOperators() as counter:  # one more step, counted
        trainer.train_step()
    activities = [ProfilerActivity.CPU]
    if device.type == "cuda":
        activities.append(ProfilerActivity.CUDA)
        torch.cuda.synchronize(device)
    with profile(activities=activities) as prof:
        start = time.perf_counter()
        for _ in range(args.steps):
            loss, _ = trainer.train_step()
        loss.item()  # wait for the device
        wall = (time.perf_counter() - start) / args.steps
    events = prof.key_averages()
    busy = sum(device_time_us(e) for e in events) / 1e6 / args.steps
    launches = sum(e.count for e in events if e.key in LAUNCHES) / args.steps
    graphs = sum(e.count for e in events if e.key in GRAPH_LAUNCHES)
    where = describe_device(device)
    print(
        f"# {args.preset}, batch {args.batch_size}, path {args.path}, "
        f"{args.steps} profiled steps, {where}, torch {torch.__version__}"
    )
    print(f"wall time per step: {1000 * wall:.2f} ms")
    print(
        f"operators dispatched per step: {counter.count} "
        f"({1e6 * wall / counter.count:.1f} µs of wall time each)"
    )
    if device.type == "cuda":
        print(
            f"device busy per step: {1000 * busy:.2f} ms "
            f"({busy / wall:.0%} of the wall time); kernel launches per "
            f"step: {launches:.0f}; graph replays per step: "
            f"{graphs / args.steps:.0f}"
        )
    sort = "self_cpu_time_total"
    if device.type == "cuda":  # by kernel time (the name changed in torch)
        sort = next(
            k
            for k in ("self_device_time_total", "self_cuda_time_total")
            if hasattr(events[0], k)
        )
    print(events.table(sort_by=sort, row_limit=args.rows))
    if args.trace:
        prof.export_chrome_trace(args.trace)
        print(f"# trace written to {args.trace}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
