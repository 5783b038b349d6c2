"""Posterior sampling with a diffusion prior: inpainting by replacement or by DPS.

Two ways to sample x ~ p(x | y), y = A(x) = Ω ⊙ x (the observed pixels), with an
unconditional DDPM ε-network as the prior; both run the ancestral reverse step (Ho et al.
2020) and differ in how they bring in y:

* ``"replacement"`` — Song et al. (2021), "Score-Based Generative Modeling through Stochastic
  Differential Equations", §5 and App. I.2: after every step *replace* the known pixels by a
  fresh forward-noised copy of the observation, q(y_t | y) = N(√ᾱ_t y, (1 − ᾱ_t) I). A few
  Langevin corrector steps per level (the score is −ε̂/σ_t), moving only the unknown pixels
  with the known ones held at y_t, let the unknown pixels agree with the known ones: the chain
  half of predictor–corrector, used for conditioning. Without the corrector, replacement is
  biased towards the prior (measured in the tests on a Gaussian). The known pixels come out
  exactly y.
* ``"dps"`` — diffusion posterior sampling, Chung et al. (2023), "Diffusion Posterior Sampling
  for General Noisy Inverse Problems", Algorithm 1: after the ancestral step, move x_{t−1}
  down the gradient of the measurement error of the denoised estimate,
  x_{t−1} ← x_{t−1} − ζ_t ∇_{x_t} ‖y − A(x̂₀(x_t))‖², x̂₀ = (x_t − σ_t ε̂(x_t))/√ᾱ_t, the
  gradient taken through the network, with ζ_t = ζ/‖y − A(x̂₀)‖ (their App. C.2; per sample).
  That is 2ζ ∇‖y − A(x̂₀)‖: the official code's ``scale`` is 2ζ. It approximates the
  likelihood p(y | x_t) by p(y | x̂₀(x_t)), so it handles any differentiable A and noisy y,
  but the known pixels are only pulled towards y, never clamped, and the posterior is only
  approximate (the tests bound the error on a Gaussian, where it is known exactly).

Notation (code → paper): ``abar`` → ᾱ_t, ``sigma`` → σ_t = √(1 − ᾱ_t), ``mask`` → Ω (1 where
observed), ``y`` → the observation, ``snr`` → r (Song et al. Alg. 5, corrector signal-to-noise
ratio), ``zeta`` → ζ' (Chung et al. App. C.2), ``x0_hat`` → x̂₀.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import ClassVar

import torch
from torch import Tensor

from genmodels.diffusion.parameterization import eps_to_x0
from genmodels.diffusion.samplers import ancestral_step, noise_like
from genmodels.errors import InvalidInputError
from genmodels.registry import Registry
from genmodels.samples import Samples

__all__ = ["DPS", "INPAINT_METHODS", "Conditioning", "Replacement", "dps_guidance", "inpaint"]

EpsModel = Callable[[Tensor, Tensor], Tensor]


class Conditioning:
    """How an inpainting method brings y into DDPM's ancestral loop: hooks around each step.

    The loop (`inpaint`) draws x_T, then per timestep runs ``corrector_steps`` Langevin steps,
    asks `predict` for ε̂, takes the ancestral step, and lets `after_step` pull x towards y;
    `finish` gives the result. A method registers its subclass in `INPAINT_METHODS`.

    Args:
        y: observations ``[B, *event]``; mask: 0/1 of ``y``'s shape (1: observed).
        zeta: DPS's step size ζ'; generator: source of all noise.
    """

    default_corrector_steps: ClassVar[int] = 0

    def __init__(self, y: Tensor, mask: Tensor, zeta: float, generator: torch.Generator | None):
        self.y, self.mask, self.zeta, self.generator = y, mask, zeta, generator

    @classmethod
    def check(cls, corrector_steps: int | None, zeta: float) -> None:
        """Raise `InvalidInputError` for options this method does not take."""

    def noise(self) -> Tensor:
        return noise_like(self.y, self.generator)

    def start(self, x_T: Tensor, abar_T: float) -> Tensor:
        return x_T

    def predict(self, eps_model: EpsModel, x: Tensor, t: Tensor, abar_t: float) -> Tensor:
        """ε̂(x_t, t) for the ancestral step."""
        with torch.no_grad():
            return eps_model(x, t)

    def after_step(self, x: Tensor, abar_prev: float) -> Tensor:
        return x

    def finish(self, x: Tensor) -> Tensor:
        return x


INPAINT_METHODS: Registry[type[Conditioning]] = Registry("inpainting method")


@INPAINT_METHODS.register("replacement")
class Replacement(Conditioning):
    """Song et al. 2021, §5 / App. I.2: known pixels replaced by q(y_t | y) after every step
    (and at the start); a Langevin corrector (default 1 step) on the unknown ones."""

    default_corrector_steps = 1

    def replace_known(self, x: Tensor, abar_t: float) -> Tensor:
        y_t = math.sqrt(abar_t) * self.y + math.sqrt(1.0 - abar_t) * self.noise()
        return self.mask * y_t + (1 - self.mask) * x

    def start(self, x_T: Tensor, abar_T: float) -> Tensor:
        return self.replace_known(x_T, abar_T)

    def after_step(self, x: Tensor, abar_prev: float) -> Tensor:
        return self.replace_known(x, abar_prev)

    def finish(self, x: Tensor) -> Tensor:
        return self.mask * self.y + (1 - self.mask) * x


@INPAINT_METHODS.register("dps")
class DPS(Conditioning):
    """Chung et al. 2023, Alg. 1: after each ancestral step, x ← x − ζ_t ∇‖y − A(x̂₀(x_t))‖²."""

    @classmethod
    def check(cls, corrector_steps: int | None, zeta: float) -> None:
        if corrector_steps:
            raise InvalidInputError("the Langevin corrector belongs to replacement, not to dps")
        if not zeta > 0:
            raise InvalidInputError(f"dps needs a step size zeta > 0, got {zeta}")

    def predict(self, eps_model: EpsModel, x: Tensor, t: Tensor, abar_t: float) -> Tensor:
        eps, self.grad = dps_guidance(eps_model, x, t, abar_t, self.y, self.mask)
        return eps

    def after_step(self, x: Tensor, abar_prev: float) -> Tensor:
        # ζ_t ∇‖r‖² = (ζ/‖r‖) 2‖r‖ ∇‖r‖ with r = y − A(x̂₀(x_t))
        return x - 2 * self.zeta * self.grad


def inpaint(
    eps_model: EpsModel,
    alphas_cumprod: Tensor,
    y: Tensor,
    mask: Tensor,
    *,
    method: str = "replacement",
    steps: int = 100,
    corrector_steps: int | None = None,
    snr: float = 0.1,
    zeta: float = 1.0,
    clip_x0: float | None = 1.0,
    generator: torch.Generator | None = None,
) -> Samples:
    """Fill in ``y`` where ``mask == 0`` with a DDPM ε-network as the prior.

    Args:
        eps_model: ε̂ = ε_θ(x_t, t) with integer timesteps ``t [B]`` (e.g. ``DDPM.predict_eps``);
            for ``"dps"`` it must be differentiable in x_t.
        alphas_cumprod: ᾱ_t of the network's schedule, ``[T]``.
        y: observations ``[B, *event]`` (values under ``mask == 0`` are ignored).
        mask: 1 where observed, 0 where missing; broadcastable to ``y``.
        method: a name in `INPAINT_METHODS`: ``"replacement"`` (+ Langevin corrector; Song
            et al. 2021) or ``"dps"`` (Chung et al. 2023, Alg. 1).
        steps: reverse steps (evenly spaced timesteps, ancestral / respaced DDPM).
        corrector_steps: Langevin corrector steps per level (default: the method's, 1 for
            replacement; 0: replacement alone).
        snr: corrector step size from the signal-to-noise ratio r (Song et al. 2021, Alg. 5).
        zeta: DPS step size ζ' (ζ_t = ζ'/‖y − A(x̂₀)‖); DPS only.
        clip_x0: clamp x̂₀ to [−c, c] in the ancestral step (images in [−1, 1]); None: no
            clamp. DPS differentiates the unclamped x̂₀ (a clamp has no gradient).
        generator: source of all noise.

    Returns:
        `Samples` ``[B, *event]`` with ``nfe`` network evaluations (a DPS evaluation also
        back-propagates through the network). Replacement: the known part is exactly ``y``;
        DPS: it is only close to ``y``.

    Raises:
        InvalidInputError: unknown method, non-positive steps or ζ, a corrector with DPS,
            a mask that is not 0/1 or does not broadcast to ``y``.

    Example:
        >>> abar = torch.linspace(0.999, 0.01, 100).cumprod(0).clamp_min(1e-4)
        >>> y, m = torch.ones(3, 4), torch.tensor([1.0, 1.0, 0.0, 0.0])
        >>> out = inpaint(lambda x, t: torch.zeros_like(x), abar, y, m, steps=10)
        >>> bool((out.x[:, :2] == 1).all())
        True
        >>> out = inpaint(lambda x, t: 0 * x, abar, y, m, method="dps", steps=10)
        >>> out.x.shape
        torch.Size([3, 4])
    """
    cls = INPAINT_METHODS.get(method)
    mask = _check(cls, steps, corrector_steps, zeta, y, mask)
    how = cls(y, mask, zeta, generator)
    if corrector_steps is None:
        corrector_steps = cls.default_corrector_steps
    start = time.perf_counter()
    ts = torch.linspace(len(alphas_cumprod) - 1, 0, steps).round().long().tolist()
    abar = alphas_cumprod.double().tolist()
    x = how.start(how.noise(), abar[ts[0]])
    nfe = 0
    for i, t in enumerate(ts):
        abar_t = abar[t]
        abar_prev = abar[ts[i + 1]] if i + 1 < len(ts) else 1.0
        sigma = math.sqrt(1.0 - abar_t)
        t_vec = torch.full((y.shape[0],), t, dtype=torch.long, device=y.device)
        for _ in range(corrector_steps):
            x = _langevin_corrector(eps_model, x, t_vec, sigma, mask, snr, how.noise())
        eps = how.predict(eps_model, x, t_vec, abar_t)
        nfe += corrector_steps + 1
        x0_hat = eps_to_x0(x, eps, math.sqrt(abar_t), sigma)
        if clip_x0 is not None:
            x0_hat = x0_hat.clamp(-clip_x0, clip_x0)
        with torch.no_grad():
            x = ancestral_step(
                x, x0_hat, abar_t, abar_prev, how.noise() if i + 1 < len(ts) else None
            )
        x = how.after_step(x, abar_prev)
    return Samples(how.finish(x).detach(), nfe=nfe, seconds=time.perf_counter() - start)


def _check(
    cls: type[Conditioning],
    steps: int,
    corrector_steps: int | None,
    zeta: float,
    y: Tensor,
    mask: Tensor,
) -> Tensor:
    """Validate the arguments; return the mask as 0/1 of ``y``'s shape and dtype."""
    if steps < 1 or (corrector_steps is not None and corrector_steps < 0):
        raise InvalidInputError("need steps >= 1 and corrector_steps >= 0")
    cls.check(corrector_steps, zeta)
    try:
        mask = mask.to(y).expand_as(y)
    except RuntimeError:
        raise InvalidInputError(
            f"mask of shape {tuple(mask.shape)} does not broadcast to y {tuple(y.shape)}"
        ) from None
    if not bool(((mask == 0) | (mask == 1)).all()):
        raise InvalidInputError("mask must hold only 0 (missing) and 1 (observed)")
    return mask


