"""A run's self-contained HTML report: config, training curves, metric tables, overlays and slice viewers.

Everything is inline (base64 PNGs, CSS, a little JS), so ``report.html`` can be mailed or archived alone. Each
part is read from the run folder (layout: ``config.yaml``, ``history.csv``, ``eval/`` as written by
:meth:`cmrseg.metrics.evaluate.EvaluationResult.save`, ``figures/*.png``); a missing or unreadable part becomes
a short note in the report instead of an error.
"""

from __future__ import annotations

import base64
import html
import io
import json
import logging
import math
import tempfile
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd

from cmrseg.errors import InputError
from cmrseg.labels import STRUCTURES
from cmrseg.report.curves import plot_history
from cmrseg.report.overlays import check_volumes, heart_box, heart_slices, overlay_rgb, window

log = logging.getLogger(__name__)

_NAMES = tuple(STRUCTURES.values())  # LV, Myo, RV

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:2em auto;max-width:1200px;padding:0 1em;color:#222}
h1{font-size:1.5em}h2{font-size:1.2em;border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:2em}
table{border-collapse:collapse;font-size:.85em;margin:.5em 0}th,td{border:1px solid #ccc;padding:.25em .5em}
td.n{text-align:right;font-variant-numeric:tabular-nums}th{background:#f3f3f3}
table.sortable th{cursor:pointer}table.sortable th[data-dir=asc]::after{content:" \\25B2"}
table.sortable th[data-dir=desc]::after{content:" \\25BC"}tr.mean td{font-weight:bold}
.scroll{overflow-x:auto}.note{color:#777;font-style:italic}
.protocol{background:#f7f7f7;padding:.6em;white-space:pre-wrap}
pre{background:#f7f7f7;padding:.6em;overflow-x:auto}figure{display:inline-block;margin:.5em}
img{max-width:100%}figcaption{font-size:.85em;color:#555}
.viewer{display:inline-block;margin:.5em 1em .5em 0;vertical-align:top}
.viewer img{image-rendering:pixelated;max-width:none}.viewer input{width:100%}
"""

_JS = """
document.querySelectorAll("table.sortable th").forEach((th, i) => th.addEventListener("click", () => {
  const body = th.closest("table").tBodies[0], asc = th.dataset.dir !== "asc";
  th.parentNode.querySelectorAll("th").forEach(h => delete h.dataset.dir);
  th.dataset.dir = asc ? "asc" : "desc";
  const key = r => { const c = r.cells[i]; return c.dataset.v === undefined ? c.textContent
                     : (c.dataset.v === "" ? NaN : parseFloat(c.dataset.v)); };
  [...body.rows].sort((a, b) => {
    const x = key(a), y = key(b);
    if (typeof x === "number") { if (isNaN(x)) return 1; if (isNaN(y)) return -1; return asc ? x - y : y - x; }
    return (asc ? 1 : -1) * String(x).localeCompare(String(y), undefined, {numeric: true});
  }).forEach(r => body.appendChild(r));
}));
document.querySelectorAll(".viewer").forEach(v => {
  const imgs = v.querySelectorAll("img.frame"), s = v.querySelector("input[type=range]"), z = v.querySelector(".z");
  const show = () => { imgs.forEach((im, k) => { im.hidden = k !== +s.value; });
                       z.textContent = imgs[+s.value].dataset.z; };
  s.addEventListener("input", show); show();
});
"""


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _note(text: str) -> str:
    return f'<p class="note">{_e(text)}</p>'


def _num(value: object) -> float:
    try:
        v = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return math.nan
    return v if math.isfinite(v) else math.nan


def _fmt(value: object, digits: int = 2) -> str:
    v = _num(value)
    return "–" if math.isnan(v) else f"{v:.{digits}f}"


def _td(value: object, digits: int | None = 2) -> str:
    """A table cell: numbers right-aligned with a ``data-v`` sort key, anything else as escaped text."""
    if digits is None or isinstance(value, str):
        return f"<td>{_e('' if value is None or (isinstance(value, float) and math.isnan(value)) else value)}</td>"
    v = _num(value)
    return f'<td class="n" data-v="{"" if math.isnan(v) else repr(v)}">{_fmt(v, digits)}</td>'


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]], sortable: bool = False,
           row_classes: Sequence[str] | None = None) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    classes = row_classes or [""] * len(rows)
    body = "".join(f'<tr class="{c}">{"".join(r)}</tr>' if c else f"<tr>{''.join(r)}</tr>"
                   for r, c in zip(rows, classes))
    cls = ' class="sortable"' if sortable else ""
    return f'<div class="scroll"><table{cls}><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>'


def _img(png: bytes, alt: str, extra: str = "") -> str:
    return f'<img src="data:image/png;base64,{base64.b64encode(png).decode("ascii")}" alt="{_e(alt)}"{extra}>'


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
        return _note("no config.yaml in this run folder")
    return f"<details><summary>config.yaml</summary><pre>{_e(path.read_text(encoding='utf-8'))}</pre></details>"


def _curves(run: Path) -> str:
    with tempfile.TemporaryDirectory() as tmp:
        png = plot_history(run / "history.csv", Path(tmp) / "curves.png")
        return _img(png.read_bytes(), "training curves") if png else _note("no training history (history.csv)")


def _summary(run: Path) -> str:
    s = _read_json(run / "eval" / "summary.json")
    if s is None:
        return _note("no evaluation summary (eval/summary.json)")
    per = s.get("structures", {})
    rows, classes = [], []
    for name in (*_NAMES, "mean"):
        if name not in per:
            continue
        d = per[name]
        dice = _fmt(d.get("dice_mean"), 3) + ("" if name == "mean" else f" ± {_fmt(d.get('dice_std'), 3)}")
        rows.append([f"<td>{_e(name)}</td>", _td(d.get("n", ""), 0 if name != "mean" else None),
                     f'<td class="n">{_e(dice)}</td>', _td(d.get("hd95_mm_mean")), _td(d.get("assd_mm_mean")),
                     _td(d.get("n_missed"), 0), _td(d.get("n_false_positive"), 0)])
        classes.append("mean" if name == "mean" else "")
    out = _table(["Structure", "n", "Dice (mean ± SD)", "HD95 mm", "ASSD mm", "missed", "false pos."], rows,
                 row_classes=classes)
    extra = [f"{s['n_volumes']} volumes evaluated."] if "n_volumes" in s else []
    for key, what in (("missing_predictions", "GT without prediction"), ("unmatched_predictions",
                                                                         "predictions without GT")):
        if s.get(key):
            extra.append(f"{len(s[key])} {what}: {', '.join(map(str, s[key]))}")
    timing = s.get("timing_s_per_volume", per.get("timing_s_per_volume"))
    if timing:
        extra.append(f"inference time per volume (s): {json.dumps(timing)}")
    extra += [f"note: {n}" for n in s.get("notes", [])]
    return out + "".join(f"<p>{_e(t)}</p>" for t in extra)


def _per_case(run: Path) -> str:
    df = _read_csv(run / "eval" / "per_case.csv")
    if df is None or df.empty:
        return _note("no per-case metrics (eval/per_case.csv)")
    metrics = [("dice", "Dice", 3), ("hd95_mm", "HD95 mm", 2), ("assd_mm", "ASSD mm", 2)]
    headers = ["case", "patient", "phase", "Dice mean"] + [f"{t} {n}" for _, t, _ in metrics for n in _NAMES]
    rows = []
    for case_id, d in df.groupby("case_id", sort=False):
        by = d.set_index("structure")
        first = d.iloc[0]
        get = lambda col, name: by[col].get(name, math.nan) if col in by else math.nan  # noqa: E731
        flags = [f"{n} {by['status'][n]}" for n in _NAMES
                 if "status" in by and n in by.index and by["status"][n] in ("missed", "false_positive")]
        rows.append([_td(str(case_id), None), _td(first.get("patient", ""), None), _td(first.get("phase", ""), None),
                     _td(np.nanmean([_num(get("dice", n)) for n in _NAMES]) if d["dice"].notna().any() else math.nan,
                         3)]
                    + [_td(get(col, n), digits) for col, _, digits in metrics for n in _NAMES]
                    + [_td("; ".join(flags), None)])
    return (_table(headers + ["flags"], rows, sortable=True)
            + _note(f"{len(rows)} volumes; click a column header to sort."))


def _clinical(run: Path) -> str:
    df = _read_csv(run / "eval" / "clinical.csv")
    parts = []
    if df is None or df.empty:
        parts.append(_note("no clinical indices (eval/clinical.csv absent or empty: needs ED and ES per patient)"))
    else:
        idx = [c[: -len("_pred")] for c in df.columns if c.endswith("_pred") and c[:-5] + "_gt" in df.columns
               and c != "notes_pred"]
        cols = [c for c in ("patient", "ed_case", "es_case") if c in df.columns]
        headers = cols + [f"{k} {s}" for k in idx for s in ("pred", "gt")] + ["notes"]
        rows = [[_td(r[c], None) for c in cols] + [_td(r[f"{k}_{s}"], 1) for k in idx for s in ("pred", "gt")]
                + [_td("; ".join(str(r[c]) for c in ("notes_pred", "notes_gt")
                                 if c in df.columns and isinstance(r[c], str) and r[c]), None)]
                for _, r in df.iterrows()]
        parts.append(_table(headers, rows, sortable=True))
    agree = _read_json(run / "eval" / "agreement.json")
    if not agree:
        parts.append(_note("no agreement statistics (eval/agreement.json)"))
    else:
        rows = [[_td(k, None), _td(f"{a.get('n', '')}" + (f" (+{a['n_excluded']} NaN)" if a.get("n_excluded") else ""),
                                   None),
                 _td(a.get("bias")), _td(a.get("sd")),
                 _td(f"{_fmt(a.get('loa_low'))} to {_fmt(a.get('loa_high'))}", None), _td(a.get("mae")),
                 _td(a.get("pearson_r"), 3)] for k, a in agree.items() if isinstance(a, dict)]
        parts.append("<h3>Agreement, prediction vs ground truth (Bland-Altman)</h3>"
                     + _table(["Index", "n", "bias", "SD", "95% LoA", "MAE", "Pearson r"], rows))
    return "".join(parts)


def _figures(run: Path) -> str:
    pngs = sorted((run / "figures").glob("*.png")) if (run / "figures").is_dir() else []
    if not pngs:
        return _note("no overlay figures (figures/*.png)")
    return "".join(f"<figure>{_img(p.read_bytes(), p.stem)}<figcaption>{_e(p.stem)}</figcaption></figure>"
                   for p in pngs)


def _png(rgb: np.ndarray) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="png")
    return buf.getvalue()


def _viewer(case: dict, height_px: int = 260) -> str:
    """Per-slice frames (prediction | GT side by side) cropped to the heart, and a range slider to pick one."""
    case_id = str(case.get("case_id", "case"))
    image, pred, gt = check_volumes(case["image"], case["pred"], case.get("gt"))
    spacing = case.get("spacing")
    ys, xs = heart_box(pred, gt)
    vmin, vmax = window(image[:, ys, xs])
    h, w = image[0, ys, xs].shape
    k = int(np.clip(math.ceil(height_px / h), 1, 4))  # nearest-neighbour upscale so that contours stay thin
    up = lambda a: np.repeat(np.repeat(a, k, axis=0), k, axis=1)  # noqa: E731
    gap = np.full((h * k, 4, 3), 255, np.uint8)
    frames = []
    for z in range(image.shape[0]):
        tiles = [overlay_rgb(up(image[z, ys, xs]), up(lab[z, ys, xs]), vmin=vmin, vmax=vmax)
                 for lab in (pred, gt) if lab is not None]
        frames.append(np.concatenate([tiles[0], gap, tiles[1]], axis=1) if len(tiles) == 2 else tiles[0])
    aspect = 1.0 if spacing is None else float(spacing[-1]) / float(spacing[-2])  # width/height of one pixel
    width_px = int(round(height_px * frames[0].shape[1] / frames[0].shape[0] * aspect))
    picks = heart_slices(pred, gt, n_slices=3)
    start = picks[len(picks) // 2][0]
    imgs = "".join(_img(_png(f), f"{case_id} z={z}", f' class="frame" data-z="z={z}" '
                        f'style="width:{width_px}px;height:{height_px}px"' + ("" if z == start else " hidden"))
                   for z, f in enumerate(frames))
    label = "prediction | ground truth" if gt is not None else "prediction"
    return (f'<div class="viewer"><div><b>{_e(case_id)}</b> ({_e(label)}), <span class="z"></span></div>'
            f"<div>{imgs}</div><input type=\"range\" min=\"0\" max=\"{len(frames) - 1}\" value=\"{start}\" "
            f'aria-label="slice of {_e(case_id)}"></div>')


def _viewers(cases: Sequence[dict]) -> str:
    out = []
    for case in cases:
        try:
            out.append(_viewer(case))
        except (InputError, KeyError, ValueError, TypeError) as exc:
            out.append(_note(f"case {case.get('case_id', '?')}: no viewer ({exc})"))
    return "".join(out)


def _protocol(run: Path) -> str:
    s = _read_json(run / "eval" / "summary.json") or {}
    text = s.get("protocol", (s.get("structures") or {}).get("protocol"))
    if text is None:
        return ""
    text = text if isinstance(text, str) else json.dumps(text, indent=2)
    return f'<h2>Protocol</h2><p class="protocol">{_e(text)}</p>'


def _safe(name: str, build: Callable[[], str]) -> str:
    """Run one section builder; an unreadable part becomes a note, not a failed report."""
    try:
        return build()
    except Exception as exc:  # noqa: BLE001 - a report must survive any malformed part
        log.warning("report section %r skipped: %s", name, exc)
        return _note(f"{name} skipped: {type(exc).__name__}: {exc}")


def write_report(run_dir: str | Path, cases: Sequence[dict] | None = None) -> Path:
    """Write ``RUN_DIR/report.html`` (self-contained) and return its path.

    Args:
        run_dir: a run folder written by ``cmrseg train`` / ``cmrseg run``.
        cases: optional volumes to browse slice by slice, each ``{"case_id", "image", "pred", "gt" (or None),
            "spacing" ((sz, sy, sx) mm or None)}`` with ``(z, y, x)`` arrays.

    Raises:
        InputError: ``run_dir`` is not a folder. Missing or malformed parts of it only produce notes.

    Example:
        >>> write_report("runs/acdc_ms_7", cases=[{"case_id": c.case_id, "image": c.image, "pred": p,
        ...                                        "gt": c.label, "spacing": c.spacing}])
    """
    run = Path(run_dir)
    if not run.is_dir():
        raise InputError("run folder does not exist or is not a folder", run, "pass the folder `cmrseg train` wrote")
    sections = [
        ("", _safe("protocol", lambda: _protocol(run))),
        ("Configuration", _safe("configuration", lambda: _config(run))),
        ("Training curves", _safe("training curves", lambda: _curves(run))),
        ("Segmentation summary (mean over volumes)", _safe("summary", lambda: _summary(run))),
        ("Per volume", _safe("per-case table", lambda: _per_case(run))),
        ("Clinical indices", _safe("clinical indices", lambda: _clinical(run))),
        ("Overlays (RV blue, Myo green, LV red)", _safe("figures", lambda: _figures(run))),
    ]
    if cases:
        sections.append(("Slice viewer", _safe("slice viewer", lambda: _viewers(cases))))
    body = "".join(f"<h2>{_e(t)}</h2>{s}" if t else s for t, s in sections)
    title = f"cmrseg report: {run.resolve().name}"
    page = (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{_e(title)}</title>'
            f"<style>{_CSS}</style></head><body><h1>{_e(title)}</h1>"
            f'<p class="note">{_e(str(run.resolve()))}, generated {datetime.now():%Y-%m-%d %H:%M}</p>'
            f"{body}<script>{_JS}</script></body></html>")
    out = run / "report.html"
    out.write_text(page, encoding="utf-8")
    return out
