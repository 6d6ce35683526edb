"""Patch throughput of SeismicDataset (Zarr, lazy) against in-memory numpy and np.memmap.

    python scripts/bench_data.py --gathers 2000 --out outputs/bench/data.json

Writes a random float32 store ``(gathers, traces, samples)`` (2 GB by default) as Zarr
(zstd-compressed ``zarr`` and uncompressed ``zarr_raw``) and as a raw ``.npy`` file,
then reads the same random patches from each source through the same DataLoader (batch
size, workers, missing-trace corruption), each method in its
own process so that its peak RSS (main process + workers) is its own.

Chunks hold whole traces ``(1, chunk_traces, samples)``, so a patch touches at most two
chunks. With the ``[mdio]`` extra the same data is also written as MDIO v1 datasets
(``mdio.to_mdio``, template ``StreamerShotGathers2D``, MDIO's blosc-zstd compression):
``mdio`` with the Zarr stores' chunks (``mdio_raw`` uncompressed, like ``zarr_raw``),
``mdio default chunks`` with the template's own
(16 shots x 32 channels x 2048 samples), read by the same ``SeismicDataset``.
``SeismicDataset`` reads local stores through :mod:`promethium.data.chunk_reader`
(chunk files read and decoded in the worker's own thread); zarr's own ``array[box]``,
which runs each read through its asyncio loop, is measured beside it as
``zarr_raw via zarr API``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import torch
from _bench import report
from torch.utils.data import DataLoader, Dataset

from promethium.data.dataset import EpochKeySampler, SeismicDataset
from promethium.data.store import store_attrs, write_store
from promethium.data.transforms import MissingTraces


class ArrayPatches(Dataset):
    """The same key -> patch draw as SeismicDataset's random mode, over a numpy array."""

    def __init__(self, array: np.ndarray, patch: tuple[int, int]) -> None:
        self.array, self.patch, self.corruption = array, patch, MissingTraces(0.5)

    def __len__(self) -> int:
        return 1 << 30

    def __getitem__(self, key: int) -> dict[str, torch.Tensor]:
        rng = np.random.default_rng(int(key))
        g = int(rng.integers(self.array.shape[0]))
        t0 = int(rng.integers(0, self.array.shape[1] - self.patch[0] + 1))
        s0 = int(rng.integers(0, self.array.shape[2] - self.patch[1] + 1))
        clean = np.array(self.array[g, t0 : t0 + self.patch[0], s0 : s0 + self.patch[1]])
        noisy, mask = self.corruption(clean, rng)
        return {
            "input": torch.from_numpy(noisy)[None],
            "target": torch.from_numpy(clean)[None],
            "mask": torch.from_numpy(np.array(np.broadcast_to(mask, clean.shape)))[None],
        }


class ZarrAPIPatches(SeismicDataset):
    """SeismicDataset reading through zarr's ``array[box]`` instead of the chunk reader."""

    @property
    def read_box(self):
        return lambda box: np.asarray(self.array[box])


class PeakRSS:
    """Samples the summed resident memory of this process and its children every 20 ms.

    (``getrusage`` is no use here: its ``ru_maxrss`` survives ``exec`` and reports the
    parent's peak.) Shared pages of forked workers count once per process, so the sum is
    an upper bound.
    """

    def __init__(self) -> None:
        self.peak, self._running = 0.0, True
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    @staticmethod
    def _rss_mb(pid: int) -> float:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
        except OSError:
            pass
        return 0.0

    def _tree(self) -> list[int]:
        pids, me = [], os.getpid()
        for task in Path(f"/proc/{me}/task").iterdir():
            children = (task / "children").read_text().split()
            pids += [int(c) for c in children]
        return [me, *pids]

    def _run(self) -> None:
        while self._running:
            self.peak = max(self.peak, sum(self._rss_mb(p) for p in self._tree()))
            time.sleep(0.02)

    def stop(self) -> float:
        """Stop sampling; return the peak in MiB."""
        self._running = False
        self._thread.join()
        return self.peak


def write_mdio(
    path: Path, data: np.ndarray, chunks: tuple[int, ...] | None, compress: bool = True
) -> bool:
    """``data`` as an MDIO v1 dataset (False without the ``[mdio]`` extra)."""
    try:
        import mdio
        from mdio.builder.template_registry import get_template
        from mdio.builder.xarray_builder import to_xarray_dataset
    except ImportError:
        return False
    template = get_template("StreamerShotGathers2D")
    ds = to_xarray_dataset(template.build_dataset("bench", sizes=data.shape))
    ds = ds.assign_coords(
        shot_point=np.arange(data.shape[0], dtype=np.int32),
        channel=np.arange(data.shape[1], dtype=np.int32),
        time=np.arange(data.shape[2], dtype=np.int32) * 4,
    )
    for name in ("source_coord_x", "source_coord_y", "group_coord_x", "group_coord_y"):
        ds[name] = ds[name].copy(data=np.zeros(ds[name].shape))
    encoding = dict(ds["amplitude"].encoding)
    ds["amplitude"] = ds["amplitude"].copy(data=data)
    ds["amplitude"].encoding = {**encoding, **({"chunks": chunks} if chunks else {})}
    if not compress:
        ds["amplitude"].encoding["compressors"] = None
    ds["trace_mask"] = ds["trace_mask"].copy(data=np.ones(data.shape[:2], dtype=bool))
    mdio.to_mdio(ds, str(path), mode="w")
    return True


