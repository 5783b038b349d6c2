import json

from cli_contract import assert_one_line_error

EXPECTED = {
    "eight_gaussians", "two_moons", "swiss_roll", "checkerboard", "rings", "pinwheel",
    "two_spirals", "mixture_80_20", "banana", "funnel", "gaussian_100d_illcond",
    "logreg_breast_cancer", "eight_schools", "digits",
}  # fmt: skip


def test_targets_json_lists_every_target_with_keys(run_cli):
    rows = json.loads(run_cli("targets", "--json", check=True).stdout)
    by_name = {r["name"]: r for r in rows}
    assert set(by_name) >= EXPECTED
    for r in rows:
        assert set(r) == {"name", "kind", "dim", "has_log_prob", "has_samples"}
    assert by_name["digits"] == {
        "name": "digits", "kind": "image", "dim": 64, "has_log_prob": False, "has_samples": True,
    }  # fmt: skip
    assert by_name["logreg_breast_cancer"]["has_samples"] is False


def test_targets_table(run_cli):
    assert "eight_gaussians" in run_cli("targets", check=True).stdout


def test_targets_rejects_arguments(run_cli):
    assert_one_line_error(run_cli("targets", "extra"))
