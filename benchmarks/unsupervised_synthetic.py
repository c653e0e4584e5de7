"""Benchmark (issue 4): segmentation with zero paired labels -- translator quality and the ablation table.

Two stages, each one sweep (:func:`cmrseg.workflows.sweep.run_sweep`: variants x seeds; finished runs reused,
interrupted ones resumed; runs under ``--sweep-dir``, default ``runs/sweep/unsupervised_synthetic_<stage>``):

``translators``: trains the label-to-image translator of ``configs/acdc/translator.yaml`` five times --
vanilla (L_IC and L_SC weights 0), +IC, +IC+SC, +IC+SC+noise (spatial noise input), +IC+SC+noise+order (and
the blood-brighter-than-myocardium prior ``intensity_order``) -- and prints the Frechet distance (features: bottleneck of the
segmentation checkpoint given by --features, by default the 70-labelled supervised U-Net) between the real val
slices and translations of their own label maps, overall and per slice-position class (base .. apex); writes a
figure of synthetic images per position class next to real ones (``--out``).

``ablation``: trains the segmenter of ``configs/acdc/unsupervised_synthetic.yaml`` with the chosen translator
(--translator) in five variants -- MS* only; MS* + synthetic; MS* + AI; synthetic + AI (without MS*); full --
and evaluates each on ACDC val (10 patients, 20 volumes) and MS-CMRSeg LGE val (5 subjects, never trained on):
3D Dice per structure and HD95 (mm) after post-processing, checkpoint = best ACDC val mean Dice, empty
prediction -> Dice 0 and HD95 = image diagonal. No real image is ever paired with its label in training: label
maps of training patients 1-35 are translated, images of patients 36-70 are the unlabelled stream. Variants
"random contrast only" and "MS* + random contrast" paint those label maps by domain randomisation
(:mod:`cmrseg.data.random_contrast`) instead of the translator (--translator is then unused); the "restyled
translator" variants use the translator's pairs with their contrast randomised (``restyle: true``); ``samples``
draws a figure of such paintings (and, with --samples-translator, of the translator's images, raw and restyled).

    .venv/bin/python benchmarks/unsupervised_synthetic.py translators [--budget-minutes 40] [--only vanilla +IC] \
        [--no-report] [--seeds 0] [--jobs 1] [--dry-run]
    .venv/bin/python benchmarks/unsupervised_synthetic.py ablation \
        --translator runs/sweep/unsupervised_synthetic_translators/t2i_ic_sc_s0/checkpoints/best.pt \
        [--iterations 4000] [--seeds 0 1 2] [--sweep-dir runs/sweep/unsup_noise] [--only full] [--dry-run]
    .venv/bin/python benchmarks/unsupervised_synthetic.py table \
        --rows "full=runs/sweep/unsupervised_synthetic_ablation/unsup_full_s0" ...   # saved results
    .venv/bin/python benchmarks/unsupervised_synthetic.py canvas   # hearts of the unpaired label maps per canvas size
    .venv/bin/python benchmarks/unsupervised_synthetic.py samples --set data.preprocess.fov_px=160  # painted samples
        [--samples-translator runs/t2i_ic_sc_noise_order/checkpoints/last.pt]  # + the translator's, raw / restyled
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from common import STRUCTS, add_sweep_args, sweep_or_plan

from cmrseg.config import load_config
from cmrseg.workflows.sweep import Arm, EvalSet, SweepSpec

TRANSLATOR_CONFIG = "configs/acdc/translator.yaml"
SEGMENTER_CONFIG = "configs/acdc/unsupervised_synthetic.yaml"
IC, SC = "intensity_constraint", "position_class"
NOISE = "model.params.noise=2"  # the translator's spatial-noise input (textured backgrounds)
ORDER = {"loss": "intensity_order", "stream": "labelled", "weight": 1.0}  # blood brighter than myocardium
# name -> (term weights replaced, extra overrides, extra terms)
TRANSLATORS: dict[str, tuple[dict[str, float], list[str], list[dict]]] = {
    "vanilla": ({IC: 0.0, SC: 0.0}, [], []), "+IC": ({SC: 0.0}, [], []), "+IC+SC": ({}, [], []),
    "+IC+SC+noise": ({}, [NOISE], []), "+IC+SC+noise+order": ({}, [NOISE], [ORDER])}

SYN = {"loss": "dice_ce", "stream": "synthetic", "weight": 1.0, "params": {"ce_weight": 0.0}}
MS = {"loss": "ms_nested", "stream": "unlabelled", "weight": 0.1, "ramp_up": 500,
      "params": {"tv_weight": 0.1, "inclusion_weight": 1.0, "use_bias": True, "bias_tv_weight": 1.0}}
AI = {"loss": "augmentation_invariance", "stream": "unlabelled", "weight": 1.0, "ramp_up": 500,
      "params": {"rot90": True, "flip": True, "max_degrees": 15.0, "distance": "mse"}}
# MS* with the two aids that fixed nested MS* on synthetic shapes (benchmarks/RESULTS.md): a warm start towards
# each image's denoised multi-Otsu levels (order BG < Myo < RV < LV, bSSFP contrast) for the first 200 iterations,
# alone, then MS* with the enclosure prior (LV surrounded by >= 2 px of LV+Myo); settings fixed before any run
WARM = {"loss": "level_init", "stream": "unlabelled", "weight": 1.0, "stop": 200,
        "params": {"order": [0, 2, 1, 3], "median": 3}}
MS_ENCL = {**MS, "start": 200, "params": {**MS["params"], "enclosure_weight": 1.0, "enclosure_px": 2}}
ABLATION = {"MS* only": [MS], "MS* + synthetic": [SYN, MS], "MS* + AI": [MS, AI],
            "synthetic + AI (no MS*)": [SYN, AI], "full": [SYN, MS, AI],
            "MS* (warm start + enclosure)": [WARM, MS_ENCL],
            # L_AI at a tenth of its weight: declared after "full" (gamma 1) fell below "MS* + synthetic"
            "full (gamma 0.1)": [SYN, MS, {**AI, "weight": 0.1}],
            # synthetic pairs alone: separates what MS* adds from what L_AI takes away in "synthetic + AI (no MS*)"
            "synthetic only": [SYN]}
# domain-randomised pairs (cmrseg.data.random_contrast, no translator) in place of the translator's: declared in
# session 14 after the translator's pairs plateaued at ~0.4 mean Dice over seeds; draw ranges = the module defaults
RANDOM = {"loss": "dice_ce", "stream": "synthetic", "weight": 1.0, "params": {"ce_weight": 0.0}}
ABLATION.update({"random contrast only": [RANDOM], "MS* + random contrast": [RANDOM, MS],
                 "random contrast + AI (no MS*)": [RANDOM, AI], "full, random contrast": [RANDOM, MS, AI]})
RANDOM_SOURCE = ["data.synthetic.synthetic.translator=null", "data.synthetic.synthetic.source=random_contrast"]
SOURCE = {name: RANDOM_SOURCE for name in ("random contrast only", "MS* + random contrast",
                                           "random contrast + AI (no MS*)", "full, random contrast")}
# two anatomical priors of the painter, declared before their runs (values from anatomy, not tried on any data):
# both blood pools alike (RV mean within 0.05 of the LV's) / up to 4 papillary discs (1-3 px) inside the LV
ANATOMY = {"random contrast only, tied blood": "{blood_jitter: 0.05}",
           "random contrast only, papillary": "{papillary: 4}"}
ABLATION.update({name: [RANDOM] for name in ANATOMY})
SOURCE.update({name: [*RANDOM_SOURCE, f"data.synthetic.synthetic.params={params}"]
               for name, params in ANATOMY.items()})
# the full framework (alpha, beta, gamma as in "full") on the painter the selection set chose (papillary discs)
ABLATION["full, random contrast, papillary"] = [RANDOM, MS, AI]
SOURCE["full, random contrast, papillary"] = SOURCE["random contrast only, papillary"]
# the translator's pairs with their contrast randomised (cmrseg.data.random_contrast.restyle_images): declared in
# session 17 to test whether the translator's textures add to domain randomisation; papillary discs as the
# selection set chose for the painter; the translator is --translator
RESTYLE = ["data.synthetic.synthetic.restyle=true", "data.synthetic.synthetic.params={papillary: 4}"]
ABLATION.update({"restyled translator only": [SYN], "full, restyled translator": [SYN, MS, AI],
                 "MS* + restyled translator": [SYN, MS], "restyled translator + AI (no MS*)": [SYN, AI]})
# overrides added to the translator source (--translator) of these variants
TRANSLATOR_EXTRA = {name: RESTYLE for name in ("restyled translator only", "full, restyled translator",
                                               "MS* + restyled translator", "restyled translator + AI (no MS*)")}
# run-name keys where the default rule (text before " (") collides
RUN_KEYS = {"full (gamma 0.1)": "full_gamma0.1", "full, random contrast": "full_random_contrast",
            "random contrast + AI (no MS*)": "random_contrast_ai", "random contrast only, tied blood": "rc_tied_blood",
            "random contrast only, papillary": "rc_papillary", "full, random contrast, papillary": "full_rc_papillary",
            "restyled translator only": "restyled_translator", "full, restyled translator": "full_restyled",
            "MS* + restyled translator": "ms_restyled", "restyled translator + AI (no MS*)": "restyled_ai"}


def flow(obj: object) -> str:
    """A Python value as one-line YAML (flow style) for a ``--set`` override (None -> null, True -> true)."""
    return yaml.safe_dump(obj, default_flow_style=True, width=float("inf")).strip()


def terms_override(config: str, weights: dict[str, float], extra: list[dict] | None = None) -> str:
    """``method.terms=[...]`` of ``config`` with the given losses' weights replaced and ``extra`` terms added."""
    cfg = load_config(config)
    terms = [{**t.model_dump(), "weight": weights.get(t.loss, t.weight)} for t in cfg.method.terms]
    return "method.terms=" + flow(terms + list(extra or []))


