"""Check the built book in a real browser, offline.

Opens every HTML page of the built site (``_build/html``) from ``file://``
URLs in the system's Chromium, with every request that is not a local file
blocked, as on a classroom machine without internet. A page fails when:

* it throws a JavaScript error or logs a console error, or asks for
  anything outside the site (a CDN, a font, an analytics script);
* it has math that MathJax did not typeset, or typeset as an error (a TeX
  error or an undefined macro);
* its prose shows TeX that never became math (a dollar sign or a TeX
  macro left in the text outside code, e.g. when a source line inside
  ``$$`` starts with "- " and Markdown makes it a list item);
* one of its explorers (``ddpm_book.explorer``) does not answer: every
  control is moved through all its values, and after each move the image
  must be the precomputed frame of the values shown, the value labels and
  the alternative text must name those values, the picture must decode,
  and the image must change (on every move when all combinations were
  rendered, at least once per control otherwise); and the page's
  nearest-frame rule (``ddpm_book/explorer.js``) must pick, for a handful
  of (values asked for, control moved) pairs, the frame that the Python
  reference ``ddpm_book.explorer.nearest_frame`` picks on the same data;
* an explorer is not usable without a mouse or a screen: a control
  has no accessible name naming its parameter, or the value it stands
  at is not announced (``aria-valuetext`` on a slider, the selected
  option of a dropdown), or it shows no focus ring when focused, or its
  arrow keys do not move it (the keys are pressed); in dark mode its
  text is hard to read (axe's colour-contrast rule) or it keeps a
  background of its own instead of the theme's; on a phone-sized screen
  one of its controls does not fit;
* axe-core (``axe-playwright-python``, which bundles it) finds a serious
  or critical accessibility violation (minor and moderate ones are
  counted on the page's line); the few rules switched off, each for
  one selector of the theme, are listed with their reason in
  ``AXE_IGNORE``;
* a link inside the site names a file that does not exist, or a
  ``#fragment`` that is no id of its target page, or leaves the site; a
  Colab link names a notebook that does not exist in the repository
  (``--repo``, default: the current directory) at the path after the
  branch or tag;
* an image does not load (lazy images are loaded first);
* a figure has no alternative text (none, or only its file name);
* one of its generator blocks (``ddpm_book.browser``, the model run in
  the page) misbehaves. From ``file://`` it must say that the page was
  opened from a file (state "unavailable") and keep Generate disabled
  (its precomputed frames are an explorer, checked as above). Then the
  site is served over HTTP on 127.0.0.1, the page is opened there (every
  request outside that server blocked, no JavaScript or console error
  allowed), a class other than the default and DDIM with 10 steps are
  chosen, and Generate is pressed: the run must end in state "done"
  within 180 s (not "error"), its canvas must be shown and not uniform,
  and a second run with the next seed must draw a different picture;
* the page is heavier than ``--max-page-mb`` (default 4): its HTML plus
  the images it loads on opening. What a reader's action fetches later
  is reported apart: for a generator, the bytes Generate fetched (the
  runtime and the model), what those files weigh gzip-compressed (as a
  web server would send them), and the seconds each run took;
* on a phone-sized screen (390 px wide) the page scrolls sideways, or the
  notation page's translation table (which turns into one card per row
  there) does not fit the screen.

Prints one line per page (with the median time one explorer frame took to
draw when the book was built: what a live slider costs per move on that
machine, and what a generator's runs took and fetched), saves a
screenshot of each page (light and dark mode, and at phone width), of
each explorer after its controls moved (light and dark) and of each
generator after its runs with ``--screenshots DIR``, and exits with
status 1 if any page failed.

    python scripts/check_site.py _build/html --screenshots /tmp/shots

Dark mode is the theme's (pydata-sphinx-theme under sphinx-book-theme):
its switch stores ``mode`` in localStorage and sets ``data-mode`` and
``data-theme`` on ``<html>``; the check does the same on the open page,
with the browser's colour scheme emulated as dark.

Needs Python's playwright and axe-playwright-python
(requirements-dev.txt) and a system Chromium (``scripts/setup.sh``
installs it); it never downloads a browser.
"""

from __future__ import annotations

import argparse
import gzip
import html.parser
import random
import re
import shutil
import sys
from pathlib import Path
from urllib.parse import unquote, urlsplit

from ddpm_book.explorer import nearest_frame

# Chromium flags: no sandbox (containers, CI) and no background traffic
# of the browser's own (updates, sync), so only the page makes requests.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# URL schemes a page may use offline; everything else is blocked.
LOCAL_SCHEMES = ("file:", "data:", "blob:", "about:")
SKIP_FOLDERS = {"_static", "_sources", "_images", "_downloads"}

# Waits until MathJax 3 (if loaded) has typeset the page; returns a summary.
MATH_JS = r"""
async () => {
  const math = Array.from(document.querySelectorAll(".math"));
  if (math.length && window.MathJax && MathJax.startup) {
    await MathJax.startup.promise;
  }
  const missing = math.filter(el => !el.querySelector("mjx-container"));
  return {
    math: math.length,
    loaded: !!(window.MathJax && MathJax.startup),
    rendered: document.querySelectorAll("mjx-container").length,
    missing: missing.slice(0, 3).map(el => el.textContent.slice(0, 60)),
    // TeX errors, and undefined macros (shown in red by MathJax's
    // noundefined extension, e.g. \betaa).
    errors: Array.from(document.querySelectorAll("mjx-merror"))
      .map(el => el.getAttribute("data-mjx-error"))
      .concat(Array.from(document.querySelectorAll(
        'mjx-assistive-mml mtext[mathcolor="red"]'))
        .map(el => el.textContent)
        .filter(text => text.startsWith("\\"))
        .map(text => "undefined macro " + text))
      .slice(0, 3),
  };
}
"""

