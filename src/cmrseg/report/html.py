"""A run's report as ONE self-contained HTML page: protocol, config, training curves, sortable metric tables,
clinical indices with correlation and Bland-Altman plots, a slice viewer per volume, and the volume-time curves
and clinical numbers of segmented cines.

Everything is inline (PNG frames as data URIs, SVG plots, the CSS and JS of ``report/assets``), so
``report.html`` can be mailed or archived alone and opens offline. Each part is read from the run folder
(``config.yaml``, ``history.csv``, ``eval/`` as written by :meth:`cmrseg.metrics.evaluate.EvaluationResult.save`,
``predictions/``, ``figures/*.png``, the ``*_clinical.json`` / ``*_volumes.png`` / ``*_volumes.csv`` of cines:
:mod:`cmrseg.report.cine`); a missing or unreadable part becomes a short note instead of an error. A folder
holding only cine results (a ``cmrseg predict`` or ``cmrseg cohort`` output) gives a page of those alone.
"""

from __future__ import annotations

import json
import logging
import math
import tempfile
from collections.abc import Callable, Iterable
from datetime import datetime
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from cmrseg.errors import InputError
from cmrseg.labels import STRUCTURES
from cmrseg.report.cases import MAX_CASES, find_run_cases
from cmrseg.report.cine import cine_section, find_cine_results
from cmrseg.report.curves import plot_history, read_history
from cmrseg.report.markup import anchor, esc, fmt, img, note, num, table, td
from cmrseg.report.plots import bland_altman_svg, correlation_svg
from cmrseg.report.viewer import viewers_html

log = logging.getLogger(__name__)

_NAMES = tuple(STRUCTURES.values())  # LV, Myo, RV


def _asset(name: str) -> str:
    """Text of ``report/assets/<name>`` (CSS/JS inlined into the page)."""
    return resources.files("cmrseg.report").joinpath("assets", name).read_text(encoding="utf-8")


def _read_json(path: Path) -> dict | None:
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def _read_csv(path: Path) -> pd.DataFrame | None:
    if not path.is_file():
        return None
    try:
        return pd.read_csv(path)
    except pd.errors.EmptyDataError:
        return None


# ---------------------------------------------------------------- sections (each returns an HTML fragment)


def _config(run: Path) -> str:
    path = run / "config.yaml"
    if not path.is_file():
        return note("no config.yaml in this run folder")
    return f"<details><summary>config.yaml</summary><pre>{esc(path.read_text(encoding='utf-8'))}</pre></details>"


def _curves(run: Path) -> str:
    with tempfile.TemporaryDirectory() as tmp:
        png = plot_history(run / "history.csv", Path(tmp) / "curves.png")
        if not png:
            return note("no training history (history.csv)")
        out = img(png.read_bytes(), "training curves")
    df = read_history(run / "history.csv")
    facts = [f"{len(df)} logged points up to iteration {int(df['iteration'].max())}"]
    if "minutes" in df.columns and df["minutes"].notna().any():
        facts.append(f"{fmt(df['minutes'].max(), 1)} min of training")
    if "val/dice_mean" in df.columns and df["val/dice_mean"].notna().any():
        best = df.loc[pd.to_numeric(df["val/dice_mean"], errors="coerce").idxmax()]
        facts.append(f"best mean val Dice {fmt(best['val/dice_mean'], 3)} at iteration {int(best['iteration'])}")
    if "loss/total" in df.columns:
        facts.append(f"last total loss {fmt(df['loss/total'].iloc[-1], 4)}")
    return out + f"<p>{esc('; '.join(facts))}.</p>"


def _eval_dir(run: Path) -> Path:
    """Where a folder's evaluation lies: ``eval/`` of a run folder, or the folder itself (``evaluate --out``)."""
    return run / "eval" if (run / "eval").is_dir() else run


def _timing(run: Path) -> str:
    """Seconds per volume of each inference stage, as a table (not the raw JSON)."""
    s = _read_json(_eval_dir(run) / "summary.json") or {}
    timing = s.get("timing_s_per_volume")
    if not isinstance(timing, dict) or not timing:
        return ""
    rows = [[f"<td>{esc(str(k))}</td>", td(v)] for k, v in timing.items() if isinstance(v, (int, float))]
    return table(["stage", "s / volume"], rows) if rows else ""


