"""Tiled inference: our engine against the forward-only floor and MONAI's sliding window.

    pip install monai   # benchmark environment only; not a project dependency
    python scripts/bench_infer.py --threads 2 --out outputs/bench/infer.json

Part 1 (speed): one model, volume, patch size, overlap and batch size; times
(a) the network alone on the pre-extracted patches of our grid (the floor),
(b) ``tiled_predict`` (extraction, batching, blending, normalisation included),
(c) MONAI's ``sliding_window_inference`` (gaussian blending, its closest window).
Ratios to the floor are computed within the run (machines are noisy).

Part 2 (memory): a Zarr volume ``--stream-factor`` times larger than ``--cap-mb`` is
streamed Zarr to Zarr by ``stream_predict`` in a fresh child process, whose peak
resident memory (``VmHWM``, imports of torch and zarr included) is compared with the
cap. The network there is one 3x3 convolution, so that the run takes a minute rather
than an hour on a CPU: what is measured is the engine's and the I/O's memory.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from _bench import report, time_interleaved

from promethium.inference import TileGrid, tiled_predict
from promethium.models import UNet
from promethium.tiling import resolve_overlap


def floor_batches(x: np.ndarray, patch: int, overlap: float, batch: int) -> list[torch.Tensor]:
    """The patches ``tiled_predict`` predicts, pre-extracted and batched."""
    grid = TileGrid(x.shape[1:], (patch, patch), resolve_overlap(overlap, (patch, patch)))
    slices = grid.patch_slices(grid.starts)
    patches = np.stack([g[sl] for g in x for sl in slices])[:, None]
    return [torch.from_numpy(patches[i : i + batch]) for i in range(0, len(patches), batch)]


def speed(args: argparse.Namespace, depth: int, base: int) -> list[dict]:
    torch.manual_seed(0)
    dev = torch.device(args.device)
    net = UNet(2, depth=depth, base_channels=base, stem_stride=args.stem_stride).eval().to(dev)
    label = f"unet d{depth} b{base} s{args.stem_stride}"
    x = np.random.default_rng(0).standard_normal(args.volume).astype(np.float32)
    batches = [b.to(dev) for b in floor_batches(x, args.patch, args.overlap, args.batch)]
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    n_patches = sum(len(b) for b in batches)

    def forward_only() -> None:
        with torch.inference_mode():
            for b in batches:
                net(b)
        sync()

    def ours() -> None:
        tiled_predict(
            net,
            x,
            args.patch,
            args.overlap,
            args.batch,
            device=dev,
            num_workers=0 if dev.type == "cpu" else 1,
        )

    rows = [("forward only (floor)", forward_only), ("promethium tiled_predict", ours)]
    if dev.type == "cuda":  # MONAI's default setting: the volume and the output on the GPU
        resident = torch.from_numpy(x).to(dev)

        def ours_resident() -> None:
            tiled_predict(net, resident, args.patch, args.overlap, args.batch, device=dev)
            sync()

        rows.append(("promethium tiled_predict, volume on the GPU", ours_resident))
    if args.profile:
        profile(dict(rows)["promethium tiled_predict"], dev, Path(args.out), label)
    try:
        from monai.inferers import sliding_window_inference

        def monai(volume: torch.Tensor, **where: Any) -> Callable[[], None]:
            def call() -> None:
                with torch.inference_mode():
                    sliding_window_inference(
                        volume,
                        (args.patch, args.patch),
                        args.batch,
                        net,
                        overlap=args.overlap,
                        mode="gaussian",
                        **where,
                    )
                sync()

            return call

        volume = torch.from_numpy(x)[:, None]
        rows.append(("MONAI sliding_window_inference", monai(volume.to(dev))))
        if dev.type == "cuda":  # our in/out arrays live on the host: MONAI the same way
            host = monai(volume, sw_device=dev, device="cpu")
            rows.append(("MONAI, host in/out (sw_device=cuda)", host))
    except ImportError:
        print("monai not installed: skipping its row (pip install monai)")
    timings = time_interleaved(dict(rows), args.repeats)
    results = [
        {"model": label, "method": name, "patches": n_patches, **timings[name]} for name, _ in rows
    ]
    floor = results[0]["median_s"]
    for r in results:
        r["x_floor"] = r["median_s"] / floor
        r["patches_per_s"] = r["patches"] / r["median_s"]
    return results


def profile(fn: Callable[[], None], dev: torch.device, out: Path, label: str) -> None:
    """Write torch.profiler's op table of one ``fn()`` run next to ``out`` (after a warm-up).

    For finding where the time over the floor goes: self CUDA time per op on a GPU (copies,
    gathers, scatter-adds against convolutions), self CPU time otherwise.
    """
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as torch_profile

    fn()
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if dev.type == "cuda" else [])
    with torch_profile(activities=activities) as prof:
        fn()
    sort = "self_cuda_time_total" if dev.type == "cuda" else "self_cpu_time_total"
    table = prof.key_averages().table(sort_by=sort, row_limit=30)
    path = out.with_name(f"{out.stem}_profile_{label.replace(' ', '_')}.txt")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(table)
    print(table)
    print(f"wrote {path}")


CHILD = """
import json, sys, time, torch, zarr
from pathlib import Path
from promethium.inference.predict import make_layout
from promethium.inference.streaming import stream_predict
torch.set_num_threads({threads})
net = torch.nn.Conv2d(1, 1, 3, padding=1).eval()  # cheap stand-in: memory is the subject
net.spatial_dims = 2
data = zarr.open_group({src!r}, mode="r")["amplitude"]
layout = make_layout(data, 2, {patch}, {overlap})
start = time.perf_counter()
s = stream_predict(net, layout, Path({dst!r}), {{}}, {{}}, batch_size={batch}, num_workers=1)
s["seconds"] = time.perf_counter() - start
for line in open("/proc/self/status"):
    if line.startswith("VmHWM:"):
        s["peak_rss_mb"] = int(line.split()[1]) / 1024
