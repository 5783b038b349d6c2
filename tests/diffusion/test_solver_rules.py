"""The per-solver rules of issue 15's few-step work: first-order solvers on the process's own
grid (on a DDPM, Euler is DDIM and Euler ancestral is DDPM ancestral), DPM-Solver++(3M) in its
2nd-order form below `THIRD_ORDER_STEPS`, and option values refused before a solver runs."""

from __future__ import annotations

from typing import Literal

import pytest
import torch

from genmodels.catalogue import get_method
from genmodels.diffusion.drivers import value_fits
from genmodels.diffusion.samplers import sample_dpmpp_2m
from genmodels.diffusion.samplers.multistep import THIRD_ORDER_STEPS
from genmodels.diffusion.schedules import DiscreteSchedule
from genmodels.diffusion.solvers import get_solver
from genmodels.errors import InvalidInputError


def ddpm():
    cls = get_method("ddpm").build
    torch.manual_seed(0)
    model = cls(cls.Config(width=16, depth=1), (2,))
    with torch.no_grad():  # leave the zero-initialised output layer non-trivial
        for p in model.parameters():
            p.add_(0.1 * torch.randn_like(p))
    return model.eval()


def draw(model, sampler, steps, **options):
    g = torch.Generator().manual_seed(3)
    return model.sample(64, sampler=sampler, steps=steps, generator=g, **options).x


def test_first_order_solvers_on_a_ddpm_step_through_its_timesteps() -> None:
    model = ddpm()
    ddim = draw(model, "ddim", 8, eta=0.0)
    torch.testing.assert_close(draw(model, "euler", 8), ddim, rtol=1e-4, atol=1e-4)
    assert not torch.allclose(draw(model, "euler", 8, grid="karras"), ddim, atol=1e-2)
    # Euler ancestral's noise is drawn per step like DDPM's: the same distribution, so compare
    # its η = 0 form, which is Euler again
    torch.testing.assert_close(draw(model, "euler_ancestral", 8, eta=0.0), ddim, rtol=1e-4,
                               atol=1e-4)  # fmt: skip
    sigmas = model.process.sigmas(4, "leading")
    assert float(sigmas[-2]) == pytest.approx(model.process.sigma_hat_min) and sigmas[-1] == 0


def test_dpmpp_3m_is_2nd_order_below_third_order_steps() -> None:
    spec, schedule = get_solver("dpmpp_3m"), DiscreteSchedule.linear()

    def den(x, s):
        return torch.tanh(x) * 0.9

    x = 80 * torch.randn(32, 2, generator=torch.Generator().manual_seed(0))
    few = spec.sigmas_on(schedule, THIRD_ORDER_STEPS - 2)
    torch.testing.assert_close(spec.fn(den, x, few, **spec.options), sample_dpmpp_2m(den, x, few))
    many = spec.sigmas_on(schedule, THIRD_ORDER_STEPS)
    assert not torch.allclose(spec.fn(den, x, many, **spec.options), sample_dpmpp_2m(den, x, many))
    assert not torch.allclose(spec.fn(den, x, few), sample_dpmpp_2m(den, x, few))  # diffusers'


@pytest.mark.parametrize(
    "steps, last", [(5, 0.4), (8, 0.4), (10, 0.3025), (20, 0.075625), (50, 0.03), (200, 0.03)]
)
def test_dpmpp_2m_sde_ends_at_its_own_sigma_min(steps, last) -> None:
    """DPM-Solver++(2M) SDE's log-SNR grid ends at (5.5/N)² within [0.03, 0.4] (the process's
    σ̂_min where higher), above the ODE solvers' (3/N)²; the others keep theirs."""
    from genmodels.diffusion.grids import few_step_sigma_min, sde_few_step_sigma_min
    from genmodels.diffusion.sde import VESDE

    spec, schedule = get_solver("dpmpp_2m_sde"), DiscreteSchedule.linear()
    assert spec.sigma_min is sde_few_step_sigma_min
    sigmas = spec.sigmas_on(schedule, steps)
    assert float(sigmas[-2]) == pytest.approx(last, rel=1e-5) and sigmas[-1] == 0
    assert float(sigmas[0]) == pytest.approx(80.0) and len(sigmas) == steps + 1
    assert last > few_step_sigma_min(steps, schedule.sigma_hat_min)
    ve = VESDE(0.5, 50.0)  # a process whose own σ̂_min is above the rule's: it stands
    assert float(spec.sigmas_on(ve, steps)[-2]) == pytest.approx(max(last, ve.sigma_hat_min))
    for name in ("dpmpp_2m", "dpmpp_3m", "unipc", "ipndm", "euler_ancestral"):
        assert get_solver(name).sigma_min is few_step_sigma_min, name


@pytest.mark.parametrize(
    "sampler, options, message",
    [
        ("unipc", {"order": 4}, "order"),
        ("unipc", {"variant": "bh3"}, "variant"),
        ("ipndm", {"max_order": 0}, "max_order"),
        ("dpmpp_2m_sde", {"eta": 1.5}, "eta"),
        ("euler_ancestral", {"s_noise": -1.0}, "s_noise"),
        ("ddim", {"eta": "lots"}, "eta"),
        ("ddim", {"clip_x0": 0.0}, "clip_x0"),
        ("dpmpp_3m", {"lower_order_final": "yes"}, "lower_order_final"),
        ("dopri5", {"rtol": -1.0}, "rtol"),
        ("annealed_langevin", {"steps_per_level": 0}, "steps_per_level"),
    ],
)
def test_option_values_are_refused_before_the_solver_runs(sampler, options, message) -> None:
    model = ddpm()
    calls = []
    model.denoiser = lambda *a, **k: calls.append(1)  # never reached
    model.predict_eps = model.denoiser
    with pytest.raises(InvalidInputError, match=message):
        model.sample(4, sampler=sampler, steps=3, **options)
    assert not calls


def test_value_fits() -> None:
    assert value_fits(1, float) and value_fits(0.5, float | None) and value_fits(None, int | None)
    assert not value_fits(True, float) and not value_fits(float("nan"), float)
    assert not value_fits(2.0, int) and not value_fits("1", int)
    assert value_fits("bh1", Literal["bh1", "bh2"]) and not value_fits(1, Literal["1"])
    assert value_fits(object(), torch.Tensor)  # other annotations: not checked
