"""Explorers: static HTML over precomputed frames, live widgets, the rule."""

import base64
import html
import importlib
import importlib.util
import io
import itertools
import json
import random
import re
import subprocess
import sys
from pathlib import Path

import matplotlib
import pytest
import torch

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from conftest import check_site_module, chromium  # noqa: E402

import ddpm_lib as dl  # noqa: E402
from ddpm_book import modes  # noqa: E402
from ddpm_book.explorer import Explorer, explore, nearest_frame  # noqa: E402

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
explore_module = importlib.import_module("ddpm_book.explorer")
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def no_open_figures():
    """Each test starts with no pyplot figure, so leaks are its own."""
    plt.close("all")


@pytest.fixture
def static(monkeypatch):
    monkeypatch.setenv("DDPM_BOOK_BUILD", "1")


@pytest.fixture
def live(monkeypatch):
    monkeypatch.delenv("DDPM_BOOK_BUILD", raising=False)


class Recorder:
    """A render function that draws its arguments and remembers calls."""

    def __init__(self):
        self.calls = []

    def __call__(self, **values):
        self.calls.append(values)
        fig, ax = plt.subplots(figsize=(1.5, 1))
        ax.set_axis_off()
        ax.text(0, 0, repr(sorted(values.items())), fontsize=5)
        return fig


def parse(page: str) -> dict:
    """The explorer's id, JSON data, image source and controls."""
    (uid,) = re.findall(r'<div class="ddpm-explorer" id="([^"]+)"', page)
    payload = re.search(
        r'<script type="application/json" id="[^"]+-data">(.*?)</script>',
        page,
    ).group(1)
    data = json.loads(payload)
    src = re.search(r'<img id="[^"]+" alt="([^"]*)"[^>]* src="([^"]+)"', page)
    return {
        "uid": uid,
        "data": data,
        "alt": html.unescape(src.group(1)),
        "src": src.group(2),
        "ranges": re.findall(r'<input type="range"[^>]*>', page),
        "selects": re.findall(r"<select[^>]*>.*?</select>", page),
    }


def frames_of(parsed: dict) -> list[bytes]:
    """Every frame's PNG bytes (the shown one sits in the <img>)."""
    images = list(parsed["data"]["images"])
    prefix = "data:image/png;base64,"
    assert parsed["src"].startswith(prefix)
    images[parsed["data"]["current"]] = parsed["src"][len(prefix) :]
    return [base64.b64decode(s, validate=True) for s in images]


def test_static_html_has_one_png_frame_per_combination(static):
    render = Recorder()
    ex = explore(render, {"t": [1, 10, 100], "kind": ["a", "b"]}, title="demo")
    page = ex._repr_html_()
    parsed = parse(page)
    frames = frames_of(parsed)
    assert len(frames) == 3 * 2 == len(parsed["data"]["combos"])
    assert all(f.startswith(PNG_MAGIC) for f in frames)
    assert len(set(frames)) == 6  # each combination drew its own picture
    for f in frames:  # and each decodes as an image
        assert plt.imread(io.BytesIO(f), format="png").ndim == 3
    # render saw every combination exactly once
    seen = sorted((c["t"], c["kind"]) for c in render.calls)
    assert seen == sorted((t, k) for t in (1, 10, 100) for k in "ab")
    assert plt.get_fignums() == []  # every figure closed
    # one slider over the value indices, one dropdown with the strings
    (slider,) = parsed["ranges"]
    assert 'min="0"' in slider and 'max="2"' in slider
    (select,) = parsed["selects"]
    assert re.findall(r">(\w)</option>", select) == ["a", "b"]
    assert parsed["data"]["labels"] == [["1", "10", "100"], ["a", "b"]]
    assert parsed["alt"] == "demo: t = 1, kind = a"
    # the median cost of one frame, as a live slider pays it per move
    (ms,) = re.findall(r'data-ddpm-redraw-ms="(\d+)"', page)
    assert 0 <= int(ms) == round(1000 * ex.redraw_seconds) < 60_000
    # self-contained: inline script only, nothing fetched
    assert "<script src" not in page and "http" not in page


