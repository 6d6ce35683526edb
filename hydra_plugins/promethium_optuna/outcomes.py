"""What a launched job's return means for its trial: complete, pruned or failed."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from hydra.core.utils import JobReturn, JobStatus

from hydra_plugins.promethium_optuna.adapters import job_exception


def outcome(result: JobReturn) -> tuple[str, Any]:
    """``("complete", values)``, ``("pruned", None)`` or ``("fail", reason)`` of a job."""
    import optuna

    if result.status != JobStatus.COMPLETED:
        error = job_exception(result)
        if isinstance(error, optuna.TrialPruned):
            return "pruned", None
        return "fail", f"{type(error).__name__}: {error}"
    value = result.return_value
    values = list(value) if isinstance(value, Sequence) and not isinstance(value, str) else [value]
    try:
        values = [float(v) for v in values]
    except (TypeError, ValueError):
        return "fail", f"the job returned {value!r}, not a number"
    if not all(math.isfinite(v) for v in values):
        return "fail", f"the job returned {value!r}"
    return "complete", values
