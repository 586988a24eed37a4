"""The one timing and peak-memory harness of the benchmarks.

- :func:`interleaved`: time several callables in the same process and thread count, in interleaved rounds (A B, then
  B A, ...), after untimed warm-up calls; per round the wall and process-CPU seconds per call are kept, and
  :class:`Timing` gives medians (robust to the load of a shared machine) and extremes. CUDA work is synchronised
  around every timed block.
- :func:`speed_ratio` / :func:`print_ratios`: ratios of median times against a reference, next to the median of the
  per-round ratios.
- :class:`PeakMemory`: peak memory of a block: ``torch.cuda.max_memory_allocated`` on CUDA, the process's peak RSS
  (``ru_maxrss``, monotone over the process's life) on CPU.
- :func:`saved_activation_bytes`: the bytes autograd keeps for the backward pass of a forward (a deterministic
  measure of activation memory on any device, e.g. for activation checkpointing).
- :func:`run_child`: run a Python snippet in a fresh child process (so that peaks do not mix), sample the memory of
  the child and its descendants (DataLoader workers) as the sum of their proportional set sizes, and return the
  JSON the child prints last (see :func:`child_report`) with ``peak_mb``.
- :func:`set_threads`, :func:`command_line`, :func:`evict_from_page_cache`: the common setup of a run.
"""

from __future__ import annotations

import json
import os
import resource
import shlex
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch


def set_threads(threads: int | None) -> int:
    """Set torch's intra-op threads when ``threads`` is given (> 0); return the count in use."""
    if threads:
        torch.set_num_threads(threads)
    return torch.get_num_threads()


def command_line() -> str:
    """How this benchmark was started, for the header of its output (``python -m benchmarks.<name> ...``)."""
    main = sys.modules["__main__"]
    spec = getattr(main, "__spec__", None)
    head = ["python", "-m", spec.name] if spec is not None else ["python", sys.argv[0]]
    return " ".join(shlex.quote(a) for a in [*head, *sys.argv[1:]])


def sync(device: str | torch.device) -> None:
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


@dataclass
class Timing:
    """Seconds per call of one callable, one entry per round: wall time and process CPU time (all threads)."""

    wall: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.wall)

    @property
    def median_cpu(self) -> float:
        return statistics.median(self.cpu)

    @property
    def min(self) -> float:
        return min(self.wall)

    @property
    def max(self) -> float:
        return max(self.wall)


def interleaved(
    fns: Mapping[str, Callable[[], object]],
    *,
    rounds: int,
    steps: int = 1,
    warmup: int = 1,
    device: str | torch.device = "cpu",
    before_round: Callable[[int], object] | None = None,
) -> dict[str, Timing]:
    """Time each callable ``steps`` times per round for ``rounds`` rounds, the order reversed every other round.

    Every callable first runs ``warmup`` untimed times (allocator, FFT / oneDNN plans, compilation);
    ``before_round(r)`` runs untimed before round ``r`` (e.g. a reference measurement of the machine's speed).
    """
    if rounds < 1 or steps < 1:
        raise ValueError(f"rounds and steps must be >= 1, got {rounds} and {steps}")
    names = list(fns)
    for name in names:
        for _ in range(warmup):
            fns[name]()
    sync(device)
    timings = {name: Timing() for name in names}
    for r in range(rounds):
        if before_round is not None:
            before_round(r)
        for name in names if r % 2 == 0 else names[::-1]:
            sync(device)
            start, start_cpu = time.perf_counter(), time.process_time()
            for _ in range(steps):
                fns[name]()
            sync(device)
            timings[name].cpu.append((time.process_time() - start_cpu) / steps)
            timings[name].wall.append((time.perf_counter() - start) / steps)
    return timings


def speed_ratio(timings: Mapping[str, Timing], name: str, reference: str) -> tuple[float, float]:
    """Speed of ``name`` over the speed of ``reference`` (> 1: ``name`` faster): the ratio of the median wall times,
    and the median of the per-round ratios (rounds pair the two callables under the same machine load)."""
    t, ref = timings[name], timings[reference]
    return ref.median / t.median, statistics.median(b / a for a, b in zip(t.wall, ref.wall))


def print_ratios(timings: Mapping[str, Timing], reference: str, label: str = "time ratio") -> None:
    """One line per other entry: ``reference`` median time / its median time (> 1: faster than the reference),
    and the medians of the per-round ratios (wall and CPU time)."""
    ref = timings[reference]
    for name, t in timings.items():
        if name == reference:
            continue
        paired = speed_ratio(timings, name, reference)[1]
        paired_cpu = statistics.median(b / a for a, b in zip(t.cpu, ref.cpu))
        print(
            f"{label} {name} / {reference}: {ref.median / t.median:.2f}x "
            f"(median of per-round ratios: wall {paired:.2f}x, CPU time {paired_cpu:.2f}x)"
        )


