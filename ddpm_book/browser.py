"""The pretrained model in the reader's browser: export, page noise, widget.

On the static site the sampling chapter's generator runs the pretrained
UNet in the page, with onnxruntime-web's WebAssembly build (one thread)
and the samplers of ``browser_sampler.js``, which follow ddpm_lib's
equations. Nothing is fetched until the reader presses *Generate*, and
every file comes from the site itself:

* ``_static/ddpm-browser/unet.onnx``: the network with float16 weights
  (:func:`ddpm_lib.io.onnx.export_onnx`), written when the book is built;
* ``model.json``: its schedule, classes and provenance;
* the runtime (:data:`RUNTIME_FILES`), from the npm package
  ``onnxruntime-web`` that ``scripts/setup.sh`` installs into
  ``node_modules`` (``package.json`` pins it).

The page's random numbers come from :func:`seeded_noise`, which draws what
the page's generator draws, so :func:`page_trajectory` computes in Python
the images a reader gets for a seed. The block holds those images for the
default settings as precomputed frames; where the runtime cannot load
(no WebAssembly, or the page opened from disk) the reader sees those.
"""

from __future__ import annotations

import base64
import contextlib
import copy
import hashlib
import html
import importlib.resources
import json
import math
import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

import ddpm_lib as dl
from ddpm_book.explorer import Explorer
from ddpm_book.modes import book_build
from ddpm_lib.diffusion.guidance import BOOK_GUIDANCE
from ddpm_lib.diffusion.sampling import SampleStep
from ddpm_lib.io.onnx import export_onnx, float16_weights

__all__ = [
    "ASSET_FOLDER",
    "RUNTIME_FILES",
    "BrowserSampler",
    "browser_sampler",
    "model_meta",
    "page_trajectory",
    "runtime_folder",
    "seeded_noise",
    "write_assets",
]

# Where the site serves the files, under its _static folder.
ASSET_FOLDER = "ddpm-browser"
MODEL_FILE = "unet.onnx"
META_FILE = "model.json"
# onnxruntime-web's WebAssembly-only build: the script, and the module and
# binary it loads (one thread; SIMD).
RUNTIME_FILES = (
    "ort.wasm.min.js",
    "ort-wasm-simd-threaded.mjs",
    "ort-wasm-simd-threaded.wasm",
)
SAMPLER_SCRIPT = "browser_sampler.js"
WIDGET_SCRIPT = "browser_widget.js"
# The choices the page offers.
STEP_CHOICES = (10, 20, 50, 100)
MAX_GUIDANCE = 8.0

_ROOT = Path(__file__).resolve().parent.parent
_MASK = 0xFFFFFFFF


def _script(name: str) -> str:
    return (
        importlib.resources.files("ddpm_book")
        .joinpath(name)
        .read_text(encoding="utf-8")
    )


def runtime_folder(root: str | Path | None = None) -> Path:
    """onnxruntime-web's ``dist`` folder, installed by ``scripts/setup.sh``.

    Raises:
        FileNotFoundError: with the command that installs it.
    """
    base = Path(root) if root is not None else _ROOT
    dist = base / "node_modules" / "onnxruntime-web" / "dist"
    missing = [f for f in RUNTIME_FILES if not (dist / f).is_file()]
    if missing:
        raise FileNotFoundError(
            f"onnxruntime-web is missing from {dist} ({', '.join(missing)}); "
            "run: bash scripts/setup.sh (it runs npm ci --ignore-scripts)"
        )
    return dist


def runtime_version(root: str | Path | None = None) -> str:
    """The installed onnxruntime-web version."""
    package = runtime_folder(root).parent / "package.json"
    return json.loads(package.read_text())["version"]


# -- the page's random numbers ------------------------------------------------


def _imul(a: int, b: int) -> int:
    return (a * b) & _MASK


