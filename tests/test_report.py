"""reproductions/report.py: a reproduction's stdout goes to its results file, headed by its command, only when the
run completes. (Importable when pytest runs from the repository root: ``python -m pytest``.)"""

from __future__ import annotations

import sys

import pytest

report = pytest.importorskip("reproductions.report")


def test_output_is_written_after_a_completed_run(tmp_path, monkeypatch, capsys) -> None:
    out = tmp_path / "table.txt"
    seen = []

    def main() -> None:
        seen.append(sys.argv[1:])
        print("| row | 1 |")

    report.run(main, "ignored.txt", ["--rows", "3", "--out", str(out)])
    assert seen == [["--rows", "3"]]  # --out is the runner's, not main's
    text = out.read_text().splitlines()
    assert text[0].startswith("$ python ") and text[0].endswith(f"--rows 3 --out {out}")
    assert text[2] == "| row | 1 |" and "| row | 1 |" in capsys.readouterr().out


def test_failed_runs_and_out_dash_write_nothing(tmp_path) -> None:
    out = tmp_path / "table.txt"
    out.write_text("stored results\n")

    def fails() -> None:
        print("partial")
        raise RuntimeError("interrupted")

    with pytest.raises(RuntimeError):
        report.run(fails, "x.txt", ["--out", str(out)])
    with pytest.raises(SystemExit):
        report.run(lambda: 2, "x.txt", ["--out", str(out)])
    assert out.read_text() == "stored results\n"
    report.run(lambda: print("only printed"), None, [])
    report.run(lambda: print("only printed"), "x.txt", ["--out", "-"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["table.txt"]


def test_sys_argv_is_restored(tmp_path) -> None:
    before = list(sys.argv)
    report.run(lambda: None, None, ["--flag", "--out", str(tmp_path / "t.txt")])
    assert sys.argv == before
