"""A user's own density as a target: ``--target path/to/model.py:NAME``.

``NAME`` in the file is one of

- a function ``log_prob(x: [n, d]) -> [n]`` (any normalisation), with ``dim=d`` given
  (``--dim D`` on the command line);
- a `Target` instance, or a `Target` subclass (built with ``dim=D`` when given and its
  constructor takes it, else with no arguments);
- a `DensityTarget`, which is a function plus its declared parameter blocks::

      from torch.distributions import constraints
      from genmodels.targets.constraints import ParamBlock
      from genmodels.targets.user_density import DensityTarget

      def log_prob(x):                       # x: [n, 2], columns (mu, sigma)
          mu, sigma = x[:, 0], x[:, 1]
          ...
      model = DensityTarget(log_prob, params=[ParamBlock("mu"),
                                              ParamBlock("sigma", support=constraints.positive)])

The file is imported once; its density is called on a small batch at load, so that a wrong
output (not a tensor, not one value per row, another dtype, no gradient) or a wrong ``dim``
is answered by one `InvalidInputError` before any chain runs. `load_density_path` is a
`genmodels.targets.base` path loader: `get_target("model.py:log_prob", dim=10)` works.
"""

from __future__ import annotations

import hashlib
import importlib.util
import inspect
import re
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any, ClassVar

import torch
from torch import Tensor

from genmodels.checks import check_range
from genmodels.errors import InvalidInputError
from genmodels.targets.base import TARGETS, Target, TargetKind, get_target, register_path_loader
from genmodels.targets.constraints import ParamBlock, ParamSpace, as_param_space

__all__ = [
    "DensityTarget",
    "check_log_prob",
    "load_density",
    "load_density_path",
    "resolve_target",
]

_SPEC = re.compile(r"(?P<file>.+\.py):(?P<name>[A-Za-z_]\w*)")


def _first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return f"{type(e).__name__}: {text[0]}" if text else type(e).__name__


class DensityTarget(Target):
    """A log-density function as a target, with its dimension or its parameter blocks.

    Args:
        log_prob: ``x [n, d] -> [n]``, differentiable by autograd (torch operations);
            unnormalised is fine. With ``params``, ``x`` holds the constrained values.
        dim: ``d`` (default: the blocks' total size).
        params: `ParamBlock`s (name, shape, support), laid out in this order in ``x``.
        name: the target's name in summaries.

    Example:
        >>> t = DensityTarget(lambda x: -0.5 * (x**2).sum(-1), dim=3)
        >>> t.event_shape, t.param_names()
        ((3,), ['x[0]', 'x[1]', 'x[2]'])
    """

    kind: ClassVar[TargetKind] = "posterior"
    normalized = False

    def __init__(
        self,
        log_prob: Callable[[Tensor], Tensor],
        dim: int | None = None,
        params: Sequence[ParamBlock] | ParamSpace | None = None,
        name: str = "density",
    ) -> None:
        if not callable(log_prob):
            raise InvalidInputError(f"log_prob must be a function, got {type(log_prob).__name__}")
        if params is not None:
            space = params if isinstance(params, ParamSpace) else ParamSpace(params)
            dim = space.dim if dim is None else dim
            as_param_space(space, dim)  # the blocks must fill the vector
            params = space.blocks
        if dim is None:
            raise InvalidInputError(
                f"the density {name!r} is a function: give its dimension (--dim D, or dim=)"
            )
        check_range(dim, "--dim", ge=1, integer=True)
        self.fn = log_prob
        self.event_shape = (int(dim),)
        self.params = params
        self.name = name

    def log_prob(self, x: Tensor) -> Tensor:
        return self.fn(x)


def check_log_prob(
    target: Target, label: str | None = None, device: torch.device | str | None = None
) -> None:
    """Call ``target.log_prob`` on two points of its support (on ``device``, default: torch's
    default device) and check what comes back.

    Raises:
        InvalidInputError: it raises, returns no tensor, not one value per row, a dtype other
            than the input's, or a value with no gradient (when autograd supplies the score).
    """
    label = label or f"log_prob of {target.name!r}"
    space = target.param_space()
    z = torch.zeros(2, space.unconstrained_dim, device=device)
    x = space.constrain(z).reshape(2, *target.event_shape).requires_grad_(True)
    shape = f"{list(x.shape)}" + (f" on {x.device}" if device is not None else "")
    try:
        with torch.enable_grad():
            out = target.log_prob(x)
    except Exception as e:  # the user's code: any failure is the one line
        message = f"{label} failed on input of shape {shape}: {_first_line(e)}"
        raise InvalidInputError(message) from None
    if not isinstance(out, Tensor):
        raise InvalidInputError(f"{label} must return a torch tensor, got {type(out).__name__}")
    if tuple(out.shape) != (2,):
        raise InvalidInputError(
            f"{label} must return one value per row, shape [n]: got {list(out.shape)} "
            f"for input of shape {shape}"
        )
    if out.dtype != x.dtype:
        raise InvalidInputError(f"{label} must return the input's dtype {x.dtype}, got {out.dtype}")
    if not out.requires_grad and type(target).score is Target.score:
        raise InvalidInputError(
            f"{label} has no gradient with respect to x: compute it with torch operations "
            f"(not numpy or .item()), so that autograd supplies the score"
        )


