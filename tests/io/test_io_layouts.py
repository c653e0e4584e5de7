"""Dataset layout readers (ACDC, MS-CMRSeg, M&Ms, nnU-Net, pairs) and layout detection on tiny synthetic folders."""

from __future__ import annotations

import json

import numpy as np
import pytest
from iosynth import MNMS_CSV, image, label, write_nii

from cmrseg.errors import InputError
from cmrseg.io import (detect_layout, list_acdc, list_acdc_cine_frames, list_mnms, list_mscmr, list_nnunet,
                       list_pairs, load_dataset)
from cmrseg.io.mnms import find_info_csv

# ---- ACDC ----


def test_acdc_copy(acdc_copy):
    refs = list_acdc(acdc_copy)
    assert [r.case_id for r in refs] == ["patient001_frame01", "patient001_frame03", "patient002_frame01",
                                         "patient002_frame02", "patient010_frame02", "patient010_frame04"]
    p10 = {r.phase: r for r in refs if r.patient == "patient010"}
    assert (p10["ED"].frame, p10["ES"].frame) == (4, 2)
    assert {r.patient: r.split for r in refs} == {"patient001": "train", "patient002": "val", "patient010": "train"}
    case = refs[2].load()
    assert case.meta == {"group": "NOR", "split": "val"} and case.dataset == "acdc" and case.sequence == "bssfp"
    np.testing.assert_array_equal(case.label, label())
    assert case.scribble.max() == 4


def test_acdc_copy_missing_frame_file(acdc_copy):
    missing = acdc_copy / "patient002" / "patient002_frame02.nii.gz"
    missing.unlink()
    with pytest.raises(InputError, match="patient002_frame02.nii.gz is missing") as err:
        list_acdc(acdc_copy)
    assert "patients.csv" in str(err.value)


def test_acdc_download(acdc_download):
    refs = list_acdc(acdc_download)
    assert [(r.case_id, r.phase, r.split) for r in refs] == [
        ("patient001_frame01", "ED", None), ("patient001_frame03", "ES", None),
        ("patient101_frame01", "ED", None), ("patient101_frame02", "ES", None)]
    assert refs[0].meta["subset"] == "training" and refs[0].meta["group"] == "DCM"
    assert refs[0].label_path is not None and refs[2].label_path is None
    assert detect_layout(acdc_download) == "acdc" and detect_layout(acdc_download / "training") == "acdc"


def test_acdc_cine_frames(acdc_download):
    refs = list_acdc_cine_frames(acdc_download / "training" / "patient001")
    assert [(r.time_index, r.frame, r.phase) for r in refs] == [(0, 1, "ED"), (1, 2, None), (2, 3, "ES"),
                                                               (3, 4, None)]
    frame = refs[2].load()
    ed_file = list_acdc(acdc_download)[1].load()  # patient001_frame03 = cine[2]
    np.testing.assert_allclose(frame.image, ed_file.image)
    assert frame.label is None


# ---- MS-CMRSeg ----


def test_mscmr(mscmr):
    refs = list_mscmr(mscmr)
    assert [(r.case_id, r.split) for r in refs] == [("subject1_DE", "val"), ("subject2_DE", "train"),
                                                   ("subject13_DE", "train")]
    assert all(r.sequence == "lge" for r in refs)
    val = refs[0].load()
    # original challenge codes 200 Myo, 500 LV, 600 RV -> cmrseg 2, 3, 1
    np.testing.assert_array_equal(val.label, label(codes=(0, 2, 3, 1)))
    train = refs[1].load()
    assert train.label is None and train.scribble is not None and set(np.unique(train.scribble)) == {0, 1, 2, 3, 4}


def test_mscmr_other_sequences(mscmr):
    write_nii(mscmr / "train" / "subject2" / "subject2_C0.nii.gz", image())
    write_nii(mscmr / "train" / "subject2" / "subject2_T2.nii.gz", image())
    seqs = {r.case_id: r.sequence for r in list_mscmr(mscmr)}
    assert seqs["subject2_C0"] == "bssfp" and seqs["subject2_T2"] == "t2"


