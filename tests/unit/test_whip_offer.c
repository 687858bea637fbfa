/* The WHIP endpoint's checks of outside input (src/transports/webrtc/
 * whip_offer.c) without a server: every route and refusal, the bearer
 * token, the 64 KiB offer limit at and past its bound, and offers real and
 * broken — Chromium's (tests/fuzz/offers, dumped by tests/fuzz/
 * dump_offers.js) and one that GStreamer's webrtcbin makes here.
 *
 *   test_whip_offer [--dump FILE]   (--dump writes webrtcbin's offer: a fuzz seed)
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GST_USE_UNSTABLE_API
#include <gst/gst.h>
#include <gst/webrtc/webrtc.h>

#include "check.h"
#include "whip_offer.h"

static const char *const tokens[] = {"tok-one", "tok-two"};

static whip_route route(const char *method, const char *url, const char *auth, const char *ct, const whip_body *b,
                        size_t n_tokens, unsigned *status, const char **msg)
{
    whip_request rq = {method, url, auth, ct, b};
    return whip_classify(&rq, tokens, n_tokens, status, msg);
}

static void test_routes(void)
{
    unsigned st;
    const char *msg;
    whip_body b = {0};
    CHECK_INT(whip_body_append(&b, "v=0\r\n", 5), 0);
    CHECK_INT(route("OPTIONS", "/anything", NULL, NULL, NULL, 2, &st, &msg), WHIP_OPTIONS);
    CHECK_INT(route("GET", "/health", NULL, NULL, NULL, 2, &st, &msg), WHIP_HEALTH);   /* no token */
    CHECK_INT(route("GET", "/metrics", NULL, NULL, NULL, 2, &st, &msg), WHIP_METRICS); /* no token */
    CHECK_INT(route("GET", "/", NULL, NULL, NULL, 2, &st, &msg), WHIP_REFUSE);
    CHECK_INT(st, 404);
    CHECK_CONTAINS(msg, "no such endpoint");
    CHECK_INT(route("DELETE", "/whip/", "Bearer tok-one", NULL, NULL, 2, &st, &msg), WHIP_REFUSE); /* no id */
    CHECK_INT(st, 404);
    CHECK_INT(route("POST", "/whipx", "Bearer tok-one", "application/sdp", &b, 2, &st, &msg), WHIP_REFUSE);
    CHECK_INT(st, 404);
    CHECK_INT(route("DELETE", "/whip/peer-1", "Bearer tok-two", NULL, NULL, 2, &st, &msg), WHIP_DELETE);
    CHECK_INT(route("PATCH", "/whip/peer-1", "Bearer tok-one", NULL, NULL, 2, &st, &msg), WHIP_REFUSE);
    CHECK_INT(st, 405);
    CHECK_CONTAINS(msg, "trickle ICE");
    CHECK_INT(route("GET", "/whip", "Bearer tok-one", NULL, NULL, 2, &st, &msg), WHIP_REFUSE);
    CHECK_INT(st, 405);
    CHECK_INT(route("POST", "/whip/peer-1", "Bearer tok-one", "application/sdp", &b, 2, &st, &msg), WHIP_REFUSE);
    CHECK_INT(st, 405);
    CHECK_INT(route("POST", "/whip", "Bearer tok-one", "application/sdp", &b, 2, &st, &msg), WHIP_OFFER);
    CHECK(st == 0 && msg == NULL);
    CHECK_INT(route("POST", "/whip", "Bearer tok-one", "application/sdp; charset=utf-8", &b, 2, &st, &msg),
              WHIP_OFFER);
    CHECK_INT(route("POST", "/whip", "Bearer tok-one", "text/plain", &b, 2, &st, &msg), WHIP_REFUSE);
    CHECK_INT(st, 415);
    CHECK_CONTAINS(msg, "application/sdp");
    CHECK_INT(route("POST", "/whip", "Bearer tok-one", NULL, &b, 2, &st, &msg), WHIP_REFUSE);
    CHECK_INT(st, 415);
    whip_body_free(&b);
}

