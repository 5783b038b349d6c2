"""One small training loop for every learned model: EMA, checkpoints, resume, DDP.

Example:
    >>> from genmodels.training import TrainConfig, fit, default_callbacks  # doctest: +SKIP
    >>> fit(model, target, TrainConfig(steps=2000), "runs/x",
    ...     callbacks=default_callbacks("runs/x", TrainConfig()),
    ...     budget=Budget(300))  # doctest: +SKIP
"""

from genmodels.training.callbacks import (
    Evaluate,
    JsonlLogger,
    ProgressBar,
    SamplePreview,
    TensorBoardLogger,
    default_callbacks,
)
from genmodels.training.checkpoint import (
    has_checkpoint,
    load_model,
    read_checkpoint_config,
    save_checkpoint,
)
from genmodels.training.config import TrainConfig
from genmodels.training.ema import EMA
from genmodels.training.loop import Callback, TrainState, fit
from genmodels.training.objective import Objective

__all__ = [
    "EMA",
    "Callback",
    "Evaluate",
    "JsonlLogger",
    "Objective",
    "ProgressBar",
    "SamplePreview",
    "TensorBoardLogger",
    "TrainConfig",
    "TrainState",
    "default_callbacks",
    "fit",
    "has_checkpoint",
    "load_model",
    "read_checkpoint_config",
    "save_checkpoint",
]
