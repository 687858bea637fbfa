/*
 * Generic parameter handling, driven by each node type's rm_param_def table:
 * defaults, parsing and validation of manifest values into the node's config
 * struct, and printing.  No node parses its own parameters.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* ---------------------------------------------------------------- arena --- */

void rm__arena_free(rm__arena *a)
{
    for (size_t i = 0; i < a->n; i++) free(a->ptrs[i]);
    for (size_t i = 0; i < a->nj; i++) json_decref(a->jsons[i]);
    free(a->ptrs);
    free(a->jsons);
    memset(a, 0, sizeof *a);
}

void *rm__arena_keep(rm__arena *a, void *p)
{
    if (!p) return NULL;
    if (a->n == a->cap) {
        size_t cap = a->cap ? a->cap * 2 : 16;
        void **n = realloc(a->ptrs, cap * sizeof *n);
        if (!n) {
            free(p);
            return NULL;
        }
        a->ptrs = n;
        a->cap = cap;
    }
    a->ptrs[a->n++] = p;
    return p;
}

json_t *rm__arena_keep_json(rm__arena *a, json_t *j)
{
    if (!j) return NULL;
    if (a->nj == a->capj) {
        size_t cap = a->capj ? a->capj * 2 : 16;
        json_t **n = realloc(a->jsons, cap * sizeof *n);
        if (!n) {
            json_decref(j);
            return NULL;
        }
        a->jsons = n;
        a->capj = cap;
    }
    a->jsons[a->nj++] = j;
    return j;
}

/* --------------------------------------------------------------- lookup --- */

static int key_matches(const char *key, const char *name)
{
    char camel[128];
    return strcmp(key, name) == 0 || strcmp(key, rm__camel_case(name, camel, sizeof camel)) == 0;
}

const rm_param_def *rm__param_find(const rm_node_type *t, const char *key)
{
    for (const rm_param_def *p = t->params; p && p->name; p++) {
        if (key_matches(key, p->name)) return p;
        for (const char *const *a = p->aliases; a && *a; a++)
            if (key_matches(key, *a)) return p;
    }
    return NULL;
}

const char *rm_param_type_name(rm_param_type type)
{
    switch (type) {
    case RM_PARAM_BOOL: return "bool";
    case RM_PARAM_INT: return "int";
    case RM_PARAM_FLOAT: return "float";
    case RM_PARAM_STRING: return "string";
    case RM_PARAM_ENUM: return "enum";
    case RM_PARAM_STRING_LIST: return "string list";
    case RM_PARAM_JSON: return "json";
    }
    return "?";
}

static size_t slot_size(rm_param_type type)
{
    switch (type) {
    case RM_PARAM_BOOL: case RM_PARAM_ENUM: return sizeof(int);
    case RM_PARAM_INT: return sizeof(int64_t);
    case RM_PARAM_FLOAT: return sizeof(double);
    case RM_PARAM_STRING: return sizeof(const char *);
    case RM_PARAM_STRING_LIST: return sizeof(const char *const *);
    case RM_PARAM_JSON: return sizeof(const json_t *);
    }
    return 0;
}

#define SLOT(cfg, p, T) ((T *)((char *)(cfg) + (p)->offset))
#define CSLOT(cfg, p, T) ((T const *)((const char *)(cfg) + (p)->offset)) /* T may be a pointer type */

static int has_range(const rm_param_def *p) { return !(p->min == 0 && p->max == 0); }

static int enum_index(const rm_param_def *p, const char *s)
{
    for (int i = 0; p->enum_values && p->enum_values[i]; i++)
        if (strcmp(p->enum_values[i], s) == 0) return i;
    return -1;
}

/* ------------------------------------------------------------- defaults --- */

static const char *const empty_list[] = {NULL};

/* Splits "a,b,c" into a NULL-terminated list owned by the arena. */
static const char *const *split_list(const char *s, rm__arena *arena)
{
    if (!s || !*s) return empty_list;
    size_t n = 1;
    for (const char *p = s; *p; p++) n += *p == ',';
    char **list = rm__arena_keep(arena, calloc(n + 1, sizeof *list));
    if (!list) return NULL;
    size_t i = 0;
    for (const char *p = s;;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        if (!(list[i++] = rm__arena_keep(arena, rm__strndup(p, len)))) return NULL;
        if (!comma) break;
        p = comma + 1;
    }
    return (const char *const *)list;
}

