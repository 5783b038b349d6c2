"""Diffusion samplers trained from the density alone, through the sampler's own path.

The Denoising Diffusion Sampler (DDS; Vargas, Grathwohl & Doucet 2023, "Denoising Diffusion
Samplers", ICLR, §3 and App. on the discrete-time objective) and the Path Integral Sampler
(PIS; Zhang & Chen 2022, "Path Integral Sampler: a stochastic control approach for sampling",
ICLR) learn the drift of a diffusion that carries simple noise to the target p = p̃ / Z,
knowing only log p̃ and its gradient. Both are one Markov chain of K Gaussian steps:

    reference:  y_0 ~ N(0, v_0 I),  y_{k+1} | y_k ~ N(a_k y_k, σ² β_k² I)
    sampler:    y_0 ~ N(0, v_0 I),  y_{k+1} | y_k ~ N(a_k y_k + β_k² f_θ(y_k, t_k), σ² β_k² I)

DDS takes the reference to be the stationary Ornstein–Uhlenbeck chain (v_0 = σ², a_k² + β_k² = 1,
so N(0, σ²) at every step: its time reversal is itself) on a cosine step scheme; PIS takes
Brownian motion from the origin (v_0 = 0, a_k = 1, β_k² = T/K). The path weight of a draw,

    log w = log p̃(y_K) − log N(y_K; 0, v_K I) + Σ_k [log N(y_{k+1}; a_k y_k, σ²β_k²)
                                                  − log N(y_{k+1}; a_k y_k + β_k² f_k, σ²β_k²)],

is the ratio of the target path measure (p̃ at the end, the reference's backward chain before
it) to the sampler's, v_K the reference's final variance. It is exact for any K and any
network, so E w = Z: log mean w is the importance-weighted log Z estimate (unbiased for Z),
mean log w the ELBO, and resampling by w corrects what the network has not learned.

The drift follows DDS's "PIS-Grad" network: f_θ(y, t) = NN_θ(y, t) + c_θ(t) ⊙ clip(∇ log p̃(y)),
the score entering as a feature (clipped to ±``score_clip``, as both papers' code does, and not
differentiated through), both parts zero at initialisation so training starts from the
reference. Training minimises over Adam steps, on a batch of paths per step, either

- ``"log_variance"`` (default): Var(log w) over paths drawn from the current sampler and held
  fixed (Richter, Boustati, Nüsken, Ruiz & Akyildiz 2020, "VarGrad: a low-variance gradient
  estimator for variational inference"; for these samplers Richter & Berner 2024, "Improved
  sampling via learned diffusions"): zero exactly at the optimal drift, no backpropagation
  through the chain or the target, and less prone to dropping modes than reverse KL;
- ``"kl"``: the reverse KL of the path measures, −E log w (−ELBO), with gradients through the
  reparameterised path (the objective of both papers; the score feature is held fixed, as in
  DDS's code, so only the final log p̃(y_K) is differentiated through the target).

Notation (code → paper): ``sigma`` → σ (the reference's scale), ``beta2`` → β_k²,
``a`` → a_k = √(1 − β_k²) for DDS, ``f`` → f_θ (β_k² f is DDS's drift term), ``eps`` → the
step's standard normal, ``log_w`` → log w = log of the Radon–Nikodym derivative above.

Cost: every step of every path evaluates ∇ log p̃ once (a gradient evaluation) and every path
log p̃ once at its end (a density evaluation; a gradient one under ``"kl"``), in training and
in the final draw alike; `WeightedSamples.cost` counts them all.

Example:
    >>> from genmodels.targets import get_target
    >>> s = DDSSettings(train_steps=5, batch_size=16, time_steps=8, particles=64)
    >>> out = run_dds(get_target("eight_gaussians"), s, seed=0)
    >>> out.x.shape, out.log_z_kind, out.cost.grad_evals
    (torch.Size([64, 2]), 'unbiased Z', 1152)
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, replace
from typing import Any, Literal, NamedTuple

import torch
from torch import Tensor, nn

from genmodels.budget import Budget
from genmodels.catalogue import register_method
from genmodels.checks import at_least, check_range
from genmodels.density.base import (
    Cost,
    CountingDensity,
    WeightedSamples,
    log_z_estimate,
    reference_scale,
)
from genmodels.errors import NotApplicableError, TrainingDivergedError
from genmodels.nets.mlp import TimeMLP, sinusoidal_embedding
from genmodels.targets.base import Target
from genmodels.targets.unconstrained import unconstrained
from genmodels.training.config import check_choices

__all__ = [
    "DDSNet",
    "DDSSettings",
    "PISSettings",
    "ReferenceChain",
    "brownian_reference",
    "ou_reference",
    "reference_chain",
    "run_dds",
    "run_pis",
    "sample_paths",
    "train_sampler",
]

_COS_SHIFT = 0.008  # Nichol & Dhariwal's offset, so the first step is not of zero length


@dataclass
class DDSSettings:
    """How `run_dds` trains and draws (the catalogue settings of ``dds``).

    Attributes:
        train_steps: Adam steps (each on ``batch_size`` fresh paths); fewer when the budget ends.
        batch_size: paths per training step.
        time_steps: K, the Gaussian steps of every path (training and drawing alike: the
            network learns one grid). DDS uses 128; 64 halves the cost per path.
        particles: paths drawn after training: the returned weighted particles.
        loss: ``"log_variance"`` (Var log w on fixed paths) or ``"kl"`` (−E log w through the
            reparameterised path).
        reference: ``"ou"`` (DDS: the stationary Ornstein–Uhlenbeck chain) or ``"brownian"``
            (PIS: Brownian motion from the origin).
        sigma: σ, the reference's scale: its stationary std (OU) or its diffusion coefficient
            (Brownian). Pick it near the target's spread: the untrained sampler is N(0, σ²).
            None: the target's stated ``spread``, else 1.
        noise_total: Σ_k β_k²: for OU how far the reference decorrelates its ends (their
            correlation is about e^{−Σβ²/2}; 3 as in DDS's funnel setting), for Brownian its
            duration T (the final variance is σ² T).
        lr: Adam's learning rate, decayed by a cosine to a tenth of it over ``train_steps``.
        width, depth: the hidden width and residual blocks of NN_θ (`TimeMLP`).
        score_clip: ∇ log p̃ is clipped to ±this before it enters the drift.
        grad_clip: the parameters' gradient norm is clipped to this.
    """

    train_steps: int = 1000
    batch_size: int = 128
    time_steps: int = 64
    particles: int = 4096
    loss: Literal["log_variance", "kl"] = "log_variance"
    reference: Literal["ou", "brownian"] = "ou"
    sigma: float | None = None
    noise_total: float = 3.0
    lr: float = 1e-3
    width: int = 64
    depth: int = 2
    score_clip: float = 100.0
    grad_clip: float = 10.0

    def __post_init__(self) -> None:
        check_choices(self)
        at_least(self, 0, "train_steps")
        at_least(self, 1, "time_steps", "depth")
        at_least(self, 2, "batch_size", "particles", "width")
        for name in ("sigma", "noise_total", "lr", "score_clip", "grad_clip"):
            if getattr(self, name) is not None:
                check_range(getattr(self, name), name, gt=0)


@dataclass
class PISSettings(DDSSettings):
    """`run_pis`: `DDSSettings` with PIS's reference, Brownian motion from the origin over
    T = ``noise_total`` = 1, on a uniform grid."""

    reference: Literal["ou", "brownian"] = "brownian"
    noise_total: float = 1.0


class ReferenceChain(NamedTuple):
    """The reference Markov chain y_0 ~ N(0, var0 I), y_{k+1} | y_k ~ N(a_k y_k, σ²β_k² I).

    Attributes:
        times: t_k in [0, 1), the network's time input of step k (K floats).
        a, beta2: a_k and β_k² of each step (K floats each).
        sigma: σ.
        var0, var_final: the variance of y_0 and of y_K under the reference.
    """

    times: tuple[float, ...]
    a: tuple[float, ...]
    beta2: tuple[float, ...]
    sigma: float
    var0: float
    var_final: float


def ou_reference(steps: int, sigma: float, noise_total: float) -> ReferenceChain:
    """DDS's reference: the OU chain at equilibrium N(0, σ²), a_k = √(1 − β_k²), with
    β_k² ∝ cos⁴ (DDS's ``cos_sq`` step scheme, after Nichol & Dhariwal 2021) summing to
    ``noise_total``: long steps in the noise, short ones where the target's detail is.
    Steps are taken at the cells' midpoints, so none has zero length."""
    u = (torch.arange(steps, dtype=torch.float64) + 0.5) / steps
    w = torch.cos((u + _COS_SHIFT) / (1 + _COS_SHIFT) * math.pi / 2) ** 4
    beta2 = (noise_total * w / w.sum()).clamp(max=0.999)  # a step cannot forget more than all
    a = (1 - beta2).sqrt()
    times = tuple(k / steps for k in range(steps))
    var = sigma**2
    return ReferenceChain(times, tuple(a.tolist()), tuple(beta2.tolist()), sigma, var, var)


def brownian_reference(steps: int, sigma: float, duration: float) -> ReferenceChain:
    """PIS's reference: σ times Brownian motion from 0 on a uniform grid of ``duration``:
    a_k = 1, β_k² = T/K, final variance σ² T."""
    times = tuple(k / steps for k in range(steps))
    dt = duration / steps
    return ReferenceChain(times, (1.0,) * steps, (dt,) * steps, sigma, 0.0, sigma**2 * duration)


def reference_chain(settings: DDSSettings) -> ReferenceChain:
    """The reference chain ``settings`` name."""
    build = ou_reference if settings.reference == "ou" else brownian_reference
    return build(settings.time_steps, settings.sigma, settings.noise_total)


class DDSNet(nn.Module):
    """The drift f_θ(y, t) = NN_θ(y, t) + c_θ(t) ⊙ s, with s the clipped target score at y.

    DDS's PIS-Grad network (their ``PISGRADNet``): a time-conditioned MLP of the state plus a
    time-dependent, per-coordinate gain on the score; both output layers start at zero, so
    the untrained sampler is the reference.

    Args:
        dim: d.
        width, depth: NN_θ's hidden width and residual blocks.
        emb_dim: size of the sinusoidal time embedding.

    Example:
        >>> net = DDSNet(2, width=16, depth=1)
        >>> net(torch.randn(5, 2), torch.rand(5), torch.randn(5, 2)).abs().max().item()
        0.0
    """

    def __init__(self, dim: int, width: int = 64, depth: int = 2, emb_dim: int = 64) -> None:
        super().__init__()
        self.emb_dim = emb_dim
        self.state = TimeMLP(dim, width=width, depth=depth, emb_dim=emb_dim)
        self.gain = nn.Sequential(nn.Linear(emb_dim, width), nn.SiLU(), nn.Linear(width, dim))
        for last in (self.state.out[-1], self.gain[-1]):
            nn.init.zeros_(last.weight)
            nn.init.zeros_(last.bias)

    def forward(self, y: Tensor, t: Tensor, score: Tensor) -> Tensor:
        """``y`` ``[n, d]``, ``t`` ``[n]`` in [0, 1), ``score`` ``[n, d]`` → f ``[n, d]``."""
        c = 1000.0 * t  # TimeMLP's embedding expects times on a scale of ~1000
        gain = self.gain(sinusoidal_embedding(c, self.emb_dim).to(y.dtype))  # [n, d]
        return self.state(y, c) + gain * score


def _clipped_score(density: CountingDensity, y: Tensor, clip: float) -> Tensor:
    """∇ log p̃(y) ``[n, d]`` (one gradient evaluation per row), non-finite values mapped into
    ±clip, so a point off the support does not poison the drift."""
    _, grad = density.value_and_grad(y.detach())
    return torch.nan_to_num(grad, nan=0.0, posinf=clip, neginf=-clip).clamp(-clip, clip)


def _terminal_log_prob(density: CountingDensity, y: Tensor, through: bool) -> Tensor:
    """log p̃(y_K) ``[n]``; with ``through``, differentiable in y (counted as a gradient
    evaluation, since the backward pass goes through the target)."""
    if not through:
        return density.value(y)
    density.cost.grad_evals += int(y.shape[0])
    out = density.fn(y.reshape(y.shape[0], *density.event_shape))
    return torch.nan_to_num(out, nan=-math.inf)


def sample_paths(
    net: DDSNet,
    density: CountingDensity,
    chain: ReferenceChain,
    n: int,
    generator: torch.Generator,
    *,
    mode: Literal["draw", "log_variance", "kl"] = "draw",
    score_clip: float = 100.0,
) -> tuple[Tensor, Tensor]:
    """Run ``n`` paths of the sampler; their end points ``[n, d]`` and log w ``[n]``.

    ``mode``: ``"draw"`` (no gradients), ``"log_variance"`` (the path is drawn from the
    current sampler and held fixed; log w is differentiable in θ through log q_θ of each
    step) or ``"kl"`` (the path is reparameterised: log w differentiable through y_k too).
    Noise is drawn with ``generator`` on its device.
    """
    d, sigma = density.dim, chain.sigma
    device = generator.device
    y = math.sqrt(chain.var0) * torch.randn(n, d, generator=generator, device=device)  # y_0
    log_ratio = y.new_zeros(n)  # Σ_k log p_ref(y_{k+1} | y_k) − log q_θ(y_{k+1} | y_k)
    for t_k, a, b2 in zip(chain.times, chain.a, chain.beta2, strict=True):
        b = math.sqrt(b2)
        score = _clipped_score(density, y, score_clip)  # [n, d], a fixed feature
        f = net(y if mode == "kl" else y.detach(), y.new_full((n,), t_k), score)  # [n, d]
        eps = torch.randn(n, d, generator=generator, device=device)
        if mode == "kl":
            y = a * y + b2 * f + sigma * b * eps
            log_ratio = log_ratio - b2 * f.square().sum(-1) / (2 * sigma**2)
        else:
            f_bar = f.detach()  # the drift that drew the step; f carries θ's gradient
            y = a * y.detach() + b2 * f_bar + sigma * b * eps
            # log N(Δ; 0, σ²β²) − log N(Δ; β² f, σ²β²) with Δ = y_{k+1} − a y_k = β² f̄ + σβε
            log_ratio = log_ratio + b2 * ((f_bar - f).square() - f_bar.square()).sum(-1) / (
                2 * sigma**2
            )
        log_ratio = log_ratio - b * (f * eps).sum(-1) / sigma
    log_ref = -0.5 * y.square().sum(-1) / chain.var_final - 0.5 * d * math.log(
        2 * math.pi * chain.var_final
    )  # log N(y_K; 0, v_K I)
    log_w = _terminal_log_prob(density, y, mode == "kl") - log_ref + log_ratio
    return y.detach(), log_w


def _loss(log_w: Tensor, kind: str, step: int) -> Tensor:
    """Var(log w) or −mean(log w) over the paths whose log w is finite (a path ending off
    the target's support has w = 0 and no gradient to give)."""
    finite = torch.isfinite(log_w)
    if int(finite.sum()) < 2:
        raise TrainingDivergedError(f"dds: fewer than 2 paths with a finite weight at step {step}")
    lw = log_w[finite]
    loss = lw.var() if kind == "log_variance" else -lw.mean()
    if not torch.isfinite(loss):
        raise TrainingDivergedError(f"dds: the {kind} loss is {float(loss)} at step {step}")
    return loss


def train_sampler(
    net: DDSNet,
    density: CountingDensity,
    settings: DDSSettings,
    generator: torch.Generator,
    budget: Budget,
    progress: bool = False,
) -> dict[str, Any]:
    """Train ``net`` for ``settings.train_steps`` Adam steps, or until ``budget`` expires.

    Returns what the training did: ``train_steps`` (done), ``loss`` (the last one),
    ``stopped_by_budget``.

    Raises:
        TrainingDivergedError: the loss became non-finite, or nearly every path left the
            target's support.
    """
    chain = reference_chain(settings)
    opt = torch.optim.Adam(net.parameters(), lr=settings.lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(
        opt, T_max=max(settings.train_steps, 1), eta_min=0.1 * settings.lr
    )
    bar = _progress_bar(settings.train_steps, progress)
    step, loss = 0, math.nan
    while step < settings.train_steps and not budget.expired():
        _, log_w = sample_paths(
            net, density, chain, settings.batch_size, generator,
            mode=settings.loss, score_clip=settings.score_clip,
        )  # fmt: skip
        value = _loss(log_w, settings.loss, step)
        opt.zero_grad(set_to_none=True)
        value.backward()
        nn.utils.clip_grad_norm_(net.parameters(), settings.grad_clip)
        opt.step()
        sched.step()
        step, loss = step + 1, float(value.detach())
        if bar is not None:
            bar.update(1)
            bar.set_postfix(loss=f"{loss:.3g}")
    if bar is not None:
        bar.close()
    stopped = float(step < settings.train_steps)
    return {"train_steps": step, "loss": loss, "stopped_by_budget": stopped}


def _progress_bar(total: int, show: bool) -> Any:
    if not show:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc="dds", leave=False)


def _counting_density(view: Target) -> CountingDensity:
    """The target's density, counted; its closed-form score when it has one."""
    if not view.has_log_prob:
        raise NotApplicableError(f"target {view.name!r} has no density to sample")
    own_score = type(view).score is not Target.score
    score = view.score if own_score else None
    return CountingDensity(view.log_prob, tuple(view.event_shape), score)


def _fit_and_draw(
    target: Target, settings: DDSSettings, seed: int, budget: Budget | None, progress: bool
) -> WeightedSamples:
    """Train the drift on ``target`` (in unconstrained coordinates), then draw ``particles``
    weighted paths; the particles come back in the target's own coordinates."""
    start = time.perf_counter()
    settings = replace(settings, sigma=reference_scale(settings.sigma, target))
    view = unconstrained(target)
    density = _counting_density(view)
    device = torch.get_default_device()  # where targets keep their constants
    generator = torch.Generator(device).manual_seed(seed)
    torch.manual_seed(seed)  # the network's initial weights
    net = DDSNet(density.dim, settings.width, settings.depth).to(device)
    info = train_sampler(net, density, settings, generator, budget or Budget(), progress)
    train_seconds = time.perf_counter() - start
    train_cost = Cost(density.cost.density_evals, density.cost.grad_evals)  # before the draw
    net.eval().requires_grad_(False)
    with torch.no_grad():
        y, log_w = sample_paths(
            net, density, reference_chain(settings), settings.particles, generator,
            score_clip=settings.score_clip,
        )  # fmt: skip
    x = y.reshape(-1, *view.event_shape)
    x = target.param_space().constrain(x) if view is not target else x
    log_z, se = log_z_estimate(log_w)
    finite = log_w[torch.isfinite(log_w)]
    info |= {
        "elbo": float(finite.mean()) if finite.numel() else -math.inf,
        "time_steps": settings.time_steps,
        "train_target_evals": train_cost.target_evals,
    }
    return WeightedSamples(
        x, log_w, log_z, se, "unbiased Z", density.cost,
        time.perf_counter() - start, train_seconds, info,
    )  # fmt: skip


@register_method(
    "dds",
    camp="density",
    settings=DDSSettings,
    order=20,
    description="denoising diffusion sampler (Vargas et al. 2023) trained on the density",
)
def run_dds(
    target: Target,
    settings: DDSSettings,
    *,
    seed: int = 0,
    budget: Budget | None = None,
    progress: bool = False,
) -> WeightedSamples:
    """Train a denoising diffusion sampler on ``target``'s density, then draw weighted paths.

    Returns ``settings.particles`` particles with their path log-weights; ``log_z`` is
    log mean w (``log_z_kind`` ``"unbiased Z"``: E w = Z), ``info["elbo"]`` the ELBO
    mean log w (a lower bound), ``cost`` every target evaluation of training and drawing.

    Raises:
        NotApplicableError: the target has no density.
        TrainingDivergedError: the training loss became non-finite.
    """
    return _fit_and_draw(target, settings, seed, budget, progress)


@register_method(
    "pis",
    camp="density",
    settings=PISSettings,
    order=21,
    description="path integral sampler (Zhang & Chen 2022) trained on the density",
)
def run_pis(
    target: Target,
    settings: PISSettings,
    *,
    seed: int = 0,
    budget: Budget | None = None,
    progress: bool = False,
) -> WeightedSamples:
    """`run_dds` with PIS's Brownian reference (`PISSettings`); same returns and errors."""
    return _fit_and_draw(target, settings, seed, budget, progress)
