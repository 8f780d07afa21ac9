"""Explorers: sliders over a figure that work in Jupyter, Colab and the book.

One call, ``explore(render, controls)``, gives a reader sliders (numeric
values) and dropdowns (strings) that redraw ``render(**values)``:

* In Jupyter and Colab (a live kernel) it shows core ipywidgets that exist
  in ipywidgets 7.7 (Colab) and 8: a ``SelectionSlider`` per numeric
  control, a ``Dropdown`` per string control and an ``Output`` widget that
  shows the figure. Each move calls ``render`` again.
* When the book is built (``DDPM_BOOK_BUILD=1``, set by
  ``scripts/book.sh``), or where ipywidgets is missing, it renders the
  frames up front and emits one self-contained HTML block: an
  ``<input type="range">`` or ``<select>`` per control, an ``<img>`` and a
  few lines of inline JavaScript that swap precomputed PNGs. It needs no
  kernel, no widget state and no network, so the sliders of the static
  site work offline.

``frames`` (a list of dicts) limits the combinations that are rendered,
which keeps pages with several controls light. A move then lands on the
*nearest available frame*: among the frames, the one whose value of the
moved control is closest (in steps along that control's value list) to
the value asked for; ties go to the frame closest in the other controls
(the sum of their steps; for strings a different value counts as one
step); remaining ties go to the frame listed first. The controls then show
the values of that frame, so what is shown always matches the image. Live
widgets follow the same rule, so a notebook behaves as its page does: it
is written once in Python (:func:`nearest_frame`) and once in the page's
JavaScript (``explorer.js``, next to this file), and the browser check of
the built site (``scripts/check_site.py``) tests that the two agree.

matplotlib and ipywidgets are imported inside the functions that need
them.
"""

from __future__ import annotations

import base64
import html
import importlib.resources
import io
import itertools
import json
import numbers
import statistics
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from ddpm_book.modes import book_build

__all__ = ["FRAME_BUDGET_BYTES", "Explorer", "explore", "nearest_frame"]

# Encoded frames of one explorer on a static page (base64 PNG bytes).
FRAME_BUDGET_BYTES = 4_000_000


def _have_ipywidgets() -> bool:
    try:
        import ipywidgets  # noqa: F401
    except ImportError:
        return False
    return True


# -- controls -----------------------------------------------------------------


