/* Descriptions and the JSON Schema come from the same param tables that
 * validate manifests. */
#include <stdlib.h>

#include <jansson.h>

#include "check.h"
#include "remotemedia/remotemedia.h"

static rm_runtime *rt;

static void test_describe_multiply(void)
{
    char *s = rm_node_type_describe_json(rm_runtime_find_node_type(rt, "MultiplyNode"));
    json_t *d = json_loads(s, 0, NULL);
    CHECK(d != NULL);
    CHECK_STR(json_string_value(json_object_get(d, "name")), "MultiplyNode");
    CHECK_STR(json_string_value(json_object_get(d, "family")), "math");
    json_t *p = json_array_get(json_object_get(d, "params"), 0);
    CHECK_STR(json_string_value(json_object_get(p, "name")), "factor");
    CHECK_STR(json_string_value(json_object_get(p, "type")), "float");
    CHECK_NEAR(json_number_value(json_object_get(p, "default")), 2.0, 0);
    CHECK(json_is_true(json_object_get(p, "runtime")));
    CHECK_STR(json_string_value(json_array_get(json_object_get(p, "aliases"), 0)), "multiplier");
    json_t *in = json_array_get(json_object_get(d, "inputs"), 0);
    CHECK_STR(json_string_value(json_object_get(in, "name")), "in");
    json_decref(d);
    free(s);
}

static void test_every_type_describes(void)
{
    for (size_t i = 0; i < rm_runtime_node_type_count(rt); i++) {
        const rm_node_type *t = rm_runtime_node_type_at(rt, i);
        char *s = rm_node_type_describe_json(t);
        json_t *d = s ? json_loads(s, 0, NULL) : NULL;
        CHECK(d != NULL);
        CHECK(t->doc && *t->doc);
        /* each param has a doc line */
        size_t k;
        json_t *p;
        json_array_foreach(json_object_get(d, "params"), k, p)
            CHECK(strlen(json_string_value(json_object_get(p, "doc"))) > 0);
        json_decref(d);
        free(s);
    }
}

static void test_schema(void)
{
    char *s = rm_runtime_manifest_schema(rt);
    json_t *sc = json_loads(s, 0, NULL);
    CHECK(sc != NULL);
    CHECK_STR(json_string_value(json_object_get(sc, "$schema")), "http://json-schema.org/draft-07/schema#");
    json_t *defs = json_object_get(sc, "definitions");
    json_t *names = json_object_get(json_object_get(json_object_get(json_object_get(defs, "node"), "properties"),
                                                    "node_type"),
                                    "enum");
    int found = 0;
    size_t i;
    json_t *n;
    json_array_foreach(names, i, n) found += !strcmp(json_string_value(n), "MultiplyNode") ||
                                            !strcmp(json_string_value(n), "PassThroughNode");
    CHECK_INT(found, 2);
    json_t *mp = json_object_get(json_object_get(defs, "params_MultiplyNode"), "properties");
    CHECK(json_object_get(mp, "factor") != NULL);
    CHECK(json_object_get(mp, "multiplier") != NULL);
    json_t *tp = json_object_get(json_object_get(defs, "params_TextCollectorNode"), "properties");
    CHECK(json_object_get(tp, "minSentenceLength") != NULL); /* camelCase spelling */
    CHECK_INT(json_integer_value(json_object_get(json_object_get(tp, "min_sentence_length"), "minimum")), 0);
    json_decref(sc);
    free(s);
}

int main(void)
{
    if (!(rt = check_runtime_new(RM_LOG_WARN))) return 1;
    RUN(test_describe_multiply);
    RUN(test_every_type_describes);
    RUN(test_schema);
    rm_runtime_free(rt);
    return CHECK_DONE();
}