# The state an explorer shows: per control its position, the position's
# label, the label shown, and the image.
STATE_JS = """
root => {
  const data = JSON.parse(root.querySelector(
    'script[type="application/json"]').textContent);
  const img = root.querySelector("img");
  const controls = data.names.map((name, m) => {
    const input = root.querySelector(`[data-ddpm-control="${m}"]`);
    const index = parseInt(input.value, 10);
    return {
      name: name,
      index: index,
      expected: data.labels[m][index],
      shown: root.querySelector(`[data-ddpm-value="${m}"]`).textContent,
      tag: input.tagName.toLowerCase(),
      count: data.labels[m].length,
    };
  });
  return {
    controls: controls,
    src: img.getAttribute("src"),
    alt: img.getAttribute("alt"),
    decoded: img.complete && img.naturalWidth > 0,
    frames: data.combos.length,
  };
}
"""

# The precomputed frame of a combination of value positions ("" if absent).
FRAME_JS = """
(root, [combo, first]) => {
  const data = JSON.parse(root.querySelector(
    'script[type="application/json"]').textContent);
  const k = data.combos.findIndex(c => c.join() === combo.join());
  if (k < 0) { return null; }
  if (k === data.current) { return first; }
  return "data:image/png;base64," + data.images[k];
}
"""

# What the nearest-frame rule works on (not the images: they are heavy).
RULE_DATA_JS = """
root => {
  const data = JSON.parse(root.querySelector(
    'script[type="application/json"]').textContent);
  return {
    kinds: data.kinds,
    counts: data.labels.map(labels => labels.length),
    combos: data.combos,
  };
}
"""
# The page's own choice of frame for each (target, moved) pair, through
# the one property its script sets on the explorer (null without it).
RULE_JS = """
(root, pairs) => {
  const api = root.ddpmExplorer;
  if (!api || typeof api.nearest !== "function") { return null; }
  return pairs.map(([target, moved]) => api.nearest(target, moved));
}
"""
RULE_PAIRS = 8  # (target, moved) pairs checked per explorer


# Images of the page content whose alternative text is missing or only a
# file name (what a figure gets when its notebook cell sets no alt text).
ALT_JS = r"""
() => Array.from(document.querySelectorAll("article img"))
  .map(img => [img.getAttribute("src") || "", img.getAttribute("alt") || ""])
  .filter(([src, alt]) => !alt.trim() || /\.(png|jpe?g|svg|gif)$/i.test(alt))
  .map(([src, alt]) => src.split("/").pop().slice(0, 24))
"""
# Text of the page content, outside code and typeset math, that still
# looks like TeX: a macro (\frac, \operatorname), a dollar sign next
# to math, or a braced sub- or superscript. Returns the offending snippets.
RAW_TEX_JS = r"""
() => {
  const skip = "pre, code, kbd, samp, script, style, .highlight, "
    + "mjx-container, .math, .MathJax, .ddpm-explorer";
  const tex = /\\[A-Za-z]{2,}|\$\$?[^\s$]|[_^]\{/;
  const root = document.querySelector("article") || document.body;
  const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
  const found = [];
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    if (!node.parentElement || node.parentElement.closest(skip)) continue;
    const text = node.textContent;
    const match = tex.exec(text);
    if (match) {
      const start = Math.max(0, match.index - 20);
      found.push(text.slice(start, match.index + 40).trim());
    }
  }
  return found;
}
"""
# At phone width: how far the page, and each table that must turn into
# cards there (book CSS, cell tag "notation-table"), overflow sideways.
PHONE = {"width": 390, "height": 844}
PHONE_JS = """
() => ({
  page: document.documentElement.scrollWidth - window.innerWidth,
  cards: Array.from(document.querySelectorAll(".tag_notation-table table"))
    .map(t => t.getBoundingClientRect().right - window.innerWidth),
})
"""

# -- accessibility of the explorers -----------------------------------------

# Per control of an explorer: its accessible name (aria-label,
# aria-labelledby or a <label for>), whether its value is announced, and
# whether it shows a focus ring when focused.
CONTROLS_A11Y_JS = """
root => {
  const data = JSON.parse(root.querySelector(
    'script[type="application/json"]').textContent);
  const text = el => (el ? el.textContent : "").trim();
  return data.names.map((name, m) => {
    const input = root.querySelector(`[data-ddpm-control="${m}"]`);
    let label = input.getAttribute("aria-label") || "";
    const by = input.getAttribute("aria-labelledby");
    if (!label && by) {
      label = by.split(/\\s+/)
        .map(id => text(document.getElementById(id))).join(" ");
    }
    if (!label && input.labels) {
      label = Array.from(input.labels, text).join(" ");
    }
    const shown = text(root.querySelector(`[data-ddpm-value="${m}"]`));
    const tag = input.tagName.toLowerCase();
    let announced;
    if (tag === "select") {
      const option = input.options[input.selectedIndex];
      announced = option ? text(option) : "";
    } else {
      announced = input.getAttribute("aria-valuetext") || "";
    }
    input.focus();
    const style = getComputedStyle(input);
    const ring = (style.outlineStyle !== "none"
                  && parseFloat(style.outlineWidth) > 0)
      || (style.boxShadow && style.boxShadow !== "none");
    const focused = document.activeElement === input;
    input.blur();
    return {name, tag, label: label.trim(), shown, announced,
            focused, ring: !!ring};
  });
}
"""

