"""Typed configs: overrides, validation errors, round trip."""

import pytest

from cmrseg.config import dump_config, load_config
from cmrseg.errors import ConfigError


def test_overrides_are_typed(tmp_path) -> None:
    cfg = load_config(None, ["optim.lr=1e-3", "data.labelled=7", "data.preprocess.fov_px=160"])
    assert cfg.optim.lr == 1e-3 and cfg.data.labelled == 7 and cfg.data.preprocess.fov_px == 160
    dump_config(cfg, tmp_path / "c.yaml")
    assert load_config(tmp_path / "c.yaml") == cfg


def test_unknown_key_is_rejected() -> None:
    with pytest.raises(ConfigError, match="optim"):
        load_config(None, ["optim.lrr=1"])


def test_missing_file_names_it(tmp_path) -> None:
    with pytest.raises(ConfigError, match="nope.yaml"):
        load_config(tmp_path / "nope.yaml")


def test_unknown_method_suggests_a_name() -> None:
    from cmrseg.config.schema import MethodConfig
    from cmrseg.methods.base import create_method

    with pytest.raises(ConfigError, match="Did you mean 'supervised'"):
        create_method(MethodConfig(name="supervized"))
