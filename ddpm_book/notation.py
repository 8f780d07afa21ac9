"""The translation table: paper ↔ ddpm_lib ↔ the seed's code ↔ diffusers.

The notation page renders :data:`TABLE` and checks it against the code, so
the table cannot drift from the library. Each row names one object four
ways: the symbol of Ho et al. (2020), arXiv:2006.11239v2; the ddpm_lib
code, in which ``t`` is the paper's step 1 ≤ t ≤ T; the code of the
Annotated Diffusion notebook that the seed blog walks through; and the
code of Hugging Face diffusers. The last two count steps from 0: their
index is ``k = t − 1`` (:func:`ddpm_lib.diffusion.interop.to_zero_based`).

A row of kind ``VALUE`` holds expressions that must give the same numbers
for every t (:func:`check` evaluates them); a row of kind ``SCHEDULE``
holds calls that build a whole schedule, whose β_1..β_T must agree (or
differ exactly as the row says); a row of kind ``NAME`` holds calls or
attributes whose names must exist, with argument names that are real
parameters of the function called.
"""

from __future__ import annotations

import ast
import functools
import inspect
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum

import torch
from torch import Tensor

import ddpm_lib
from ddpm_lib.diffusion import interop
from ddpm_lib.diffusion.schedules import Schedule

__all__ = [
    "COLUMNS",
    "Kind",
    "Report",
    "Row",
    "SEED_SCHEDULES",
    "TABLE",
    "check",
    "markdown_table",
    "seed_betas",
    "seed_namespace",
    "seed_schedule",
]

COLUMNS = ("ddpm_lib", "seed", "diffusers")


class Kind(str, Enum):
    """How a row of the table is checked."""

    VALUE = "value"  # expressions that evaluate to equal tensors over t
    SCHEDULE = "schedule"  # calls that build β_1..β_T, compared entry-wise
    NAME = "name"  # names that resolve, arguments that are parameters


@dataclass(frozen=True)
class Row:
    """One line of the translation table.

    Attributes:
        symbol: The paper's symbol, LaTeX without the dollar signs.
        meaning: What it is, in a few words (Markdown).
        ddpm_lib: ddpm_lib code; ``t`` is the paper's step, 1 ≤ t ≤ T.
        seed: The Annotated Diffusion code the seed quotes; ``k = t − 1``.
        diffusers: Hugging Face diffusers code; ``k = t − 1``.
        kind: How :func:`check` verifies the row.
        seed_clip: For a SCHEDULE row whose seed code clips β to
            ``(low, high)`` where ddpm_lib does not clip the same way (and
            ``meaning`` says so): :func:`check` then requires that the two
            differ only at entries where the seed's β sits at one of these
            bounds, and at each bound somewhere. None: the two must agree
            everywhere.
    """

    symbol: str
    meaning: str
    ddpm_lib: str
    seed: str = ""
    diffusers: str = ""
    kind: Kind = Kind.NAME
    seed_clip: tuple[float, float] | None = None


V = Kind.VALUE  # rows without a kind are Kind.NAME
S = Kind.SCHEDULE

