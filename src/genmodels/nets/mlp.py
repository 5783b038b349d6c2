"""A time/noise-conditioned MLP for vector data: f(x, c) with c a scalar per sample (t or log σ).

Optionally class-conditional: `LabelEmbedding` adds a learned vector per class (and one for the
null label ∅ of classifier-free guidance) to the time embedding.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from genmodels.errors import InvalidInputError

__all__ = ["LabelEmbedding", "TimeMLP", "sinusoidal_embedding"]


def sinusoidal_embedding(c: Tensor, dim: int, max_period: float = 10_000.0) -> Tensor:
    """Transformer positional features of a scalar: [cos(c ωₖ), sin(c ωₖ)], ωₖ = P^{−k/(dim/2)}.

    Used for diffusion times by Ho et al. 2020 (App. B). ``c``: ``[B]`` → ``[B, dim]``.
    Feed c on a scale of ~1000 (e.g. 1000·t, or a DDPM timestep index).

    Example:
        >>> sinusoidal_embedding(torch.tensor([0.0, 500.0]), 8).shape
        torch.Size([2, 8])
    """
    half = dim // 2
    omega = torch.exp(-math.log(max_period) * torch.arange(half, device=c.device) / half)
    angles = c.float()[:, None] * omega[None, :]  # [B, half]
    return torch.cat([angles.cos(), angles.sin()], dim=-1)  # [B, dim]


class LabelEmbedding(nn.Module):
    """A learned embedding of class labels 0..K−1 plus the null label ∅ = K (Ho & Salimans 2022).

    Added to the time embedding of a conditional network. ``labels=None`` means ∅ for the whole
    batch: the unconditional model that classifier-free guidance contrasts with.

    Args:
        num_classes: K, the number of classes (the table has K + 1 rows; the last is ∅).
        dim: embedding size (the time embedding's).

    Example:
        >>> emb = LabelEmbedding(10, 8)
        >>> emb(torch.tensor([3, 10]), batch=2).shape, emb(None, batch=5).shape
        (torch.Size([2, 8]), torch.Size([5, 8]))
    """

    def __init__(self, num_classes: int, dim: int) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.table = nn.Embedding(num_classes + 1, dim)

    @property
    def null_label(self) -> int:
        """The index of ∅."""
        return self.num_classes

    def forward(self, labels: Tensor | None, batch: int) -> Tensor:
        """``labels``: ``[B]`` long in 0..K (K = ∅) or None (all ∅) → ``[B, dim]``."""
        if labels is None:
            labels = torch.full((batch,), self.null_label, device=self.table.weight.device)
        return self.table(labels)


def label_embedding(num_classes: int, dim: int) -> LabelEmbedding | None:
    """A `LabelEmbedding` when ``num_classes`` > 0, else None (an unconditional network)."""
    return LabelEmbedding(num_classes, dim) if num_classes > 0 else None


def add_label_embedding(
    e: Tensor, table: LabelEmbedding | None, labels: Tensor | None, owner: str
) -> Tensor:
    """Time embedding ``e`` ``[B, dim]`` plus the label embedding (conditional networks)."""
    if table is None:
        if labels is not None:
            raise InvalidInputError(f"this {owner} was built without classes (num_classes=0)")
        return e
    return e + table(labels, e.shape[0]).to(e.dtype)


class _Block(nn.Module):
    """h ← h + W₂ SiLU(W₁ SiLU(LN(h)) + E e): a pre-norm residual block with the embedding added."""

    def __init__(self, width: int, emb_dim: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(width)
        self.fc1 = nn.Linear(width, width)
        self.emb = nn.Linear(emb_dim, width)
        self.fc2 = nn.Linear(width, width)

    def forward(self, h: Tensor, e: Tensor) -> Tensor:
        u = self.fc1(nn.functional.silu(self.norm(h))) + self.emb(e)
        return h + self.fc2(nn.functional.silu(u))


class TimeMLP(nn.Module):
    """Residual MLP predicting a vector from (x, c): the network of every 2-D diffusion model.

    Args:
        dim: size of x (and of the output unless ``out_dim`` is given).
        width: hidden width.
        depth: number of residual blocks.
        emb_dim: size of the sinusoidal embedding of c.
        out_dim: output size (default ``dim``).
        num_classes: K > 0 makes the network class-conditional (`LabelEmbedding`); 0: not.

    Example:
        >>> net = TimeMLP(2, width=64, depth=2)
        >>> net(torch.randn(5, 2), torch.rand(5) * 1000).shape
        torch.Size([5, 2])
    """

    def __init__(
        self,
        dim: int,
        width: int = 256,
        depth: int = 3,
        emb_dim: int = 128,
        out_dim: int | None = None,
        num_classes: int = 0,
    ) -> None:
        super().__init__()
        self.emb_dim = emb_dim
        self.embed = nn.Sequential(
            nn.Linear(emb_dim, emb_dim), nn.SiLU(), nn.Linear(emb_dim, emb_dim)
        )
        self.label_embed = label_embedding(num_classes, emb_dim)
        self.inp = nn.Linear(dim, width)
        self.blocks = nn.ModuleList(_Block(width, emb_dim) for _ in range(depth))
        self.out = nn.Sequential(nn.LayerNorm(width), nn.SiLU(), nn.Linear(width, out_dim or dim))

    def forward(self, x: Tensor, c: Tensor, labels: Tensor | None = None) -> Tensor:
        """``x``: ``[B, dim]``, ``c``: ``[B]`` (noise conditioning), ``labels``: ``[B]`` long
        (class-conditional networks; None = ∅) → ``[B, out_dim]``."""
        e = self.embed(sinusoidal_embedding(c, self.emb_dim).to(x.dtype))
        e = add_label_embedding(e, self.label_embed, labels, "TimeMLP")
        h = self.inp(x)
        for block in self.blocks:
            h = block(h, e)
        return self.out(h)
