"""The tasks of ``run.py``: ``train``, ``infer``, ``evaluate``, each ``run(cfg) -> dict``.

Run them through :func:`promethium.tasks.common.execute` (``run.py`` and
:mod:`promethium.api` do).
"""
