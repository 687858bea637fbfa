/* Plugins: the example plugin loads and runs; broken ones are refused with
 * a message naming the file, and leave the registry unchanged. */
#define _POSIX_C_SOURCE 200809L
#include <stdlib.h>

#include <jansson.h>

#include "check.h"
#include "remotemedia/remotemedia.h"

static rm_runtime *new_runtime(void) { return check_runtime_new(RM_LOG_WARN); }

static void test_example_plugin_runs(void)
{
    rm_runtime *rt = new_runtime();
    rm_error e;
    CHECK(rm_runtime_find_node_type(rt, "ClampNode") == NULL);
    CHECK_INT(rm_runtime_load_plugin(rt, RM_PLUGIN_FILE, &e), 0);
    CHECK_INT(rm_runtime_load_plugin(rt, RM_PLUGIN_FILE, &e), 0); /* loading twice is a no-op */
    CHECK(rm_runtime_find_node_type(rt, "ClampNode") != NULL);
    rm_harness *h;
    CHECK_INT(rm_harness_new(rt, "ClampNode", "{\"min\": 0, \"max\": 10}", &h, &e), 0);
    rm_frame *f = rm_frame_new_json_text("[-5, 5, 50]", 11, NULL, 0);
    CHECK_INT(rm_harness_push(h, f), 0);
    char *s = rm_frame_json_dumps(rm_harness_output(h, 0));
    CHECK_STR(s, "[0,5,10]");
    free(s);
    rm_frame_unref(f);
    rm_harness_free(h);
    /* the plugin's params are validated by the same generic code */
    CHECK_INT(rm_harness_new(rt, "ClampNode", "{\"mx\": 1}", &h, &e), RM_EPARAM);
    CHECK_CONTAINS(e.message, "unknown parameter 'mx' for ClampNode; did you mean 'max'?");
    CHECK_INT(rm_harness_new(rt, "ClampNode", "{\"min\": 5, \"max\": 1}", &h, &e), RM_EPARAM);
    CHECK_CONTAINS(e.message, "min (5) is greater than max (1)");
    rm_runtime_free(rt);
}

static void test_broken_plugins(void)
{
    rm_runtime *rt = new_runtime();
    size_t before = rm_runtime_node_type_count(rt);
    rm_error e;
    CHECK_INT(rm_runtime_load_plugin(rt, "/nonexistent/plugin.so", &e), RM_EPLUGIN);
    CHECK_CONTAINS(e.message, "/nonexistent/plugin.so");
    CHECK_INT(rm_runtime_load_plugin(rt, RM_TEST_PLUGIN_DIR "/no_entry.so", &e), RM_EPLUGIN);
    CHECK_CONTAINS(e.message, "no 'rm_plugin_entry' symbol");
    CHECK_INT(rm_runtime_load_plugin(rt, RM_TEST_PLUGIN_DIR "/bad_abi.so", &e), RM_EPLUGIN);
    char want[96];
    snprintf(want, sizeof want, "ABI version %u, this runtime supports %u to %u", RM_NODE_ABI_VERSION + 100,
             RM_NODE_ABI_MIN, RM_NODE_ABI_VERSION);
    CHECK_CONTAINS(e.message, want);
    CHECK_INT(rm_runtime_load_plugin(rt, RM_TEST_PLUGIN_DIR "/clash.so", &e), RM_EPLUGIN);
    CHECK_CONTAINS(e.message, "AddNode is already registered");
    CHECK(rm_runtime_find_node_type(rt, "FreshNode") == NULL); /* all or nothing */
    CHECK_INT(rm_runtime_node_type_count(rt), before);
    /* a text file is not a shared object */
    CHECK_INT(rm_runtime_load_plugin(rt, RM_SOURCE_DIR "/README.md", &e), RM_EPLUGIN);
    rm_runtime_free(rt);
}

static void test_plugin_path(void)
{
    /* a directory on the search path: every *.so in it must load, so a
     * broken one fails the whole runtime creation with its name */
    setenv(RM_PLUGIN_PATH_ENV, "/nonexistent-dir:" RM_TEST_PLUGIN_DIR, 1);
    rm_runtime *rt = NULL;
    rm_error e;
    CHECK_INT(rm_runtime_new_with_builtins(NULL, &rt, &e), RM_EPLUGIN);
    CHECK(rt == NULL);
    CHECK_CONTAINS(e.message, RM_TEST_PLUGIN_DIR);
    unsetenv(RM_PLUGIN_PATH_ENV);
    /* the example plugin's directory loads fine */
    char dir[1024];
    snprintf(dir, sizeof dir, "%s", RM_PLUGIN_FILE);
    *strrchr(dir, '/') = '\0';
    rt = new_runtime();
    CHECK_INT(rm_runtime_load_plugin_dirs(rt, dir, &e), 0);
    CHECK(rm_runtime_find_node_type(rt, "ClampNode") != NULL);
    rm_runtime_free(rt);
}

int main(void)
{
    RUN(test_example_plugin_runs);
    RUN(test_broken_plugins);
    RUN(test_plugin_path);
    return CHECK_DONE();
}
