"""Evaluation against the clean reference: per-gather metrics (the evaluate task builds on it)."""

from promethium.evaluation.metrics import METRICS, score, summarise

__all__ = ["METRICS", "score", "summarise"]
