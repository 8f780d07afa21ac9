"""ddpm_lib against diffusers and lucidrains' denoising-diffusion-pytorch.

One run, one machine, interleaved repeats, medians. Every library trains
its *own* network sized to ddpm_lib's FLOPs (within ±5%, counted with
torch.utils.flop_counter), and — in a second track — the *same* network
(ddpm_lib's UNet) inside each library's loss, to isolate framework
overhead. All rows get the same device-resident batches, the same linear
schedule (1e-4 → 0.02, T = 1000) and ε-prediction.

Rows
- ddpm_lib plain: Trainer.train_step (fp32, eager).
- ddpm_lib fast: the same with bf16 autocast (on a GPU also channels_last
  and fused Adam; torch.compile with --compile).
- ddpm_lib fast + graph (GPU, without --compile): the fast path with the
  whole step replayed as one CUDA graph (``cuda_graph=True``).
- diffusers as shipped: the inner loop of its train_unconditional.py
  example with its defaults — UNet2DModel, DDPMScheduler.add_noise, MSE,
  AdamW (lr 1e-4, β 0.95/0.999, wd 1e-6), clipping at 1.0, EMAModel, fp32.
- diffusers best-configured: the same loop with bf16 autocast (and compile).
- lucidrains as shipped: GaussianDiffusion (objective pred_noise, linear
  schedule) around its Unet, Adam (lr 1e-4, β 0.9/0.99), clipping at 1.0,
  ema_pytorch EMA; fp32.
- lucidrains best-configured: the same with bf16 autocast (and compile).

Before any timing, a correctness gate: with the same x_0, t and ε, the
losses of the three libraries on the same network agree.

    python bench/compare.py                 # the table
    DDPM_FAST=1 python bench/compare.py     # a quick smoke run
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
import time
from dataclasses import replace
from types import SimpleNamespace

import torch
import torch.nn.functional as F  # noqa: N812
from torch.utils.flop_counter import FlopCounterMode

import ddpm_lib as dl
from ddpm_book.modes import by_mode
from ddpm_lib.device import describe_device


def flops(model, x, *extra) -> int:
    """Forward FLOPs of one call (training costs about 3× this)."""
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(x, *extra)
    return counter.get_total_flops()


def match(target: int, build, x, candidates) -> tuple[object, int, int]:
    """The candidate width whose network is closest to ``target`` FLOPs.

    Networks are counted on the meta device (shapes only, no arithmetic),
    so trying many widths costs nothing; only the winner is built.
    """
    best = None
    meta_x = x.to("meta")
    for width in candidates:
        with torch.device("meta"):
            model = build(width)
        f = flops(model, meta_x, torch.ones(len(x), dtype=torch.long,
                                            device="meta"))  # fmt: skip
        if best is None or abs(f - target) < abs(best[1] - target):
            best = (width, f)
    return build(best[0]), best[0], best[1]


def diffusers_unet(width: int, cfg: dl.UNetConfig):
    """diffusers' UNet2DModel shaped like ``cfg`` (levels, blocks, attn)."""
    from diffusers import UNet2DModel

    sizes = [cfg.image_size // 2**i for i in range(len(cfg.channel_mults))]
    attn = [size in cfg.attn_resolutions for size in sizes]
    return UNet2DModel(
        sample_size=cfg.image_size,
        in_channels=cfg.image_channels,
        out_channels=cfg.image_channels,
        block_out_channels=tuple(width * m for m in cfg.channel_mults),
        layers_per_block=cfg.num_res_blocks,
        down_block_types=tuple(
            "AttnDownBlock2D" if a else "DownBlock2D" for a in attn
        ),
        up_block_types=tuple(
            "AttnUpBlock2D" if a else "UpBlock2D" for a in reversed(attn)
        ),
        norm_num_groups=8,
    )


def lucidrains_unet(width: int, cfg: dl.UNetConfig):
    """lucidrains' Unet with ``cfg``'s level multipliers (its own blocks)."""
    from denoising_diffusion_pytorch import Unet

    return Unet(
        dim=width, dim_mults=cfg.channel_mults, channels=cfg.image_channels
    )


class AsLucidrains(torch.nn.Module):
    """ddpm_lib's UNet with the interface GaussianDiffusion expects."""

    def __init__(self, unet) -> None:
        super().__init__()
        self.unet = unet
        self.channels = self.out_dim = unet.config.image_channels
        self.self_condition = False
        self.random_or_learned_sinusoidal_cond = False

    def forward(self, x, t, x_self_cond=None):
        return self.unet(x, dl.interop.from_zero_based(t))


class AsDiffusers(torch.nn.Module):
    """ddpm_lib's UNet called the way diffusers calls its UNet2DModel."""

    def __init__(self, unet) -> None:
        super().__init__()
        self.unet = unet

    def forward(self, x, t):
        return SimpleNamespace(
            sample=self.unet(x, dl.interop.from_zero_based(t))
        )


def autocast(enabled: bool, device):
    if not enabled:
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=torch.bfloat16)