def seeded_noise(seed: int) -> Callable[[int], Tensor]:
    """The page's generator: ``noise(count)`` gives ``count`` N(0, 1) draws
    (float32), the numbers ``DDPMSampler.seededNoise(seed)`` gives in the
    page (mulberry32 uniforms, Box–Muller with the cosine)."""
    if not (isinstance(seed, int) and 0 <= seed <= _MASK):
        raise ValueError(f"seed must be an integer in 0..2^32 - 1; got {seed}")
    state = seed

    def uniform() -> float:
        nonlocal state
        state = (state + 0x6D2B79F5) & _MASK
        r = _imul(state ^ (state >> 15), 1 | state)
        r = ((r + _imul(r ^ (r >> 7), 61 | r)) & _MASK) ^ r
        return ((r ^ (r >> 14)) & _MASK) / 4294967296

    def noise(count: int) -> Tensor:
        out = np.empty(count, dtype=np.float32)
        for i in range(count):
            u1 = 1 - uniform()
            u2 = uniform()
            out[i] = math.sqrt(-2 * math.log(u1)) * math.cos(2 * math.pi * u2)
        return torch.from_numpy(out)

    return noise


def page_trajectory(
    unet: nn.Module,
    sched: dl.Schedule,
    noise: Callable[[int], Tensor],
    *,
    labels: Tensor,
    guidance: float = 0.0,
    sampler: str = "ddim",
    steps: int = 20,
    eta: float = 0.0,
    variance: str = "beta",
    clip_x0: bool = True,
) -> Iterator[SampleStep]:
    """The page's sampler in Python, from ddpm_lib's steps and the same
    noise in the same order (see ``browser_sampler.js``): x_T, then each
    noisy step's z. Yields a :class:`SampleStep` per network call and the
    sample at t = 0."""
    cfg = unet.config
    n = labels.shape[0]
    shape = (n, cfg.image_channels, cfg.image_size, cfg.image_size)
    size = math.prod(shape)
    model = dl.eps_model(unet, sched, labels=labels, guidance=guidance)
    if sampler == "ddpm":
        taus = list(range(sched.T, 0, -1))
    elif sampler == "ddim":
        taus = dl.ddim_timesteps(sched.T, steps)
    else:
        raise ValueError(f"sampler must be 'ddim' or 'ddpm'; got {sampler!r}")
    x = noise(size).reshape(shape)
    with torch.no_grad():
        for i, t in enumerate(taus):
            t_batch = torch.full((n,), t, dtype=torch.long)
            eps = model(x, t_batch)
            x0 = dl.x0_from_eps(sched, x, t_batch, eps)
            yield SampleStep(t, x, x0.clamp(-1, 1) if clip_x0 else x0)
            if sampler == "ddpm":
                z = noise(size).reshape(shape) if t > 1 else torch.zeros(shape)
                x = dl.ddpm_step(
                    sched, x, t, eps, variance=variance, noise=z,
                    clip_x0=clip_x0,
                )  # fmt: skip
            else:
                t_prev = taus[i + 1] if i + 1 < len(taus) else 0
                z = noise(size).reshape(shape) if eta > 0 else None
                x = dl.ddim_step(
                    sched, x, t, t_prev, eps, eta=eta, noise=z,
                    clip_x0=clip_x0,
                )  # fmt: skip
    yield SampleStep(0, x, x)


# -- the files the page loads -------------------------------------------------


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def model_meta(unet: nn.Module, sched: dl.Schedule, config) -> dict:
    """What the page needs beside the network: schedule, classes, shape."""
    cfg = unet.config
    if config.prediction != "eps":
        raise ValueError(
            "the page's sampler takes a network that predicts ε; this one "
            f"predicts {config.prediction!r}"
        )
    return {
        "T": sched.T,
        "betas": sched.beta[1:].tolist(),
        "image_size": cfg.image_size,
        "channels": cfg.image_channels,
        "num_classes": cfg.num_classes,
        "null_label": cfg.null_label,
        "class_names": list(dl.class_names(config.dataset)),
        "weights": "float16",
    }