int rm__params_defaults(const rm_node_type *t, void *config, rm__arena *arena)
{
    if (t->config_size) memset(config, 0, t->config_size);
    for (const rm_param_def *p = t->params; p && p->name; p++) {
        switch (p->type) {
        case RM_PARAM_BOOL: *SLOT(config, p, int) = p->def_num != 0; break;
        case RM_PARAM_INT: *SLOT(config, p, int64_t) = (int64_t)p->def_num; break;
        case RM_PARAM_FLOAT: *SLOT(config, p, double) = p->def_num; break;
        case RM_PARAM_STRING: *SLOT(config, p, const char *) = p->def_str; break;
        case RM_PARAM_ENUM: {
            int i = p->def_str ? enum_index(p, p->def_str) : 0;
            *SLOT(config, p, int) = i < 0 ? 0 : i;
            break;
        }
        case RM_PARAM_STRING_LIST: {
            const char *const *l = split_list(p->def_str, arena);
            if (!l) return RM_ENOMEM;
            *SLOT(config, p, const char *const *) = l;
            break;
        }
        case RM_PARAM_JSON: {
            json_t *j = NULL;
            if (p->def_str) {
                j = rm__arena_keep_json(arena, json_loads(p->def_str, JSON_DECODE_ANY, NULL));
                if (!j) return RM_ENOMEM;
            }
            *SLOT(config, p, const json_t *) = j;
            break;
        }
        }
    }
    return 0;
}

/* -------------------------------------------------------------- parsing --- */

/* Describes a JSON value for messages: `string "ten"`, `number 5`, `a list`. */
static void describe_value(const json_t *v, char *buf, size_t cap)
{
    switch (json_typeof(v)) {
    case JSON_STRING: snprintf(buf, cap, "string \"%.40s\"", json_string_value(v)); break;
    case JSON_INTEGER: snprintf(buf, cap, "integer %lld", (long long)json_integer_value(v)); break;
    case JSON_REAL: snprintf(buf, cap, "number %g", json_real_value(v)); break;
    case JSON_TRUE: snprintf(buf, cap, "true"); break;
    case JSON_FALSE: snprintf(buf, cap, "false"); break;
    case JSON_NULL: snprintf(buf, cap, "null"); break;
    case JSON_ARRAY: snprintf(buf, cap, "a list"); break;
    case JSON_OBJECT: snprintf(buf, cap, "a mapping"); break;
    }
}

static void range_text(const rm_param_def *p, char *buf, size_t cap)
{
    char lo[32], hi[32];
    if (isinf(p->min)) snprintf(lo, sizeof lo, "-inf");
    else snprintf(lo, sizeof lo, "%g", p->min);
    if (isinf(p->max)) snprintf(hi, sizeof hi, "inf");
    else snprintf(hi, sizeof hi, "%g", p->max);
    snprintf(buf, cap, "[%s, %s]", lo, hi);
}

static void enum_list(const rm_param_def *p, char *buf, size_t cap)
{
    size_t o = 0;
    buf[0] = '\0';
    for (int i = 0; p->enum_values && p->enum_values[i] && o < cap; i++)
        o += (size_t)snprintf(buf + o, cap - o, "%s%s", i ? ", " : "", p->enum_values[i]);
}

static int bad_enum(const rm_param_def *p, const char *s, char *msg, size_t cap)
{
    char list[256];
    enum_list(p, list, sizeof list);
    const char *best = NULL;
    unsigned best_d = 3;
    for (int i = 0; p->enum_values && p->enum_values[i]; i++) {
        unsigned d = rm__edit_distance(s, p->enum_values[i]);
        if (d < best_d) best_d = d, best = p->enum_values[i];
    }
    if (best)
        snprintf(msg, cap, "'%s' is not one of: %s (did you mean '%s'?)", s, list, best);
    else
        snprintf(msg, cap, "'%s' is not one of: %s", s, list);
    return RM_EPARAM;
}

