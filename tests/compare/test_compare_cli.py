"""`genmodels compare`: bad input is one line and exit code 2."""

from __future__ import annotations

import pytest

from cli_contract import assert_one_line_error
from genmodels.compare import run_comparison
from genmodels.errors import UnknownNameError


def test_unknown_method_is_one_line_and_exit_2(run_cli, tmp_path):
    proc = run_cli("compare", "--methods", "nuts,ddpmm", "--out", tmp_path / "o")
    assert_one_line_error(proc)
    assert "unknown method 'ddpmm'; did you mean 'ddpm'?" in proc.stderr
    assert not (tmp_path / "o").exists()  # nothing ran


def test_unknown_target_is_named_with_a_suggestion(tmp_path):
    with pytest.raises(UnknownNameError, match="did you mean 'eight_gaussians'"):
        run_comparison("eight_gausians", ["nuts"], tmp_path / "o", progress=False)
