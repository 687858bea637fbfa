/*
 * Manifest loading: JSON (jansson) and YAML (libyaml) into one JSON tree,
 * plus a source map from key paths ("nodes[1].params.factor") to line:column
 * so that later validation can point at the place of each problem.
 *
 * JSON text is parsed by jansson, which is strict JSON and gives exact syntax
 * error positions; its positions for valid documents come from a second pass
 * with libyaml (JSON is YAML flow syntax), which is best effort: if that pass
 * fails, diagnostics fall back to key paths alone.
 *
 * The source map is built lazily, on the first rm_manifest_locate() (that is,
 * when validation has a problem to report): building it costs more than
 * parsing, and a valid manifest never needs it.  The manifest keeps a copy of
 * its text for that.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "internal.h"

#define RM__MAX_MANIFEST_BYTES RM_MANIFEST_MAX_BYTES
#define RM__MAX_DEPTH RM_MANIFEST_MAX_DEPTH

struct rm_manifest {
    json_t *doc;
    json_t *overrides; /* key paths set by rm_manifest_set_param: no source position */
    _Atomic(json_t *) srcmap; /* path -> [line, column]; built on first locate */
    char *file;
    char *text; /* the source, for building srcmap */
    size_t len;
};

const json_t *rm_manifest_json(const rm_manifest *m) { return m->doc; }
const char *rm_manifest_file(const rm_manifest *m) { return m->file; }

static json_t *yaml_load(const char *text, size_t len, const char *file, json_t *srcmap,
                         rm_diags *diags);

/* The source map, built on first use.  Concurrent callers may both build
 * one; the first to publish wins and the other frees its copy. */
static json_t *srcmap_get(const rm_manifest *cm)
{
    rm_manifest *m = (rm_manifest *)cm; /* the cache is not part of the value */
    json_t *map = atomic_load_explicit(&m->srcmap, memory_order_acquire);
    if (map || !m->text) return map;
    map = json_object();
    if (!map) return NULL;
    json_t *doc = yaml_load(m->text, m->len, m->file, map, NULL);
    if (!doc) json_object_clear(map); /* best effort: fall back to key paths */
    json_decref(doc);
    json_t *expected = NULL;
    if (!atomic_compare_exchange_strong_explicit(&m->srcmap, &expected, map, memory_order_acq_rel,
                                                 memory_order_acquire)) {
        json_decref(map);
        map = expected;
    }
    return map;
}

int rm_manifest_locate(const rm_manifest *m, const char *path, int *line, int *column)
{
    *line = *column = 0;
    if (!m || !path) return 0;
    if (m->overrides && json_object_get(m->overrides, path)) return 0;
    json_t *map = srcmap_get(m);
    if (!map) return 0;
    json_t *pos = json_object_get(map, path);
    if (!pos) return 0;
    *line = (int)json_integer_value(json_array_get(pos, 0));
    *column = (int)json_integer_value(json_array_get(pos, 1));
    return 1;
}

int rm_manifest_set_param(rm_manifest *m, const char *node_id, const char *param, const char *value,
                          rm_error *err)
{
    if (!node_id || !param || !*param || !value)
        return rm_error_set(err, RM_EINVAL, NULL, "a parameter override needs NODE.PARAM=VALUE");
    json_t *nodes = json_object_get(m->doc, "nodes");
    size_t i;
    json_t *n;
    json_array_foreach(nodes, i, n)
    {
        if (!json_is_object(n) || !json_is_string(json_object_get(n, "id")) ||
            strcmp(json_string_value(json_object_get(n, "id")), node_id) != 0)
            continue;
        /* JSON text, else a plain word as a string: --set tts.voice=rms */
        json_t *v = json_loads(value, JSON_DECODE_ANY, NULL);
        if (!v) v = json_string(value);
        json_t *params = json_object_get(n, "params");
        if (!json_is_object(params)) {
            params = json_object();
            if (!params || json_object_set_new(n, "params", params) != 0) {
                json_decref(v);
                return rm_error_set(err, RM_ENOMEM, node_id, "out of memory");
            }
        }
        char path[256];
        snprintf(path, sizeof path, "nodes[%zu].params.%s", i, param);
        if (!m->overrides) m->overrides = json_object();
        if (!v || !m->overrides || json_object_set_new(params, param, v) != 0 ||
            json_object_set_new(m->overrides, path, json_true()) != 0)
            return rm_error_set(err, RM_ENOMEM, node_id, "out of memory");
        return 0;
    }
    return rm_error_set(err, RM_ENOTFOUND, NULL, "no node '%s' in %s (for the override of '%s')", node_id,
                        m->file ? m->file : "the manifest", param);
}

