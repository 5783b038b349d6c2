"""Every setting with its default and one line of help, as TOML that `--config` reads back.

The rule, for every config dataclass in the catalogue (a model's ``Config``, `TrainConfig`,
a chain's or a hybrid's settings): each field is documented in the ``Attributes:`` section
of its class docstring (Google style, the section mkdocstrings renders), one entry per field
(``name: help``; ``a, b: help`` documents several); a subclass documents the fields it adds
and inherits its bases' entries. `field_help` reads those sections, so the help that
``genmodels train METHOD --show-config`` prints is the documentation itself, never a second
copy that drifts.

Example:
    >>> from genmodels.training.config import TrainConfig
    >>> field_help(TrainConfig)["seed"]
    'seeds weights, data order and training noise.'
    >>> settings_toml({"train": TrainConfig()}).splitlines()[1:3]
    ['# training steps (for multi-player models: generator steps).', 'steps = 5000']
"""

from __future__ import annotations

import dataclasses
import inspect
import json
import math
import re
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

__all__ = ["field_help", "missing_help", "settings_toml"]

_ENTRY = re.compile(r"^([A-Za-z_]\w*(?:\s*,\s*[A-Za-z_]\w*)*)\s*(?:\([^)]*\))?\s*:\s*(.*)$")


def _attributes_section(doc: str) -> list[str]:
    """The lines of the ``Attributes:`` section of a cleaned docstring, dedented."""
    lines = doc.splitlines()
    for i, line in enumerate(lines):
        if line.strip() == "Attributes:" and not line.startswith(" "):
            body: list[str] = []
            for row in lines[i + 1 :]:
                if row.strip() and not row.startswith(" "):  # the next section or prose
                    break
                body.append(row)
            return inspect.cleandoc("\n".join(body)).splitlines() if body else []
    return []


def _parse_entries(rows: list[str]) -> dict[str, str]:
    """``name: text`` entries (text continued on more-indented lines) → ``{name: one line}``."""
    entries: dict[str, str] = {}
    names: list[str] = []
    for row in rows:
        match = _ENTRY.match(row) if row and not row.startswith(" ") else None
        if match:
            names = [n.strip() for n in match.group(1).split(",")]
            for name in names:
                entries[name] = match.group(2).strip()
        elif row.strip() and names:
            for name in names:
                entries[name] = f"{entries[name]} {row.strip()}".strip()
    return entries


def field_help(cls: type) -> dict[str, str]:
    """``{field: one line of help}`` of a config dataclass, from the ``Attributes:`` sections
    of its class docstring and its bases' (a subclass's own entry wins)."""
    found: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        doc = klass.__dict__.get("__doc__")
        if isinstance(doc, str):
            found.update(_parse_entries(_attributes_section(inspect.cleandoc(doc))))
    names = [f.name for f in dataclasses.fields(cls) if f.init]  # type: ignore[arg-type]
    return {name: found[name] for name in names if found.get(name)}


def missing_help(cls: type) -> list[str]:
    """Fields of ``cls`` (and of nested config dataclasses, as ``fit.steps``) without help."""
    helps = field_help(cls)
    missing: list[str] = []
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        if not f.init:
            continue
        if f.name not in helps:
            missing.append(f.name)
        nested = f.default_factory if f.default_factory is not dataclasses.MISSING else None
        if isinstance(nested, type) and dataclasses.is_dataclass(nested):
            missing.extend(f"{f.name}.{m}" for m in missing_help(nested))
    return missing


def _toml_value(value: Any) -> str | None:
    """``value`` in TOML syntax; None (TOML has no null) for a value that cannot be written."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        return ("inf" if value > 0 else "-inf") if math.isinf(value) else repr(value)
    if isinstance(value, str | Path):
        return json.dumps(str(value), ensure_ascii=False)  # JSON escapes are TOML escapes
    if isinstance(value, tuple | list):
        items = [_toml_value(v) for v in value]
        return None if None in items else "[" + ", ".join(items) + "]"  # type: ignore[arg-type]
    if isinstance(value, Mapping):
        pairs = [(json.dumps(str(k)), _toml_value(v)) for k, v in value.items()]
        if any(v is None for _, v in pairs):
            return None
        return "{" + ", ".join(f"{k} = {v}" for k, v in pairs) + "}" if pairs else "{}"
    return None


def _plain_text(text: str) -> str:
    """Docstring markup (````code````, ```name```) as plain text, for a TOML comment."""
    return re.sub(r"`([^`]*)`", r"\1", re.sub(r"``(.*?)``", r"\1", text))


def _table(name: str, config: Any, leave_out: Collection[str]) -> list[str]:
    """One ``[name]`` table of ``config``'s fields, nested config dataclasses as subtables."""
    helps = field_help(type(config))
    lines = [f"[{name}]"]
    nested: list[str] = []
    for f in dataclasses.fields(config):
        if not f.init:
            continue
        value = getattr(config, f.name)
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            nested += ["", *_table(f"{name}.{f.name}", value, ())]
            continue
        lines.append(f"# {_plain_text(helps.get(f.name, '(undocumented)'))}")
        text = _toml_value(value)
        if text is None or f.name in leave_out:
            shown = "unset" if text is None else f"{text}, unless the data sets it"
            lines.append(f"# {f.name} = ...  (default: {shown}; uncomment to set)")
        else:
            lines.append(f"{f.name} = {text}")
    return lines + nested


def settings_toml(
    sections: Mapping[str, Any],
    *,
    header: str = "",
    leave_out: Mapping[str, Collection[str]] | None = None,
) -> str:
    """A TOML document of config dataclass instances: one table per section, every field
    preceded by a comment with its help (`field_help`), its value the instance's.

    Args:
        sections: ``{"model": FlowConfig(), "train": TrainConfig()}``.
        header: comment lines put first (without the ``#``).
        leave_out: per section, fields written commented out (a default that the data
            fills in when the key is absent, such as ``num_levels``), so that reading the
            document back changes nothing. A field whose value TOML cannot write (None)
            is always commented out.

    Returns:
        The document; `genmodels.io.load_toml` reads it back to the same values.
    """
    lines = [f"# {row}".rstrip() for row in header.splitlines()]
    for name, config in sections.items():
        if lines:
            lines.append("")
        lines += _table(name, config, (leave_out or {}).get(name, ()))
    return "\n".join(lines).lstrip("\n") + "\n"
