"""Diffusion samplers, one signature per family, each registered as a solver spec.

- ``discrete`` (ε-networks on a `DiscreteSchedule`): `sample_ddpm` ("ancestral"),
  `sample_ddim` ("ddim") — ``(eps_model, x_T, schedule, timesteps)``;
- ``sde`` (reverse SDE): `sample_pc` ("pc"), `sample_euler_maruyama` ("euler_maruyama") —
  ``(score_fn, sde, x_T, times)``;
- ``ode`` (probability-flow ODE in EDM coordinates): `sample_euler`, `sample_heun`,
  `sample_dpmpp_2m`, `sample_dopri5`, and the few-step multistep solvers `sample_dpmpp_3m`,
  `sample_unipc`, `sample_ipndm` — ``(denoiser, x, sigmas)``; flow matching uses these
  through its denoiser; on the same signature the stochastic `sample_euler_ancestral` and
  `sample_dpmpp_2m_sde` add noise each step (``generator=``);
- ``langevin``: `annealed_langevin` — ``(score_fn, x_init, sigmas)``, NCSN's sampler.

Importing this package registers them all in `genmodels.diffusion.solvers.SOLVERS`; the
drivers in `genmodels.diffusion.drivers` run them on a model.
"""

from genmodels.diffusion.samplers.ancestral import (
    ancestral_levels,
    sample_dpmpp_2m_sde,
    sample_euler_ancestral,
)
from genmodels.diffusion.samplers.common import (
    Callback,
    NFECounter,
    StepState,
    as_levels,
    noise_like,
    report,
)
from genmodels.diffusion.samplers.discrete import ancestral_step, sample_ddim, sample_ddpm
from genmodels.diffusion.samplers.langevin import annealed_langevin
from genmodels.diffusion.samplers.multistep import sample_dpmpp_3m, sample_ipndm, sample_unipc
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
    "StepState",
    "ancestral_levels",
    "ancestral_step",
    "annealed_langevin",
    "as_levels",
    "noise_like",
    "report",
    "sample_ddim",
    "sample_ddpm",
    "sample_dopri5",
    "sample_dpmpp_2m",
    "sample_dpmpp_2m_sde",
    "sample_dpmpp_3m",
    "sample_euler",
    "sample_euler_ancestral",
    "sample_euler_maruyama",
    "sample_heun",
    "sample_ipndm",
    "sample_pc",
    "sample_unipc",
]
