"""``critpath analyze`` and the shared reader ``critpath.inputs``: formats, inputs, errors,
exit codes, help, and the real console script."""

from __future__ import annotations

import gzip
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from critpath.cli import main
from critpath.exitcodes import ExitCode
from critpath.inputs import InputError, expand_paths, read_traces, stderr_progress

DATA = Path(__file__).resolve().parents[1] / "data"
JAEGER = DATA / "jaeger"
OTLP_EXAMPLE = DATA / "otlp" / "opentelemetry-proto-example-trace.json"
COMPOSE = JAEGER / "deathstarbench-compose-post_R500-trace_01_shortest.json"


def otlp_json(*spans: dict) -> bytes:
    """A one-service OTLP/JSON request holding ``spans``."""
    return json.dumps({"resourceSpans": [{
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "web"}}]},
        "scopeSpans": [{"spans": list(spans)}],
    }]}).encode()


def otlp_span(trace_id: str, span_id: str, name: str = "GET /") -> dict:
    return {"traceId": trace_id, "spanId": span_id, "name": name, "kind": 2,
            "startTimeUnixNano": "1000000000", "endTimeUnixNano": "1005000000"}


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(["analyze", *argv])
    out, err = capsys.readouterr()
    return code, out, err


# -- formats -------------------------------------------------------------------------------


def test_text_report_over_a_directory(capsys):
    code, out, err = run(capsys, str(DATA))
    assert code == ExitCode.OK
    assert out.startswith("critpath: 13 traces, 233 spans, 13 services (")
    assert "ENDPOINTS (3, slowest p99 first;" in out
    assert "  user → nginx-web-server " in out
    # SOURCES.md in the directory is not a trace file and is not read
    assert err == ("critpath analyze: warning: 1 trace(s) miss a parent span; their orphans "
                   "count as extra roots\n")


def test_json_report(capsys):
    code, out, _ = run(capsys, str(JAEGER), "--format", "json")
    assert code == ExitCode.OK
    report = json.loads(out)
    assert report["schema"] == "critpath.report/v1"
    assert (report["traces"], report["spans"]) == (12, 232)
    assert report["generated_at"].endswith("Z") and "." not in report["generated_at"]
    assert [e["name"] for e in report["endpoints"]] == [
        "/wrk2-api/home-timeline/read", "/wrk2-api/post/compose"]


def test_markdown_report(capsys):
    code, out, _ = run(capsys, str(COMPOSE), "--format", "markdown")
    assert code == ExitCode.OK
    assert out.startswith("## critpath report\n\n1 traces, 32 spans, generated ")
    assert "| `nginx-web-server /wrk2-api/post/compose` | 1 | 0 |" in out


# -- text output: short, aligned, worst first (what on-call reads at 3 a.m.) -----------------


def text_and_report(capsys, *argv: str) -> tuple[str, dict]:
    """The text report over the 12 DeathStarBench traces, and the JSON report it renders."""
    code, out, _ = run(capsys, str(JAEGER), *argv)
    assert code == ExitCode.OK
    code, document, _ = run(capsys, str(JAEGER), "--format", "json")
    assert code == ExitCode.OK
    return out, json.loads(document)


def words(text: str) -> str:
    return " ".join(text.split())


def test_deathstarbench_text_is_short_and_fits_120_columns(capsys):
    out, _ = text_and_report(capsys)
    lines = out.splitlines()
    assert len(lines) <= 30, out  # it was 103 lines with a paragraph per finding
    assert max(len(line) for line in lines) <= 120, out  # and 161 columns
    assert [line for line in lines if line != line.rstrip()] == []
    for section in ("FINDINGS (", "ENDPOINTS (", "CALLS ("):
        assert sum(line.startswith(section) for line in lines) == 1


def test_deathstarbench_findings_are_one_line_each_alike_folded_worst_first(capsys):
    out, report = text_and_report(capsys)
    section = out.split("\n\n")[1].splitlines()
    rows = section[2:-1]
    findings = report["findings"]
    alike: dict[tuple[str, str], int] = {}
    for finding in findings:
        alike[finding["severity"], finding["rule"]] = alike.get(
            (finding["severity"], finding["rule"]), 0) + 1
    # one line per rule and severity with 3 or more findings, one per finding otherwise
    assert len(rows) == sum(1 if n >= 3 else n for n in alike.values())
    assert section[0] == f"FINDINGS ({len(findings)} on {len(rows)} lines, worst first)"
    assert section[1].split() == ["SEVERITY", "RULE", "WHERE", "HOW", "BAD", "WHAT", "TO", "DO"]
    severities = [row.split()[0].lower() for row in rows]
    assert severities == sorted(severities, key=["critical", "warning", "info"].index)
    for row in rows:
        severity, rule = row.split()[:2]
        count = alike[severity.lower(), rule]
        assert (f"{rule} ×{count} " in row) == (count >= 3)
    # a folded line shows the worst of its findings: the first in the report's order
    worst = findings[0]
    assert rows[0].startswith(f"  {worst['severity'].upper()}  {worst['rule']}")
    assert f"{worst['client']} → {worst['server']}" in rows[0]
    assert "-v lists each finding with its evidence" in section[-1]
    assert not any(f["message"][:40] in out for f in findings), "messages are for -v"


