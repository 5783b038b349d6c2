"""The diffusion methods: ddpm, sde_vp, sde_subvp, sde_ve, ncsn and flow_matching.

Each is a network (`make_net`), a noise process (`NoiseProcess`: schedule, SDE or path), a
loss from `losses`, the denoiser D(x̂; σ̂) that connects it to the shared solvers and the
likelihood (`model`), and the solver families it offers (``families``; see `solvers`).

Every method can be class-conditional (``num_classes`` > 0 in `NetConfig`): its loss takes
``labels`` and its model functions pass them to the network (see `guidance`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

import torch
from torch import Tensor

from genmodels.catalogue import register_method
from genmodels.checks import at_least, check_range
from genmodels.diffusion.guidance import training_labels
from genmodels.diffusion.losses import (
    denoising_loss,
    dsm_loss,
    flow_matching_loss,
    sliced_score_matching_loss,
)
from genmodels.diffusion.model import DiffusionModel, make_net
from genmodels.diffusion.noise import FlowMatchingPath
from genmodels.diffusion.parameterization import (
    Parameterization,
    append_dims,
    dynamic_threshold,
    eps_to_score,
    eps_to_x0,
    prediction_to_x0_eps,
    x0_to_eps,
)
from genmodels.diffusion.schedules import DiscreteSchedule, Spacing
from genmodels.diffusion.sde import SDE, VESDE, VPSDE, NCSNLevels, SubVPSDE
from genmodels.diffusion.solvers import Family
from genmodels.errors import ConfigError
from genmodels.memory import check_network_size
from genmodels.models.base import KindDefaults

__all__ = [
    "DDPM",
    "DIFFUSION_KIND_DEFAULTS",
    "NCSN",
    "DDPMConfig",
    "FlowMatching",
    "FlowMatchingConfig",
    "NCSNConfig",
    "NetConfig",
    "ScoreSDE",
    "SubVPSDEModel",
    "VEConfig",
    "VESDEModel",
    "VPConfig",
    "VPSDEModel",
]

TIME_SCALE = 999.0  # networks see c = 999·t for t ∈ [0, 1] (score_sde's VP convention)

# What ddpm, the score SDEs and flow matching train with by default, per target kind
# (`GenerativeModel.kind_defaults`; read by `genmodels train` and `compare`). A 2-D density
# needs no wide network but many steps at a high learning rate before the modes are sharp;
# on images, batches of 128 halve the cost of a step and a few thousand steps give
# recognisable digits (figures in benchmarks/README.md).
DIFFUSION_KIND_DEFAULTS: KindDefaults = {
    "toy2d": {"train": {"steps": 12000, "lr": 2e-3}},
    "image": {"train": {"steps": 3000, "batch_size": 128}},
}


@dataclass
class NetConfig:
    """Network size: `TimeMLP` (width, depth) for vectors, `UNet` (unet_*) for images.

    ``num_classes`` K > 0 makes the model class-conditional (a label embedding added to the
    time embedding; training then needs a labelled target); ``label_dropout`` is p_uncond, the
    probability that a training label is replaced by ∅ (Ho & Salimans 2022), which teaches the
    same network the unconditional model that classifier-free guidance needs.

    Attributes:
        width: hidden width of the `TimeMLP` (vector data).
        depth: hidden layers of the `TimeMLP` (vector data).
        unet_base: channels of the U-Net's first level (images).
        unet_mults: channel multiplier of each U-Net level, e.g. ``[1, 2]`` (images).
        unet_blocks: residual blocks per U-Net level (images).
        num_classes: K > 0 makes the model class-conditional (needs a labelled target);
            0: unconditional.
        label_dropout: p_uncond, the probability a training label is replaced by ∅ (what
            classifier-free guidance needs).
    """

    width: int = 128
    depth: int = 3
    unet_base: int = 32
    unet_mults: tuple[int, ...] = field(default_factory=lambda: (1, 2))
    unet_blocks: int = 2
    num_classes: int = 0
    label_dropout: float = 0.1

    def __post_init__(self) -> None:
        at_least(self, 1, "width", "depth", "unet_base", "unet_blocks", where="model")
        at_least(self, 0, "num_classes", where="model")
        check_range(self.label_dropout, "model.label_dropout", ge=0, lt=1)
        if not isinstance(self.unet_mults, tuple | list) or not self.unet_mults:
            raise ConfigError(
                f"model.unet_mults must be a list of integers >= 1, got {self.unet_mults!r}"
            )
        for i, mult in enumerate(self.unet_mults):
            check_range(mult, f"model.unet_mults[{i}]", ge=1, integer=True)
        check_network_size(self.width, self.depth, f"a network with width={self.width}")
        widest = 3 * self.unet_base * max(self.unet_mults)  # a 3×3 conv: 9 c² weights
        check_network_size(widest, self.unet_blocks, f"a U-Net with unet_base={self.unet_base}")


def bounded_eps(
    x0_bounded: Tensor, x0: Tensor, eps: Tensor, x_t: Tensor, alpha: Tensor, sigma: Tensor
) -> Tensor:
    """ε̂ consistent with a bounded x̂₀: recomputed where the bound moved x̂₀, else unchanged."""
    moved = x0_bounded != x0
    if not bool(moved.any()):
        return eps
    return torch.where(moved, x0_to_eps(x_t, x0_bounded, alpha, sigma), eps)


def _bind(fn: Callable[..., Tensor], labels: Tensor | None) -> Callable[[Tensor, Tensor], Tensor]:
    """``fn(x, c)`` with the labels bound (as the losses call it), or ``fn`` itself."""
    return fn if labels is None else (lambda x, c: fn(x, c, labels=labels))


# ---- DDPM ---------------------------------------------------------------------------------


@dataclass
class DDPMConfig(NetConfig):
    """DDPM (Ho et al. 2020). ``parameterization``: what the network predicts (eps, x0, v);
    ``spacing``: the timesteps its discrete samplers visit by default.

    For image data in [−1, 1], x̂₀ can be kept in range by every sampler: ``clip_x0`` c clamps
    it to [−c, c]; ``dynamic_threshold`` p (e.g. 0.995) applies Imagen's dynamic thresholding
    at percentile p instead (Saharia et al. 2022, `dynamic_threshold`). Both are off by
    default; the data-range bound of `DiffusionModel.bound_x0` applies to any data.

    Attributes:
        timesteps: T, the number of discrete noise levels.
        schedule: the β schedule, ``"linear"`` (Ho et al. 2020) or ``"cosine"`` (Nichol &
            Dhariwal 2021).
        parameterization: what the network predicts: ``"eps"``, ``"x0"`` or ``"v"``.
        clip_x0: clamp x̂₀ to [−c, c] in every sampler (images in [−1, 1]); unset: no
            clamp.
        dynamic_threshold: percentile p of Imagen's dynamic thresholding of x̂₀ (e.g.
            0.995); unset: off.
        spacing: the timesteps the discrete samplers visit by default: ``"leading"``,
            ``"trailing"`` or ``"linspace"`` (their σ̂ are also the default grid of the ODE
            solvers that run on the process's own: Euler, Euler ancestral, Heun).
    """

    timesteps: int = 1000
    schedule: Literal["linear", "cosine"] = "linear"
    parameterization: Parameterization = "eps"
    clip_x0: float | None = None
    dynamic_threshold: float | None = None
    spacing: Spacing = "leading"

    def __post_init__(self) -> None:
        super().__post_init__()
        at_least(self, 1, "timesteps", where="model")
        if self.clip_x0 is not None:
            check_range(self.clip_x0, "model.clip_x0", gt=0)
        if self.dynamic_threshold is not None:
            check_range(self.dynamic_threshold, "model.dynamic_threshold", gt=0, le=1)


SCHEDULES: dict[str, Callable[..., DiscreteSchedule]] = {
    "linear": DiscreteSchedule.linear,
    "cosine": DiscreteSchedule.cosine,
}


@register_method(
    "ddpm",
    camp="diffusion",
    order=1,
    description="denoising diffusion (DDPM ancestral, DDIM, ODE solvers)",
)
class DDPM(DiffusionModel):
    """Discrete-time DDPM: ε-prediction (or x₀/v) on a linear or cosine β schedule.

    Samplers: the ``discrete`` family (``ancestral``, Alg. 2; ``ddim``, η), the PF-ODE
    solvers (the network is queried at fractional t between its training levels) and
    ``annealed_langevin`` on −ε̂/σ. With ``num_classes`` > 0: class-conditional, sampled with
    classifier-free guidance.

    Example:
        >>> m = DDPM(DDPM.Config(width=32, depth=1), (2,))
        >>> m.loss(torch.randn(16, 2)).shape, m.sample(4, steps=5).x.shape
        (torch.Size([]), torch.Size([4, 2]))
    """

    Config = DDPMConfig
    kind_defaults: ClassVar[KindDefaults] = DIFFUSION_KIND_DEFAULTS
    families: ClassVar[tuple[Family, ...]] = ("discrete", "ode", "langevin")
    default_sampler = "ddim"

    def __init__(self, config: DDPMConfig, event_shape: tuple[int, ...]) -> None:
        super().__init__(config, event_shape)
        self.schedule = SCHEDULES[config.schedule](config.timesteps, spacing=config.spacing)
        self.net = make_net(self.event_shape, config)

    @property
    def process(self) -> DiscreteSchedule:
        return self.schedule

    def loss(self, batch: Tensor, labels: Tensor | None = None) -> Tensor:
        """L_simple on ``batch``; ``labels`` ``[B]`` for a class-conditional model."""
        labels = training_labels(self, labels, batch)
        t = torch.randint(0, self.schedule.num_timesteps, (batch.shape[0],), device=batch.device)
        alpha, sigma = (c.to(batch) for c in self.schedule.alpha_sigma(t.cpu()))
        return denoising_loss(
            _bind(self.net, labels), batch, alpha, sigma, t.to(batch.dtype),
            parameterization=self.config.parameterization,
        )  # fmt: skip

    def predict_eps(self, x_t: Tensor, t: Tensor, labels: Tensor | None = None) -> Tensor:
        """ε̂(x_t, t) at integer timesteps ``t`` ``[B]``, whatever the network predicts (with x̂₀
        bounded as in `bound_x0` and, if configured, thresholded)."""
        out = self.net(x_t, t.to(x_t.dtype), labels)
        alpha, sigma = (c.to(x_t) for c in self.schedule.alpha_sigma(t.cpu()))
        x0, eps = prediction_to_x0_eps(self.config.parameterization, x_t, out, alpha, sigma)
        return bounded_eps(self.bound_x0(x0), x0, eps, x_t, alpha, sigma)

    def bound_x0(self, x0: Tensor) -> Tensor:
        """The data-range bound of `DiffusionModel.bound_x0`, then the optional ``clip_x0`` or
        dynamic thresholding of image data."""
        x0 = super().bound_x0(x0)
        if self.config.dynamic_threshold is not None:
            return dynamic_threshold(x0, self.config.dynamic_threshold)
        return (
            x0
            if self.config.clip_x0 is None
            else x0.clamp(-self.config.clip_x0, self.config.clip_x0)
        )

    def denoiser(self, x_hat: Tensor, sigma_hat: Tensor, labels: Tensor | None = None) -> Tensor:
        t = self.schedule.sigma_hat_to_t(sigma_hat)
        alpha = (1 + sigma_hat.square()).rsqrt()  # √ᾱ = 1/√(1 + σ̂²)
        x_t = append_dims(alpha, x_hat.ndim) * x_hat
        out = self.net(x_t, t, labels)
        p = self.config.parameterization
        return self.bound_x0(prediction_to_x0_eps(p, x_t, out, alpha, sigma_hat * alpha)[0])


# ---- score SDEs ---------------------------------------------------------------------------

Weighting = Literal["sigma2", "likelihood"]
WEIGHTINGS: dict[str, Callable[[SDE, Tensor], Tensor | None]] = {
    "sigma2": lambda sde, t: None,  # λ = σ², `dsm_loss`'s default
    "likelihood": lambda sde, t: sde.diffusion(t).square(),  # λ = g² (Song et al. 2021b)
}


@dataclass
class ScoreConfig(NetConfig):
    """What every score model shares: its samplers' defaults (pc's ``snr``, annealed
    Langevin's ``step_lr`` ε; None: technique 4 of Song & Ermon 2020 for the levels and steps
    per level of the run, `langevin_step_size`).

    Attributes:
        snr: signal-to-noise ratio r of the ``pc`` sampler's Langevin corrector (Song et
            al. 2021, Alg. 4).
        step_lr: ε of ``annealed_langevin``'s step sizes α_i = ε σ_i²/σ_L² (Song & Ermon
            2019, Alg. 1); unset: technique 4 of Song & Ermon 2020.
    """

    snr: float = 0.16
    step_lr: float | None = 2e-5

    def __post_init__(self) -> None:
        super().__post_init__()
        check_range(self.snr, "model.snr", gt=0)
        if self.step_lr is not None:
            check_range(self.step_lr, "model.step_lr", gt=0)


@dataclass
class VPConfig(ScoreConfig):
    """VP / sub-VP SDE: β̄_min, β̄_max; ``weighting`` λ = σ² ("sigma2") or g² ("likelihood").

    Attributes:
        beta_min: β̄_min, the noise rate at t = 0.
        beta_max: β̄_max, the noise rate at t = 1.
        weighting: the DSM weight λ(t): ``"sigma2"`` (σ²) or ``"likelihood"`` (g², Song et
            al. 2021b, which bounds the likelihood).
    """

    beta_min: float = 0.1
    beta_max: float = 20.0
    weighting: Weighting = "sigma2"

    def __post_init__(self) -> None:
        super().__post_init__()
        check_range(self.beta_min, "model.beta_min", gt=0)
        check_range(self.beta_max, "model.beta_max", gt=self.beta_min)


@dataclass
class SubVPConfig(VPConfig):
    """The sub-VP SDE's configuration (the VP SDE's fields)."""


def _check_sigmas(config: Any, *, equal_ok: bool = False) -> None:
    """0 < sigma_min < sigma_max (or ``<=``: one NCSN level) and sigma_data > 0."""
    check_range(config.sigma_min, "model.sigma_min", gt=0)
    if equal_ok:
        check_range(config.sigma_max, "model.sigma_max", ge=config.sigma_min)
    else:
        check_range(config.sigma_max, "model.sigma_max", gt=config.sigma_min)
    check_range(config.sigma_data, "model.sigma_data", gt=0)


@dataclass
class VEConfig(ScoreConfig):
    """VE SDE: σ_min, σ_max; inputs scaled by c_in = 1/√(σ² + sigma_data²); ``weighting``.

    Attributes:
        sigma_min: σ_min, the smallest noise level.
        sigma_max: σ_max, the largest noise level (about the data's diameter).
        sigma_data: σ_data of the input scaling c_in = 1/√(σ² + σ_data²).
        weighting: the DSM weight λ(t): ``"sigma2"`` (σ²) or ``"likelihood"`` (g²).
    """

    sigma_min: float = 0.01
    sigma_max: float = 10.0
    sigma_data: float = 1.0
    weighting: Weighting = "sigma2"

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_sigmas(self)


class ScoreSDE(DiffusionModel):
    """A noise-conditional score network s_θ(x, t) = −ε_θ(c_in x, t)/σ_t for a forward SDE.

    Trained by `dsm_loss` with t ~ U(ε, T); samplers: the ``sde`` family (``pc``: reverse
    diffusion + Langevin corrector, ``euler_maruyama``), the PF-ODE solvers and
    ``annealed_langevin``. VE inputs are scaled by c_in = 1/√(σ² + σ_data²) (Karras et al.
    2022, Table 1). Subclasses give `make_sde`.
    """

    kind_defaults: ClassVar[KindDefaults] = DIFFUSION_KIND_DEFAULTS
    families: ClassVar[tuple[Family, ...]] = ("sde", "ode", "langevin")
    default_sampler = "pc"

    def __init__(self, config: Any, event_shape: tuple[int, ...]) -> None:
        super().__init__(config, event_shape)
        self.sde = self.make_sde(config)
        self.net = make_net(self.event_shape, config)

    @staticmethod
    def make_sde(config: Any) -> SDE:
        """The forward SDE of ``config``."""
        raise NotImplementedError  # abstractmethod

    @property
    def process(self) -> SDE:
        return self.sde

    def predict_eps(self, x_t: Tensor, t: Tensor, labels: Tensor | None = None) -> Tensor:
        """ε̂(x_t, t): the network on the (VE: c_in-scaled) input, x̂₀ bounded by `bound_x0`."""
        alpha, sigma = self.sde.marginal(t)
        x_in = x_t
        if isinstance(self.sde, VESDE):
            x_in = x_t * append_dims((sigma.square() + self.config.sigma_data**2).rsqrt(), x_t.ndim)
        eps = self.net(x_in, TIME_SCALE * t, labels)
        if self.training:
            return eps
        x0 = eps_to_x0(x_t, eps, alpha, sigma)
        return bounded_eps(self.bound_x0(x0), x0, eps, x_t, alpha, sigma)

    def score(self, x_t: Tensor, t: Tensor, labels: Tensor | None = None) -> Tensor:
        """s_θ(x_t, t) = −ε̂/σ_t."""
        return eps_to_score(self.predict_eps(x_t, t, labels), self.sde.marginal(t)[1])

    def loss(self, batch: Tensor, labels: Tensor | None = None) -> Tensor:
        """DSM on ``batch``; ``labels`` ``[B]`` for a class-conditional model."""
        labels = training_labels(self, labels, batch)
        sde = self.sde
        t = sde.eps + (sde.T - sde.eps) * torch.rand(batch.shape[0], device=batch.device)
        t = t.to(batch.dtype)
        alpha, sigma = sde.marginal(t)
        weight = WEIGHTINGS[self.config.weighting](sde, t)
        score = _bind(self.score, labels)
        return dsm_loss(score, batch, sigma, t, alpha=alpha, weight=weight)

    def denoiser(self, x_hat: Tensor, sigma_hat: Tensor, labels: Tensor | None = None) -> Tensor:
        t = self.sde.sigma_hat_to_t(sigma_hat)
        alpha, sigma = self.sde.marginal(t)
        x_t = append_dims(alpha, x_hat.ndim) * x_hat
        return eps_to_x0(x_t, self.predict_eps(x_t, t, labels), alpha, sigma)


@register_method(
    "sde_vp",
    camp="diffusion",
    order=2,
    description="variance-preserving score SDE (predictor-corrector, PF-ODE)",
)
class VPSDEModel(ScoreSDE):
    """Score SDE with the VP SDE (continuous DDPM)."""

    Config = VPConfig

    @staticmethod
    def make_sde(config: VPConfig) -> SDE:
        return VPSDE(config.beta_min, config.beta_max)


@register_method(
    "sde_subvp",
    camp="diffusion",
    order=4,
    description="sub-VP score SDE (predictor-corrector, PF-ODE)",
)
class SubVPSDEModel(ScoreSDE):
    """Score SDE with the sub-VP SDE."""

    Config = SubVPConfig

    @staticmethod
    def make_sde(config: SubVPConfig) -> SDE:
        return SubVPSDE(config.beta_min, config.beta_max)


@register_method(
    "sde_ve",
    camp="diffusion",
    order=3,
    description="variance-exploding score SDE (predictor-corrector, PF-ODE)",
)
class VESDEModel(ScoreSDE):
    """Score SDE with the VE SDE (continuous NCSN)."""

    Config = VEConfig

    @staticmethod
    def make_sde(config: VEConfig) -> SDE:
        return VESDE(config.sigma_min, config.sigma_max)


# ---- NCSN ---------------------------------------------------------------------------------


@dataclass
class NCSNConfig(ScoreConfig):
    """NCSN (Song & Ermon 2019, with the techniques of Song & Ermon 2020): L geometric levels
    σ_1 = sigma_max > ... > σ_L = sigma_min, inputs scaled by c_in = 1/√(σ² + sigma_data²);
    ``objective`` DSM or sliced score matching.

    Song & Ermon 2020's rules: σ_1 about the largest distance between data points
    (technique 1), a geometric ladder with enough levels (technique 2), s(x, σ) = s(x)/σ by
    the ε-output divided by σ (technique 3), annealed Langevin's ε from T =
    ``steps_per_level`` (technique 4: ``step_lr`` None, `langevin_step_size`; it suits a
    ladder whose σ_min is near the data's finest scale, the toy defaults, while the default
    σ_min = 0.01 keeps the fixed ε = 2e-5), EMA weights (technique 5,
    `TrainConfig.ema_decay`), and a final denoising step.

    Attributes:
        sigma_min: σ_L, the smallest noise level.
        sigma_max: σ_1, the largest noise level (about the data's diameter).
        sigma_data: σ_data of the input scaling c_in = 1/√(σ² + σ_data²).
        levels: L, the number of geometric noise levels.
        objective: ``"dsm"`` (denoising score matching) or ``"ssm"`` (sliced score matching,
            Song et al. 2019).
        steps_per_level: T, annealed Langevin's steps at each level.
    """

    sigma_min: float = 0.01
    sigma_max: float = 10.0
    sigma_data: float = 1.0
    levels: int = 10
    objective: Literal["dsm", "ssm"] = "dsm"
    steps_per_level: int = 100

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_sigmas(self, equal_ok=True)  # levels=1, sigma_max=sigma_min: one noise level
        at_least(self, 1, "levels", "steps_per_level", where="model")


@register_method(
    "ncsn",
    camp="diffusion",
    order=0,
    description="noise-conditional score network sampled by annealed Langevin",
)
class NCSN(ScoreSDE):
    """Noise-conditional score network on L discrete levels, sampled by annealed Langevin.

    The VE SDE with its time restricted to L levels (`NCSNLevels`): training draws σ
    uniformly among them and minimises DSM with λ(σ) = σ² (or sliced score matching on the
    noised data, ``objective="ssm"``); the default sampler is Algorithm 1 of Song & Ermon
    2019 on the same levels (``annealed_langevin``, L levels unless ``steps`` says otherwise).
    """

    Config = NCSNConfig
    # a 2-D score needs no 256-wide network, but many steps at a higher learning rate; the
    # ladder of Song & Ermon 2020 (σ_1 about the data's diameter, ending near the scale of its
    # finest structure, 30 levels) sampled with 20 steps per level at technique 4's ε
    kind_defaults: ClassVar[KindDefaults] = {
        "toy2d": {
            "train": {"steps": 8000, "lr": 2e-3},
            "model": {
                "width": 128,
                "sigma_min": 0.1,
                "sigma_max": 8.0,
                "levels": 30,
                "steps_per_level": 20,
                "step_lr": None,
            },
        },
        "image": {"train": {"steps": 3000, "batch_size": 128}},
    }
    default_sampler = "annealed_langevin"

    @staticmethod
    def make_sde(config: NCSNConfig) -> SDE:
        return NCSNLevels(config.sigma_min, config.sigma_max, levels=config.levels)

    def loss(self, batch: Tensor, labels: Tensor | None = None) -> Tensor:
        """DSM (or SSM) over the L levels; ``labels`` ``[B]`` for a class-conditional model."""
        labels = training_labels(self, labels, batch)
        score = _bind(self.score, labels)
        i = torch.randint(0, self.config.levels, (batch.shape[0],), device=batch.device)
        t = self.sde.level_times(i.to(batch.dtype))
        sigma = self.sde.marginal(t)[1]
        if self.config.objective == "dsm":
            return dsm_loss(score, batch, sigma, t)
        noised = batch + append_dims(sigma, batch.ndim) * torch.randn_like(batch)
        # SSM on x̃ ~ p_σ matches ∇ log p_σ; weight σ² per level as for DSM
        w = append_dims(sigma, batch.ndim)
        return sliced_score_matching_loss(lambda x: w * score(x, t), noised)


# ---- flow matching -------------------------------------------------------------------------


@dataclass
class FlowMatchingConfig(NetConfig):
    """Flow matching: ``sigma_min`` = 0 is rectified flow; ``coupling`` "ot" is OT-CFM.

    Attributes:
        sigma_min: σ_min of the path x_t = (1 − t) x₀ + (σ_min + (1 − σ_min) t) ε (0:
            rectified flow).
        coupling: how noise meets data in a batch: ``"independent"`` or ``"ot"`` (minibatch
            OT, Tong et al. 2023; needs POT).
        t_min: the smallest time trained at and integrated to.
        t_max: the largest time trained at and integrated from (t = 1 is pure noise).
    """

    sigma_min: float = 0.0
    coupling: Literal["independent", "ot"] = "independent"
    t_min: float = 0.01
    t_max: float = 0.999

    def __post_init__(self) -> None:
        super().__post_init__()
        check_range(self.sigma_min, "model.sigma_min", ge=0, lt=1)
        check_range(self.t_min, "model.t_min", ge=0, lt=1)
        check_range(self.t_max, "model.t_max", gt=self.t_min, le=1)


@register_method(
    "flow_matching",
    camp="diffusion",
    order=5,
    description="flow matching / rectified flow (ODE sampling, exact likelihood)",
)
class FlowMatching(DiffusionModel):
    """A velocity network v_θ(x_t, t) on x_t = (1 − t) x₀ + (σ_min + (1 − σ_min) t) ε.

    Sampled by the same ODE solvers through D = (1 − σ_min) x_t − σ_t v̂ (exact for any v̂;
    Euler on the uniform-t grid, which `FlowMatchingPath` gives every solver, is the usual
    flow-matching Euler step).
    """

    Config = FlowMatchingConfig
    kind_defaults: ClassVar[KindDefaults] = DIFFUSION_KIND_DEFAULTS
    default_sampler = "euler"

    def __init__(self, config: FlowMatchingConfig, event_shape: tuple[int, ...]) -> None:
        super().__init__(config, event_shape)
        self.path = FlowMatchingPath(config.sigma_min, config.t_min, config.t_max)
        self.net = make_net(self.event_shape, config)

    @property
    def process(self) -> FlowMatchingPath:
        return self.path

    def velocity(self, x_t: Tensor, t: Tensor, labels: Tensor | None = None) -> Tensor:
        """v̂(x_t, t), ``t`` ``[B]`` in [0, 1] (t = 1 is noise)."""
        return self.net(x_t, TIME_SCALE * t, labels)

    def loss(self, batch: Tensor, labels: Tensor | None = None) -> Tensor:
        """Conditional flow matching; ``labels`` ``[B]`` for a class-conditional model (the OT
        coupling reorders the noise, so each label stays with its data point)."""
        labels = training_labels(self, labels, batch)
        return flow_matching_loss(
            _bind(self.velocity, labels), batch, sigma_min=self.config.sigma_min,
            coupling=self.config.coupling,
        )  # fmt: skip

    def denoiser(self, x_hat: Tensor, sigma_hat: Tensor, labels: Tensor | None = None) -> Tensor:
        t = self.path.sigma_hat_to_t(sigma_hat)
        alpha, sigma = self.path.alpha_sigma(t)
        x_t = append_dims(alpha, x_hat.ndim) * x_hat
        v = self.velocity(x_t, t, labels)
        return self.bound_x0((1 - self.config.sigma_min) * x_t - append_dims(sigma, x_hat.ndim) * v)
