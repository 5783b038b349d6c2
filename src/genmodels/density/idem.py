"""iDEM: a diffusion sampler trained by regression on Monte Carlo estimates of the noised score.

Iterated Denoising Energy Matching (Akhound-Sadegh et al. 2024, "Iterated Denoising Energy
Matching for Sampling from Boltzmann Densities", Algorithm 1) learns the score of the target
p ∝ p̃ noised by a variance-exploding process, x_t = x₀ + σ_t ε with σ_t = σ_min (σ_max/σ_min)^t,
from the density alone. The noised density p_t = p * N(0, σ_t² I) has the score

    ∇ log p_t(x_t) = E_{y ~ N(x_t, σ_t² I)}[p̃(y) ∇ log p̃(y)] / E[p̃(y)],

which K draws y_i = x_t + σ_t ε_i estimate by self-normalised importance sampling (eq. 8):

    S_K(x_t, t) = Σ_i softmax_i(log p̃(y_i)) ∇ log p̃(y_i).

Its error grows with σ_t: once σ_t is well above the target's scale, one of the K draws
carries almost all the weight and S_K is that draw's gradient, orders of magnitude above the
true score (≈ (E x₀ − x_t)/σ_t²). Tweedie's form of the same score, Σ_i softmax_i (y_i − x_t)/σ_t²
(Efron 2011; the denoising identity), has the opposite behaviour: exact in that regime, noisy
as σ_t → 0. With ``blend_scale = s`` the estimate is their blend with weight α = s²/(s² + σ_t²)
on the gradient form — exact, for any draws, on a Gaussian target of scale s, and
consistent for any target and any s. ``blend_scale=None`` is the paper's S_K alone.

The inner loop regresses a network s_θ(x_t, t) onto S_K (the estimate's norm clipped, as the
authors do) at x_t = x₀ + σ_t ε with t ~ U[0, 1] and x₀ from a replay buffer; the outer loop
fills the buffer with the current model's samples (the reverse VE SDE, Euler–Maruyama), so
training concentrates where the sampler puts its mass. The buffer starts from the prior
N(0, σ_max² I) (the authors' ``init_from_prior``): S_K is the noised score wherever x_t
lies, so the buffer only decides where the network is trained, not what it learns.

iDEM has no likelihood of its own. Its log Z here comes from self-normalised importance
sampling with the learned probability-flow ODE as the proposal: n draws z ~ N(0, σ_max² I)
are carried by dx/du = −σ² s_θ(x, σ) (u = log σ) from σ_max to σ_min together with the
divergence integral, which gives each draw its exact log q (instantaneous change of
variables); the weights p̃/q give log Ẑ, unbiased for Z with the exact divergence (the
default up to `EXACT_DIVERGENCE_MAX_DIM` dimensions; beyond, Hutchinson's estimator makes
log q noisy and Ẑ biased, which ``log_z_kind`` says). A draw whose solve diverged (x or
log q not finite, or |log q| beyond `LOG_Q_LIMIT_PER_DIM` per dimension) gets weight 0 and
is counted in ``info["diverged"]``; ``info["zero_weight"]`` counts every weight 0, those
where log p̃ = −inf included, and when all are, log Ẑ = −inf with ESS/N = 0, never a finite
stand-in. The weights and log Ẑ are float64. ``output="sde"`` skips it and returns
the reverse-SDE samples, equally weighted, without a log Z.

Notation (code name -> paper): ``sigma`` -> σ_t, ``num_mc`` -> K, ``mc_score_estimate`` ->
S_K, ``max_score_norm`` -> the clipping threshold of the estimate, ``buffer`` -> B, ``net``
-> s_θ (predicting σ_t s_θ, so that the loss λ(t) ‖s_θ − S_K‖² with the authors' weight
λ(t) = σ_t² is a plain mean square).

Cost: every evaluation of the target is counted — K value-and-gradient evaluations per point
of every inner-loop batch, and one density evaluation per trusted proposal of the log Z
estimate.

Example:
    >>> from genmodels.targets.mixture import GaussianMixture
    >>> target = GaussianMixture(torch.tensor([[1.0, -1.0]]), 0.5)
    >>> settings = IDEMSettings(particles=200, train_steps=20, inner_steps=10, batch_size=32,
    ...                         num_mc=8, samples_per_round=100, sde_steps=20, sigma_max=3.0)
    >>> run = run_idem(target, settings, seed=0)
    >>> run.x.shape, run.cost.grad_evals == 20 * 32 * 8, run.cost.density_evals
    (torch.Size([200, 2]), True, 200)
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import torch
from torch import Tensor, nn

from genmodels.budget import Budget
from genmodels.catalogue import register_method
from genmodels.checks import at_least, check_range
from genmodels.density.base import CountingDensity, WeightedSamples, log_weights, log_z_estimate
from genmodels.diffusion.draws import noise_like
from genmodels.diffusion.likelihood import EXACT_DIVERGENCE_MAX_DIM, pf_ode_log_prob
from genmodels.diffusion.model import check_choices
from genmodels.diffusion.score_model import ScoreModel
from genmodels.diffusion.sde import VESDE
from genmodels.errors import ConfigError, NotApplicableError
from genmodels.mcmc.base import LogDensity
from genmodels.nets.mlp import TimeMLP
from genmodels.targets.base import Target
from genmodels.targets.unconstrained import unconstrained

__all__ = [
    "DEFAULT_SIGMA_MAX",
    "FINAL_RESERVE",
    "LOG_Q_LIMIT_PER_DIM",
    "TIME_SCALE",
    "IDEMSettings",
    "NoisedScoreNet",
    "ReplayBuffer",
    "clip_norm",
    "importance_log_weights",
    "mc_score_estimate",
    "pf_ode_draws",
    "run_idem",
    "sigma_max_for",
    "trusted_draws",
]

LOG_Q_LIMIT_PER_DIM = 100.0
"""|log q| per dimension beyond which a PF-ODE draw's log q is the solver's error, not the
proposal's density (`trusted_draws`): per coordinate that is a scale of e⁻¹⁰⁰, below float32's
smallest normal number, or a point far out in the tails of every coordinate at once."""
DEFAULT_SIGMA_MAX = 50.0
"""σ_max for a target that states no ``spread`` (`IDEMSettings.sigma_max` = None)."""
FINAL_RESERVE = 0.2
"""Share of a limited budget kept for the final draws and their weights (they always run)."""
TIME_SCALE = 100.0
"""The network's time input is c = TIME_SCALE · t for `TimeMLP`'s sinusoidal features: DDPM's
1000 t lets the fastest features oscillate many times over [0, 1], which makes the learned
score rough in t and the PF-ODE stiff for dopri5 (the log Z draws); 100 t keeps it smooth."""


@dataclass
class IDEMSettings:
    """`idem`: the network, the noise, the two loops and the output.

    Attributes:
        particles: weighted particles returned.
        train_steps: inner-loop gradient steps in all.
        inner_steps: gradient steps per outer round (one buffer refill each).
        batch_size: buffer points per gradient step.
        num_mc: K, the Monte Carlo draws of each score estimate (K target gradients each).
        sigma_min, sigma_max: the geometric noise range. σ_max must cover the target's
            spread (Song & Ermon 2020): the reverse SDE and the PF-ODE start from
            N(0, σ_max² I). None (the default): the target's stated ``spread``, else
            `DEFAULT_SIGMA_MAX`. A σ_max far above the target's scale leaves most of the
            noise range where S_K is one draw's gradient, and the learned flow misplaces
            the mass: the measurement behind this default is in benchmarks/README.md (iDEM).
        blend_scale: s of the blend of S_K with Tweedie's form (module docstring); None:
            the paper's estimator. The default suits targets whose modes have unit scale.
        max_score_norm: the estimate S_K is rescaled to this norm where it is longer (the
            authors clip it; None: no clip). Clipping caps the rare huge gradients far out in
            a target's tails, which a mean-square loss would otherwise chase.
        samples_per_round: model samples added to the buffer per outer round.
        buffer_size: the buffer's capacity (first in, first out).
        sde_steps: Euler–Maruyama steps of the reverse SDE (buffer refills, ``output="sde"``).
        lr: Adam's learning rate.
        width, depth: the score network (`TimeMLP`).
        output: ``"importance"`` — PF-ODE draws weighted by p̃/q, with log Ẑ and ESS;
            ``"sde"`` — reverse-SDE draws, equally weighted, no log Z.
        divergence: the PF-ODE divergence for log q (``"auto"``: exact up to 16 dimensions).
        ode_tol: dopri5's relative and absolute tolerance for the PF-ODE draws.
    """

    particles: int = 1000
    train_steps: int = 1000
    inner_steps: int = 100
    batch_size: int = 256
    num_mc: int = 100
    sigma_min: float = 0.01
    sigma_max: float | None = None
    max_score_norm: float | None = 100.0
    blend_scale: float | None = 1.0
    samples_per_round: int = 1000
    buffer_size: int = 10_000
    sde_steps: int = 200
    lr: float = 5e-4
    width: int = 128
    depth: int = 3
    output: Literal["importance", "sde"] = "importance"
    divergence: Literal["auto", "exact", "hutchinson"] = "auto"
    ode_tol: float = 1e-5

    def __post_init__(self) -> None:
        at_least(
            self, 1, "particles", "train_steps", "inner_steps", "batch_size", "num_mc", "width"
        )
        at_least(self, 1, "samples_per_round", "buffer_size", "sde_steps")
        at_least(self, 0, "depth")
        check_range(self.sigma_min, "sigma_min", gt=0)
        if self.sigma_max is not None:
            check_range(self.sigma_max, "sigma_max", gt=self.sigma_min)
        if self.max_score_norm is not None:
            check_range(self.max_score_norm, "max_score_norm", gt=0)
        if self.blend_scale is not None:
            check_range(self.blend_scale, "blend_scale", gt=0)
        check_range(self.lr, "lr", gt=0)
        check_range(self.ode_tol, "ode_tol", gt=0, lt=1)
        check_choices(self)
        if self.buffer_size < self.batch_size:
            raise ConfigError(
                f"buffer_size ({self.buffer_size}) must hold a batch (batch_size={self.batch_size})"
            )


def sigma_max_for(settings: IDEMSettings, target: Target) -> float:
    """σ_max of a run: the settings', else the target's stated ``spread``, else
    `DEFAULT_SIGMA_MAX`; it must exceed σ_min."""
    sigma_max = settings.sigma_max
    if sigma_max is None:
        sigma_max = float(getattr(target, "spread", None) or DEFAULT_SIGMA_MAX)
    if sigma_max <= settings.sigma_min:
        raise ConfigError(
            f"sigma_max ({sigma_max}, the target's spread) must exceed sigma_min "
            f"({settings.sigma_min})"
        )
    return sigma_max


def clip_norm(v: Tensor, max_norm: float | None) -> Tensor:
    """Each row of ``v`` ``[B, d]`` rescaled to norm ``max_norm`` where it is longer."""
    if max_norm is None:
        return v
    norm = v.norm(dim=-1, keepdim=True)
    return v * (max_norm / norm.clamp_min(1e-12)).clamp_max(1.0)


def mc_score_estimate(
    density: LogDensity,
    x_t: Tensor,
    sigma: Tensor,
    num_mc: int,
    generator: torch.Generator | None = None,
    *,
    blend_scale: float | None = None,
) -> Tensor:
    """S_K(x_t, σ): the Monte Carlo estimate of ∇ log (p * N(0, σ² I))(x_t) (iDEM, eq. 8).

    Args:
        density: log p̃ (its ``value_and_grad`` is called once, on ``K · B`` points).
        x_t: noised points ``[B, d]``.
        sigma: their noise levels ``[B]``.
        num_mc: K.
        generator: for the draws ε_i (made on its device, moved to ``x_t``'s).

        blend_scale: s of the blend with Tweedie's form (None: the gradient form alone).

    Returns:
        ``[B, d]``; zero where no draw had a finite density.

    Example:
        >>> ld = LogDensity(lambda x: -0.5 * (x**2).sum(-1), (2,))   # N(0, I)
        >>> s = mc_score_estimate(ld, torch.ones(1, 2), torch.tensor([1.0]), 20_000,
        ...                       torch.Generator().manual_seed(0))
        >>> torch.allclose(s, -torch.ones(1, 2) / 2, atol=0.05)      # −x/(1 + σ²)
        True
    """
    B, d = x_t.shape
    eps = noise_like(x_t.new_empty(num_mc, B, d), generator)
    y = x_t[None] + sigma[None, :, None] * eps  # [K, B, d]
    log_p, grad = density.value_and_grad(y.reshape(num_mc * B, d))
    w = torch.softmax(log_p.reshape(num_mc, B), dim=0)  # self-normalised over the K draws
    w = torch.nan_to_num(w, nan=0.0)  # all K draws outside the support
    grad = torch.nan_to_num(grad.reshape(num_mc, B, d), nan=0.0, posinf=0.0, neginf=0.0)
    if blend_scale is not None:
        # Tweedie's form of the same score, (y_i − x_t)/σ² = ε_i/σ, exact where the K draws
        # see a flat density (σ ≫ the target's scale), blended with weight α = s²/(s² + σ²)
        alpha = (blend_scale**2 / (blend_scale**2 + sigma.square()))[None, :, None]
        grad = alpha * grad + (1 - alpha) * eps / sigma[None, :, None]
    return (w[..., None] * grad).sum(0)


class NoisedScoreNet(nn.Module):
    """s_θ(x_t, t) = F_θ(c_in x_t, c t) / σ_t with F a `TimeMLP`: the ε-style output keeps
    the regression target σ_t S_K of order one at every noise level, and c_in = (1 + σ_t²)^{-½}
    keeps the input of order one at large σ_t (EDM's preconditioning with σ_data = 1);
    c = `TIME_SCALE`.

    ``forward(x_t, t)`` takes the VE SDE's own time t ∈ [0, 1], as `ScoreModel.from_fn` calls
    a native-coordinates score function.
    """

    def __init__(self, dim: int, sde: VESDE, width: int, depth: int) -> None:
        super().__init__()
        self.sde = sde
        self.net = TimeMLP(dim, width=width, depth=depth)

    def scaled(self, x_t: Tensor, t: Tensor) -> Tensor:
        """σ_t s_θ(x_t, t) ``[B, d]`` (what the loss compares with σ_t S_K)."""
        sigma = self.sde.sigma(t)[:, None]
        return self.net(x_t * (1 + sigma.square()).rsqrt(), TIME_SCALE * t)

    def forward(self, x_t: Tensor, t: Tensor) -> Tensor:
        return self.scaled(x_t, t) / self.sde.sigma(t)[:, None]


class ReplayBuffer:
    """The last ``capacity`` samples (first in, first out), drawn with replacement."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.x: Tensor | None = None

    def add(self, x: Tensor) -> None:
        x = x.detach()
        joined = x if self.x is None else torch.cat([self.x, x])
        self.x = joined[-self.capacity :]

    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        assert self.x is not None, "the buffer is filled before training"
        device = generator.device if generator is not None else self.x.device
        index = torch.randint(0, self.x.shape[0], (n,), generator=generator, device=device)
        return self.x[index.to(self.x.device)]


def _sde_samples(model: ScoreModel, n: int, steps: int, generator: torch.Generator) -> Tensor:
    """n draws of the reverse VE SDE (Euler–Maruyama) with the current score."""
    model.eval()
    x = model.sample(n, sampler="euler_maruyama", steps=steps, generator=generator).x
    model.train()
    return x


def _inner_step(
    net: NoisedScoreNet,
    opt: torch.optim.Optimizer,
    density: LogDensity,
    x0: Tensor,
    settings: IDEMSettings,
    generator: torch.Generator,
) -> float:
    """One regression step of s_θ onto the clipped S_K at x_t = x₀ + σ_t ε, t ~ U[0, 1]."""
    t = torch.rand(x0.shape[0], generator=generator, device=generator.device).to(x0)
    sigma = net.sde.sigma(t)
    x_t = x0 + sigma[:, None] * noise_like(x0, generator)
    with torch.no_grad():
        target = clip_norm(
            mc_score_estimate(
                density, x_t, sigma, settings.num_mc, generator, blend_scale=settings.blend_scale
            ),
            settings.max_score_norm,
        )
    # λ(t) ‖s_θ − S_K‖² with λ = σ_t²: the mean square of σ_t s_θ − σ_t S_K
    loss = (net.scaled(x_t, t) - sigma[:, None] * target).square().mean()
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    return float(loss.detach())


def _train(
    net: NoisedScoreNet,
    model: ScoreModel,
    density: LogDensity,
    settings: IDEMSettings,
    generator: torch.Generator,
    budget: Budget,
) -> dict[str, Any]:
    """Algorithm 1: outer rounds (refill the buffer from the model) around inner steps."""
    like = next(net.parameters())
    buffer = ReplayBuffer(settings.buffer_size)
    prior = noise_like(like.new_empty(settings.samples_per_round, *density.event_shape), generator)
    buffer.add(prior * net.sde.sigma_max)  # the authors' init_from_prior
    opt = torch.optim.Adam(net.parameters(), lr=settings.lr)
    done, rounds, losses = 0, 0, []
    while done < settings.train_steps and not (done > 0 and budget.expired()):
        if rounds > 0:
            buffer.add(
                _sde_samples(model, settings.samples_per_round, settings.sde_steps, generator)
            )
        rounds += 1
        for _ in range(min(settings.inner_steps, settings.train_steps - done)):
            batch = buffer.sample(settings.batch_size, generator)
            losses.append(_inner_step(net, opt, density, batch, settings, generator))
            done += 1
            if budget.expired():
                break
    tail = losses[-max(1, len(losses) // 10) :]
    return {
        "train_steps": done,
        "rounds": rounds,
        "loss": sum(tail) / len(tail),
        "stopped_by_budget": done < settings.train_steps,
    }


def pf_ode_draws(
    score: Callable[[Tensor, Tensor], Tensor],
    sde: VESDE,
    z: Tensor,
    *,
    divergence: Literal["auto", "exact", "hutchinson"] = "auto",
    tol: float = 1e-5,
    generator: torch.Generator | None = None,
) -> tuple[Tensor, Tensor, int]:
    """Draws of the probability-flow ODE of ``score`` and their exact log-density.

    The prior draws z ~ N(0, σ_max² I) are carried by dx/du = −σ² s(x, t(σ)), u = log σ, from
    σ_max down to σ_min with dopri5, and ∫ ∇·f du along the way: log q(x) =
    log N(z; 0, σ_max² I) + ∫_{log σ_min}^{log σ_max} ∇·f du (the instantaneous change of
    variables, `pf_ode_log_prob` run from the prior to the data).

    Args:
        score: s(x_t, t) in the VE SDE's time t.
        sde: the VE SDE (σ range, prior).
        z: prior draws ``[n, d]``.
        divergence, tol: as `pf_ode_log_prob`'s ``divergence`` and ``rtol = atol``.
        generator: for Hutchinson's probes.

    Returns:
        ``(x [n, d], log q [n], drift evaluations)``.

    Example:
        The exact score of N(0, I) noised maps N(0, σ_max²) onto N(0, v), v = σ_max² (1 +
        σ_min²) / (1 + σ_max²), (x scales as (1 + σ²)^½ along the flow):

        >>> sde = VESDE(0.01, 10.0)
        >>> score = lambda x, t: -x / (1 + sde.sigma(t)[:, None] ** 2)
        >>> z = 10 * torch.randn(500, 2, generator=torch.Generator().manual_seed(0))
        >>> x, log_q, _ = pf_ode_draws(score, sde, z)
        >>> v = 100 * (1 + 1e-4) / 101
        >>> exact = -0.5 * x.square().sum(1) / v - math.log(2 * math.pi * v)
        >>> bool((log_q - exact).abs().max() < 1e-3)
        True
    """
    end: dict[str, Tensor] = {}

    def drift(x: Tensor, u: Tensor) -> Tensor:
        sigma = u.exp()
        return -sigma[:, None].square() * score(x, sde.sigma_hat_to_t(sigma))

    def keep_end(x_end: Tensor) -> Tensor:  # the "prior" of a solve that ends at the data
        end["x"] = x_end
        return x_end.new_zeros(x_end.shape[0])

    span = (math.log(sde.sigma_hat_max), math.log(sde.sigma_hat_min))  # prior → data
    with torch.no_grad():
        r = pf_ode_log_prob(
            drift, z, span, keep_end, divergence=divergence, rtol=tol, atol=tol,
            generator=generator,
        )  # fmt: skip
    # r.log_prob = ∫ ∇·f from log σ_max down to log σ_min: minus the integral towards the prior
    return end["x"], sde.prior_log_prob(z) - r.log_prob, r.nfe


def trusted_draws(x: Tensor, log_q: Tensor) -> Tensor:
    """``[n]`` bool: the PF-ODE draws whose x and log q can be trusted.

    A draw is not when x or log q is not finite, or when |log q| exceeds
    `LOG_Q_LIMIT_PER_DIM` per dimension: the solve left the region the network was trained on
    and its log q is the integration's error, not the proposal's density — one such draw with
    a log q far below the rest would carry all the weight.
    """
    limit = LOG_Q_LIMIT_PER_DIM * x.shape[1]
    return torch.isfinite(x).all(dim=1) & torch.isfinite(log_q) & (log_q.abs() <= limit)


def importance_log_weights(
    density: LogDensity, x: Tensor, log_q: Tensor
) -> tuple[Tensor, dict[str, int]]:
    """log w = log p̃(x) − log q(x) in float64 for the PF-ODE draws, and what got weight 0.

    Draws that fail `trusted_draws` get log w = −inf without evaluating the target there;
    so do draws where log w is +inf, and those `base.log_weights` gives weight 0 (log p̃ −inf
    or its stand-in, log w NaN).

    Returns:
        ``(log_w [n] float64, {"diverged": untrusted draws, "zero_weight": all draws with
        weight 0, the diverged included})``.
    """
    ok = trusted_draws(x, log_q)
    log_w = torch.full(log_q.shape, -math.inf, dtype=torch.float64, device=log_q.device)
    if bool(ok.any()):
        log_w[ok] = log_weights(density.value(x[ok]), log_q[ok])
    log_w = torch.where(log_w == math.inf, -math.inf, log_w)
    zero = int((log_w == -math.inf).sum())
    return log_w, {"diverged": int((~ok).sum()), "zero_weight": zero}


def _output(
    net: NoisedScoreNet,
    model: ScoreModel,
    density: CountingDensity,
    settings: IDEMSettings,
    generator: torch.Generator,
) -> tuple[Tensor, Tensor, float, float, str, dict[str, Any]]:
    """The returned particles: PF-ODE draws weighted by p̃/q, or reverse-SDE draws."""
    net.eval()
    if settings.output == "sde":
        x = _sde_samples(model, settings.particles, settings.sde_steps, generator)
        kind = "none (reverse-SDE samples have no density)"
        return x, x.new_zeros(x.shape[0]), math.nan, math.nan, kind, {}
    like = next(net.parameters())
    z = (
        noise_like(like.new_empty(settings.particles, *density.event_shape), generator)
        * net.sde.sigma_max
    )
    x, log_q, nfe = pf_ode_draws(
        net, net.sde, z, divergence=settings.divergence, tol=settings.ode_tol, generator=generator
    )
    log_w, counts = importance_log_weights(density, x, log_q)
    log_z, se = log_z_estimate(log_w)
    exact = settings.divergence == "exact" or (
        settings.divergence == "auto" and x.shape[1] <= EXACT_DIVERGENCE_MAX_DIM
    )
    kind = "unbiased Z (importance sampling, PF-ODE proposal)"
    if not exact:
        kind = "importance sampling, PF-ODE proposal with Hutchinson log q (biased)"
    return x, log_w, log_z, se, kind, {"ode_nfe": nfe, **counts}


@register_method(
    "idem",
    camp="density",
    settings=IDEMSettings,
    description="iDEM: diffusion sampler regressed on Monte Carlo noised scores, PF-ODE IS log Z",
)
def run_idem(
    target: Target,
    settings: IDEMSettings,
    *,
    seed: int = 0,
    budget: Budget | None = None,
    progress: bool = False,
) -> WeightedSamples:
    """Train iDEM on ``target``'s density, then draw ``settings.particles`` weighted particles.

    Training gets the budget less `FINAL_RESERVE` of it and always does one gradient step;
    the final draws always run. Everything runs on the default device, with one generator
    there seeded by ``seed``. A target with constrained blocks is sampled in unconstrained
    space (the same Z: the Jacobian is part of that density) and its draws come back
    constrained.
    """
    if not target.has_log_prob:
        raise NotApplicableError(f"idem needs a density and target {target.name!r} has none")
    if len(target.event_shape) != 1:
        raise NotApplicableError(f"idem samples vectors, not event shape {target.event_shape}")
    budget = budget or Budget()
    start = time.perf_counter()
    view = unconstrained(target)
    device = torch.get_default_device()
    generator = torch.Generator(device).manual_seed(seed)
    density = CountingDensity(view.log_prob, view.event_shape, score_fn=view.score)
    sde = VESDE(settings.sigma_min, sigma_max_for(settings, target))
    with torch.random.fork_rng(devices=[]):  # seeded initial weights, the caller's RNG untouched
        torch.manual_seed(seed)
        net = NoisedScoreNet(view.dim, sde, settings.width, settings.depth).to(device)
    model = ScoreModel.from_fn(net, kind="score", process=sde, event_shape=view.event_shape)
    train_budget = budget.share(budget.remaining() * (1 - FINAL_RESERVE))
    info = _train(net, model, density, settings, generator, train_budget)
    train_seconds = time.perf_counter() - start
    x, log_w, log_z, se, kind, extra = _output(net, model, density, settings, generator)
    if view is not target:
        x = target.param_space().constrain(x)
    return WeightedSamples(
        x.detach(), log_w.detach(), log_z, se, kind, density.cost,
        seconds=time.perf_counter() - start, train_seconds=train_seconds,
        info={**info, **extra},
    )  # fmt: skip