TABLE: tuple[Row, ...] = (
    # --- schedule quantities: one number per step t --------------------
    Row(r"\beta_t", "variance of the noise added at step t "
        "(Ho et al. Eq. 2)",
        "sched.beta[t]", "betas[k]", "scheduler.betas[k]", V),
    Row(r"\alpha_t", "$1 - \\beta_t$",
        "sched.alpha[t]", "alphas[k]", "scheduler.alphas[k]", V),
    Row(r"\bar\alpha_t", "$\\prod_{s \\le t} \\alpha_s$; $x_t$ keeps "
        "$\\sqrt{\\bar\\alpha_t}\\, x_0$ (Ho et al. Eq. 4)",
        "sched.alpha_bar[t]", "alphas_cumprod[k]",
        "scheduler.alphas_cumprod[k]", V),
    Row(r"\bar\alpha_{t-1}", "the same one step earlier; "
        "$\\bar\\alpha_0 = 1$. diffusers computes it inside `step` "
        "(`one` at k = 0)",
        "sched.alpha_bar[t - 1]", "alphas_cumprod_prev[k]", "", V),
    Row(r"\sqrt{\bar\alpha_t}", "scale of $x_0$ in $x_t$ "
        "(Ho et al. Eq. 4)",
        "sched.alpha_bar[t].sqrt()", "sqrt_alphas_cumprod[k]",
        "scheduler.alphas_cumprod[k].sqrt()", V),
    Row(r"\sqrt{1 - \bar\alpha_t}", "standard deviation of the noise in "
        "$x_t$ (Ho et al. Eq. 4)",
        "(1 - sched.alpha_bar[t]).sqrt()", "sqrt_one_minus_alphas_cumprod[k]",
        "(1 - scheduler.alphas_cumprod[k]).sqrt()", V),
    Row(r"1 / \sqrt{\alpha_t}", "scale in the reverse mean "
        "(Ho et al. Eq. 11)",
        "sched.alpha[t].rsqrt()", "sqrt_recip_alphas[k]",
        "scheduler.alphas[k].rsqrt()", V),
    Row(r"\tilde\beta_t", "posterior variance (Ho et al. Eq. 7); "
        "$\\tilde\\beta_1 = 0$. diffusers uses it in `step` with "
        "`variance_type=\"fixed_small\"`",
        'dl.reverse_variance(sched, t, "beta_tilde")',
        "posterior_variance[k]", "", V),
    Row(r"\bar\alpha_t / (1 - \bar\alpha_t)", "signal-to-noise ratio",
        "sched.snr()[t]", "", "", V),
    # --- the schedule itself ------------------------------------------------
    Row("T", "number of diffusion steps",
        "sched.T", "timesteps", "scheduler.config.num_train_timesteps"),
    Row(r"\beta_1, \dots, \beta_T", "the paper's linear schedule, "
        "$10^{-4} \\to 0.02$",
        "dl.linear_schedule(T, beta_1=1e-4, beta_T=0.02)",
        "linear_beta_schedule(timesteps)",
        'diffusers.DDPMScheduler(beta_schedule="linear")', S),
    Row("", "cosine schedule (Nichol & Dhariwal, 2021). **Not the same "
        "numbers in the seed's code:** it clips $\\beta$ to "
        "$[10^{-4}, 0.9999]$, `ddpm_lib` and diffusers only from above, "
        "at $0.999$, so $\\beta_t$ differs in the first steps (where "
        "the formula gives less than $10^{-4}$) and at $t = T$",
        "dl.cosine_schedule(T)", "cosine_beta_schedule(timesteps)",
        'diffusers.DDPMScheduler(beta_schedule="squaredcos_cap_v2")', S,
        seed_clip=(1e-4, 0.9999)),
    Row("", "quadratic schedule",
        "dl.quadratic_schedule(T)", "quadratic_beta_schedule(timesteps)",
        'diffusers.DDPMScheduler(beta_schedule="scaled_linear")', S),
    Row("", "sigmoid schedule",
        "dl.sigmoid_schedule(T)", "sigmoid_beta_schedule(timesteps)",
        'diffusers.DDPMScheduler(beta_schedule="sigmoid")', S),
    # --- steps and the forward process --------------------------------------
    Row("t", "the step; 0-based code (the seed's `t`, diffusers' "
        "`timestep`) holds $k = t - 1$",
        "dl.interop.to_zero_based(t)"),
    Row(r"t \sim \mathcal{U}\{1, \dots, T\}", "a random step per example "
        "(Algorithm 1, line 3)",
        "dl.sample_timesteps(sched, batch_size)",
        "torch.randint(0, timesteps, (batch_size,))",
        "torch.randint(0, scheduler.config.num_train_timesteps, "
        "(batch_size,))"),
    Row(r"x_t \sim q(x_t \mid x_0)", "noise $x_0$ to step t in one shot "
        "(Ho et al. Eq. 4)",
        "dl.q_sample(sched, x0, t, eps)", "q_sample(x_start, t, noise)",
        "scheduler.add_noise(original_samples, noise, timesteps)"),
    Row("", "schedule values for each example, shaped to broadcast",
        "dl.coef_at(values, t, x)", "extract(a, t, x_shape)", ""),
    Row(r"x_t \sim q(x_t \mid x_{t-1})", "one forward step (Ho et al. Eq. 2)",
        "dl.q_step(sched, x_prev, t, eps)", "", ""),
    # --- the reverse process ------------------------------------------------
    Row(r"\hat x_0", "$x_0$ predicted from $x_t$ and the noise "
        "(Ho et al. Eq. 15)",
        "dl.x0_from_eps(sched, x_t, t, eps)", "",
        "scheduler.step(model_output, timestep, sample)"
        ".pred_original_sample"),
    Row(r"\tilde\mu_t, \tilde\beta_t", "posterior $q(x_{t-1} \\mid x_t, "
        "x_0)$ (Ho et al. Eqs. 6–7)",
        "dl.q_posterior(sched, x0, x_t, t)", "posterior_variance", ""),
    Row(r"\epsilon_\theta(x_t, t)", "the network's noise prediction",
        "model(x_t, t)", "model(x, t)",
        "unet(sample, timestep).sample"),
    Row(r"\mu_\theta(x_t, t)", "reverse mean from predicted noise "
        "(Ho et al. Eq. 11); the seed's `model_mean` line in `p_sample`",
        "dl.mu_theta(sched, x_t, t, eps_pred)", "model_mean", ""),
    Row(r"x_{t-1} \sim p_\theta(x_{t-1} \mid x_t)", "one reverse step "
        "(Algorithm 2, lines 3–4)",
        'dl.ddpm_step(sched, x_t, t, eps_pred, variance="beta")',
        "p_sample(model, x, t, t_index)",
        "scheduler.step(model_output, timestep, sample).prev_sample"),
    Row("", "the whole sampler (Algorithm 2)",
        "dl.ddpm_sample(model, sched, x_T)",
        "p_sample_loop(model, shape)",
        "diffusers.DDPMPipeline(unet, scheduler)"),
    Row("", "one DDIM step (Song et al., 2021, Eq. 12)",
        "dl.ddim_step(sched, x_t, t, t_prev, eps_pred, eta=0.0)", "",
        "diffusers.DDIMScheduler.step(model_output, timestep, sample, "
        "eta=0.0)"),
    # --- training -----------------------------------------------------------
    Row(r"L_\mathrm{simple}", "the training loss "
        "(Ho et al. Eq. 14, Algorithm 1)",
        "dl.loss_simple(sched, model, x0)",
        'p_losses(denoise_model, x_start, t, loss_type="l2")', ""),
    Row(r"\epsilon_\theta", "the noise-prediction network",
        "dl.UNet(config)", "Unet(dim)",
        "diffusers.UNet2DModel(sample_size)"),
    Row("", "sinusoidal embedding of the step t",
        "dl.timestep_embedding(t, dim)",
        "SinusoidalPositionEmbeddings(dim)",
        "diffusers.models.embeddings.get_timestep_embedding("
        "timesteps, embedding_dim)"),
)  # fmt: skip


