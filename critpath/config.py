"""Finding and reading critpath's configuration file.

Precedence is CLI flags over environment over file (ARCHITECTURE.md §8); this module
only reads the file: ``critpath.toml`` in the working directory, else the
``[tool.critpath]`` table of ``pyproject.toml``. Each command maps the tables it
needs (``[rules]``, ``[gate]``, ``[collect]``…) onto its own settings.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any


class ConfigError(ValueError):
    """The configuration file exists but cannot be used; the message says how to fix it."""


def find_config_file(start: Path | None = None) -> Path | None:
    """``critpath.toml`` if present, else a ``pyproject.toml`` holding ``[tool.critpath]``."""
    here = start or Path.cwd()
    candidate = here / "critpath.toml"
    if candidate.is_file():
        return candidate
    pyproject = here / "pyproject.toml"
    if pyproject.is_file() and "critpath" in _read_toml(pyproject).get("tool", {}):
        return pyproject
    return None


def load_config(path: Path | None = None) -> dict[str, Any]:
    """The critpath tables from ``path`` (or the file :func:`find_config_file` finds).

    Returns ``{}`` when there is no file at all, so every command has defaults.
    """
    if path is None:
        path = find_config_file()
        if path is None:
            return {}
    if not path.is_file():
        raise ConfigError(f"{path}: no such config file (pass --config with an existing file)")
    data = _read_toml(path)
    if path.name == "pyproject.toml":
        return dict(data.get("tool", {}).get("critpath", {}))
    return data


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})") from exc
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read ({exc.strerror})") from exc