int rm__param_set(const rm_param_def *p, const json_t *v, void *config, rm__arena *arena,
                  char *msg, size_t cap)
{
    char got[80], range[80];
    describe_value(v, got, sizeof got);
    switch (p->type) {
    case RM_PARAM_BOOL:
        if (!json_is_boolean(v)) {
            snprintf(msg, cap, "expected a boolean (true or false), got %s", got);
            return RM_EPARAM;
        }
        *SLOT(config, p, int) = json_is_true(v);
        return 0;
    case RM_PARAM_INT:
    case RM_PARAM_FLOAT: {
        double x;
        if (json_is_integer(v)) x = (double)json_integer_value(v);
        else if (json_is_real(v)) x = json_real_value(v);
        else {
            snprintf(msg, cap, "expected %s, got %s",
                     p->type == RM_PARAM_INT ? "an integer" : "a number", got);
            return RM_EPARAM;
        }
        if (p->type == RM_PARAM_INT && (x != floor(x) || fabs(x) > 9.0e18)) {
            snprintf(msg, cap, "expected an integer, got %s", got);
            return RM_EPARAM;
        }
        if (has_range(p) && (x < p->min || x > p->max)) {
            range_text(p, range, sizeof range);
            snprintf(msg, cap, "value %g is out of range %s", x, range);
            return RM_EPARAM;
        }
        if (p->type == RM_PARAM_INT)
            *SLOT(config, p, int64_t) = json_is_integer(v) ? (int64_t)json_integer_value(v) : (int64_t)x;
        else
            *SLOT(config, p, double) = x;
        return 0;
    }
    case RM_PARAM_STRING:
        if (!json_is_string(v)) {
            snprintf(msg, cap, "expected a string, got %s", got);
            return RM_EPARAM;
        }
        if (!rm__arena_keep_json(arena, json_incref((json_t *)v))) return RM_ENOMEM;
        *SLOT(config, p, const char *) = json_string_value(v);
        return 0;
    case RM_PARAM_ENUM: {
        if (!json_is_string(v)) {
            char list[256];
            enum_list(p, list, sizeof list);
            snprintf(msg, cap, "expected one of: %s; got %s", list, got);
            return RM_EPARAM;
        }
        int i = enum_index(p, json_string_value(v));
        if (i < 0) return bad_enum(p, json_string_value(v), msg, cap);
        *SLOT(config, p, int) = i;
        return 0;
    }
    case RM_PARAM_STRING_LIST: {
        size_t n = json_is_array(v) ? json_array_size(v) : 1;
        if (!json_is_array(v) && !json_is_string(v)) {
            snprintf(msg, cap, "expected a list of strings, got %s", got);
            return RM_EPARAM;
        }
        if (has_range(p) && ((double)n < p->min || (double)n > p->max)) {
            range_text(p, range, sizeof range);
            snprintf(msg, cap, "list has %zu item%s; allowed length %s", n, n == 1 ? "" : "s", range);
            return RM_EPARAM;
        }
        const char **list = rm__arena_keep(arena, calloc(n + 1, sizeof *list));
        if (!list) return RM_ENOMEM;
        for (size_t i = 0; i < n; i++) {
            const json_t *item = json_is_array(v) ? json_array_get(v, i) : v;
            if (!json_is_string(item)) {
                describe_value(item, got, sizeof got);
                snprintf(msg, cap, "item %zu: expected a string, got %s", i, got);
                return RM_EPARAM;
            }
            if (p->enum_values && enum_index(p, json_string_value(item)) < 0) {
                char inner[400];
                bad_enum(p, json_string_value(item), inner, sizeof inner);
                snprintf(msg, cap, "item %zu: %s", i, inner);
                return RM_EPARAM;
            }
            list[i] = json_string_value(item);
        }
        if (!rm__arena_keep_json(arena, json_incref((json_t *)v))) return RM_ENOMEM;
        *SLOT(config, p, const char *const *) = list;
        return 0;
    }
    case RM_PARAM_JSON:
        if (!rm__arena_keep_json(arena, json_incref((json_t *)v))) return RM_ENOMEM;
        *SLOT(config, p, const json_t *) = v;
        return 0;
    }
    snprintf(msg, cap, "unsupported parameter type");
    return RM_EINTERNAL;
}

/* Comma-separated parameter names, for "valid parameters are: …". */
static void param_names(const rm_node_type *t, char *buf, size_t cap)
{
    size_t o = 0;
    buf[0] = '\0';
    for (const rm_param_def *p = t->params; p && p->name && o < cap; p++)
        o += (size_t)snprintf(buf + o, cap - o, "%s%s", p == t->params ? "" : ", ", p->name);
    if (!t->params || !t->params->name) snprintf(buf, cap, "none");
}

/* A relative path parameter is taken from the folder of the manifest file
 * (RM_PARAM_PATH), so a manifest runs the same from any directory.  Returns
 * 0 or RM_ENOMEM. */
static int resolve_path(const rm_param_def *p, void *config, rm__arena *arena, const rm_manifest *m)
{
    const char **slot = SLOT(config, p, const char *);
    const char *file = m ? rm_manifest_file(m) : NULL;
    const char *slash = file ? strrchr(file, '/') : NULL;
    if (!*slot || !**slot || **slot == '/' || !slash) return 0;
    size_t dir = (size_t)(slash - file) + 1, len = strlen(*slot);
    char *full = rm__arena_keep(arena, malloc(dir + len + 1));
    if (!full) return RM_ENOMEM;
    memcpy(full, file, dir);
    memcpy(full + dir, *slot, len + 1);
    *slot = full;
    return 0;
}

