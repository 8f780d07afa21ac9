"""Write the pretrained model's card (ddpm_lib/weights/MODEL_CARD.md).

Every figure on the card comes from a file in the repository: the weights
(config, steps, loss history), results/runs/pretrained_train.json (the training
run: command, card, minutes), results/pretrained_eval.json (the
10,000-sample evaluation with its provenance) and results/bench/cpu_sample.json
(its cost on a CPU). Nothing is typed by hand.

    python scripts/model_card.py             # rewrite the card
    python scripts/model_card.py --figure    # also redraw the class grid
    python scripts/model_card.py --check     # fail if the card is stale
    python scripts/model_card.py --reproduce-command   # print it
"""

from __future__ import annotations

import argparse
import json
import shlex
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CARD = ROOT / "ddpm_lib" / "weights" / "MODEL_CARD.md"
GRID = ROOT / "results" / "figures" / "pretrained_classes.png"
CLASSES = [
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
]  # fmt: skip


def reproduce_command(run: dict) -> str:
    """The training command with the steps it reached and no time budget.

    The recorded run stopped on ``--max-minutes``, so how far the same
    command gets depends on the card; with ``--steps`` set to the steps it
    reached, any card trains the same steps (the learning rate warms up and
    then stays constant, so nothing else depends on the run's length).
    """
    words = shlex.split(run["command"])
    if "--max-minutes" in words:
        at = words.index("--max-minutes")
        del words[at : at + 2]
    words[words.index("--steps") + 1] = str(run["steps"])
    return shlex.join(words)


def draw_grid(per_class: int = 8) -> None:
    """Eight DDIM-50 samples per class (one row each), on the CPU."""
    import torch

    import ddpm_lib as dl

    model, sched, _ = dl.load_pretrained()
    labels = torch.arange(10).repeat_interleave(per_class)
    g = torch.Generator().manual_seed(0)
    images = dl.generate(model, sched, len(labels), steps=50, labels=labels,
                         generator=g)  # fmt: skip
    dl.save_png(images, GRID, ncols=per_class)


def _seed(command: str) -> str:
    """The --seed of an evaluation command (0 when it gives none)."""
    words = shlex.split(command)
    return words[words.index("--seed") + 1] if "--seed" in words else "0"


def _noise_table(ev: dict, agains: list[dict]) -> str:
    """One row per evaluation of the shipped file: seed, device, figures."""
    rows = [
        "  | seed | on | FCD | KID × 10³ | share per class | nearest "
        "training image (median) |",
        "  |---|---|---|---|---|---|",
    ]
    for report in [ev, *agains]:
        model, hw = report["model"], report["provenance"]["hardware"]
        shares = model["class_histogram"]
        rows.append(
            f"  | {_seed(report['provenance']['command'])} "
            f"| {hw.get('gpu') or 'CPU (' + hw['machine'] + ')'} "
            f"| {model['fcd']:.1f} "
            f"| {model['kid'][0]:.1f} ± {model['kid'][1]:.1f} "
            f"| {min(shares):.1%}–{max(shares):.1%} "
            f"| {model['nearest_train_rms']['median']:.3f} |"
        )
    return "\n".join(rows)


def _noise_summary(ev: dict, agains: list[dict]) -> str:
    """How far the FCD moved between the evaluations."""
    fcds = [report["model"]["fcd"] for report in [ev, *agains]]
    if len(fcds) == 1:
        return "  Not measured yet."
    if len(fcds) == 2:
        return (
            f"  The two FCDs differ by {abs(fcds[1] - fcds[0]):.1f} (one "
            "pair, so a first estimate): read a difference of that size "
            "between two models as noise."
        )
    return (
        f"  The {len(fcds)} FCDs have mean {statistics.mean(fcds):.1f} and "
        f"standard deviation {statistics.stdev(fcds):.1f}: read differences "
        "between two models smaller than about three times that as noise."
    )


