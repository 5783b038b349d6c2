"""The one noise-process interface: every schedule, SDE and path gives the same view."""

from __future__ import annotations

import pytest
import torch

from genmodels.diffusion import SOLVERS, get_solver
from genmodels.diffusion.noise import EDM_SIGMA_MAX, FlowMatchingPath, NoiseProcess
from genmodels.diffusion.schedules import DiscreteSchedule
from genmodels.diffusion.sde import VESDE, VPSDE, NCSNLevels, SubVPSDE
from genmodels.errors import InvalidInputError

PROCESSES = {
    "linear": DiscreteSchedule.linear(1000),
    "cosine": DiscreteSchedule.cosine(1000),
    "vp": VPSDE(),
    "subvp": SubVPSDE(),
    "ve": VESDE(0.01, 10.0),
    "ncsn": NCSNLevels(0.01, 10.0, levels=5),
    "flow": FlowMatchingPath(0.0, 0.01, 0.999),
}


@pytest.mark.parametrize("name", list(PROCESSES))
def test_every_process_gives_the_same_view(name: str) -> None:
    p: NoiseProcess = PROCESSES[name]
    assert 0 < p.sigma_hat_min < p.sigma_hat_max
    assert p.alpha_of_sigma_hat(0.0) == pytest.approx(1.0)
    for grid in p.grids:
        s = p.sigmas(6, grid)
        positive = s[s > 0]
        assert bool((positive.diff() < 0).all()), grid
        assert float(positive[-1]) == pytest.approx(p.sigma_hat_min, rel=1e-4), grid
        if grid != "langevin":
            assert float(s[-1]) == 0.0 and float(s[0]) <= 1.0001 * max(
                EDM_SIGMA_MAX, p.sigma_hat_max
            )
    assert p.start_std_hat(p.sigma_hat_max) == pytest.approx(p.prior_std_hat)
    with pytest.raises(InvalidInputError):
        p.sigmas(6, "nope")


def test_grid_rules() -> None:
    """A solver's spec names its grid; the process may overrule it (flow matching: uniform t;
    a DDPM schedule: its spacing for the discrete samplers)."""
    assert get_solver("dpmpp_2m").grid == "logsnr"
    # Heun runs on the process's own grid: a DDPM's timestep spacing (there it beats
    # diffusers' Heun at every NFE, docs/design-notes.md), EDM's ρ = 7 on the SDEs
    heun = get_solver("heun").grid
    assert heun is None and PROCESSES["linear"].grid_for(heun) == "leading"
    assert PROCESSES["vp"].grid_for(heun) == PROCESSES["ve"].grid_for(heun) == "karras"
    flow, ddpm = PROCESSES["flow"], DiscreteSchedule.linear(100, spacing="trailing")
    assert ddpm.grid_for(heun) == "trailing"
    assert flow.grid_for("logsnr") == "uniform" and flow.grid_for("langevin") == "langevin"
    assert ddpm.grid_for(get_solver("ddim").grid) == "trailing"
    assert ddpm.grid_for("logsnr") == "logsnr"
    assert ddpm.timesteps(4).tolist() == ddpm.timesteps(4, "trailing").tolist()
    assert get_solver("annealed_langevin").steps_for(PROCESSES["ncsn"]) == 5
    assert get_solver("annealed_langevin").steps_for(PROCESSES["vp"]) == 10
    assert get_solver("ancestral").steps_for(ddpm) == 100
    assert {s.family for _, s in SOLVERS.items()} == {"discrete", "sde", "ode", "langevin"}


def test_noise_is_drawn_on_the_generators_device_and_moved() -> None:
    from genmodels.diffusion.draws import noise_like, rademacher_like, uniform_like

    like = torch.zeros(3, 2, dtype=torch.float64)
    for draw, ref in ((noise_like, torch.randn), (uniform_like, torch.rand)):
        a = draw(like, torch.Generator().manual_seed(1))
        b = ref(3, 2, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
        assert a.dtype == torch.float64 and torch.equal(a, b)
    v = rademacher_like(like, torch.Generator().manual_seed(1))
    assert set(v.unique().tolist()) <= {-1.0, 1.0}
