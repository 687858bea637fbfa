/*
 * The WebRTC transport of `rmedia serve --webrtc-listen`: WHIP signalling
 * over HTTP (libmicrohttpd) and one GStreamer webrtcbin per peer, each peer
 * one session of the served manifest, on the host layer
 * (remotemedia/transport.h).  The core and the node families know nothing
 * of it.  docs/webrtc.md describes the endpoint and the data-channel messages.
 */
#ifndef RM_WEBRTC_H
#define RM_WEBRTC_H

#include <stddef.h>

#include "remotemedia/remotemedia.h"

#define RTC_MAX_ICE_ADDRS 16
#define RTC_DEFAULT_MAX_CONNECTIONS 64 /* --webrtc-max-connections */
#define RTC_DEFAULT_MAX_REPLY_S 60.0   /* --webrtc-max-reply-seconds */

typedef struct rtc_config {
    const char *listen;            /* HOST:PORT of the WHIP endpoint; port 0 = ephemeral */
    const char *port_file;         /* written with the bound port, or NULL               */
    const char *manifest_path;     /* the manifest every peer runs                       */
    const char *const *tokens;     /* accepted bearer tokens; none = no auth             */
    size_t n_tokens;
    const char *tls_cert, *tls_key; /* PEM file paths (both or neither)                  */
    const char *ice_addrs[RTC_MAX_ICE_ADDRS]; /* local candidate addresses; none = all   */
    size_t n_ice_addrs;
    size_t max_peers;              /* connected peers at once; 0 = unlimited             */
    size_t max_sessions;           /* host limit on open sessions; 0 = unlimited         */
    double peer_timeout_s;         /* no ICE connection / no media for this long: end    */
    unsigned max_connections;      /* HTTP connections at once (a thread each); 0 = MHD's */
    unsigned max_connections_per_ip; /* the same per client address; 0 = no such limit   */
    double idle_timeout_s;         /* host idle timeout (0 = none)                       */
    unsigned pool_threads;         /* 0 = one per CPU                                    */
    double max_reply_s;            /* reply audio queued for a peer (s), past it dropped; 0 = 60 */
    int allow_python;
} rtc_config;

typedef struct rtc_server rtc_server;

/* Loads the manifest, starts the HTTP endpoint and the media thread.  `rt`
 * is borrowed and must outlive the server.  Returns 0, or a process exit
 * code of the CLI (1 invalid manifest, 2 bad option, 4 unreadable file,
 * 5 GStreamer or the address unavailable) with the problem printed. */
int rtc_start(rm_runtime *rt, const rtc_config *cfg, rtc_server **out);
/* Ends every peer (each gets {"type":"closed","reason":"shutdown"}), stops
 * the endpoint, frees everything.  NULL is ignored. */
void rtc_stop(rtc_server *s);

/* Serves until SIGTERM/SIGINT (the WebRTC-only mode of `rmedia serve`);
 * returns a process exit code. */
int rtc_serve(rm_runtime *rt, const rtc_config *cfg);

#endif
