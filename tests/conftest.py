"""Shared fixtures: the real model (exported to ONNX once per test session), real files, the real CLI."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SEEDS = ROOT / "seeds"
QUESTIONS = Path(__file__).with_name("seed_questions.jsonl")


@pytest.fixture(scope="session")
def encoder_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The default model exported to ONNX once; tests copy it into their own index folders."""
    from clusterqa.config import DEFAULT_MODEL
    from clusterqa.export import export_encoder

    target = tmp_path_factory.mktemp("encoder") / "encoder"
    export_encoder(DEFAULT_MODEL, target)
    return target


def seed_index_folder(index: Path, encoder_dir: Path) -> Path:
    """Give a fresh index folder the already-exported encoder so building it needs no torch."""
    from clusterqa.config import DEFAULT_MODEL
    from clusterqa.store import model_key

    destination = index / "encoders" / model_key(DEFAULT_MODEL)
    if not destination.exists():
        shutil.copytree(encoder_dir, destination)
    return index


@pytest.fixture
def workspace(tmp_path: Path, encoder_dir: Path) -> dict[str, Path]:
    """A private copy of the seeds and an empty index folder (with the encoder) for one test."""
    seeds = tmp_path / "seeds"
    shutil.copytree(SEEDS, seeds)
    index = seed_index_folder(tmp_path / "index", encoder_dir)
    return {"seeds": seeds, "index": index, "root": tmp_path}


@pytest.fixture(scope="session")
def built_seeds_index(tmp_path_factory: pytest.TempPathFactory, encoder_dir: Path) -> dict[str, Path]:
    """One index of the repository's seeds, built once and only read by the tests that use it."""
    root = tmp_path_factory.mktemp("seedindex")
    seeds = root / "seeds"
    shutil.copytree(SEEDS, seeds)
    index = seed_index_folder(root / "index", encoder_dir)
    result = run_cli("index", "--seeds", str(seeds), "--index", str(index))
    assert result.returncode == 0, result.stderr
    return {"seeds": seeds, "index": index, "root": root}


def run_cli(*args: str, env: dict[str, str] | None = None, timeout: float = 300, **kwargs) -> subprocess.CompletedProcess:
    """Run `python -m clusterqa ARGS` as a real process."""
    full_env = {**os.environ, "HF_HUB_OFFLINE": "1", "COLUMNS": "200", **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "clusterqa", *args],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=timeout,
        **kwargs,
    )


def ask_json(workspace: dict[str, Path], question: str, *extra: str) -> tuple[int, dict | None, str]:
    result = run_cli("ask", question, "--json", "--seeds", str(workspace["seeds"]), "--index", str(workspace["index"]), *extra)
    data = json.loads(result.stdout) if result.stdout.strip() else None
    return result.returncode, data, result.stderr


def load_questions() -> list[dict]:
    return [json.loads(line) for line in QUESTIONS.read_text("utf-8").splitlines() if line.strip()]