def test_static_is_what_ipython_displays_in_the_book_build(
    static, monkeypatch
):
    published = []
    monkeypatch.setattr(
        "IPython.display.display",
        lambda obj, raw=False: published.append((obj, raw)),
    )
    explore(Recorder(), {"t": [1, 2]})._ipython_display_()
    ((bundle, raw),) = published
    assert raw and set(bundle) == {"text/html", "text/plain"}
    assert len(frames_of(parse(bundle["text/html"]))) == 2
    assert bundle["text/plain"].startswith("<Explorer")


def test_ids_differ_between_explorers_and_displays(static):
    a = explore(Recorder(), {"t": [1, 2]})
    b = explore(Recorder(), {"t": [1, 2]})
    ids = [parse(x._repr_html_())["uid"] for x in (a, b, a)]
    assert len(set(ids)) == 3
    page = a._repr_html_()
    uid = parse(page)["uid"]
    # every element id of the block carries the explorer's id
    for element_id in re.findall(r' id="([^"]+)"', page):
        assert element_id.startswith(uid)


def test_initial_values_are_shown_first(static):
    render = Recorder()
    ex = explore(
        render,
        {"t": [1, 10, 100], "kind": ["a", "b"]},
        initial={"t": 100, "kind": "b"},
        title="x",
    )
    assert ex.initial == {"t": 100, "kind": "b"}
    parsed = parse(ex._repr_html_())
    combo = parsed["data"]["combos"][parsed["data"]["current"]]
    assert combo == [2, 1]
    assert 'value="2"' in parsed["ranges"][0]
    assert '<option value="1" selected>b</option>' in parsed["selects"][0]
    assert parsed["alt"] == "x: t = 100, kind = b"
    # the <img> shows exactly the frame render draws for those values
    shown = frames_of(parsed)[parsed["data"]["current"]]
    index = render.calls.index({"t": 100, "kind": "b"})
    assert frames_of(parsed)[index] == shown
    # a partial initial keeps the first value of the others
    ex = explore(render, {"t": [1, 2], "s": ["u", "v"]}, initial={"s": "v"})
    assert ex.initial == {"t": 1, "s": "v"}


def test_frames_subset_renders_only_the_listed_combinations(static):
    render = Recorder()
    frames = [
        {"T": 100, "t": 1},
        {"T": 100, "t": 50},
        {"T": 1000, "t": 1},
        {"T": 1000, "t": 500},
        {"T": 1000, "t": 1000},
    ]
    ex = explore(
        render, {"T": [100, 1000], "t": [1, 50, 500, 1000]}, frames=frames
    )
    parsed = parse(ex._repr_html_())
    assert len(frames_of(parsed)) == 5 and len(render.calls) == 5
    assert sorted(map(tuple, (c.values() for c in render.calls))) == sorted(
        tuple(f.values()) for f in frames
    )
    assert parsed["data"]["combos"] == [[0, 0], [0, 1], [1, 0], [1, 2], [1, 3]]
    assert 'data-ddpm-frames="subset"' in ex._repr_html_()


def test_nearest_frame_rule():
    frames = [
        {"T": 100, "t": 1},
        {"T": 100, "t": 50},
        {"T": 1000, "t": 1},
        {"T": 1000, "t": 500},
        {"T": 1000, "t": 1000},
    ]
    ex = explore(
        Recorder(), {"T": [100, 1000], "t": [1, 50, 500, 1000]}, frames=frames
    )
    # An existing frame is itself.
    for f in frames:
        assert ex.nearest(f, moved="t") == f
    # t moved to 1000 while T = 100: only T = 1000 has t = 1000, and the
    # moved control wins over the others.
    assert ex.nearest({"T": 100, "t": 1000}, "t") == {"T": 1000, "t": 1000}
    # T moved to 100 while t = 500: T is exact, then t as close as possible
    # (50 is one step from 500, 1 is two steps).
    assert ex.nearest({"T": 100, "t": 500}, "T") == {"T": 100, "t": 50}
    # Ties go to the frame listed first: T moved to 1000 while t = 50;
    # t = 1 and t = 500 are both one step from 50, and (1000, 1) is listed
    # before (1000, 500).
    assert ex.nearest({"T": 1000, "t": 50}, "T") == {"T": 1000, "t": 1}
    # Brute force: the rule restated as a sort over all frames.
    for T in (100, 1000):
        for t in (1, 50, 500, 1000):
            for moved in ("T", "t"):
                target = {"T": T, "t": t}
                best = brute_force_nearest(ex, frames, target, moved)
                assert ex.nearest(target, moved) == best


