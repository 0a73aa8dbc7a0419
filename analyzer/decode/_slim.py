"""A slim OTLP trace schema, built at import time from a descriptor written in Python.

The protobuf wire format lets a message definition that declares only some fields parse
bytes written with the full one: undeclared fields are skipped by the C parser without
building anything. This schema declares only what the analysis reads, with the field
numbers of ``opentelemetry/proto/trace/v1/trace.proto``, and takes three shortcuts that
keep the expensive part (attributes) cheap:

* span and resource attribute lists (``repeated KeyValue``) are declared as ``repeated
  bytes``: the parser only records where each ``KeyValue`` lies instead of building two
  messages per attribute. The decoder recognises a raw ``KeyValue`` it has seen before
  by a dictionary lookup (attribute values the analysis keeps repeat a lot: methods,
  peers, status codes) and parses only new ones, with ``SlimKeyValue``;
* ``Span.events`` and ``Span.links`` are read as singular ``bytes`` presence probes; the
  rare spans that have some are read again through ``DetailRequest``;
* ``Span.status`` is declared as ``bytes``: almost every status is empty or the two bytes
  of ``{code: N}``, which a comparison recognises without building a message;
* enums are declared as ``int32`` (the same varint on the wire) so unknown values stay
  numbers instead of failing.

No generated code and no ``protoc``: the descriptor is assembled with ``descriptor_pb2``
in a private pool, so it cannot clash with opentelemetry-proto's own registrations.
"""

from __future__ import annotations

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

_F = descriptor_pb2.FieldDescriptorProto
_PACKAGE = "critpath.slim.v1"

# (message name, ((field name, number, type, label, message type name or ""), ...)).
_OPT, _REP = _F.LABEL_OPTIONAL, _F.LABEL_REPEATED
_MESSAGES: tuple[tuple[str, tuple[tuple[str, int, int, int, str], ...]], ...] = (
    ("ExportTraceServiceRequest", (("resource_spans", 1, _F.TYPE_MESSAGE, _REP, "ResourceSpans"),)),
    ("ResourceSpans", (
        ("resource", 1, _F.TYPE_MESSAGE, _OPT, "Resource"),
        ("scope_spans", 2, _F.TYPE_MESSAGE, _REP, "ScopeSpans"),
    )),
    ("Resource", (("attributes", 1, _F.TYPE_BYTES, _REP, ""),)),
    ("ScopeSpans", (("spans", 2, _F.TYPE_MESSAGE, _REP, "Span"),)),
    ("Span", (
        ("trace_id", 1, _F.TYPE_BYTES, _OPT, ""),
        ("span_id", 2, _F.TYPE_BYTES, _OPT, ""),
        ("parent_span_id", 4, _F.TYPE_BYTES, _OPT, ""),
        ("name", 5, _F.TYPE_STRING, _OPT, ""),
        ("kind", 6, _F.TYPE_INT32, _OPT, ""),
        ("start_time_unix_nano", 7, _F.TYPE_FIXED64, _OPT, ""),
        ("end_time_unix_nano", 8, _F.TYPE_FIXED64, _OPT, ""),
        ("attributes", 9, _F.TYPE_BYTES, _REP, ""),
        # Presence probes: a repeated field read as singular ``bytes`` keeps only its
        # last element, but reading a bytes field is far cheaper than building a repeated
        # container. Spans with events or links (rare) are read from ``DetailRequest``.
        ("events", 11, _F.TYPE_BYTES, _OPT, ""),
        ("links", 13, _F.TYPE_BYTES, _OPT, ""),
        ("status", 15, _F.TYPE_BYTES, _OPT, ""),
    )),
    # The same request seen through only the events and links of each span.
    ("DetailRequest", (("resource_spans", 1, _F.TYPE_MESSAGE, _REP, "DetailResourceSpans"),)),
    ("DetailResourceSpans", (("scope_spans", 2, _F.TYPE_MESSAGE, _REP, "DetailScopeSpans"),)),
    ("DetailScopeSpans", (("spans", 2, _F.TYPE_MESSAGE, _REP, "DetailSpan"),)),
    ("DetailSpan", (
        ("events", 11, _F.TYPE_MESSAGE, _REP, "Event"),
        ("links", 13, _F.TYPE_MESSAGE, _REP, "Link"),
    )),
    ("Event", (
        ("time_unix_nano", 1, _F.TYPE_FIXED64, _OPT, ""),
        ("name", 2, _F.TYPE_STRING, _OPT, ""),
        ("attributes", 3, _F.TYPE_BYTES, _REP, ""),
    )),
    ("Link", (
        ("trace_id", 1, _F.TYPE_BYTES, _OPT, ""),
        ("span_id", 2, _F.TYPE_BYTES, _OPT, ""),
    )),
    ("Status", (("code", 3, _F.TYPE_INT32, _OPT, ""),)),
    # AnyValue keeps its oneof so WhichOneof tells the value's type; it is parsed only as
    # part of a KeyValue the decoder keeps.
    ("AnyValue", (
        ("string_value", 1, _F.TYPE_STRING, _OPT, ""),
        ("bool_value", 2, _F.TYPE_BOOL, _OPT, ""),
        ("int_value", 3, _F.TYPE_INT64, _OPT, ""),
        ("double_value", 4, _F.TYPE_DOUBLE, _OPT, ""),
        ("array_value", 5, _F.TYPE_MESSAGE, _OPT, "ArrayValue"),
        ("kvlist_value", 6, _F.TYPE_MESSAGE, _OPT, "KeyValueList"),
        ("bytes_value", 7, _F.TYPE_BYTES, _OPT, ""),
    )),
    ("ArrayValue", (("values", 1, _F.TYPE_MESSAGE, _REP, "AnyValue"),)),
    ("KeyValueList", (("values", 1, _F.TYPE_MESSAGE, _REP, "KeyValue"),)),
    ("KeyValue", (
        ("key", 1, _F.TYPE_STRING, _OPT, ""),
        ("value", 2, _F.TYPE_MESSAGE, _OPT, "AnyValue"),
    )),
)


