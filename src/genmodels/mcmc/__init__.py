"""Chains: batched MCMC kernels (`init`/`step`), warm-up adaptation and the run driver.

Example:
    >>> from genmodels.mcmc import sample_chains
    >>> s = sample_chains(lambda x: -0.5 * (x**2).sum(-1), "mala", event_shape=(3,),
    ...                   chains=4, draws=100, warmup=100, progress=False)
    >>> s.x.shape
    torch.Size([4, 100, 3])
"""

import importlib.util

from genmodels.mcmc.adaptation import DualAveraging, WelfordVariance, warmup_windows
from genmodels.mcmc.base import KERNELS, ChainState, Info, Kernel, LogDensity, ScoreOnly
from genmodels.mcmc.driver import ChainSamples, sample_chains
from genmodels.mcmc.hmc import HMC
from genmodels.mcmc.mala import MALA, ULA
from genmodels.mcmc.nuts import NUTS
from genmodels.mcmc.rwmh import RWMH

__all__ = [
    "HMC",
    "KERNELS",
    "MALA",
    "METHOD_CAMPS",
    "NUTS",
    "RWMH",
    "ULA",
    "ChainSamples",
    "ChainState",
    "DualAveraging",
    "Info",
    "Kernel",
    "LogDensity",
    "ScoreOnly",
    "WelfordVariance",
    "sample_chains",
    "warmup_windows",
]


def METHOD_CAMPS() -> dict[str, str]:
    """Every chain method: ``{name: "chain"}``.

    ``annealed_langevin`` (a free function over a noise-conditional score, owned by the
    diffusion code in `genmodels.mcmc.annealed_langevin`) is listed once that module exists.
    """
    canonical = ["rwmh", "mala", "ula", "hmc", "nuts"]  # DESIGN.md order, then the rest
    names = sorted(KERNELS, key=lambda n: (canonical.index(n) if n in canonical else 99, n))
    camps = dict.fromkeys(names, "chain")
    if importlib.util.find_spec("genmodels.mcmc.annealed_langevin") is not None:
        camps["annealed_langevin"] = "chain"
    return camps
