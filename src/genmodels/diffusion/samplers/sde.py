"""Reverse-SDE samplers in native time: predictor–corrector and Euler–Maruyama.

One signature: ``sample_X(score_fn, sde, x_T, timesteps, *, generator, callback, ...)`` with
``score_fn(x, t) -> ∇ log p_t(x)`` (``t`` of shape ``[B]``) and ``timesteps`` decreasing from
T to ε (e.g. ``torch.linspace(sde.T, sde.eps, N)``).

Notation (code name -> Song et al. 2021): ``f``, ``G`` -> f_i, G_i of the discretised forward
SDE x_{i+1} = x_i + f_i(x_i) + G_i z_i; ``s`` -> s_θ(x, t); ``snr`` -> r, the signal-to-noise
ratio of the Langevin corrector (Algorithms 2–5); ``dt`` -> Δt > 0 (time runs backwards).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal

import torch
from torch import Tensor

from genmodels.diffusion.parameterization import append_dims
from genmodels.diffusion.samplers.common import Callback, noise_like, report
from genmodels.diffusion.sde import SDE
from genmodels.diffusion.solvers import positive, register_solver
from genmodels.errors import InvalidInputError

__all__ = ["sample_euler_maruyama", "sample_pc"]

ScoreFn = Callable[[Tensor, Tensor], Tensor]
Predictor = Literal["reverse_diffusion", "euler_maruyama"]


def _check_pc(options: Mapping[str, Any]) -> None:
    """`sample_pc`'s `OptionCheck`: a predictor or a corrector, r > 0, M ≥ 1 steps."""
    if options["predictor"] is None and options["corrector"] is None:
        raise InvalidInputError("predictor–corrector needs a predictor, a corrector or both")
    positive(options, "snr")
    positive(options, "corrector_steps", integer=True)


def _batch_norm(v: Tensor) -> Tensor:
    """Mean over the batch of per-sample Euclidean norms (score_sde's LangevinCorrector)."""
    return v.flatten(1).norm(dim=1).mean()


def _report(
    callback: Callback | None, i: int, x: Tensor, sde: SDE, t: Tensor, t_next: float, s: Tensor
) -> None:
    """The `StepState` of step ``i``: x̂₀ by Tweedie from the step's score ``s`` at ``t``
    (x̂₀ = (x_t + σ_t² s)/α_t), the level σ̂ of the next time."""
    if callback is None:
        return
    alpha, sigma = (append_dims(c, x.ndim) for c in sde.marginal(t))
    sigma_next = float(sde.sigma_hat(t.new_tensor(t_next))) if t_next > 0 else 0.0
    report(callback, i, x, sigma_next, (x + sigma * sigma * s) / alpha)


def _corrector_step(
    score_fn: ScoreFn, x: Tensor, t: Tensor, snr: float, generator: torch.Generator | None
) -> tuple[Tensor, Tensor, Tensor]:
    """One Langevin corrector step (Algorithm 4/5): ε = 2 (r ‖z‖/‖s‖)², α = 1.

    Returns (x, its mean, the score used)."""
    s = score_fn(x, t)
    z = noise_like(x, generator)
    step = 2 * (snr * _batch_norm(z) / _batch_norm(s)) ** 2
    x_mean = x + step * s
    return x_mean + (2 * step).sqrt() * z, x_mean, s


def _predictor_step(
    score_fn: ScoreFn,
    sde: SDE,
    predictor: str,
    x: Tensor,
    t: Tensor,
    dt: float,
    generator: torch.Generator | None,
) -> tuple[Tensor, Tensor, Tensor]:
    """One predictor step from t to t − Δt. Returns (x, its mean, the score used)."""
    s = score_fn(x, t)
    if predictor == "reverse_diffusion":
        f, G = sde.discretize(x, t, dt)
        G = append_dims(G, x.ndim)
        x_mean = x - f + G * G * s
        return x_mean + G * noise_like(x, generator), x_mean, s
    if predictor == "euler_maruyama":
        g = append_dims(sde.diffusion(t), x.ndim)
        # reverse SDE dx = [f − g² s] dt + g dw̄, stepped with dt = −Δt
        x_mean = x - (sde.drift(x, t) - g * g * s) * dt
        return x_mean + g * dt**0.5 * noise_like(x, generator), x_mean, s
    raise InvalidInputError(f"unknown predictor {predictor!r}")


@register_solver(
    "pc", family="sde", default_steps=500, grid="uniform", config_options=("snr",),
    check=lambda o: _check_pc(o),
    description="predictor-corrector on the reverse SDE (Song et al. 2021, Alg. 1)",
)  # fmt: skip
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
        callback: ``callback(state)`` after each time step (`StepState`).

    Returns:
        x₀, same shape as ``x_T``.

    Example:
        >>> from genmodels.diffusion.sde import VPSDE
        >>> sde = VPSDE()
        >>> x = sample_pc(lambda x, t: -x, sde, torch.randn(16, 2), torch.linspace(1, 1e-3, 20))
        >>> x.shape
        torch.Size([16, 2])
    """
    _check_pc({"predictor": predictor, "corrector": corrector, "snr": snr,
               "corrector_steps": corrector_steps})  # fmt: skip
    ts = torch.as_tensor(timesteps, dtype=torch.float64).tolist()
    x = x_mean = x_T
    n = x.shape[0]
    for i, t in enumerate(ts):
        t_next = ts[i + 1] if i + 1 < len(ts) else 0.0
        t_vec = x.new_full((n,), t)
        for _ in range(corrector_steps if corrector is not None else 0):
            x, x_mean, s = _corrector_step(score_fn, x, t_vec, snr, generator)
        if predictor is not None:
            x, x_mean, s = _predictor_step(
                score_fn, sde, predictor, x, t_vec, t - t_next, generator
            )
        _report(callback, i, x, sde, t_vec, t_next, s)
    return x_mean if denoise else x


@register_solver(
    "euler_maruyama", family="sde", default_steps=500, grid="uniform",
    description="Euler-Maruyama on the reverse SDE",
)  # fmt: skip
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
