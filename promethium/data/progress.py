"""Progress of long work outside training: a bar on a terminal, log lines elsewhere.

One implementation for data preparation (FD modelling), SEG-Y import and export, and
tiled inference; training's bar is Lightning's (``promethium.ml.callbacks``). On a
terminal it is a rich bar with the count, the rate and the ETA; when stderr is not a
terminal (a batch job's log) it writes a log line with the same figures at most every
``log_every`` seconds, and one at the end.
"""

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
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

T = TypeVar("T")
log = logging.getLogger("promethium.progress")


class ProgressBar:
    """Units of work done out of a total, with rate and ETA.

    Args:
        description: what is being done (the bar's and the log lines' first word).
        total: units in all; ``None`` until :meth:`begin` sets it.
        unit: what a unit is, e.g. ``patches`` (shown with the rate).
        enabled: ``False`` shows nothing.
        log_every: seconds between log lines when stderr is not a terminal.
    """

    def __init__(
        self,
        description: str,
        total: float | None = None,
        unit: str = "",
        enabled: bool = True,
        log_every: float = 10.0,
    ) -> None:
        self.description, self.unit, self.enabled = description, unit, enabled
        self.log_every = log_every
        self.total: float | None = total
        self.done: float = 0
        self.start = self.logged = time.perf_counter()
        self.bar: Progress | None = None
        self.task: TaskID | None = None
        if total is not None:
            self.begin(total)

    def begin(self, total: float) -> None:
        """Start counting ``total`` units (the clock starts here; e.g. MB: not whole)."""
        self.total, self.done = float(total), 0
        self.start = self.logged = time.perf_counter()
        if self.enabled and sys.stderr.isatty():
            self.bar = Progress(*self._columns(), transient=False)
            self.bar.start()
            self.task = self.bar.add_task(self.description, total=self.total, rate="-")

    def advance(self, n: float = 1) -> None:
        """``n`` more units done."""
        self.done = min(self.done + n, self.total or self.done + n)
        now = time.perf_counter()
        if self.bar is not None and self.task is not None:
            self.bar.update(self.task, advance=n, rate=f"{self.rate(now):.1f}")
        elif self.enabled and now - self.logged >= self.log_every:
            self._log(now)

    def rate(self, now: float | None = None) -> float:
        """Units per second so far."""
        elapsed = (now or time.perf_counter()) - self.start
        return self.done / max(elapsed, 1e-9)

    def close(self) -> None:
        """Stop the bar (or write the last log line)."""
        if self.bar is not None:
            self.bar.stop()
            self.bar = None
        elif self.enabled and self.total is not None:
            self._log(time.perf_counter())

    def __enter__(self) -> ProgressBar:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _log(self, now: float) -> None:
        self.logged = now
        elapsed, total = now - self.start, self.total or 0
        eta = elapsed / self.done * (total - self.done) if self.done else float("nan")
        log.info(
            "%s: %d/%d %s, %.1f/s, %.0f s elapsed, ETA %.0f s",
            self.description,
            self.done,
            total,
            self.unit,
            self.rate(now),
            elapsed,
            eta,
        )

    def _columns(self) -> tuple:
        unit = f" {self.unit}" if self.unit else ""
        return (
            TextColumn(self.description),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn(f"{{task.fields[rate]}}{unit}/s"),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
        )


def progress(
    items: Iterable[T],
    total: int,
    description: str,
    unit: int = 1,
    enabled: bool = True,
    unit_name: str = "",
) -> Iterator[T]:
    """Yield ``items``, showing how many of ``total`` units are done and the time left.

    Args:
        items: the work, one item per step.
        total: units of work in all (e.g. shots).
        description: what is being done.
        unit: units per item (e.g. shots per batch); the last item may hold fewer.
        enabled: ``False`` shows nothing.
        unit_name: what a unit is (e.g. ``gathers``).
    """
    with ProgressBar(description, total, unit_name, enabled) as bar:
        for item in items:
            yield item
            bar.advance(unit)