def brute_force_nearest(ex, frames, target, moved):
    """Sort the frames by (steps in moved, steps in the others, order)."""

    def steps(name, a, b):
        values = ex.controls[name]
        if isinstance(a, str):
            return int(a != b)
        return abs(values.index(a) - values.index(b))

    def key(k):
        f = frames[k]
        others = sum(
            steps(n, f[n], target[n]) for n in ex.controls if n != moved
        )
        return steps(moved, f[moved], target[moved]), others, k

    return frames[min(range(len(frames)), key=key)]


def test_nearest_frame_is_the_rule_on_value_indices():
    kinds = ["number", "number"]
    combos = [[0, 0], [0, 1], [1, 0], [1, 2], [1, 3]]
    # an existing frame is itself, whichever control moved
    for k, combo in enumerate(combos):
        assert nearest_frame(combos, kinds, combo, 0) == k
        assert nearest_frame(combos, kinds, combo, 1) == k
    # the moved control first: t -> 3 while T = 0 goes to T = 1
    assert nearest_frame(combos, kinds, [0, 3], moved=1) == 4
    # then the others: T -> 0 while t = 2 goes to t = 1, not t = 0
    assert nearest_frame(combos, kinds, [0, 2], moved=0) == 1
    # then the order of frames: T -> 1 while t = 1, t = 0 and t = 2 tie
    assert nearest_frame(combos, kinds, [1, 1], moved=0) == 2
    assert nearest_frame(combos[::-1], kinds, [1, 1], moved=0) == 1
    # a string control: any other value is one step
    kinds = ["string", "number"]
    combos = [[0, 0], [2, 1], [1, 2]]
    assert nearest_frame(combos, kinds, [0, 1], moved=1) == 1
    assert nearest_frame(combos, kinds, [1, 0], moved=0) == 2
    with pytest.raises(ValueError, match="no frames"):
        nearest_frame([], kinds, [0, 0], 0)
    with pytest.raises(ValueError, match="names no control"):
        nearest_frame(combos, kinds, [0, 0], 2)


def test_nearest_frame_matches_a_sort_over_random_frames():
    def steps(kind, a, b):
        return abs(a - b) if kind == "number" else int(a != b)

    rng = random.Random(0)
    for _ in range(200):
        counts = [rng.randrange(2, 5) for _ in range(rng.randrange(1, 4))]
        kinds = [rng.choice(["number", "string"]) for _ in counts]
        every = list(itertools.product(*map(range, counts)))
        combos = rng.sample(every, rng.randrange(1, len(every) + 1))
        target = [rng.randrange(c) for c in counts]
        moved = rng.randrange(len(counts))
        ranked = sorted(
            range(len(combos)),
            key=lambda k: (
                steps(kinds[moved], combos[k][moved], target[moved]),
                sum(
                    steps(kinds[m], combos[k][m], target[m])
                    for m in range(len(counts))
                    if m != moved
                ),
                k,
            ),
        )
        assert nearest_frame(combos, kinds, target, moved) == ranked[0]


def test_strings_count_one_step_when_different():
    frames = [
        {"kind": "a", "t": 1},
        {"kind": "c", "t": 2},
        {"kind": "b", "t": 3},
    ]
    ex = explore(
        Recorder(), {"kind": ["a", "b", "c"], "t": [1, 2, 3]}, frames=frames
    )
    # from (a, t=3) move kind to "b": exact kind exists, (b, 3)
    assert ex.nearest({"kind": "b", "t": 3}, "kind") == frames[2]
    # kind "c" vs "a" is one step whatever their order in the list
    assert ex.nearest({"kind": "a", "t": 2}, "t") == frames[1]


