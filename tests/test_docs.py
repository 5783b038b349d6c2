"""The API reference covers the public modules; `make docs` (mkdocs --strict) checks the rest.

A top-level module or package of genmodels with an ``__all__`` is public: its reference page
is one ``::: genmodels.NAME`` line in docs/reference/, which renders everything its
``__all__`` lists (a package's submodules appear through what the package re-exports).
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "genmodels"
# The command line (documented by --help), the demos (by `genmodels demo --list`) and
# internal helpers are left out of the API reference on purpose.
NOT_IN_REFERENCE = {"cli", "demos", "memory", "methods", "__main__"}


def _public_top_level() -> set[str]:
    names = set()
    for path in PACKAGE.iterdir():
        source = path / "__init__.py" if path.is_dir() else path
        if source.suffix != ".py" or not source.exists() or path.name == "__init__.py":
            continue
        if re.search(r"^__all__\s*=", source.read_text(), re.MULTILINE):
            names.add(path.stem if path.is_file() else path.name)
    return names - NOT_IN_REFERENCE


def test_every_public_module_has_a_reference_entry() -> None:
    pages = "\n".join(p.read_text() for p in (ROOT / "docs" / "reference").glob("*.md"))
    documented = set(re.findall(r"^::: genmodels\.(\w+)", pages, re.MULTILINE))
    assert {"targets", "mcmc", "training", "catalogue", "io"} <= _public_top_level()
    assert sorted(_public_top_level() - documented) == []


def test_every_reference_page_is_in_the_nav() -> None:
    nav = (ROOT / "mkdocs.yml").read_text()
    pages = sorted(p.relative_to(ROOT / "docs").as_posix() for p in (ROOT / "docs").rglob("*.md"))
    assert [p for p in pages if p not in nav] == []
