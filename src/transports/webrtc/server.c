/*
 * The WHIP endpoint of `rmedia serve --webrtc-listen` (libmicrohttpd):
 *
 *   POST   /whip        SDP offer (application/sdp) → 201, the SDP answer and
 *                       Location: /whip/<peer id>
 *   DELETE /whip/<id>   ends that peer's session → 200
 *   OPTIONS             CORS preflight (browser pages on another origin)
 *   GET    /health      "ok" (no token)
 *   GET    /metrics     Prometheus text (no token)
 *
 * Errors are plain text naming the problem: 400 bad offer, 401 token,
 * 404 unknown resource, 413 offer too large, 503 limits.  The media thread
 * runs the server's GMainContext: pacing, timeouts, stats, teardown.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <sys/socket.h>
#include <time.h>

#include <gio/gio.h>
#include <gst/gst.h>
#include <jansson.h>
#include <microhttpd.h>
#include <nice/address.h>

#include "../common/memstats.h"
#include "rtc_internal.h"
#include "whip_offer.h"

#define TICK_MS 10

static enum MHD_Result reply(struct MHD_Connection *c, rtc_server *s, unsigned status, const char *type, char *body,
                             const char *location)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_COPY);
    if (!r) return MHD_NO;
    MHD_add_response_header(r, "Content-Type", type);
    MHD_add_response_header(r, "Access-Control-Allow-Origin", "*");
    MHD_add_response_header(r, "Access-Control-Expose-Headers", "Location");
    if (location) MHD_add_response_header(r, "Location", location);
    if (status == 401) MHD_add_response_header(r, "WWW-Authenticate", "Bearer");
    enum MHD_Result ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    int slot = status < 300 ? 0 : status == 400 ? 1 : status == 401 ? 2 : status == 404 ? 3 : status == 503 ? 4 : 5;
    pthread_mutex_lock(&s->mu);
    s->totals.http[slot]++;
    pthread_mutex_unlock(&s->mu);
    return ret;
}

static enum MHD_Result text_reply(struct MHD_Connection *c, rtc_server *s, unsigned status, const char *msg)
{
    char buf[1100];
    snprintf(buf, sizeof buf, "%s\n", msg);
    return reply(c, s, status, "text/plain; charset=utf-8", buf, NULL);
}

static void prom(rtc_server *s, GString *o)
{
    pthread_mutex_lock(&s->mu);
    rtc_totals t = s->totals;
    size_t peers = s->n_peers;
    pthread_mutex_unlock(&s->mu);
    g_string_append_printf(o,
                           "# HELP rmedia_webrtc_peers Connected WebRTC peers (each one session)\n"
                           "# TYPE rmedia_webrtc_peers gauge\nrmedia_webrtc_peers %zu\n"
                           "# HELP rmedia_webrtc_peers_total WebRTC peers answered\n"
                           "# TYPE rmedia_webrtc_peers_total counter\nrmedia_webrtc_peers_total %llu\n",
                           peers, (unsigned long long)t.peers_total);
    static const char *const codes[6] = {"2xx", "400", "401", "404", "503", "other"};
    g_string_append(o, "# HELP rmedia_webrtc_http_responses_total WHIP responses by status\n"
                       "# TYPE rmedia_webrtc_http_responses_total counter\n");
    for (int i = 0; i < 6; i++)
        g_string_append_printf(o, "rmedia_webrtc_http_responses_total{status=\"%s\"} %llu\n", codes[i],
                               (unsigned long long)t.http[i]);
    g_string_append(o, "# HELP rmedia_webrtc_peers_ended_total Ended peers by reason\n"
                       "# TYPE rmedia_webrtc_peers_ended_total counter\n");
    for (int i = 0; i < RTC_END_COUNT; i++)
        g_string_append_printf(o, "rmedia_webrtc_peers_ended_total{reason=\"%s\"} %llu\n", rtc_end_name(i),
                               (unsigned long long)t.ended[i]);
    g_string_append_printf(o,
                           "# HELP rmedia_webrtc_audio_frames_in_total Decoded peer audio frames pushed (ended peers)\n"
                           "# TYPE rmedia_webrtc_audio_frames_in_total counter\n"
                           "rmedia_webrtc_audio_frames_in_total %llu\n"
                           "# HELP rmedia_webrtc_audio_frames_dropped_total Peer audio dropped: session queue full\n"
                           "# TYPE rmedia_webrtc_audio_frames_dropped_total counter\n"
                           "rmedia_webrtc_audio_frames_dropped_total %llu\n"
                           "# HELP rmedia_webrtc_data_messages_total Data-channel messages (ended peers)\n"
                           "# TYPE rmedia_webrtc_data_messages_total counter\n"
                           "rmedia_webrtc_data_messages_total{direction=\"in\"} %llu\n"
                           "rmedia_webrtc_data_messages_total{direction=\"out\"} %llu\n",
                           (unsigned long long)t.frames_in, (unsigned long long)t.frames_dropped,
                           (unsigned long long)t.messages_in, (unsigned long long)t.messages_out);
    g_string_append_printf(o,
                           "# HELP rmedia_webrtc_barge_ins_total Reply audio interrupted by the peer speaking\n"
                           "# TYPE rmedia_webrtc_barge_ins_total counter\nrmedia_webrtc_barge_ins_total %llu\n"
                           "# HELP rmedia_webrtc_barge_in_seconds_sum Speech start to silence on the return track\n"
                           "# TYPE rmedia_webrtc_barge_in_seconds_sum counter\nrmedia_webrtc_barge_in_seconds_sum %g\n"
                           "# HELP rmedia_webrtc_reply_audio_dropped_seconds_total Reply audio past "
                           "--webrtc-max-reply-seconds queued for a peer (ended peers)\n"
                           "# TYPE rmedia_webrtc_reply_audio_dropped_seconds_total counter\n"
                           "rmedia_webrtc_reply_audio_dropped_seconds_total %g\n",
                           (unsigned long long)t.barge_ins, t.barge_in_ms_sum / 1000.0, t.reply_dropped_ms / 1000.0);
    rtc_peers_prom(s, o);
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                              const char *version, const char *upload, size_t *upload_size, void **con_cls)
{
    (void)version;
    rtc_server *s = cls;
    if (!strcmp(method, "POST")) {
        whip_body *r = *con_cls;
        if (!r) {
            r = calloc(1, sizeof *r);
            if (!r) return MHD_NO;
            *con_cls = r;
            return MHD_YES;
        }
        if (*upload_size) {
            if (whip_body_append(r, upload, *upload_size) != 0) return MHD_NO;
            *upload_size = 0;
            return MHD_YES;
        }
    }
    /* routing, token, size and content type: whip_offer.c */
    whip_body *r = *con_cls;
    whip_request rq = {method, url, MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization"),
                       MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Type"), r};
    unsigned refused = 0;
    const char *why_not = NULL;
    switch (whip_classify(&rq, s->cfg.tokens, s->cfg.n_tokens, &refused, &why_not)) {
    case WHIP_REFUSE:
        return text_reply(c, s, refused, why_not);
    case WHIP_OPTIONS: {
        struct MHD_Response *resp = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
        if (!resp) return MHD_NO;
        MHD_add_response_header(resp, "Access-Control-Allow-Origin", "*");
        MHD_add_response_header(resp, "Access-Control-Allow-Methods", "POST, DELETE, OPTIONS");
        MHD_add_response_header(resp, "Access-Control-Allow-Headers", "Authorization, Content-Type");
        MHD_add_response_header(resp, "Access-Control-Expose-Headers", "Location");
        enum MHD_Result ret = MHD_queue_response(c, MHD_HTTP_NO_CONTENT, resp);
        MHD_destroy_response(resp);
        return ret;
    }
    case WHIP_HEALTH:
        return text_reply(c, s, 200, "ok");
    case WHIP_METRICS: {
        GString *o = g_string_new(NULL);
        prom(s, o);
        char *mem = rmt_mem_prom(); /* the process's memory and idle trims */
        if (mem) g_string_append(o, mem);
        free(mem);
        enum MHD_Result ret = reply(c, s, 200, "text/plain; version=0.0.4; charset=utf-8", o->str, NULL);
        g_string_free(o, TRUE);
        return ret;
    }
    case WHIP_DELETE:
        if (rtc_peer_end_by_id(s, url + 6, RTC_END_DELETE) != 0) {
            char msg[200];
            snprintf(msg, sizeof msg, "no session '%.100s' (ended already, or never existed)", url + 6);
            return text_reply(c, s, 404, msg);
        }
        return text_reply(c, s, 200, "session ended");
    case WHIP_OFFER:
        break;
    }
    if (s->stopping) return text_reply(c, s, 503, "the server is shutting down");
    char *answer = NULL, id[64], why[900];
    int status = rtc_peer_create(s, r->data ? r->data : "", r->len, &answer, id, sizeof id, why, sizeof why);
    if (status != 201) {
        pthread_mutex_lock(&s->mu);
        s->totals.peers_refused++;
        pthread_mutex_unlock(&s->mu);
        fprintf(stderr, "rmedia serve: webrtc offer refused (%d): %s\n", status, why);
        return text_reply(c, s, (unsigned)status, why);
    }
    pthread_mutex_lock(&s->mu);
    s->totals.peers_total++;
    pthread_mutex_unlock(&s->mu);
    char loc[96];
    snprintf(loc, sizeof loc, "/whip/%s", id);
    enum MHD_Result ret = reply(c, s, 201, "application/sdp", answer, loc);
    free(answer);
    return ret;
}