SEED_SCHEDULES = ("linear", "cosine", "quadratic", "sigmoid")


def seed_betas(
    T: int, schedule: str = "linear", *, dtype: torch.dtype = torch.float64
) -> Tensor:
    """β of each step as the seed's code builds it: shape (T,), 0-based.

    Index k is the paper's step t = k + 1. Written from the formulas,
    independently of ddpm_lib, with the seed's constants: β from 1e-4 to
    0.02 for the linear, quadratic and sigmoid schedules; for the cosine
    schedule s = 0.008 and β clipped to [1e-4, 0.9999] (ddpm_lib and
    diffusers clip only from above, at 0.999).

    Args:
        T: Number of steps.
        schedule: One of :data:`SEED_SCHEDULES`.
        dtype: Floating-point type of the result.
    """
    if schedule == "linear":  # the seed's linear_beta_schedule
        return torch.linspace(1e-4, 0.02, T, dtype=dtype)
    if schedule == "quadratic":  # equally spaced square roots, squared
        return torch.linspace(1e-4**0.5, 0.02**0.5, T, dtype=dtype) ** 2
    if schedule == "sigmoid":  # an S-curve from about 1e-4 to 0.02
        ramp = torch.sigmoid(torch.linspace(-6, 6, T, dtype=dtype))
        return 1e-4 + (0.02 - 1e-4) * ramp
    if schedule == "cosine":
        s = 0.008

        def signal(u: Tensor) -> Tensor:  # f(u) = cos²(…), ᾱ ∝ f
            return torch.cos((u / T + s) / (1 + s) * math.pi / 2) ** 2

        k = torch.arange(T, dtype=dtype)  # the 0-based step
        # Step k goes from ᾱ at u = k to ᾱ at u = k + 1: β = 1 − ratio.
        betas = 1 - signal(k + 1) / signal(k)
        return betas.clamp(1e-4, 0.9999)  # the seed clips from both sides
    raise ValueError(
        f"schedule must be one of {SEED_SCHEDULES}; got {schedule!r}"
    )


