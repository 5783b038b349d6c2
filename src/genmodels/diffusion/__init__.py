"""Where chains and maps meet: score matching, NCSN, DDPM/DDIM, score SDEs, flow matching.

Layout (network, noise process, sampler and loss are separate):

- `parameterization` — ε ↔ x₀ ↔ v ↔ score conversions and EDM coordinates;
- `schedules` — DDPM's discrete β's (linear, cosine), EDM's σ grid;
- `sde` — VP, sub-VP and VE SDEs;
- `losses` — DSM with λ(σ), sliced score matching, ε/x₀/v regression, flow matching (+OT);
- `samplers` — DDPM ancestral, DDIM, predictor–corrector / Euler–Maruyama, PF-ODE
  Euler/Heun/DPM-Solver++(2M)/dopri5 (annealed Langevin: `genmodels.mcmc.annealed_langevin`);
- `likelihood` — PF-ODE log-likelihood with exact or Hutchinson divergence, dequantisation;
- `model`, `methods` — the trainable methods registered in `genmodels.catalogue`.
"""

from genmodels.diffusion.likelihood import LikelihoodResult, dequantized_nll, pf_ode_log_prob
from genmodels.diffusion.methods import (
    DDPM,
    NCSN,
    FlowMatching,
    ScoreSDE,
    SubVPSDEModel,
    VESDEModel,
    VPSDEModel,
)
from genmodels.diffusion.model import SAMPLERS, DiffusionModel
from genmodels.diffusion.schedules import DiscreteSchedule, karras_sigmas
from genmodels.diffusion.sde import SDE, VESDE, VPSDE, SubVPSDE

__all__ = [
    "DDPM",
    "NCSN",
    "SAMPLERS",
    "SDE",
    "VESDE",
    "VPSDE",
    "DiffusionModel",
    "DiscreteSchedule",
    "FlowMatching",
    "LikelihoodResult",
    "ScoreSDE",
    "SubVPSDE",
    "SubVPSDEModel",
    "VESDEModel",
    "VPSDEModel",
    "dequantized_nll",
    "karras_sigmas",
    "pf_ode_log_prob",
]
