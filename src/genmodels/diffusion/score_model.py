"""`ScoreModel`: a diffusion model around a user's own ε-, score- or denoiser-function.

Every sampler and the PF-ODE likelihood of `genmodels.diffusion` run on a `DiffusionModel`;
`ScoreModel.from_fn` makes one from a plain function and a noise process, so a user's own
network (or an analytic score) gets them all with none of the library's internal conventions:

- the function is called in the process's *native* coordinates, ``fn(x_t, t)`` with
  x_t = α_t x₀ + σ_t ε and t the process's own time — a `DiscreteSchedule`'s timestep in
  [0, T − 1] (fractional where an ODE solver asks between the training levels), an `SDE`'s
  t ∈ [ε, T], a `FlowMatchingPath`'s t ∈ [0, 1] — or, with ``coords="edm"``, in EDM
  coordinates ``fn(x̂, σ̂)`` with x̂ = x_t/α_t = x₀ + σ̂ ε (Karras et al. 2022), the natural
  form of an analytic score ∇ log (p * N(0, σ̂² I));
- ``kind`` says what it returns: ``"eps"`` (the noise ε̂), ``"score"`` (∇ log p of its
  input), ``"denoiser"`` (x̂₀ = E[x₀ | x_t]);
- the time scaling a trained network wants (999·t, c_in·x, ...) is the function's own
  business: it receives the plain time and x.

Example — the exact score of N(0, s² I) under the VP SDE, sampled and scored:

    >>> import math
    >>> from genmodels.diffusion import VPSDE
    >>> s = 2.0
    >>> def score(x_hat, sigma_hat):   # ∇ log N(x̂; 0, (s² + σ̂²) I)
    ...     return -x_hat / (s**2 + sigma_hat[:, None] ** 2)
    >>> model = ScoreModel.from_fn(score, kind="score", process=VPSDE(), event_shape=(2,),
    ...                            coords="edm")
    >>> x = model.sample(4000, sampler="dpmpp_2m", generator=torch.Generator().manual_seed(0)).x
    >>> round(float(x.std()), 1)
    2.0
    >>> lp = model.pf_ode_log_prob(torch.zeros(1, 2)).log_prob
    >>> round(float(lp), 2) == round(-math.log(2 * math.pi * s**2), 2)
    True
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor

from genmodels.diffusion.model import DiffusionModel
from genmodels.diffusion.noise import FlowMatchingPath, NoiseProcess
from genmodels.diffusion.parameterization import append_dims, eps_to_score, x0_to_eps
from genmodels.diffusion.schedules import DiscreteSchedule
from genmodels.diffusion.sde import SDE
from genmodels.diffusion.solvers import Family
from genmodels.errors import InvalidInputError, NotApplicableError

__all__ = ["ScoreFnKind", "ScoreModel", "ScoreModelConfig"]

ScoreFnKind = Literal["eps", "score", "denoiser"]
Coords = Literal["native", "edm"]


@dataclass
class ScoreModelConfig:
    """What the user's function returns (``kind``) and in which coordinates it is called."""

    kind: ScoreFnKind = "eps"
    coords: Coords = "native"


def _families(process: NoiseProcess) -> tuple[Family, ...]:
    """The solver families a process supports: its native sampler's family, the PF-ODE and
    annealed Langevin."""
    if isinstance(process, DiscreteSchedule):
        return ("discrete", "ode", "langevin")
    if isinstance(process, SDE):
        return ("sde", "ode", "langevin")
    return ("ode", "langevin")


