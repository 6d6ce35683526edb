"""Cost of the wave-equation term in a U-Net training step on a 3D wavefield volume.

    python scripts/bench_physics.py --threads 2 --out outputs/bench/physics.json

Times one optimiser step (forward, loss, backward, Adam) of the ``model/pinn`` default
backbone on a (4, 1, 64, 64, 64) batch with the data loss alone and with data + physics
loss, alternating the two so that machine noise hits both alike.
"""

from __future__ import annotations

import argparse

import torch
from _bench import report, time_call

from promethium.ml.loss import DataLoss
from promethium.models import PhysicsInformedNet
from promethium.physics.wave_loss import WaveEquationLoss


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--order", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", default="outputs/bench/physics.json")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    net = PhysicsInformedNet(
        3,
        backbone={"name": "unet", "depth": 3, "base_channels": 16},
        axes=["z", "x", "t"],
        physics_weight=0.1,
        velocity=2000.0,
        dt=1e-3,
        dx=10.0,
        order=args.order,
    )
    shape = (args.batch, 1, args.size, args.size, args.size)
    x, target = torch.randn(shape), torch.randn(shape)
    velocity = torch.full((args.batch, 1, args.size, args.size), 2000.0)
    data_loss, physics = DataLoss("l1"), WaveEquationLoss(1e-3, 10.0, order=args.order)
    opt = torch.optim.Adam(net.parameters(), lr=1e-4)

    def step(with_physics: bool) -> None:
        opt.zero_grad(set_to_none=True)
        pred = net(x)
        loss = data_loss(pred, target)
        if with_physics:
            loss = loss + 0.1 * physics(pred, velocity=velocity)
        loss.backward()
        opt.step()

    totals = {False: [], True: []}
    for _ in range(args.repeats):  # interleave so drifts in machine load cancel
        for flag in (False, True):
            totals[flag].append(
                time_call(lambda flag=flag: step(flag), repeats=1, warmup=1)["median_s"]
            )
    physics_alone = time_call(lambda: physics(x, velocity=velocity), repeats=args.repeats)
    rows = []
    for flag, name in ((False, "data loss only"), (True, "data + physics loss")):
        times = sorted(totals[flag])
        rows.append({"step": name, "median_s": times[len(times) // 2], "min_s": times[0]})
    overhead = rows[1]["median_s"] / rows[0]["median_s"] - 1.0
    rows.append({"step": "physics loss forward alone", **physics_alone})
    report(
        f"U-Net training step on {shape}, order-{args.order} Laplacian, "
        f"{args.threads} threads; physics overhead {100 * overhead:.1f}%",
        rows,
        args.out,
        overhead_fraction=overhead,
    )


if __name__ == "__main__":
    main()
