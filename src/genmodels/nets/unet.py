"""A small time-conditioned U-Net for images from 8×8 to 64×64 (DDPM's, scaled down).

Ho et al. 2020, App. B: residual blocks with GroupNorm and an added time embedding, a
downsampling path, a middle block with self-attention, and an upsampling path with skip
connections. Shapes in comments: B batch, C channels, H×W resolution.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from genmodels.nets.mlp import add_label_embedding, label_embedding, sinusoidal_embedding

__all__ = ["UNet"]


def _norm(channels: int) -> nn.GroupNorm:
    return nn.GroupNorm(min(8, channels), channels)


class _ResBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int, emb_dim: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.norm1, self.conv1 = _norm(c_in), nn.Conv2d(c_in, c_out, 3, padding=1)
        self.emb = nn.Linear(emb_dim, c_out)
        self.norm2, self.conv2 = _norm(c_out), nn.Conv2d(c_out, c_out, 3, padding=1)
        self.dropout = nn.Dropout(dropout)
        self.skip = nn.Conv2d(c_in, c_out, 1) if c_in != c_out else nn.Identity()

    def forward(self, x: Tensor, e: Tensor) -> Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        h = h + self.emb(e)[:, :, None, None]  # [B, C, 1, 1]
        h = self.conv2(self.dropout(F.silu(self.norm2(h))))
        return self.skip(x) + h


class _Attention(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.norm = _norm(channels)
        self.qkv = nn.Conv2d(channels, 3 * channels, 1)
        self.proj = nn.Conv2d(channels, channels, 1)

    def forward(self, x: Tensor) -> Tensor:
        B, C, H, W = x.shape
        q, k, v = self.qkv(self.norm(x)).reshape(B, 3, C, H * W).unbind(1)  # each [B, C, HW]
        h = F.scaled_dot_product_attention(q.mT, k.mT, v.mT)  # [B, HW, C]
        return x + self.proj(h.mT.reshape(B, C, H, W))


class UNet(nn.Module):
    """ε/x₀/v/velocity network for images ``[B, C, H, W]`` conditioned on a scalar c per image.

    Args:
        channels: image channels C.
        base: channels at full resolution.
        mults: channel multiplier per resolution; the image is halved between levels, so H
            and W must be divisible by 2^(len(mults) − 1).
        blocks: residual blocks per level.
        emb_dim: time-embedding size.
        dropout: dropout in residual blocks.
        num_classes: K > 0 makes the network class-conditional (a label embedding added to
            the time embedding, `LabelEmbedding`); 0: not.

    Example:
        >>> net = UNet(1, base=16, mults=(1, 2))
        >>> net(torch.randn(2, 1, 8, 8), torch.tensor([10.0, 900.0])).shape
        torch.Size([2, 1, 8, 8])
    """

    def __init__(
        self,
        channels: int,
        base: int = 64,
        mults: tuple[int, ...] = (1, 2, 2),
        blocks: int = 2,
        emb_dim: int = 256,
        dropout: float = 0.0,
        num_classes: int = 0,
    ) -> None:
        super().__init__()
        self.emb_dim = emb_dim
        self.levels = len(mults)
        self.embed = nn.Sequential(
            nn.Linear(emb_dim, emb_dim), nn.SiLU(), nn.Linear(emb_dim, emb_dim)
        )
        self.label_embed = label_embedding(num_classes, emb_dim)
        self.inp = nn.Conv2d(channels, base, 3, padding=1)
        widths = [base * m for m in mults]
        self.down = nn.ModuleList()
        skips, c = [base], base
        for level, w in enumerate(widths):
            for _ in range(blocks):
                self.down.append(_ResBlock(c, w, emb_dim, dropout))
                c = w
                skips.append(c)
            if level < self.levels - 1:
                self.down.append(nn.Conv2d(c, c, 3, stride=2, padding=1))
                skips.append(c)
        self.mid1, self.mid_attn = _ResBlock(c, c, emb_dim, dropout), _Attention(c)
        self.mid2 = _ResBlock(c, c, emb_dim, dropout)
        self.up = nn.ModuleList()
        for level, w in reversed(list(enumerate(widths))):
            for _ in range(blocks + 1):
                self.up.append(_ResBlock(c + skips.pop(), w, emb_dim, dropout))
                c = w
            if level > 0:
                self.up.append(nn.Upsample(scale_factor=2, mode="nearest"))
                self.up.append(nn.Conv2d(c, c, 3, padding=1))
        self.out = nn.Sequential(_norm(c), nn.SiLU(), nn.Conv2d(c, channels, 3, padding=1))
        nn.init.zeros_(self.out[-1].weight)
        nn.init.zeros_(self.out[-1].bias)

    def forward(self, x: Tensor, c: Tensor, labels: Tensor | None = None) -> Tensor:
        """``x``: ``[B, C, H, W]``, ``c``: ``[B]``, ``labels``: ``[B]`` long (conditional
        networks; None = ∅) → ``[B, C, H, W]``."""
        e = self.embed(sinusoidal_embedding(c, self.emb_dim).to(x.dtype))
        e = add_label_embedding(e, self.label_embed, labels, "UNet")
        h = self.inp(x)
        hs = [h]
        for layer in self.down:
            h = layer(h, e) if isinstance(layer, _ResBlock) else layer(h)
            hs.append(h)
        h = self.mid2(self.mid_attn(self.mid1(h, e)), e)
        for layer in self.up:
            if isinstance(layer, _ResBlock):
                h = layer(torch.cat([h, hs.pop()], dim=1), e)
            else:
                h = layer(h)
        return self.out(h)
