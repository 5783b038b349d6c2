"""Training objectives: denoising and sliced score matching, ε/x₀/v regression, flow matching.

Losses take a network callable and clean data, draw what they need, and return a scalar
(the mean over the batch of a per-example loss summed over the event dimensions).

Notation (code name -> paper name): ``x_0`` -> x (clean data), ``x_t`` -> x̃ / x_t,
``eps`` -> z / ε ~ N(0, I), ``alpha``/``sigma`` -> α_t/σ_t of x_t = α_t x₀ + σ_t ε,
``weight`` -> λ(σ), ``v`` -> v = α_t ε − σ_t x₀.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import torch
from torch import Tensor

from genmodels.diffusion.draws import noise_like, uniform_like
from genmodels.diffusion.parameterization import Parameterization, append_dims, prediction_target
from genmodels.errors import InvalidInputError, NotApplicableError

__all__ = [
    "Parameterization",
    "denoising_loss",
    "dsm_loss",
    "flow_matching_loss",
    "minibatch_ot_pairing",
    "prediction_target",
    "sliced_score_matching_loss",
]

NetFn = Callable[[Tensor, Tensor], Tensor]


def _sum_event(v: Tensor) -> Tensor:
    return v.flatten(1).sum(1)  # [B]


def dsm_loss(
    score_fn: NetFn,
    x_0: Tensor,
    sigma: Tensor,
    cond: Tensor | None = None,
    *,
    alpha: Tensor | float = 1.0,
    weight: Tensor | None = None,
    eps: Tensor | None = None,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Denoising score matching with weighting λ(σ) (Vincent 2011; Song & Ermon 2019, eq. 6).

    L = E[ λ(σ) · ½ ‖s_θ(x_t, c) + ε/σ‖² ],  x_t = α x₀ + σ ε — the target −ε/σ is the score
    of the perturbation kernel. λ(σ) = σ² (the default) makes every level's term O(1);
    λ = g(t)² gives the likelihood weighting of Song et al. 2021b.

    Args:
        score_fn: s_θ(x_t, c).
        x_0: clean data ``[B, *event]``.
        sigma: σ per example ``[B]``.
        cond: what ``score_fn`` is conditioned on (default ``sigma``).
        alpha: α per example (1 for variance-exploding perturbations).
        weight: λ per example ``[B]``; default σ².
        eps: the noise ε (drawn if omitted).
        generator: for drawing ε.

    Example:
        >>> x = torch.randn(64, 2)
        >>> float(dsm_loss(lambda x, s: -x / (1 + s[:, None] ** 2), x, torch.ones(64))) > 0
        True
    """
    eps = noise_like(x_0, generator) if eps is None else eps
    s = append_dims(sigma, x_0.ndim)
    x_t = append_dims(alpha, x_0.ndim) * x_0 + s * eps
    score = score_fn(x_t, sigma if cond is None else cond)
    lam = sigma.square() if weight is None else weight
    return (lam * 0.5 * _sum_event((score + eps / s).square())).mean()


def denoising_loss(
    net: NetFn,
    x_0: Tensor,
    alpha: Tensor,
    sigma: Tensor,
    cond: Tensor,
    *,
    parameterization: Parameterization = "eps",
    eps: Tensor | None = None,
    generator: torch.Generator | None = None,
) -> Tensor:
    """‖net(x_t, c) − target‖² with x_t = α x₀ + σ ε; target from `prediction_target`.

    With ``"eps"`` this is DDPM's L_simple (Ho et al. 2020, eq. 14), which equals 2 × `dsm_loss`
    with λ(σ) = σ² for the score −ε̂/σ: DDPM trains a noise-conditional score network.
    In ε terms, the ``"x0"`` loss is ‖ε̂ − ε‖² weighted by σ²/α² and the ``"v"`` loss by
    ((α² + σ²)/α)² (= 1 + SNR⁻¹ on variance-preserving paths; Salimans & Ho 2022, §4).

    Example:
        >>> x = torch.randn(8, 2)
        >>> a, s = torch.full((8,), 0.6), torch.full((8,), 0.8)
        >>> denoising_loss(lambda x, c: torch.zeros_like(x), x, a, s, torch.zeros(8)).shape
        torch.Size([])
    """
    eps = noise_like(x_0, generator) if eps is None else eps
    x_t = append_dims(alpha, x_0.ndim) * x_0 + append_dims(sigma, x_0.ndim) * eps
    target = prediction_target(parameterization, x_0, eps, alpha, sigma)
    return _sum_event((net(x_t, cond) - target).square()).mean()