def _is_number(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _label(value) -> str:
    """The text shown for a control value: ``0.02``, ``1000``, ``cosine``."""
    if isinstance(value, str):
        return value
    if isinstance(value, numbers.Integral):
        return str(int(value))
    return f"{float(value):.6g}"


class _Control:
    """One control: its name, values, their labels and its kind."""

    def __init__(self, name: str, values) -> None:
        if not isinstance(name, str) or not name.isidentifier():
            raise ValueError(
                f"control names are passed to render as keyword arguments; "
                f"{name!r} is not a valid Python identifier"
            )
        if isinstance(values, (str, bytes)) or not isinstance(
            values, (Sequence, Iterable)
        ):
            raise TypeError(
                f"control {name!r} needs a sequence of values, e.g. "
                f"[0, 100, 500] or ['linear', 'cosine']; got {values!r}"
            )
        values = list(values)
        if not values:
            raise ValueError(f"control {name!r} has no values")
        if len(values) < 2:
            raise ValueError(
                f"control {name!r} has a single value {values[0]!r}, so it "
                f"cannot move; pass that value to render directly"
            )
        if all(_is_number(v) for v in values):
            self.kind = "number"
        elif all(isinstance(v, str) for v in values):
            self.kind = "string"
        else:
            kinds = sorted({type(v).__name__ for v in values})
            raise TypeError(
                f"control {name!r} needs numbers only (a slider) or strings "
                f"only (a dropdown); its values are {', '.join(kinds)}"
                + (
                    " (for a tensor or an array, pass .tolist())"
                    if len(kinds) == 1
                    else ""
                )
            )
        labels = [_label(v) for v in values]
        if len(set(labels)) != len(labels):
            raise ValueError(f"control {name!r} has repeated values: {labels}")
        self.name, self.values, self.labels = name, values, labels

    def index(self, value, *, where: str) -> int:
        same_kind = (
            isinstance(value, str)
            if self.kind == "string"
            else _is_number(value)
        )
        for i, v in enumerate(self.values):
            if same_kind and v == value:
                return i
        raise ValueError(
            f"{where}: {value!r} is not a value of control {self.name!r} "
            f"(its values: {self.labels})"
        )


# -- the nearest-frame rule ---------------------------------------------------


def nearest_frame(
    combos: Sequence[Sequence[int]],
    kinds: Sequence[str],
    target: Sequence[int],
    moved: int,
) -> int:
    """The position in ``combos`` of the frame shown for ``target``.

    The rule of the module docstring, on value indices: the frame whose
    index of control ``moved`` is fewest steps from ``target``'s, then
    fewest steps summed over the other controls, then the first listed.
    A step is one place along a numeric control's values; two different
    values of a string control are one step apart. The page's JavaScript
    (``explorer.js``) implements the same rule; ``scripts/check_site.py``
    compares the two.

    Args:
        combos: The frames, each a value index per control.
        kinds: Per control, ``"number"`` (a slider) or ``"string"``.
        target: The value indices asked for, one per control.
        moved: The position of the control that moved.
    """
    if not combos:
        raise ValueError("no frames to choose from")
    if not 0 <= moved < len(kinds):
        raise ValueError(f"moved = {moved} names no control of {kinds}")

    def steps(m: int, a: int, b: int) -> int:
        return abs(a - b) if kinds[m] == "number" else int(a != b)

    def key(k: int) -> tuple[int, int]:
        combo = combos[k]
        others = sum(
            steps(m, combo[m], target[m])
            for m in range(len(kinds))
            if m != moved
        )
        return steps(moved, combo[moved], target[moved]), others

    return min(range(len(combos)), key=key)  # min keeps the first of ties


def _script() -> str:
    """The page's JavaScript (``explorer.js``, shipped as package data)."""
    return (
        importlib.resources.files("ddpm_book")
        .joinpath("explorer.js")
        .read_text(encoding="utf-8")
    )


# -- the explorer -------------------------------------------------------------


class Explorer:
    """Sliders and dropdowns over ``render``; see :func:`explore`.

    Attributes:
        controls: Control name -> list of values, in the order given.
        combos: The renderable combinations as value-index tuples (every
            combination, or those of ``frames``).
        initial: The starting values.
    """

    def __init__(
        self,
        render: Callable[..., Any],
        controls: Mapping[str, Sequence],
        *,
        initial: Mapping[str, Any] | None = None,
        frames: Sequence[Mapping[str, Any]] | None = None,
        dpi: float = 80,
        title: str | None = None,
    ) -> None:
        if not callable(render):
            raise TypeError(f"render must be a function; got {render!r}")
        if not isinstance(controls, Mapping) or not controls:
            raise ValueError(
                "controls must be a non-empty dict: name -> values, e.g. "
                "{'t': [0, 100, 500, 1000]}"
            )
        if not (isinstance(dpi, numbers.Real) and dpi > 0):
            raise ValueError(f"dpi must be a positive number; got {dpi!r}")
        self._render = render
        self._controls = [_Control(n, v) for n, v in controls.items()]
        self.controls = {c.name: list(c.values) for c in self._controls}
        self.dpi, self.title = dpi, title
        self.grid = frames is None
        if frames is None:
            ranges = [range(len(c.values)) for c in self._controls]
            self.combos = list(itertools.product(*ranges))
        else:
            self.combos = self._frame_combos(frames)
        if initial is None:
            if self.grid:
                start = tuple(0 for _ in self._controls)
            else:
                first = tuple(0 for _ in self._controls)
                start = first if first in self.combos else self.combos[0]
        else:
            start = self._indices(initial, where="initial", partial=True)
            if start not in self.combos:
                raise ValueError(
                    f"initial: {dict(self._values(start))} is not among "
                    f"frames; list it in frames or pick a listed frame"
                )
        self._start = start
        self.initial = self._values(start)

    # -- indices and values --

    def _indices(self, values, *, where: str, partial=False) -> tuple:
        if not isinstance(values, Mapping):
            raise TypeError(f"{where} must be a dict; got {values!r}")
        names = [c.name for c in self._controls]
        unknown = sorted(set(values) - set(names))
        if unknown:
            raise ValueError(
                f"{where}: unknown control(s) {unknown}; the controls are "
                f"{names}"
            )
        missing = [n for n in names if n not in values]
        if missing and not partial:
            raise ValueError(
                f"{where}: {dict(values)} gives no value for {missing}; "
                f"every frame names a value for each control"
            )
        return tuple(
            c.index(values[c.name], where=where) if c.name in values else 0
            for c in self._controls
        )

    def _frame_combos(self, frames) -> list[tuple]:
        if isinstance(frames, Mapping) or not isinstance(frames, Sequence):
            raise TypeError("frames must be a list of dicts name -> value")
        if not frames:
            raise ValueError("frames is empty; give at least two frames")
        combos: list[tuple] = []
        for k, frame in enumerate(frames):
            combo = self._indices(frame, where=f"frames[{k}]")
            if combo in combos:
                raise ValueError(f"frames[{k}] repeats {dict(frame)}")
            combos.append(combo)
        for i, c in enumerate(self._controls):
            if len({combo[i] for combo in combos}) < 2:
                raise ValueError(
                    f"frames never vary control {c.name!r}, so it could not "
                    f"move; give frames with different values of it"
                )
        return combos

    def _values(self, combo: Sequence[int]) -> dict:
        return {
            c.name: c.values[i]
            for c, i in zip(self._controls, combo, strict=True)
        }

    def nearest(self, values: Mapping[str, Any], moved: str) -> dict:
        """The frame shown when control ``moved`` is set as in ``values``.

        Every combination is a frame unless ``frames`` was given; then the
        rule of the module docstring picks the nearest frame.
        """
        names = [c.name for c in self._controls]
        if moved not in names:
            raise ValueError(f"unknown control {moved!r}; controls: {names}")
        target = self._indices(values, where="values")
        return self._values(self._nearest(target, names.index(moved)))

    def _nearest(self, target: tuple, moved: int) -> tuple:
        kinds = [c.kind for c in self._controls]
        return self.combos[nearest_frame(self.combos, kinds, target, moved)]

    # -- rendering --

    def frame(self, **values):
        """The figure ``render`` draws for these values (closed for pyplot).

        Missing controls take their initial values.
        """
        combo = self._indices(
            {**self.initial, **values}, where="frame", partial=True
        )
        return self._figure(combo)

    def _figure(self, combo):
        import matplotlib.pyplot as plt
        from matplotlib.figure import Figure

        values = self._values(combo)
        fig = self._render(**values)
        if not isinstance(fig, Figure):
            if fig is not None and hasattr(fig, "number"):
                plt.close(fig)
            raise TypeError(
                f"render must return a matplotlib Figure; for {values} it "
                f"returned {type(fig).__name__}"
            )
        plt.close(fig)  # never shown twice by the inline backend
        return fig

    def _png(self, combo) -> str:
        fig = self._figure(combo)
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=self.dpi, bbox_inches="tight")
        return base64.b64encode(buffer.getvalue()).decode("ascii")

    def encoded_frames(self) -> list[str]:
        """Base64 PNGs of every combination in :attr:`combos`, in order.

        Raises:
            ValueError: the frames exceed ``FRAME_BUDGET_BYTES``.
        """
        images, total, seconds = [], 0, []
        for k, combo in enumerate(self.combos):
            start = time.perf_counter()
            images.append(self._png(combo))
            seconds.append(time.perf_counter() - start)
            total += len(images[-1])
            if total > FRAME_BUDGET_BYTES:
                raise ValueError(
                    f"explorer {self.title or ''!r}: {k + 1} of "
                    f"{len(self.combos)} frames already take "
                    f"{total / 1e6:.1f} MB, over the budget of "
                    f"{FRAME_BUDGET_BYTES / 1e6:.1f} MB per explorer; use "
                    f"fewer values per control, a lower dpi (now "
                    f"{self.dpi}), a smaller figure, or frames=[...] to "
                    f"render only the combinations the text needs"
                )
        # What one redraw costs (render + PNG), as a live slider pays it.
        self.redraw_seconds = statistics.median(seconds)
        return images

    def alt_text(self, values: Mapping[str, Any]) -> str:
        """The image's alternative text: the title and the current values."""
        shown = ", ".join(
            f"{c.name} = {_label(values[c.name])}" for c in self._controls
        )
        return f"{self.title or 'Figure'}: {shown}"

    # -- static HTML --

    def to_html(self) -> str:
        """One self-contained HTML block: controls, an image, inline JS.

        Each call gives the block a new id, so one page can hold several
        explorers (or the same one twice). The frames are rendered once.
        """
        if not hasattr(self, "_images"):
            self._images = self.encoded_frames()
        images = list(self._images)
        uid = f"ddpm-explore-{uuid.uuid4().hex[:12]}"
        current = self.combos.index(self._start)
        first = images[current]
        images[current] = ""  # the <img> holds it already
        data = {
            "names": [c.name for c in self._controls],
            "labels": [c.labels for c in self._controls],
            "kinds": [c.kind for c in self._controls],
            "combos": [list(c) for c in self.combos],
            "images": images,
            "current": current,
            "title": self.title or "Figure",
        }
        payload = (
            json.dumps(data, separators=(",", ":"))
            .replace("<", "\\u003c")
            .replace(">", "\\u003e")
            .replace("&", "\\u0026")
        )
        rows = []
        for i, c in enumerate(self._controls):
            cid, j = f"{uid}-c{i}", self._start[i]
            name = html.escape(c.name)
            if c.kind == "number":
                widget = (
                    f'<input type="range" id="{cid}" min="0" '
                    f'max="{len(c.values) - 1}" step="1" value="{j}" '
                    f'data-ddpm-control="{i}" '
                    f'aria-valuetext="{html.escape(c.labels[j])}" '
                    f'style="width:16em;max-width:100%;vertical-align:middle">'
                )
            else:
                options = "".join(
                    f'<option value="{k}"{" selected" if k == j else ""}>'
                    f"{html.escape(label)}</option>"
                    for k, label in enumerate(c.labels)
                )
                widget = (
                    f'<select id="{cid}" data-ddpm-control="{i}">'
                    f"{options}</select>"
                )
            rows.append(
                f'<div style="margin:0.2em 0">'
                f'<label for="{cid}" style="display:inline-block;'
                f'min-width:6em;font-family:monospace">{name}</label> '
                f"{widget} "
                f'<output id="{cid}-value" for="{cid}" '
                f'data-ddpm-value="{i}" style="font-family:monospace">'
                f"{html.escape(c.labels[j])}</output></div>"
            )
        heading = (
            f'<div style="font-weight:bold">{html.escape(self.title)}</div>'
            if self.title
            else ""
        )
        alt = html.escape(self.alt_text(self.initial))
        return (
            f'<div class="ddpm-explorer" id="{uid}" '
            f'data-ddpm-frames="{"grid" if self.grid else "subset"}" '
            f'data-ddpm-redraw-ms="{1000 * self.redraw_seconds:.0f}">'
            f"{heading}{''.join(rows)}"
            f'<img id="{uid}-img" alt="{alt}" style="max-width:100%" '
            f'src="data:image/png;base64,{first}">'
            f'<script type="application/json" id="{uid}-data">{payload}'
            f"</script>"
            f"<script>{_script().replace('__UID__', uid)}</script>"
            f"</div>"
        )

    def _repr_html_(self) -> str | None:
        if book_build() or not _have_ipywidgets():
            return self.to_html()
        return None  # live widgets are shown by _ipython_display_

    def _text(self) -> str:
        counts = ", ".join(
            f"{c.name} ({len(c.values)} values)" for c in self._controls
        )
        return (
            f"Explorer {self.title or ''!r}: {counts}; "
            f"{len(self.combos)} frames"
        )

    def __repr__(self) -> str:
        return f"<{self._text()}>"

    # -- live widgets --

    def widget(self):
        """The live ipywidgets box (controls above an Output widget), drawn.

        For a layout of your own; the explorer itself displays this box.
        """
        box, show = self._live()
        show(self._start)
        return box

    def _live(self):
        """The widget box and the function that draws a combination in it."""
        import ipywidgets as widgets

        controls = []
        for c, j in zip(self._controls, self._start, strict=True):
            style = {"description_width": "initial"}
            if c.kind == "number":
                w = widgets.SelectionSlider(
                    options=list(zip(c.labels, c.values, strict=True)),
                    value=c.values[j],
                    description=c.name,
                    continuous_update=False,
                    style=style,
                )
            else:
                w = widgets.Dropdown(
                    options=list(c.values),
                    value=c.values[j],
                    description=c.name,
                    style=style,
                )
            controls.append(w)
        out = widgets.Output()
        busy = []  # non-empty while the controls are set to a frame

        def show(combo):
            from IPython.display import clear_output, display

            # Inside the Output widget, so that an error in render shows
            # up under the sliders rather than in the kernel's log.
            with out:
                clear_output(wait=True)
                display(self._figure(combo))

        def on_change(change):
            if busy:
                return
            target = tuple(
                c.index(w.value, where="widget")
                for c, w in zip(self._controls, controls, strict=True)
            )
            moved = controls.index(change["owner"])
            combo = target
            if not self.grid:
                combo = self._nearest(target, moved)
            busy.append(True)
            try:  # show the values of the frame that is drawn
                for c, w, j in zip(
                    self._controls, controls, combo, strict=True
                ):
                    w.value = c.values[j]
            finally:
                busy.clear()
            show(combo)

        for w in controls:
            w.observe(on_change, names="value")
        children = []
        if self.title:
            children.append(widgets.HTML(f"<b>{html.escape(self.title)}</b>"))
        return widgets.VBox([*children, *controls, out]), show

    def _ipython_display_(self) -> None:
        from IPython.display import display

        if book_build() or not _have_ipywidgets():
            bundle = {
                "text/html": self._repr_html_(),
                "text/plain": repr(self),
            }
            display(bundle, raw=True)
            return
        box, show = self._live()
        display(box)  # first the box, then the figure inside it
        show(self._start)


