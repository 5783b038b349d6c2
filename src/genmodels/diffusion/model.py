"""`DiffusionModel`: what every diffusion method shares — the EDM view, sampling, likelihood.

A method (DDPM, score SDE, NCSN, flow matching) owns a network and a noise process and exposes
its prediction as an EDM denoiser D(x̂; σ̂) (see `parameterization`). From that one view the
PF-ODE solvers, annealed Langevin and the likelihood work for every method; methods add their
own native samplers (DDPM ancestral/DDIM, reverse-SDE predictor–corrector).

`sample(n, sampler=NAME, steps=K)` looks NAME up in `SAMPLERS`, a registry of small adapters
that draw the starting noise, build the step grid, wrap the network in an `NFECounter`, and
call the free sampler function.

Class-conditional models (``num_classes`` > 0 in the config) take ``labels`` in `loss` (each
replaced by the null label ∅ with probability ``label_dropout``) and ``labels``/``guidance`` in
`sample`: every adapter wraps the model function it calls in a `Guidance`, classifier-free
guidance (Ho & Salimans 2022) for every sampler.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from genmodels.diffusion.guidance import Guidance
from genmodels.diffusion.likelihood import LikelihoodResult, pf_ode_log_prob
from genmodels.diffusion.parameterization import denoiser_to_score
from genmodels.diffusion.samplers import (
    NFECounter,
    sample_dopri5,
    sample_dpmpp_2m,
    sample_euler,
    sample_heun,
)
from genmodels.diffusion.schedules import geometric_sigmas, karras_sigmas
from genmodels.errors import ConfigError, InvalidInputError, NotApplicableError
from genmodels.mcmc.annealed_langevin import annealed_langevin
from genmodels.models.base import GenerativeModel
from genmodels.registry import Registry
from genmodels.samples import Samples

__all__ = ["SAMPLERS", "DiffusionModel", "make_net"]

Runner = Callable[..., tuple[Tensor, int]]
SAMPLERS: Registry[Runner] = Registry("diffusion sampler")
"""name → ``runner(model, n, steps, generator, callback, *, guide, **options) -> (x₀, calls)``.

