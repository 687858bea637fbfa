/* Prometheus metrics of `rmedia serve`, served at /metrics by libmicrohttpd. */
#define _POSIX_C_SOURCE 200809L
#include <netdb.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <microhttpd.h>

#include "../common/memstats.h"
#include "rmg_internal.h"

#define N_CODES 17
#define N_TYPES 64

static const double buckets[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                 0.25,   0.5,   1,      2.5,   5,    10,    30,    60};
#define N_BUCKETS (sizeof buckets / sizeof buckets[0])

static const char *const code_names[N_CODES] = {
    "OK",           "CANCELLED",         "UNKNOWN",          "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND",
    "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION", "ABORTED",
    "OUT_OF_RANGE", "UNIMPLEMENTED",     "INTERNAL",         "UNAVAILABLE",      "DATA_LOSS",         "UNAUTHENTICATED"};

/* The RemotePipeline node's per-endpoint stats; the counters (first two)
 * add up over sessions, the rest are the last session's. */
enum { EP_CALLS, EP_FAILURES, EP_BREAKER, EP_P50, EP_P99, EP_N };
static const char *const ep_stats[EP_N] = {"calls", "failures", "breaker", "rtt_p50_us", "rtt_p99_us"};

struct rmg_prom {
    rm_host *host;
    pthread_mutex_t mu;
    uint64_t requests[RMG_M_COUNT][N_CODES];
    uint64_t hist[RMG_M_COUNT][N_BUCKETS + 1];
    double sum[RMG_M_COUNT];
    uint64_t count[RMG_M_COUNT];
    uint64_t chunks;
    uint64_t errors[8];
    struct {
        char name[64];
        uint64_t calls, frames;
        double seconds;
    } types[N_TYPES];
    size_t n_types;
    struct { /* RemotePipeline endpoints, from the "endpoint ADDR stat" node stats */
        char addr[128];
        double v[EP_N];
    } eps[N_TYPES];
    size_t n_eps;
    struct MHD_Daemon *mhd;
};

const char *rmg_method_name(int m)
{
    static const char *const names[RMG_M_COUNT] = {
        "remotemedia.v1.PipelineExecutionService/ExecutePipeline", "remotemedia.v1.PipelineExecutionService/GetVersion",
        "remotemedia.v1.StreamingPipelineService/StreamPipeline", "grpc.health.v1.Health/Check",
        "grpc.health.v1.Health/Watch", "other"};
    return m >= 0 && m < RMG_M_COUNT ? names[m] : "other";
}

rmg_prom *rmg_prom_new(rm_host *host)
{
    rmg_prom *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    p->host = host;
    pthread_mutex_init(&p->mu, NULL);
    return p;
}

void rmg_prom_free(rmg_prom *p)
{
    if (!p) return;
    if (p->mhd) MHD_stop_daemon(p->mhd);
    pthread_mutex_destroy(&p->mu);
    free(p);
}

void rmg_prom_request(rmg_prom *p, int method, grpc_status_code code, double seconds)
{
    if (method < 0 || method >= RMG_M_COUNT) method = RMG_M_OTHER;
    int c = (int)code >= 0 && (int)code < N_CODES ? (int)code : 2;
    pthread_mutex_lock(&p->mu);
    p->requests[method][c]++;
    size_t b = 0;
    while (b < N_BUCKETS && seconds > buckets[b]) b++;
    p->hist[method][b]++;
    p->sum[method] += seconds;
    p->count[method]++;
    pthread_mutex_unlock(&p->mu);
}

void rmg_prom_chunks(rmg_prom *p, uint64_t n)
{
    pthread_mutex_lock(&p->mu);
    p->chunks += n;
    pthread_mutex_unlock(&p->mu);
}

void rmg_prom_error(rmg_prom *p, Remotemedia__V1__ErrorType type)
{
    pthread_mutex_lock(&p->mu);
    p->errors[(unsigned)type < 8 ? (unsigned)type : 0]++;
    pthread_mutex_unlock(&p->mu);
}

/* Stats keyed "endpoint ADDR NAME": counters add up over sessions, the
 * breaker state and round-trip quantiles are the last session's. */