int rm__params_parse(const rm_node_type *t, const json_t *params, void *config,
                     rm__arena *arena, rm_diags *d, const rm_manifest *m, const char *path,
                     const char *node_id)
{
    int first = rm__params_defaults(t, config, arena);
    if (first != 0) return first;
    size_t n_params = 0;
    for (const rm_param_def *p = t->params; p && p->name; p++) n_params++;
    const char **set_by = calloc(n_params + 1, sizeof *set_by);
    if (!set_by) return RM_ENOMEM;
    char sub[512], msg[600];
    if (params && !json_is_null(params) && !json_is_object(params)) {
        char got[80];
        describe_value(params, got, sizeof got);
        first = rm__diag(d, m, RM_EPARAM, path, node_id, "params must be a mapping, got %s", got);
    } else if (params && json_is_object(params)) {
        const char *key;
        json_t *v;
        json_object_foreach((json_t *)params, key, v)
        {
            snprintf(sub, sizeof sub, "%s.%s", path, key);
            const rm_param_def *p = rm__param_find(t, key);
            if (!p) {
                /* RM_PARAM_REST: keys outside the table are kept, not rejected */
                const rm_param_def *rest = NULL;
                for (const rm_param_def *q = t->params; q && q->name; q++)
                    if ((q->flags & RM_PARAM_REST) && q->type == RM_PARAM_JSON) rest = q;
                if (rest) {
                    json_t **slot = (json_t **)((char *)config + rest->offset);
                    if (!*slot || !json_is_object(*slot)) {
                        *slot = rm__arena_keep_json(arena, json_object());
                        if (!*slot) {
                            free(set_by);
                            return RM_ENOMEM;
                        }
                    }
                    if (json_object_set(*slot, key, v) != 0) {
                        free(set_by);
                        return RM_ENOMEM;
                    }
                    continue;
                }
            }
            if (!p && rm__diags_full(d)) {
                /* nothing more is reported: skip the hint's cost */
                if (!first) first = RM_EPARAM;
                continue;
            }
            if (!p) {
                char names[512];
                param_names(t, names, sizeof names);
                const char *best = NULL;
                unsigned best_d = 3;
                for (const rm_param_def *q = t->params; q && q->name; q++) {
                    unsigned dd = rm__edit_distance(key, q->name);
                    if (dd < best_d) best_d = dd, best = q->name;
                }
                int rc = best ? rm__diag(d, m, RM_EPARAM, sub, node_id,
                                         "unknown parameter '%s' for %s; did you mean '%s'? (valid: %s)",
                                         key, t->name, best, names)
                              : rm__diag(d, m, RM_EPARAM, sub, node_id,
                                         "unknown parameter '%s' for %s (valid: %s)", key, t->name, names);
                if (!first) first = rc;
                continue;
            }
            size_t idx = (size_t)(p - t->params);
            if (set_by[idx]) {
                int rc = rm__diag(d, m, RM_EPARAM, sub, node_id,
                                  "parameter '%s' is set twice (as '%s' and '%s')", p->name,
                                  set_by[idx], key);
                if (!first) first = rc;
                continue;
            }
            set_by[idx] = key;
            json_t *rest_before = NULL; /* RM_PARAM_REST set by name: keep what was collected */
            if ((p->flags & RM_PARAM_REST) && p->type == RM_PARAM_JSON)
                rest_before = *(json_t **)((char *)config + p->offset);
            int rc = rm__param_set(p, v, config, arena, msg, sizeof msg);
            if (rc == 0 && (p->flags & RM_PARAM_REST) && p->type == RM_PARAM_JSON) {
                /* a private copy: later keys are added to it, never to the manifest */
                json_t *own = json_is_object(v) ? rm__arena_keep_json(arena, json_deep_copy(v)) : NULL;
                if (json_is_object(v) && !own) {
                    free(set_by);
                    return RM_ENOMEM;
                }
                if (own && json_is_object(rest_before)) json_object_update_missing(own, rest_before);
                if (own) *(json_t **)((char *)config + p->offset) = own;
            }
            if (rc == 0 && (p->flags & RM_PARAM_PATH) && p->type == RM_PARAM_STRING)
                rc = resolve_path(p, config, arena, m);
            if (rc == RM_ENOMEM) {
                free(set_by);
                return rc;
            }
            if (rc != 0) {
                rc = rm__diag(d, m, rc, sub, node_id, "parameter '%s' of %s: %s", key, t->name, msg);
                if (!first) first = rc;
            }
        }
    }
    for (size_t i = 0; i < n_params; i++) {
        const rm_param_def *p = &t->params[i];
        if (!(p->flags & RM_PARAM_REQUIRED) || set_by[i]) continue;
        int rc = rm__diag(d, m, RM_EPARAM, path, node_id,
                          "missing required parameter '%s' (%s) of %s: %s", p->name,
                          rm_param_type_name(p->type), t->name, p->doc ? p->doc : "");
        if (!first) first = rc;
    }
    free(set_by);
    return first;
}