# ---- M&Ms ----


def test_mnms_remaps_codes(mnms):
    refs = list_mnms(mnms)
    assert [(r.case_id, r.phase, r.time_index, r.split) for r in refs] == [
        ("A1B2C3_frame01", "ED", 0, "train"), ("A1B2C3_frame04", "ES", 3, "train"),
        ("D4E5F6_frame02", "ED", 1, "val"), ("D4E5F6_frame05", "ES", 4, "val")]
    assert refs[0].meta["vendor"] == "Siemens" and refs[0].meta["centre"] == "1"
    ed, es = refs[0].load(), refs[1].load()
    # M&Ms code 1 (LV) must come out as 3, 3 (RV) as 1
    assert ed.label[0, 1, 0] == 3 and ed.label[0, 2, 0] == 2 and ed.label[0, 3, 0] == 1
    np.testing.assert_array_equal(es.label, label(codes=(0, 1)))
    assert refs[2].load().label is None


def test_mnms_csv_search_and_override(mnms, tmp_path):
    assert find_info_csv(mnms / "Training").name == "mnms_info.csv"  # found in the parent
    other = tmp_path / "elsewhere.csv"
    other.write_text(MNMS_CSV.replace("A1B2C3,Siemens,A,1,0,3", "A1B2C3,Siemens,A,1,2,3"), encoding="utf-8")
    refs = list_mnms(mnms, csv_path=other)
    assert refs[0].time_index == 2


def test_mnms_without_csv(mnms):
    (mnms / "mnms_info.csv").unlink()
    with pytest.raises(InputError, match="no M&Ms information CSV") as err:
        list_mnms(mnms)
    assert str(mnms) in str(err.value) and "ED/ES" in str(err.value)


def test_mnms_bad_label_code_names_gt(mnms):
    gt = mnms / "Training" / "Labeled" / "A1B2C3" / "A1B2C3_sa_gt.nii.gz"
    bad = np.zeros((5,) + label().shape, np.uint8)
    bad[0, 0, 0, 0] = 5
    write_nii(gt, bad, dtype=np.uint8)
    with pytest.raises(InputError, match=r"\[5\]") as err:
        list_mnms(mnms)[0].load()
    assert "A1B2C3_sa_gt.nii.gz" in str(err.value)


# ---- nnU-Net ----


def test_nnunet(nnunet):
    refs = list_nnunet(nnunet)
    assert [(r.case_id, r.patient, r.frame, r.split) for r in refs] == [
        ("patient001_frame01", "patient001", 1, "train"), ("patient001_frame12", "patient001", 12, "train"),
        ("patient101_frame01", "patient101", 1, "test")]
    np.testing.assert_array_equal(refs[0].load().label, label())
    assert refs[2].label_path is None


def test_nnunet_mnms_names_and_channels(nnunet):
    spec = json.loads((nnunet / "dataset.json").read_text(encoding="utf-8"))
    spec["labels"] = {"Background": 0, "LV blood pool": 1, "Myocardium": 2, "right ventricle": 3}
    spec["channel_names"] = {"0": "cine", "1": "T2"}
    (nnunet / "dataset.json").write_text(json.dumps(spec), encoding="utf-8")
    refs = list_nnunet(nnunet)
    assert refs[0].label_map == {0: 0, 1: 3, 2: 2, 3: 1} and "only channel 0000" in refs[0].meta["note"]
    np.testing.assert_array_equal(refs[0].load().label, label(codes=(0, 3, 2, 1)))


def test_nnunet_unmappable_names(nnunet):
    spec = json.loads((nnunet / "dataset.json").read_text(encoding="utf-8"))
    spec["labels"] = {"background": 0, "liver": 1, "MLV": 2, "spleen": 3}
    (nnunet / "dataset.json").write_text(json.dumps(spec), encoding="utf-8")
    with pytest.raises(InputError, match=r"cannot map label names \['liver', 'spleen'\]") as err:
        list_nnunet(nnunet)
    assert "dataset.json" in str(err.value) and "'MLV'" in str(err.value)


