"""Field interpolation on real data with the truth known: the README's commands, scored.

    python scripts/bench_field.py                          # every variant (~5 min each)
    python scripts/bench_field.py --only recipe,linear_residual
    python scripts/bench_field.py --max-epochs 6           # shorter, for a quick look
    python scripts/bench_field.py --survey stratton        # the real land shot instead

The real F3 post-stack crop (``tests/data``, provenance there) is laid out as one 2D line
of 414 traces (or the real Stratton land shot is written as one SEG-Y record:
``--survey stratton``), half of its traces are removed at random (zeroed and flagged
dead, seed 0), and the survey so made is run through the README's "Your own survey" commands:
``experiment=field_interp data.path=SURVEY.sgy`` to train, ``task=infer`` with
``checkpoints/best.ckpt`` to fill. Each variant adds its overrides to the training
command (the network sees the trace mask, the linear fill, or corrects the linear fill;
training decimation nearer the survey's density). The filled line is scored against
the truth as the survey's users would score it: whole-line SNR (dB) and SNR on the
removed traces only, next to linear interpolation and windowed POCS on exactly the same
input. Quality, not speed: the table is what the recipe defaults are chosen by
(``docs/benchmarks.md``).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import segyio
from _bench import report

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from promethium.baselines import linear_interpolation, pocs  # noqa: E402
from promethium.quality import snr_db  # noqa: E402
from tests.helpers import write_f3_line, write_stratton_shot  # noqa: E402

#: the real surveys at hand, written as SEG-Y the way they come, and their POCS window
SURVEYS = {
    "f3_line": (write_f3_line, "F3 line (414 traces x 75 samples)", (64, 128)),
    "stratton": (write_stratton_shot, "Stratton land shot (80 traces x 1001 samples)", (64, 256)),
}

VARIANTS: dict[str, tuple[str, ...]] = {
    "recipe": (),  # field_interp as it is: model.inputs=[data,mask,linear], task.tta
    "data_only": ("model.inputs=[data]",),
    "mask": ("model.inputs=[data,mask]",),
    "linear_residual": ("model.inputs=[data,mask,linear]", "model.residual_output=linear"),
    # training decimation nearer the survey's density: a quarter of the recorded traces
    "linear_residual_quarter": (
        "model.inputs=[data,mask,linear]",
        "model.residual_output=linear",
        "corruption.transforms.0.fraction=0.25",
    ),
    # an exponential moving average of the weights (Lightning's EMAWeightAveraging)
    "ema": ("callbacks=[default,ema]",),
    # patches the length of the line's traces (75 samples) instead of 128, zero-padded
    "patch_time_75": ("data.patch_size=[64,75]",),
    "patch_128x75": ("data.patch_size=[128,75]",),
    # half as many traces per patch: a split of a short shot leaves few traces per block
    "patch_32x128": ("data.patch_size=[32,128]",),
}


def decimate(truth: np.ndarray, path: Path, fraction: float, seed: int) -> np.ndarray:
    """Zero and flag dead ``fraction`` of the traces of the line at ``path``; the live mask."""
    rng = np.random.default_rng(seed)
    live = rng.random(len(truth)) >= fraction
    with segyio.open(str(path), "r+", ignore_geometry=True) as f:
        for i in np.flatnonzero(~live):
            f.trace[int(i)] = np.zeros(truth.shape[1], dtype=f.dtype)
            f.header[int(i)] = {segyio.TraceField.TraceIdentificationCode: 2}
    return live


def read_line(path: Path) -> np.ndarray:
    with segyio.open(str(path), ignore_geometry=True) as f:
        return np.stack([np.asarray(t, np.float32) for t in f.trace[:]])


def scores(estimate: np.ndarray, truth: np.ndarray, live: np.ndarray) -> dict[str, float]:
    """Whole-line SNR and SNR on the removed traces (dB)."""
    return {
        "snr_db": float(snr_db(estimate[None], truth[None])[0]),
        "snr_missing_db": float(snr_db(estimate[None, ~live], truth[None, ~live])[0]),
    }


def run(args: list[str], log: Path) -> float:
    start = time.perf_counter()
    with log.open("w") as out:
        subprocess.run(
            [sys.executable, str(ROOT / "run.py"), *args], check=True, stdout=out, stderr=out
        )
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", help="comma-separated variants", default=",".join(VARIANTS))
    parser.add_argument("--work", type=Path, default=ROOT / "outputs" / "bench_field")
    parser.add_argument("--survey", choices=list(SURVEYS), default="f3_line")
    parser.add_argument("--fraction", type=float, default=0.5)
    parser.add_argument("--max-epochs", type=int, help="override the recipe's training length")
    parser.add_argument("--out", help="JSON (default outputs/bench/field_<survey>.json)")
    args = parser.parse_args()
    args.out = args.out or str(ROOT / "outputs" / "bench" / f"field_{args.survey}.json")
    write, title, window = SURVEYS[args.survey]
    args.work = args.work / args.survey
    args.work.mkdir(parents=True, exist_ok=True)
    truth_path, survey = args.work / "truth.sgy", args.work / "survey.sgy"
    truth = write(truth_path)
    write(survey)
    live = decimate(truth, survey, args.fraction, seed=0)
    observed = read_line(survey) * live[:, None]  # what a reader of the survey sees
    rows = [
        {
            "method": "linear interpolation",
            **scores(linear_interpolation(observed, live), truth, live),
        },
        {"method": "windowed POCS", **scores(pocs(observed, live, window=window), truth, live)},
    ]
    for name in args.only.split(","):
        folder = args.work / name
        train = [
            "experiment=field_interp",
            f"data.path={survey}",
            f"hydra.run.dir={folder}",
            *VARIANTS[name],
            *([f"trainer.max_epochs={args.max_epochs}"] if args.max_epochs else []),
        ]
        seconds = run(train, args.work / f"{name}.train.log")
        filled = args.work / f"{name}.sgy"
        filled.unlink(missing_ok=True)
        infer = ["task=infer", f"ckpt_path={folder}/checkpoints/best.ckpt"]  # the README's
        run([*infer, f"input={survey}", f"output={filled}"], args.work / f"{name}.infer.log")
        rows.append({"method": f"network: {name}", **scores(read_line(filled), truth, live)})
        rows[-1]["train_s"] = round(seconds, 1)
        print(rows[-1], flush=True)
    for row in rows:
        row.setdefault("train_s", 0.0)
    report(
        f"{title}, {args.fraction:.0%} random traces missing: whole-survey SNR",
        rows,
        args.out,
        variants={k: list(v) for k, v in VARIANTS.items()},
    )


if __name__ == "__main__":
    main()