def test_deathstarbench_endpoints_slowest_first_with_their_depth_and_a_cut_chain(capsys):
    out, report = text_and_report(capsys)
    section = out.split("\n\n")[2].splitlines()
    assert section[1].split()[-3:] == ["DEPTH", "CRITICAL", "PATH"]
    for row, endpoint in zip(section[2:], report["endpoints"], strict=True):
        path = endpoint["critical_path"]
        assert row.startswith(f"  {endpoint['service']} {endpoint['name']} ")
        assert f"  {path['depth_p50']}/{path['depth_max']}  {path['services'][0]['name']} " in row
        if len(path["services"]) > 1:  # the chain is cut at a whole service, with a count
            assert row.endswith(f" +{len(path['services']) - 1}")


def test_verbose_restores_every_finding_with_its_message_and_evidence(capsys):
    out, report = text_and_report(capsys, "-v")
    flat = words(out)
    for finding in report["findings"]:
        assert words(finding["message"]) in flat
        assert f"longest_stall_trace_id {finding['evidence']['longest_stall_trace_id']}" in flat
    assert "×" not in out
    for edge in report["edges"]:
        assert f"{edge['client']} → {edge['server']}" in out
    for endpoint in report["endpoints"]:  # the whole chain, wrapped under its endpoint
        chain = ", ".join(f"{s['name']} {s['share'] * 100:.0f}%"
                          for s in endpoint["critical_path"]["services"])
        assert f"critical path: {chain}" in flat
    assert max(len(line) for line in out.splitlines()) <= 120


def test_width_option_narrows_the_text(capsys):
    out, _ = text_and_report(capsys, "--width", "100")
    assert max(len(line) for line in out.splitlines()) <= 100
    assert "  user → nginx-web-server " in out


def test_markdown_is_short_too_and_verbose_markdown_has_the_messages(capsys):
    _, short, _ = run(capsys, str(JAEGER), "--format", "markdown")
    _, full, _ = run(capsys, str(JAEGER), "--format", "markdown", "-v")
    _, document, _ = run(capsys, str(JAEGER), "--format", "json")
    findings = json.loads(document)["findings"]
    assert len(short.splitlines()) <= 40
    assert max(len(line) for line in short.splitlines()) <= 200
    assert "`missing-timeout` ×" in short
    assert not any(f["message"] in short for f in findings)
    assert all(f["message"] in full for f in findings)


def test_verbose_does_not_change_the_json(capsys):
    _, plain, _ = run(capsys, str(JAEGER), "--format", "json")
    _, verbose, _ = run(capsys, str(JAEGER), "--format", "json", "-v")
    plain_doc, verbose_doc = json.loads(plain), json.loads(verbose)
    plain_doc.pop("generated_at"), verbose_doc.pop("generated_at")
    assert plain_doc == verbose_doc


def test_config_file_sets_budgets_and_findings_follow(capsys, tmp_path):
    config = tmp_path / "critpath.toml"
    config.write_text("[rules.critical-path-depth]\nbudget = 3\n")
    code, out, _ = run(capsys, str(JAEGER), "--format", "json", "--config", str(config))
    assert code == ExitCode.OK
    depth = [f for f in json.loads(out)["findings"] if f["rule"] == "critical-path-depth"]
    assert [f["endpoint"] for f in depth] == ["nginx-web-server /wrk2-api/post/compose"]


def test_config_file_in_the_working_directory_is_found(capsys, tmp_path, monkeypatch):
    (tmp_path / "critpath.toml").write_text("[rules]\ndisable = ['missing-timeout']\n")
    monkeypatch.chdir(tmp_path)
    code, out, _ = run(capsys, str(JAEGER), "--format", "json")
    assert code == ExitCode.OK
    assert not [f for f in json.loads(out)["findings"] if f["rule"] == "missing-timeout"]


# -- inputs --------------------------------------------------------------------------------