# In dark mode: the explorer's own background (it must have none, so the
# theme's shows through, or the page's).
BACKGROUND_JS = """
root => {
  const clear = c => c === "transparent" || /rgba\\(.*,\\s*0\\)$/.test(c);
  const page = getComputedStyle(document.body).backgroundColor;
  const own = [root, ...root.querySelectorAll("div, label, output")]
    .map(el => getComputedStyle(el).backgroundColor)
    .filter(c => !clear(c) && c !== page);
  return own;
}
"""

# The contrast (WCAG 2) of each text of an explorer against the
# background behind it; axe leaves one-letter texts (a control named
# "t") undecided, so the check computes it too. Returns [text, ratio] for
# those under 4.5.
CONTRAST_JS = """
root => {
  const rgb = c => (c.match(/[\\d.]+/g) || []).map(Number);
  const lum = c => {
    const [r, g, b] = rgb(c).slice(0, 3).map(v => {
      v /= 255;
      return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4;
    });
    return 0.2126 * r + 0.7152 * g + 0.0722 * b;
  };
  const behind = el => {
    for (; el; el = el.parentElement) {
      const c = getComputedStyle(el).backgroundColor;
      const v = rgb(c);
      if (v.length && (v.length < 4 || v[3] > 0)) { return c; }
    }
    return "rgb(255, 255, 255)";
  };
  const low = [];
  for (const el of root.querySelectorAll("div, label, output")) {
    const own = Array.from(el.childNodes)
      .filter(n => n.nodeType === 3).map(n => n.textContent).join("").trim();
    if (!own) { continue; }
    const [a, b] = [lum(getComputedStyle(el).color), lum(behind(el))];
    const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
    if (ratio < 4.5) { low.push([own.slice(0, 20), ratio]); }
  }
  return low;
}
"""

# At phone width: how far each explorer's controls and image reach past
# the right edge of the screen.
EXPLORER_PHONE_JS = """
() => Array.from(document.querySelectorAll(".ddpm-explorer"), root =>
  Math.max(0, ...Array.from(
    root.querySelectorAll("label, input, select, output, img"),
    el => el.getBoundingClientRect().right - window.innerWidth)))
"""

# Switches the page to the theme's dark mode, as its own switch does.
DARK_JS = """
dark => {
  const mode = dark ? "dark" : "light";
  try { localStorage.setItem("mode", mode); } catch (e) {}
  document.documentElement.dataset.mode = mode;
  document.documentElement.dataset.theme = mode;
}
"""

# -- axe-core --------------------------------------------------------------

# Violations of the theme's markup that our content cannot fix: (rule id,
# CSS selector of the elements it is switched off for, why). A violation
# is ignored only on an element inside that selector.
AXE_IGNORE: list[tuple[str, str, str]] = [
    (
        "aria-required-children",
        ".citation-list",
        "docutils writes the bibliography as role=list whose entries have "
        "the DPUB-ARIA role doc-biblioentry, which axe does not count as "
        "list items; the markup is Sphinx's, not the book's",
    ),
]
# Impacts that fail a page; "minor" and "moderate" are counted only.
AXE_FAIL = ("serious", "critical")

# Runs axe (injected first) and returns one entry per offending element,
# less the ones AXE_IGNORE switches off.
AXE_JS = """
async ([context, options, ignore]) => {
  const results = await axe.run(context || document, options);
  const found = [];
  for (const v of results.violations) {
    for (const node of v.nodes) {
      let el = null;
      const last = node.target[node.target.length - 1];
      try {
        el = document.querySelector(Array.isArray(last) ? last.at(-1) : last);
      } catch (e) {}
      if (el && ignore.some(([id, sel]) => id === v.id && el.closest(sel))) {
        continue;
      }
      found.push({id: v.id, impact: node.impact || v.impact || "minor",
                  target: node.target.flat().join(" "), help: v.help});
    }
  }
  return found;
}
"""


def axe_script() -> str:
    """axe-core's script, as bundled by axe-playwright-python."""
    from axe_playwright_python.base import AXE_SCRIPT

    return AXE_SCRIPT


def run_axe(page, context: str | None = None, rules=None) -> list[dict]:
    """axe's violations on the page (or inside ``context``, a selector).

    ``rules`` limits the run to these rule ids. Returns one dict per
    offending element: ``id``, ``impact``, ``target`` and ``help``.
    """
    if not page.evaluate("() => !!window.axe"):
        page.evaluate(axe_script())
    # no preload: axe would fetch the stylesheets again, which file://
    # pages may not do (a console error)
    options = {"resultTypes": ["violations"], "preload": False}
    if rules:
        options["runOnly"] = {"type": "rule", "values": list(rules)}
    ignore = [[rule, selector] for rule, selector, _ in AXE_IGNORE]
    return page.evaluate(AXE_JS, [context, options, ignore])


def axe_problems(found: list[dict]) -> tuple[list[str], dict[str, int]]:
    """Problems (serious and critical violations, one per rule) and the
    count of lesser violations per rule."""
    problems, lesser, by_rule = [], {}, {}
    for v in found:
        by_rule.setdefault(v["id"], []).append(v)
    for rule, nodes in by_rule.items():
        worst = max(
            nodes,
            key=lambda v: (
                AXE_FAIL.index(v["impact"]) + 1
                if v["impact"] in AXE_FAIL
                else 0
            ),
        )
        if worst["impact"] in AXE_FAIL:
            problems.append(
                f"axe {rule} ({worst['impact']}): {worst['help']}; "
                f"{len(nodes)} element(s), e.g. {worst['target'][:80]}"
            )
        else:
            lesser[rule] = len(nodes)
    return problems, lesser


# -- links and images ------------------------------------------------------