def _summary(run: Path) -> str:
    s = _read_json(_eval_dir(run) / "summary.json")
    if s is None:
        return note("no evaluation summary (eval/summary.json)")
    per = s.get("structures", {})
    rows, classes = [], []
    for name in (*_NAMES, "mean"):
        if name not in per:
            continue
        d = per[name]
        dice = fmt(d.get("dice_mean"), 3) + ("" if name == "mean" else f" ± {fmt(d.get('dice_std'), 3)}")
        rows.append([f"<td>{esc(name)}</td>", td(d.get("n", ""), 0 if name != "mean" else None),
                     f'<td class="n">{esc(dice)}</td>', td(d.get("hd95_mm_mean")), td(d.get("assd_mm_mean")),
                     td(d.get("n_missed"), 0), td(d.get("n_false_positive"), 0)])
        classes.append("mean" if name == "mean" else "")
    out = table(["Structure", "n", "Dice (mean ± SD)", "HD95 mm", "ASSD mm", "missed", "false pos."], rows,
                row_classes=classes)
    extra = [f"{s['n_volumes']} volumes evaluated."] if "n_volumes" in s else []
    for key, what in (("missing_predictions", "GT without prediction"),
                      ("unmatched_predictions", "predictions without GT")):
        if s.get(key):
            extra.append(f"{len(s[key])} {what}: {', '.join(map(str, s[key]))}")
    timing = s.get("timing_s_per_volume", per.get("timing_s_per_volume"))
    if timing:
        extra.append(f"inference time per volume (s): {json.dumps(timing)}")
    extra += [f"note: {n}" for n in s.get("notes", [])]
    return out + "".join(f"<p>{esc(t)}</p>" for t in extra)


def _per_case(run: Path, viewer_ids: set[str]) -> str:
    """Case x (Dice, HD95, ASSD per structure) table, sortable; a case id links to its slice viewer if any."""
    df = _read_csv(_eval_dir(run) / "per_case.csv")
    if df is None or df.empty:
        return note("no per-case metrics (eval/per_case.csv)")
    metrics = [("dice", "Dice", 3), ("hd95_mm", "HD95 mm", 2), ("assd_mm", "ASSD mm", 2)]
    headers = ["case", "patient", "phase", "Dice mean"] + [f"{t} {n}" for _, t, _ in metrics for n in _NAMES]
    rows = []
    for case_id, d in df.groupby("case_id", sort=False):
        by = d.set_index("structure")
        first = d.iloc[0]
        get = lambda col, name: by[col].get(name, math.nan) if col in by else math.nan  # noqa: E731
        flags = [f"{n} {by['status'][n]}" for n in _NAMES
                 if "status" in by and n in by.index and by["status"][n] in ("missed", "false_positive")]
        vid = anchor("v", str(case_id))
        link = f'<a href="#{vid}">{esc(case_id)}</a>' if vid in viewer_ids else None
        rows.append([td(str(case_id), None, link), td(first.get("patient", ""), None),
                     td(first.get("phase", ""), None),
                     td(np.nanmean([num(get("dice", n)) for n in _NAMES]) if d["dice"].notna().any() else math.nan,
                        3)]
                    + [td(get(col, n), digits) for col, _, digits in metrics for n in _NAMES]
                    + [td("; ".join(flags), None)])
    linked = " A linked case id opens its slice viewer." if viewer_ids else ""
    return (table(headers + ["flags"], rows, sortable=True, table_id="per-case")
            + note(f"{len(rows)} volumes; click a column header to sort (again to reverse).{linked}"))


