"""Training tasks: one LightningModule per task kind on a shared :class:`BaseTask`.

A task is what the network is trained to do; the recipe states it (``task.kind``) and
the checkpoint records it (``hyper_parameters["kind"]``), so inference knows whether
recorded traces pass through without guessing from the corruption:

- ``interpolation`` (:class:`InterpolationTask`): fill missing traces; recorded ones are
  kept at inference.
- ``denoising`` (:class:`DenoisingTask`): remove noise from every sample; nothing is kept.
- ``physics`` (:class:`PhysicsInformedTask`): reconstruct a wavefield with the data loss
  plus ``physics_weight * WaveEquationLoss``; the physics loss belongs to this task, the
  network (``model=pinn``) only carries its settings.

Batches are dicts of ``(B, C, *S)`` tensors: ``input`` (corrupted), ``target`` (clean),
``mask`` (1 observed, 0 missing), optionally ``live`` (0 for dead or absent traces) and,
for physics, ``velocity``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

import lightning.pytorch as pl
import torch
from torch import nn

from promethium.errors import ConfigError
from promethium.ml.checkpoints import KEEPS_OBSERVED
from promethium.ml.loss import DataLoss
from promethium.ml.metrics import EnergySNR, MeanSNR
from promethium.models import PhysicsInformedNet, PromethiumModel
from promethium.models.amplitude import AmplitudeContract
from promethium.physics.wave_loss import WaveEquationLoss

OptimizerFactory = Callable[..., torch.optim.Optimizer]
SchedulerFactory = Callable[..., Any]


class BaseTask(pl.LightningModule):
    """Supervised reconstruction ``input -> net -> prediction`` against the ``target``.

    Subclasses set :attr:`kind` and :attr:`keeps_observed` and may override the hooks
    :meth:`configure_losses` (named loss modules), :meth:`loss_terms` (how they combine)
    and :meth:`configure_metrics` (per-split metrics). Logged per split: ``loss`` and its
    terms, ``snr`` (dB), ``snr_missing`` (dB, missing samples only), ``snr_input`` (dB of
    the corrupted input, the zero-filled baseline), each as a mean of per-patch dB and as
    ``snr_global*``, the energy-weighted SNR of the whole split.

    Args:
        net: the network (built from the registry).
        optimizer: half-built optimizer (``_partial_: true``), called with the parameters.
        scheduler: half-built LR scheduler called with the optimizer, or ``None``.
        loss: data loss module (default :class:`DataLoss`).
        monitor: metric the scheduler (and checkpointing) follows, e.g. ``val/snr``.
        config: the composed run config as a plain dict, saved in checkpoints so that
            a model can be rebuilt without Hydra.
        contract: the amplitude contract (config ``normalize``): input and target are
            divided by the input's scale before the network, so the loss is in unit
            amplitude; ``None`` or a trace-stage contract (applied by the data) does nothing.
    """

    #: the task kind, as in ``task.kind`` and the checkpoint
    kind: ClassVar[str] = ""
    #: whether inference keeps recorded samples as they are by default
    keeps_observed: ClassVar[bool] = False

    def __init__(
        self,
        net: PromethiumModel,
        optimizer: OptimizerFactory,
        scheduler: SchedulerFactory | None = None,
        loss: nn.Module | None = None,
        monitor: str = "val/snr",
        config: dict[str, Any] | None = None,
        contract: AmplitudeContract | None = None,
    ) -> None:
        super().__init__()
        self.contract = contract
        self.save_hyperparameters({"config": config or {}, "monitor": monitor, "kind": self.kind})
        self.net = net
        self.losses = self.configure_losses(loss if loss is not None else DataLoss())
        self.optimizer_factory, self.scheduler_factory, self.monitor = optimizer, scheduler, monitor
        self.metrics = nn.ModuleDict({s: self.configure_metrics() for s in ("val", "test")})

    # hooks -----------------------------------------------------------------------------

    def configure_losses(self, data_loss: nn.Module) -> nn.ModuleDict:
        """The task's loss modules by name; ``data`` is the configured ``task.loss``."""
        return nn.ModuleDict({"data": data_loss})

    def loss_terms(
        self, pred: torch.Tensor, batch: dict[str, torch.Tensor]
    ) -> dict[str, torch.Tensor]:
        """``loss`` (the total that is optimised) and its named terms, for logging."""
        data = self.losses["data"](pred, batch["target"], batch["mask"], batch.get("live"))
        return {"loss": data, "data_loss": data}

    def loss_names(self) -> list[str]:
        """The names :meth:`loss_terms` returns (each logged per split)."""
        return ["loss", "data_loss"]

    def setup(self, stage: str) -> None:
        """Record the patch the data module trains on (fitted to the data) in the config.

        The checkpoint's ``data.patch_size`` is what inference tiles with by default.
        """
        datamodule = getattr(self.trainer, "datamodule", None) if self._trainer else None
        patch = getattr(datamodule, "patch_size", None)
        data = (self.hparams.get("config") or {}).get("data")
        if patch and isinstance(data, dict):
            data["patch_size"] = list(patch)

    def logged_names(self, validates: bool = True) -> list[str]:
        """Every metric this task logs while fitting, e.g. for ``task.monitor``.

        Args:
            validates: whether the run has validation data (``val/*`` names).
        """
        names = [f"train/{n}" for n in self.loss_names()] + ["train/loss_step", "train/loss_epoch"]
        if validates:
            names += [f"val/{n}" for n in (*self.loss_names(), *self.metrics["val"].keys())]
        return names

    def configure_metrics(self) -> nn.ModuleDict:
        """One split's metrics by name (updated in :meth:`update_metrics`)."""
        return nn.ModuleDict(
            {
                "snr": MeanSNR(),
                "snr_missing": MeanSNR(missing_only=True),
                "snr_input": MeanSNR(),
                "snr_global": EnergySNR(),
                "snr_global_missing": EnergySNR(missing_only=True),
                "snr_global_input": EnergySNR(),
            }
        )

    def update_metrics(
        self, metrics: nn.ModuleDict, pred: torch.Tensor, batch: dict[str, torch.Tensor]
    ) -> None:
        """Accumulate one batch (network units) into a split's metrics."""
        target, mask = batch["target"], batch["mask"]
        for prefix in ("snr", "snr_global"):
            metrics[prefix].update(pred, target)
            metrics[f"{prefix}_missing"].update(pred, target, mask)
            metrics[f"{prefix}_input"].update(batch["input"], target)

    # the amplitude contract ------------------------------------------------------------

    def scaled(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """The batch in the network's units: input and target divided by the input's scale."""
        if self.contract is None or not self.contract.per_patch:  # trace stage: the data's
            return batch
        scale = self.contract.scale(batch["input"])
        return {**batch, "input": batch["input"] / scale, "target": batch["target"] / scale}

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, C_in, *S) -> (B, C_out, *S)`` in the input's units, through the contract.

        What the network does in training and inference: the input is scaled, the
        network runs, and its output is scaled back.
        """
        if self.contract is None or not self.contract.per_patch:
            return self(x)
        scale = self.contract.scale(x)
        return self(x / scale) * scale

    # Lightning -------------------------------------------------------------------------

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, C_in, *S) -> (B, C_out, *S)`` in the network's units."""
        return self.net(x)

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        """One optimisation step on a batch; logs ``train/loss`` and its terms."""
        batch = self.scaled(batch)
        pred = self(batch["input"])
        terms = self.loss_terms(pred, batch)
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
        batch = self.scaled(batch)
        pred = self(batch["input"])
        if "live" in batch:  # dead and absent traces are not scored
            pred = pred * batch["live"]
        for name, value in self.loss_terms(pred, batch).items():
            self.log(
                f"{split}/{name}",
                value,
                prog_bar=name == "loss" and split == "val",
                batch_size=pred.shape[0],
                sync_dist=True,
            )
        metrics = self.metrics[split]
        self.update_metrics(metrics, pred, batch)
        for name, metric in metrics.items():
            shown = name == "snr" or f"{split}/{name}" == self.monitor  # and the monitored
            self.log(f"{split}/{name}", metric, prog_bar=shown, on_epoch=True)

    def validation_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        """Accumulate validation loss and metrics."""
        self._evaluate(batch, "val")

    def test_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        """Accumulate test loss and metrics."""
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