COLAB = re.compile(
    r"^https://colab\.research\.google\.com/github/"
    r"[^/]+/[^/]+/blob/[^/]+/([^?#]+)"
)
# Every link's resolved address, and the page's own ids.
LINKS_JS = """
() => ({
  links: Array.from(document.querySelectorAll("a[href]"), a => a.href),
  ids: Array.from(document.querySelectorAll("[id], a[name]"),
                  el => el.id || el.getAttribute("name")),
})
"""
# Loads lazy images, waits for every image, returns those that did not
# load (their src, shortened).
IMAGES_JS = """
async () => {
  const imgs = Array.from(document.images);
  for (const img of imgs) {
    if (img.loading === "lazy") { img.loading = "eager"; }
  }
  const loaded = await Promise.all(imgs.map(async img => {
    if (!img.getAttribute("src") && !img.srcset) { return false; }
    if (img.complete && img.naturalWidth > 0) { return true; }
    try { await img.decode(); } catch (e) { return false; }
    return img.naturalWidth > 0 || /\\.svg([?#]|$)/i.test(img.src);
  }));
  return imgs.filter((img, k) => !loaded[k])
    .map(img => (img.getAttribute("src") || "(no src)").slice(0, 80));
}
"""


class _Ids(html.parser.HTMLParser):
    """Collects the ids (and <a name>s) of an HTML file."""

    def __init__(self) -> None:
        super().__init__()
        self.ids: set[str] = set()

    def handle_starttag(self, tag, attrs):
        for key, value in attrs:
            if value and (key == "id" or (key == "name" and tag == "a")):
                self.ids.add(value)


_IDS: dict[Path, set[str]] = {}


def page_ids(path: Path) -> set[str]:
    """The ids of an HTML file (cached)."""
    path = path.resolve()
    if path not in _IDS:
        parser = _Ids()
        parser.feed(path.read_text(encoding="utf-8", errors="replace"))
        _IDS[path] = parser.ids
    return _IDS[path]


def check_links(page, site: Path, path: Path, repo: Path) -> list[str]:
    """Internal links and anchors, and Colab links, of the open page."""
    found = page.evaluate(LINKS_JS)
    here, site = path.resolve(), site.resolve()
    problems = []
    for href in sorted(set(found["links"])):
        colab = COLAB.match(href)
        if colab:
            notebook = repo / unquote(colab.group(1))
            if notebook.suffix != ".ipynb" or not notebook.is_file():
                problems.append(
                    f"Colab link to {colab.group(1)}, which is not a "
                    f"notebook in {repo}"
                )
            continue
        url = urlsplit(href)
        if url.scheme != "file":
            continue  # the web (not reachable offline), mail, scripts
        target = Path(unquote(url.path)).resolve()
        name = href.split("/")[-1][:60]
        if site != target and site not in target.parents:
            problems.append(f"link leaves the site: {name}")
            continue
        if target.is_dir():
            target = target / "index.html"
        if not target.is_file():
            problems.append(f"link to a missing file: {name}")
            continue
        fragment = unquote(url.fragment)
        if not fragment or target.suffix != ".html":
            continue
        ids = set(found["ids"]) if target == here else page_ids(target)
        if fragment not in ids:
            problems.append(f"link to a missing anchor: {name}")
    return problems


def find_pages(site: Path) -> list[Path]:
    """Every HTML page of the site, outside Sphinx's asset folders."""
    return sorted(
        p
        for p in site.rglob("*.html")
        if not SKIP_FOLDERS & set(p.relative_to(site).parts)
    )


def rule_pairs(data: dict, count: int, seed: int = 0) -> list[list]:
    """``count`` (target, moved) pairs for the nearest-frame rule.

    Most are what a reader's move asks for (a frame with one control set
    to another value); the rest are arbitrary value positions, further
    from every frame than a move gets.
    """
    rng = random.Random(seed)
    n = len(data["counts"])
    pairs = []
    for k in range(count):
        moved = k % n
        if k < count - 2:
            target = list(rng.choice(data["combos"]))
            target[moved] = rng.randrange(data["counts"][moved])
        else:
            target = [rng.randrange(c) for c in data["counts"]]
        pairs.append([target, moved])
    return pairs


def check_rule(root, count: int = RULE_PAIRS) -> tuple[list[str], int]:
    """Does the page's nearest-frame rule agree with the Python one?

    Returns the disagreements and the number of pairs compared.
    """
    data = root.evaluate(RULE_DATA_JS)
    pairs = rule_pairs(data, count)
    chosen = root.evaluate(RULE_JS, pairs)
    if chosen is None:
        return ["its script exposes no ddpmExplorer.nearest to check"], 0
    problems = []
    for (target, moved), js in zip(pairs, chosen, strict=True):
        py = nearest_frame(data["combos"], data["kinds"], target, moved)
        if js != py:
            problems.append(
                f"nearest frame for {target} (control {moved} moved): the "
                f"page picks frame {js} {data['combos'][js]}, the Python "
                f"rule frame {py} {data['combos'][py]}"
            )
    return problems, len(pairs)


def announced(root, where: str) -> list[str]:
    """Does every control tell a screen reader the value shown beside it?"""
    return [
        f"{where}: control {c['name']} announces {c['announced']!r} to a "
        f"screen reader but shows {c['shown']!r} (aria-valuetext)"
        for c in root.evaluate(CONTROLS_A11Y_JS)
        if c["announced"] != c["shown"]
    ]


