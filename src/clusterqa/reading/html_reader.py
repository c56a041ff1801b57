"""HTML (.html, .htm): the main text with trafilatura (navigation, footers, sidebars left out),
sections from its headings, title from <title>/<h1>, date from the page's metadata.

trafilatura's XML tree of the main content (head/p/list/table/code/quote elements) is laid out
as text, one blank line between elements: that text is what citations count lines in.
"""

from __future__ import annotations

from .extraction import Extraction, compose
from .titles import title_and_date

_BINARY_SNIFF = 8192


def extract(data: bytes) -> Extraction:
    if b"\x00" in data[:_BINARY_SNIFF]:
        raise ValueError("looks binary (contains NUL bytes), not like an HTML page")
    if not data.strip():
        raise ValueError("is empty")
    import trafilatura

    found = trafilatura.bare_extraction(
        data,
        with_metadata=True,
        include_tables=True,
        include_comments=False,
        favor_recall=True,  # short pages (a note, a FAQ) are main text too
        # Only the page's own metadata states a date; a date guessed from the text is not one.
        date_extraction_params={"extensive_search": False, "original_date": True},
    )
    body = getattr(found, "body", None)
    if body is None:
        raise ValueError("has no main text that trafilatura can find (an empty page, or only navigation)")
    text, blocks = compose(_elements(body))
    if not blocks:
        raise ValueError("has no main text that trafilatura can find (an empty page, or only navigation)")
    fallback_title, _ = title_and_date(text)
    title = " ".join((found.title or "").split()) or fallback_title
    return Extraction(text=text, title=title, date=_iso(found.date), blocks=blocks)


def _elements(body) -> list[tuple[str, int, list[str]]]:  # noqa: ANN001 - lxml element
    elements: list[tuple[str, int, list[str]]] = []
    for el in body:
        tag = el.tag
        if tag == "head":
            rend = el.get("rend") or "h2"
            level = int(rend[1]) if len(rend) == 2 and rend[1].isdigit() else 2
            elements.append(("heading", level, [_flat(el)]))
        elif tag in ("p", "quote"):
            elements.append(("prose", 0, [_flat(el)]))
        elif tag == "list":
            elements.append(("list", 0, ["- " + _flat(item) for item in el.iter("item")]))
        elif tag == "table":
            rows = [" | ".join(_flat(cell) for cell in row.iter("cell")) for row in el.iter("row")]
            elements.append(("table", 0, rows))
        elif tag == "code":
            elements.append(("code", 0, "".join(el.itertext()).split("\n")))
        elif (flat := _flat(el)).strip():
            elements.append(("prose", 0, [flat]))
    return elements


def _flat(el) -> str:  # noqa: ANN001 - lxml element
    return " ".join("".join(el.itertext()).split())


def _iso(value: str | None) -> str | None:
    return value[:10] if value and len(value) >= 10 and value[4] == "-" and value[7] == "-" else None