static void test_tokens(void)
{
    unsigned st;
    const char *msg;
    whip_body b = {0};
    CHECK_INT(route("POST", "/whip", NULL, "application/sdp", &b, 2, &st, &msg), WHIP_REFUSE);
    CHECK_INT(st, 401);
    CHECK_CONTAINS(msg, "missing 'Authorization: Bearer TOKEN'");
    CHECK_INT(route("POST", "/whip", "Basic dG9rLW9uZQ==", "application/sdp", &b, 2, &st, &msg), WHIP_REFUSE);
    CHECK_INT(st, 401);
    CHECK_CONTAINS(msg, "must be 'Bearer TOKEN'");
    static const char *const wrong[] = {"Bearer tok-on", "Bearer tok-onee", "Bearer TOK-ONE", "Bearer ",
                                        "Bearer tok-one ", "bearer tok-one"};
    for (size_t i = 0; i < sizeof wrong / sizeof *wrong; i++) {
        CHECK_INT(route("POST", "/whip", wrong[i], "application/sdp", &b, 2, &st, &msg), WHIP_REFUSE);
        CHECK_INT(st, 401);
    }
    /* DELETE needs the token too; health and metrics do not */
    CHECK_INT(route("DELETE", "/whip/peer-1", "Bearer nope", NULL, NULL, 2, &st, &msg), WHIP_REFUSE);
    CHECK_INT(st, 401);
    CHECK_INT(route("DELETE", "/whip/peer-1", NULL, NULL, NULL, 0, &st, &msg), WHIP_DELETE); /* no tokens set */
    CHECK_INT(route("POST", "/whip", NULL, "application/sdp", &b, 0, &st, &msg), WHIP_OFFER);
    whip_body_free(&b);
}

/* The 64 KiB offer limit: at the bound accepted, one byte past it 413. */
static void test_body_limit(void)
{
    char *chunk = malloc(1000);
    memset(chunk, 'a', 1000);
    whip_body b = {0};
    size_t sent = 0;
    while (sent + 1000 <= WHIP_MAX_OFFER_BYTES) {
        CHECK_INT(whip_body_append(&b, chunk, 1000), 0);
        sent += 1000;
    }
    CHECK_INT(whip_body_append(&b, chunk, WHIP_MAX_OFFER_BYTES - sent), 0);
    CHECK_INT(b.len, WHIP_MAX_OFFER_BYTES);
    CHECK(!b.too_large);
    CHECK_INT(b.data[b.len], 0);
    unsigned st;
    const char *msg;
    CHECK_INT(route("POST", "/whip", "Bearer tok-one", "application/sdp", &b, 2, &st, &msg), WHIP_OFFER);
    CHECK_INT(whip_body_append(&b, chunk, 1), 0);
    CHECK(b.too_large);
    CHECK_INT(b.len, WHIP_MAX_OFFER_BYTES); /* nothing past the limit is kept */
    CHECK_INT(whip_body_append(&b, chunk, 1000), 0);
    CHECK_INT(b.len, WHIP_MAX_OFFER_BYTES);
    CHECK_INT(route("POST", "/whip", "Bearer tok-one", "application/sdp", &b, 2, &st, &msg), WHIP_REFUSE);
    CHECK_INT(st, 413);
    CHECK_CONTAINS(msg, "64 KiB");
    /* the token is checked before the size: without one, 401 even for a big body */
    CHECK_INT(route("POST", "/whip", NULL, "application/sdp", &b, 2, &st, &msg), WHIP_REFUSE);
    CHECK_INT(st, 401);
    whip_body_free(&b);
    /* one huge chunk at once */
    char *big = calloc(1, WHIP_MAX_OFFER_BYTES + 1);
    CHECK_INT(whip_body_append(&b, big, WHIP_MAX_OFFER_BYTES + 1), 0);
    CHECK(b.too_large && b.len == 0);
    whip_body_free(&b);
    free(big);
    free(chunk);
}

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *buf = malloc(1 << 17);
    *len = fread(buf, 1, (1 << 17) - 1, f);
    buf[*len] = 0;
    fclose(f);
    return buf;
}

