"""Reverse-SDE samplers in native time: predictor–corrector and Euler–Maruyama.

One signature: ``sample_X(score_fn, sde, x_T, timesteps, *, generator, callback, ...)`` with
``score_fn(x, t) -> ∇ log p_t(x)`` (``t`` of shape ``[B]``) and ``timesteps`` decreasing from
T to ε (e.g. ``torch.linspace(sde.T, sde.eps, N)``).

Notation (code name -> Song et al. 2021): ``f``, ``G`` -> f_i, G_i of the discretised forward
SDE x_{i+1} = x_i + f_i(x_i) + G_i z_i; ``s`` -> s_θ(x, t); ``snr`` -> r, the signal-to-noise
ratio of the Langevin corrector (Algorithms 2–5); ``dt`` -> Δt > 0 (time runs backwards).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Literal

import torch
from torch import Tensor

from genmodels.diffusion.parameterization import append_dims
from genmodels.diffusion.samplers.common import Callback
from genmodels.diffusion.sde import SDE
from genmodels.errors import InvalidInputError

__all__ = ["sample_euler_maruyama", "sample_pc"]

ScoreFn = Callable[[Tensor, Tensor], Tensor]
Predictor = Literal["reverse_diffusion", "euler_maruyama"]


def _noise(x: Tensor, generator: torch.Generator | None) -> Tensor:
    return torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)


def _batch_norm(v: Tensor) -> Tensor:
    """Mean over the batch of per-sample Euclidean norms (score_sde's LangevinCorrector)."""
    return v.flatten(1).norm(dim=1).mean()


@torch.no_grad()
def sample_pc(
    score_fn: ScoreFn,
    sde: SDE,
    x_T: Tensor,
    timesteps: Sequence[float] | Tensor,
    *,
    predictor: Predictor | None = "reverse_diffusion",
    corrector: Literal["langevin"] | None = "langevin",
    snr: float = 0.16,
    corrector_steps: int = 1,
    denoise: bool = True,
    generator: torch.Generator | None = None,
    callback: Callback | None = None,
) -> Tensor:
    """Predictor–corrector sampling (Song et al. 2021, Algorithm 1).

    At each t: ``corrector_steps`` Langevin steps with ε_i = 2 (r ‖z‖/‖s‖)² (Algorithm 4/5),
    then one predictor step to the next t. ``predictor=None`` is corrector-only (annealed
    Langevin along the SDE's noise levels); ``corrector=None`` is predictor-only.

    Args:
        score_fn: s_θ(x, t).
        sde: the forward SDE the score belongs to.
        x_T: a draw from the prior, ``[B, *event]``.
        timesteps: N decreasing times; each predictor step goes to the next one, the
            last to t = 0.
        predictor: "reverse_diffusion" (eq. 46), "euler_maruyama", or None.
        corrector: "langevin" or None.
        snr: r, the corrector's signal-to-noise ratio (0.16 as in score_sde for VE on CIFAR).
        corrector_steps: M, Langevin steps per noise level.
        denoise: return the last step's mean (no noise added at the end).
        generator: source of z.
        callback: ``callback(i, x)`` after each time step.

    Returns:
        x₀, same shape as ``x_T``.

    Example:
        >>> from genmodels.diffusion.sde import VPSDE
        >>> sde = VPSDE()
        >>> x = sample_pc(lambda x, t: -x, sde, torch.randn(16, 2), torch.linspace(1, 1e-3, 20))
        >>> x.shape
        torch.Size([16, 2])
    """
    if predictor is None and corrector is None:
        raise InvalidInputError("predictor–corrector needs a predictor, a corrector or both")
    ts = torch.as_tensor(timesteps, dtype=torch.float64).tolist()
    x = x_mean = x_T
    n = x.shape[0]
    for i, t in enumerate(ts):
        dt = ts[i] - (ts[i + 1] if i + 1 < len(ts) else 0.0)
        t_vec = x.new_full((n,), t)
        for _ in range(corrector_steps if corrector is not None else 0):
            s = score_fn(x, t_vec)
            z = _noise(x, generator)
            step = 2 * (snr * _batch_norm(z) / _batch_norm(s)) ** 2  # ε = 2 α (r‖z‖/‖s‖)², α = 1
            x_mean = x + step * s
            x = x_mean + (2 * step).sqrt() * z
        if predictor == "reverse_diffusion":
            f, G = sde.discretize(x, t_vec, dt)
            G = append_dims(G, x.ndim)
            x_mean = x - f + G * G * score_fn(x, t_vec)
            x = x_mean + G * _noise(x, generator)
        elif predictor == "euler_maruyama":
            g = append_dims(sde.diffusion(t_vec), x.ndim)
            # reverse SDE dx = [f − g² s] dt + g dw̄, stepped with dt = −Δt
            x_mean = x - (sde.drift(x, t_vec) - g * g * score_fn(x, t_vec)) * dt
            x = x_mean + g * dt**0.5 * _noise(x, generator)
        elif predictor is not None:
            raise InvalidInputError(f"unknown predictor {predictor!r}")
        if callback is not None:
            callback(i, x)
    return x_mean if denoise else x


def sample_euler_maruyama(
    score_fn: ScoreFn,
    sde: SDE,
    x_T: Tensor,
    timesteps: Sequence[float] | Tensor,
    *,
    denoise: bool = True,
    generator: torch.Generator | None = None,
    callback: Callback | None = None,
) -> Tensor:
    """Euler–Maruyama on the reverse SDE: `sample_pc` with that predictor and no corrector.

    Example:
        >>> from genmodels.diffusion.sde import VPSDE
        >>> x = sample_euler_maruyama(lambda x, t: -x, VPSDE(), torch.randn(4, 2), [1.0, 0.5])
        >>> x.shape
        torch.Size([4, 2])
    """
    return sample_pc(
        score_fn, sde, x_T, timesteps, predictor="euler_maruyama", corrector=None,
        denoise=denoise, generator=generator, callback=callback,
    )  # fmt: skip
