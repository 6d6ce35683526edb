"""Files written whole or not at all, and JSON that strict parsers accept."""

from __future__ import annotations

import json
import math
import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from promethium.errors import DataError


def replace_atomically(new: str | os.PathLike, target: str | os.PathLike) -> None:
    """Move ``new`` (a file or a folder) to ``target``, replacing what is there.

    A file replaces a file in one ``os.replace``; an existing folder (or a file replaced
    by a folder) is first renamed aside and removed only after ``new`` is in place, so
    ``target`` always holds either the old or the new content.
    """
    new, target = Path(new), Path(target)
    if not target.exists() or (target.is_file() and new.is_file()):
        os.replace(new, target)
        return
    old = temporary_sibling(target, "old")
    os.replace(target, old)
    os.replace(new, target)
    if old.is_dir():
        shutil.rmtree(old, ignore_errors=True)
    else:
        old.unlink()


def temporary_sibling(target: str | os.PathLike, tag: str = "tmp", suffix: str = "") -> Path:
    """A new hidden name beside ``target`` (same folder, so a rename stays atomic)."""
    target = Path(target)
    return target.with_name(f".{target.name}.{tag}-{uuid.uuid4().hex[:8]}{suffix}")


def temporary_siblings(target: str | os.PathLike, tag: str = "tmp") -> list[Path]:
    """The names :func:`temporary_sibling` gave beside ``target`` (debris of killed runs)."""
    target = Path(target)
    return sorted(target.parent.glob(f".{target.name}.{tag}-*"))


def remove_path(path: str | os.PathLike) -> None:
    """Remove a file or a folder tree if it exists."""
    path = Path(path)
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


@contextmanager
def atomic_path(target: str | os.PathLike, suffix: str = "") -> Iterator[Path]:
    """A temporary sibling to write ``target``'s new content to (a file or a folder).

    When the block ends normally the sibling replaces ``target``
    (:func:`replace_atomically`); when it raises, the sibling is removed and ``target``
    keeps its old content. ``suffix`` ends the temporary name (libraries that add one).
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = temporary_sibling(target, suffix=suffix)
    try:
        yield tmp
        replace_atomically(tmp, target)
    finally:
        remove_path(tmp)


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` to a temporary sibling and rename it over ``path``.

    A crash leaves either the old file or the new one, never half of either.
    """
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def refuse_existing(
    target: str | os.PathLike, overwrite: bool, how: str, exists: bool | None = None
) -> None:
    """Refuse to replace an existing output unless ``overwrite``.

    Args:
        target: the output path.
        overwrite: whether replacing it was asked for.
        how: how the caller asks for it, e.g. ``set infer.overwrite=true``.
        exists: whether it exists, for outputs that are not local paths (URLs).

    Raises:
        DataError: naming the output and ``how``.
    """
    if not overwrite and (Path(target).exists() if exists is None else exists):
        raise DataError(f"{target}: output exists; {how} to replace it")


def strict_json(value: Any) -> Any:
    """``value`` with every NaN or infinite float replaced by ``None`` (JSON ``null``).

    Python's ``json`` writes bare ``NaN``/``Infinity``, which strict parsers (and most
    languages other than Python) refuse; a metric that is undefined is ``null``.
    """
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: strict_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [strict_json(v) for v in value]
    return value


def write_metrics(path: str | os.PathLike, metrics: dict[str, Any], sort_keys: bool = True) -> None:
    """Write ``metrics`` as strict JSON (undefined values ``null``), atomically."""
    text = json.dumps(strict_json(metrics), indent=2, sort_keys=sort_keys, allow_nan=False)
    atomic_write_text(path, text)
