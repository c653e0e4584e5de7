"""Benchmark (issue 6): self-training with/without dense-CRF pseudo-labels vs supervised, per round.

    python benchmarks/self_training.py --baseline configs/acdc/supervised_7_finetune.yaml \
        --runs acdc_st7_nocrf:crf=false acdc_st7_crf:crf=true [--reuse]
    python benchmarks/self_training.py --baseline configs/acdc/supervised_3_finetune.yaml \
        --config configs/acdc/self_training_3.yaml --runs acdc_st3_nocrf:crf=false [--reuse]

Each self-training run is ``--config`` (default ``configs/acdc/self_training_7.yaml``) under the given name with the given
``method.params`` overrides (``key=value``). Round 0 is the pretrained supervised checkpoint the config names.
Every round's best checkpoint is evaluated on ACDC val with the standard protocol (3D metrics on the input
grid after post-processing, mm). Pseudo-label quality = Dice of each round's pseudo-labels on the unlabelled
training volumes against their hidden expert labels (never used for training or selection).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd
from common import print_table, result_row, train_and_evaluate

from cmrseg.config import load_config
from cmrseg.engine import train
from cmrseg.pipeline import evaluate_run

CONFIG = "configs/acdc/self_training_7.yaml"


def evaluate_dir(run_dir: Path, cfg) -> dict:  # type: ignore[no-untyped-def]
    summary = evaluate_run(run_dir, cfg)
    summary.pop("viewers", None)
    return result_row(run_dir, summary)


def pseudo_quality(round_dir: Path) -> dict:
    q = pd.read_csv(round_dir / "pseudo_quality.csv")
    out = {f"pseudo_{k}": round(float(q[f"dice_{k}"].mean()), 3) for k in ("LV", "Myo", "RV")}
    out["pseudo_mean"] = round(sum(out.values()) / 3, 3)
    out["pseudo_kept"] = round(float(q["kept"].mean()), 3)
    return out


def plot_rounds(table: pd.DataFrame, path: Path, title: str) -> None:
    """Val mean Dice (solid) and pseudo-label mean Dice (dashed) per round for each arm; the fair baseline dotted."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    r0 = table[table["round"].astype(str) == "0"]
    base = table[table["round"].astype(str) == "-"]
    for i, (method, g) in enumerate(table[table["method"].str.startswith("self-training")].groupby("method")):
        g = g.sort_values("round")
        rounds = [0] + g["round"].astype(int).tolist()
        val = r0["Dice_mean"].tolist()[:1] + g["Dice_mean"].tolist()
        color = f"C{i}"
        ax.plot(rounds, val, "o-", color=color, label=f"{method}: val")
        ax.plot(g["round"].astype(int), g["pseudo_mean"].astype(float), "s--", color=color,
                label=f"{method}: pseudo-labels")
    if not base.empty:
        ax.axhline(float(base["Dice_mean"].iloc[0]), color="k", ls=":", label="supervised, fine-tuned as long")
    ax.set_xlabel("round")
    ax.set_ylabel("mean Dice (LV, Myo, RV)")
    ax.set_xticks(sorted({0, *table.loc[table["round"].astype(str).str.isdigit(), "round"].astype(int)}))
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--baseline", default="configs/acdc/supervised_7_finetune.yaml")
    ap.add_argument("--config", default=CONFIG, help="self-training config (e.g. configs/acdc/self_training_3.yaml)")
    ap.add_argument("--runs", nargs="+", default=["acdc_st7_nocrf:crf=false", "acdc_st7_crf:crf=true"],
                    help="NAME:key=value,key=value (method.params overrides)")
    ap.add_argument("--reuse", action="store_true", help="evaluate existing runs instead of training")
    ap.add_argument("--set", nargs="*", default=[], help="extra overrides for every config")
    ap.add_argument("--out", default="benchmarks/out/self_training",
                    help="folder for <config stem>.csv (the table) and <config stem>.png (Dice per round)")
    args = ap.parse_args()

    rows = []
    base_cfg, base_dir, base_summary = train_and_evaluate(args.baseline, list(args.set), args.reuse)
    print(f"\nprotocol: {base_summary['protocol']}")
    for spec in args.runs:
        name, _, params = spec.partition(":")
        overrides = [f"train.name={name}", *args.set] + [f"method.params.{kv}" for kv in params.split(",") if kv]
        cfg = load_config(args.config, overrides)
        run_dir = Path(cfg.train.out_dir) / name
        if not args.reuse:
            train(cfg, resume=run_dir.exists())
        pre = Path(cfg.method.params["pretrained"]).parents[1]
        if not rows:  # round 0 = the pretrained supervised run, shared by all self-training runs
            pre_cfg = load_config(pre / "config.yaml", [])
            rows.append({"method": "supervised (round 0)", "round": 0, **evaluate_dir(pre, pre_cfg)})
            rows.append({"method": "supervised, fine-tuned as long as all rounds", "round": "-",
                         **result_row(base_dir, base_summary)})
        for rdir in sorted(run_dir.glob("round[1-9]*")):
            if not (rdir / "DONE").exists():
                continue
            rcfg = load_config(rdir / "config.yaml", [])
            crf = "CRF" if cfg.method.params.get("crf", True) else "no CRF"
            rows.append({"method": f"self-training ({crf})", "round": int(rdir.name[5:]),
                         **evaluate_dir(rdir, rcfg), **pseudo_quality(rdir)})
    keep = ["method", "round", "iters", "best_iter", "Dice_LV", "Dice_Myo", "Dice_RV", "Dice_mean", "HD95_LV",
            "HD95_Myo", "HD95_RV", "ASSD_LV", "ASSD_Myo", "ASSD_RV", "missed", "LVEF_MAE", "RVEF_MAE",
            "pseudo_LV", "pseudo_Myo", "pseudo_RV", "pseudo_mean", "pseudo_kept"]
    table_rows = [{k: r.get(k, "") for k in keep} for r in rows]
    print_table(table_rows)
    stem = Path(args.config).stem
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(table_rows).to_csv(out / f"{stem}.csv", index=False)
    labelled = load_config(args.config, []).data.labelled
    plot_rounds(pd.DataFrame(table_rows), out / f"{stem}.png",
                f"ACDC val, {labelled} labelled patients: self-training per round ({stem})")
    print(f"table and figure: {out / stem}.csv / .png")
    print("pseudo_*: Dice of the round's pseudo-labels (made by the previous round's model) on the unlabelled "
          "training volumes vs their hidden expert labels; iters = iterations of that round.")


if __name__ == "__main__":
    main()
