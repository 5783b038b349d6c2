"""Where chains and maps meet: score matching, NCSN, DDPM/DDIM, score SDEs, flow matching.

Layout (network, noise process, solver and loss are separate):

- `parameterization` — ε ↔ x₀ ↔ v ↔ score conversions, EDM coordinates, and the one table of
  what a network may predict (`PREDICTIONS`);
- `noise` — `NoiseProcess`, the one interface to σ̂ ranges, grids and conversions, implemented
  by `schedules.DiscreteSchedule` (DDPM's β's), `sde` (VP, sub-VP, VE, NCSN's levels) and
  `noise.FlowMatchingPath`; `grids` — EDM's ρ = 7 and the log-SNR grids;
- `losses` — DSM with λ(σ), sliced score matching, ε/x₀/v regression, flow matching (+OT);
- `samplers` — the solver functions: DDPM ancestral, DDIM, predictor–corrector /
  Euler–Maruyama, PF-ODE Euler/Heun/DPM-Solver++(2M)/dopri5, annealed Langevin;
- `solvers` — `SOLVERS`, where each solver registers its `SolverSpec` (family, default steps,
  default grid); `drivers` — one driver per family, turning a model into what its solvers
  consume;
- `guidance` — labels and classifier-free guidance;
- `likelihood` — PF-ODE log-likelihood with exact or Hutchinson divergence, dequantisation;
- `model`, `methods` — the trainable methods registered in `genmodels.catalogue`;
- `score_model` — `ScoreModel.from_fn`: every sampler and the likelihood on a user's own ε-,
  score- or denoiser-function (docs/howto-own-score.md).
"""

from genmodels.diffusion.drivers import DRIVERS
from genmodels.diffusion.grids import geometric_sigmas, karras_sigmas
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
from genmodels.diffusion.model import DiffusionModel
from genmodels.diffusion.noise import FlowMatchingPath, NoiseProcess
from genmodels.diffusion.samplers import StepState
from genmodels.diffusion.samplers.langevin import langevin_step_size
from genmodels.diffusion.schedules import DiscreteSchedule
from genmodels.diffusion.score_model import ScoreModel, ScoreModelConfig
from genmodels.diffusion.sde import SDE, VESDE, VPSDE, NCSNLevels, SubVPSDE
from genmodels.diffusion.solvers import SOLVERS, SolverSpec, get_solver, register_solver

__all__ = [
    "DDPM",
    "DRIVERS",
    "NCSN",
    "SDE",
    "SOLVERS",
    "VESDE",
    "VPSDE",
    "DiffusionModel",
    "DiscreteSchedule",
    "FlowMatching",
    "FlowMatchingPath",
    "LikelihoodResult",
    "NCSNLevels",
    "NoiseProcess",
    "ScoreModel",
    "ScoreModelConfig",
    "ScoreSDE",
    "SolverSpec",
    "StepState",
    "SubVPSDE",
    "SubVPSDEModel",
    "VESDEModel",
    "VPSDEModel",
    "dequantized_nll",
    "geometric_sigmas",
    "get_solver",
    "karras_sigmas",
    "langevin_step_size",
    "pf_ode_log_prob",
    "register_solver",
]
