"""Unlabelled image streams from another dataset folder (``data.extra_images``)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import torch

from cmrseg.config import load_config
from cmrseg.config.schema import ExtraImagesConfig
from cmrseg.data.extra_images import extra_image_refs
from cmrseg.data.phantom import write_phantom_dataset
from cmrseg.engine import train
from cmrseg.engine.trainer import build_data
from cmrseg.errors import ConfigError
from cmrseg.methods.base import create_method
from testkit import tiny_overrides


@pytest.fixture(scope="module")
def other_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A second phantom dataset (other anatomies, same case ids as the main one): 2 train + 1 val patients."""
    return write_phantom_dataset(tmp_path_factory.mktemp("other"), n_patients=3, n_val=1, seed=1)


def test_refs_are_the_chosen_split_of_the_other_folder(other_root: Path, phantom_root: Path) -> None:
    refs = extra_image_refs("other", ExtraImagesConfig(root=str(other_root)), phantom_root)
    assert len(refs) == 4 and {r.split for r in refs} == {"train"}
    assert all(other_root in r.image_path.parents for r in refs)
    assert len(extra_image_refs("other", ExtraImagesConfig(root=str(other_root), split="all"), phantom_root)) == 6


def test_own_root_or_an_empty_split_is_refused(other_root: Path, phantom_root: Path) -> None:
    with pytest.raises(ConfigError, match="use the stream 'unlabelled'"):
        extra_image_refs("other", ExtraImagesConfig(root=str(phantom_root)), phantom_root)
    with pytest.raises(ConfigError, match=r"no case of split 'test'.*\['train', 'val'\]"):
        extra_image_refs("other", ExtraImagesConfig(root=str(other_root), split="test"), phantom_root)


def test_stream_trains_on_the_other_folders_images_without_labels(other_root: Path, phantom_root: Path,
                                                                   tmp_path: Path, one_thread) -> None:
    terms = "[{loss: dice_ce, stream: labelled}, {loss: mumford_shah, stream: other, weight: 0.1}]"
    ov = tiny_overrides(phantom_root, tmp_path, "extra") + [
        "data.labelled=1", f"data.extra_images={{other: {{root: {other_root}}}}}", f"method.terms={terms}"]
    cfg = load_config(None, ov)
    data = build_data(cfg, create_method(cfg.method))
    other = data.streams["other"]
    main_train = 2 * 3  # the main phantom: 3 train patients x (ED, ES); the other folder has 2 x 2
    assert len(other.bank.case_ids) == 4 != main_train
    batch = next(iter(other))
    assert "label" not in batch and torch.isfinite(batch["image"]).all()
    hist = pd.read_csv(train(cfg) / "history.csv")
    assert torch.isfinite(torch.tensor(hist["loss/mumford_shah@other"].values)).all()


def test_a_taken_stream_name_is_refused(other_root: Path, phantom_root: Path, tmp_path: Path) -> None:
    ov = tiny_overrides(phantom_root, tmp_path, "taken") + [
        f"data.extra_images={{unlabelled: {{root: {other_root}}}}}",
        "method.terms=[{loss: dice_ce, stream: labelled}, {loss: mumford_shah, stream: unlabelled}]"]
    cfg = load_config(None, ov)
    with pytest.raises(ConfigError, match="'unlabelled' is taken"):
        build_data(cfg, create_method(cfg.method))
