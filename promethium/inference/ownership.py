"""Owner files: exclusive markers that name the process holding them, taken over when stale.

An inference run marks its work store as taken (``<work>.lock``) and the shard that
publishes a finished work store marks that too (``<work>.publishing``). A marker is a
small JSON file created with ``O_EXCL``: host, process id and the process's start time
(so a recycled process id does not look alive). A marker whose owner is gone (same host,
no such process) or that is older than its time limit is stale and taken over, so a
SIGKILL never blocks later runs.
"""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from promethium.errors import DataError
from promethium.files import remove_path, temporary_sibling, temporary_siblings

#: a marker that is still empty this long after its creation was left by a killed writer
_UNWRITTEN_GRACE_S = 10.0


def _process_start(pid: int) -> str | None:
    """The kernel's start time of ``pid`` (Linux ``/proc``), or None where unknown."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # field 22; the command name (field 2) may hold spaces but ends at the last ')'
    return stat.rsplit(")", 1)[1].split()[19]


@dataclass(frozen=True)
class Owner:
    """The process holding a marker."""

    host: str
    pid: int
    started: float  # wall-clock time the marker was taken
    process_start: str | None = None

    @classmethod
    def me(cls) -> Owner:
        return cls(socket.gethostname(), os.getpid(), time.time(), _process_start(os.getpid()))

    def describe(self) -> str:
        """``process 123 on host, since 2026-12-02 10:00:00``."""
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(self.started))
        return f"process {self.pid} on {self.host}, since {when}"

    def is_alive(self) -> bool:
        """Whether the owner may still run (a process on another host is assumed alive)."""
        if self.host != socket.gethostname():
            return True
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        start = _process_start(self.pid)
        return self.process_start is None or start is None or start == self.process_start


class OwnerLock:
    """An exclusive marker file at ``path``.

    Args:
        path: the marker file.
        stale_after: seconds after which a marker is taken over even if its owner seems
            alive (``None``: only a dead owner's marker is taken over).
    """

    def __init__(self, path: str | os.PathLike, stale_after: float | None = None) -> None:
        self.path = Path(path)
        self.stale_after = stale_after
        self.held = False

    def acquire(self) -> Owner | None:
        """Take the marker; returns None on success, else the live owner holding it."""
        for _ in range(5):
            if self._create():
                self.held = True
                return None
            holder = self._read()
            if holder is not None and not self._stale(holder):
                return holder
            if holder is None and not self._unwritten_for_long():
                return Owner("unknown host", -1, time.time())
            self._take_over(holder)
        return self._read() or Owner("unknown host", -1, time.time())

    def release(self) -> None:
        """Remove the marker if this process holds it."""
        if self.held:
            self.path.unlink(missing_ok=True)
            self.held = False

    def _create(self) -> bool:
        """Create the marker whole: written aside, then hard-linked into place.

        ``link`` fails if the marker exists (like ``O_EXCL``), and a reader never sees a
        marker without its owner (a process stopped right after an ``O_EXCL`` create
        would leave an empty one).
        """
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = temporary_sibling(self.path)
        try:
            tmp.write_text(json.dumps(asdict(Owner.me())))
            os.link(tmp, self.path)
        except FileExistsError:
            return False
        finally:
            tmp.unlink(missing_ok=True)
        return True

    def _read(self) -> Owner | None:
        return self._read_at(self.path)

    def _stale(self, owner: Owner) -> bool:
        expired = self.stale_after is not None and time.time() - owner.started > self.stale_after
        return expired or not owner.is_alive()

    def _unwritten_for_long(self) -> bool:
        try:
            return time.time() - self.path.stat().st_mtime > _UNWRITTEN_GRACE_S
        except OSError:
            return True  # gone meanwhile: try again

    def _take_over(self, stale: Owner | None) -> None:
        """Move the stale marker aside, unless another process replaced it meanwhile."""
        aside = temporary_sibling(self.path, "stale")
        try:
            os.rename(self.path, aside)
        except FileNotFoundError:
            return
        if self._read_at(aside) == stale:
            aside.unlink(missing_ok=True)
        elif not self.path.exists():  # a new owner's marker: put it back
            os.rename(aside, self.path)
        else:
            aside.unlink(missing_ok=True)

    @staticmethod
    def _read_at(path: Path) -> Owner | None:
        try:
            return Owner(**json.loads(path.read_text()))
        except (OSError, ValueError, TypeError):
            return None

    def __enter__(self) -> OwnerLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


#: a publishing marker older than this is taken over even if its owner seems alive
PUBLISH_STALE_S = 3600.0


def publish_once(work: Path, export_work: Callable[[Path], None]) -> bool:
    """Export a complete work store unless another shard is already doing it.

    Shards that finish together both see every chunk done; an exclusively created
    marker beside the work store lets exactly one of them export it. A marker left by a
    killed publisher (its process gone, or older than an hour) is taken over.

    Returns:
        Whether this process exported it.
    """
    lock = OwnerLock(work.with_name(f"{work.name}.publishing"), stale_after=PUBLISH_STALE_S)
    if lock.acquire() is not None:
        return False
    with lock:
        if not work.exists():  # a publisher killed after its rename finished the job
            return False
        export_work(work)
    return True


def claim_output(work: Path, output: str) -> OwnerLock:
    """Mark ``output``'s work store as taken by this (unsharded) run.

    Raises:
        DataError: naming the live process that is writing the same output.
    """
    lock = OwnerLock(work.with_name(f"{work.name}.lock"))
    holder = lock.acquire()
    if holder is not None:
        raise DataError(
            f"{output}: another inference is writing this output ({holder.describe()}); wait "
            f"for it to end, or stop it and rerun to resume (marker: {lock.path})"
        )
    # work stores half-built by a killed run (the output is ours now: nobody else builds)
    for debris in temporary_siblings(work, "new"):
        remove_path(debris)
    return lock
