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
4. Could the warm start estimate the field itself? The classical alternation of the MS-with-bias energy on
   the median-filtered, z-scored image ``I ~ b(x) c_l + a`` (``a``: the unknown offset of the z-scoring,
   ``b``: a quadratic polynomial, class-balanced least squares) -- first fitted at the TRUE labels (the best
   case: how well is the field identifiable at all?), then alternated with 4-level multi-Otsu from ``b = 1``.

    python benchmarks/ms_warmstart_diagnostics.py [--slices 12] [--steps 400] [--parts 1 2 3 4]
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
from scipy.ndimage import median_filter

from cmrseg.data.preprocess import normalise_intensity
from cmrseg.data.shapes import make_shapes_slice, make_shapes_volume
from cmrseg.losses.level_init import LevelInit, multiotsu_levels
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


def _poly_basis(h: int, w: int, degree: int) -> np.ndarray:
    """(H*W, P) monomials x^i y^j, i + j <= degree, on [-1, 1]^2."""
    yy, xx = np.meshgrid(np.linspace(-1, 1, h), np.linspace(-1, 1, w), indexing="ij")
    return np.stack([(xx ** i * yy ** j).ravel() for i in range(degree + 1) for j in range(degree + 1 - i)], 1)


def fit_field(v: np.ndarray, lab: np.ndarray, basis: np.ndarray, k: int, steps: int = 5) -> tuple[np.ndarray, float]:
    """Fit ``v ~ b c_lab + a`` for fixed labels: alternate class means ``c`` and a class-balanced least-squares
    fit of ``(b, a)``, ``b`` in the span of ``basis``, normalised to mean 1."""
    b, a = np.ones_like(v), 0.0
    sw = np.sqrt(1.0 / np.maximum(np.bincount(lab, minlength=k), 1)[lab])
    for _ in range(steps):
        c = np.array([((v - a) * b)[lab == n].sum() / max(float((b ** 2)[lab == n].sum()), 1e-9) for n in range(k)])
        design = np.concatenate([basis * c[lab][:, None], np.ones((v.size, 1))], 1)
        sol = np.linalg.lstsq(design * sw[:, None], v * sw, rcond=None)[0]
        b, a = basis @ sol[:-1], float(sol[-1])
        b = np.clip(np.sign(b.mean()) * b / abs(b.mean()), 0.2, 5.0)
    return b, a


def field_estimate_agreement(n_slices: int, outer: int = 8) -> None:
    print("4. warm-start targets with the field estimated by alternation (quadratic b, offset a), sigma 0.05:")
    lut, rows = np.asarray(ORDER), {"true-label fit": [], "alternation": []}
    corr = {k: [] for k in rows}
    for seed in range(n_slices):
        image, label, field = make_shapes_slice(np.random.default_rng(seed), bias=True, noise=(0.05, 0.05))
        img = median_filter(normalise_intensity(image), 3).astype(np.float64)
        h, w = img.shape
        v, basis = img.ravel(), _poly_basis(h, w, 2)
        b, a = fit_field(v, label.ravel().astype(np.int64), basis, 4)
        fits = {"true-label fit": (b, a)}
        b, a = np.ones_like(v), 0.0
        for _ in range(outer):
            b, a = fit_field(v, multiotsu_levels(((v - a) / b).reshape(h, w), 4).ravel(), basis, 4, steps=3)
        fits["alternation"] = (b, a)
        for name, (b, a) in fits.items():
            levels = multiotsu_levels(((v - a) / b).reshape(h, w), 4)
            rows[name].append(float((lut[levels] == label).mean()))
            corr[name].append(float(np.corrcoef(b, field.ravel())[0, 1]))
        print(f"   seed {seed:2d}: " + "   ".join(f"{k} {rows[k][-1]:.4f} (corr(b, field) {corr[k][-1]:+.2f})"
                                             for k in rows))
    print("   " + "; ".join(f"{k}: targets min {min(v):.4f} median {np.median(v):.4f}, corr(b, field) "
                            f"{min(corr[k]):+.2f}..{max(corr[k]):+.2f}" for k, v in rows.items()))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--slices", type=int, default=12)
    ap.add_argument("--steps", type=int, default=400)
    ap.add_argument("--parts", type=int, nargs="+", default=[1, 2, 3, 4], choices=[1, 2, 3, 4])
    args = ap.parse_args()
    torch.manual_seed(0)
    parts = {1: lambda: target_agreement(args.slices), 2: lambda: free_logit_stability(args.steps),
             3: lambda: bias_target_agreement(args.slices), 4: lambda: field_estimate_agreement(args.slices)}
    for part in args.parts:
        parts[part]()


if __name__ == "__main__":
    main()