class PeakMemory:
    """``with PeakMemory(device) as peak: ...`` then ``peak.mib``: CUDA peak allocated memory of the block, or on CPU
    the process's peak RSS so far (``ru_maxrss``: it includes what ran before the block)."""

    def __init__(self, device: str | torch.device = "cpu") -> None:
        self.device = torch.device(device)
        self.mib = 0.0

    @property
    def kind(self) -> str:
        return "CUDA peak allocated" if self.device.type == "cuda" else "process peak RSS"

    def __enter__(self) -> PeakMemory:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            self.mib = torch.cuda.max_memory_allocated(self.device) / 2**20
        else:
            self.mib = max_rss_mib()


def saved_activation_bytes(forward: Callable[[], object], exclude: Sequence[torch.Tensor] = ()) -> int:
    """Bytes of the distinct storages that autograd saves for backward while ``forward()`` runs (saved-tensor
    hooks), storages of ``exclude`` (the parameters) left out. A storage saved by several ops counts once; a
    checkpointed block contributes only what the checkpoint keeps (its inputs)."""
    skip = {t.untyped_storage().data_ptr() for t in exclude}
    seen: dict[int, int] = {}

    def pack(tensor: torch.Tensor) -> torch.Tensor:
        storage = tensor.untyped_storage()
        if storage.data_ptr() not in skip:
            seen[storage.data_ptr()] = storage.nbytes()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        forward()
    return sum(seen.values())


def max_rss_mib(children: bool = False) -> float:
    """Peak resident set size of this process (or of its waited-for children), MiB (Linux reports KiB)."""
    who = resource.RUSAGE_CHILDREN if children else resource.RUSAGE_SELF
    return resource.getrusage(who).ru_maxrss / 1024


def pss_mib(pid: int) -> float:
    """Proportional set size of a process: resident pages, shared ones divided among the processes sharing them."""
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def _children(pid: int) -> list[int]:
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            out.append(int(stat.parent.name))
    return out


def tree_memory_mib(pid: int) -> float:
    """Memory of a process plus its descendants: the sum of their PSS, so shared library pages count once."""
    total, stack = 0.0, [pid]
    while stack:
        p = stack.pop()
        total += pss_mib(p)
        stack += _children(p)
    return total


def evict_from_page_cache(path: Path) -> bool:
    """Ask the kernel to drop the cached pages of ``path`` (clean pages only, so sync first): reads start cold."""
    try:
        os.sync()
        fd = os.open(path, os.O_RDONLY)
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)
        return True
    except (OSError, AttributeError):
        return False


# The child's side of run_child: ``exec`` this line at the end of the snippet to print its result.
CHILD_REPORT = (
    "import json as _json, resource as _res\n"
    "def _high_water_mb():\n"  # VmHWM: ru_maxrss survives fork + exec, so it would report a larger parent's peak
    "    try:\n"
    "        return next(int(l.split()[1]) / 1024 for l in open('/proc/self/status') if l.startswith('VmHWM:'))\n"
    "    except (OSError, StopIteration):\n"
    "        return _res.getrusage(_res.RUSAGE_SELF).ru_maxrss / 1024\n"
    "def child_report(**fields):\n"
    "    fields['self_mb'] = _high_water_mb()\n"
    "    fields['worker_mb'] = _res.getrusage(_res.RUSAGE_CHILDREN).ru_maxrss / 1024\n"
    "    print(_json.dumps(fields), flush=True)\n"
)


def run_child(code: str, args: Sequence[str] = (), *, sample_every: float = 0.1) -> dict:
    """Run ``code`` in a fresh ``python -c`` child (``sys.argv[1:]`` = ``args``); it ends by calling
    ``child_report(**fields)`` (defined for it), whose fields are returned with ``self_mb`` (the child's peak RSS),
    ``worker_mb`` (its children's) and ``peak_mb``: the largest PSS of the child and its descendants sampled every
    ``sample_every`` s, and at least ``self_mb``."""
    cmd = [sys.executable, "-c", CHILD_REPORT + code, *args]
    peak = 0.0
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as proc:
        while proc.poll() is None:
            peak = max(peak, tree_memory_mib(proc.pid))
            time.sleep(sample_every)
        stdout, stderr = proc.communicate()
    if proc.returncode != 0:
        raise SystemExit(f"child process failed:\n{stderr[-3000:]}")
    result = json.loads(stdout.strip().splitlines()[-1])
    result["peak_mb"] = max(peak, result["self_mb"])
    return result