def check_access(root, check_state) -> list[str]:
    """Can a keyboard and a screen reader use the explorer's controls?

    Every control needs an accessible name naming its parameter, must
    announce the value shown beside it, show a focus ring when focused,
    and move on arrow keys (or, where the nearest frame of a one-step
    move is the frame shown, on End and Home); ``check_state`` then checks
    that the page followed the move.
    """
    problems = announced(root, "at start")
    for c in root.evaluate(CONTROLS_A11Y_JS):
        name = c["name"]
        if name.lower() not in c["label"].lower():
            problems.append(
                f"control {name} has no accessible name naming it "
                f"(<label for> or aria-label; it has {c['label']!r})"
            )
        if not (c["focused"] and c["ring"]):
            problems.append(f"control {name} shows no focus ring when focused")
    start = root.evaluate(STATE_JS)["controls"]
    for m, control in enumerate(start):
        widget = root.locator(f'[data-ddpm-control="{m}"]')
        up = control["index"] < control["count"] - 1
        if control["tag"] == "select":
            keys = ["ArrowDown" if up else "ArrowUp"]
        else:
            keys = [
                "ArrowRight" if up else "ArrowLeft",
                "End" if up else "Home",
            ]
        moved = False
        for key in keys:
            widget.focus()
            widget.press(key)
            where = f"{control['name']} <- key {key}"
            state = check_state(where)
            problems += announced(root, where)
            if state["controls"][m]["index"] != control["index"]:
                moved = True
                break
        if not moved:
            problems.append(
                f"control {control['name']} does not move on the "
                f"keyboard ({', '.join(keys)})"
            )
        if control["tag"] == "select":
            widget.select_option(str(control["index"]))
        else:
            widget.fill(str(control["index"]))
    return problems


def check_dark(page) -> list[str]:
    """In the theme's dark mode (switched on by the caller), is every
    explorer's text readable, and does it take the theme's background?"""
    problems = []
    for i, own in enumerate(page.locator(".ddpm-explorer").all()):
        for text, ratio in own.evaluate(CONTRAST_JS)[:3]:
            problems.append(
                f"explorer {i + 1}: in dark mode {text!r} is hard to read "
                f"(contrast {ratio:.1f}, under 4.5)"
            )
        colours = own.evaluate(BACKGROUND_JS)
        if colours:
            problems.append(
                f"explorer {i + 1}: in dark mode it keeps a background of "
                f"its own ({colours[0]}); let the theme's show through"
            )
    found = run_axe(page, ".ddpm-explorer", rules=["color-contrast"])
    for v in found[:3]:
        problems.append(
            f"in dark mode, explorer text is hard to read: {v['help']} "
            f"({v['target'][:60]})"
        )
    return problems


def check_explorer(root, name: str, shots: Path | None) -> dict:
    """Move every control of one explorer; returns problems and counts."""
    problems, moves = [], 0
    # An explorer in a collapsed block (a hidden cell output): open it, as
    # a reader would, before moving its controls.
    root.evaluate(
        "el => { for (let d = el.closest('details'); d;"
        " d = d.parentElement && d.parentElement.closest('details'))"
        " { d.open = true; } }"
    )
    if not root.is_visible():
        return {
            "problems": ["it is hidden on the page, so no reader can use it"],
            "moves": 0,
            "frames": 0,
            "controls": 0,
            "rule": "0/0",
            "redraw_ms": None,
        }
    rule_problems, pairs = check_rule(root)
    problems += rule_problems
    start = root.evaluate(STATE_JS)
    first_src = start["src"]
    grid = root.get_attribute("data-ddpm-frames") == "grid"

    def check_state(where: str) -> dict:
        state = root.evaluate(STATE_JS)
        combo = [c["index"] for c in state["controls"]]
        for c in state["controls"]:
            if c["shown"] != c["expected"]:
                problems.append(
                    f"{where}: {c['name']} shows {c['shown']!r}, its "
                    f"control stands at {c['expected']!r}"
                )
            if f"{c['name']} = {c['expected']}" not in (state["alt"] or ""):
                problems.append(f"{where}: alt text {state['alt']!r}")
        frame = root.evaluate(FRAME_JS, [combo, first_src])
        if frame is None:
            problems.append(f"{where}: the controls stand at no frame")
        elif state["src"] != frame:
            problems.append(f"{where}: the image is not the frame shown")
        if not state["decoded"]:
            problems.append(f"{where}: the image does not decode")
        return state

    check_state("at start")
    for m, control in enumerate(start["controls"]):
        widget = root.locator(f'[data-ddpm-control="{m}"]')
        changes, before = 0, root.evaluate(STATE_JS)["src"]
        order = list(range(control["count"]))
        # all values upwards from the start, then the rest, then back
        order = order[control["index"] + 1 :] + order[: control["index"]]
        for k in [*order, control["index"]]:
            if control["tag"] == "select":
                widget.select_option(str(k))
            else:
                widget.fill(str(k))
            moves += 1
            where = f"{control['name']} -> value #{k}"
            state = check_state(where)
            changed = state["src"] != before
            changes += changed
            if grid and not changed:
                problems.append(f"{where}: the image did not change")
            if grid and state["controls"][m]["index"] != k:
                problems.append(f"{where}: the control did not move")
            before = state["src"]
        if changes == 0:
            problems.append(f"moving {control['name']} never changed it")
    problems += check_access(root, check_state)
    if shots is not None:
        # the last control one step from its start, for the screenshot
        last = len(start["controls"]) - 1
        widget = root.locator(f'[data-ddpm-control="{last}"]')
        k = (start["controls"][last]["index"] + 1) % (
            start["controls"][last]["count"]
        )
        if start["controls"][last]["tag"] == "select":
            widget.select_option(str(k))
        else:
            widget.fill(str(k))
        root.screenshot(path=str(shots / f"{name}.png"))
    return {
        "problems": problems,
        "moves": moves,
        "frames": start["frames"],
        "controls": len(start["controls"]),
        # pairs on which the page's nearest-frame rule agrees with Python
        "rule": f"{max(pairs - len(rule_problems), 0)}/{pairs}",
        # what one redraw cost when the book was built (median frame)
        "redraw_ms": root.get_attribute("data-ddpm-redraw-ms"),
    }


