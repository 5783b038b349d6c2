"""The one override path: `config_from_dict` / `apply_overrides` coerce, check and suggest."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import pytest

from genmodels.errors import ConfigError
from genmodels.hybrids import FlowFitConfig
from genmodels.models.gan import GANConfig
from genmodels.models.vae import VAEConfig
from genmodels.training.config import (
    TrainConfig,
    apply_overrides,
    coerce_value,
    config_from_dict,
    config_to_dict,
    load_toml,
    parse_set_items,
)


@dataclass
class _Inner:
    steps: int = 10
    rate: float = 0.5


@dataclass
class _Outer:
    name: str = "x"
    mode: Literal["fast", "exact"] = "fast"
    sizes: list[int] = field(default_factory=lambda: [1, 2])
    window: tuple[int, ...] = (3,)
    limit: float | None = None
    verbose: bool = False
    inner: _Inner = field(default_factory=_Inner)


def test_values_are_coerced_to_the_field_types() -> None:
    c = config_from_dict(
        _Outer,
        {
            "sizes": ["4", 5.0],
            "window": [1, "2"],
            "limit": 3,
            "verbose": "true",
            "inner": {"steps": "7", "rate": 1},
        },
    )
    assert c.sizes == [4, 5] and c.window == (1, 2)
    assert c.limit == 3.0 and isinstance(c.limit, float)
    assert c.verbose is True
    assert c.inner == _Inner(steps=7, rate=1.0) and isinstance(c.inner.rate, float)
    assert config_from_dict(_Outer, {"limit": None}).limit is None
    t = config_from_dict(TrainConfig, {"steps": 3.0, "lr": "3e-4", "betas": [0, 1]})
    assert t.steps == 3 and isinstance(t.steps, int)
    assert t.lr == 3e-4 and t.betas == (0.0, 1.0)


@pytest.mark.parametrize(
    ("value", "annotation", "message"),
    [
        (3.5, int, "'k' takes an integer, got 3.5"),
        (True, int, "takes an integer"),
        ("many", int, "takes an integer"),
        ("fast", float, "takes a number"),
        ("maybe", bool, "takes true or false"),
        (3, str, "takes a string"),
        ([1, 2, 3], tuple[float, float], "takes 2 values, got 3"),
        ("ab", list[int], "takes a list"),
    ],
)
def test_wrong_types_are_one_line_errors(value, annotation, message) -> None:
    with pytest.raises(ConfigError, match=message) as e:
        coerce_value(value, annotation, "k")
    assert "\n" not in str(e.value)


def test_literal_fields_list_their_choices_and_suggest() -> None:
    with pytest.raises(ConfigError, match=r"'mode' must be one of 'fast', 'exact', got 'exat'; "
                                          r"did you mean 'exact'\?"):  # fmt: skip
        config_from_dict(_Outer, {"mode": "exat"})
    with pytest.raises(ConfigError, match="'mixed_precision' must be one of 'auto', 'bf16', 'off'"):
        TrainConfig(mixed_precision="fp8")  # built directly: checked too
    with pytest.raises(ConfigError, match="'objective' must be one of"):
        FlowFitConfig(objective="forwards")
    with pytest.raises(ConfigError, match="did you mean 'wgan-gp'"):
        config_from_dict(GANConfig, {"loss": "wgan"}, where="gan model config")
    with pytest.raises(ConfigError, match="did you mean 'bernoulli'"):
        apply_overrides(VAEConfig(), {"decoder": "bernouli"})


def test_unknown_keys_get_a_did_you_mean_hint() -> None:
    with pytest.raises(ConfigError, match=r"unknown train config key 'stpes'; did you mean "
                                          r"'steps'\? \(known: .*batch_size"):  # fmt: skip
        config_from_dict(TrainConfig, {"stpes": 3}, where="train config")
    with pytest.raises(ConfigError, match=r"unknown flow_mh\.fit key 'lr2'; did you mean 'lr'"):
        apply_overrides(FlowFitConfig(), {"lr2": 1}, where="flow_mh.fit")
    with pytest.raises(ConfigError, match=r"unknown cfg\.inner key 'step'"):
        apply_overrides(_Outer(), {"inner": {"step": 1}}, where="cfg")
    with pytest.raises(ConfigError, match="unknown config keys 'a', 'b'"):
        config_from_dict(_Outer, {"a": 1, "b": 2})


def test_apply_overrides_replaces_only_what_it_is_given() -> None:
    base = _Outer(name="kept", inner=_Inner(steps=1, rate=0.1))
    c = apply_overrides(base, {"inner": {"rate": "0.25"}, "window": [4, 5]})
    assert c.name == "kept" and c.inner == _Inner(steps=1, rate=0.25) and c.window == (4, 5)
    assert base.inner.rate == 0.1  # the original is untouched
    t = apply_overrides(TrainConfig(steps=7), {"seed": 3})
    assert (t.steps, t.seed) == (7, 3)
    with pytest.raises(ConfigError, match="train: 'steps' takes an integer"):
        apply_overrides(TrainConfig(), {"steps": "lots"}, where="train")
    with pytest.raises(ConfigError, match="steps must be >= 0"):
        apply_overrides(TrainConfig(), {"steps": -1})


def test_round_trip_through_a_dict_and_flags(tmp_path) -> None:
    c = _Outer(window=(1, 2), inner=_Inner(steps=4))
    d = config_to_dict(c)
    assert d["window"] == [1, 2] and d["inner"] == {"steps": 4, "rate": 0.5}
    assert config_from_dict(_Outer, d) == c
    assert parse_set_items(["train.lr=3e-4", "kind=nsf", "hidden=[64, 64]"]) == {
        "train.lr": 3e-4,
        "kind": "nsf",
        "hidden": [64, 64],
    }
    with pytest.raises(ConfigError, match="key=value"):
        parse_set_items(["lr"])
    path = tmp_path / "c.toml"
    path.write_text("[train]\nsteps = 3\n")
    assert load_toml(path) == {"train": {"steps": 3}}
    with pytest.raises(ConfigError, match="no such config file"):
        load_toml(tmp_path / "missing.toml")


def test_train_flags_suggest_the_key_meant() -> None:
    from genmodels.training.setup import split_config_values

    with pytest.raises(ConfigError, match="did you mean 'hidden'"):
        split_config_values("flow", {"hiden": 3})
    with pytest.raises(ConfigError, match="did you mean 'steps'"):
        split_config_values("flow", {"train.stps": 3})