def sliced_score_matching_loss(
    score_fn: Callable[[Tensor], Tensor],
    x: Tensor,
    *,
    projections: int = 1,
    variance_reduction: bool = True,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Sliced score matching (Song, Garg, Shi & Ermon 2019, eq. 7; SSM-VR eq. 9).

    J = E_v E_x [ vᵀ ∇ₓ(vᵀ s(x)) + ½ (vᵀ s(x))² ]  (SSM-VR: ½ ‖s(x)‖² instead of the second
    term), with Rademacher-free Gaussian projections v ~ N(0, I). Needs no noise: it matches
    the score of the data itself (apply it to noised data for a noise-conditional model).

    Args:
        score_fn: s(x) (bind any conditioning with a lambda).
        x: data ``[B, *event]``.
        projections: random directions per example.
        variance_reduction: use SSM-VR.
        generator: for drawing v.

    Example:
        >>> x = torch.randn(256, 2)
        >>> round(float(sliced_score_matching_loss(lambda x: -x, x, projections=4)), 0)  # −d/2
        -1.0
    """
    x = x.detach().repeat(projections, *([1] * (x.ndim - 1))).requires_grad_(True)
    v = noise_like(x, generator)
    with torch.enable_grad():
        s = score_fn(x)
        sv = _sum_event(s * v)  # vᵀ s(x), [P·B]
        (grad_sv,) = torch.autograd.grad(sv.sum(), x, create_graph=True)
        trace_term = _sum_event(grad_sv * v)  # vᵀ ∇ₓ(vᵀ s)
        norm_term = 0.5 * (_sum_event(s.square()) if variance_reduction else sv.square())
    return (trace_term + norm_term).mean()


def minibatch_ot_pairing(x_0: Tensor, x_1: Tensor) -> Tensor:
    """Reorder ``x_1`` so (x₀ᵢ, x₁ᵢ) follow the exact OT plan of the minibatch (squared cost).

    Tong et al. 2023 (OT-CFM) and Pooladian et al. 2023: with uniform weights on equal-size
    batches the plan is a permutation, found by POT's network simplex (``ot.emd``).
    """
    try:
        import ot
    except ImportError:
        raise NotApplicableError(
            "minibatch OT coupling needs POT: pip install 'genmodels[ot]'"
        ) from None

    a = x_0.new_full((x_0.shape[0],), 1.0 / x_0.shape[0]).double().cpu().numpy()
    b = x_1.new_full((x_1.shape[0],), 1.0 / x_1.shape[0]).double().cpu().numpy()
    M = torch.cdist(x_0.flatten(1), x_1.flatten(1)).square().double().cpu().numpy()
    plan = torch.as_tensor(ot.emd(a, b, M))  # [B, B], a permutation / B
    return x_1[plan.argmax(dim=1).to(x_1.device)]


def flow_matching_loss(
    velocity_fn: NetFn,
    x_0: Tensor,
    *,
    sigma_min: float = 0.0,
    coupling: Literal["independent", "ot"] = "independent",
    t: Tensor | None = None,
    eps: Tensor | None = None,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Conditional flow matching on the path x_t = (1 − t) x₀ + (σ_min + (1 − σ_min) t) ε.

    ‖v_θ(x_t, t) − u_t‖², u_t = (1 − σ_min) ε − x₀ (Lipman et al. 2023, eq. 23, with time
    reversed so that t = 0 is data, t = 1 noise, as in the rest of this package). σ_min = 0 is
    rectified flow's straight line (Liu et al. 2023); ``coupling="ot"`` pairs the noise with the
    batch by minibatch optimal transport (`minibatch_ot_pairing`).

    Example:
        >>> x = torch.randn(16, 2)
        >>> flow_matching_loss(lambda x, t: torch.zeros_like(x), x).shape
        torch.Size([])
    """
    eps = noise_like(x_0, generator) if eps is None else eps
    if coupling == "ot":
        eps = minibatch_ot_pairing(x_0, eps)
    elif coupling != "independent":
        raise InvalidInputError(f"unknown coupling {coupling!r} (independent, ot)")
    if t is None:
        t = uniform_like(x_0.new_empty(x_0.shape[0]), generator)
    tt = append_dims(t, x_0.ndim)
    x_t = (1 - tt) * x_0 + (sigma_min + (1 - sigma_min) * tt) * eps
    u_t = (1 - sigma_min) * eps - x_0
    return _sum_event((velocity_fn(x_t, t) - u_t).square()).mean()
