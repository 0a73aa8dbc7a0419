/* OTLP protobuf ExportTraceServiceRequest -> analyzer.model.Span objects, in one pass.
 *
 * Why C: the slim-schema decoder in otlp_protobuf.py is bound by Python work per span
 * (reading fields, hex ids, building the Span), several times the cost of parsing the
 * bytes. This walks the wire format directly, reads only what the analysis needs, and
 * builds Span objects by filling their slots, the way the Python fast constructor does.
 *
 * It is an accelerator, never the authority: on anything unusual (malformed or truncated
 * bytes, wire types that differ from the schema, groups, invalid UTF-8, a repeated
 * singular message that protobuf would merge, a kept span whose kind or status code is
 * outside its enum, which the slim path counts) it returns None and the caller decodes the
 * same bytes with the slim schema, which gives the exact result or the clear error. So
 * well-formed input decodes exactly as the slim path decodes it (tests compare both).
 *
 * decode(data, keep, span_type, link_type, event_type, kinds, statuses, exception_keys,
 *        unknown_service, empty_attributes) -> (spans, invalid) | None
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>
#include <stdint.h>
#include <string.h>

/* -- wire reading ------------------------------------------------------------------- */

typedef struct {
    const uint8_t *p;
    const uint8_t *end;
} Reader;

enum { WT_VARINT = 0, WT_I64 = 1, WT_LEN = 2, WT_I32 = 5 };

/* 1 on success; 0 on a truncated or over-long varint. */
static inline int read_varint(Reader *r, uint64_t *out) {
    uint64_t value = 0;
    int shift = 0;
    while (r->p < r->end) {
        uint8_t byte = *r->p++;
        value |= (uint64_t)(byte & 0x7f) << shift;
        if (!(byte & 0x80)) {
            *out = value;
            return 1;
        }
        shift += 7;
        if (shift >= 70) return 0;
    }
    return 0;
}

/* One field: its number and wire type; for LEN fields the payload, for scalars the value. */
typedef struct {
    uint32_t number;
    int wire;
    uint64_t value;
    const uint8_t *data;
    Py_ssize_t len;
} Field;

/* 1: a field was read; 0: end of the message; -1: malformed or unsupported (groups). */
static inline int next_field(Reader *r, Field *f) {
    uint64_t tag, len;
    if (r->p >= r->end) return 0;
    if (!read_varint(r, &tag)) return -1;
    f->number = (uint32_t)(tag >> 3);
    f->wire = (int)(tag & 7);
    if (f->number == 0 || (tag >> 3) > 0x1fffffff) return -1;
    switch (f->wire) {
    case WT_VARINT:
        return read_varint(r, &f->value) ? 1 : -1;
    case WT_I64:
        if (r->end - r->p < 8) return -1;
        memcpy(&f->value, r->p, 8);  /* little-endian hosts only; checked at import */
        r->p += 8;
        return 1;
    case WT_I32: {
        uint32_t v;
        if (r->end - r->p < 4) return -1;
        memcpy(&v, r->p, 4);
        f->value = v;
        r->p += 4;
        return 1;
    }
    case WT_LEN:
        if (!read_varint(r, &len) || len > (uint64_t)(r->end - r->p)) return -1;
        f->data = r->p;
        f->len = (Py_ssize_t)len;
        r->p += len;
        return 1;
    default:
        return -1;  /* groups: the slim path knows how to skip them */
    }
}

static inline Reader reader_of(const uint8_t *data, Py_ssize_t len) {
    Reader r = {data, data + len};
    return r;
}

/* -- a per-call table: byte strings -> Python objects --------------------------------- */

/* A word-at-a-time multiplicative hash: keys and raw attributes are hashed for every
 * attribute of every span, so a byte-at-a-time hash would cost more than the parse. */
static inline uint64_t hash_bytes(const uint8_t *p, Py_ssize_t n) {
    const uint64_t k = 0x9E3779B97F4A7C15ULL;
    uint64_t h = (uint64_t)n * k, w;
    while (n >= 8) {
        memcpy(&w, p, 8);
        h = (h ^ w) * k;
        h ^= h >> 29;
        p += 8;
        n -= 8;
    }
    if (n > 0) {
        w = 0;
        memcpy(&w, p, (size_t)n);
        h = (h ^ w) * k;
        h ^= h >> 29;
    }
    h *= k;
    return h ^ (h >> 32);
}

typedef struct {
    const uint8_t *key;
    Py_ssize_t len;
    uint64_t hash;
    PyObject *value;  /* owned; NULL marks an empty slot */
} Slot;

typedef struct {
    Slot *slots;
    size_t mask;
    size_t used;
    int owns_keys;  /* keys were PyMem_Malloc'd for the table and are freed with it */
} Table;

static int table_init(Table *t, size_t capacity) {
    t->slots = PyMem_Calloc(capacity, sizeof(Slot));
    if (!t->slots) return -1;
    t->mask = capacity - 1;
    t->used = 0;
    t->owns_keys = 0;
    return 0;
}

static void table_free(Table *t) {
    if (!t->slots) return;
    for (size_t i = 0; i <= t->mask; i++) {
        if (t->slots[i].value && t->owns_keys) PyMem_Free((void *)t->slots[i].key);
        Py_XDECREF(t->slots[i].value);
    }
    PyMem_Free(t->slots);
    t->slots = NULL;
}

