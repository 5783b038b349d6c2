"""`genmodels train METHOD --show-config`: every setting, its default and its help, as TOML
that `--config` reads back; the help comes from the configs' docstrings (one rule for all)."""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

import pytest

from genmodels.catalogue import list_methods
from genmodels.training import TrainConfig
from genmodels.training.config import config_from_dict, config_to_dict
from genmodels.training.config_help import field_help, missing_help, settings_toml

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

TRAINABLE = [spec.name for spec in list_methods(("map", "diffusion"))]
EVERY_SETTINGS = sorted(
    {spec.settings for spec in list_methods()} | {TrainConfig}, key=lambda c: c.__qualname__
)


def test_the_catalogue_has_trainable_methods() -> None:
    assert {"flow", "vae", "gan", "ddpm", "flow_matching"} <= set(TRAINABLE)


@pytest.mark.parametrize("cls", EVERY_SETTINGS, ids=lambda c: c.__qualname__)
def test_every_setting_of_every_method_has_help(cls: type) -> None:
    """The rule: each field has an entry in its class's (or a base's) Attributes section."""
    assert missing_help(cls) == []


def test_help_is_read_from_the_attributes_section_and_inherited() -> None:
    @dataclasses.dataclass
    class Base:
        """Prose.

        Attributes:
            a, b: shared
                over two lines.
            c (int): typed.

        Example:
            d: not an attribute.
        """

        a: int = 1
        b: int = 2
        c: int = 3

    @dataclasses.dataclass
    class Child(Base):
        """Own field.

        Attributes:
            d: own.
        """

        d: int = 4

    assert field_help(Child) == {
        "a": "shared over two lines.",
        "b": "shared over two lines.",
        "c": "typed.",
        "d": "own.",
    }
    assert missing_help(dataclasses.make_dataclass("Bare", [("x", int, 0)])) == ["x"]


def _show(cli, method: str) -> str:
    result = cli("train", method, "--show-config", check=True)
    assert result.stderr == ""
    return result.stdout


@pytest.mark.parametrize("method", TRAINABLE)
def test_show_config_is_toml_listing_every_field_with_help(cli, method: str) -> None:
    spec = next(s for s in list_methods() if s.name == method)
    text = _show(cli, method)
    parsed = tomllib.loads(text)
    assert set(parsed) == {"model", "train"}
    for section, cls in (("model", spec.settings), ("train", TrainConfig)):
        defaults = config_to_dict(cls())
        shown = parsed[section]
        for name in defaults:  # every field: a key, or a commented-out key (None / from data)
            assert name in shown or f"# {name} = " in text, (section, name)
        assert {k: defaults[k] for k in shown} == shown  # values are the defaults
        assert config_from_dict(cls, shown) == cls(**{k: getattr(cls(), k) for k in shown})
    lines = text.splitlines()
    for i, line in enumerate(lines):  # every key sits under its one help line
        if line and not line.startswith(("#", "[")):
            assert lines[i - 1].startswith("# ") and len(lines[i - 1]) > 4, line


def test_show_config_round_trips_through_train_config(cli, tmp_path: Path) -> None:
    """``--show-config > cfg.toml`` then ``train --config cfg.toml`` trains with the defaults."""
    cfg = tmp_path / "flow.toml"
    cfg.write_text(_show(cli, "flow"))
    out = tmp_path / "run"
    cli("train", "flow", "--data", "two_moons", "--out", out, "--config", cfg,
        "--steps", "2", "--no-progress", check=True)  # fmt: skip
    saved = json.loads((out / "config.json").read_text())
    defaults = config_to_dict(TrainConfig(steps=2, progress=False))
    assert {k: saved["train_config"][k] for k in defaults} == defaults
    assert saved["model_config"]["kind"] == "auto" and saved["model_config"]["transforms"] == 4


def test_help_points_to_show_config(cli) -> None:
    result = cli("train", "--help")
    assert result.returncode == 0
    assert "--show-config" in result.stdout
    assert "genmodels train METHOD" in result.stdout


def test_show_config_of_a_chain_is_refused(cli) -> None:
    result = cli("train", "nuts", "--show-config")
    assert result.returncode == 2
    assert "not a model" in result.stderr


def test_settings_toml_writes_what_toml_reads() -> None:
    @dataclasses.dataclass
    class Inner:
        """Inner.

        Attributes:
            k: a key.
        """

        k: float = float("inf")

    @dataclasses.dataclass
    class Outer:
        """Outer.

        Attributes:
            s: quoted "text" with a \\ backslash.
            t: a tuple.
            n: unset.
            opts: a table.
            inner: nested.
        """

        s: str = 'a "b" \\ c'
        t: tuple[int, ...] = (1, 2)
        n: float | None = None
        opts: dict = dataclasses.field(default_factory=lambda: {"x": 1e-5, "y": [True]})
        inner: Inner = dataclasses.field(default_factory=Inner)

    assert missing_help(Outer) == []
    text = settings_toml({"sec": Outer()}, header="two\nlines")
    assert "# n = ...  (default: unset" in text
    parsed = tomllib.loads(text)
    assert parsed == {
        "sec": {"s": 'a "b" \\ c', "t": [1, 2], "opts": {"x": 1e-5, "y": [True]},
                "inner": {"k": float("inf")}}
    }  # fmt: skip


def test_show_config_applies_set_config_and_data(cli, tmp_path: Path) -> None:
    """What the run would start from: --config and --set values, and the data's own values."""
    cfg = tmp_path / "in.toml"
    cfg.write_text("[model]\ntransforms = 2\n")
    text = cli("train", "flow", "--show-config", "--config", cfg, "--set", "model.hidden=64",
               "--set", "train.lr=3e-4", "--data", "digits", check=True).stdout  # fmt: skip
    parsed = tomllib.loads(text)
    assert parsed["model"]["transforms"] == 2 and parsed["model"]["hidden"] == 64
    assert parsed["train"]["lr"] == 3e-4
    assert parsed["model"]["num_levels"] == 17  # digits' intensity levels, from the data
    assert "# num_levels = " in _show(cli, "flow")  # without data: left to the data
    bad = cli("train", "flow", "--show-config", "--set", "model.hiden=3")
    assert bad.returncode == 2 and "did you mean 'hidden'" in bad.stderr


def test_show_config_with_data_starts_from_the_kinds_defaults(cli) -> None:
    """With --data, the kind's defaults (what train and compare start from) are shown; the
    given values still win over them."""
    from genmodels.training.defaults import kind_defaults

    toy = kind_defaults("ddpm", "toy2d")["train"]
    text = cli("train", "ddpm", "--show-config", "--data", "eight_gaussians", check=True).stdout
    assert tomllib.loads(text)["train"]["steps"] == toy["steps"]
    assert tomllib.loads(_show(cli, "ddpm"))["train"]["steps"] != toy["steps"]  # plain default
    text = cli("train", "ddpm", "--show-config", "--data", "eight_gaussians",
               "--set", "train.steps=7", check=True).stdout  # fmt: skip
    assert tomllib.loads(text)["train"]["steps"] == 7
