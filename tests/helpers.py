"""Test helpers: compose the real ``conf/`` and shrink it for CPU tests; run the command line."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from hydra import compose, initialize_config_dir
from omegaconf import DictConfig

from promethium.config import register_resolvers

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data"  # small real data with provenance (tests/data/README.md)
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
    "unet_full": ["model.depth=2", "model.base_channels=4"],
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


def train_tiny(folder: Path, overrides: Sequence[str] = ()) -> Path:
    """Train the default recipe, shrunk (no logger), under ``folder``; its ``last.ckpt``."""
    from promethium.tasks.common import execute

    execute(compose_config(folder, ["logger=none", *overrides]))
    return folder / "run" / "checkpoints" / "last.ckpt"


def cli_command(*args: str, script: str | None = None) -> list[str]:
    """``python run.py ARGS`` (or ``python scripts/SCRIPT ARGS``) as an argument list."""
    entry = ROOT / "scripts" / script if script else ROOT / "run.py"
    return [sys.executable, str(entry), *args]


def cli(
    *args: str,
    script: str | None = None,
    timeout: float = 600,
    cwd: str | os.PathLike | None = None,
    env: Mapping[str, str] | None = None,
    threads: int | None = None,
) -> subprocess.CompletedProcess:
    """Run ``python run.py ARGS`` (or a script) to its end; its output is captured as text.

    ``threads`` caps the child's torch/OpenMP threads (parallel children get 1 each).
    """
    environment = {**os.environ, **(env or {})}
    environment.pop("PROMETHIUM_DDP_JOB_CONFIG", None)  # a test's own ranks never leak in
    if threads is not None:
        environment["OMP_NUM_THREADS"] = str(threads)
    return subprocess.run(
        cli_command(*args, script=script),
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd,
        env=environment,
    )


def run_together(commands: list[list[str]], timeout: int, **popen: object) -> None:
    """Start every command at once and wait for all; fail with the stderr of a failed one."""
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
    return cli_command("task=infer", "infer.progress=false", "infer.keep_observed=false", *args)


def write_prestack(
    path: Path,
    n_gathers: int = 4,
    n_traces: Sequence[int] = (5, 7, 6, 7),
    n_samples: int = 50,
    fmt: int = 1,
    shuffle: bool = False,
) -> tuple[Any, list[tuple[int, int]]]:
    """A pre-stack SEG-Y file written by segyio: gathers of unequal size, realistic headers.

    Returns the traces as segyio reads them back (after IBM rounding) and the
    ``(gather, trace)`` of each.
    """
    import numpy as np
    import segyio

    rng = np.random.default_rng(0)
    records = [(g, t) for g in range(n_gathers) for t in range(n_traces[g])]
    if shuffle:
        records = [records[i] for i in rng.permutation(len(records))]
    spec = segyio.spec()
    spec.format, spec.samples, spec.tracecount = fmt, list(range(n_samples)), len(records)
    data = rng.normal(size=(len(records), n_samples)).astype(np.float32) * 1e3
    with segyio.create(str(path), spec) as f:
        f.text[0] = segyio.create_text_header({1: "PROMETHIUM TEST FILE", 2: "PRE-STACK IBM"})
        f.bin.update(hdt=2000, hns=n_samples, format=fmt)
        for i, (g, t) in enumerate(records):
            f.header[i] = {
                segyio.TraceField.TRACE_SEQUENCE_FILE: i + 1,
                segyio.TraceField.FieldRecord: 100 + g,
                segyio.TraceField.TraceNumber: t + 1,
                segyio.TraceField.offset: 25 * t - 50,
                segyio.TraceField.CDP: 1000 + g * 3 + t,
                segyio.TraceField.SourceX: 12345 + g,
                segyio.TraceField.TRACE_SAMPLE_COUNT: n_samples,
                segyio.TraceField.TRACE_SAMPLE_INTERVAL: 2000,
            }
            f.trace[i] = data[i]
    with segyio.open(str(path), ignore_geometry=True) as f:  # values after IBM rounding
        return np.stack([f.trace[i] for i in range(f.tracecount)]), records


def write_stratton_shot(path: Path) -> Any:
    """The real Stratton land shot (``tests/data``) as a SEG-Y file: one ``FieldRecord``.

    80 traces x 1001 samples at 3 ms, 25 m apart, IEEE floats; offsets and receiver
    numbers in the headers. Returns the ``(trace, time)`` amplitudes written.
    """
    import numpy as np
    import segyio

    traces = np.load(DATA / "stratton_shot.npy").astype(np.float32)
    n_samples = traces.shape[1]
    spec = segyio.spec()
    spec.format, spec.samples, spec.tracecount = 5, list(range(n_samples)), len(traces)
    with segyio.create(str(path), spec) as f:
        f.text[0] = segyio.create_text_header({1: "STRATTON 3D LAND SHOT (PROMETHIUM BENCH)"})
        f.bin.update(hdt=3000, hns=n_samples, format=5)
        for i, trace in enumerate(traces):
            f.header[i] = {
                segyio.TraceField.TRACE_SEQUENCE_FILE: i + 1,
                segyio.TraceField.FieldRecord: 1,
                segyio.TraceField.TraceNumber: i + 1,
                segyio.TraceField.offset: int((i - len(traces) // 2) * 25),
                segyio.TraceField.TRACE_SAMPLE_COUNT: n_samples,
                segyio.TraceField.TRACE_SAMPLE_INTERVAL: 3000,
            }
            f.trace[i] = trace
    return traces


def write_f3_line(path: Path, n_inlines: int = 23) -> Any:
    """A post-stack 2D line from the real F3 crop: its inlines end to end, one ``FieldRecord``.

    As a single 2D line comes: every trace in one record, CDP numbers along the line and
    inline/crossline headers 0; ``n_inlines`` of the crop's 23 inlines of 18 traces, 75
    samples at 4 ms. Returns the ``(trace, time)`` amplitudes written.
    """
    import numpy as np
    import segyio

    with segyio.open(str(DATA / "f3_cropped.sgy")) as f:
        traces = np.asarray(f.trace.raw[:], dtype=np.float32)  # one array, not a reused buffer
        sample_format = int(f.format)
    traces = traces[: n_inlines * 18]
    spec = segyio.spec()
    spec.format, spec.samples, spec.tracecount = sample_format, list(range(75)), len(traces)
    with segyio.create(str(path), spec) as f:
        f.text[0] = segyio.create_text_header({1: "F3 CROP AS ONE 2D LINE (PROMETHIUM TESTS)"})
        f.bin.update(hdt=4000, hns=75, format=sample_format)
        for i, trace in enumerate(traces):
            f.header[i] = {
                segyio.TraceField.TRACE_SEQUENCE_FILE: i + 1,
                segyio.TraceField.FieldRecord: 1,
                segyio.TraceField.TraceNumber: i + 1,
                segyio.TraceField.CDP: 1001 + i,
                segyio.TraceField.TRACE_SAMPLE_COUNT: 75,
                segyio.TraceField.TRACE_SAMPLE_INTERVAL: 4000,
            }
            f.trace[i] = trace.astype(f.dtype)
    return traces


def add_white_noise(path: Path, truth: Any, snr_db: float, seed: int) -> None:
    """Add white noise at ``snr_db`` (whole-survey energy ratio) to the SEG-Y line at ``path``.

    ``truth``: the ``(trace, time)`` amplitudes the file holds (as :func:`write_f3_line`
    returns them); the noise is drawn from ``numpy.random.default_rng(seed)``.

    Raises:
        ValueError: when the noise would clip the file's 2-byte integer samples.
    """
    import numpy as np
    import segyio

    rng = np.random.default_rng(seed)
    sigma = np.sqrt(np.mean(truth.astype(np.float64) ** 2)) * 10 ** (-snr_db / 20)
    noisy = truth + rng.normal(0.0, sigma, truth.shape).astype(np.float32)
    with segyio.open(str(path), "r+", ignore_geometry=True) as f:
        limit = np.iinfo(np.int16).max if f.format == 3 else np.inf  # 2-byte integer samples
        if np.abs(noisy).max() > limit:
            raise ValueError(f"{path}: noise at {snr_db} dB clips the 2-byte samples")
        for i, trace in enumerate(noisy):
            f.trace[i] = trace.astype(f.dtype)
