"""Multistep PF-ODE solvers for few steps: DPM-Solver++(3M), UniPC (with its corrector UniC)
and iPNDM.

Same signature as the other ODE solvers (`genmodels.diffusion.samplers.ode`):
``sample_X(denoiser, x, sigmas, *, generator, callback, ...)``, ``x`` a draw at ``sigmas[0]``,
``sigmas`` decreasing to 0. Each makes one denoiser call per step (NFE = steps): the earlier
steps' x̂₀ estimates supply the higher-order terms, and the step to σ̂ = 0 (λ = ∞) is the
first-order x̂ = D(x̂; σ̂), as in diffusers with ``final_sigmas_type="zero"``.

In EDM coordinates (x̂ = x_t/α_t, σ̂ = σ_t/α_t) the data-prediction solvers of Lu et al. 2022b
and Zhao et al. 2023 lose their α factors: with λ = −log σ̂ and h = λ_{t} − λ_{s},

    x̂_t = (σ̂_t/σ̂_s) x̂_s − (e^{−h} − 1) x̂₀ + (higher-order terms in the past x̂₀'s),

so the steps below are diffusers' ``DPMSolverMultistepScheduler`` / ``UniPCMultistepScheduler``
updates divided by α_t, exactly (tests/diffusion/test_diffusion_vs_diffusers.py).

Notation (code name -> paper): ``lam`` -> λ = −log σ̂ (half the log-SNR), ``h`` -> h_i,
``m`` -> the model outputs x̂₀ (newest first: m₀, m₁, ...), ``r`` -> r_k = h_{i−k}/h_i (DPM-Solver)
or r_k = (λ_{s_k} − λ_{s_0})/h (UniPC), ``D1``/``D2`` -> the divided differences, ``B_h`` ->
B(h) of UniPC's bh1/bh2 variants, ``rho`` -> the coefficients a_k of UniP/UniC (Zhao et al.
2023, Algorithms 1–2 / eq. 8).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from typing import Literal

import torch
from torch import Tensor

from genmodels.diffusion.grids import few_step_sigma_min
from genmodels.diffusion.samplers.common import Callback, as_levels, report
from genmodels.diffusion.solvers import register_solver
from genmodels.errors import InvalidInputError

__all__ = ["THIRD_ORDER_STEPS", "sample_dpmpp_3m", "sample_ipndm", "sample_unipc"]

Denoiser = Callable[[Tensor, Tensor], Tensor]

FEW_STEPS = 15
"""Below this many steps the last steps drop order (diffusers' ``lower_order_final``, which
Lu et al. 2022b give for < 15 steps: a high-order step across the large final λ-gap is
unstable)."""


def _check_order(order: int, highest: int, what: str) -> None:
    """An order option's `OptionCheck` rule: an integer in 1..``highest``."""
    if isinstance(order, bool) or not isinstance(order, int) or not 1 <= order <= highest:
        raise InvalidInputError(f"{what} must be an integer in 1..{highest}, got {order!r}")


THIRD_ORDER_STEPS = 10
"""Fewest steps at which the registered DPM-Solver++(3M) takes 3rd-order steps: below, a step
spans h ≳ 0.9 in λ and the three-point extrapolation overshoots where the 2nd-order step does
not (measured in benchmarks/README.md, "Few-step solvers")."""


def _lam(sigma: float) -> float:
    return -math.log(sigma)


# ---- DPM-Solver++(3M) ------------------------------------------------------------------------


def _dpmpp_order(i: int, n: int, order: int, sigma_next: float, lower_order_final: bool) -> int:
    """The order of step ``i`` of ``n``: warm-up from 1, the step to 0 first order, and with
    ``lower_order_final`` and n < `FEW_STEPS` the last step 1st and the one before ≤ 2nd order
    (diffusers' ``DPMSolverMultistepScheduler.step``)."""
    few = lower_order_final and n < FEW_STEPS
    if sigma_next == 0 or (few and i == n - 1):
        return 1
    if few and i == n - 2:
        return min(order, i + 1, 2)
    return min(order, i + 1)


