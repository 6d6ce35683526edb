"""Files written whole or not at all, and JSON that strict parsers accept."""

from __future__ import annotations

import json
import math
import os
import uuid
from pathlib import Path
from typing import Any


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` to a temporary sibling and rename it over ``path``.

    A crash leaves either the old file or the new one, never half of either.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{uuid.uuid4().hex[:8]}")
    try:
        tmp.write_text(text)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


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
