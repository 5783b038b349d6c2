"""Chains: batched MCMC kernels (`init`/`step`), warm-up adaptation and the run driver.

BlackJAX's shape: a kernel is configuration plus pure ``init``/``step`` (the contract is in
`genmodels.mcmc.base`); `window_adaptation` tunes one and returns the tuned kernel and its
state; `run_kernel` is the sampling loop; `sample_chains` drives the three. Each kernel
registers itself in `genmodels.catalogue` (camp ``"chain"``).

Example:
    >>> from genmodels.mcmc import sample_chains
    >>> s = sample_chains(lambda x: -0.5 * (x**2).sum(-1), "mala", event_shape=(3,),
    ...                   chains=4, draws=100, warmup=100, progress=False)
    >>> s.x.shape
    torch.Size([4, 100, 3])
"""

from genmodels.mcmc.adaptation import DualAveraging, WelfordVariance, warmup_windows
from genmodels.mcmc.base import ChainState, Info, Kernel, LogDensity, ScoreOnly, make_info
from genmodels.mcmc.chees import ChEES, chees_adaptation
from genmodels.mcmc.driver import MIN_DRAWS, ChainSamples, run_kernel, sample_chains
from genmodels.mcmc.hmc import HMC
from genmodels.mcmc.mala import MALA, ULA
from genmodels.mcmc.nuts import NUTS
from genmodels.mcmc.rwmh import RWMH
from genmodels.mcmc.settings import ChainSettings
from genmodels.mcmc.start import as_log_density, initial_positions, mode_positions
from genmodels.mcmc.warmup import AdaptationInfo, window_adaptation

__all__ = [
    "HMC",
    "MALA",
    "MIN_DRAWS",
    "NUTS",
    "RWMH",
    "ULA",
    "AdaptationInfo",
    "ChEES",
    "ChainSamples",
    "ChainSettings",
    "ChainState",
    "DualAveraging",
    "Info",
    "Kernel",
    "LogDensity",
    "ScoreOnly",
    "WelfordVariance",
    "as_log_density",
    "chees_adaptation",
    "initial_positions",
    "make_info",
    "mode_positions",
    "run_kernel",
    "sample_chains",
    "warmup_windows",
    "window_adaptation",
]
