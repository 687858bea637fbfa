/*
 * TextProcessorNode: runs a list of text operations (REFERENCE.md §4.5).
 *
 * Input: {"text": "...", "operations": [...]} (the request's operations win)
 * or a text frame (the `operations` param applies).  Output:
 *   {"original_text", "operations", "results": {op: value}, "processed_by"}
 * Operations work on Unicode code points, not bytes.
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "remotemedia/node.h"
#include "utf8.h"

static const char *const operations[] = {"uppercase",  "lowercase",     "reverse",    "word_count",
                                         "char_count", "title_case",    "remove_spaces", "first_word",
                                         "last_word",  NULL};

typedef struct text_processor_config {
    const char *const *operations;
} text_processor_config;

typedef char *(*str_fn)(const char *s, size_t len);

/* Maps every code point through fn. */
static char *map_chars(const char *s, size_t len, uint32_t (*fn)(uint32_t))
{
    char *out = malloc(len * 2 + 1), *o = out;
    if (!out) return NULL;
    for (size_t i = 0; i < len;) o += rm__utf8_put(fn(rm__utf8_next(s, &i)), o);
    *o = '\0';
    return out;
}

static char *op_upper(const char *s, size_t len) { return map_chars(s, len, rm__utf8_upper); }
static char *op_lower(const char *s, size_t len) { return map_chars(s, len, rm__utf8_lower); }

static char *op_reverse(const char *s, size_t len)
{
    char *out = malloc(len + 1);
    if (!out) return NULL;
    size_t o = len;
    for (size_t i = 0; i < len;) {
        size_t start = i;
        rm__utf8_next(s, &i);
        o -= i - start;
        memcpy(out + o, s + start, i - start);
    }
    out[len] = '\0';
    return out;
}

/* Title case as Python's str.title(): a letter after a non-letter is upper
 * case, every other letter lower case. */
static char *op_title(const char *s, size_t len)
{
    char *out = malloc(len * 2 + 1), *o = out;
    if (!out) return NULL;
    int prev_alpha = 0;
    for (size_t i = 0; i < len;) {
        uint32_t c = rm__utf8_next(s, &i);
        int alpha = rm__utf8_is_alpha(c);
        o += rm__utf8_put(alpha ? (prev_alpha ? rm__utf8_lower(c) : rm__utf8_upper(c)) : c, o);
        prev_alpha = alpha;
    }
    *o = '\0';
    return out;
}

static char *op_remove_spaces(const char *s, size_t len)
{
    char *out = malloc(len + 1), *o = out;
    if (!out) return NULL;
    for (size_t i = 0; i < len; i++)
        if (s[i] != ' ') *o++ = s[i];
    *o = '\0';
    return out;
}

/* Splits on Unicode whitespace; calls fn(start, len) per word. */
static size_t for_words(const char *s, size_t len, const char **first, size_t *first_len,
                        const char **last, size_t *last_len)
{
    size_t count = 0, i = 0;
    while (i < len) {
        size_t start = i;
        uint32_t c = rm__utf8_next(s, &i);
        if (rm__utf8_is_space(c)) continue;
        size_t end = i;
        while (i < len) {
            size_t j = i;
            if (rm__utf8_is_space(rm__utf8_next(s, &j))) break;
            i = end = j;
        }
        if (count == 0 && first) *first = s + start, *first_len = end - start;
        if (last) *last = s + start, *last_len = end - start;
        count++;
    }
    return count;
}

static json_t *run_op(const char *op, const char *s, size_t len)
{
    static const struct {
        const char *name;
        str_fn fn;
    } string_ops[] = {{"uppercase", op_upper},  {"lowercase", op_lower},
                      {"reverse", op_reverse},  {"title_case", op_title},
                      {"remove_spaces", op_remove_spaces}};
    for (size_t k = 0; k < sizeof string_ops / sizeof string_ops[0]; k++) {
        if (strcmp(op, string_ops[k].name) != 0) continue;
        char *r = string_ops[k].fn(s, len);
        json_t *v = r ? json_string(r) : NULL;
        free(r);
        return v;
    }
    const char *first = "", *last = "";
    size_t fl = 0, ll = 0;
    size_t words = for_words(s, len, &first, &fl, &last, &ll);
    if (!strcmp(op, "word_count")) return json_integer((json_int_t)words);
    if (!strcmp(op, "first_word")) return json_stringn(first, fl);
    if (!strcmp(op, "last_word")) return json_stringn(last, ll);
    if (!strcmp(op, "char_count")) {
        size_t n = 0;
        for (size_t i = 0; i < len; n++) rm__utf8_next(s, &i);
        return json_integer((json_int_t)n);
    }
    return NULL;
}