static void request_done(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode t)
{
    (void)cls, (void)c, (void)t;
    whip_body *r = *con_cls;
    if (r) {
        whip_body_free(r);
        free(r);
    }
    *con_cls = NULL;
}

/* ------------------------------------------------------------- startup --- */

static gboolean tick(gpointer user)
{
    rtc_peers_tick(user);
    return G_SOURCE_CONTINUE;
}

static void *loop_main(void *arg)
{
    rtc_server *s = arg;
    g_main_context_push_thread_default(s->ctx);
    g_main_loop_run(s->loop);
    g_main_context_pop_thread_default(s->ctx);
    return NULL;
}

/* A whole file (NUL-terminated; g_free), or NULL with the problem printed. */
static char *read_text(const char *path, const char *flag)
{
    gchar *text = NULL;
    GError *e = NULL;
    if (!g_file_get_contents(path, &text, NULL, &e)) {
        fprintf(stderr, "rmedia serve: %s %s: %s\n", flag, path, e ? e->message : "cannot read");
        if (e) g_error_free(e);
        return NULL;
    }
    return text;
}

/* metadata.session of the manifest (a new reference), or NULL. */
static json_t *session_options(const char *text)
{
    rm_manifest *m = NULL;
    if (rm_manifest_load_string(text, strlen(text), "manifest", RM_MANIFEST_AUTO, &m, NULL) != 0) return NULL;
    json_t *o = json_object_get(json_object_get(rm_manifest_json(m), "metadata"), "session");
    o = json_is_object(o) ? json_incref(o) : NULL;
    rm_manifest_free(m);
    return o;
}

