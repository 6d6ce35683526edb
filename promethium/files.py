"""Files written whole or not at all, and JSON that strict parsers accept."""

from __future__ import annotations

import json
import math
import os
import shutil
import uuid
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
    old = target.with_name(f".{target.name}.old-{uuid.uuid4().hex[:8]}")
    os.replace(target, old)
    os.replace(new, target)
    if old.is_dir():
        shutil.rmtree(old, ignore_errors=True)
    else:
        old.unlink()


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` to a temporary sibling and rename it over ``path``.

    A crash leaves either the old file or the new one, never half of either.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{uuid.uuid4().hex[:8]}")
    try:
        tmp.write_text(text)
        replace_atomically(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


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
