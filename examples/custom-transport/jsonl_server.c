/*
 * A complete custom transport on remotemedia/transport.h: JSON lines over a
 * Unix socket.  The host layer does the pipeline work (validation, sessions,
 * threads, cancel); this file only maps lines to frames and back.
 *
 *   jsonl_server SOCKET_PATH      (runs until SIGTERM/SIGINT)
 *
 * One request per line, one thread per connection:
 *   {"op":"run","manifest":M,"inputs":{"node":VALUE,...}}
 *       -> {"outputs":{"sink":[VALUE,...]},"wall_ms":N}       unary run
 *   {"op":"open","manifest":M}            -> {"ready":"SESSION_ID"}
 *   {"op":"push","node":"id","value":V,"seq":N}   (outputs come as they are made:)
 *       -> {"output":{"node":"sink","port":"out","seq":N,"value":V}}
 *   {"op":"close"} -> remaining outputs, then {"closed":"closed","metrics":{...}}
 *   {"op":"cancel"} -> {"closed":"canceled",...} at once
 * Any problem -> {"error":"message","node":"id"}.  M is manifest text (JSON
 * or YAML) or a JSON object.  VALUE: a string is a text frame, anything else
 * a json frame (audio would be a base64 field; left out to stay short).
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "remotemedia/remotemedia.h"
#include "remotemedia/transport.h"

static rm_host *host;

/* Open connections, so that shutdown can end them and wait for them. */
static pthread_mutex_t conns_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t conns_cond = PTHREAD_COND_INITIALIZER;
static int conn_fds[256], n_conns;

typedef struct conn {
    int fd;
    FILE *in;
    pthread_mutex_t write_lock; /* callbacks write from pool threads */
    pthread_mutex_t lock;       /* writable / closed state */
    pthread_cond_t cond;
    int writable_wait, closed;
    rm_stream *stream;
} conn;

static void send_json(conn *c, json_t *msg) /* steals msg */
{
    char *text = json_dumps(msg, JSON_COMPACT);
    json_decref(msg);
    if (!text) return;
    pthread_mutex_lock(&c->write_lock);
    size_t len = strlen(text);
    text[len] = '\n'; /* replaces the NUL: written with its length */
    for (size_t off = 0; off < len + 1;) {
        ssize_t n = write(c->fd, text + off, len + 1 - off);
        if (n <= 0 && errno != EINTR) break; /* client gone: drop */
        if (n > 0) off += (size_t)n;
    }
    pthread_mutex_unlock(&c->write_lock);
    free(text);
}

static void send_error(conn *c, const char *msg, const char *node)
{
    json_t *e = json_pack("{s:s}", "error", msg && *msg ? msg : "error");
    if (node && *node) json_object_set_new(e, "node", json_string(node));
    send_json(c, e);
}

static json_t *frame_value(const rm_frame *f)
{
    if (f->kind == RM_FRAME_JSON) return json_incref(f->u.json.value);
    if (f->kind == RM_FRAME_TEXT) return json_stringn(f->u.text.data, f->u.text.len);
    return json_pack("{s:s}", "kind", rm_frame_kind_name(f->kind));
}

static rm_frame *value_frame(json_t *v)
{
    if (json_is_string(v)) return rm_frame_new_text(json_string_value(v), json_string_length(v));
    return rm_frame_new_json(json_incref(v));
}

static rm_graph *compile(conn *c, json_t *req)
{
    json_t *m = json_object_get(req, "manifest");
    char *owned = NULL;
    const char *text;
    if (json_is_string(m)) text = json_string_value(m);
    else if (json_is_object(m)) text = owned = json_dumps(m, JSON_COMPACT);
    else {
        send_error(c, "\"manifest\" is missing (text or object)", NULL);
        return NULL;
    }
    rm_graph *g = NULL;
    rm_error err;
    rm_error_clear(&err);
    if (rm_host_compile(host, text, strlen(text), "manifest", &g, &err, NULL) != 0)
        send_error(c, err.message, err.node_id);
    free(owned);
    return g;
}

