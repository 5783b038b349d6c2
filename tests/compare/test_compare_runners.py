"""The camp runners: a learned model trains, stops at its budget, rejects unknown settings."""

from __future__ import annotations

import pytest

from genmodels.budget import Budget
from genmodels.compare import ModelRunner, RunContext, get_runner
from genmodels.errors import ConfigError, NotApplicableError, UnknownNameError
from genmodels.targets import get_target


def _settings(steps: int, name: str = "vae", **model: object):
    values = {"train": {"steps": steps, "batch_size": 64}, "model": dict(model), "sample": {}}
    return get_runner(name).parse_settings(get_target("eight_gaussians"), values)


@pytest.mark.slow
def test_model_runner_trains_samples_and_stops_at_budget():
    target = get_target("eight_gaussians")
    runner = get_runner("vae")
    assert isinstance(runner, ModelRunner) and runner.camp == "map"
    out = runner.run(target, _settings(20), RunContext(seed=0, n_samples=100))
    assert tuple(out.samples.x.shape) == (100, 2)
    assert out.train_steps == 20 and out.train_seconds > 0
    assert not out.notes
    # a budget far below what 100k steps need: a shorter run is planned (its learning rate
    # schedule decays fully), it stays near the budget, and sampling still happens
    out = runner.run(
        target, _settings(100_000), RunContext(seed=0, n_samples=50, budget=Budget(4.0))
    )
    assert out.notes["requested_steps"] == 100_000
    assert 1 <= out.notes["planned_steps"] < 100_000
    assert 0 < out.train_steps <= out.notes["planned_steps"]
    assert tuple(out.samples.x.shape) == (50, 2)


def test_runner_settings_and_applicability():
    target = get_target("eight_gaussians")
    with pytest.raises(ConfigError, match="no_such_field"):
        _settings(1, no_such_field=3)
    with pytest.raises(ConfigError, match="unknown setting"):
        get_runner("vae").parse_settings(
            target, {"train": {}, "model": {}, "sample": {}, "chains": 2}
        )
    with pytest.raises(UnknownNameError, match="did you mean 'vae'"):
        get_runner("vea")


class _DensityOnly:
    name = "posterior"
    has_samples = False
    has_log_prob = True


def test_learned_models_need_samples():
    with pytest.raises(NotApplicableError, match="no sampler"):
        get_runner("flow").check(_DensityOnly())


def test_chain_runner_runs_the_kernel_and_needs_a_density():
    from genmodels.compare import ChainRunner

    runner = get_runner("mala")
    assert isinstance(runner, ChainRunner) and runner.camp == "chain"
    target = get_target("eight_gaussians")
    settings = runner.parse_settings(target, {"chains": 3, "draws": 40, "warmup": 40})
    out = runner.run(target, settings, RunContext(seed=1))
    assert out.samples.chains == 3 and tuple(out.samples.x.shape) == (3, 40, 2)
    assert out.samples.nfe >= 3 * 80  # one gradient per MALA step and chain
    with pytest.raises(NotApplicableError, match="samples only"):
        runner.check(get_target("digits"))


@pytest.mark.parametrize("method", ["vae", "flow"])
def test_models_on_discrete_images_dequantise_as_in_train(method):
    """compare builds a model as `genmodels train` does: on digits (17 levels) the VAE and
    the flow get num_levels and dequantise; on continuous toys they do not."""
    runner = get_runner(method)

    def levels(target: str, model: dict) -> int:
        return runner.parse_settings(get_target(target), {"model": model}).model.num_levels

    assert levels("digits", {}) == 17
    assert levels("eight_gaussians", {}) == 0
    assert levels("digits", {"num_levels": 5}) == 5
