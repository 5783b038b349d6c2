"""A griffe extension for the API reference: genmodels docstrings head their doctests with
``Example:``, which Google-style parsing reads as an admonition (markdown, where a doctest's
``['a', 'b']`` output is a link); renaming the header ``Examples:`` makes griffe render them
as Python console blocks. The source keeps its wording; only the rendered copy changes."""

from __future__ import annotations

import re
from typing import Any

import griffe

_EXAMPLE = re.compile(r"^(\s*)Example:\s*$", re.MULTILINE)


class ExampleSections(griffe.Extension):
    """``Example:`` section headers → ``Examples:`` in every docstring griffe loads."""

    def on_object(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = _EXAMPLE.sub(r"\1Examples:", obj.docstring.value)
