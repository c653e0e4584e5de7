"""Every shape and spacing a user reads says its axis order: (z, y, x) arrays, (x, y, z, t) NIfTI files, DICOM
(rows, columns)."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import numpy as np
import pytest

import cmrseg
from cmrseg.axes import axes_values, shape_text, spacing_text
from cmrseg.errors import InputError
from cmrseg.io.case import Case, validate_label

ROOT = Path(cmrseg.__file__).parent
HELPERS = {"shape_text", "spacing_text", "axes_values"}
GEOMETRY = re.compile(r"(\.shape|\bshape|spacing|zooms|\bpixdim)$")  # a formatted value that is a shape/spacing
AXIS = r"(?:[A-Za-z]+|[0-9]+|\{\}|N >= 2)"
TUPLE = re.compile(rf"\((?:{AXIS}, )+{AXIS}\)")  # "(z, y, x)", "(N, {}, H, W)", "(N, 3, H, W)"


def _names_axes(text: str) -> bool:
    return bool(re.search(r"\b(?:rows|columns)\b|axis order", text)) or any(
        re.search("[A-Za-z]", t) for t in TUPLE.findall(text))


def test_helpers_known_answers() -> None:
    assert shape_text((10, 256, 216)) == "shape (z, y, x) = (10, 256, 216)"
    assert spacing_text((10.0, 1.5625, 1.5625)) == "spacing (z, y, x) = (10, 1.5625, 1.5625) mm"
    assert shape_text((216, 256, 10), "xyzt") == "shape (x, y, z) = (216, 256, 10)"  # a 3D NIfTI as stored
    assert shape_text((20, 10, 256, 216), "tzyx") == "shape (t, z, y, x) = (20, 10, 256, 216)"
    assert shape_text((256, 216)) == "shape (2 values) = (256, 216)"  # not (z, y, x): counted, not misnamed
    assert axes_values((1.37, 1.37), "yx", "mm") == "(y, x) = (1.37, 1.37) mm"
    assert shape_text((256, 216), ("rows", "columns")) == "shape (rows, columns) = (256, 216)"


def _unnamed_geometry_in_messages() -> list[str]:
    """f-strings of the package that format a shape or spacing as is, with no axis order in their text."""
    found = []
    for path in sorted(ROOT.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.JoinedStr):
                continue
            raw = [ast.unparse(v.value) for v in node.values if isinstance(v, ast.FormattedValue)
                   and not (isinstance(v.value, ast.Call) and getattr(v.value.func, "id", "") in HELPERS)
                   and GEOMETRY.search(ast.unparse(v.value).replace("tuple(", "").rstrip(")"))]
            text = "".join(v.value if isinstance(v, ast.Constant) else "{}" for v in node.values)
            if raw and not _names_axes(text):
                found.append(f"{path.relative_to(ROOT)}:{node.lineno}: {raw} in {text[:80]!r}")
    return found


def test_no_message_prints_a_shape_or_spacing_without_its_axis_order() -> None:
    assert _unnamed_geometry_in_messages() == []


def test_the_message_scan_finds_an_unnamed_shape(tmp_path, monkeypatch) -> None:
    (tmp_path / "bad.py").write_text('def f(a):\n    raise ValueError(f"got shape {a.shape}")\n'
                                     'def g(a):\n    raise ValueError(f"got (z, y, x) = {a.shape}")\n')
    monkeypatch.setitem(globals(), "ROOT", tmp_path)
    assert [f.split(":")[:2] for f in _unnamed_geometry_in_messages()] == [["bad.py", "2"]]


def test_case_and_label_errors_name_the_axes() -> None:
    with pytest.raises(InputError, match=r"got 2D, shape \(2 values\) = \(4, 5\)"):
        Case(np.zeros((4, 5), np.float32), (1, 1, 1), np.eye(4), "c", "p")
    with pytest.raises(InputError, match=r"voxel spacing must be 3 positive numbers \(z, y, x\) in mm"):
        Case(np.zeros((2, 3, 3), np.float32), (0.0, 1.0, 1.0), np.eye(4), "c", "p")
    with pytest.raises(InputError, match=r"label shape \(z, y, x\) = \(2, 3, 4\) does not match the image's "
                                         r"shape \(z, y, x\) = \(2, 3, 3\)"):
        validate_label(np.zeros((2, 3, 4), np.uint8), (2, 3, 3))


def test_cohort_tables_and_records_name_the_spacing_order(tmp_path) -> None:
    from cmrseg.inference.cohort import RESULT_COLUMNS, read_record

    assert "spacing_mm_zyx" in RESULT_COLUMNS and "spacing_mm" not in RESULT_COLUMNS
    old = tmp_path / "c.json"  # a record of a run before the rename: resumes with the new name
    old.write_text(json.dumps({"case_id": "c", "spacing_mm": "10,1.5,1.5"}), encoding="utf-8")
    assert read_record(old) == {"case_id": "c", "spacing_mm_zyx": "10,1.5,1.5"}
