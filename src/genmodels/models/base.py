"""The learned-model interface shared by the maps (GAN, VAE, flows) and diffusion models."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

import torch
from torch import Tensor, nn

from genmodels.registry import Registry
from genmodels.samples import Samples

__all__ = ["MODELS", "Camp", "GenerativeModel", "LikelihoodKind"]

Camp = Literal["chain", "map", "diffusion", "hybrid"]
LikelihoodKind = Literal["exact", "bound", "none"]


class GenerativeModel(nn.Module):
    """A learned generative model: it owns its loss and its sampler.

    Subclasses set `camp` and `likelihood`, define a dataclass `Config` next to the model,
    and implement:

    - ``__init__(config, event_shape)``;
    - `loss(batch)` — a scalar to minimise on a batch of data ``[B, *event_shape]``
      (multi-player models such as GANs document how the training loop drives them);
    - `sample(n, generator=..., **sampler_options)` → `Samples`;
    - `log_prob(x)` where `likelihood` is ``"exact"`` (a lower bound where ``"bound"``).
    """

    camp: ClassVar[Camp]
    likelihood: ClassVar[LikelihoodKind] = "none"
    Config: ClassVar[type]

    def __init__(self, config: Any, event_shape: tuple[int, ...]) -> None:
        super().__init__()
        self.config = config
        self.event_shape = tuple(event_shape)

    def loss(self, batch: Tensor) -> Tensor:
        raise NotImplementedError  # abstractmethod: every model defines its loss

    def sample(
        self, n: int, *, generator: torch.Generator | None = None, **options: Any
    ) -> Samples:
        raise NotImplementedError  # abstractmethod: every model defines its sampler

    def log_prob(self, x: Tensor) -> Tensor:
        from genmodels.errors import NotApplicableError

        raise NotApplicableError(f"{type(self).__name__} has no likelihood")


MODELS: Registry[type[GenerativeModel]] = Registry("method")