/* The value stored for these bytes (borrowed), or NULL. */
static inline PyObject *table_get(const Table *t, const uint8_t *key, Py_ssize_t len,
                                  uint64_t hash) {
    size_t i = (size_t)hash & t->mask;
    for (;;) {
        const Slot *s = &t->slots[i];
        if (!s->value) return NULL;
        if (s->hash == hash && s->len == len && memcmp(s->key, key, (size_t)len) == 0)
            return s->value;
        i = (i + 1) & t->mask;
    }
}

/* Stores a new reference to value; the key bytes must outlive the table. */
static int table_put(Table *t, const uint8_t *key, Py_ssize_t len, uint64_t hash,
                     PyObject *value) {
    if ((t->used + 1) * 2 > t->mask + 1) {
        Table bigger;
        if (table_init(&bigger, (t->mask + 1) * 2) < 0) return -1;
        for (size_t i = 0; i <= t->mask; i++) {
            Slot *s = &t->slots[i];
            if (!s->value) continue;
            size_t j = (size_t)s->hash & bigger.mask;
            while (bigger.slots[j].value) j = (j + 1) & bigger.mask;
            bigger.slots[j] = *s;
        }
        bigger.used = t->used;
        bigger.owns_keys = t->owns_keys;
        PyMem_Free(t->slots);
        *t = bigger;
    }
    size_t i = (size_t)hash & t->mask;
    while (t->slots[i].value) i = (i + 1) & t->mask;
    Slot *s = &t->slots[i];
    s->key = key;
    s->len = len;
    s->hash = hash;
    Py_INCREF(value);
    s->value = value;
    t->used++;
    return 0;
}

/* The kept attribute keys: UTF-8 bytes -> the key as a str. Empty means keep all. */
typedef struct {
    Table table;
    PyObject *owners;  /* the bytes objects the table's keys point into */
    int keep_all;
} KeySet;

static int keyset_init(KeySet *ks, PyObject *keys) {
    ks->owners = NULL;
    ks->keep_all = (keys == Py_None);
    if (table_init(&ks->table, 128) < 0) return -1;
    if (ks->keep_all) return 0;
    ks->owners = PyList_New(0);
    if (!ks->owners) return -1;
    PyObject *it = PyObject_GetIter(keys), *key;
    if (!it) return -1;
    while ((key = PyIter_Next(it))) {
        PyObject *encoded = PyUnicode_Check(key) ? PyUnicode_AsUTF8String(key) : NULL;
        if (!encoded || PyList_Append(ks->owners, encoded) < 0) {
            Py_XDECREF(encoded);
            Py_DECREF(key);
            Py_DECREF(it);
            if (!PyErr_Occurred()) PyErr_SetString(PyExc_TypeError, "keys must be str");
            return -1;
        }
        const uint8_t *p = (const uint8_t *)PyBytes_AS_STRING(encoded);
        Py_ssize_t n = PyBytes_GET_SIZE(encoded);
        uint64_t h = hash_bytes(p, n);
        int failed = !table_get(&ks->table, p, n, h) && table_put(&ks->table, p, n, h, key) < 0;
        Py_DECREF(encoded);  /* the list keeps it alive */
        Py_DECREF(key);
        if (failed) {
            Py_DECREF(it);
            return -1;
        }
    }
    Py_DECREF(it);
    return PyErr_Occurred() ? -1 : 0;
}

static void keyset_free(KeySet *ks) {
    table_free(&ks->table);
    Py_CLEAR(ks->owners);
}

/* -- the decoder's state for one call ------------------------------------------------ */

enum {
    F_TRACE_ID, F_SPAN_ID, F_PARENT_ID, F_SERVICE, F_NAME, F_KIND, F_START, F_END,
    F_STATUS, F_ATTRIBUTES, F_LINKS, F_EVENTS, F_FOLLOWS_FROM, F_COUNT
};
static const char *const SLOT_NAMES[F_COUNT] = {
    "trace_id", "span_id", "parent_id", "service", "name", "kind", "start_ns", "end_ns",
    "status", "attributes", "links", "events", "follows_from"};

typedef struct {
    PyTypeObject *span_type;
    Py_ssize_t offsets[F_COUNT];
    PyObject *link_type, *event_type;
    PyObject *kinds;      /* tuple of 6 SpanKind, index = wire value */
    PyObject *statuses;   /* tuple of 3 StatusCode */
    PyObject *empty;      /* the shared empty attribute mapping */
    KeySet keep;          /* span attributes */
    KeySet exception;     /* exception event attributes (when not keeping all) */
    Table attributes;     /* raw KeyValue bytes -> (key, value) or None (not kept) */
    Table names;          /* raw span name bytes -> str */
    Table mappings;       /* kept pair pointers -> shared attribute mapping */
    const uint8_t *last_trace;
    PyObject *last_trace_hex;
    PyObject *exception_name;
} Decoder;

/* Returned (borrowed) by a helper that found input the slim path must judge; never a
 * decoded value, which is a str, bool, int, float, tuple or None. */
#define UNUSUAL Py_NotImplemented

static const char HEX[] = "0123456789abcdef";

static PyObject *hex_of(const uint8_t *p, Py_ssize_t n) {
    PyObject *s = PyUnicode_New(n * 2, 127);
    if (!s) return NULL;
    Py_UCS1 *out = PyUnicode_1BYTE_DATA(s);
    for (Py_ssize_t i = 0; i < n; i++) {
        out[2 * i] = HEX[p[i] >> 4];
        out[2 * i + 1] = HEX[p[i] & 15];
    }
    return s;
}

static int all_zero(const uint8_t *p, Py_ssize_t n) {
    for (Py_ssize_t i = 0; i < n; i++)
        if (p[i]) return 0;
    return 1;
}

