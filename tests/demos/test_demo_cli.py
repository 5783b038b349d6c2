"""The `genmodels demo` contract: --list, unknown name → one line + exit 2, result.json."""

from __future__ import annotations

import json

import pytest

from cli_contract import assert_one_line_error
from genmodels.cli import main
from genmodels.demos import DEMOS, run_demo


def _main(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_info:
        main([*args])
        raise SystemExit(0)
    out, err = capsys.readouterr()
    return int(exit_info.value.code or 0), out, err


def test_list_names_every_registered_demo(capsys) -> None:
    code, out, _ = _main(capsys, "demo", "--list", "--json")
    rows = json.loads(out)
    assert code == 0
    assert [r["name"] for r in rows] == list(DEMOS)
    assert all(r["claim"] for r in rows)
    assert {r["name"] for r in rows} >= {
        "langevin-weights", "mixing", "ddpm-is-score", "pc-sampling", "manifold",
        "inverse-transform", "neutra-funnel", "inpainting", "reverse-gif",
    }  # fmt: skip


def test_unknown_demo_is_one_line_exit_2(run_cli) -> None:
    proc = run_cli("demo", "no-such-demo", "--out", "x")
    assert_one_line_error(proc)
    assert "no-such-demo" in proc.stderr


def test_missing_out_or_name_is_one_line_exit_2(capsys) -> None:
    for args in (["demo", "manifold"], ["demo"]):
        code, _, err = _main(capsys, *args)
        assert code == 2 and len(err.strip().splitlines()) == 1, err


def test_run_demo_writes_result_with_seed_and_time(tmp_path) -> None:
    result = run_demo("manifold", tmp_path, seed=1, quick=True)
    on_disk = json.loads((tmp_path / "result.json").read_text())
    assert on_disk == result
    assert result["demo"] == "manifold" and result["seed"] == 1 and result["quick"] is True
    assert result["seconds"] > 0 and (tmp_path / result["figure"]).is_file()
    # the claim: digits sit far below their 64 ambient dimensions; controls are recovered
    assert 4 < result["twonn_dim"] < 15 and 4 < result["mle_dim"] < 15
    for control in result["controls"].values():
        assert control["twonn_dim"] == pytest.approx(control["true_dim"], rel=0.2)


def test_json_output_is_strict_json(capsys):
    """``--json`` output parses with a strict parser: NaN/inf become null, tensors lists."""
    import torch

    from genmodels.cli.app import echo_json

    echo_json({"mmd": float("nan"), "x": torch.tensor([1.0, float("inf")]), "k": (1, 2)})
    out = capsys.readouterr().out

    def reject(token: str) -> None:
        raise ValueError(token)

    assert json.loads(out, parse_constant=reject) == {"mmd": None, "x": [1.0, None], "k": [1, 2]}
