"""Where chains start: the log-density they run on and their initial positions."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor

from genmodels.errors import InvalidInputError, NotApplicableError
from genmodels.mcmc.base import LogDensity, ScoreOnly
from genmodels.targets.base import Target

__all__ = ["as_log_density", "initial_positions", "mode_positions"]


def as_log_density(
    log_prob_or_target: Target | Callable[[Tensor], Tensor] | None,
    score: Callable[[Tensor], Tensor] | None = None,
    event_shape: tuple[int, ...] | None = None,
    init: Tensor | None = None,
) -> LogDensity:
    """The `LogDensity` chains run on, from a `Target`, a log-density callable or a score.

    A target's closed-form score is used when it has one (it saves the autograd pass); a
    plain callable needs ``event_shape`` or an ``init`` to read it from; a score alone gives
    a `ScoreOnly` density (usable by ULA only).

    Raises:
        NotApplicableError: a target without a density.
        InvalidInputError: neither a log-density nor a score, or no event shape.

    Example:
        >>> as_log_density(lambda x: -(x**2).sum(-1), event_shape=(2, 3)).dim
        6
    """
    if isinstance(log_prob_or_target, Target):
        target = log_prob_or_target
        if not target.has_log_prob:
            raise NotApplicableError(
                f"target {target.name!r} has no density; chains need a log-density or score"
            )
        # a closed-form score saves the autograd pass
        closed_form = type(target).score is not Target.score
        return LogDensity(
            target.log_prob, tuple(target.event_shape), target.score if closed_form else None
        )
    if event_shape is None:
        if init is None:
            raise InvalidInputError(
                "a plain log-density callable needs event_shape= or an init tensor"
            )
        event_shape = tuple(init.shape[1:]) if init.ndim > 1 else tuple(init.shape)
    if log_prob_or_target is not None:
        if not callable(log_prob_or_target):
            raise InvalidInputError(
                f"expected a Target or a callable log-density, got "
                f"{type(log_prob_or_target).__name__}"
            )
        return LogDensity(log_prob_or_target, tuple(event_shape), score_fn=score)
    if score is None:
        raise InvalidInputError("give a log-density (or Target) or score=")
    return ScoreOnly(score, tuple(event_shape))


def initial_positions(
    init: Tensor | None,
    chains: int,
    event_shape: tuple[int, ...],
    *,
    spread: float = 2.0,
    generator: torch.Generator,
    device: torch.device | str | None = None,
    dtype: torch.dtype | None = None,
) -> Tensor:
    """Start points ``[chains, d]``: ``init`` (one point for all or one per chain) as given,
    or, without one, uniform on ``(-spread, spread)`` per coordinate (Stan's default with
    spread 2), drawn with ``generator`` on its device (``device``, when given, must be it).

    Raises:
        InvalidInputError: ``init`` of neither shape ``event_shape`` nor
            ``[chains, *event_shape]``.

    Example:
        >>> g = torch.Generator().manual_seed(0)
        >>> x0 = initial_positions(None, 4, (3,), spread=0.5, generator=g)
        >>> x0.shape, bool(x0.abs().max() < 0.5)
        (torch.Size([4, 3]), True)
    """
    device = torch.device(device) if device is not None else generator.device
    dtype = dtype or torch.get_default_dtype()
    d = math.prod(event_shape)
    if init is None:  # Stan's default: uniform on (-2, 2) in unconstrained space
        u = torch.rand(chains, d, generator=generator, device=device, dtype=dtype)
        return (2 * u - 1) * spread
    init = torch.as_tensor(init).to(device=device, dtype=dtype)
    if tuple(init.shape) == tuple(event_shape):
        return init.reshape(1, d).repeat(chains, 1)
    if tuple(init.shape) == (chains, *event_shape):
        return init.reshape(chains, d)  # [chains, *event] -> [chains, d]
    raise InvalidInputError(
        f"init must have shape {list(event_shape)} or {[chains, *event_shape]}, "
        f"got {list(init.shape)}"
    )


def mode_positions(target: Target, chains: int) -> Tensor:
    """One start per chain at the target's known modes: chain c starts in mode c mod K, so
    that with ``chains >= K`` every mode has a chain (a check that R-hat flags non-mixing).

    Returns:
        ``[chains, *event]`` in the default dtype.

    Raises:
        NotApplicableError: the target has no known modes.

    Example:
        >>> from genmodels.targets import get_target
        >>> mode_positions(get_target("mixture_80_20"), 3).tolist()
        [[5.0, 5.0], [-5.0, -5.0], [5.0, 5.0]]
    """
    if target.modes is None:
        raise NotApplicableError(
            f"starting at the modes needs a target with known modes; {target.name!r} has none"
        )
    centres = target.modes.centres  # [K, *event]
    idx = torch.arange(chains, device=centres.device) % centres.shape[0]
    return centres[idx].to(torch.get_default_dtype())
