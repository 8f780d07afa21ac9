"""The noise-prediction network ε_θ(x_t, t): the UNet of Ho et al. (2020).

A UNet (Ronneberger et al. 2015) in the form of the DDPM reference code
(Appendix B of arXiv:2006.11239v2): residual blocks with GroupNorm,
a sinusoidal timestep embedding added inside every block, self-attention
at low resolution, and skip connections from every encoder block to the
decoder. The network knows nothing about noise schedules: it maps
(x_t, t) to an output of x_t's shape, and the caller decides whether that
output means ε, x_0 or v.

Optionally class-conditional: a label embedding with one extra *null*
label is added to the time embedding, so one network serves conditional
and unconditional sampling (classifier-free guidance).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

import torch
import torch.nn.functional as F  # noqa: N812
from torch import Tensor, nn

from ddpm_lib.networks.embedding import timestep_embedding

__all__ = ["PRESETS", "UNet", "UNetConfig", "unet_config"]


@dataclass(frozen=True)
class UNetConfig:
    """Architecture of a :class:`UNet` (defaults: the paper's CIFAR-10 net)."""

    image_channels: int = 3  # C of the data (1 for Fashion-MNIST)
    image_size: int = 32  # H = W of the data
    base_channels: int = 128  # channels at the first resolution
    channel_mults: tuple[int, ...] = (1, 2, 2, 2)  # per resolution level
    num_res_blocks: int = 2  # residual blocks per level (encoder side)
    attn_resolutions: tuple[int, ...] = (16,)  # resolutions with attention
    dropout: float = 0.1  # inside residual blocks
    num_groups: int = 32  # GroupNorm groups; must divide every width
    num_classes: int | None = None  # class-conditional if set (+1 null)

    def __post_init__(self) -> None:
        levels = len(self.channel_mults)
        if levels < 1 or min(self.channel_mults) < 1:
            raise ValueError("channel_mults needs one positive int per level")
        if self.image_size % 2 ** (levels - 1):
            raise ValueError(
                f"image_size {self.image_size} must be divisible by "
                f"2^(levels - 1) = {2 ** (levels - 1)} to halve it "
                f"{levels - 1} times; use fewer channel_mults"
            )
        sizes = [self.image_size // 2**i for i in range(levels)]
        unreachable = sorted(set(self.attn_resolutions) - set(sizes))
        if unreachable:
            raise ValueError(
                f"attention at resolution {unreachable} is never reached: "
                f"the feature maps are {sizes}"
            )
        for width in {self.base_channels * m for m in self.channel_mults}:
            if width % self.num_groups:
                raise ValueError(
                    f"{width} channels are not divisible by num_groups = "
                    f"{self.num_groups}; choose a group count that divides "
                    "base_channels × every channel_mult"
                )
        if self.base_channels % 2:
            raise ValueError("base_channels must be even (sin | cos halves)")
        if not 0 <= self.dropout < 1:
            raise ValueError(f"dropout must be in [0, 1); got {self.dropout}")
        if self.num_classes is not None and self.num_classes < 1:
            raise ValueError("num_classes must be positive or None")

    @property
    def time_dim(self) -> int:
        """Width of the time embedding after its MLP (4 × base_channels)."""
        return 4 * self.base_channels

    @property
    def null_label(self) -> int | None:
        """The extra label meaning "no class" (for guidance)."""
        return self.num_classes

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> UNetConfig:
        fields = dict(d)
        for key in ("channel_mults", "attn_resolutions"):
            fields[key] = tuple(fields[key])
        return cls(**fields)


_FASHION = UNetConfig(
    image_channels=1,
    image_size=28,
    base_channels=64,
    channel_mults=(1, 2, 2),
    num_res_blocks=2,
    attn_resolutions=(7,),
    dropout=0.1,
    num_groups=32,
)
_SMALL = replace(_FASHION, base_channels=32, num_groups=8)
_TINY = replace(
    _FASHION,
    base_channels=16,
    channel_mults=(1, 2, 4),
    num_res_blocks=1,
    attn_resolutions=(7,),
    num_groups=8,
)

PRESETS: dict[str, UNetConfig] = {
    # Trains on a 2-core CPU: 0.7M parameters, 28 → 14 → 7.
    "tiny": _TINY,
    "tiny_cond": replace(_TINY, num_classes=10),
    # Fashion-MNIST on a GPU: 6.5M parameters, 28 → 14 → 7.
    "fashion": _FASHION,
    "fashion_cond": replace(_FASHION, num_classes=10),
    # The shipped pretrained model: 1.6M parameters, small enough for a
    # 2-core CPU to sample 64 images with DDIM-50 in the book build.
    "fashion_small": _SMALL,
    "fashion_small_cond": replace(_SMALL, num_classes=10),
    # The widths and shapes of the Annotated Diffusion UNet with dim = 28
    # that the seed blog quotes: time embedding (B, 112), first level
    # (B, 28, 28, 28); 4 groups, since 28 channels do not split into 8.
    "seed": UNetConfig(
        image_channels=1,
        image_size=28,
        base_channels=28,
        channel_mults=(1, 2, 4),
        num_res_blocks=2,
        attn_resolutions=(7,),
        dropout=0.0,
        num_groups=4,
    ),
    # Ho et al. (2020) Appendix B, CIFAR-10: 35.7M parameters.
    "cifar10_ddpm": UNetConfig(),
}


def unet_config(name: str, **changes) -> UNetConfig:
    """A preset by name, optionally with some fields changed."""
    if name not in PRESETS:
        raise ValueError(
            f"unknown UNet preset {name!r}; choose one of {sorted(PRESETS)}"
        )
    return replace(PRESETS[name], **changes)


class ResBlock(nn.Module):
    """GroupNorm → SiLU → conv, plus the time embedding, twice; residual."""

    def __init__(
        self, c_in: int, c_out: int, time_dim: int, dropout: float, groups: int
    ) -> None:
        super().__init__()
        self.norm1 = nn.GroupNorm(groups, c_in)
        self.conv1 = nn.Conv2d(c_in, c_out, 3, padding=1)
        self.time_proj = nn.Linear(time_dim, c_out)  # the seed's (B, 28)
        self.norm2 = nn.GroupNorm(groups, c_out)
        self.dropout = nn.Dropout(dropout)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1)
        nn.init.zeros_(self.conv2.weight)  # each block starts as identity
        nn.init.zeros_(self.conv2.bias)
        self.skip = (
            nn.Conv2d(c_in, c_out, 1) if c_in != c_out else nn.Identity()
        )

    def forward(self, x: Tensor, temb: Tensor) -> Tensor:
        h = self.conv1(F.silu(self.norm1(x)))  # (B, c_out, H, W)
        h = h + self.time_proj(F.silu(temb))[:, :, None, None]
        h = self.conv2(self.dropout(F.silu(self.norm2(h))))
        return self.skip(x) + h


class AttnBlock(nn.Module):
    """Single-head self-attention over the H × W positions; residual."""

    def __init__(self, channels: int, groups: int) -> None:
        super().__init__()
        self.norm = nn.GroupNorm(groups, channels)
        self.qkv = nn.Conv2d(channels, 3 * channels, 1)
        self.proj = nn.Conv2d(channels, channels, 1)
        nn.init.zeros_(self.proj.weight)
        nn.init.zeros_(self.proj.bias)

    def forward(self, x: Tensor) -> Tensor:
        b, c, h, w = x.shape
        qkv = self.qkv(self.norm(x)).reshape(b, 3, 1, c, h * w)
        # q, k, v: each (B, 1, HW, C), the head axis of one head. With 3-D
        # inputs the ONNX exporters fail or, worse, export wrong attention.
        q, k, v = qkv.transpose(-1, -2).unbind(1)
        out = F.scaled_dot_product_attention(q, k, v)  # (B, 1, HW, C)
        out = out.transpose(-1, -2).reshape(b, c, h, w)  # (B, C, H, W)
        return x + self.proj(out)


class Downsample(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, stride=2, padding=1)

    def forward(self, x: Tensor) -> Tensor:
        return self.conv(x)  # (B, C, H/2, W/2)


class Upsample(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x: Tensor) -> Tensor:
        x = F.interpolate(x, scale_factor=2.0, mode="nearest")  # (B,C,2H,2W)
        return self.conv(x)


class UNet(nn.Module):
    """ε_θ(x_t, t [, label]): (B, C, H, W) → (B, C, H, W).

    Args:
        config: The architecture; see :class:`UNetConfig` and ``PRESETS``.
    """

    def __init__(self, config: UNetConfig) -> None:
        super().__init__()
        self.config = cfg = config
        ch, groups, tdim = cfg.base_channels, cfg.num_groups, cfg.time_dim
        self.time_mlp = nn.Sequential(
            nn.Linear(ch, tdim), nn.SiLU(), nn.Linear(tdim, tdim)
        )
        self.label_emb = (
            nn.Embedding(cfg.num_classes + 1, tdim)  # + the null label
            if cfg.num_classes is not None
            else None
        )
        self.conv_in = nn.Conv2d(cfg.image_channels, ch, 3, padding=1)

        def res(c_in, c_out):
            return ResBlock(c_in, c_out, tdim, cfg.dropout, groups)

        # Encoder: every block's output is kept for a skip connection.
        self.down = nn.ModuleList()
        widths, c, size = [ch], ch, cfg.image_size
        for level, mult in enumerate(cfg.channel_mults):
            for _ in range(cfg.num_res_blocks):
                blocks = [res(c, ch * mult)]
                c = ch * mult
                if size in cfg.attn_resolutions:
                    blocks.append(AttnBlock(c, groups))
                self.down.append(nn.ModuleList(blocks))
                widths.append(c)
            if level < len(cfg.channel_mults) - 1:
                self.down.append(nn.ModuleList([Downsample(c)]))
                widths.append(c)
                size //= 2
        self.mid = nn.ModuleList([res(c, c), AttnBlock(c, groups), res(c, c)])
        # Decoder: one more block per level, each eating one skip.
        self.up = nn.ModuleList()
        for level, mult in reversed(list(enumerate(cfg.channel_mults))):
            for _ in range(cfg.num_res_blocks + 1):
                blocks = [res(c + widths.pop(), ch * mult)]
                c = ch * mult
                if size in cfg.attn_resolutions:
                    blocks.append(AttnBlock(c, groups))
                self.up.append(nn.ModuleList(blocks))
            if level > 0:
                self.up.append(nn.ModuleList([Upsample(c)]))
                size *= 2
        self.norm_out = nn.GroupNorm(groups, c)
        self.conv_out = nn.Conv2d(c, cfg.image_channels, 3, padding=1)
        nn.init.zeros_(self.conv_out.weight)
        nn.init.zeros_(self.conv_out.bias)

    def embed(self, t: Tensor, labels: Tensor | None = None) -> Tensor:
        """Time (and label) embedding, shape (B, time_dim)."""
        temb = self.time_mlp(
            timestep_embedding(t, self.config.base_channels)
        )  # (B, 4 · base_channels), the seed's (128, 112)
        if self.label_emb is not None:
            if labels is None:  # unconditional: the null label
                labels = torch.full_like(t, self.config.null_label)
            temb = temb + self.label_emb(labels)
        elif labels is not None:
            raise ValueError(
                "this UNet is unconditional (num_classes=None); use a "
                "class-conditional preset such as 'fashion_cond' for labels"
            )
        return temb

    def forward(
        self, x: Tensor, t: Tensor, labels: Tensor | None = None
    ) -> Tensor:
        """Predict from x_t (B, C, H, W) and steps t (B,) [labels (B,)]."""
        cfg = self.config
        if x.ndim != 4 or x.shape[1:] != (
            cfg.image_channels,
            cfg.image_size,
            cfg.image_size,
        ):
            raise ValueError(
                f"expected images (B, {cfg.image_channels}, "
                f"{cfg.image_size}, {cfg.image_size}); got {tuple(x.shape)}"
            )
        temb = self.embed(t, labels).to(x.dtype)
        h = self.conv_in(x)  # (B, base_channels, H, W)
        skips = [h]
        for blocks in self.down:
            h = self._run(blocks, h, temb)
            skips.append(h)
        h = self._run(self.mid, h, temb)
        for blocks in self.up:
            if isinstance(blocks[0], ResBlock):
                h = torch.cat([h, skips.pop()], dim=1)  # (B, C + C_skip, ..)
            h = self._run(blocks, h, temb)
        return self.conv_out(F.silu(self.norm_out(h)))

    @staticmethod
    def _run(blocks: nn.ModuleList, h: Tensor, temb: Tensor) -> Tensor:
        for block in blocks:
            h = block(h, temb) if isinstance(block, ResBlock) else block(h)
        return h

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())
