"""'Label: value' lines (a press release's contact block, a datasheet's specifications) answer the
question that asks for their label, however short they are."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from clusterqa.reading.splitting import field_label
from conftest import ask_json, run_cli, seed_index_folder

CONTACTS = "000_7aa0c03ee5abb184.txt"  # its "Media Contact" block: lines 17-24

DATASHEET = """\
# Pump P-200 datasheet

The P-200 is a centrifugal pump made in Wenzhou for municipal water systems. It was
redesigned in 2021 to use a fifth less energy and is sold in three sizes for networks
of different pressure.

Manufacturer: Ouhai Fluid Machinery Co.
Weight: 42 kg
Rated power: 7.5 kW
Warranty: three years
Phone: +86 577 8890 1234
"""


@pytest.mark.parametrize(
    ("line", "label"),
    [
        ("Phone: 0510-68559077", "Phone"),
        ("Contact Person: Cai Jingwen", "Contact Person"),
        ("Website: http://www.ehangzhou.gov.cn/", "Website"),
        ("Rated power: 7.5 kW", "Rated power"),
        ("Media Contact", None),  # a heading: no value
        ("Note:", None),
        ("However, the report said: output rose.", None),  # a sentence quoting, not a label
        ("http://example.com", None),
        ("The five clusters that were chosen this year by the ministry: Hangzhou and Ningbo", None),  # label too long
    ],
)
def test_field_label(line: str, label: str | None) -> None:
    assert field_label(line, 0, len(line)) == label


def test_a_field_is_a_whole_line() -> None:
    text = "Pumps supply water to the boiler. See: Mechanical stoker. Condensers recover heat.\nPhone: 0510-68559077\n"
    see = text.index("See:")
    assert field_label(text, see, text.index(".", see) + 1) is None
    phone = text.index("Phone")
    assert field_label(text, phone, text.index("\n", phone)) == "Phone"


@pytest.mark.parametrize(
    ("question", "line"),
    [
        ("What is the phone number?", 21),
        ("Who is the contact person?", 19),
        ("What is the website of the Information Office?", 23),
    ],
)
def test_a_contact_block_answers_with_the_line_asked_for(built_seeds_index: dict[str, Path], question: str, line: int) -> None:
    code, data, err = ask_json(built_seeds_index, question)
    assert code == 0, err
    assert data["confident"]
    assert (data["answer"]["source"], data["answer"]["line"]) == (CONTACTS, line)


@pytest.fixture(scope="module")
def datasheet(tmp_path_factory: pytest.TempPathFactory, encoder_dir: Path) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("datasheet")
    seeds = root / "docs"
    seeds.mkdir()
    (seeds / "p200.md").write_text(DATASHEET, "utf-8")
    return {"seeds": seeds, "index": seed_index_folder(root / "index", encoder_dir), "root": root}


@pytest.mark.parametrize(
    ("question", "line"),
    [
        ("What is the weight of the P-200?", 8),
        ("Who is the manufacturer of the P-200 pump?", 7),
        ("What is the rated power of the P-200?", 9),
        ("What is the phone number of Ouhai Fluid Machinery?", 11),  # "number" is in no document: "Phone:" answers it
    ],
)
def test_a_datasheet_field_answers_its_question(datasheet: dict[str, Path], question: str, line: int) -> None:
    code, data, err = ask_json(datasheet, question)
    assert code == 0, err
    assert (data["answer"]["source"], data["answer"]["line"]) == ("p200.md", line)


def test_a_field_the_datasheet_lacks_is_not_answered(datasheet: dict[str, Path]) -> None:
    code, data, _ = ask_json(datasheet, "What is the price of the P-200?")
    assert code == 3
    assert not data["confident"]
    assert "price" in data["answer"]["reason"]


def test_an_index_from_another_release_is_rebuilt_by_index(workspace: dict[str, Path]) -> None:
    """An index whose answer lines were chosen by the earlier rule (no field lines) is refused with one
    line saying what to run; `clusterqa index` rebuilds it and the field is answered."""
    args = ("--seeds", str(workspace["seeds"]), "--index", str(workspace["index"]))
    assert run_cli("index", *args).returncode == 0
    index = workspace["index"]
    manifest = index / "generations" / (index / "CURRENT").read_text().strip() / "manifest.json"
    data = json.loads(manifest.read_text("utf-8"))
    del data["chunking"]["candidate_rule"]
    manifest.write_text(json.dumps(data), "utf-8")
    refused = run_cli("ask", "What is the phone number?", *args)
    assert refused.returncode == 1
    assert "another release" in refused.stderr and "clusterqa index" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert run_cli("index", *args).returncode == 0
    code, answer, err = ask_json(workspace, "What is the phone number?")
    assert code == 0, err
    assert (answer["answer"]["source"], answer["answer"]["line"]) == (CONTACTS, 21)