void rm_manifest_free(rm_manifest *m)
{
    if (!m) return;
    json_decref(m->doc);
    json_decref(m->overrides);
    json_decref(atomic_load_explicit(&m->srcmap, memory_order_acquire));
    free(m->file);
    free(m->text);
    free(m);
}

/* ------------------------------------------------------------------ YAML --- */

typedef struct yctx {
    yaml_parser_t parser;
    json_t *anchors;
    json_t *sizes; /* anchor -> values under it, counted as expanded */
    size_t values; /* values so far, aliases expanded (bounded: alias bombs) */
    json_t *srcmap;
    rm_diags *diags; /* NULL in the position-only pass */
    const char *file;
    int failed;
} yctx;

static void ydiag(yctx *c, int line, int col, const char *path, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (!c->failed && c->diags) rm__diag_at(c->diags, c->file, line, col, RM_EPARSE, path, NULL, msg);
    c->failed = 1;
}

static void record_pos(yctx *c, const char *path, const yaml_mark_t *mark)
{
    if (!c->srcmap) return; /* parsing without positions */
    json_t *pos = json_pack("[ii]", (int)mark->line + 1, (int)mark->column + 1);
    if (pos) json_object_set_new(c->srcmap, path, pos);
}

static int match_all(const char *s, const char *const *words)
{
    for (; *words; words++)
        if (strcmp(s, *words) == 0) return 1;
    return 0;
}

/* Parses an integer in YAML 1.2 core schema syntax; returns 1 on success. */
static int parse_int(const char *s, json_t **out)
{
    const char *p = s;
    int base = 10;
    if (*p == '+' || *p == '-') p++;
    if (p[0] == '0' && p[1] == 'x' && s == p) base = 16, p += 2;
    else if (p[0] == '0' && p[1] == 'o' && s == p) base = 8, p += 2;
    if (!*p) return 0;
    for (const char *q = p; *q; q++) {
        int ok = base == 16 ? (q[0] >= '0' && q[0] <= '9') || (q[0] >= 'a' && q[0] <= 'f') ||
                                  (q[0] >= 'A' && q[0] <= 'F')
               : base == 8 ? q[0] >= '0' && q[0] <= '7'
                           : q[0] >= '0' && q[0] <= '9';
        if (!ok) return 0;
    }
    errno = 0;
    char *end;
    long long v = strtoll(base == 10 ? s : p, &end, base);
    if (errno == ERANGE) {
        *out = json_real(strtod(s, NULL));
        return 1;
    }
    *out = json_integer((json_int_t)v);
    return 1;
}

static int parse_float(const char *s, json_t **out)
{
    static const char *const pinf[] = {".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF", NULL};
    static const char *const ninf[] = {"-.inf", "-.Inf", "-.INF", NULL};
    static const char *const nan_[] = {".nan", ".NaN", ".NAN", NULL};
    /* JSON cannot hold infinities or NaN: map them to strings the validator
     * will reject with a clear message. */
    if (match_all(s, pinf) || match_all(s, ninf) || match_all(s, nan_)) return 0;
    const char *p = s;
    if (*p == '+' || *p == '-') p++;
    int digits = 0, dot = 0;
    for (; *p; p++) {
        if (*p >= '0' && *p <= '9') digits++;
        else if (*p == '.' && !dot) dot = 1;
        else break;
    }
    if (!digits) return 0;
    if (*p == 'e' || *p == 'E') {
        p++;
        if (*p == '+' || *p == '-') p++;
        if (!(*p >= '0' && *p <= '9')) return 0;
        while (*p >= '0' && *p <= '9') p++;
    }
    if (*p) return 0;
    double v = strtod(s, NULL);
    if (!isfinite(v)) return 0;
    *out = json_real(v);
    return 1;
}

