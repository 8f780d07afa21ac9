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
* a figure has no alternative text (none, or only its file name);
* the page is heavier than ``--max-page-mb``;
* on a phone-sized screen (390 px wide) the page scrolls sideways, or the
  notation page's translation table (which turns into one card per row
  there) does not fit the screen.

Prints one line per page (with the median time one explorer frame took to
draw when the book was built: what a live slider costs per move on that
machine), saves a screenshot of each page and of each
explorer after its controls moved (``--screenshots DIR``), and exits with
status 1 if any page failed.

    python scripts/check_site.py _build/html --screenshots /tmp/shots

Needs Python's playwright (requirements-dev.txt) and a system Chromium
(``scripts/setup.sh`` installs it); it never downloads a browser.
"""

from __future__ import annotations

import argparse
import random
import shutil
import sys
from pathlib import Path

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
        page.screenshot(path=str(shots / f"{stem}.png"), full_page=True)

    page.set_viewport_size(PHONE)
    phone = page.evaluate(PHONE_JS)
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
    status = "ok" if not problems else "FAILED"
    line = f"{status:6} {rel}: " + "; ".join(parts)
    for problem in problems[:20]:
        line += f"\n         - {problem}"
    if len(problems) > 20:
        line += f"\n         - ... and {len(problems) - 20} more"
    return not problems, line


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("site", nargs="?", default="_build/html")
    parser.add_argument(
        "--screenshots", help="save page and explorer screenshots here"
    )
    parser.add_argument(
        "--max-page-mb",
        type=float,
        default=8.0,
        help="heaviest page allowed, HTML plus images (default 8)",
    )
    args = parser.parse_args(argv)
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
