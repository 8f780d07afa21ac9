"""Evaluate samples of a trained model on Fashion-MNIST, with provenance.

Examples:
    python -m ddpm_lib.evaluate --reference --n 10000 \\
        --json results/fashion_reference.json
    python -m ddpm_lib.evaluate --checkpoint runs/tiny/checkpoint.pt \\
        --n 1000 --bpd 100 --json results/tiny.json

The report gives, for N samples against the first N test images: the
Fréchet classifier distance (FCD) and KID, the floor (N training images:
what a perfect model scores) and the ceiling (N noise images), the
predicted-class histogram (mode dropping) and the distance of every sample
to its nearest training image (memorisation); optionally the variational
bound in bits/dim on test images. FCD depends on N: compare equal N only;
10,000 for headline figures. The JSON file records the command, the
commit, the hardware and the hashes of the checkpoint and the classifier.
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import os
import platform
import subprocess
import sys
from pathlib import Path

import torch

from ddpm_lib.bound import vlb_bpd
from ddpm_lib.checkpoint import CheckpointError
from ddpm_lib.classifier import load_classifier, weights_path
from ddpm_lib.data import (
    DataNotFoundError,
    load_images,
    model_to_pixels,
    pixels_to_model,
)
from ddpm_lib.generate import generate
from ddpm_lib.metrics import (
    class_histogram,
    fcd,
    kid,
    nearest_neighbour_distances,
)
from ddpm_lib.runtime import default_device

__all__ = [
    "provenance",
    "reference_report",
    "sha256",
    "verify_result",
    "write_result",
]


def sha256(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _commit() -> str | None:
    """The git commit of this code (or $DDPM_COMMIT in a copy without git)."""
    if os.environ.get("DDPM_COMMIT"):
        return os.environ["DDPM_COMMIT"]
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            cwd=Path(__file__).parent,
            timeout=10,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def provenance(
    command: str, *, checkpoint: str | os.PathLike | None = None
) -> dict:
    """Where a result comes from: command, commit, hardware, hashes."""
    device = default_device()
    hardware = {
        "machine": platform.machine(),
        "processor": platform.processor() or None,
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "device": str(device),
    }
    if device.type == "cuda":
        hardware["gpu"] = torch.cuda.get_device_name(device)
    return {
        "command": command,
        "commit": _commit(),
        "date": datetime.datetime.now(datetime.UTC).isoformat(
            timespec="seconds"
        ),
        "hardware": hardware,
        "torch": torch.__version__,
        "classifier_sha256": sha256(weights_path()),
        "checkpoint": None if checkpoint is None else str(checkpoint),
        "checkpoint_sha256": None
        if checkpoint is None
        else sha256(checkpoint),
    }


def write_result(
    path: str | os.PathLike | None,
    result: dict,
    command: str,
    *,
    checkpoint: str | os.PathLike | None = None,
) -> str:
    """Stamp ``result`` with its provenance; write it as JSON to ``path``.

    Returns the JSON text (also when ``path`` is None: nothing is written).
    """
    result["provenance"] = provenance(command, checkpoint=checkpoint)
    text = json.dumps(result, indent=1)
    if path is not None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(text + "\n")
    return text


def verify_result(path: str | os.PathLike, root: str | os.PathLike) -> None:
    """Raise ValueError if a result file no longer matches its inputs.

    The shipped classifier must be the one it was computed with, and a
    checkpoint it names (relative to ``root``) must have the recorded hash.
    """
    result = json.loads(Path(path).read_text())
    prov = result["provenance"]
    if prov["classifier_sha256"] != sha256(weights_path()):
        raise ValueError(
            f"{path} was computed with another evaluation classifier; "
            f"rerun: {prov['command']}"
        )
    if prov.get("checkpoint"):
        checkpoint = Path(root) / prov["checkpoint"]
        if not checkpoint.is_file() or (
            sha256(checkpoint) != prov["checkpoint_sha256"]
        ):
            raise ValueError(
                f"{path} describes {prov['checkpoint']}, which is missing or "
                f"has changed; rerun: {prov['command']}"
            )


def _distances(real, fake, classifier) -> dict:
    mean, std = kid(real, fake, classifier=classifier)
    return {"fcd": fcd(real, fake, classifier=classifier), "kid": [mean, std]}


def reference_report(n: int, *, seed: int = 0) -> dict:
    """FCD and KID floor (train vs test) and ceiling (noise vs test)."""
    classifier = load_classifier()
    test = pixels_to_model(load_images("fashion_mnist", split="test").pixels)
    train = pixels_to_model(load_images("fashion_mnist").pixels)
    if not 2 <= n <= len(test):
        raise ValueError(f"--n must be in 2..{len(test)}; got {n}")
    g = torch.Generator().manual_seed(seed)
    noise = torch.randn(n, 1, 28, 28, generator=g).clamp(-1, 1)
    return {
        "n": n,
        "reference": f"the first {n} Fashion-MNIST test images",
        "floor": _distances(test[:n], train[:n], classifier),
        "ceiling": _distances(test[:n], noise, classifier),
    }


def model_report(args) -> dict:
    from ddpm_lib.trainer import load_model

    device = torch.device(args.device) if args.device else default_device()
    model, sched, config = load_model(args.checkpoint, device=device)
    classes = config.model.num_classes
    labels = None
    if classes is not None:
        labels = torch.arange(args.n, device=device) % classes
    g = torch.Generator(device).manual_seed(args.seed)
    samples = generate(
        model,
        sched,
        args.n,
        sampler=args.sampler,
        steps=args.steps,
        labels=labels,
        guidance=args.guidance,
        prediction=config.prediction,
        generator=g,
        batch_size=args.batch_size,
    ).cpu()
    if args.save_samples:  # uint8 pixels and the requested labels
        torch.save(
            {
                "pixels": model_to_pixels(samples),
                "labels": None if labels is None else labels.cpu(),
            },
            args.save_samples,
        )
    classifier = load_classifier()
    test = pixels_to_model(load_images("fashion_mnist", split="test").pixels)
    train = pixels_to_model(load_images("fashion_mnist").pixels)
    report = reference_report(args.n, seed=args.seed)
    report["model"] = {
        "sampler": args.sampler,
        "steps": args.steps if args.sampler == "ddim" else sched.T,
        "guidance": args.guidance,
        **_distances(test[: args.n], samples, classifier),
        "class_histogram": class_histogram(
            samples, classifier=classifier
        ).tolist(),
    }
    dist, _ = nearest_neighbour_distances(samples, train)
    report["model"]["nearest_train_rms"] = {
        "min": dist.min().item(),
        "median": dist.median().item(),
        "share_below_0.05": (dist < 0.05).float().mean().item(),
    }
    if args.bpd:
        x = test[: args.bpd].to(device)
        g = torch.Generator(device).manual_seed(args.seed)
        bound = vlb_bpd(
            sched,
            lambda x_t, t: model(x_t, t),
            x,
            variance="beta",
            prediction=config.prediction,
            generator=g,
        )
        report["model"]["bits_per_dim"] = {
            "n": args.bpd,
            "total": bound.total.mean().item(),
            "prior": bound.prior.mean().item(),
            "decoder": bound.terms[:, 0].mean().item(),
        }
    return report


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    p = argparse.ArgumentParser(
        prog="python -m ddpm_lib.evaluate",
        description=__doc__.split("\n\n")[0],
        epilog=__doc__.split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--checkpoint", help="a trained model to evaluate")
    what.add_argument(
        "--reference",
        action="store_true",
        help="only the floor and ceiling of the protocol",
    )
    p.add_argument("--n", type=int, default=1000, help="sample count N")
    p.add_argument("--sampler", choices=["ddim", "ddpm"], default="ddim")
    p.add_argument("--steps", type=int, default=50, help="DDIM steps")
    p.add_argument("--guidance", type=float, default=0.0)
    p.add_argument(
        "--bpd", type=int, default=0, help="test images for bits/dim (0: skip)"
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--batch-size", type=int, default=256, help="images per network call"
    )
    p.add_argument("--device")
    p.add_argument("--json", help="write the report (with provenance) here")
    p.add_argument(
        "--save-samples",
        metavar="FILE",
        help="also save the samples (uint8 pixels and labels, torch.save)",
    )
    args = p.parse_args(argv)
    try:
        if args.reference:
            report = reference_report(args.n, seed=args.seed)
        else:
            report = model_report(args)
    except (CheckpointError, DataNotFoundError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(
        write_result(
            args.json,
            report,
            "python -m ddpm_lib.evaluate " + " ".join(argv),
            checkpoint=args.checkpoint,
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
