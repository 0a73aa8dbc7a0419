"""Reading trace files for the commands that analyse them (analyze, path, gate), and
writing their results to standard output.

The analyzer is pure, so the file system lives here: paths are expanded (a directory
stands for the trace files in it, ``-`` for standard input), each file is read and
handed to :func:`analyzer.decode.decode`, and all spans are assembled together — a
trace split over several files (a collector's rotated exports) comes back whole.

Whatever goes wrong is an :class:`InputError` whose message starts with the file and
says what is wrong, ready to print as one line.
"""

from __future__ import annotations

import argparse
import gzip
import os
import sys
import zlib
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import BinaryIO

from analyzer.assemble import assemble
from analyzer.config import AnalysisConfig, AnalysisConfigError
from analyzer.decode import ANALYSIS_ATTRIBUTES, DecodeError, decode
from analyzer.model import Span, Trace
from critpath.config import ConfigError, find_config_file, load_config

STDIN = "-"

TRACE_SUFFIXES = frozenset({".json", ".jsonl", ".ndjson", ".pb", ".bin", ".otlp", ".protobuf",
                            ".gz"})
"""Files a directory expands to (any file named explicitly is read, whatever its name)."""

Progress = Callable[[int, int], None]
"""Called as ``progress(files_done, files_total)`` after each file."""

FILES_HELP = "trace file, directory of trace files, or - for stdin"


class InputError(Exception):
    """A trace input cannot be used; ``str(error)`` is ``"<file>: <what is wrong>"``."""


def analysis_config(path: Path | None = None) -> AnalysisConfig:
    """The ``[rules]`` / ``[gate]`` settings of ``path``, else of the config file found in
    the working directory, else the defaults. Raises :class:`InputError` naming the file
    and the bad key."""
    try:
        return AnalysisConfig.from_mapping(load_config(path))
    except ConfigError as exc:
        raise InputError(str(exc)) from exc
    except AnalysisConfigError as exc:
        raise InputError(f"{path or find_config_file()}: {exc}") from exc


def expand_paths(paths: Iterable[str | Path]) -> list[str | Path]:
    """Files to read, in order: directories become their trace files (recursively, sorted,
    hidden ones skipped); ``-`` stays as is. Raises :class:`InputError` for a missing path
    or a directory without trace files."""
    files: list[str | Path] = []
    for raw in paths:
        if raw == STDIN:
            files.append(STDIN)
            continue
        path = Path(raw)
        if path.is_dir():
            found = sorted(
                p for p in path.rglob("*")
                if p.is_file() and p.suffix.lower() in TRACE_SUFFIXES
                and not any(part.startswith(".") for part in p.relative_to(path).parts)
            )
            if not found:
                raise InputError(
                    f"{path}: directory holds no trace files "
                    f"({', '.join(sorted(TRACE_SUFFIXES))})"
                )
            files.extend(found)
        elif path.exists():
            files.append(path)
        else:
            raise InputError(f"{path}: no such file or directory")
    return files


def _read(path: str | Path, stdin: BinaryIO | None) -> bytes:
    try:
        if path == STDIN:
            return (stdin or sys.stdin.buffer).read()
        return Path(path).read_bytes()
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror or exc})") from exc


def _gunzip(data: bytes, source: str) -> bytes:
    # The OpenTelemetry Collector's file exporter can compress; accept it transparently.
    if data[:2] != b"\x1f\x8b":
        return data
    try:
        return gzip.decompress(data)
    except (OSError, EOFError, zlib.error) as exc:
        raise InputError(f"{source}: looks gzip-compressed but cannot be decompressed ({exc})") \
            from exc


def read_spans(
    paths: Sequence[str | Path], config: AnalysisConfig | None = None, *,
    stdin: BinaryIO | None = None, progress: Progress | None = None,
) -> tuple[list[Span], list[str]]:
    """Decode every span of ``paths``; returns ``(spans, warnings)``.

    Attributes are trimmed to what the analysis reads plus ``config``'s timeout keys.
    Warnings are one-line messages (spans skipped for invalid ids, per file).
    """
    config = config or AnalysisConfig()
    keep = ANALYSIS_ATTRIBUTES | frozenset(config.timeout_keys)
    files = expand_paths(paths)
    spans: list[Span] = []
    warnings: list[str] = []
    for done, path in enumerate(files, start=1):
        source = "<stdin>" if path == STDIN else str(path)
        data = _gunzip(_read(path, stdin), source)
        try:
            decoded = decode(data, source=source, keep_attributes=keep)
        except DecodeError as exc:  # its message already starts with the source
            raise InputError(str(exc)) from exc
        spans.extend(decoded.spans)
        warnings.extend(f"{source}: {warning}" for warning in decoded.warnings())
        if progress is not None:
            progress(done, len(files))
    return spans, warnings


def read_traces(
    paths: Sequence[str | Path], config: AnalysisConfig | None = None, *,
    stdin: BinaryIO | None = None, progress: Progress | None = None,
) -> tuple[list[Trace], list[str]]:
    """Read, decode and assemble ``paths``; returns ``(traces, warnings)``.

    Traces are ordered by the start of their root. Raises :class:`InputError`.
    """
    spans, warnings = read_spans(paths, config, stdin=stdin, progress=progress)
    traces = assemble(spans)
    orphaned = sum(1 for trace in traces if trace.orphans)
    if orphaned:
        warnings.append(
            f"{orphaned} trace(s) miss a parent span; their orphans count as extra roots"
        )
    return traces, warnings


def add_files_argument(parser: argparse.ArgumentParser, *, nargs: str = "+") -> None:
    """The positional ``FILE…`` argument (into ``args.files``) of every command that reads
    trace files, so they all spell and explain it alike."""
    parser.add_argument("files", nargs=nargs, metavar="FILE", help=FILES_HELP)


def read_command_traces(
    command: str, paths: Sequence[str | Path], config: AnalysisConfig,
) -> list[Trace]:
    """:func:`read_traces` as a command runs it: a progress line on a terminal, and each
    warning printed to standard error as ``critpath <command>: warning: …``.

    Raises :class:`InputError`; the command prints it under its own name.
    """
    traces, warnings = read_traces(paths, config, progress=stderr_progress())
    for warning in warnings:
        print(f"critpath {command}: warning: {warning}", file=sys.stderr)
    return traces


def stderr_progress(stream=None) -> Progress | None:
    """A progress callback printing ``reading files: 12/340`` on a TTY, else ``None``.

    Only worth it for many files: the callback stays silent for 20 files or fewer.
    """
    stream = stream or sys.stderr
    if not stream.isatty():
        return None

    def report(done: int, total: int) -> None:
        if total <= 20:
            return
        end = "\n" if done == total else ""
        stream.write(f"\rreading files: {done}/{total}{end}")
        stream.flush()

    return report


def write_stdout(text: str) -> None:
    """Write a command's result to standard output, quietly if the reader went away.

    ``critpath path traces/ | head`` closes the pipe early; like other Unix tools the
    command then just stops writing instead of dying with a traceback. Later writes
    (the interpreter's final flush) go to the null device.
    """
    try:
        sys.stdout.write(text)
        sys.stdout.flush()
    except BrokenPipeError:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
