"""Forward + backward time of our 2D U-Net against MONAI's UNet of the same depth and width.

    pip install monai   # benchmark environment only; not a project dependency
    python scripts/bench_models.py --threads 2 --out outputs/bench/models.json

Both networks see the same (8, 1, 128, 128) batch; time is the median of several
forward+backward passes. ``s_per_Mparam`` normalises by parameter count, since the
two designs spend parameters differently, and ``gflop_per_s`` normalises by work done.
Our default U-Net (``stem_stride=2``) has MONAI's layout: the first, strided convolution
halves the resolution and every level runs there. ``stem_stride=1`` rows are the original
U-Net design with two 3x3 convolutions at full resolution on the way down and up (kept
for trace-level detail), about 4x the FLOPs per parameter.
"""

from __future__ import annotations

import argparse

import torch
from _bench import report, time_interleaved
from torch.utils.flop_counter import FlopCounterMode

from promethium.models import UNet


def step(net: torch.nn.Module, x: torch.Tensor) -> None:
    net.zero_grad(set_to_none=True)
    net(x).square().mean().backward()


def gflop(net: torch.nn.Module, x: torch.Tensor) -> float:
    """Floating-point operations of one forward+backward pass (torch's flop counter)."""
    with FlopCounterMode(display=False) as counter:
        step(net, x)
    return counter.get_total_flops() / 1e9


def candidates(depth: int, base: int) -> dict[str, torch.nn.Module]:
    chans = [base * 2**i for i in range(depth + 1)]
    nets = {
        "promethium UNet (residual, default)": UNet(2, depth=depth, base_channels=base),
        "promethium UNet (plain)": UNet(2, depth=depth, base_channels=base, residual=False),
        "promethium UNet (residual+attention)": UNet(
            2, depth=depth, base_channels=base, attention=True
        ),
        "promethium UNet (residual, stem_stride=1)": UNet(
            2, depth=depth, base_channels=base, stem_stride=1
        ),
        "promethium UNet (plain, stem_stride=1)": UNet(
            2, depth=depth, base_channels=base, residual=False, stem_stride=1
        ),
    }
    try:
        from monai.networks.nets import UNet as MonaiUNet
    except ImportError:
        print("monai is not installed: pip install monai (benchmark only)")
        return nets
    nets["MONAI UNet (num_res_units=2)"] = MonaiUNet(
        2, 1, 1, channels=chans, strides=[2] * depth, num_res_units=2, norm="batch"
    )
    nets["MONAI UNet (num_res_units=0)"] = MonaiUNet(
        2, 1, 1, channels=chans, strides=[2] * depth, num_res_units=0, norm="batch"
    )
    return nets


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--depth", type=int, default=4)
    parser.add_argument("--base", type=int, default=32)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", default="outputs/bench/models.json")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    x = torch.randn(args.batch, 1, args.size, args.size)
    nets = candidates(args.depth, args.base)
    for net in nets.values():
        net.train()
    timings = time_interleaved(
        {name: (lambda net=net: step(net, x)) for name, net in nets.items()}, args.repeats
    )
    rows = []
    for name, net in nets.items():
        timing = timings[name]
        params = sum(p.numel() for p in net.parameters())
        flops = gflop(net, x)
        rows.append(
            {
                "model": name,
                "params": params,
                "gflop": flops,
                **timing,
                "gflop_per_s": flops / timing["median_s"],
                "s_per_Mparam": timing["median_s"] / (params / 1e6),
            }
        )
    reference = next(
        (r for r in rows if r["model"].startswith("MONAI UNet (num_res_units=2)")), None
    )
    for row in rows:
        if reference:
            row["time_vs_monai_res2"] = row["median_s"] / reference["median_s"]
            row["per_param_vs_monai_res2"] = row["s_per_Mparam"] / reference["s_per_Mparam"]
            row["per_flop_vs_monai_res2"] = reference["gflop_per_s"] / row["gflop_per_s"]
    report(
        f"2D U-Net forward+backward, batch {tuple(x.shape)}, depth {args.depth}, "
        f"base {args.base}, {args.threads} threads",
        rows,
        args.out,
    )


if __name__ == "__main__":
    main()
