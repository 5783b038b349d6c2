"""The density-modes claim at quick scale: at the learned sampler's (DDS's) count of target
evaluations, SMC covers >= 35 of gmm40_2d's 40 modes and DDS and FAB >= 30, while NUTS from
one start stays in a few."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.mark.slow
def test_smc_and_dds_cover_the_modes_nuts_stays_in_a_few_at_equal_evaluations(tmp_path) -> None:
    from genmodels.demos.density_modes import METHODS, run

    r = run(tmp_path, seed=0, quick=True)
    dds, reference, smc, nuts = r["dds"], r["reference_is"], r["smc"], r["nuts"]
    assert list(METHODS) == ["dds", "reference_is", "fab", "smc", "nuts"]
    # the learned sampler sets the budget: every evaluation it spent, training included
    assert r["budget_target_evals"] == dds["target_evals"] > dds["train_target_evals"]
    # equal budget: NUTS's chains are cut where they reach it; SMC needs far fewer
    assert 0.97 * dds["target_evals"] <= nuts["target_evals"] <= dds["target_evals"]
    assert smc["target_evals"] < 0.5 * dds["target_evals"]
    # the control: importance sampling from DDS's reference, one density call per particle
    assert reference["target_evals"] == reference["particles"] == dds["particles"]
    assert reference["modes_covered"] >= 25 and abs(reference["delta_log_z"]) < 0.3
    assert smc["modes_covered"] >= 35 and nuts["modes_covered"] <= 5
    # quick DDS (100 training steps of 64 paths of 16 steps, 8,192 paths drawn): far above NUTS
    assert dds["modes_covered"] >= 30 and dds["modes_covered"] >= nuts["modes_covered"] + 25
    assert r["exact_modes_covered"] == 40
    assert abs(smc["delta_log_z"]) < 0.5 and nuts["delta_log_z"] is None
    assert abs(dds["delta_log_z"]) < 0.3  # an unbiased Z estimate, a few se from the truth
    assert smc["mode_weight_tv"] < 0.3 < nuts["mode_weight_tv"]
    assert dds["mode_weight_tv"] < 0.3
    # FAB, 15 iterations: under the budget, most modes, log Z a few se from the truth
    fab = r["fab"]
    assert fab["target_evals"] < dds["target_evals"] and fab["iterations"] == 15
    assert fab["modes_covered"] >= 30 and abs(fab["delta_log_z"]) < 0.3
    assert (tmp_path / r["figure"]).is_file()
