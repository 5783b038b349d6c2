"""`DiffusionModel`: what every diffusion method is — a network, a noise process, a denoiser.

A method (DDPM, score SDE, NCSN, flow matching) owns a network and a noise process
(`noise.NoiseProcess`: a `DiscreteSchedule`, an `SDE`, a `FlowMatchingPath`) and exposes its
prediction as an EDM denoiser D(x̂; σ̂) (see `parameterization`). From that one view the
PF-ODE solvers, annealed Langevin and the likelihood work for every method; a method adds
the families of its native samplers (``discrete`` for DDPM's ε̂, ``sde`` for the score SDEs'
score) by naming them in ``families`` and defining the function the family consumes.

Sampling lives with the solvers: ``model.sample(n, sampler=NAME)`` runs the solver NAME
registered in `solvers.SOLVERS` through its family's driver (`drivers`). Labels and
classifier-free guidance (Ho & Salimans 2022) live in `guidance`.
"""

from __future__ import annotations

import dataclasses
import math
import typing
from typing import Any, ClassVar, Literal

import torch
from torch import Tensor, nn

from genmodels.diffusion.drivers import sample as run_solver
from genmodels.diffusion.drivers import solvers_for
from genmodels.diffusion.guidance import check_class_config
from genmodels.diffusion.likelihood import LikelihoodResult, pf_ode_log_prob
from genmodels.diffusion.noise import NoiseProcess
from genmodels.diffusion.samplers import Callback
from genmodels.diffusion.solvers import Family
from genmodels.errors import ConfigError, InvalidInputError
from genmodels.models.base import GenerativeModel
from genmodels.samples import Samples

__all__ = ["X0_RANGE_MARGIN", "DiffusionModel", "check_choices", "make_net"]

X0_RANGE_MARGIN = 0.5
"""How far beyond the training data's range an x̂₀ may go, as a fraction of the range's
width on each side (see `DiffusionModel.bound_x0`)."""

_UNBOUNDED = torch.finfo(torch.float32).max  # finite, so an EMA of it stays a number


