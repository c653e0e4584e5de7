"""Benchmark: does dense-CRF refinement (Bai et al., MICCAI 2017) change Dice of a trained network on ACDC?

Predicts every selected volume with the checkpoint, without CRF and with the CRF at each ``unit_mm`` (the
millimetres per position unit that map the paper's sigmas to physical size, see
:mod:`cmrseg.postprocess.crf`), on the preprocessed grid, then restores to the input grid, post-processes
(largest component, holes) and prints 3D Dice per structure, HD95 (mm) and CRF seconds per volume.

Choose ``unit_mm`` on training patients the checkpoint did not see (the 7-labelled run saw the first 7):

    python benchmarks/crf_acdc.py --split train --skip 7 --patients 10 --units 0.75 1.5 3 5 10 20
    python benchmarks/crf_acdc.py --split val                       # report: default CRFConfig vs none
"""

from __future__ import annotations

import argparse
import time

import pandas as pd
import torch
from tqdm.auto import tqdm

from cmrseg.inference import Predictor
from cmrseg.io import load_dataset
from cmrseg.metrics import evaluate_cases
from cmrseg.postprocess.crf import CRFConfig

STRUCTS = ("LV", "Myo", "RV")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-c", "--checkpoint", default="runs/acdc_sup7/checkpoints/best.pt")
    ap.add_argument("--data", default="../shared/data/acdc")
    ap.add_argument("--split", default="val", choices=["train", "val"])
    ap.add_argument("--skip", type=int, default=0, help="skip the first N patients of the split (train: labelled)")
    ap.add_argument("--patients", type=int, default=None, help="number of patients (default: all)")
    ap.add_argument("--units", type=float, nargs="*", default=None,
                    help="unit_mm values to compare (default: CRFConfig's default only)")
    ap.add_argument("--set", nargs="*", default=[], help="other CRFConfig fields, e.g. w_smoothness=0")
    args = ap.parse_args()
    torch.set_num_threads(1)
    refs = [r for r in load_dataset(args.data) if r.split == args.split]
    patients = sorted({r.patient for r in refs})[args.skip:]
    patients = patients[: args.patients] if args.patients else patients
    refs = [r for r in refs if r.patient in patients]
    cases = [r.load() for r in refs]
    extra = {k: float(v) for k, v in (s.split("=", 1) for s in args.set)}
    settings: dict[str, CRFConfig | None] = {"no CRF": None}
    for u in args.units or [CRFConfig().unit_mm]:
        settings[f"CRF unit_mm={u:g}"] = CRFConfig(**{**extra, "unit_mm": u})
    pred = Predictor.from_checkpoint(args.checkpoint, threads=1)
    rows = []
    for name, cfg in settings.items():
        pred.crf = cfg
        pred.timings.clear()
        t0 = time.perf_counter()
        pairs = [(c.with_label(pred.predict_case(c).label), c) for c in tqdm(cases, desc=name, leave=False)]
        wall = (time.perf_counter() - t0) / len(cases)
        s = evaluate_cases(pairs).summary
        rows.append({"setting": name, **{f"Dice_{k}": round(s[k]["dice_mean"], 4) for k in STRUCTS},
                     "Dice_mean": round(s["mean"]["dice_mean"], 4),
                     **{f"HD95_{k}": round(s[k]["hd95_mm_mean"], 2) for k in STRUCTS},
                     "crf_s/vol": round(pred.timing_summary().get("crf", 0.0), 3), "total_s/vol": round(wall, 3)})
    print(f"checkpoint {args.checkpoint}; ACDC {args.split} patients {patients[0]}..{patients[-1]} "
          f"({len(cases)} volumes); CRF on the preprocessed grid; 1 torch thread; other CRF fields: "
          f"{CRFConfig(**extra).model_dump(exclude={'unit_mm'})}")
    with pd.option_context("display.width", 250, "display.max_columns", 30):
        print(pd.DataFrame(rows).to_string(index=False))
    print("Dice/HD95: 3D, input grid, after largest-component + hole filling; HD95 in mm; means over volumes.")


if __name__ == "__main__":
    main()