def test_stdin(capsys, monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(OTLP_EXAMPLE.read_bytes())))
    code, out, _ = run(capsys, "-", "--format", "json")
    assert code == ExitCode.OK
    assert json.loads(out)["endpoints"][0]["service"] == "my.service"


def test_gzip_files_are_read(capsys, tmp_path):
    packed = tmp_path / "trace.json.gz"
    packed.write_bytes(gzip.compress(COMPOSE.read_bytes()))
    code, out, _ = run(capsys, str(packed), "--format", "json")
    assert (code, json.loads(out)["spans"]) == (ExitCode.OK, 32)


def test_a_trace_split_over_two_files_is_whole_again(capsys, tmp_path):
    trace_id = "0af7651916cd43dd8448eb211c80319c"
    root = otlp_span(trace_id, "b7ad6b7169203331")
    child = dict(otlp_span(trace_id, "00f067aa0ba902b7", "SELECT"),
                 parentSpanId="b7ad6b7169203331", kind=3,
                 startTimeUnixNano="1001000000", endTimeUnixNano="1004000000")
    (tmp_path / "a.json").write_bytes(otlp_json(root))
    (tmp_path / "b.json").write_bytes(otlp_json(child))
    code, out, err = run(capsys, str(tmp_path), "--format", "json")
    report = json.loads(out)
    assert (code, report["traces"], report["spans"], err) == (ExitCode.OK, 1, 2, "")


def test_directories_expand_to_trace_files_only(tmp_path):
    (tmp_path / "nested").mkdir()
    (tmp_path / ".hidden").mkdir()
    for name in ("b.json", "a.pb", "nested/c.jsonl", "notes.md", ".hidden/d.json", ".e.json"):
        (tmp_path / name).write_text("{}")
    assert [Path(p).relative_to(tmp_path).as_posix() for p in expand_paths([tmp_path])] == [
        "a.pb", "b.json", "nested/c.jsonl"]


def test_spans_with_invalid_ids_are_skipped_with_a_warning(capsys, tmp_path):
    bad = tmp_path / "ids.json"
    bad.write_bytes(otlp_json(otlp_span("0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331"),
                              otlp_span("not-hex", "b7ad6b7169203332")))
    code, out, err = run(capsys, str(bad), "--format", "json")
    assert (code, json.loads(out)["traces"]) == (ExitCode.OK, 1)
    assert err == f"critpath analyze: warning: {bad}: skipped 1 span(s) with invalid ids\n"


def test_progress_counter_on_a_terminal_for_many_files():
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    stream = Terminal()
    progress = stderr_progress(stream)
    assert progress is not None
    for done in range(1, 22):
        progress(done, 21)
    assert stream.getvalue().startswith("\rreading files: 1/21\rreading files: 2/21")
    assert stream.getvalue().endswith("\rreading files: 21/21\n")
    quiet = Terminal()
    stderr_progress(quiet)(3, 20)  # 20 files or fewer: silent
    assert quiet.getvalue() == ""
    assert stderr_progress(io.StringIO()) is None  # not a terminal: no counter at all


def test_read_traces_reports_progress_per_file():
    calls = []
    traces, warnings = read_traces([COMPOSE, OTLP_EXAMPLE],
                                   progress=lambda done, total: calls.append((done, total)))
    assert (len(traces), calls) == (2, [(1, 2), (2, 2)])
    assert warnings == ["1 trace(s) miss a parent span; their orphans count as extra roots"]


# -- errors --------------------------------------------------------------------------------


@pytest.mark.parametrize(("content", "problem"), [
    (b"{not json", "invalid JSON"),
    (b"", "the input is empty"),
    (b'{"hello": "world"}', ""),
], ids=["broken-json", "empty", "unknown-json"])
def test_bad_input_is_one_line_naming_the_file(capsys, tmp_path, content, problem):
    path = tmp_path / "input.json"
    path.write_bytes(content)
    code, out, err = run(capsys, str(path))
    assert (code, out) == (ExitCode.BAD_INPUT, "")
    assert err.startswith(f"critpath analyze: {path}: {problem}")
    assert err.count("\n") == 1 and "Traceback" not in err


def test_missing_file(capsys, tmp_path):
    code, _, err = run(capsys, str(tmp_path / "nope.json"))
    assert code == ExitCode.BAD_INPUT
    assert err == f"critpath analyze: {tmp_path / 'nope.json'}: no such file or directory\n"


def test_directory_without_trace_files(capsys, tmp_path):
    (tmp_path / "README.md").write_text("hi")
    code, _, err = run(capsys, str(tmp_path))
    assert code == ExitCode.BAD_INPUT
    assert err.startswith(f"critpath analyze: {tmp_path}: directory holds no trace files (")