@torch.no_grad()
def _langevin_corrector(
    eps_model: EpsModel, x: Tensor, t: Tensor, sigma: float, mask: Tensor, snr: float, z: Tensor
) -> Tensor:
    """One Langevin step on the unknown pixels only, the known ones held at y_t.

    It samples p_t(x_unknown | y_t), which at t → 0 is the posterior p(x_unknown | y).
    """
    score = -(1 - mask) * eps_model(x, t) / sigma
    z = (1 - mask) * z
    # step from the batch-mean norms, as in Song et al.'s code (per-sample norms explode
    # where the score vanishes)
    z_norm = z.flatten(1).norm(dim=1).mean()
    score_norm = score.flatten(1).norm(dim=1).mean()
    if float(score_norm) == 0.0:  # nothing to follow (and the step would be 0/0)
        return x
    step = 2 * (snr * z_norm / score_norm) ** 2
    return x + step * score + (2 * step).sqrt() * z


def dps_guidance(
    eps_model: EpsModel, x_t: Tensor, t: Tensor, abar_t: float, y: Tensor, mask: Tensor
) -> tuple[Tensor, Tensor]:
    """ε̂(x_t) and ∇_{x_t} ‖y − A(x̂₀(x_t))‖ per sample, through the network (Alg. 1, line 7)."""
    with torch.enable_grad():
        x_t = x_t.detach().requires_grad_(True)
        eps = eps_model(x_t, t)
        x0_hat = (x_t - math.sqrt(1.0 - abar_t) * eps) / math.sqrt(abar_t)
        residual = (mask * (y - x0_hat)).flatten(1)  # y − A(x̂₀), [B, D]
        # Σ_b ‖r_b‖: each sample's gradient is its own (the samples do not interact)
        (grad,) = torch.autograd.grad(residual.norm(dim=1).sum(), x_t)
    return eps.detach(), grad