def test_default_initial_with_frames_is_the_first_frame():
    frames = [{"t": 2, "s": "v"}, {"t": 1, "s": "u"}]
    ex = explore(Recorder(), {"t": [1, 2], "s": ["u", "v"]}, frames=frames)
    assert ex.initial == {"t": 1, "s": "u"}  # the first values are a frame
    frames = [{"t": 2, "s": "v"}, {"t": 1, "s": "v"}, {"t": 2, "s": "u"}]
    ex = explore(Recorder(), {"t": [1, 2], "s": ["u", "v"]}, frames=frames)
    assert ex.initial == {"t": 2, "s": "v"}  # else the first frame
    with pytest.raises(ValueError, match="not among frames"):
        explore(
            Recorder(),
            {"t": [1, 2], "s": ["u", "v"]},
            frames=frames,
            initial={"t": 1, "s": "u"},
        )


def test_budget_error_says_what_to_do(static, monkeypatch):
    monkeypatch.setattr(explore_module, "FRAME_BUDGET_BYTES", 5_000)
    render = Recorder()
    ex = explore(render, {"t": list(range(50))}, dpi=80)
    with pytest.raises(ValueError, match="budget") as error:
        ex._repr_html_()
    message = str(error.value)
    for advice in ("fewer values", "dpi", "frames="):
        assert advice in message
    assert len(render.calls) < 50  # stopped as soon as it was over
    assert plt.get_fignums() == []
    # within the budget the same explorer works
    monkeypatch.setattr(explore_module, "FRAME_BUDGET_BYTES", 10**8)
    assert len(frames_of(parse(ex._repr_html_()))) == 50


def test_dpi_sets_the_frame_size(static):
    def render(t):
        fig = plt.figure(figsize=(2, 1))
        fig.add_subplot().plot([0, t])
        return fig

    sizes = []
    for dpi in (40, 80):
        png = frames_of(
            parse(explore(render, {"t": [1, 2]}, dpi=dpi)._repr_html_())
        )[0]
        sizes.append(plt.imread(io.BytesIO(png)).shape[:2])
    (h1, w1), (h2, w2) = sizes
    assert abs(h2 - 2 * h1) <= 2 and abs(w2 - 2 * w1) <= 2


@pytest.mark.parametrize(
    ("controls", "kwargs", "error", "match"),
    [
        ({}, {}, ValueError, "non-empty dict"),
        ({"t": []}, {}, ValueError, "'t' has no values"),
        ({"t": [1]}, {}, ValueError, "single value"),
        ({"t": "abc"}, {}, TypeError, "sequence of values"),
        ({"t": [1, "a"]}, {}, TypeError, "its values are int, str$"),
        ({"t": [1, None]}, {}, TypeError, "numbers only.*strings only"),
        ({"t": [True, False]}, {}, TypeError, "values are bool"),
        ({"t": torch.arange(3)}, {}, TypeError, r"Tensor.*\.tolist\(\)"),
        ({"t": [1, 2, 1]}, {}, ValueError, "repeated values"),
        ({"not a name": [1, 2]}, {}, ValueError, "identifier"),
        ({"t": [1, 2]}, {"initial": {"s": 1}}, ValueError, r"unknown.*'s'"),
        ({"t": [1, 2]}, {"initial": {"t": 3}}, ValueError, "not a value"),
        ({"t": [1, 2]}, {"initial": {"t": "1"}}, ValueError, "not a value"),
        ({"t": [1, 2]}, {"frames": []}, ValueError, "frames is empty"),
        (
            {"t": [1, 2]},
            {"frames": [{"t": 1}, {"u": 2}]},
            ValueError,
            r"frames\[1\]: unknown",
        ),
        (
            {"t": [1, 2], "s": ["a", "b"]},
            {"frames": [{"t": 1, "s": "a"}, {"t": 2}]},
            ValueError,
            r"frames\[1\].*no value for \['s'\]",
        ),
        (
            {"t": [1, 2]},
            {"frames": [{"t": 1}, {"t": 5}]},
            ValueError,
            r"frames\[1\]: 5 is not a value",
        ),
        (
            {"t": [1, 2]},
            {"frames": [{"t": 1}, {"t": 1}]},
            ValueError,
            "repeats",
        ),
        (
            {"t": [1, 2], "s": ["a", "b"]},
            {"frames": [{"t": 1, "s": "a"}, {"t": 2, "s": "a"}]},
            ValueError,
            "never vary control 's'",
        ),
        ({"t": [1, 2]}, {"frames": {"t": 1}}, TypeError, "list of dicts"),
        ({"t": [1, 2]}, {"dpi": 0}, ValueError, "dpi"),
    ],
)
def test_bad_input_is_refused_with_a_clear_message(
    controls, kwargs, error, match
):
    with pytest.raises(error, match=match):
        explore(Recorder(), controls, **kwargs)


