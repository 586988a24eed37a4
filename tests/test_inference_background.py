"""Reading ahead and writing behind in prediction (specsolve.inference.background): items and writes keep their
order, the work really runs in another thread, errors reach the caller as they were raised, and an early stop
leaves no thread behind."""

from __future__ import annotations

import threading
import time

import pytest

from specsolve.errors import DataError
from specsolve.inference.background import BackgroundWriter, read_ahead


def test_read_ahead_keeps_order_and_produces_in_another_thread() -> None:
    producers: set[int] = set()

    def items():
        for i in range(50):
            producers.add(threading.get_ident())
            yield i

    assert list(read_ahead(items(), depth=3)) == list(range(50))
    assert producers and threading.get_ident() not in producers


def test_read_ahead_produces_the_next_item_while_the_current_one_is_used() -> None:
    """While the consumer holds item 0, the producer already makes item 1 (it would not without read-ahead: the
    wait below would time out)."""
    second_made = threading.Event()

    def items():
        yield 0
        second_made.set()
        yield 1

    for item in read_ahead(items()):
        if item == 0:
            assert second_made.wait(timeout=30)


def test_read_ahead_raises_the_producers_error_at_its_place() -> None:
    def broken():
        yield 1
        yield 2
        raise DataError("x.h5: variable 'u' sample 2 contains NaN or inf")

    seen = []
    with pytest.raises(DataError, match="sample 2 contains NaN or inf"):
        for item in read_ahead(broken()):
            seen.append(item)
    assert seen == [1, 2]


def test_read_ahead_stopped_early_ends_its_thread() -> None:
    before = {t.ident for t in threading.enumerate()}
    gen = read_ahead(iter(range(10**6)), depth=2)
    assert next(gen) == 0
    gen.close()
    left = [t for t in threading.enumerate() if t.ident not in before and t.name == "specsolve-read-ahead"]
    assert not left


def test_background_writer_runs_every_call_in_order_in_one_thread() -> None:
    calls, threads = [], set()

    def write(i: int) -> None:
        time.sleep(0.001 * (i % 3))
        calls.append(i)
        threads.add(threading.get_ident())

    with BackgroundWriter(depth=2) as writer:
        for i in range(30):
            writer.submit(write, i)
    assert calls == list(range(30))  # all done when the block is left
    assert len(threads) == 1 and threading.get_ident() not in threads


def test_background_writer_raises_the_first_error_and_skips_later_calls() -> None:
    calls = []

    def write(i: int) -> None:
        if i == 3:
            raise DataError("refusing to write non-finite values into 'u' (samples 3..)")
        calls.append(i)

    with pytest.raises(DataError, match="non-finite values into 'u'"):
        with BackgroundWriter(depth=1) as writer:
            for i in range(10):
                writer.submit(write, i)
    assert calls == [0, 1, 2]
