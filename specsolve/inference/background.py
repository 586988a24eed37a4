"""Overlap of reading, compute and writing in prediction: a reading thread that keeps a few batches ahead, and a
writing thread that stores finished blocks while the next batch is computed.

Torch kernels release the GIL, so one thread reads (h5py) or writes while the main thread computes; the order of
items and of writes is unchanged, and an error in either thread is raised again, as it was, in the main thread.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any

_END = object()


def read_ahead(items: Iterable[Any], depth: int = 2) -> Iterator[Any]:
    """Yield ``items`` in order while a daemon thread produces up to ``depth`` of them ahead.

    An exception raised while producing an item is raised here at that item's place. Closing the generator early
    stops the thread after the item it is producing.
    """
    ready: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in items:
                if stop.is_set():
                    return
                while not stop.is_set():
                    try:
                        ready.put((item, None), timeout=0.1)
                        break
                    except queue.Full:
                        continue
        except BaseException as exc:  # handed to the consumer, raised there
            ready.put((_END, exc))
            return
        ready.put((_END, None))

    thread = threading.Thread(target=produce, name="specsolve-read-ahead", daemon=True)
    thread.start()
    try:
        while True:
            item, error = ready.get()
            if error is not None:
                raise error
            if item is _END:
                return
            yield item
    finally:
        stop.set()
        while thread.is_alive():  # unblock a producer waiting on a full queue
            try:
                ready.get(timeout=0.1)
            except queue.Empty:
                pass
        thread.join()


class BackgroundWriter:
    """Run ``submit(fn, *args)`` calls one after another, in order, in a thread; at most ``depth`` wait
    (``depth=0``: each call runs at once in the caller's thread).

    ``with BackgroundWriter() as w: w.submit(...)``: leaving the block waits until every submitted call has run and
    raises the first error one of them raised (a call after a failed one is skipped). Leave the block before
    closing what the calls write to.
    """

    def __init__(self, depth: int = 2) -> None:
        self._tasks: queue.Queue = queue.Queue(maxsize=max(depth, 1))
        self._error: BaseException | None = None
        self._inline = depth == 0  # depth 0: every call runs at once in the caller's thread
        self._thread = threading.Thread(target=self._run, name="specsolve-writer", daemon=True)

    def __enter__(self) -> BackgroundWriter:
        if not self._inline:
            self._thread.start()
        return self

    def _run(self) -> None:
        while True:
            task = self._tasks.get()
            if task is _END:
                return
            if self._error is None:
                fn, args = task
                try:
                    fn(*args)
                except BaseException as exc:
                    self._error = exc

    def submit(self, fn: Callable[..., Any], *args: Any) -> None:
        """Queue ``fn(*args)``; raises at once the error of an earlier call, if one failed."""
        if self._error is not None:
            raise self._error
        if self._inline:
            fn(*args)
            return
        self._tasks.put((fn, args))

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if self._inline:
            return
        self._tasks.put(_END)
        self._thread.join()
        if exc is None and self._error is not None:
            raise self._error
