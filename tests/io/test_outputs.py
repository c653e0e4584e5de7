"""Output locations are checked before any work: a file where a folder is needed, an unwritable path."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cmrseg.cli.main import app
from cmrseg.errors import InputError
from cmrseg.io.outputs import prepare_output_dir, prepare_output_file


def test_folder_that_is_a_file_and_file_that_is_a_folder(tmp_path: Path) -> None:
    f = tmp_path / "x.nii.gz"
    f.write_bytes(b"")
    with pytest.raises(InputError, match="must be a folder, but a file of that name exists"):
        prepare_output_dir(f)
    with pytest.raises(InputError, match="names an existing folder"):
        prepare_output_file(tmp_path)
    assert not prepare_output_dir(tmp_path / "a" / "b").exists()  # checked, nothing left behind
    assert prepare_output_dir(tmp_path / "a" / "b", keep=True).is_dir()


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes anywhere; /proc is used below instead")
def test_read_only_folder(tmp_path: Path) -> None:
    ro = tmp_path / "ro"
    ro.mkdir(mode=0o500)
    with pytest.raises(InputError, match="cannot write"):
        prepare_output_dir(ro / "x")


def test_unwritable_location_is_refused_by_predict_evaluate_and_cohort(tmp_path: Path, phantom_root: Path) -> None:
    bad = "/proc/cmrseg-cannot-write-here"
    img = next(phantom_root.rglob("*_frame01.nii.gz"))
    ck = tmp_path / "none.pt"  # never reached: the output is checked first
    for args in (["predict", str(img), "-o", f"{bad}/x.nii.gz", "-c", str(ck)],
                 ["predict", str(phantom_root), "-o", bad, "-c", str(ck)],
                 ["evaluate", "--pred", str(phantom_root), "--gt", str(phantom_root), "--out", bad],
                 ["cohort", str(phantom_root), "-o", bad, "-c", str(ck)]):
        res = CliRunner().invoke(app, args)
        assert res.exit_code == 2, (args, res.output)
        assert "cannot write" in res.output and "Traceback" not in res.output, (args, res.output)
