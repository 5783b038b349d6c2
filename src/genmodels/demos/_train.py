"""Training the small models the demos need: one recipe, configured per demo."""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import Tensor

from genmodels.catalogue import get_method
from genmodels.models import GenerativeModel
from genmodels.targets.base import Target
from genmodels.training import TrainConfig, TrainState, fit


class FlatDigits(Target):
    """The digits training split as 64-vectors (so a DDPM uses its fast MLP), with labels
    for class-conditional models when given."""

    kind: ClassVar[str] = "image"
    event_shape = (64,)

    def __init__(self, images: Tensor, labels: Tensor | None = None) -> None:
        self.x = images.reshape(len(images), 64)  # [N, 1, 8, 8] -> [N, 64]
        self.y = labels
        self.name = "digits_flat"

    @property
    def num_classes(self) -> int:
        return 0 if self.y is None else int(self.y.max()) + 1

    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        return self.x[torch.randint(0, len(self.x), (n,), generator=generator)]

    def sample_labelled(
        self, n: int, generator: torch.Generator | None = None
    ) -> tuple[Tensor, Tensor]:
        if self.y is None:
            return super().sample_labelled(n, generator)
        idx = torch.randint(0, len(self.x), (n,), generator=generator)
        return self.x[idx], self.y[idx]


def train_demo_model(
    method: str,
    target: Target,
    *,
    seed: int,
    quick: bool,
    steps: tuple[int, int] = (400, 3000),
    width: int = 128,
    batch_size: int = 256,
    config: dict[str, Any] | None = None,
) -> tuple[GenerativeModel, TrainState]:
    """Train ``method`` (an MLP-based diffusion model) on ``target`` on the CPU.

    Args:
        steps: training steps in quick and in full mode.
        width: hidden width of the 3-layer time-conditioned MLP.
        config: further fields of the method's config (e.g. an NCSN's ``levels``, a DDPM's
            ``num_classes``).

    Returns:
        The model with its EMA weights loaded (no EMA in quick mode), in eval mode, and the
        final training state (steps, seconds).
    """
    torch.manual_seed(seed)
    cls = get_method(method, ("map", "diffusion")).build
    model = cls(cls.Config(width=width, depth=3, **(config or {})), target.event_shape)
    train = TrainConfig(
        steps=steps[0] if quick else steps[1], batch_size=batch_size, lr=2e-3, seed=seed,
        device="cpu", progress=False, ema_decay=0.0 if quick else 0.999,
    )  # fmt: skip
    state = fit(model, target, train)
    model.load_state_dict(state.ema.state_dict())  # sample with the averaged weights
    return model.eval(), state


def train_digits_ddpm(
    train_x: Tensor,
    *,
    seed: int,
    quick: bool,
    train_y: Tensor | None = None,
    steps: tuple[int, int] = (300, 2000),
) -> tuple[GenerativeModel, TrainState]:
    """An ε-prediction DDPM (TimeMLP 256×3) on flattened digits; see `train_demo_model`.

    With ``train_y`` the DDPM is class-conditional (10 classes, label dropout 0.1).
    """
    config = {} if train_y is None else {"num_classes": int(train_y.max()) + 1}
    return train_demo_model(
        "ddpm", FlatDigits(train_x, train_y), seed=seed, quick=quick, steps=steps, width=256,
        batch_size=128, config=config,
    )  # fmt: skip