static json_t *yaml_scalar(const yaml_event_t *ev)
{
    const char *s = (const char *)ev->data.scalar.value;
    size_t len = ev->data.scalar.length;
    const char *tag = (const char *)ev->data.scalar.tag;
    int plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
    if (tag && strcmp(tag, YAML_STR_TAG) == 0) return json_stringn(s, len);
    if (plain || (tag && strcmp(tag, "!") != 0)) {
        static const char *const nulls[] = {"", "~", "null", "Null", "NULL", NULL};
        static const char *const trues[] = {"true", "True", "TRUE", NULL};
        static const char *const falses[] = {"false", "False", "FALSE", NULL};
        json_t *v = NULL;
        if (match_all(s, nulls)) return json_null();
        if (match_all(s, trues)) return json_true();
        if (match_all(s, falses)) return json_false();
        if (parse_int(s, &v) || parse_float(s, &v)) return v;
    }
    return json_stringn(s, len);
}

static int next_event(yctx *c, yaml_event_t *ev)
{
    if (!yaml_parser_parse(&c->parser, ev)) {
        const yaml_parser_t *p = &c->parser;
        ydiag(c, (int)p->problem_mark.line + 1, (int)p->problem_mark.column + 1, "",
              "YAML syntax error: %s%s%s", p->problem ? p->problem : "unknown problem",
              p->context ? " " : "", p->context ? p->context : "");
        return -1;
    }
    return 0;
}

static json_t *yaml_node(yctx *c, yaml_event_t *ev, rm__buf *path, int depth);

static void path_truncate(rm__buf *path, size_t len)
{
    path->len = len;
    if (path->data) path->data[len] = '\0';
}

static json_t *yaml_sequence(yctx *c, rm__buf *path, int depth)
{
    json_t *arr = json_array();
    size_t base = path->len;
    for (size_t i = 0; arr; i++) {
        yaml_event_t ev;
        if (next_event(c, &ev) != 0) break;
        if (ev.type == YAML_SEQUENCE_END_EVENT) {
            yaml_event_delete(&ev);
            return arr;
        }
        rm__buf_printf(path, "[%zu]", i);
        json_t *item = yaml_node(c, &ev, path, depth + 1);
        yaml_event_delete(&ev);
        path_truncate(path, base);
        if (!item) break;
        json_array_append_new(arr, item);
    }
    json_decref(arr);
    return NULL;
}

/* "<<: *base" merges the keys of a mapping (or a list of mappings) that the
 * current mapping does not already set. */
static void yaml_merge(json_t *obj, json_t *src)
{
    if (json_is_array(src)) {
        size_t i;
        json_t *v;
        json_array_foreach(src, i, v) yaml_merge(obj, v);
        return;
    }
    const char *k;
    json_t *v;
    json_object_foreach(src, k, v)
    {
        if (!json_object_get(obj, k)) json_object_set(obj, k, v);
    }
}

