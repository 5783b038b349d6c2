"""Classifier-free guidance (Ho & Salimans 2022): one network, conditional and unconditional.

A class-conditional network is trained on labels c that are replaced by the null label ∅ with
probability p_uncond (``label_dropout``), so it predicts both ε(x | c) and ε(x | ∅). Guided
sampling replaces the prediction by

    ε̃(x, c) = (1 + w) ε(x | c) − w ε(x | ∅)        (Ho & Salimans 2022, eq. 6)

which follows the score of p(x | c) p(c | x)^w: w = 0 is plain conditional sampling, w > 0
sharpens the classes (higher class accuracy, less diversity).

Notation (code name -> paper name): ``w`` -> w, ``labels`` -> c, ``null_label`` -> ∅.

Which prediction is guided does not matter. A sampler consumes ε̂ (DDPM ancestral, DDIM), the
score −ε̂/σ (reverse SDE, annealed Langevin) or the denoiser D = x̂ − σ̂ ε̂ (ODE solvers); at a
fixed input and noise level each is an affine map A(ε̂) = a + b ε̂ whose coefficients do not
depend on the label, and since the weights (1 + w) and −w sum to one,
(1 + w) A(ε_c) − w A(ε_∅) = A((1 + w) ε_c − w ε_∅). So `Guidance` wraps whichever function a
sampler calls, and every sampler of a model samples the same guided model.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from genmodels.errors import InvalidInputError

__all__ = ["Guidance", "guided_prediction"]

ModelFn = Callable[..., Tensor]
"""``fn(x, t, labels=None) -> prediction``: a model's ε̂, score, denoiser or velocity."""


def guided_prediction(conditional: Tensor, unconditional: Tensor, w: float) -> Tensor:
    """(1 + w) · f(x | c) − w · f(x | ∅) (Ho & Salimans 2022, eq. 6).

    Example:
        >>> guided_prediction(torch.tensor([1.0]), torch.tensor([0.5]), 2.0)
        tensor([2.])
    """
    return conditional + w * (conditional - unconditional)


@dataclass(frozen=True)
class Guidance:
    """What a sampler's model calls are conditioned on: labels c and guidance strength w.

    ``Guidance()`` (no labels) leaves a function unchanged: unconditional sampling (for a
    class-conditional network, its ∅ branch). Calling a `Guidance` on a model function
    ``fn(x, t, labels=...)`` returns ``f(x, t)`` that a sampler can call as before.

    Attributes:
        labels: class of each sample ``[n]`` (long), or None.
        w: guidance strength (0: conditional sampling without guidance).
        null_label: the index of ∅ in the network's label table.

    Example:
        >>> fn = lambda x, t, labels=None: x * (1.0 if labels is None else labels[:, None])
        >>> guide = Guidance(torch.tensor([2, 3]), w=1.0, null_label=0)
        >>> guide(fn)(torch.ones(2, 1), torch.zeros(2)).flatten().tolist()  # 2·c − 1·∅
        [4.0, 6.0]
    """

    labels: Tensor | None = None
    w: float = 0.0
    null_label: int = 0

    def __post_init__(self) -> None:
        if not math.isfinite(self.w) or self.w < 0:
            raise InvalidInputError(f"guidance strength must be finite and >= 0, got {self.w}")
        if self.labels is None and self.w != 0:
            raise InvalidInputError("guidance needs labels (the classes to guide towards)")

    @property
    def guided(self) -> bool:
        """True when every call evaluates the network twice (conditional and ∅)."""
        return self.labels is not None and self.w != 0

    @property
    def evaluations_per_call(self) -> int:
        """Network evaluations per call of the guided function: 2 when `guided`, else 1."""
        return 2 if self.guided else 1

    def __call__(self, fn: ModelFn) -> Callable[[Tensor, Tensor], Tensor]:
        labels, w = self.labels, self.w
        if labels is None:
            return fn
        if w == 0:
            return lambda x, t: fn(x, t, labels=labels)
        null = torch.full_like(labels, self.null_label)

        def guided(x: Tensor, t: Tensor) -> Tensor:
            # one batched forward pass: the first half conditional, the second unconditional
            t2 = torch.cat([t, t]) if t.ndim > 0 else t
            out = fn(torch.cat([x, x]), t2, labels=torch.cat([labels, null]))  # [2B, *event]
            conditional, unconditional = out.chunk(2)  # each [B, *event]
            return guided_prediction(conditional, unconditional, w)

        return guided