def check_choices(config: Any) -> None:
    """Raise `ConfigError` where a ``Literal[...]`` field of dataclass ``config`` holds a value
    outside its options (a config built in Python skips `config_from_dict`'s check).

    Example:
        >>> @dataclasses.dataclass
        ... class C:
        ...     kind: Literal["a", "b"] = "a"
        >>> check_choices(C("c"))
        Traceback (most recent call last):
        ...
        genmodels.errors.ConfigError: unknown kind 'c' (a, b)
    """
    hints = typing.get_type_hints(type(config))
    for f in dataclasses.fields(config):
        options = (
            typing.get_args(hints[f.name]) if typing.get_origin(hints[f.name]) is Literal else ()
        )
        value = getattr(config, f.name)
        if options and value not in options:
            raise ConfigError(f"unknown {f.name} {value!r} ({', '.join(map(str, options))})")


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
    """Base of the diffusion methods. Subclasses give `process` and `denoiser`.

    Class attributes: ``families`` (the solver families it offers, see `solvers`),
    ``default_sampler``.

    Every model function (`denoiser`, and the methods' ``predict_eps``, ``score``,
    ``velocity``) takes ``labels`` ``[B]`` for a class-conditional model (None: the null
    label ∅, the unconditional model).
    """

    camp = "diffusion"
    likelihood = "exact"
    families: ClassVar[tuple[Family, ...]] = ("ode", "langevin")
    default_sampler: ClassVar[str] = "heun"

    def __init__(self, config: Any, event_shape: tuple[int, ...]) -> None:
        super().__init__(config, event_shape)
        check_class_config(config)
        check_choices(config)
        # where x₀ can lie: [low, high] per coordinate for vectors, one range for images
        shape = tuple(event_shape) if len(event_shape) == 1 else (1,) * len(event_shape)
        bounds = torch.tensor([-_UNBOUNDED, _UNBOUNDED]).reshape(2, *[1] * len(shape))
        self.register_buffer("x0_range", bounds.expand(2, *shape).clone())
        self._register_load_state_dict_pre_hook(self._fill_x0_range)

    def _fill_x0_range(self, state: dict, prefix: str, *args: Any) -> None:
        """A checkpoint written before ``x0_range`` existed loads as unbounded."""
        state.setdefault(prefix + "x0_range", self.x0_range.clone())

    def init_from_data(self, x: Tensor) -> None:
        """Record the range of the first training batch as ``x0_range`` (see `bound_x0`)."""
        x = x.detach().to(self.x0_range)
        dims = (0,) if x.ndim == 2 else tuple(range(x.ndim))
        low, high = x.amin(dim=dims, keepdim=x.ndim > 2), x.amax(dim=dims, keepdim=x.ndim > 2)
        if x.ndim > 2:
            low, high = low[0], high[0]
        margin = X0_RANGE_MARGIN * (high - low)
        self.x0_range.copy_(torch.stack([low - margin, high + margin]))

    def bound_x0(self, x0: Tensor) -> Tensor:
        """x̂₀ kept within the training data's range, widened by `X0_RANGE_MARGIN`.

        Why: an ε- (or score-) network's x̂₀ = (x_t − σ_t ε̂)/α_t multiplies the error of ε̂ by
        σ̂ = σ_t/α_t, up to 80 and more at the start of a solve, and a deterministic solver
        carries the error to the end: an under-trained model's samples land far outside the
        data. E[x₀ | x_t] lies in the convex hull of the data, so the bound never moves an
        exact denoiser's output (beyond the margin, never in practice); it removes the
        amplified error. A model not trained by `fit` (no `init_from_data`) is unbounded;
        training (``self.training``) is never bounded.
        """
        if self.training:
            return x0
        low, high = self.x0_range[0].to(x0), self.x0_range[1].to(x0)
        return torch.maximum(torch.minimum(x0, high), low)

    @property
    def process(self) -> NoiseProcess:
        """The noise process: σ̂ range, grids, conversions (`NoiseProcess`)."""
        raise NotImplementedError  # abstractmethod

    @property
    def num_classes(self) -> int:
        """K > 0 for a class-conditional model (labels 0..K−1, ∅ = K); 0: unconditional."""
        return int(getattr(self.config, "num_classes", 0))

    @property
    def samplers(self) -> tuple[str, ...]:
        """Every registered solver of a family this model offers."""
        return solvers_for(self)

    def denoiser(self, x_hat: Tensor, sigma_hat: Tensor, labels: Tensor | None = None) -> Tensor:
        """D(x̂; σ̂) = E[x₀ | x̂], ``x_hat`` ``[B, *event]``, ``sigma_hat`` ``[B]``."""
        raise NotImplementedError  # abstractmethod

    def sample(
        self,
        n: int,
        *,
        generator: torch.Generator | None = None,
        sampler: str | None = None,
        steps: int | None = None,
        callback: Callback | None = None,
        labels: Tensor | int | None = None,
        guidance: float = 0.0,
        **options: Any,
    ) -> Samples:
        """Draw ``n`` samples with a registered solver.

        Args:
            n: number of samples.
            generator: seeds the starting noise and any injected noise (any device: draws
                are made on its device and moved to the model's, see `noise_like`).
            sampler: a solver of one of ``families`` (default ``default_sampler``).
            steps: steps of the solver (noise levels for annealed Langevin); default the
                solver's own (`SolverSpec.steps_for`).
            callback: ``callback(state)`` after each step with the `StepState` dict
                ``{"i", "x", "sigma", "denoised"}``, ``x`` in data coordinates x_t.
            labels: class-conditional models: the class of each sample (``[n]`` long, or one
                int for all); None samples the unconditional model (the ∅ branch).
            guidance: classifier-free guidance strength w ≥ 0 (Ho & Salimans 2022, eq. 6);
                0 is plain conditional sampling. Each guided step evaluates the network on
                the conditional and the ∅ half in one batch, and counts as 2 NFE.
            **options: ``grid`` (override the solver's σ̂ grid or timestep spacing) and the
                solver's own options (``eta``, ``snr``, ``step_lr``, ...).

        Returns:
            `Samples` with ``x`` ``[n, *event]``, ``nfe`` network evaluations and seconds
            (``info``: ``steps``, and ``guidance`` when labels were given).

        Example:
            >>> from genmodels.diffusion import DDPM
            >>> m = DDPM(DDPM.Config(width=16, depth=1, num_classes=3), (2,))
            >>> m.sample(4, labels=torch.tensor([0, 1, 2, 0]), guidance=2.0, steps=5).nfe
            10
        """
        return run_solver(
            self, n, sampler=sampler, steps=steps, generator=generator, callback=callback,
            labels=labels, guidance=guidance, **options,
        )  # fmt: skip

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
        process = self.process
        s = process.prior_std_hat
        d = math.prod(self.event_shape)

        def prior_log_prob(z: Tensor) -> Tensor:
            return -0.5 * (z / s).flatten(1).square().sum(1) - d * math.log(
                s * math.sqrt(2 * math.pi)
            )

        def drift(x_hat: Tensor, u: Tensor) -> Tensor:
            return x_hat - self.denoiser(x_hat, u.exp())

        span = (math.log(process.sigma_hat_min), math.log(process.sigma_hat_max))
        return pf_ode_log_prob(drift, x, span, prior_log_prob, generator=generator, **options)

    def log_prob(self, x: Tensor) -> Tensor:
        """Exact log-density of the model's probability-flow ODE (see `pf_ode_log_prob`)."""
        return self.pf_ode_log_prob(x).log_prob