static const char B64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* Bytes values read as base64 text, as OTLP/JSON writes them. */
static PyObject *base64_of(const uint8_t *p, Py_ssize_t n) {
    Py_ssize_t size = (n + 2) / 3 * 4;
    PyObject *s = PyUnicode_New(size, 127);
    if (!s) return NULL;
    Py_UCS1 *out = PyUnicode_1BYTE_DATA(s);
    Py_ssize_t i = 0, o = 0;
    for (; i + 2 < n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
        out[o++] = B64[v >> 18];
        out[o++] = B64[(v >> 12) & 63];
        out[o++] = B64[(v >> 6) & 63];
        out[o++] = B64[v & 63];
    }
    if (i < n) {
        uint32_t v = (uint32_t)p[i] << 16 | (i + 1 < n ? (uint32_t)p[i + 1] << 8 : 0);
        out[o++] = B64[v >> 18];
        out[o++] = B64[(v >> 12) & 63];
        out[o++] = i + 1 < n ? B64[(v >> 6) & 63] : '=';
        out[o++] = '=';
    }
    return s;
}

/* A str from UTF-8 bytes; UNUSUAL (borrowed None) when they are not valid UTF-8. */
static PyObject *text_of(const uint8_t *p, Py_ssize_t n) {
    PyObject *s = PyUnicode_DecodeUTF8((const char *)p, n, NULL);
    if (!s && PyErr_ExceptionMatches(PyExc_UnicodeDecodeError)) {
        PyErr_Clear();
        return UNUSUAL;
    }
    return s;
}

static PyObject *any_value(Decoder *d, const uint8_t *p, Py_ssize_t n, int depth);

/* A KeyValue's (key, value) with value possibly None (kvlist entries keep those).
 * Returns a new tuple, NULL on error, or UNUSUAL. */
static PyObject *key_value_pair(Decoder *d, const uint8_t *p, Py_ssize_t n, int depth) {
    Reader r = reader_of(p, n);
    Field f;
    int rc, values = 0;
    const uint8_t *key = (const uint8_t *)"", *value = NULL;
    Py_ssize_t key_len = 0, value_len = 0;
    while ((rc = next_field(&r, &f)) > 0) {
        if (f.number == 1 || f.number == 2) {
            if (f.wire != WT_LEN) return UNUSUAL;
            if (f.number == 1) {
                key = f.data;
                key_len = f.len;
            } else {
                value = f.data;
                value_len = f.len;
                values++;
            }
        }
    }
    if (rc < 0 || values > 1) return UNUSUAL;  /* two values would merge */
    PyObject *k = text_of(key, key_len);
    if (!k || k == UNUSUAL) return k;
    PyObject *v = value ? any_value(d, value, value_len, depth + 1) : (Py_INCREF(Py_None), Py_None);
    if (!v || v == UNUSUAL) {
        Py_DECREF(k);
        return v;
    }
    PyObject *pair = PyTuple_Pack(2, k, v);
    Py_DECREF(k);
    Py_DECREF(v);
    return pair;
}

/* An AnyValue as a Python value: a new reference, Py_None (new) when it holds nothing,
 * NULL on error; sets *unusual (returning NULL) when the slim path must judge. */
static PyObject *any_value_impl(Decoder *d, const uint8_t *p, Py_ssize_t n, int depth,
                                int *unusual);

/* any_value_impl, with UNUSUAL (borrowed) for "the slim path must judge". */
static PyObject *any_value(Decoder *d, const uint8_t *p, Py_ssize_t n, int depth) {
    int unusual = 0;
    PyObject *v = any_value_impl(d, p, n, depth, &unusual);
    if (unusual) {
        Py_XDECREF(v);
        return UNUSUAL;
    }
    return v;
}

static PyObject *any_value_impl(Decoder *d, const uint8_t *p, Py_ssize_t n, int depth,
                                int *unusual) {
    if (depth > 64) {  /* the slim path reports nesting this deep */
        *unusual = 1;
        return NULL;
    }
    Reader r = reader_of(p, n);
    Field f, chosen = {0};
    int rc, have = 0, messages = 0;
    while ((rc = next_field(&r, &f)) > 0) {
        if (f.number < 1 || f.number > 7) continue;
        int want = (f.number == 2 || f.number == 3) ? WT_VARINT
                   : f.number == 4 ? WT_I64 : WT_LEN;
        if (f.wire != want) {
            *unusual = 1;
            return NULL;
        }
        if (f.number == 5 || f.number == 6) {
            /* the same message member twice would merge */
            if (have && chosen.number == f.number) messages++;
        }
        chosen = f;
        have = 1;
    }
    if (rc < 0 || messages) {
        *unusual = 1;
        return NULL;
    }
    if (!have) Py_RETURN_NONE;
    switch (chosen.number) {
    case 1: {
        PyObject *s = text_of(chosen.data, chosen.len);
        if (s == UNUSUAL) {
            *unusual = 1;
            return NULL;
        }
        return s;
    }
    case 2:
        return PyBool_FromLong(chosen.value != 0);
    case 3:
        return PyLong_FromLongLong((long long)chosen.value);
    case 4: {
        double x;
        memcpy(&x, &chosen.value, 8);
        return PyFloat_FromDouble(x);
    }
    case 7:
        return base64_of(chosen.data, chosen.len);
    default:
        break;
    }
    /* array_value (values: repeated AnyValue, field 1) drops empty values;
     * kvlist_value (values: repeated KeyValue, field 1) keeps (key, None) pairs. */
    PyObject *items = PyList_New(0);
    if (!items) return NULL;
    Reader inner = reader_of(chosen.data, chosen.len);
    while ((rc = next_field(&inner, &f)) > 0) {
        if (f.number != 1) continue;
        if (f.wire != WT_LEN) {
            rc = -1;
            break;
        }
        PyObject *item;
        if (chosen.number == 5) {
            item = any_value_impl(d, f.data, f.len, depth + 1, unusual);
            if (*unusual || !item) break;
            if (item == Py_None) {
                Py_DECREF(item);
                continue;
            }
        } else {
            item = key_value_pair(d, f.data, f.len, depth + 1);
            if (item == UNUSUAL) {
                *unusual = 1;
                break;
            }
            if (!item) break;
        }
        int failed = PyList_Append(items, item) < 0;
        Py_DECREF(item);
        if (failed) {
            Py_DECREF(items);
            return NULL;
        }
    }
    if (rc < 0) *unusual = 1;
    if (*unusual || PyErr_Occurred()) {
        Py_DECREF(items);
        return NULL;
    }
    PyObject *tuple = PyList_AsTuple(items);
    Py_DECREF(items);
    return tuple;
}

