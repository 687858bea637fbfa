/*
 * One WebRTC peer: a GStreamer pipeline around webrtcbin and one host stream
 * (a session of the served manifest).
 *
 *   peer audio:  webrtcbin → rtpopusdepay → opusdec → audioconvert (F32) →
 *                appsink → rm_stream_push(audio input node)
 *   reply audio: sink outputs → queue → paced by the media thread's tick →
 *                appsrc → audioconvert → audioresample → opusenc →
 *                rtpopuspay → webrtcbin
 *   data:        json/text outputs → data channel; peer JSON → input node
 *   timing:      per reply, the `reply_audio` message: wall-clock marks from
 *                the caller's last loud audio to the first RTP packet out
 *
 * Threads: the answer is made on the HTTP connection's thread (blocking on
 * webrtcbin's promises); GStreamer callbacks run on streaming threads;
 * pacing, timeouts, stats and teardown run on the media thread (the
 * server's GMainContext), so a pipeline is never stopped from one of its
 * own streaming threads.
 */
#define _POSIX_C_SOURCE 200809L
#define GST_USE_UNSTABLE_API /* gst/webrtc is marked unstable in 1.22 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <gst/app/gstappsink.h>
#include <gst/app/gstappsrc.h>
#include <gst/audio/audio.h>
#include <gst/gst.h>
#include <gst/rtp/gstrtpbuffer.h>
#include <gst/sdp/sdp.h>
#include <gst/webrtc/webrtc.h>
#include <jansson.h>
#include <nice/agent.h>

#include "rtc_internal.h"
#include "whip_offer.h"

#define CHUNK_MS 20   /* reply audio pushed per step                         */
#define LEAD_MS 60    /* reply audio handed to the encoder ahead of real time */
#define ANSWER_TIMEOUT_S 10
#define CLOSE_GRACE_MS 200 /* the closing data-channel message leaves before the pipeline stops */
#define LOUD_RMS 0.01      /* audio "heard" (as the bench's threshold): reply timing marks */

struct rtc_peer {
    rtc_server *s;
    atomic_int refs;
    char id[48];
    GstElement *pipe, *wb, *appsrc;
    int audio_mline, pt;
    pthread_mutex_t mu;      /* everything below, except where noted */
    pthread_cond_t cv;       /* gathering done                       */
    pthread_mutex_t push_mu; /* serialises use of st (push, free)    */
    rm_stream *st;           /* guarded by push_mu                   */
    rm_stream *cb_st;        /* the same, set once: valid in the stream's callbacks */
    GstWebRTCDataChannel *dc;
    atomic_int ending;
    int reason;
    char detail[200];
    int gathered, connected;
    atomic_int creating; /* rtc_peer_create runs: teardown waits for it */
    /* reply audio: queued frames, the first partly sent; q_ms of audio in
     * them (at most cfg.max_reply_s: more is dropped, reply_dropped_ms) */
    rm_frame **q;
    size_t qn, qcap, qoff;
    double q_ms, reply_dropped_ms;
    int reply_drop_told; /* the peer was told of a drop in this reply */
    char *audio_sink; /* sink node whose audio goes back (first seen) */
    uint32_t caps_rate, caps_ch;
    GstClockTime next_pts;
    int speaking;         /* reply audio is being sent                          */
    int mute_reply;       /* barge-in: the interrupted reply's audio is dropped  */
    uint64_t first_push_ns; /* wall time of the first peer audio pushed         */
    double barge_last_ms;
    uint64_t created_ns;
    _Atomic uint64_t last_rx_ns;
    _Atomic uint64_t seq;
    uint64_t frames_in, frames_dropped, frames_out, msgs_in, msgs_out, last_stats_ns;
    /* RTCP-derived, from webrtcbin's get-stats */
    double jitter_s, rtt_s;
    int64_t packets_lost;
    uint64_t packets_received;
    int have_rtt;
    /* reply timing (the `reply_audio` message, docs/webrtc.md): wall-clock
     * ms (CLOCK_REALTIME, comparable with a browser's Date.now() on the
     * same host) of the marks on the way from the caller's last loud audio
     * to the reply's first RTP packet */
    double t_loud, t_heard, t_speech_end, t_text, t_chunk, t_push, t_rtp;
    uint32_t rtp_ts;
    double reply_lead_ms; /* reply audio before its first loud block (-1: not yet found) */
    uint64_t reply_scanned; /* reply samples scanned for it */
    int rtp_pending;        /* the reply's first RTP packet has not left the payloader yet */
    rtc_peer *prev, *next; /* server list, guarded by s->mu */
};

static void created(rtc_peer *p);

static double wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

const char *rtc_end_name(int reason)
{
    static const char *const names[RTC_END_COUNT] = {"deleted", "peer_gone", "ice_failed", "timeout",
                                                     "session_ended", "error", "shutdown"};
    return reason >= 0 && reason < RTC_END_COUNT ? names[reason] : "error";
}

static void peer_ref(rtc_peer *p) { atomic_fetch_add(&p->refs, 1); }

static void peer_unref(rtc_peer *p)
{
    if (atomic_fetch_sub(&p->refs, 1) != 1) return;
    for (size_t i = 0; i < p->qn; i++) rm_frame_unref(p->q[i]);
    free(p->q);
    free(p->audio_sink);
    pthread_mutex_destroy(&p->mu);
    pthread_mutex_destroy(&p->push_mu);
    pthread_cond_destroy(&p->cv);
    free(p);
}

/* ------------------------------------------------------- data channel --- */

/* Sends one JSON message to the peer (dropped while no channel is open). */
static void dc_send(rtc_peer *p, json_t *msg)
{
    char *text = json_dumps(msg, JSON_COMPACT);
    json_decref(msg);
    if (!text) return;
    pthread_mutex_lock(&p->mu);
    GstWebRTCDataChannel *dc = p->dc ? g_object_ref(p->dc) : NULL;
    pthread_mutex_unlock(&p->mu);
    if (dc) {
        GstWebRTCDataChannelState state;
        g_object_get(dc, "ready-state", &state, NULL);
        if (state == GST_WEBRTC_DATA_CHANNEL_STATE_OPEN) {
            gst_webrtc_data_channel_send_string(dc, text);
            pthread_mutex_lock(&p->mu);
            p->msgs_out++;
            pthread_mutex_unlock(&p->mu);
        }
        g_object_unref(dc);
    }
    free(text);
}

static void dc_error(rtc_peer *p, const char *fmt, const char *arg)
{
    char buf[600];
    snprintf(buf, sizeof buf, fmt, arg);
    dc_send(p, json_pack("{s:s, s:s}", "type", "error", "message", buf));
}

/* JSON from the peer: {"node": ID, "port": P, "data": V} goes to node ID,
 * anything else to the manifest's data input node. */
