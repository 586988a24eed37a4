"""``specsolve plugins list`` prints one plain-text line per component that fits the terminal; ``plugins info``
prints the whole docstring as plain text."""

from __future__ import annotations

import pytest

from specsolve.cli.main import main
from specsolve.registry import Component, plain_text


def cells(line: str) -> list[str]:
    return [c.strip() for c in line.split("│")[1:-1]]


def test_plugins_list_is_plain_one_line_per_component_at_80_columns(monkeypatch, capsys) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    assert main(["plugins", "list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert not any("``" in line or ":class:`" in line for line in lines)
    assert max(len(line) for line in lines) <= 80
    fno = [line for line in lines if cells(line)[:2] == ["model", "fno"]]
    assert len(fno) == 1 and cells(fno[0])[-1].endswith("…")  # cut with an ellipsis, not wrapped
    # the next line is the next component, not the rest of the FNO summary
    assert cells(lines[lines.index(fno[0]) + 1])[:2] == ["model", "galerkin_transformer"]
    monkeypatch.setenv("COLUMNS", "250")
    assert main(["plugins", "list", "--kind", "model"]) == 0
    wide = [line for line in capsys.readouterr().out.splitlines() if cells(line)[:2] == ["model", "fno"]]
    assert "Fourier Neural Operator for 1-, 2- and 3-D fields (B, in_channels, *S) -> (B, out_channels, *S)." in wide[0]


def test_plugins_info_prints_the_whole_docstring_plain(monkeypatch, capsys) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    assert main(["plugins", "info", "gfno"]) == 0
    out = capsys.readouterr().out
    assert "``" not in out and max(len(line) for line in out.splitlines()) <= 80
    flat = " ".join(out.split())
    assert "Equivariance needs a square periodic grid with 2 * modes - 1 <= n." in flat  # the last docstring line


def test_summary_is_the_first_sentence_as_plain_text() -> None:
    def component(doc: str) -> Component:
        def f() -> None: ...

        f.__doc__ = doc
        return Component("model", "x", f)

    doc = """Maps ``(B, C, *S)`` to :class:`~specsolve.nn.Thing`, e.g. 3.5 times
    faster (see :func:`build <specsolve.models.build>`). Second sentence.

    Details that are not shown in the list."""
    assert component(doc).summary == "Maps (B, C, *S) to Thing, e.g. 3.5 times faster (see build)."
    assert component("G-FNO 2D: ``(B, C, H, W)`` on *square* grids").summary == "G-FNO 2D: (B, C, H, W) on square grids"
    assert component("").summary == ""
    assert plain_text("Example::\n\n    x = 1") == "Example:\n\n    x = 1"
    assert plain_text("a*b, (B, *S) and **bold**") == "a*b, (B, *S) and bold"


@pytest.mark.parametrize("kind", ["loss", "metric"])
def test_every_builtin_summary_is_plain(kind: str, capsys) -> None:
    from specsolve import api

    rows = api.plugins_list(kind)
    assert rows and all(r["summary"] and "``" not in r["summary"] and "\n" not in r["summary"] for r in rows)