# -- the in-page generator ----------------------------------------------------

# How long one Generate may take before the check gives up.
GENERATE_TIMEOUT_S = 180
GZIP_LEVEL = 6  # what a web server's gzip typically uses

# What a generator block shows: its state (set by its script), whether
# Generate can be pressed, the status text, and the count of finished runs.
GENERATOR_JS = """
root => {
  const part = suffix => document.getElementById(root.id + suffix);
  const api = root.ddpmBrowser || {};
  return {
    state: root.getAttribute("data-ddpm-state"),
    go_disabled: part("-go").disabled,
    status: part("-status").textContent.trim(),
    runs: api.runs || 0,
  };
}
"""
# Whether the block's run is over: finished (a run more than ``runs``)
# or failed.
GENERATED_JS = """
([id, runs]) => {
  const root = document.getElementById(id);
  const state = root.getAttribute("data-ddpm-state");
  return state === "error"
    || (state === "done" && (root.ddpmBrowser || {}).runs > runs);
}
"""
# The picture a finished run left: the canvas as a PNG, the spread of its
# pixel values (0 for a uniform canvas), and the run's sample and seconds.
PICTURE_JS = """
root => {
  const canvas = document.getElementById(root.id + "-canvas");
  const pixels = canvas.getContext("2d")
    .getImageData(0, 0, canvas.width, canvas.height).data;
  let low = 255, high = 0;
  for (let i = 0; i < pixels.length; i++) {
    if (i % 4 === 3) { continue; }  // alpha
    low = Math.min(low, pixels[i]);
    high = Math.max(high, pixels[i]);
  }
  const api = root.ddpmBrowser || {};
  const sample = Array.from(api.sample || []);
  return {
    image: canvas.toDataURL(),
    spread: high - low,
    values: sample.length,
    finite: sample.every(Number.isFinite),
    seconds: api.seconds,
  };
}
"""


def check_generators_offline(page) -> list[str]:
    """On a page opened from ``file://``: does every generator block say
    it cannot run here, with Generate disabled?

    Browsers do not let a ``file://`` page load the model, so the block
    must be in state "unavailable" and say that the page was opened from
    a file; its precomputed frames (an explorer) are checked as every
    explorer is.
    """
    problems = []
    for i, root in enumerate(page.locator(".ddpm-browser").all()):
        shown = root.evaluate(GENERATOR_JS)
        where = f"generator {i + 1} (from a file)"
        if shown["state"] != "unavailable":
            problems.append(
                f"{where}: state {shown['state']!r}, not 'unavailable' "
                f"(status: {shown['status'][:80]!r})"
            )
        if not shown["go_disabled"]:
            problems.append(f"{where}: Generate can be pressed")
        if "opened from a file" not in shown["status"]:
            problems.append(
                f"{where}: the status does not say the page was opened "
                f"from a file: {shown['status'][:80]!r}"
            )
    return problems


_GZIP: dict[Path, int] = {}


def gzip_size(path: Path) -> int:
    """The size of a file compressed with gzip -6 (cached per file)."""
    path = path.resolve()
    if path not in _GZIP:
        data = path.read_bytes()
        _GZIP[path] = len(gzip.compress(data, compresslevel=GZIP_LEVEL))
    return _GZIP[path]


def press_generate(page, root, *, seed: int) -> dict:
    """Press one block's Generate with ``seed`` and wait for the run.

    Returns what :data:`GENERATOR_JS` reads after the run, plus
    ``timed_out``.
    """
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    uid = root.get_attribute("id")
    runs = root.evaluate(GENERATOR_JS)["runs"]
    page.locator(f"#{uid}-seed").fill(str(seed))
    page.locator(f"#{uid}-go").click()
    try:
        page.wait_for_function(
            GENERATED_JS,
            arg=[uid, runs],
            timeout=GENERATE_TIMEOUT_S * 1000,
            polling=250,
        )
        timed_out = False
    except PlaywrightTimeout:
        timed_out = True
    return {**root.evaluate(GENERATOR_JS), "timed_out": timed_out}


def check_generator(page, root, where: str, fetched: list) -> dict:
    """Run one generator block twice, as a reader would.

    Picks a class other than the default and DDIM with 10 steps, presses
    Generate, and checks that the run finishes, that the canvas is shown
    and not uniform, and that a second run with the next seed draws a
    different picture. ``fetched`` collects (URL, body bytes) of the
    responses the page gets; the ones after the first press are the
    action's.

    Returns ``problems``, the class chosen, each run's ``seconds``, and
    ``fetched``: the (URL, bytes) pairs the runs fetched.
    """
    uid = root.get_attribute("id")
    problems = []
    result = {"problems": problems, "seconds": [], "fetched": []}
    shown = root.evaluate(GENERATOR_JS)
    if shown["state"] != "idle" or shown["go_disabled"]:
        problems.append(
            f"{where}: over HTTP it is not ready to generate (state "
            f"{shown['state']!r}: {shown['status'][:100]!r})"
        )
        return result
    classes = page.locator(f"#{uid}-class")
    default = classes.input_value()
    values = classes.evaluate("el => Array.from(el.options, o => o.value)")
    label = values[(values.index(default) + 1) % len(values)]
    classes.select_option(label)
    result["class"] = classes.evaluate(
        "el => el.options[el.selectedIndex].textContent"
    )
    page.locator(f"#{uid}-steps").select_option("10")
    seed = int(page.locator(f"#{uid}-seed").input_value())
    start = len(fetched)
    pictures = []
    for run, run_seed in enumerate([seed, (seed + 1) % 2**32], start=1):
        done = press_generate(page, root, seed=run_seed)
        if done["timed_out"]:
            problems.append(
                f"{where}: run {run} did not finish in "
                f"{GENERATE_TIMEOUT_S} s (state {done['state']!r}: "
                f"{done['status'][:100]!r})"
            )
            break
        if done["state"] == "error":
            problems.append(
                f"{where}: run {run} ended in an error: {done['status']}"
            )
            break
        picture = root.evaluate(PICTURE_JS)
        result["seconds"].append(picture["seconds"])
        pictures.append(picture)
        if not page.locator(f"#{uid}-canvas").is_visible():
            problems.append(f"{where}: run {run} left its canvas hidden")
        if picture["spread"] == 0 or not picture["finite"]:
            problems.append(
                f"{where}: run {run} drew a uniform picture (sample of "
                f"{picture['values']} values, all finite: "
                f"{picture['finite']})"
            )
    if len(pictures) == 2 and pictures[0]["image"] == pictures[1]["image"]:
        problems.append(
            f"{where}: seeds {seed} and {(seed + 1) % 2**32} drew the "
            "same picture"
        )
    result["fetched"] = fetched[start:]
    return result