class DiffusersLoop:
    """The inner loop of diffusers' train_unconditional.py example."""

    def __init__(self, model, data, batch, *, bf16=False, compile=False):
        from diffusers import DDPMScheduler
        from diffusers.optimization import get_cosine_schedule_with_warmup
        from diffusers.training_utils import EMAModel

        self.model, self.data, self.batch, self.bf16 = model, data, batch, bf16
        self.forward = torch.compile(model) if compile else model
        self.scheduler = DDPMScheduler(
            num_train_timesteps=1000, beta_schedule="linear"
        )
        self.opt = torch.optim.AdamW(
            model.parameters(), lr=1e-4, betas=(0.95, 0.999),
            weight_decay=1e-6, eps=1e-8,
        )  # fmt: skip
        self.lr = get_cosine_schedule_with_warmup(self.opt, 500, 10**6)
        self.ema = EMAModel(
            model.parameters(), decay=0.9999, use_ema_warmup=True
        )
        self.step_count = 0

    def step(self):
        x0, _ = self.data.batch_at(self.step_count, self.batch)
        noise = torch.randn_like(x0)
        t = torch.randint(0, 1000, (len(x0),), device=x0.device)
        noisy = self.scheduler.add_noise(x0, noise, t)
        with autocast(self.bf16, x0.device):
            pred = self.forward(noisy, t).sample
        loss = F.mse_loss(pred.float(), noise.float())
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), 1.0)
        self.opt.step()
        self.lr.step()
        self.opt.zero_grad()
        self.ema.step(self.model.parameters())
        self.step_count += 1
        return loss.detach()


class LucidrainsLoop:
    """GaussianDiffusion's loss with its Trainer's optimizer and EMA."""

    def __init__(self, model, data, batch, *, bf16=False, compile=False):
        from denoising_diffusion_pytorch import GaussianDiffusion
        from ema_pytorch import EMA

        self.diffusion = GaussianDiffusion(
            model, image_size=28, timesteps=1000, objective="pred_noise",
            beta_schedule="linear", auto_normalize=False,
        ).to(data.device)  # fmt: skip
        self.loss = (
            torch.compile(self.diffusion) if compile else self.diffusion
        )
        self.data, self.batch, self.bf16 = data, batch, bf16
        self.opt = torch.optim.Adam(
            self.diffusion.parameters(), lr=1e-4, betas=(0.9, 0.99)
        )
        self.ema = EMA(self.diffusion, beta=0.995, update_every=10)
        self.step_count = 0

    def step(self):
        x0, _ = self.data.batch_at(self.step_count, self.batch)
        with autocast(self.bf16, x0.device):
            loss = self.loss(x0)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.diffusion.parameters(), 1.0)
        self.opt.step()
        self.opt.zero_grad()
        self.ema.update()
        self.step_count += 1
        return loss.detach()


