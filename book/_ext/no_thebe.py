"""Leave Thebe out of the pages: this book runs no code in the browser.

Jupyter Book 1 always loads ``sphinx_thebe``. Thebe would start a Binder
kernel from a CDN script, which suits neither PyTorch (too heavy for
Binder) nor a site that must work offline; the book's explorers swap
precomputed frames instead (``ddpm_book.explorer``). Even with Thebe turned
off, sphinx-thebe 0.3 adds an inline configuration script to every page,
and this Sphinx (7.4) writes inline scripts that extensions add once the
build has started twice into each page (sphinx-togglebutton's
``var togglebuttonSelector`` is repeated too, harmlessly). Thebe's
declares ``const THEBE_JS_URL``, so its second copy throws "Identifier
'THEBE_JS_URL' has already been declared" in the browser. This extension
disconnects sphinx-thebe's page hooks, so neither copy, nor its script,
nor its Binder configuration reaches the pages. Its static files are still
copied: sphinx-thebe links its stylesheet from every page in its setup(),
and a missing file is an error in the offline browser check.
"""

# sphinx-thebe's event handlers that put something into the pages.
HOOKS = {"init_thebe_core", "update_thebe_context"}


def setup(app):
    for listeners in app.events.listeners.values():
        for listener in list(listeners):
            handler = listener.handler
            if (
                getattr(handler, "__module__", "") == "sphinx_thebe"
                and handler.__name__ in HOOKS
            ):
                app.disconnect(listener.id)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
