"""CUDA smoke check: inference and a short training run on the GPU, compared with the CPU.

    python scripts/check_cuda.py --out outputs/bench/cuda_check.json

Needs a CUDA device (exits 2 without one). Checks that ``tiled_predict`` gives the CPU
result on CUDA (32-bit; bf16/fp16 within their precision), that the streaming path runs
there, and that ``python run.py`` style training picks the GPU with
``trainer.accelerator=auto`` and trains one epoch of the default experiment.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="outputs/bench/cuda_check.json")
    args = parser.parse_args()
    if not torch.cuda.is_available():
        print("no CUDA device")
        sys.exit(2)
    from promethium.api import compose, load_model, train
    from promethium.inference import tiled_predict
    from promethium.models import UNet

    result: dict = {"device": torch.cuda.get_device_name(0), "torch": torch.__version__}
    torch.manual_seed(0)
    net = UNet(spatial_dims=2, depth=3, base_channels=16).eval()
    x = np.random.default_rng(0).standard_normal((4, 300, 517)).astype(np.float32)
    cpu = tiled_predict(net, x, 128, 0.5, 8, device="cpu")
    scale = float(np.abs(cpu).max())
    for precision in ("32", "bf16-mixed", "16-mixed"):
        start = time.perf_counter()
        gpu = tiled_predict(net, x, 128, 0.5, 32, device="cuda", precision=precision)
        result[f"infer_{precision}_max_rel_err"] = float(np.abs(gpu - cpu).max() / scale)
        result[f"infer_{precision}_s"] = time.perf_counter() - start
    ident = torch.nn.Conv3d(1, 1, 1, bias=False)
    torch.nn.init.ones_(ident.weight)
    ident.spatial_dims = 3
    cube = np.random.default_rng(1).standard_normal((37, 45, 51)).astype(np.float32)
    for overlap in (0.0, 0.5, 0.75):
        same = tiled_predict(ident, cube, 16, overlap, 16, device="cuda")
        key = f"identity_3d_overlap_{overlap}_max_rel_err"
        result[key] = float(np.abs(same - cube).max() / np.abs(cube).max())
    with tempfile.TemporaryDirectory() as tmp:
        import zarr

        from promethium.inference.predict import make_layout
        from promethium.inference.streaming import stream_predict

        store = zarr.open_group(f"{tmp}/in.zarr", mode="w")
        amplitude = store.create_array(
            "amplitude", shape=x.shape, chunks=(1, 150, 517), dtype="float32"
        )
        amplitude[...] = x
        layout = make_layout(store["amplitude"], 2, 128, 0.5)
        summary = stream_predict(
            net, layout, Path(tmp) / "out.zarr", {}, {}, batch_size=32, device=torch.device("cuda")
        )
        streamed = zarr.open_group(summary["work_store"], mode="r")["amplitude"][...]
        in_memory = tiled_predict(net, x, 128, 0.5, 32, device="cuda")
        result["streaming_vs_in_memory_cuda_max_rel_err"] = float(
            np.abs(streamed - in_memory).max() / scale
        )
    with tempfile.TemporaryDirectory() as tmp:
        cfg = compose(
            ["trainer.max_epochs=1", "trainer.accelerator=auto", "logger=tensorboard"],
            output_dir=Path(tmp) / "run",
        )
        start = time.perf_counter()
        metrics = train(cfg)
        result["train_1_epoch_s"] = time.perf_counter() - start
        result["train_metrics"] = {k: v for k, v in metrics.items() if isinstance(v, float)}
        ckpt = Path(tmp) / "run" / "checkpoints" / "last.ckpt"
        trained = load_model(ckpt, map_location="cuda")
        result["trained_on"] = str(next(trained.parameters()).device)
        out = tiled_predict(trained, x, [32, 64], 0.25, 64, device="auto")
        result["trained_infer_finite"] = bool(np.isfinite(out).all())
    print(json.dumps(result, indent=2))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
