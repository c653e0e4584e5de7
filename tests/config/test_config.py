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


def test_base_config_is_merged_under_the_file(tmp_path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "a.yaml").write_text("optim: {lr: 0.1, iterations: 7}\ntrain: {name: a}\n", encoding="utf-8")
    (tmp_path / "sub" / "b.yaml").write_text("base: ../a.yaml\noptim: {lr: 0.2}\n", encoding="utf-8")
    (tmp_path / "c.yaml").write_text("base: sub/b.yaml\ntrain: {threads: 1}\n", encoding="utf-8")
    cfg = load_config(tmp_path / "c.yaml", ["optim.iterations=9"])
    # mappings merge key by key down the chain; the file beats its base, an override beats both
    assert (cfg.optim.lr, cfg.optim.iterations, cfg.train.name, cfg.train.threads) == (0.2, 9, "a", 1)


def test_base_errors_name_the_problem(tmp_path) -> None:
    (tmp_path / "x.yaml").write_text("base: y.yaml\n", encoding="utf-8")
    (tmp_path / "y.yaml").write_text("base: x.yaml\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="loops back"):
        load_config(tmp_path / "x.yaml")
    (tmp_path / "z.yaml").write_text("base: missing.yaml\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="base config 'missing.yaml' does not exist"):
        load_config(tmp_path / "z.yaml")
    (tmp_path / "w.yaml").write_text("base: [a, b]\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="must be the path"):
        load_config(tmp_path / "w.yaml")


def test_large_translator_config_inherits_the_compact_one() -> None:
    from pathlib import Path

    root = Path(__file__).resolve().parents[2] / "configs" / "acdc"
    small, large = load_config(root / "translator.yaml"), load_config(root / "translator_large.yaml")
    assert large.model.params["preset"] == "large" and large.train.device == "auto"
    assert large.data.root == small.data.root and large.data.labelled == small.data.labelled
    assert large.augment == small.augment and large.method.params == small.method.params
    assert [t.loss for t in large.method.terms] == [t.loss for t in small.method.terms]


def test_every_shipped_config_validates_and_builds_its_model() -> None:
    from pathlib import Path

    from cmrseg.models.registry import create_model

    configs = sorted((Path(__file__).resolve().parents[2] / "configs").rglob("*.yaml"))
    assert len(configs) > 20
    for path in configs:
        cfg = load_config(path)
        assert create_model(cfg.model) is not None, path
