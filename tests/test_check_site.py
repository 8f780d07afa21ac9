"""The browser check of the built site catches what a reader would see.

Each check of ``scripts/check_site.py`` that looks at a page's text is run
in Chromium on a planted page that has the fault, and on one without it.
"""

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
