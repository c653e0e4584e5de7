"""The shared method test: every registered method trains from the tiny example config it ships.

Like segmentation_models.pytorch's one test class for every model: one or two steps on the phantom give a finite
loss, the checkpoint round-trips into the same network, and a resumed run continues (a workflow of several runs
keeps what it finished). A method without an example fails here.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import torch

from cmrseg.checkpoint import load_checkpoint
from cmrseg.config import load_config
from cmrseg.config.load import deep_merge
from cmrseg.config.schema import Config
from cmrseg.methods.base import available_methods, method_class
from cmrseg.models.pretrained import load_pretrained
from cmrseg.workflows import fit
from testkit import tiny_overrides

AE_PLACEHOLDER = "{shape-ae}"


def _fill(value: Any, autoencoder: str) -> Any:
    if isinstance(value, dict):
        return {k: _fill(v, autoencoder) for k, v in value.items()}
    return autoencoder if value == AE_PLACEHOLDER else value


def example_config(name: str, root: Path, out: Path, autoencoder: str = AE_PLACEHOLDER,
                   iterations: int = 2) -> Config:
    """The tiny phantom config with the method's example on top (its model section, if any, replaces ours)."""
    example = method_class(name).example
    if example is None:
        pytest.fail(f"method '{name}' ships no example config (set its `example`, e.g. {{}} for the defaults)")
    base = load_config(None, tiny_overrides(root, out, name) + [
        f"method.name={name}", f"optim.iterations={iterations}", "train.val_every=2"]).model_dump(mode="json")
    example = _fill(example, autoencoder)
    if "model" in example:
        base["model"] = example["model"]
    merged = deep_merge(base, {k: v for k, v in example.items() if k != "model"})
    return Config.model_validate(merged)


@pytest.fixture(scope="module")
def autoencoder(phantom_root: Path, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A shape autoencoder trained from the shape-ae example, for the methods whose terms need one."""
    out = tmp_path_factory.mktemp("ae")
    run = fit(example_config("shape-ae", phantom_root, out))
    return str(run / "checkpoints" / "best.pt")


@pytest.mark.parametrize("name", available_methods())
def test_method_trains_round_trips_and_resumes(name: str, phantom_root: Path, tmp_path: Path, autoencoder: str,
                                               one_thread: None) -> None:
    cfg = example_config(name, phantom_root, tmp_path, autoencoder)
    run = fit(cfg)
    histories = sorted(run.rglob("history.csv"))  # one per engine run (a workflow has several)
    assert histories
    for h in histories:
        assert math.isfinite(float(pd.read_csv(h)["loss/total"].iloc[-1])), h
    best = run / "checkpoints" / "best.pt"
    saved = load_checkpoint(best)["model_state"]
    model = load_pretrained(best, expect=cfg.model.name)
    for k, v in model.state_dict().items():
        assert torch.equal(v, saved[k]), k
    if getattr(method_class(name), "workflow", None) is None:
        more = example_config(name, phantom_root, tmp_path, autoencoder, iterations=3)
        fit(more, resume=True)
        assert int(load_checkpoint(run / "checkpoints" / "last.pt")["iteration"]) == 3
    else:  # a workflow resumes by keeping its finished runs: no run trains again
        before = [h.read_text() for h in histories]
        fit(cfg, resume=True)
        assert [h.read_text() for h in histories] == before


def test_a_method_without_an_example_fails_the_shared_test(phantom_root: Path, tmp_path: Path) -> None:
    from cmrseg.methods.base import _METHODS, Method, register_method

    register_method("no-example")(type("NoExample", (Method,), {"default_terms": ()}))
    try:
        with pytest.raises(pytest.fail.Exception, match="ships no example"):
            example_config("no-example", phantom_root, tmp_path)
    finally:
        _METHODS.pop("no-example")
