/* Fuzz target: the WHIP endpoint's checks of outside input
 * (src/transports/webrtc/whip_offer.c, what `rmedia serve --webrtc-listen`
 * runs on every HTTP request before anything is created).
 *
 * The input reads like an HTTP request:
 *
 *   METHOD URL\n
 *   Header: value\n        (Authorization and Content-Type are used; others ignored)
 *   Repeat: N\n            (harness only: the body arrives N+1 times, to reach the 64 KiB limit)
 *   \n
 *   body (the SDP offer)
 *
 * The body is fed to whip_body_append in uneven chunks as libmicrohttpd
 * hands it over, the request is routed with and without bearer tokens
 * configured, and the body is parsed as an SDP offer (libgstsdp, then the
 * search for an audio m-line offering Opus) whatever the route, so the
 * fuzzer explores the offer independently of the headers. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "whip_offer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A copy of [p, p+n) as a NUL-terminated string. */
static char *dup_n(const char *p, size_t n)
{
    char *s = malloc(n + 1);
    if (!s) abort();
    memcpy(s, p, n);
    s[n] = '\0';
    return s;
}

static void check_route(const whip_request *rq, const char *const *tokens, size_t n)
{
    unsigned status = 0;
    const char *msg = NULL;
    whip_route r = whip_classify(rq, tokens, n, &status, &msg);
    if (r == WHIP_REFUSE && (status < 400 || status > 499 || !msg || !*msg)) abort();
    if (r != WHIP_REFUSE && (status || msg)) abort();
    if (r == WHIP_DELETE && (strncmp(rq->url, "/whip/", 6) != 0 || !rq->url[6])) abort();
    if (r == WHIP_OFFER && (!rq->body || rq->body->too_large)) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *in = (const char *)data, *end = in + size;
    const char *nl = memchr(in, '\n', size);
    const char *line_end = nl ? nl : end;
    const char *sp = memchr(in, ' ', (size_t)(line_end - in));
    char *method = dup_n(in, sp ? (size_t)(sp - in) : (size_t)(line_end - in));
    char *url = sp ? dup_n(sp + 1, (size_t)(line_end - sp - 1)) : dup_n("", 0);
    char *auth = NULL, *ctype = NULL;
    unsigned long repeat = 0;
    const char *p = nl ? nl + 1 : end;
    while (p < end) { /* headers up to an empty line */
        const char *e = memchr(p, '\n', (size_t)(end - p));
        if (!e) e = end;
        size_t n = (size_t)(e - p);
        if (n && p[n - 1] == '\r') n--;
        if (!n) {
            p = e < end ? e + 1 : end;
            break;
        }
        const char *colon = memchr(p, ':', n);
        if (colon) {
            const char *v = colon + 1;
            while (v < p + n && *v == ' ') v++;
            size_t kn = (size_t)(colon - p), vn = (size_t)(p + n - v);
            if (kn == 13 && !g_ascii_strncasecmp(p, "authorization", 13)) {
                free(auth);
                auth = dup_n(v, vn);
            } else if (kn == 12 && !g_ascii_strncasecmp(p, "content-type", 12)) {
                free(ctype);
                ctype = dup_n(v, vn);
            } else if (kn == 6 && !g_ascii_strncasecmp(p, "repeat", 6)) {
                char *r = dup_n(v, vn);
                repeat = strtoul(r, NULL, 10) % 64;
                free(r);
            }
        }
        p = e < end ? e + 1 : end;
    }

    /* the body in chunks of uneven sizes, as the HTTP server passes it on */
    whip_body body = {0};
    size_t blen = (size_t)(end - p);
    for (unsigned long k = 0; k <= repeat; k++) {
        size_t off = 0, step = 1 + (blen % 4093) + k;
        while (off < blen) {
            size_t n = blen - off < step ? blen - off : step;
            if (whip_body_append(&body, p + off, n) != 0) abort();
            off += n;
        }
    }
    if (body.len > WHIP_MAX_OFFER_BYTES || (body.data && body.data[body.len] != '\0')) abort();
    if (!body.too_large && body.len != blen * (repeat + 1)) abort();

    int is_post = !strcmp(method, "POST");
    whip_request rq = {method, url, auth, ctype, is_post ? &body : NULL};
    static const char *const tokens[] = {"s3cret-token", "another"};
    check_route(&rq, tokens, 2);
    check_route(&rq, tokens, 0);

    GstSDPMessage *sdp = NULL;
    int mline = -1, pt = -1;
    char why[300];
    int rc = whip_parse_offer(body.data ? body.data : "", body.len, &sdp, &mline, &pt, why, sizeof why);
    if (rc == 0) {
        if (!sdp || mline < 0 || (guint)mline >= gst_sdp_message_medias_len(sdp) || pt < 0 || pt > 127) abort();
        gst_sdp_message_free(sdp);
    } else if (rc != 400 || sdp || !why[0]) {
        abort();
    }
    whip_body_free(&body);
    free(method);
    free(url);
    free(auth);
    free(ctype);
    return 0;
}
