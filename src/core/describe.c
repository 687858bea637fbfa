/*
 * Descriptions generated from node type descriptors: the JSON behind `rmedia
 * inspect --json` and Python's remotemedia.inspect(), and the manifest JSON
 * Schema behind `rmedia schema`.  Both come from the same parameter tables
 * that validate manifests, so they cannot drift.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* ------------------------------------------------- shortest JSON numbers --- */

int rm_format_double(double x, char *buf, size_t cap)
{
    /* The fewest significant digits (15, 16 or 17; 17 always suffice) that
     * read back as the same double: 0.15, not 0.14999999999999999. */
    int n = 0;
    for (int prec = 15; prec <= 17; prec++) {
        n = snprintf(buf, cap, "%.*g", prec, x);
        if (n < 0 || (size_t)n >= cap || strtod(buf, NULL) == x) break;
    }
    return n;
}

char *rm_json_dumps(const json_t *v, size_t flags)
{
    /* jansson prints every real with one precision; 17 digits read back
     * exactly, so each real token is then rewritten in its shortest form.
     * The scan only tells numbers from strings; jansson wrote the text. */
    flags &= ~(size_t)JSON_REAL_PRECISION(31);
    char *text = json_dumps(v, flags | JSON_REAL_PRECISION(17));
    if (!text) return NULL;
    char *w = text;
    for (const char *r = text; *r;) {
        if (*r == '"') { /* copy a string token */
            *w++ = *r++;
            while (*r && *r != '"') {
                if (*r == '\\' && r[1]) *w++ = *r++;
                *w++ = *r++;
            }
            if (*r) *w++ = *r++;
            continue;
        }
        if (*r != '-' && (*r < '0' || *r > '9')) {
            *w++ = *r++;
            continue;
        }
        size_t len = strspn(r, "-+.eE0123456789");
        if (len < 64 && strcspn(r, ".eE") < len) { /* a real */
            char tok[64], out[40];
            memcpy(tok, r, len);
            tok[len] = '\0';
            int n = rm_format_double(strtod(tok, NULL), out, sizeof out);
            /* keep it a real to JSON readers: "200.0", as jansson writes it */
            if (n > 0 && strcspn(out, ".en") == (size_t)n && n + 2 < (int)sizeof out) {
                memcpy(out + n, ".0", 3);
                n += 2;
            }
            if (n > 0 && (size_t)n <= len) { /* never longer than the 17-digit form */
                memcpy(w, out, (size_t)n);
                w += n;
                r += len;
                continue;
            }
        }
        memmove(w, r, len);
        w += len;
        r += len;
    }
    *w = '\0';
    return text;
}

static json_t *kinds_json(uint32_t kinds)
{
    json_t *a = json_array();
    if (!kinds) {
        json_array_append_new(a, json_string("any"));
        return a;
    }
    for (int k = RM_FRAME_AUDIO; k <= RM_FRAME_BINARY; k++)
        if (kinds & RM_KIND_BIT(k)) json_array_append_new(a, json_string(rm_frame_kind_name((rm_frame_kind)k)));
    return a;
}

static json_t *ports_json(const rm_node_type *t, int output)
{
    json_t *a = json_array();
    unsigned n = output ? rm_node_type_n_outputs(t) : rm_node_type_n_inputs(t);
    for (unsigned i = 0; i < n; i++) {
        const rm_port_def *p = output ? rm_node_type_output(t, i) : rm_node_type_input(t, i);
        json_array_append_new(a, json_pack("{s:s, s:o, s:s}", "name", p->name, "kinds", kinds_json(p->kinds),
                                           "doc", p->doc ? p->doc : ""));
    }
    return a;
}

static json_t *strings_json(const char *const *list)
{
    json_t *a = json_array();
    for (; list && *list; list++) json_array_append_new(a, json_string(*list));
    return a;
}

/* The default as a JSON value (null when unset). */
static json_t *default_json(const rm_param_def *p)
{
    rm__buf b;
    rm__buf_init(&b);
    rm__param_default_str(p, &b);
    json_t *v = b.data ? json_loads(b.data, JSON_DECODE_ANY, NULL) : NULL;
    rm__buf_free(&b);
    return v ? v : json_null();
}

static int bounded(double x) { return isfinite(x); }

