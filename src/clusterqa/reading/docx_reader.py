"""DOCX: paragraphs and tables in document order with python-docx; sections from heading styles.

Each paragraph is a line of the extracted text, with a blank line between paragraphs; list
paragraphs in a row, and a table's rows, are one block each.
"""

from __future__ import annotations

import io
import re

from .extraction import Extraction, compose
from .titles import title_and_date

_HEADING = re.compile(r"heading\s*(\d)", re.IGNORECASE)


def extract(data: bytes) -> Extraction:
    import docx
    from docx.table import Table

    if not data.startswith(b"PK"):
        raise ValueError("is not a DOCX file (a DOCX is a ZIP archive; this one does not start like one)")
    document = docx.Document(io.BytesIO(data))
    elements: list[tuple[str, int, list[str]]] = []
    title = ""
    for item in document.iter_inner_content():
        if isinstance(item, Table):
            rows = [" | ".join(" ".join(cell.text.split()) for cell in row.cells) for row in item.rows]
            elements.append(("table", 0, rows))
            continue
        text = " ".join(item.text.split())
        if not text:
            continue
        style = (item.style.name if item.style is not None else "") or ""
        heading = _HEADING.match(style)
        if style.lower() == "title":
            title = title or text
            elements.append(("heading", 0, [text]))  # above every heading level: the document's title
        elif heading:
            elements.append(("heading", int(heading.group(1)), [text]))
        elif style.lower().startswith("list"):
            if elements and elements[-1][0] == "list":
                elements[-1][2].append("- " + text)
            else:
                elements.append(("list", 0, ["- " + text]))
        else:
            elements.append(("prose", 0, [text]))
    text, blocks = compose(elements)
    if not blocks:
        raise ValueError("has no text (no paragraphs or tables)")
    first_heading = next((b.heading for b in blocks if b.kind == "heading"), "")
    fallback_title, when = title_and_date(text)
    core_title = " ".join((document.core_properties.title or "").split())
    return Extraction(text=text, title=core_title or title or first_heading or fallback_title, date=when, blocks=blocks)
