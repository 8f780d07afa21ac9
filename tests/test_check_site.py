"""The browser check of the built site catches what a reader would see.

Each check of ``scripts/check_site.py`` that looks at a page's text is run
in Chromium on a planted page that has the fault, and on one without it.
"""

import base64

import pytest
from conftest import check_site_module, chromium

# What the posterior chapter once rendered: a `$$` block whose inner line
# began with "- ", so Markdown closed the paragraph and made a list item.
BROKEN = r"""
<article>
<p>For Gaussian data the two agree:
$\operatorname{Var}(x_{t-1} \mid x_t) = \operatorname{Var}(x_{t-1})</p>
<ul><li>\operatorname{Cov}^2 / \operatorname{Var}(x_t) = 1 - \alpha_t</li></ul>
</article>
"""
# The same content typeset, plus TeX-looking text where it belongs: code,
# a code block, and the source MathJax keeps beside its output.
CLEAN = r"""
<article>
<p>For Gaussian data the two agree:
<span class="math notranslate nohighlight">\(\operatorname{Var}(x)\)</span>
and <code>sched.alpha_bar[t]</code> is <code>\bar\alpha_t</code>.</p>
<div class="highlight"><pre>x_{t-1} = "\\frac"  # $x$</pre></div>
<p>Costs are quoted in bits per dimension, e.g. 0.3 bits/dim.</p>
</article>
"""


def _raw_tex(html: str) -> list[str]:
    sync_api, path = chromium()
    check_site = check_site_module()
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=path, args=["--no-sandbox"]
        )
        page = browser.new_page()
        page.set_content(f"<html><body>{html}</body></html>")
        found = page.evaluate(check_site.RAW_TEX_JS)
        browser.close()
    return found


def test_tex_left_in_prose_is_found():
    found = _raw_tex(BROKEN)
    assert len(found) == 2, found
    assert r"$\operatorname{Var}" in found[0]
    assert r"\operatorname{Cov}^2" in found[1]


def test_typeset_math_and_code_are_not_flagged():
    assert _raw_tex(CLEAN) == []


# -- one browser for the planted pages below ----------------------------------


@pytest.fixture
def page(browser):
    page = browser.new_page()
    yield page
    page.close()


# A 2 x 1 PNG.
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAIAAAABCAIAAAB7QOjdAAAADUlEQVR4nGP4zwAE/wEHAAH/"
    "4iOeWQAAAABJRU5ErkJggg=="
)


def test_broken_links_anchors_and_colab_links_are_found(page, tmp_path):
    check_site = check_site_module()
    repo = tmp_path / "repo"
    site = repo / "_build" / "html"
    (site / "book").mkdir(parents=True)
    (repo / "book").mkdir()
    (repo / "book" / "forward.ipynb").write_text("{}")
    (site / "book" / "b.html").write_text('<h1 id="there">B</h1>')
    colab = (
        "https://colab.research.google.com/github/ddpm-book/ddpm-book/"
        "blob/v0.2.0/book/"
    )
    links = [
        "b.html",  # fine
        "b.html#there",  # fine
        "./",  # a folder without index.html
        "#here",  # fine: an id of this page
        "b.html#nowhere",
        "missing.html",
        "#gone",
        "../../../README.html",
        f"{colab}forward.ipynb",  # fine
        f"{colab}reverse.ipynb",
        "https://example.org/",  # the web: not checked offline
    ]
    body = "".join(f'<a href="{href}">x</a>' for href in links)
    page_path = site / "book" / "a.html"
    page_path.write_text(f'<p id="here">{body}</p>')
    page.goto(page_path.as_uri())
    problems = check_site.check_links(page, site, page_path, repo)
    assert sorted(problems) == sorted(
        [
            "link to a missing file: ",
            "link to a missing anchor: b.html#nowhere",
            "link to a missing file: missing.html",
            "link to a missing anchor: a.html#gone",
            "link leaves the site: README.html",
            "Colab link to book/reverse.ipynb, which is not a notebook "
            f"in {repo}",
        ]
    ), problems


def test_images_that_do_not_load_are_found(page, tmp_path):
    check_site = check_site_module()
    (tmp_path / "good.png").write_bytes(PNG)
    (tmp_path / "page.html").write_text(
        '<div style="height:5000px"></div>'
        '<img src="good.png" alt="a" loading="lazy">'  # below the fold
        '<img src="missing.png" alt="b" loading="lazy">'
        f'<img src="data:image/png;base64,{base64.b64encode(PNG).decode()}"'
        ' alt="c"><img src="broken.png" alt="d">'
    )
    (tmp_path / "broken.png").write_bytes(b"not a png")
    page.goto((tmp_path / "page.html").as_uri())
    assert page.evaluate(check_site.IMAGES_JS) == ["missing.png", "broken.png"]


AXE_BROKEN = """
<html lang="en"><head><title>t</title></head><body><main>
<h1>Page</h1>
<img src="data:," class="logo">
<button></button>
<p>fine text</p>
</main></body></html>
"""
AXE_CLEAN = """
<html lang="en"><head><title>t</title></head><body><main>
<h1>Page</h1>
<img src="data:," alt="a logo">
<button>Search</button>
<p>fine text</p>
</main></body></html>
"""


def test_axe_fails_a_page_on_serious_violations(page, monkeypatch):
    check_site = check_site_module()
    page.set_content(AXE_BROKEN)
    problems, _ = check_site.axe_problems(check_site.run_axe(page))
    assert len(problems) == 2, problems
    problems.sort()
    assert problems[0].startswith("axe button-name (critical)")
    assert problems[1].startswith("axe image-alt (critical)")
    page.set_content(AXE_CLEAN)
    assert check_site.axe_problems(check_site.run_axe(page))[0] == []
    # a rule switched off for one selector stays on elsewhere
    page.set_content(AXE_BROKEN)
    monkeypatch.setattr(
        check_site, "AXE_IGNORE", [("image-alt", ".logo", "the theme's")]
    )
    problems, _ = check_site.axe_problems(check_site.run_axe(page))
    assert len(problems) == 1 and "button-name" in problems[0]


def test_default_page_limit_is_4_mb_and_repo_is_here():
    args = check_site_module().parse_args([])
    assert args.max_page_mb == 4
    assert args.repo == "."
