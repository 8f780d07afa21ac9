"""The UNet as an ONNX model, for runtimes without PyTorch (a web page).

    python -m ddpm_lib.export ddpm_lib/weights/fashion_small_cond.pt unet.onnx

The model takes ``x`` (B, C, H, W) float32, ``t`` (B,) int64 steps 1…T and,
for a class-conditional network, ``labels`` (B,) int64 (the null label for
the unconditional prediction), and returns the network's output of the
same shape as ``x``; B is free.

With ``float16=True`` (the default) the network's weights are first
rounded to float16 and stored so, each followed by a cast back to float32:
the file is half the size, the arithmetic stays float32, and the model
computes exactly what the PyTorch network with rounded weights
(:func:`float16_weights`) computes. Constants the exporter derived from
the weights or the time embedding stay float32 unless float16 holds
them exactly.

Needs the packages ``onnx`` and ``onnxscript`` (PyTorch's exporter).
"""

from __future__ import annotations

import copy
import io
import os
import warnings
from pathlib import Path

import torch
from torch import nn

from ddpm_lib.io.files import atomic_write

__all__ = ["check_exporter", "export_onnx", "float16_weights", "onnx_inputs"]

# Opset of the exported graph; onnxruntime-web 1.30 runs it.
OPSET = 18


def float16_weights(unet: nn.Module) -> nn.Module:
    """A copy of ``unet`` whose weights are rounded to float16 (kept as
    float32 tensors): the network an ONNX export with float16 weights
    runs."""
    rounded = copy.deepcopy(unet)
    with torch.no_grad():
        for tensor in [*rounded.parameters(), *rounded.buffers()]:
            if tensor.is_floating_point():
                tensor.copy_(tensor.half().float())
    return rounded


def onnx_inputs(unet: nn.Module, batch: int = 2) -> dict[str, torch.Tensor]:
    """Example inputs of the exported model, by name (CPU tensors)."""
    cfg = unet.config
    g = torch.Generator().manual_seed(0)
    size = (batch, cfg.image_channels, cfg.image_size, cfg.image_size)
    inputs = {
        "x": torch.randn(size, generator=g),
        "t": torch.arange(batch, dtype=torch.long) % 1000 + 1,
    }
    if cfg.null_label is not None:
        inputs["labels"] = torch.arange(batch) % (cfg.null_label + 1)
    return inputs


def check_exporter() -> None:
    """Raise RuntimeError, saying what to install, without the exporter."""
    missing = []
    for name in ("onnx", "onnxscript"):
        try:
            __import__(name)
        except ImportError:
            missing.append(name)
    if missing:
        raise RuntimeError(
            "exporting to ONNX needs "
            + " and ".join(missing)
            + ": pip install onnx onnxscript"
        )


def _store_float16(model) -> None:
    """Float32 initializers that float16 holds exactly become float16,
    cast back to float32 where the graph starts (in place)."""
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper

    graph = model.graph
    kept, casts = [], []
    for init in graph.initializer:
        array = numpy_helper.to_array(init)
        with np.errstate(over="ignore"):  # too large: stays float32
            half = array.astype(np.float16)
        if (
            init.data_type == TensorProto.FLOAT
            and array.size >= 16
            and np.array_equal(half.astype(np.float32), array)
        ):
            stored = numpy_helper.from_array(half, f"{init.name}.float16")
            kept.append(stored)
            casts.append(
                helper.make_node(
                    "Cast", [stored.name], [init.name], to=TensorProto.FLOAT
                )
            )
        else:
            kept.append(init)
    del graph.initializer[:]
    graph.initializer.extend(kept)
    nodes = casts + list(graph.node)
    del graph.node[:]
    graph.node.extend(nodes)


def _strip_metadata(model) -> None:
    """Drop the exporter's per-node notes (source lines, stack traces):
    a fifth of the file, and nothing a runtime reads."""
    for node in model.graph.node:
        del node.metadata_props[:]
        node.doc_string = ""
    model.graph.doc_string = ""


def export_onnx(
    unet: nn.Module,
    path: str | os.PathLike,
    *,
    float16: bool = True,
) -> Path:
    """Write ``unet`` as an ONNX model with a free batch size.

    Args:
        unet: A :class:`~ddpm_lib.networks.unet.UNet` (it is not changed).
        path: The .onnx file to write (replaced atomically).
        float16: Store the weights rounded to float16 (see the module
            docstring); False keeps them float32.

    Returns:
        The path written.
    """
    check_exporter()
    import onnx

    network = float16_weights(unet) if float16 else copy.deepcopy(unet)
    network = network.float().cpu().eval()
    inputs = onnx_inputs(network, batch=3)
    batch = torch.export.Dim("batch", min=1, max=4096)
    with torch.no_grad(), warnings.catch_warnings():
        # One batch axis shared by every input: the exporter notes that
        # it keeps a single name for it.
        warnings.filterwarnings("ignore", message=".*axis name.*")
        program = torch.onnx.export(
            network,
            tuple(inputs.values()),
            input_names=list(inputs),
            output_names=["output"],
            dynamic_shapes=tuple({0: batch} for _ in inputs),
            opset_version=OPSET,
            dynamo=True,
            optimize=True,
            verbose=False,
        )
    model = program.model_proto
    _strip_metadata(model)
    if float16:
        _store_float16(model)
    onnx.checker.check_model(model)
    buffer = io.BytesIO()
    onnx.save_model(model, buffer)
    return atomic_write(path, lambda f: f.write(buffer.getvalue()))