static int takes(const rm_node_type *t, uint32_t kinds)
{
    const rm_port_def *pd = rm_node_type_n_inputs(t) ? rm_node_type_input(t, 0) : NULL;
    return pd && (!pd->kinds || (pd->kinds & kinds));
}

/* A node named by metadata.session.<key>: its id (borrowed from the graph),
 * or NULL with the problem printed (*bad set). */
static const char *declared_input(rtc_server *s, const json_t *opts, const char *key, uint32_t kinds,
                                  const char *what, int *bad)
{
    const json_t *v = json_object_get(opts, key);
    if (!v) return NULL;
    const char *id = json_string_value(v);
    int idx = id ? rm_graph_node_index(s->graph, id) : -1;
    if (!id) {
        fprintf(stderr, "rmedia serve: %s: metadata.session.%s: expected a node id (a string)\n", s->cfg.manifest_path,
                key);
    } else if (idx < 0) {
        fprintf(stderr, "rmedia serve: %s: metadata.session.%s: no node '%s' in the pipeline\n", s->cfg.manifest_path,
                key, id);
    } else if (!takes(rm_graph_node_type(s->graph, (size_t)idx), kinds)) {
        fprintf(stderr, "rmedia serve: %s: metadata.session.%s: node '%s' (%s) does not take %s\n",
                s->cfg.manifest_path, key, id, rm_graph_node_type(s->graph, (size_t)idx)->name, what);
    } else {
        return rm_graph_node_id(s->graph, (size_t)idx);
    }
    *bad = 1;
    return NULL;
}

/* The node ids the peer's audio and data-channel JSON go to (docs/webrtc.md,
 * "Inputs"): metadata.session.audio_input / data_input when the manifest
 * names them; otherwise the first source node, in manifest order, whose
 * first input takes audio, and the first other source whose first input
 * takes json or text (none: JSON must name its node). */
