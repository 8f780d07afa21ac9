"""The UNet: the paper's size, the seed's shapes, conditioning, bad configs."""

import pytest
import torch

from ddpm_lib.networks.unet import PRESETS, UNet, UNetConfig, unet_config


def randomise_output(model):
    # Each block's last layer and the output conv start at zero (a new
    # block is the identity); give them weights, as training would.
    with torch.no_grad():
        for p in model.parameters():
            if p.ndim > 1 and not p.any():
                p.normal_(std=0.05)
    return model


def test_the_papers_cifar10_network_has_35_7m_parameters():
    model = UNet(PRESETS["cifar10_ddpm"])
    assert abs(model.num_parameters() - 35.7e6) < 0.1e6
    x = torch.randn(1, 3, 32, 32)
    assert model(x, torch.tensor([500])).shape == (1, 3, 32, 32)


@pytest.mark.parametrize("name", sorted(set(PRESETS) - {"cifar10_ddpm"}))
def test_every_preset_maps_x_t_to_its_own_shape(name):
    cfg = PRESETS[name]
    model = UNet(cfg)
    x = torch.randn(3, cfg.image_channels, cfg.image_size, cfg.image_size)
    labels = torch.tensor([0, 1, 2]) if cfg.num_classes else None
    out = model(x, torch.tensor([1, 500, 1000]), labels)
    assert out.shape == x.shape
    assert out.abs().max() == 0  # zero-initialised output layer


def test_the_seeds_shapes():
    # The seed quotes, for Fashion-MNIST batches of 128 and dim = 28: the
    # time embedding Tensor(128, 112), its projection Tensor(128, 28) that
    # is combined with x, and feature maps Tensor(128, 28, 28, 28).
    model = UNet(PRESETS["seed"])
    seen = {}

    def record(name):
        def hook(module, inputs, output):
            seen.setdefault(name, tuple(output.shape))  # returns None

        return hook

    block = model.down[0][0]
    block.time_proj.register_forward_hook(record("proj"))
    block.register_forward_hook(record("x"))
    t = torch.randint(1, 1001, (128,))
    assert model.embed(t).shape == (128, 112)
    with torch.no_grad():
        model(torch.randn(128, 1, 28, 28), t)
    assert seen == {"proj": (128, 28), "x": (128, 28, 28, 28)}
    assert PRESETS["seed"].num_groups == 4


def test_the_output_depends_on_t_and_on_the_label():
    cfg = unet_config("tiny_cond", dropout=0.0)
    model = randomise_output(UNet(cfg)).eval()
    x = torch.randn(2, 1, 28, 28)
    t = torch.tensor([10, 10])
    a = model(x, t, torch.tensor([1, 1]))
    later = torch.tensor([900, 900])
    assert not torch.allclose(a, model(x, later, torch.tensor([1, 1])))
    assert not torch.allclose(a, model(x, t, torch.tensor([2, 2])))
    # No labels means the null label: the unconditional model.
    null = torch.full((2,), cfg.null_label)
    torch.testing.assert_close(model(x, t), model(x, t, null))


def test_bad_configs_and_inputs_say_what_to_change():
    with pytest.raises(ValueError, match="never reached"):
        UNetConfig(image_size=32, attn_resolutions=(5,))
    with pytest.raises(ValueError, match="not divisible by num_groups"):
        unet_config("seed", num_groups=8)  # 28 channels
    with pytest.raises(ValueError, match="divisible by"):
        UNetConfig(image_size=28, channel_mults=(1, 2, 2, 2))
    with pytest.raises(ValueError, match="unknown UNet preset"):
        unet_config("huge")
    model = UNet(PRESETS["tiny"])
    with pytest.raises(ValueError, match="expected images"):
        model(torch.randn(2, 3, 28, 28), torch.tensor([1, 2]))
    with pytest.raises(ValueError, match="unconditional"):
        model(torch.randn(1, 1, 28, 28), torch.tensor([1]), torch.tensor([0]))


def test_config_round_trips_through_a_dict():
    cfg = PRESETS["fashion_cond"]
    assert UNetConfig.from_dict(cfg.to_dict()) == cfg