def _import_file(path: Path) -> ModuleType:
    """Import a Python file as a module of its own (one line for any failure)."""
    if not path.is_file():
        raise InvalidInputError(f"no such density file: {path}")
    key = hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:12]
    module_name = f"genmodels_user_density_{key}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise InvalidInputError(f"cannot import {path}: not a Python file")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module  # dataclasses and pickling look the module up
    try:
        spec.loader.exec_module(module)
    except (Exception, SystemExit) as e:  # the user's code: any failure is the one line
        sys.modules.pop(module_name, None)
        raise InvalidInputError(f"cannot import {path}: {_first_line(e)}") from None
    return module


def _build(obj: Any, label: str, dim: int | None) -> Target:
    """The target that ``obj`` (the file's ``NAME``) describes."""
    if isinstance(obj, type) and issubclass(obj, Target):
        takes_dim = "dim" in inspect.signature(obj).parameters
        try:
            target = obj(dim=dim) if dim is not None and takes_dim else obj()
        except Exception as e:  # the user's constructor
            raise InvalidInputError(f"building {label} failed: {_first_line(e)}") from None
    elif isinstance(obj, Target):
        target = obj
    elif callable(obj):
        return DensityTarget(obj, dim=dim, name=label)
    else:
        raise InvalidInputError(
            f"{label} is neither a function log_prob(x: [n, d]) -> [n] nor a Target "
            f"(it is {type(obj).__name__!r})"
        )
    if dim is not None and target.dim != dim:
        raise InvalidInputError(f"{label} has dimension {target.dim}, not --dim {dim}")
    return target


def load_density(file: str | Path, name: str, dim: int | None = None) -> Target:
    """The target ``name`` of the Python file ``file`` (see the module's docstring), checked.

    Raises:
        InvalidInputError: the file does not import, has no ``name``, ``name`` is neither a
            function nor a `Target`, a function without ``dim``, or a density whose output
            is wrong (`check_log_prob`).
    """
    path = Path(file)
    label = f"{path.name}:{name}"
    if dim is not None:
        check_range(dim, "--dim", ge=1, integer=True)
    module = _import_file(path)
    if not hasattr(module, name):
        found = [k for k, v in vars(module).items() if callable(v) and not k.startswith("_")]
        defined = f" (it defines: {', '.join(found[:10])})" if found else ""
        raise InvalidInputError(f"{path} has no {name!r}{defined}")
    target = _build(getattr(module, name), label, dim)
    if target.has_log_prob:
        check_log_prob(target, f"{label}")
    return target


@register_path_loader
def load_density_path(path: Path, **kwargs: Any) -> Target | None:
    """``FILE.py:NAME`` as a target (None for any other path); takes ``dim=``."""
    match = _SPEC.fullmatch(str(path))
    if match is None:
        if str(path).endswith(".py"):
            raise InvalidInputError(f"name the density in the file: {path}:NAME (e.g. :log_prob)")
        return None
    dim = kwargs.pop("dim", None)
    if kwargs:
        raise InvalidInputError(f"a density file takes only dim, not {', '.join(kwargs)}")
    return load_density(match["file"], match["name"], dim)


def resolve_target(name: str, dim: int | None = None) -> Target:
    """`get_target` for the CLI's ``--target NAME [--dim D]``: ``dim`` goes to a density file
    or to a registered target whose constructor takes it (``funnel``), else is refused."""
    if dim is None:
        return get_target(name)
    check_range(dim, "--dim", ge=1, integer=True)
    if name in TARGETS:
        factory = TARGETS.get(name)
        try:
            takes_dim = "dim" in inspect.signature(factory).parameters
        except (TypeError, ValueError):
            takes_dim = False
        if not takes_dim:
            raise InvalidInputError(f"target {name!r} has a fixed dimension: it takes no --dim")
    return get_target(name, dim=dim)
