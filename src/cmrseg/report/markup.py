"""Small HTML building blocks shared by the report sections: escaping, numbers, tables, inline images.

Every image is embedded as a data URI, so a page built from these blocks needs no other file.
"""

from __future__ import annotations

import base64
import html
import math
import re
from collections.abc import Sequence


def esc(text: object) -> str:
    """``text`` escaped for HTML text and attribute values."""
    return html.escape(str(text), quote=True)


def note(text: str) -> str:
    """A short grey remark (used where a part of the run folder is missing)."""
    return f'<p class="note">{esc(text)}</p>'


def num(value: object) -> float:
    """``value`` as a finite float, NaN when it is missing, not a number or infinite."""
    try:
        v = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return math.nan
    return v if math.isfinite(v) else math.nan


def fmt(value: object, digits: int = 2) -> str:
    """A number with ``digits`` decimals, or an en dash when it is not a finite number."""
    v = num(value)
    return "–" if math.isnan(v) else f"{v:.{digits}f}"


def td(value: object, digits: int | None = 2, html_text: str | None = None) -> str:
    """A table cell: numbers right-aligned with a ``data-v`` sort key, anything else as escaped text.

    ``html_text`` replaces the escaped text with ready markup (e.g. a link; the table sorts on its text).
    """
    if html_text is not None:
        return f"<td>{html_text}</td>"
    if digits is None or isinstance(value, str):
        return f"<td>{esc('' if value is None or (isinstance(value, float) and math.isnan(value)) else value)}</td>"
    v = num(value)
    return f'<td class="n" data-v="{"" if math.isnan(v) else repr(v)}">{fmt(v, digits)}</td>'


def table(headers: Sequence[str], rows: Sequence[Sequence[str]], sortable: bool = False,
          row_classes: Sequence[str] | None = None, table_id: str | None = None) -> str:
    """A table of ready ``<td>`` cells; ``sortable`` tables sort by a click on a header (report.js)."""
    head = "".join(f'<th scope="col">{esc(h)}</th>' for h in headers)
    classes = row_classes or [""] * len(rows)
    body = "".join(f'<tr class="{c}">{"".join(r)}</tr>' if c else f"<tr>{''.join(r)}</tr>"
                   for r, c in zip(rows, classes))
    attrs = (' class="sortable"' if sortable else "") + (f' id="{esc(table_id)}"' if table_id else "")
    return f'<div class="scroll"><table{attrs}><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>'


def img(data: bytes, alt: str, extra: str = "", mime: str = "image/png") -> str:
    """An ``<img>`` holding ``data`` as a base64 data URI; ``extra`` is appended verbatim to the tag."""
    return f'<img src="data:{mime};base64,{base64.b64encode(data).decode("ascii")}" alt="{esc(alt)}"{extra}>'


def anchor(prefix: str, name: str) -> str:
    """An HTML id made of ``prefix`` and ``name`` with every character outside ``[A-Za-z0-9_-]`` replaced."""
    return f"{prefix}-{re.sub(r'[^A-Za-z0-9_-]', '_', name)}"