static void on_dc_message(GstWebRTCDataChannel *dc, const gchar *str, gpointer user)
{
    (void)dc;
    rtc_peer *p = user;
    rtc_server *s = p->s;
    json_error_t je;
    json_t *root = json_loads(str ? str : "", JSON_DECODE_ANY, &je);
    if (!root) {
        dc_error(p, "data channel message is not JSON: %s", je.text);
        return;
    }
    const char *node = s->data_in, *port = NULL;
    json_t *data = root;
    if (json_is_object(root) && json_is_string(json_object_get(root, "node"))) {
        node = json_string_value(json_object_get(root, "node"));
        port = json_string_value(json_object_get(root, "port"));
        data = json_object_get(root, "data");
        if (!data) {
            json_decref(root);
            dc_error(p, "message for node '%s' has no \"data\"", node);
            return;
        }
    }
    if (!node) {
        json_decref(root);
        dc_error(p, "%s", "the pipeline declares no input node for data-channel JSON; send {\"node\": ID, \"data\": ...}");
        return;
    }
    /* a string is text wherever text is accepted (as `rmedia run` reads it) */
    rm_frame *f = NULL;
    int idx = rm_graph_node_index(s->graph, node);
    const rm_port_def *pd = NULL;
    if (idx >= 0) {
        const rm_node_type *t = rm_graph_node_type(s->graph, (size_t)idx);
        int pi = port ? rm_node_type_input_index(t, port) : 0;
        pd = pi >= 0 ? rm_node_type_input(t, (unsigned)pi) : NULL;
    }
    if (json_is_string(data) && (!pd || !pd->kinds || (pd->kinds & RM_KIND_BIT(RM_FRAME_TEXT))))
        f = rm_frame_new_text(json_string_value(data), json_string_length(data));
    else
        f = rm_frame_new_json(json_incref(data)); /* the frame takes a reference */
    rm_error err;
    rm_error_clear(&err);
    int rc = RM_ENOMEM;
    pthread_mutex_lock(&p->push_mu);
    if (!f) {
        rc = RM_ENOMEM;
        rm_error_set(&err, rc, node, "out of memory");
    } else if (p->st) {
        rc = rm_stream_push(p->st, node, port, f, atomic_fetch_add(&p->seq, 1) + 1, &err);
        f = NULL;
    } else {
        rc = rm_error_set(&err, RM_ESTATE, node, "the session has ended");
    }
    pthread_mutex_unlock(&p->push_mu);
    rm_frame_unref(f);
    json_decref(root);
    if (rc != 0) {
        dc_error(p, "%s", err.message);
        return;
    }
    pthread_mutex_lock(&p->mu);
    p->msgs_in++;
    pthread_mutex_unlock(&p->mu);
}

static void on_dc_close(GstWebRTCDataChannel *dc, gpointer user)
{
    (void)dc;
    rtc_peer_end(user, RTC_END_PEER_GONE, "the peer closed the data channel");
}

static void on_data_channel(GstElement *wb, GstWebRTCDataChannel *dc, gpointer user)
{
    (void)wb;
    rtc_peer *p = user;
    pthread_mutex_lock(&p->mu);
    int first = p->dc == NULL;
    if (first) p->dc = g_object_ref(dc);
    pthread_mutex_unlock(&p->mu);
    if (!first) return; /* one channel carries the messages */
    g_signal_connect(dc, "on-message-string", G_CALLBACK(on_dc_message), p);
    g_signal_connect(dc, "on-close", G_CALLBACK(on_dc_close), p);
}

/* ------------------------------------------------------ session outputs --- */

/* Barge-in (the manifest's metadata.session.barge_in): the peer started
 * speaking (a VAD event among the outputs) while reply audio plays.  The
 * queued reply audio is dropped, the speaking node (the sink whose audio
 * goes back) has its current call interrupted (rm_stream_interrupt:
 * text-to-speech stops before its next sentence), and whatever of that
 * reply still comes is discarded until the next transcript or reply text.
 * Called from an output callback, so the stream is alive.  Measured: from the speech start
 * in the peer's audio (`at_ms` on the session's input timeline, which runs in
 * real time from the first frame) to the end of the audio already handed to
 * the encoder, i.e. silence on the return track. */
static void barge_in(rtc_peer *p, double at_ms)
{
    uint64_t t = now_ns();
    GstClockTime now_rt = p->pipe ? gst_element_get_current_running_time(p->pipe) : GST_CLOCK_TIME_NONE;
    pthread_mutex_lock(&p->mu);
    if (!p->speaking && !p->qn) {
        pthread_mutex_unlock(&p->mu);
        return;
    }
    double dropped_ms = 0;
    for (size_t i = 0; i < p->qn; i++) {
        const rm_frame *f = p->q[i];
        size_t n = f->u.audio.frames - (i == 0 ? p->qoff : 0);
        dropped_ms += 1000.0 * (double)n / f->u.audio.rate;
        rm_frame_unref(p->q[i]);
    }
    p->qn = p->qoff = 0;
    p->q_ms = 0;
    p->mute_reply = 1;
    if (p->audio_sink) rm_stream_interrupt(p->cb_st, p->audio_sink); /* one atomic add */
    uint64_t ahead = GST_CLOCK_TIME_IS_VALID(now_rt) && p->next_pts > now_rt ? p->next_pts - now_rt : 0;
    uint64_t spoke = p->first_push_ns + (uint64_t)(at_ms > 0 ? at_ms * 1e6 : 0);
    double ms = spoke && spoke < t + ahead ? (double)(t + ahead - spoke) / 1e6 : (double)ahead / 1e6;
    p->barge_last_ms = ms;
    pthread_mutex_unlock(&p->mu);
    pthread_mutex_lock(&p->s->mu);
    p->s->totals.barge_ins++;
    p->s->totals.barge_in_ms_sum += ms;
    pthread_mutex_unlock(&p->s->mu);
    dc_send(p, json_pack("{s:s, s:f, s:f}", "type", "barge_in", "ms", ms, "dropped_ms", dropped_ms));
}

static void pace(rtc_peer *p);
static GstPadProbeReturn on_rtp_out(GstPad *pad, GstPadProbeInfo *info, gpointer user);
static void peer_unref_notify(gpointer user);

static gboolean pace_now(gpointer user)
{
    rtc_peer *p = user;
    if (!atomic_load(&p->ending) && !atomic_load(&p->creating) && p->appsrc) pace(p);
    return G_SOURCE_REMOVE;
}

