"""Hybrids: chains and maps combined.

- `flow_mh`: a trained flow as the independence proposal of Metropolis–Hastings
  (asymptotically exact, draws nearly independent when the flow is good);
- `neutra_hmc`: HMC/NUTS in a trained flow's latent space (Hoffman et al. 2019);
- `inpaint`: posterior sampling with a DDPM prior (replacement + Langevin corrector, or
  diffusion posterior sampling);
- `fit_flow`: the flow both use, by maximum likelihood on samples or by reverse KL.

Example:
    >>> from genmodels.hybrids import METHOD_CAMPS
    >>> METHOD_CAMPS()["flow_mh"]
    'hybrid'
"""

from genmodels.hybrids.flow_fit import FlowFitConfig, fit_flow, flow_push
from genmodels.hybrids.flow_mh import flow_mh
from genmodels.hybrids.inpainting import inpaint
from genmodels.hybrids.neutra import neutra_hmc

__all__ = [
    "METHOD_CAMPS",
    "FlowFitConfig",
    "fit_flow",
    "flow_mh",
    "flow_push",
    "inpaint",
    "neutra_hmc",
]


def METHOD_CAMPS() -> dict[str, str]:
    """Every hybrid method: ``{name: "hybrid"}``."""
    return {"flow_mh": "hybrid", "neutra_hmc": "hybrid"}