def test_unreadable_file(capsys, tmp_path, monkeypatch):
    path = tmp_path / "locked.json"
    path.write_bytes(b"{}")

    def denied(self: Path) -> bytes:  # chmod 0 does not stop root, so deny the read itself
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "read_bytes", denied)
    code, _, err = run(capsys, str(path))
    assert code == ExitCode.BAD_INPUT
    assert err == f"critpath analyze: {path}: cannot read (Permission denied)\n"


def test_broken_gzip(capsys, tmp_path):
    path = tmp_path / "x.json.gz"
    path.write_bytes(b"\x1f\x8b\x08\x00garbage")
    code, _, err = run(capsys, str(path))
    assert code == ExitCode.BAD_INPUT
    assert err.startswith(f"critpath analyze: {path}: looks gzip-compressed but cannot be")


def test_no_traces_at_all_is_bad_input(capsys, tmp_path):
    path = tmp_path / "empty-request.json"
    path.write_bytes(b'{"resourceSpans": []}')
    code, out, err = run(capsys, str(path))
    assert (code, out, err) == (ExitCode.BAD_INPUT, "",
                                "critpath analyze: no traces found in the input\n")


def test_bad_config_key_names_the_file_and_key(capsys, tmp_path):
    config = tmp_path / "critpath.toml"
    config.write_text("[rules]\nmin_observation = 3\n")
    code, _, err = run(capsys, str(COMPOSE), "--config", str(config))
    assert code == ExitCode.BAD_INPUT
    assert err.startswith(f"critpath analyze: {config}: [rules]: unknown key 'min_observation'")


def test_missing_config_file(capsys, tmp_path):
    code, _, err = run(capsys, str(COMPOSE), "--config", str(tmp_path / "none.toml"))
    assert code == ExitCode.BAD_INPUT
    assert "none.toml: no such config file" in err


def test_read_traces_raises_input_error():
    with pytest.raises(InputError, match=r"^/definitely/missing: no such file or directory$"):
        read_traces(["/definitely/missing"])


def test_unknown_format_and_no_files_are_usage_errors(capsys):
    assert main(["analyze", str(COMPOSE), "--format", "xml"]) == ExitCode.BAD_INPUT
    assert "invalid choice: 'xml'" in capsys.readouterr().err
    assert main(["analyze"]) == ExitCode.BAD_INPUT
    assert "the following arguments are required: FILE" in capsys.readouterr().err


def test_help(capsys):
    assert main(["analyze", "--help"]) == ExitCode.OK
    out = capsys.readouterr().out
    assert out.startswith("usage: critpath analyze [-h] [--format {text,json,markdown}]")
    assert "examples:" in out and "critpath analyze traces/" in out
    assert "-v, --verbose" in out and "--width COLUMNS" in out
    assert "OTLP protobuf, OTLP/JSON" in out


# -- the real console script ---------------------------------------------------------------


def test_console_script_end_to_end(tmp_path):
    script = Path(sys.executable).parent / "critpath"
    assert script.exists(), "the package is installed with its console script"
    result = subprocess.run([str(script), "analyze", str(JAEGER), "--format", "json"],
                            capture_output=True, text=True, timeout=120)
    assert (result.returncode, result.stderr) == (0, "")
    assert json.loads(result.stdout)["traces"] == 12
    bad = tmp_path / "bad.json"
    bad.write_text("[1, 2")
    result = subprocess.run([str(script), "analyze", str(bad)], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 2
    assert result.stderr.startswith(f"critpath analyze: {bad}: ")


def test_version_names_the_protobuf_decoder_in_use(capsys):
    assert main(["--version"]) == ExitCode.OK
    assert capsys.readouterr().out.strip() == "critpath 0.1.0 (OTLP protobuf decoder: compiled)"


def test_the_sample_in_docs_report_md_is_what_analyze_prints(capsys):
    """docs/report.md shows the text report on the DeathStarBench traces: keep it true."""
    doc = (Path(__file__).resolve().parents[2] / "docs" / "report.md").read_text()
    sample = doc.split("DeathStarBench traces of `tests/data/jaeger/`:\n\n```\n", 1)[1]
    sample = sample.split("```", 1)[0]
    code, out, _ = run(capsys, str(JAEGER))
    assert code == ExitCode.OK
    stamp = out.splitlines()[0].rsplit(" (", 1)[1]
    assert out.replace(stamp, "2026-12-04T07:56:16Z)") == sample
