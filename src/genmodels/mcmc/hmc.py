"""Hamiltonian Monte Carlo with a jittered number of leapfrog steps (Duane et al. 1987;
Neal 2011, "MCMC using Hamiltonian dynamics", section 5.4 on jitter), and the leapfrog
step every gradient kernel shares, eager or compiled.

Notation: x -> position (q), r -> momentum (p), ε -> ``step_size``, M⁻¹ -> ``inverse_mass``,
H(x, r) = -log p(x) + ½ rᵀ M⁻¹ r -> ``energy``, L -> ``num_steps``.

Compilation: a batched leapfrog step of a small model is a few dozen tiny tensor ops plus
an autograd pass, so its cost is Python and dispatch, not arithmetic. With the kernel
option ``compile=True`` (or the default ``"auto"``, see `use_compile`) the step (position
update, gradient by `torch.func`, momentum update) is one inductor graph (`compile_graph`:
traced by `make_fx`, compiled without dynamo, whose per-call guards cost more than such a
graph's arithmetic), built once per log-density and shape and cached on the `LogDensity`;
when compilation is unavailable or fails, a warning says so and the eager step runs
instead. `compile_seconds` reports what compiling cost.
"""

from __future__ import annotations

import math
import os
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from genmodels.catalogue import register_method
from genmodels.errors import ConfigError
from genmodels.mcmc.base import (
    ChainState,
    Info,
    Kernel,
    LogDensity,
    as_per_chain,
    make_info,
    metropolis_accept,
    sample_momentum,
)
from genmodels.mcmc.settings import ChainSettings

__all__ = [
    "HMC",
    "CompileMode",
    "compile_seconds",
    "compiled",
    "functional_value_and_grad",
    "kinetic_energy",
    "leapfrog",
    "leapfrog_fn",
    "use_compile",
]

CompileMode = bool | str
"""``True`` / ``False``, or ``"auto"``: compile when dynamo and inductor are usable here."""

_COMPILE_CPU_SECONDS = [0.0]

# Energy error above which a trajectory counts as divergent (Stan, NumPyro, blackjax).
DIVERGENCE_THRESHOLD = 1000.0


def kinetic_energy(r: Tensor, inverse_mass: Tensor) -> Tensor:
    """½ rᵀ M⁻¹ r for diagonal M⁻¹; ``[chains, d] -> [chains]``."""
    return 0.5 * (r * r * inverse_mass).sum(-1)