/* The key bytes of a raw KeyValue, when its layout is the usual key-first one. */
static inline int leading_key(const uint8_t *p, Py_ssize_t n, const uint8_t **key,
                              Py_ssize_t *key_len) {
    if (n >= 2 && p[0] == 0x0a && p[1] < 0x80 && 2 + p[1] <= n) {
        *key = p + 2;
        *key_len = p[1];
        return 1;
    }
    return 0;
}

/* One attribute: a borrowed (key, value) tuple, Py_None when not kept, NULL on error,
 * or sets *unusual. Results are remembered per raw KeyValue for this call. */
static PyObject *attribute(Decoder *d, KeySet *keep, Table *memo, const uint8_t *p,
                           Py_ssize_t n, int *unusual) {
    const uint8_t *key;
    Py_ssize_t key_len;
    if (!keep->keep_all && leading_key(p, n, &key, &key_len) &&
        !table_get(&keep->table, key, key_len, hash_bytes(key, key_len)))
        return Py_None;  /* most attributes: not kept, decided from the key alone */
    uint64_t h = hash_bytes(p, n);
    PyObject *known = memo ? table_get(memo, p, n, h) : NULL;
    if (known) return known;
    PyObject *pair = key_value_pair(d, p, n, 0);
    if (pair == UNUSUAL) {
        *unusual = 1;
        return NULL;
    }
    if (!pair) return NULL;
    PyObject *result = pair;
    PyObject *k = PyTuple_GET_ITEM(pair, 0);
    if (PyTuple_GET_ITEM(pair, 1) == Py_None) {
        result = Py_None;
    } else if (!keep->keep_all) {
        PyObject *encoded = PyUnicode_AsUTF8String(k);
        if (!encoded) {
            Py_DECREF(pair);
            return NULL;
        }
        const uint8_t *kp = (const uint8_t *)PyBytes_AS_STRING(encoded);
        Py_ssize_t kn = PyBytes_GET_SIZE(encoded);
        PyObject *kept = table_get(&keep->table, kp, kn, hash_bytes(kp, kn));
        Py_DECREF(encoded);
        if (!kept) result = Py_None;
    }
    if (memo) {
        if (table_put(memo, p, n, h, result) < 0) {
            Py_DECREF(pair);
            return NULL;
        }
        Py_DECREF(pair);  /* the memo holds result (pair or None) */
        return result;
    }
    /* no memo: hand back a borrowed-looking reference kept alive by the caller */
    if (result == Py_None) {
        Py_DECREF(pair);
        return Py_None;
    }
    return pair;  /* new reference: callers without a memo must release it */
}

/* Links with valid ids, as a tuple of Link (empty tuple when none). */
static PyObject *links_of(Decoder *d, PyObject *raw_links, int *unusual) {
    PyObject *out = PyList_New(0);
    if (!out) return NULL;
    Py_ssize_t count = PyList_GET_SIZE(raw_links);
    for (Py_ssize_t i = 0; i < count; i++) {
        PyObject *raw = PyList_GET_ITEM(raw_links, i);
        const uint8_t *p = (const uint8_t *)PyBytes_AS_STRING(raw);
        Reader r = reader_of(p, PyBytes_GET_SIZE(raw));
        Field f;
        int rc;
        const uint8_t *trace = NULL, *span = NULL;
        Py_ssize_t trace_len = 0, span_len = 0;
        while ((rc = next_field(&r, &f)) > 0) {
            if (f.number != 1 && f.number != 2) continue;
            if (f.wire != WT_LEN) {
                rc = -1;
                break;
            }
            if (f.number == 1) {
                trace = f.data;
                trace_len = f.len;
            } else {
                span = f.data;
                span_len = f.len;
            }
        }
        if (rc < 0) {
            *unusual = 1;
            Py_DECREF(out);
            return NULL;
        }
        if (trace_len != 16 || span_len != 8 || all_zero(trace, 16) || all_zero(span, 8))
            continue;
        PyObject *t = hex_of(trace, 16), *s = hex_of(span, 8), *link = NULL;
        if (t && s) link = PyObject_CallFunctionObjArgs(d->link_type, t, s, NULL);
        Py_XDECREF(t);
        Py_XDECREF(s);
        if (!link || PyList_Append(out, link) < 0) {
            Py_XDECREF(link);
            Py_DECREF(out);
            return NULL;
        }
        Py_DECREF(link);
    }
    PyObject *tuple = PyList_AsTuple(out);
    Py_DECREF(out);
    return tuple;
}

