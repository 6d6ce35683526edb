"""SEG-Y import against its floor: segyio reading every trace, on generated >= 1 GB files.

    python scripts/bench_ingest.py                       # a cube and shot gathers, 1 GB each
    python scripts/bench_ingest.py --size-gb 0.2 --only cube --mdio

The floor is the least any import must do, as a 6-line segyio script: read the sort key
(``attributes``), read every trace (``trace.raw[:]``), sort them and write one ``.npy``.
Against it: ``segy_to_zarr`` (the store with ``trace_mask`` and every ``headers/<field>``)
at ``--workers`` 1 and N, and with ``--mdio`` MDIO's own import (``segy_to_mdio``, once).
Every run is a fresh process on a file the page cache holds (the runs alternate, median
of ``--repeats``), timed around the work itself; peak RSS is the process's own. Prints a
table with each ratio to the floor and writes JSON (default outputs/bench/ingest.json).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import segyio

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

#: how each layout is sorted on import
SORTS = {"cube": ["INLINE_3D", "CROSSLINE_3D"], "shots": ["FieldRecord"]}
N_SAMPLES = 1500


def write_cube(path: Path, size_gb: float) -> None:
    """A post-stack cube of IBM floats, inline-major, ``size_gb`` of traces."""
    traces = int(size_gb * 1e9 / (240 + 4 * N_SAMPLES))
    n_xl = 240
    n_il = max(1, traces // n_xl)
    write_traces(
        path,
        n_il * n_xl,
        lambda i: {
            segyio.TraceField.INLINE_3D: 100 + i // n_xl,
            segyio.TraceField.CROSSLINE_3D: 300 + i % n_xl,
            segyio.TraceField.CDP_X: 600000 + 25 * (i % n_xl),
            segyio.TraceField.CDP_Y: 6000000 + 25 * (i // n_xl),
        },
    )


def write_shots(path: Path, size_gb: float) -> None:
    """Shot gathers of 480 channels of IBM floats, ``size_gb`` of traces."""
    traces = int(size_gb * 1e9 / (240 + 4 * N_SAMPLES))
    channels = 480
    write_traces(
        path,
        (traces // channels) * channels,
        lambda i: {
            segyio.TraceField.FieldRecord: 1 + i // channels,
            segyio.TraceField.TraceNumber: 1 + i % channels,
            segyio.TraceField.offset: 25 * (i % channels - channels // 2),
            segyio.TraceField.SourceX: 500000 + 50 * (i // channels),
        },
    )


def write_traces(path: Path, n_traces: int, header) -> None:
    spec = segyio.spec()
    spec.format, spec.samples, spec.tracecount = 1, list(range(N_SAMPLES)), n_traces
    rng = np.random.default_rng(0)
    block = rng.normal(size=(256, N_SAMPLES)).astype(np.float32)
    with segyio.create(str(path), spec) as f:
        f.bin.update(hdt=2000, hns=N_SAMPLES, format=1)
        for i in range(n_traces):
            f.header[i] = {
                segyio.TraceField.TRACE_SEQUENCE_FILE: i + 1,
                segyio.TraceField.TRACE_SAMPLE_COUNT: N_SAMPLES,
                segyio.TraceField.TRACE_SAMPLE_INTERVAL: 2000,
                **header(i),
            }
            f.trace[i] = block[i % 256] * (1 + i % 7)


def floor(source: Path, target: Path, key: str) -> None:
    """The floor script: the sort key, every trace, sorted, one .npy."""
    with segyio.open(str(source), ignore_geometry=True) as f:
        keys = f.attributes(segyio.tracefield.keys[key])[:]
        traces = f.trace.raw[:]
    np.save(target, traces[np.argsort(keys, kind="stable")])


def child(method: str, source: Path, target: Path, layout: str, workers: int) -> None:
    """One timed run in this process; prints its seconds and peak RSS as JSON.

    Imports happen before the clock starts; the peak RSS is this process's own high-water
    mark (``VmHWM``: ``ru_maxrss`` would carry the parent's across ``exec``).
    """
    if method == "floor":
        work = lambda: floor(source, target.with_suffix(".npy"), SORTS[layout][0])  # noqa: E731
    elif method == "mdio":
        from promethium.data.mdio import segy_to_mdio

        template = "PostStack3DTime" if layout == "cube" else "PreStackShotGathers2DTime"
        work = lambda: segy_to_mdio(source, target.with_suffix(".mdio"), template, True)  # noqa: E731
    else:
        from promethium.data.segy import segy_to_zarr

        kwargs = {"workers": workers} if workers != 1 else {}
        work = lambda: segy_to_zarr(  # noqa: E731
            source, target, SORTS[layout], overwrite=True, progress=False, **kwargs
        )
    start = time.perf_counter()
    work()
    seconds = time.perf_counter() - start
    print(json.dumps({"seconds": seconds, "rss_mb": peak_rss_mb()}))


def peak_rss_mb() -> float:
    """This process's peak resident memory (MB), from ``/proc/self/status``."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def run_child(method: str, source: Path, target: Path, layout: str, workers: int) -> dict:
    out = subprocess.run(
        [
            sys.executable,
            __file__,
            "--child",
            method,
            str(source),
            str(target),
            layout,
            str(workers),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if out.returncode:
        raise SystemExit(f"{method} on {source.name} failed:\n{out.stderr[-2000:]}")
    for path in (target, target.with_suffix(".npy"), target.with_suffix(".mdio")):
        shutil.rmtree(path, ignore_errors=True) if path.is_dir() else path.unlink(missing_ok=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-gb", type=float, default=1.0)
    parser.add_argument("--only", choices=list(SORTS), help="one layout (default: both)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--workers", type=int, default=os.cpu_count() or 1, help="the N of N workers"
    )
    parser.add_argument("--mdio", action="store_true", help="also MDIO's import (once: slow)")
    parser.add_argument("--work", type=Path, help="folder for the files (default: a temporary one)")
    parser.add_argument("--out", default=str(ROOT / "outputs" / "bench" / "ingest.json"))
    parser.add_argument("--child", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        method, source, target, layout, workers = args.child
        child(method, Path(source), Path(target), layout, int(workers))
        return
    from _bench import report

    rows = []
    with tempfile.TemporaryDirectory(dir=args.work) as tmp:
        folder = Path(tmp)
        for layout in [args.only] if args.only else list(SORTS):
            source = folder / f"{layout}.sgy"
            start = time.perf_counter()
            (write_cube if layout == "cube" else write_shots)(source, args.size_gb)
            print(
                f"wrote {source.name}: {source.stat().st_size / 1e9:.2f} GB "
                f"in {time.perf_counter() - start:.0f} s",
                flush=True,
            )
            methods = {"floor": ("floor", 1), "promethium, 1 worker": ("promethium", 1)}
            if args.workers > 1 and supports_workers():
                methods[f"promethium, {args.workers} workers"] = ("promethium", args.workers)
            runs: dict[str, list[dict]] = {name: [] for name in methods}
            run_child("floor", source, folder / "warm", layout, 1)  # the page cache holds it
            for _ in range(args.repeats):
                for name, (method, workers) in methods.items():
                    runs[name].append(run_child(method, source, folder / "out", layout, workers))
            if args.mdio:
                runs["MDIO segy_to_mdio"] = [run_child("mdio", source, folder / "out", layout, 1)]
            floor_s = statistics.median(r["seconds"] for r in runs["floor"])
            for name, done in runs.items():
                seconds = statistics.median(r["seconds"] for r in done)
                rows.append(
                    {
                        "layout": layout,
                        "GB": round(source.stat().st_size / 1e9, 2),
                        "method": name,
                        "median_s": seconds,
                        "x_floor": seconds / floor_s,
                        "MB/s": source.stat().st_size / 1e6 / seconds,
                        "peak_rss_mb": max(r["rss_mb"] for r in done),
                    }
                )
            source.unlink()
    report("SEG-Y import against the floor (segyio reading every trace)", rows, args.out)


def supports_workers() -> bool:
    import inspect

    from promethium.data.segy import segy_to_zarr

    return "workers" in inspect.signature(segy_to_zarr).parameters


if __name__ == "__main__":
    main()
