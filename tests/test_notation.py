"""The notation page's translation table matches the code.

The table (ddpm_book.notation.TABLE) is checked three ways: ddpm_lib's
column against the library itself, the seed's column against the
Annotated-Diffusion-style arrays and β schedules written out with 0-based
indexing, and diffusers' column against a real diffusers.DDPMScheduler.
The one row where the seed's numbers differ from ddpm_lib's (the cosine
schedule, clipped differently) is checked to differ exactly as it says.
The checker is also shown to catch the mistakes it exists for.
"""

import dataclasses
import inspect
import math

import pytest
import torch
from conftest import require

import ddpm_lib as dl
from ddpm_book import notation
from ddpm_book.notation import TABLE, Kind, Row

T = 1000


def _diffusers_scope():
    diffusers = require("diffusers")
    return {
        "scheduler": diffusers.DDPMScheduler(num_train_timesteps=T),
        "diffusers": diffusers,
        "torch": torch,
    }


def test_every_ddpm_lib_name_resolves_and_every_value_evaluates(sched):
    report = notation.check("ddpm_lib", {}, sched)
    assert report.ok, report.problems
    assert report.values == sum(r.kind is Kind.VALUE for r in TABLE)
    assert report.schedules == sum(r.kind is Kind.SCHEDULE for r in TABLE)
    assert report.names == sum(r.kind is not Kind.VALUE for r in TABLE)


def test_seed_arrays_equal_ddpm_lib_at_the_shifted_index(sched):
    report = notation.check("seed", notation.seed_namespace(T), sched)
    assert report.ok, report.problems
    assert report.values == sum(
        r.kind is Kind.VALUE and bool(r.seed) for r in TABLE
    )
    assert report.schedules == 4  # linear, cosine, quadratic, sigmoid
    assert report.max_error < 1e-15


def _cosine_row() -> Row:
    (row,) = [r for r in TABLE if "cosine_schedule" in r.ddpm_lib]
    return row


def test_the_seeds_cosine_differs_from_ddpm_libs_as_the_row_says():
    # The seed's cosine_beta_schedule clips β to [1e-4, 0.9999]; ddpm_lib
    # (like diffusers' squaredcos_cap_v2) clips only above, at 0.999.
    row = _cosine_row()
    assert row.seed_clip == (1e-4, 0.9999)
    assert "$[10^{-4}, 0.9999]$" in row.meaning and "$0.999$" in row.meaning
    default = inspect.signature(dl.cosine_schedule).parameters["max_beta"]
    assert default.default == 0.999
    seed = notation.seed_betas(T, "cosine")
    ours = dl.interop.betas_zero_based(dl.cosine_schedule(T))
    # Apart from the clipped entries they agree: the unclipped formula
    # gives less than 1e-4 at the first steps, and 1 at the last.
    low = ours < 1e-4
    assert low[:13].all() and not low[13:].any()
    differs = ~torch.isclose(seed, ours, rtol=1e-12, atol=0)
    assert differs.equal(low | (torch.arange(T) == T - 1))
    assert (seed[low] == 1e-4).all()
    assert seed[-1] == 0.9999 and ours[-1] == 0.999
    # β_1 differs as the notation page states: 1e-4 against 4.1e-5.
    assert seed[0] == 1e-4
    assert f"{ours[0].item():.1e}" == "4.1e-05"


def test_the_seeds_cosine_restates_the_formula():
    # Independent of ddpm_lib and of seed_betas' 0-based code: with
    # f(t) = cos²((t/T + s)/(1 + s)·π/2), the formula's β_t = 1 − f(t)/f(t−1)
    # telescopes to ᾱ_t = f(t)/f(0). The seed raises the first 13 β to
    # 1e-4, so its ᾱ_t = (1 − 1e-4)^13 · f(t)/f(13) from there on.
    seed = notation.seed_schedule(T, "cosine")

    def f(t):
        return math.cos((t / T + 0.008) / 1.008 * math.pi / 2) ** 2

    for t in (14, 100, 500, 900, 999):
        want = (1 - 1e-4) ** 13 * f(t) / f(13)
        got = seed["alphas_cumprod"][t - 1].item()  # index k = t − 1
        assert math.isclose(got, want, rel_tol=1e-9), t


@pytest.mark.parametrize(
    "changes, message",
    [
        # Claiming no difference, or the wrong bounds, is caught.
        ({"seed_clip": None}, "differs from"),
        ({"seed_clip": (1e-4, 0.999)}, "clips β to [0.0001, 0.999]"),
        ({"seed_clip": (1e-5, 0.9999)}, "clip at 1e-05"),
        ({"seed_clip": (1e-4, 0.99999)}, "clip at 0.99999"),
        # A row that names a different schedule is caught too.
        ({"ddpm_lib": "dl.cosine_schedule(T, s=0.0)"}, "differs from"),
        ({"ddpm_lib": "dl.linear_schedule(T)"}, "differs from"),
        ({"ddpm_lib": "dl.cosine_schedule(10)"}, "not a schedule of T"),
    ],
)
def test_check_catches_a_wrong_schedule_row(sched, changes, message):
    rows = (dataclasses.replace(_cosine_row(), **changes),)
    report = notation.check(
        "seed", notation.seed_namespace(T), sched, rows=rows
    )
    assert not report.ok
    assert message in " ".join(report.problems)


def test_seed_betas_rejects_an_unknown_schedule():
    with pytest.raises(ValueError, match="cosine"):
        notation.seed_betas(T, "cosin")


def test_seed_arrays_restate_the_paper():
    # Independent of ddpm_lib: ᾱ_{t−1} is ᾱ_t shifted by one with ᾱ_0 = 1,
    # and the posterior variance at the first step (k = 0) is 0.
    seed = notation.seed_schedule(T)
    assert seed["betas"][0] == 1e-4 and seed["betas"][-1] == 0.02
    assert seed["alphas_cumprod_prev"][0] == 1
    assert seed["alphas_cumprod_prev"][1:].equal(seed["alphas_cumprod"][:-1])
    assert seed["posterior_variance"][0] == 0
    assert len(seed["betas"]) == T  # no entry for the clean data


def test_diffusers_names_exist_and_values_agree(sched):
    # diffusers keeps its schedule in float32.
    scope = _diffusers_scope()
    report = notation.check("diffusers", scope, sched, rtol=1e-5, atol=1e-6)
    assert report.ok, report.problems
    assert report.values >= 5 and report.names >= 10


def test_diffusers_quantities_that_live_inside_step(sched):
    # ᾱ_{t−1} and β̃_t have no array in diffusers; its step computes them.
    scheduler = _diffusers_scope()["scheduler"]
    k = torch.arange(T)
    beta_tilde = torch.stack([scheduler._get_variance(int(i)) for i in k])
    torch.testing.assert_close(
        beta_tilde[1:].double(),
        dl.reverse_variance(
            sched, dl.interop.from_zero_based(k[1:]), "beta_tilde"
        ),
        rtol=1e-4,
        atol=1e-7,
    )
    assert beta_tilde[0] < 1e-19  # β̃_1 = 0 (diffusers clamps at 1e-20)
    assert scheduler.one == sched.alpha_bar[0] == 1


@pytest.mark.parametrize(
    "ours, theirs",
    [
        (dl.quadratic_schedule, "scaled_linear"),
        (dl.sigmoid_schedule, "sigmoid"),
        (dl.cosine_schedule, "squaredcos_cap_v2"),
    ],
)
def test_the_schedule_rows_name_the_same_schedules(ours, theirs):
    diffusers = _diffusers_scope()["diffusers"]
    ref = diffusers.DDPMScheduler(num_train_timesteps=T, beta_schedule=theirs)
    torch.testing.assert_close(
        dl.interop.betas_zero_based(ours(T)).float(),
        ref.betas,
        rtol=1e-5,
        atol=1e-7,
    )
    assert any(
        theirs in r.diffusers and ours.__name__ in r.ddpm_lib for r in TABLE
    )


def test_the_embedding_row_names_the_same_embedding():
    diffusers = _diffusers_scope()["diffusers"]
    embed = diffusers.models.embeddings.get_timestep_embedding
    t = torch.tensor([1, 7, 500, 1000])
    torch.testing.assert_close(
        embed(t, 32, flip_sin_to_cos=False, downscale_freq_shift=1),
        dl.timestep_embedding(t, 32),
    )


def _replace(symbol: str, **changes) -> tuple[Row, ...]:
    (row,) = [r for r in TABLE if r.symbol == symbol]
    return (dataclasses.replace(row, **changes),)


@pytest.mark.parametrize(
    "symbol, changes, message",
    [
        # The classic off-by-one: ᾱ_{t−1} read without the shift.
        (r"\bar\alpha_{t-1}", {"seed": "alphas_cumprod[k]"}, "differs"),
        # 1-based t used to index a 0-based array: out of range at t = T.
        (r"\beta_t", {"seed": "betas[t]"}, "IndexError"),
        # A wrong ddpm_lib expression is caught against the seed's arrays.
        (r"\beta_t", {"ddpm_lib": "sched.beta[t - 1]"}, "differs"),
        (r"\tilde\beta_t", {"seed": "posterior_varaince[k]"}, "NameError"),
    ],
)
def test_check_catches_wrong_values(sched, symbol, changes, message):
    rows = _replace(symbol, **changes)
    seed = notation.seed_schedule(T)
    report = notation.check("seed", seed, sched, rows=rows)
    assert not report.ok
    assert message in " ".join(report.problems)


@pytest.mark.parametrize(
    "cell, message",
    [
        ("dl.q_sampel(sched, x0, t, eps)", "q_sampel"),
        ("dl.q_sample(sched, x_start, t, eps)", "not 'x_start'"),
        (
            "dl.linear_schedule(T, beta_start=1e-4)",
            "no parameter 'beta_start'",
        ),
        ("sched.alphas_cumprod", "alphas_cumprod"),
    ],
)
def test_check_catches_wrong_names(sched, cell, message):
    rows = _replace(r"x_t \sim q(x_t \mid x_0)", ddpm_lib=cell)
    report = notation.check("ddpm_lib", {}, sched, rows=rows)
    assert not report.ok
    assert message in " ".join(report.problems)


def test_markdown_table_has_a_line_per_row():
    lines = notation.markdown_table().splitlines()
    assert len(lines) == 2 + len(TABLE)
    assert all(line.count(" | ") == 3 for line in lines[2:])
    assert "`alphas_cumprod_prev[k]`" in lines[5]


def test_check_rejects_an_unknown_column(sched):
    with pytest.raises(ValueError, match="column"):
        notation.check("lucidrains", {}, sched)
