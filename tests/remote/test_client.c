/* The C client API (remotemedia/client.h) against a running rmedia serve:
 * unary execute, stream push/poll/close by callback, cancel, health,
 * version, and errors naming the endpoint and the node.
 * Usage: test_client HOST:PORT  (tests/remote/test_remote.py starts the server) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "remotemedia/client.h"

static int failures;
#define CHECK(c)                                                              \
    do {                                                                      \
        if (!(c)) {                                                           \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #c); \
            failures++;                                                       \
        }                                                                     \
    } while (0)

static const char calc[] =
    "{\"version\":\"v1\",\"metadata\":{\"name\":\"calc\"},"
    "\"nodes\":[{\"id\":\"multiply\",\"node_type\":\"MultiplyNode\",\"params\":{\"multiplier\":2}},"
    "{\"id\":\"add\",\"node_type\":\"AddNode\",\"params\":{\"addend\":10}}],"
    "\"connections\":[{\"from\":\"multiply\",\"to\":\"add\"}]}";

static rm_frame *num(int v)
{
    char t[32];
    snprintf(t, sizeof t, "%d", v);
    return rm_frame_new_json_text(t, strlen(t), NULL, 0);
}

static int value_of(const rm_frame *f)
{
    char *s = rm_frame_json_dumps(f);
    int v = s ? atoi(s) : -1;
    free(s);
    return v;
}

static int sum_cb;
static void on_out(void *user, const rm_client_output *o)
{
    (void)user;
    if (!strcmp(o->node_id, "add")) sum_cb += value_of(o->frame);
}

int main(int argc, char **argv)
{
    if (argc != 2) return fprintf(stderr, "usage: test_client HOST:PORT\n"), 2;
    const char *addr = argv[1];
    rm_client *c;
    rm_error err;
    rm_client_opts o = {.deadline_s = 20};
    CHECK(rm_client_connect(addr, &o, &c, &err) == 0);
    CHECK(!strcmp(rm_client_address(c), addr));

    int serving = 0;
    CHECK(rm_client_health(c, "", &serving, &err) == 0 && serving);
    char *v = NULL;
    CHECK(rm_client_version(c, &v, &err) == 0 && v && strstr(v, "\"MultiplyNode\""));
    free(v);

    /* unary */
    rm_frame *in = num(5);
    const char *ids[] = {"multiply"};
    const rm_frame *frames[] = {in};
    rm_client_result res;
    CHECK(rm_client_execute(c, calc, ids, frames, 1, &res, &err) == 0);
    CHECK(res.n_outputs == 1 && !strcmp(res.outputs[0].node_id, "add") && value_of(res.outputs[0].frame) == 20);
    CHECK(res.metrics_json != NULL);
    rm_client_result_free(&res);

    /* unary: a node error names the endpoint and the node */
    rm_frame *text = rm_frame_new_json_text("\"x\"", 3, NULL, 0);
    const rm_frame *bad[] = {text};
    memset(&err, 0, sizeof err);
    int rc = rm_client_execute(c, calc, ids, bad, 1, &res, &err);
    if (rc) {
        CHECK(strstr(err.message, addr) != NULL);
    } else {
        rm_client_result_free(&res); /* the calculator may pass text through: not an error then */
    }
    rm_frame_unref(text);
    /* a manifest that is not JSON */
    CHECK(rm_client_execute(c, "{nope", ids, frames, 1, &res, &err) == RM_EMANIFEST && strstr(err.message, addr));
    /* an unknown node type: validation error from the server */
    CHECK(rm_client_execute(c,
                            "{\"version\":\"v1\",\"nodes\":[{\"id\":\"n\",\"node_type\":\"NoSuchNode\"}],"
                            "\"connections\":[]}",
                            (const char *[]){"n"}, frames, 1, &res, &err) != 0 &&
          strstr(err.message, addr) && strstr(err.message, "NoSuchNode"));

    /* stream: push, poll, close with the rest by callback */
    rm_client_stream *s;
    CHECK(rm_client_stream_open(c, calc, &s, &err) == 0);
    int polled = 0;
    for (int i = 0; i < 10; i++) {
        rm_frame *f = num(i);
        CHECK(rm_client_stream_push(s, "multiply", f, (unsigned long long)i, &err) == 0);
        rm_frame_unref(f);
        rm_client_output out;
        while (rm_client_stream_poll(s, 0, &out, &err) == 1) {
            polled += value_of(out.frame);
            CHECK(!strcmp(out.node_id, "add"));
            CHECK(out.port && !strcmp(out.port, "out")); /* the server names the sink's port */
            rm_client_output_clear(&out);
        }
    }
    char *metrics = NULL;
    sum_cb = 0;
    CHECK(rm_client_stream_close(s, on_out, NULL, &metrics, &err) == 0);
    CHECK(polled + sum_cb == 2 * 45 + 10 * 10); /* every output exactly once */
    free(metrics);
    CHECK(rm_client_stream_push(s, "multiply", in, 99, &err) == RM_ESTATE);
    rm_client_stream_free(s);

    /* stream: cancel, then free */
    CHECK(rm_client_stream_open(c, calc, &s, &err) == 0);
    CHECK(rm_client_stream_push(s, "multiply", in, 0, &err) == 0);
    rm_client_stream_cancel(s);
    rm_client_output out;
    int r;
    while ((r = rm_client_stream_poll(s, 5, &out, &err)) == 1) rm_client_output_clear(&out);
    CHECK(r == RM_ECANCELED && strstr(err.message, addr));
    rm_client_stream_free(s);

    /* stream: a bad manifest is reported by open, naming the endpoint */
    CHECK(rm_client_stream_open(c, "{\"version\":\"v1\",\"nodes\":[{\"id\":\"n\",\"node_type\":\"NoSuchNode\"}]}", &s,
                                &err) != 0 &&
          strstr(err.message, addr));
    rm_client_stream_free(s);

    rm_frame_unref(in);
    rm_client_free(c);

    /* mTLS needs both halves */
    rm_client_opts half = {.tls_cert = "x.pem"};
    CHECK(rm_client_connect(addr, &half, &c, &err) == RM_EINVAL && strstr(err.message, addr));
    rm_client_opts missing = {.tls_ca = "/nonexistent/ca.pem"};
    CHECK(rm_client_connect(addr, &missing, &c, &err) == RM_EIO && strstr(err.message, "/nonexistent/ca.pem"));
    CHECK(rm_client_connect("", NULL, &c, &err) == RM_EINVAL);

    if (failures) fprintf(stderr, "test_client: %d checks failed\n", failures);
    else printf("test_client: all checks passed\n");
    return failures ? 1 : 0;
}