static PyObject *freeze(Decoder *d, PyObject *dict) {
    if (PyDict_GET_SIZE(dict) == 0) {
        Py_INCREF(d->empty);
        return d->empty;
    }
    return PyDictProxy_New(dict);
}

/* Exception events with their exception attributes; every event when keeping all. */
static PyObject *events_of(Decoder *d, PyObject *raw_events, int *unusual) {
    PyObject *out = PyList_New(0);
    if (!out) return NULL;
    Py_ssize_t count = PyList_GET_SIZE(raw_events);
    KeySet *keep = d->keep.keep_all ? &d->keep : &d->exception;
    for (Py_ssize_t i = 0; i < count; i++) {
        PyObject *raw = PyList_GET_ITEM(raw_events, i);
        Reader r = reader_of((const uint8_t *)PyBytes_AS_STRING(raw), PyBytes_GET_SIZE(raw));
        Field f;
        int rc;
        uint64_t time = 0;
        const uint8_t *name = (const uint8_t *)"";
        Py_ssize_t name_len = 0;
        while ((rc = next_field(&r, &f)) > 0) {
            if (f.number == 1) {
                if (f.wire != WT_I64) { rc = -1; break; }
                time = f.value;
            } else if (f.number == 2 || f.number == 3) {
                if (f.wire != WT_LEN) { rc = -1; break; }
                if (f.number == 2) {
                    name = f.data;
                    name_len = f.len;
                }
            }
        }
        if (rc < 0) goto unusual;
        PyObject *name_text = text_of(name, name_len);
        if (name_text == UNUSUAL) goto unusual;
        if (!name_text) goto error;
        if (!d->keep.keep_all) {
            int is_exception = PyUnicode_Compare(name_text, d->exception_name) == 0;
            if (!is_exception) {
                Py_DECREF(name_text);
                continue;
            }
        }
        PyObject *kept = PyDict_New();
        if (!kept) {
            Py_DECREF(name_text);
            goto error;
        }
        r = reader_of((const uint8_t *)PyBytes_AS_STRING(raw), PyBytes_GET_SIZE(raw));
        while (next_field(&r, &f) > 0) {
            if (f.number != 3) continue;
            PyObject *pair = attribute(d, keep, NULL, f.data, f.len, unusual);
            if (!pair) {
                Py_DECREF(kept);
                Py_DECREF(name_text);
                if (*unusual) goto unusual;
                goto error;
            }
            if (pair == Py_None) continue;
            int failed = PyDict_SetItem(kept, PyTuple_GET_ITEM(pair, 0),
                                        PyTuple_GET_ITEM(pair, 1)) < 0;
            Py_DECREF(pair);
            if (failed) {
                Py_DECREF(kept);
                Py_DECREF(name_text);
                goto error;
            }
        }
        PyObject *frozen = freeze(d, kept);
        Py_DECREF(kept);
        PyObject *t = frozen ? PyLong_FromUnsignedLongLong(time) : NULL;
        PyObject *event = t ? PyObject_CallFunctionObjArgs(d->event_type, name_text, t, frozen,
                                                           NULL) : NULL;
        Py_XDECREF(t);
        Py_XDECREF(frozen);
        Py_DECREF(name_text);
        if (!event || PyList_Append(out, event) < 0) {
            Py_XDECREF(event);
            goto error;
        }
        Py_DECREF(event);
    }
    PyObject *tuple = PyList_AsTuple(out);
    Py_DECREF(out);
    return tuple;
unusual:
    *unusual = 1;
error:
    Py_DECREF(out);
    return NULL;
}

/* The resource's service.name (last non-empty string wins), new reference. */
static PyObject *service_of(Decoder *d, const uint8_t *p, Py_ssize_t n, PyObject *fallback,
                            int *unusual) {
    PyObject *service = fallback;
    Py_INCREF(service);
    Reader r = reader_of(p, n);
    Field f;
    int rc;
    while ((rc = next_field(&r, &f)) > 0) {
        if (f.number != 1) continue;  /* Resource.attributes */
        if (f.wire != WT_LEN) { rc = -1; break; }
        const uint8_t *key;
        Py_ssize_t key_len;
        if (!leading_key(f.data, f.len, &key, &key_len) || key_len != 12 ||
            memcmp(key, "service.name", 12) != 0)
            continue;
        PyObject *pair = key_value_pair(d, f.data, f.len, 0);
        if (pair == UNUSUAL) { rc = -1; break; }
        if (!pair) {
            Py_DECREF(service);
            return NULL;
        }
        PyObject *value = PyTuple_GET_ITEM(pair, 1);
        if (PyUnicode_Check(value) && PyUnicode_GET_LENGTH(value) > 0) {
            Py_INCREF(value);
            Py_SETREF(service, value);
        }
        Py_DECREF(pair);
    }
    if (rc < 0) {
        *unusual = 1;
        Py_DECREF(service);
        return NULL;
    }
    return service;
}

#define MAX_SHARED 32

/* The read-only mapping of these (key, value) pairs, shared by every span of this call
 * whose kept pairs are the same objects in the same order; new reference. */
