"""Milliseconds per training step of each recipe (ablation row) per precision, and the ratio to the first config
measured in the same run.

    python benchmarks/recipe_step_time.py configs/recipes/supervised.yaml configs/recipes/painted.yaml \
        configs/recipes/copy_paste.yaml configs/recipes/semi.yaml --labelled 3 --steps 10 --threads 1 \
        --precisions bf16 fp32

Builds each config's data (real ACDC, preprocessing cached), runs ``--warmup`` steps, then times ``--steps``
steps of the engine (batches drawn and augmented, forward, terms, backward, AdamW, EMA) and prints the median.
The first config is the baseline of the ratios; each row also prints what its ingredient adds over the row
before it (the configs are given in ablation order). Used to size a sweep within its time budget per run.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import torch

from cmrseg.config import load_config
from cmrseg.device import resolve_device
from cmrseg.engine.distributed import DistContext
from cmrseg.engine.trainer import seed_everything, setup, step
from cmrseg.methods.base import create_method


def seconds_per_step(config: str, overrides: list[str], steps: int, warmup: int) -> float:
    cfg = load_config(config, overrides)
    torch.set_num_threads(cfg.train.threads)
    method = create_method(cfg.method)
    method.check(cfg)
    device = resolve_device(cfg.train.device)
    seed_everything(cfg.train.seed)
    state = setup(cfg, method, DistContext(), device, Path("/nonexistent/last.pt"), resume=False)
    state.model.train()
    times = []
    for it in range(warmup + steps):
        t0 = time.perf_counter()
        step(state, it + 1000, device, 0.0)  # past warm-up and ramp-ups: every term active
        if it >= warmup:
            times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("configs", nargs="+")
    ap.add_argument("--labelled", type=int, default=3)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--precisions", nargs="+", default=["bf16", "fp32"], choices=["bf16", "fp32"])
    args = ap.parse_args()
    print(f"\n{'config':40s} {'precision':>9s} {'ms/step':>8s} {'x first':>8s} {'+ms vs row above':>17s}")
    for precision in args.precisions:
        overrides = [f"data.labelled={args.labelled}", f"train.threads={args.threads}", "train.progress=false",
                     f"train.precision={precision}"]
        rows = [(c, 1000 * seconds_per_step(c, overrides, args.steps, args.warmup)) for c in args.configs]
        prev = None
        for c, ms in rows:
            added = "-" if prev is None else f"{ms - prev:+.0f}"
            print(f"{c:40s} {precision:>9s} {ms:8.0f} {ms / rows[0][1]:8.2f} {added:>17s}", flush=True)
            prev = ms


if __name__ == "__main__":
    main()
