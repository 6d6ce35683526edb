"""Quality-control figures: seismic panels with one symmetric clip, as a Lightning callback."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path

import lightning.pytorch as pl
import matplotlib
import numpy as np
import torch

matplotlib.use("Agg")  # figures are written to files and loggers, never shown
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

log = logging.getLogger(__name__)


def as_section(x: np.ndarray) -> np.ndarray:
    """A 2D ``(trace, time)`` section of a patch.

    1D traces become one row; for 3D patches the middle slice of the first axis is taken.
    """
    x = np.asarray(x)
    while x.ndim > 2:
        x = x[x.shape[0] // 2]
    return x[None] if x.ndim == 1 else x


def plot_panels(
    panels: Mapping[str, np.ndarray],
    dt: float | None = None,
    clip_percentile: float = 99.0,
    cmap: str = "gray",
    title: str = "",
) -> Figure:
    """Side-by-side seismic panels, time down and traces across, with a shared clip.

    The clip is the ``clip_percentile`` of ``|values|`` over all panels but the last
    when it is a difference, so that every panel is directly comparable.

    Args:
        panels: name -> ``(trace, time)`` array (or anything :func:`as_section` reduces).
        dt: time sampling (s) for a time axis in seconds; sample numbers if ``None``.
        clip_percentile: symmetric colour clip percentile.
        cmap: ``gray``, ``seismic`` or any matplotlib colormap.
        title: figure title.
    """
    sections = {k: as_section(v) for k, v in panels.items()}
    values = np.concatenate([np.abs(v).ravel() for v in sections.values()])
    clip = float(np.percentile(values, clip_percentile)) or 1.0
    fig, axes = plt.subplots(1, len(sections), figsize=(3.2 * len(sections), 4.2), squeeze=False)
    for ax, (name, section) in zip(axes[0], sections.items(), strict=True):
        n_traces, n_samples = section.shape
        extent = (0, n_traces, n_samples * (dt or 1), 0)
        ax.imshow(
            section.T,
            cmap=cmap,
            vmin=-clip,
            vmax=clip,
            aspect="auto",
            extent=extent,
            interpolation="nearest",
        )
        ax.set_title(name)
        ax.set_xlabel("trace")
    axes[0][0].set_ylabel("time (s)" if dt else "sample")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


class QCFigures(pl.Callback):
    """Plot input / prediction / target / difference of a fixed validation patch.

    At each validation end (every ``every_n_epochs``), the PNG goes to
    ``<output_dir>/qc`` and to TensorBoard and MLflow when those loggers are attached.

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
        with torch.inference_mode():
            pred = module(sample["input"][None].to(module.device))[0].float().cpu()
        target = sample["target"]
        panels = {
            "input": sample["input"][0].numpy(),
            "prediction": pred[0].numpy(),
            "target": target[0].numpy(),
            "difference": (target - pred)[0].numpy(),
        }
        dt = getattr(datamodule, "store_attrs", {}).get("dt")
        fig = plot_panels(
            panels,
            dt=dt,
            clip_percentile=self.clip,
            cmap=self.cmap,
            title=f"epoch {trainer.current_epoch}",
        )
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / f"epoch_{trainer.current_epoch:03d}.png"
        fig.savefig(path, dpi=90)
        for logger in trainer.loggers:
            _log_figure(logger, fig, path, trainer.global_step)
        plt.close(fig)


def _log_figure(logger: object, fig: Figure, path: Path, step: int) -> None:
    from lightning.pytorch.loggers import MLFlowLogger, TensorBoardLogger

    if isinstance(logger, TensorBoardLogger):
        logger.experiment.add_figure("qc/validation", fig, global_step=step)
    elif isinstance(logger, MLFlowLogger):
        logger.experiment.log_artifact(logger.run_id, str(path), artifact_path="qc")
