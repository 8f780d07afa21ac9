"""What the sampling chapter's in-page generator costs a reader.

Exports the pretrained model as the book's build does, serves it with the
runtime over local HTTP, and times in headless Chromium (the system's) what
the page's Generate button runs: 4 class-conditional samples with
classifier-free guidance (w = the book's weight) and DDIM with 20 and with
50 steps, the median of a few runs after one warm-up. It also records the
bytes a reader downloads on the first press (model, schedule and runtime,
raw and as gzip level 6 sends them) and how far the page's images lie from
ddpm_lib's on the same noise.

    python bench/browser_speed.py --json results/bench/browser_sampler.json
    DDPM_FAST=1 python bench/browser_speed.py   # smoke run: 2 steps, 1 run
"""

from __future__ import annotations

import argparse
import gzip
import os
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

import torch

import ddpm_lib as dl
from ddpm_book import browser as br
from ddpm_book.modes import by_mode
from ddpm_lib.diffusion.guidance import BOOK_GUIDANCE
from ddpm_lib.evaluation.provenance import write_result
from ddpm_lib.io.onnx import float16_weights


def positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1; got {text}")
    return value


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--steps", type=positive, nargs="+", default=by_mode([20, 50], [2])
    )
    p.add_argument("--n", type=positive, default=4, help="images per run")
    p.add_argument("--repeats", type=positive, default=by_mode(3, 1))
    p.add_argument("--json", help="write the result file here")
    args = p.parse_args(argv)
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        p.error("no Chromium found; bash scripts/setup.sh installs it")
    if args.json and not Path(args.json).parent.is_dir():
        p.error(f"the folder of --json {args.json} does not exist")
    from playwright.sync_api import sync_playwright

    source = dl.pretrained_path()
    unet, sched, config = dl.load_pretrained()
    w = BOOK_GUIDANCE
    labels = list(range(args.n))
    fetched = [br.MODEL_FILE, br.META_FILE, *br.RUNTIME_FILES]
    with tempfile.TemporaryDirectory() as tmp:
        br.write_assets(tmp, unet, sched, config, source=source)
        br.write_harness(tmp)
        sizes = {
            name: {
                "bytes": (Path(tmp) / name).stat().st_size,
                "gzip6_bytes": len(
                    gzip.compress((Path(tmp) / name).read_bytes(), 6)
                ),
            }
            for name in fetched
        }
        rows = []
        with br.serve(tmp) as url, sync_playwright() as pw:
            browser = pw.chromium.launch(
                executable_path=chromium, args=["--no-sandbox"]
            )
            page = browser.new_page()
            page.goto(url + br.HARNESS_PAGE)
            page.evaluate("window.ready")
            case = {"labels": labels, "guidance": w, "sampler": "ddim",
                    "eta": 0.0, "clip": True, "seed": 0}  # fmt: skip
            page.evaluate("c => runCase(c)", {**case, "steps": 2})  # warm-up
            for steps in args.steps:
                runs = [
                    page.evaluate("c => runCase(c)", {**case, "steps": steps})
                    for _ in range(args.repeats)
                ]
                seconds = [r["seconds"] for r in runs]
                per_step = statistics.median(
                    statistics.median(r["ms"]) for r in runs
                )
                reference = list(
                    br.page_trajectory(
                        float16_weights(unet),
                        sched,
                        br.seeded_noise(0),
                        labels=torch.tensor(labels),
                        guidance=w,
                        steps=steps,
                    )
                )[-1].x_t
                got = torch.tensor(runs[0]["x"]).reshape(reference.shape)
                rows.append(
                    {
                        "steps": steps,
                        "seconds": seconds,
                        "median_seconds": statistics.median(seconds),
                        "median_ms_per_step": per_step,
                        "max_abs_difference_to_ddpm_lib": (
                            (got - reference).abs().max().item()
                        ),
                    }
                )
                print(
                    f"DDIM-{steps}, {args.n} images, w = {w:g}: "
                    f"{statistics.median(seconds):.2f} s "
                    f"({per_step:.0f} ms per step; max |page - ddpm_lib| = "
                    f"{rows[-1]['max_abs_difference_to_ddpm_lib']:.1e})",
                    flush=True,
                )
            version = browser.version
            browser.close()
    total = {
        k: sum(s[k] for s in sizes.values()) for k in ("bytes", "gzip6_bytes")
    }
    print(
        f"download on the first press: {total['bytes'] / 1e6:.1f} MB, "
        f"{total['gzip6_bytes'] / 1e6:.1f} MB with gzip"
    )
    report = {
        "n": args.n,
        "guidance": w,
        "sampler": "ddim",
        "eta": 0.0,
        "repeats": args.repeats,
        "network_evaluations_per_step": 2 * args.n,
        "browser": f"Chromium {version}, headless",
        "runtime": f"onnxruntime-web {br.runtime_version()}, wasm, 1 thread",
        "cpu_count": os.cpu_count(),
        "load_average": os.getloadavg()[0],
        "rows": rows,
        "files": sizes,
        "download": total,
    }
    write_result(
        args.json,
        report,
        "python bench/browser_speed.py " + " ".join(argv),
        checkpoint=os.path.relpath(source),  # run from the repository root
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
