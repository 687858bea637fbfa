/*
 * The floor for the gRPC benchmark: the smallest echo server on the gRPC
 * core C API.  Every call, whatever its method, echoes each message it
 * receives as raw bytes (no protobuf) and ends with OK after the client's
 * half-close, so unary and bidi calls both work.  Completion-queue threads
 * (one per CPU) poll one queue; nothing else runs.
 *
 *   echo_floor PORT_FILE     (listens on 127.0.0.1:0, writes the port, runs until SIGTERM)
 */
#define _POSIX_C_SOURCE 200809L
#include <grpc/byte_buffer.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef enum { EV_NEW, EV_RECV, EV_SENT, EV_DONE } ev_kind;

typedef struct call_ctx call_ctx;
typedef struct tag {
    call_ctx *c;
    ev_kind kind;
} tag;

struct call_ctx {
    grpc_call *call;
    grpc_call_details details;
    grpc_metadata_array md;
    grpc_byte_buffer *msg;
    int cancelled;
    tag t_new, t_recv, t_sent, t_done;
};

static grpc_server *server;
static grpc_completion_queue *cq;
static volatile sig_atomic_t stopping;

static void request_call(void);

static void start_recv(call_ctx *c)
{
    grpc_op op;
    memset(&op, 0, sizeof op);
    op.op = GRPC_OP_RECV_MESSAGE;
    op.data.recv_message.recv_message = &c->msg;
    grpc_call_start_batch(c->call, &op, 1, &c->t_recv, NULL);
}

static void finish(call_ctx *c)
{
    grpc_op ops[2];
    memset(ops, 0, sizeof ops);
    ops[0].op = GRPC_OP_SEND_STATUS_FROM_SERVER;
    ops[0].data.send_status_from_server.status = GRPC_STATUS_OK;
    ops[1].op = GRPC_OP_RECV_CLOSE_ON_SERVER;
    ops[1].data.recv_close_on_server.cancelled = &c->cancelled;
    grpc_call_start_batch(c->call, ops, 2, &c->t_done, NULL);
}

static void on_event(tag *t, int ok)
{
    call_ctx *c = t->c;
    switch (t->kind) {
    case EV_NEW: {
        if (!ok) { /* server shutting down */
            grpc_call_details_destroy(&c->details);
            grpc_metadata_array_destroy(&c->md);
            free(c);
            return;
        }
        request_call();
        grpc_op op;
        memset(&op, 0, sizeof op);
        op.op = GRPC_OP_SEND_INITIAL_METADATA;
        grpc_call_start_batch(c->call, &op, 1, NULL, NULL);
        start_recv(c);
        return;
    }
    case EV_RECV:
        if (!ok || !c->msg) {
            finish(c);
            return;
        }
        {
            grpc_op op;
            memset(&op, 0, sizeof op);
            op.op = GRPC_OP_SEND_MESSAGE;
            op.data.send_message.send_message = c->msg;
            grpc_call_start_batch(c->call, &op, 1, &c->t_sent, NULL);
        }
        return;
    case EV_SENT:
        grpc_byte_buffer_destroy(c->msg);
        c->msg = NULL;
        if (!ok) finish(c);
        else start_recv(c);
        return;
    case EV_DONE:
        grpc_call_unref(c->call);
        grpc_call_details_destroy(&c->details);
        grpc_metadata_array_destroy(&c->md);
        free(c);
        return;
    }
}

static void request_call(void)
{
    call_ctx *c = calloc(1, sizeof *c);
    if (!c) abort();
    c->t_new = (tag){c, EV_NEW};
    c->t_recv = (tag){c, EV_RECV};
    c->t_sent = (tag){c, EV_SENT};
    c->t_done = (tag){c, EV_DONE};
    grpc_call_details_init(&c->details);
    grpc_metadata_array_init(&c->md);
    grpc_server_request_call(server, &c->call, &c->details, &c->md, cq, cq, &c->t_new);
}

static void *poll_thread(void *arg)
{
    (void)arg;
    for (;;) {
        grpc_event ev = grpc_completion_queue_next(cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
        if (ev.type == GRPC_QUEUE_SHUTDOWN) return NULL;
        if (ev.type == GRPC_OP_COMPLETE && ev.tag) on_event(ev.tag, ev.success);
    }
}

static void on_term(int sig)
{
    (void)sig;
    stopping = 1;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: echo_floor PORT_FILE\n");
        return 2;
    }
    signal(SIGTERM, on_term);
    signal(SIGINT, on_term);
    grpc_init();
    cq = grpc_completion_queue_create_for_next(NULL);
    grpc_arg arg = {.type = GRPC_ARG_INTEGER, .key = GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH, .value.integer = -1};
    grpc_channel_args args = {1, &arg};
    server = grpc_server_create(&args, NULL);
    grpc_server_register_completion_queue(server, cq, NULL);
    grpc_server_credentials *creds = grpc_insecure_server_credentials_create();
    int port = grpc_server_add_http2_port(server, "127.0.0.1:0", creds);
    grpc_server_credentials_release(creds);
    if (port <= 0) {
        fprintf(stderr, "echo_floor: cannot bind 127.0.0.1:0\n");
        return 1;
    }
    grpc_server_start(server);
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    if (n < 1) n = 1;
    if (n > 8) n = 8;
    for (long i = 0; i < n; i++) request_call();
    pthread_t th[8];
    for (long i = 0; i < n; i++) pthread_create(&th[i], NULL, poll_thread, NULL);
    FILE *f = fopen(argv[1], "w");
    if (!f) return 1;
    fprintf(f, "%d\n", port);
    fclose(f);
    fprintf(stderr, "echo_floor: listening on 127.0.0.1:%d\n", port);
    while (!stopping) pause();
    grpc_server_shutdown_and_notify(server, cq, NULL);
    grpc_server_cancel_all_calls(server);
    grpc_completion_queue_shutdown(cq);
    for (long i = 0; i < n; i++) pthread_join(th[i], NULL);
    grpc_server_destroy(server);
    grpc_completion_queue_destroy(cq);
    grpc_shutdown();
    return 0;
}
