"""The protocol stored with every result names what chose the checkpoint: val, or the held-out selection set."""

from __future__ import annotations

from pathlib import Path

from cmrseg.config import load_config
from cmrseg.pipeline import protocol_text


CONFIGS = Path(__file__).resolve().parents[1] / "configs"


def test_protocol_names_the_selection_set_when_it_chooses_the_checkpoint() -> None:
    chosen_on_val = protocol_text(load_config(CONFIGS / "acdc/supervised_7.yaml"), "split")
    chosen_on_selection = protocol_text(load_config(CONFIGS / "recipes/semi.yaml"), "split")
    assert "checkpoint rule: best mean val 3D Dice" in chosen_on_val
    assert "checkpoint rule: best mean selection-set" in chosen_on_selection
    assert "val never chooses" in chosen_on_selection