def seed_schedule(
    T: int, schedule: str = "linear", *, dtype: torch.dtype = torch.float64
) -> dict[str, Tensor]:
    """The schedule arrays as the seed's code defines them, 0-based.

    Written the way the Annotated Diffusion notebook builds them, so that
    they are an independent reference for ddpm_lib: arrays of length T
    whose index k is the paper's step t = k + 1, and the "previous" array
    made by shifting in a 1 at the front.

    Args:
        T: Number of steps.
        schedule: Which β to start from (:func:`seed_betas`); the seed's
            notebook uses the linear one.
        dtype: Floating-point type of the arrays.

    Returns:
        A dict from the seed's names (``betas``, ``alphas_cumprod``,
        ``posterior_variance``, …) to tensors of shape (T,).
    """
    betas = seed_betas(T, schedule, dtype=dtype)
    alphas = 1.0 - betas
    alphas_cumprod = torch.cumprod(alphas, dim=0)
    # Shift right by one step, filling k = 0 with ᾱ_0 = 1.
    alphas_cumprod_prev = torch.nn.functional.pad(
        alphas_cumprod[:-1], (1, 0), value=1.0
    )
    return {
        "betas": betas,
        "alphas": alphas,
        "alphas_cumprod": alphas_cumprod,
        "alphas_cumprod_prev": alphas_cumprod_prev,
        "sqrt_recip_alphas": torch.sqrt(1.0 / alphas),
        "sqrt_alphas_cumprod": torch.sqrt(alphas_cumprod),
        "sqrt_one_minus_alphas_cumprod": torch.sqrt(1.0 - alphas_cumprod),
        "posterior_variance": betas
        * (1.0 - alphas_cumprod_prev)
        / (1.0 - alphas_cumprod),
    }


def seed_namespace(T: int) -> dict[str, object]:
    """What the seed column of :data:`TABLE` refers to, for :func:`check`.

    The arrays of :func:`seed_schedule` (linear β, as in the seed), the
    number of steps under the seed's name ``timesteps``, and the seed's
    four β-schedule functions, e.g. ``cosine_beta_schedule(timesteps)``.
    """
    functions = {
        f"{name}_beta_schedule": functools.partial(seed_betas, schedule=name)
        for name in SEED_SCHEDULES
    }
    return {**seed_schedule(T), "timesteps": T, **functions}


