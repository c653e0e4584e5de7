"""Shared helpers for benchmark scripts: the options and output of their sweeps (arms x budgets x seeds are
trained, scored and tabulated by :func:`cmrseg.workflows.sweep.run_sweep`), one table row per evaluated run."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pandas as pd

from cmrseg.workflows.sweep import SweepSpec, plan_runs, run_sweep

STRUCTS = ("LV", "Myo", "RV")
SWEEP_NOTE = ("Mean +- sample sd over seeds. Dice: 3D, on the original grid after post-processing; HD95 in mm "
              "(mean over LV/Myo/RV); EF MAE in percentage points; LV mass (myocardium x 1.05 g/mL at ED) in g. "
              "val: ACDC val; sel: the selection set (data.selection), when the config holds one out.")


def add_sweep_args(ap: argparse.ArgumentParser, name: str, seeds: tuple[int, ...] = (0,)) -> None:
    """The options every sweep-based benchmark shares: seeds, parallel jobs, run folder, overrides, dry run."""
    ap.add_argument("--seeds", nargs="+", type=int, default=list(seeds), help="one run per arm, budget and seed")
    ap.add_argument("--jobs", type=int, default=0, help="trainings at once, cores / jobs threads each (0: one "
                    "single-threaded run per core)")
    ap.add_argument("--sweep-dir", type=Path, default=Path(f"runs/sweep/{name}"),
                    help="folder of the runs (<arm>[_l<N>]_s<seed>, reused when finished, resumed when interrupted) "
                         "and of runs.csv / table.csv / table.md")
    ap.add_argument("--set", nargs="*", default=[], help="extra overrides for every run")
    ap.add_argument("--dry-run", action="store_true", help="list the planned runs (configs checked), train nothing")


def sweep_or_plan(spec: SweepSpec, dry_run: bool) -> pd.DataFrame | None:
    """``dry_run``: print the runs ``spec`` would train and return None. Otherwise run the sweep (training what
    is not finished), print its table (mean +- sd over seeds) and the protocol of its first run; returns one row
    per run (``config`` = arm name, ``run`` = folder under ``spec.out_dir``)."""
    if dry_run:
        plan = plan_runs(spec)
        long = plan["overrides"].str.len() > 80
        plan.loc[long, "overrides"] = plan.loc[long, "overrides"].str.slice(0, 77) + "..."
        with pd.option_context("display.width", 250):
            print(plan.to_string(index=False))
        print(f"\nevery run: {' '.join(spec.overrides) or '(no overrides)'}; runs under {spec.out_dir}")
        return None
    runs = run_sweep(spec)
    print("\n" + (spec.out_dir / "table.md").read_text(encoding="utf-8"))
    print(SWEEP_NOTE if spec.evaluate else "Training only (no segmentation scores).")
    first = spec.out_dir / runs["run"].iloc[0] / "eval" / "summary.json"
    if first.exists():
        print(f"\nprotocol ({runs['run'].iloc[0]}): {json.loads(first.read_text(encoding='utf-8'))['protocol']}")
    return runs


def result_row(run_dir: Path, summary: dict) -> dict:
    """Dice / HD95 / ASSD per structure, mean HD95 (mm, over LV/Myo/RV), missed count, EF and mass agreement,
    training time."""
    hist = pd.read_csv(run_dir / "history.csv")
    agree = json.loads((run_dir / "eval" / "agreement.json").read_text(encoding="utf-8"))
    s = summary

    def agreement(index: str, stat: str) -> float | None:  # None where no ED/ES pair gave the index
        value = agree.get(index, {}).get(stat)
        return None if value is None else round(value, 2)

    return {
        "run": run_dir.name, "train_min": round(float(hist["minutes"].iloc[-1]), 1),
        "iters": int(hist["iteration"].iloc[-1]),
        "best_iter": int(hist.loc[hist["val/dice_mean"].idxmax(), "iteration"]),
        **{f"Dice_{k}": round(s[k]["dice_mean"], 3) for k in STRUCTS},
        "Dice_mean": round(s["mean"]["dice_mean"], 3),
        **{f"HD95_{k}": round(s[k]["hd95_mm_mean"], 2) for k in STRUCTS},
        "HD95_mean": round(s["mean"]["hd95_mm_mean"], 2),
        **{f"ASSD_{k}": round(s[k]["assd_mm_mean"], 2) for k in STRUCTS},
        "missed": sum(int(s[k]["n_missed"]) for k in STRUCTS),
        "LVEF_bias": agreement("LV_EF_pct", "bias"), "LVEF_MAE": agreement("LV_EF_pct", "mae"),
        "RVEF_bias": agreement("RV_EF_pct", "bias"), "RVEF_MAE": agreement("RV_EF_pct", "mae"),
        "LVmass_bias_g": agreement("LV_mass_g", "bias"), "LVmass_MAE_g": agreement("LV_mass_g", "mae"),
    }


METRICS_NOTE = ("Dice: 3D, on the original grid; HD95/ASSD in mm; EF bias/MAE in percentage points; mass in g "
                "(myocardium x 1.05 g/mL at ED); bias = prediction - ground truth.")


def print_table(rows: list[dict], note: str | None = METRICS_NOTE) -> None:
    """Print ``rows`` as one table, then ``note`` (the units of the standard evaluation columns by default)."""
    with pd.option_context("display.width", 250, "display.max_columns", 40):
        print("\n" + pd.DataFrame(rows).to_string(index=False))
    if note:
        print("\n" + note)
