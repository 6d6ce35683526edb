"""Quality-control figures of a fixed validation patch, as a Lightning callback."""

from __future__ import annotations

import logging
from pathlib import Path

import lightning.pytorch as pl
import numpy as np
import torch
from matplotlib.figure import Figure

from promethium.plotting import plot_panels

log = logging.getLogger(__name__)


class QCFigures(pl.Callback):
    """Plot input / prediction / target / difference of a fixed validation patch.

    The prediction is the task's own (:meth:`~promethium.ml.tasks.BaseTask.predict`):
    through the amplitude contract (``normalize``), as in training and inference, and in
    the data's units like the other panels. At each validation end (every
    ``every_n_epochs``), the PNG goes to ``<output_dir>/qc`` and to TensorBoard and
    MLflow when those loggers are attached.

    Args:
        output_dir: run folder (figures go to ``output_dir/qc``).
        sample_index: which validation patch (deterministic grid order).
        every_n_epochs: plot every n-th validation.
        clip_percentile: symmetric clip percentile.
        cmap: colormap (``gray`` or ``seismic`` are the seismic habits).
    """

    def __init__(
        self,
        output_dir: str,
        sample_index: int = 0,
        every_n_epochs: int = 1,
        clip_percentile: float = 99.0,
        cmap: str = "gray",
    ) -> None:
        self.folder = Path(output_dir) / "qc"
        self.sample_index, self.every = sample_index, max(int(every_n_epochs), 1)
        self.clip, self.cmap = clip_percentile, cmap

    def panels(
        self, module: pl.LightningModule, sample: dict[str, torch.Tensor]
    ) -> dict[str, np.ndarray]:
        """``input``, ``prediction``, ``target``, ``difference`` of one ``(C, *S)`` sample.

        Channel 0 of each, in the data's units.
        """
        with torch.inference_mode():
            x = sample["input"][None].to(module.device)
            pred = module.predict(x)[0].float().cpu()
        target = sample["target"]
        return {
            "input": sample["input"][0].numpy(),
            "prediction": pred[0].numpy(),
            "target": target[0].numpy(),
            "difference": (target - pred)[0].numpy(),
        }

    def on_validation_epoch_end(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
        if (
            trainer.sanity_checking
            or trainer.current_epoch % self.every
            or not trainer.is_global_zero
        ):
            return
        datamodule = trainer.datamodule
        dataset = getattr(datamodule, "datasets", {}).get("val")
        if dataset is None or len(dataset) == 0:
            return
        sample = dataset[min(self.sample_index, len(dataset) - 1)]
        fig = plot_panels(
            self.panels(module, sample),
            dt=getattr(datamodule, "store_attrs", {}).get("dt"),
            clip_percentile=self.clip,
            cmap=self.cmap,
            title=f"epoch {trainer.current_epoch}",
        )
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / f"epoch_{trainer.current_epoch:03d}.png"
        fig.savefig(path, dpi=90)
        for logger in trainer.loggers:
            _log_figure(logger, fig, path, trainer.global_step)


def _log_figure(logger: object, fig: Figure, path: Path, step: int) -> None:
    from lightning.pytorch.loggers import MLFlowLogger, TensorBoardLogger

    if isinstance(logger, TensorBoardLogger):
        logger.experiment.add_figure("qc/validation", fig, global_step=step, close=False)
    elif isinstance(logger, MLFlowLogger):
        logger.experiment.log_artifact(logger.run_id, str(path), artifact_path="qc")
