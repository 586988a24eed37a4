"""Child process of ``test_readers_bad_input.test_mutated_files``: mutate copies of tiny valid files and read them.

Run as ``python _fuzz_child.py FOLDER SEED COUNT``. Prints one JSON line before each case (``case``, ``path``,
``source``) and one after it (``case``, ``result``: ``ok`` / ``error`` (a specsolve error) / ``escape: ...``).
It runs in its own process because a damaged HDF5 metadata block can crash libhdf5 itself (an abort inside the
C library, e.g. HDFGroup/hdf5#5383), which no Python code can catch: the parent then reports the case.
"""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path


def main(folder: Path, seed: int, count: int) -> None:
    from specsolve.data.readers import open_reader
    from specsolve.errors import SpecsolveError

    originals = sorted(p for p in folder.iterdir() if p.is_file())
    out = folder / "mutated"
    out.mkdir(exist_ok=True)
    rng = random.Random(seed)
    for case in range(count):
        source = rng.choice(originals)
        data = bytearray(source.read_bytes())
        for _ in range(rng.choice([1, 2, 4, 8, 16])):
            data[rng.randrange(len(data))] = rng.randrange(256)
        path = out / f"{seed}-{case}{source.suffix}"
        path.write_bytes(bytes(data))
        print(json.dumps({"case": case, "path": str(path), "source": source.name}), flush=True)
        try:
            with open_reader(path) as reader:
                for name in reader.variables:
                    reader.read_block(name, 0, reader.n_samples)
            result = "ok"
        except SpecsolveError:
            result = "error"
        except Exception as exc:  # noqa: BLE001 - this is what the test looks for
            result = f"escape: {type(exc).__name__}: {exc}"
        print(json.dumps({"case": case, "result": result}), flush=True)
        if not result.startswith("escape"):
            path.unlink()


if __name__ == "__main__":
    main(Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]))
