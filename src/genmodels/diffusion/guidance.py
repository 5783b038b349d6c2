"""Classifier-free guidance (Ho & Salimans 2022): one network, conditional and unconditional.

A class-conditional network is trained on labels c that are replaced by the null label ∅ with
probability p_uncond (``label_dropout``), so it predicts both ε(x | c) and ε(x | ∅). Guided
sampling replaces the prediction by

    ε̃(x, c) = (1 + w) ε(x | c) − w ε(x | ∅)        (Ho & Salimans 2022, eq. 6)

which follows the score of p(x | c) p(c | x)^w: w = 0 is plain conditional sampling, w > 0
sharpens the classes (higher class accuracy, less diversity).

Notation (code name -> paper name): ``w`` -> w, ``labels`` -> c, ``null_label`` -> ∅.

Labels live here too: `check_labels` (what a caller may pass), `drop_labels` (Alg. 1's
c ← ∅ with probability p_uncond) and `training_labels` (both, for a model's loss), and
`guidance_for` (the `Guidance` a model samples with). A model is class-conditional when its
config has ``num_classes`` K > 0 (labels 0..K−1, ∅ = K) and ``label_dropout`` p_uncond.

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
from typing import Any

import torch
from torch import Tensor

from genmodels.diffusion.draws import model_tensor
from genmodels.errors import ConfigError, InvalidInputError, NotApplicableError

__all__ = [
    "Guidance",
    "check_class_config",
    "check_labels",
    "drop_labels",
    "guidance_for",
    "guided_prediction",
    "num_classes",
    "training_labels",
]

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


# ---- labels --------------------------------------------------------------------------------


def num_classes(model: Any) -> int:
    """K > 0 for a class-conditional model (its config's ``num_classes``); 0: unconditional."""
    return int(getattr(model.config, "num_classes", 0))


def check_class_config(config: Any) -> None:
    """Raise `ConfigError` unless num_classes ≥ 0 and 0 ≤ label_dropout < 1."""
    k, p = getattr(config, "num_classes", 0), getattr(config, "label_dropout", 0.0)
    if k < 0 or not 0.0 <= p < 1.0:
        raise ConfigError(f"need num_classes >= 0 and 0 <= label_dropout < 1, got {k}, {p}")


def check_labels(model: Any, labels: Tensor | int | None, n: int) -> Tensor | None:
    """``labels`` as a long tensor ``[n]`` on ``model``'s device (an int: all the same).

    Raises:
        InvalidInputError: labels for an unconditional model, a wrong shape, or a label
            outside 0..K−1.
    """
    if labels is None:
        return None
    k = num_classes(model)
    if k == 0:
        raise InvalidInputError(
            f"{type(model).__name__} was built without classes (num_classes=0); "
            "train it with model.num_classes=K to condition on labels"
        )
    device = model_tensor(model).device
    if isinstance(labels, int) and not isinstance(labels, bool):
        labels = torch.full((n,), labels, dtype=torch.long, device=device)
    if not isinstance(labels, Tensor) or labels.dtype.is_floating_point or labels.is_complex():
        raise InvalidInputError(f"labels must be an int or an integer tensor, got {labels!r}")
    if tuple(labels.shape) != (n,):
        raise InvalidInputError(f"expected labels of shape [{n}], got {tuple(labels.shape)}")
    labels = labels.to(device=device, dtype=torch.long)
    lo, hi = (int(labels.min()), int(labels.max())) if n else (0, 0)
    if lo < 0 or hi >= k:
        got = str(lo) if lo == hi else f"{lo}..{hi}"
        raise InvalidInputError(f"labels must lie in 0..{k - 1}, got {got}")
    return labels


def drop_labels(labels: Tensor, p: float, null_label: int) -> Tensor:
    """Training labels with each replaced by ∅ with probability ``p``.

    Ho & Salimans 2022, Alg. 1: c ← ∅ with probability p_uncond, so one network learns the
    conditional and the unconditional model. Uses the global RNG (training noise).

    Example:
        >>> drop_labels(torch.tensor([0, 1, 2]), 0.0, null_label=3).tolist()
        [0, 1, 2]
    """
    drop = torch.rand(labels.shape, device=labels.device) < p
    return torch.where(drop, torch.full_like(labels, null_label), labels)


def training_labels(model: Any, labels: Tensor | None, batch: Tensor) -> Tensor | None:
    """`check_labels` then `drop_labels`: what ``model``'s loss conditions its network on."""
    labels = check_labels(model, labels, batch.shape[0])
    if labels is None:
        return None
    return drop_labels(
        labels, float(getattr(model.config, "label_dropout", 0.0)), num_classes(model)
    )


def guidance_for(model: Any, labels: Tensor | int | None, n: int, w: float = 0.0) -> Guidance:
    """The `Guidance` for sampling ``n`` draws of ``model`` with ``labels`` at strength ``w``.

    Raises:
        InvalidInputError: bad labels (see `check_labels`), guidance without labels, w < 0.
        NotApplicableError: w > 0 on a model trained without label dropout (its ∅ branch
            never learned the unconditional model).
    """
    guide = Guidance(check_labels(model, labels, n), float(w), num_classes(model))
    if guide.guided and float(getattr(model.config, "label_dropout", 0.0)) == 0.0:
        raise NotApplicableError(
            "guidance needs the unconditional model, but this one was trained with label_dropout=0"
        )
    return guide