static int pick_inputs(rtc_server *s, const json_t *opts)
{
    rm_graph *g = s->graph;
    const uint32_t data_kinds = RM_KIND_BIT(RM_FRAME_JSON) | RM_KIND_BIT(RM_FRAME_TEXT);
    int bad = 0;
    s->audio_in = declared_input(s, opts, "audio_input", RM_KIND_BIT(RM_FRAME_AUDIO), "audio", &bad);
    s->data_in = declared_input(s, opts, "data_input", data_kinds, "json or text", &bad);
    if (bad) return -1;
    for (size_t i = 0; i < rm_graph_source_count(g); i++) {
        size_t n = rm_graph_source(g, i);
        const char *id = rm_graph_node_id(g, n);
        const rm_node_type *t = rm_graph_node_type(g, n);
        if (!s->audio_in && takes(t, RM_KIND_BIT(RM_FRAME_AUDIO))) s->audio_in = id;
        else if (!json_object_get(opts, "data_input") && !s->data_in && strcmp(id, s->audio_in ? s->audio_in : "") &&
                 takes(t, data_kinds))
            s->data_in = id;
    }
    if (!s->audio_in) {
        fprintf(stderr, "rmedia serve: %s: no source node takes audio; a WebRTC manifest needs one for the peer's "
                        "microphone (or metadata.session.audio_input)\n", s->cfg.manifest_path);
        return -1;
    }
    return 0;
}

/* HOST:PORT ("[v6]:PORT" too) → the first address it resolves to; -1 if
 * not of that form, -2 if HOST does not resolve. */
static int listen_addr(const char *listen, struct sockaddr_storage *sa)
{
    const char *colon = strrchr(listen, ':');
    if (!colon || !colon[1] || strspn(colon + 1, "0123456789") != strlen(colon + 1)) return -1;
    GSocketConnectable *addr = g_network_address_parse(listen, 0, NULL);
    GSocketAddressEnumerator *en = addr ? g_socket_connectable_enumerate(addr) : NULL;
    GSocketAddress *first = en ? g_socket_address_enumerator_next(en, NULL, NULL) : NULL;
    int ok = first && g_socket_address_to_native(first, sa, sizeof *sa, NULL);
    if (first) g_object_unref(first);
    if (en) g_object_unref(en);
    if (addr) g_object_unref(addr);
    return ok ? 0 : -2;
}

/* For the process's idle trim (memstats.h): a peer connected or being
 * answered, or a session still live.  Any thread. */
static int server_busy(void *ctx)
{
    rtc_server *s = ctx;
    pthread_mutex_lock(&s->mu);
    size_t peers = s->n_peers;
    pthread_mutex_unlock(&s->mu);
    return peers > 0 || rm_host_live_streams(s->host) > 0;
}

