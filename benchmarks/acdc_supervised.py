"""Benchmark: supervised 2D U-Net on ACDC (70 and 7 labelled patients), evaluated on the 10 val patients.

Trains each configuration (or reuses a finished run with --reuse), then predicts the val volumes on their own
voxel grid and prints per-structure Dice, HD95 and ASSD (mm) and the LVEF / RVEF / LV-mass errors, with the
protocol. Targets (foundation issue): mean Dice >= 0.88 (70 labelled), >= 0.75 (7), each <= 60 min on 2 cores.

    python benchmarks/acdc_supervised.py --data ../shared/data/acdc [--reuse] [--configs 70 7]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pandas as pd

from cmrseg.config import load_config
from cmrseg.engine import train
from cmrseg.pipeline import evaluate_run

CONFIGS = {"70": "configs/acdc/supervised_70.yaml", "7": "configs/acdc/supervised_7.yaml"}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default="../shared/data/acdc")
    ap.add_argument("--configs", nargs="+", default=["70", "7"], choices=list(CONFIGS))
    ap.add_argument("--reuse", action="store_true", help="evaluate existing runs instead of training")
    ap.add_argument("--run-prefix", default="acdc_sup", help="run names are <prefix><N>")
    ap.add_argument("--set", nargs="*", default=[], help="extra config overrides")
    args = ap.parse_args()
    rows = []
    for key in args.configs:
        cfg = load_config(CONFIGS[key], [f"data.root={args.data}", f"train.name={args.run_prefix}{key}", *args.set])
        run_dir = Path(cfg.train.out_dir) / cfg.train.name
        if not (args.reuse and (run_dir / "checkpoints" / "best.pt").exists()):
            run_dir = train(cfg, resume=(run_dir / "checkpoints" / "last.pt").exists())
        hist = pd.read_csv(run_dir / "history.csv")
        summary = evaluate_run(run_dir, cfg)
        summary.pop("viewers", None)
        agree = json.loads((run_dir / "eval" / "agreement.json").read_text(encoding="utf-8"))
        s = summary
        rows.append({
            "labelled": key, "train_min": round(float(hist["minutes"].iloc[-1]), 1),
            "iters": int(hist["iteration"].iloc[-1]),
            "best_iter": int(hist.loc[hist["val/dice_mean"].idxmax(), "iteration"]),
            **{f"Dice_{k}": round(s[k]["dice_mean"], 3) for k in ("LV", "Myo", "RV")},
            "Dice_mean": round(s["mean"]["dice_mean"], 3),
            **{f"HD95_{k}": round(s[k]["hd95_mm_mean"], 2) for k in ("LV", "Myo", "RV")},
            **{f"ASSD_{k}": round(s[k]["assd_mm_mean"], 2) for k in ("LV", "Myo", "RV")},
            "missed": sum(int(s[k]["n_missed"]) for k in ("LV", "Myo", "RV")),
            "LVEF_bias": round(agree["LV_EF_pct"]["bias"], 2), "LVEF_MAE": round(agree["LV_EF_pct"]["mae"], 2),
            "RVEF_bias": round(agree["RV_EF_pct"]["bias"], 2), "RVEF_MAE": round(agree["RV_EF_pct"]["mae"], 2),
            "LVmass_bias_g": round(agree["LV_mass_g"]["bias"], 2), "LVmass_MAE_g": round(agree["LV_mass_g"]["mae"], 2),
        })
        print(f"\n[{key} labelled] protocol: {summary['protocol']}")
    table = pd.DataFrame(rows)
    with pd.option_context("display.width", 250, "display.max_columns", 40):
        print("\n" + table.to_string(index=False))
    print("\nDice: 3D, on the original grid; HD95/ASSD in mm; EF bias/MAE in percentage points; mass in g "
          "(myocardium x 1.05 g/mL at ED); bias = prediction - ground truth.")


if __name__ == "__main__":
    main()
