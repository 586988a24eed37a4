"""A griffe extension for the API reference: specsolve's docstrings use reStructuredText roles and literal blocks;
mkdocstrings renders Markdown. ``:class:`~a.b.C``` becomes ``C`` in code (``a.b.C`` without the tilde), a paragraph
ending in ``::`` ends in ``:`` (its indented block is a Markdown code block already)."""

from __future__ import annotations

import re
from typing import Any

import griffe

ROLE = re.compile(r":(?:class|func|meth|mod|data|attr|exc|obj|const|ref|doc|py:\w+):`(~?)([^`]+)`")


def markdown(text: str) -> str:
    text = ROLE.sub(lambda m: f"``{m.group(2).rsplit('.', 1)[-1] if m.group(1) else m.group(2)}``", text)
    return re.sub(r"(?m)(\S)::$", r"\1:", re.sub(r"(?m)^(\s*)::$", r"\1", text))


class ReSTMarkup(griffe.Extension):
    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = markdown(obj.docstring.value)