def write_assets(
    folder: str | Path,
    unet: nn.Module,
    sched: dl.Schedule,
    config,
    *,
    source: str | Path | None = None,
    root: str | Path | None = None,
) -> dict[str, Path]:
    """Write everything the page loads into ``folder``: the ONNX model
    (float16 weights), ``model.json``, the runtime and the sampler script.

    Args:
        source: The weights file the network came from (its name and
            SHA-256 go into ``model.json``).
        root: The checkout whose ``node_modules`` holds onnxruntime-web.

    Returns:
        File name -> path of what was written.
    """
    dist = runtime_folder(root)  # before the export: fail fast
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written = {MODEL_FILE: export_onnx(unet, folder / MODEL_FILE)}
    meta = model_meta(unet, sched, config)
    meta["runtime"] = f"onnxruntime-web {runtime_version(root)}"
    meta["model_sha256"] = _sha256(written[MODEL_FILE])
    if source is not None:
        meta["source"] = {
            "file": Path(source).name,
            "sha256": _sha256(Path(source)),
        }
    (folder / META_FILE).write_text(json.dumps(meta) + "\n")
    written[META_FILE] = folder / META_FILE
    for name in RUNTIME_FILES:
        written[name] = Path(shutil.copy2(dist / name, folder / name))
    (folder / SAMPLER_SCRIPT).write_text(_script(SAMPLER_SCRIPT))
    written[SAMPLER_SCRIPT] = folder / SAMPLER_SCRIPT
    return written


# -- the chapter's block ------------------------------------------------------


def _frames_figure(step: SampleStep, index: int, count: int):
    from ddpm_book.sampling import samples_figure

    fig = samples_figure({"x_t": step.x_t, "x̂₀": step.x0_hat}, size=0.9)
    where = f"step {index} of {count}, t = {step.t}" if step.t else "sample"
    fig.suptitle(where, fontsize=8)
    return fig