static void on_output(void *user, const char *node_id, const char *port, const rm_frame *f, uint64_t seq)
{
    rtc_peer *p = user;
    if (f->kind == RM_FRAME_AUDIO) {
        pthread_mutex_lock(&p->mu);
        /* the first chunk of a reply goes to the encoder at once, not at
         * the next tick (up to TICK_MS later) */
        int wake = !p->speaking && !p->qn;
        if (!p->audio_sink) p->audio_sink = strdup(node_id);
        if (wake) p->t_chunk = wall_ms();
        json_t *told = NULL;
        if (p->audio_sink && !strcmp(p->audio_sink, node_id) && f->u.audio.frames && !p->mute_reply) {
            double ms = 1000.0 * (double)f->u.audio.frames / f->u.audio.rate, limit = p->s->cfg.max_reply_s * 1000.0;
            if (p->q_ms + ms > limit) {
                /* paced in real time, a reply's audio waits in memory: a
                 * pipeline making it far faster (a long text to speak) is
                 * cut here rather than held without bound */
                p->reply_dropped_ms += ms;
                if (!p->reply_drop_told)
                    told = json_pack("{s:s, s:f, s:f}", "type", "reply_audio_dropped", "queued_ms", p->q_ms,
                                     "limit_ms", limit);
                p->reply_drop_told = 1;
                wake = 0;
            } else {
                if (p->qn == p->qcap) {
                    size_t cap = p->qcap ? p->qcap * 2 : 16;
                    rm_frame **q = realloc(p->q, cap * sizeof *q);
                    if (q) p->q = q, p->qcap = cap;
                }
                if (p->qn < p->qcap) {
                    p->q[p->qn++] = rm_frame_ref((rm_frame *)f);
                    p->q_ms += ms;
                }
            }
        } else {
            wake = 0;
        }
        pthread_mutex_unlock(&p->mu);
        if (told) dc_send(p, told);
        if (wake) {
            peer_ref(p);
            GSource *src = g_idle_source_new();
            g_source_set_priority(src, G_PRIORITY_HIGH);
            g_source_set_callback(src, pace_now, p, peer_unref_notify);
            g_source_attach(src, p->s->ctx);
            g_source_unref(src);
        }
        return;
    }
    json_t *data = NULL;
    const char *kind = "json";
    if (f->kind == RM_FRAME_JSON && json_object_get(f->u.json.value, "is_speech_start")) {
        if (json_is_true(json_object_get(f->u.json.value, "is_speech_end"))) {
            pthread_mutex_lock(&p->mu);
            p->t_speech_end = wall_ms();
            p->t_heard = p->t_loud; /* the caller's last loud audio before it */
            p->t_text = 0;
            pthread_mutex_unlock(&p->mu);
        }
        if (json_is_true(json_object_get(f->u.json.value, "is_speech_start")) && p->s->barge_in)
            barge_in(p, json_number_value(json_object_get(f->u.json.value, "timestamp_ms")));
    } else if (f->kind == RM_FRAME_JSON || f->kind == RM_FRAME_TEXT) {
        /* a new transcript or reply: the next reply is heard again */
        pthread_mutex_lock(&p->mu);
        p->mute_reply = 0;
        if (!p->t_text) p->t_text = wall_ms(); /* the first after the speech end: the transcript */
        pthread_mutex_unlock(&p->mu);
    }
    if (f->kind == RM_FRAME_JSON) data = json_incref(f->u.json.value);
    else if (f->kind == RM_FRAME_TEXT) data = json_stringn(f->u.text.data, f->u.text.len), kind = "text";
    if (!data) return; /* video, tensors, binary: not sent */
    json_t *msg = json_pack("{s:s, s:s, s:s, s:s, s:o, s:I}", "type", "output", "node", node_id, "port", port, "kind",
                            kind, "data", data, "seq", (json_int_t)seq);
    if (msg) dc_send(p, msg);
}

static void on_closed(void *user, rm_stream_end why, const rm_error *err, const char *metrics_json)
{
    rtc_peer *p = user;
    (void)metrics_json;
    char detail[600];
    snprintf(detail, sizeof detail, "session %s%s%s", rm_stream_end_name(why), err ? ": " : "",
             err ? err->message : "");
    rtc_peer_end(p, RTC_END_SESSION, detail);
}

/* -------------------------------------------------------- peer audio in --- */

static GstFlowReturn on_sample(GstAppSink *sink, gpointer user)
{
    rtc_peer *p = user;
    GstSample *smp = gst_app_sink_pull_sample(sink);
    if (!smp) return GST_FLOW_EOS;
    GstAudioInfo info;
    GstMapInfo map;
    GstBuffer *buf = gst_sample_get_buffer(smp);
    if (!gst_audio_info_from_caps(&info, gst_sample_get_caps(smp)) || !buf ||
        !gst_buffer_map(buf, &map, GST_MAP_READ)) {
        gst_sample_unref(smp);
        return GST_FLOW_OK;
    }
    size_t ch = (size_t)GST_AUDIO_INFO_CHANNELS(&info), n = map.size / (sizeof(float) * (ch ? ch : 1));
    rm_frame *f = n ? rm_frame_new_audio(RM_SAMPLE_F32, (uint32_t)GST_AUDIO_INFO_RATE(&info), (uint32_t)ch, n) : NULL;
    int loud = 0;
    if (f) {
        memcpy(f->u.audio.data, map.data, n * ch * sizeof(float));
        const float *d = f->u.audio.data;
        double e = 0;
        for (size_t i = 0; i < n * ch; i++) e += (double)d[i] * d[i];
        loud = e > LOUD_RMS * LOUD_RMS * (double)(n * ch);
    }
    gst_buffer_unmap(buf, &map);
    gst_sample_unref(smp);
    uint64_t t = now_ns();
    atomic_store(&p->last_rx_ns, t);
    if (!f) return GST_FLOW_OK;
    int pushed = 0;
    pthread_mutex_lock(&p->push_mu);
    if (p->st && rm_stream_writable(p->st)) {
        rm_error err;
        rm_error_clear(&err);
        /* real time: a full queue drops audio rather than waiting */
        pushed = rm_stream_push(p->st, p->s->audio_in, NULL, f, atomic_fetch_add(&p->seq, 1) + 1, &err) == 0;
        f = NULL;
    }
    pthread_mutex_unlock(&p->push_mu);
    rm_frame_unref(f);
    pthread_mutex_lock(&p->mu);
    if (pushed && !p->frames_in) p->first_push_ns = t;
    if (pushed && loud) p->t_loud = wall_ms();
    if (pushed) p->frames_in++;
    else p->frames_dropped++;
    pthread_mutex_unlock(&p->mu);
    return GST_FLOW_OK;
}

static GstElement *make(const char *factory, rtc_peer *p, int *ok)
{
    GstElement *e = gst_element_factory_make(factory, NULL);
    if (!e) {
        *ok = 0;
        fprintf(stderr, "rmedia serve: webrtc peer %s: GStreamer element '%s' is missing\n", p->id, factory);
    }
    return e;
}

/* webrtcbin exposes a src pad per received stream: decode audio into the
 * appsink, discard anything else. */
static void on_pad_added(GstElement *wb, GstPad *pad, gpointer user)
{
    (void)wb;
    rtc_peer *p = user;
    if (GST_PAD_DIRECTION(pad) != GST_PAD_SRC) return;
    GstCaps *caps = gst_pad_get_current_caps(pad);
    if (!caps) caps = gst_pad_query_caps(pad, NULL);
    const GstStructure *cs = caps && gst_caps_get_size(caps) ? gst_caps_get_structure(caps, 0) : NULL;
    const char *media = cs ? gst_structure_get_string(cs, "media") : NULL;
    const char *enc = cs ? gst_structure_get_string(cs, "encoding-name") : NULL;
    int audio = media && !strcmp(media, "audio") && enc && !g_ascii_strcasecmp(enc, "OPUS");
    if (caps) gst_caps_unref(caps);
    int ok = 1;
    if (!audio) {
        GstElement *sink = make("fakesink", p, &ok);
        if (!ok) return;
        g_object_set(sink, "async", FALSE, "sync", FALSE, NULL);
        gst_bin_add(GST_BIN(p->pipe), sink);
        gst_element_sync_state_with_parent(sink);
        GstPad *sp = gst_element_get_static_pad(sink, "sink");
        gst_pad_link(pad, sp);
        gst_object_unref(sp);
        return;
    }
    GstElement *depay = make("rtpopusdepay", p, &ok), *dec = make("opusdec", p, &ok),
               *conv = make("audioconvert", p, &ok), *filt = make("capsfilter", p, &ok),
               *sink = make("appsink", p, &ok);
    if (!ok) {
        GstElement *all[] = {depay, dec, conv, filt, sink};
        for (size_t i = 0; i < 5; i++)
            if (all[i]) gst_object_unref(all[i]);
        rtc_peer_end(p, RTC_END_ERROR, "a GStreamer element for decoding Opus is missing");
        return;
    }
    GstCaps *f32 = gst_caps_from_string("audio/x-raw,format=F32LE,layout=interleaved");
    g_object_set(filt, "caps", f32, NULL);
    gst_caps_unref(f32);
    g_object_set(sink, "sync", FALSE, "async", FALSE, "max-buffers", 50u, "drop", TRUE, NULL);
    GstAppSinkCallbacks cbs = {0};
    cbs.new_sample = on_sample;
    gst_app_sink_set_callbacks(GST_APP_SINK(sink), &cbs, p, NULL);
    gst_bin_add_many(GST_BIN(p->pipe), depay, dec, conv, filt, sink, NULL);
    gst_element_link_many(depay, dec, conv, filt, sink, NULL);
    GstElement *chain[] = {sink, filt, conv, dec, depay};
    for (size_t i = 0; i < 5; i++) gst_element_sync_state_with_parent(chain[i]);
    GstPad *dp = gst_element_get_static_pad(depay, "sink");
    if (gst_pad_link(pad, dp) != GST_PAD_LINK_OK) rtc_peer_end(p, RTC_END_ERROR, "cannot link the peer's audio");
    gst_object_unref(dp);
}