def test_render_must_return_a_figure_and_is_closed(static):
    ex = explore(lambda t: None, {"t": [1, 2]})
    with pytest.raises(TypeError, match="matplotlib Figure"):
        ex._repr_html_()
    with pytest.raises(TypeError, match="render must be a function"):
        explore(42, {"t": [1, 2]})


def test_numpy_numbers_are_numbers(static):
    import numpy as np

    render = Recorder()
    ex = explore(render, {"beta": np.linspace(0.01, 0.02, 3), "T": [10, 20]})
    assert parse(ex._repr_html_())["data"]["labels"] == [
        ["0.01", "0.015", "0.02"],
        ["10", "20"],
    ]
    assert ex.frame(beta=0.015, T=20) is not None
    assert render.calls[-1] == {"beta": 0.015, "T": 20}


def test_frame_returns_the_figure_render_drew():
    render = Recorder()
    ex = explore(render, {"t": [1, 2], "s": ["a", "b"]}, initial={"s": "b"})
    fig = ex.frame(t=2)
    assert isinstance(fig, matplotlib.figure.Figure)
    assert render.calls == [{"t": 2, "s": "b"}]  # the rest from initial
    assert plt.get_fignums() == []  # closed for pyplot, still usable
    fig.savefig(io.BytesIO(), format="png")
    with pytest.raises(ValueError, match="not a value"):
        ex.frame(t=3)


def test_the_library_exports_no_book_helpers_and_no_name_clashes():
    import types

    import ddpm_book.explorer

    # ddpm_lib is the library; explorers and progress bars are the book's
    assert not hasattr(dl, "explore") and not hasattr(dl, "progress")
    # the module is a module and its function a function (once the
    # module was shadowed by a function of the same name)
    assert isinstance(ddpm_book.explorer, types.ModuleType)
    assert isinstance(ddpm_book.explorer.explore, types.FunctionType)
    assert ddpm_book.explorer.explore is explore
    assert isinstance(explore(Recorder(), {"t": [1, 2]}), Explorer)


def test_the_page_script_is_the_shipped_file(static):
    from importlib.resources import files

    script = files("ddpm_book").joinpath("explorer.js").read_text("utf-8")
    assert "__UID__" in script and "ddpmExplorer" in script
    page = explore(Recorder(), {"t": [1, 2]})._repr_html_()
    uid = parse(page)["uid"]
    assert f"<script>{script.replace('__UID__', uid)}</script>" in page


def test_live_mode_builds_core_widgets_and_rerenders(live):
    import ipywidgets as widgets

    render = Recorder()
    ex = explore(
        render,
        {"t": [1, 10, 100], "kind": ["a", "b"]},
        initial={"t": 10},
        title="demo",
    )
    assert ex._repr_html_() is None  # no precomputed frames in a notebook
    box = ex.widget()
    assert isinstance(box, widgets.VBox)
    title, slider, dropdown, out = box.children
    assert isinstance(title, widgets.HTML) and "demo" in title.value
    assert type(slider) is widgets.SelectionSlider
    assert type(dropdown) is widgets.Dropdown
    assert isinstance(out, widgets.Output)
    assert slider.options == (("1", 1), ("10", 10), ("100", 100))
    assert slider.value == 10 and slider.continuous_update is False
    assert dropdown.options == ("a", "b") and dropdown.value == "a"
    assert render.calls == [{"t": 10, "kind": "a"}]  # the initial frame
    slider.value = 100  # what the front end does: the observer re-renders
    assert render.calls[1:] == [{"t": 100, "kind": "a"}]
    dropdown.value = "b"
    assert render.calls[2:] == [{"t": 100, "kind": "b"}]
    assert plt.get_fignums() == []


