// The sampling chapter's generator (ddpm_book/browser.py inlines it after
// browser_sampler.js; the double-underscored UID below is the block's id).
// Nothing is fetched until Generate is pressed; then the runtime
// (onnxruntime-web, WebAssembly, one thread), the model and its schedule
// come from the site's own _static folder. Where they cannot load, the
// block says why and the precomputed frames below it stay.
(function () {
  "use strict";
  var root = document.getElementById("__UID__");
  if (!root || root.getAttribute("data-ddpm-ready")) return;
  root.setAttribute("data-ddpm-ready", "1");
  function part(suffix) {
    return document.getElementById("__UID__" + suffix);
  }
  var data = JSON.parse(part("-data").textContent);
  var go = part("-go");
  var stop = part("-stop");
  var status = part("-status");
  var canvas = part("-canvas");
  var live = part("-live");
  var inputs = ["-class", "-w", "-steps", "-eta", "-seed"].map(part);
  var state = { runs: 0, stopping: false };
  root.ddpmBrowser = state;

  function say(text, kind) {
    status.textContent = text;
    root.setAttribute("data-ddpm-state", kind);
  }
  function fallback(reason) {
    say(
      reason + " The frames below were computed when this page was built " +
        "(seed " + data.settings.seed + ").",
      "unavailable"
    );
    go.disabled = true;
  }
  // Range inputs show and announce their value.
  ["-w", "-eta"].forEach(function (suffix) {
    var input = part(suffix);
    var out = part(suffix + "-value");
    input.addEventListener("input", function () {
      out.textContent = input.value;
      input.setAttribute("aria-valuetext", input.value);
    });
  });
  // η only matters for DDIM.
  function syncEta() {
    part("-eta").disabled = part("-steps").value === "ddpm";
  }
  part("-steps").addEventListener("change", syncEta);

  // Absolute: the runtime resolves relative paths against its own URL.
  var base = new URL(
    (document.documentElement.dataset.content_root || "") + data.assets,
    location.href
  ).href;
  if (location.protocol === "file:") {
    fallback(
      "This page was opened from a file, and browsers do not let such a " +
        "page load the model. Serve the site over HTTP (for example, " +
        "python -m http.server in its folder) to run it here."
    );
    return;
  }
  if (typeof WebAssembly !== "object") {
    fallback("This browser has no WebAssembly, which the model needs.");
    return;
  }
  say("Press Generate to run the model in this page.", "idle");

  var loaded = null; // a promise of {session, meta, schedule}
  function loadScript(src) {
    return new Promise(function (resolve, reject) {
      var script = document.createElement("script");
      script.src = src;
      script.onload = resolve;
      script.onerror = function () {
        reject(new Error("could not load " + src));
      };
      document.head.appendChild(script);
    });
  }
  function load() {
    if (loaded) return loaded;
    loaded = (async function () {
      if (!window.ort) await loadScript(base + data.runtime);
      window.ort.env.wasm.numThreads = 1; // static hosts cannot isolate
      window.ort.env.wasm.wasmPaths = base;
      var response = await fetch(base + data.meta);
      if (!response.ok) throw new Error("could not load " + data.meta);
      var meta = await response.json();
      var session = await window.ort.InferenceSession.create(
        base + data.model,
        { executionProviders: ["wasm"], graphOptimizationLevel: "all" }
      );
      return { session: session, meta: meta, schedule: DDPMSampler.schedule(meta.betas) };
    })();
    loaded.catch(function () {
      loaded = null; // try again on the next press
    });
    return loaded;
  }

  // x_t above, x̂₀ below, one column per image; pixels from [−1, 1].
  function draw(meta, top, bottom, n) {
    var s = meta.image_size;
    var c = meta.channels;
    var small = document.createElement("canvas");
    small.width = n * s;
    small.height = 2 * s;
    var ctx = small.getContext("2d");
    var img = ctx.createImageData(n * s, 2 * s);
    [top, bottom].forEach(function (values, row) {
      for (var k = 0; k < n; k++) {
        for (var y = 0; y < s; y++) {
          for (var x = 0; x < s; x++) {
            var p = 4 * ((row * s + y) * n * s + k * s + x);
            for (var ch = 0; ch < 3; ch++) {
              var v = values[((k * c + (c === 3 ? ch : 0)) * s + y) * s + x];
              img.data[p + ch] = Math.max(0, Math.min(255, Math.round((v + 1) * 127.5)));
            }
            img.data[p + 3] = 255;
          }
        }
      }
    });
    ctx.putImageData(img, 0, 0);
    var out = canvas.getContext("2d");
    out.imageSmoothingEnabled = false;
    out.drawImage(small, 0, 0, canvas.width, canvas.height);
  }

  function settings() {
    var steps = part("-steps").value;
    var seed = Number(part("-seed").value);
    if (!(Number.isInteger(seed) && seed >= 0 && seed <= 4294967295)) {
      throw new Error("the seed must be a whole number from 0 to 4294967295");
    }
    return {
      label: Number(part("-class").value),
      guidance: Number(part("-w").value),
      sampler: steps === "ddpm" ? "ddpm" : "ddim",
      steps: steps === "ddpm" ? null : Number(steps),
      eta: Number(part("-eta").value),
      seed: seed,
    };
  }

  function busy(on) {
    inputs.forEach(function (input) {
      input.disabled = on;
    });
    if (!on) syncEta();
    go.disabled = on;
    stop.disabled = !on;
  }

  async function generate() {
    var s;
    try {
      s = settings();
    } catch (error) {
      say(error.message, "idle");
      return;
    }
    busy(true);
    state.stopping = false;
    say("Loading the runtime and the model…", "loading");
    var model;
    try {
      model = await load();
    } catch (error) {
      busy(false);
      say(
        "The model could not load in this browser (" + error.message + "). " +
          "The frames below were computed when this page was built.",
        "error"
      );
      return;
    }
    var meta = model.meta;
    var n = data.settings.n;
    var name = data.classNames[s.label];
    var evaluations = s.guidance > 0 ? 2 * n : n;
    live.hidden = false;
    var total = 0;
    var started = performance.now();
    try {
      var x = await DDPMSampler.sample(
        DDPMSampler.onnxNetwork(window.ort, model.session, meta),
        model.schedule,
        {
          labels: new Array(n).fill(s.label),
          nullLabel: meta.null_label,
          guidance: s.guidance,
          sampler: s.sampler,
          steps: s.steps,
          eta: s.eta,
          clip: true,
          size: meta.channels * meta.image_size * meta.image_size,
          noise: DDPMSampler.seededNoise(s.seed),
        },
        async function (step) {
          total += step.ms;
          draw(meta, step.x, step.x0, n);
          var where = "step " + (step.index + 1) + " of " + step.count + " (t = " + step.t + ")";
          canvas.setAttribute("aria-label", "x_t and the prediction x̂₀ of " + n + " samples of " + name + ", " + where);
          say(
            where + ": " + Math.round(step.ms) + " ms this step, " +
              Math.round(total / (step.index + 1)) + " ms per step on average (" +
              evaluations + " network evaluations per step).",
            "running"
          );
          await new Promise(function (resolve) {
            setTimeout(resolve, 0); // let the page paint
          });
          return !state.stopping;
        }
      );
      if (x === null) {
        say("Stopped.", "done");
      } else {
        draw(meta, x, x, n);
        var seconds = (performance.now() - started) / 1000;
        state.runs += 1;
        state.sample = x;
        state.seconds = seconds;
        canvas.setAttribute("aria-label", n + " samples of " + name + ", seed " + s.seed);
        say(
          "Done: " + n + " images of " + name + " in " + seconds.toFixed(1) +
            " s, " + Math.round(total / (s.steps || model.schedule.T)) +
            " ms per step, on this device.",
          "done"
        );
      }
    } catch (error) {
      say("Sampling failed: " + error.message, "error");
    }
    busy(false);
  }

  go.addEventListener("click", generate);
  stop.addEventListener("click", function () {
    state.stopping = true;
  });
})();
