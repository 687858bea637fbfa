/*
 * Load client for the gRPC benchmark, on the gRPC core C API (one thread,
 * one completion queue, no protobuf library: requests are pre-serialised by
 * make_requests.py, responses are classified by their first byte — the
 * StreamResponse oneof tag — and the ChunkResult sequence read as a varint).
 * It is cheap next to any server measured here, so it is not the bottleneck.
 *
 *   grpc_load --target HOST:PORT --method /pkg.Service/Method --requests FILE
 *             --mode unary|pingpong|throughput|realtime|cancel
 *             [--streams N] [--count N] [--seconds S] [--window W]
 *             [--interval-ms MS] [--raw] [--warmup N]
 *
 * FILE holds length-prefixed messages (u32 little endian + bytes).  Stream
 * modes send the first message as the StreamInit and wait for one response
 * (StreamReady; with --raw, the echo) before measuring; then the other
 * messages in turn; the last one of the file is the control message (CLOSE or
 * CANCEL) unless --raw.  unary sends message 0 per call.
 *
 * Output: "key value" lines (latencies in µs).
 */
#define _POSIX_C_SOURCE 200809L
#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/support/alloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define TAG_RESULT 0x12 /* StreamResponse.result (field 2, length-delimited) */
#define TAG_READY 0x0a
#define TAG_ERROR 0x1a
#define TAG_METRICS 0x22
#define TAG_CLOSED 0x2a

static double now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static void die(const char *msg)
{
    fprintf(stderr, "grpc_load: %s\n", msg);
    exit(1);
}

/* ------------------------------------------------------------ messages -- */
typedef struct {
    grpc_slice *msgs;
    size_t n;
} msgfile;

static msgfile load_messages(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) die("cannot open the requests file");
    msgfile m = {0};
    size_t cap = 0;
    unsigned char len4[4];
    while (fread(len4, 1, 4, f) == 4) {
        uint32_t len = len4[0] | len4[1] << 8 | len4[2] << 16 | (uint32_t)len4[3] << 24;
        char *buf = malloc(len ? len : 1);
        if (!buf || fread(buf, 1, len, f) != len) die("truncated requests file");
        if (m.n == cap) {
            cap = cap ? 2 * cap : 64;
            m.msgs = realloc(m.msgs, cap * sizeof *m.msgs);
            if (!m.msgs) die("out of memory");
        }
        m.msgs[m.n++] = grpc_slice_from_copied_buffer(buf, len);
        free(buf);
    }
    fclose(f);
    if (!m.n) die("empty requests file");
    return m;
}

static grpc_byte_buffer *bb_of(grpc_slice s) { return grpc_raw_byte_buffer_create(&s, 1); }

/* First byte and, for a ChunkResult, its sequence (field 1 varint, written
 * first when non-zero). */
static int classify(grpc_byte_buffer *bb, uint64_t *seq)
{
    grpc_byte_buffer_reader r;
    grpc_byte_buffer_reader_init(&r, bb);
    grpc_slice s = grpc_byte_buffer_reader_readall(&r);
    grpc_byte_buffer_reader_destroy(&r);
    const uint8_t *p = GRPC_SLICE_START_PTR(s);
    size_t n = GRPC_SLICE_LENGTH(s);
    int kind = n ? p[0] : -1;
    *seq = 0;
    if (kind == TAG_RESULT) {
        size_t i = 1;
        while (i < n && (p[i] & 0x80)) i++; /* skip the length */
        i++;
        if (i < n && p[i] == 0x08) {
            uint64_t v = 0;
            int shift = 0;
            for (i++; i < n; i++, shift += 7) {
                v |= (uint64_t)(p[i] & 0x7f) << shift;
                if (!(p[i] & 0x80)) break;
            }
            *seq = v;
        }
    }
    grpc_slice_unref(s);
    return kind;
}

/* ------------------------------------------------------------- options -- */
static const char *target, *method, *reqfile, *mode = "pingpong";
static int streams = 1, count = 1000, window = 32, raw, warmup = 100;
static double seconds = 5, interval_ms = 20;

