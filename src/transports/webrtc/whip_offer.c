/* The WHIP endpoint's checks of outside input (whip_offer.h). */
#include "whip_offer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <glib.h>

int whip_body_append(whip_body *b, const char *chunk, size_t n)
{
    if (b->too_large || n > WHIP_MAX_OFFER_BYTES - b->len) {
        b->too_large = 1;
        return 0;
    }
    char *d = realloc(b->data, b->len + n + 1);
    if (!d) return -1;
    memcpy(d + b->len, chunk, n);
    b->data = d;
    b->len += n;
    b->data[b->len] = '\0';
    return 0;
}

void whip_body_free(whip_body *b)
{
    free(b->data);
    memset(b, 0, sizeof *b);
}

/* Compares without stopping at the first difference (no timing hint). */
static int same_secret(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    unsigned char d = (unsigned char)(la != lb);
    for (size_t i = 0; i < la; i++) d |= (unsigned char)(a[i] ^ b[i % (lb ? lb : 1)]);
    return d == 0;
}

/* NULL when the request may pass, else why not. */
static const char *check_token(const char *h, const char *const *tokens, size_t n_tokens)
{
    if (!n_tokens) return NULL;
    if (!h) return "missing 'Authorization: Bearer TOKEN' header";
    if (strncmp(h, "Bearer ", 7) != 0) return "the Authorization header must be 'Bearer TOKEN'";
    int ok = 0;
    for (size_t i = 0; i < n_tokens; i++) ok |= same_secret(h + 7, tokens[i]);
    return ok ? NULL : "invalid bearer token";
}

static whip_route refuse(unsigned code, const char *why, unsigned *status, const char **msg)
{
    *status = code;
    *msg = why;
    return WHIP_REFUSE;
}

whip_route whip_classify(const whip_request *rq, const char *const *tokens, size_t n_tokens, unsigned *status,
                         const char **msg)
{
    const char *method = rq->method, *url = rq->url;
    *status = 0;
    *msg = NULL;
    if (!strcmp(method, "OPTIONS")) return WHIP_OPTIONS;
    if (!strcmp(method, "GET") && !strcmp(url, "/health")) return WHIP_HEALTH;
    if (!strcmp(method, "GET") && !strcmp(url, "/metrics")) return WHIP_METRICS;
    int whip = !strcmp(url, "/whip"), resource = !strncmp(url, "/whip/", 6) && url[6];
    if (!whip && !resource)
        return refuse(404, "no such endpoint: POST /whip, DELETE /whip/<id>, GET /health, GET /metrics", status,
                      msg);
    const char *deny = check_token(rq->authorization, tokens, n_tokens);
    if (deny) return refuse(401, deny, status, msg);
    if (resource && !strcmp(method, "DELETE")) return WHIP_DELETE;
    if (resource && !strcmp(method, "PATCH"))
        return refuse(405, "trickle ICE is not supported: the answer carries every candidate", status, msg);
    if (!whip || strcmp(method, "POST") != 0)
        return refuse(405, "POST an SDP offer to /whip; DELETE /whip/<id> ends a session", status, msg);
    if (rq->body && rq->body->too_large) return refuse(413, "the offer is larger than 64 KiB", status, msg);
    const char *ct = rq->content_type;
    if (!ct || strncmp(ct, "application/sdp", 15) != 0)
        return refuse(415, "the offer must be sent with Content-Type: application/sdp", status, msg);
    return WHIP_OFFER;
}

/* "<pt> <encoding>/..." of an a=rtpmap value: 1 with a payload type in
 * 0..127 (RFC 3551; rtpopuspay refuses others) when the encoding is Opus. */
static int opus_rtpmap(const char *value, int *pt)
{
    char *end = NULL;
    long n = strtol(value, &end, 10);
    if (end == value || (*end != ' ' && *end != '\t') || n < 0 || n > 127) return 0;
    const char *enc = end + strspn(end, " \t");
    return !g_ascii_strncasecmp(enc, "opus", 4) && (enc[4] == '/' || enc[4] == '\0') && (*pt = (int)n, 1);
}

/* Finds the first audio m-line that offers Opus: its index and payload
 * type, or -1 with `why`. */
static int find_opus(const GstSDPMessage *sdp, int *pt, char *why, size_t cap)
{
    int saw_audio = 0;
    for (guint i = 0; i < gst_sdp_message_medias_len(sdp); i++) {
        const GstSDPMedia *m = gst_sdp_message_get_media(sdp, i);
        if (g_strcmp0(gst_sdp_media_get_media(m), "audio") != 0) continue;
        saw_audio = 1;
        for (guint a = 0; a < gst_sdp_media_attributes_len(m); a++) {
            const GstSDPAttribute *at = gst_sdp_media_get_attribute(m, a);
            if (g_strcmp0(at->key, "rtpmap") == 0 && at->value && opus_rtpmap(at->value, pt)) return (int)i;
        }
    }
    snprintf(why, cap, "%s", saw_audio ? "the offer's audio does not include Opus (a=rtpmap:<pt> opus/48000/2)"
                                       : "the offer has no audio m-line (m=audio ...)");
    return -1;
}

int whip_parse_offer(const char *offer, size_t len, GstSDPMessage **sdp, int *mline, int *pt, char *why,
                     size_t why_cap)
{
    *sdp = NULL;
    char *text = g_strndup(offer, len);
    GstSDPMessage *m = NULL;
    if (strncmp(text, "v=0", 3) != 0 || gst_sdp_message_new_from_text(text, &m) != GST_SDP_OK ||
        gst_sdp_message_medias_len(m) == 0) {
        g_free(text);
        if (m) gst_sdp_message_free(m);
        snprintf(why, why_cap, "the body is not an SDP offer (it must start with \"v=0\" and have m= lines)");
        return 400;
    }
    g_free(text);
    *mline = find_opus(m, pt, why, why_cap);
    if (*mline < 0) {
        gst_sdp_message_free(m);
        return 400;
    }
    *sdp = m;
    return 0;
}
