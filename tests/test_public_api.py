"""The names scripts import from ``analyzer`` (README, ARCHITECTURE.md §3) are the functions,
even after the submodules of the same name have been imported."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OTLP_EXAMPLE = ROOT / "tests" / "data" / "otlp" / "opentelemetry-proto-example-trace.json"


def test_readme_snippet_prints_each_traces_critical_path():
    code = (
        "import analyzer.decode, analyzer.assemble, analyzer.critical_path\n"
        "from analyzer import assemble, critical_path, decode\n"
        f"for trace in assemble(decode(open({str(OTLP_EXAMPLE)!r}, 'rb').read()).spans):\n"
        "    print(trace.trace_id, critical_path(trace))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("5b8efff798038103d269b633813fc60c [Segment(span_id='eee19b7ec3c1b174'")


def test_every_public_name_is_what_it_says():
    import analyzer

    for name in analyzer.__all__:
        value = getattr(analyzer, name)
        assert not isinstance(value, type(analyzer)), f"analyzer.{name} is a module"