char *rm_node_type_describe_json(const rm_node_type *t)
{
    json_t *params = json_array();
    for (const rm_param_def *p = t->params; p && p->name; p++) {
        json_t *o = json_pack("{s:s, s:s, s:o, s:s, s:b, s:b}", "name", p->name, "type",
                              rm_param_type_name(p->type), "default", default_json(p), "doc",
                              p->doc ? p->doc : "", "required", (p->flags & RM_PARAM_REQUIRED) != 0,
                              "runtime", (p->flags & RM_PARAM_RUNTIME) != 0);
        if (!(p->min == 0 && p->max == 0)) {
            if (bounded(p->min)) json_object_set_new(o, "min", json_real(p->min));
            if (bounded(p->max)) json_object_set_new(o, "max", json_real(p->max));
        }
        if (p->enum_values) json_object_set_new(o, "enum", strings_json(p->enum_values));
        if (p->aliases) json_object_set_new(o, "aliases", strings_json(p->aliases));
        json_array_append_new(params, o);
    }
    json_t *root = json_pack("{s:s, s:s, s:s, s:o, s:b, s:o, s:o, s:o}", "name", t->name, "doc",
                             t->doc ? t->doc : "", "family", t->family ? t->family : "",
                             "aliases", strings_json(t->aliases), "blocking",
                             (t->flags & RM_NODE_BLOCKING) != 0, "inputs", ports_json(t, 0), "outputs",
                             ports_json(t, 1), "params", params);
    if (root && t->example) json_object_set_new(root, "example", json_string(t->example));
    char *s = root ? rm_json_dumps(root, JSON_INDENT(2)) : NULL;
    json_decref(root);
    return s;
}

static json_t *param_schema(const rm_param_def *p)
{
    json_t *s = json_object();
    switch (p->type) {
    case RM_PARAM_BOOL: json_object_set_new(s, "type", json_string("boolean")); break;
    case RM_PARAM_INT:
    case RM_PARAM_FLOAT:
        json_object_set_new(s, "type", json_string(p->type == RM_PARAM_INT ? "integer" : "number"));
        if (!(p->min == 0 && p->max == 0)) {
            if (bounded(p->min)) json_object_set_new(s, "minimum", json_real(p->min));
            if (bounded(p->max)) json_object_set_new(s, "maximum", json_real(p->max));
        }
        break;
    case RM_PARAM_STRING: json_object_set_new(s, "type", json_string("string")); break;
    case RM_PARAM_ENUM: json_object_set_new(s, "enum", strings_json(p->enum_values)); break;
    case RM_PARAM_STRING_LIST: {
        json_t *items = p->enum_values ? json_pack("{s:o}", "enum", strings_json(p->enum_values))
                                       : json_pack("{s:s}", "type", "string");
        json_t *arr = json_pack("{s:s, s:o}", "type", "array", "items", items);
        if (!(p->min == 0 && p->max == 0)) {
            if (bounded(p->min)) json_object_set_new(arr, "minItems", json_integer((json_int_t)p->min));
            if (bounded(p->max)) json_object_set_new(arr, "maxItems", json_integer((json_int_t)p->max));
        }
        json_object_set_new(s, "anyOf", json_pack("[o, o]", arr, json_deep_copy(items)));
        break;
    }
    case RM_PARAM_JSON: break;
    }
    json_object_set_new(s, "description", json_string(p->doc ? p->doc : ""));
    json_t *def = default_json(p);
    if (json_is_null(def)) json_decref(def);
    else json_object_set_new(s, "default", def);
    return s;
}

static void add_spelling(json_t *props, const char *name, const json_t *schema, const char *canonical)
{
    char camel[128];
    const char *forms[2] = {name, rm__camel_case(name, camel, sizeof camel)};
    for (int i = 0; i < 2; i++) {
        if (json_object_get(props, forms[i])) continue;
        json_t *copy = json_deep_copy(schema);
        if (strcmp(forms[i], canonical) != 0) {
            char desc[160];
            snprintf(desc, sizeof desc, "alias of '%s'", canonical);
            json_object_set_new(copy, "description", json_string(desc));
        }
        json_object_set_new(props, forms[i], copy);
    }
}

static json_t *params_schema(const rm_node_type *t)
{
    json_t *props = json_object(), *required = json_array();
    for (const rm_param_def *p = t->params; p && p->name; p++) {
        json_t *ps = param_schema(p);
        add_spelling(props, p->name, ps, p->name);
        for (const char *const *a = p->aliases; a && *a; a++) add_spelling(props, *a, ps, p->name);
        json_decref(ps);
        if (p->flags & RM_PARAM_REQUIRED) json_array_append_new(required, json_string(p->name));
    }
    json_t *s = json_pack("{s:[s,s], s:s, s:o, s:b}", "type", "object", "null", "description",
                          t->doc ? t->doc : "", "properties", props, "additionalProperties", 0);
    if (json_array_size(required)) json_object_set_new(s, "required", required);
    else json_decref(required);
    return s;
}