class BrowserSampler:
    """The sampling chapter's generator; see :func:`browser_sampler`.

    Attributes:
        frames: Class name -> the page's trajectory for the default
            settings (list of :class:`SampleStep`), computed in Python
            with the page model's float16-rounded weights.
        float16_difference: Largest pixel difference (scale [-1, 1])
            between the default class's sample with those weights and
            with the float32 network's, from the same noise.
        settings: The default settings of the page.
    """

    def __init__(self, unet, sched, config, *, settings: dict) -> None:
        self.settings = settings
        self.class_names = list(dl.class_names(config.dataset))
        sched = sched.to("cpu")

        def run(network, label: int) -> list[SampleStep]:
            return list(
                page_trajectory(
                    network,
                    sched,
                    seeded_noise(settings["seed"]),
                    labels=torch.full((settings["n"],), label),
                    guidance=settings["guidance"],
                    steps=settings["steps"],
                    eta=settings["eta"],
                )
            )

        network = float16_weights(unet).cpu().eval()
        self.frames = {
            name: run(network, label)
            for label, name in enumerate(self.class_names)
        }
        # What the float16 weights of the page's model change: the default
        # class's sample against the float32 network's, same noise.
        full = run(copy.deepcopy(unet).cpu().eval(), settings["label"])
        page = self.frames[self.class_names[settings["label"]]]
        self.float16_difference = (
            (page[-1].x_t - full[-1].x_t).abs().max().item()
        )
        steps = settings["steps"]
        self.explorer = Explorer(
            lambda **v: _frames_figure(  # "class" is a Python keyword
                self.frames[v["class"]][v["step"]], v["step"], steps
            ),
            {"class": self.class_names, "step": list(range(steps + 1))},
            # Every class's sample, and every step of the default class.
            frames=[{"class": c, "step": steps} for c in self.class_names]
            + [
                {"class": self.class_names[settings["label"]], "step": k}
                for k in range(steps)
            ],
            initial={
                "class": self.class_names[settings["label"]],
                "step": steps,
            },
            dpi=70,
            title=(
                f"Precomputed: seed {settings['seed']}, DDIM with "
                f"{steps} steps, w = {settings['guidance']:g}"
            ),
        )

    def to_html(self) -> str:
        """The block: controls, the generate button, a canvas, and the
        precomputed frames (an explorer) to fall back to."""
        uid = f"ddpm-browser-{uuid.uuid4().hex[:12]}"
        s = self.settings
        data = {
            "assets": f"_static/{ASSET_FOLDER}/",
            "runtime": RUNTIME_FILES[0],
            "model": MODEL_FILE,
            "meta": META_FILE,
            "classNames": self.class_names,
            "settings": s,
            "stepChoices": list(STEP_CHOICES),
            "maxGuidance": MAX_GUIDANCE,
        }
        payload = (
            json.dumps(data, separators=(",", ":"))
            .replace("<", "\\u003c")
            .replace(">", "\\u003e")
            .replace("&", "\\u0026")
        )
        options = "".join(
            f'<option value="{i}"{" selected" if i == s["label"] else ""}>'
            f"{html.escape(name)}</option>"
            for i, name in enumerate(self.class_names)
        )
        step_options = (
            "".join(
                f'<option value="{k}"{" selected" if k == s["steps"] else ""}>'
                f"DDIM, {k} steps</option>"
                for k in STEP_CHOICES
            )
            + '<option value="ddpm">DDPM, all T steps (slow)</option>'
        )

        def row(label: str, control: str, cid: str, value: str = "") -> str:
            out = (
                f'<output id="{cid}-value" for="{cid}">{value}</output>'
                if value
                else ""
            )
            return (
                f'<div style="margin:0.2em 0"><label for="{cid}" '
                f'style="display:inline-block;min-width:7em;'
                f'font-family:monospace">{label}</label> {control} {out}</div>'
            )

        controls = "".join(
            [
                row(
                    "class",
                    f'<select id="{uid}-class">{options}</select>',
                    f"{uid}-class",
                ),
                row(
                    "guidance w",
                    f'<input type="range" id="{uid}-w" min="0" '
                    f'max="{MAX_GUIDANCE:g}" step="0.5" '
                    f'value="{s["guidance"]:g}" '
                    f'aria-valuetext="{s["guidance"]:g}">',
                    f"{uid}-w",
                    f"{s['guidance']:g}",
                ),
                row(
                    "sampler",
                    f'<select id="{uid}-steps">{step_options}</select>',
                    f"{uid}-steps",
                ),
                row(
                    "η (DDIM)",
                    f'<input type="range" id="{uid}-eta" min="0" max="1" '
                    f'step="0.1" value="{s["eta"]:g}" '
                    f'aria-valuetext="{s["eta"]:g}">',
                    f"{uid}-eta",
                    f"{s['eta']:g}",
                ),
                row(
                    "seed",
                    f'<input type="number" id="{uid}-seed" min="0" '
                    f'max="4294967295" step="1" value="{s["seed"]}" '
                    f'style="width:8em">',
                    f"{uid}-seed",
                ),
            ]
        )
        side = s["n"] * 84
        return (
            f'<div class="ddpm-browser" id="{uid}">'
            f"{controls}"
            f'<div style="margin:0.4em 0"><button type="button" '
            f'id="{uid}-go">Generate</button> '
            f'<button type="button" id="{uid}-stop" disabled>Stop</button>'
            f"</div>"
            f'<p id="{uid}-status" role="status" aria-live="polite">'
            f"Press Generate to run the model in this page.</p>"
            f'<figure id="{uid}-live" hidden style="margin:0 0 1em 0">'
            f'<canvas id="{uid}-canvas" width="{side}" height="168" '
            f'role="img" aria-label="Samples drawn in this page" '
            f'style="max-width:100%;image-rendering:pixelated"></canvas>'
            f"<figcaption>Top row x_t, bottom row the prediction x̂₀, after "
            f"each step; when done, both rows show the samples."
            f"</figcaption></figure>"
            f'<div id="{uid}-fallback">{self.explorer.to_html()}</div>'
            f'<script type="application/json" id="{uid}-data">{payload}'
            f"</script>"
            f"<script>{_script(SAMPLER_SCRIPT)}</script>"
            f"<script>{_script(WIDGET_SCRIPT).replace('__UID__', uid)}"
            f"</script></div>"
        )

    def _repr_html_(self) -> str | None:
        if book_build():
            return self.to_html()
        return None  # a live kernel shows the explorer of the frames

    def _ipython_display_(self) -> None:
        from IPython.display import display

        if book_build():
            display(
                {"text/html": self.to_html(), "text/plain": repr(self)},
                raw=True,
            )
            return
        print(
            "On the book's website this block runs the model in the browser. "
            "Here the frames were computed by page_trajectory in Python:"
        )
        display(self.explorer)

    def __repr__(self) -> str:
        return (
            f"<BrowserSampler: {len(self.class_names)} classes, "
            f"settings {self.settings}>"
        )


