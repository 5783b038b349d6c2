"""`genmodels compare`: bad input is one line and exit code 2."""

from __future__ import annotations

from conftest import assert_one_line_error


def test_unknown_method_and_missing_config(run_cli, tmp_path):
    proc = run_cli("compare", "--methods", "ddpmm", "--out", tmp_path / "o")
    assert_one_line_error(proc)
    assert "unknown method 'ddpmm'" in proc.stderr
    proc = run_cli("compare", "--config", tmp_path / "none.toml", "--out", tmp_path / "o")
    assert_one_line_error(proc)
    assert "no such config file" in proc.stderr
    proc = run_cli("compare", "--target", "eight_gausians", "--out", tmp_path / "o")
    assert_one_line_error(proc)
    assert "did you mean 'eight_gaussians'" in proc.stderr