static const char *const base_schema =
    "{\"$schema\": \"http://json-schema.org/draft-07/schema#\","
    " \"$id\": \"https://remotemedia.dev/schema/manifest-v1.json\","
    " \"title\": \"RemoteMedia pipeline manifest (v1)\","
    " \"type\": \"object\", \"required\": [\"version\", \"nodes\"],"
    " \"properties\": {"
    "  \"version\": {\"const\": \"v1\"},"
    "  \"metadata\": {\"type\": \"object\", \"properties\": {"
    "    \"name\": {\"type\": \"string\", \"minLength\": 1, \"maxLength\": 255},"
    "    \"description\": {\"type\": \"string\"}, \"created_at\": {\"type\": \"string\"}}},"
    "  \"nodes\": {\"type\": \"array\", \"minItems\": 1, \"items\": {\"$ref\": \"#/definitions/node\"}},"
    "  \"connections\": {\"type\": \"array\", \"items\": {\"$ref\": \"#/definitions/connection\"}}},"
    " \"definitions\": {"
    "  \"endpoint\": {\"type\": \"string\", \"pattern\": \"^[A-Za-z0-9_-]+(\\\\.[A-Za-z0-9_]+)?$\","
    "    \"description\": \"node id, optionally followed by .port\"},"
    "  \"connection\": {\"type\": \"object\", \"required\": [\"from\", \"to\"], \"properties\": {"
    "    \"from\": {\"$ref\": \"#/definitions/endpoint\"}, \"to\": {\"$ref\": \"#/definitions/endpoint\"},"
    "    \"queue\": {\"anyOf\": [{\"enum\": [\"block\", \"drop_oldest\", \"drop_newest\"]},"
    "      {\"type\": \"object\", \"properties\": {"
    "        \"policy\": {\"enum\": [\"block\", \"drop_oldest\", \"drop_newest\"], \"default\": \"block\"},"
    "        \"capacity\": {\"type\": \"integer\", \"minimum\": 1, \"maximum\": 1000000, \"default\": 64}}}]}}},"
    "  \"on_error\": {\"anyOf\": [{\"enum\": [\"fail\", \"skip\", \"retry\"]},"
    "    {\"type\": \"object\", \"required\": [\"policy\"], \"properties\": {"
    "      \"policy\": {\"enum\": [\"fail\", \"skip\", \"retry\"]},"
    "      \"max_retries\": {\"type\": \"integer\", \"minimum\": 0, \"maximum\": 100, \"default\": 3},"
    "      \"base_delay_ms\": {\"type\": \"number\", \"minimum\": 0, \"default\": 100},"
    "      \"max_delay_ms\": {\"type\": \"number\", \"minimum\": 0, \"default\": 400},"
    "      \"jitter\": {\"type\": \"number\", \"minimum\": 0, \"maximum\": 1, \"default\": 0.25},"
    "      \"circuit_breaker\": {\"anyOf\": [{\"const\": false}, {\"type\": \"object\", \"properties\": {"
    "        \"failure_threshold\": {\"type\": \"integer\", \"minimum\": 1, \"default\": 5},"
    "        \"reset_timeout_ms\": {\"type\": \"number\", \"minimum\": 0, \"default\": 60000},"
    "        \"success_threshold\": {\"type\": \"integer\", \"minimum\": 1, \"default\": 2}}}]}}}]},"
    "  \"node\": {\"type\": \"object\", \"required\": [\"id\", \"node_type\"], \"properties\": {"
    "    \"id\": {\"type\": \"string\", \"pattern\": \"^[A-Za-z0-9_-]+$\"},"
    "    \"params\": {\"type\": [\"object\", \"null\"]},"
    "    \"on_error\": {\"$ref\": \"#/definitions/on_error\"}}}}}";

char *rm_runtime_manifest_schema(const rm_runtime *rt)
{
    json_t *root = json_loads(base_schema, 0, NULL);
    if (!root) return NULL;
    json_t *defs = json_object_get(root, "definitions");
    json_t *node = json_object_get(defs, "node");
    json_t *names = json_array(), *all_of = json_array();
    for (size_t i = 0; i < rm_runtime_node_type_count(rt); i++) {
        const rm_node_type *t = rm_runtime_node_type_at(rt, i);
        json_t *spellings = json_array();
        json_array_append_new(spellings, json_string(t->name));
        for (const char *const *a = t->aliases; a && *a; a++) json_array_append_new(spellings, json_string(*a));
        json_array_extend(names, spellings);
        char key[160], ref[200];
        snprintf(key, sizeof key, "params_%s", t->name);
        snprintf(ref, sizeof ref, "#/definitions/%s", key);
        json_object_set_new(defs, key, params_schema(t));
        json_array_append_new(all_of,
                              json_pack("{s:{s:{s:{s:o}}}, s:{s:{s:{s:s}}}}", "if", "properties", "node_type",
                                        "enum", spellings, "then", "properties", "params", "$ref", ref));
    }
    json_object_set_new(json_object_get(node, "properties"), "node_type", json_pack("{s:o}", "enum", names));
    json_object_set_new(node, "allOf", all_of);
    char *s = rm_json_dumps(root, JSON_INDENT(2));
    json_decref(root);
    return s;
}
