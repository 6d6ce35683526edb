"""The Lightning module that trains any Promethium network on patch batches."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import lightning.pytorch as pl
import torch
from torch import nn

from promethium.ml.loss import DataLoss
from promethium.ml.metrics import EnergySNR, MeanSNR
from promethium.models import PhysicsInformedNet, PromethiumModel
from promethium.models.amplitude import AmplitudeScaler

OptimizerFactory = Callable[..., torch.optim.Optimizer]
SchedulerFactory = Callable[..., Any]


class SeismicLitModule(pl.LightningModule):
    """Supervised reconstruction: ``input -> net -> prediction`` against the clean ``target``.

    Batches are dicts of ``(B, C, *S)`` tensors: ``input`` (corrupted), ``target`` (clean)
    and ``mask`` (1 observed, 0 missing). Logged per split: ``loss``, ``snr`` (dB),
    ``snr_missing`` (dB, missing samples only) and, for reference, ``snr_input`` (dB of
    the corrupted input itself, i.e. the zero-filled baseline), each as a mean of
    per-patch dB and as ``snr_global*``, the energy-weighted SNR of the whole split.

    Args:
        net: the network (built from the registry).
        optimizer: half-built optimizer (``_partial_: true``), called with the parameters.
        scheduler: half-built LR scheduler called with the optimizer, or ``None``.
        loss: data loss module.
        monitor: metric the scheduler (and checkpointing) follows, e.g. ``val/snr``.
        config: the composed run config as a plain dict, saved in checkpoints so that
            a model can be rebuilt without Hydra.
        scaler: the amplitude contract (``normalize``): input and target are divided by
            the input's scale before the network, so the loss is in unit amplitude.

    """

    def __init__(
        self,
        net: PromethiumModel,
        optimizer: OptimizerFactory,
        scheduler: SchedulerFactory | None = None,
        loss: nn.Module | None = None,
        monitor: str = "val/snr",
        config: dict[str, Any] | None = None,
        scaler: AmplitudeScaler | None = None,
    ) -> None:
        super().__init__()
        self.scaler = scaler
        self.save_hyperparameters({"config": config or {}, "monitor": monitor})
        self.net, self.loss = net, loss if loss is not None else DataLoss()
        self.optimizer_factory, self.scheduler_factory, self.monitor = optimizer, scheduler, monitor
        self.metrics = nn.ModuleDict(
            {
                split: nn.ModuleDict(
                    {
                        "snr": MeanSNR(),
                        "snr_missing": MeanSNR(missing_only=True),
                        "snr_input": MeanSNR(),
                        "snr_global": EnergySNR(),
                        "snr_global_missing": EnergySNR(missing_only=True),
                        "snr_global_input": EnergySNR(),
                    }
                )
                for split in ("val", "test")
            }
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, C_in, *S) -> (B, C_out, *S)``."""
        return self.net(x)

    def setup(self, stage: str) -> None:
        """Hand the data's sampling and axis names to a physics-informed network."""
        datamodule = getattr(self.trainer, "datamodule", None) if self._trainer else None
        store = getattr(datamodule, "store_attrs", None)
        if isinstance(self.net, PhysicsInformedNet) and store:
            self.net.configure_physics(store["dt"], store["dx"], store["axis_names"])

    def _loss_terms(
        self, pred: torch.Tensor, batch: dict[str, torch.Tensor]
    ) -> dict[str, torch.Tensor]:
        """``loss`` (total), ``data_loss`` and, for physics-informed nets, ``physics_loss``.

        The physics term is a finite-difference residual of the prediction itself, so it
        needs no autograd graph and is also evaluated under Lightning's ``inference_mode``
        during validation (a residual built from ``torch.autograd.grad`` of the outputs
        would need ``Trainer(inference_mode=False)``).
        """
        data = self.loss(pred, batch["target"], batch["mask"], batch.get("live"))
        terms = {"loss": data, "data_loss": data}
        if isinstance(self.net, PhysicsInformedNet) and self.net.spatial_dims > 1:
            # logged even at weight 0, so runs with and without physics compare
            terms["physics_loss"] = self.net.physics_loss(pred, batch)
            if self.net.physics_weight > 0:
                terms["loss"] = data + self.net.physics_weight * terms["physics_loss"]
        return terms

    def _scaled(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """The batch in the network's units: input and target divided by the input's scale."""
        if self.scaler is None or not self.scaler.per_patch:  # the trace stage: the data's
            return batch
        scale = self.scaler.scale(batch["input"])
        return {**batch, "input": batch["input"] / scale, "target": batch["target"] / scale}

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        """One optimisation step on a batch; logs ``train/loss`` and its terms."""
        batch = self._scaled(batch)
        pred = self(batch["input"])
        terms = self._loss_terms(pred, batch)
        for name, value in terms.items():
            self.log(
                f"train/{name}",
                value,
                prog_bar=name == "loss",
                on_step=name == "loss",
                on_epoch=True,
                batch_size=pred.shape[0],
            )
        return terms["loss"]

    def _evaluate(self, batch: dict[str, torch.Tensor], split: str) -> None:
        batch = self._scaled(batch)
        pred = self(batch["input"])
        target, mask = batch["target"], batch["mask"]
        if "live" in batch:  # dead and absent traces are not scored
            pred = pred * batch["live"]
        for name, value in self._loss_terms(pred, batch).items():
            self.log(
                f"{split}/{name}",
                value,
                prog_bar=name == "loss" and split == "val",
                batch_size=pred.shape[0],
                sync_dist=True,
            )
        metrics = self.metrics[split]
        for prefix in ("snr", "snr_global"):
            metrics[prefix].update(pred, target)
            metrics[f"{prefix}_missing"].update(pred, target, mask)
            metrics[f"{prefix}_input"].update(batch["input"], target)
        for name, metric in metrics.items():
            self.log(f"{split}/{name}", metric, prog_bar=name == "snr", on_epoch=True)

    def validation_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        """Accumulate validation loss and SNR metrics."""
        self._evaluate(batch, "val")

    def test_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        """Accumulate test loss and SNR metrics."""
        self._evaluate(batch, "test")

    def configure_optimizers(self) -> Any:
        """Bind the half-built optimizer (and scheduler) to this module's parameters."""
        optimizer = self.optimizer_factory(params=self.parameters())
        if self.scheduler_factory is None:
            return optimizer
        scheduler = self.scheduler_factory(optimizer=optimizer)
        return {
            "optimizer": optimizer,
            "lr_scheduler": {"scheduler": scheduler, "monitor": self.monitor, "interval": "epoch"},
        }