static void prom_endpoints(rmg_prom *p, const json_t *stats)
{
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)stats, key, v)
    {
        const char *sp = strrchr(key, ' ');
        if (strncmp(key, "endpoint ", 9) != 0 || !sp || sp - key - 9 <= 0 || sp - key - 9 >= 128) continue;
        int len = (int)(sp - key - 9);
        size_t i = 0;
        while (i < p->n_eps && (strncmp(p->eps[i].addr, key + 9, (size_t)len) || p->eps[i].addr[len])) i++;
        if (i == p->n_eps) {
            if (p->n_eps == N_TYPES) continue;
            memset(&p->eps[i], 0, sizeof p->eps[i]);
            snprintf(p->eps[i].addr, sizeof p->eps[i].addr, "%.*s", len, key + 9);
            p->n_eps++;
        }
        for (int k = 0; k < EP_N; k++)
            if (!strcmp(sp + 1, ep_stats[k])) {
                if (k <= EP_FAILURES) p->eps[i].v[k] += json_number_value(v);
                else p->eps[i].v[k] = json_number_value(v);
            }
    }
}

void rmg_prom_session(rmg_prom *p, const char *metrics_json)
{
    json_t *root = metrics_json ? json_loads(metrics_json, 0, NULL) : NULL;
    json_t *nm = json_object_get(root, "node_metrics"), *v;
    const char *id;
    pthread_mutex_lock(&p->mu);
    json_object_foreach(nm, id, v)
    {
        const char *type = json_string_value(json_object_get(v, "node_type"));
        if (!type) continue;
        size_t i = 0;
        while (i < p->n_types && strcmp(p->types[i].name, type) != 0) i++;
        if (i == p->n_types) {
            if (p->n_types == N_TYPES) continue;
            snprintf(p->types[i].name, sizeof p->types[i].name, "%s", type);
            p->n_types++;
        }
        p->types[i].calls += (uint64_t)json_integer_value(json_object_get(v, "calls"));
        p->types[i].frames += (uint64_t)json_integer_value(json_object_get(v, "frames_in"));
        p->types[i].seconds += json_number_value(json_object_get(v, "total_us")) / 1e6;
        if (!strcmp(type, "RemotePipeline")) prom_endpoints(p, json_object_get(v, "stats"));
    }
    pthread_mutex_unlock(&p->mu);
    json_decref(root);
}

typedef struct sbuf {
    char *d;
    size_t n, cap;
} sbuf;

static void sb_printf(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(sbuf *b, const char *fmt, ...)
{
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int w = vsnprintf(b->d ? b->d + b->n : NULL, b->d ? b->cap - b->n : 0, fmt, ap);
        va_end(ap);
        if (w < 0) return;
        if (b->d && (size_t)w < b->cap - b->n) {
            b->n += (size_t)w;
            return;
        }
        size_t cap = (b->cap ? b->cap * 2 : 8192) + (size_t)w;
        char *d = realloc(b->d, cap);
        if (!d) return;
        b->d = d;
        b->cap = cap;
    }
}

