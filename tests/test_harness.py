"""benchmarks/harness.py: interleaved rounds in alternating order after warm-up, medians, ratios, child processes
with their result and peak memory. (Importable when pytest runs from the repository root: ``python -m pytest``.)"""

from __future__ import annotations

import pytest

harness = pytest.importorskip("benchmarks.harness")


def test_interleaved_alternates_the_order_after_warm_up() -> None:
    calls: list[str] = []
    fns = {name: (lambda name=name: calls.append(name)) for name in ("a", "b", "c")}
    rounds: list[int] = []
    timings = harness.interleaved(fns, rounds=3, steps=2, warmup=1, before_round=rounds.append)
    warm, timed = calls[:3], calls[3:]
    assert warm == ["a", "b", "c"] and rounds == [0, 1, 2]
    assert (
        timed
        == ["a"] * 2 + ["b"] * 2 + ["c"] * 2 + ["c"] * 2 + ["b"] * 2 + ["a"] * 2 + ["a"] * 2 + ["b"] * 2 + ["c"] * 2
    )
    assert all(len(t.wall) == len(t.cpu) == 3 for t in timings.values())
    with pytest.raises(ValueError, match="rounds"):
        harness.interleaved(fns, rounds=0)


def test_timing_medians_and_ratios(capsys: pytest.CaptureFixture) -> None:
    t = harness.Timing(wall=[3.0, 1.0, 2.0], cpu=[2.0, 2.0, 8.0])
    assert (t.median, t.median_cpu, t.min, t.max) == (2.0, 2.0, 1.0, 3.0)
    ref = harness.Timing(wall=[6.0, 2.0, 8.0], cpu=[4.0, 4.0, 4.0])
    harness.print_ratios({"ours": t, "ref": ref}, "ref", label="speed-up")
    out = capsys.readouterr().out
    assert "speed-up ours / ref: 3.00x" in out  # 6 / 2
    assert "wall 2.00x" in out and "CPU time 2.00x" in out  # medians of (2, 2, 4) and (2, 2, 0.5)


def test_child_peak_is_its_own_not_the_parents() -> None:
    """Linux carries ru_maxrss over fork + exec: a small child of a large parent must not report the parent's peak."""
    ballast = bytearray(b"\x01") * (384 * 2**20)  # written, hence resident in this (parent) process
    result = harness.run_child("child_report()")
    assert len(ballast) and result["self_mb"] < 256


def test_run_child_returns_its_report_and_peak_memory() -> None:
    result = harness.run_child("import sys\nx = bytearray(64 * 2**20)\nchild_report(n=int(sys.argv[1]))", ["7"])
    assert result["n"] == 7
    assert result["self_mb"] >= 64 and result["peak_mb"] >= result["self_mb"]
    with pytest.raises(SystemExit, match="child process failed"):
        harness.run_child("raise RuntimeError('boom')")


def test_peak_memory_on_cpu_is_the_process_peak() -> None:
    with harness.PeakMemory("cpu") as peak:
        block = bytearray(32 * 2**20)
    assert peak.mib >= 32 and peak.kind == "process peak RSS" and len(block)