def markdown_table(rows: tuple[Row, ...] = TABLE) -> str:
    """The table as Markdown, for ``IPython.display.Markdown``.

    Four columns: the symbol with its meaning, then the code of ddpm_lib,
    of the seed and of diffusers ("—" where that code has no name for it).
    """

    def code(cell: str) -> str:
        return f"`{cell}`" if cell else "—"

    lines = [
        "| paper | ddpm_lib | seed / Annotated Diffusion | diffusers |",
        "|---|---|---|---|",
    ]
    for row in rows:
        paper = f"${row.symbol}$: {row.meaning}" if row.symbol else row.meaning
        cells = [
            paper,
            code(row.ddpm_lib),
            code(row.seed),
            code(row.diffusers),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


@dataclass
class Report:
    """What :func:`check` found for one column of the table.

    Attributes:
        column: ``"ddpm_lib"``, ``"seed"`` or ``"diffusers"``.
        values: Rows whose values were compared with ddpm_lib's.
        schedules: SCHEDULE rows whose β_1..β_T were compared with
            ddpm_lib's (for ddpm_lib's own column: built and found to be
            a schedule with the same T).
        names: Rows whose names and argument names were resolved.
        max_error: Largest |difference| from ddpm_lib over all values,
            leaving out the entries a row says are clipped differently.
        problems: One message per failure; empty when the column is right.
    """

    column: str
    values: int = 0
    schedules: int = 0
    names: int = 0
    max_error: float = 0.0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def _evaluate(expr: str, namespace: Mapping[str, object]):
    """Evaluate one table expression with only ``namespace`` in scope."""
    return eval(expr, {"__builtins__": {}}, dict(namespace))  # noqa: S307


def _dotted(node: ast.expr) -> list[str] | None:
    """``a.b.c`` as ["a", "b", "c"]; None for anything else."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    return [node.id, *reversed(parts)]


def _resolve(parts: list[str], namespace: Mapping[str, object]):
    if parts[0] not in namespace:
        raise AttributeError(f"{parts[0]!r} is not defined")
    obj = namespace[parts[0]]
    for part in parts[1:]:
        obj = getattr(obj, part)
    return obj


def _check_names(
    expr: str, namespace: Mapping[str, object], free: set[str]
) -> list[str]:
    """Problems with the names in one NAME cell (empty list: none).

    The callee of every call must resolve in ``namespace``; each argument
    that is a plain name must be the parameter of that callee in its
    position, and each keyword must be one of its parameters. Names in
    ``free`` (stand-ins such as ``model``) need not resolve.
    """
    try:
        tree = ast.parse(expr, mode="eval")
    except SyntaxError as error:
        return [f"{expr!r} is not Python: {error.msg}"]
    problems = []
    for node in ast.walk(tree):
        target = node.func if isinstance(node, ast.Call) else node
        parts = _dotted(target) if isinstance(target, ast.expr) else None
        if parts is None or parts[0] in free:
            continue
        if not isinstance(node, ast.Call) and not (
            isinstance(node, (ast.Attribute, ast.Name)) and node is tree.body
        ):
            continue
        try:
            obj = _resolve(parts, namespace)
        except AttributeError as error:
            problems.append(f"{'.'.join(parts)}: {error}")
            continue
        if not isinstance(node, ast.Call):
            continue
        try:
            params = list(inspect.signature(obj).parameters)
        except (TypeError, ValueError):
            continue  # builtins without a signature
        params = [p for p in params if p != "self"]
        for i, arg in enumerate(node.args):
            if isinstance(arg, ast.Name) and (
                i >= len(params) or params[i] != arg.id
            ):
                problems.append(
                    f"{'.'.join(parts)}: argument {i + 1} is called "
                    f"{params[i] if i < len(params) else None!r}, "
                    f"not {arg.id!r}"
                )
        for keyword in node.keywords:
            if keyword.arg not in params:
                problems.append(
                    f"{'.'.join(parts)} has no parameter {keyword.arg!r}"
                )
    return problems


def check(
    column: str,
    namespace: Mapping[str, object],
    sched: Schedule,
    *,
    rtol: float = 1e-12,
    atol: float = 1e-12,
    rows: tuple[Row, ...] = TABLE,
) -> Report:
    """Check one column of :data:`TABLE` against ddpm_lib.

    VALUE rows: the column's expression, evaluated with ``namespace``, the
    paper's steps ``t = 1..T`` and the 0-based ``k = t − 1``, must equal
    the ddpm_lib expression at the same t, for every t. SCHEDULE rows:
    the seed's call must give ddpm_lib's β_1..β_T, or, where the row has
    a ``seed_clip``, differ from it only at the entries the seed clipped
    (and somewhere); ddpm_lib's and diffusers' calls are also checked as
    NAME rows. NAME rows: see :func:`_check_names`.

    Args:
        column: ``"ddpm_lib"``, ``"seed"`` or ``"diffusers"``.
        namespace: The objects the column's code refers to, e.g.
            ``seed_namespace(T)`` for the seed, or ``{"scheduler": ...,
            "diffusers": ..., "torch": torch}`` for diffusers. ddpm_lib's
            own column gets ``dl``, ``sched`` and ``torch`` itself.
        sched: The ddpm_lib schedule the values are compared with (the
            other columns must describe the same schedule).
        rtol, atol: Tolerances of the value comparison.
        rows: The rows to check (all of :data:`TABLE` by default).

    Returns:
        A :class:`Report`; ``report.ok`` is True when nothing failed.
    """
    if column not in COLUMNS:
        raise ValueError(f"column must be one of {COLUMNS}; got {column!r}")
    t = torch.arange(1, sched.T + 1)  # the paper's steps, (T,)
    k = interop.to_zero_based(t)  # the 0-based index of the other columns
    ours_scope = {
        "dl": ddpm_lib,
        "sched": sched,
        "torch": torch,
        "t": t,
        "T": sched.T,
    }
    if column == "ddpm_lib":
        namespace = {**ours_scope, **namespace}
    scope = {**namespace, "t": t, "k": k}
    free = {"model", "unet"}  # stand-ins for a network
    report = Report(column)
    for row in rows:
        cell = getattr(row, column)
        if not cell:
            continue
        if row.kind is not Kind.VALUE and column != "seed":
            report.names += 1
            report.problems += _check_names(cell, scope, free)
        if row.kind is Kind.SCHEDULE and column != "diffusers":
            report.schedules += 1
            _check_schedule(row, column, ours_scope, scope, report)
        if row.kind is not Kind.VALUE:
            continue  # the seed's other code is a notebook, not a library
        report.values += 1
        try:
            ours = torch.as_tensor(_evaluate(row.ddpm_lib, ours_scope))
            theirs = torch.as_tensor(_evaluate(cell, scope))
        except Exception as error:  # a wrong name, a bad index, ...
            report.problems.append(f"{cell}: {type(error).__name__}: {error}")
            continue
        ours, theirs = ours.double(), theirs.double().to(ours.device)
        if ours.shape != theirs.shape:
            report.problems.append(
                f"{cell}: shape {tuple(theirs.shape)}, ddpm_lib's "
                f"{row.ddpm_lib} has {tuple(ours.shape)}"
            )
            continue
        error = (ours - theirs).abs().max().item()
        report.max_error = max(report.max_error, error)
        if not torch.allclose(theirs, ours, rtol=rtol, atol=atol):
            report.problems.append(
                f"{cell} differs from {row.ddpm_lib}: max |difference| "
                f"{error:.3g}"
            )
    return report


def _check_schedule(
    row: Row,
    column: str,
    ours_scope: Mapping[str, object],
    scope: Mapping[str, object],
    report: Report,
) -> None:
    """Check one SCHEDULE row of ``column``; problems go to ``report``."""
    cell = getattr(row, column)
    try:
        ours = _evaluate(row.ddpm_lib, ours_scope)
        theirs = None if column == "ddpm_lib" else _evaluate(cell, scope)
    except Exception as error:  # a wrong name, a bad argument, ...
        report.problems.append(f"{cell}: {type(error).__name__}: {error}")
        return
    if not isinstance(ours, Schedule) or ours.T != ours_scope["T"]:
        report.problems.append(
            f"{row.ddpm_lib} is not a schedule of T = {ours_scope['T']} steps"
        )
        return
    if theirs is None:
        return  # ddpm_lib's own column: built, and of the right length
    ours = interop.betas_zero_based(ours)  # β_1..β_T at index k = t − 1
    theirs = torch.as_tensor(theirs).double().to(ours.device)
    if theirs.shape != ours.shape:
        report.problems.append(
            f"{cell}: shape {tuple(theirs.shape)}, ddpm_lib's betas have "
            f"{tuple(ours.shape)}"
        )
        return
    same = torch.isclose(theirs, ours, rtol=1e-12, atol=1e-12)
    clipped = torch.zeros_like(same)  # entries the row says are clipped
    if row.seed_clip is not None:
        low, high = row.seed_clip
        if (theirs < low).any() or (theirs > high).any():
            report.problems.append(
                f"{cell}: the row says it clips β to [{low}, {high}]; it "
                f"has values from {theirs.min():.6g} to {theirs.max():.6g}"
            )
        for bound in (low, high):
            at = torch.isclose(theirs, torch.tensor(bound).double())
            clipped |= at
            if not (at & ~same).any():
                report.problems.append(
                    f"{cell}: the row says its clip at {bound} makes it "
                    f"differ from {row.ddpm_lib}, but nowhere does"
                )
    error = (ours - theirs)[~clipped].abs().max().item()
    report.max_error = max(report.max_error, error)
    wrong = ~same & ~clipped
    if wrong.any():
        where = wrong.nonzero().flatten().tolist()
        report.problems.append(
            f"{cell} differs from {row.ddpm_lib} at k = {where[:5]}"
            f"{' …' if len(where) > 5 else ''} (max |difference| "
            f"{error:.3g})"
        )
