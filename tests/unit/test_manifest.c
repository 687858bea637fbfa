/* Manifest loading: JSON and YAML give the same tree; syntax errors are
 * reported with file:line:column. */
#include <stdlib.h>

#include <jansson.h>

#include "check.h"
#include "remotemedia/remotemedia.h"

static const char *calc_json =
    "{\n"
    "  \"version\": \"v1\",\n"
    "  \"metadata\": {\"name\": \"calc\"},\n"
    "  \"nodes\": [\n"
    "    {\"id\": \"multiply\", \"node_type\": \"MultiplyNode\", \"params\": {\"factor\": 2}},\n"
    "    {\"id\": \"add\", \"node_type\": \"AddNode\", \"params\": {\"addend\": 10.5, \"on\": true}}\n"
    "  ],\n"
    "  \"connections\": [{\"from\": \"multiply\", \"to\": \"add\"}]\n"
    "}\n";

static const char *calc_yaml =
    "version: v1\n"
    "metadata:\n"
    "  name: calc\n"
    "nodes:\n"
    "  - id: multiply\n"
    "    node_type: MultiplyNode\n"
    "    params: {factor: 2}\n"
    "  - id: add\n"
    "    node_type: AddNode\n"
    "    params:\n"
    "      addend: 10.5\n"
    "      on: true\n"
    "connections:\n"
    "  - {from: multiply, to: add}\n";

static rm_manifest *load(const char *text, rm_manifest_format fmt, rm_diags *d, int *rc)
{
    rm_manifest *m = NULL;
    *rc = rm_manifest_load_string(text, strlen(text), "test.manifest", fmt, &m, d);
    return m;
}

static void test_same_tree(void)
{
    int rc;
    rm_manifest *a = load(calc_json, RM_MANIFEST_AUTO, NULL, &rc);
    CHECK_INT(rc, 0);
    rm_manifest *b = load(calc_yaml, RM_MANIFEST_AUTO, NULL, &rc);
    CHECK_INT(rc, 0);
    CHECK(a && b && json_equal((json_t *)rm_manifest_json(a), (json_t *)rm_manifest_json(b)));
    rm_manifest_free(a);
    rm_manifest_free(b);
}

static void test_positions(void)
{
    int rc, line, col;
    rm_manifest *m = load(calc_yaml, RM_MANIFEST_YAML, NULL, &rc);
    CHECK(rm_manifest_locate(m, "nodes[1].params.addend", &line, &col));
    CHECK_INT(line, 11);
    CHECK_INT(col, 15);
    CHECK(rm_manifest_locate(m, "nodes[0].node_type", &line, &col));
    CHECK_INT(line, 6);
    CHECK(!rm_manifest_locate(m, "nodes[7]", &line, &col));
    rm_manifest_free(m);
    /* JSON documents get positions too */
    m = load(calc_json, RM_MANIFEST_JSON, NULL, &rc);
    CHECK(rm_manifest_locate(m, "nodes[1].params.addend", &line, &col));
    CHECK_INT(line, 6);
    rm_manifest_free(m);
}

static void test_yaml_scalars(void)
{
    int rc;
    rm_manifest *m = load("a: 12\nb: -3.5e2\nc: yes\nd: ~\ne: '12'\nf: 0x1F\ng: true\nh: .5\ni: \"null\"\n",
                          RM_MANIFEST_YAML, NULL, &rc);
    const json_t *r = rm_manifest_json(m);
    CHECK(json_is_integer(json_object_get(r, "a")));
    CHECK(json_is_real(json_object_get(r, "b")));
    CHECK_NEAR(json_real_value(json_object_get(r, "b")), -350.0, 1e-9);
    CHECK(json_is_string(json_object_get(r, "c"))); /* YAML 1.2 core schema: yes is a string */
    CHECK(json_is_null(json_object_get(r, "d")));
    CHECK(json_is_string(json_object_get(r, "e")));
    CHECK_INT(json_integer_value(json_object_get(r, "f")), 31);
    CHECK(json_is_true(json_object_get(r, "g")));
    CHECK(json_is_real(json_object_get(r, "h")));
    CHECK(json_is_string(json_object_get(r, "i")));
    rm_manifest_free(m);
}

static void test_yaml_anchors_and_merge(void)
{
    int rc;
    rm_manifest *m = load("base: &b {factor: 3, x: 1}\n"
                          "node:\n  <<: *b\n  x: 2\n"
                          "copy: *b\n",
                          RM_MANIFEST_YAML, NULL, &rc);
    CHECK_INT(rc, 0);
    const json_t *r = rm_manifest_json(m);
    const json_t *node = json_object_get(r, "node");
    CHECK_INT(json_integer_value(json_object_get(node, "factor")), 3);
    CHECK_INT(json_integer_value(json_object_get(node, "x")), 2); /* own keys win */
    CHECK_INT(json_integer_value(json_object_get(json_object_get(r, "copy"), "x")), 1);
    rm_manifest_free(m);
}

