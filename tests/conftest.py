"""Shared fixtures (the helpers they use are in ``tests/helpers.py``).

Tiers: ``python -m pytest -q`` (the README's command) runs the in-process tests; tests
that start ``run.py`` or a script in another process are marked ``cli`` and the long
ones ``slow``; ``.ci/run`` runs both tiers. A test that starts such a process without
either mark fails, so the fast tier stays fast.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from omegaconf import DictConfig

from tests.helpers import ROOT, compose_config, train_tiny

_popen_init = subprocess.Popen.__init__


def _starts_the_project(args: object) -> bool:
    words = [str(a) for a in args] if isinstance(args, list | tuple) else [str(args)]
    return any(w.endswith("run.py") or f"{ROOT / 'scripts'}" in w for w in words)


@pytest.fixture(autouse=True)
def _cli_tests_are_marked(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch):
    """Refuse ``run.py`` and ``scripts/`` subprocesses in tests not marked ``cli`` or ``slow``."""
    if any(request.node.get_closest_marker(m) is not None for m in ("cli", "slow")):
        return

    def guarded(self: subprocess.Popen, args: object, *rest: object, **kwargs: object) -> None:
        if _starts_the_project(args):
            raise AssertionError(
                f"{request.node.nodeid} starts {args!r} in a subprocess: mark it "
                "@pytest.mark.cli (the tier .ci/run runs after the README's command)"
            )
        _popen_init(self, args, *rest, **kwargs)

    monkeypatch.setattr(subprocess.Popen, "__init__", guarded)


@pytest.fixture
def tiny_cfg(tmp_path: Path) -> DictConfig:
    """The default config, shrunk."""
    return compose_config(tmp_path)


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``last.ckpt`` of the default recipe, shrunk (one epoch, no logger): trained once."""
    return train_tiny(tmp_path_factory.mktemp("tiny_checkpoint"))