def test_live_mode_displays_the_box_then_draws_into_it(live, monkeypatch):
    import ipywidgets as widgets

    shown = []
    monkeypatch.setattr(
        "IPython.display.display", lambda obj, **kw: shown.append(obj)
    )
    render = Recorder()
    explore(render, {"t": [1, 2]})._ipython_display_()
    assert isinstance(shown[0], widgets.VBox)  # the box comes first
    assert render.calls == [{"t": 1}]
    assert isinstance(shown[1], matplotlib.figure.Figure)  # into Output


def test_live_mode_snaps_to_the_nearest_frame(live):
    render = Recorder()
    frames = [{"T": 100, "t": 1}, {"T": 1000, "t": 1}, {"T": 1000, "t": 500}]
    ex = explore(render, {"T": [100, 1000], "t": [1, 500]}, frames=frames)
    T_slider, t_slider, _ = ex.widget().children  # no title
    assert render.calls == [{"T": 100, "t": 1}]
    t_slider.value = 500  # (100, 500) is no frame: T follows to 1000
    assert render.calls[1:] == [{"T": 1000, "t": 500}]
    assert T_slider.value == 1000 and t_slider.value == 500
    T_slider.value = 100  # (100, 500) again: t follows to 1
    assert render.calls[2:] == [{"T": 100, "t": 1}] and t_slider.value == 1
    assert len(render.calls) == 3  # the snapping itself drew nothing


def test_book_build_switch(monkeypatch):
    for value, expected in (("1", True), ("true", True), ("0", False)):
        monkeypatch.setenv("DDPM_BOOK_BUILD", value)
        assert modes.book_build() is expected
    monkeypatch.setenv("DDPM_BOOK_BUILD", "maybe")
    with pytest.raises(ValueError, match="DDPM_BOOK_BUILD"):
        modes.book_build()


def test_static_without_ipywidgets(live, tmp_path):
    # Where ipywidgets cannot be imported, the static slider is shown.
    code = (
        "import sys, importlib.abc\n"
        "class Block(importlib.abc.MetaPathFinder):\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] == 'ipywidgets':\n"
        "            raise ImportError(name)\n"
        "sys.meta_path.insert(0, Block())\n"
        "import matplotlib; matplotlib.use('Agg')\n"
        "import matplotlib.pyplot as plt\n"
        "from ddpm_book.explorer import explore\n"
        "ex = explore(lambda t: plt.figure(), {'t': [1, 2]})\n"
        "print(ex._repr_html_()[:30])\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith('<div class="ddpm-explorer"')


# -- the page's JavaScript, in a real browser --


def test_javascript_follows_the_python_rule_in_a_browser(static):
    sync_api, path = chromium()
    frames = [
        {"T": 100, "t": 1, "s": "a"},
        {"T": 100, "t": 50, "s": "a"},
        {"T": 1000, "t": 1, "s": "b"},
        {"T": 1000, "t": 500, "s": "a"},
        {"T": 1000, "t": 1000, "s": "b"},
        {"T": 300, "t": 50, "s": "b"},
    ]
    controls = {
        "T": [100, 300, 1000],
        "t": [1, 50, 500, 1000],
        "s": ["a", "b"],
    }
    ex = explore(Recorder(), controls, frames=frames, title="rule")
    page_html = ex._repr_html_() + ex._repr_html_()  # two on one page
    names = list(controls)
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=path, args=["--no-sandbox"]
        )
        page = browser.new_page()
        errors = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.set_content(f"<html><body>{page_html}</body></html>")
        roots = page.locator(".ddpm-explorer")
        assert roots.count() == 2
        root = roots.nth(1)  # the second one works on its own
        first_src = roots.nth(0).locator("img").get_attribute("src")
        prefix = "data:image/png;base64,"

        def state():
            values = {}
            for m, name in enumerate(names):
                label = root.locator(f"[data-ddpm-value='{m}']").inner_text()
                values[name] = controls[name][
                    [str(v) for v in controls[name]].index(label)
                ]
            return values

        # Every value of every control, then a seeded random walk (which
        # meets ties between frames, decided by the order of frames).
        moves = [(m, k) for m, n in enumerate(names) for k in range(4)]
        moves = [(m, k) for m, k in moves if k < len(controls[names[m]])]
        rng = random.Random(0)
        for _ in range(60):
            m = rng.randrange(len(names))
            moves.append((m, rng.randrange(len(controls[names[m]]))))
        for m, k in moves:
            name, value = names[m], controls[names[m]][k]
            before = state()
            control = root.locator(f"[data-ddpm-control='{m}']")
            if name == "s":
                control.select_option(str(k))
            else:
                control.fill(str(k))
            expected = ex.nearest({**before, name: value}, moved=name)
            assert state() == expected, (name, value, before)
            img = root.locator("img")
            assert img.get_attribute("alt") == ex.alt_text(expected)
            combo = tuple(controls[n].index(expected[n]) for n in names)
            png = ex._images[ex.combos.index(combo)]
            assert img.get_attribute("src") == f"{prefix}{png}"
        assert roots.nth(0).locator("img").get_attribute("src") == first_src
        browser.close()
    assert errors == []