/* ------------------------------------------------------------ state --- */

static void on_gathering(GObject *obj, GParamSpec *ps, gpointer user)
{
    (void)ps;
    rtc_peer *p = user;
    GstWebRTCICEGatheringState st;
    g_object_get(obj, "ice-gathering-state", &st, NULL);
    if (st != GST_WEBRTC_ICE_GATHERING_STATE_COMPLETE) return;
    pthread_mutex_lock(&p->mu);
    p->gathered = 1;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
}

static void on_connection(GObject *obj, GParamSpec *ps, gpointer user)
{
    (void)ps;
    rtc_peer *p = user;
    GstWebRTCPeerConnectionState st;
    g_object_get(obj, "connection-state", &st, NULL);
    if (st == GST_WEBRTC_PEER_CONNECTION_STATE_CONNECTED) {
        atomic_store(&p->last_rx_ns, now_ns());
        pthread_mutex_lock(&p->mu);
        p->connected = 1;
        pthread_mutex_unlock(&p->mu);
    } else if (st == GST_WEBRTC_PEER_CONNECTION_STATE_FAILED) {
        rtc_peer_end(p, RTC_END_ICE, "the connection failed (ICE/DTLS)");
    } else if (st == GST_WEBRTC_PEER_CONNECTION_STATE_CLOSED) {
        rtc_peer_end(p, RTC_END_PEER_GONE, "the connection closed");
    }
}

static void on_ice_state(GObject *obj, GParamSpec *ps, gpointer user)
{
    (void)ps;
    GstWebRTCICEConnectionState st;
    g_object_get(obj, "ice-connection-state", &st, NULL);
    if (st == GST_WEBRTC_ICE_CONNECTION_STATE_FAILED) rtc_peer_end(user, RTC_END_ICE, "ICE failed");
}

static GstBusSyncReply on_bus(GstBus *bus, GstMessage *msg, gpointer user)
{
    (void)bus;
    if (GST_MESSAGE_TYPE(msg) == GST_MESSAGE_ERROR) {
        GError *e = NULL;
        gst_message_parse_error(msg, &e, NULL);
        char detail[300];
        snprintf(detail, sizeof detail, "GStreamer: %s", e ? e->message : "error");
        if (e) g_error_free(e);
        rtc_peer_end(user, RTC_END_ERROR, detail);
    }
    return GST_BUS_DROP;
}

/* ------------------------------------------------------------ creation --- */

/* Waits for a promise answered by webrtcbin: 0 with its reply (borrowed
 * from the promise, may be NULL), or -1 with `why` set. */
static int promise_wait(GstPromise *pr, const GstStructure **reply, const char *what, char *why, size_t cap)
{
    *reply = NULL;
    if (gst_promise_wait(pr) != GST_PROMISE_RESULT_REPLIED) {
        snprintf(why, cap, "%s: no reply from webrtcbin", what);
        return -1;
    }
    const GstStructure *r = gst_promise_get_reply(pr);
    GError *e = NULL;
    if (r && gst_structure_has_field(r, "error")) {
        gst_structure_get(r, "error", G_TYPE_ERROR, &e, NULL);
        snprintf(why, cap, "%s: %s", what, e ? e->message : "failed");
        if (e) g_error_free(e);
        return -1;
    }
    *reply = r;
    return 0;
}

static int build_send(rtc_peer *p, char *why, size_t cap)
{
    int ok = 1;
    GstElement *src = make("appsrc", p, &ok), *conv = make("audioconvert", p, &ok),
               *res = make("audioresample", p, &ok), *enc = make("opusenc", p, &ok),
               *pay = make("rtpopuspay", p, &ok), *filt = make("capsfilter", p, &ok);
    GstElement *all[] = {src, conv, res, enc, pay, filt};
    if (!ok) {
        for (size_t i = 0; i < 6; i++)
            if (all[i]) gst_object_unref(all[i]);
        snprintf(why, cap, "a GStreamer element for encoding Opus is missing (see the server log)");
        return -1;
    }
    GstCaps *raw = gst_caps_from_string("audio/x-raw,format=F32LE,layout=interleaved,rate=48000,channels=1");
    g_object_set(src, "caps", raw, "format", GST_FORMAT_TIME, "is-live", TRUE, "do-timestamp", FALSE, NULL);
    gst_caps_unref(raw);
    p->caps_rate = 48000;
    p->caps_ch = 1;
    g_object_set(enc, "frame-size", CHUNK_MS, NULL);
    g_object_set(pay, "pt", (guint)p->pt, NULL);
    GstCaps *rtp = gst_caps_new_simple("application/x-rtp", "media", G_TYPE_STRING, "audio", "encoding-name",
                                       G_TYPE_STRING, "OPUS", "clock-rate", G_TYPE_INT, 48000, "payload", G_TYPE_INT,
                                       p->pt, NULL);
    g_object_set(filt, "caps", rtp, NULL);
    GstWebRTCRTPTransceiver *tr = NULL;
    g_signal_emit_by_name(p->wb, "get-transceiver", p->audio_mline, &tr);
    if (tr) {
        g_object_set(tr, "direction", GST_WEBRTC_RTP_TRANSCEIVER_DIRECTION_SENDRECV, "codec-preferences", rtp, NULL);
        gst_object_unref(tr);
    }
    gst_caps_unref(rtp);
    gst_bin_add_many(GST_BIN(p->pipe), src, conv, res, enc, pay, filt, NULL);
    if (!gst_element_link_many(src, conv, res, enc, pay, filt, NULL)) {
        snprintf(why, cap, "cannot link the reply audio chain");
        return -1;
    }
    GstPad *pp = gst_element_get_static_pad(pay, "src");
    gst_pad_add_probe(pp, GST_PAD_PROBE_TYPE_BUFFER | GST_PAD_PROBE_TYPE_BUFFER_LIST, on_rtp_out, p, NULL);
    gst_object_unref(pp);
    char name[32];
    snprintf(name, sizeof name, "sink_%d", p->audio_mline);
    GstPadTemplate *tmpl = gst_element_class_get_pad_template(GST_ELEMENT_GET_CLASS(p->wb), "sink_%u");
    GstPad *sink = tmpl ? gst_element_request_pad(p->wb, tmpl, name, NULL) : NULL;
    GstPad *srcpad = gst_element_get_static_pad(filt, "src");
    int linked = sink && gst_pad_link(srcpad, sink) == GST_PAD_LINK_OK;
    gst_object_unref(srcpad);
    if (sink) gst_object_unref(sink);
    if (!linked) {
        snprintf(why, cap, "cannot attach the reply audio to webrtcbin");
        return -1;
    }
    for (size_t i = 0; i < 6; i++) gst_element_sync_state_with_parent(all[i]);
    p->appsrc = src;
    return 0;
}

