"""``critpath path``: waterfall text, critpath.paths/v1 JSON, --trace-id, errors, help,
and the real console script."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from critpath.cli import main
from critpath.exitcodes import ExitCode

DATA = Path(__file__).resolve().parents[1] / "data"
JAEGER = DATA / "jaeger"
TIMELINE = JAEGER / "deathstarbench-read-home-timeline_R600-trace_01_shortest.json"
TIMELINE_ID = "000000000000000010c98d0710f7ebb2"
OTLP_EXAMPLE = DATA / "otlp" / "opentelemetry-proto-example-trace.json"


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(["path", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_text_waterfall_of_one_trace(capsys):
    code, out, err = run(capsys, str(TIMELINE), "--width", "100")
    assert (code, err) == (ExitCode.OK, "")
    lines = out.splitlines()
    assert lines[0] == (f"trace {TIMELINE_ID}  nginx-web-server /wrk2-api/home-timeline/read  "
                        "11.5 ms  critical-path depth 3")
    assert lines[1] == "█ on the critical path   ░ running, not critical   ! error"
    spans = lines[3:]
    assert len(spans) == 7  # one line per span
    assert spans[0].startswith("/wrk2-api/home-timelin…  nginx-web-server ")
    assert spans[-1].startswith("          post_storage…  post-storage-service ")  # tree depth 5
    assert all(len(line) <= 100 for line in lines[1:])
    assert all("█" in line.split("│")[1] for line in spans)  # every span owns some of it here
    assert spans[2].endswith("│  10.8 ms")


def test_every_trace_of_a_directory_in_start_order(capsys):
    code, out, _ = run(capsys, str(JAEGER))
    assert code == ExitCode.OK
    headers = [line for line in out.splitlines() if line.startswith("trace ")]
    assert len(headers) == 12
    assert out.count("\n\ntrace ") == 11


def test_trace_id_selects_one_trace_case_insensitively(capsys):
    code, out, _ = run(capsys, str(JAEGER), "--trace-id", TIMELINE_ID.upper(), "--format", "json")
    assert code == ExitCode.OK
    document = json.loads(out)
    assert [t["trace_id"] for t in document["traces"]] == [TIMELINE_ID]


def test_json_document(capsys):
    code, out, _ = run(capsys, str(TIMELINE), "--format", "json")
    assert code == ExitCode.OK
    document = json.loads(out)
    assert document["schema"] == "critpath.paths/v1"
    [trace] = document["traces"]
    assert (trace["endpoint"], trace["duration_ms"], trace["depth"]) == (
        {"service": "nginx-web-server", "name": "/wrk2-api/home-timeline/read"}, 11.49, 3)
    segments = trace["segments"]
    assert set(segments[0]) == {"span_id", "service", "name", "start_ns", "end_ns"}
    assert segments[-1]["end_ns"] - segments[0]["start_ns"] == 11_490_000
    assert all(a["end_ns"] == b["start_ns"] for a, b in zip(segments, segments[1:]))
    assert {s["service"] for s in segments} == {
        "nginx-web-server", "home-timeline-service", "post-storage-service"}


def test_unknown_trace_id(capsys):
    code, out, err = run(capsys, str(TIMELINE), "--trace-id", "abc123")
    assert (code, out) == (ExitCode.BAD_INPUT, "")
    assert err == "critpath path: trace abc123 not found among the 1 trace(s) read\n"


def test_orphan_roots_are_drawn_with_a_warning(capsys):
    code, out, err = run(capsys, str(OTLP_EXAMPLE), "--width", "80")
    assert code == ExitCode.OK
    assert out.startswith("trace 5b8efff798038103d269b633813fc60c  my.service I'm a server span"
                          "  1000 ms  critical-path depth 1\n")
    assert err == ("critpath path: warning: 1 trace(s) miss a parent span; their orphans count "
                   "as extra roots\n")


def test_bad_input_names_the_file(capsys, tmp_path):
    path = tmp_path / "t.json"
    path.write_text('{"data": [{"spans": 3}]}')
    code, out, err = run(capsys, str(path))
    assert (code, out) == (ExitCode.BAD_INPUT, "")
    assert err.startswith(f"critpath path: {path}: ")
    assert err.count("\n") == 1


def test_missing_file(capsys, tmp_path):
    code, _, err = run(capsys, str(tmp_path / "gone.pb"))
    assert code == ExitCode.BAD_INPUT
    assert err == f"critpath path: {tmp_path / 'gone.pb'}: no such file or directory\n"


def test_markdown_is_not_a_path_format(capsys):
    assert main(["path", str(TIMELINE), "--format", "markdown"]) == ExitCode.BAD_INPUT
    assert "invalid choice: 'markdown'" in capsys.readouterr().err


def test_help(capsys):
    assert main(["path", "--help"]) == ExitCode.OK
    out = capsys.readouterr().out
    assert out.startswith("usage: critpath path [-h] [--trace-id ID] [--format {text,json}]")
    assert "█ the span owned the critical path there" in out
    assert "critpath path traces/ --trace-id" in out


def test_console_script_end_to_end():
    script = Path(sys.executable).parent / "critpath"
    result = subprocess.run([str(script), "path", str(TIMELINE), "--width", "90"],
                            capture_output=True, text=True, timeout=120)
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout.startswith(f"trace {TIMELINE_ID}  ")
    assert result.stdout.count("│") == 14  # 7 spans, a bar between two rules each


def test_a_reader_that_stops_early_is_no_error(tmp_path):
    # `critpath path traces/ | head`: many traces, the pipe closes before the output ends
    spans = [{"traceId": f"{t + 1:032x}", "spanId": f"{t + 1:016x}", "name": "GET /",
              "kind": 2, "startTimeUnixNano": "1000000000", "endTimeUnixNano": "1005000000"}
             for t in range(2000)]
    big = tmp_path / "many.json"
    big.write_text(json.dumps({"resourceSpans": [{
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "web"}}]},
        "scopeSpans": [{"spans": spans}]}]}))
    script = Path(sys.executable).parent / "critpath"
    process = subprocess.Popen([str(script), "path", str(big)], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE)
    assert process.stdout is not None and process.stderr is not None
    assert process.stdout.read(5) == b"trace"
    process.stdout.close()
    stderr = process.stderr.read()
    assert (process.wait(timeout=120), stderr) == (0, b"")