``guide`` is a `Guidance`; a runner applies it to the model function it hands to its sampler
(``guide(model.denoiser)``) and returns how often that function was called.
"""

ODE_SAMPLERS = ("euler", "heun", "dpmpp_2m", "dopri5")
EDM_SIGMA_MAX = 80.0
"""Where the ODE solvers' σ̂ grid starts at most (Karras et al. 2022, Table 1, for VP and VE
alike). A linear-β DDPM reaches σ̂ ≈ 157; the steps above 80 are spent where x̂ is pure noise
(on eight_gaussians with the exact score, Heun at 19 NFE: mmd 0.035 from 157, 0.019 from 80)."""


def make_net(event_shape: tuple[int, ...], config: Any) -> nn.Module:
    """A `TimeMLP` for vectors ``(d,)``, a `UNet` for images ``(C, H, W)``, sized by ``config``."""
    from genmodels.nets.mlp import TimeMLP
    from genmodels.nets.unet import UNet

    num_classes = getattr(config, "num_classes", 0)
    if len(event_shape) == 1:
        return TimeMLP(
            event_shape[0], width=config.width, depth=config.depth, num_classes=num_classes
        )
    if len(event_shape) == 3:
        return UNet(
            event_shape[0],
            base=config.unet_base,
            mults=tuple(config.unet_mults),
            blocks=config.unet_blocks,
            num_classes=num_classes,
        )
    raise InvalidInputError(
        f"diffusion models take vectors (d,) or images (C, H, W), got {event_shape}"
    )


class DiffusionModel(GenerativeModel):
    """Base of the diffusion methods. Subclasses implement `denoiser` and the σ̂ range.

    Class attributes: ``samplers`` (names this method accepts), ``default_sampler``.

    Every model function (`denoiser`, `score_hat`, and the methods' ``predict_eps``, ``score``,
    ``velocity``) takes ``labels`` ``[B]`` for a class-conditional model (None: the null
    label ∅, the unconditional model).
    """

    camp = "diffusion"
    likelihood = "exact"
    samplers: ClassVar[tuple[str, ...]] = (*ODE_SAMPLERS, "annealed_langevin")
    default_sampler: ClassVar[str] = "heun"

    def __init__(self, config: Any, event_shape: tuple[int, ...]) -> None:
        super().__init__(config, event_shape)
        k, p = getattr(config, "num_classes", 0), getattr(config, "label_dropout", 0.0)
        if k < 0 or not 0.0 <= p < 1.0:
            raise ConfigError(f"need num_classes >= 0 and 0 <= label_dropout < 1, got {k}, {p}")

    # ---- class conditioning (Ho & Salimans 2022) ----------------------------------------
    @property
    def num_classes(self) -> int:
        """K > 0 for a class-conditional model (labels 0..K−1, ∅ = K); 0: unconditional."""
        return int(getattr(self.config, "num_classes", 0))

    @property
    def null_label(self) -> int:
        """The index of the null label ∅ (= ``num_classes``)."""
        return self.num_classes

    def check_labels(self, labels: Tensor | int | None, n: int) -> Tensor | None:
        """``labels`` as a long tensor ``[n]`` on the model's device (an int: all the same).

        Raises:
            InvalidInputError: labels for an unconditional model, a wrong shape, or a label
                outside 0..K−1.
        """
        if labels is None:
            return None
        if self.num_classes == 0:
            raise InvalidInputError(
                f"{type(self).__name__} was built without classes (num_classes=0); "
                "train it with model.num_classes=K to condition on labels"
            )
        device = self._param().device
        if isinstance(labels, int) and not isinstance(labels, bool):
            labels = torch.full((n,), labels, dtype=torch.long, device=device)
        if not isinstance(labels, Tensor) or labels.dtype.is_floating_point or labels.is_complex():
            raise InvalidInputError(f"labels must be an int or an integer tensor, got {labels!r}")
        if tuple(labels.shape) != (n,):
            raise InvalidInputError(f"expected labels of shape [{n}], got {tuple(labels.shape)}")
        labels = labels.to(device=device, dtype=torch.long)
        lo, hi = (int(labels.min()), int(labels.max())) if n else (0, 0)
        if lo < 0 or hi >= self.num_classes:
            got = str(lo) if lo == hi else f"{lo}..{hi}"
            raise InvalidInputError(f"labels must lie in 0..{self.num_classes - 1}, got {got}")
        return labels

    def drop_labels(self, labels: Tensor) -> Tensor:
        """Training labels with each replaced by ∅ with probability ``label_dropout``.

        Ho & Salimans 2022, Alg. 1: c ← ∅ with probability p_uncond, so one network learns the
        conditional and the unconditional model. Uses the global RNG (training noise).
        """
        p = float(getattr(self.config, "label_dropout", 0.0))
        drop = torch.rand(labels.shape, device=labels.device) < p
        return torch.where(drop, torch.full_like(labels, self.null_label), labels)

    def training_labels(self, labels: Tensor | None, batch: Tensor) -> Tensor | None:
        """`check_labels` then `drop_labels`: what `loss` conditions the network on."""
        labels = self.check_labels(labels, batch.shape[0])
        return None if labels is None else self.drop_labels(labels)

    def guidance(self, labels: Tensor | int | None, n: int, w: float = 0.0) -> Guidance:
        """The `Guidance` for sampling ``n`` draws with ``labels`` at strength ``w``.

        Raises:
            InvalidInputError: bad labels (see `check_labels`), guidance without labels, w < 0.
            NotApplicableError: w > 0 on a model trained without label dropout (its ∅ branch
                never learned the unconditional model).
        """
        guide = Guidance(self.check_labels(labels, n), float(w), self.null_label)
        if guide.guided and float(getattr(self.config, "label_dropout", 0.0)) == 0.0:
            raise NotApplicableError(
                "guidance needs the unconditional model, but this one was trained with "
                "label_dropout=0"
            )
        return guide

    # ---- the EDM view: x̂ = x₀ + σ̂ ε ---------------------------------------------------
    def denoiser(self, x_hat: Tensor, sigma_hat: Tensor, labels: Tensor | None = None) -> Tensor:
        """D(x̂; σ̂) = E[x₀ | x̂], ``x_hat`` ``[B, *event]``, ``sigma_hat`` ``[B]``."""
        raise NotImplementedError  # abstractmethod

    def alpha_of_sigma_hat(self, sigma_hat: Tensor | float) -> Tensor | float:
        """α at EDM level σ̂, so that x_t = α x̂ (native coordinates, for animations)."""
        return 1.0 / math.sqrt(1.0 + float(sigma_hat) ** 2)

    @property
    def sigma_hat_min(self) -> float:
        raise NotImplementedError  # abstractmethod

    @property
    def sigma_hat_max(self) -> float:
        raise NotImplementedError  # abstractmethod

    @property
    def prior_std_hat(self) -> float:
        """Std of the prior in x̂ coordinates: x_T ~ N(0, I) ⇒ x̂_T ~ N(0, (σ̂_max² + 1) I)."""
        return math.sqrt(self.sigma_hat_max**2 + 1.0)

    def score_hat(self, x_hat: Tensor, sigma_hat: Tensor, labels: Tensor | None = None) -> Tensor:
        """∇ log p(x̂; σ̂) = (D − x̂)/σ̂²: the noise-conditional score annealed Langevin needs."""
        return denoiser_to_score(x_hat, self.denoiser(x_hat, sigma_hat, labels), sigma_hat)

    def sigmas(self, steps: int, schedule: str = "karras") -> Tensor:
        """σ̂ grid for ODE solvers, from min(σ̂_max, `EDM_SIGMA_MAX`) to σ̂_min, then 0.

        ``"karras"``: EDM's ρ = 7 grid (dense near σ̂_min); ``"logsnr"``: uniform in
        log-SNR = −2 log σ̂, i.e. geometric in σ̂ (Lu et al. 2022, DPM-Solver++'s choice).
        """
        hi = min(self.sigma_hat_max, EDM_SIGMA_MAX)
        if schedule == "karras":
            return karras_sigmas(steps, self.sigma_hat_min, hi)
        if schedule == "logsnr":
            return geometric_sigmas(steps, self.sigma_hat_min, hi)
        raise InvalidInputError(
            f"unknown σ schedule {schedule!r} for {type(self).__name__} (karras, logsnr)"
        )

    def ode_schedule(self, solver: str) -> str:
        """The `sigmas` grid ODE solver ``solver`` uses unless told otherwise: log-SNR steps for
        DPM-Solver++ (its paper's rule), EDM's ρ = 7 grid for the others."""
        return "logsnr" if solver == "dpmpp_2m" else "karras"

    def start_std_hat(self, sigma_hat: float) -> float:
        """Std of x̂ at the level ``sigma_hat`` an ODE solve starts from: the prior's at
        σ̂_max, else √(σ̂² + 1) (data of about unit scale, as EDM assumes)."""
        if sigma_hat >= self.sigma_hat_max:
            return self.prior_std_hat
        return math.sqrt(sigma_hat**2 + 1.0)

    def langevin_sigmas(self, levels: int) -> Tensor:
        """Geometric levels for annealed Langevin, from min(σ̂_max, 20) down to σ̂_min."""
        hi = min(self.sigma_hat_max, 20.0)
        return torch.logspace(math.log10(hi), math.log10(self.sigma_hat_min), levels)

    # ---- sampling and likelihood ----------------------------------------------------
    def _param(self) -> Tensor:
        return next(self.parameters())

    def randn(self, n: int, generator: torch.Generator | None) -> Tensor:
        p = self._param()
        return torch.randn(
            n, *self.event_shape, generator=generator, device=p.device, dtype=p.dtype
        )

    def sample(
        self,
        n: int,
        *,
        generator: torch.Generator | None = None,
        sampler: str | None = None,
        steps: int | None = None,
        callback: Callable[[int, Tensor], None] | None = None,
        labels: Tensor | int | None = None,
        guidance: float = 0.0,
        **options: Any,
    ) -> Samples:
        """Draw ``n`` samples with a named sampler.

        Args:
            n: number of samples.
            generator: seeds the starting noise and any injected noise.
            sampler: one of ``type(self).samplers`` (default ``default_sampler``).
            steps: steps of the sampler (noise levels for annealed Langevin).
            callback: ``callback(i, x_i)`` after each step, ``x_i`` in data coordinates.
            labels: class-conditional models: the class of each sample (``[n]`` long, or one
                int for all); None samples the unconditional model (the ∅ branch).
            guidance: classifier-free guidance strength w ≥ 0 (Ho & Salimans 2022, eq. 6);
                0 is plain conditional sampling. Each guided step evaluates the network on
                the conditional and the ∅ half in one batch, and counts as 2 NFE.
            **options: passed to the sampler (``eta``, ``snr``, ``step_lr``, ...).

        Returns:
            `Samples` with ``x`` ``[n, *event]``, ``nfe`` network evaluations and seconds
            (``info``: ``steps``, and ``guidance`` when labels were given).

        Example:
            >>> from genmodels.diffusion import DDPM
            >>> m = DDPM(DDPM.Config(width=16, depth=1, num_classes=3), (2,))
            >>> m.sample(4, labels=torch.tensor([0, 1, 2, 0]), guidance=2.0, steps=5).nfe
            10
        """
        name = sampler or self.default_sampler
        if name not in self.samplers:
            SAMPLERS.get(name)  # unknown name: raises with a suggestion
            raise NotApplicableError(
                f"{type(self).__name__} cannot sample with {name!r} "
                f"(available: {', '.join(self.samplers)})"
            )
        guide = self.guidance(labels, n, guidance)
        start = time.perf_counter()
        with torch.no_grad():
            x, calls = SAMPLERS.get(name)(
                self, n, steps, generator, callback, guide=guide, **options
            )
        info: dict[str, float] = {"steps": steps or 0}
        if guide.labels is not None:
            info["guidance"] = guide.w
        nfe = calls * guide.evaluations_per_call
        return Samples(x, nfe=nfe, seconds=time.perf_counter() - start, info=info)

    def pf_ode_log_prob(
        self, x: Tensor, *, generator: torch.Generator | None = None, **options: Any
    ) -> LikelihoodResult:
        """log p(x) via the PF-ODE in EDM coordinates, integrated over u = log σ̂.

        dx̂/du = x̂ − D(x̂; eᵘ) from σ̂_min (the data, up to σ̂_min ≈ 0.01 of noise) to σ̂_max,
        with prior N(0, prior_std_hat² I). Options go to `pf_ode_log_prob` (``divergence``,
        ``rtol``, ``atol``).
        """
        if tuple(x.shape[1:]) != self.event_shape:
            raise InvalidInputError(
                f"expected x of shape [B, {self.event_shape}], got {tuple(x.shape)}"
            )
        s = self.prior_std_hat
        d = math.prod(self.event_shape)

        def prior_log_prob(z: Tensor) -> Tensor:
            return -0.5 * (z / s).flatten(1).square().sum(1) - d * math.log(
                s * math.sqrt(2 * math.pi)
            )

        def drift(x_hat: Tensor, u: Tensor) -> Tensor:
            return x_hat - self.denoiser(x_hat, u.exp())

        span = (math.log(self.sigma_hat_min), math.log(self.sigma_hat_max))
        return pf_ode_log_prob(drift, x, span, prior_log_prob, generator=generator, **options)

    def log_prob(self, x: Tensor) -> Tensor:
        """Exact log-density of the model's probability-flow ODE (see `pf_ode_log_prob`)."""
        return self.pf_ode_log_prob(x).log_prob


# ---- sampler adapters ---------------------------------------------------------------------


def _ode_runner(name: str, solver: Callable[..., Tensor]) -> Runner:
    def run(
        model: DiffusionModel,
        n: int,
        steps: int | None,
        generator: torch.Generator | None,
        callback: Callable[[int, Tensor], None] | None,
        *,
        guide: Guidance,
        schedule: str | None = None,
        **options: Any,
    ) -> tuple[Tensor, int]:
        default_steps = 100 if solver is sample_euler else 18
        sigmas = model.sigmas(steps or default_steps, schedule or model.ode_schedule(name))
        denoiser = NFECounter(guide(model.denoiser))
        x_hat = model.randn(n, generator) * model.start_std_hat(float(sigmas[0]))
        cb = None
        if callback is not None:
            levels = sigmas.tolist()

            def cb(i: int, x: Tensor) -> None:  # x̂ → native x_t = α x̂
                callback(i, x * model.alpha_of_sigma_hat(levels[min(i + 1, len(levels) - 1)]))

        x = solver(denoiser, x_hat, sigmas, generator=generator, callback=cb, **options)
        return x, denoiser.nfe

    run.__doc__ = f"Adapter: model → `{solver.__name__}` on the model's σ̂ grid."
    return run


for _name, _solver in zip(
    ODE_SAMPLERS, (sample_euler, sample_heun, sample_dpmpp_2m, sample_dopri5), strict=True
):
    SAMPLERS.add(_name, _ode_runner(_name, _solver))


@SAMPLERS.register("annealed_langevin")
def _run_annealed_langevin(
    model: DiffusionModel,
    n: int,
    steps: int | None,
    generator: torch.Generator | None,
    callback: Callable[[int, Tensor], None] | None,
    *,
    guide: Guidance,
    steps_per_level: int = 100,
    step_lr: float | None = None,
    final_denoise: bool = True,
) -> tuple[Tensor, int]:
    """Adapter: annealed Langevin on the model's score −ε̂/σ̂ (Song & Ermon 2019, Alg. 1)."""
    sigmas = model.langevin_sigmas(steps or 10)
    lr = step_lr if step_lr is not None else getattr(model.config, "step_lr", 2e-5)
    x_init = model.randn(n, generator) * float(sigmas[0])
    out = annealed_langevin(
        guide(model.score_hat), x_init, sigmas, steps_per_level=steps_per_level, step_lr=lr,
        generator=generator, callback=callback, final_denoise=final_denoise,
    )  # fmt: skip
    return out.x, out.nfe
