"""The benchmarks' runner and bench_critical_path's quick mode: each report line is there
and well formed (timings are not judged: the machine running the tests is not quiet)."""

from __future__ import annotations

import re

import pytest

from bench import bench_critical_path
from bench.__main__ import OPT_IN, available, main, selected

ROW = re.compile(
    r"^ *(?P<spans>\d+) (?P<shape>wide|deep|mixed) +\d+\.\d{3} +\d+\.\d{2} \( *\d+\.\dx\) +"
    r"\d+\.\d{2} \( *\d+\.\dx\) +\d+\.\d{2} +(?P<segments>\d+)  (?P<verdict>PASS|FAIL)$")


def test_critical_path_quick_run_reports_every_size_and_shape(capsys):
    assert main(["bench_critical_path", "--quick"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0] == "== bench_critical_path =="
    assert lines[1].startswith("target: critical path <= 3.0 µs/span at every size")
    header = next(line for line in lines if line.lstrip().startswith("spans shape"))
    assert header.split()[:4] == ["spans", "shape", "ref", "µs"]
    rows = [m for line in lines if (m := ROW.match(line))]
    assert [(int(m["spans"]), m["shape"]) for m in rows] == [
        (n, shape) for n in bench_critical_path.QUICK_SIZES for shape in bench_critical_path.SHAPES]
    # a chain of n spans: every span is on the path, and all but the deepest own two segments
    assert [int(m["segments"]) for m in rows if m["shape"] == "deep"] == [
        2 * n - 1 for n in bench_critical_path.QUICK_SIZES]
    failures = sum(m["verdict"] == "FAIL" for m in rows)
    verdict = "all sizes PASS" if not failures else f"{failures} size/shape combinations FAIL"
    assert verdict in lines
    assert re.fullmatch(r"\(\d+\.\d s\)", lines[lines.index(verdict) + 1])
    assert "left out" not in out  # a benchmark was named: nothing else is announced


@pytest.mark.parametrize(("only", "everything", "expected"), [
    ([], False, ["bench_aggregate", "bench_collector", "bench_critical_path", "bench_decode"]),
    ([], True, ["bench_aggregate", "bench_collector", "bench_critical_path", "bench_decode",
                "bench_soak"]),
    (["bench_soak"], False, ["bench_soak"]),
    (["bench_decode", "bench_critical_path"], False, ["bench_decode", "bench_critical_path"]),
], ids=["default-skips-the-soak", "all", "soak-by-name", "named-in-order"])
def test_the_soak_runs_only_when_asked(only, everything, expected):
    assert set(OPT_IN) == {"bench_soak"}
    assert selected(only, available(), everything) == expected


def test_runner_says_what_it_left_out(capsys, monkeypatch):
    ran = []
    monkeypatch.setattr("bench.__main__.available", lambda: ["bench_critical_path", "bench_soak"])
    monkeypatch.setattr(bench_critical_path, "run", lambda quick: ran.append(quick) or "report")
    assert main(["--quick"]) == 0
    out = capsys.readouterr().out
    assert ran == [True]
    assert "== bench_soak ==" not in out
    assert out.splitlines()[-1] == ("left out: bench_soak (the collector's 10-minute memory "
                                    "soak); to run: python -m bench bench_soak (or --all)")