def val_volumes(data: str, overrides: list[str]) -> list:
    from cmrseg.data.cache import PreprocessedCache
    from cmrseg.data.splits import split_from_config
    from cmrseg.io import load_dataset

    cfg = load_config(TRANSLATOR_CONFIG, [f"data.root={data}", *overrides])
    split = split_from_config(load_dataset(Path(data)), cfg.data, cfg.train.seed)
    cache = PreprocessedCache(cfg.data.cache_dir, cfg.data.preprocess)
    return [cache.get(r, with_label=True) for r in split.val]


def position_figure(translators: dict[str, Path], volumes: list, out: Path) -> None:
    """One real slice per position class (top row) and its label map translated by each translator."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from cmrseg.metrics.frechet import POSITION_NAMES, labelled_slices, translate_slices
    from cmrseg.models.translator import load_translator

    images, labels, cls = labelled_slices(volumes)
    picks = [int(np.flatnonzero(cls == c)[len(np.flatnonzero(cls == c)) // 2]) for c in range(len(POSITION_NAMES))
             if (cls == c).any()]
    rows = [("real", images[picks, 0].numpy())]
    for name, ck in translators.items():
        fake = translate_slices(load_translator(str(ck), name), labels[picks], seed=0)
        rows.append((name, fake[:, 0].numpy()))
    fig, axes = plt.subplots(len(rows), len(picks), figsize=(2.2 * len(picks), 2.2 * len(rows)), squeeze=False)
    for r, (name, imgs) in enumerate(rows):
        for c, img in enumerate(imgs):
            ax = axes[r, c]
            ax.imshow(img, cmap="gray")
            ax.set_xticks([]), ax.set_yticks([])
            if r == 0:
                ax.set_title(POSITION_NAMES[int(cls[picks[c]])], fontsize=9)
            if c == 0:
                ax.set_ylabel(name, fontsize=9)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    print(f"figure: {out}")


def translator_key(name: str) -> str:
    """Run folder stem of a translator variant, e.g. ``+IC+SC`` -> ``t2i_ic_sc``."""
    return f"t2i_{name.strip('+').replace('+', '_').lower()}"


def variant_key(name: str) -> str:
    """Run folder stem of an ablation variant, e.g. ``MS* + synthetic`` -> ``unsup_ms_synthetic``."""
    key = RUN_KEYS.get(name) or name.split(" (")[0].replace("*", "").replace(" + ", "_").replace(" ", "_").lower()
    return f"unsup_{key}"


def chosen(names: list[str], valid: dict, what: str) -> list[str]:
    """``names`` (--only) in the order asked for, all of ``valid`` when empty; unknown names refused."""
    unknown = set(names) - set(valid)
    if unknown:
        raise SystemExit(f"unknown {what} {sorted(unknown)}; valid: {list(valid)}")
    return list(names or valid)


def translator_spec(args: argparse.Namespace) -> SweepSpec:
    """One arm per translator variant, trained only (a translator is not a segmenter)."""
    arms = []
    for name in chosen(args.only, TRANSLATORS, "translators"):
        weights, extra, terms = TRANSLATORS[name]
        arms.append(Arm(TRANSLATOR_CONFIG, (terms_override(TRANSLATOR_CONFIG, weights, terms), *extra), name,
                        translator_key(name)))
    budget = ([f"optim.budget_minutes={args.budget_minutes}", f"train.max_minutes={args.budget_minutes + 3}"]
              if args.budget_minutes else [])
    return SweepSpec(arms, [None], args.seeds, sweep_dir(args), [f"data.root={args.data}", *budget, *args.set],
                     jobs=args.jobs, evaluate=False)


def ablation_spec(args: argparse.Namespace) -> SweepSpec:
    """One arm per segmenter variant: its terms and its synthetic source; scored on ACDC val and LGE val."""
    arms = []
    for name in chosen(args.only, ABLATION, "variants"):
        source = SOURCE.get(name, [f"data.synthetic.synthetic.translator={args.translator}",
                                   *TRANSLATOR_EXTRA.get(name, [])])
        arms.append(Arm(SEGMENTER_CONFIG, ("method.terms=" + flow(ABLATION[name]), *source), name, variant_key(name)))
    return SweepSpec(arms, [None], args.seeds, sweep_dir(args),
                     [f"data.root={args.data}", f"optim.iterations={args.iterations}", "optim.budget_minutes=null",
                      "train.max_minutes=null", *args.set], [EvalSet("lge", args.lge, "val")], jobs=args.jobs)


def sweep_dir(args: argparse.Namespace) -> Path:
    return args.sweep_dir or Path(f"runs/sweep/unsupervised_synthetic_{args.stage}")


def run_translators(args: argparse.Namespace) -> None:
    spec = translator_spec(args)
    runs = sweep_or_plan(spec, args.dry_run)
    if runs is None or args.no_report:  # e.g. several processes side by side; report later (finished runs kept)
        return
    if args.style_seeds < 1:
        raise SystemExit(f"--style-seeds must be >= 1, got {args.style_seeds}")
    import torch

    from cmrseg.metrics.frechet import SegmenterFeatures, translator_frechet_draws
    from cmrseg.models.translator import load_translator

    several = runs["seed"].nunique() > 1
    checkpoints = {r.config + (f" (seed {r.seed})" if several else ""):
                   spec.out_dir / r.run / "checkpoints" / f"{args.checkpoint}.pt" for r in runs.itertuples()}
    torch.set_num_threads(args.threads)
    volumes = val_volumes(args.data, args.set)
    features = SegmenterFeatures(args.features)
    rows = []
    for name, ck in checkpoints.items():
        translator = load_translator(str(ck), name)
        fds = pd.DataFrame(translator_frechet_draws(translator, features, volumes, seeds=range(args.style_seeds)))
        row = {"translator": name, **fds.mean().round(2).to_dict()}
        if args.style_seeds > 1:  # how much of a difference between rows one draw of styles can explain
            row["all_sd"] = round(float(fds["all"].std()), 2)
        rows.append(row)
    print("\n" + pd.DataFrame(rows).to_string(index=False))
    print(f"\nFrechet distance (lower = closer to real) between the real labelled val slices (ACDC val, preprocessed) "
          f"and translations of their own label maps (one random style per slice; mean over {args.style_seeds} style "
          f"seed(s), all_sd = sd of 'all' over them; translators' {args.checkpoint}.pt); features: bottleneck of "
          f"{args.features}; per position class within the labelled extent (fewer slices -> biased upward; compare "
          f"rows only).")
    position_figure(checkpoints, volumes, Path(args.out) / "synthetic_by_position.png")


def run_ablation(args: argparse.Namespace) -> None:
    spec = ablation_spec(args)
    runs = sweep_or_plan(spec, args.dry_run)
    if runs is None:
        return
    several = runs["seed"].nunique() > 1
    rows = [saved_row(r.config + (f" (seed {r.seed})" if several else ""), spec.out_dir / r.run)
            for r in runs.itertuples()]
    uses = [a.label for a in spec.arms() if a.label not in SOURCE]
    print_ablation(rows, (f"translator {args.translator} (rows {', '.join(uses)})" if uses else
                          "domain-randomised pairs, no translator") + f"; {args.iterations} iterations per variant")


def saved_row(name: str, run_dir: Path) -> dict:
    """One table row from a finished run's saved evaluations (ACDC val ``eval/``, LGE val ``lge/eval/`` of the
    sweep, or ``lge_val/eval/`` of earlier runs)."""
    def dice_hd(path: Path, prefix: str) -> dict:
        s = json.loads(path.read_text(encoding="utf-8"))["structures"]
        return {**{f"{prefix}_{k}": round(s[k]["dice_mean"], 3) for k in STRUCTS},
                f"{prefix}_mean": round(s["mean"]["dice_mean"], 3), f"{prefix}_HD95": round(s["mean"]["hd95_mm_mean"], 1)}

    hist = pd.read_csv(run_dir / "history.csv")
    sel = run_dir / "selection" / "eval" / "summary.json"  # held-out training patients, when evaluated (RESULTS)
    selection = {"sel_mean": round(json.loads(sel.read_text(encoding="utf-8"))["structures"]["mean"]["dice_mean"], 3)
                 } if sel.exists() else {}
    return {"variant": name, **dice_hd(run_dir / "eval" / "summary.json", "Dice"), **selection,
            "best_it": int(hist["iteration"][hist["val/dice_mean"].idxmax()]),
            "val_best": round(float(hist["val/dice_mean"].max()), 3),
            "val_last": round(float(hist["val/dice_mean"].iloc[-1]), 3),
            **dice_hd(next(p for p in (run_dir / "lge" / "eval" / "summary.json",
                                       run_dir / "lge_val" / "eval" / "summary.json") if p.exists()), "LGE")}


def print_ablation(rows: list[dict], what: str) -> None:
    with pd.option_context("display.width", 250, "display.max_columns", 40):
        print("\n" + pd.DataFrame(rows).to_string(index=False))
    print(f"\nZero paired labels; {what}; ACDC val (10 patients, 20 volumes) and MS-CMRSeg LGE val (5 subjects, never "
          "trained on); 3D Dice and HD95 (mm, mean over LV/Myo/RV) after post-processing; checkpoint = best ACDC val "
          "mean Dice; empty prediction -> Dice 0, HD95 = image diagonal. best_it / val_best / val_last: the engine's "
          "validation (ACDC val, preprocessed grid, no post-processing) at the selected and at the last iteration: "
          "how much the selection on labelled val data adds over taking the last checkpoint. sel_mean (where "
          "evaluated): mean Dice on training patients 090-100, whose labels no run loads in training.")


def run_canvas(args: argparse.Namespace) -> None:
    """Share of the unpaired label maps' hearts (pool ``labelled``, never val) inside centre canvases of several
    sizes: how ``data.preprocess.fov_px`` for the zero-label segmenter was chosen without val data."""
    from cmrseg.data.cache import PreprocessedCache
    from cmrseg.data.splits import split_from_config
    from cmrseg.io import load_dataset

    cfg = load_config(SEGMENTER_CONFIG, [f"data.root={args.data}", *args.set])
    split = split_from_config(load_dataset(Path(args.data)), cfg.data, cfg.train.seed)
    cache = PreprocessedCache(cfg.data.cache_dir, cfg.data.preprocess)
    half = []
    for ref in split.labelled:
        lab = np.asarray(cache.get(ref, with_label=True).label)
        ys, xs = np.nonzero(lab.max(0) > 0)
        centre = lab.shape[-1] / 2
        half.append(max(np.abs(ys - centre).max(), np.abs(xs - centre).max()))
    half_px = np.array(half)
    print(f"{len(half_px)} label maps of the labelled pool on the {cfg.data.preprocess.fov_px} px canvas; heart "
          f"half-extent from the centre (px): median {np.median(half_px):.0f}, 95th pct {np.percentile(half_px, 95):.0f}")
    for side in (128, 160, 192):
        print(f"  fully inside a {side} px centre canvas: {np.mean(half_px < side / 2):.0%}")


def run_samples(args: argparse.Namespace) -> None:
    """Figure: 128 px crops of label maps of the unpaired pool (bottom), their real images (top; shown only to
    compare, never paired in training) and domain-randomised paintings of them (middle, seeded draws)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from cmrseg.data.cache import PreprocessedCache
    from cmrseg.data.random_contrast import RestyleConfig, random_contrast_images, restyle_images
    from cmrseg.data.splits import split_from_config
    from cmrseg.data.streams import PatchStream, SliceBank
    from cmrseg.data.synthetic_pairs import TranslatorPainter
    from cmrseg.io import load_dataset
    from cmrseg.models.translator import load_translator

    cfg = load_config(SEGMENTER_CONFIG, [f"data.root={args.data}", *args.set])
    split = split_from_config(load_dataset(Path(args.data)), cfg.data, cfg.train.seed)
    cache = PreprocessedCache(cfg.data.cache_dir, cfg.data.preprocess)
    refs = split.labelled[:8]
    bank = SliceBank([cache.get(r, with_label=True) for r in refs], [r.case_id for r in refs])
    batch = next(PatchStream(bank, 8, cfg.data.patch, cfg.data.foreground_p, seed=0))
    painted = random_contrast_images(batch["label"], batch["valid"], np.random.default_rng(0))
    rows = [("real (not used)", batch["image"][:, 0]), ("random contrast", painted[:, 0])]
    name = "random_contrast_samples.png"
    if args.samples_translator:  # the translator's images of the same maps, raw and restyled (same draws)
        painter = TranslatorPainter(load_translator(args.samples_translator, "--samples-translator"))
        raw = painter(batch, np.random.default_rng(0))
        styled = restyle_images(raw, batch["label"], batch["valid"], np.random.default_rng(0),
                                RestyleConfig(papillary=4))
        rows += [("translator", raw[:, 0]), ("translator, restyled", styled[:, 0])]
        name = "restyled_translator_samples.png"
    rows.append(("label map", batch["label"]))
    fig, axes = plt.subplots(len(rows), 8, figsize=(17, 2.2 * len(rows)))
    for r, (row_name, imgs) in enumerate(rows):
        last = r == len(rows) - 1
        for c in range(8):
            ax = axes[r, c]
            ax.imshow(imgs[c], cmap="viridis" if last else "gray", **({"vmin": 0, "vmax": 3} if last else {}))
            ax.set_xticks([]), ax.set_yticks([])
            if c == 0:
                ax.set_ylabel(row_name, fontsize=10)
    fig.tight_layout()
    out = Path(args.out) / name
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=90)
    plt.close(fig)
    print(f"figure: {out}")