static PyObject *shared_attributes(Decoder *d, PyObject **pairs, Py_ssize_t count) {
    const uint8_t *key = (const uint8_t *)pairs;
    Py_ssize_t key_len = (Py_ssize_t)(sizeof(PyObject *) * (size_t)count);
    uint64_t h = hash_bytes(key, key_len);
    PyObject *known = table_get(&d->mappings, key, key_len, h);
    if (known) {
        Py_INCREF(known);
        return known;
    }
    PyObject *dict = PyDict_New();
    if (!dict) return NULL;
    for (Py_ssize_t i = 0; i < count; i++) {
        if (PyDict_SetItem(dict, PyTuple_GET_ITEM(pairs[i], 0), PyTuple_GET_ITEM(pairs[i], 1)) < 0) {
            Py_DECREF(dict);
            return NULL;
        }
    }
    PyObject *mapping = freeze(d, dict);
    if (mapping) {
        /* immutable atoms only, behind a read-only proxy: no cycle possible (see span_of).
         * The proxy stays tracked: its dealloc assumes it is. */
        PyObject_GC_UnTrack(dict);
    }
    Py_DECREF(dict);
    if (!mapping) return NULL;
    uint8_t *copy = PyMem_Malloc((size_t)key_len);  /* freed with the table */
    if (!copy) {
        Py_DECREF(mapping);
        PyErr_NoMemory();
        return NULL;
    }
    memcpy(copy, key, (size_t)key_len);
    if (table_put(&d->mappings, copy, key_len, h, mapping) < 0) {
        PyMem_Free(copy);
        Py_DECREF(mapping);
        return NULL;
    }
    return mapping;
}

static inline void set_slot(PyObject *obj, Py_ssize_t offset, PyObject *value) {
    *(PyObject **)((char *)obj + offset) = value;  /* steals the reference */
}