static grpc_channel *channel;
static grpc_completion_queue *cq;
static msgfile M;

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

typedef struct {
    double *v;
    size_t n, cap;
} samples;

static void add_sample(samples *s, double x)
{
    if (s->n == s->cap) {
        s->cap = s->cap ? 2 * s->cap : 1024;
        s->v = realloc(s->v, s->cap * sizeof *s->v);
        if (!s->v) die("out of memory");
    }
    s->v[s->n++] = x;
}

static double pct(samples *s, double p)
{
    if (!s->n) return -1;
    qsort(s->v, s->n, sizeof *s->v, cmp_double);
    size_t i = (size_t)(p / 100.0 * (double)(s->n - 1) + 0.5);
    return s->v[i];
}

static grpc_call *new_call(void)
{
    grpc_slice m = grpc_slice_from_static_string(method);
    grpc_call *c = grpc_channel_create_call(channel, NULL, GRPC_PROPAGATE_DEFAULTS, cq, m, NULL,
                                            gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
    grpc_slice_unref(m);
    if (!c) die("grpc_channel_create_call failed");
    return c;
}

static grpc_event next_event(double deadline_us)
{
    gpr_timespec d = gpr_inf_future(GPR_CLOCK_MONOTONIC);
    if (deadline_us > 0) {
        double wait = deadline_us - now_us();
        if (wait < 0) wait = 0;
        d = gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC), gpr_time_from_micros((int64_t)wait, GPR_TIMESPAN));
    }
    return grpc_completion_queue_next(cq, d, NULL);
}

/* --------------------------------------------------------------- unary -- */
static void run_unary(void)
{
    samples s = {0};
    for (int i = 0; i < warmup + count; i++) {
        grpc_call *c = new_call();
        grpc_metadata_array imd, tmd;
        grpc_metadata_array_init(&imd);
        grpc_metadata_array_init(&tmd);
        grpc_byte_buffer *send = bb_of(M.msgs[0]), *recv = NULL;
        grpc_status_code status;
        grpc_slice details;
        grpc_op ops[6];
        memset(ops, 0, sizeof ops);
        ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
        ops[1].op = GRPC_OP_SEND_MESSAGE;
        ops[1].data.send_message.send_message = send;
        ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
        ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
        ops[3].data.recv_initial_metadata.recv_initial_metadata = &imd;
        ops[4].op = GRPC_OP_RECV_MESSAGE;
        ops[4].data.recv_message.recv_message = &recv;
        ops[5].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
        ops[5].data.recv_status_on_client.trailing_metadata = &tmd;
        ops[5].data.recv_status_on_client.status = &status;
        ops[5].data.recv_status_on_client.status_details = &details;
        double t0 = now_us();
        if (grpc_call_start_batch(c, ops, 6, (void *)1, NULL) != GRPC_CALL_OK) die("start_batch");
        grpc_event ev = next_event(0);
        double t1 = now_us();
        if (ev.type != GRPC_OP_COMPLETE || status != GRPC_STATUS_OK || !recv) {
            char *d = grpc_slice_to_c_string(details);
            fprintf(stderr, "grpc_load: unary call failed: status %d %s\n", (int)status, d);
            gpr_free(d);
            exit(1);
        }
        if (i >= warmup) add_sample(&s, t1 - t0);
        grpc_byte_buffer_destroy(send);
        grpc_byte_buffer_destroy(recv);
        grpc_slice_unref(details);
        grpc_metadata_array_destroy(&imd);
        grpc_metadata_array_destroy(&tmd);
        grpc_call_unref(c);
    }
    printf("calls %zu\np50_us %.1f\np99_us %.1f\n", s.n, pct(&s, 50), pct(&s, 99));
}

/* ------------------------------------------------------------- streams -- */
enum { OP_SEND = 1, OP_RECV = 2, OP_STATUS = 3 };

typedef struct stream stream;
typedef struct {
    stream *s;
    int op;
} stag;

