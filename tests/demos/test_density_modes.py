"""The density-modes claim at quick scale: SMC covers >= 35 of gmm40_2d's 40 modes, NUTS from
one start a few, at the same number of target evaluations."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.mark.slow
def test_smc_covers_the_modes_nuts_stays_in_a_few_at_equal_evaluations(tmp_path) -> None:
    from genmodels.demos.density_modes import METHODS, run

    r = run(tmp_path, seed=0, quick=True)
    smc, nuts = r["smc"], r["nuts"]
    assert next(iter(METHODS)) == "smc" and r["budget_target_evals"] == smc["target_evals"]
    # equal budget: NUTS's chains are cut where they reach SMC's count
    assert 0.97 * smc["target_evals"] <= nuts["target_evals"] <= smc["target_evals"]
    assert smc["modes_covered"] >= 35 and nuts["modes_covered"] <= 5
    assert r["exact_modes_covered"] == 40
    assert abs(smc["delta_log_z"]) < 0.5 and nuts["delta_log_z"] is None
    assert smc["mode_weight_tv"] < 0.3 < nuts["mode_weight_tv"]
    assert (tmp_path / r["figure"]).is_file()
