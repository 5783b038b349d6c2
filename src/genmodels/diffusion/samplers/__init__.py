"""Diffusion samplers, one signature per family.

- discrete ε-networks: `sample_ddpm`, `sample_ddim` — ``(eps_model, x_T, schedule, timesteps)``;
- reverse SDE: `sample_pc`, `sample_euler_maruyama` — ``(score_fn, sde, x_T, timesteps)``;
- probability-flow ODE in EDM coordinates: `sample_euler`, `sample_heun`, `sample_dpmpp_2m`,
  `sample_dopri5` — ``(denoiser, x, sigmas)``; flow matching uses these through its denoiser;
- annealed Langevin lives with the chains: `genmodels.mcmc.annealed_langevin`.
"""

from genmodels.diffusion.samplers.common import Callback, NFECounter
from genmodels.diffusion.samplers.discrete import sample_ddim, sample_ddpm
from genmodels.diffusion.samplers.ode import (
    sample_dopri5,
    sample_dpmpp_2m,
    sample_euler,
    sample_heun,
)
from genmodels.diffusion.samplers.sde import sample_euler_maruyama, sample_pc

__all__ = [
    "Callback",
    "NFECounter",
    "sample_ddim",
    "sample_ddpm",
    "sample_dopri5",
    "sample_dpmpp_2m",
    "sample_euler",
    "sample_euler_maruyama",
    "sample_heun",
    "sample_pc",
]
