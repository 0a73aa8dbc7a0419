"""Hand-drawn timelines as test input: the drawing in a test *is* the trace.

A drawing has an optional ruler line (``time`` followed by digits; the first digit marks
time 0) and one line per span::

    time  0    5    10
    root  |==========|
      a    |==|
      b        |====|  svc=api kind=consumer
      c   |=|          parent=gone

* the first word is the span's name, used as its span id (readable failures);
* indentation (two spaces a level) makes a span the child of the nearest span above it
  one level up; ``parent=ID`` overrides it (``parent=self`` for a self-parent, ``parent=-``
  for a true root);
* the bar runs from its first ``|`` (start) to its last ``|`` (end), one column per
  nanosecond; a lone ``|`` is a zero-length span;
* after the bar: ``svc=NAME`` (default ``svc``), ``kind=server|client|producer|consumer|internal``
  (default ``internal``), ``follows`` (a FOLLOWS_FROM reference), ``end=N`` (override the end,
  e.g. to draw clock skew with ``end < start``).

Without a ruler, time 0 is the leftmost bar start.
"""

from __future__ import annotations

import re
import textwrap

from analyzer.model import Segment, Span, SpanKind

TRACE_ID = "0af7651916cd43dd8448eb211c80319c"

_BAR = re.compile(r"\|(?:=*\|)?")


def spans(drawing: str, trace_id: str = TRACE_ID) -> list[Span]:
    """The spans a drawing shows, in drawing order."""
    lines = [line for line in textwrap.dedent(drawing).splitlines() if line.strip()]
    origin = None
    rows = []
    for line in lines:
        if line.split()[0] == "time":
            origin = re.search(r"\d", line).start()
            continue
        indent = len(line) - len(line.lstrip(" "))
        name = line.split()[0]
        bar = _BAR.search(line, indent + len(name))
        if bar is None:
            raise ValueError(f"no |===| bar on the line of {name!r}")
        notes = line[bar.end():].split()
        rows.append((indent // 2, name, bar.start(), bar.end() - 1, notes))
    if origin is None:
        origin = min(row[2] for row in rows)

    out = []
    open_at_level: list[str] = []
    for level, name, first, last, notes in rows:
        del open_at_level[level:]
        parent = open_at_level[-1] if level and open_at_level else None
        open_at_level.append(name)
        options = dict(note.split("=", 1) if "=" in note else (note, "") for note in notes)
        if "parent" in options:
            parent = {"self": name, "-": None}.get(options["parent"], options["parent"])
        start = first - origin
        end = int(options["end"]) if "end" in options else last - origin
        out.append(
            Span(
                trace_id=trace_id,
                span_id=name,
                parent_id=parent,
                service=options.get("svc", "svc"),
                name=name,
                kind=SpanKind[options.get("kind", "internal").upper()],
                start_ns=start,
                end_ns=end,
                follows_from="follows" in options,
            )
        )
    return out


def segments(*rows: tuple[str, int, int]) -> list[Segment]:
    """Expected segments written as ``(span, start, end)`` rows."""
    return [Segment(span_id, start, end) for span_id, start, end in rows]