def _build_pool() -> descriptor_pool.DescriptorPool:
    """Assemble the slim file descriptor in a private pool."""
    file = descriptor_pb2.FileDescriptorProto(
        name="critpath_slim_trace.proto", package=_PACKAGE, syntax="proto3")
    for name, fields in _MESSAGES:
        message = file.message_type.add(name=name)
        for field_name, number, type_, label, type_name in fields:
            field = message.field.add(name=field_name, number=number, type=type_, label=label)
            if type_name:
                field.type_name = f".{_PACKAGE}.{type_name}"
        if name == "AnyValue":
            message.oneof_decl.add(name="value")
            for field in message.field:
                field.oneof_index = 0
    pool = descriptor_pool.DescriptorPool()
    pool.Add(file)
    return pool


_POOL = _build_pool()

#: Parses an OTLP ``ExportTraceServiceRequest`` keeping only what the analysis reads.
SlimRequest = message_factory.GetMessageClass(
    _POOL.FindMessageTypeByName(f"{_PACKAGE}.ExportTraceServiceRequest"))
#: Parses the events and links of every span, for the spans whose probes are set.
DetailRequest = message_factory.GetMessageClass(
    _POOL.FindMessageTypeByName(f"{_PACKAGE}.DetailRequest"))
#: Parses one serialized ``KeyValue`` (an attribute not seen before in this request).
SlimKeyValue = message_factory.GetMessageClass(
    _POOL.FindMessageTypeByName(f"{_PACKAGE}.KeyValue"))
#: Parses a ``Status`` whose bytes are not one of the common two-byte forms.
SlimStatus = message_factory.GetMessageClass(_POOL.FindMessageTypeByName(f"{_PACKAGE}.Status"))