def _cpu_training(speed: dict, run: dict) -> str:
    """How long the recorded steps would take at a measured CPU rate."""
    rates = speed["images_per_s"]
    path = max(rates, key=lambda name: rates[name]["median"])
    rate = rates[path]["median"]
    hours = run["steps"] * run["batch_size"] / rate / 3600
    hw = speed["provenance"]["hardware"]
    return (
        f"A CPU could run it, slowly: "
        f"`{speed['provenance']['command']}` measured {rate:.0f} images/s "
        f"(path {path}, the faster one) on {speed['threads']} threads of a "
        f"{hw['cpu_count']}-core {hw['processor'] or hw['machine']}, so "
        f"the {run['steps']} steps of batch {run['batch_size']} would take "
        f"about {hours:.0f} hours there."
    )


def training_record() -> dict:
    return json.loads(
        (ROOT / "results" / "runs" / "pretrained_train.json").read_text()
    )


def render() -> str:
    import ddpm_lib as dl
    from ddpm_lib.evaluation.provenance import sha256
    from ddpm_lib.io.checkpoint import load_checkpoint

    weights = dl.pretrained_path()
    state = load_checkpoint(weights)
    run = training_record()
    ev = json.loads((ROOT / "results" / "pretrained_eval.json").read_text())
    cpu = json.loads(
        (ROOT / "results" / "bench" / "cpu_sample.json").read_text()
    )
    agains = [
        json.loads(path.read_text())
        for path in sorted(ROOT.glob("results/pretrained_eval_cpu_seed*.json"))
    ]
    cpu_training = _cpu_training(
        json.loads(
            (ROOT / "results" / "bench" / "cpu_train.json").read_text()
        ),
        run,
    )
    cpu_rows = {row["guidance"]: row["median"] for row in cpu["rows"]}
    cpu_hw = cpu["provenance"]["hardware"]
    model, floor, ceil = ev["model"], ev["floor"], ev["ceiling"]
    cfg = state["config"]
    params = sum(v.numel() for v in state["ema"]["module"].values())
    digest = sha256(weights)
    hist = " | ".join(f"{p:.1%}" for p in model["class_histogram"])
    nn = model["nearest_train_rms"]
    at = model["class_agreement_at"]
    return f"""# Model card: `fashion_small_cond.pt`

A class-conditional DDPM for Fashion-MNIST (28 × 28, greyscale), shipped with
`ddpm_lib` so that the book and Colab readers sample from a real model
without training one. Load it with `ddpm_lib.load_pretrained()`.

*This card is written by `python scripts/model_card.py` from the files it
cites; a test fails when it disagrees with them.*

## What it is

- Network: the `{"fashion_small_cond"}` preset — a UNet with base width
  {cfg["model"]["base_channels"]}, levels {tuple(cfg["model"]["channel_mults"])},
  {cfg["model"]["num_res_blocks"]} residual blocks per level, attention at
  7 × 7, {params:,} parameters; 10 class labels plus a null label.
- Diffusion: T = {cfg["T"]}, {cfg["schedule"]} β schedule (1e-4 → 0.02),
  ε-prediction, L_simple (Ho et al. 2020, Algorithm 1). Label dropout
  {cfg["label_dropout"]}: the null label gives unconditional samples and
  classifier-free guidance (Ho & Salimans 2022).
- File: EMA weights only (decay {cfg["ema_decay"]}), float32,
  {weights.stat().st_size / 1e6:.1f} MB, loaded with `weights_only=True`.
- SHA-256: `{digest}` — result files refer to this hash
  (`provenance.checkpoint_sha256`).

## How it was trained

```bash
{run["command"]}
{run["export"]}
```

On one {run["gpu"]} (torch {run["torch"]}, commit `{run["commit"][:10]}`,
{run["date"]}): {run["steps"]} steps of batch {run["batch_size"]}
({run["images_seen"]:,} images, about {run["images_seen"] / 60000:.0f}
epochs) in a {run["training_loop_minutes"]}-minute training loop
({run["process_seconds"]} s for the whole process) at about
{run["images_per_s"]:,} images/s; stopped by {run["stopped_by"]}. Final
training loss {state["history"][-1]["loss"]:.4f}. Log: `{run["log"]}`.

The run is short on purpose (the budget was minutes of GPU time): the loss
was still falling slowly, and a longer run of the same command (a larger
`--max-minutes`) should give a better model.

## How good it is

`{ev["provenance"]["command"]}` (N = {ev["n"]:,}; DDIM-50, η = 0, class
labels 0–9 in turn, no guidance; features of the project's Fashion-MNIST
classifier; reference: {ev["reference"]}):

| | FCD ↓ | KID × 10³ ↓ |
|---|---|---|
| floor: {ev["n"]:,} training images (a perfect model) | {floor["fcd"]:.2f} | {floor["kid"][0]:.2f} ± {floor["kid"][1]:.2f} |
| **this model** | **{model["fcd"]:.1f}** | **{model["kid"][0]:.1f} ± {model["kid"][1]:.1f}** |
| ceiling: {ev["n"]:,} noise images | {ceil["fcd"]:.0f} | {ceil["kid"][0]:.0f} ± {ceil["kid"][1]:.0f} |

Class agreement (the share of samples the classifier reads back as the
class they were asked for): **{model["class_agreement"]:.1%}** of these
samples without guidance, and **{at["share"]:.1%}** of {at["n"]:,}
samples drawn the same way with classifier-free guidance at w =
{at["guidance"]:g}, the weight the book and the README use.

Predicted-class histogram of the samples (the classifier's verdict; a
perfect model gives 10% each; {", ".join(CLASSES)}):

| {" | ".join(CLASSES)} |
|{"---|" * 10}
| {hist} |

Memorisation: the root-mean-square pixel distance from each sample to its
nearest training image has median {nn["median"]:.3f} and minimum
{nn["min"]:.3f} (pixels in [-1, 1]); {nn["share_below_0.05"]:.1%} of the
samples lie within 0.05 of a training image.

Eight samples per class (DDIM-50, seed 0; rows are the classes in the order
above), drawn on a CPU from this file:

![Eight samples per Fashion-MNIST class](../../results/figures/pretrained_classes.png)

## Reproducing it

The run above stopped on its time budget, so how many steps the same
command reaches depends on the card. The same {run["steps"]} steps on any card:

```bash
{reproduce_command(run)}
```

(`--steps {run["steps"]}` in place of the time budget: the learning rate warms up
over {cfg["warmup_steps"]} steps and then stays constant, so nothing else depends on
the run's length.) How far the figures above move:

- **Another set of samples from this file** (the evaluation's noise): the
  same evaluation with other seeds.

{_noise_table(ev, agains)}

{_noise_summary(ev, agains)}

- **Another training run** (the training's noise): not measured. GPU
  training is not bit-for-bit deterministic, so a rerun gives a different
  model of similar quality; `ONLY=reproduce bash bench/gpu_run.sh OUT`
  runs the command above on a GPU and evaluates the result the same way.
  {cpu_training}

## What it costs on a CPU

`{cpu["provenance"]["command"]}`: {cpu["n"]} class-conditional
DDIM-{cpu["steps"]} samples take **{cpu_rows[0.0]:.1f} s** on
{cpu["threads"]} torch threads ({cpu_hw["processor"] or cpu_hw["machine"]},
{cpu_hw["cpu_count"]} cores, torch {cpu["provenance"]["torch"]}, median of
{len(cpu["rows"][0]["seconds"])} runs, load average {cpu["load_average"][0]:.2f}
before the run) and {cpu_rows[2.0]:.1f} s with classifier-free guidance
(w = 2: two network evaluations per step). On cores shared with other busy
jobs the same call can take several times longer.

## Limits

- Trained for {run["training_loop_minutes"]} minutes: FCD {model["fcd"]:.1f}
  is still {model["fcd"] / floor["fcd"]:.0f} times the floor; without guidance
  about one sample in {1 / (1 - model["class_agreement"]):.0f} is read as
  another class than the one asked for.
- 28 × 28 greyscale Fashion-MNIST only; the classes are Zalando's ten.
- Fashion-MNIST is © Zalando SE, MIT licence (see DATA.md).
"""


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--check", action="store_true")
    p.add_argument("--figure", action="store_true")
    p.add_argument("--reproduce-command", action="store_true")
    args = p.parse_args(argv)
    if args.reproduce_command:
        print(reproduce_command(training_record()))
        return 0
    text = render()
    if args.check:
        if not CARD.is_file() or CARD.read_text() != text:
            print(f"{CARD} is stale: run python scripts/model_card.py")
            return 1
        return 0
    if args.figure:
        draw_grid()
    CARD.write_text(text)
    print(f"wrote {CARD}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
