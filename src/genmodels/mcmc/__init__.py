"""Chains: batched MCMC kernels (`init`/`step`), warm-up adaptation and the run driver.

Each kernel registers itself in `genmodels.catalogue` (camp ``"chain"``).

Example:
    >>> from genmodels.mcmc import sample_chains
    >>> s = sample_chains(lambda x: -0.5 * (x**2).sum(-1), "mala", event_shape=(3,),
    ...                   chains=4, draws=100, warmup=100, progress=False)
    >>> s.x.shape
    torch.Size([4, 100, 3])
"""

from genmodels.mcmc.adaptation import DualAveraging, WelfordVariance, warmup_windows
from genmodels.mcmc.base import ChainState, Info, Kernel, LogDensity, ScoreOnly
from genmodels.mcmc.driver import ChainSamples, sample_chains
from genmodels.mcmc.hmc import HMC
from genmodels.mcmc.mala import MALA, ULA
from genmodels.mcmc.nuts import NUTS
from genmodels.mcmc.rwmh import RWMH
from genmodels.mcmc.settings import ChainSettings

__all__ = [
    "HMC",
    "MALA",
    "NUTS",
    "RWMH",
    "ULA",
    "ChainSamples",
    "ChainSettings",
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
