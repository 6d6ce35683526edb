"""Training throughput of the full stack against a bare PyTorch loop, same model and batch.

    python scripts/bench_train.py --steps 40 --out outputs/bench/train.json

(a) bare loop: the U-Net of ``model/unet`` on in-memory tensors, Adam, L1 loss;
(b) full stack: ``python run.py``'s train task (Zarr SeismicDataset, augmentation,
    missing-trace corruption, Lightning Trainer with the default callbacks, TensorBoard),
    timed per training batch by a callback (validation runs but is not timed).
Both use the default experiment's patch size and batch size on the same threads.
"""

from __future__ import annotations

import argparse
import tempfile
import time

import lightning.pytorch as pl
import torch
from _bench import report

from promethium import api
from promethium.config import build_model
from promethium.tasks.builders import build_datamodule, build_module, build_trainer


class StepTimer(pl.Callback):
    """Wall time of training batches after ``skip`` warm-up batches."""

    def __init__(self, skip: int = 3) -> None:
        self.skip, self.count, self.start, self.elapsed = skip, 0, 0.0, 0.0

    def on_train_batch_start(self, trainer, module, batch, batch_idx) -> None:
        if self.count >= self.skip:
            self.start = time.perf_counter()

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx) -> None:
        if self.count >= self.skip:
            self.elapsed += time.perf_counter() - self.start
        self.count += 1


def bare_loop(cfg, steps: int) -> float:
    net = build_model(cfg.model)
    opt = torch.optim.AdamW(net.parameters(), lr=cfg.task.optimizer.lr)
    shape = (cfg.data.batch_size, 1, *cfg.data.patch_size)
    x, y = torch.randn(shape), torch.randn(shape)
    for _ in range(3):
        opt.zero_grad()
        torch.nn.functional.l1_loss(net(x), y).backward()
        opt.step()
    start = time.perf_counter()
    for _ in range(steps):
        opt.zero_grad()
        torch.nn.functional.l1_loss(net(x), y).backward()
        opt.step()
    return steps * shape[0] / (time.perf_counter() - start)


def full_stack(cfg, steps: int) -> float:
    timer = StepTimer()
    module, datamodule, trainer = build_module(cfg), build_datamodule(cfg), build_trainer(cfg)
    trainer.callbacks.append(timer)
    trainer.fit(module, datamodule=datamodule)
    return (timer.count - timer.skip) * cfg.data.batch_size / timer.elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--workers", type=int, default=0)
    parser.add_argument("--out", default="outputs/bench/train.json")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        cfg = api.compose(
            [
                f"data.samples_per_epoch={(args.steps + 3) * 16}",
                "trainer.max_epochs=1",
                "task.test=false",
                "~callbacks.qc_figures",
                f"data.num_workers={args.workers}",
                f"paths.cache_dir={tmp}/cache",
            ],
            output_dir=f"{tmp}/run",
        )
        torch.manual_seed(0)
        bare = bare_loop(cfg, args.steps)
        stack = full_stack(cfg, args.steps)
    rows = [
        {"loop": "bare PyTorch, in-memory tensors", "samples_per_s": bare, "vs_bare": 1.0},
        {
            "loop": f"full stack (Zarr + augment + Lightning, {args.workers} workers)",
            "samples_per_s": stack,
            "vs_bare": stack / bare,
        },
    ]
    report(
        f"Training throughput, batch {cfg.data.batch_size} x {list(cfg.data.patch_size)}, "
        f"model {cfg.model.name} depth {cfg.model.depth} base {cfg.model.base_channels}, "
        f"{args.threads} threads",
        rows,
        args.out,
    )


if __name__ == "__main__":
    main()
