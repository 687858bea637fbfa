/* Built-in core, math and text nodes, each driven alone through the harness. */
#include <stdlib.h>

#include <jansson.h>

#include "check.h"
#include "remotemedia/remotemedia.h"

static rm_runtime *rt;

static rm_harness *harness(const char *type, const char *params)
{
    rm_harness *h = NULL;
    rm_error e;
    int rc = rm_harness_new(rt, type, params, &h, &e);
    if (rc) fprintf(stderr, "harness %s: %s\n", type, e.message);
    return h;
}

/* Pushes JSON text; returns the push status. */
static int push_json(rm_harness *h, const char *text)
{
    rm_frame *f = rm_frame_new_json_text(text, strlen(text), NULL, 0);
    int rc = rm_harness_push(h, f);
    rm_frame_unref(f);
    return rc;
}

static int push_text(rm_harness *h, const char *text)
{
    rm_frame *f = rm_frame_new_text(text, strlen(text));
    int rc = rm_harness_push(h, f);
    rm_frame_unref(f);
    return rc;
}

/* Output i as compact JSON (text frames as JSON strings); caller frees. */
static char *out(rm_harness *h, size_t i)
{
    const rm_frame *f = rm_harness_output(h, i);
    return f ? rm_frame_json_dumps(f) : NULL;
}

#define CHECK_OUT(h, i, expected)   \
    do {                            \
        char *s_ = out(h, i);       \
        CHECK_STR(s_, expected);    \
        free(s_);                   \
    } while (0)

static void test_passthrough(void)
{
    rm_harness *h = harness("PassThrough", NULL);
    rm_frame *f = rm_frame_new_binary("xyz", 3);
    CHECK_INT(rm_harness_push(h, f), 0);
    CHECK(rm_harness_output(h, 0) == f);
    rm_frame_unref(f);
    rm_harness_free(h);
}

static void test_multiply_add(void)
{
    rm_harness *h = harness("MultiplyNode", "{\"multiplier\": 2}");
    push_json(h, "5");
    push_json(h, "[1, 2.5, \"x\", null]");
    push_json(h, "{\"a\": 1}"); /* passes through */
    push_text(h, "hello");     /* passes through */
    push_json(h, "0.1");
    CHECK_OUT(h, 0, "10");
    CHECK_OUT(h, 1, "[2,5,\"x\",null]");
    CHECK_OUT(h, 2, "{\"a\":1}");
    CHECK_OUT(h, 3, "\"hello\"");
    CHECK_OUT(h, 4, "0.2"); /* the shortest text that reads back as the same double */
    rm_harness_free(h);
    h = harness("MultiplyNode", NULL); /* default factor 2 */
    push_json(h, "21");
    CHECK_OUT(h, 0, "42");
    rm_harness_free(h);
    /* results that JSON cannot hold are errors, not silent pass-through */
    h = harness("MultiplyNode", "{\"factor\": 10}");
    CHECK_INT(push_json(h, "1e308"), RM_ENODE);
    CHECK_CONTAINS(rm_harness_error(h)->message, "the result is not a finite number");
    rm_harness_free(h);
    h = harness("MultiplyNode", "{\"factor\": 10}");
    CHECK_INT(push_json(h, "[1, 1e308]"), RM_ENODE);
    CHECK_CONTAINS(rm_harness_error(h)->message, "item 1: the result is not a finite number");
    rm_harness_free(h);
    h = harness("AddNode", "{\"addend\": -0.5}");
    push_json(h, "[1, 2]");
    CHECK_OUT(h, 0, "[0.5,1.5]");
    rm_harness_free(h);
    rm_error e;
    CHECK_INT(rm_harness_new(rt, "AddNode", "{\"addend\": \"1\"}", &h, &e), RM_EPARAM);
    CHECK_CONTAINS(e.message, "expected a number");
}