# ---- pairs ----


def test_pairs_flat(tmp_path):
    write_nii(tmp_path / "b.nii.gz", image())
    write_nii(tmp_path / "b_seg.nii.gz", label(), dtype=np.uint8)
    write_nii(tmp_path / "a.nii", image())
    write_nii(tmp_path / "a_gt.nii.gz", label(), dtype=np.uint8)
    write_nii(tmp_path / "a_scribble.nii.gz", label(codes=(4, 1)), dtype=np.uint8)
    write_nii(tmp_path / "c.nii.gz", image())
    refs = list_pairs(tmp_path)
    assert [(r.case_id, r.label_path.name if r.label_path else None) for r in refs] == [
        ("a", "a_gt.nii.gz"), ("b", "b_seg.nii.gz"), ("c", None)]
    assert refs[0].scribble_path.name == "a_scribble.nii.gz"
    assert detect_layout(tmp_path) == "pairs"


def test_pairs_subfolders(tmp_path):
    for name in ("x1", "x2"):
        write_nii(tmp_path / "images" / f"{name}.nii.gz", image())
    write_nii(tmp_path / "labels" / "x1.nii.gz", label(), dtype=np.uint8)
    refs = load_dataset(tmp_path)
    assert [(r.case_id, r.label_path is not None) for r in refs] == [("x1", True), ("x2", False)]
    np.testing.assert_array_equal(refs[0].load().label, label())


# ---- detection and listing ----


@pytest.mark.parametrize("fixture, layout", [("acdc_copy", "acdc"), ("acdc_download", "acdc"),
                                             ("mscmr", "mscmr"), ("mnms", "mnms"), ("nnunet", "nnunet")])
def test_detect_layout(request, fixture, layout):
    root = request.getfixturevalue(fixture)
    assert detect_layout(root) == layout
    assert len(load_dataset(root)) == len(load_dataset(root, layout))


def test_empty_folder(tmp_path):
    with pytest.raises(InputError, match="folder is empty") as err:
        load_dataset(tmp_path)
    assert str(tmp_path) in str(err.value)


def test_folder_matching_no_layout(tmp_path):
    (tmp_path / "notes.txt").write_text("hello", encoding="utf-8")
    (tmp_path / "sub").mkdir()
    with pytest.raises(InputError, match="matches no known dataset layout") as err:
        detect_layout(tmp_path)
    msg = str(err.value)
    assert str(tmp_path) in msg and all(name in msg for name in ("acdc", "mscmr", "mnms", "nnunet", "pairs"))
    assert "patients.csv" in msg and "dataset.json" in msg


def test_nonexistent_and_file_paths(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        load_dataset(tmp_path / "nope")
    f = write_nii(tmp_path / "v.nii.gz", image())
    with pytest.raises(InputError, match="got a file") as err:
        detect_layout(f)
    assert "read_volume" in str(err.value)


@pytest.mark.parametrize("lister", [list_acdc, list_mscmr, list_mnms, list_nnunet, list_pairs])
def test_listers_reject_missing_folder(tmp_path, lister):
    with pytest.raises(InputError, match="folder does not exist") as err:
        lister(tmp_path / "nope")
    assert "nope" in str(err.value)


def test_unknown_layout_name(acdc_copy):
    with pytest.raises(InputError, match="did you mean 'mnms'"):
        load_dataset(acdc_copy, "mnm")


def test_layout_with_no_cases(tmp_path):
    (tmp_path / "dataset.json").write_text(json.dumps({"labels": {"background": 0, "LV": 1}}), encoding="utf-8")
    (tmp_path / "imagesTr").mkdir()
    with pytest.raises(InputError, match="no cases found for layout 'nnunet'"):
        load_dataset(tmp_path)


def test_duplicate_case_ids(tmp_path):
    write_nii(tmp_path / "images" / "x.nii.gz", image())
    write_nii(tmp_path / "images" / "x.nii", image())
    with pytest.raises(InputError, match="'x' occurs twice"):
        list_pairs(tmp_path)