def correctness_gate(device) -> None:
    """Same network, same x_0, t and ε: the three losses agree."""
    from denoising_diffusion_pytorch import GaussianDiffusion
    from diffusers import DDPMScheduler

    torch.manual_seed(0)
    unet = dl.UNet(dl.unet_config("tiny", dropout=0.0)).to(device).eval()
    for p in unet.parameters():  # give the zero-initialised layers weights
        if p.ndim > 1 and not p.any():
            torch.nn.init.normal_(p, std=0.05)
    sched = dl.linear_schedule(1000)
    x0 = torch.rand(8, 1, 28, 28, device=device) * 2 - 1
    eps = torch.randn_like(x0)
    t = torch.randint(1, 1001, (8,), device=device)
    t0 = dl.interop.to_zero_based(t)
    ours = dl.loss_simple(sched, unet, x0, t=t, eps=eps)
    diff_sched = DDPMScheduler(
        num_train_timesteps=1000, beta_schedule="linear"
    )
    noisy = diff_sched.add_noise(x0, eps, t0)
    theirs = F.mse_loss(AsDiffusers(unet)(noisy, t0).sample, eps)
    gd = GaussianDiffusion(
        AsLucidrains(unet), image_size=28, timesteps=1000,
        objective="pred_noise", beta_schedule="linear", auto_normalize=False,
    ).to(device)  # fmt: skip
    lucid = gd.p_losses(x0, t0, noise=eps)
    for name, value in (("diffusers", theirs), ("lucidrains", lucid)):
        if abs(value.item() - ours.item()) > 1e-4 * max(1.0, ours.item()):
            raise SystemExit(
                f"correctness gate failed: {name} loss {value.item():.6f} "
                f"vs ddpm_lib {ours.item():.6f}"
            )
    # One DDIM step (η = 0, trailing grid 1000 → 980) on the same output.
    from diffusers import DDIMScheduler

    ddim = DDIMScheduler(
        num_train_timesteps=1000, beta_schedule="linear",
        timestep_spacing="trailing", clip_sample=False,
    )  # fmt: skip
    ddim.set_timesteps(50)
    steps = dl.ddim_timesteps(1000, 50)
    with torch.no_grad():
        eps_pred = unet(x0, torch.full((8,), steps[0], device=device))
    step_ours = dl.ddim_step(sched, x0, steps[0], steps[1], eps_pred)
    step_theirs = ddim.step(
        eps_pred, dl.interop.to_zero_based(steps[0]), x0
    ).prev_sample
    step_gap = (step_ours - step_theirs).abs().max().item()
    if step_gap > 1e-4:
        raise SystemExit(
            f"correctness gate failed: DDIM steps differ by {step_gap}"
        )
    print(
        f"# correctness gate: same network, x_0, t, ε → losses ddpm_lib "
        f"{ours.item():.6f}, diffusers {theirs.item():.6f}, lucidrains "
        f"{lucid.item():.6f}; one DDIM step ddpm_lib vs diffusers: max "
        f"difference {step_gap:.1e}"
    )


def sampling_rows(ours, d_model, l_model, cfg, batch, steps, device, *,
                  compile=False):  # fmt: skip
    """Callables that each draw ``batch`` images with ``steps`` steps.

    Each library's own FLOP-matched network and its own sampler: ddpm_lib's
    generate (plain, and fast: bf16 autocast, compiled with --compile),
    diffusers' DDIMPipeline and DDPMPipeline as a user calls them (fp32,
    and the DDIM pipeline under bf16 autocast for the same precision as the
    fast row), a hand loop over DDIMScheduler.step, and lucidrains'
    GaussianDiffusion.sample. All use the linear schedule, η = 0 and
    "trailing" DDIM steps (lucidrains spaces its steps with linspace over
    the same range).
    """
    from denoising_diffusion_pytorch import GaussianDiffusion
    from diffusers import (
        DDIMPipeline,
        DDIMScheduler,
        DDPMPipeline,
        DDPMScheduler,
    )

    sched = dl.linear_schedule(1000)
    d_sched = DDIMScheduler(
        num_train_timesteps=1000, beta_schedule="linear",
        timestep_spacing="trailing", clip_sample=True,
    )  # fmt: skip
    ddim_pipe = DDIMPipeline(unet=d_model, scheduler=d_sched)
    ddim_pipe.set_progress_bar_config(disable=True)
    ddpm_pipe = DDPMPipeline(
        unet=d_model,
        scheduler=DDPMScheduler(
            num_train_timesteps=1000, beta_schedule="linear"
        ),
    )
    ddpm_pipe.set_progress_bar_config(disable=True)
    lucid = GaussianDiffusion(
        l_model, image_size=cfg.image_size, timesteps=1000,
        sampling_timesteps=steps, objective="pred_noise",
        beta_schedule="linear",
    ).to(device)  # fmt: skip
    shape = (batch, cfg.image_channels, cfg.image_size, cfg.image_size)

    @torch.no_grad()
    def hand_loop():
        d_sched.set_timesteps(steps)
        x = torch.randn(shape, device=device)
        for t in d_sched.timesteps:
            x = d_sched.step(d_model(x, t).sample, t, x).prev_sample
        return x

    def bf16_pipeline():
        with autocast(True, device):
            return ddim_pipe(
                batch_size=batch, num_inference_steps=steps, output_type="np"
            )

    return {
        "ddpm_lib generate": lambda: dl.generate(
            ours, sched, batch, steps=steps, batch_size=batch
        ),
        "ddpm_lib generate fast": lambda: dl.generate(
            ours,
            sched,
            batch,
            steps=steps,
            batch_size=batch,
            bf16=True,
            compile=compile,
        ),  # fmt: skip
        "diffusers DDIMPipeline": lambda: ddim_pipe(
            batch_size=batch, num_inference_steps=steps, output_type="np"
        ),
        "diffusers DDIM bf16": bf16_pipeline,
        "diffusers DDPMPipeline": lambda: ddpm_pipe(
            batch_size=batch, num_inference_steps=steps, output_type="np"
        ),
        "diffusers hand loop": hand_loop,
        "lucidrains sample": lambda: lucid.sample(batch_size=batch),
    }