def check_generators_served(
    context, site: Path, path: Path, shots: Path | None = None
) -> tuple[list[str], list[dict]]:
    """Serve the site over HTTP on 127.0.0.1, open the page there, and
    run each of its generator blocks (:func:`check_generator`).

    Every request must go to that local server (any other is blocked and
    reported); the page must throw no error and log no console error.
    With ``shots``, each block is saved after its runs.

    Returns the problems and, per block, what :func:`check_generator`
    returns, with ``bytes`` (the body bytes its runs fetched) and
    ``gzip`` (what the site's files among them weigh gzip-compressed).
    """
    # imports torch: only when a page has a generator
    from ddpm_book.browser import ASSET_FOLDER, serve

    rel = path.relative_to(site).as_posix()
    stem = rel.removesuffix(".html").replace("/", "_")
    assets = (site / "_static" / ASSET_FOLDER).resolve()
    problems, results = [], []
    with serve(site) as base:
        page = context.new_page()
        page.set_default_timeout(15_000)
        errors, blocked, fetched = [], [], []

        def console(message) -> None:
            # the browser's own request for an icon the page never names
            icon = message.location.get("url") == base + "favicon.ico"
            if message.type == "error" and not icon:
                errors.append(f"console: {message.text}")

        def finished(request) -> None:
            fetched.append((request.url, request.sizes()["responseBodySize"]))

        def route(r) -> None:
            url = r.request.url
            if url.startswith(base) or url.startswith(LOCAL_SCHEMES):
                r.continue_()
            else:
                blocked.append(url)
                r.abort()

        page.on("pageerror", lambda e: errors.append(f"page error: {e}"))
        page.on("console", console)
        page.on("requestfinished", finished)
        page.route("**/*", route)
        page.goto(base + rel, wait_until="load")
        page.wait_for_load_state("networkidle")
        for i, root in enumerate(page.locator(".ddpm-browser").all()):
            result = check_generator(
                page, root, f"generator {i + 1} (over HTTP)", fetched
            )
            result["bytes"] = sum(size for _, size in result["fetched"])
            result["gzip"] = 0
            for url, _ in result["fetched"]:
                local = (site / unquote(urlsplit(url).path[1:])).resolve()
                if assets in local.parents and local.is_file():
                    result["gzip"] += gzip_size(local)
            problems += result["problems"]
            results.append(result)
            if shots is not None:
                shot = shots / f"{stem}_generator{i + 1}.png"
                root.screenshot(path=str(shot))
        page.close()
    problems += errors + [f"blocked request: {u}" for u in blocked]
    return problems, results


def generator_summary(results: list[dict]) -> str:
    """The page line's part on its generator blocks: per block the class
    run, each run's seconds, and what Generate fetched."""
    return f"{len(results)} generator(s): " + ", ".join(
        f"class {r.get('class', '?')} with DDIM 10 steps, run in "
        + (" and ".join(f"{s:.1f} s" for s in r["seconds"]) or "-")
        + f", Generate fetched {r['bytes'] / 1e6:.1f} MB "
        f"({r['gzip'] / 1e6:.1f} MB with gzip -{GZIP_LEVEL})"
        for r in results
    )


