"""ARCHITECTURE.md §1: critpath -> {collector, tui} -> analyzer; analyzer is pure; the bank
imports nothing of ours. Checked twice: statically by import-linter's contracts in
pyproject.toml, and dynamically by importing every analyzer module in a fresh interpreter."""

from __future__ import annotations

import json
import pkgutil
import shutil
import subprocess
import sys
from pathlib import Path

import analyzer

ROOT = Path(__file__).resolve().parents[1]

FORBIDDEN_AT_RUNTIME = [
    "fastapi", "starlette", "textual", "httpx", "uvicorn", "grpc", "sqlite3", "socket",
    "http.client", "urllib.request", "prometheus_client", "jinja2",
    "collector", "tui", "critpath", "instrumented_bank",
]


def test_import_linter_contracts_hold():
    lint = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    assert lint, "import-linter is part of the test extra"
    result = subprocess.run([lint], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "broken" not in result.stdout.split("Contracts:")[-1].lower().replace("0 broken", "")


def test_analyzer_modules_load_no_io_or_outer_layers():
    names = [m.name for m in pkgutil.walk_packages(analyzer.__path__, "analyzer.")]
    assert "analyzer.model" in names
    code = (
        "import importlib, json, sys\n"
        f"for name in {names!r}: importlib.import_module(name)\n"
        f"bad = [m for m in {FORBIDDEN_AT_RUNTIME!r} if m in sys.modules]\n"
        "print(json.dumps(bad))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == []
