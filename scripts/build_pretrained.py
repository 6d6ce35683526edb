"""Train, measure and package the pretrained models shipped in promethium/pretrained/weights/.

Each model is trained by its documented ``run.py`` command, scored by ``task=evaluate``
on held-out data with the truth known (the classical methods on the same input), and
written as a weights-only checkpoint (weights, training config and model card with the
evaluation added; no optimiser state) with ``index.json`` listing them all.

    python scripts/build_pretrained.py                  # every model (~25 min on 2 cores)
    python scripts/build_pretrained.py --only f3_denoise

The weights are rebuilt, never downloaded: a model's card records the two commands that
made it, and ``tests/test_pretrained.py`` (slow) re-measures each within 0.3 dB.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from promethium.files import atomic_path, atomic_write_text  # noqa: E402
from promethium.ml.model_card import CARD_KEY, migrate_card  # noqa: E402
from promethium.pretrained import INDEX_FILE, WEIGHTS_DIR  # noqa: E402
from tests.helpers import add_white_noise, write_f3_line  # noqa: E402

#: white noise at 0 dB, as task=evaluate adds it to a survey with the truth known
WHITE_NOISE_0DB = (
    "evaluate.corruption=[{_target_: promethium.data.transforms.AdditiveNoise, snr_db: 0}]"
)


@dataclass
class Spec:
    """A shipped model: how it is trained and measured (see ``PretrainedModel``)."""

    name: str
    version: int
    description: str
    task: str
    trained_on: str
    train: list[str]
    evaluate: list[str]
    checkpoint: str  # which of the run's checkpoints ships (the recipe's documented one)
    metric: str = "network/snr_db"
    data: dict[str, str] = field(default_factory=dict)


SPECS = [
    Spec(
        name="marmousi_interp",
        version=1,
        description="Missing-trace interpolation of shot gathers (residual U-Net, full "
        "resolution): the marmousi_interp recipe",
        task="interpolation",
        trained_on="12 of 16 acoustic finite-difference shots on the Marmousi model "
        "(built-in; 2 for validation, 2 held out for test), 50 % random missing receivers",
        train=["experiment=marmousi_interp"],
        evaluate=["task=evaluate", "experiment=marmousi_interp"],
        checkpoint="last.ckpt",
    ),
    Spec(
        name="marmousi_denoise",
        version=1,
        description="Random and ground-roll noise removal from shot gathers (denoising "
        "autoencoder): the marmousi_denoise recipe",
        task="denoising",
        trained_on="12 of 16 acoustic finite-difference shots on the Marmousi model "
        "(built-in; 2 for validation, 2 held out for test), white noise at -2 to 6 dB plus "
        "ground-roll-like noise at 3 to 12 dB",
        train=["experiment=marmousi_denoise"],
        evaluate=["task=evaluate", "experiment=marmousi_denoise"],
        checkpoint="last.ckpt",
    ),
    Spec(
        name="f3_denoise",
        version=1,
        description="Self-supervised (Noise2Void) denoising of a real post-stack line: the "
        "field_denoise recipe on the F3 crop with white noise at 0 dB",
        task="denoising",
        trained_on="the F3 crop (North Sea, CC BY-SA 3.0) as one 2D line of 414 traces x 75 "
        "samples at 4 ms, white noise at 0 dB added (seed 0); no clean data",
        train=["experiment=field_denoise", "data.path={f3_noisy}"],
        evaluate=[
            "task=evaluate",
            "experiment=field_denoise",
            "data.path={f3_line}",
            WHITE_NOISE_0DB,
        ],
        checkpoint="best.ckpt",
        data={
            "f3_line": "tests.helpers.write_f3_line: tests/data/f3_cropped.sgy as one 2D line",
            "f3_noisy": "the same line, tests.helpers.add_white_noise(snr_db=0, seed=0)",
        },
    ),
]


def make_data(spec: Spec, work: Path) -> dict[str, str]:
    """The files a spec's placeholders name, written under ``work``."""
    paths: dict[str, str] = {}
    if "f3_line" in spec.data:
        line, noisy = work / "f3_line.sgy", work / "f3_line_noisy.sgy"
        truth = write_f3_line(line)
        shutil.copyfile(line, noisy)
        add_white_noise(noisy, truth, 0.0, seed=0)
        paths.update(f3_line=str(line), f3_noisy=str(noisy))
    return paths


def filled(overrides: list[str], paths: dict[str, str]) -> list[str]:
    """``overrides`` with each ``{placeholder}`` replaced by its file."""
    out = []
    for override in overrides:
        for key, path in paths.items():
            override = override.replace("{" + key + "}", path)
        out.append(override)
    return out


def run(overrides: list[str], log: Path) -> None:
    with log.open("w") as out:
        done = subprocess.run(
            [sys.executable, str(ROOT / "run.py"), *overrides], stdout=out, stderr=out
        )
    if done.returncode:
        raise SystemExit(f"run.py {' '.join(overrides)} failed (exit {done.returncode}); see {log}")


