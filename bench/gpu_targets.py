"""The GPU targets: equivalence checks first, then the figures.

1. Equivalence of the speed paths (these must pass before any figure
   counts): bf16 autocast within tolerance of fp32, the compiled network
   equal to the eager one, a fast DDIM step equal to the plain one, and
   8 training steps replayed as a CUDA graph equal to 8 eager steps.
2. The DDPM paper's own budget on its 35.7M-parameter CIFAR-10 network
   (Ho et al. 2020: 21 steps/s of batch 128 on a TPU v3-8 = 2,688 images/s;
   256 samples in 17 s): ddpm_lib's training images/s at batch 128 and the
   time of 256 DDPM-1000 samples.
3. Sampling 10,000 Fashion-MNIST images with the `fashion` preset's network:
   ddpm_lib's fast path against diffusers' DDIMPipeline / DDPMPipeline
   driving the *same* network at the same step count and precision.

Long runs are timed on a measured subset of steps and extrapolated (the
per-step cost is constant); every extrapolated figure says so.

    python bench/gpu_targets.py --json results/bench/gpu_targets.json
    DDPM_FAST=1 python bench/gpu_targets.py --device cpu   # a dry run
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from types import SimpleNamespace

import torch

import ddpm_lib as dl
from ddpm_book.modes import by_mode
from ddpm_lib.pipeline import fast_network


def sync(device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn, device) -> float:
    sync(device)
    start = time.perf_counter()
    fn()
    sync(device)
    return time.perf_counter() - start


def rel(a, b) -> float:
    return ((a.float() - b.float()).norm() / b.float().norm()).item()


def random_unet(name: str, device) -> dl.UNet:
    """A preset network with every layer given weights (none left zero)."""
    torch.manual_seed(0)
    model = dl.UNet(dl.unet_config(name, dropout=0.0)).to(device).eval()
    with torch.no_grad():
        for p in model.parameters():
            if p.ndim > 1 and not p.any():
                torch.nn.init.normal_(p, std=0.02)
    return model


def graph_training(device, **switches) -> tuple[float, float]:
    """Train 8 steps eagerly and as a CUDA graph (3 eager warm-up steps,
    the capture, 5 replays) from the same start, with the given speed
    switches; relative differences of the weights and of their EMA."""
    x = torch.rand(256, 1, 28, 28, device=device) * 2 - 1
    data = dl.DeviceDataset(x, torch.arange(256, device=device) % 10)
    config = dl.TrainConfig(
        model=dl.unet_config("fashion_cond", dropout=0.0),
        batch_size=64,
        warmup_steps=4,
        ema_decay=0.9,
        fused_optimizer=True,
        **switches,
    )
    runs = []
    for cuda_graph in (False, True):
        trainer = dl.Trainer(
            replace(config, cuda_graph=cuda_graph), data, progress=False
        )
        for _ in range(8):
            trainer.train_step()
        runs.append(
            [
                torch.cat([p.flatten() for p in m.parameters()])
                for m in (trainer.model, trainer.ema.module)
            ]
        )
    (eager_w, eager_ema), (graph_w, graph_ema) = runs
    return rel(graph_w, eager_w), rel(graph_ema, eager_ema)


def equivalence(device, results: dict, *, compile: bool = True) -> bool:
    """Speed paths compute the same function; returns True if all pass.
    ``compile=False`` leaves out the torch.compile checks (their compile
    takes a minute)."""
    model = random_unet("fashion", device)
    x = torch.randn(64, 1, 28, 28, device=device)
    t = torch.randint(1, 1001, (64,), device=device)
    checks = {}
    with torch.no_grad():
        ref = model(x, t)
        with torch.autocast(device.type, dtype=torch.bfloat16):
            low = model(x, t)
        checks["bf16 vs fp32 forward"] = (rel(low, ref), 2e-2)
        if compile:
            compiled = torch.compile(model)
            checks["compiled vs eager forward"] = (
                rel(compiled(x, t), ref),
                1e-3,
            )
    sched = dl.linear_schedule(1000).to(device)
    steps = dl.ddim_timesteps(1000, 50)
    g = torch.Generator(device).manual_seed(0)
    x_T = torch.randn(64, 1, 28, 28, device=device, generator=g)  # noqa: N806
    plain = dl.ddim_step(
        sched,
        x_T,
        steps[0],
        steps[1],
        model(x_T, torch.full((64,), steps[0], device=device)),
    )
    fast_net = fast_network(model, device, bf16=True, compile=compile)
    with torch.no_grad():
        fast = dl.ddim_step(
            sched,
            x_T,
            steps[0],
            steps[1],
            fast_net(x_T, torch.full((64,), steps[0], device=device)),
        )
    checks["one DDIM step, fast vs plain"] = (rel(fast, plain.detach()), 2e-2)
    if device.type == "cuda":
        # fp32, then the switches a fast training run uses with the graph
        fast = dict(bf16=True, channels_last=True)
        for name, switches in (("", {}), (", bf16 + channels_last", fast)):
            try:
                weights, ema = graph_training(device, **switches)
            except Exception as error:  # a failed check, not a lost run
                print(f"# CUDA-graph training{name} failed: {error!r}")
                weights = ema = float("inf")
            what = f"CUDA-graph training{name}, 8 steps"
            checks[f"{what}: weights"] = (weights, 1e-4)
            checks[f"{what}: EMA"] = (ema, 1e-4)
    ok = True
    for name, (value, tol) in checks.items():
        passed = value <= tol
        ok &= passed
        print(
            f"# check {name}: relative error {value:.1e} "
            f"(tolerance {tol:.0e}) {'ok' if passed else 'FAILED'}"
        )
    results["equivalence"] = {
        k: {"relative_error": v, "tolerance": tol}
        for k, (v, tol) in checks.items()
    }
    return ok


def paper_budget(device, results: dict, args) -> None:
    cfg = dl.unet_config("cifar10_ddpm")
    b = args.paper_batch
    x = torch.rand(4 * b, 3, 32, 32, device=device) * 2 - 1
    data = dl.DeviceDataset(x, torch.zeros(len(x), device=device))
    rates = {}
    fast = dict(
        bf16=True,
        compile=args.compile_paper,
        channels_last=True,
        fused_optimizer=True,
    )
    variants = [("plain fp32", {}), ("fast", fast)]
    if device.type == "cuda" and not args.compile_paper:
        variants.append(("fast + CUDA graph", dict(fast, cuda_graph=True)))
    for name, switches in variants:
        config = dl.TrainConfig(
            model=cfg, batch_size=b, warmup_steps=0, **switches
        )
        try:
            trainer = dl.Trainer(config, data, progress=False)
            for _ in range(4):  # a graph is captured at the 4th step
                trainer.train_step()
        except Exception as error:  # report it, measure the rest
            print(f"# CIFAR-10 network, {name}: failed ({error!r})")
            continue
        n = args.train_steps

        def run(trainer=trainer, n=n):
            for _ in range(n):
                loss, _ = trainer.train_step()
            loss.item()

        rates[name] = n * b / timed(run, device)
        print(
            f"# CIFAR-10 35.7M network, batch {b}, {name}: "
            f"{rates[name]:,.0f} images/s (paper: 2,688 on a TPU v3-8)",
            flush=True,
        )
        del trainer
    model = random_unet("cifar10_ddpm", device)
    sched = dl.linear_schedule(1000)
    n_img = args.paper_samples

    def sample(steps):
        g = torch.Generator(device).manual_seed(0)
        return dl.generate(
            model,
            sched,
            n_img,
            sampler="ddim",
            steps=steps,
            eta=1.0,
            generator=g,
            batch_size=n_img,
            bf16=True,
            compile=args.compile_paper,
        )

    sample(args.sample_probe)  # warm-up, compile
    per_step = (
        timed(lambda: sample(args.sample_probe), device) / args.sample_probe
    )
    estimate = per_step * 1000
    measured = None
    if estimate <= 60:

        def full():
            g = torch.Generator(device).manual_seed(0)
            dl.generate(
                model,
                sched,
                n_img,
                sampler="ddpm",
                generator=g,
                batch_size=n_img,
                bf16=True,
                compile=args.compile_paper,
            )

        measured = timed(full, device)
    print(
        f"# {n_img} DDPM-1000 samples, CIFAR-10 network, bf16"
        f"{' + compile' if args.compile_paper else ''}: "
        f"{per_step * 1e3:.1f} ms/step → {estimate:.1f} s extrapolated; "
        f"measured in full: "
        f"{'not run' if measured is None else f'{measured:.1f} s'} "
        "(paper: 17 s)",
        flush=True,
    )
    results["paper_budget"] = {
        "batch": b,
        "training_images_per_s": rates,
        "samples": n_img,
        "ddpm1000_seconds": {
            "per_step": per_step,
            "extrapolated": estimate,
            "measured": measured,
        },
    }


class PipelineNet(torch.nn.Module):
    """ddpm_lib's UNet behind the interface diffusers' pipelines call."""

    def __init__(self, unet, bf16) -> None:
        super().__init__()
        self.unet, self.bf16 = unet, bf16
        c = unet.config
        self.config = SimpleNamespace(
            sample_size=c.image_size, in_channels=c.image_channels
        )

    @property
    def device(self):
        return next(self.parameters()).device

    @property
    def dtype(self):
        return next(self.parameters()).dtype

    def forward(self, x, t):
        t = torch.as_tensor(t, device=x.device).expand(len(x))
        with torch.autocast(
            x.device.type, dtype=torch.bfloat16, enabled=self.bf16
        ):
            out = self.unet(x, dl.interop.from_zero_based(t))
        return SimpleNamespace(sample=out.float())


def fashion_sampling(device, results: dict, args) -> None:
    from diffusers import (
        DDIMPipeline,
        DDIMScheduler,
        DDPMPipeline,
        DDPMScheduler,
    )

    model = random_unet("fashion", device)
    sched = dl.linear_schedule(1000)
    n, b = args.n, args.sample_batch
    probe = args.sample_probe
    rows = {}

    def ours(sampler, steps):
        g = torch.Generator(device).manual_seed(0)
        return dl.generate(
            model,
            sched,
            b,
            sampler="ddim",
            steps=steps,
            eta=1.0 if sampler == "ddpm" else 0.0,
            generator=g,
            batch_size=b,
            bf16=True,
            compile=True,
        )

    ours("ddim", 2)  # compile
    # ddpm_lib: DDIM-50 measured in full on all n images; DDPM-1000 from a
    # probe of DDIM steps with η = 1 (the same network call and arithmetic
    # as a DDPM step) extrapolated to 1000 steps.
    full = timed(lambda: [ours("ddim", 50) for _ in range(-(-n // b))], device)
    rows["ddpm_lib fast (bf16, compiled)"] = {
        "ddim50_seconds": full,
        "ddim50_measured": True,
        "ddpm1000_seconds": timed(lambda: ours("ddpm", probe), device)
        / probe
        * 1000
        * -(-n // b),
        "ddpm1000_measured": False,
    }
    net = PipelineNet(model, bf16=True)
    ddim = DDIMPipeline(
        unet=net,
        scheduler=DDIMScheduler(
            num_train_timesteps=1000,
            beta_schedule="linear",
            timestep_spacing="trailing",
        ),
    )
    ddpm = DDPMPipeline(
        unet=net,
        scheduler=DDPMScheduler(
            num_train_timesteps=1000, beta_schedule="linear"
        ),
    )
    for pipe in (ddim, ddpm):
        pipe.set_progress_bar_config(disable=True)
    with torch.no_grad():
        ddim(batch_size=b, num_inference_steps=2, output_type="np")  # warm-up

        def per_step(pipe) -> float:
            def draw():
                pipe(batch_size=b, num_inference_steps=probe, output_type="np")

            return timed(draw, device) / probe

        d_step, p_step = per_step(ddim), per_step(ddpm)
    batches = -(-n // b)
    rows["diffusers pipelines (same net, bf16 autocast)"] = {
        "ddim50_seconds": d_step * 50 * batches,
        "ddim50_measured": False,
        "ddpm1000_seconds": p_step * 1000 * batches,
        "ddpm1000_measured": False,
    }
    print(f"# sampling {n:,} images, fashion preset network, batch {b}")
    print(f"{'row':46s} {'DDIM-50':>10s} {'DDPM-1000':>10s}")
    for name, r in rows.items():
        print(
            f"{name:46s} {r['ddim50_seconds']:9.1f}s"
            f"{'' if r['ddim50_measured'] else '*'} "
            f"{r['ddpm1000_seconds']:9.1f}s"
            f"{'' if r['ddpm1000_measured'] else '*'}"
        )
    print(f"# * extrapolated from {probe} timed steps")
    results["fashion_sampling"] = {
        "n": n,
        "batch": b,
        "probe_steps": probe,
        "rows": rows,
    }


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", default=str(dl.default_device()))
    p.add_argument("--n", type=int, default=by_mode(10_000, 8))
    p.add_argument("--sample-batch", type=int, default=by_mode(2500, 8))
    p.add_argument("--sample-probe", type=int, default=by_mode(20, 2))
    p.add_argument("--train-steps", type=int, default=by_mode(30, 1))
    p.add_argument("--paper-batch", type=int, default=by_mode(128, 2))
    p.add_argument("--paper-samples", type=int, default=by_mode(256, 2))
    p.add_argument(
        "--compile-paper",
        action="store_true",
        help="also torch.compile the CIFAR-10 network",
    )
    p.add_argument(
        "--parts",
        default="sampling,paper",
        help="comma-separated, after the checks ('' for the checks alone)",
    )
    p.add_argument(
        "--skip-checks",
        action="store_true",
        help="leave out the equivalence checks (run already, elsewhere)",
    )
    p.add_argument(
        "--skip-compile",
        action="store_true",
        help="leave out the torch.compile checks",
    )
    p.add_argument("--json")
    args = p.parse_args(argv)
    device = torch.device(args.device)
    results: dict = {}

    def save() -> None:  # after every part: a time-out keeps what ran
        if not args.json:
            return
        from ddpm_lib.evaluation.provenance import write_result

        write_result(
            args.json, results, "python bench/gpu_targets.py " + " ".join(argv)
        )

    ok = True
    if not args.skip_checks:
        ok = equivalence(device, results, compile=not args.skip_compile)
        results["equivalence_passed"] = ok
        save()
        if not ok:
            print("# equivalence checks FAILED: no figure below counts")
    parts = args.parts.split(",")
    if "sampling" in parts:
        fashion_sampling(device, results, args)
        save()
    if "paper" in parts:
        paper_budget(device, results, args)
        save()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
