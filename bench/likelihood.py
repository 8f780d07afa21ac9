"""The variational bound in bits/dim on test images, term by term.

For a trained model and the first N Fashion-MNIST test images, every step
t = 1 … T gets one fresh ε per image and one network call; the network's
ε_θ scores both reverse variances, σ_t² = β_t and σ_t² = β̃_t, so the two
bounds share their noise. The file records, for each variance, the total
L_T + Σ L_{t−1} + L_0 of Ho et al. (2020) Eq. (5) per image (its mean is
an upper bound on the negative log-likelihood, −log p_θ(x_0), in bits per
dimension), the prior term L_T, the decoder term L_0 of Eq. (13), and the
mean of each term over the images (the curve of the evaluation chapter).
A class-conditional model is scored without labels: the null label makes
it an unconditional model, so the number bounds −log p_θ(x_0).

    python bench/likelihood.py --n 100 --json results/likelihood.json \\
        --checkpoint ddpm_lib/weights/fashion_small_cond.pt
    DDPM_FAST=1 python bench/likelihood.py --checkpoint CKPT  # a smoke run
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import torch

import ddpm_lib as dl
from ddpm_book.modes import by_mode
from ddpm_lib.evaluation.provenance import write_result
from ddpm_lib.io.checkpoint import CheckpointError

VARIANCES = ("beta", "beta_tilde")


@torch.no_grad()
def bound_terms(
    model, sched: dl.Schedule, x0: torch.Tensor, *, prediction: str, generator
) -> dict[str, torch.Tensor]:
    """Every term of the bound for both variances, bits/dim, (B, T) each.

    Column t − 1 holds step t's term (L_0 at t = 1); the network runs in
    its own dtype, the bound's arithmetic in float64.
    """
    x0_64 = x0.double()
    terms = {v: x0_64.new_empty(len(x0), sched.T) for v in VARIANCES}
    for t in range(1, sched.T + 1):
        steps = torch.full((len(x0),), t, device=x0.device)
        eps = torch.randn(
            x0.shape, generator=generator, device=x0.device, dtype=x0.dtype
        )
        x_t = dl.q_sample(sched, x0, steps, eps)
        output = model(x_t, steps)
        eps_pred = dl.eps_from_prediction(
            sched, x_t.double(), steps, output.double(), prediction
        )
        x_t_64 = dl.q_sample(sched, x0_64, steps, eps.double())
        for v in VARIANCES:
            terms[v][:, t - 1] = dl.vlb_term_from_eps_bpd(
                sched, x0_64, x_t_64, steps, eps_pred, variance=v
            )
    return terms


def summary(terms: torch.Tensor, prior: torch.Tensor) -> dict:
    """The numbers of one variance: totals per image and term means."""
    total = prior + terms.sum(dim=1)  # (B,)
    n = len(total)
    return {
        "bpd": total.mean().item(),
        "bpd_sem": (total.std().item() / math.sqrt(n)) if n > 1 else None,
        "prior": prior.mean().item(),
        "decoder": terms[:, 0].mean().item(),
        "per_image": total.tolist(),
        "term_means": terms.mean(dim=0).tolist(),
    }


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--n", type=int, default=by_mode(100, 2))
    p.add_argument(
        "--batch-size", type=int, default=100, help="images per call"
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device")
    p.add_argument("--json")
    args = p.parse_args(argv)
    if args.n < 1 or args.batch_size < 1:
        raise SystemExit("error: --n and --batch-size must be at least 1")
    if args.json and not Path(args.json).resolve().parent.is_dir():
        raise SystemExit(
            f"error: the folder of --json {args.json} does not exist; "
            "create it or choose another path"
        )
    device = torch.device(args.device) if args.device else dl.default_device()
    try:
        model, sched, config = dl.load_model(args.checkpoint, device=device)
    except CheckpointError as error:
        raise SystemExit(f"error: {error}") from None
    sched = sched.to(device)
    test_set = dl.load_images("fashion_mnist", split="test")
    if args.n > len(test_set.pixels):
        raise SystemExit(
            f"error: --n {args.n} is more than the "
            f"{len(test_set.pixels)} test images"
        )
    x0 = dl.pixels_to_model(test_set.pixels[: args.n]).to(device)
    generator = torch.Generator(device).manual_seed(args.seed)
    start, cpu = time.perf_counter(), time.process_time()
    parts = {v: [] for v in VARIANCES}
    for batch in x0.split(args.batch_size):
        terms = bound_terms(
            model,
            sched,
            batch,
            prediction=config.prediction,
            generator=generator,
        )
        for v in VARIANCES:
            parts[v].append(terms[v].cpu())
        done = sum(len(part) for part in parts[VARIANCES[0]])
        print(
            f"{done}/{args.n} images, {time.perf_counter() - start:.0f} s",
            flush=True,
        )
    prior = dl.prior_bpd(sched, x0.double()).cpu()
    report = {
        "n": args.n,
        "images": f"the first {args.n} Fashion-MNIST test images",
        "labels": "none (the null label: the unconditional model)",
        "T": sched.T,
        "noise": "one ε per image and step, shared by both variances",
        "seconds": time.perf_counter() - start,
        "cpu_seconds": time.process_time() - cpu,
        "variances": {
            v: summary(torch.cat(parts[v]), prior) for v in VARIANCES
        },
    }
    for v in VARIANCES:
        row = report["variances"][v]
        sem = "" if row["bpd_sem"] is None else f" ± {row['bpd_sem']:.3f}"
        print(
            f"σ² = {v:10s}: {row['bpd']:.3f}{sem} bits/dim "
            f"(L_T {row['prior']:.1e}, L_0 {row['decoder']:.3f})"
        )
    print(f"{report['seconds']:.0f} s")
    write_result(
        args.json,
        report,
        "python bench/likelihood.py " + " ".join(argv),
        checkpoint=args.checkpoint,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