static char *render(rmg_prom *p, size_t *len)
{
    sbuf b = {0};
    static const char *const etype[8] = {"unspecified", "validation", "node_execution", "resource_limit",
                                         "authentication", "version_mismatch", "internal", "type_validation"};
    pthread_mutex_lock(&p->mu);
    sb_printf(&b, "# HELP remotemedia_grpc_requests_total gRPC requests by method and status.\n"
                  "# TYPE remotemedia_grpc_requests_total counter\n");
    for (int m = 0; m < RMG_M_COUNT; m++)
        for (int c = 0; c < N_CODES; c++)
            if (p->requests[m][c])
                sb_printf(&b, "remotemedia_grpc_requests_total{method=\"%s\",code=\"%s\"} %llu\n", rmg_method_name(m),
                          code_names[c], (unsigned long long)p->requests[m][c]);
    sb_printf(&b, "# HELP remotemedia_grpc_request_duration_seconds Time from a call's start to its status.\n"
                  "# TYPE remotemedia_grpc_request_duration_seconds histogram\n");
    for (int m = 0; m < RMG_M_COUNT; m++) {
        if (!p->count[m]) continue;
        uint64_t cum = 0;
        for (size_t k = 0; k <= N_BUCKETS; k++) {
            cum += p->hist[m][k];
            if (k < N_BUCKETS)
                sb_printf(&b, "remotemedia_grpc_request_duration_seconds_bucket{method=\"%s\",le=\"%g\"} %llu\n",
                          rmg_method_name(m), buckets[k], (unsigned long long)cum);
            else
                sb_printf(&b, "remotemedia_grpc_request_duration_seconds_bucket{method=\"%s\",le=\"+Inf\"} %llu\n",
                          rmg_method_name(m), (unsigned long long)cum);
        }
        sb_printf(&b, "remotemedia_grpc_request_duration_seconds_sum{method=\"%s\"} %.9g\n", rmg_method_name(m),
                  p->sum[m]);
        sb_printf(&b, "remotemedia_grpc_request_duration_seconds_count{method=\"%s\"} %llu\n", rmg_method_name(m),
                  (unsigned long long)p->count[m]);
    }
    sb_printf(&b, "# HELP remotemedia_grpc_active_streams Streaming sessions open now.\n"
                  "# TYPE remotemedia_grpc_active_streams gauge\n"
                  "remotemedia_grpc_active_streams %zu\n",
              rm_host_active_streams(p->host));
    sb_printf(&b, "# HELP remotemedia_grpc_live_sessions Stream sessions not torn down yet (open, or ended and "
                  "waiting for a node call to stop); 0 when idle.\n"
                  "# TYPE remotemedia_grpc_live_sessions gauge\n"
                  "remotemedia_grpc_live_sessions %zu\n",
              rm_host_live_streams(p->host));
    sb_printf(&b, "# HELP remotemedia_stream_chunks_total Stream chunks received.\n"
                  "# TYPE remotemedia_stream_chunks_total counter\n"
                  "remotemedia_stream_chunks_total %llu\n",
              (unsigned long long)p->chunks);
    sb_printf(&b, "# HELP remotemedia_execution_errors_total Errors returned, by ErrorType.\n"
                  "# TYPE remotemedia_execution_errors_total counter\n");
    for (int i = 0; i < 8; i++)
        if (p->errors[i])
            sb_printf(&b, "remotemedia_execution_errors_total{error_type=\"%s\"} %llu\n", etype[i],
                      (unsigned long long)p->errors[i]);
    sb_printf(&b, "# HELP remotemedia_node_calls_total Node process calls of finished sessions, by node type.\n"
                  "# TYPE remotemedia_node_calls_total counter\n");
    for (size_t i = 0; i < p->n_types; i++)
        sb_printf(&b, "remotemedia_node_calls_total{node_type=\"%s\"} %llu\n", p->types[i].name,
                  (unsigned long long)p->types[i].calls);
    sb_printf(&b, "# HELP remotemedia_node_seconds_total Time spent in node calls of finished sessions.\n"
                  "# TYPE remotemedia_node_seconds_total counter\n");
    for (size_t i = 0; i < p->n_types; i++)
        sb_printf(&b, "remotemedia_node_seconds_total{node_type=\"%s\"} %.9g\n", p->types[i].name, p->types[i].seconds);
    sb_printf(&b, "# HELP remotemedia_node_latency_seconds Mean time per node call, by node type.\n"
                  "# TYPE remotemedia_node_latency_seconds gauge\n");
    for (size_t i = 0; i < p->n_types; i++)
        sb_printf(&b, "remotemedia_node_latency_seconds{node_type=\"%s\"} %.9g\n", p->types[i].name,
                  p->types[i].calls ? p->types[i].seconds / (double)p->types[i].calls : 0.0);
    static const struct {
        const char *name, *type, *help, *quantile;
        int k;
        double scale;
    } fam[] = {
        {"remotemedia_remote_endpoint_calls_total", "counter",
         "RemotePipeline stream opens and frames sent, by endpoint (finished sessions).", NULL, EP_CALLS, 1},
        {"remotemedia_remote_endpoint_failures_total", "counter", "RemotePipeline failed calls, by endpoint.", NULL,
         EP_FAILURES, 1},
        {"remotemedia_remote_endpoint_breaker_state", "gauge",
         "Circuit breaker at the end of the last session: 0 closed, 1 open, 2 half-open.", NULL, EP_BREAKER, 1},
        {"remotemedia_remote_endpoint_rtt_seconds", "gauge",
         "Round trip of a frame to its first output in the last session.", "0.5", EP_P50, 1e-6},
        {"remotemedia_remote_endpoint_rtt_seconds", NULL, NULL, "0.99", EP_P99, 1e-6},
    };
    for (size_t f = 0; p->n_eps && f < sizeof fam / sizeof fam[0]; f++) {
        if (fam[f].help)
            sb_printf(&b, "# HELP %s %s\n# TYPE %s %s\n", fam[f].name, fam[f].help, fam[f].name, fam[f].type);
        for (size_t i = 0; i < p->n_eps; i++)
            sb_printf(&b, "%s{endpoint=\"%s\"%s%s%s} %.9g\n", fam[f].name, p->eps[i].addr,
                      fam[f].quantile ? ",quantile=\"" : "", fam[f].quantile ? fam[f].quantile : "",
                      fam[f].quantile ? "\"" : "", p->eps[i].v[fam[f].k] * fam[f].scale);
    }
    pthread_mutex_unlock(&p->mu);
    char *mem = rmt_mem_prom(); /* the process's memory and idle trims */
    if (mem) sb_printf(&b, "%s", mem);
    free(mem);
    *len = b.n;
    return b.d;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                              const char *version, const char *upload, size_t *upload_size, void **con_cls)
{
    (void)version;
    (void)upload;
    (void)upload_size;
    (void)con_cls;
    rmg_prom *p = cls;
    struct MHD_Response *r;
    unsigned status = MHD_HTTP_OK;
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
        static const char msg[] = "only GET\n";
        r = MHD_create_response_from_buffer(sizeof msg - 1, (void *)msg, MHD_RESPMEM_PERSISTENT);
        status = MHD_HTTP_METHOD_NOT_ALLOWED;
    } else if (strcmp(url, "/metrics") != 0) {
        static const char msg[] = "not found: metrics are at /metrics\n";
        r = MHD_create_response_from_buffer(sizeof msg - 1, (void *)msg, MHD_RESPMEM_PERSISTENT);
        status = MHD_HTTP_NOT_FOUND;
    } else {
        size_t len = 0;
        char *text = render(p, &len);
        if (!text) return MHD_NO;
        r = MHD_create_response_from_buffer(len, text, MHD_RESPMEM_MUST_FREE);
        MHD_add_response_header(r, "Content-Type", "text/plain; version=0.0.4; charset=utf-8");
    }
    if (!r) return MHD_NO;
    enum MHD_Result ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

