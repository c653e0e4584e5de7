"""Unlabelled image streams from other dataset folders (``data.extra_images``).

A lab's unlabelled scans often live apart from its labelled ones, and a cross-sequence prior needs images of
the target sequence (e.g. MS-CMRSeg LGE) while the labels come from ACDC cine. This module lists such a folder
with the usual readers and keeps one split of it; the engine then builds an ordinary unlabelled
:class:`~cmrseg.data.streams.PatchStream` (same preprocessing and cache, labels never loaded).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from cmrseg.errors import ConfigError
from cmrseg.io.base import CaseRef

if TYPE_CHECKING:
    from cmrseg.config.schema import ExtraImagesConfig


def extra_image_refs(name: str, extra: "ExtraImagesConfig", main_root: str | Path) -> list[CaseRef]:
    """The cases of ``extra.split`` in ``extra.root``, for the unlabelled stream ``name``.

    Raises:
        ConfigError: the folder is the run's own dataset (its unlabelled images are the stream ``unlabelled``,
            and reading it again could put val images into training), or the split holds no case.
    """
    from cmrseg.io import load_dataset

    root = Path(extra.root)
    if root.resolve() == Path(main_root).resolve():
        raise ConfigError(f"data.extra_images.{name}.root is the run's own data.root ({main_root}): use the stream "
                          "'unlabelled' for its unlabelled images instead")
    refs = load_dataset(root, extra.layout)
    chosen = refs if extra.split == "all" else [r for r in refs if r.split == extra.split]
    if not chosen:
        found = sorted({str(r.split) for r in refs})
        raise ConfigError(f"data.extra_images.{name}: no case of split '{extra.split}' in {root} (its splits: "
                          f"{found}); set data.extra_images.{name}.split to one of them or 'all'")
    return chosen
