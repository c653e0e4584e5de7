"""report.html in a real browser: headless Chromium loads the page of a phantom run (written by ``cmrseg report``)
and its JS must run without a console error, wire every slice viewer, sort the per-case table and switch slices.

The run folder is faked from the phantom dataset in seconds: predictions = ground truth with the LV blood pool
eroded (more for later patients), evaluated with the real evaluation code, plus a history.csv.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import ndimage
from typer.testing import CliRunner

from cmrseg.cli.main import app
from cmrseg.io import load_dataset
from cmrseg.io.nifti import write_nifti
from cmrseg.labels import LV, MYO
from cmrseg.metrics import evaluate_cases

CHROMIUM = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="headless Chromium not installed "
                                "(Debian: apt-get install chromium); needed to render report.html")
N_PATIENTS = 3
MAX_CASES = 5


def _eroded(label: np.ndarray, iterations: int) -> np.ndarray:
    """``label`` with the LV blood pool shrunk in-plane by ``iterations`` pixels (the ring becomes Myo)."""
    out = label.copy()
    lv = label == LV
    kept = ndimage.binary_erosion(lv, structure=np.array([[[0, 1, 0], [1, 1, 1], [0, 1, 0]]], bool),
                                  iterations=iterations)
    out[lv & ~kept] = MYO
    return out


@pytest.fixture(scope="module")
def report_page(phantom_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``cmrseg report`` on a run folder of 3 phantom patients x (ED, ES); returns report.html."""
    run = tmp_path_factory.mktemp("browser") / "run"
    (run / "predictions").mkdir(parents=True)
    (run / "config.yaml").write_text(f"data:\n  root: {phantom_root}\n  layout: acdc\nmethod:\n  name: supervised\n",
                                     encoding="utf-8")
    (run / "history.csv").write_text("iteration,loss/total,minutes,val/dice_LV,val/dice_Myo,val/dice_RV,val/dice_mean\n"
                                     "2,0.9,0.1,0.5,0.4,0.3,0.4\n4,0.5,0.2,0.8,0.7,0.6,0.7\n", encoding="utf-8")
    refs = [r for r in load_dataset(phantom_root) if int(r.patient[-3:]) <= N_PATIENTS]
    pairs = []
    for ref in refs:
        gt = ref.load()
        pred = _eroded(gt.label, int(ref.patient[-3:]))
        write_nifti(pred, gt.affine, run / "predictions" / f"{ref.case_id}.nii.gz")
        pairs.append((gt.with_label(pred), gt))
    evaluate_cases(pairs).save(run / "eval")
    result = CliRunner().invoke(app, ["report", str(run), "--max-cases", str(MAX_CASES)])
    assert result.exit_code == 0, result.output
    return run / "report.html"


def render(page: Path, tmp: Path, extra_js: str = "") -> tuple[str, list[str]]:
    """Load ``page`` (plus ``extra_js`` run after the page's own script) in headless Chromium: the DOM after the
    load event and the console messages (errors, uncaught exceptions, logs) it printed."""
    if extra_js:
        text = page.read_text(encoding="utf-8")
        page = tmp / f"probe_{page.name}"
        page.write_text(text.replace("</body>", f"<script>{extra_js}</script></body>"), encoding="utf-8")
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           f"--user-data-dir={tmp / 'chromium-profile'}", "--enable-logging=stderr", "--v=0", "--dump-dom",
           page.resolve().as_uri()]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60, encoding="utf-8", errors="replace")
    assert proc.returncode == 0, proc.stderr[-2000:]
    console = [line for line in proc.stderr.splitlines() if ":CONSOLE" in line or "Uncaught" in line]
    return proc.stdout, console


def test_harness_sees_console_errors(tmp_path: Path) -> None:
    bad = tmp_path / "bad.html"
    bad.write_text("<!DOCTYPE html><html><body><script>document.body.dataset.ready = '1'; noSuchFunction();"
                   "</script></body></html>", encoding="utf-8")
    dom, console = render(bad, tmp_path)
    assert 'data-ready="1"' in dom
    assert any("Uncaught ReferenceError" in line for line in console)


def test_report_renders_without_console_errors(report_page: Path, tmp_path: Path) -> None:
    text = report_page.read_text(encoding="utf-8")
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", text)
    assert "http" not in re.sub(r"base64,[A-Za-z0-9+/=]+", "", text)  # self-contained: no URL anywhere
    dom, console = render(report_page, tmp_path)
    assert console == []
    body = re.search(r"<body[^>]*>", dom).group(0)
    shown = MAX_CASES  # of 2 * N_PATIENTS predicted volumes: the CLI's --max-cases holds
    assert 'data-ready="1"' in body and f'data-viewers="{shown}"' in body and 'data-broken-images="0"' in body
    assert dom.count('class="viewer"') == shown and dom.count('type="range"') == shown
    assert f"slice viewers for the first {shown} of {2 * N_PATIENTS} volumes" in dom
    assert dom.count("<svg") == 2  # correlation + Bland-Altman
    for title in ("LV EDV", "LV EF", "LV mass", "RV ESV"):
        assert f"{title}: r = " in dom and f"{title}: bias " in dom
    assert 'id="per-case"' in dom and 'id="clinical"' in dom
    links = re.findall(r'<a href="#v-(patient\d+_frame\d+)">', dom)  # table rows link to their viewers
    assert len(links) == shown and all(f'id="v-{case}"' in dom for case in links)


def test_sorting_and_slider_in_browser(report_page: Path, tmp_path: Path) -> None:
    """Click the 'Dice LV' header twice and move the first slider to slice 0; the DOM must follow."""
    probe = """
      const t = document.getElementById("per-case"), th = [...t.tHead.rows[0].cells];
      const col = th.findIndex(h => h.textContent === "Dice LV");
      const order = () => [...t.tBodies[0].rows].map(r => r.cells[0].textContent).join(",");
      th[col].click(); document.body.dataset.asc = order();
      th[col].click(); document.body.dataset.desc = order(); document.body.dataset.dir = th[col].dataset.dir;
      const v = document.querySelector(".viewer"), s = v.querySelector("input[type=range]");
      s.value = "0"; s.dispatchEvent(new Event("input"));
      document.body.dataset.visible = [...v.querySelectorAll("img.frame")].map(i => i.hidden ? 0 : 1).join("");
      document.body.dataset.caption = v.querySelector(".z").textContent;
    """
    dom, console = render(report_page, tmp_path, probe)
    assert console == []
    body = re.search(r"<body[^>]*>", dom).group(0)
    attrs = dict(re.findall(r'data-([a-z-]+)="([^"]*)"', body))
    per_case = pd.read_csv(report_page.parent / "eval" / "per_case.csv")
    lv = per_case[per_case.structure == "LV"].sort_values("dice", kind="stable")
    assert lv.dice.is_unique  # erosion grows per patient: distinct Dice, one true order
    assert attrs["asc"] == ",".join(lv.case_id) and attrs["desc"] == ",".join(lv.case_id[::-1])
    assert attrs["dir"] == "desc"
    assert re.fullmatch(r"10+", attrs["visible"])  # only slice 0 shown
    assert attrs["caption"].startswith("slice 1/")