static json_t *yaml_mapping(yctx *c, rm__buf *path, int depth)
{
    json_t *obj = json_object();
    json_t *merges = json_array();
    size_t base = path->len;
    while (obj && merges) {
        yaml_event_t kev;
        if (next_event(c, &kev) != 0) break;
        if (kev.type == YAML_MAPPING_END_EVENT) {
            yaml_event_delete(&kev);
            size_t i;
            json_t *m;
            json_array_foreach(merges, i, m) yaml_merge(obj, m);
            json_decref(merges);
            return obj;
        }
        if (kev.type != YAML_SCALAR_EVENT) {
            ydiag(c, (int)kev.start_mark.line + 1, (int)kev.start_mark.column + 1, path->data ? path->data : "",
                  "YAML: only plain keys are supported (found a collection used as a key)");
            yaml_event_delete(&kev);
            break;
        }
        if (memchr(kev.data.scalar.value, '\0', kev.data.scalar.length)) {
            ydiag(c, (int)kev.start_mark.line + 1, (int)kev.start_mark.column + 1, path->data ? path->data : "",
                  "a key contains a NUL character (\"\\0\"), which is not allowed in a manifest");
            yaml_event_delete(&kev);
            break;
        }
        char *key = rm__strndup((const char *)kev.data.scalar.value, kev.data.scalar.length);
        int is_merge = kev.data.scalar.style == YAML_PLAIN_SCALAR_STYLE && key && strcmp(key, "<<") == 0;
        yaml_mark_t kmark = kev.start_mark;
        yaml_event_delete(&kev);
        if (!key) break;
        if (!is_merge && json_object_get(obj, key)) {
            if (base) rm__buf_puts(path, ".");
            rm__buf_puts(path, key);
            ydiag(c, (int)kmark.line + 1, (int)kmark.column + 1, path->data, "duplicate key '%s'", key);
            free(key);
            break;
        }
        if (!is_merge) {
            if (base) rm__buf_puts(path, ".");
            rm__buf_puts(path, key);
        }
        yaml_event_t vev;
        json_t *val = NULL;
        if (next_event(c, &vev) == 0) {
            val = yaml_node(c, &vev, path, depth + 1);
            yaml_event_delete(&vev);
        }
        path_truncate(path, base);
        if (!val) {
            free(key);
            break;
        }
        if (is_merge) {
            if (!json_is_object(val) && !json_is_array(val)) {
                ydiag(c, (int)kmark.line + 1, (int)kmark.column + 1, path->data ? path->data : "",
                      "YAML merge key '<<' needs a mapping or a list of mappings");
                json_decref(val);
                free(key);
                break;
            }
            json_array_append_new(merges, val);
        } else {
            json_object_set_new(obj, key, val);
        }
        free(key);
    }
    json_decref(obj);
    json_decref(merges);
    return NULL;
}