static void test_calculator(void)
{
    rm_harness *h = harness("CalculatorNode", NULL);
    CHECK_INT(push_json(h, "{\"operation\": \"add\", \"operands\": [2, 3]}"), 0);
    CHECK_OUT(h, 0, "{\"result\":5,\"operation\":\"add\",\"operands\":[2,3]}");
    CHECK_INT(push_json(h, "{\"operation\": \"divide\", \"args\": [1, 4]}"), 0);
    CHECK_OUT(h, 1, "{\"result\":0.25,\"operation\":\"divide\",\"operands\":[1,4]}");
    CHECK_INT(push_json(h, "{\"operation\": \"power\", \"operands\": [2, 10]}"), 0);
    CHECK_OUT(h, 2, "{\"result\":1024,\"operation\":\"power\",\"operands\":[2,10]}");
    rm_harness_free(h);

    static const struct {
        const char *in, *msg;
        int code;
    } bad[] = {
        {"{\"operands\": [1, 2]}", "needs \"operation\"", RM_EINVAL},
        {"{\"operation\": \"sqrt\", \"operands\": [1, 2]}", "unknown operation 'sqrt'", RM_EINVAL},
        {"{\"operation\": \"add\"}", "needs \"operands\"", RM_EINVAL},
        {"{\"operation\": \"add\", \"operands\": [1]}", "exactly 2 numbers, got 1", RM_EINVAL},
        {"{\"operation\": \"add\", \"operands\": [1, \"2\"]}", "must be numbers", RM_EINVAL},
        {"{\"operation\": \"divide\", \"operands\": [1, 0]}", "division by zero", RM_ENODE},
        {"{\"operation\": \"modulo\", \"operands\": [1, 0]}", "modulo by zero", RM_ENODE},
        {"{\"operation\": \"power\", \"operands\": [10, 400]}", "not a finite number", RM_ENODE},
        {"{\"operation\": \"multiply\", \"operands\": [1e308, 10]}", "not a finite number", RM_ENODE},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        h = harness("CalculatorNode", NULL);
        CHECK_INT(push_json(h, bad[i].in), bad[i].code);
        CHECK_CONTAINS(rm_harness_error(h)->message, bad[i].msg);
        CHECK_INT(rm_harness_output_count(h), 0);
        rm_harness_free(h);
    }
    /* bare numbers use the params (the JSON-era CalculatorNode) */
    h = harness("CalculatorNode", "{\"operation\": \"multiply\", \"operand\": 5}");
    push_json(h, "[10, 20, 30]");
    CHECK_OUT(h, 0, "[50,100,150]");
    rm_harness_free(h);
}

static void test_text_processor(void)
{
    rm_harness *h = harness("TextProcessorNode", NULL);
    CHECK_INT(push_json(h, "{\"text\": \"Hello WASM\", \"operations\": [\"uppercase\", \"word_count\", \"reverse\", "
                           "\"char_count\", \"title_case\", \"remove_spaces\", \"first_word\", \"last_word\", "
                           "\"lowercase\"]}"),
              0);
    const rm_frame *f = rm_harness_output(h, 0);
    json_t *r = json_object_get(f->u.json.value, "results");
    CHECK_STR(json_string_value(json_object_get(r, "uppercase")), "HELLO WASM");
    CHECK_INT(json_integer_value(json_object_get(r, "word_count")), 2);
    CHECK_STR(json_string_value(json_object_get(r, "reverse")), "MSAW olleH");
    CHECK_INT(json_integer_value(json_object_get(r, "char_count")), 10);
    CHECK_STR(json_string_value(json_object_get(r, "title_case")), "Hello Wasm");
    CHECK_STR(json_string_value(json_object_get(r, "remove_spaces")), "HelloWASM");
    CHECK_STR(json_string_value(json_object_get(r, "first_word")), "Hello");
    CHECK_STR(json_string_value(json_object_get(r, "last_word")), "WASM");
    CHECK_STR(json_string_value(json_object_get(f->u.json.value, "original_text")), "Hello WASM");
    CHECK_STR(json_string_value(json_object_get(f->u.json.value, "processed_by")), "TextProcessorNode[node]");
    /* Unicode: code points, not bytes */
    CHECK_INT(push_json(h, "{\"text\": \"Ünïcödé straße\", \"operations\": [\"uppercase\", \"char_count\", \"reverse\"]}"), 0);
    r = json_object_get(rm_harness_output(h, 1)->u.json.value, "results");
    CHECK_STR(json_string_value(json_object_get(r, "uppercase")), "ÜNÏCÖDÉ STRAßE");
    CHECK_INT(json_integer_value(json_object_get(r, "char_count")), 14);
    CHECK_STR(json_string_value(json_object_get(r, "reverse")), "eßarts édöcïnÜ");
    /* a text frame uses the param's operations (default: uppercase) */
    CHECK_INT(push_text(h, "mixed Case"), 0);
    r = json_object_get(rm_harness_output(h, 2)->u.json.value, "results");
    CHECK_STR(json_string_value(json_object_get(r, "uppercase")), "MIXED CASE");
    /* bad requests */
    CHECK_INT(push_json(h, "{\"text\": \"x\", \"operations\": [\"shout\"]}"), RM_EINVAL);
    CHECK_CONTAINS(rm_harness_error(h)->message, "unknown operation 'shout'");
    rm_harness_free(h);
    h = harness("TextProcessorNode", NULL);
    CHECK_INT(push_json(h, "{\"txt\": \"x\"}"), RM_EINVAL);
    rm_harness_free(h);
}

/* Feeds `text` to a TextCollectorNode in pieces of `chunk` bytes (never
 * splitting a UTF-8 sequence) and returns the sentences joined by '|'. */
static char *collect(const char *params, const char *text, size_t chunk)
{
    rm_harness *h = harness("TextCollectorNode", params);
    size_t len = strlen(text);
    for (size_t i = 0; i < len;) {
        size_t n = chunk < len - i ? chunk : len - i;
        while (i + n < len && ((unsigned char)text[i + n] & 0xC0) == 0x80) n++;
        rm_frame *f = rm_frame_new_text(text + i, n);
        rm_harness_push(h, f);
        rm_frame_unref(f);
        i += n;
    }
    rm_harness_end(h);
    char *res = calloc(1, len * 2 + 64);
    for (size_t i = 0; i < rm_harness_output_count(h); i++) {
        if (i) strcat(res, "|");
        strcat(res, rm_harness_output(h, i)->u.text.data);
    }
    rm_harness_free(h);
    return res;
}

