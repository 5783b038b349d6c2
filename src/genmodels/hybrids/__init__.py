"""Hybrids: chains and maps combined.

- `flow_mh`: a trained flow as the independence proposal of Metropolis–Hastings
  (asymptotically exact, draws nearly independent when the flow is good);
- `neutra_hmc`: HMC/NUTS in a trained flow's latent space (Hoffman et al. 2019);
- `inpaint`: posterior sampling with a DDPM prior (replacement + Langevin corrector, or
  diffusion posterior sampling);
- `fit_flow`: the flow both use, by maximum likelihood on samples or by reverse KL;
- `run_flow_mh`, `run_neutra_hmc`: fit then chains, as the catalogue runs them.

Example:
    >>> from genmodels.catalogue import get_method
    >>> get_method("flow_mh").camp
    'hybrid'
"""

from genmodels.hybrids.flow_fit import FlowFitConfig, fit_flow, flow_push
from genmodels.hybrids.flow_mh import flow_mh
from genmodels.hybrids.inpainting import inpaint
from genmodels.hybrids.neutra import neutra_hmc
from genmodels.hybrids.run import HybridRun, run_flow_mh, run_neutra_hmc
from genmodels.hybrids.settings import FlowMHSettings, NeutraSettings

__all__ = [
    "FlowFitConfig",
    "FlowMHSettings",
    "HybridRun",
    "NeutraSettings",
    "fit_flow",
    "flow_mh",
    "flow_push",
    "inpaint",
    "neutra_hmc",
    "run_flow_mh",
    "run_neutra_hmc",
]