static json_t *yaml_node(yctx *c, yaml_event_t *ev, rm__buf *path, int depth)
{
    const char *p = path->data ? path->data : "";
    if (depth > RM__MAX_DEPTH) {
        ydiag(c, (int)ev->start_mark.line + 1, (int)ev->start_mark.column + 1, p,
              "nesting deeper than %d levels", RM__MAX_DEPTH);
        return NULL;
    }
    json_t *v = NULL;
    const yaml_char_t *anchor = NULL;
    size_t before = c->values;
    if (ev->type != YAML_ALIAS_EVENT && ++c->values > RM_MANIFEST_MAX_VALUES) {
        ydiag(c, (int)ev->start_mark.line + 1, (int)ev->start_mark.column + 1, p,
              "the manifest holds more than %d values", RM_MANIFEST_MAX_VALUES);
        return NULL;
    }
    switch (ev->type) {
    case YAML_SCALAR_EVENT:
        if (memchr(ev->data.scalar.value, '\0', ev->data.scalar.length)) {
            /* a C string would end there: "AddNode\0junk" must not run as AddNode */
            ydiag(c, (int)ev->start_mark.line + 1, (int)ev->start_mark.column + 1, p,
                  "a string contains a NUL character (\"\\0\"), which is not allowed in a manifest");
            return NULL;
        }
        record_pos(c, p, &ev->start_mark);
        v = yaml_scalar(ev);
        anchor = ev->data.scalar.anchor;
        break;
    case YAML_SEQUENCE_START_EVENT: {
        yaml_mark_t mark = ev->start_mark;
        anchor = ev->data.sequence_start.anchor;
        record_pos(c, p, &mark);
        v = yaml_sequence(c, path, depth);
        break;
    }
    case YAML_MAPPING_START_EVENT: {
        yaml_mark_t mark = ev->start_mark;
        anchor = ev->data.mapping_start.anchor;
        record_pos(c, p, &mark);
        v = yaml_mapping(c, path, depth);
        break;
    }
    case YAML_ALIAS_EVENT: {
        json_t *target = json_object_get(c->anchors, (const char *)ev->data.alias.anchor);
        if (!target) {
            ydiag(c, (int)ev->start_mark.line + 1, (int)ev->start_mark.column + 1, p,
                  "unknown YAML alias '*%s'", (const char *)ev->data.alias.anchor);
            return NULL;
        }
        /* The tree shares the aliased value, but whatever walks it later
         * (validation, nodes reading JSON params, error messages) sees it
         * expanded: count it so, and stop an alias bomb here. */
        json_int_t size = json_integer_value(json_object_get(c->sizes, (const char *)ev->data.alias.anchor));
        if (size > RM_MANIFEST_MAX_VALUES || (c->values += (size_t)size) > RM_MANIFEST_MAX_VALUES) {
            ydiag(c, (int)ev->start_mark.line + 1, (int)ev->start_mark.column + 1, p,
                  "YAML aliases expand the manifest to more than %d values (at alias '*%.40s')",
                  RM_MANIFEST_MAX_VALUES, (const char *)ev->data.alias.anchor);
            return NULL;
        }
        record_pos(c, p, &ev->start_mark);
        return json_incref(target);
    }
    default:
        ydiag(c, (int)ev->start_mark.line + 1, (int)ev->start_mark.column + 1, p,
              "unexpected YAML event");
        return NULL;
    }
    if (v && anchor) {
        json_object_set(c->anchors, (const char *)anchor, v);
        json_object_set_new(c->sizes, (const char *)anchor, json_integer((json_int_t)(c->values - before)));
    }
    return v;
}

/* Parses a YAML stream holding one document.  Returns the tree or NULL after
 * adding a diagnostic.  Positions go into `srcmap` unless it is NULL. */
static json_t *yaml_load(const char *text, size_t len, const char *file, json_t *srcmap,
                         rm_diags *diags)
{
    yctx c;
    memset(&c, 0, sizeof c);
    c.srcmap = srcmap;
    c.diags = diags;
    c.file = file;
    c.anchors = json_object();
    c.sizes = json_object();
    if (!c.anchors || !c.sizes || !yaml_parser_initialize(&c.parser)) {
        json_decref(c.anchors);
        json_decref(c.sizes);
        return NULL;
    }
    yaml_parser_set_input_string(&c.parser, (const unsigned char *)text, len);
    json_t *doc = NULL;
    rm__buf path;
    rm__buf_init(&path);
    rm__buf_puts(&path, "");
    yaml_event_t ev;
    int docs = 0;
    while (!c.failed && next_event(&c, &ev) == 0) {
        yaml_event_type_t type = ev.type;
        if (type == YAML_STREAM_END_EVENT) {
            yaml_event_delete(&ev);
            break;
        }
        if (type == YAML_DOCUMENT_START_EVENT) {
            yaml_event_delete(&ev);
            if (++docs > 1) {
                ydiag(&c, (int)c.parser.mark.line + 1, 1, "", "more than one YAML document in the manifest");
                break;
            }
            yaml_event_t root;
            if (next_event(&c, &root) != 0) break;
            doc = yaml_node(&c, &root, &path, 0);
            yaml_event_delete(&root);
            continue;
        }
        yaml_event_delete(&ev);
    }
    rm__buf_free(&path);
    yaml_parser_delete(&c.parser);
    json_decref(c.anchors);
    json_decref(c.sizes);
    if (c.failed) {
        json_decref(doc);
        return NULL;
    }
    if (!doc || json_is_null(doc)) {
        json_decref(doc);
        if (diags) rm__diag_at(diags, file, 0, 0, RM_EPARSE, "", NULL, "the manifest is empty");
        return NULL;
    }
    return doc;
}