static void add_ice_addresses(rtc_peer *p)
{
    const rtc_config *c = &p->s->cfg;
    if (!c->n_ice_addrs) return;
    GObject *ice = NULL;
    g_object_get(p->wb, "ice-agent", &ice, NULL);
    NiceAgent *agent = NULL;
    if (ice) g_object_get(ice, "agent", &agent, NULL);
    for (size_t i = 0; agent && i < c->n_ice_addrs; i++) {
        NiceAddress a;
        nice_address_init(&a);
        /* checked when the server started */
        if (nice_address_set_from_string(&a, c->ice_addrs[i])) nice_agent_add_local_address(agent, &a);
    }
    if (agent) g_object_unref(agent);
    if (ice) g_object_unref(ice);
}

/* The answer as text, once gathering is complete: webrtcbin has added every
 * local candidate to its local description by then (WHIP without trickle:
 * the answer must carry them). */
static char *answer_text(rtc_peer *p)
{
    GstWebRTCSessionDescription *local = NULL;
    g_object_get(p->wb, "local-description", &local, NULL);
    if (!local) return NULL;
    gchar *t = gst_sdp_message_as_text(local->sdp);
    gst_webrtc_session_description_free(local);
    char *out = t ? strdup(t) : NULL;
    g_free(t);
    return out;
}

static void release_slot(rtc_server *s)
{
    pthread_mutex_lock(&s->mu);
    s->n_peers--;
    pthread_mutex_unlock(&s->mu);
}

static void list_add(rtc_server *s, rtc_peer *p)
{
    pthread_mutex_lock(&s->mu);
    p->next = s->peers;
    if (s->peers) s->peers->prev = p;
    s->peers = p;
    pthread_mutex_unlock(&s->mu);
}

