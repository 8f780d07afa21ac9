"""Serve the pretrained model and its runtime from the built site itself.

The sampling chapter's generator (``ddpm_book.browser``) runs the
pretrained UNet in the reader's browser. After the pages are written, this
extension exports the network to ONNX (float16 weights) and copies
onnxruntime-web's WebAssembly build from ``node_modules`` (installed by
``scripts/setup.sh``) into ``_static/ddpm-browser``, like
``offline_mathjax`` does for MathJax. Nothing is fetched from another
host, and the runtime's files are never committed.
"""

from pathlib import Path

from sphinx.errors import ExtensionError


def _write(app, exception) -> None:
    if exception is not None or app.builder.format != "html":
        return
    import ddpm_lib as dl
    from ddpm_book.browser import ASSET_FOLDER, write_assets

    unet, sched, config = dl.load_pretrained()
    folder = Path(app.outdir) / "_static" / ASSET_FOLDER
    write_assets(
        folder,
        unet,
        sched,
        config,
        source=dl.pretrained_path(),
        root=app.confdir,
    )


def setup(app):
    from ddpm_book.browser import runtime_folder

    try:
        runtime_folder(app.confdir)  # fail early, with the fix in the message
    except FileNotFoundError as error:
        raise ExtensionError(str(error)) from None
    app.connect("build-finished", _write)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
