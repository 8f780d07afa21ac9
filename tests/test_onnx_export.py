"""The UNet as an ONNX model: it computes what the PyTorch network does."""

import numpy as np
import pytest
import torch
from conftest import require

import ddpm_lib as dl
from ddpm_lib.export import main as export_main
from ddpm_lib.io.onnx import export_onnx, float16_weights, onnx_inputs


@pytest.fixture(scope="module")
def exports(pretrained, tmp_path_factory):
    """The pretrained network exported twice: by the command line (float16
    weights, the default) and with float32 weights."""
    require("onnx"), require("onnxscript")
    folder = tmp_path_factory.mktemp("onnx")
    half = folder / "unet.onnx"
    assert export_main([str(dl.pretrained_path()), str(half)]) == 0
    full = export_onnx(pretrained[0], folder / "unet32.onnx", float16=False)
    return {"float16": half, "float32": full}


def run_onnx(path, inputs):
    ort = require("onnxruntime")
    session = ort.InferenceSession(str(path))
    feeds = {k: v.numpy() for k, v in inputs.items()}
    return torch.from_numpy(session.run(None, feeds)[0])


def random_inputs(batch, seed):
    g = torch.Generator().manual_seed(seed)
    return {
        "x": torch.randn(batch, 1, 28, 28, generator=g),
        "t": torch.randint(1, 1001, (batch,), generator=g),
        "labels": torch.randint(0, 11, (batch,), generator=g),  # 10 = null
    }


@pytest.mark.parametrize("weights", ["float32", "float16"])
@pytest.mark.parametrize("batch", [1, 5])
def test_onnx_model_computes_what_pytorch_computes(
    pretrained, exports, weights, batch
):
    unet = pretrained[0]
    reference = float16_weights(unet) if weights == "float16" else unet
    inputs = random_inputs(batch, seed=batch)
    inputs["t"][0] = 1000  # the ends of the time embedding
    inputs["t"][-1] = 1
    with torch.no_grad():
        expected = reference(**inputs)
    got = run_onnx(exports[weights], inputs)
    assert got.shape == expected.shape
    assert (got - expected).abs().max().item() <= 1e-4


def test_float16_export_is_about_half_the_size(exports):
    half, full = (exports[k].stat().st_size for k in ("float16", "float32"))
    assert half < 0.55 * full


def test_float16_weights_rounds_a_copy(pretrained):
    unet = pretrained[0]
    rounded = float16_weights(unet)
    for (name, p), q in zip(
        unet.named_parameters(), rounded.parameters(), strict=True
    ):
        assert torch.equal(q, p.half().float()), name
        assert q.dtype == torch.float32
    # The original keeps its weights: some float32 weight is no float16.
    assert any(not torch.equal(p, p.half().float()) for p in unet.parameters())


def test_export_of_an_unconditional_network_takes_no_labels(tmp_path):
    require("onnx"), require("onnxscript")
    unet = dl.UNet(dl.unet_config("tiny")).eval()
    torch.nn.init.normal_(unet.conv_out.weight, std=0.1)  # not all zeros
    path = export_onnx(unet, tmp_path / "tiny.onnx")
    inputs = onnx_inputs(unet, batch=3)
    assert set(inputs) == {"x", "t"}
    with torch.no_grad():
        expected = float16_weights(unet)(**inputs)
    got = run_onnx(path, inputs)
    assert expected.abs().max() > 0
    np.testing.assert_allclose(got, expected, atol=1e-5)


def test_export_command_refuses_bad_arguments(tmp_path, capsys):
    missing = tmp_path / "missing.pt"
    out = tmp_path / "unet.onnx"
    assert export_main([str(missing), str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1
    assert not out.exists()
    # --float32 only makes sense for ONNX.
    code = export_main(
        [str(dl.pretrained_path()), str(tmp_path / "m.pt"), "--float32"]
    )
    assert code == 2
    assert ".onnx" in capsys.readouterr().err