/* 0 / 400 of whip_parse_offer, with the reason and the Opus m-line. */
static int parse(const char *text, size_t len, char *why, size_t cap, int *mline, int *pt)
{
    GstSDPMessage *sdp = NULL;
    why[0] = 0;
    *mline = *pt = -1;
    int rc = whip_parse_offer(text, len, &sdp, mline, pt, why, cap);
    CHECK((rc == 0) == (sdp != NULL));
    if (sdp) gst_sdp_message_free(sdp);
    return rc;
}

/* Replaces the first `from` in `s` by `to` (a new string). */
static char *subst(const char *s, const char *from, const char *to)
{
    const char *at = strstr(s, from);
    CHECK(at != NULL);
    if (!at) return strdup(s);
    size_t n = strlen(s) - strlen(from) + strlen(to);
    char *r = malloc(n + 1);
    snprintf(r, n + 1, "%.*s%s%s", (int)(at - s), s, to, at + strlen(from));
    return r;
}

static void test_offers(void)
{
    char why[300], path[1024];
    int mline, pt;
    size_t len;
    snprintf(path, sizeof path, "%s/tests/fuzz/offers/chromium-voice.sdp", RM_SOURCE_DIR);
    char *voice = read_file(path, &len);
    CHECK(voice != NULL);
    if (!voice) return;
    CHECK_INT(parse(voice, len, why, sizeof why, &mline, &pt), 0);
    CHECK_INT(mline, 0);
    CHECK_INT(pt, 111);
    snprintf(path, sizeof path, "%s/tests/fuzz/offers/chromium-data.sdp", RM_SOURCE_DIR);
    size_t dlen;
    char *data = read_file(path, &dlen);
    CHECK(data != NULL);
    if (data) {
        CHECK_INT(parse(data, dlen, why, sizeof why, &mline, &pt), 400);
        CHECK_CONTAINS(why, "no audio m-line");
        free(data);
    }

    /* broken variants of the real offer */
    CHECK_INT(parse("", 0, why, sizeof why, &mline, &pt), 400);
    CHECK_CONTAINS(why, "not an SDP offer");
    CHECK_INT(parse(voice + 1, len - 1, why, sizeof why, &mline, &pt), 400); /* no "v=0" */
    CHECK_INT(parse("v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n", 42, why, sizeof why, &mline, &pt), 400);
    CHECK_CONTAINS(why, "have m= lines");
    CHECK_INT(parse(voice, 3, why, sizeof why, &mline, &pt), 400); /* cut after "v=0" */
    struct {
        const char *from, *to, *why;
        int rc, pt;
    } v[] = {
        {"a=rtpmap:111 opus/48000/2", "a=rtpmap:111 speex/48000/2", "does not include Opus", 400, 0},
        {"a=rtpmap:111 opus/48000/2", "a=rtpmap:128 opus/48000/2", "does not include Opus", 400, 0},
        {"a=rtpmap:111 opus/48000/2", "a=rtpmap:-1 opus/48000/2", "does not include Opus", 400, 0},
        {"a=rtpmap:111 opus/48000/2", "a=rtpmap:99999999999999999999 opus/48000/2", "does not include Opus", 400, 0},
        {"a=rtpmap:111 opus/48000/2", "a=rtpmap:111opus/48000/2", "does not include Opus", 400, 0},
        {"a=rtpmap:111 opus/48000/2", "a=rtpmap:111 opusx/48000/2", "does not include Opus", 400, 0},
        {"a=rtpmap:111 opus/48000/2", "a=rtpmap: opus/48000/2", "does not include Opus", 400, 0},
        {"a=rtpmap:111 opus/48000/2", "a=rtpmap:127 OPUS/48000/2", NULL, 0, 127},
        {"a=rtpmap:111 opus/48000/2", "a=rtpmap:0 opus", NULL, 0, 0},
        {"m=audio", "m=video", "no audio m-line", 400, 0},
        {"v=0", "v=1", "not an SDP offer", 400, 0},
    };
    for (size_t i = 0; i < sizeof v / sizeof *v; i++) {
        char *s = subst(voice, v[i].from, v[i].to);
        int rc = parse(s, strlen(s), why, sizeof why, &mline, &pt);
        if (rc != v[i].rc) fprintf(stderr, "variant %zu ('%s'): %d, %s\n", i, v[i].to, rc, why);
        CHECK_INT(rc, v[i].rc);
        if (v[i].why) CHECK_CONTAINS(why, v[i].why);
        else CHECK_INT(pt, v[i].pt);
        free(s);
    }
    /* a NUL inside: the offer ends there (the media sections are cut off) */
    char *nul = strdup(voice);
    char *m = strstr(nul, "m=audio");
    *m = 0;
    CHECK_INT(parse(nul, len, why, sizeof why, &mline, &pt), 400);
    free(nul);
    /* the Opus m-line second, after a video one */
    char *two = subst(voice, "m=audio", "m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=rtpmap:96 VP8/90000\r\nm=audio");
    CHECK_INT(parse(two, strlen(two), why, sizeof why, &mline, &pt), 0);
    CHECK_INT(mline, 1);
    CHECK_INT(pt, 111);
    free(two);
    free(voice);
}