class ScoreModel(DiffusionModel):
    """A `DiffusionModel` whose prediction is a user's function (see the module docstring).

    Build it with `from_fn`. It is not trainable (``loss`` raises `NotApplicableError`); a
    network inside ``fn`` that is an `nn.Module` is registered as ``net``, so ``.to(device)``
    moves it and the samplers draw their noise on its device.
    """

    Config = ScoreModelConfig
    default_sampler = "heun"

    def __init__(
        self,
        fn: Callable[[Tensor, Tensor], Tensor],
        process: NoiseProcess,
        event_shape: tuple[int, ...],
        config: ScoreModelConfig | None = None,
    ) -> None:
        super().__init__(config or ScoreModelConfig(), event_shape)
        if not isinstance(process, NoiseProcess):
            raise InvalidInputError(
                f"process must be a NoiseProcess (DiscreteSchedule, an SDE, FlowMatchingPath), "
                f"got {type(process).__name__}"
            )
        if not callable(fn):
            raise InvalidInputError(f"fn must be callable, got {type(fn).__name__}")
        self.fn = fn
        if isinstance(fn, torch.nn.Module):
            self.net = fn
        self._process = process
        self.families = _families(process)

    @classmethod
    def from_fn(
        cls,
        fn: Callable[[Tensor, Tensor], Tensor],
        *,
        kind: ScoreFnKind,
        process: NoiseProcess,
        event_shape: tuple[int, ...],
        coords: Coords = "native",
    ) -> ScoreModel:
        """A model sampling and scoring with ``fn``.

        Args:
            fn: ``fn(x, t) -> Tensor`` shaped like ``x`` (``x`` ``[B, *event_shape]``, ``t``
                ``[B]``): with ``coords="native"`` x = x_t and t the process's time; with
                ``coords="edm"`` x = x̂ = x_t/α_t and t = σ̂ = σ_t/α_t.
            kind: ``"eps"`` (ε̂), ``"score"`` (∇ log p of ``fn``'s own input) or
                ``"denoiser"`` (x̂₀).
            process: the noise process ``fn`` belongs to (`DiscreteSchedule`, `VPSDE`,
                `VESDE`, ..., `FlowMatchingPath`); its σ̂ range bounds every grid.
            event_shape: the shape of one sample.
            coords: ``"native"`` or ``"edm"``.
        """
        return cls(fn, process, tuple(event_shape), ScoreModelConfig(kind, coords))

    @property
    def process(self) -> NoiseProcess:
        return self._process

    def loss(self, batch: Tensor, labels: Tensor | None = None) -> Tensor:
        raise NotApplicableError("a ScoreModel wraps a given function and is not trained")

    # ---- native (α_t, σ_t) of each process ----------------------------------------------------
    def _alpha_sigma_of_sigma_hat(self, sigma_hat: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """(t, α_t, σ_t) at EDM level σ̂ (``[B]`` each)."""
        process = self.process
        t = process.sigma_hat_to_t(sigma_hat)
        if isinstance(process, SDE):
            alpha, sigma = process.marginal(t)
        elif isinstance(process, FlowMatchingPath):
            alpha, sigma = process.alpha_sigma(t)
        else:  # a variance-preserving schedule: α = 1/√(1 + σ̂²)
            alpha = (1 + sigma_hat.square()).rsqrt()
            sigma = sigma_hat * alpha
        return t, alpha, sigma

    def _alpha_sigma_of_t(self, t: Tensor) -> tuple[Tensor, Tensor]:
        process = self.process
        if isinstance(process, DiscreteSchedule):
            return (c.to(t.dtype) for c in process.alpha_sigma(t.cpu()))  # type: ignore[return-value]
        return process.marginal(t)  # type: ignore[attr-defined]

    # ---- the user's function, as x̂₀ and ε̂ -------------------------------------------------
    def _x0_eps(self, x_t: Tensor, t: Tensor, alpha: Tensor, sigma: Tensor, need: str) -> Tensor:
        """``fn``'s prediction at (x_t, t) as x̂₀ (``need="x0"``) or ε̂ (``need="eps"``)."""
        a, s = append_dims(alpha.to(x_t), x_t.ndim), append_dims(sigma.to(x_t), x_t.ndim)
        kind, edm = self.config.kind, self.config.coords == "edm"
        out = self.fn(x_t / a, (sigma / alpha).to(x_t)) if edm else self.fn(x_t, t.to(x_t))
        if kind == "score" and edm:
            out = out / a  # ∇_{x_t} = ∇_{x̂} / α
        if need == "x0":
            if kind == "denoiser":
                return out
            eps = out if kind == "eps" else -s * out
            return (x_t - s * eps) / a
        if kind == "denoiser":
            return x0_to_eps(x_t, out, alpha.to(x_t), sigma.to(x_t))
        return out if kind == "eps" else -s * out

    def denoiser(self, x_hat: Tensor, sigma_hat: Tensor, labels: Tensor | None = None) -> Tensor:
        t, alpha, sigma = self._alpha_sigma_of_sigma_hat(sigma_hat)
        x_t = append_dims(alpha.to(x_hat), x_hat.ndim) * x_hat
        return self._x0_eps(x_t, t, alpha, sigma, "x0")

    def predict_eps(self, x_t: Tensor, t: Tensor, labels: Tensor | None = None) -> Tensor:
        """ε̂(x_t, t) at a `DiscreteSchedule`'s timesteps (the ``discrete`` samplers)."""
        alpha, sigma = self._alpha_sigma_of_t(t)
        return self._x0_eps(x_t, t, alpha, sigma, "eps")

    def score(self, x_t: Tensor, t: Tensor, labels: Tensor | None = None) -> Tensor:
        """∇ log p_t(x_t) at an `SDE`'s times (the ``sde`` samplers)."""
        alpha, sigma = self._alpha_sigma_of_t(t)
        return eps_to_score(self._x0_eps(x_t, t, alpha, sigma, "eps"), sigma.to(x_t))