def _clinical(run: Path) -> str:
    df = _read_csv(_eval_dir(run) / "clinical.csv")
    parts = []
    if df is None or df.empty:
        parts.append(note("no clinical indices (eval/clinical.csv absent or empty: needs ED and ES per patient)"))
    else:
        idx = [c[: -len("_pred")] for c in df.columns if c.endswith("_pred") and c[:-5] + "_gt" in df.columns
               and c != "notes_pred"]
        cols = [c for c in ("patient", "ed_case", "es_case") if c in df.columns]
        headers = cols + [f"{k} {s}" for k in idx for s in ("pred", "gt")] + ["notes"]
        rows = [[td(r[c], None) for c in cols] + [td(r[f"{k}_{s}"], 1) for k in idx for s in ("pred", "gt")]
                + [td("; ".join(str(r[c]) for c in ("notes_pred", "notes_gt")
                                if c in df.columns and isinstance(r[c], str) and r[c]), None)]
                for _, r in df.iterrows()]
        parts.append(table(headers, rows, sortable=True, table_id="clinical"))
    agree = _read_json(_eval_dir(run) / "agreement.json")
    if not agree:
        parts.append(note("no agreement statistics (eval/agreement.json)"))
    else:
        rows = [[td(k, None), td(f"{a.get('n', '')}" + (f" (+{a['n_excluded']} NaN)" if a.get("n_excluded") else ""),
                                 None),
                 td(a.get("bias")), td(a.get("sd")),
                 td(f"{fmt(a.get('loa_low'))} to {fmt(a.get('loa_high'))}", None), td(a.get("mae")),
                 td(a.get("pearson_r"), 3)] for k, a in agree.items() if isinstance(a, dict)]
        parts.append("<h3>Agreement, prediction vs ground truth (Bland-Altman)</h3>"
                     + table(["Index", "n", "bias", "SD", "95% LoA", "MAE", "Pearson r"], rows))
    if df is not None and not df.empty:
        plots = [svg for svg in (correlation_svg(df), bland_altman_svg(df)) if svg]
        parts.append("<h3>Correlation and Bland-Altman plots</h3>"
                     + ("".join(f'<div class="plot">{svg}</div>' for svg in plots) if plots
                        else note("no index with a finite prediction/ground-truth pair to plot")))
    return "".join(parts)


def _figures(run: Path) -> str:
    pngs = sorted((run / "figures").glob("*.png")) if (run / "figures").is_dir() else []
    if not pngs:
        return note("no overlay figures (figures/*.png)")
    return "".join(f"<figure>{img(p.read_bytes(), p.stem)}<figcaption>{esc(p.stem)}</figcaption></figure>"
                   for p in pngs)


def _protocol(run: Path) -> str:
    s = _read_json(_eval_dir(run) / "summary.json") or {}
    text = s.get("protocol", (s.get("structures") or {}).get("protocol"))
    if text is None:
        return ""
    text = text if isinstance(text, str) else json.dumps(text, indent=2)
    return f'<h2 id="protocol">Protocol</h2><p class="protocol">{esc(text)}</p>'


def _safe(name: str, build: Callable[[], str]) -> str:
    """Run one section builder; an unreadable part becomes a note, not a failed report."""
    try:
        return build()
    except Exception as exc:  # noqa: BLE001 - a report must survive any malformed part
        log.warning("report section %r skipped: %s", name, exc)
        return note(f"{name} skipped: {type(exc).__name__}: {exc}")


def _viewer_section(run: Path, cases: Iterable[dict] | None, data_root: str | Path | None,
                    max_cases: int) -> tuple[str, set[str]]:
    """The slice-viewer section and the ids of the viewers it holds (for links from the tables)."""
    notes: list[str] = []
    if cases is None and max_cases <= 0:
        cases = []
    elif cases is None:
        found = find_run_cases(run, data_root, max_cases)
        cases, notes = found, found.notes
    fragment, ids = viewers_html(tqdm(cases, desc="report viewers", unit="case", leave=False, disable=None))
    return "".join(note(n) for n in notes) + fragment, set(ids)


