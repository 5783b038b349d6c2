"""The small digits DDPM shared by the `inpainting` and `reverse-gif` demos."""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import Tensor

from genmodels.models import MODELS, GenerativeModel
from genmodels.targets.base import Target
from genmodels.training import TrainConfig, TrainState, fit


class FlatDigits(Target):
    """The digits training split as 64-vectors (so the DDPM uses its fast MLP)."""

    kind: ClassVar[str] = "image"
    event_shape = (64,)

    def __init__(self, images: Tensor) -> None:
        self.x = images.reshape(len(images), 64)  # [N, 1, 8, 8] -> [N, 64]
        self.name = "digits_flat"

    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        return self.x[torch.randint(0, len(self.x), (n,), generator=generator)]


def train_digits_ddpm(
    train_x: Tensor, *, seed: int, quick: bool
) -> tuple[GenerativeModel, TrainState]:
    """An ε-prediction DDPM (TimeMLP 256×3) on flattened digits, with EMA weights loaded.

    Returns the model in eval mode and the final training state (steps, seconds).
    """
    torch.manual_seed(seed)
    ddpm_cls = MODELS.get("ddpm")
    ddpm = ddpm_cls(ddpm_cls.Config(width=256, depth=3), (64,))
    train = TrainConfig(
        steps=300 if quick else 2000, batch_size=128, lr=2e-3, seed=seed, device="cpu",
        progress=False, ema_decay=0.0 if quick else 0.999,
    )  # fmt: skip
    state = fit(ddpm, FlatDigits(train_x), train)
    ddpm.load_state_dict(state.ema.state_dict())
    return ddpm.eval(), state