def run_table(args: argparse.Namespace) -> None:
    """Print the ablation table of finished runs (``--rows "NAME=RUN_DIR" ...``) from their saved evaluations."""
    rows = []
    for spec in args.rows:
        name, _, run_dir = spec.partition("=")
        rows.append(saved_row(name, Path(run_dir)))
    print_ablation(rows, "rows as listed (see each run's config.yaml for its synthetic source)")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("stage", choices=["translators", "ablation", "table", "canvas", "samples"])
    ap.add_argument("--data", default="../shared/data/acdc")
    ap.add_argument("--lge", default="../shared/data/mscmr_lge")
    ap.add_argument("--features", default="runs/acdc_sup70/checkpoints/best.pt",
                    help="segmentation checkpoint whose bottleneck gives the Frechet features")
    ap.add_argument("--translator", default="runs/sweep/unsupervised_synthetic_translators/t2i_ic_sc_s0/checkpoints/"
                    "best.pt")
    ap.add_argument("--samples-translator", default=None,
                    help="samples: also show this translator's images of the maps, raw and restyled")
    ap.add_argument("--budget-minutes", type=float, default=None, help="translators: time budget per run")
    ap.add_argument("--style-seeds", type=int, default=1,
                    help="translators: Frechet distance averaged over this many seeded draws of styles")
    ap.add_argument("--checkpoint", choices=["best", "last"], default="best",
                    help="translators: which checkpoint the Frechet table and figure use (best = best cycle Dice; "
                         "last = the end of training, e.g. when the best one predates L_IC / L_SC)")
    ap.add_argument("--iterations", type=int, default=4000, help="ablation: iterations per variant")
    ap.add_argument("--threads", type=int, default=1, help="threads of the Frechet / canvas / samples analyses")
    ap.add_argument("--out", default="benchmarks/out/unsupervised_synthetic")
    ap.add_argument("--rows", nargs="*", default=[], help='table: "NAME=RUN_DIR" of finished ablation runs')
    ap.add_argument("--only", nargs="*", default=[], help="only these translators / variants (by name), in this order")
    ap.add_argument("--no-report", action="store_true", help="translators: train only, no Frechet table / figure")
    add_sweep_args(ap, "unsupervised_synthetic")
    ap.set_defaults(sweep_dir=None)  # per stage: runs/sweep/unsupervised_synthetic_<stage>
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    {"translators": run_translators, "ablation": run_ablation, "table": run_table,
     "canvas": run_canvas, "samples": run_samples}[args.stage](args)


if __name__ == "__main__":
    main()