def _run_sections(run: Path, cases: Iterable[dict] | None, data_root: str | Path | None,
                  max_cases: int) -> list[tuple[str, str, str]]:
    """``(id, title, html)`` of the sections of a run or evaluation folder."""
    viewers, viewer_ids = "", set()
    try:
        viewers, viewer_ids = _viewer_section(run, cases, data_root, max_cases)
    except Exception as exc:  # noqa: BLE001 - same policy as _safe
        log.warning("report section 'slice viewers' skipped: %s", exc)
        viewers = note(f"slice viewers skipped: {type(exc).__name__}: {exc}")
    sections = [
        ("config", "Configuration", _safe("configuration", lambda: _config(run))),
        ("curves", "Training curves", _safe("training curves", lambda: _curves(run))),
        ("summary", "Segmentation summary (mean over volumes)", _safe("summary", lambda: _summary(run))),
        ("per-volume", "Per volume", _safe("per-case table", lambda: _per_case(run, viewer_ids))),
        ("clinical", "Clinical indices", _safe("clinical indices", lambda: _clinical(run))),
        ("timing", "Inference time per volume", _safe("timing", lambda: _timing(run))),
        ("viewers", "Slice viewers (prediction | ground truth)", viewers),
    ]
    figures = _safe("figures", lambda: _figures(run))
    sections.append(("figures", "Overlay figures (RV blue, Myo green, LV red)",
                     f"<details{'' if viewer_ids else ' open'}><summary>basal, mid and apical slices of the first "
                     f"volumes (figures/*.png)</summary>{figures}</details>"))
    return sections


def write_report(run_dir: str | Path, cases: Iterable[dict] | None = None, *,
                 data_root: str | Path | None = None, max_cases: int = MAX_CASES) -> Path:
    """Write ``RUN_DIR/report.html`` (one self-contained page) and return its path.

    Args:
        run_dir: a run folder written by ``cmrseg train`` / ``cmrseg run``, an evaluation folder
            (``cmrseg evaluate --out``), or a ``cmrseg predict`` / ``cmrseg cohort`` output with cine results.
        cases: volumes to browse slice by slice, each ``{"case_id", "image", "pred", "gt" (or None),
            "spacing" ((sz, sy, sx) mm or None)}`` with ``(z, y, x)`` arrays. ``None`` (default): the run's
            ``predictions/*.nii.gz`` with image and GT read from its dataset (see :mod:`cmrseg.report.cases`).
        data_root: dataset folder for ``cases=None`` when ``data.root`` of ``config.yaml`` is not valid here.
        max_cases: at most this many slice viewers when ``cases`` is ``None`` (0 = none).

    Raises:
        InputError: ``run_dir`` is not a folder, or none of these. Missing or malformed parts of it only produce
            notes.

    Example:
        >>> write_report("runs/acdc_sup7")                                   # doctest: +SKIP
        >>> write_report("runs/x", cases=[{"case_id": c.case_id, "image": c.image, "pred": p,
        ...                                "gt": c.label, "spacing": c.spacing}])  # doctest: +SKIP
    """
    run = Path(run_dir)
    if not run.is_dir():
        raise InputError("run folder does not exist or is not a folder", run, "pass the folder `cmrseg train` wrote")
    is_run = any(p.is_file() for p in (run / "config.yaml", run / "history.csv", _eval_dir(run) / "summary.json"))
    if not is_run and not find_cine_results(run).found:
        raise InputError("neither a run folder (config.yaml, history.csv), an evaluation folder (summary.json) nor a "
                         "folder with cine results (*_clinical.json)", run,
                         "pass a folder written by `cmrseg train` / `cmrseg run` / `cmrseg evaluate --out`, or the "
                         "output folder of `cmrseg predict` / `cmrseg cohort` on a cine")
    sections = _run_sections(run, cases, data_root, max_cases) if is_run else []
    sections.append(("cine", "Cines: volume curves and clinical numbers",
                     _safe("cine curves", lambda: cine_section(run))))
    sections = [(i, t, s) for i, t, s in sections if s]
    protocol = _safe("protocol", lambda: _protocol(run))
    nav = " ".join(f'<a href="#{i}">{esc(t.split(" (")[0])}</a>' for i, t, _ in sections)
    body = protocol + "".join(f'<h2 id="{i}">{esc(t)}</h2>{s}' for i, t, s in sections)
    title = f"cmrseg report: {run.resolve().name}"
    page = (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1"><title>{esc(title)}</title>'
            f"<style>{_asset('report.css')}</style></head><body><h1>{esc(title)}</h1>"
            f'<p class="note">{esc(str(run.resolve()))}, generated {datetime.now():%Y-%m-%d %H:%M}</p>'
            f'<nav class="toc">{nav}</nav>{body}<script>{_asset("report.js")}</script></body></html>')
    out = run / "report.html"
    out.write_text(page, encoding="utf-8")
    return out

