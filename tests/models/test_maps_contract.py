"""Contract test for every registered learned model: loss, players, sample, save/load, log_prob."""

from __future__ import annotations

import pytest
import torch

from genmodels.catalogue import list_methods
from genmodels.errors import NotApplicableError
from genmodels.targets import get_target
from genmodels.training import TrainConfig, fit, load_model
from genmodels.training.setup import build_model

MAPS = ("gan", "vae", "flow")
# ncsn samples by annealed Langevin, 100 steps per noise level even at 3 levels (~35 s here)
SLOW = {"ncsn"}
CASES = [
    pytest.param(name, "eight_gaussians", marks=[pytest.mark.slow] if name in SLOW else [])
    for name in sorted(s.name for s in list_methods(("map", "diffusion")))
] + [(name, "digits") for name in MAPS]


@pytest.mark.parametrize(("method", "data"), CASES)
def test_model_contract(method: str, data: str, tmp_path) -> None:
    target = get_target(data)
    model = build_model(method, target.event_shape, num_levels=target.num_levels, seed=0)
    batch = target.sample(16, generator=torch.Generator().manual_seed(1))

    # loss: a finite scalar with finite gradients for every player
    model.init_from_data(batch)
    for player in model.training_players():
        model.zero_grad(set_to_none=True)
        loss = player.loss(batch)
        assert loss.ndim == 0 and torch.isfinite(loss)
        loss.backward()
        grads = [p.grad for p in player.parameters if p.grad is not None]
        assert grads, f"{player.name} loss does not reach its parameters"
        assert all(torch.isfinite(g).all() for g in grads)
    assert torch.isfinite(model.loss(batch))

    # likelihood or bound: one value per point (the PF-ODE likelihood of diffusion models is
    # an adaptive ODE solve, tested with its own tolerances in tests/diffusion)
    if model.camp == "diffusion":
        pass
    elif model.likelihood == "none":
        with pytest.raises(NotApplicableError):
            model.log_prob(batch)
    else:
        with torch.no_grad():
            lp = model.log_prob(batch[:5])
        assert lp.shape == (5,) and torch.isfinite(lp).all()

    # train two steps, then save -> load gives identical samples at the same seed
    out = tmp_path / "run"
    config = TrainConfig(steps=2, batch_size=16, warmup_steps=1, progress=False)
    model = build_model(method, target.event_shape, num_levels=target.num_levels, seed=0)
    state = fit(model, target, config, out)

    # a few sampler steps keep iterative (diffusion) samplers cheap; maps take no options
    options = {"steps": 3} if model.camp == "diffusion" else {}

    def draw(m: torch.nn.Module) -> torch.Tensor:
        torch.manual_seed(3)
        return m.sample(7, generator=torch.Generator().manual_seed(5), **options).x

    with torch.no_grad():
        raw = draw(model)
        assert raw.shape == (7, *target.event_shape)
        assert torch.equal(raw, draw(model))  # deterministic under a seed
        loaded, cfg = load_model(out, ema=False)
        assert torch.equal(draw(loaded), raw)
        with state.ema.applied(model):
            ema_samples = draw(model)
        assert torch.equal(draw(load_model(out)[0]), ema_samples)
    assert cfg["method"] == method and cfg["step"] == 2 and cfg["target"] == data
