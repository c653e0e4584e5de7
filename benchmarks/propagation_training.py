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
        -c runs/acdc_registration_unsupervised/checkpoints/best.pt [--seeds 0 1 2] \
        [--sweep-dir runs/sweep/propagation_training] [--repropagate] [--set train.device=cuda] [--dry-run]

The two segmenters are the arms of one sweep (:func:`cmrseg.workflows.sweep.run_sweep`, runs
``<sweep-dir>/acdc_<ed_only|ed_propagated>_l<N>_s<seed>``, finished ones reused) that scores both sets and prints
mean +- sd over seeds; the ED / ES split of the val scores follows per run. Propagated labels are kept in
``runs/propagated_es_<N>_unsup`` and reused unless --repropagate.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd
from common import STRUCTS, add_sweep_args, sweep_or_plan

from cmrseg.config import load_config
from cmrseg.workflows.sweep import Arm, EvalSet, SweepSpec

CONFIGS = {"ED only": "configs/acdc/ed_only_7.yaml", "ED + propagated ES": "configs/acdc/ed_propagated_7.yaml"}


def labelled_patients(data: str, labelled: int) -> list[str]:
    from cmrseg.data.splits import split_from_config
    from cmrseg.io import load_dataset

    cfg = load_config(CONFIGS["ED only"], [f"data.root={data}", f"data.labelled={labelled}"])
    return sorted(split_from_config(load_dataset(Path(data)), cfg.data, cfg.train.seed).labelled_patients)


def propagated_quality(data: str, out_dir: Path, patients: list[str]) -> dict:
    """Mean Dice of the propagated ES labels against the hidden ES expert labels of the labelled patients."""
    from cmrseg.io import load_dataset
    from cmrseg.io.nifti import read_nifti
    from cmrseg.metrics.evaluate import evaluate_pair

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


def propagated_dir(labelled: int) -> Path:
    return Path(f"runs/propagated_es_{labelled}_unsup")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default="../shared/data/acdc")
    ap.add_argument("--lge", default="../shared/data/mscmr_lge", help="MS-CMRSeg LGE root (its val split is used)")
    ap.add_argument("-c", "--checkpoint", default="runs/acdc_registration_unsupervised/checkpoints/best.pt",
                    help="vxm-2d registration checkpoint used to propagate ED -> ES")
    ap.add_argument("--labelled", type=int, default=7)
    ap.add_argument("--iterations", type=int, default=None, help="override optim.iterations of both configs")
    ap.add_argument("--repropagate", action="store_true", help="propagate the ES labels again even if present")
    add_sweep_args(ap, "propagation_training")
    return ap.parse_args(argv)


def build_spec(args: argparse.Namespace) -> SweepSpec:
    prop = (f"data.extra_labels.propagated.labels_dir={propagated_dir(args.labelled)}",)
    arms = [Arm(CONFIGS["ED only"], (), "ED only", "acdc_ed_only"),
            Arm(CONFIGS["ED + propagated ES"], prop, "ED + propagated ES", "acdc_ed_propagated")]
    return SweepSpec(arms, [args.labelled], args.seeds, args.sweep_dir,
                     [f"data.root={args.data}", *([f"optim.iterations={args.iterations}"] if args.iterations else []),
                      *args.set], [EvalSet("lge", args.lge, "val")], jobs=args.jobs)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    spec = build_spec(args)
    if args.dry_run:
        sweep_or_plan(spec, dry_run=True)
        return
    from cmrseg.registration.propagate import propagate_dataset
    from cmrseg.registration.registrators import create_registrator

    n = args.labelled
    patients = labelled_patients(args.data, n)
    prop_dir = propagated_dir(n)
    if args.repropagate or not (prop_dir.is_dir() and len(list(prop_dir.glob("*.nii.gz"))) == n):
        propagate_dataset(create_registrator("learned", args.checkpoint), args.data, prop_dir, direction="ed2es",
                          split="train", patients=patients)
    quality = propagated_quality(args.data, prop_dir, patients)
    print(f"propagated ES labels of the {n} labelled patients vs their hidden ES labels: {quality}")

    runs = sweep_or_plan(spec, dry_run=False)
    rows = [{"training labels": r.config, "seed": r.seed, "run": r.run, **phase_dice(spec.out_dir / r.run)}
            for r in runs.itertuples()]
    with pd.option_context("display.width", 250, "display.max_columns", 40):
        print("\n" + pd.DataFrame(rows).to_string(index=False))
    print(f"\nACDC val (10 patients, ED and ES frames scored apart) and MS-CMRSeg LGE val (5 subjects, 'lge' in the "
          f"table above); {n} labelled patients with ED labels only; 3D Dice and HD95 (mm, mean of LV/Myo/RV) on the "
          "original grid after post-processing; empty prediction: Dice 0, HD95 = image diagonal; checkpoint = best "
          "ACDC val mean Dice.")


if __name__ == "__main__":
    main()
