"""Promethium's Lightning callbacks beyond those Lightning ships."""

from __future__ import annotations

import os
from typing import Any

from lightning.pytorch.callbacks import ModelCheckpoint


def rebase_paths(state: dict[str, Any], old: str, new: str) -> dict[str, Any]:
    """``ModelCheckpoint`` state with every path under ``old`` moved under ``new``."""

    def move(path: Any) -> Any:
        if not isinstance(path, str) or not path:
            return path
        relative = os.path.relpath(path, old)
        return path if relative.startswith("..") else os.path.join(new, relative)

    moved = {k: move(state.get(k)) for k in ("best_model_path", "kth_best_model_path")}
    moved["last_model_path"] = move(state.get("last_model_path"))
    moved["best_k_models"] = {move(k): v for k, v in (state.get("best_k_models") or {}).items()}
    return {**state, **moved, "dirpath": new}


class RunFolderCheckpoint(ModelCheckpoint):
    """``ModelCheckpoint`` whose saved state follows its run folder when it is moved.

    Lightning keeps absolute paths in the callback's state and drops them when the folder
    changed, so a resumed copy of a run wrote ``last-v1.ckpt`` beside a stale
    ``last.ckpt`` and tested the old folder's best checkpoint. Paths under the saved
    ``dirpath`` are rebased onto the current one instead.
    """

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        old = state_dict.get("dirpath")
        if old and self.dirpath and os.path.normpath(old) != os.path.normpath(self.dirpath):
            state_dict = rebase_paths(state_dict, os.path.normpath(old), self.dirpath)
        super().load_state_dict(state_dict)
