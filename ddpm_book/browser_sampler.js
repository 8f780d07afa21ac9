// DDPM and DDIM sampling in the reader's browser, from the papers'
// equations, as ddpm_lib writes them in Python (ddpm_lib/diffusion).
//
// The network is any async function net(x, t, labels, n) -> Float32Array
// (an onnxruntime-web session of the exported UNet in the book); x holds n
// images back to back, t and labels n integers each. Schedule coefficients
// are float64, images float32, as in ddpm_lib. The browser check of the
// book (tests/test_browser_sampler.py) runs this file on noise shipped from
// Python and compares every image with ddpm_lib's samplers.
//
// Randomness: a sample draws its noise from noise(count) in a fixed order:
// x_T first, then the z of each step that adds noise (DDPM at t > 1, DDIM
// with eta > 0), all images of a step at once. seededNoise(seed) is the
// page's generator; ddpm_book/browser.py draws the same numbers in Python.
(function (root) {
  "use strict";

  // ᾱ_t = ∏_{s ≤ t} (1 − β_s); index t = 0 … T with ᾱ_0 = 1 (Ho et al. Eq. 4).
  function schedule(betas) {
    const T = betas.length;
    const beta = new Float64Array(T + 1);
    const alphaBar = new Float64Array(T + 1);
    alphaBar[0] = 1;
    for (let t = 1; t <= T; t++) {
      beta[t] = betas[t - 1];
      alphaBar[t] = alphaBar[t - 1] * (1 - beta[t]);
    }
    return { T: T, beta: beta, alphaBar: alphaBar };
  }

  // Python's round(): halves go to the even neighbour.
  function roundHalfEven(v) {
    const f = Math.floor(v);
    const d = v - f;
    if (d > 0.5) return f + 1;
    if (d < 0.5) return f;
    return f % 2 === 0 ? f : f + 1;
  }

  // DDIM's "trailing" steps T, T − T/S, …, T/S (ddpm_lib.ddim_timesteps).
  function ddimTimesteps(T, S) {
    if (!(Number.isInteger(S) && S >= 1 && S <= T)) {
      throw new Error("the number of steps must be an integer in 1.." + T);
    }
    const stride = T / S;
    const steps = [];
    for (let i = 0; i < S; i++) steps.push(roundHalfEven(T - i * stride));
    return steps;
  }

  // Classifier-free guidance, Ho & Salimans Eq. 6: (1 + w) ε_c − w ε_u.
  function guide(epsCond, epsUncond, w) {
    const out = new Float32Array(epsCond.length);
    for (let i = 0; i < out.length; i++) {
      out[i] = (1 + w) * epsCond[i] - w * epsUncond[i];
    }
    return out;
  }

  // ε̃(x_t, t): one network call on [x; x] with [labels; null] when guided.
  async function guidedEps(net, x, t, labels, nullLabel, w, n) {
    const tt = new Array(w > 0 ? 2 * n : n).fill(t);
    if (w === 0) return net(x, tt, labels, n);
    const both = new Float32Array(2 * x.length);
    both.set(x);
    both.set(x, x.length);
    const labs = labels.concat(new Array(n).fill(nullLabel));
    const out = await net(both, tt, labs, 2 * n);
    return guide(out.subarray(0, x.length), out.subarray(x.length), w);
  }

  // x̂_0 = (x_t − √(1 − ᾱ_t) ε) / √ᾱ_t, Ho et al. Eq. 15, clipped if asked.
  function predictX0(s, x, t, eps, clip) {
    const a = Math.sqrt(1 - s.alphaBar[t]);
    const b = 1 / Math.sqrt(s.alphaBar[t]);
    const x0 = new Float32Array(x.length);
    for (let i = 0; i < x.length; i++) {
      const v = (x[i] - a * eps[i]) * b;
      x0[i] = clip ? Math.min(1, Math.max(-1, v)) : v;
    }
    return x0;
  }

  // One step of Algorithm 2 (Ho et al.), σ_t² = β_t or β̃_t:
  // x_{t−1} = μ + σ_t z. Unclipped, μ is Eq. 11, μ_θ; clipped, it is the
  // posterior mean of Eq. 7 at the clipped x̂_0.
  function ddpmStep(s, x, t, eps, x0, o, z) {
    const ab = s.alphaBar[t];
    const abPrev = s.alphaBar[t - 1];
    const beta = s.beta[t];
    const variance =
      o.variance === "beta_tilde" ? ((1 - abPrev) / (1 - ab)) * beta : beta;
    const sigma = t > 1 ? Math.sqrt(variance) : 0;
    const out = new Float32Array(x.length);
    if (o.clip) {
      const cx0 = (Math.sqrt(abPrev) * beta) / (1 - ab);
      const cxt = (Math.sqrt(1 - beta) * (1 - abPrev)) / (1 - ab);
      for (let i = 0; i < x.length; i++) {
        out[i] = cx0 * x0[i] + cxt * x[i] + (sigma ? sigma * z[i] : 0);
      }
    } else {
      const scale = 1 / Math.sqrt(1 - beta);
      const ce = beta / Math.sqrt(1 - ab);
      for (let i = 0; i < x.length; i++) {
        out[i] = scale * (x[i] - ce * eps[i]) + (sigma ? sigma * z[i] : 0);
      }
    }
    return out;
  }

  // σ of DDIM, Song et al. Eq. 16.
  function ddimSigma(s, t, tPrev, eta) {
    const ab = s.alphaBar[t];
    const abPrev = s.alphaBar[tPrev];
    return eta * Math.sqrt((1 - abPrev) / (1 - ab)) * Math.sqrt(1 - ab / abPrev);
  }

  // One DDIM step, Song et al. Eq. 12:
  // x_{t'} = √ᾱ_{t'} x̂_0 + √(1 − ᾱ_{t'} − σ²) ε + σ z.
  // Clipped, ε is recomputed from the clipped x̂_0, as in ddpm_lib.
  function ddimStep(s, x, t, tPrev, eps, x0, eta, clip, z) {
    const abPrev = s.alphaBar[tPrev];
    const sigma = ddimSigma(s, t, tPrev, eta);
    const dir = Math.sqrt(Math.max(0, 1 - abPrev - sigma * sigma));
    const a = Math.sqrt(abPrev);
    const ab = s.alphaBar[t];
    const out = new Float32Array(x.length);
    for (let i = 0; i < x.length; i++) {
      const e = clip
        ? (x[i] - Math.sqrt(ab) * x0[i]) / Math.sqrt(1 - ab)
        : eps[i];
      out[i] = a * x0[i] + dir * e + (eta > 0 ? sigma * z[i] : 0);
    }
    return out;
  }

  // Draw a sample. o: {labels (n class numbers), nullLabel, guidance w ≥ 0,
  // sampler "ddim" | "ddpm", steps (DDIM), eta (DDIM), variance (DDPM),
  // clip, size (values per image), noise(count) -> Float32Array}.
  // onStep({index, count, t, x, x0, ms}) is awaited after every network
  // call; it may return false to stop. Returns x_0 (Float32Array).
  async function sample(net, s, o, onStep) {
    const n = o.labels.length;
    const w = o.guidance || 0;
    if (!(w >= 0)) throw new Error("the guidance weight must be >= 0");
    const eta = o.eta || 0;
    if (!(eta >= 0 && eta <= 1)) throw new Error("eta must lie in [0, 1]");
    const taus =
      o.sampler === "ddpm"
        ? Array.from({ length: s.T }, (_, i) => s.T - i)
        : ddimTimesteps(s.T, o.steps);
    let x = Float32Array.from(o.noise(n * o.size)); // x_T
    for (let i = 0; i < taus.length; i++) {
      const t = taus[i];
      const start = performance.now();
      const eps = await guidedEps(net, x, t, o.labels, o.nullLabel, w, n);
      const x0 = predictX0(s, x, t, eps, o.clip);
      const xt = x;
      if (o.sampler === "ddpm") {
        const z = t > 1 ? o.noise(x.length) : null;
        x = ddpmStep(s, x, t, eps, x0, o, z);
      } else {
        const tPrev = i + 1 < taus.length ? taus[i + 1] : 0;
        const z = eta > 0 ? o.noise(x.length) : null;
        x = ddimStep(s, x, t, tPrev, eps, x0, eta, o.clip, z);
      }
      const ms = performance.now() - start;
      if (onStep) {
        const info = { index: i, count: taus.length, t: t, x: xt, x0: x0, ms: ms };
        if ((await onStep(info)) === false) return null;
      }
    }
    return x;
  }

  // The page's random numbers: mulberry32 (32-bit state) and Box–Muller,
  // one cosine per pair of uniforms. ddpm_book.browser.seeded_noise is
  // the same generator in Python.
  function seededNoise(seed) {
    let state = seed >>> 0;
    function uniform() {
      state = (state + 0x6d2b79f5) >>> 0;
      let r = Math.imul(state ^ (state >>> 15), 1 | state);
      r = (r + Math.imul(r ^ (r >>> 7), 61 | r)) ^ r;
      return ((r ^ (r >>> 14)) >>> 0) / 4294967296;
    }
    return function (count) {
      const out = new Float32Array(count);
      for (let i = 0; i < count; i++) {
        const u1 = 1 - uniform(); // in (0, 1]: the log is finite
        const u2 = uniform();
        out[i] = Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
      }
      return out;
    };
  }

  // Noise shipped as one Float32Array, handed out in order.
  function noiseFrom(values) {
    let used = 0;
    return function (count) {
      if (used + count > values.length) {
        throw new Error("the shipped noise ran out after " + used + " values");
      }
      const out = values.subarray(used, used + count);
      used += count;
      return out;
    };
  }

  // The network of an onnxruntime-web session of the exported UNet
  // (ddpm_lib.io.onnx): inputs x, t and, if conditional, labels.
  function onnxNetwork(ort, session, meta) {
    const conditional = session.inputNames.indexOf("labels") >= 0;
    return async function (x, t, labels, n) {
      const s = meta.image_size;
      const feeds = {
        x: new ort.Tensor("float32", x, [n, meta.channels, s, s]),
        t: new ort.Tensor("int64", BigInt64Array.from(t, BigInt), [n]),
      };
      if (conditional) {
        feeds.labels = new ort.Tensor("int64", BigInt64Array.from(labels, BigInt), [n]);
      }
      const out = await session.run(feeds);
      return out[session.outputNames[0]].data;
    };
  }

  root.DDPMSampler = {
    onnxNetwork: onnxNetwork,
    schedule: schedule,
    ddimTimesteps: ddimTimesteps,
    guide: guide,
    predictX0: predictX0,
    ddpmStep: ddpmStep,
    ddimStep: ddimStep,
    sample: sample,
    seededNoise: seededNoise,
    noiseFrom: noiseFrom,
  };
})(typeof window !== "undefined" ? window : globalThis);
