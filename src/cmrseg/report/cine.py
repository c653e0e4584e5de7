"""The cine part of a report: each subject's volume-time curve and a table of its clinical numbers.

Read from the files :mod:`cmrseg.metrics.cine` writes: ``<stem>_clinical.json`` (ED/ES and how they were found,
EDV/ESV/SV/EF of LV and RV, LV mass, QC flags and notes) with ``<stem>_volumes.png`` (the curve) and
``<stem>_volumes.csv`` (its numbers), beside each cine ``cmrseg predict`` segmented or in ``curves/`` of a
``cmrseg cohort`` output. A curve whose PNG is missing is drawn again from its CSV; an unreadable file becomes
a note.
"""

from __future__ import annotations

import csv
import json
import logging
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from cmrseg.io.base import natural_key
from cmrseg.report.markup import anchor, esc, img, note, table, td

log = logging.getLogger(__name__)

SUFFIX = "_clinical.json"
#: At most this many cines get a curve picture (about 40 kB each); the table lists every one.
MAX_CURVES = 200
#: Table columns: (heading, report key, decimals).
COLUMNS: tuple[tuple[str, str, int], ...] = (
    ("LV EDV mL", "LV_EDV_ml", 1), ("LV ESV mL", "LV_ESV_ml", 1), ("LV SV mL", "LV_SV_ml", 1),
    ("LV EF %", "LV_EF_pct", 1), ("RV EDV mL", "RV_EDV_ml", 1), ("RV ESV mL", "RV_ESV_ml", 1),
    ("RV SV mL", "RV_SV_ml", 1), ("RV EF %", "RV_EF_pct", 1), ("LV mass g", "LV_mass_g", 1),
)


@dataclass
class CineResults:
    """The cine results found below a folder: ``(json path, report)`` pairs and notes on unreadable ones."""

    found: list[tuple[Path, dict]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def find_cine_results(folder: str | Path) -> CineResults:
    """Every ``*_clinical.json`` below ``folder`` that holds a cine report (it has ``ED``/``ES``), in natural
    order of their paths."""
    folder = Path(folder)
    out = CineResults()
    for path in sorted(folder.rglob(f"*{SUFFIX}"), key=lambda p: natural_key(str(p.relative_to(folder)))):
        try:
            report = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            out.notes.append(f"{path.relative_to(folder)} skipped: unreadable ({type(exc).__name__}: {exc})")
            continue
        if isinstance(report, dict) and isinstance(report.get("ED"), dict) and isinstance(report.get("ES"), dict):
            out.found.append((path, report))
    return out


def _stem(path: Path) -> Path:
    return path.with_name(path.name[: -len(SUFFIX)])


def _subject(path: Path, report: dict) -> str:
    return str(report.get("subject") or _stem(path).name)


def _curve_png(path: Path, report: dict) -> bytes | None:
    """The curve picture beside ``path``, or one drawn from the curve CSV when only that exists."""
    png, csv_path = Path(f"{_stem(path)}_volumes.png"), Path(f"{_stem(path)}_volumes.csv")
    if png.is_file():
        return png.read_bytes()
    if not csv_path.is_file():
        return None
    from cmrseg.metrics.cine import curve_from_volumes, plot_curve

    with open(csv_path, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    if not rows:
        return None
    n = int(report.get("n_frames") or max(int(r["frame"]) for r in rows))
    times = [r.get("time_ms") for r in rows]
    curve = curve_from_volumes([int(r["frame"]) - 1 for r in rows],
                               {k: [float(r[f"{k}_ml"]) for r in rows] for k in ("LV", "Myo", "RV")}, n,
                               [float(t) for t in times] if len(rows) == n and all(times) else None)
    with tempfile.TemporaryDirectory() as tmp:
        out = plot_curve(curve, Path(tmp) / "curve.png", report, title=f"{_subject(path, report)} (from the CSV)")
        return out.read_bytes()


def _phase(report: dict, name: str) -> str:
    p = report.get(name) or {}
    text = str(p.get("frame", ""))
    if p.get("time_ms") is not None:
        text += f" ({float(p['time_ms']):.0f} ms)"
    return text


def cine_section(folder: str | Path, max_curves: int = MAX_CURVES) -> str:
    """HTML of the cine results below ``folder`` (``""`` when there are none): a sortable table of ED/ES frame,
    how they were found, EDV/ESV/SV/EF of LV and RV, LV mass and QC flags per subject, then each subject's curve
    with its notes. A subject's name links to its curve."""
    folder = Path(folder)
    results = find_cine_results(folder)
    if not results.found:
        return "".join(note(n) for n in results.notes)
    rows, figures = [], []
    for i, (path, rep) in enumerate(results.found):
        subject = _subject(path, rep)
        fid = anchor("cine", f"{i}-{subject}")
        flags = rep.get("qc_flags") or []
        picture = None
        if i < max_curves:
            try:
                picture = _curve_png(path, rep)
            except (OSError, ValueError, KeyError) as exc:
                log.warning("cine curve of %s not drawn: %s", path, exc)
        link = f'<a href="#{fid}">{esc(subject)}</a>' if picture is not None else None
        rows.append([td(subject, None, link), td((rep.get("ED") or {}).get("frame"), 0),
                     td((rep.get("ES") or {}).get("frame"), 0),
                     td(str((rep.get("ED") or {}).get("how", "")), None)]
                    + [td(rep.get(key), digits) for _, key, digits in COLUMNS]
                    + [td(", ".join(map(str, flags)) or "none", None)])
        where = str(path.relative_to(folder))
        notes = rep.get("notes") or []
        body = (img(picture, f"{subject} volume-time curve") if picture is not None
                else note(f"no curve picture for {subject} ({where}: no _volumes.png or _volumes.csv beside it)"
                          if i < max_curves else f"curve of {subject} left out (more than {max_curves} cines)"))
        caption = (f"{subject}: ED frame {_phase(rep, 'ED')}, ES frame {_phase(rep, 'ES')}; "
                   f"QC flags: {', '.join(map(str, flags)) or 'none'} ({where})")
        figures.append(f'<figure id="{fid}">{body}<figcaption>{esc(caption)}'
                       + (f"<ul>{''.join(f'<li>{esc(n)}</li>' for n in notes)}</ul>" if notes else "")
                       + "</figcaption></figure>")
    headers = ["subject", "ED frame", "ES frame", "ED/ES found by"] + [h for h, _, _ in COLUMNS] + ["QC flags"]
    n_curves = sum(1 for f in figures if "<img" in f)
    return (table(headers, rows, sortable=True, table_id="cine-table")
            + note(f"{len(rows)} cine(s); frames 1-based; volumes from voxel counts (no slice interpolation), LV mass "
                   f"= myocardium at ED x 1.05 g/mL. A linked subject opens its curve ({n_curves} shown).")
            + "".join(note(n) for n in results.notes)
            + "".join(figures))