int rtc_peer_create(rtc_server *s, const char *offer, size_t len, char **answer, char *id_out, size_t id_cap,
                    char *why, size_t why_cap)
{
    *answer = NULL;
    /* the offer first (whip_offer.c): a bad one costs nothing */
    GstSDPMessage *sdp = NULL;
    int pt = 0, mline = 0;
    if (whip_parse_offer(offer, len, &sdp, &mline, &pt, why, why_cap) != 0) return 400;
    /* the limit: reserve a slot (teardown gives it back) */
    pthread_mutex_lock(&s->mu);
    if (s->cfg.max_peers && s->n_peers >= s->cfg.max_peers) {
        size_t n = s->n_peers;
        pthread_mutex_unlock(&s->mu);
        gst_sdp_message_free(sdp);
        snprintf(why, why_cap, "too many peers: %zu connected, the limit is %zu (--webrtc-max-peers)", n,
                 s->cfg.max_peers);
        return 503;
    }
    s->n_peers++;
    pthread_mutex_unlock(&s->mu);
    rtc_peer *p = calloc(1, sizeof *p);
    if (!p) {
        release_slot(s);
        gst_sdp_message_free(sdp);
        snprintf(why, why_cap, "out of memory");
        return 500;
    }
    p->s = s;
    atomic_init(&p->refs, 1); /* this call's */
    pthread_mutex_init(&p->mu, NULL);
    pthread_mutex_init(&p->push_mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    p->audio_mline = mline;
    p->pt = pt;
    p->created_ns = now_ns();
    snprintf(p->id, sizeof p->id, "peer-%u-%08x%08x", atomic_fetch_add(&s->counter, 1) + 1, g_random_int(),
             g_random_int());
    snprintf(id_out, id_cap, "%s", p->id);

    /* the session: node init (models) happens here; the host enforces
     * --max-sessions */
    rm_stream_callbacks cb = {.on_output = on_output, .on_closed = on_closed, .user = p};
    rm_error err;
    rm_error_clear(&err);
    rm_stream *st = NULL;
    int rc = rm_stream_open(s->host, s->graph, p->id, &cb, &st, &err);
    if (rc != 0) {
        release_slot(s);
        gst_sdp_message_free(sdp);
        peer_unref(p);
        snprintf(why, why_cap, "%s", err.message[0] ? err.message : rm_strerror(rc));
        return rc == RM_ELIMIT ? 503 : 500;
    }
    p->st = p->cb_st = st;
    p->creating = 1;
    peer_ref(p); /* the server list's */
    list_add(s, p);

    int status = 500;
    GstWebRTCSessionDescription *desc = NULL;
    p->pipe = gst_pipeline_new(p->id);
    p->wb = gst_element_factory_make("webrtcbin", "wb");
    if (!p->pipe || !p->wb) {
        snprintf(why, why_cap, "GStreamer's webrtcbin is missing (Debian: gstreamer1.0-plugins-bad, gstreamer1.0-nice)");
        if (p->wb) gst_object_unref(p->wb);
        p->wb = NULL;
        gst_sdp_message_free(sdp);
        goto fail;
    }
    g_object_set(p->wb, "bundle-policy", GST_WEBRTC_BUNDLE_POLICY_MAX_BUNDLE, NULL);
    gst_bin_add(GST_BIN(p->pipe), p->wb);
    GstBus *bus = gst_element_get_bus(p->pipe);
    gst_bus_set_sync_handler(bus, on_bus, p, NULL);
    gst_object_unref(bus);
    g_signal_connect(p->wb, "pad-added", G_CALLBACK(on_pad_added), p);
    g_signal_connect(p->wb, "on-data-channel", G_CALLBACK(on_data_channel), p);
    g_signal_connect(p->wb, "notify::ice-gathering-state", G_CALLBACK(on_gathering), p);
    g_signal_connect(p->wb, "notify::connection-state", G_CALLBACK(on_connection), p);
    g_signal_connect(p->wb, "notify::ice-connection-state", G_CALLBACK(on_ice_state), p);
    add_ice_addresses(p);
    if (gst_element_set_state(p->pipe, GST_STATE_PLAYING) == GST_STATE_CHANGE_FAILURE) {
        snprintf(why, why_cap, "cannot start the peer's pipeline");
        gst_sdp_message_free(sdp);
        goto fail;
    }

    desc = gst_webrtc_session_description_new(GST_WEBRTC_SDP_TYPE_OFFER, sdp); /* takes sdp */
    GstPromise *pr = gst_promise_new();
    g_signal_emit_by_name(p->wb, "set-remote-description", desc, pr);
    const GstStructure *r = NULL;
    int bad = promise_wait(pr, &r, "the offer was refused", why, why_cap);
    gst_promise_unref(pr);
    gst_webrtc_session_description_free(desc);
    if (bad) {
        status = 400;
        goto fail;
    }
    if (build_send(p, why, why_cap) != 0) goto fail;

    pr = gst_promise_new();
    g_signal_emit_by_name(p->wb, "create-answer", NULL, pr);
    bad = promise_wait(pr, &r, "cannot answer the offer", why, why_cap);
    GstWebRTCSessionDescription *ans = NULL;
    if (!bad && r) gst_structure_get(r, "answer", GST_TYPE_WEBRTC_SESSION_DESCRIPTION, &ans, NULL);
    gst_promise_unref(pr);
    if (!ans) {
        if (!bad) snprintf(why, why_cap, "cannot answer the offer (no common codec or transport)");
        status = 400;
        goto fail;
    }
    pr = gst_promise_new();
    g_signal_emit_by_name(p->wb, "set-local-description", ans, pr);
    bad = promise_wait(pr, &r, "cannot apply the answer", why, why_cap);
    gst_promise_unref(pr);
    gst_webrtc_session_description_free(ans);
    if (bad) goto fail;

    /* WHIP without trickle ICE: the answer carries every candidate */
    struct timespec dl;
    clock_gettime(CLOCK_REALTIME, &dl);
    dl.tv_sec += ANSWER_TIMEOUT_S;
    pthread_mutex_lock(&p->mu);
    while (!p->gathered && !atomic_load(&p->ending))
        if (pthread_cond_timedwait(&p->cv, &p->mu, &dl) != 0) break;
    int gathered = p->gathered;
    pthread_mutex_unlock(&p->mu);
    if (!gathered) {
        snprintf(why, why_cap, "ICE gathering did not complete within %d s%s", ANSWER_TIMEOUT_S,
                 s->cfg.n_ice_addrs ? "" : " (no --webrtc-ice-address: in a namespace with only lo, add 127.0.0.1)");
        goto fail;
    }
    *answer = answer_text(p);
    if (!*answer) {
        snprintf(why, why_cap, "webrtcbin has no local description");
        goto fail;
    }
    if (atomic_load(&p->ending)) {
        free(*answer);
        *answer = NULL;
        pthread_mutex_lock(&p->mu);
        snprintf(why, why_cap, "the session ended while answering: %s", p->detail);
        pthread_mutex_unlock(&p->mu);
        created(p);
        peer_unref(p);
        return 503;
    }
    fprintf(stderr, "rmedia serve: webrtc peer %s answered (a session of '%s')\n", p->id, rm_graph_name(s->graph));
    pthread_mutex_lock(&p->mu);
    p->created_ns = now_ns(); /* the ICE timeout runs from the answer (opening the session loads models) */
    pthread_mutex_unlock(&p->mu);
    created(p);
    peer_unref(p);
    return 201;
fail:
    rtc_peer_end(p, RTC_END_ERROR, why);
    created(p);
    peer_unref(p);
    return status;
}

/* ------------------------------------------------------------ teardown --- */

static gboolean stop_pipeline(gpointer user);

static gboolean teardown(gpointer user)
{
    rtc_peer *p = user;
    rtc_server *s = p->s;
    pthread_mutex_lock(&s->mu);
    if (p->prev) p->prev->next = p->next;
    else if (s->peers == p) s->peers = p->next;
    if (p->next) p->next->prev = p->prev;
    p->next = p->prev = NULL;
    s->totals.ended[p->reason]++;
    s->totals.frames_in += p->frames_in;
    s->totals.frames_dropped += p->frames_dropped;
    s->totals.frames_out += p->frames_out;
    s->totals.messages_in += p->msgs_in;
    s->totals.messages_out += p->msgs_out;
    pthread_mutex_unlock(&s->mu);
    char *metrics = NULL;
    pthread_mutex_lock(&p->push_mu);
    rm_stream *st = p->st;
    p->st = NULL;
    pthread_mutex_unlock(&p->push_mu);
    if (st) metrics = rm_stream_metrics_json(st);
    json_t *m = metrics ? json_loads(metrics, 0, NULL) : NULL;
    free(metrics);
    pthread_mutex_lock(&p->mu);
    json_t *w = json_pack("{s:I, s:I, s:I, s:f, s:I, s:I}", "audio_frames_in", (json_int_t)p->frames_in,
                          "audio_frames_dropped", (json_int_t)p->frames_dropped, "audio_chunks_out",
                          (json_int_t)p->frames_out, "jitter_ms", p->jitter_s * 1000.0, "packets_lost",
                          (json_int_t)p->packets_lost, "packets_received", (json_int_t)p->packets_received);
    if (w && p->have_rtt) json_object_set_new(w, "rtt_ms", json_real(p->rtt_s * 1000.0));
    if (w && p->barge_last_ms > 0) json_object_set_new(w, "last_barge_in_ms", json_real(p->barge_last_ms));
    pthread_mutex_unlock(&p->mu);
    if (m && w) json_object_set(m, "webrtc", w);
    if (st) rm_stream_free(st); /* waits for an output callback in progress: none after this */
    /* reply audio drops happen in output callbacks: final only now */
    pthread_mutex_lock(&p->mu);
    double reply_dropped_ms = p->reply_dropped_ms;
    pthread_mutex_unlock(&p->mu);
    if (w) json_object_set_new(w, "reply_audio_dropped_ms", json_real(reply_dropped_ms));
    pthread_mutex_lock(&s->mu);
    s->totals.reply_dropped_ms += reply_dropped_ms;
    pthread_mutex_unlock(&s->mu);
    /* best effort: the peer may already be gone */
    dc_send(p, json_pack("{s:s, s:s, s:s, s:o}", "type", "closed", "reason", rtc_end_name(p->reason), "detail",
                         p->detail, "metrics", m ? m : json_object()));
    json_decref(w);
    fprintf(stderr,
            "rmedia serve: webrtc peer %s ended: %s (%s); audio frames in %llu, dropped %llu, out %llu; "
            "reply audio dropped %.0f ms\n",
            p->id, rtc_end_name(p->reason), p->detail, (unsigned long long)p->frames_in,
            (unsigned long long)p->frames_dropped, (unsigned long long)p->frames_out, reply_dropped_ms);
    /* the pipeline stops a little later, so that the closing message leaves */
    GSource *later = g_timeout_source_new(CLOSE_GRACE_MS);
    g_source_set_callback(later, stop_pipeline, p, NULL);
    g_source_attach(later, s->ctx);
    g_source_unref(later);
    return G_SOURCE_REMOVE;
}

static gboolean stop_pipeline(gpointer user)
{
    rtc_peer *p = user;
    if (p->pipe) {
        gst_element_set_state(p->pipe, GST_STATE_NULL);
        GstBus *bus = gst_element_get_bus(p->pipe);
        gst_bus_set_sync_handler(bus, NULL, NULL, NULL);
        gst_object_unref(bus);
    }
    pthread_mutex_lock(&p->mu);
    GstWebRTCDataChannel *dc = p->dc;
    p->dc = NULL;
    pthread_mutex_unlock(&p->mu);
    if (dc) {
        g_signal_handlers_disconnect_by_data(dc, p);
        g_object_unref(dc);
    }
    if (p->pipe) gst_object_unref(p->pipe);
    p->pipe = p->wb = p->appsrc = NULL;
    release_slot(p->s);
    peer_unref(p); /* the list's */
    return G_SOURCE_REMOVE;
}

static void schedule_teardown(rtc_peer *p)
{
    GSource *src = g_idle_source_new();
    g_source_set_callback(src, teardown, p, NULL);
    g_source_attach(src, p->s->ctx);
    g_source_unref(src);
}

void rtc_peer_end(rtc_peer *p, int reason, const char *detail)
{
    pthread_mutex_lock(&p->mu);
    if (atomic_exchange(&p->ending, 1)) {
        pthread_mutex_unlock(&p->mu);
        return;
    }
    p->reason = reason;
    snprintf(p->detail, sizeof p->detail, "%s", detail ? detail : "");
    pthread_cond_broadcast(&p->cv);
    int creating = p->creating;
    pthread_mutex_unlock(&p->mu);
    if (!creating) schedule_teardown(p); /* else rtc_peer_create does when it is done */
}

/* rtc_peer_create is done with the pipeline: a pending end may proceed. */
static void created(rtc_peer *p)
{
    pthread_mutex_lock(&p->mu);
    p->creating = 0;
    int ended = atomic_load(&p->ending);
    pthread_mutex_unlock(&p->mu);
    if (ended) schedule_teardown(p);
}

int rtc_peer_end_by_id(rtc_server *s, const char *id, int reason)
{
    rtc_peer *found = NULL;
    pthread_mutex_lock(&s->mu);
    for (rtc_peer *p = s->peers; p; p = p->next)
        if (!strcmp(p->id, id)) {
            found = p;
            peer_ref(p);
            break;
        }
    pthread_mutex_unlock(&s->mu);
    if (!found) return -1;
    rtc_peer_end(found, reason, "the client sent DELETE");
    peer_unref(found);
    return 0;
}

/* -------------------------------------------------------- media thread --- */

/* Converts `n` frames of `f` from frame offset `off` to F32. */
static void to_f32(const rm_frame *f, size_t off, size_t n, float *out)
{
    size_t ch = f->u.audio.channels, k = n * ch, at = off * ch;
    if (f->u.audio.format == RM_SAMPLE_F32) {
        memcpy(out, (const float *)f->u.audio.data + at, k * sizeof(float));
    } else if (f->u.audio.format == RM_SAMPLE_S16) {
        for (size_t i = 0; i < k; i++) out[i] = (float)((const int16_t *)f->u.audio.data)[at + i] / 32768.0f;
    } else {
        for (size_t i = 0; i < k; i++) out[i] = (float)((double)((const int32_t *)f->u.audio.data)[at + i] / 2147483648.0);
    }
}

/* Finds where the reply becomes audible: the first block of 256 samples at
 * 48 kHz (5.3 ms, the bench page's block) whose RMS is above LOUD_RMS.
 * Scans at most 2 s of a reply.  Under p->mu. */
static void scan_lead(rtc_peer *p, const float *x, size_t n, uint32_t ch, uint32_t rate)
{
    size_t w = (size_t)rate * 256 / 48000;
    if (!w) w = 1;
    for (size_t at = 0; at < n; at += w) {
        size_t k = at + w <= n ? w : n - at;
        double e = 0;
        for (size_t i = at * ch; i < (at + k) * ch; i++) e += (double)x[i] * x[i];
        if (e > LOUD_RMS * LOUD_RMS * (double)(k * ch)) {
            p->reply_lead_ms = 1000.0 * (double)(p->reply_scanned + at) / rate;
            return;
        }
    }
    p->reply_scanned += n;
    if (p->reply_scanned >= 2ull * rate) p->reply_lead_ms = 1000.0 * (double)p->reply_scanned / rate;
}

/* The `reply_audio` message (docs/webrtc.md) once the reply's first RTP
 * packet has left and its leading quiet is known; NULL before, and after it
 * was made once.  Under p->mu. */
static json_t *reply_timing(rtc_peer *p)
{
    if (p->t_push <= 0 || p->t_rtp <= 0 || p->reply_lead_ms < 0) return NULL;
    json_t *m = json_pack("{s:s, s:f, s:f, s:f, s:f, s:f, s:f, s:I, s:f}", "type", "reply_audio", "caller_heard_ms",
                          p->t_heard, "speech_end_ms", p->t_speech_end, "text_ms", p->t_text, "chunk_ms", p->t_chunk,
                          "push_ms", p->t_push, "rtp_ms", p->t_rtp, "rtp_timestamp", (json_int_t)p->rtp_ts,
                          "lead_quiet_ms", p->reply_lead_ms);
    p->t_push = 0;
    return m;
}

/* The reply's first RTP packet leaves the payloader (a streaming thread). */
static GstPadProbeReturn on_rtp_out(GstPad *pad, GstPadProbeInfo *info, gpointer user)
{
    (void)pad;
    rtc_peer *p = user;
    GstBuffer *b = NULL;
    if (info->type & GST_PAD_PROBE_TYPE_BUFFER) b = GST_PAD_PROBE_INFO_BUFFER(info);
    else if (info->type & GST_PAD_PROBE_TYPE_BUFFER_LIST) {
        GstBufferList *l = GST_PAD_PROBE_INFO_BUFFER_LIST(info);
        b = l && gst_buffer_list_length(l) ? gst_buffer_list_get(l, 0) : NULL;
    }
    if (!b) return GST_PAD_PROBE_OK;
    pthread_mutex_lock(&p->mu);
    json_t *timing = NULL;
    if (p->rtp_pending) {
        p->rtp_pending = 0;
        p->t_rtp = wall_ms();
        GstRTPBuffer rtp = GST_RTP_BUFFER_INIT;
        if (gst_rtp_buffer_map(b, GST_MAP_READ, &rtp)) {
            p->rtp_ts = gst_rtp_buffer_get_timestamp(&rtp);
            gst_rtp_buffer_unmap(&rtp);
        }
        timing = reply_timing(p);
    }
    pthread_mutex_unlock(&p->mu);
    if (timing) dc_send(p, timing);
    return GST_PAD_PROBE_OK;
}

/* Hands the reply audio due within LEAD_MS to the encoder, time-stamped
 * back to back from the moment a reply starts: real-time pacing. */
static void pace(rtc_peer *p)
{
    if (!p->appsrc) return;
    GstClockTime now = gst_element_get_current_running_time(p->pipe);
    if (!GST_CLOCK_TIME_IS_VALID(now)) return;
    pthread_mutex_lock(&p->mu);
    json_t *timing = NULL;
    while (p->qn) {
        if (!p->speaking) { /* a reply starts */
            p->t_push = wall_ms();
            p->t_rtp = 0;
            p->rtp_pending = 1;
            p->reply_lead_ms = -1;
            p->reply_scanned = 0;
        }
        if (!p->speaking || p->next_pts + 20 * GST_MSECOND < now) p->next_pts = now; /* start, or we fell behind */
        p->speaking = 1;
        if (p->next_pts > now + LEAD_MS * GST_MSECOND) break;
        rm_frame *f = p->q[0];
        uint32_t rate = f->u.audio.rate, ch = f->u.audio.channels;
        size_t n = f->u.audio.frames - p->qoff, step = (size_t)rate * CHUNK_MS / 1000;
        if (n > step) n = step;
        GstBuffer *b = gst_buffer_new_allocate(NULL, n * ch * sizeof(float), NULL);
        GstMapInfo map;
        if (b && gst_buffer_map(b, &map, GST_MAP_WRITE)) {
            to_f32(f, p->qoff, n, (float *)map.data);
            if (p->reply_lead_ms < 0) scan_lead(p, (const float *)map.data, n, ch, rate);
            gst_buffer_unmap(b, &map);
            GstClockTime dur = gst_util_uint64_scale(n, GST_SECOND, rate);
            GST_BUFFER_PTS(b) = p->next_pts;
            GST_BUFFER_DURATION(b) = dur;
            p->next_pts += dur;
            if (rate != p->caps_rate || ch != p->caps_ch) {
                GstCaps *c = gst_caps_new_simple("audio/x-raw", "format", G_TYPE_STRING, "F32LE", "layout",
                                                 G_TYPE_STRING, "interleaved", "rate", G_TYPE_INT, (int)rate,
                                                 "channels", G_TYPE_INT, (int)ch, NULL);
                gst_app_src_set_caps(GST_APP_SRC(p->appsrc), c);
                gst_caps_unref(c);
                p->caps_rate = rate;
                p->caps_ch = ch;
            }
            gst_app_src_push_buffer(GST_APP_SRC(p->appsrc), b);
            p->frames_out++;
        } else if (b) {
            gst_buffer_unref(b);
        }
        p->qoff += n;
        p->q_ms -= 1000.0 * (double)n / rate;
        if (p->qoff >= f->u.audio.frames) {
            rm_frame_unref(f);
            memmove(p->q, p->q + 1, (p->qn - 1) * sizeof *p->q);
            p->qn--;
            p->qoff = 0;
        }
    }
    if (!p->qn) p->q_ms = 0; /* no rounding left over */
    if (!p->qn && p->speaking && p->next_pts <= now) {
        p->speaking = 0;
        p->reply_drop_told = 0; /* the next reply's drop is told again */
    }
    if (!p->speaking && p->reply_lead_ms < 0 && p->t_push > 0) /* a reply without a loud block */
        p->reply_lead_ms = 1000.0 * (double)p->reply_scanned / (p->caps_rate ? p->caps_rate : 48000);
    timing = reply_timing(p);
    pthread_mutex_unlock(&p->mu);
    if (timing) dc_send(p, timing);
}

static void on_stats(GstPromise *pr, gpointer user)
{
    rtc_peer *p = user;
    const GstStructure *r = gst_promise_wait(pr) == GST_PROMISE_RESULT_REPLIED /* done: no wait */ ? gst_promise_get_reply(pr) : NULL;
    double jitter = -1, rtt = -1;
    gint64 lost = 0;
    guint64 recv = 0;
    for (int i = 0; r && i < gst_structure_n_fields(r); i++) {
        const GValue *v = gst_structure_get_value(r, gst_structure_nth_field_name(r, i));
        if (!v || !GST_VALUE_HOLDS_STRUCTURE(v)) continue;
        const GstStructure *st = gst_value_get_structure(v);
        GstWebRTCStatsType type;
        if (!gst_structure_get(st, "type", GST_TYPE_WEBRTC_STATS_TYPE, &type, NULL)) continue;
        if (type == GST_WEBRTC_STATS_INBOUND_RTP) {
            gst_structure_get_double(st, "jitter", &jitter);
            gst_structure_get_int64(st, "packets-lost", &lost);
            gst_structure_get_uint64(st, "packets-received", &recv);
        } else if (type == GST_WEBRTC_STATS_REMOTE_INBOUND_RTP) {
            gst_structure_get_double(st, "round-trip-time", &rtt);
        }
    }
    pthread_mutex_lock(&p->mu);
    if (jitter >= 0) p->jitter_s = jitter;
    p->packets_lost = lost;
    if (recv) p->packets_received = recv;
    if (rtt >= 0) p->rtt_s = rtt, p->have_rtt = 1;
    pthread_mutex_unlock(&p->mu);
    gst_promise_unref(pr);
}

static void peer_unref_notify(gpointer user) { peer_unref(user); }

void rtc_peers_tick(rtc_server *s)
{
    enum { BATCH = 256 };
    rtc_peer *act[BATCH];
    size_t n = 0;
    pthread_mutex_lock(&s->mu);
    for (rtc_peer *p = s->peers; p && n < BATCH; p = p->next)
        if (!atomic_load(&p->ending) && p->wb && !p->creating) {
            peer_ref(p);
            act[n++] = p;
        }
    pthread_mutex_unlock(&s->mu);
    uint64_t t = now_ns(), limit = (uint64_t)(s->cfg.peer_timeout_s * 1e9);
    for (size_t i = 0; i < n; i++) {
        rtc_peer *p = act[i];
        pace(p);
        pthread_mutex_lock(&p->mu);
        uint64_t born = p->created_ns;
        int connected = p->connected, stats_due = connected && t - p->last_stats_ns > 1000000000ull;
        if (stats_due) p->last_stats_ns = t;
        pthread_mutex_unlock(&p->mu);
        char detail[128];
        if (limit && !connected && t > born && t - born > limit) {
            snprintf(detail, sizeof detail, "ICE did not connect within %g s (--webrtc-peer-timeout)",
                     s->cfg.peer_timeout_s);
            rtc_peer_end(p, RTC_END_TIMEOUT, detail);
        } else if (limit && connected && atomic_load(&p->last_rx_ns) < t && t - atomic_load(&p->last_rx_ns) > limit) {
            snprintf(detail, sizeof detail, "no audio from the peer for %g s (--webrtc-peer-timeout)",
                     s->cfg.peer_timeout_s);
            rtc_peer_end(p, RTC_END_PEER_GONE, detail);
        } else if (stats_due) {
            peer_ref(p);
            GstPromise *pr = gst_promise_new_with_change_func(on_stats, p, peer_unref_notify);
            g_signal_emit_by_name(p->wb, "get-stats", NULL, pr);
        }
        peer_unref(p);
    }
}

void rtc_peers_prom(rtc_server *s, GString *out)
{
    pthread_mutex_lock(&s->mu);
    g_string_append(out, "# HELP rmedia_webrtc_peer_jitter_seconds Interarrival jitter of the peer's audio (RTCP)\n"
                         "# TYPE rmedia_webrtc_peer_jitter_seconds gauge\n");
    for (rtc_peer *p = s->peers; p; p = p->next) {
        pthread_mutex_lock(&p->mu);
        g_string_append_printf(out, "rmedia_webrtc_peer_jitter_seconds{session=\"%s\"} %g\n", p->id, p->jitter_s);
        pthread_mutex_unlock(&p->mu);
    }
    g_string_append(out, "# HELP rmedia_webrtc_peer_packets_lost Packets of the peer's audio lost (RTCP)\n"
                         "# TYPE rmedia_webrtc_peer_packets_lost gauge\n");
    for (rtc_peer *p = s->peers; p; p = p->next) {
        pthread_mutex_lock(&p->mu);
        g_string_append_printf(out, "rmedia_webrtc_peer_packets_lost{session=\"%s\"} %lld\n", p->id,
                               (long long)p->packets_lost);
        pthread_mutex_unlock(&p->mu);
    }
    g_string_append(out, "# HELP rmedia_webrtc_peer_rtt_seconds Round-trip time to the peer (RTCP)\n"
                         "# TYPE rmedia_webrtc_peer_rtt_seconds gauge\n");
    for (rtc_peer *p = s->peers; p; p = p->next) {
        pthread_mutex_lock(&p->mu);
        if (p->have_rtt) g_string_append_printf(out, "rmedia_webrtc_peer_rtt_seconds{session=\"%s\"} %g\n", p->id, p->rtt_s);
        pthread_mutex_unlock(&p->mu);
    }
    pthread_mutex_unlock(&s->mu);
}

void rtc_peers_drain(rtc_server *s)
{
    for (;;) {
        rtc_peer *victim = NULL;
        pthread_mutex_lock(&s->mu);
        size_t left = s->n_peers;
        for (rtc_peer *p = s->peers; p; p = p->next)
            if (!atomic_load(&p->ending)) {
                victim = p;
                peer_ref(p);
                break;
            }
        pthread_mutex_unlock(&s->mu);
        if (victim) {
            rtc_peer_end(victim, RTC_END_SHUTDOWN, "the server is shutting down");
            peer_unref(victim);
            continue;
        }
        if (!left) return;
        g_usleep(5000);
    }
}