def browser_sampler(
    unet: nn.Module,
    sched: dl.Schedule,
    config,
    *,
    label: int = 0,
    guidance: float = BOOK_GUIDANCE,
    steps: int = 20,
    eta: float = 0.0,
    seed: int = 0,
    n: int = 4,
) -> BrowserSampler:
    """The generator block of the sampling chapter.

    On the built site: controls (class, guidance weight, DDIM steps or
    DDPM, η, seed), a *Generate* button that runs the network in the page
    and draws x_t and x̂₀ after every step, and below them the frames of
    these default settings, computed here in Python with the page's noise,
    which the page falls back to where the model cannot run. In Jupyter
    and Colab: the explorer of those frames.
    """
    if steps not in STEP_CHOICES:
        raise ValueError(f"steps must be one of {STEP_CHOICES}; got {steps}")
    if not 0 <= guidance <= MAX_GUIDANCE:
        raise ValueError(f"guidance must lie in [0, {MAX_GUIDANCE:g}]")
    settings = {
        "label": label,
        "guidance": float(guidance),
        "steps": steps,
        "eta": float(eta),
        "seed": seed,
        "n": n,
    }
    return BrowserSampler(unet, sched, config, settings=settings)


# -- checking and measuring the page's sampler --------------------------------

HARNESS_PAGE = "harness.html"

_HARNESS = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Sampler check</title>
<link rel="icon" href="data:,">
<script src="ort.wasm.min.js"></script>
<script src="browser_sampler.js"></script></head>
<body><p>The page's sampler, run on request (tests and benchmarks).</p>
<script>
"use strict";
window.ready = (async function () {
  ort.env.wasm.numThreads = 1;
  ort.env.wasm.wasmPaths = location.href.replace(/[^/]*$/, "");
  const meta = await (await fetch("model.json")).json();
  const session = await ort.InferenceSession.create("unet.onnx",
    { executionProviders: ["wasm"], graphOptimizationLevel: "all" });
  window.model = { meta: meta, session: session,
    net: DDPMSampler.onnxNetwork(ort, session, meta) };
  return true;
})();
function floats(b64) {
  const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
  return new Float32Array(bytes.buffer);
}
// c: {labels, guidance, sampler, steps, eta, variance, clip,
//     noise (base64 float32) or seed, betas (optional schedule)}
window.runCase = async function (c) {
  await window.ready;
  const m = window.model.meta;
  const sched = DDPMSampler.schedule(c.betas || m.betas);
  const noise = c.noise ? DDPMSampler.noiseFrom(floats(c.noise))
                        : DDPMSampler.seededNoise(c.seed);
  const ms = [];
  const start = performance.now();
  const x = await DDPMSampler.sample(window.model.net, sched, {
    labels: c.labels, nullLabel: m.null_label, guidance: c.guidance,
    sampler: c.sampler, steps: c.steps, eta: c.eta, variance: c.variance,
    clip: c.clip, size: m.channels * m.image_size * m.image_size,
    noise: noise }, async (step) => { ms.push(step.ms); });
  return { x: Array.from(x), seconds: (performance.now() - start) / 1000,
           ms: ms };
};
window.drawNoise = (seed, count) =>
  Array.from(DDPMSampler.seededNoise(seed)(count));
</script></body></html>
"""


def write_harness(folder: str | Path) -> Path:
    """A bare page beside the assets of :func:`write_assets` that runs the
    page's sampler on request (``runCase``): what the browser check and
    ``bench/browser_speed.py`` drive."""
    path = Path(folder) / HARNESS_PAGE
    path.write_text(_HARNESS)
    return path


@contextlib.contextmanager
def serve(folder: str | Path) -> Iterator[str]:
    """Serve ``folder`` over HTTP on localhost; yields the base URL."""
    import functools
    import http.server
    import threading

    class Quiet(http.server.SimpleHTTPRequestHandler):
        extensions_map = {
            **http.server.SimpleHTTPRequestHandler.extensions_map,
            ".mjs": "text/javascript",
            ".wasm": "application/wasm",
        }

        def log_message(self, *args) -> None:
            pass

    handler = functools.partial(Quiet, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


def encode_floats(values: Tensor) -> str:
    """float32 values as base64, for a page to read into a Float32Array."""
    array = values.detach().cpu().contiguous().numpy().astype("<f4")
    return base64.b64encode(array.tobytes()).decode("ascii")
