/*
 * The WHIP endpoint's checks of outside input as pure functions: no server,
 * no sockets, no webrtcbin.  server.c routes each HTTP request and checks
 * its token, body size and content type here; peer.c parses the SDP offer
 * here.  tests/fuzz/fuzz_whip_offer.c drives the same functions with
 * hostile requests.  Thread-safe (no shared state).
 */
#ifndef RM_WHIP_OFFER_H
#define RM_WHIP_OFFER_H

#include <stddef.h>

#include <gst/sdp/sdp.h>

#define WHIP_MAX_OFFER_BYTES (64u * 1024u)

/* A POST body as it arrives in chunks.  Zero-initialise; whip_body_free. */
typedef struct whip_body {
    char *data; /* NUL-terminated (the offer may itself hold NULs), or NULL */
    size_t len;
    int too_large; /* more than WHIP_MAX_OFFER_BYTES came: the rest was dropped */
} whip_body;

/* Appends one upload chunk.  Past WHIP_MAX_OFFER_BYTES nothing more is kept
 * and the body is marked too large.  0, or -1 out of memory. */
int whip_body_append(whip_body *b, const char *chunk, size_t n);
void whip_body_free(whip_body *b);

/* What a request gets, decided before anything is created. */
typedef enum whip_route {
    WHIP_REFUSE,  /* answer `status` with `msg` */
    WHIP_OPTIONS, /* CORS preflight (any URL)   */
    WHIP_HEALTH,  /* GET /health (no token)     */
    WHIP_METRICS, /* GET /metrics (no token)    */
    WHIP_OFFER,   /* POST /whip, token, size and content type checked: parse the body */
    WHIP_DELETE   /* DELETE /whip/<id> with a valid token: id = url + 6 */
} whip_route;

/* The parts of an HTTP request the endpoint reads (all borrowed; a header
 * that is absent is NULL; body NULL when the method has none). */
typedef struct whip_request {
    const char *method, *url;
    const char *authorization, *content_type;
    const whip_body *body;
} whip_request;

/* Routes a request.  `tokens` are the accepted bearer tokens (none = no
 * auth), compared in time independent of where they differ.  For
 * WHIP_REFUSE, *status is the HTTP status (401, 404, 405, 413, 415) and *msg
 * a static message naming the problem. */
whip_route whip_classify(const whip_request *rq, const char *const *tokens, size_t n_tokens, unsigned *status,
                         const char **msg);

/* Parses an SDP offer (len bytes, not NUL-terminated): it must start with
 * "v=0", parse as SDP and have an audio m-line offering Opus.  0 with *sdp
 * (caller frees with gst_sdp_message_free), the index of that m-line and
 * Opus's payload type; or 400 with `why` (nothing to free). */
int whip_parse_offer(const char *offer, size_t len, GstSDPMessage **sdp, int *mline, int *pt, char *why,
                     size_t why_cap);

#endif