/* Decode one Span message and append it; 0 ok (or skipped as invalid), -1 error. */
static int span_of(Decoder *d, const uint8_t *p, Py_ssize_t n, PyObject *service,
                   PyObject *spans, Py_ssize_t *invalid, int *unusual) {
    Reader r = reader_of(p, n);
    Field f;
    int rc;
    const uint8_t *trace = NULL, *span = NULL, *parent = NULL, *name = (const uint8_t *)"";
    const uint8_t *status = NULL;
    Py_ssize_t trace_len = 0, span_len = 0, parent_len = 0, name_len = 0, status_len = 0;
    uint64_t kind = 0, start = 0, end = 0;
    int attribute_count = 0, has_events = 0, has_links = 0;
    while ((rc = next_field(&r, &f)) > 0) {
        switch (f.number) {
        case 1: case 2: case 4: case 5: case 9: case 11: case 13: case 15:
            if (f.wire != WT_LEN) goto unusual;
            break;
        case 6:
            if (f.wire != WT_VARINT) goto unusual;
            break;
        case 7: case 8:
            if (f.wire != WT_I64) goto unusual;
            break;
        default:
            continue;
        }
        switch (f.number) {
        case 1: trace = f.data; trace_len = f.len; break;
        case 2: span = f.data; span_len = f.len; break;
        case 4: parent = f.data; parent_len = f.len; break;
        case 5: name = f.data; name_len = f.len; break;
        case 6: kind = f.value; break;
        case 7: start = f.value; break;
        case 8: end = f.value; break;
        case 9: attribute_count++; break;
        case 11: has_events = 1; break;
        case 13: has_links = 1; break;
        case 15: status = f.data; status_len = f.len; break;  /* last wins, as in the slim path */
        }
    }
    if (rc < 0) goto unusual;
    /* The slim schema reads name as a proto3 string: invalid UTF-8 fails the request. */
    uint64_t name_hash = hash_bytes(name, name_len);
    PyObject *name_text = table_get(&d->names, name, name_len, name_hash);
    if (!name_text) {
        name_text = text_of(name, name_len);
        if (name_text == UNUSUAL) goto unusual;
        if (!name_text) return -1;
        int failed = table_put(&d->names, name, name_len, name_hash, name_text) < 0;
        Py_DECREF(name_text);
        if (failed) return -1;
    }
    int32_t kind_number = (int32_t)kind;
    int odd_status = 0;
    PyObject *status_code = PyTuple_GET_ITEM(d->statuses, 0);
    if (status) {
        Reader sr = reader_of(status, status_len);
        while ((rc = next_field(&sr, &f)) > 0) {
            if (f.number != 3) continue;
            if (f.wire != WT_VARINT) goto unusual;
            int32_t code = (int32_t)f.value;
            odd_status = !(0 <= code && code < 3);  /* the last code wins */
            status_code = PyTuple_GET_ITEM(d->statuses, odd_status ? 0 : code);
        }
        if (rc < 0) goto unusual;
    }
    if (trace_len != 16 || span_len != 8 || all_zero(trace, 16) || all_zero(span, 8) ||
        (parent_len != 0 && parent_len != 8)) {
        /* attributes, events and links of a skipped span are never read, as in the slim
         * path, which validates ids first */
        (*invalid)++;
        return 0;
    }
    /* Kind and status numbers outside their enums are counted by the slim path. */
    if (odd_status || !(0 <= kind_number && kind_number < 6)) goto unusual;
    int has_parent = parent_len == 8 && !all_zero(parent, 8);

    PyObject *attributes = NULL, *links = NULL, *events = NULL, *raw_events = NULL,
             *raw_links = NULL;
    if (attribute_count || has_events || has_links) {
        /* The kept (key, value) pairs are memo entries, one object per distinct raw
         * attribute, so spans with the same kept attributes have the same pair sequence
         * and share one read-only mapping (less to build, less memory held per span). */
        PyObject *local[MAX_SHARED], **pairs = local;
        Py_ssize_t kept_count = 0;
        if (attribute_count > MAX_SHARED &&
            !(pairs = PyMem_Malloc(sizeof(PyObject *) * (size_t)attribute_count))) {
            PyErr_NoMemory();
            return -1;
        }
        if (has_events) raw_events = PyList_New(0);
        if (has_links) raw_links = PyList_New(0);
        if ((has_events && !raw_events) || (has_links && !raw_links)) goto fail_pairs;
        r = reader_of(p, n);
        while (next_field(&r, &f) > 0) {
            if (f.number == 9) {
                PyObject *pair = attribute(d, &d->keep, &d->attributes, f.data, f.len, unusual);
                if (!pair) goto fail_pairs;
                if (pair != Py_None) pairs[kept_count++] = pair;  /* borrowed from the memo */
            } else if (f.number == 11 || f.number == 13) {
                PyObject *raw = PyBytes_FromStringAndSize((const char *)f.data, f.len);
                int failed = !raw || PyList_Append(f.number == 11 ? raw_events : raw_links, raw) < 0;
                Py_XDECREF(raw);
                if (failed) goto fail_pairs;
            }
        }
        if (kept_count) {
            attributes = shared_attributes(d, pairs, kept_count);
            if (!attributes) goto fail_pairs;
        }
        if (pairs != local) PyMem_Free(pairs);
        if (raw_links && !(links = links_of(d, raw_links, unusual))) goto fail;
        if (raw_events && !(events = events_of(d, raw_events, unusual))) goto fail;
        Py_CLEAR(raw_links);
        Py_CLEAR(raw_events);
        goto built;
    fail_pairs:
        if (pairs != local) PyMem_Free(pairs);
        goto fail;
    }
built:
    if (!attributes) {
        Py_INCREF(d->empty);
        attributes = d->empty;
    }
    if (!links) links = PyTuple_New(0);
    if (!events) events = PyTuple_New(0);
    PyObject *trace_hex;
    if (d->last_trace && memcmp(d->last_trace, trace, 16) == 0) {
        trace_hex = d->last_trace_hex;
        Py_INCREF(trace_hex);
    } else {
        trace_hex = hex_of(trace, 16);
        if (trace_hex) {
            Py_XSETREF(d->last_trace_hex, trace_hex);
            Py_INCREF(trace_hex);
            d->last_trace = trace;
        }
    }
    PyObject *span_hex = hex_of(span, 8);
    PyObject *parent_hex = has_parent ? hex_of(parent, 8) : (Py_INCREF(Py_None), Py_None);
    PyObject *start_ns = PyLong_FromUnsignedLongLong(start);
    PyObject *end_ns = PyLong_FromUnsignedLongLong(end);
    PyObject *obj = d->span_type->tp_alloc(d->span_type, 0);
    if (!links || !events || !trace_hex || !span_hex || !parent_hex || !start_ns || !end_ns ||
        !obj) {
        Py_XDECREF(links);
        Py_XDECREF(events);
        Py_XDECREF(trace_hex);
        Py_XDECREF(span_hex);
        Py_XDECREF(parent_hex);
        Py_XDECREF(start_ns);
        Py_XDECREF(end_ns);
        Py_XDECREF(obj);
        Py_DECREF(attributes);
        return -1;
    }
    PyObject *kind_value = PyTuple_GET_ITEM(d->kinds, kind_number);
    Py_INCREF(service);
    Py_INCREF(name_text);
    Py_INCREF(kind_value);
    Py_INCREF(status_code);
    Py_INCREF(Py_False);
    const Py_ssize_t *o = d->offsets;
    set_slot(obj, o[F_TRACE_ID], trace_hex);
    set_slot(obj, o[F_SPAN_ID], span_hex);
    set_slot(obj, o[F_PARENT_ID], parent_hex);
    set_slot(obj, o[F_SERVICE], service);
    set_slot(obj, o[F_NAME], name_text);
    set_slot(obj, o[F_KIND], kind_value);
    set_slot(obj, o[F_START], start_ns);
    set_slot(obj, o[F_END], end_ns);
    set_slot(obj, o[F_STATUS], status_code);
    set_slot(obj, o[F_ATTRIBUTES], attributes);
    set_slot(obj, o[F_LINKS], links);
    set_slot(obj, o[F_EVENTS], events);
    set_slot(obj, o[F_FOLLOWS_FROM], Py_False);
    /* A Span is frozen and holds only strs, ints, enums, tuples of such and a read-only
     * mapping of such: it can never be part of a reference cycle, so the cyclic GC need
     * not scan it (CPython untracks atomic tuples and dicts for the same reason). Live
     * spans held by the collector would otherwise be re-scanned by every full collection. */
    PyObject_GC_UnTrack(obj);
    int failed = PyList_Append(spans, obj) < 0;
    Py_DECREF(obj);
    return failed ? -1 : 0;
fail:
    Py_XDECREF(attributes);
    Py_XDECREF(links);
    Py_XDECREF(events);
    Py_XDECREF(raw_events);
    Py_XDECREF(raw_links);
    return -1;
unusual:
    *unusual = 1;
    return -1;
}