def _dpmpp_update(x: Tensor, m: list[Tensor], lam: list[float], sigma: float,
                  sigma_next: float, order: int) -> Tensor:  # fmt: skip
    """One DPM-Solver++ multistep update of ``order`` (Lu et al. 2022b, Alg. 2 and its 3rd-order
    extension): ``m`` the x̂₀'s newest first, ``lam`` their λ's, newest first, then λ_next first.

    1st: x̂_t = (σ̂_t/σ̂_s) x̂ − (e^{−h} − 1) m₀; 2nd (midpoint): D₀ + ½ D₁ for m₀; 3rd: diffusers'
    ``multistep_dpm_solver_third_order_update``."""
    if sigma_next == 0:
        return m[0]
    lam_next = lam[0]
    h = lam_next - lam[1]
    phi_1 = math.expm1(-h)  # e^{−h} − 1
    x_next = (sigma_next / sigma) * x - phi_1 * m[0]
    if order == 1:
        return x_next
    r0 = (lam[1] - lam[2]) / h
    D1_0 = (m[0] - m[1]) / r0
    if order == 2:
        return x_next - 0.5 * phi_1 * D1_0
    r1 = (lam[2] - lam[3]) / h
    D1_1 = (m[1] - m[2]) / r1
    D1 = D1_0 + (r0 / (r0 + r1)) * (D1_0 - D1_1)
    D2 = (D1_0 - D1_1) / (r0 + r1)
    return x_next + (phi_1 / h + 1) * D1 - ((phi_1 + h) / h**2 - 0.5) * D2


@register_solver(
    "dpmpp_3m", family="ode", default_steps=10, sigma_min=few_step_sigma_min, grid="logsnr",
    description="DPM-Solver++(3M), multistep 3rd order in log-SNR (Lu et al. 2022b)",
    third_order_steps=THIRD_ORDER_STEPS,
)  # fmt: skip
@torch.no_grad()
def sample_dpmpp_3m(
    denoiser: Denoiser,
    x: Tensor,
    sigmas: Sequence[float] | Tensor,
    *,
    lower_order_final: bool = True,
    third_order_steps: int = 1,
    generator: torch.Generator | None = None,
    callback: Callback | None = None,
) -> Tensor:
    """DPM-Solver++(3M): multistep 3rd order in λ = −log σ̂ (Lu et al. 2022b, §4 and App. B).

    One NFE per step; orders warm up 1, 2, 3 and the last steps drop order (see
    `_dpmpp_order`), as ``DPMSolverMultistepScheduler(solver_order=3)`` does. On grids of
    fewer than ``third_order_steps`` steps every step is at most 2nd order (it is then
    DPM-Solver++(2M)); the registered ``dpmpp_3m`` sets `THIRD_ORDER_STEPS`, the function's
    default (1) is diffusers' solver.

    Example:
        >>> zero = lambda x, s: torch.zeros_like(x)
        >>> sample_dpmpp_3m(zero, 80 * torch.randn(4, 2), [80.0, 8.0, 1.0, 0.0]).abs().max().item()
        0.0
    """
    s_in = x.new_ones(x.shape[0])
    levels = as_levels(sigmas)
    n = len(levels) - 1
    m: list[Tensor] = []
    lam: list[float] = []
    for i, (sigma, sigma_next) in enumerate(itertools.pairwise(levels)):
        denoised = denoiser(x, sigma * s_in)
        m = [denoised, *m[:2]]
        lam = [_lam(sigma), *lam[:2]]
        order = _dpmpp_order(i, n, 3 if n >= third_order_steps else 2, sigma_next,
                             lower_order_final)  # fmt: skip
        lam_next = _lam(sigma_next) if sigma_next > 0 else math.inf
        x = _dpmpp_update(x, m, [lam_next, *lam], sigma, sigma_next, order)
        report(callback, i, x, sigma_next, denoised)
    return x


# ---- UniPC -----------------------------------------------------------------------------------

Variant = Literal["bh1", "bh2"]


def _unipc_system(h: float, rks: list[float], order: int, variant: Variant):
    """UniPC's linear system R a = b for ``order`` (Zhao et al. 2023, eq. 8 / Alg. 2): rows
    R_i = r^{i−1} (r = the rks, then 1), b_i = h φ_{i+1}(h) i!/B(h), φ's of −h (data prediction).

    Returns (h φ₁(h) = e^{−h} − 1, B(h), R, b) as floats: B(h) = −h (bh1) or e^{−h} − 1 (bh2)."""
    hh = -h
    h_phi_1 = math.expm1(hh)
    h_phi_k = h_phi_1 / hh - 1
    B_h = hh if variant == "bh1" else math.expm1(hh)
    r = [*rks, 1.0]
    R, b, factorial = [], [], 1
    for i in range(1, order + 1):
        R.append([rk ** (i - 1) for rk in r])
        b.append(h_phi_k * factorial / B_h)
        factorial *= i + 1
        h_phi_k = h_phi_k / hh - 1 / factorial
    return h_phi_1, B_h, R, b


