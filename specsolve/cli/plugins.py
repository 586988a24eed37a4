"""``specsolve plugins list | info``: the registry, through :func:`specsolve.api.plugins_list` and
:func:`specsolve.api.plugins_info`."""

from __future__ import annotations

import argparse

from specsolve import api
from specsolve.cli import render

NOT_LOADED = "(plugin, loaded on first use)"


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("plugins", help="list registered components or show one")
    psub = p.add_subparsers(dest="plugins_command", required=True)
    q = psub.add_parser("list")
    q.add_argument("--kind", default=None)
    q.set_defaults(func=list_)
    q = psub.add_parser("info")
    q.add_argument("name")
    q.add_argument("--kind", default=None)
    q.set_defaults(func=info)


def list_(args: argparse.Namespace) -> int:
    rows = [
        [c["kind"], c["name"], c["distribution"], c["summary"] if c["loaded"] else NOT_LOADED]
        for c in api.plugins_list(args.kind)
    ]
    columns = ["kind", "name", "distribution", "summary"]
    if all(row[2] == "specsolve" for row in rows):  # built-ins only: the column says nothing
        columns, rows = columns[:2] + columns[3:], [row[:2] + row[3:] for row in rows]
    render.console().print(render.table("specsolve components", columns, rows, one_line="summary"))
    return 0


def info(args: argparse.Namespace) -> int:
    console = render.console()
    for c in api.plugins_info(args.name, args.kind):
        console.print(f"[bold]{c['kind']} '{c['name']}'[/bold] from {c['distribution']} ({c['object']})")
        console.print(
            render.reflow(c.get("text", c["doc"])) or "(no docstring)", markup=False, highlight=False
        )  # the whole docstring, plain
        rows = [[p["name"], p["type"], p["default"]] for p in c["parameters"]]
        console.print(render.table(None, ["parameter", "type", "default"], rows))
    return 0
