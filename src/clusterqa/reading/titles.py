"""A document's title and date, from its first lines."""

from __future__ import annotations

import re
from datetime import date

_HEADER_LINES = 4  # a stated date lives in the first lines, not in the body's history

_MONTHS = {
    name: number
    for number, names in enumerate(
        [
            ("january", "jan"),
            ("february", "feb"),
            ("march", "mar"),
            ("april", "apr"),
            ("may",),
            ("june", "jun"),
            ("july", "jul"),
            ("august", "aug"),
            ("september", "sep", "sept"),
            ("october", "oct"),
            ("november", "nov"),
            ("december", "dec"),
        ],
        start=1,
    )
    for name in names
}
_MONTH = r"(?P<month>" + "|".join(sorted(_MONTHS, key=len, reverse=True)) + r")\.?"
_DATE_PATTERNS = [
    # 2023-08-17, 2023/08/17, 2023.08.17
    re.compile(r"(?<!\d)(?P<year>\d{4})[-/.](?P<mnum>\d{1,2})[-/.](?P<day>\d{1,2})(?!\d)"),
    # July 31 2020, July 31, 2020, July 31 18:38 2020
    re.compile(
        _MONTH + r"\s+(?P<day>\d{1,2})(?:st|nd|rd|th)?,?\s+(?:\d{1,2}:\d{2}(?::\d{2})?\s+)?(?P<year>\d{4})(?!\d)",
        re.IGNORECASE,
    ),
    # 31 July 2020
    re.compile(r"(?<!\d)(?P<day>\d{1,2})\s+" + _MONTH + r",?\s+(?P<year>\d{4})(?!\d)", re.IGNORECASE),
    # 2020年7月31日
    re.compile(r"(?P<year>\d{4})年(?P<mnum>\d{1,2})月(?P<day>\d{1,2})日"),
]
_DATE_LABEL = r"(?:date|dated|posted|post time|published|updated)?\s*:?\s*"


def title_and_date(text: str) -> tuple[str, str | None]:
    """Title: the first non-empty line. Date: the first full date stated in the header lines.

    When the title line itself carries the date (" date 2023-08-17 The first batch..."),
    the date and its label are taken off the title.
    """
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    title = lines[0].lstrip("#").strip() if lines else ""
    for index, line in enumerate(lines[:_HEADER_LINES]):
        found = find_date(line)
        if found is None:
            continue
        iso, match = found
        if index == 0:
            stripped = re.sub(r"^\s*" + _DATE_LABEL + re.escape(match) + r"[\s:,-]*", "", title, flags=re.I)
            title = stripped or title
        return title, iso
    return title, None


def find_date(line: str) -> tuple[str, str] | None:
    best: tuple[int, str, str] | None = None
    for pattern in _DATE_PATTERNS:
        for m in pattern.finditer(line):
            groups = m.groupdict()
            month = int(groups["mnum"]) if groups.get("mnum") else _MONTHS[groups["month"].lower()]
            try:
                day = date(int(groups["year"]), month, int(groups["day"]))
            except ValueError:
                continue
            if best is None or m.start() < best[0]:
                best = (m.start(), day.isoformat(), m.group(0))
            break
    return (best[1], best[2]) if best else None
