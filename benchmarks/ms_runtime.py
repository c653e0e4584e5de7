"""Benchmark (issue 3, evidence 4): run time per slice, network forward vs the classical level-set comparator.

Kim & Ye (2020) claim a large speed-up of the network over iterative level-set segmentation. Measured here
on this machine's CPU, on the same slices:

* network: forward pass of the default U-Net (features 16-256, ~1.9 M weights; weights random, timing only)
  on a batch of all slices at 224 x 224 px (the preprocessed grid: 1.5 mm, z-scored), softmax output; also the
  nested MS* + bias-head variant. Median of ``--repeats`` timed passes after one warm-up pass.
* Chan-Vese: ``cmrseg.baselines.chan_vese_multiphase`` (4 phases, 2 level sets, multi-Otsu start,
  ``--cv-iter`` iterations at most) on each slice in turn (numpy; effectively single-threaded).
* Slices: one per val volume (the mid slice among those where the ground truth has LV, Myo and RV) of the
  ACDC copy at ``--data``, ``--slices`` of them; a phantom dataset is written and used if ``--data`` is absent.
* Quality of Chan-Vese: 2D Dice per structure (mean over slices) after the best one-to-one assignment of its
  4 phases to the 4 classes, (i) one assignment for all slices (Hungarian on the pooled Dice matrix; the same
  protocol as the unsupervised MS models) and (ii) one per slice (an optimistic oracle), reported separately;
  and the same on a ``--roi`` px square centred on the ground-truth heart (an oracle region of interest, as
  classical pipelines assume a localised heart).

    python benchmarks/ms_runtime.py --data ../shared/data/acdc --slices 20 --threads 2
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

from cmrseg.baselines import chan_vese_multiphase, match_clusters
from cmrseg.data.preprocess import PreprocessConfig, preprocess
from cmrseg.io import load_dataset
from cmrseg.labels import LV, MYO, RV
from cmrseg.models.registry import ModelConfig, create_model


def pick_slices(root: Path, n: int, cfg: PreprocessConfig) -> tuple[np.ndarray, np.ndarray, str]:
    """``n`` preprocessed val slices (one per volume) with all three structures, their labels, a description."""
    refs = [r for r in load_dataset(root) if r.split == "val" and r.label_path is not None]
    refs = refs or [r for r in load_dataset(root) if r.label_path is not None]
    images, labels = [], []
    for ref in refs:
        pre = preprocess(ref.load(), cfg)
        full = [z for z in range(pre.label.shape[0]) if all((pre.label[z] == c).any() for c in (LV, MYO, RV))]
        if full:
            z = full[len(full) // 2]
            images.append(pre.image[z])
            labels.append(pre.label[z])
        if len(images) == n:
            break
    return np.stack(images), np.stack(labels), f"{len(images)} val slices of {root}"


def time_network(model: torch.nn.Module, x: torch.Tensor, repeats: int) -> float:
    """Median seconds of one batched forward pass (after a warm-up pass)."""
    model.eval()
    times = []
    with torch.inference_mode():
        torch.softmax(model(x)["logits"], 1)
        for _ in range(repeats):
            t0 = time.perf_counter()
            torch.softmax(model(x)["logits"], 1)
            times.append(time.perf_counter() - t0)
    return float(np.median(times))


def dice_2d(pred: np.ndarray, gt: np.ndarray, code: int) -> float:
    p, g = pred == code, gt == code
    denom = p.sum() + g.sum()
    return 1.0 if denom == 0 else float(2 * (p & g).sum() / denom)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default="../shared/data/acdc")
    ap.add_argument("--slices", type=int, default=20)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--cv-iter", type=int, default=300, help="Chan-Vese iteration cap")
    ap.add_argument("--cv-mu", type=float, default=0.02, help="Chan-Vese length weight")
    ap.add_argument("--roi", type=int, default=96, help="side (px) of the oracle heart ROI for Chan-Vese; 0 = skip")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    cfg = PreprocessConfig()
    root = Path(args.data)
    if not root.exists():
        from cmrseg.data.phantom import write_phantom_dataset

        n_val = (args.slices + 1) // 2  # two volumes (ED, ES) per patient
        root = write_phantom_dataset(Path(tempfile.mkdtemp()) / "phantom", n_patients=n_val + 1, n_val=n_val, seed=0)
        print(f"{args.data} not found: using a phantom dataset instead")
    images, labels, what = pick_slices(root, args.slices, cfg)
    n = len(images)
    x = torch.from_numpy(images)[:, None].float()

    net = {}
    for name, params in (("U-Net (softmax)", {}), ("U-Net nested MS* + bias head", {"output": "nested",
                                                                                     "bias_head": True})):
        model = create_model(ModelConfig(name="unet", params=params))
        n_params = sum(p.numel() for p in model.parameters())
        net[name] = (time_network(model, x, args.repeats) / n, n_params)

    def run_cv(imgs: np.ndarray) -> tuple[list[np.ndarray], float, float]:
        times, out, iters = [], [], []
        for img in imgs:
            t0 = time.perf_counter()
            res = chan_vese_multiphase(img, 4, mu=args.cv_mu, max_iter=args.cv_iter, return_result=True)
            times.append(time.perf_counter() - t0)
            out.append(res.label)
            iters.append(res.iterations)
        return out, float(np.sum(times) / len(imgs)), float(np.mean(iters))

    cv_labels, cv, cv_iters = run_cv(images)
    roi_rows = []
    if args.roi:
        crops = [roi_crop(img, lab, args.roi) for img, lab in zip(images, labels)]
        roi_imgs, roi_labs = np.stack([c[0] for c in crops]), np.stack([c[1] for c in crops])
        roi_cv, roi_t, roi_iters = run_cv(roi_imgs)
        roi_rows = [(f"Chan-Vese on {args.roi} px oracle ROI", roi_cv, list(roi_labs), roi_t, roi_iters)]

    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch "
          f"{torch.__version__}, torch threads {args.threads}, numpy {np.__version__}")
    print(f"slices: {what} ({images.shape[1]}x{images.shape[2]} px at {cfg.target_spacing} mm, one per volume, "
          f"mid slice with LV+Myo+RV); network batch = all {n} slices, median of {args.repeats} passes")
    print(f"\n{'method':<48}{'s/slice':>10}{'x network':>11}")
    base = net["U-Net (softmax)"][0]
    for name, (t, n_params) in net.items():
        print(f"{name + f' ({n_params / 1e6:.2f} M weights)':<48}{t:>10.4f}{t / base:>11.2f}")
    rows = [("Chan-Vese 4-phase, full slice", cv_labels, list(labels), cv, cv_iters), *roi_rows]
    for name, _, _, t, it in rows:
        print(f"{name:<48}{t:>10.4f}{t / base:>11.1f}   ({it:.0f} iterations on average, cap {args.cv_iter}, "
              f"mu {args.cv_mu})")
    print(f"speed-up of the network over Chan-Vese (full slice): x{cv / base:.0f} per slice")

    print(f"\nChan-Vese Dice (2D, mean over slices){'':<27}{'LV':>7}{'Myo':>7}{'RV':>7}{'mean':>7}")
    for name, preds, gts, _, _ in rows:
        mapping, _ = match_clusters(preds, gts, 4, 4)
        pooled = [np.mean([dice_2d(mapping[p], g, c) for p, g in zip(preds, gts)]) for c in (LV, MYO, RV)]
        oracle = [[], [], []]
        for p, g in zip(preds, gts):
            m, _ = match_clusters([p], [g], 4, 4)
            for i, c in enumerate((LV, MYO, RV)):
                oracle[i].append(dice_2d(m[p], g, c))
        for how, vals in (("one assignment for all slices", pooled),
                          ("per-slice assignment (oracle)", [np.mean(v) for v in oracle])):
            label = f"{name}: {how}"
            print(f"{label:<64}" + "".join(f"{v:>7.3f}" for v in vals) + f"{np.mean(vals):>7.3f}")
        print(f"{'':<4}phase -> class of the pooled assignment (phases numbered by intensity): {mapping.tolist()}")


def roi_crop(image: np.ndarray, label: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """``size`` px square of ``image`` / ``label`` centred on the ground-truth heart (clamped to the slice)."""
    ys, xs = np.nonzero(label > 0)
    h, w = image.shape
    y0 = int(np.clip(round(ys.mean()) - size // 2, 0, max(0, h - size)))
    x0 = int(np.clip(round(xs.mean()) - size // 2, 0, max(0, w - size)))
    return image[y0 : y0 + size, x0 : x0 + size], label[y0 : y0 + size, x0 : x0 + size]


if __name__ == "__main__":
    main()
