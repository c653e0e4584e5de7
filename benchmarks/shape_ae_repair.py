"""Benchmark: what a shape autoencoder makes of a segmenter's predictions -- the target of ``shape_plausibility``.

``shape_plausibility`` pulls an unlabelled prediction ``p`` toward ``AE(p)``. That only helps if ``AE(p)`` is a
better segmentation than ``p``. This script measures it on labelled volumes the segmenter never trained on (by
default the selection set of prior_weights.py: the last 10 ACDC training patients): 3D Dice per structure of
argmax(p), of argmax(AE(p)) for each autoencoder given, on the preprocessed grid (1.5 mm, 224 px field of view,
no post-processing), and the mean of ``||AE(p) - p||^2`` (the loss value, summed over classes, mean over pixels).
It also writes a figure: image, ground truth, prediction and each AE's output on three slices of one volume.

    python benchmarks/shape_ae_repair.py \
        --checkpoint runs/sweep/shape_priors/shape_unet_i2000_l7_s0/checkpoints/best.pt \
        --autoencoders runs/shape_ae_acdc/checkpoints/best.pt runs/shape_dae_acdc/checkpoints/best.pt \
        [--data ../shared/data/acdc] [--split train --patients selection] [--figure benchmarks/out/dae_repair.png]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from common import STRUCTS
from tqdm.auto import tqdm

from cmrseg.data.preprocess import preprocess
from cmrseg.inference import Predictor
from cmrseg.io import load_dataset
from cmrseg.metrics.overlap import dice_per_structure
from cmrseg.models.shape_ae import load_shape_ae


def selection_patients(data: str, labelled: int, n: int) -> list[str]:
    """The last ``n`` labelled training patients in id order (``data.selection: n``), refusing any inside the
    first ``labelled``."""
    refs = load_dataset(Path(data))
    train = sorted({r.patient for r in refs if r.split == "train" and r.label_path is not None})
    if len(train) - n < labelled:
        raise SystemExit(f"selection set of {n} overlaps the first {labelled} labelled patients ({len(train)} in all)")
    return train[-n:]


def repair(ae: torch.nn.Module, probs: torch.Tensor, batch: int = 8) -> torch.Tensor:
    """Class probabilities of ``ae``'s output for ``(z, C, H, W)`` probability maps."""
    with torch.inference_mode():
        return torch.cat([torch.softmax(ae(probs[i : i + batch])["logits"], 1) for i in range(0, len(probs), batch)])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoint", required=True, help="segmenter checkpoint (best.pt)")
    ap.add_argument("--autoencoders", nargs="+", required=True, help="shape AE checkpoints to compare")
    ap.add_argument("--data", default="../shared/data/acdc")
    ap.add_argument("--split", default="train")
    ap.add_argument("--patients", nargs="*", default=["selection"],
                    help="patient ids, or 'selection' (prior_weights.py's selection set), or none = the whole split")
    ap.add_argument("--labelled", type=int, default=7, help="label budget the selection set must avoid")
    ap.add_argument("--figure", default="benchmarks/out/shape_ae_repair.png")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    patients = (selection_patients(args.data, args.labelled, 10) if args.patients == ["selection"]
                else set(args.patients))
    refs = [r for r in load_dataset(Path(args.data)) if r.split == args.split and r.label_path is not None
            and (not patients or r.patient in patients)]
    if not refs:
        raise SystemExit(f"no labelled {args.split} volumes of patients {sorted(patients)} in {args.data}")
    predictor = Predictor.from_checkpoint(args.checkpoint, threads=args.threads)
    aes = {Path(a).parent.parent.name: load_shape_ae(a, "shape_ae_repair") for a in args.autoencoders}
    rows, shown = [], None
    for ref in tqdm(refs, desc="volumes"):
        pre = preprocess(ref.load(), predictor.pre_cfg)
        probs = predictor.forward([pre.image])[0]["probs"].float()
        outputs = {"prediction": probs, **{name: repair(ae, probs) for name, ae in aes.items()}}
        for name, maps in outputs.items():
            dist = float("nan") if name == "prediction" else float((maps - probs).pow(2).sum(1).mean())
            rows.append({"volume": ref.case_id, "map": name, **dice_per_structure(maps.argmax(1).numpy(), pre.label),
                         "plausibility": dist})
        if shown is None:
            shown = (pre.image, pre.label, {k: v.argmax(1).numpy() for k, v in outputs.items()})
    df = pd.DataFrame(rows)
    df["mean"] = df[list(STRUCTS)].mean(axis=1)
    table = df.groupby("map", sort=False)[[*STRUCTS, "mean", "plausibility"]].mean().round(4)
    with pd.option_context("display.width", 200):
        print(table.to_string())
    gain = df.pivot(index="volume", columns="map", values="mean")
    for name in aes:
        better = int((gain[name] > gain["prediction"]).sum())
        print(f"{name}: mean Dice of argmax(AE(p)) - argmax(p) = {float((gain[name] - gain['prediction']).mean()):+.4f}; "
              f"better on {better} of {len(gain)} volumes")
    print(f"\nProtocol: segmenter {args.checkpoint}; {len(refs)} labelled {args.split} volumes of {args.data} "
          f"(patients {sorted({r.patient for r in refs})[0]}..{sorted({r.patient for r in refs})[-1]}); 3D Dice on the "
          "preprocessed grid (network input: 1.5 mm in-plane, 224 px), raw argmax, no post-processing; a structure "
          "absent from both maps scores 1, absent from one 0. plausibility = mean over pixels of "
          "sum_c (AE(p)_c - p_c)^2, the shape_plausibility loss.")
    write_figure(shown, Path(args.figure))


def write_figure(shown: tuple, path: Path) -> None:
    """Image, ground truth and each map on three slices (basal, mid, apical of the labelled extent)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from cmrseg.report.overlays import heart_box, overlay_rgb, window

    image, gt, maps = shown
    zs = np.flatnonzero(gt.reshape(len(gt), -1).any(1))
    zs = [int(zs[0]), int(zs[len(zs) // 2]), int(zs[-1])] if len(zs) else [len(gt) // 2]
    box = heart_box(gt, *maps.values())
    lo, hi = window(image)
    cols = {"ground truth": gt, **maps}
    fig, axes = plt.subplots(len(zs), len(cols), figsize=(2.2 * len(cols), 2.2 * len(zs)), squeeze=False)
    for r, z in enumerate(zs):
        for c, (name, lab) in enumerate(cols.items()):
            axes[r, c].imshow(overlay_rgb(image[z][box], lab[z][box], vmin=lo, vmax=hi))
            axes[r, c].set_axis_off()
            if r == 0:
                axes[r, c].set_title(name, fontsize=8)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    print(f"figure: {path}")


if __name__ == "__main__":
    main()