static void expect_parse_error(const char *text, rm_manifest_format fmt, int line, const char *msg)
{
    rm_diags *d = rm_diags_new();
    int rc;
    rm_manifest *m = load(text, fmt, d, &rc);
    CHECK(m == NULL);
    CHECK(rc != 0);
    CHECK_INT(rm_diags_count(d), 1);
    const rm_diag *x = rm_diags_at(d, 0);
    if (x) {
        CHECK_STR(x->file, "test.manifest");
        if (line) CHECK_INT(x->line, line);
        CHECK_CONTAINS(x->message, msg);
    }
    rm_diags_free(d);
}

static void test_syntax_errors(void)
{
    /* truncated JSON */
    expect_parse_error("{\n  \"version\": \"v1\",\n  \"nodes\": [\n", RM_MANIFEST_JSON, 4, "JSON syntax error");
    /* trailing comma */
    expect_parse_error("{\"version\": \"v1\",}", RM_MANIFEST_JSON, 1, "JSON syntax error");
    /* duplicate keys are errors in both syntaxes */
    expect_parse_error("{\"a\": 1, \"a\": 2}", RM_MANIFEST_JSON, 1, "duplicate");
    expect_parse_error("a: 1\nb: 2\na: 3\n", RM_MANIFEST_YAML, 3, "duplicate key 'a'");
    /* YAML errors */
    expect_parse_error("nodes:\n  - id: a\n   node_type: X\n", RM_MANIFEST_YAML, 3, "YAML syntax error");
    expect_parse_error("nodes: [a, b\n", RM_MANIFEST_YAML, 0, "YAML syntax error");
    expect_parse_error("a: *nope\n", RM_MANIFEST_YAML, 1, "unknown YAML alias");
    expect_parse_error("a: 1\n---\nb: 2\n", RM_MANIFEST_YAML, 0, "more than one YAML document");
    expect_parse_error("", RM_MANIFEST_YAML, 0, "empty");
    expect_parse_error("# only a comment\n", RM_MANIFEST_YAML, 0, "empty");
}

static void test_binary_and_encoding(void)
{
    rm_diags *d = rm_diags_new();
    rm_manifest *m = NULL;
    CHECK_INT(rm_manifest_load_string("a: 1\0b", 6, "bin", RM_MANIFEST_YAML, &m, d), RM_EPARSE);
    CHECK_CONTAINS(rm_diags_at(d, 0)->message, "NUL");
    rm_diags_clear(d);
    CHECK_INT(rm_manifest_load_string("a: \xff\n", 5, "enc", RM_MANIFEST_YAML, &m, d), RM_EPARSE);
    CHECK_CONTAINS(rm_diags_at(d, 0)->message, "UTF-8");
    rm_diags_free(d);
}

static void test_missing_file(void)
{
    rm_diags *d = rm_diags_new();
    rm_manifest *m = NULL;
    CHECK_INT(rm_manifest_load_file("/nonexistent/p.yaml", &m, d), RM_EIO);
    CHECK_STR(rm_diags_at(d, 0)->file, "/nonexistent/p.yaml");
    CHECK_CONTAINS(rm_diags_at(d, 0)->message, "No such file");
    rm_diags_free(d);
}

static void test_diag_format(void)
{
    rm_diags *d = rm_diags_new();
    rm_manifest *m = NULL;
    rm_manifest_load_string("{\"a\": }", 7, "p.json", RM_MANIFEST_JSON, &m, d);
    char buf[256];
    rm_diag_format(rm_diags_at(d, 0), buf, sizeof buf);
    CHECK(strncmp(buf, "p.json:1:", 9) == 0);
    CHECK_CONTAINS(buf, "error: JSON syntax error");
    char *all = rm_diags_to_string(d);
    CHECK(all && all[strlen(all) - 1] == '\n');
    free(all);
    rm_error e;
    rm_diags_to_error(d, &e);
    CHECK_INT(e.code, RM_EPARSE);
    CHECK_CONTAINS(e.message, "p.json:1:");
    rm_diags_free(d);
}

int main(void)
{
    RUN(test_same_tree);
    RUN(test_positions);
    RUN(test_yaml_scalars);
    RUN(test_yaml_anchors_and_merge);
    RUN(test_syntax_errors);
    RUN(test_binary_and_encoding);
    RUN(test_missing_file);
    RUN(test_diag_format);
    return CHECK_DONE();
}