static void test_text_collector(void)
{
    const char *text = "Hello there. Mr. Smith paid $3.50 at example.com today! Did he? \"Yes,\" she said. "
                       "J. K. Rowling wrote it... wait, what? Ok. The end";
    const char *expected = "Hello there.|Mr. Smith paid $3.50 at example.com today!|Did he?|\"Yes,\" she said.|"
                           "J. K. Rowling wrote it... wait, what?|Ok.|The end";
    /* the same sentences whatever the chunking */
    for (size_t chunk = 1; chunk <= 40; chunk++) {
        char *got = collect(NULL, text, chunk);
        CHECK_STR(got, expected);
        free(got);
    }
    /* short sentences merge into the next instead of being dropped */
    char *got = collect("{\"min_sentence_length\": 8}", "Hi. How are you? Fine.", 3);
    CHECK_STR(got, "Hi. How are you?|Fine.");
    free(got);
    /* newlines end sentences; runs of marks stay together */
    got = collect(NULL, "Line one\nReally?! Yes\n", 5);
    CHECK_STR(got, "Line one|Really?!|Yes");
    free(got);
    /* the original's regex-style split_pattern */
    got = collect("{\"split_pattern\": \"[,\\\\n]+\"}", "a b, c d, e", 2);
    CHECK_STR(got, "a b,|c d,|e");
    free(got);
    /* no partial at end when disabled */
    got = collect("{\"yield_partial_on_end\": false}", "Done. Unfinished", 4);
    CHECK_STR(got, "Done.");
    free(got);
    /* markers flush and pass through, wherever the pieces split them */
    for (size_t chunk = 1; chunk <= 30; chunk++) {
        got = collect(NULL, "Say this<|text_end|>next one. <|audio_end|>", chunk);
        CHECK_STR(got, "Say this|<|text_end|>|next one.|<|audio_end|>");
        free(got);
    }
    got = collect(NULL, "a < b <| c", 1); /* marker-like text that is not one */
    CHECK_STR(got, "a < b <| c");
    free(got);
    /* other frames pass through untouched */
    rm_harness *h = harness("TextCollectorNode", NULL);
    push_json(h, "[1]");
    CHECK_INT(rm_harness_output_count(h), 1);
    rm_harness_free(h);
    /* a boundary set with no usable character fails at init */
    rm_error e;
    CHECK_INT(rm_harness_new(rt, "TextCollectorNode", "{\"boundaries\": \"   \"}", &h, &e), RM_EPARAM);
    CHECK_CONTAINS(e.message, "names no boundary character");
}

static void test_node_examples_validate(void)
{
    /* every node type's documented example is a valid manifest entry */
    for (size_t i = 0; i < rm_runtime_node_type_count(rt); i++) {
        const rm_node_type *t = rm_runtime_node_type_at(rt, i);
        CHECK(t->example != NULL);
        if (!t->example) continue;
        char yaml[2048];
        snprintf(yaml, sizeof yaml, "version: v1\nnodes:\n%s", t->example);
        /* indent is part of the example; re-indent each line by 2 */
        char indented[4096] = "version: v1\nnodes:\n";
        for (const char *p = t->example; *p;) {
            const char *nl = strchr(p, '\n');
            size_t len = nl ? (size_t)(nl - p + 1) : strlen(p);
            strcat(indented, "  ");
            strncat(indented, p, len);
            p += len;
        }
        rm_diags *d = rm_diags_new();
        rm_graph *g = NULL;
        int rc = rm_graph_load_string(rt, indented, strlen(indented), t->name, NULL, &g, d);
        if (rc) {
            char *s = rm_diags_to_string(d);
            fprintf(stderr, "example of %s:\n%s%s", t->name, indented, s);
            free(s);
        }
        CHECK_INT(rc, 0);
        rm_graph_unref(g);
        rm_diags_free(d);
    }
}

/* Node errors are checked through the API; keep the log quiet. */
static void quiet(void *user, rm_log_level level, const char *node, const char *msg)
{
    (void)user, (void)level, (void)node, (void)msg;
}

int main(void)
{
    rm_runtime_opts o;
    rm_runtime_opts_init(&o);
    o.flags = RM_RUNTIME_NO_ENV_PLUGINS;
    o.log_fn = quiet;
    rm_error e;
    if (rm_runtime_new_with_builtins(&o, &rt, &e) != 0) return 1;
    RUN(test_passthrough);
    RUN(test_multiply_add);
    RUN(test_calculator);
    RUN(test_text_processor);
    RUN(test_text_collector);
    RUN(test_node_examples_validate);
    rm_runtime_free(rt);
    return CHECK_DONE();
}
