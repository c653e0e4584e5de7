"""Shared helpers for benchmark scripts: train-or-reuse a config, evaluate it, one table row per run."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from cmrseg.config import Config, load_config
from cmrseg.workflows import fit as train
from cmrseg.pipeline import evaluate_run

STRUCTS = ("LV", "Myo", "RV")


def train_and_evaluate(config: str, overrides: list[str], reuse: bool) -> tuple[Config, Path, dict]:
    """Train ``config`` (resuming if interrupted; skipped with ``reuse`` when best.pt exists) and evaluate."""
    cfg = load_config(config, overrides)
    run_dir = Path(cfg.train.out_dir) / cfg.train.name
    if not (reuse and (run_dir / "checkpoints" / "best.pt").exists()):
        run_dir = train(cfg, resume=(run_dir / "checkpoints" / "last.pt").exists())
    summary = evaluate_run(run_dir, cfg)
    summary.pop("viewers", None)
    return cfg, run_dir, summary


def lge_columns(run_dir: Path, lge_root: str, threads: int = 1, device: str = "cpu") -> dict:
    """Dice per structure, mean Dice and mean HD95 (mm) of the run's best checkpoint on MS-CMRSeg LGE val
    (evaluation written to ``run_dir/lge_val``)."""
    from cmrseg.pipeline import evaluate_checkpoint

    lge = evaluate_checkpoint(run_dir / "checkpoints" / "best.pt", lge_root, run_dir / "lge_val", split="val",
                              progress=False, threads=threads, device=device).summary
    return dice_columns("LGE", lge)


def dice_columns(prefix: str, summary: dict) -> dict:
    """``<prefix>_LV/_Myo/_RV`` Dice, ``<prefix>_mean`` Dice and ``<prefix>_HD95`` (mm, mean over the three) from
    an evaluation summary."""
    return {**{f"{prefix}_{k}": round(summary[k]["dice_mean"], 3) for k in STRUCTS},
            f"{prefix}_mean": round(summary["mean"]["dice_mean"], 3),
            f"{prefix}_HD95": round(summary["mean"]["hd95_mm_mean"], 2)}


def result_row(run_dir: Path, summary: dict) -> dict:
    """Dice / HD95 / ASSD per structure, mean HD95 (mm, over LV/Myo/RV), missed count, EF and mass agreement,
    training time."""
    hist = pd.read_csv(run_dir / "history.csv")
    agree = json.loads((run_dir / "eval" / "agreement.json").read_text(encoding="utf-8"))
    s = summary
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
        "LVEF_bias": round(agree["LV_EF_pct"]["bias"], 2), "LVEF_MAE": round(agree["LV_EF_pct"]["mae"], 2),
        "RVEF_bias": round(agree["RV_EF_pct"]["bias"], 2), "RVEF_MAE": round(agree["RV_EF_pct"]["mae"], 2),
        "LVmass_bias_g": round(agree["LV_mass_g"]["bias"], 2), "LVmass_MAE_g": round(agree["LV_mass_g"]["mae"], 2),
    }


METRICS_NOTE = ("Dice: 3D, on the original grid; HD95/ASSD in mm; EF bias/MAE in percentage points; mass in g "
                "(myocardium x 1.05 g/mL at ED); bias = prediction - ground truth.")


def seed_summary(rows: list[dict], by: str = "method") -> list[dict]:
    """Mean and sample standard deviation over seeds of mean Dice and mean HD95 (mm), one row per ``by`` value.

    Why: at 3-7 labelled patients the seed-to-seed spread of one method is as large as most method effects, so
    a comparison needs the spread next to the means."""
    df = pd.DataFrame(rows)
    if "HD95_mean" not in df:
        df["HD95_mean"] = df[[f"HD95_{k}" for k in STRUCTS]].mean(axis=1)
    out = []
    for key, g in df.groupby(by, sort=False):
        row = {by: key, "seeds": len(g)}
        for col in ("Dice_mean", "HD95_mean"):
            row[f"{col}_mean"] = round(float(g[col].mean()), 3)
            row[f"{col}_std"] = round(float(g[col].std()), 3) if len(g) > 1 else None
        out.append(row)
    return out


def seeded_run_name(name: str, seed: int) -> str:
    """Run name of one seed: ``name`` for seed 0 (so single-seed runs are reused), ``name_seed<N>`` otherwise."""
    return f"{name}_seed{seed}" if seed else name


def print_table(rows: list[dict], note: str | None = METRICS_NOTE) -> None:
    """Print ``rows`` as one table, then ``note`` (the units of the standard evaluation columns by default)."""
    with pd.option_context("display.width", 250, "display.max_columns", 40):
        print("\n" + pd.DataFrame(rows).to_string(index=False))
    if note:
        print("\n" + note)