def _solve(R: list[list[float]], b: list[float]) -> list[float]:
    """R a = b for the ≤ 3 × 3 systems of UniPC, by Gaussian elimination with partial pivoting
    in float64 (plain floats: a tensor solve per step costs more than the step's arithmetic)."""
    n = len(b)
    A = [[*row[:n], rhs] for row, rhs in zip(R, b, strict=False)]
    for col in range(n):
        pivot = max(range(col, n), key=lambda k: abs(A[k][col]))
        A[col], A[pivot] = A[pivot], A[col]
        for k in range(col + 1, n):
            f = A[k][col] / A[col][col]
            A[k] = [a - f * c for a, c in zip(A[k], A[col], strict=True)]
    a = [0.0] * n
    for k in reversed(range(n)):
        a[k] = (A[k][n] - sum(A[k][j] * a[j] for j in range(k + 1, n))) / A[k][k]
    return a


def _divided_differences(m: list[Tensor], lam: list[float], h: float, order: int):
    """rks and D1s of UniPC: r_k = (λ_{s_k} − λ_{s_0})/h, D_k = (m_k − m₀)/r_k, k < order."""
    rks = [(lam[k] - lam[0]) / h for k in range(1, order)]
    return rks, [(m[k] - m[0]) / rk for k, rk in zip(range(1, order), rks, strict=True)]


def _unip(x: Tensor, m: list[Tensor], lam: list[float], sigma: float, sigma_next: float,
          order: int, variant: Variant) -> Tensor:  # fmt: skip
    """The predictor UniP-``order`` from x̂ at σ̂ = ``sigma`` (``m``/``lam`` newest first)."""
    if sigma_next == 0:
        return m[0]
    h = _lam(sigma_next) - lam[0]
    rks, D1s = _divided_differences(m, lam, h, order)
    h_phi_1, B_h, R, b = _unipc_system(h, rks, order, variant)
    x_next = (sigma_next / sigma) * x - h_phi_1 * m[0]
    if not D1s:
        return x_next
    rho = [0.5] if order == 2 else _solve([row[:-1] for row in R[:-1]], b[:-1])
    for r, d in zip(rho, D1s, strict=True):
        x_next.add_(d, alpha=-B_h * r)
    return x_next


def _unic(x_prev: Tensor, model_t: Tensor, m: list[Tensor], lam: list[float], sigma_prev: float,
          sigma: float, order: int, variant: Variant) -> Tensor:  # fmt: skip
    """The corrector UniC-``order``: redo the step from x̂ at ``sigma_prev`` to ``sigma`` with
    the new evaluation ``model_t`` = D(x̂_t; σ̂_t) as one more point (no extra NFE)."""
    h = _lam(sigma) - lam[0]
    rks, D1s = _divided_differences(m, lam, h, order)
    h_phi_1, B_h, R, b = _unipc_system(h, rks, order, variant)
    rho = [0.5] if order == 1 else _solve(R, b)
    x_t = (sigma / sigma_prev) * x_prev - h_phi_1 * m[0]
    for r, d in zip(rho[:-1], D1s, strict=True):
        x_t.add_(d, alpha=-B_h * r)
    return x_t.add_(model_t - m[0], alpha=-B_h * rho[-1])


