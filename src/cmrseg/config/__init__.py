"""Typed configuration schemas and YAML load/merge/dump."""

from cmrseg.config.load import dump_config, load_config
from cmrseg.config.schema import Config

__all__ = ["Config", "load_config", "dump_config"]