int rtc_start(rm_runtime *rt, const rtc_config *cfg, rtc_server **out)
{
    *out = NULL;
    for (size_t i = 0; i < cfg->n_ice_addrs; i++) {
        NiceAddress a;
        nice_address_init(&a);
        unsigned char raw[16];
        /* numeric only: getaddrinfo behind libnice would take "1.2.3" */
        if ((inet_pton(AF_INET, cfg->ice_addrs[i], raw) != 1 && inet_pton(AF_INET6, cfg->ice_addrs[i], raw) != 1) ||
            !nice_address_set_from_string(&a, cfg->ice_addrs[i])) {
            fprintf(stderr, "rmedia serve: --webrtc-ice-address '%s' is not an IPv4 or IPv6 address\n",
                    cfg->ice_addrs[i]);
            return 2;
        }
    }
    if (!cfg->tls_cert != !cfg->tls_key) {
        fprintf(stderr, "rmedia serve: TLS needs both --tls-cert and --tls-key\n");
        return 2;
    }
    struct sockaddr_storage sa;
    memset(&sa, 0, sizeof sa);
    int bad = listen_addr(cfg->listen, &sa);
    if (bad) {
        fprintf(stderr, "rmedia serve: --webrtc-listen '%s': %s\n", cfg->listen,
                bad == -1 ? "expected HOST:PORT with a numeric port" : "the host does not resolve");
        return 2;
    }
    GError *ge = NULL;
    if (!gst_init_check(NULL, NULL, &ge)) {
        fprintf(stderr, "rmedia serve: cannot initialise GStreamer: %s\n", ge ? ge->message : "?");
        if (ge) g_error_free(ge);
        return 5;
    }
    GstElementFactory *wf = gst_element_factory_find("webrtcbin");
    if (!wf) {
        fprintf(stderr, "rmedia serve: GStreamer's webrtcbin is missing (Debian: gstreamer1.0-plugins-bad, "
                        "gstreamer1.0-nice)\n");
        return 5;
    }
    gst_object_unref(wf);

    rtc_server *s = calloc(1, sizeof *s);
    if (!s) return 1;
    s->rt = rt;
    s->cfg = *cfg;
    if (!(s->cfg.max_reply_s > 0)) s->cfg.max_reply_s = RTC_DEFAULT_MAX_REPLY_S;
    pthread_mutex_init(&s->mu, NULL);
    int code = 4; /* the exit codes of cli.h: 1 invalid manifest, 4 I/O, 5 environment */
    char *text_copy = NULL;
    char *text = read_text(cfg->manifest_path, "manifest");
    if (!text) goto fail;
    code = 5;
    rm_host_opts ho;
    rm_host_opts_init(&ho);
    ho.pool_threads = cfg->pool_threads;
    ho.max_sessions = cfg->max_sessions;
    /* peer audio arrives in 20 ms frames and is dropped when the queue is
     * full: room for 10 s while a model decodes an utterance */
    ho.queue_capacity = 512;
    ho.idle_timeout_ms = (uint64_t)(cfg->idle_timeout_s * 1000.0);
    rm_error err;
    rm_error_clear(&err);
    if (rm_host_new(rt, &ho, &s->host, &err) != 0) {
        fprintf(stderr, "rmedia serve: %s\n", err.message);
        g_free(text);
        goto fail;
    }
    char *diags = NULL;
    int rc = rm_host_compile(s->host, text, strlen(text), cfg->manifest_path, &s->graph, &err, &diags);
    text_copy = text;
    if (rc != 0) {
        fprintf(stderr, "%s", diags && *diags ? diags : err.message);
        if (!diags || !*diags) fputc('\n', stderr);
        free(diags);
        code = 1;
        goto fail;
    }
    free(diags);
    if (!cfg->allow_python) {
        for (size_t i = 0; i < rm_graph_node_count(s->graph); i++) {
            const rm_node_type *t = rm_graph_node_type(s->graph, i);
            if (t->family && !strcmp(t->family, "python")) {
                fprintf(stderr, "rmedia serve: %s: node '%s' (%s) runs Python code; start the server with "
                                "--allow-python to allow it\n",
                        cfg->manifest_path, rm_graph_node_id(s->graph, i), t->name);
                code = 1;
                goto fail;
            }
        }
    }
    json_t *opts = session_options(text_copy);
    s->barge_in = json_is_true(json_object_get(opts, "barge_in"));
    g_free(text_copy);
    text_copy = NULL;
    int picked = pick_inputs(s, opts);
    json_decref(opts);
    if (picked != 0) {
        code = 1;
        goto fail;
    }
    s->ctx = g_main_context_new();
    s->loop = g_main_loop_new(s->ctx, FALSE);
    GSource *t = g_timeout_source_new(TICK_MS);
    g_source_set_callback(t, tick, s, NULL);
    g_source_attach(t, s->ctx);
    g_source_unref(t);
    if (pthread_create(&s->loop_thread, NULL, loop_main, s) != 0) goto fail;
    s->loop_started = 1;

    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION | MHD_USE_ERROR_LOG;
    if (sa.ss_family == AF_INET6) flags |= MHD_USE_IPv6;
    /* a thread per connection: bound them (MHD closes the ones past a limit unanswered) */
    struct MHD_OptionItem conn_limits[3];
    size_t nl = 0;
    if (cfg->max_connections)
        conn_limits[nl++] = (struct MHD_OptionItem){MHD_OPTION_CONNECTION_LIMIT, cfg->max_connections, NULL};
    if (cfg->max_connections_per_ip)
        conn_limits[nl++] = (struct MHD_OptionItem){MHD_OPTION_PER_IP_CONNECTION_LIMIT, cfg->max_connections_per_ip, NULL};
    conn_limits[nl] = (struct MHD_OptionItem){MHD_OPTION_END, 0, NULL};
    if (cfg->tls_cert) {
        code = 4;
        s->tls_cert = read_text(cfg->tls_cert, "--tls-cert");
        s->tls_key = s->tls_cert ? read_text(cfg->tls_key, "--tls-key") : NULL;
        if (!s->tls_key) goto fail;
        code = 5;
        flags |= MHD_USE_TLS;
        s->mhd = MHD_start_daemon(flags, 0, NULL, NULL, handle, s, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
                                  MHD_OPTION_NOTIFY_COMPLETED, request_done, s, MHD_OPTION_CONNECTION_TIMEOUT, 30u,
                                  MHD_OPTION_HTTPS_MEM_CERT, s->tls_cert, MHD_OPTION_HTTPS_MEM_KEY, s->tls_key,
                                  MHD_OPTION_ARRAY, conn_limits, MHD_OPTION_END);
    } else {
        s->mhd = MHD_start_daemon(flags, 0, NULL, NULL, handle, s, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
                                  MHD_OPTION_NOTIFY_COMPLETED, request_done, s, MHD_OPTION_CONNECTION_TIMEOUT, 30u,
                                  MHD_OPTION_ARRAY, conn_limits, MHD_OPTION_END);
    }
    if (!s->mhd) {
        fprintf(stderr, "rmedia serve: cannot listen on %s for WebRTC signalling%s\n", cfg->listen,
                cfg->tls_cert ? " (or the TLS certificate/key is not valid PEM)" : "");
        goto fail;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(s->mhd, MHD_DAEMON_INFO_BIND_PORT);
    unsigned port = info ? info->port : 0;
    if (cfg->port_file) {
        FILE *f = fopen(cfg->port_file, "w");
        if (!f || fprintf(f, "%u\n", port) < 0 || fclose(f) != 0) {
            fprintf(stderr, "rmedia serve: --webrtc-port-file %s: %s\n", cfg->port_file, strerror(errno));
            goto fail;
        }
    }
    fprintf(stderr, "rmedia serve: WebRTC (WHIP) on %s://%.*s:%u/whip, pipeline '%s' (audio in: %s%s%s)\n",
            cfg->tls_cert ? "https" : "http", (int)(strrchr(cfg->listen, ':') - cfg->listen), cfg->listen, port,
            rm_graph_name(s->graph), s->audio_in, s->data_in ? ", data in: " : "", s->data_in ? s->data_in : "");
    s->trim_registered = rmt_busy_add(server_busy, s) == 0;
    *out = s;
    return 0;
fail:
    g_free(text_copy);
    rtc_stop(s);
    return code;
}

void rtc_stop(rtc_server *s)
{
    if (!s) return;
    if (s->trim_registered) rmt_busy_remove(server_busy, s);
    s->stopping = 1;
    /* no new offers (s->stopping), then every peer ends; an offer being
     * answered ends too */
    if (s->loop_started) rtc_peers_drain(s);
    if (s->mhd) MHD_stop_daemon(s->mhd);
    if (s->loop_started) rtc_peers_drain(s);
    if (s->host) rm_host_shutdown_streams(s->host);
    if (s->loop_started) {
        g_main_loop_quit(s->loop);
        pthread_join(s->loop_thread, NULL);
    }
    if (s->loop) g_main_loop_unref(s->loop);
    if (s->ctx) g_main_context_unref(s->ctx);
    rm_graph_unref(s->graph);
    rm_host_free(s->host);
    g_free(s->tls_cert);
    g_free(s->tls_key);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

static volatile sig_atomic_t g_stop;
static void on_signal(int sig) { g_stop = sig; }

int rtc_serve(rm_runtime *rt, const rtc_config *cfg)
{
    rtc_server *s = NULL;
    int code = rtc_start(rt, cfg, &s);
    if (code != 0) return code;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    /* the process's idle trim, once a second (with gRPC, its loop does it) */
    double next_trim_tick = 0;
    while (!g_stop) {
        struct timespec ts = {0, 50 * 1000000L};
        nanosleep(&ts, NULL);
        clock_gettime(CLOCK_MONOTONIC, &ts);
        double now = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
        if (now >= next_trim_tick) {
            next_trim_tick = now + 1.0;
            rmt_trim_tick(now);
        }
    }
    fprintf(stderr, "rmedia serve: shutting down (signal %d)\n", (int)g_stop);
    rtc_stop(s);
    return 0;
}