#define RING 8192

struct stream {
    grpc_call *call;
    stag t_send, t_recv, t_status;
    grpc_metadata_array imd, tmd;
    grpc_status_code status;
    grpc_slice details;
    grpc_byte_buffer *send_bb, *recv_bb;
    int sending, ready, closing, done, first_recv;
    size_t next_msg;   /* index into M of the next data message */
    uint64_t sent, got; /* data messages sent / answered */
    double next_due;
    double t_sent[RING];
    int answered[RING];
    double t_cancel;
};

static size_t n_data(void) { return raw ? M.n - 1 : M.n - 2; } /* messages 1 .. */

static void post_recv(stream *s)
{
    grpc_op ops[2];
    memset(ops, 0, sizeof ops);
    int n = 0;
    if (!s->first_recv) {
        ops[n].op = GRPC_OP_RECV_INITIAL_METADATA;
        ops[n++].data.recv_initial_metadata.recv_initial_metadata = &s->imd;
        s->first_recv = 1;
    }
    ops[n].op = GRPC_OP_RECV_MESSAGE;
    ops[n++].data.recv_message.recv_message = &s->recv_bb;
    if (grpc_call_start_batch(s->call, ops, (size_t)n, &s->t_recv, NULL) != GRPC_CALL_OK) die("recv batch");
}

static void post_send(stream *s, grpc_slice msg, int initial, int close)
{
    grpc_op ops[3];
    memset(ops, 0, sizeof ops);
    int n = 0;
    if (initial) ops[n++].op = GRPC_OP_SEND_INITIAL_METADATA;
    s->send_bb = bb_of(msg);
    ops[n].op = GRPC_OP_SEND_MESSAGE;
    ops[n++].data.send_message.send_message = s->send_bb;
    if (close) ops[n++].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
    s->sending = 1;
    if (grpc_call_start_batch(s->call, ops, (size_t)n, &s->t_send, NULL) != GRPC_CALL_OK) die("send batch");
}

static void open_stream(stream *s)
{
    memset(s, 0, sizeof *s);
    s->t_send = (stag){s, OP_SEND};
    s->t_recv = (stag){s, OP_RECV};
    s->t_status = (stag){s, OP_STATUS};
    grpc_metadata_array_init(&s->imd);
    grpc_metadata_array_init(&s->tmd);
    s->call = new_call();
    grpc_op op;
    memset(&op, 0, sizeof op);
    op.op = GRPC_OP_RECV_STATUS_ON_CLIENT;
    op.data.recv_status_on_client.trailing_metadata = &s->tmd;
    op.data.recv_status_on_client.status = &s->status;
    op.data.recv_status_on_client.status_details = &s->details;
    if (grpc_call_start_batch(s->call, &op, 1, &s->t_status, NULL) != GRPC_CALL_OK) die("status batch");
    post_send(s, M.msgs[0], 1, 0);
    post_recv(s);
}

static void close_stream_storage(stream *s)
{
    grpc_metadata_array_destroy(&s->imd);
    grpc_metadata_array_destroy(&s->tmd);
    grpc_slice_unref(s->details);
    grpc_call_unref(s->call);
}

static grpc_slice data_msg(stream *s)
{
    size_t i = 1 + s->next_msg % n_data();
    s->next_msg++;
    return M.msgs[i];
}

