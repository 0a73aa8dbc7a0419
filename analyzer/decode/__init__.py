"""Trace decoders: bytes in any supported format → :class:`~analyzer.model.Span` values.

``decode(data)`` detects the format from the content (never from a file name):

* JSON is recognised by its first non-blank character (``{`` or ``[``) when the bytes are
  UTF-8 text; its shape then picks the decoder: an object with ``resourceSpans`` is
  OTLP/JSON, several such objects on separate lines are OTLP/JSON lines, an object with
  ``data`` (or one trace with ``spans`` and ``processes``) is Jaeger JSON, and an array of
  spans with ``traceId`` is Zipkin v2 JSON;
* anything else is parsed as OTLP protobuf (``ExportTraceServiceRequest``), whose first
  byte is a field tag, never ``{`` or ``[``.

Spans with an invalid trace, span or parent id, or (Jaeger, Zipkin) no start time, are
skipped and counted in ``Decoded.invalid_spans``; ``Decoded.issues`` counts them by reason
with the spans kept with a default (an unknown Jaeger process, an OTLP kind or status
outside its enum), and ``Decoded.warnings()`` says each in one line. Input that cannot be
read at all raises :class:`DecodeError`, whose message starts with ``source`` and says
what is wrong (for a bad value: where, which span, which field).
"""

from __future__ import annotations

import json

from analyzer.decode._common import ANALYSIS_ATTRIBUTES, DecodeError, Decoded
from analyzer.decode.jaeger import decode_jaeger, is_jaeger
from analyzer.decode.otlp_json import decode_otlp_json, decode_otlp_json_lines, is_otlp_request
from analyzer.decode.otlp_protobuf import decode_otlp_protobuf
from analyzer.decode.zipkin import decode_zipkin, is_zipkin

__all__ = ["ANALYSIS_ATTRIBUTES", "FORMATS", "DecodeError", "Decoded", "decode"]

#: The format names ``Decoded.format`` takes.
FORMATS = ("otlp-protobuf", "otlp-json", "otlp-jsonl", "jaeger-json", "zipkin-json")

_BLANK = b" \t\r\n"
_UTF8_BOM = b"\xef\xbb\xbf"
_EXPECTED = ("expected OTLP/JSON (an object with \"resourceSpans\"), OTLP/JSON lines, Jaeger "
             "JSON (an object with \"data\": [traces]) or Zipkin v2 JSON (an array of spans)")


def decode(data: bytes, *, source: str = "<bytes>",
           keep_attributes: frozenset[str] | None = ANALYSIS_ATTRIBUTES) -> Decoded:
    """Decode trace data in any supported format, detected from its content.

    ``keep_attributes`` names the span attributes to keep (``None`` keeps all of them and
    every event); the default is what the analysis reads. ``source`` names the input in
    error messages (a file name, a peer address).
    """
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"decode() takes bytes, not {type(data).__name__}")
    data = bytes(data)
    if data.startswith(_UTF8_BOM):
        data = data[len(_UTF8_BOM):]
    text = _json_text(data, source)
    if text is None:
        if not data.strip(_BLANK):
            raise DecodeError(f"{source}: the input is empty; expected OTLP protobuf, OTLP/JSON, "
                              "Jaeger JSON or Zipkin v2 JSON trace data")
        return decode_otlp_protobuf(data, source, keep_attributes)
    return _decode_json(text, source, keep_attributes)


def _json_text(data: bytes, source: str) -> str | None:
    """The data as text when it is JSON by its first character, else None.

    A protobuf request starts with the tag byte ``0x0a``, which is also a newline, so
    leading blanks alone do not make JSON: the rest must be UTF-8 too, which binary
    protobuf (random ids, fixed64 times) practically never is.
    """
    stripped = data.lstrip(_BLANK)
    if not stripped or stripped[:1] not in (b"{", b"["):
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        if stripped is data:  # '{' and '[' are never the first byte of OTLP protobuf
            raise DecodeError(f"{source}: looks like JSON but is not UTF-8 text (byte "
                              f"{exc.start}); JSON trace files must be UTF-8") from None
        return None


def _decode_json(text: str, source: str, keep: frozenset[str] | None) -> Decoded:
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        if exc.msg == "Extra data" and text.lstrip().startswith("{"):
            return decode_otlp_json_lines(text, source, keep)
        raise DecodeError(f"{source}: invalid JSON at line {exc.lineno} column {exc.colno}: "
                          f"{exc.msg} (is the file truncated?)") from None
    except RecursionError:
        raise DecodeError(f"{source}: JSON nested too deeply to be trace data") from None
    if is_otlp_request(document):
        return decode_otlp_json(document, source, keep)
    if is_jaeger(document):
        return decode_jaeger(document, source, keep)
    if is_zipkin(document):
        return decode_zipkin(document, source, keep)
    if isinstance(document, dict):
        keys = ", ".join(sorted(map(repr, document))[:8]) or "none"
        got = f"an object with keys {keys}"
    elif isinstance(document, list):
        got = f"an array of {type(document[0]).__name__}" if document else "an empty array"
    else:
        got = f"a JSON {type(document).__name__}"
    raise DecodeError(f"{source}: JSON of an unknown shape: {_EXPECTED}; got {got}")
