"""The diffusion methods: ddpm, sde_vp, sde_subvp, sde_ve, ncsn and flow_matching.

Each is a network (`make_net`), a noise process (schedule or SDE), a loss from `losses`, and
the denoiser D(x̂; σ̂) that connects it to the shared samplers and likelihood (`model`).

Every method can be class-conditional (``num_classes`` > 0 in `NetConfig`): its loss takes
``labels`` and its model functions pass them to the network (see `DiffusionModel`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

from genmodels.catalogue import register_method
from genmodels.diffusion.guidance import Guidance
from genmodels.diffusion.losses import (
    denoising_loss,
    dsm_loss,
    flow_matching_loss,
    sliced_score_matching_loss,
)
from genmodels.diffusion.model import ODE_SAMPLERS, SAMPLERS, DiffusionModel, make_net
from genmodels.diffusion.parameterization import (
    append_dims,
    eps_to_score,
    eps_to_x0,
    v_to_eps,
    v_to_x0,
    x0_to_eps,
)
from genmodels.diffusion.samplers import NFECounter, sample_ddim, sample_ddpm, sample_pc
from genmodels.diffusion.schedules import DiscreteSchedule, karras_sigmas
from genmodels.diffusion.sde import SDE, VESDE, VPSDE, SubVPSDE
from genmodels.errors import ConfigError, InvalidInputError

__all__ = ["DDPM", "NCSN", "FlowMatching", "ScoreSDE", "SubVPSDEModel", "VESDEModel", "VPSDEModel"]

TIME_SCALE = 999.0  # networks see c = 999·t for t ∈ [0, 1] (score_sde's VP convention)


@dataclass
class NetConfig:
    """Network size: `TimeMLP` (width, depth) for vectors, `UNet` (unet_*) for images.

    ``num_classes`` K > 0 makes the model class-conditional (a label embedding added to the
    time embedding; training then needs a labelled target); ``label_dropout`` is p_uncond, the
    probability that a training label is replaced by ∅ (Ho & Salimans 2022), which teaches the
    same network the unconditional model that classifier-free guidance needs.
    """

    width: int = 128
    depth: int = 3
    unet_base: int = 32
    unet_mults: tuple[int, ...] = field(default_factory=lambda: (1, 2))
    unet_blocks: int = 2
    num_classes: int = 0
    label_dropout: float = 0.1


def _bind(fn: Callable[..., Tensor], labels: Tensor | None) -> Callable[[Tensor, Tensor], Tensor]:
    """``fn(x, c)`` with the labels bound (as the losses call it), or ``fn`` itself."""
    return fn if labels is None else (lambda x, c: fn(x, c, labels=labels))


# ---- DDPM ---------------------------------------------------------------------------------


@dataclass
class DDPMConfig(NetConfig):
    """DDPM (Ho et al. 2020). ``parameterization``: what the network predicts (eps, x0, v)."""

    timesteps: int = 1000
    schedule: str = "linear"
    parameterization: str = "eps"
    clip_x0: float | None = None
    spacing: str = "leading"


@register_method(
    "ddpm",
    camp="diffusion",
    order=1,
    description="denoising diffusion (DDPM ancestral, DDIM, ODE solvers)",
)
class DDPM(DiffusionModel):
    """Discrete-time DDPM: ε-prediction (or x₀/v) on a linear or cosine β schedule.

    Samplers: ``ancestral`` (Alg. 2), ``ddim`` (η), the PF-ODE solvers (the network is queried
    at fractional t between its training levels) and ``annealed_langevin`` on −ε̂/σ. With
    ``num_classes`` > 0: class-conditional, sampled with classifier-free guidance.

    Example:
        >>> m = DDPM(DDPM.Config(width=32, depth=1), (2,))
        >>> m.loss(torch.randn(16, 2)).shape, m.sample(4, steps=5).x.shape
        (torch.Size([]), torch.Size([4, 2]))
    """

    Config = DDPMConfig
    samplers = ("ancestral", "ddim", *ODE_SAMPLERS, "annealed_langevin")
    default_sampler = "ddim"

    def __init__(self, config: DDPMConfig, event_shape: tuple[int, ...]) -> None:
        super().__init__(config, event_shape)
        makers = {"linear": DiscreteSchedule.linear, "cosine": DiscreteSchedule.cosine}
        if config.schedule not in makers:
            raise ConfigError(f"unknown DDPM schedule {config.schedule!r} (linear, cosine)")
        if config.parameterization not in ("eps", "x0", "v"):
            raise ConfigError(f"unknown parameterization {config.parameterization!r}")
        self.schedule = makers[config.schedule](config.timesteps)
        self.net = make_net(self.event_shape, config)

    def loss(self, batch: Tensor, labels: Tensor | None = None) -> Tensor:
        """L_simple on ``batch``; ``labels`` ``[B]`` for a class-conditional model."""
        labels = self.training_labels(labels, batch)
        t = torch.randint(0, self.schedule.num_timesteps, (batch.shape[0],), device=batch.device)
        alpha, sigma = (c.to(batch) for c in self.schedule.alpha_sigma(t.cpu()))
        return denoising_loss(
            _bind(self.net, labels), batch, alpha, sigma, t.to(batch.dtype),
            parameterization=self.config.parameterization,
        )  # fmt: skip

    def _x0_and_eps(self, x_t: Tensor, out: Tensor, alpha: Tensor, sigma: Tensor) -> tuple:
        p = self.config.parameterization
        if p == "eps":
            return eps_to_x0(x_t, out, alpha, sigma), out
        if p == "x0":
            return out, x0_to_eps(x_t, out, alpha, sigma)
        return v_to_x0(x_t, out, alpha, sigma), v_to_eps(x_t, out, alpha, sigma)

    def predict_eps(self, x_t: Tensor, t: Tensor, labels: Tensor | None = None) -> Tensor:
        """ε̂(x_t, t) at integer timesteps ``t`` ``[B]``, whatever the network predicts."""
        out = self.net(x_t, t.to(x_t.dtype), labels)
        if self.config.parameterization == "eps":
            return out
        alpha, sigma = (c.to(x_t) for c in self.schedule.alpha_sigma(t.cpu()))
        return self._x0_and_eps(x_t, out, alpha, sigma)[1]

    def denoiser(self, x_hat: Tensor, sigma_hat: Tensor, labels: Tensor | None = None) -> Tensor:
        t = self.schedule.sigma_hat_to_t(sigma_hat)
        alpha = (1 + sigma_hat.square()).rsqrt()  # √ᾱ = 1/√(1 + σ̂²)
        x_t = append_dims(alpha, x_hat.ndim) * x_hat
        return self._x0_and_eps(x_t, self.net(x_t, t, labels), alpha, sigma_hat * alpha)[0]

    @property
    def sigma_hat_min(self) -> float:
        return float(self.schedule.sigmas_hat[0])

    @property
    def sigma_hat_max(self) -> float:
        return float(self.schedule.sigmas_hat[-1])


def _discrete_runner(kind: str) -> Any:
    def run(
        model: DDPM,
        n: int,
        steps: int | None,
        generator: torch.Generator | None,
        callback: Any,
        *,
        guide: Guidance,
        spacing: str | None = None,
        **options: Any,
    ) -> tuple[Tensor, int]:
        schedule = model.schedule
        default_steps = schedule.num_timesteps if kind == "ancestral" else 50
        timesteps = schedule.timesteps(steps or default_steps, spacing or model.config.spacing)
        eps_model = NFECounter(guide(model.predict_eps))
        sampler = sample_ddpm if kind == "ancestral" else sample_ddim
        x = sampler(
            eps_model, model.randn(n, generator), schedule, timesteps,
            clip_x0=model.config.clip_x0, generator=generator, callback=callback, **options,
        )  # fmt: skip
        return x, eps_model.nfe

    run.__doc__ = f"Adapter: DDPM → `sample_{'ddpm' if kind == 'ancestral' else 'ddim'}`."
    return run


SAMPLERS.add("ancestral", _discrete_runner("ancestral"))
SAMPLERS.add("ddim", _discrete_runner("ddim"))


# ---- score SDEs ---------------------------------------------------------------------------


@dataclass
class ScoreSDEConfig(NetConfig):
    """Score SDE (Song et al. 2021). ``weighting``: λ = σ² ("sigma2") or g² ("likelihood")."""

    sde: str = "vp"
    beta_min: float = 0.1
    beta_max: float = 20.0
    sigma_min: float = 0.01
    sigma_max: float = 10.0
    sigma_data: float = 1.0
    weighting: str = "sigma2"
    snr: float = 0.16
    step_lr: float = 2e-5


class ScoreSDE(DiffusionModel):
    """A noise-conditional score network s_θ(x, t) = −ε_θ(c_in x, t)/σ_t for a forward SDE.

    Trained by `dsm_loss` with t ~ U(ε, T); samplers: ``pc`` (reverse diffusion + Langevin
    corrector), ``euler_maruyama``, the PF-ODE solvers, ``annealed_langevin``. VE inputs are
    scaled by c_in = 1/√(σ² + σ_data²) (Karras et al. 2022, Table 1).
    """

    Config = ScoreSDEConfig
    samplers = ("pc", "euler_maruyama", *ODE_SAMPLERS, "annealed_langevin")
    default_sampler = "pc"

    def __init__(self, config: ScoreSDEConfig, event_shape: tuple[int, ...]) -> None:
        super().__init__(config, event_shape)
        self.sde = self._make_sde(config)
        self.net = make_net(self.event_shape, config)

    @staticmethod
    def _make_sde(config: ScoreSDEConfig) -> SDE:
        if config.sde == "vp":
            return VPSDE(config.beta_min, config.beta_max)
        if config.sde == "subvp":
            return SubVPSDE(config.beta_min, config.beta_max)
        if config.sde == "ve":
            return VESDE(config.sigma_min, config.sigma_max)
        raise ConfigError(f"unknown SDE {config.sde!r} (vp, subvp, ve)")

    def predict_eps(self, x_t: Tensor, t: Tensor, labels: Tensor | None = None) -> Tensor:
        """ε̂(x_t, t): the network on the (VE: c_in-scaled) input."""
        if isinstance(self.sde, VESDE):
            sigma = self.sde.marginal(t)[1]
            x_t = x_t * append_dims((sigma.square() + self.config.sigma_data**2).rsqrt(), x_t.ndim)
        return self.net(x_t, TIME_SCALE * t, labels)

    def score(self, x_t: Tensor, t: Tensor, labels: Tensor | None = None) -> Tensor:
        """s_θ(x_t, t) = −ε̂/σ_t."""
        return eps_to_score(self.predict_eps(x_t, t, labels), self.sde.marginal(t)[1])

    def loss(self, batch: Tensor, labels: Tensor | None = None) -> Tensor:
        """DSM on ``batch``; ``labels`` ``[B]`` for a class-conditional model."""
        labels = self.training_labels(labels, batch)
        sde = self.sde
        t = sde.eps + (sde.T - sde.eps) * torch.rand(batch.shape[0], device=batch.device)
        t = t.to(batch.dtype)
        alpha, sigma = sde.marginal(t)
        weight = sde.diffusion(t).square() if self.config.weighting == "likelihood" else None
        score = _bind(self.score, labels)
        return dsm_loss(score, batch, sigma, t, alpha=alpha, weight=weight)

    def denoiser(self, x_hat: Tensor, sigma_hat: Tensor, labels: Tensor | None = None) -> Tensor:
        t = self.sde.sigma_hat_to_t(sigma_hat)
        alpha, sigma = self.sde.marginal(t)
        x_t = append_dims(alpha, x_hat.ndim) * x_hat
        return eps_to_x0(x_t, self.predict_eps(x_t, t, labels), alpha, sigma)

    def alpha_of_sigma_hat(self, sigma_hat: Tensor | float) -> Tensor | float:
        t = self.sde.sigma_hat_to_t(torch.as_tensor(float(sigma_hat), dtype=torch.float64))
        return float(self.sde.marginal(t)[0]) if float(sigma_hat) > 0 else 1.0

    @property
    def sigma_hat_min(self) -> float:
        return float(self.sde.sigma_hat(torch.tensor(self.sde.eps, dtype=torch.float64)))

    @property
    def sigma_hat_max(self) -> float:
        return float(self.sde.sigma_hat(torch.tensor(self.sde.T, dtype=torch.float64)))

    @property
    def prior_std_hat(self) -> float:
        return self.sde.prior_std if isinstance(self.sde, VESDE) else super().prior_std_hat


@dataclass
class _VPConfig(ScoreSDEConfig):
    sde: str = "vp"


@dataclass
class _SubVPConfig(ScoreSDEConfig):
    sde: str = "subvp"


@dataclass
class _VEConfig(ScoreSDEConfig):
    sde: str = "ve"


@register_method(
    "sde_vp",
    camp="diffusion",
    order=2,
    description="variance-preserving score SDE (predictor-corrector, PF-ODE)",
)
class VPSDEModel(ScoreSDE):
    """Score SDE with the VP SDE (continuous DDPM)."""

    Config = _VPConfig


@register_method(
    "sde_subvp",
    camp="diffusion",
    order=4,
    description="sub-VP score SDE (predictor-corrector, PF-ODE)",
)
class SubVPSDEModel(ScoreSDE):
    """Score SDE with the sub-VP SDE."""

    Config = _SubVPConfig


@register_method(
    "sde_ve",
    camp="diffusion",
    order=3,
    description="variance-exploding score SDE (predictor-corrector, PF-ODE)",
)
class VESDEModel(ScoreSDE):
    """Score SDE with the VE SDE (continuous NCSN)."""

    Config = _VEConfig


def _run_sde(predictor: str | None, corrector: str | None) -> Any:
    def run(
        model: ScoreSDE,
        n: int,
        steps: int | None,
        generator: torch.Generator | None,
        callback: Any,
        *,
        guide: Guidance,
        **options: Any,
    ) -> tuple[Tensor, int]:
        sde = model.sde
        options.setdefault("snr", model.config.snr)
        score = NFECounter(guide(model.score))
        x_T = model.randn(n, generator) * sde.prior_std
        ts = torch.linspace(sde.T, sde.eps, steps or 500, dtype=torch.float64)
        options = {"predictor": predictor, "corrector": corrector, **options}
        x = sample_pc(score, sde, x_T, ts, generator=generator, callback=callback, **options)
        return x, score.nfe

    run.__doc__ = "Adapter: score SDE → `sample_pc`."
    return run


SAMPLERS.add("pc", _run_sde("reverse_diffusion", "langevin"))
SAMPLERS.add("euler_maruyama", _run_sde("euler_maruyama", None))


# ---- NCSN ---------------------------------------------------------------------------------


@dataclass
class NCSNConfig(ScoreSDEConfig):
    """NCSN (Song & Ermon 2019): L geometric levels σ_1 = sigma_max > ... > σ_L = sigma_min."""

    sde: str = "ve"
    levels: int = 10
    objective: str = "dsm"
    step_lr: float = 2e-5


@register_method(
    "ncsn",
    camp="diffusion",
    order=0,
    description="noise-conditional score network sampled by annealed Langevin",
)
class NCSN(ScoreSDE):
    """Noise-conditional score network on L discrete levels, sampled by annealed Langevin.

    The VE SDE with its time restricted to L levels: training draws σ uniformly among them and
    minimises DSM with λ(σ) = σ² (or sliced score matching on the noised data, ``objective=
    "ssm"``); the default sampler is Algorithm 1 of Song & Ermon 2019 on the same levels.
    """

    Config = NCSNConfig
    default_sampler = "annealed_langevin"

    def __init__(self, config: NCSNConfig, event_shape: tuple[int, ...]) -> None:
        if config.sde != "ve" or config.objective not in ("dsm", "ssm"):
            raise ConfigError("ncsn needs sde='ve' and objective in (dsm, ssm)")
        super().__init__(config, event_shape)

    def langevin_sigmas(self, levels: int | None = None) -> Tensor:
        """The training levels (``levels`` other than L re-grids the same range)."""
        L = levels or self.config.levels
        return torch.logspace(
            math.log10(self.config.sigma_max), math.log10(self.config.sigma_min), L
        )

    def loss(self, batch: Tensor, labels: Tensor | None = None) -> Tensor:
        """DSM (or SSM) over the L levels; ``labels`` ``[B]`` for a class-conditional model."""
        labels = self.training_labels(labels, batch)
        score = _bind(self.score, labels)
        L = self.config.levels
        i = torch.randint(0, L, (batch.shape[0],), device=batch.device)
        t = (1 - i.to(batch.dtype) / (L - 1)) if L > 1 else torch.ones_like(i, dtype=batch.dtype)
        sigma = self.sde.marginal(t)[1]
        if self.config.objective == "dsm":
            return dsm_loss(score, batch, sigma, t)
        noised = batch + append_dims(sigma, batch.ndim) * torch.randn_like(batch)
        # SSM on x̃ ~ p_σ matches ∇ log p_σ; weight σ² per level as for DSM
        w = append_dims(sigma, batch.ndim)
        return sliced_score_matching_loss(lambda x: w * score(x, t), noised)

    def sample(self, n: int, *, steps: int | None = None, **kwargs: Any):  # type: ignore[override]
        return super().sample(n, steps=steps or self.config.levels, **kwargs)


# ---- flow matching -------------------------------------------------------------------------


@dataclass
class FlowMatchingConfig(NetConfig):
    """Flow matching: ``sigma_min`` = 0 is rectified flow; ``coupling`` "ot" is OT-CFM."""

    sigma_min: float = 0.0
    coupling: str = "independent"
    t_min: float = 0.01
    t_max: float = 0.999


@register_method(
    "flow_matching",
    camp="diffusion",
    order=5,
    description="flow matching / rectified flow (ODE sampling, exact likelihood)",
)
class FlowMatching(DiffusionModel):
    """A velocity network v_θ(x_t, t) on x_t = (1 − t) x₀ + (σ_min + (1 − σ_min) t) ε.

    Sampled by the same ODE solvers through D = (1 − σ_min) x_t − σ_t v̂ (exact for any v̂;
    Euler on the uniform-t grid is the usual flow-matching Euler step).
    """

    Config = FlowMatchingConfig
    default_sampler = "euler"

    def __init__(self, config: FlowMatchingConfig, event_shape: tuple[int, ...]) -> None:
        super().__init__(config, event_shape)
        if config.coupling not in ("independent", "ot") or not 0 <= config.sigma_min < 1:
            raise ConfigError(
                "flow_matching needs coupling in (independent, ot), 0 ≤ sigma_min < 1"
            )
        self.net = make_net(self.event_shape, config)

    def velocity(self, x_t: Tensor, t: Tensor, labels: Tensor | None = None) -> Tensor:
        """v̂(x_t, t), ``t`` ``[B]`` in [0, 1] (t = 1 is noise)."""
        return self.net(x_t, TIME_SCALE * t, labels)

    def loss(self, batch: Tensor, labels: Tensor | None = None) -> Tensor:
        """Conditional flow matching; ``labels`` ``[B]`` for a class-conditional model (the OT
        coupling reorders the noise, so each label stays with its data point)."""
        labels = self.training_labels(labels, batch)
        return flow_matching_loss(
            _bind(self.velocity, labels), batch, sigma_min=self.config.sigma_min,
            coupling=self.config.coupling,
        )  # fmt: skip

    def _alpha_sigma(self, t: Tensor | float) -> tuple[Any, Any]:
        s = self.config.sigma_min
        return 1 - t, s + (1 - s) * t

    def _t_of_sigma_hat(self, sigma_hat: Tensor | float) -> Tensor | float:
        s = self.config.sigma_min
        return (sigma_hat - s) / (sigma_hat + 1 - s)  # solves σ_t/α_t = σ̂

    def denoiser(self, x_hat: Tensor, sigma_hat: Tensor, labels: Tensor | None = None) -> Tensor:
        t = self._t_of_sigma_hat(sigma_hat)
        alpha, sigma = self._alpha_sigma(t)
        x_t = append_dims(alpha, x_hat.ndim) * x_hat
        v = self.velocity(x_t, t, labels)
        return (1 - self.config.sigma_min) * x_t - append_dims(sigma, x_hat.ndim) * v

    def alpha_of_sigma_hat(self, sigma_hat: Tensor | float) -> Tensor | float:
        return 1 - self._t_of_sigma_hat(float(sigma_hat)) if float(sigma_hat) > 0 else 1.0

    def _sigma_hat(self, t: float) -> float:
        alpha, sigma = self._alpha_sigma(t)
        return sigma / alpha

    @property
    def sigma_hat_min(self) -> float:
        return self._sigma_hat(self.config.t_min)

    @property
    def sigma_hat_max(self) -> float:
        return self._sigma_hat(self.config.t_max)

    def ode_schedule(self, solver: str) -> str:
        """Every solver integrates the flow-matching ODE on the uniform-in-t grid."""
        return "uniform"

    def sigmas(self, steps: int, schedule: str = "uniform") -> Tensor:
        """Uniform in t from t_max to t_min (default), or EDM's ``"karras"`` grid; then 0."""
        if schedule == "karras":
            return karras_sigmas(steps, self.sigma_hat_min, self.sigma_hat_max)
        if schedule != "uniform":
            raise InvalidInputError(
                f"unknown σ schedule {schedule!r} for FlowMatching (uniform, karras)"
            )
        t = torch.linspace(self.config.t_max, self.config.t_min, steps, dtype=torch.float64)
        alpha, sigma = self._alpha_sigma(t)
        return torch.cat([sigma / alpha, t.new_zeros(1)]).float()
