"""Benchmark (issue 7): training with ED labels only vs ED labels + registration-propagated ES labels.

Protocol. The first N ACDC training patients (ascending id) have only their ED frame labelled; their ES frames
are unlabelled. (1) Their ED labels are propagated to their ES frames with a learned registration model
(``cmrseg propagate``; by default ``configs/acdc/registration_unsupervised.yaml``, trained on images only, so
no ES label is used anywhere); the propagated labels are scored against the hidden ES expert labels. (2) Two
segmenters are trained by the same engine with the same iterations and the same images per step:
``configs/acdc/ed_only_7.yaml`` (16 ED slices per step) and ``configs/acdc/ed_propagated_7.yaml`` (8 ED + 8
propagated ES slices per step: the union of the two label sets at the same cost). (3) Both are evaluated on
ACDC val (ED and ES frames apart; checkpoint = best val mean Dice over all val frames) and, as an unseen
domain (different sequence and centre), on MS-CMRSeg LGE val with the same checkpoint.

    .venv/bin/python benchmarks/propagation_training.py --labelled 7 \
        -c runs/acdc_registration_unsupervised/checkpoints/best.pt [--reuse] [--set train.threads=1]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd
from common import STRUCTS, lge_columns, train_and_evaluate

from cmrseg.config import load_config
from cmrseg.data.splits import split_from_config
from cmrseg.io import load_dataset
from cmrseg.io.nifti import read_nifti
from cmrseg.metrics.evaluate import evaluate_pair
from cmrseg.registration.propagate import propagate_dataset
from cmrseg.registration.registrators import create_registrator

CONFIGS = {"ED only": "configs/acdc/ed_only_7.yaml", "ED + propagated ES": "configs/acdc/ed_propagated_7.yaml"}


def labelled_patients(data: str, labelled: int) -> list[str]:
    cfg = load_config(CONFIGS["ED only"], [f"data.root={data}", f"data.labelled={labelled}"])
    return sorted(split_from_config(load_dataset(Path(data)), cfg.data, cfg.train.seed).labelled_patients)


def propagated_quality(data: str, out_dir: Path, patients: list[str]) -> dict:
    """Mean Dice of the propagated ES labels against the hidden ES expert labels of the labelled patients."""
    refs = {r.case_id: r for r in load_dataset(Path(data)) if r.patient in set(patients) and r.phase == "ES"}
    dice = {k: [] for k in STRUCTS}
    for path in sorted(out_dir.glob("*.nii.gz")):
        gt = refs[path.name.removesuffix(".nii.gz")].load()
        label, _, _ = read_nifti(path, kind="label")
        for m in evaluate_pair(label, gt.label, gt.spacing):
            dice[m.structure].append(m.dice)
    return {f"prop_Dice_{k}": round(sum(v) / len(v), 3) for k, v in dice.items()}


def phase_dice(run_dir: Path) -> dict:
    per_case = pd.read_csv(run_dir / "eval" / "per_case.csv")
    out = {}
    for phase in ("ED", "ES"):
        sub = per_case[per_case["phase"] == phase].groupby("structure")["dice"].mean()
        out.update({f"{phase}_{k}": round(float(sub[k]), 3) for k in STRUCTS})
        out[f"{phase}_mean"] = round(float(sub[list(STRUCTS)].mean()), 3)
        hd = per_case[per_case["phase"] == phase].groupby("structure")["hd95_mm"].mean()
        out[f"{phase}_HD95"] = round(float(hd[list(STRUCTS)].mean()), 2)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default="../shared/data/acdc")
    ap.add_argument("--lge", default="../shared/data/mscmr_lge", help="MS-CMRSeg LGE root (its val split is used)")
    ap.add_argument("-c", "--checkpoint", default="runs/acdc_registration_unsupervised/checkpoints/best.pt",
                    help="vxm-2d registration checkpoint used to propagate ED -> ES")
    ap.add_argument("--labelled", type=int, default=7)
    ap.add_argument("--iterations", type=int, default=None, help="override optim.iterations of both configs")
    ap.add_argument("--reuse", action="store_true", help="reuse finished runs and propagated labels")
    ap.add_argument("--set", nargs="*", default=[], help="extra config overrides for both runs")
    args = ap.parse_args()

    n = args.labelled
    patients = labelled_patients(args.data, n)
    prop_dir = Path(f"runs/propagated_es_{n}_unsup")
    if not (args.reuse and prop_dir.is_dir() and len(list(prop_dir.glob("*.nii.gz"))) == n):
        propagate_dataset(create_registrator("learned", args.checkpoint), args.data, prop_dir, direction="ed2es",
                          split="train", patients=patients)
    quality = propagated_quality(args.data, prop_dir, patients)
    print(f"propagated ES labels of the {n} labelled patients vs their hidden ES labels: {quality}")

    rows = []
    for name, config in CONFIGS.items():
        over = [f"data.root={args.data}", f"data.labelled={n}", *args.set]
        stem = "ed_only" if name == "ED only" else "ed_propagated"
        over.append(f"train.name=acdc_{stem}_{n}")
        if name != "ED only":
            over.append(f"data.extra_labels.propagated.labels_dir={prop_dir}")
        if args.iterations:
            over.append(f"optim.iterations={args.iterations}")
        _, run_dir, summary = train_and_evaluate(config, over, args.reuse)
        rows.append({"training labels": name, "run": run_dir.name, **phase_dice(run_dir),
                     "all_mean": round(summary["mean"]["dice_mean"], 3), **lge_columns(run_dir, args.lge)})
    with pd.option_context("display.width", 250, "display.max_columns", 40):
        print("\n" + pd.DataFrame(rows).to_string(index=False))
    print(f"\nACDC val (10 patients, ED and ES frames scored apart) and MS-CMRSeg LGE val (5 subjects); {n} labelled "
          "patients with ED labels only; 3D Dice and HD95 (mm, mean of LV/Myo/RV) on the original grid after "
          "post-processing; empty prediction: Dice 0, HD95 = image diagonal; checkpoint = best ACDC val mean Dice.")


if __name__ == "__main__":
    main()