/* ------------------------------------------------------------- unary -- */
static void op_run(conn *c, json_t *req)
{
    rm_graph *g = compile(c, req);
    if (!g) return;
    json_t *inputs = json_object_get(req, "inputs");
    size_t n = json_is_object(inputs) ? json_object_size(inputs) : 0;
    rm_host_input *in = calloc(n ? n : 1, sizeof *in);
    size_t k = 0;
    const char *key;
    json_t *v;
    json_object_foreach(inputs, key, v) {
        in[k].node_id = key;
        in[k].frame = value_frame(v);
        k++;
    }
    rm_host_result *res = NULL;
    rm_error err;
    rm_error_clear(&err);
    int rc = rm_host_run_graph(host, g, in, k, &res, &err);
    if (rc != 0) {
        send_error(c, err.message, err.node_id);
    } else {
        json_t *outs = json_object();
        for (size_t s = 0; s < rm_host_result_sink_count(res); s++) {
            const rm_frame *const *frames;
            size_t nf = rm_host_result_frames(res, s, &frames);
            json_t *arr = json_array();
            for (size_t i = 0; i < nf; i++) json_array_append_new(arr, frame_value(frames[i]));
            json_object_set_new(outs, rm_host_result_sink(res, s), arr);
        }
        send_json(c, json_pack("{s:o,s:f}", "outputs", outs, "wall_ms", rm_host_result_wall_ms(res)));
    }
    rm_host_result_free(res);
    for (size_t i = 0; i < k; i++) rm_frame_unref((rm_frame *)in[i].frame);
    free(in);
    rm_graph_unref(g);
}

/* ------------------------------------------------------------ streams -- */
static void on_output(void *user, const char *node_id, const char *port, const rm_frame *f, uint64_t seq)
{
    send_json(user, json_pack("{s:{s:s,s:s,s:I,s:o}}", "output", "node", node_id, "port", port ? port : "",
                              "seq", (json_int_t)seq, "value", frame_value(f)));
}

static void on_writable(void *user)
{
    conn *c = user;
    pthread_mutex_lock(&c->lock);
    pthread_cond_broadcast(&c->cond);
    pthread_mutex_unlock(&c->lock);
}

static void on_closed(void *user, rm_stream_end why, const rm_error *err, const char *metrics_json)
{
    conn *c = user;
    /* closed before the client can read "closed" and open the next one */
    pthread_mutex_lock(&c->lock);
    c->closed = 1;
    pthread_cond_broadcast(&c->cond);
    pthread_mutex_unlock(&c->lock);
    json_t *msg = json_pack("{s:s}", "closed", rm_stream_end_name(why));
    json_t *metrics = metrics_json ? json_loads(metrics_json, 0, NULL) : NULL;
    if (metrics) json_object_set_new(msg, "metrics", metrics);
    if (err && err->message[0]) json_object_set_new(msg, "error", json_string(err->message));
    send_json(c, msg);
}

static void op_open(conn *c, json_t *req)
{
    pthread_mutex_lock(&c->lock);
    int ended = c->closed;
    pthread_mutex_unlock(&c->lock);
    if (c->stream && !ended) {
        send_error(c, "a stream is already open on this connection", NULL);
        return;
    }
    if (c->stream) { /* the previous one ended: release it */
        rm_stream_free(c->stream);
        c->stream = NULL;
        c->closed = 0;
    }
    rm_graph *g = compile(c, req);
    if (!g) return;
    rm_stream_callbacks cb = {on_output, on_writable, on_closed, c};
    rm_error err;
    rm_error_clear(&err);
    if (rm_stream_open(host, g, NULL, &cb, &c->stream, &err) != 0) send_error(c, err.message, err.node_id);
    else send_json(c, json_pack("{s:s}", "ready", rm_stream_id(c->stream)));
    rm_graph_unref(g); /* the stream holds its own reference */
}

static void op_push(conn *c, json_t *req)
{
    if (!c->stream) {
        send_error(c, "push before open", NULL);
        return;
    }
    json_t *node = json_object_get(req, "node"), *value = json_object_get(req, "value");
    if (!json_is_string(node) || !value) {
        send_error(c, "push needs \"node\" and \"value\"", NULL);
        return;
    }
    /* back-pressure: wait (this connection's thread only) until writable */
    pthread_mutex_lock(&c->lock);
    while (!rm_stream_writable(c->stream) && !c->closed) pthread_cond_wait(&c->cond, &c->lock);
    pthread_mutex_unlock(&c->lock);
    rm_error err;
    rm_error_clear(&err);
    json_int_t seq = json_integer_value(json_object_get(req, "seq"));
    if (rm_stream_push(c->stream, json_string_value(node), NULL, value_frame(value), (uint64_t)seq, &err) != 0)
        send_error(c, err.message, err.node_id);
}