static void on_offer(GstPromise *p, gpointer user)
{
    (void)p, (void)user;
}

/* An offer made by GStreamer's webrtcbin (audio Opus + data channel). */
static void test_gstreamer_offer(const char *dump)
{
    GError *e = NULL;
    if (!gst_init_check(NULL, NULL, &e)) {
        fprintf(stderr, "GStreamer: %s\n", e ? e->message : "?");
        check_failures++;
        return;
    }
    GstElement *pipe = gst_pipeline_new("offer"), *wb = gst_element_factory_make("webrtcbin", "wb");
    CHECK(wb != NULL);
    if (!wb) {
        gst_object_unref(pipe);
        return;
    }
    gst_bin_add(GST_BIN(pipe), wb);
    gst_element_set_state(pipe, GST_STATE_READY);
    GstCaps *caps = gst_caps_from_string("application/x-rtp,media=audio,encoding-name=OPUS,payload=96,clock-rate=48000");
    GstWebRTCRTPTransceiver *tr = NULL;
    g_signal_emit_by_name(wb, "add-transceiver", GST_WEBRTC_RTP_TRANSCEIVER_DIRECTION_SENDRECV, caps, &tr);
    gst_caps_unref(caps);
    if (tr) gst_object_unref(tr);
    GstWebRTCDataChannel *dc = NULL;
    g_signal_emit_by_name(wb, "create-data-channel", "rm", NULL, &dc);
    if (dc) g_object_unref(dc);
    GstPromise *pr = gst_promise_new_with_change_func(on_offer, NULL, NULL);
    g_signal_emit_by_name(wb, "create-offer", NULL, pr);
    CHECK_INT(gst_promise_wait(pr), GST_PROMISE_RESULT_REPLIED);
    GstWebRTCSessionDescription *offer = NULL;
    const GstStructure *r = gst_promise_get_reply(pr);
    if (r) gst_structure_get(r, "offer", GST_TYPE_WEBRTC_SESSION_DESCRIPTION, &offer, NULL);
    gst_promise_unref(pr);
    CHECK(offer != NULL);
    if (offer) {
        gchar *text = gst_sdp_message_as_text(offer->sdp);
        char why[300];
        int mline, pt;
        CHECK_INT(parse(text, strlen(text), why, sizeof why, &mline, &pt), 0);
        CHECK_INT(mline, 0);
        CHECK_INT(pt, 96);
        if (dump) {
            FILE *f = fopen(dump, "w");
            CHECK(f && fputs(text, f) >= 0 && fclose(f) == 0);
        }
        g_free(text);
        gst_webrtc_session_description_free(offer);
    }
    gst_element_set_state(pipe, GST_STATE_NULL);
    gst_object_unref(pipe);
}

int main(int argc, char **argv)
{
    const char *dump = argc == 3 && !strcmp(argv[1], "--dump") ? argv[2] : NULL;
    test_routes();
    test_tokens();
    test_body_limit();
    test_offers();
    test_gstreamer_offer(dump);
    if (check_failures) fprintf(stderr, "%d check(s) failed\n", check_failures);
    return check_failures ? 1 : 0;
}