/* pingpong / throughput / realtime: all streams on one queue. */
static void run_streams(void)
{
    int is_rt = !strcmp(mode, "realtime"), is_tp = !strcmp(mode, "throughput");
    int win = is_tp ? window : 1;
    stream *S = calloc((size_t)streams, sizeof *S);
    if (!S) die("out of memory");
    for (int i = 0; i < streams; i++) open_stream(&S[i]);
    samples lat = {0};
    int ready = 0, finished = 0;
    double t_start = 0, t_end = 0, t_measure = 0;
    uint64_t got_measured = 0;
    int measuring = 0, stopping = 0;
    size_t ndata = n_data();
    while (finished < streams) {
        double now = now_us();
        if (ready == streams && !t_start) {
            t_start = now;
            t_measure = now + (is_rt ? 1e6 : 0.5e6); /* warm-up */
            t_end = t_measure + seconds * 1e6;
            for (int i = 0; i < streams; i++) /* staggered real-time starts */
                S[i].next_due = now + (is_rt ? interval_ms * 1e3 * i / streams : 0);
        }
        if (t_start && !measuring && now >= t_measure) measuring = 1;
        if (t_start && !stopping && now >= t_end) stopping = 1;
        double wake = 0;
        for (int i = 0; i < streams && t_start; i++) {
            stream *s = &S[i];
            if (s->sending || s->closing || !s->ready) continue;
            if (stopping) {
                s->closing = 1;
                if (raw) {
                    grpc_op op;
                    memset(&op, 0, sizeof op);
                    op.op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
                    s->sending = 1;
                    grpc_call_start_batch(s->call, &op, 1, &s->t_send, NULL);
                } else {
                    post_send(s, M.msgs[M.n - 1], 0, 1);
                }
                continue;
            }
            if (is_rt) {
                if (s->sent >= ndata) continue; /* out of audio */
                if (now < s->next_due) {
                    if (!wake || s->next_due < wake) wake = s->next_due;
                    continue;
                }
                s->next_due += interval_ms * 1e3;
            } else if (s->sent - s->got >= (uint64_t)win) {
                continue;
            }
            s->t_sent[s->sent % RING] = now_us();
            s->answered[s->sent % RING] = 0;
            s->sent++;
            post_send(s, data_msg(s), 0, 0);
        }
        grpc_event ev = next_event(wake ? wake : (t_start && !stopping ? now_us() + 2000 : 0));
        if (ev.type == GRPC_QUEUE_TIMEOUT) continue;
        if (ev.type != GRPC_OP_COMPLETE) die("completion queue");
        stag *t = ev.tag;
        stream *s = t->s;
        if (t->op == OP_SEND) {
            s->sending = 0;
            grpc_byte_buffer_destroy(s->send_bb);
            s->send_bb = NULL;
        } else if (t->op == OP_RECV) {
            if (!s->recv_bb) continue; /* end of the response stream */
            uint64_t seq;
            int kind = raw ? TAG_RESULT : classify(s->recv_bb, &seq);
            grpc_byte_buffer_destroy(s->recv_bb);
            s->recv_bb = NULL;
            double t1 = now_us();
            if (!s->ready) {
                if (!raw && kind != TAG_READY) die("first response is not StreamReady (bad manifest?)");
                s->ready = 1;
                ready++;
            } else if (kind == TAG_RESULT) {
                if (is_rt) {
                    /* the first result of input `seq` (message i carries sequence i-1) */
                    if (seq < s->sent && !s->answered[seq % RING]) {
                        s->answered[seq % RING] = 1;
                        if (measuring && !stopping) add_sample(&lat, t1 - s->t_sent[seq % RING]);
                    }
                    s->got++;
                } else {
                    if (measuring && !stopping) {
                        if (win == 1) add_sample(&lat, t1 - s->t_sent[s->got % RING]);
                        got_measured++;
                    }
                    s->got++;
                }
            } else if (kind == TAG_ERROR) {
                die("the server sent a StreamResponse.error");
            }
            post_recv(s);
        } else {
            if (s->status != GRPC_STATUS_OK) {
                char *d = grpc_slice_to_c_string(s->details);
                fprintf(stderr, "grpc_load: stream ended with status %d: %s\n", (int)s->status, d);
                gpr_free(d);
                exit(1);
            }
            s->done = 1;
            finished++;
        }
    }
    double secs = seconds;
    printf("streams %d\n", streams);
    if (!is_rt) printf("msgs_per_s %.0f\n", got_measured / secs);
    printf("samples %zu\np50_us %.1f\np99_us %.1f\n", lat.n, pct(&lat, 50), pct(&lat, 99));
    for (int i = 0; i < streams; i++) close_stream_storage(&S[i]);
    free(S);
    free(lat.v);
}

