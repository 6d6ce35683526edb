"""The recipes' headline numbers against the figures recorded in ``docs/benchmarks.md``.

    python scripts/bench_recipes.py                 # the short recipes (~10 min on 2 cores)
    python scripts/bench_recipes.py --all           # and the 40-epoch Marmousi ones (~1 h)
    python scripts/bench_recipes.py --only denoise_dae_white0
    python scripts/bench_recipes.py --record        # write the measured figures as the record

Each recipe is trained by ``run.py`` exactly as a user would run it (seeded, CPU), and
its validation and test metrics are compared with the recorded ones. The table shows the
deltas; a recipe that falls more than ``--tolerance`` dB below its record is flagged
REGRESSED and the script exits 1, so a regression is seen before it lands. This is a
benchmark, not a test: it takes minutes per recipe.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from _bench import report

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "benchmarks.md"
START, END = "<!-- recipes:start -->", "<!-- recipes:end -->"
WHITE_NOISE_0DB = "corruption=white_noise"


@dataclass(frozen=True)
class Recipe:
    """A recipe run: its name in the table, its overrides, the metrics it is judged by."""

    name: str
    overrides: tuple[str, ...]
    metrics: tuple[str, ...] = ("val/snr", "test/snr")
    long: bool = False


RECIPES = [
    Recipe("interp_unet", ("experiment=interp_unet",)),
    Recipe("denoise_dae", ("experiment=denoise_dae",)),
    Recipe("denoise_dae_white0", ("experiment=denoise_dae", WHITE_NOISE_0DB)),
    Recipe("pinn_wavefield", ("experiment=pinn_wavefield",), ("val/loss", "test/loss")),
    Recipe(
        "marmousi_interp",
        ("experiment=marmousi_interp",),
        ("val/snr_global", "test/snr_global"),
        long=True,
    ),
    Recipe(
        "marmousi_denoise",
        ("experiment=marmousi_denoise",),
        ("val/snr_global", "test/snr_global"),
        long=True,
    ),
]


def _table() -> list[list[str]]:
    """The cells of each row of the recipes table in ``docs/benchmarks.md``."""
    text = DOC.read_text() if DOC.exists() else ""
    block = text.split(START, 1)[1].split(END, 1)[0] if START in text else ""
    rows = [
        [c.strip().strip("`") for c in line.strip().strip("|").split("|")]
        for line in block.splitlines()
    ]
    return [r for r in rows if len(r) >= 4 and re.fullmatch(r"-?\d+(\.\d+)?(e-?\d+)?", r[2])]


def recorded() -> dict[tuple[str, str], float]:
    """``(recipe, metric) -> value`` recorded in ``docs/benchmarks.md``."""
    return {(r[0], r[1]): float(r[2]) for r in _table()}


def train(recipe: Recipe, folder: Path) -> tuple[dict[str, float], float]:
    """Run the recipe with ``run.py``; its metrics and wall time."""
    run_dir = folder / recipe.name
    cmd = [
        sys.executable,
        str(ROOT / "run.py"),
        *recipe.overrides,
        "logger=none",
        "trainer.enable_progress_bar=false",
        f"hydra.run.dir={run_dir}",
    ]
    start = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{recipe.name} failed:\n{done.stderr[-3000:]}")
    return json.loads((run_dir / "metrics.json").read_text()), seconds


def record(rows: list[dict], when: str) -> None:
    """Write the measured figures as the recipes table of ``docs/benchmarks.md``."""
    old = recorded()
    new = {(r["recipe"], r["metric"]): r["measured"] for r in rows}
    merged = {**old, **new}
    lines = [START, "| recipe | metric | recorded | measured on |", "| --- | --- | --- | --- |"]
    dates = {key: when for key in new}
    previous = {(r[0], r[1]): r[3] for r in _table()}
    for (name, metric), value in sorted(merged.items()):
        date = dates.get((name, metric), previous.get((name, metric), ""))
        lines.append(f"| `{name}` | `{metric}` | {value:.3f} | {date} |")
    lines.append(END)
    text = DOC.read_text()
    before, rest = text.split(START, 1)
    after = rest.split(END, 1)[1]
    DOC.write_text(before + "\n".join(lines) + after)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--all", action="store_true", help="also the 40-epoch recipes")
    parser.add_argument("--only", nargs="*", default=None, help="recipe names to run")
    parser.add_argument("--tolerance", type=float, default=0.5, help="dB below the record")
    parser.add_argument(
        "--loss-tolerance", type=float, default=0.1, help="loss metrics: relative rise allowed"
    )
    parser.add_argument("--record", action="store_true", help="write measured as the record")
    parser.add_argument("--folder", type=Path, default=ROOT / "outputs" / "bench" / "recipes")
    parser.add_argument("--out", type=Path, default=ROOT / "outputs" / "bench" / "recipes.json")
    args = parser.parse_args()
    chosen = [
        r
        for r in RECIPES
        if (args.only is None or r.name in args.only) and (args.all or not r.long or args.only)
    ]
    figures = recorded()
    rows, regressed = [], False
    for recipe in chosen:
        metrics, seconds = train(recipe, args.folder)
        for metric in recipe.metrics:
            measured = metrics.get(metric)
            record_value = figures.get((recipe.name, metric))
            delta = None if measured is None or record_value is None else measured - record_value
            if metric.endswith("loss"):  # lower is better; judged relative to the record
                worse = delta is not None and delta > args.loss_tolerance * abs(record_value)
            else:
                worse = delta is not None and delta < -args.tolerance
            regressed |= worse
            rows.append(
                {
                    "recipe": recipe.name,
                    "metric": metric,
                    "recorded": record_value,
                    "measured": measured,
                    "delta": delta,
                    "seconds": round(seconds, 1),
                    "status": "REGRESSED" if worse else "ok" if delta is not None else "new",
                }
            )
    report("Recipes against docs/benchmarks.md", rows, args.out)
    if args.record:
        record([r for r in rows if r["measured"] is not None], time.strftime("%Y-%m-%d"))
        print(f"recorded in {DOC}")
    return 1 if regressed else 0


if __name__ == "__main__":
    sys.exit(main())
