"""Convert a synthetic PDEBench single-array file and report time and peak memory (bounded-memory check).

    .venv/bin/python -m benchmarks.data_convert_memory --samples 400 --nt 101 --nx 1024 --block-mb 16

Builds ``tensor [N, nt, nx]`` float32 in a temporary folder (written in slices), converts it to the native format
with ``specsolve.data.convert.convert(block_bytes=...)``, then exports it to The Well's layout, printing file
size, seconds and the peak resident memory of each step (``ru_maxrss``, measured in a fresh child process per
step, so the steps do not see each other's peaks; :func:`benchmarks.harness.run_child`, which also samples the
proportional set size).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from benchmarks.harness import run_child

STEP = r"""
import sys, time
t = time.perf_counter()
kind, src, dst, block = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
if kind == "convert":
    from specsolve.data.convert import convert
    convert(src, dst, block_bytes=block, compression=None)
else:
    from specsolve.data.export import to_the_well
    to_the_well(src, dst, block_bytes=block)
child_report(seconds=time.perf_counter() - t)
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=400)
    parser.add_argument("--nt", type=int, default=101)
    parser.add_argument("--nx", type=int, default=1024)
    parser.add_argument("--block-mb", type=float, default=16.0)
    args = parser.parse_args()

    import h5py
    import numpy as np

    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "1D_synthetic.hdf5"
        rng = np.random.default_rng(0)
        with h5py.File(src, "w") as f:
            d = f.create_dataset("tensor", shape=(args.samples, args.nt, args.nx), dtype="float32")
            for start in range(0, args.samples, 50):
                stop = min(start + 50, args.samples)
                d[start:stop] = rng.standard_normal((stop - start, args.nt, args.nx), dtype=np.float32)
            f["x-coordinate"] = (np.arange(args.nx) + 0.5) / args.nx
            f["t-coordinate"] = np.arange(args.nt + 1) * 0.01
        size_mb = src.stat().st_size / 1024**2
        print(f"source: {args.samples} x {args.nt} x {args.nx} float32 = {size_mb:.0f} MB; block {args.block_mb} MB")
        block = int(args.block_mb * 1024**2)
        for kind, a, b in (
            ("convert", src, Path(tmp) / "native.h5"),
            ("export-well", Path(tmp) / "native.h5", Path(tmp) / "well"),
        ):
            r = run_child(STEP, [kind, str(a), str(b), str(block)])
            print(
                f"{kind:12s} {r['seconds']:6.1f} s  {size_mb / r['seconds']:6.0f} MB/s  peak RSS {r['self_mb']:6.0f} MB"
                f"  (sampled PSS {r['peak_mb']:.0f} MB)"
            )


if __name__ == "__main__":
    t0 = time.perf_counter()
    main()
    print(f"total {time.perf_counter() - t0:.1f} s")
