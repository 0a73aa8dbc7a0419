"""ARCHITECTURE.md §1: critpath -> {collector, tui} -> analyzer; analyzer is pure (no web,
TUI, network or filesystem code: decoders take bytes); the bank imports nothing of ours.
Checked three ways: statically by import-linter's contracts in pyproject.toml, by reading
analyzer's source (every import statement, lazy ones included, and calls to ``open``), and
dynamically by importing every analyzer module in a fresh interpreter. ``os`` and ``io``
are loaded by Python itself, so only the first two can hold analyzer to "no filesystem"."""

from __future__ import annotations

import ast
import json
import pkgutil
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

import analyzer

ROOT = Path(__file__).resolve().parents[1]

FILESYSTEM = ["os", "pathlib", "io", "shutil", "tempfile", "glob", "fileinput", "mmap",
              "subprocess"]
WEB_NETWORK_UI = ["fastapi", "starlette", "textual", "httpx", "uvicorn", "grpc", "sqlite3",
                  "socket", "http", "urllib", "requests", "prometheus_client", "jinja2",
                  "aiohttp", "websockets", "ssl", "asyncio", "selectors", "select", "webbrowser",
                  "rich", "curses", "tkinter"]
OUTER_LAYERS = ["collector", "tui", "critpath", "instrumented_bank"]
FORBIDDEN_IN_ANALYZER = FILESYSTEM + WEB_NETWORK_UI + OUTER_LAYERS

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


def forbidden_uses(source: str, filename: str = "<source>") -> list[str]:
    """``line: what`` for each import of a forbidden module (at any depth: ``os.path`` is
    ``os``) and each call of the builtin ``open`` in ``source``."""
    found = []
    for node in ast.walk(ast.parse(source, filename)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) \
                and node.func.id in ("open", "__import__"):
            found.append(f"{node.lineno}: {node.func.id}()")
            continue
        else:
            continue
        found += [f"{node.lineno}: import {name}" for name in names
                  if name.split(".")[0] in FORBIDDEN_IN_ANALYZER]
    return found


@pytest.mark.parametrize(("source", "expected"), [
    ("import os.path\nfrom pathlib import Path\n", ["1: import os.path", "2: import pathlib"]),
    ("def load(p):\n    import io\n    return open(p).read()\n",
     ["2: import io", "3: open()"]),
    ("from . import os\nfrom analyzer.io_free import x\nimport json, gzip\n", []),
], ids=["top-level", "lazy-import-and-open", "relative-and-lookalike-names-pass"])
def test_source_check_finds_filesystem_code(source, expected):
    assert forbidden_uses(source) == expected


def test_analyzer_source_has_no_filesystem_web_or_ui_code():
    files = sorted(Path(analyzer.__file__).parent.rglob("*.py"))
    assert len(files) > 10
    found = {str(path.relative_to(ROOT)): uses for path in files
             if (uses := forbidden_uses(path.read_text(encoding="utf-8"), str(path)))}
    assert found == {}


def test_import_linter_forbids_the_same_modules():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    [pure] = [c for c in config["tool"]["importlinter"]["contracts"]
              if c.get("source_modules") == ["analyzer"] and c["type"] == "forbidden"]
    assert sorted(pure["forbidden_modules"]) == sorted(FORBIDDEN_IN_ANALYZER)