# The nearest-frame rule without its second key (the other controls).
BROKEN_RULE_JS = """
root => {
  const combos = JSON.parse(root.querySelector(
    'script[type="application/json"]').textContent).combos;
  const steps = (c, target, moved) => Math.abs(c[moved] - target[moved]);
  root.ddpmExplorer.nearest = (target, moved) => combos.reduce(
    (best, c, k) => steps(c, target, moved) <
      steps(combos[best], target, moved) ? k : best, 0);
}
"""


def test_site_check_compares_the_page_rule_with_python(static):
    sync_api, path = chromium()
    check_site = check_site_module()
    controls = {"T": [100, 300, 1000], "t": [1, 50, 500], "s": ["a", "b"]}
    frames = [
        {"T": 100, "t": 1, "s": "a"},
        {"T": 1000, "t": 1, "s": "b"},
        {"T": 1000, "t": 500, "s": "a"},
        {"T": 300, "t": 50, "s": "b"},
    ]
    ex = explore(Recorder(), controls, frames=frames)
    kinds = ["number", "number", "string"]
    combos = [list(c) for c in ex.combos]
    every = [list(c) for c in itertools.product(range(3), range(3), [0, 1])]
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=path, args=["--no-sandbox"]
        )
        page = browser.new_page()
        page.set_content(f"<html><body>{ex._repr_html_()}</body></html>")
        root = page.locator(".ddpm-explorer")
        # the page's rule is the Python rule on every (target, moved)
        pairs = [[t, m] for t in every for m in range(3)]
        chosen = root.evaluate(check_site.RULE_JS, pairs)
        assert chosen == [nearest_frame(combos, kinds, t, m) for t, m in pairs]
        # the site check samples a few pairs and finds them in agreement
        problems, count = check_site.check_rule(root)
        assert problems == [] and count == check_site.RULE_PAIRS
        # a page whose rule ignores the other controls is caught
        root.evaluate(BROKEN_RULE_JS)
        problems, _ = check_site.check_rule(root, count=30)
        assert problems and "the Python rule" in problems[0]
        # and so is a page without the rule
        root.evaluate("root => { delete root.ddpmExplorer; }")
        problems, count = check_site.check_rule(root)
        assert count == 0 and "no ddpmExplorer.nearest" in problems[0]
        browser.close()


# -- keyboard, screen readers, dark mode and phones --------------------------

# The theme's dark mode, in short: dark background, light text.
DARK_CSS = (
    "<style>html[data-theme=dark] body{background:#121212;color:#ddd}</style>"
)
# Faults planted in a working explorer, and what the site check says.
ACCESS_FAULTS = {
    "no label": (
        "root => root.querySelectorAll('label').forEach(l => l.remove())",
        "has no accessible name naming it",
    ),
    "stale valuetext": (
        "root => { const i = root.querySelector('input[type=range]');"
        " i.addEventListener('input', () =>"
        " setTimeout(() => i.setAttribute('aria-valuetext', '?'))); }",
        "announces",
    ),
    "no focus ring": (
        "root => { const s = document.createElement('style');"
        " s.textContent = '.ddpm-explorer *:focus{outline:none}';"
        " document.head.append(s); }",
        "shows no focus ring",
    ),
    "keys do nothing": (
        "root => root.querySelectorAll('input, select').forEach(i =>"
        " i.addEventListener('keydown', e => e.preventDefault()))",
        "does not move on the keyboard",
    ),
}


