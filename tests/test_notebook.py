"""Notebook helpers: library source shown with a link to its reference."""

import importlib
import inspect
import re
from pathlib import Path

import ddpm_lib as dl
from ddpm_book.notebook import API_MODULES, api_anchor, show_source
from ddpm_lib.training.step import build_step

ROOT = Path(__file__).resolve().parents[1]
API_PAGE = ROOT / "book" / "api.md"


def documented() -> set[str]:
    """Full names of what book/api.md documents with autodoc.

    ``.. automodule:: m`` with ``:members: a, b`` documents m.a and m.b;
    with a bare ``:members:``, every name of ``m.__all__``.
    """
    text = API_PAGE.read_text()
    names = set()
    blocks = re.findall(
        r"^\.\. automodule:: (\S+)\n((?:   .*\n)*)", text, flags=re.M
    )
    for module_name, options in blocks:
        names.add(f"module-{module_name}")
        members = re.search(r":members:(.*(?:\n {13}.*)*)", options)
        assert members, f"{module_name}: no :members: option"
        listed = [m for m in re.split(r"[\s,]+", members.group(1)) if m]
        if not listed:
            listed = importlib.import_module(module_name).__all__
        names |= {f"{module_name}.{m}" for m in listed}
    return names


def public_objects() -> list[object]:
    objects = []
    for module_name in API_MODULES:
        module = importlib.import_module(module_name)
        objects += [getattr(module, name) for name in module.__all__]
    return objects


def test_show_source_links_to_the_api_reference():
    code = show_source(dl.q_sample)
    assert "def q_sample(" in code.data  # the source, as before
    html = code._repr_html_()
    assert (
        '<a href="api.html#ddpm_lib.diffusion.forward.q_sample">'
        "<code>ddpm_lib.diffusion.forward.q_sample</code></a>"
    ) in html
    assert 'href="api.html#module-ddpm_lib.diffusion.interop"' in (
        show_source(dl.interop)._repr_html_()
    )


def test_what_the_reference_leaves_out_gets_no_link():
    assert api_anchor(build_step) is None  # not public
    code = show_source(build_step)
    assert "def build_step(" in code.data
    assert "api.html" not in code._repr_html_()


def test_every_link_points_at_an_entry_of_the_api_page():
    anchors = {api_anchor(obj) for obj in public_objects()} - {None}
    assert "ddpm_lib.diffusion.schedules.Schedule" in anchors
    missing = sorted(anchors - documented())
    assert not missing, f"book/api.md does not document {missing}"


def test_the_api_page_documents_every_public_name_once():
    names = documented()
    for obj in public_objects():
        if inspect.isfunction(obj) or inspect.isclass(obj):
            assert f"{obj.__module__}.{obj.__qualname__}" in names, obj
    text = API_PAGE.read_text()
    modules = re.findall(r"^\.\. automodule:: (\S+)$", text, flags=re.M)
    assert len(modules) == len(set(modules)), "a module documented twice"
    assert "PRESETS" in text
