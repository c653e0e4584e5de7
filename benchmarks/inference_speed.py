"""Benchmark: end-to-end inference time per ACDC volume on this machine's CPU, per stage.

Stages: read NIfTI -> preprocess -> network -> restore to the input grid -> post-process -> write NIfTI.
Baseline measured in the same run: the same model with PyTorch's default (contiguous NCHW) memory format
and all slices of a volume in one batch, i.e. the straightforward implementation.
Target (foundation issue): <= 1 s per ACDC volume end to end on 2 cores.

    python benchmarks/inference_speed.py -c runs/acdc_sup70/checkpoints/best.pt --data ../shared/data/acdc
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from cmrseg.inference import Predictor
from cmrseg.io import load_dataset


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-c", "--checkpoint", required=True)
    ap.add_argument("--data", default="../shared/data/acdc")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--volumes", type=int, default=20, help="val volumes to time")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    refs = [r for r in load_dataset(args.data) if r.split == "val"][: args.volumes]
    out = Path(tempfile.mkdtemp())
    pred = Predictor.from_checkpoint(args.checkpoint, threads=args.threads)
    pred.predict_file(refs[0].image_path, out / "warmup.nii.gz")  # warm-up (allocator, lazy imports)
    pred.timings.clear()
    t0 = time.perf_counter()
    for r in refs:
        pred.predict_file(r.image_path, out / f"{r.case_id}.nii.gz")
    wall = (time.perf_counter() - t0) / len(refs)
    stages = pred.timing_summary()

    naive = Predictor.from_checkpoint(args.checkpoint, threads=args.threads, batch=32, channels_last=False)
    naive.predict_file(refs[0].image_path, out / "warmup.nii.gz")
    naive.timings.clear()
    t0 = time.perf_counter()
    for r in refs:
        naive.predict_file(r.image_path, out / f"{r.case_id}.nii.gz")
    naive_wall = (time.perf_counter() - t0) / len(refs)

    slices = np.mean([ref.load(with_label=False).shape[0] for ref in refs])
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch threads "
          f"{args.threads}; {len(refs)} ACDC val volumes ({slices:.1f} slices on average)")
    print(f"{'stage':<12}{'s/volume':>10}")
    for k in ("read", "preprocess", "network", "restore", "postprocess", "write"):
        print(f"{k:<12}{stages.get(k, float('nan')):>10.3f}")
    print(f"{'end-to-end':<12}{wall:>10.3f}   (target <= 1.0 s)")
    print(f"baseline (NCHW, whole volume in one batch): {naive_wall:.3f} s/volume; "
          f"speed-up x{naive_wall / wall:.2f}; slowest stage: {max(stages, key=stages.get)}")


if __name__ == "__main__":
    main()
