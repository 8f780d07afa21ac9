"""The browser check of the built site catches what a reader would see.

Each check of ``scripts/check_site.py`` that looks at a page's text is run
in Chromium on a planted page that has the fault, and on one without it.
"""

import base64
import shutil

import pytest
from conftest import browser_runtime, check_site_module, chromium, require

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


# -- the in-page generator ----------------------------------------------------


@pytest.fixture(scope="module")
def generator_site(tmp_path_factory):
    """A one-page site holding a generator block and the files it fetches,
    made as the book's build makes them (one image per run: the check
    does not depend on how many)."""
    require("onnx"), require("onnxscript")
    browser_runtime()
    import ddpm_lib as dl
    from ddpm_book import browser as br

    site = tmp_path_factory.mktemp("generator-site")
    unet, sched, config = dl.load_pretrained()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DDPM_BOOK_BUILD", "1")
        block = br.browser_sampler(unet.eval(), sched, config, steps=10, n=1)
        body = block.to_html()
    (site / "index.html").write_text(
        '<!doctype html><html lang="en" data-content_root="./"><head>'
        '<meta charset="utf-8"><title>Generator</title></head>'
        f"<body><main>{body}</main></body></html>",
        encoding="utf-8",
    )
    br.write_assets(
        site / "_static" / br.ASSET_FOLDER,
        unet,
        sched,
        config,
        source=dl.pretrained_path(),
    )
    return site


@pytest.fixture
def context(browser):
    context = browser.new_context()
    yield context
    context.close()


def test_generator_waits_from_a_file_and_runs_over_http(
    context, generator_site, tmp_path, monkeypatch
):
    check_site = check_site_module()
    index = generator_site / "index.html"
    page = context.new_page()
    page.goto(index.as_uri())
    assert check_site.check_generators_offline(page) == []
    page.close()

    # The whole page's check, which runs the generator over HTTP once; what
    # that run found is kept to look at.
    served, check_served = [], check_site.check_generators_served

    def keep(*args, **kwargs):
        served.append(check_served(*args, **kwargs))
        return served[-1]

    monkeypatch.setattr(check_site, "check_generators_served", keep)
    args = check_site.parse_args(
        [str(generator_site), "--screenshots", str(tmp_path)]
    )
    ok, line = check_site.check_page(context, generator_site, index, args)
    assert ok, line
    assert "; 1 generator(s): class Trouser with DDIM 10 steps" in line
    assert "Generate fetched" in line and "gzip -6" in line
    ((problems, (result,)),) = served
    assert problems == []
    assert result["class"] == "Trouser"  # not the default, T-shirt/top
    assert len(result["seconds"]) == 2 and min(result["seconds"]) > 0
    # Generate fetched the runtime and the model, from the site's folder
    names = {url.rsplit("/", 1)[1] for url, _ in result["fetched"]}
    assert names >= {"ort.wasm.min.js", "model.json", "unet.onnx"}
    assert "ort-wasm-simd-threaded.wasm" in names
    model = generator_site / "_static" / "ddpm-browser" / "unet.onnx"
    assert result["bytes"] > model.stat().st_size
    assert 0 < result["gzip"] < result["bytes"]
    assert (tmp_path / "index_generator1.png").stat().st_size > 0


def test_generator_ready_over_http_fails_the_file_rule(
    context, generator_site
):
    # The page over HTTP is what the file:// rule must not accept.
    from ddpm_book.browser import serve

    check_site = check_site_module()
    page = context.new_page()
    with serve(generator_site) as url:
        page.goto(url + "index.html")
        problems = check_site.check_generators_offline(page)
    page.close()
    assert len(problems) == 3, problems
    assert "state 'idle', not 'unavailable'" in problems[0]
    assert "Generate can be pressed" in problems[1]
    assert "opened from a file" in problems[2]


def test_generator_without_its_model_fails_with_its_status(
    context, generator_site, tmp_path
):
    check_site = check_site_module()
    site = tmp_path / "site"
    shutil.copytree(
        generator_site, site, ignore=shutil.ignore_patterns("unet.onnx")
    )
    problems, results = check_site.check_generators_served(
        context, site, site / "index.html"
    )
    error = [p for p in problems if "ended in an error" in p]
    assert len(error) == 1, problems
    assert error[0].startswith("generator 1 (over HTTP): run 1 ended")
    assert "The model could not load in this browser" in error[0]
    # the 404 of the model shows as a console error too
    assert any(p.startswith("console: Failed to load") for p in problems)
    assert results[0]["seconds"] == []
