"""`Objective`: a loss that `fit` minimises without being a generative model.

`fit` needs little of what it trains: an ``event_shape`` matching the data, ``num_classes``
(labelled batches when > 0), ``init_from_data`` and ``training_players``. `Objective` gives
those to any module and loss, so helper networks train through the one loop: the image
metrics' feature classifier (cross-entropy on labelled images) and the hybrids' reverse-KL
flow fit (a loss on the flow's own pushed-forward base noise; its "data" are base draws).

Such a run has no registered method name, so it cannot write checkpoints (``out_dir``).

Example:
    >>> import torch
    >>> from torch import nn
    >>> net = nn.Linear(2, 1)
    >>> objective = Objective(net, lambda x: net(x).square().mean(), (2,))
    >>> [p.name for p in objective.training_players()]
    ['model']
"""

from __future__ import annotations

from collections.abc import Callable

from torch import Tensor, nn

from genmodels.models.base import Player

__all__ = ["Objective"]


class Objective(nn.Module):
    """``loss`` over the trainable parameters of ``module``, as one `fit` player.

    Args:
        module: what is trained (its parameters with ``requires_grad``).
        loss: ``batch [B, *event_shape] -> scalar`` (with ``num_classes`` > 0:
            ``loss(batch, labels=labels)``).
        event_shape: the shape of one data point the loss takes.
        num_classes: > 0 for labelled batches (`Target.sample_labelled`).
        name: the player's name in `TrainState.losses`.
    """

    config = None  # nothing to record: an objective is not saved as a method

    def __init__(
        self,
        module: nn.Module,
        loss: Callable[..., Tensor],
        event_shape: tuple[int, ...],
        *,
        num_classes: int = 0,
        name: str = "model",
    ) -> None:
        super().__init__()
        self.module = module
        self.loss_fn = loss
        self.event_shape = tuple(event_shape)
        self.num_classes = num_classes
        self.player_name = name

    def init_from_data(self, x: Tensor) -> None:
        """Nothing: whoever builds the objective initialises its module."""

    def training_players(self) -> list[Player]:
        params = [p for p in self.module.parameters() if p.requires_grad]
        return [Player(self.player_name, params, self.loss_fn)]
