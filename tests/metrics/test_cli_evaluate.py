"""`genmodels evaluate`: JSON keys, the table, and one-line errors on bad input."""

import json
import subprocess

import numpy as np
import pytest
import torch

from conftest import assert_one_line_error
from genmodels.cli import main
from genmodels.samples import Samples
from genmodels.targets import get_target


def run_in_process(capsys, *args) -> subprocess.CompletedProcess[str]:
    """`genmodels ARGS` through the console entry point, without a new interpreter."""
    code = 0
    try:
        main(["evaluate", *map(str, args)])
    except SystemExit as e:
        code = e.code
    captured = capsys.readouterr()
    return subprocess.CompletedProcess(args, code, captured.out, captured.err)


@pytest.fixture
def exact_npz(tmp_path):
    x = get_target("eight_gaussians").sample(1000, torch.Generator().manual_seed(5))
    path = tmp_path / "exact.npz"
    Samples(x.reshape(4, 250, 2), chains=4, nfe=10).save(path)  # chain layout is flattened
    return path


def test_evaluate_json(run_cli, exact_npz):
    proc = run_cli("evaluate", exact_npz, "--target", "eight_gaussians", "--json", check=True)
    m = json.loads(proc.stdout)
    assert m["n"] == 1000
    assert m["modes_covered"] == 8
    assert m["mmd"] <= 3 * m["mmd_floor"]
    assert set(m) >= {"mmd", "mmd_floor", "energy_distance", "sliced_wasserstein"}


def test_evaluate_table(capsys, exact_npz):
    proc = run_in_process(capsys, exact_npz, "--target", "eight_gaussians")
    assert proc.returncode == 0, proc.stderr
    assert "mmd_floor" in proc.stdout and "mode_weight_tv" in proc.stdout


def test_bad_input_is_one_line_exit_2(capsys, exact_npz, tmp_path):
    no_x = tmp_path / "no_x.npz"
    np.savez(no_x, y=np.zeros((5, 2)))
    wrong_dim = tmp_path / "wrong_dim.npz"
    np.savez(wrong_dim, x=np.zeros((5, 3), dtype=np.float32))
    for args, needle in [
        ((exact_npz, "--target", "eight_gausians"), "unknown target"),
        ((tmp_path / "missing.npz", "--target", "eight_gaussians"), "no such file"),
        ((no_x, "--target", "eight_gaussians"), "no array 'x'"),
        ((wrong_dim, "--target", "eight_gaussians"), "shape"),
        ((exact_npz, "--target", "logreg_breast_cancer"), "no exact sampler"),
    ]:
        proc = run_in_process(capsys, *args)
        assert_one_line_error(proc)
        assert needle in proc.stderr
