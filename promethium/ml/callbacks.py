"""Promethium's Lightning callbacks beyond those Lightning ships."""

from __future__ import annotations

import os
import time
from typing import Any

import lightning.pytorch as pl
from lightning.pytorch.callbacks import ModelCheckpoint, TQDMProgressBar

from promethium.ml.datamodule import SeismicDataModule
from promethium.ml.model_card import CARD_KEY, amplitude_statistics, data_provenance, jsonable


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

    ``last.ckpt`` is written at the end of every epoch. Lightning (2.6) writes it only
    when a top-k checkpoint was saved in the same step, so an epoch that did not improve
    the monitored metric left ``last.ckpt`` at the last improvement: ``ckpt_path=last``
    resumed from there, and "last" was not the last weights.
    """

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        old = state_dict.get("dirpath")
        if old and self.dirpath and os.path.normpath(old) != os.path.normpath(self.dirpath):
            state_dict = rebase_paths(state_dict, os.path.normpath(old), self.dirpath)
        super().load_state_dict(state_dict)

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        super().on_train_epoch_end(trainer, pl_module)
        if self._should_save_on_train_epoch_end(trainer):
            self._save_last_if_missed(trainer)

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        super().on_validation_end(trainer, pl_module)
        if not self._should_save_on_train_epoch_end(trainer):
            self._save_last_if_missed(trainer)

    def _save_last_if_missed(self, trainer: pl.Trainer) -> None:
        """Write ``last.ckpt`` for this step if the hook above did not."""
        if not self.save_last or self._should_skip_saving_checkpoint(trainer):
            return  # off, in sanity checking or fast_dev_run, or saved at this step
        self._save_last_checkpoint(trainer, self._monitor_candidates(trainer))


def overall_eta(elapsed_s: float, done: int, total: int) -> str:
    """``H:MM:SS`` left for ``total`` steps at the rate of the ``done`` ones so far."""
    if done <= 0 or total <= done:
        return "0:00:00" if total and total <= done else "?"
    seconds = int(round(elapsed_s / done * (total - done)))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


class RunProgressBar(TQDMProgressBar):
    """Lightning's tqdm bar, with the epoch out of the total and the whole run's ETA.

    The bar's description is ``Epoch E/N`` (1-based, ``N`` from ``trainer.max_epochs``)
    and its postfix gains ``eta``, the time left for every step of the run at the rate
    of the steps this process has made (Lightning's own bar shows one epoch's).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._started: float | None = None
        self._first_step = self._steps_left = 0

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        super().on_train_start(trainer, pl_module)
        self._started, self._first_step = time.perf_counter(), trainer.global_step
        total = trainer.estimated_stepping_batches  # once: it measures the loaders
        self._steps_left = int(total) - self._first_step if total != float("inf") else 0

    def on_train_epoch_start(self, trainer: pl.Trainer, *args: Any) -> None:
        super().on_train_epoch_start(trainer, *args)
        total = trainer.max_epochs if trainer.max_epochs and trainer.max_epochs > 0 else "?"
        self.train_progress_bar.set_description(f"Epoch {trainer.current_epoch + 1}/{total}")

    def get_metrics(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> dict[str, Any]:
        items = super().get_metrics(trainer, pl_module)
        if self._started is not None:
            done = trainer.global_step - self._first_step
            elapsed = time.perf_counter() - self._started
            items["eta"] = overall_eta(elapsed, done, self._steps_left)
        return items


class ModelCardWriter(pl.Callback):
    """Writes the model card (:mod:`promethium.ml.model_card`) into every checkpoint.

    The card starts from the run config (:func:`~promethium.ml.model_card.new_card`); at
    the start of fitting the training data's provenance and amplitudes are added (the
    data module is set up by then), and each saved checkpoint gets the metrics of its
    moment: the last logged figures and the best monitored one so far.

    Args:
        card: the card so far (a plain dict).
        samples: training patches whose amplitudes the card records.
    """

    def __init__(self, card: dict[str, Any], samples: int = 32) -> None:
        self.card, self.samples = card, int(samples)

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        datamodule = getattr(trainer, "datamodule", None)
        if not isinstance(datamodule, SeismicDataModule) or not datamodule.datasets:
            return
        self.card["data"].update(data_provenance(datamodule))
        train = datamodule.datasets["train"]
        inputs = []
        for index in range(min(self.samples, len(train))):
            sample = {k: v[None] for k, v in train[index].items() if k in ("input", "target")}
            scaled = pl_module.scaled(sample) if hasattr(pl_module, "scaled") else sample
            inputs.append(scaled["input"].numpy())
        self.card["amplitude"] = amplitude_statistics(inputs)

    def on_save_checkpoint(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, checkpoint: dict[str, Any]
    ) -> None:
        final = {k: float(v) for k, v in trainer.callback_metrics.items() if getattr(v, "numel", 0)}
        final.update(epoch=trainer.current_epoch, global_step=trainer.global_step)
        best: dict[str, Any] = {}
        ckpt = trainer.checkpoint_callback
        if isinstance(ckpt, ModelCheckpoint) and ckpt.best_model_score is not None:
            best[str(ckpt.monitor)] = float(ckpt.best_model_score)
        checkpoint[CARD_KEY] = jsonable({**self.card, "metrics": {"final": final, "best": best}})
