/* rmedia remote run|stream|version|health: the same run as `rmedia run`,
 * executed on a remotemedia.v1 server through the C client. */
#define _POSIX_C_SOURCE 200809L
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cli.h"
#include "remotemedia/client.h"

static const char remote_help[] =
    "Usage: rmedia remote COMMAND --server HOST:PORT [OPTIONS]\n"
    "\n"
    "Commands:\n"
    "  run MANIFEST [RUN OPTIONS]  like 'rmedia run', executed on the server\n"
    "  stream MANIFEST -i AUDIO    live audio paced in real time (file or '-')\n"
    "  version                     the server's version and node types (JSON)\n"
    "  health                      exit 0 when the server is SERVING\n"
    "\n"
    "Connection options (before or after the command's own):\n"
    "  --server HOST:PORT   the server (required)\n"
    "  --token TOKEN        bearer token (default: $REMOTEMEDIA_TOKEN)\n"
    "  --tls                use TLS with the system's roots\n"
    "  --tls-ca FILE        trust this CA (PEM); implies TLS\n"
    "  --tls-cert FILE --tls-key FILE  client certificate for mTLS\n"
    "  --deadline SECONDS   per call / per wait for outputs (default 30)\n";

/* ------------------------------------------------------ remote backend --- */

typedef struct remote_sess {
    rm_client *client;
    rm_client_stream *stream;
    rm_graph *graph;
    rm_output_fn on_output;
    void *output_user;
    rm_error err;
    rm_output *outs; /* collect mode */
    size_t n_outs;
    char *metrics;
    unsigned long long seq;
} remote_sess;

/* The wire keys outputs by sink only: the port is the first of the sink's
 * output ports whose compiled caps take the frame's kind. */
static const char *sink_port(const remote_sess *r, const char *node, const rm_frame *f)
{
    int idx = rm_graph_node_index(r->graph, node);
    const rm_node_type *t = idx >= 0 ? rm_graph_node_type(r->graph, (size_t)idx) : NULL;
    if (!t || !t->outputs || !t->outputs[0].name) return "out";
    for (unsigned p = 0; t->outputs[p].name; p++) {
        const rm_caps *c = rm_graph_output_caps(r->graph, (size_t)idx, p);
        uint32_t kinds = c ? c->kinds : t->outputs[p].kinds;
        if (!kinds || (kinds & RM_KIND_BIT(f->kind))) return t->outputs[p].name;
    }
    return t->outputs[0].name;
}

/* The port the server named, as a string that lives with the graph. */
static const char *sink_port_named(const remote_sess *r, const char *node, const char *port)
{
    int idx = rm_graph_node_index(r->graph, node);
    const rm_node_type *t = idx >= 0 ? rm_graph_node_type(r->graph, (size_t)idx) : NULL;
    int p = t ? rm_node_type_output_index(t, port) : -1;
    return p >= 0 ? rm_node_type_output(t, (unsigned)p)->name : "out";
}

static void deliver(void *user, const rm_client_output *o)
{
    remote_sess *r = user;
    o->frame->sequence = o->sequence;
    const char *port = o->port ? sink_port_named(r, o->node_id, o->port) : sink_port(r, o->node_id, o->frame);
    if (r->on_output) {
        r->on_output(r->output_user, o->node_id, port, o->frame);
        return;
    }
    rm_output *p = realloc(r->outs, (r->n_outs + 1) * sizeof *p);
    char *id = strdup(o->node_id);
    if (!p || !id) {
        free(id);
        if (p) r->outs = p;
        return;
    }
    r->outs = p;
    p[r->n_outs].node_id = id;
    p[r->n_outs].port = port;
    p[r->n_outs].frame = rm_frame_ref(o->frame);
    r->n_outs++;
}

/* Outputs that have arrived so far (so the server never waits on us). */
static int drain(remote_sess *r, double timeout)
{
    rm_client_output o;
    int rc;
    while ((rc = rm_client_stream_poll(r->stream, timeout, &o, &r->err)) == 1) {
        deliver(r, &o);
        rm_client_output_clear(&o);
        timeout = 0;
    }
    return rc < 0 ? rc : 0;
}

static int r_open(void *user, rm_graph *g, const char *manifest, rm_output_fn fn, void *fn_user, void **session,
                  rm_error *err)
{
    remote_sess *r = calloc(1, sizeof *r);
    if (!r) return rm_error_set(err, RM_ENOMEM, NULL, "out of memory");
    r->client = user;
    r->graph = g;
    r->on_output = fn;
    r->output_user = fn_user;
    *session = r;
    return rm_client_stream_open(r->client, manifest, &r->stream, err);
}

static int r_push(void *session, rm_frame *f)
{
    remote_sess *r = session;
    unsigned long long seq = f->sequence;
    for (size_t i = 0; i < rm_graph_source_count(r->graph); i++) {
        const char *id = rm_graph_node_id(r->graph, rm_graph_source(r->graph, i));
        if (rm_graph_node_inserted(r->graph, rm_graph_source(r->graph, i))) continue;
        int rc = rm_client_stream_push(r->stream, id, f, seq, &r->err);
        if (rc) return rc;
    }
    r->seq++;
    return drain(r, 0);
}

static int r_end(void *session)
{
    remote_sess *r = session;
    return rm_client_stream_close(r->stream, deliver, r, &r->metrics, &r->err);
}