class InterpolationTask(BaseTask):
    """Fill missing traces; a recorded trace is never improved on, so inference keeps it."""

    kind = "interpolation"
    keeps_observed = KEEPS_OBSERVED[kind]


class DenoisingTask(BaseTask):
    """Remove noise from every sample (supervised, or blind-spot self-supervised)."""

    kind = "denoising"
    keeps_observed = KEEPS_OBSERVED[kind]


class PhysicsInformedTask(BaseTask):
    """Wavefield reconstruction with ``data + physics_weight * WaveEquationLoss``.

    The network is a :class:`PhysicsInformedNet` (``model=pinn``) whose settings
    (velocity, sampling, stencil order, weight) configure the wave-equation loss; the
    sampling it leaves ``null`` is taken from the data store at :meth:`setup`. The physics
    term is a finite-difference residual of the prediction (no autograd graph), so it is
    also evaluated under Lightning's ``inference_mode`` in validation, and logged even at
    weight 0 so runs with and without physics compare.

    Raises:
        ConfigError: when the network is not ``model=pinn``.
    """

    kind = "physics"
    keeps_observed = KEEPS_OBSERVED[kind]
    net: PhysicsInformedNet

    def __init__(self, net: PromethiumModel, *args: Any, **kwargs: Any) -> None:
        if not isinstance(net, PhysicsInformedNet):
            raise ConfigError(
                f"task.kind: physics trains model=pinn (a network with wave-equation "
                f"settings), got model={getattr(net, 'registry_name', type(net).__name__)}; "
                "use model=pinn, or task.kind=interpolation|denoising"
            )
        super().__init__(net, *args, **kwargs)
        self.wave_loss: WaveEquationLoss | None = None

    def setup(self, stage: str) -> None:
        """Take missing sampling from the data store and build the wave-equation loss."""
        super().setup(stage)
        datamodule = getattr(self.trainer, "datamodule", None) if self._trainer else None
        store = getattr(datamodule, "store_attrs", None)
        if store:
            self.net.configure_physics(store["dt"], store["dx"], store["axis_names"])
        self.wave_loss = None

    def physics_loss(self, pred: torch.Tensor, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """Wave-equation residual of ``pred``, normalised by the input's ``u_tt`` scale.

        The scale comes from the observed (corrupted) input, never the target, so the
        term is usable where no full target exists (sparse supervision).

        Raises:
            ConfigError: unknown sampling, or ``velocity: field`` without velocity patches.
        """
        net = self.net
        if self.wave_loss is None:
            if net.dt is None or net.dx is None:
                raise ConfigError.about("dt", "dt and dx are not set and not configured from data")
            dx = [net.dx] if isinstance(net.dx, int | float) else list(net.dx)
            self.wave_loss = WaveEquationLoss(net.dt, dx, order=net.order, normalize=net.normalize)
        if net.velocity == "field":
            if "velocity" not in batch:
                raise ConfigError.about(
                    "velocity", "'field' needs 'velocity' patches; data has none"
                )
            velocity: torch.Tensor | float = batch["velocity"]
        else:
            velocity = float(net.velocity)
        return self.wave_loss(pred, velocity=velocity, reference=batch["input"])

    def loss_names(self) -> list[str]:
        """The data terms, plus ``physics_loss`` where the patches have a spatial axis."""
        return [*super().loss_names(), *(["physics_loss"] if self.net.spatial_dims > 1 else [])]

    def loss_terms(
        self, pred: torch.Tensor, batch: dict[str, torch.Tensor]
    ) -> dict[str, torch.Tensor]:
        """The data terms plus ``physics_loss`` (1D patches have no spatial axis: none)."""
        terms = super().loss_terms(pred, batch)
        if self.net.spatial_dims > 1:
            terms["physics_loss"] = self.physics_loss(pred, batch)
            if self.net.physics_weight > 0:
                terms["loss"] = terms["data_loss"] + self.net.physics_weight * terms["physics_loss"]
        return terms


#: ``task.kind`` -> task class
TASKS: dict[str, type[BaseTask]] = {
    t.kind: t for t in (InterpolationTask, DenoisingTask, PhysicsInformedTask)
}


def task_class(kind: str) -> type[BaseTask]:
    """The task class of ``task.kind``.

    Raises:
        ConfigError: naming ``task.kind`` and the allowed kinds.
    """
    if kind not in TASKS:
        raise ConfigError(f"task.kind: got {kind!r}; allowed: {', '.join(TASKS)}")
    return TASKS[kind]
