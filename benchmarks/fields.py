"""Questions answered by "Label: value" lines, on documents nobody here wrote: Debian package records.

    python benchmarks/fields.py                  # from the repository root; ~2 min on 2 cores

The records of this machine's /var/lib/dpkg/status (a folder of real key-value documents with a
prose description: Maintainer, Version, Section, Homepage, Installed-Size...) are written one package
a file into bench-index/fields/docs, indexed with the library's own indexer, and asked, through the
real `ask` path, what a user asks of such records. Gold: the line of that field in that file.
Questions asking for a Homepage of packages that have none are the unanswerable control: the right
outcome is "not confident" (another package's homepage is a wrong answer).

Nothing is fitted, but the rule (answering/answer.py field_asked) was chosen among three variants on
the "fit" half of the packages (split by a hash of the package name); the "check" half is the figure
to quote. Printed per question form (check half): answer on the right line, confident and right,
confident and wrong; then both halves whole, and for the control the share flagged.
"""

from __future__ import annotations

import argparse
import random
import shutil
import sys
import zlib
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from clusterqa.config import Settings  # noqa: E402
from clusterqa.index.indexer import build  # noqa: E402
from clusterqa.service import ask, open_index  # noqa: E402

STATUS = Path("/var/lib/dpkg/status")
WORK = ROOT / "bench-index" / "fields"
PACKAGES = 150
SEED = 7
# question form -> the field that answers it
FORMS = {
    "Who is the maintainer of {p}?": "Maintainer",
    "What version of {p} is installed?": "Version",
    "What is the homepage of {p}?": "Homepage",
    "What is the installed size of {p}?": "Installed-Size",
    "Which section is {p} in?": "Section",
}
CONTROL = "What is the homepage of {p}?"


def records(status: Path) -> list[list[str]]:
    """Each package's record as its lines, continuation lines kept (they are the description's prose)."""
    out = [block.splitlines() for block in status.read_text("utf-8", errors="replace").split("\n\n")]
    return [r for r in out if r and r[0].startswith("Package: ")]


def write_docs(chosen: list[list[str]], docs: Path) -> None:
    if docs.exists():
        shutil.rmtree(docs)
    docs.mkdir(parents=True)
    for lines in chosen:
        name = lines[0].split(": ", 1)[1].strip()
        (docs / f"{name}.txt").write_text("\n".join(lines) + "\n", "utf-8")


def line_of(lines: list[str], field: str) -> int | None:
    return next((i + 1 for i, line in enumerate(lines) if line.startswith(field + ": ")), None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--status", type=Path, default=STATUS)
    parser.add_argument("--work", type=Path, default=WORK)
    args = parser.parse_args()
    every = records(args.status)
    with_homepage = [r for r in every if line_of(r, "Homepage") and line_of(r, "Maintainer")]
    without = [r for r in every if not line_of(r, "Homepage") and line_of(r, "Maintainer")]
    rng = random.Random(SEED)
    chosen = rng.sample(with_homepage, min(PACKAGES, len(with_homepage))) + rng.sample(without, min(PACKAGES // 3, len(without)))
    docs = args.work / "docs"
    write_docs(chosen, docs)
    settings = Settings(seeds=docs, index=args.work / "index")
    build(settings, warn=lambda m: print(m, file=sys.stderr))
    searcher = open_index(settings, refresh=False, warn=lambda m: print(m, file=sys.stderr))
    # (part, form) -> asked, right line, confident and right, confident and wrong
    tally: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    flagged: dict[str, list[int]] = defaultdict(lambda: [0, 0])  # part -> asked, flagged
    for lines in chosen:
        name = lines[0].split(": ", 1)[1].strip()
        part = part_of(name)
        for form, field in FORMS.items():
            gold = line_of(lines, field)
            question = form.format(p=name)
            result = ask(searcher, question, 3)
            answer = result.best
            if gold is None:
                if form == CONTROL:
                    flagged[part][0] += 1
                    flagged[part][1] += not result.confident
                continue
            right = answer is not None and answer.source == f"{name}.txt" and answer.line == gold
            row = tally[part, form]
            row[0] += 1
            row[1] += right
            row[2] += right and result.confident
            row[3] += (not right) and result.confident
    searcher.close()
    print(f"{len(chosen)} package records ({len(with_homepage)} with a homepage on this machine), seed {SEED}")
    print(f"{'question form (check half)':40} {'asked':>6} {'right line':>11} {'confident+right':>16} {'confident+wrong':>16}")
    for form in FORMS:
        print_row(form, tally["check", form])
    for part in ("fit", "check"):
        rows = [row for (p, _), row in tally.items() if p == part]
        print_row(f"all, {part} half", [sum(column) for column in zip(*rows, strict=True)])
    for part, (asked, flags) in sorted(flagged.items()):
        print(f"homepage of a package that has none, {part} half: {asked} asked, flagged {flags / asked:.3f}")


def part_of(name: str) -> str:
    """Which half a package is in: a hash of its name, stable across machines and runs."""
    return "check" if zlib.crc32(name.encode()) % 2 else "fit"


def print_row(label: str, row: list[int]) -> None:
    asked = max(row[0], 1)
    print(f"{label:40} {row[0]:6d} {row[1] / asked:11.3f} {row[2] / asked:16.3f} {row[3] / asked:16.3f}")


if __name__ == "__main__":
    main()