/* Splits "HOST:PORT" ("[v6]:PORT" too) and resolves it. */
static int resolve(const char *hostport, struct sockaddr_storage *out, socklen_t *len)
{
    char host[256];
    const char *colon = strrchr(hostport, ':');
    if (!colon || (size_t)(colon - hostport) >= sizeof host) return -1;
    memcpy(host, hostport, (size_t)(colon - hostport));
    host[colon - hostport] = '\0';
    char *h = host;
    if (h[0] == '[') {
        h++;
        char *e = strchr(h, ']');
        if (e) *e = '\0';
    }
    struct addrinfo hints = {0}, *res = NULL;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    if (getaddrinfo(*h ? h : NULL, colon + 1, &hints, &res) != 0 || !res) return -1;
    memcpy(out, res->ai_addr, res->ai_addrlen);
    *len = res->ai_addrlen;
    freeaddrinfo(res);
    return 0;
}

int rmg_prom_listen(rmg_prom *p, const char *hostport, unsigned *port)
{
    struct sockaddr_storage sa;
    socklen_t salen;
    if (resolve(hostport, &sa, &salen) != 0) {
        fprintf(stderr, "rmedia serve: --metrics-listen '%s': expected HOST:PORT\n", hostport);
        return -1;
    }
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG;
    if (sa.ss_family == AF_INET6) flags |= MHD_USE_IPv6;
    p->mhd = MHD_start_daemon(flags, 0, NULL, NULL, handle, p, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
                              MHD_OPTION_CONNECTION_TIMEOUT, 30u, MHD_OPTION_END);
    if (!p->mhd) {
        fprintf(stderr, "rmedia serve: cannot serve metrics on %s\n", hostport);
        return -1;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(p->mhd, MHD_DAEMON_INFO_BIND_PORT);
    *port = info ? info->port : 0;
    return 0;
}