static int valid_op(const char *op)
{
    for (int i = 0; operations[i]; i++)
        if (!strcmp(operations[i], op)) return 1;
    return 0;
}

static int text_processor_process(rm_node *node, void *state, unsigned port, const rm_frame *f)
{
    (void)state;
    (void)port;
    const text_processor_config *cfg = rm_node_config(node);
    const char *text;
    size_t len;
    json_t *ops = NULL;
    if (f->kind == RM_FRAME_TEXT) {
        text = f->u.text.data;
        len = f->u.text.len;
    } else {
        const json_t *req = f->u.json.value;
        const json_t *t = json_object_get(req, "text");
        if (!json_is_string(t))
            return rm_node_fail(node, RM_EINVAL, "expects {\"text\": \"...\", \"operations\": [...]} or a text frame");
        text = json_string_value(t);
        len = json_string_length(t);
        const json_t *req_ops = json_object_get(req, "operations");
        if (req_ops && !json_is_array(req_ops))
            return rm_node_fail(node, RM_EINVAL, "\"operations\" must be a list of operation names");
        if (req_ops) ops = json_incref((json_t *)req_ops);
    }
    if (!ops) {
        ops = json_array();
        for (const char *const *o = cfg->operations; o && *o; o++) json_array_append_new(ops, json_string(*o));
    }
    size_t i;
    json_t *op;
    json_array_foreach(ops, i, op)
    {
        if (!json_is_string(op) || !valid_op(json_string_value(op))) {
            json_decref(ops);
            return rm_node_fail(node, RM_EINVAL,
                                "operations[%zu]: unknown operation %s%s%s (valid: uppercase, lowercase, "
                                "reverse, word_count, char_count, title_case, remove_spaces, first_word, last_word)",
                                i, json_is_string(op) ? "'" : "", json_is_string(op) ? json_string_value(op) : "(not a string)",
                                json_is_string(op) ? "'" : "");
        }
    }
    json_t *results = json_object();
    json_array_foreach(ops, i, op) json_object_set_new(results, json_string_value(op), run_op(json_string_value(op), text, len));
    char by[128];
    snprintf(by, sizeof by, "TextProcessorNode[%s]", rm_node_id(node));
    json_t *res = json_pack("{s:s%, s:o, s:o, s:s}", "original_text", text, len, "operations", ops,
                            "results", results, "processed_by", by);
    rm_frame *out = res ? rm_frame_new_json(res) : NULL;
    if (!out || rm_frame_copy_props(out, f) != 0) {
        rm_frame_unref(out);
        return rm_node_fail(node, RM_ENOMEM, "out of memory");
    }
    return rm_node_emit_take(node, 0, out);
}

static const rm_param_def text_processor_params[] = {
    {.name = "operations", .type = RM_PARAM_STRING_LIST,
     .offset = offsetof(text_processor_config, operations),
     .doc = "operations for inputs that do not list their own", .def_str = "uppercase",
     .enum_values = operations, .min = 1, .max = 64, .flags = RM_PARAM_RUNTIME},
    {0},
};

static const rm_port_def text_processor_in[] = {
    {"in", RM_KIND_BIT(RM_FRAME_JSON) | RM_KIND_BIT(RM_FRAME_TEXT),
     "{\"text\", \"operations\"} request, or plain text"},
    {0}};
static const rm_port_def text_processor_out[] = {
    {"out", RM_KIND_BIT(RM_FRAME_JSON), "{\"original_text\", \"operations\", \"results\", \"processed_by\"}"},
    {0}};

const rm_node_type rm__node_text_processor = {
    .abi_version = RM_NODE_ABI_VERSION,
    .name = "TextProcessorNode",
    .doc = "Runs text operations (uppercase, word_count, reverse, …) and returns every result",
    .family = "text",
    .inputs = text_processor_in,
    .outputs = text_processor_out,
    .params = text_processor_params,
    .config_size = sizeof(text_processor_config),
    .process = text_processor_process,
    .example = "- id: words\n  node_type: TextProcessorNode\n  params: { operations: [uppercase, word_count] }\n",
};