static const rm_error *r_error(void *session) { return &((remote_sess *)session)->err; }
static size_t r_count(void *session) { return ((remote_sess *)session)->n_outs; }
static const rm_output *r_at(void *session, size_t i) { return &((remote_sess *)session)->outs[i]; }

static char *r_metrics(void *session)
{
    remote_sess *r = session;
    return r->metrics ? strdup(r->metrics) : NULL;
}

static void r_close(void *session)
{
    remote_sess *r = session;
    rm_client_stream_free(r->stream);
    for (size_t i = 0; i < r->n_outs; i++) {
        free((char *)r->outs[i].node_id);
        rm_frame_unref(r->outs[i].frame);
    }
    free(r->outs);
    free(r->metrics);
    free(r);
}

/* -------------------------------------------------------------- command --- */

/* Takes the connection options out of argv (compacting it); returns 0 or an
 * exit code. */
static int take_conn(int *argc, char **argv, const char **server, rm_client_opts *o)
{
    int n = 1;
    for (int i = 1; i < *argc; i++) {
        const char *a = argv[i];
        const char **dst = NULL;
        int flag = 0;
        if (!strcmp(a, "--")) {
            while (i < *argc) argv[n++] = argv[i++];
            break;
        }
        if (!strcmp(a, "--server")) dst = server;
        else if (!strcmp(a, "--token")) dst = &o->token;
        else if (!strcmp(a, "--tls-ca")) dst = &o->tls_ca;
        else if (!strcmp(a, "--tls-cert")) dst = &o->tls_cert;
        else if (!strcmp(a, "--tls-key")) dst = &o->tls_key;
        else if (!strcmp(a, "--tls")) flag = 1;
        else if (!strcmp(a, "--deadline")) {
            if (i + 1 >= *argc) return cli_error("--deadline needs a number of seconds"), EXIT_USAGE;
            char *end;
            o->deadline_s = strtod(argv[++i], &end);
            if (*end || !(o->deadline_s > 0 && o->deadline_s <= 86400))
                return cli_error("--deadline must be seconds in (0, 86400], got '%s'", argv[i]), EXIT_USAGE;
            continue;
        }
        if (flag) {
            o->tls = 1;
            continue;
        }
        if (dst) {
            if (i + 1 >= *argc) return cli_error("%s needs a value", a), EXIT_USAGE;
            *dst = argv[++i];
            continue;
        }
        argv[n++] = argv[i];
    }
    *argc = n;
    argv[n] = NULL;
    if (!o->token) o->token = getenv("REMOTEMEDIA_TOKEN");
    if (o->token && !*o->token) o->token = NULL;
    if (!*server) return cli_error("remote needs --server HOST:PORT (see 'rmedia remote --help')"), EXIT_USAGE;
    return 0;
}

int cmd_remote(const cli_globals *g, int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        fputs(remote_help, argc < 2 ? stderr : stdout);
        return argc < 2 ? EXIT_USAGE : EXIT_OK;
    }
    const char *cmd = argv[1];
    static const char *const cmds[] = {"run", "stream", "version", "health"};
    if (strcmp(cmd, "run") && strcmp(cmd, "stream") && strcmp(cmd, "version") && strcmp(cmd, "health")) {
        const char *s = cli_suggest(cmd, cmds, 4);
        cli_error("unknown remote command '%s'%s%s%s (run, stream, version, health)", cmd, s ? "; did you mean '" : "",
                  s ? s : "", s ? "'?" : "");
        return EXIT_USAGE;
    }
    for (int i = 2; i < argc && strcmp(argv[i], "--"); i++)
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            fputs(remote_help, stdout);
            puts("\nRUN OPTIONS: every option of 'rmedia run' (see 'rmedia run --help').");
            return EXIT_OK;
        }
    int sub_argc = argc - 1;
    char **sub = argv + 1; /* sub[0] = the command */
    const char *server = NULL;
    rm_client_opts o = {0};
    int code = take_conn(&sub_argc, sub, &server, &o);
    if (code) return code;
    rm_client *c = NULL;
    rm_error err = {0};
    if (rm_client_connect(server, &o, &c, &err) != 0) {
        cli_error("%s", err.message);
        return EXIT_USAGE;
    }
    if (!strcmp(cmd, "version")) {
        char *json = NULL;
        int rc = rm_client_version(c, &json, &err);
        if (rc) cli_error("%s", err.message), code = EXIT_IO;
        else printf("%s\n", json);
        free(json);
    } else if (!strcmp(cmd, "health")) {
        int serving = 0;
        int rc = rm_client_health(c, "", &serving, &err);
        if (rc) cli_error("%s", err.message), code = EXIT_IO;
        else {
            printf("%s: %s\n", server, serving ? "SERVING" : "NOT_SERVING");
            code = serving ? EXIT_OK : EXIT_IO;
        }
    } else {
        cli_backend be = {c, r_open, r_push, r_end, r_error, r_count, r_at, r_metrics, r_close};
        if (!strcmp(cmd, "stream")) { /* live: real-time pacing, lines as they come */
            char **args = calloc((size_t)sub_argc + 3, sizeof *args);
            if (!args) return rm_client_free(c), EXIT_RUNTIME;
            for (int i = 0; i < sub_argc; i++) args[i] = sub[i];
            args[sub_argc] = (char *)"--realtime";
            args[sub_argc + 1] = (char *)"--no-progress";
            code = cli_run_with(g, sub_argc + 2, args, &be);
            free(args);
        } else {
            code = cli_run_with(g, sub_argc, sub, &be);
        }
    }
    rm_client_free(c);
    return code;
}