def explore(
    render: Callable[..., Any],
    controls: Mapping[str, Sequence],
    *,
    initial: Mapping[str, Any] | None = None,
    frames: Sequence[Mapping[str, Any]] | None = None,
    dpi: float = 80,
    title: str | None = None,
) -> Explorer:
    """Sliders and dropdowns that redraw ``render(**values)``.

    Args:
        render: A pure function of the control values returning a new
            matplotlib Figure (closed after use); keep it under 0.3 s.
        controls: Control name -> values. Numbers give a slider over
            exactly these values; strings give a dropdown.
        initial: Starting values (default: the first value of each
            control, or the first of ``frames`` when that is not a frame).
        frames: Only these combinations (dicts naming a value for every
            control) are drawn; a move lands on the nearest frame (see the
            module docstring).
        dpi: Resolution of the precomputed frames of the static page.
        title: A heading, also the start of the image's alt text.

    Returns:
        An :class:`Explorer` that displays itself as the last expression of
        a cell: live widgets in Jupyter and Colab; a self-contained HTML
        slider over precomputed frames when the book is built
        (``DDPM_BOOK_BUILD=1``) or without ipywidgets.
    """
    return Explorer(
        render,
        controls,
        initial=initial,
        frames=frames,
        dpi=dpi,
        title=title,
    )
