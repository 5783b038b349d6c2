"""The learned-model interface shared by the maps (GAN, VAE, flows) and diffusion models."""

from __future__ import annotations

import abc
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import torch
from torch import Tensor, nn

from genmodels.samples import Samples

__all__ = ["Camp", "GenerativeModel", "KindDefaults", "LikelihoodKind", "Player"]

Camp = Literal["chain", "map", "diffusion", "hybrid", "density"]
LikelihoodKind = Literal["exact", "bound", "none"]
KindDefaults = dict[str, dict[str, dict[str, Any]]]
"""Target kind → ``{"model": {...}, "train": {...}, "sample": {...}}`` (see `GenerativeModel`)."""


@dataclass
class Player:
    """One optimiser's share of training: its parameters, its loss and how often it steps.

    Single-objective models have one player (all parameters, `GenerativeModel.loss`); a GAN
    has a discriminator and a generator. The training loop gives every player its own AdamW
    and learning-rate schedule and, per training step, runs ``steps`` updates of each player
    in order, each on a fresh batch.

    Attributes:
        name: used in logs and checkpoints (``"model"``, ``"discriminator"``, ``"generator"``).
        parameters: the parameters this player's optimiser updates.
        loss: ``batch [B, *event_shape] -> scalar`` to minimise (class-conditional models:
            ``loss(batch, labels=labels)``, see `GenerativeModel.num_classes`).
        steps: updates per training step (e.g. 5 critic steps for WGAN-GP).
        lr: learning rate; ``None`` takes the train config's.
        betas: AdamW betas; ``None`` takes the train config's.
    """

    name: str
    parameters: list[nn.Parameter]
    loss: Callable[[Tensor], Tensor]
    steps: int = 1
    lr: float | None = None
    betas: tuple[float, float] | None = None


class GenerativeModel(nn.Module, abc.ABC):
    """A learned generative model: it owns its loss and its sampler.

    Subclasses set `camp` and `likelihood`, define a dataclass `Config` next to the model,
    and implement:

    - ``__init__(config, event_shape)``;
    - `loss(batch)` — a scalar to minimise on a batch of data ``[B, *event_shape]``
      (multi-player models such as GANs document how the training loop drives them);
    - `sample(n, generator=..., **sampler_options)` → `Samples`;
    - `log_prob(x)` where `likelihood` is ``"exact"`` (a lower bound where ``"bound"``);
    - for a class-conditional model, `num_classes` > 0 and ``loss(batch, labels=None)``.

    ``kind_defaults`` maps a target kind (``"toy2d"``, ``"image"``, ...) to the values that
    make the method converge there, over its ``Config`` and `TrainConfig` defaults: tables
    ``model``, ``train`` and ``sample`` (options of `sample`). ``genmodels train`` and
    ``compare`` both read them through `genmodels.training.defaults.kind_defaults`.
    """

    camp: ClassVar[Camp]
    likelihood: ClassVar[LikelihoodKind] = "none"
    Config: ClassVar[type]
    kind_defaults: ClassVar[KindDefaults] = {}

    def __init__(self, config: Any, event_shape: tuple[int, ...]) -> None:
        super().__init__()
        self.config = config
        self.event_shape = tuple(event_shape)

    @abc.abstractmethod
    def loss(self, batch: Tensor) -> Tensor:
        """A scalar to minimise on a batch ``[B, *event_shape]``."""

    def sample(
        self, n: int, *, generator: torch.Generator | None = None, **options: Any
    ) -> Samples:
        """``n`` independent draws (and their cost) as `Samples`."""

    def log_prob(self, x: Tensor) -> Tensor:
        from genmodels.errors import NotApplicableError

        raise NotApplicableError(f"{type(self).__name__} has no likelihood")

    @property
    def num_classes(self) -> int:
        """K > 0 for a class-conditional model: the training loop then draws labelled batches
        (`Target.sample_labelled`) and calls ``loss(batch, labels=labels)``. Default 0."""
        return 0

    def training_players(self) -> list[Player]:
        """How the training loop optimises this model; default: one player minimising `loss`."""
        return [Player("model", [p for p in self.parameters() if p.requires_grad], self.loss)]

    def init_from_data(self, x: Tensor) -> None:
        """Data-dependent initialisation from a batch ``[B, *event_shape]`` before training.

        Called once by the training loop on a fresh run (not on resume); whatever it sets must
        live in parameters or buffers so checkpoints carry it. Default: nothing.
        """