/* ---------------------------------------------------------------- limits --- */

/* One step of the key path, kept on the C stack while walking: the path text
 * is only built when there is a problem to report. */
typedef struct walk_step {
    const struct walk_step *up;
    const char *key; /* mapping key, or NULL for a list index */
    size_t index;
} walk_step;

typedef struct walk {
    rm_manifest *m;
    rm_diags *d;
    size_t values;
    int rc;
} walk;

static void step_path(const walk_step *st, rm__buf *b)
{
    if (!st) return;
    step_path(st->up, b);
    if (st->key) rm__buf_printf(b, "%s%s", b->len ? "." : "", st->key);
    else rm__buf_printf(b, "[%zu]", st->index);
}

static void walk_fail(walk *w, const walk_step *st, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
static void walk_fail(walk *w, const walk_step *st, const char *fmt, ...)
{
    char msg[300];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    rm__buf b;
    rm__buf_init(&b);
    rm__buf_puts(&b, "");
    step_path(st, &b);
    w->rc = rm__diag(w->d, w->m, RM_EMANIFEST, b.data ? b.data : "", NULL, "%s", msg);
    rm__buf_free(&b);
}

/* Checks RM_MANIFEST_MAX_{DEPTH,VALUES,STRING,ITEMS}; stops at the first
 * problem.  Recursion is bounded by the depth limit, the walk by the value
 * limit (YAML aliases were counted as expanded while parsing). */
static void walk_value(walk *w, const json_t *v, const walk_step *st, int depth)
{
    if (w->rc) return;
    if (++w->values > RM_MANIFEST_MAX_VALUES) {
        walk_fail(w, st, "the manifest holds more than %d values", RM_MANIFEST_MAX_VALUES);
        return;
    }
    if (depth > RM_MANIFEST_MAX_DEPTH) {
        walk_fail(w, st, "nesting deeper than %d levels", RM_MANIFEST_MAX_DEPTH);
        return;
    }
    size_t n = json_is_object(v) ? json_object_size(v) : json_is_array(v) ? json_array_size(v) : 0;
    /* nodes and connections have their own limits (graph.c) */
    int listed = depth == 1 && st && st->key && (!strcmp(st->key, "nodes") || !strcmp(st->key, "connections"));
    if (n > RM_MANIFEST_MAX_ITEMS && !listed) {
        walk_fail(w, st, "%s has %zu items; at most %d are allowed", json_is_object(v) ? "a mapping" : "a list", n,
                  RM_MANIFEST_MAX_ITEMS);
        return;
    }
    if (json_is_string(v) && json_string_length(v) > RM_MANIFEST_MAX_STRING) {
        walk_fail(w, st, "a string of %zu bytes; at most %u are allowed", json_string_length(v),
                  RM_MANIFEST_MAX_STRING);
        return;
    }
    if (json_is_array(v)) {
        for (size_t i = 0; i < n && !w->rc; i++) {
            walk_step sub = {st, NULL, i};
            walk_value(w, json_array_get(v, i), &sub, depth + 1);
        }
    } else if (json_is_object(v)) {
        const char *k;
        json_t *x;
        json_object_foreach((json_t *)v, k, x)
        {
            walk_step sub = {st, k, 0};
            if (strlen(k) > RM_MANIFEST_MAX_STRING) {
                walk_fail(w, st, "a key of %zu bytes; at most %u are allowed", strlen(k), RM_MANIFEST_MAX_STRING);
                return;
            }
            walk_value(w, x, &sub, depth + 1);
            if (w->rc) return;
        }
    }
}

/* ------------------------------------------------------------------ load --- */

static rm_manifest_format guess_format(const char *name, const char *text, size_t len)
{
    if (name) {
        const char *dot = strrchr(name, '.');
        if (dot && (!strcmp(dot, ".yaml") || !strcmp(dot, ".yml"))) return RM_MANIFEST_YAML;
        if (dot && !strcmp(dot, ".json")) return RM_MANIFEST_JSON;
    }
    for (size_t i = 0; i < len; i++) {
        char ch = text[i];
        if (ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r') continue;
        return ch == '{' || ch == '[' ? RM_MANIFEST_JSON : RM_MANIFEST_YAML;
    }
    return RM_MANIFEST_YAML;
}

int rm_manifest_load_string(const char *text, size_t len, const char *name,
                            rm_manifest_format fmt, rm_manifest **out, rm_diags *diags)
{
    *out = NULL;
    if (!text) return rm__diag_at(diags, name, 0, 0, RM_EINVAL, "", NULL, "no manifest text");
    if (len > RM__MAX_MANIFEST_BYTES)
        return rm__diag_at(diags, name, 0, 0, RM_ELIMIT, "", NULL,
                           "the manifest is larger than 16 MiB (RM_MANIFEST_MAX_BYTES)");
    if (memchr(text, '\0', len))
        return rm__diag_at(diags, name, 0, 0, RM_EPARSE, "", NULL,
                           "the manifest contains a NUL byte (binary file?)");
    if (!rm__utf8_valid(text, len))
        return rm__diag_at(diags, name, 0, 0, RM_EPARSE, "", NULL, "the manifest is not valid UTF-8");
    rm_manifest *m = calloc(1, sizeof *m);
    if (!m) return RM_ENOMEM;
    atomic_init(&m->srcmap, NULL);
    m->text = rm__strndup(text, len);
    m->len = len;
    if (!m->text || (name && !(m->file = rm__strdup(name)))) {
        rm_manifest_free(m);
        return RM_ENOMEM;
    }
    if (fmt == RM_MANIFEST_AUTO) fmt = guess_format(name, text, len);
    if (fmt == RM_MANIFEST_JSON) {
        json_error_t jerr;
        m->doc = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
        if (!m->doc) {
            char msg[300];
            snprintf(msg, sizeof msg, "JSON syntax error: %s", jerr.text);
            rm_manifest_free(m);
            return rm__diag_at(diags, name, jerr.line > 0 ? jerr.line : 0,
                               jerr.column > 0 ? jerr.column : 0, RM_EPARSE, "", NULL, msg);
        }
    } else {
        m->doc = yaml_load(text, len, name, NULL, diags);
        if (!m->doc) {
            rm_manifest_free(m);
            return RM_EPARSE;
        }
    }
    walk w = {m, diags, 0, 0};
    walk_value(&w, m->doc, NULL, 0);
    if (w.rc) {
        rm_manifest_free(m);
        return w.rc;
    }
    *out = m;
    return 0;
}

int rm_manifest_load_file(const char *path, rm_manifest **out, rm_diags *diags)
{
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) {
        char msg[300];
        snprintf(msg, sizeof msg, "cannot open manifest: %s", strerror(errno));
        return rm__diag_at(diags, path, 0, 0, RM_EIO, "", NULL, msg);
    }
    rm__buf b;
    rm__buf_init(&b);
    char chunk[4096]; /* small: wasm32 stacks default to 64 KiB */
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
        rm__buf_append(&b, chunk, n);
        if (b.len > RM__MAX_MANIFEST_BYTES) break;
    }
    int read_err = ferror(f);
    fclose(f);
    if (read_err || b.oom) {
        rm__buf_free(&b);
        return rm__diag_at(diags, path, 0, 0, read_err ? RM_EIO : RM_ENOMEM, "", NULL,
                           read_err ? "cannot read manifest (is it a directory?)" : "out of memory");
    }
    int rc = rm_manifest_load_string(b.data ? b.data : "", b.len, path, RM_MANIFEST_AUTO, out, diags);
    rm__buf_free(&b);
    return rc;
}