/* CANCEL -> StreamClosed: per stream, push every data message as fast as
 * the transport takes it, send CANCEL, time until StreamClosed. */
static void run_cancel(void)
{
    samples lat = {0};
    grpc_slice cancel = M.msgs[M.n - 1];
    for (int k = 0; k < count; k++) {
        stream st, *s = &st;
        open_stream(s);
        int phase = 0; /* 0 init, 1 pushing, 2 cancel sent, 3 closed seen */
        size_t pushed = 0;
        double t_closed = 0;
        while (!s->done) {
            if (phase == 1 && !s->sending) {
                if (pushed < n_data()) {
                    post_send(s, M.msgs[1 + pushed], 0, 0);
                    pushed++;
                } else {
                    s->t_cancel = now_us();
                    post_send(s, cancel, 0, 1);
                    phase = 2;
                }
            }
            grpc_event ev = next_event(0);
            stag *t = ev.tag;
            if (t->op == OP_SEND) {
                s->sending = 0;
                grpc_byte_buffer_destroy(s->send_bb);
                s->send_bb = NULL;
            } else if (t->op == OP_RECV) {
                if (!s->recv_bb) continue;
                uint64_t seq;
                int kind = classify(s->recv_bb, &seq);
                grpc_byte_buffer_destroy(s->recv_bb);
                s->recv_bb = NULL;
                if (phase == 0) {
                    if (kind != TAG_READY) die("first response is not StreamReady");
                    phase = 1;
                } else if (kind == TAG_CLOSED && phase == 2) {
                    t_closed = now_us();
                    phase = 3;
                }
                post_recv(s);
            } else {
                s->done = 1;
            }
        }
        if (phase != 3) die("no StreamClosed after CANCEL");
        add_sample(&lat, t_closed - s->t_cancel);
        close_stream_storage(s);
    }
    printf("cancels %zu\np50_us %.1f\nmax_us %.1f\n", lat.n, pct(&lat, 50), pct(&lat, 100));
    free(lat.v);
}

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--raw")) { raw = 1; continue; }
        if (!v) die("missing option value");
        i++;
        if (!strcmp(a, "--target")) target = v;
        else if (!strcmp(a, "--method")) method = v;
        else if (!strcmp(a, "--requests")) reqfile = v;
        else if (!strcmp(a, "--mode")) mode = v;
        else if (!strcmp(a, "--streams")) streams = atoi(v);
        else if (!strcmp(a, "--count")) count = atoi(v);
        else if (!strcmp(a, "--warmup")) warmup = atoi(v);
        else if (!strcmp(a, "--window")) window = atoi(v);
        else if (!strcmp(a, "--seconds")) seconds = atof(v);
        else if (!strcmp(a, "--interval-ms")) interval_ms = atof(v);
        else die("unknown option");
    }
    if (!target || !method || !reqfile || streams < 1) die("--target, --method and --requests are required");
    M = load_messages(reqfile);
    if (strcmp(mode, "unary") && M.n < (raw ? 2u : 3u)) die("a stream needs init, data and control messages");
    grpc_init();
    cq = grpc_completion_queue_create_for_next(NULL);
    grpc_channel_credentials *creds = grpc_insecure_credentials_create();
    grpc_arg arg = {.type = GRPC_ARG_INTEGER, .key = GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH, .value.integer = -1};
    grpc_channel_args args = {1, &arg};
    channel = grpc_channel_create(target, creds, &args);
    grpc_channel_credentials_release(creds);
    if (!strcmp(mode, "unary")) run_unary();
    else if (!strcmp(mode, "cancel")) run_cancel();
    else if (!strcmp(mode, "pingpong") || !strcmp(mode, "throughput") || !strcmp(mode, "realtime")) run_streams();
    else die("unknown --mode");
    fflush(stdout);
    /* a benchmark process: the OS reclaims the channel and queue */
    _Exit(0);
}