def check_page(context, site: Path, path: Path, args) -> tuple[bool, str]:
    """Open one page and check it; returns (ok, one summary line)."""
    rel = path.relative_to(site).as_posix()
    page = context.new_page()
    page.set_default_timeout(15_000)  # a control that cannot be moved
    errors, blocked = [], []
    page.on("pageerror", lambda e: errors.append(f"page error: {e}"))
    page.on(
        "console",
        lambda m: m.type == "error" and errors.append(f"console: {m.text}"),
    )

    def route(r):
        if r.request.url.startswith(LOCAL_SCHEMES):
            r.continue_()
        else:
            blocked.append(r.request.url)
            r.abort()

    page.route("**/*", route)
    page.goto(path.resolve().as_uri(), wait_until="load")
    page.wait_for_load_state("networkidle")
    math = page.evaluate(MATH_JS)
    problems = []
    if math["math"] and not math["loaded"]:
        problems.append("the page has math but MathJax did not load")
    elif math["missing"]:
        problems.append(f"math not typeset: {math['missing']}")
    if math["errors"]:
        problems.append(f"MathJax errors: {math['errors']}")

    raw_tex = page.evaluate(RAW_TEX_JS)
    if raw_tex:
        problems.append(
            f"TeX left in the text ({len(raw_tex)} place(s); does a line "
            f"inside $$ start with '- '?): {raw_tex[:3]}"
        )

    broken = page.evaluate(IMAGES_JS)
    if broken:
        problems.append(f"{len(broken)} image(s) do not load: {broken[:3]}")
    problems += check_links(page, site, path, Path(args.repo))
    axe_found, axe_lesser = axe_problems(run_axe(page))
    problems += axe_found

    no_alt = page.evaluate(ALT_JS)
    if no_alt:
        problems.append(
            f"{len(no_alt)} figure(s) without alternative text (set the "
            'cell metadata "mystnb": {"image": {"alt": ...}}): '
            f"{no_alt[:3]}"
        )

    explorers = page.locator(".ddpm-explorer")
    shots = Path(args.screenshots) if args.screenshots else None
    stem = rel.removesuffix(".html").replace("/", "_")
    found = []
    for i in range(explorers.count()):
        result = check_explorer(
            explorers.nth(i), f"{stem}_explorer{i + 1}", shots
        )
        found.append(result)
        problems += [f"explorer {i + 1}: {p}" for p in result["problems"]]
    generators = page.locator(".ddpm-browser").count()
    if generators:
        problems += check_generators_offline(page)

    size = path.stat().st_size + sum(
        Path(src).stat().st_size
        for src in page.evaluate(
            "() => Array.from(document.images, i => i.src)"
            ".filter(s => s.startsWith('file:'))"
            ".map(s => decodeURIComponent(new URL(s).pathname))"
        )
        if Path(src).is_file()
    )
    if size > args.max_page_mb * 1e6:
        problems.append(
            f"{size / 1e6:.1f} MB, over {args.max_page_mb} MB: give its "
            f"explorers fewer frames or a lower dpi"
        )
    if shots is not None:
        page.evaluate("window.scrollTo(0, 0)")
        page.screenshot(
            path=str(shots / f"{stem}.png"), full_page=True, timeout=60_000
        )
    if found or shots is not None:
        page.emulate_media(color_scheme="dark")
        page.evaluate(DARK_JS, True)
        if found:
            problems += check_dark(page)
        if shots is not None:
            page.evaluate("window.scrollTo(0, 0)")
            page.screenshot(
                path=str(shots / f"{stem}_dark.png"),
                full_page=True,
                timeout=60_000,
            )
            for i in range(explorers.count()):
                explorers.nth(i).screenshot(
                    path=str(shots / f"{stem}_explorer{i + 1}_dark.png")
                )
        page.evaluate(DARK_JS, False)
        page.emulate_media(color_scheme="light")

    page.set_viewport_size(PHONE)
    phone = page.evaluate(PHONE_JS)
    for i, over in enumerate(page.evaluate(EXPLORER_PHONE_JS)):
        if over > 1:
            problems.append(
                f"explorer {i + 1}: on a {PHONE['width']} px wide screen "
                f"its controls reach {over:.0f} px past the edge"
            )
    if phone["page"] > 1:
        problems.append(
            f"on a {PHONE['width']} px wide screen the page scrolls "
            f"sideways by {phone['page']} px"
        )
    if any(over > 1 for over in phone["cards"]):
        problems.append(
            f"on a {PHONE['width']} px wide screen the translation table "
            "does not fit (see _static/book.css)"
        )
    if shots is not None:
        page.screenshot(path=str(shots / f"{stem}_phone.png"), full_page=True)
    page.close()

    problems += errors + [f"blocked request: {u}" for u in blocked]
    if generators:
        served, generated = check_generators_served(context, site, path, shots)
        problems += served
    parts = [f"{size / 1e6:.2f} MB"]
    if math["math"]:
        parts.append(f"math {math['math']} typeset")
    if found:
        parts.append(
            f"{len(found)} explorer(s): "
            + ", ".join(
                f"{r['frames']} frames, {r['controls']} control(s), "
                f"{r['moves']} moves, rule agrees on {r['rule']} pairs, "
                f"redraw {r['redraw_ms']} ms"
                for r in found
            )
        )
    if generators:
        parts.append(generator_summary(generated))
    if axe_lesser:
        parts.append(
            "axe minor/moderate: "
            + ", ".join(f"{rule} x{n}" for rule, n in axe_lesser.items())
        )
    status = "ok" if not problems else "FAILED"
    line = f"{status:6} {rel}: " + "; ".join(parts)
    for problem in problems[:20]:
        line += f"\n         - {problem}"
    if len(problems) > 20:
        line += f"\n         - ... and {len(problems) - 20} more"
    return not problems, line


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line's options."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("site", nargs="?", default="_build/html")
    parser.add_argument(
        "--screenshots", help="save page and explorer screenshots here"
    )
    parser.add_argument(
        "--max-page-mb",
        type=float,
        default=4.0,
        help="heaviest page allowed, HTML plus the images it loads on "
        "opening (default 4)",
    )
    parser.add_argument(
        "--repo",
        default=".",
        help="the repository whose notebooks Colab links name (default: "
        "the current directory)",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    site = Path(args.site)
    pages = find_pages(site)
    if not pages:
        print(f"no HTML pages under {site}; build the book first")
        return 1
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        print("no Chromium found; bash scripts/setup.sh installs it")
        return 1
    if args.screenshots:
        Path(args.screenshots).mkdir(parents=True, exist_ok=True)
    from playwright.sync_api import sync_playwright

    failed = 0
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=chromium, args=CHROMIUM_ARGS
        )
        context = browser.new_context(
            viewport={"width": 1280, "height": 900}, service_workers="block"
        )
        for path in pages:
            try:
                ok, line = check_page(context, site, path, args)
            except Exception as error:  # a page that breaks the checker
                ok, line = False, f"FAILED {path}: {error!r}"
            failed += not ok
            print(line, flush=True)
        browser.close()
    print(f"{len(pages)} pages checked offline, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
