"""Diagnostics behind the synthetic Mumford-Shah findings (issue 3), no training of a network:

1. Warm-start targets: how many pixels of each slice the multi-Otsu levels of ``level_init`` label correctly,
   on the raw image and after a 3 x 3 median (``level_init.median``), on separately seeded shapes slices at the
   top noise level (sigma 0.05; seeds 0..N-1 of ``make_shapes_slice``, not the benchmark's val data).
2. Is the true partition a minimum of nested MS*? Free per-pixel logits (no network) start at the true
   partition (psi = 0.05 / 0.95) of 4 slices and are optimised with Adam on the nested MS* loss alone; the
   share of pixels whose hard psi still equals the truth is printed per 100 steps.
3. Would a bias-corrected image give right warm-start targets under a bias field? The median-filtered targets
   of the same kind of slices with the multiplicative bias field on: on the raw image, after SimpleITK's N4
   (image shifted to a positive minimum, shrink 2, 3 x 50 iterations, whole-image mask), and after dividing by
   the true field (oracle).

    python benchmarks/ms_warmstart_diagnostics.py [--slices 12] [--steps 400]
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from cmrseg.data.preprocess import normalise_intensity
from cmrseg.data.shapes import make_shapes_slice, make_shapes_volume
from cmrseg.losses.level_init import LevelInit
from cmrseg.losses.registry import create_loss
from cmrseg.models.heads import nested_targets

ORDER = [0, 2, 1, 3]  # the shapes data: BG < 2 < 1 < 3


def target_agreement(n_slices: int) -> None:
    print("1. multi-Otsu warm-start targets vs labels (share of pixels), sigma 0.05:")
    raw_acc, med_acc = [], []
    for seed in range(n_slices):
        image, label, _ = make_shapes_slice(np.random.default_rng(seed), noise=(0.05, 0.05))
        x = torch.from_numpy(normalise_intensity(image))[None, None]
        raw_acc.append(float((LevelInit(order=ORDER).targets(x, None)[0].numpy() == label).mean()))
        med_acc.append(float((LevelInit(order=ORDER, median=3).targets(x, None)[0].numpy() == label).mean()))
        print(f"   seed {seed:2d}: raw {raw_acc[-1]:.4f}   median 3x3 {med_acc[-1]:.4f}")
    print(f"   raw: min {min(raw_acc):.4f} median {np.median(raw_acc):.4f} max {max(raw_acc):.4f}; "
          f"median-filtered: min {min(med_acc):.4f} max {max(med_acc):.4f}")


def free_logit_stability(steps: int) -> None:
    print("2. nested MS* (TV 0.1, inclusion 1, no bias) on free per-pixel logits started at the true partition:")
    image, label, _ = make_shapes_volume(np.random.default_rng(7), 4)
    img = torch.from_numpy(normalise_intensity(image))[:, None]
    truth = nested_targets(torch.from_numpy(label).long())
    loss_fn = create_loss("ms_nested", {"tv_weight": 0.1, "inclusion_weight": 1.0, "use_bias": False})
    for lr in (1e-2, 1e-1):
        raw = torch.logit(truth * 0.9 + 0.05).requires_grad_(True)
        opt = torch.optim.Adam([raw], lr=lr)
        for step in range(steps + 1):
            loss = loss_fn({"psi": torch.sigmoid(raw)}, {"image": img})
            if step % 100 == 0:
                agree = ((raw.detach() > 0) == truth.bool()).float().mean(dim=(0, 2, 3))
                print(f"   Adam lr {lr:g} step {step:3d}: loss {float(loss.detach()):.4f}, hard psi = truth for "
                      f"LV {agree[0]:.4f} / LV+Myo {agree[1]:.4f} / RV {agree[2]:.4f} of pixels")
            opt.zero_grad()
            loss.backward()
            opt.step()


def n4_corrected(image: np.ndarray) -> np.ndarray:
    """``image`` divided by SimpleITK's N4 bias-field estimate (shifted to a positive minimum first)."""
    import SimpleITK as sitk

    shifted = sitk.GetImageFromArray((image - image.min() + 0.1 * image.std()).astype(np.float32))
    n4 = sitk.N4BiasFieldCorrectionImageFilter()
    n4.SetMaximumNumberOfIterations([50, 50, 50])
    small = sitk.Shrink(shifted, [2, 2])
    n4.Execute(small, sitk.Cast(small * 0 + 1, sitk.sitkUInt8))
    log_field = sitk.GetArrayFromImage(n4.GetLogBiasFieldAsImage(shifted))
    return sitk.GetArrayFromImage(shifted) / np.exp(log_field)


def bias_target_agreement(n_slices: int) -> None:
    print("3. median-filtered multi-Otsu targets vs labels under the bias field, sigma 0.05:")
    rows = {"raw": [], "N4": [], "oracle": []}
    init = LevelInit(order=ORDER, median=3)
    for seed in range(n_slices):
        image, label, field = make_shapes_slice(np.random.default_rng(seed), bias=True, noise=(0.05, 0.05))
        for name, img in (("raw", image), ("N4", n4_corrected(image)), ("oracle", image / field)):
            x = torch.from_numpy(normalise_intensity(img.astype(np.float32)))[None, None]
            rows[name].append(float((init.targets(x, None)[0].numpy() == label).mean()))
        print(f"   seed {seed:2d}: " + "   ".join(f"{k} {v[-1]:.4f}" for k, v in rows.items()))
    print("   " + "; ".join(f"{k}: min {min(v):.4f} median {np.median(v):.4f}" for k, v in rows.items()))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--slices", type=int, default=12)
    ap.add_argument("--steps", type=int, default=400)
    args = ap.parse_args()
    torch.manual_seed(0)
    target_agreement(args.slices)
    free_logit_stability(args.steps)
    bias_target_agreement(args.slices)


if __name__ == "__main__":
    main()
