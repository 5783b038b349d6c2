"""The camp runners: a learned model trains, stops at its budget, rejects unknown settings."""

from __future__ import annotations

import pytest

from genmodels.compare import ModelRunner, RunContext, get_runner
from genmodels.errors import ConfigError, NotApplicableError, UnknownNameError
from genmodels.targets import get_target


def _settings(steps: int, **model: object) -> dict:
    return {"train": {"steps": steps, "batch_size": 64}, "model": dict(model), "sample": {}}


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
        target, _settings(100_000), RunContext(seed=0, n_samples=50, budget_seconds=4.0)
    )
    assert out.notes["requested_steps"] == 100_000
    assert 1 <= out.notes["planned_steps"] < 100_000
    assert 0 < out.train_steps <= out.notes["planned_steps"]
    assert tuple(out.samples.x.shape) == (50, 2)


def test_runner_settings_and_applicability():
    target = get_target("eight_gaussians")
    with pytest.raises(ConfigError, match="no_such_field"):
        get_runner("vae").run(target, _settings(1, no_such_field=3), RunContext(n_samples=10))
    with pytest.raises(ConfigError, match="unknown setting"):
        get_runner("vae").run(
            target, {"train": {}, "model": {}, "sample": {}, "chains": 2}, RunContext(n_samples=10)
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
    settings = {"chains": 3, "draws": 40, "warmup": 40, "kernel_options": {}}
    out = runner.run(get_target("eight_gaussians"), settings, RunContext(seed=1))
    assert out.samples.chains == 3 and tuple(out.samples.x.shape) == (3, 40, 2)
    assert out.samples.nfe >= 3 * 80  # one gradient per MALA step and chain
    with pytest.raises(NotApplicableError, match="samples only"):
        runner.check(get_target("digits"))


def test_trajectory_callbacks_are_found_through_forwarding_overrides():
    import genmodels.diffusion  # noqa: F401  (registers the diffusion models)
    from genmodels.catalogue import get_method
    from genmodels.compare.runners import _accepts_callback

    def model(name):
        cls = get_method(name).build
        return cls(cls.Config(), (2,))

    assert _accepts_callback(model("ncsn"))  # NCSN.sample(**kwargs) forwards to the base
    assert _accepts_callback(model("ddpm"))
    assert not _accepts_callback(model("gan"))


@pytest.mark.parametrize("method", ["vae", "flow"])
def test_models_on_discrete_images_dequantise_as_in_train(method):
    """compare builds a model as `genmodels train` does: on digits (17 levels) the VAE and
    the flow get num_levels and dequantise; on continuous toys they do not."""
    runner = get_runner(method)
    assert runner.build(get_target("digits"), {}).config.num_levels == 17
    assert runner.build(get_target("eight_gaussians"), {}).config.num_levels == 0
    assert runner.build(get_target("digits"), {"num_levels": 5}).config.num_levels == 5