def leapfrog(
    value_and_grad: Callable[[Tensor], tuple[Tensor, Tensor]],
    x: Tensor,
    r: Tensor,
    grad: Tensor,
    eps: Tensor,
    inverse_mass: Tensor,
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """One velocity-Verlet step of every chain (``eps`` ``[chains, 1]`` may be negative).

    Args:
        value_and_grad: ``x [chains, d] -> (log p(x) [chains], ∇ log p(x) [chains, d])``,
            e.g. `LogDensity.value_and_grad` (NUTS passes one that skips finished chains).
        x, r, grad: position, momentum and ∇ log p(x), ``[chains, d]`` each.
        eps: step size ``[chains, 1]`` (negative to integrate backwards in time).
        inverse_mass: diagonal M⁻¹ ``[chains, d]``.

    Returns:
        ``(x', r', log p(x'), ∇ log p(x'))``; one gradient evaluation.
    """
    r_half = r + 0.5 * eps * grad
    x_new = x + eps * inverse_mass * r_half
    lp_new, grad_new = value_and_grad(x_new)
    r_new = r_half + 0.5 * eps * grad_new
    return x_new, r_new, lp_new, grad_new


def compile_seconds() -> float:
    """CPU seconds this process has spent compiling kernels' hot paths (`compiled`)."""
    return _COMPILE_CPU_SECONDS[0]


def use_compile(mode: CompileMode) -> bool:
    """Whether ``mode`` asks for compilation here.

    ``"auto"`` compiles when dynamo supports this Python and the environment variable
    ``GENMODELS_COMPILE`` is not ``0`` (the test suite sets it: compiling every test's
    density would cost more than the tests themselves).
    """
    if mode == "auto":
        if os.environ.get("GENMODELS_COMPILE", "1") == "0":
            return False
        import torch._dynamo  # torch.compiler has no public probe for this

        return bool(torch._dynamo.is_dynamo_supported())
    if not isinstance(mode, bool):
        raise ConfigError(f"compile must be true, false or 'auto', got {mode!r}")
    return mode


def functional_value_and_grad(density: LogDensity) -> Callable[[Tensor], tuple[Tensor, Tensor]]:
    """``x [chains, d] -> (log p [chains], ∇ log p [chains, d])`` by `torch.func`, so that it
    can be traced into a compiled graph (autograd.grad cannot). Chains are independent, so
    the gradient of the sum over chains is every chain's own gradient."""
    if density.score_fn is not None:
        score_fn = density.score_fn

        def with_score(x: Tensor) -> tuple[Tensor, Tensor]:
            z = x.reshape(x.shape[0], *density.event_shape)
            lp = torch.nan_to_num(density.fn(z), nan=-math.inf)
            return lp, score_fn(z).reshape(x.shape)

        return with_score

    def total(x: Tensor) -> tuple[Tensor, Tensor]:
        lp = density.fn(x.reshape(x.shape[0], *density.event_shape))
        return lp.sum(), lp

    grad_and_value = torch.func.grad_and_value(total, has_aux=True)

    def value_and_grad(x: Tensor) -> tuple[Tensor, Tensor]:
        grad, (_, lp) = grad_and_value(x)
        return torch.nan_to_num(lp.detach(), nan=-math.inf), grad

    return value_and_grad


def compile_graph(fn: Callable[..., Any], example: tuple[Tensor, ...]) -> Callable[..., Any]:
    """``fn`` (flat tensors in, a tensor or tuple of tensors out) as one inductor graph for
    inputs shaped like ``example``.

    The function is traced by `make_fx` on fake tensors (data-dependent Python control
    flow raises here instead of being baked in) and handed to inductor directly: calling
    the result skips dynamo's guards and wrappers, which cost more than the arithmetic of
    a small model's leapfrog step. Raises whatever tracing or compiling raises.
    """
    from torch._guards import TracingContext, tracing
    from torch._inductor.compile_fx import compile_fx
    from torch._subclasses.fake_tensor import FakeTensorMode
    from torch.fx.experimental.proxy_tensor import make_fx
    from torch.fx.experimental.symbolic_shapes import ShapeEnv

    single = []

    def as_tuple(*args: Tensor) -> tuple[Tensor, ...]:
        out = fn(*args)
        single.append(not isinstance(out, tuple | list))
        return (out,) if single[-1] else tuple(out)

    # distinct copies: inputs that are one tensor (a trajectory's two ends at its start)
    # would be traced as one input
    example = tuple(a.clone() for a in example)
    graph_module = make_fx(as_tuple, tracing_mode="fake", _allow_non_fake_inputs=True)(*example)
    # a tracing context with a shape environment lets inductor's on-disk graph cache serve
    # a later process (without one it compiles every time)
    with tracing(TracingContext(FakeTensorMode(shape_env=ShapeEnv()))):
        graph = compile_fx(graph_module, list(example))
    if single[-1]:
        return lambda *args: graph(*args)[0]
    return lambda *args: tuple(graph(*args))


def _signature(args: tuple[Tensor, ...]) -> tuple:
    """What a compiled graph is specialised on: every (contiguous) input's shape, the
    first input's dtype and device."""
    return (*(a.shape for a in args), args[0].dtype, args[0].device)


def compiled(
    density: LogDensity | object, name: str, build: Callable[[], Callable], eager: Callable
):
    """``build()`` compiled (`compile_graph`) once per input shapes, cached on ``density``
    under ``name``, falling back to ``eager`` (with one warning) when compiling or running
    the graph fails. The function takes and returns flat tensors only.

    Kernels are rebuilt with every new step size during warm-up; the cache on the density
    keeps the graphs across them. Compiling's CPU time is added to `compile_seconds`.
    """
    cache = density.__dict__.setdefault("_compiled_fns", {})
    if name in cache:
        return cache[name]
    fn = build()
    graphs: dict[tuple, Callable] = {}
    state = {"ok": True}

    def fail(error: Exception, args: tuple) -> Any:
        state["ok"] = False
        first_line = str(error).splitlines()[0] if str(error) else ""
        warnings.warn(
            f"compiling the {name} step failed ({type(error).__name__}: {first_line}); "
            "running eagerly",
            RuntimeWarning,
            stacklevel=3,
        )
        return eager(*args)

    def call(*args: Tensor) -> Any:
        if not state["ok"]:
            return eager(*args)
        args = tuple(a.contiguous() for a in args)  # graphs are compiled for dense inputs
        key = _signature(args)
        graph = graphs.get(key)
        if graph is None:
            start = time.process_time()
            try:
                graph = graphs[key] = compile_graph(fn, args)
            except Exception as error:  # any tracing or compiler failure: run eagerly
                return fail(error, args)
            finally:
                _COMPILE_CPU_SECONDS[0] += time.process_time() - start
        try:
            return graph(*args)
        except Exception as error:
            return fail(error, args)

    cache[name] = call
    return call


def leapfrog_fn(
    density: LogDensity, mode: CompileMode = False
) -> Callable[[Tensor, Tensor, Tensor, Tensor, Tensor], tuple[Tensor, Tensor, Tensor, Tensor]]:
    """`leapfrog` on ``density`` as ``(x, r, grad, eps, inverse_mass) -> (x', r', lp', grad')``:
    eager (autograd), or one compiled graph when ``mode`` asks for it (see `compiled`)."""

    def eager(x: Tensor, r: Tensor, g: Tensor, eps: Tensor, inv_mass: Tensor):
        return leapfrog(density.value_and_grad, x, r, g, eps, inv_mass)

    if not use_compile(mode):
        return eager

    def build() -> Callable:
        value_and_grad = functional_value_and_grad(density)
        return lambda x, r, g, eps, inv_mass: leapfrog(value_and_grad, x, r, g, eps, inv_mass)

    return compiled(density, "leapfrog", build, eager)


@register_method(
    "hmc",
    camp="chain",
    settings=ChainSettings,
    order=3,
    description="Hamiltonian Monte Carlo with jittered trajectory length",
)
@dataclass(frozen=True)
class HMC(Kernel):
    """HMC whose number of leapfrog steps is drawn per chain and per transition.

    The number of steps is uniform on ``[ceil(0.5 L), ceil(1.5 L)]``, which breaks the
    resonances of a fixed trajectory length while keeping its mean cost. Chains run their
    leapfrog steps together; a chain that has done its own number of steps keeps the
    point it reached (its later steps are computed but not used).

    Attributes:
        num_steps: mean number of leapfrog steps L.
        compile: ``True`` runs the leapfrog step as one compiled graph (`leapfrog_fn`);
            ``"auto"`` (default) does so where compiling works (see `use_compile`);
            ``False`` runs eagerly.

    Example:
        >>> from genmodels.mcmc.base import LogDensity
        >>> k = HMC(LogDensity(lambda x: -0.5 * (x**2).sum(-1), (2,)), step_size=0.3)
        >>> s, info = k.step(k.init(torch.zeros(4, 2)), torch.Generator().manual_seed(0))
        >>> info.num_grad_evals.ge(5).all().item()
        True
    """

    num_steps: int = 10
    compile: CompileMode = "auto"

    def num_steps_per_chain(self, x0: Tensor, generator: torch.Generator) -> Tensor:
        """L_c uniform on ``[ceil(0.5 L), ceil(1.5 L)]`` per chain, ``[chains]``."""
        low, high = math.ceil(0.5 * self.num_steps), math.ceil(1.5 * self.num_steps)
        return torch.randint(low, high + 1, (x0.shape[0],), generator=generator, device=x0.device)

    def step(self, state: ChainState, generator: torch.Generator) -> tuple[ChainState, Info]:
        n_steps = self.num_steps_per_chain(state.position, generator)
        new, info, _ = self.transition(state, n_steps, generator)
        return new, info

    def transition(
        self, state: ChainState, n_steps: Tensor, generator: torch.Generator
    ) -> tuple[ChainState, Info, tuple[Tensor, Tensor]]:
        """One HMC transition of ``n_steps`` ``[chains]`` leapfrog steps per chain.

        Chains run their steps together; a chain that has done its own number keeps the
        point it reached (its later steps are computed but not used).

        Returns:
            ``(state, info, (x_proposed, r_proposed))``: the proposal before the
            Metropolis decision, which trajectory-length adaptation (ChEES) needs.
        """
        x0, lp0, grad0 = state.position, state.log_prob, state.grad
        assert grad0 is not None
        inv_mass = self._inv_mass(x0)
        eps = as_per_chain(self.step_size, x0)  # [chains, 1]
        r0 = sample_momentum(inv_mass, x0, generator)
        step_fn = leapfrog_fn(self.density, self.compile)
        x, r, lp, grad = x0, r0, lp0, grad0
        x_end, r_end, lp_end, grad_end = x0, r0, lp0, grad0
        ends = set(n_steps.unique().tolist())  # one host sync per transition
        most = max(ends)
        for i in range(1, most + 1):
            x, r, lp, grad = step_fn(x, r, grad, eps, inv_mass)
            if i < most and i in ends:
                stop = (n_steps == i)[:, None]
                x_end = torch.where(stop, x, x_end)
                r_end = torch.where(stop, r, r_end)
                grad_end = torch.where(stop, grad, grad_end)
                lp_end = torch.where(stop[:, 0], lp, lp_end)
        stop = (n_steps == most)[:, None]
        x_end, r_end = torch.where(stop, x, x_end), torch.where(stop, r, r_end)
        grad_end, lp_end = torch.where(stop, grad, grad_end), torch.where(stop[:, 0], lp, lp_end)
        energy0 = -lp0 + kinetic_energy(r0, inv_mass)
        energy_new = -lp_end + kinetic_energy(r_end, inv_mass)
        delta = torch.nan_to_num(energy_new - energy0, nan=math.inf)
        accept_prob, accepted = metropolis_accept(-delta, generator)
        new = ChainState(
            torch.where(accepted[:, None], x_end, x0),
            torch.where(accepted, lp_end, lp0),
            torch.where(accepted[:, None], grad_end, grad0),
        )
        info = make_info(
            accept_prob, accepted, delta > DIVERGENCE_THRESHOLD, n_steps, energy=energy0
        )
        return new, info, (x_end, r_end)
