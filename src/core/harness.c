/* One-node test harness over a real session (see remotemedia/harness.h). */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

typedef struct captured {
    rm_frame *frame;
    const char *port;
} captured;

struct rm_harness {
    rm_graph *g;
    rm_session *s;
    captured *items;
    size_t n, cap;
    int oom;
};

static void capture(void *user, const char *node_id, const char *port, const rm_frame *f)
{
    (void)node_id;
    rm_harness *h = user;
    if (h->n == h->cap) {
        size_t cap = h->cap ? h->cap * 2 : 16;
        captured *p = realloc(h->items, cap * sizeof *p);
        if (!p) {
            h->oom = 1;
            return;
        }
        h->items = p;
        h->cap = cap;
    }
    h->items[h->n].frame = rm_frame_ref(f);
    h->items[h->n].port = port;
    h->n++;
}

int rm_harness_new(rm_runtime *rt, const char *node_type, const char *params_json, rm_harness **out,
                   rm_error *err)
{
    *out = NULL;
    json_error_t jerr;
    json_t *params = params_json ? json_loads(params_json, 0, &jerr) : json_object();
    if (!params)
        return rm_error_set(err, RM_EPARAM, "harness", "params are not valid JSON: %s", jerr.text);
    json_t *doc = json_pack("{s:s, s:{s:s}, s:[{s:s, s:s, s:o}], s:[]}", "version", "v1", "metadata", "name",
                            "harness", "nodes", "id", "node", "node_type", node_type ? node_type : "",
                            "params", params, "connections");
    char *text = doc ? json_dumps(doc, 0) : NULL;
    json_decref(doc);
    if (!text) return rm_error_set(err, RM_ENOMEM, NULL, "out of memory");
    rm_harness *h = calloc(1, sizeof *h);
    rm_diags *d = rm_diags_new();
    int rc = h && d ? rm_graph_load_string(rt, text, strlen(text), "harness", NULL, &h->g, d) : RM_ENOMEM;
    free(text);
    if (rc != 0) {
        if (d && rm_diags_count(d)) rm_diags_to_error(d, err);
        else rm_error_set(err, rc, NULL, "%s", rm_strerror(rc));
        rm_diags_free(d);
        free(h);
        return rc;
    }
    rm_diags_free(d);
    rm_session_opts so = {0};
    so.on_output = capture;
    so.output_user = h;
    so.session_id = "harness";
    rc = rm_session_open(h->g, &so, &h->s, err);
    if (rc != 0) {
        rm_graph_unref(h->g);
        free(h);
        return rc;
    }
    *out = h;
    return 0;
}

int rm_harness_push_to(rm_harness *h, const char *port, const rm_frame *f)
{
    int rc = rm_session_push_to(h->s, "node", port, f);
    return rc ? rc : h->oom ? RM_ENOMEM : 0;
}

int rm_harness_push(rm_harness *h, const rm_frame *f) { return rm_harness_push_to(h, NULL, f); }
int rm_harness_end(rm_harness *h) { return rm_session_end(h->s); }
const rm_error *rm_harness_error(const rm_harness *h) { return rm_session_error(h->s); }
size_t rm_harness_output_count(const rm_harness *h) { return h->n; }
const rm_frame *rm_harness_output(const rm_harness *h, size_t i) { return i < h->n ? h->items[i].frame : NULL; }
const char *rm_harness_output_port(const rm_harness *h, size_t i) { return i < h->n ? h->items[i].port : NULL; }
char *rm_harness_metrics_json(const rm_harness *h) { return rm_session_metrics_json(h->s); }

void rm_harness_clear(rm_harness *h)
{
    for (size_t i = 0; i < h->n; i++) rm_frame_unref(h->items[i].frame);
    h->n = 0;
}

void rm_harness_free(rm_harness *h)
{
    if (!h) return;
    rm_session_close(h->s);
    rm_harness_clear(h);
    free(h->items);
    rm_graph_unref(h->g);
    free(h);
}