static void *serve_conn(void *arg)
{
    conn *c = arg;
    char *line = NULL;
    size_t cap = 0;
    while (getline(&line, &cap, c->in) > 0) {
        json_error_t jerr;
        json_t *req = json_loads(line, 0, &jerr);
        const char *op = req ? json_string_value(json_object_get(req, "op")) : NULL;
        if (!req) send_error(c, jerr.text, NULL);
        else if (!op) send_error(c, "\"op\" is missing", NULL);
        else if (!strcmp(op, "run")) op_run(c, req);
        else if (!strcmp(op, "open")) op_open(c, req);
        else if (!strcmp(op, "push")) op_push(c, req);
        else if (!strcmp(op, "close") && c->stream) rm_stream_close(c->stream);
        else if (!strcmp(op, "cancel") && c->stream) rm_stream_cancel(c->stream);
        else send_error(c, "unknown op, or no open stream", NULL);
        json_decref(req);
    }
    free(line);
    if (c->stream) rm_stream_free(c->stream); /* client gone: nothing leaks */
    pthread_mutex_lock(&conns_lock);
    for (int i = 0; i < n_conns; i++)
        if (conn_fds[i] == c->fd) conn_fds[i] = conn_fds[--n_conns];
    pthread_cond_broadcast(&conns_cond);
    pthread_mutex_unlock(&conns_lock);
    fclose(c->in); /* closes the socket */
    pthread_mutex_destroy(&c->write_lock);
    pthread_mutex_destroy(&c->lock);
    pthread_cond_destroy(&c->cond);
    free(c);
    return NULL;
}

static volatile sig_atomic_t stop;
static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: jsonl_server SOCKET_PATH\n");
        return 2;
    }
    struct sigaction sa = {0};
    sa.sa_handler = on_signal; /* no SA_RESTART: accept() returns on a signal */
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    rm_runtime *rt = NULL;
    rm_error err;
    if (rm_runtime_new_with_builtins(NULL, &rt, &err) != 0 || rm_host_new(rt, NULL, &host, &err) != 0) {
        fprintf(stderr, "jsonl_server: %s\n", err.message);
        return 1;
    }
    int lfd = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    if (strlen(argv[1]) >= sizeof addr.sun_path) {
        fprintf(stderr, "jsonl_server: socket path too long\n");
        return 1;
    }
    strcpy(addr.sun_path, argv[1]);
    unlink(argv[1]);
    if (lfd < 0 || bind(lfd, (struct sockaddr *)&addr, sizeof addr) != 0 || listen(lfd, 16) != 0) {
        fprintf(stderr, "jsonl_server: %s: %s\n", argv[1], strerror(errno));
        return 1;
    }
    fprintf(stderr, "jsonl_server: listening on %s\n", argv[1]);
    while (!stop) {
        int fd = accept(lfd, NULL, NULL);
        if (fd < 0) continue;
        pthread_mutex_lock(&conns_lock);
        int full = n_conns == (int)(sizeof conn_fds / sizeof *conn_fds);
        if (!full) conn_fds[n_conns++] = fd;
        pthread_mutex_unlock(&conns_lock);
        if (full) {
            close(fd);
            continue;
        }
        conn *c = calloc(1, sizeof *c);
        c->fd = fd;
        c->in = fdopen(fd, "r");
        pthread_mutex_init(&c->write_lock, NULL);
        pthread_mutex_init(&c->lock, NULL);
        pthread_cond_init(&c->cond, NULL);
        pthread_t th;
        pthread_create(&th, NULL, serve_conn, c);
        pthread_detach(th);
    }
    close(lfd);
    unlink(argv[1]);
    /* end every stream (on_closed "shutdown" goes to its client), stop
     * reading, and wait for the connection threads */
    rm_host_shutdown_streams(host);
    pthread_mutex_lock(&conns_lock);
    for (int i = 0; i < n_conns; i++) shutdown(conn_fds[i], SHUT_RD);
    while (n_conns) pthread_cond_wait(&conns_cond, &conns_lock);
    pthread_mutex_unlock(&conns_lock);
    rm_host_free(host);
    rm_runtime_free(rt);
    return 0;
}
