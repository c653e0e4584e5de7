"""``cmrseg report`` on cine results: each subject's volume-time curve and a table of its clinical numbers, from a
``predict`` output (the cine phantom through the shipped model), hand-written curve files, and a cohort output."""

from __future__ import annotations

import base64
import html
import json
import re
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from cmrseg.cli.main import app
from cmrseg.errors import InputError
from cmrseg.metrics.cine import cine_report, curve_from_volumes, plot_curve, write_curve_csv, write_report_json
from cmrseg.report import write_report


def _row(page: str, subject: str) -> list[str]:
    """The cells (text) of ``subject``'s row in the cine table."""
    table = page[page.index('id="cine-table"'):]
    for tr in re.findall(r"<tr>(.*?)</tr>", table[: table.index("</table>")]):
        cells = [html.unescape(re.sub(r"<[^>]+>", "", c)) for c in re.findall(r"<td[^>]*>(.*?)</td>", tr)]
        if cells and cells[0] == subject:
            return cells
    raise AssertionError(f"no row for {subject}")


def _write_curve(folder: Path, stem: str, lv: list[float], png: bool = True, **report_kw) -> dict:
    n = len(lv)
    curve = curve_from_volumes(range(n), {"LV": lv, "RV": [0.8 * v for v in lv], "Myo": [100.0] * n}, n)
    rep = {"subject": stem, **cine_report(curve, **report_kw)}
    folder.mkdir(parents=True, exist_ok=True)
    write_curve_csv(curve, folder / f"{stem}_volumes.csv", rep["ED"]["time_index"], rep["ES"]["time_index"])
    if png:
        plot_curve(curve, folder / f"{stem}_volumes.png", rep)
    write_report_json(rep, folder / f"{stem}_clinical.json")
    return rep


def test_report_of_hand_written_curve_files(tmp_path) -> None:
    """Known curves: LV 150 -> 60 mL (EF 60 %), RV 0.8 x LV, myocardium 100 mL (LV mass 105 g)."""
    _write_curve(tmp_path / "a", "subj01", [150.0, 140.0, 110.0, 80.0, 62.0, 60.0, 75.0, 100.0, 125.0, 145.0])
    _write_curve(tmp_path / "b", "subj02", [120.0, 100.0, 90.0, 95.0, 110.0, 115.0, 118.0], png=False, ed=4, es=2,
                 phase_source="Info.cfg (ED: 5, ES: 3)")
    page = write_report(tmp_path).read_text(encoding="utf-8")
    assert _row(page, "subj01") == ["subj01", "1", "6", "LV blood-pool volume curve (ED: largest, ES: smallest "
                                    "volume)", "150.0", "60.0", "90.0", "60.0", "120.0", "48.0", "72.0", "60.0",
                                    "105.0", "none"]
    row = _row(page, "subj02")  # given ED 3 frames from the curve's largest: flagged; numbers at the given frames
    assert row[1:8] == ["5", "3", "Info.cfg (ED: 5, ES: 3)", "110.0", "90.0", "20.0", "18.2"]
    assert row[-1] == "ED_ES_differ_from_curve"
    png = (tmp_path / "a" / "subj01_volumes.png").read_bytes()
    assert base64.b64encode(png).decode() in page  # the curve picture itself, inline
    assert page.count('alt="subj01 volume-time curve"') == 1
    assert page.count('alt="subj02 volume-time curve"') == 1  # no PNG: drawn again from its CSV
    assert "differ from the LV curve" in page  # the notes under the curve
    assert '<h2 id="config"' not in page  # a folder of cine results only: no run sections