@register_solver(
    "unipc", family="ode", default_steps=10, sigma_min=few_step_sigma_min, grid="logsnr",
    check=lambda o: _check_order(o["order"], 3, "UniPC's order"),
    description="UniPC-bh2 predictor-corrector, order 2 (Zhao et al. 2023)",
)  # fmt: skip
@torch.no_grad()
def sample_unipc(
    denoiser: Denoiser,
    x: Tensor,
    sigmas: Sequence[float] | Tensor,
    *,
    order: int = 2,
    variant: Variant = "bh2",
    corrector: bool = True,
    lower_order_final: bool = True,
    generator: torch.Generator | None = None,
    callback: Callback | None = None,
) -> Tensor:
    """UniPC (Zhao et al. 2023, Algorithms 1–2): the predictor UniP-p and, at every new point
    but the last, the corrector UniC-p on the evaluation the next step needs anyway.

    Data prediction in λ = −log σ̂; ``variant`` "bh2" (B(h) = e^{−h} − 1, diffusers' default) or
    "bh1" (B(h) = −h). Orders warm up from 1; with ``lower_order_final`` step i of n has order
    ≤ n − i (so the step to 0 is x̂ = D). ``corrector=False`` is plain UniP. One NFE per step,
    as ``UniPCMultistepScheduler(solver_order=order, solver_type=variant)``.

    Example:
        >>> zero = lambda x, s: torch.zeros_like(x)
        >>> sample_unipc(zero, 80 * torch.randn(4, 2), [80.0, 8.0, 1.0, 0.0]).abs().max().item()
        0.0
    """
    _check_order(order, 3, "UniPC's order")
    if variant not in ("bh1", "bh2"):
        raise InvalidInputError(f"UniPC's variant is bh1 or bh2, got {variant!r}")
    s_in = x.new_ones(x.shape[0])
    levels = as_levels(sigmas)
    n = len(levels) - 1
    m: list[Tensor] = []
    lam: list[float] = []
    x_prev, p = x, 0
    for i, (sigma, sigma_next) in enumerate(itertools.pairwise(levels)):
        denoised = denoiser(x, sigma * s_in)
        if corrector and i > 0:
            x = _unic(x_prev, denoised, m, lam, levels[i - 1], sigma, p, variant)
        m = [denoised, *m[: order - 1]]
        lam = [_lam(sigma), *lam[: order - 1]]
        p = min(order, n - i, i + 1) if lower_order_final else min(order, i + 1)
        x_prev = x
        x = _unip(x, m, lam, sigma, sigma_next, p, variant)
        report(callback, i, x, sigma_next, denoised)
    return x


# ---- iPNDM -----------------------------------------------------------------------------------

ADAMS_BASHFORTH = ((1.0,), (3 / 2, -1 / 2), (23 / 12, -16 / 12, 5 / 12),
                   (55 / 24, -59 / 24, 37 / 24, -9 / 24))  # fmt: skip
"""Adams–Bashforth weights of orders 1–4 on the current and past derivatives, newest first."""


@register_solver(
    "ipndm", family="ode", default_steps=10, sigma_min=few_step_sigma_min, grid="karras",
    check=lambda o: _check_order(o["max_order"], len(ADAMS_BASHFORTH), "iPNDM's max_order"),
    description="improved PNDM: Adams-Bashforth up to 4th order on the PF-ODE (Zhang & Chen 2023)",
)  # fmt: skip
@torch.no_grad()
def sample_ipndm(
    denoiser: Denoiser,
    x: Tensor,
    sigmas: Sequence[float] | Tensor,
    *,
    max_order: int = 4,
    generator: torch.Generator | None = None,
    callback: Callback | None = None,
) -> Tensor:
    """iPNDM (Zhang & Chen 2023, DEIS §4 / App.; k-diffusion's ``sample_ipndm``): explicit
    Adams–Bashforth on dx̂/dσ̂ = (x̂ − D)/σ̂ with the fixed weights of equal steps, orders
    warming up 1 … ``max_order`` from the stored derivatives. One NFE per step.

    Example:
        >>> zero = lambda x, s: torch.zeros_like(x)
        >>> x = sample_ipndm(zero, 80 * torch.randn(4, 2), [80.0, 8.0, 1.0, 0.0])
        >>> x.shape  # not exactly D = 0: Adams-Bashforth on unequal steps
        torch.Size([4, 2])
    """
    _check_order(max_order, len(ADAMS_BASHFORTH), "iPNDM's max_order")
    s_in = x.new_ones(x.shape[0])
    ds: list[Tensor] = []  # dx̂/dσ̂ at the current and past steps, newest first
    for i, (sigma, sigma_next) in enumerate(itertools.pairwise(as_levels(sigmas))):
        denoised = denoiser(x, sigma * s_in)
        ds = [(x - denoised) / sigma, *ds[: max_order - 1]]
        weights = ADAMS_BASHFORTH[len(ds) - 1]
        d = ds[0] * weights[0]
        for w, d_past in zip(weights[1:], ds[1:], strict=True):
            d.add_(d_past, alpha=w)
        x = x.add(d, alpha=sigma_next - sigma)
        report(callback, i, x, sigma_next, denoised)
    return x