print(json.dumps(s))
"""


def memory(args: argparse.Namespace, folder: Path) -> dict:
    import zarr

    from promethium.data.store import store_attrs

    n_traces, n_samples = 1000, 1000
    gather_mb = n_traces * n_samples * 4 / 2**20
    n_gathers = int(np.ceil(args.stream_factor * args.cap_mb / gather_mb))
    src, dst = folder / "big.zarr", folder / "big_out.zarr"
    group = zarr.open_group(str(src), mode="w")
    group.attrs.update(
        store_attrs(
            dt=0.004,
            dx=[None, 12.5],
            axis_names=["gather", "trace", "time"],
            provenance="scripts/bench_infer.py random data",
        )
    )
    arr = group.create_array(
        "data",
        shape=(n_gathers, n_traces, n_samples),
        chunks=(1, n_traces, n_samples),
        dtype="float32",
        compressors=None,
    )
    rng = np.random.default_rng(1)
    for g in range(n_gathers):  # written gather by gather: this process stays small too
        arr[g] = rng.standard_normal((n_traces, n_samples), dtype=np.float32)
    volume_mb = n_gathers * gather_mb
    code = CHILD.format(
        threads=args.threads,
        src=str(src),
        dst=str(dst),
        patch=args.patch,
        overlap=args.overlap,
        batch=args.batch,
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    summary = json.loads(out.stdout.strip().splitlines()[-1])
    return {
        "volume_mb": round(volume_mb, 1),
        "cap_mb": args.cap_mb,
        "peak_rss_mb": round(summary["peak_rss_mb"], 1),
        "under_cap": summary["peak_rss_mb"] < args.cap_mb,
        "seconds": round(summary["seconds"], 1),
        "patches": summary["patches"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--volume", type=int, nargs=3, default=[4, 384, 512])
    parser.add_argument("--patch", type=int, default=128)
    parser.add_argument("--overlap", type=float, default=0.25)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--depth", type=int, default=3)
    parser.add_argument("--base", type=int, default=16)
    parser.add_argument("--stem-stride", type=int, default=2, help="1: full-resolution level 0")
    parser.add_argument("--profile", action="store_true", help="op table of one tiled_predict")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--cap-mb", type=float, default=500.0)
    parser.add_argument("--stream-factor", type=float, default=4.0)
    parser.add_argument("--skip-memory", action="store_true")
    parser.add_argument("--out", default="outputs/bench/infer.json")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    rows = speed(args, args.depth, args.base) + speed(args, 2, 4)  # default and a tiny net
    mem = None
    if not args.skip_memory:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=Path(args.out).parent) as tmp:
            started = time.perf_counter()
            mem = memory(args, Path(tmp))
            mem["total_seconds"] = round(time.perf_counter() - started, 1)
        print("streaming memory:", json.dumps(mem))
    report(
        f"Tiled inference, volume {args.volume}, patch {args.patch}, overlap {args.overlap}, "
        f"batch {args.batch}, {args.threads} threads",
        rows,
        args.out,
        settings=vars(args),
        streaming_memory=mem,
    )


if __name__ == "__main__":
    main()
