"""Benchmark: training-step time of fp32 vs bf16 mixed precision (``train.precision``) for a config's model.

    python benchmarks/precision_speed.py --config configs/acdc/supervised_7.yaml --threads 1 --steps 8

One step = forward (under bf16 autocast or not) + Dice/CE loss in float32 + backward + AdamW, on a random
batch of the config's patch size and batch size, channels-last as the engine trains. The two precisions
alternate (fp32, bf16, fp32, bf16, ...) so that load drift hits both; the ratio is fp32 time / bf16 time
measured in the same run. Also prints the CPU's bf16 flags: without native bf16 (avx512_bf16 / amx_bf16)
bf16 is emulated and usually slower.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import torch

from cmrseg.config import load_config
from cmrseg.engine.precision import with_precision
from cmrseg.losses.registry import create_loss
from cmrseg.models.registry import create_model


def cpu_bf16_flags() -> str:
    try:
        flags = next(line for line in Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("flags"))
    except (OSError, StopIteration):
        return "unknown"
    found = [f for f in ("avx512_bf16", "amx_bf16") if f in flags.split()]
    return ", ".join(found) or "none (bf16 emulated)"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", default="configs/acdc/supervised_7.yaml")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--steps", type=int, default=8, help="timed steps per repeat")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    cfg = load_config(args.config, [])
    model = create_model(cfg.model).to(memory_format=torch.channels_last)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    loss_fn = create_loss("dice_ce", {})
    b, p = cfg.optim.batch_size, cfg.data.patch
    x = torch.randn(b, 1, p, p).to(memory_format=torch.channels_last)
    batch = {"image": x, "label": torch.randint(0, 4, (b, p, p))}
    nets = {prec: with_precision(model, prec, torch.device("cpu")) for prec in ("fp32", "bf16")}

    def step(prec: str) -> None:
        loss = loss_fn(nets[prec](x), batch)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    times: dict[str, list[float]] = {"fp32": [], "bf16": []}
    for prec in nets:  # warm-up: oneDNN builds its kernels per precision on first use
        step(prec)
    for _ in range(args.repeats):
        for prec in nets:
            t = time.perf_counter()
            for _ in range(args.steps):
                step(prec)
            times[prec].append((time.perf_counter() - t) / args.steps)
    fp32, bf16 = statistics.median(times["fp32"]), statistics.median(times["bf16"])
    print(f"config {args.config}: model {cfg.model.name} {cfg.model.params}, batch {b} x {p} x {p}, "
          f"{args.threads} thread(s), CPU bf16 flags: {cpu_bf16_flags()}")
    print(f"{'precision':>9}  {'s/step (median of repeats)':>26}  repeats")
    for prec, med in (("fp32", fp32), ("bf16", bf16)):
        print(f"{prec:>9}  {med:26.3f}  {', '.join(f'{t:.3f}' for t in times[prec])}")
    print(f"speed-up fp32/bf16: {fp32 / bf16:.2f}x")


if __name__ == "__main__":
    main()
