"""Configs are data, never code: YAML is read with ``safe_load``, so Python-object tags are refused with a
:class:`ConfigError` (and nothing runs); unreadable or malformed files name the file."""

from __future__ import annotations

import pytest
import yaml

from cmrseg.config import load_config
from cmrseg.errors import ConfigError

TAGS = [
    "!!python/object/apply:os.makedirs ['{marker}']",
    "!!python/object/new:pathlib.PosixPath ['{marker}']",
    "!!python/name:os.system",
]


@pytest.mark.parametrize("tag", TAGS)
def test_python_tags_in_a_config_file_are_refused(tmp_path, tag) -> None:
    marker = tmp_path / "ran"
    path = tmp_path / "evil.yaml"
    path.write_text(f"train:\n  name: {tag.format(marker=marker)}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="tags that construct Python objects are not allowed") as err:
        load_config(path)
    assert str(path) in str(err.value)
    assert not marker.exists()


def test_the_payload_is_live_for_an_unsafe_loader(tmp_path) -> None:
    """Proof that the first tag would run code under ``yaml.unsafe_load``: the refusal above is real."""
    marker = tmp_path / "ran"
    yaml.unsafe_load(TAGS[0].format(marker=marker))
    assert marker.exists()


def test_python_tag_in_an_override_is_refused(tmp_path) -> None:
    marker = tmp_path / "ran"
    with pytest.raises(ConfigError, match="override 'train.name=!!python"):
        load_config(None, [f"train.name={TAGS[0].format(marker=marker)}"])
    assert not marker.exists()


@pytest.mark.parametrize("content, problem", [
    (b"train: {name: [unclosed\n", "invalid YAML"),
    (b"train:\n  name: \xff\xfe\n", "cannot read the config as UTF-8"),
    (b"- just\n- a list\n", "config must be a YAML mapping"),
])
def test_malformed_config_names_the_file(tmp_path, content, problem) -> None:
    path = tmp_path / "bad.yaml"
    path.write_bytes(content)
    with pytest.raises(ConfigError, match=problem) as err:
        load_config(path)
    assert str(path) in str(err.value)


def test_folder_given_as_config(tmp_path) -> None:
    with pytest.raises(ConfigError, match="config is not a file"):
        load_config(tmp_path)