/* ------------------------------------------------------------- printing --- */

static void list_str(const char *const *l, rm__buf *out)
{
    rm__buf_puts(out, "[");
    for (size_t i = 0; l && l[i]; i++) {
        if (i) rm__buf_puts(out, ", ");
        rm__buf_json_str(out, l[i]);
    }
    rm__buf_puts(out, "]");
}

void rm__param_value_str(const rm_param_def *p, const void *config, rm__buf *out)
{
    switch (p->type) {
    case RM_PARAM_BOOL: rm__buf_puts(out, *CSLOT(config, p, int) ? "true" : "false"); break;
    case RM_PARAM_INT: rm__buf_printf(out, "%lld", (long long)*CSLOT(config, p, int64_t)); break;
    case RM_PARAM_FLOAT: rm__buf_printf(out, "%g", *CSLOT(config, p, double)); break;
    case RM_PARAM_STRING: {
        const char *s = *CSLOT(config, p, const char *);
        if (s) rm__buf_json_str(out, s);
        else rm__buf_puts(out, "null");
        break;
    }
    case RM_PARAM_ENUM: rm__buf_json_str(out, p->enum_values[*CSLOT(config, p, int)]); break;
    case RM_PARAM_STRING_LIST: list_str(*CSLOT(config, p, const char *const *), out); break;
    case RM_PARAM_JSON: {
        const json_t *j = *CSLOT(config, p, const json_t *);
        char *s = j ? rm_json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
        rm__buf_puts(out, s ? s : "null");
        free(s);
        break;
    }
    }
}

void rm__param_default_str(const rm_param_def *p, rm__buf *out)
{
    switch (p->type) {
    case RM_PARAM_BOOL: rm__buf_puts(out, p->def_num != 0 ? "true" : "false"); break;
    case RM_PARAM_INT: rm__buf_printf(out, "%lld", (long long)p->def_num); break;
    case RM_PARAM_FLOAT: rm__buf_printf(out, "%g", p->def_num); break;
    case RM_PARAM_STRING:
    case RM_PARAM_ENUM:
        if (p->def_str) rm__buf_json_str(out, p->def_str);
        else rm__buf_puts(out, p->type == RM_PARAM_ENUM && p->enum_values ? p->enum_values[0] : "null");
        break;
    case RM_PARAM_STRING_LIST: {
        rm__arena a = {0};
        list_str(split_list(p->def_str, &a), out);
        rm__arena_free(&a);
        break;
    }
    case RM_PARAM_JSON: rm__buf_puts(out, p->def_str ? p->def_str : "null"); break;
    }
}

int rm__params_check_table(const rm_node_type *t, rm_error *err)
{
    for (const rm_param_def *p = t->params; p && p->name; p++) {
        size_t sz = slot_size(p->type);
        if (!sz)
            return rm_error_set(err, RM_EINVAL, NULL, "node type %s: param %s has a bad type",
                                t->name, p->name);
        if (p->offset + sz > t->config_size)
            return rm_error_set(err, RM_EINVAL, NULL,
                                "node type %s: param %s lies outside the config struct", t->name,
                                p->name);
        if (p->type == RM_PARAM_ENUM &&
            (!p->enum_values || !p->enum_values[0] || (p->def_str && enum_index(p, p->def_str) < 0)))
            return rm_error_set(err, RM_EINVAL, NULL,
                                "node type %s: enum param %s needs values and a valid default",
                                t->name, p->name);
        if ((p->type == RM_PARAM_INT || p->type == RM_PARAM_FLOAT) && has_range(p) &&
            !(p->flags & RM_PARAM_REQUIRED) && (p->def_num < p->min || p->def_num > p->max))
            return rm_error_set(err, RM_EINVAL, NULL,
                                "node type %s: default of param %s is outside its range", t->name,
                                p->name);
        for (const rm_param_def *q = t->params; q < p; q++)
            if (strcmp(p->name, q->name) == 0)
                return rm_error_set(err, RM_EINVAL, NULL, "node type %s: duplicate param %s",
                                    t->name, p->name);
    }
    return 0;
}