/* Walk the request; 0 ok, -1 error or unusual. */
static int walk(Decoder *d, const uint8_t *data, Py_ssize_t n, PyObject *unknown_service,
                PyObject *spans, Py_ssize_t *invalid, int *unusual) {
    Reader request = reader_of(data, n);
    Field rs, f, ss;
    int rc, resource_spans = 0;
    while ((rc = next_field(&request, &rs)) > 0) {
        if (rs.number != 1) continue;
        if (rs.wire != WT_LEN) goto unusual;
        resource_spans++;
        /* The resource may follow its spans on the wire: find the service first. */
        PyObject *service = unknown_service;
        Py_INCREF(service);
        Reader r = reader_of(rs.data, rs.len);
        while ((rc = next_field(&r, &f)) > 0) {
            if (f.number != 1 && f.number != 2) continue;
            if (f.wire != WT_LEN) {
                rc = -1;
                break;
            }
            if (f.number == 1) {
                PyObject *found = service_of(d, f.data, f.len, service, unusual);
                Py_DECREF(service);
                service = found;
                if (!service) return -1;
            }
        }
        if (rc < 0) {
            Py_DECREF(service);
            goto unusual;
        }
        r = reader_of(rs.data, rs.len);
        while (next_field(&r, &f) > 0) {
            if (f.number != 2) continue;  /* ScopeSpans */
            Reader scope = reader_of(f.data, f.len);
            while ((rc = next_field(&scope, &ss)) > 0) {
                if (ss.number != 2) continue;  /* Span */
                if (ss.wire != WT_LEN ||
                    span_of(d, ss.data, ss.len, service, spans, invalid, unusual) < 0) {
                    rc = -1;
                    break;
                }
            }
            if (rc < 0) {
                Py_DECREF(service);
                if (!PyErr_Occurred()) *unusual = 1;
                return -1;
            }
        }
        Py_DECREF(service);
    }
    if (rc < 0 || resource_spans == 0) goto unusual;
    return 0;
unusual:
    *unusual = 1;
    return -1;
}

static int span_offsets(PyTypeObject *type, Py_ssize_t *offsets) {
    for (int i = 0; i < F_COUNT; i++) {
        PyObject *descr = PyObject_GetAttrString((PyObject *)type, SLOT_NAMES[i]);
        if (!descr) return -1;
        int ok = Py_IS_TYPE(descr, &PyMemberDescr_Type) &&
                 ((PyMemberDescrObject *)descr)->d_member->type == T_OBJECT_EX;
        if (ok) offsets[i] = ((PyMemberDescrObject *)descr)->d_member->offset;
        Py_DECREF(descr);
        if (!ok) {
            PyErr_Format(PyExc_TypeError, "%s.%s is not a slot", type->tp_name, SLOT_NAMES[i]);
            return -1;
        }
    }
    return 0;
}

static PyObject *decode(PyObject *module, PyObject *args) {
    Py_buffer data;
    PyObject *keep, *span_type, *link_type, *event_type, *kinds, *statuses, *exception_keys,
        *unknown_service, *empty;
    if (!PyArg_ParseTuple(args, "y*OO!OOO!O!OUO:decode", &data, &keep, &PyType_Type,
                          &span_type, &link_type, &event_type, &PyTuple_Type, &kinds,
                          &PyTuple_Type, &statuses, &exception_keys, &unknown_service, &empty))
        return NULL;
    PyObject *result = NULL, *spans = NULL;
    Decoder d;
    memset(&d, 0, sizeof d);
    if (PyTuple_GET_SIZE(kinds) != 6 || PyTuple_GET_SIZE(statuses) != 3) {
        PyErr_SetString(PyExc_ValueError, "kinds needs 6 entries and statuses 3");
        goto done;
    }
    d.span_type = (PyTypeObject *)span_type;
    d.link_type = link_type;
    d.event_type = event_type;
    d.kinds = kinds;
    d.statuses = statuses;
    d.empty = empty;
    if (span_offsets(d.span_type, d.offsets) < 0) goto done;
    if (!(d.exception_name = PyUnicode_FromString("exception"))) goto done;
    if (keyset_init(&d.keep, keep) < 0 || keyset_init(&d.exception, exception_keys) < 0 ||
        table_init(&d.attributes, 256) < 0 || table_init(&d.names, 64) < 0 ||
        table_init(&d.mappings, 256) < 0)
        goto done;
    d.mappings.owns_keys = 1;
    if (!(spans = PyList_New(0))) goto done;
    Py_ssize_t invalid = 0;
    int unusual = 0;
    if (walk(&d, (const uint8_t *)data.buf, data.len, unknown_service, spans, &invalid,
             &unusual) < 0) {
        if (unusual && !PyErr_Occurred()) {
            Py_INCREF(Py_None);
            result = Py_None;  /* let the slim path decide */
        }
        goto done;
    }
    result = Py_BuildValue("(On)", spans, invalid);
done:
    Py_XDECREF(spans);
    Py_XDECREF(d.last_trace_hex);
    Py_XDECREF(d.exception_name);
    keyset_free(&d.keep);
    keyset_free(&d.exception);
    table_free(&d.attributes);
    table_free(&d.names);
    table_free(&d.mappings);
    PyBuffer_Release(&data);
    return result;
}

static PyMethodDef METHODS[] = {
    {"decode", decode, METH_VARARGS,
     "decode(data, keep, span_type, link_type, event_type, kinds, statuses, exception_keys,\n"
     "       unknown_service, empty_attributes) -> (spans, invalid) | None\n\n"
     "OTLP protobuf ExportTraceServiceRequest bytes to Span objects; None when the input\n"
     "needs the slim-schema decoder's judgement (malformed or unusual)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef MODULE = {
    PyModuleDef_HEAD_INIT, "_otlpwire",
    "The compiled OTLP protobuf span decoder (see otlp_protobuf.py).", -1, METHODS,
};

PyMODINIT_FUNC PyInit__otlpwire(void) {
    const uint16_t probe = 1;
    if (*(const uint8_t *)&probe != 1) {
        PyErr_SetString(PyExc_ImportError, "_otlpwire reads fixed64 as little-endian");
        return NULL;
    }
    return PyModule_Create(&MODULE);
}
