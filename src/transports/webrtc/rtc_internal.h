/* Shared by the WebRTC transport's files: the server (HTTP, limits, metrics)
 * and the peers (GStreamer webrtcbin, media, data channel). */
#ifndef RTC_INTERNAL_H
#define RTC_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include <glib.h>

#include "remotemedia/transport.h"
#include "rm_webrtc.h"

typedef struct rtc_peer rtc_peer;

/* Totals for /metrics (guarded by rtc_server.mu). */
typedef struct rtc_totals {
    uint64_t peers_total, peers_refused, http[6]; /* 2xx 400 401 404 503 other */
    uint64_t frames_in, frames_dropped, frames_out, messages_in, messages_out;
    uint64_t ended[8]; /* by rtc_end_reason */
    double barge_in_ms_sum;
    double reply_dropped_ms; /* reply audio past --webrtc-max-reply-seconds (ended peers) */
    uint64_t barge_ins;
} rtc_totals;

struct rtc_server {
    rm_runtime *rt;
    rtc_config cfg;
    rm_host *host;
    rm_graph *graph;
    const char *audio_in; /* node id taking the peer's audio (borrowed from graph) */
    const char *data_in;  /* node id taking data-channel JSON, or NULL            */
    int barge_in;          /* metadata.session.barge_in of the manifest           */
    struct MHD_Daemon *mhd;
    char *tls_cert, *tls_key;
    GMainContext *ctx;
    GMainLoop *loop;
    pthread_t loop_thread;
    int loop_started;
    int trim_registered; /* in the process's idle trim (memstats.h) */
    pthread_mutex_t mu; /* peers, counts, totals */
    rtc_peer *peers;
    size_t n_peers;
    atomic_uint counter;
    rtc_totals totals;
    int stopping;
};

enum rtc_end_reason {
    RTC_END_DELETE, RTC_END_PEER_GONE, RTC_END_ICE, RTC_END_TIMEOUT, RTC_END_SESSION, RTC_END_ERROR,
    RTC_END_SHUTDOWN, RTC_END_COUNT
};
const char *rtc_end_name(int reason);

/* Creates a peer for an SDP offer: opens a session, builds the webrtcbin
 * pipeline, answers.  On success *answer is the SDP answer (caller frees)
 * and the peer is in the server's list (the list holds its reference).  On
 * failure returns the HTTP status to send (400, 503, 500) with `why`. */
int rtc_peer_create(rtc_server *s, const char *offer, size_t len, char **answer, char *id_out, size_t id_cap,
                    char *why, size_t why_cap);
/* Ends a peer (idempotent): the session and pipeline are torn down on the
 * media thread.  Thread-safe. */
void rtc_peer_end(rtc_peer *p, int reason, const char *detail);
/* Finds a peer by id and ends it; 0 if found. */
int rtc_peer_end_by_id(rtc_server *s, const char *id, int reason);
/* Media-thread tick: paced reply audio, timeouts, RTCP stats. */
void rtc_peers_tick(rtc_server *s);
/* Appends each peer's stats as Prometheus lines. */
void rtc_peers_prom(rtc_server *s, GString *out);
/* Waits until every peer is freed (after ending them all). */
void rtc_peers_drain(rtc_server *s);

#endif
