"""Compaction of a compiled NUTS sub-tree: with many chains, once few are still building their
tree, only those rows are computed (`SubtreeCompactor`, used by `genmodels.mcmc.nuts`)."""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["SubtreeCompactor"]


class SubtreeCompactor:
    """The rows a compiled sub-tree's leaves run on: once few of the batch's chains are
    still building, those move into a smaller batch (a power of two of rows, padded with
    chains that stopped, which a leaf leaves as they are) and the rest wait in the full
    packed sub-tree until the end. A compiled graph has fixed shapes, so without this
    every chain's leapfrog step is computed until the batch's deepest tree ends; each
    batch size met is one more graph to compile.

    ``fixed`` are the per-chain arguments of the leaves step (``done``, the signed step,
    the inverse mass, the initial energy) for the rows in use; `rows_of` picks the same
    rows of the multinomial draws.
    """

    def __init__(self, fixed: tuple[Tensor, ...], below: float, min_rows: int) -> None:
        self.all_fixed, self.fixed = fixed, fixed
        self.below, self.min_rows = below, min_rows
        self.idx: Tensor | None = None  # rows in use, as indices into the full batch
        self.full: tuple[Tensor, Tensor] | None = None

    def update(self, state: tuple[Tensor, Tensor]) -> tuple[Tensor, Tensor] | None:
        """The state to run the next leaves on, compacted if few rows are still building;
        None when no chain is (the sub-tree is finished: one host sync per call)."""
        packed = state[0]
        active = ~self.fixed[0] & (packed[:, -2] == 0) & (packed[:, -1] == 0)
        count = int(active.sum())
        if count == 0:
            return None
        size = max(1 << (count - 1).bit_length(), self.min_rows)
        if size > self.below * packed.shape[0]:
            return state
        keep = torch.sort((~active).to(torch.uint8), stable=True).indices[:size]
        self.full = self.finish(state)
        self.idx = keep if self.idx is None else self.idx[keep]
        self.fixed = tuple(t[self.idx] for t in self.all_fixed)
        return self.full[0][self.idx], self.full[1][:, :, self.idx]

    def rows_of(self, u: Tensor) -> Tensor:
        """The draws ``[leaves, chains]`` of the rows in use."""
        return u if self.idx is None else u[:, self.idx]

    def finish(self, state: tuple[Tensor, Tensor]) -> tuple[Tensor, Tensor]:
        """The full batch's packed sub-tree with the rows in use written back."""
        if self.idx is None or self.full is None:
            return state
        packed, ckpt = self.full
        return packed.index_copy(0, self.idx, state[0]), ckpt.index_copy(2, self.idx, state[1])