def test_report_of_a_predict_output_on_the_cine_phantom(tmp_path) -> None:
    """The cine phantom (ED frame 1, ES frame 4 by construction) through ``cmrseg predict`` with the shipped
    model, then ``cmrseg report`` on the output folder."""
    from cmrseg.data.phantom import write_cine_phantom

    img, _, ph = write_cine_phantom(tmp_path / "in", seed=101, n_frames=6, shape=(8, 128, 128),
                                    spacing=(8.0, 1.6, 1.6))
    assert (ph.ed, ph.es) == (0, 3)
    out = tmp_path / "out"
    runner = CliRunner()
    res = runner.invoke(app, ["predict", str(img), "-o", str(out), "--threads", "1"])
    assert res.exit_code == 0, res.output
    res = runner.invoke(app, ["report", str(out)])
    assert res.exit_code == 0, res.output
    page = (out / "report.html").read_text(encoding="utf-8")
    rep = json.loads((out / "phantom001_4d_clinical.json").read_text(encoding="utf-8"))
    row = _row(page, "phantom001")
    assert row[1:3] == ["1", "4"] and (rep["ED"]["frame"], rep["ES"]["frame"]) == (1, 4)
    assert row[3].startswith("LV blood-pool volume curve")
    assert row[4:13] == [f"{rep[k]:.1f}" for k in ("LV_EDV_ml", "LV_ESV_ml", "LV_SV_ml", "LV_EF_pct", "RV_EDV_ml",
                                                   "RV_ESV_ml", "RV_SV_ml", "RV_EF_pct", "LV_mass_g")]
    assert abs(rep["LV_EF_pct"] - ph.truth()["LV_EF_pct"]) < 10
    assert row[13] == (", ".join(rep["qc_flags"]) or "none")
    png = (out / "phantom001_4d_volumes.png").read_bytes()
    assert base64.b64encode(png).decode() in page


def test_report_of_a_cohort_output_with_a_cine(tmp_path) -> None:
    """``cmrseg cohort`` writes each cine subject's curve into curves/ (here from hand-made per-frame records)."""
    from cmrseg.inference.cohort import build_tables, write_cine_curves

    lv = [150.0, 130.0, 90.0, 60.0, 80.0, 120.0]
    records = [{"case_id": f"s1_frame{t + 1:02d}", "patient": "s1", "phase": None, "frame": t + 1, "status": "ok",
                "image": "s1_4d.nii.gz", "LV_ml": v, "Myo_ml": 100.0, "RV_ml": 0.5 * v, "qc_ok": True,
                "checkpoint_sha256": "abc", "cmrseg_version": "0", "time_ms": 50.0 * t} for t, v in enumerate(lv)]
    results, subjects = build_tables(records)
    written = write_cine_curves(tmp_path, results)
    assert sorted(p.name for p in written) == ["s1_clinical.json", "s1_volumes.csv", "s1_volumes.png"]
    assert all(p.parent == tmp_path / "curves" for p in written)
    page = write_report(tmp_path).read_text(encoding="utf-8")
    row = _row(page, "s1")
    assert row[1:3] == ["1", "4"] and row[4:8] == ["150.0", "60.0", "90.0", "60.0"]
    assert row[-1] == (subjects.iloc[0]["qc_flags"].replace(";", ", ") or "none")
    assert "4 (150 ms)" in page  # ES frame with its time in the curve's caption


def test_report_refuses_a_folder_with_nothing_to_show(tmp_path) -> None:
    (tmp_path / "x_clinical.json").write_text("{}", encoding="utf-8")  # not a cine report
    with pytest.raises(InputError, match=r"folder with cine results \(\*_clinical.json\)"):
        write_report(tmp_path)


def test_cine_curves_appear_in_a_run_report_too(tmp_path) -> None:
    (tmp_path / "config.yaml").write_text("method:\n  name: supervised\n", encoding="utf-8")
    _write_curve(tmp_path / "predictions", "p9", list(np.linspace(100.0, 50.0, 4)) + [80.0])
    page = write_report(tmp_path, max_cases=0).read_text(encoding="utf-8")
    assert '<h2 id="config"' in page and _row(page, "p9")[1:3] == ["1", "4"]