def _explorer_page(browser, ex, extra=""):
    page = browser.new_page()
    page.set_content(
        f"<html lang='en'><head>{DARK_CSS}{extra}</head>"
        f"<body><main>{ex._repr_html_()}</main></body></html>"
    )
    return page


def _access(check_site, page) -> list[str]:
    root = page.locator(".ddpm-explorer")
    # what the site check's own state check would find after a key press
    seen = []

    def state(where):
        seen.append(where)
        return root.evaluate(check_site.STATE_JS)

    problems = check_site.check_access(root, state)
    assert seen, "no key was pressed"
    return problems


@pytest.mark.parametrize("fault", [None, *ACCESS_FAULTS])
def test_controls_work_from_keyboard_and_screen_reader(static, browser, fault):
    check_site = check_site_module()
    controls = {"t": [1, 50, 500, 1000], "s": ["linear", "cosine"]}
    ex = explore(Recorder(), controls, title="access")
    page = _explorer_page(browser, ex)
    root = page.locator(".ddpm-explorer")
    html_ = ex._repr_html_()
    # native controls, each named by a <label for> that names its
    # parameter; the slider tells its value through aria-valuetext
    assert re.search(r'<label for="[^"]+-c0"[^>]*>t</label>', html_)
    assert re.search(r'<label for="[^"]+-c1"[^>]*>s</label>', html_)
    assert 'aria-valuetext="1"' in html_
    if fault is None:
        assert _access(check_site, page) == []
        # arrow keys move the slider and the page follows
        slider = root.locator("input[type=range]")
        slider.focus()
        slider.press("ArrowRight")
        assert slider.get_attribute("aria-valuetext") == "50"
        assert "t = 50" in root.locator("img").get_attribute("alt")
        dropdown = root.locator("select")
        dropdown.focus()
        dropdown.press("ArrowDown")
        assert "s = cosine" in root.locator("img").get_attribute("alt")
    else:
        plant, message = ACCESS_FAULTS[fault]
        root.evaluate(plant)
        problems = _access(check_site, page)
        assert any(message in p for p in problems), problems
    page.close()


@pytest.mark.parametrize(
    "fault, message",
    [
        (None, None),
        (".ddpm-explorer label{color:#000}", "hard to read"),
        (".ddpm-explorer{background:#fff}", "background of its own"),
    ],
)
def test_explorer_follows_the_dark_theme(static, browser, fault, message):
    check_site = check_site_module()
    ex = explore(Recorder(), {"t": [1, 50], "s": ["a", "b"]}, title="dark")
    extra = f"<style>{fault}</style>" if fault else ""
    page = _explorer_page(browser, ex, extra)
    page.emulate_media(color_scheme="dark")
    page.evaluate(check_site.DARK_JS, True)
    problems = check_site.check_dark(page)
    if fault is None:
        assert problems == []
        label = page.locator(".ddpm-explorer label").first
        assert label.evaluate("l => getComputedStyle(l).color") == (
            "rgb(221, 221, 221)"
        )
    else:
        assert any(message in p for p in problems), problems
    page.close()


@pytest.mark.parametrize(
    "fault", [None, ".ddpm-explorer input{min-width:600px}"]
)
def test_explorer_fits_a_phone(static, browser, fault):
    check_site = check_site_module()
    controls = {"noise_level": [0.1, 0.2, 0.3], "t": [1, 2]}
    ex = explore(Recorder(), controls, title="phone")
    extra = f"<style>{fault}</style>" if fault else ""
    page = _explorer_page(browser, ex, extra)
    page.set_viewport_size(check_site.PHONE)
    over = page.evaluate(check_site.EXPLORER_PHONE_JS)
    assert (over[0] > 1) == bool(fault), over
    page.close()