def measured(metrics: dict[str, Any], metric: str) -> tuple[float, dict[str, float]]:
    """The network's figure and each classical method's (not the input's) for ``metric``."""
    suffix = metric.split("/", 1)[1]
    baselines = {
        key.split("/", 1)[0]: float(value)
        for key, value in metrics.items()
        if key.endswith("/" + suffix) and key.split("/", 1)[0] not in ("network", "input")
    }
    return float(metrics[metric]), baselines


def slim_checkpoint(source: Path, target: Path, extra: dict[str, Any]) -> None:
    """``source`` without optimiser state, its card completed with ``extra``, at ``target``."""
    ckpt = torch.load(source, map_location="cpu", weights_only=True)
    card = migrate_card(ckpt)
    card.update(extra)
    keep = ("state_dict", "hyper_parameters", "pytorch-lightning_version", "epoch", "global_step")
    slim = {key: ckpt[key] for key in keep if key in ckpt}
    slim[CARD_KEY] = card
    with atomic_path(target) as tmp:
        torch.save(slim, tmp)


def build(spec: Spec, work: Path, reuse: bool = False) -> dict[str, Any]:
    """Train and measure one model; its index entry (``reuse``: a run already in ``work``)."""
    work.mkdir(parents=True, exist_ok=True)
    paths = make_data(spec, work)
    train_dir, eval_dir = work / "train", work / "evaluate"
    train = [*filled(spec.train, paths), f"hydra.run.dir={train_dir}"]
    checkpoint = train_dir / "checkpoints" / spec.checkpoint
    if not (reuse and checkpoint.is_file()):
        run(train, work / "train.log")
    done = re.search(r"task train done in ([0-9.]+) s", (work / "train.log").read_text())
    seconds = float(done.group(1)) if done else None
    evaluate = [
        *filled(spec.evaluate, paths),
        f"ckpt_path={checkpoint}",
        f"hydra.run.dir={eval_dir}",
    ]
    run(evaluate, work / "evaluate.log")
    metrics = json.loads((eval_dir / "metrics.json").read_text())
    score, baselines = measured(metrics, spec.metric)
    file = f"{spec.name}@{spec.version}.ckpt"
    entry = {
        "name": spec.name,
        "version": spec.version,
        "file": file,
        "description": spec.description,
        "task": spec.task,
        "trained_on": spec.trained_on,
        "metric": spec.metric,
        "score": round(score, 3),
        "baselines": {k: round(v, 3) for k, v in sorted(baselines.items())},
        "train": spec.train,
        "evaluate": spec.evaluate,
        "data": spec.data,
    }
    evaluation = {
        "metric": spec.metric,
        "network": score,
        "baselines": baselines,
        "densities": metrics.get("densities"),
        "held_out": metrics.get("held_out"),
        "command": "python run.py " + " ".join(spec.evaluate) + " ckpt_path=CKPT",
    }
    pretrained = {
        **{k: entry[k] for k in ("name", "version", "description", "trained_on")},
        "train_command": "python run.py " + " ".join(spec.train),
        "train_seconds": seconds,
        "data": spec.data,
    }
    slim_checkpoint(
        checkpoint, WEIGHTS_DIR / file, {"evaluation": evaluation, "pretrained": pretrained}
    )
    print(
        f"{spec.name}@{spec.version}: {spec.metric} {score:.2f} dB "
        f"({', '.join(f'{k} {v:.2f}' for k, v in sorted(baselines.items()))}); "
        f"trained in {seconds} s",
        flush=True,
    )
    return entry


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", help="comma-separated names (default: all)")
    parser.add_argument(
        "--work", type=Path, help="keep the runs here (default: a temporary folder)"
    )
    parser.add_argument(
        "--reuse", action="store_true", help="measure and package runs already in --work"
    )
    args = parser.parse_args()
    names = args.only.split(",") if args.only else [s.name for s in SPECS]
    unknown = sorted(set(names) - {s.name for s in SPECS})
    if unknown:
        raise SystemExit(f"--only: unknown {unknown}; allowed: {[s.name for s in SPECS]}")
    WEIGHTS_DIR.mkdir(parents=True, exist_ok=True)
    index_path = WEIGHTS_DIR / INDEX_FILE
    index = json.loads(index_path.read_text()) if index_path.is_file() else {"models": []}
    with tempfile.TemporaryDirectory() as tmp:
        work = args.work or Path(tmp)
        for spec in (s for s in SPECS if s.name in names):
            entry = build(spec, work / spec.name, args.reuse)
            index["models"] = [
                m for m in index["models"] if (m["name"], m["version"]) != (spec.name, spec.version)
            ] + [entry]
            index["models"].sort(key=lambda m: (m["name"], m["version"]))
            atomic_write_text(index_path, json.dumps(index, indent=2) + "\n")
    print(f"wrote {index_path}")


if __name__ == "__main__":
    main()
