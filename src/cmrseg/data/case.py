"""The canonical case type, re-exported from :mod:`cmrseg.io.case` where it is defined.

Every reader returns a :class:`Case`, so the type lives in the reading layer (``io``); ``data`` builds datasets,
splits and caches on top of ``io`` and never the other way round (no import cycle between the two).
"""

from cmrseg.io.case import Case, validate_label

__all__ = ["Case", "validate_label"]
