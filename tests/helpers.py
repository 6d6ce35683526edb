"""Test helpers: compose the real ``conf/`` and shrink it for CPU tests; run commands together."""

from __future__ import annotations

from pathlib import Path

from hydra import compose, initialize_config_dir
from omegaconf import DictConfig

from promethium.config import register_resolvers

ROOT = Path(__file__).resolve().parents[1]
CONF = ROOT / "conf"

# A tiny data set and network: a few seconds per epoch on one CPU core.
TINY = [
    "data.batch_size=4",
    "data.samples_per_epoch=8",
    "data.val_fraction=0.25",
    "data.test_fraction=0.25",
    "trainer.max_epochs=1",
    "trainer.accelerator=cpu",
    "trainer.devices=1",
    "trainer.enable_progress_bar=false",
]
# Per data option: a source small enough to build in a second.
TINY_DATA = {
    "synthetic": [
        "data.source.n_gathers=8",
        "data.source.n_traces=24",
        "data.source.n_samples=48",
        "data.patch_size=[16,32]",
    ],
    "marmousi": [
        "data.source.n_shots=4",
        "data.source.n_samples=64",
        "data.source.receiver_step=8",
        "data.source.decimate=4",
        "data.patch_size=[16,32]",
    ],
    "marmousi_wavefield": [
        "data.source.n_items=4",
        "data.source.nz=16",
        "data.source.nx=16",
        "data.source.n_steps=16",
        "data.patch_size=[8,8,8]",
    ],
    "zarr": ["data.patch_size=[16,32]"],
    "segy": ["data.patch_size=[4,16]"],
    "mdio": ["data.patch_size=[16,64]"],
}


# Per model option: a network with a few hundred parameters.
TINY_MODEL = {
    "unet": ["model.depth=2", "model.base_channels=4"],
    "dae": ["model.depth=2", "model.base_channels=4", "model.latent_channels=2"],
    "pinn": ["model.backbone.depth=1", "model.backbone.base_channels=4"],
}


def compose_config(
    tmp_path: Path,
    overrides: list[str] = (),
    tiny: bool = True,
    data: str = "synthetic",
    model: str = "unet",
) -> DictConfig:
    """Compose ``conf/config.yaml`` with ``overrides``, writing everything under ``tmp_path``.

    ``data`` and ``model`` select the options (and their tiny settings when ``tiny``).
    """
    register_resolvers()
    paths = [f"paths.output_dir={tmp_path / 'run'}", f"paths.cache_dir={tmp_path / 'cache'}"]
    trains = not any(o in ("task=infer", "task=evaluate") for o in overrides)
    loop = TINY if trains else [o for o in TINY if not o.startswith("trainer.")]
    shrink = [*loop, *TINY_DATA[data], *TINY_MODEL[model]] if tiny else []
    groups = [f"data={data}", f"model={model}"]
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return compose("config", overrides=[*groups, *shrink, *paths, *overrides])


def run_together(commands: list[list[str]], timeout: int, **popen: object) -> None:
    """Start every command at once and wait for all; fail with the stderr of a failed one."""
    import subprocess

    procs = [
        subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, **popen)
        for cmd in commands
    ]
    for proc in procs:
        _, err = proc.communicate(timeout=timeout)
        assert proc.returncode == 0, err[-3000:]


def infer_command(*args: str) -> list[str]:
    """``python run.py task=infer ...`` comparing the network's own output.

    The tiny checkpoints of the tests fill missing traces, so inference would keep every
    recorded trace (``infer.keep_observed``); these commands turn that off.
    """
    import sys

    return [
        sys.executable,
        str(ROOT / "run.py"),
        "task=infer",
        "infer.progress=false",
        "infer.keep_observed=false",
        *args,
    ]
