"""Progress of long data preparation: a bar on a terminal, log lines with an ETA elsewhere."""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Iterable, Iterator
from typing import TypeVar

from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

T = TypeVar("T")
log = logging.getLogger("promethium.data")


def progress(items: Iterable[T], total: int, description: str, unit: int = 1) -> Iterator[T]:
    """Yield ``items``, showing how many of ``total`` units are done and the time left.

    Args:
        items: the work, one item per step.
        total: units of work in all (e.g. shots).
        description: what is being done.
        unit: units per item (e.g. shots per batch); the last item may hold fewer.
    """
    if sys.stderr.isatty():
        yield from _bar(items, total, description, unit)
        return
    start, done = time.perf_counter(), 0
    for item in items:
        yield item
        done = min(done + unit, total)
        elapsed = time.perf_counter() - start
        eta = elapsed / done * (total - done)
        log.info("%s: %d/%d, %.0f s elapsed, ETA %.0f s", description, done, total, elapsed, eta)


def _bar(items: Iterable[T], total: int, description: str, unit: int) -> Iterator[T]:
    columns = (
        TextColumn(description),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
    )
    with Progress(*columns, transient=False) as bar:
        task = bar.add_task(description, total=total)
        for item in items:
            yield item
            bar.advance(task, unit)