# bf16 dense matrix peak of the cards whose figures we report (FLOP/s).
BF16_PEAK = {"H100": 989.4e12, "H200": 989.4e12, "A100": 312e12}


def bf16_peak(device) -> float | None:
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    return next((v for k, v in BF16_PEAK.items() if k in name), None)


def train_flops(model, x, *extra) -> int:
    """FLOPs of one forward and backward pass (what a training step costs)."""
    with FlopCounterMode(display=False) as counter:
        out = model(x, *extra)
        out = getattr(out, "sample", out)  # diffusers returns an object
        out.float().square().mean().backward()
    model.zero_grad(set_to_none=True)
    return counter.get_total_flops()


def activation_bytes(model, x, *extra, bytes_per_element=2) -> int:
    """Bytes of every leaf module's output in one forward pass (at bf16).

    A training step must at least write each of these in the forward pass,
    read it back in the backward pass, and write and read its gradient:
    4× this is the memory-traffic floor we state per image.
    """
    total = 0

    def hook(module, inputs, output):
        nonlocal total
        if isinstance(output, torch.Tensor):
            total += output.numel() * bytes_per_element

    leaves = [m for m in model.modules() if not list(m.children())]
    handles = [m.register_forward_hook(hook) for m in leaves]
    try:
        with torch.no_grad():
            model(x, *extra)
    finally:
        for h in handles:
            h.remove()
    return total


def copy_bandwidth(device) -> float | None:
    """Measured device-to-device copy rate, bytes read + written per s."""
    if device.type != "cuda":
        return None
    a = torch.empty(1 << 28, dtype=torch.float32, device=device)
    b = torch.empty_like(a)
    for _ in range(3):
        b.copy_(a)
    torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(20):
        b.copy_(a)
    torch.cuda.synchronize()
    return 20 * 2 * a.numel() * 4 / (time.perf_counter() - start)