def write_all_mdio(folder: Path, data: np.ndarray, chunk: tuple[int, int]) -> None:
    """The MDIO variants: the stores' chunks (compressed, and not), the template's chunks."""
    write_mdio(folder / "bench.mdio", data, (1, *chunk))
    write_mdio(folder / "bench_raw.mdio", data, (1, *chunk), compress=False)
    write_mdio(folder / "bench_default.mdio", data, None)


def make_data(folder: Path, shape: tuple[int, int, int], chunk: tuple[int, int]) -> None:
    store, plain, raw = folder / "bench.zarr", folder / "bench_raw.zarr", folder / "bench.npy"
    if store.exists() and plain.exists() and raw.exists():
        if not (folder / "bench.mdio").exists():
            write_all_mdio(folder, np.load(raw), chunk)
        return
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    data = rng.standard_normal(shape, dtype=np.float32)
    attrs = store_attrs(
        dt=0.004,
        dx=[None, 12.5],
        axis_names=["gather", "trace", "time"],
        provenance="scripts/bench_data.py random data",
    )
    write_store(store, data, attrs, chunks=(1, *chunk), overwrite=True)
    write_store(plain, data, attrs, chunks=(1, *chunk), overwrite=True, compress=False)
    np.save(raw, data)
    write_all_mdio(folder, data, chunk)


def measure(method: str, folder: Path, workers: int, patch: tuple[int, int], batches: int) -> dict:
    if method.startswith("mdio"):
        names = {"mdio": "bench.mdio", "mdio_raw": "bench_raw.mdio"}
        dataset = SeismicDataset(
            folder / names.get(method, "bench_default.mdio"),
            patch,
            mode="random",
            num_samples=1 << 30,
            corruption=MissingTraces(0.5),
        )
    elif method.startswith("zarr"):
        dataset = (ZarrAPIPatches if method == "zarr_api" else SeismicDataset)(
            folder / ("bench.zarr" if method == "zarr" else "bench_raw.zarr"),
            patch,
            mode="random",
            num_samples=1 << 30,
            corruption=MissingTraces(0.5),
        )
    elif method == "memmap":
        dataset = ArrayPatches(np.load(folder / "bench.npy", mmap_mode="r"), patch)
    else:
        dataset = ArrayPatches(np.load(folder / "bench.npy"), patch)
    sampler = EpochKeySampler(batches * 16 + 64, seed=1)
    loader = DataLoader(dataset, batch_size=16, sampler=sampler, num_workers=workers)
    peak = PeakRSS()
    it = iter(loader)
    for _ in range(2):  # warm-up: worker start, first chunk opens
        next(it)
    start = time.perf_counter()
    for _ in range(batches):
        next(it)
    elapsed = time.perf_counter() - start
    rss = peak.stop()
    del it, loader
    return {"patches_per_s": batches * 16 / elapsed, "peak_rss_mb": rss}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--folder", type=Path, default=Path("outputs/bench/data"))
    parser.add_argument("--gathers", type=int, default=2000)
    parser.add_argument("--traces", type=int, default=256)
    parser.add_argument("--samples", type=int, default=1024)
    parser.add_argument("--patch", type=int, nargs=2, default=[64, 256])
    parser.add_argument("--batches", type=int, default=100)
    parser.add_argument(
        "--chunk-traces",
        type=int,
        default=64,
        help="chunk = (1, chunk_traces, all samples): whole traces per chunk",
    )
    parser.add_argument("--out", default="outputs/bench/data.json")
    parser.add_argument("--child", nargs=2, metavar=("METHOD", "WORKERS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    torch.set_num_threads(1)
    patch = tuple(args.patch)
    if args.child:
        result = measure(args.child[0], args.folder, int(args.child[1]), patch, args.batches)
        print(json.dumps(result))
        return
    shape = (args.gathers, args.traces, args.samples)
    chunk = (args.chunk_traces, args.samples)
    make_data(args.folder, shape, chunk)
    size_mb = np.prod(shape) * 4 / 2**20
    rows = []
    found = (args.folder / "bench.mdio").exists()
    mdio = ["mdio", "mdio_raw", "mdio default chunks"] if found else []
    methods = ["numpy in memory", "memmap", "zarr", "zarr_raw", "zarr_raw via zarr API", *mdio]
    for method, workers in [(m, w) for w in (0, 2) for m in methods]:
        key = {
            "numpy in memory": "memory",
            "zarr_raw via zarr API": "zarr_api",
            "mdio default chunks": "mdio_default",
        }.get(method, method)
        cmd = [
            sys.executable,
            __file__,
            "--folder",
            str(args.folder),
            "--batches",
            str(args.batches),
            "--patch",
            *map(str, patch),
            "--child",
            key,
            str(workers),
        ]
        out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
        rows.append(
            {"source": method, "workers": workers, **json.loads(out.strip().splitlines()[-1])}
        )
    for row in rows:
        ref = next(r for r in rows if r["source"] == "memmap" and r["workers"] == row["workers"])
        row["vs_memmap"] = row["patches_per_s"] / ref["patches_per_s"]
        for name in ("zarr", "zarr_raw"):  # the same data in Promethium's own stores
            same = next(r for r in rows if r["source"] == name and r["workers"] == row["workers"])
            row[f"vs_{name}"] = row["patches_per_s"] / same["patches_per_s"]
    report(
        f"Random {patch} patches, batch 16, from a {size_mb:.0f} MB store {shape}",
        rows,
        args.out,
        store_mb=float(size_mb),
        zarr_chunks=[1, *chunk],
    )


if __name__ == "__main__":
    main()
