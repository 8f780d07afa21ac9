"""Training throughput of ddpm_lib's speed paths, side by side.

Prints images/s of full training steps (forward, backward, clipping, Adam,
EMA) for one network preset with every speed path that runs on this
machine: plain, channels_last, fused Adam, torch.compile, bf16 autocast
and all of them together. Runs are interleaved and repeated; the median is
reported, with the ratio to the plain path measured in the same run.

    python bench/train_speed.py --preset tiny --batch-size 64
    python bench/train_speed.py --preset fashion_small_cond --batch-size 2048 \
        --paths plain,bf16_fused --device cpu --threads 2 \
        --json results/bench/cpu_train.json
    DDPM_FAST=1 python bench/train_speed.py      # a quick smoke run
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time
from dataclasses import replace

import torch

import ddpm_lib as dl
from ddpm_book.modes import by_mode
from ddpm_lib.evaluation.provenance import write_result

PATHS = {
    "plain": {},
    "channels_last": {"channels_last": True},
    "fused_adam": {"fused_optimizer": True},
    "compile": {"compile": True},
    "bf16": {"bf16": True},
    # The pretrained model's switches (its command, less the GPU).
    "bf16_fused": {
        "channels_last": True,
        "fused_optimizer": True,
        "bf16": True,
    },
    "all": {
        "channels_last": True,
        "fused_optimizer": True,
        "compile": True,
        "bf16": True,
    },
}


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--preset", default="tiny", choices=sorted(dl.PRESETS))
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--steps", type=int, default=by_mode(20, 3))
    p.add_argument("--repeats", type=int, default=by_mode(3, 1))
    p.add_argument("--paths", default=",".join(PATHS))
    p.add_argument("--device", default=str(dl.default_device()))
    p.add_argument("--threads", type=int, help="torch threads (CPU)")
    p.add_argument("--json", help="also write the figures here")
    args = p.parse_args(argv)
    unknown = sorted(set(args.paths.split(",")) - set(PATHS))
    if unknown:
        p.error(f"unknown paths {unknown}; choose from {sorted(PATHS)}")
    if args.threads:
        torch.set_num_threads(args.threads)

    device = torch.device(args.device)
    model_cfg = dl.unet_config(args.preset)
    n = max(args.batch_size * 4, 256)
    x = torch.rand(
        n, model_cfg.image_channels, model_cfg.image_size,
        model_cfg.image_size, device=device,
    ) * 2 - 1  # fmt: skip
    labels = dl.class_labels(n, model_cfg.num_classes or 10, device=device)
    data = dl.DeviceDataset(x, labels)
    base = dl.TrainConfig(
        model=model_cfg, batch_size=args.batch_size, warmup_steps=0
    )
    names = args.paths.split(",")
    trainers = {}
    for name in names:
        trainer = dl.Trainer(
            replace(base, **PATHS[name]), data, progress=False
        )
        for _ in range(2):  # warm-up (and compilation)
            trainer.train_step()
        trainers[name] = trainer
    rates = {name: [] for name in names}
    for _ in range(args.repeats):
        for name, trainer in trainers.items():  # interleaved
            if device.type == "cuda":
                torch.cuda.synchronize()
            start = time.perf_counter()
            for _ in range(args.steps):
                loss, _ = trainer.train_step()
            loss.item()  # wait for the device
            elapsed = time.perf_counter() - start
            rates[name].append(args.steps * args.batch_size / elapsed)
    print(
        f"# {args.preset} ({trainers[names[0]].model.num_parameters():,} "
        f"parameters), batch {args.batch_size}, {args.steps} steps x "
        f"{args.repeats} repeats, device {device} "
        f"({torch.get_num_threads()} threads, {platform.processor() or '?'})"
        f", torch {torch.__version__}"
    )
    plain = statistics.median(rates.get("plain", [float("nan")]))
    print(f"{'path':15s} {'images/s':>10s} {'vs plain':>9s}")
    for name, values in rates.items():
        median = statistics.median(values)
        print(f"{name:15s} {median:10.1f} {median / plain:8.2f}x")
    if args.json:
        write_result(
            args.json,
            {
                "preset": args.preset,
                "batch_size": args.batch_size,
                "steps": args.steps,
                "repeats": args.repeats,
                "device": str(device),
                "threads": torch.get_num_threads(),
                "images_per_s": {
                    name: {"median": statistics.median(v), "runs": v}
                    for name, v in rates.items()
                },
            },
            "python bench/train_speed.py " + " ".join(argv),
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