def sync(device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


UNCONDITIONAL = sorted(
    name for name, c in dl.PRESETS.items() if c.num_classes is None
)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--preset", default="tiny", choices=UNCONDITIONAL)
    p.add_argument("--batch-size", type=int, default=by_mode(64, 8))
    p.add_argument("--steps", type=int, default=by_mode(10, 2))
    p.add_argument("--repeats", type=int, default=by_mode(3, 1))
    p.add_argument("--sample-steps", type=int, default=by_mode(10, 2))
    p.add_argument("--sample-batch", type=int, help="images per sampling call")
    p.add_argument("--no-sampling", action="store_true")
    p.add_argument("--compile", action="store_true", help="compile fast rows")
    p.add_argument("--device", default=str(dl.default_device()))
    p.add_argument("--json", help="also write the figures, with provenance")
    args = p.parse_args()
    device = torch.device(args.device)
    correctness_gate(device)

    cfg = dl.unet_config(args.preset)
    size = (cfg.image_channels, cfg.image_size, cfg.image_size)
    x = torch.rand(max(4 * args.batch_size, 64), *size, device=device)
    data = dl.DeviceDataset(x * 2 - 1, torch.zeros(len(x), device=device))
    probe = x[:4].cpu() * 2 - 1
    ones = torch.ones(4, dtype=torch.long)
    ours = dl.UNet(cfg)
    target = flops(ours, probe, ones)
    d_model, d_width, d_flops = match(
        target, lambda w: diffusers_unet(w, cfg), probe, range(8, 265, 8)
    )
    l_model, l_width, l_flops = match(
        target, lambda w: lucidrains_unet(w, cfg), probe, range(4, 193, 4)
    )
    params = {
        "ddpm_lib": ours.num_parameters(),
        "diffusers": sum(p.numel() for p in d_model.parameters()),
        "lucidrains": sum(p.numel() for p in l_model.parameters()),
    }
    per_image = {  # training FLOPs (forward + backward) per image
        name: train_flops(model, probe, ones) / 4
        for name, model in (
            ("ddpm_lib", ours), ("diffusers", d_model),
            ("lucidrains", l_model),
        )
    }  # fmt: skip
    traffic = 4 * activation_bytes(ours, probe, ones) / 4  # bytes / image
    print(
        f"# networks: ddpm_lib {args.preset} {target / 4 / 1e6:.1f} "
        f"MFLOP/image forward, {params['ddpm_lib']:,} params; diffusers "
        f"UNet2DModel width {d_width}: {d_flops / target:.3f}x FLOPs, "
        f"{params['diffusers'] / params['ddpm_lib']:.2f}x params; "
        f"lucidrains Unet dim {l_width}: {l_flops / target:.3f}x FLOPs, "
        f"{params['lucidrains'] / params['ddpm_lib']:.2f}x params"
    )

    def ddpm_lib_row(**switches):
        base = dl.TrainConfig(
            model=cfg, batch_size=args.batch_size, warmup_steps=0
        )
        trainer = dl.Trainer(replace(base, **switches), data, progress=False)
        return lambda: trainer.train_step()[0]

    # The fast path as measured by bench/train_speed.py: on a CPU only bf16
    # pays; on a GPU channels_last, the fused Adam kernel and the whole step
    # replayed as one CUDA graph (or, with --compile, torch.compile) add to it.
    fast = {"bf16": True}
    if device.type == "cuda":
        fast.update(channels_last=True, fused_optimizer=True)
    if args.compile:
        fast["compile"] = True
    b = args.batch_size
    rows = {
        "ddpm_lib plain": ddpm_lib_row(),
        "ddpm_lib fast": ddpm_lib_row(**fast),
    }
    if device.type == "cuda" and not args.compile:
        rows["ddpm_lib fast + graph"] = ddpm_lib_row(**fast, cuda_graph=True)
    rows |= {
        "diffusers shipped": DiffusersLoop(d_model.to(device), data, b).step,
        "diffusers best": DiffusersLoop(
            diffusers_unet(d_width, cfg).to(device),
            data,
            b,
            bf16=True,
            compile=args.compile,
        ).step,  # fmt: skip
        "lucidrains shipped": LucidrainsLoop(l_model, data, b).step,
        "lucidrains best": LucidrainsLoop(
            lucidrains_unet(l_width, cfg),
            data,
            b,
            bf16=True,
            compile=args.compile,
        ).step,  # fmt: skip
        "same net: diffusers": DiffusersLoop(
            AsDiffusers(dl.UNet(cfg)).to(device), data, b
        ).step,
        "same net: lucidrains": LucidrainsLoop(
            AsLucidrains(dl.UNet(cfg)), data, b
        ).step,
    }
    flops_of = {
        name: per_image[
            "diffusers" if name.startswith("diffusers")
            else "lucidrains" if name.startswith("lucidrains")
            else "ddpm_lib"
        ]
        for name in rows
    }  # fmt: skip
    peak_mem = {}
    for name, step in list(rows.items()):  # warm-up, compile, peak memory
        try:
            for _ in range(4):  # the graph row captures at its 4th step
                step()
        except Exception as error:  # report it, keep the other rows
            print(f"# {name}: failed in warm-up ({error!r}); row dropped")
            del rows[name], flops_of[name]
            continue
        if device.type == "cuda":
            sync(device)
            resting = torch.cuda.memory_allocated(device)
            torch.cuda.reset_peak_memory_stats(device)
            step().item()
            peak_mem[name] = torch.cuda.max_memory_allocated(device) - resting
    rates = {name: [] for name in rows}
    for _ in range(args.repeats):
        for name, step in rows.items():
            sync(device)
            start = time.perf_counter()
            for _ in range(args.steps):
                loss = step()
            loss.item()
            rates[name].append(args.steps * b / (time.perf_counter() - start))
    plain = statistics.median(rates["ddpm_lib plain"])
    peak, bandwidth = bf16_peak(device), copy_bandwidth(device)
    where = describe_device(device)
    print(
        f"# training images/s, {args.preset}, batch {b}, {args.steps} steps x "
        f"{args.repeats} interleaved repeats, {where}, torch "
        f"{torch.__version__}"
    )
    head = f"{'row':22s} {'images/s':>9s} {'vs plain':>9s}"
    if device.type == "cuda":
        head += f" {'peak MiB':>9s} {'MFU':>6s}"
    print(head)
    for name, values in rates.items():
        median = statistics.median(values)
        line = f"{name:22s} {median:9.1f} {median / plain:8.2f}x"
        if device.type == "cuda":
            mfu = flops_of[name] * median / peak if peak else float("nan")
            line += f" {peak_mem[name] / 2**20:9.0f} {100 * mfu:5.1f}%"
        print(line)
    fastest = max(
        (name for name in rates if name.startswith("ddpm_lib fast")),
        key=lambda name: statistics.median(rates[name]),
    )
    fast_rate = statistics.median(rates[fastest])
    if bandwidth:
        floor = traffic / bandwidth  # seconds per image
        print(
            f"# memory-traffic floor of {fastest}: {traffic / 1e6:.1f} "
            f"MB/image (4x the bf16 leaf activations) at the measured copy "
            f"rate {bandwidth / 1e12:.2f} TB/s = {1 / floor:,.0f} images/s; "
            f"measured {fast_rate:,.0f} = {fast_rate * floor:.0%} of it"
        )
    per_step = {}
    if not args.no_sampling:
        sb = args.sample_batch or b
        ours_eval = dl.UNet(cfg).to(device).eval()
        samplers = sampling_rows(
            ours_eval, d_model.eval(), l_model.eval(), cfg, sb,
            args.sample_steps, device, compile=args.compile,
        )  # fmt: skip
        for draw in samplers.values():
            draw()  # warm-up
        per_step = {name: [] for name in samplers}
        for _ in range(args.repeats):
            for name, draw in samplers.items():
                sync(device)
                start = time.perf_counter()
                draw()
                sync(device)
                elapsed = time.perf_counter() - start
                per_step[name].append(elapsed / args.sample_steps)
        n = 10_000
        batches = -(-n // sb)
        print(
            f"# sampling: seconds per step for a batch of {sb} "
            f"({args.sample_steps} steps timed; each library's own network)"
            f"; extrapolated to {n:,} images (per-step cost is constant)"
        )
        print(
            f"{'sampler':24s} {'s/step':>8s} {'DDIM-50':>10s} "
            f"{'DDPM-1000':>10s}"
        )
        for name, values in per_step.items():
            step = statistics.median(values)
            print(
                f"{name:24s} {step:8.4f} {step * 50 * batches:9.1f}s "
                f"{step * 1000 * batches:9.0f}s"
            )
    if args.json:
        from ddpm_lib.evaluation.provenance import write_result

        result = {
            "preset": args.preset,
            "batch_size": b,
            "flops_per_image": {
                "ddpm_lib": target / 4,
                "diffusers": d_flops / 4,
                "lucidrains": l_flops / 4,
            },
            "training_flops_per_image": per_image,
            "parameters": params,
            "widths": {"diffusers": d_width, "lucidrains": l_width},
            "training_images_per_s": {
                k: statistics.median(v) for k, v in rates.items()
            },
            "peak_memory_bytes": peak_mem or None,
            "bf16_peak_flops": peak,
            "copy_bandwidth": bandwidth,
            "traffic_floor_bytes_per_image": traffic,
            "sampling_batch": args.sample_batch or b,
            "sampling_seconds_per_step": {
                k: statistics.median(v) for k, v in per_step.items()
            },
        }
        write_result(
            args.json,
            result,
            "python bench/compare.py " + " ".join(sys.argv[1:]),
        )


if __name__ == "__main__":
    main()
