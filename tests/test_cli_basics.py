import json

from cli_contract import assert_one_line_error


def test_help_lists_commands(run_cli):
    proc = run_cli("--help", check=True)
    assert "methods" in proc.stdout


def test_no_arguments_shows_help(run_cli):
    proc = run_cli(check=True)
    assert "Usage" in proc.stdout


def test_unknown_command_is_one_line_exit_2(run_cli):
    assert_one_line_error(run_cli("no-such-command"))


def test_unknown_option_is_one_line_exit_2(run_cli):
    assert_one_line_error(run_cli("methods", "--no-such-option"))


def test_methods_json_has_name_and_camp(run_cli):
    rows = json.loads(run_cli("methods", "--json", check=True).stdout)
    for row in rows:
        assert set(row) == {"name", "camp", "description"}
        assert row["camp"] in {"chain", "map", "diffusion", "hybrid", "density"}
