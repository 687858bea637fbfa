/*
 * TextCollectorNode: turns a stream of text pieces (LLM tokens, STT partials)
 * into whole sentences, e.g. to feed a TTS node sentence by sentence.
 *
 * Done right, unlike the original (REFERENCE.md §4.1):
 *  - the output does not depend on how the input was chunked: a boundary is
 *    only decided once the text after it is known ("3.14", "example.com",
 *    "e.g. this" are not boundaries; "Hello. World" is);
 *  - abbreviations (Mr., Dr., e.g.) and initials (J. K.) do not end sentences,
 *    and neither does a period followed by a lower-case word;
 *  - runs of boundary characters and closing quotes stay with the sentence
 *    ("Really?!", "He said \"no.\"");
 *  - sentences shorter than min_sentence_length are merged into the next one
 *    instead of being dropped;
 *  - `split_pattern` regex classes such as "[.!?,;:\n]+" are read as the set
 *    of characters they name, with escapes decoded (the original also dropped
 *    the letters n, r and t).
 * The markers <|text_end|> and <|audio_end|> flush the buffer and are passed
 * on as separate text frames, as in the original.
 */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "remotemedia/node.h"
#include "utf8.h"

typedef struct text_collector_config {
    const char *boundaries;
    int64_t min_sentence_length;
    int yield_partial_on_end;
    const char *const *abbreviations;
} text_collector_config;

typedef struct text_collector_state {
    char *buf;
    size_t len, cap;
    char set[128]; /* ASCII boundary characters */
    rm_frame *last; /* props source for emitted sentences */
} text_collector_state;

static const char *const markers[] = {"<|text_end|>", "<|audio_end|>"};

static int decode_boundaries(text_collector_state *st, const char *spec)
{
    memset(st->set, 0, sizeof st->set);
    size_t len = strlen(spec);
    const char *p = spec, *end = spec + len;
    if (len >= 2 && spec[0] == '[') { /* regex character class */
        const char *close = strrchr(spec, ']');
        if (close && close > spec) p = spec + 1, end = close;
    }
    int n = 0;
    for (; p < end; p++) {
        unsigned char ch = (unsigned char)*p;
        if (ch == '\\' && p + 1 < end) {
            p++;
            ch = *p == 'n' ? '\n' : *p == 't' ? '\t' : *p == 'r' ? '\r' : (unsigned char)*p;
        }
        if (ch < 128 && ch != ' ') st->set[ch] = 1, n++;
    }
    return n;
}

static int is_closing(char c) { return c == '"' || c == '\'' || c == ')' || c == ']' || c == '}'; }

static int is_abbreviation(const text_collector_config *cfg, const char *buf, size_t dot)
{
    size_t start = dot;
    while (start > 0 && buf[start - 1] != ' ' && buf[start - 1] != '\n' && buf[start - 1] != '\t' &&
           buf[start - 1] != '(' && buf[start - 1] != '"')
        start--;
    size_t wl = dot - start;
    if (wl == 0) return 0;
    if (wl == 1 && buf[start] >= 'A' && buf[start] <= 'Z') return 1; /* an initial: "J. K." */
    for (const char *const *a = cfg->abbreviations; a && *a; a++) {
        size_t al = strlen(*a);
        if (al != wl) continue;
        size_t k = 0;
        while (k < al && (unsigned char)rm__utf8_lower((unsigned char)buf[start + k]) == (unsigned char)(*a)[k]) k++;
        if (k == al) return 1;
    }
    return 0;
}

static size_t char_count(const char *s, size_t len)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++) n += ((unsigned char)s[i] & 0xC0) != 0x80;
    return n;
}

static int emit_text(rm_node *node, text_collector_state *st, const char *s, size_t len)
{
    while (len && (s[0] == ' ' || s[0] == '\n' || s[0] == '\t' || s[0] == '\r')) s++, len--;
    while (len && (s[len - 1] == ' ' || s[len - 1] == '\n' || s[len - 1] == '\t' || s[len - 1] == '\r')) len--;
    if (!len) return 0;
    rm_frame *f = rm_frame_new_text(s, len);
    if (!f || (st->last && rm_frame_copy_props(f, st->last) != 0)) {
        rm_frame_unref(f);
        return rm_node_fail(node, RM_ENOMEM, "out of memory");
    }
    return rm_node_emit_take(node, 0, f);
}

/* Position just past a sentence ending at boundary char i, 0 if the text at
 * i is not (or not yet known to be) a sentence end.  Only buf[0..len) is
 * known text. */
static size_t sentence_end(const text_collector_config *cfg, const text_collector_state *st, size_t len, size_t i)
{
    const char *b = st->buf;
    if (b[i] == '\n') return i + 1;
    size_t j = i + 1;
    while (j < len && (((unsigned char)b[j] < 128 && st->set[(unsigned char)b[j]] && b[j] != '\n') || is_closing(b[j])))
        j++;
    if (j >= len) return 0; /* undecided until more text arrives */
    if (b[j] != ' ' && b[j] != '\t' && b[j] != '\n' && b[j] != '\r') return 0;
    if (b[i] == '.' || b[j - 1] == '.') {
        size_t k = j;
        while (k < len && (b[k] == ' ' || b[k] == '\t' || b[k] == '\r')) k++;
        if (k >= len) return 0; /* need the next word */
        if (b[k] >= 'a' && b[k] <= 'z') return 0;
        if (b[i] == '.' && is_abbreviation(cfg, b, i)) return 0;
    }
    return j;
}

/* Emits every complete sentence in buf[0..len) and removes it from the
 * buffer. */
static int drain(rm_node *node, text_collector_state *st, size_t len)
{
    const text_collector_config *cfg = rm_node_config(node);
    size_t start = 0, i = 0;
    int rc = 0;
    while (i < len && rc == 0) {
        unsigned char ch = (unsigned char)st->buf[i];
        size_t end = ch < 128 && st->set[ch] ? sentence_end(cfg, st, len, i) : 0;
        if (!end) {
            i++;
            continue;
        }
        if (char_count(st->buf + start, end - start) >= (size_t)cfg->min_sentence_length) {
            rc = emit_text(node, st, st->buf + start, end - start);
            start = end;
        }
        i = end;
    }
    memmove(st->buf, st->buf + start, st->len - start + 1);
    st->len -= start;
    return rc;
}

/* Length of the longest end of buf that could be the start of a marker
 * split across input pieces ("…<|text_" + "end|>…"). */
static size_t marker_prefix(const text_collector_state *st)
{
    size_t best = 0;
    for (size_t m = 0; m < 2; m++) {
        size_t ml = strlen(markers[m]);
        for (size_t k = ml - 1; k > best; k--)
            if (k <= st->len && memcmp(st->buf + st->len - k, markers[m], k) == 0) {
                best = k;
                break;
            }
    }
    return best;
}

static int append(text_collector_state *st, const char *s, size_t n)
{
    if (st->len + n + 1 > st->cap) {
        size_t cap = st->cap ? st->cap : 256;
        while (cap < st->len + n + 1) cap *= 2;
        char *p = realloc(st->buf, cap);
        if (!p) return RM_ENOMEM;
        st->buf = p;
        st->cap = cap;
    }
    memcpy(st->buf + st->len, s, n);
    st->len += n;
    st->buf[st->len] = '\0';
    return 0;
}

/* Emits the unfinished text in buf[0..len) (if yield_partial_on_end) and
 * removes it. */
static int emit_rest(rm_node *node, text_collector_state *st, size_t len)
{
    const text_collector_config *cfg = rm_node_config(node);
    int rc = cfg->yield_partial_on_end ? emit_text(node, st, st->buf, len) : 0;
    memmove(st->buf, st->buf + len, st->len - len + 1);
    st->len -= len;
    return rc;
}

/* Handles the buffer: sentences, markers (which flush what precedes them and
 * pass on as their own frame), and at the end of the stream the rest.  Text
 * that may be the start of a marker waits for the next piece. */
static int collect(rm_node *node, text_collector_state *st, int final)
{
    int rc = 0;
    if (!st->buf) return 0; /* no text yet */
    while (rc == 0) {
        const char *hit = NULL;
        size_t which = 0;
        for (size_t m = 0; m < 2; m++) {
            const char *h = st->len ? strstr(st->buf, markers[m]) : NULL;
            if (h && (!hit || h < hit)) hit = h, which = m;
        }
        if (!hit) {
            rc = drain(node, st, final ? st->len : st->len - marker_prefix(st));
            if (rc == 0 && final) rc = emit_rest(node, st, st->len);
            return rc;
        }
        size_t at = (size_t)(hit - st->buf), ml = strlen(markers[which]);
        rc = drain(node, st, at);
        at = (size_t)(strstr(st->buf, markers[which]) - st->buf); /* drain moved the buffer */
        if (rc == 0) rc = emit_rest(node, st, at);
        if (rc == 0) rc = emit_text(node, st, markers[which], ml);
        memmove(st->buf, st->buf + ml, st->len - ml + 1);
        st->len -= ml;
    }
    return rc;
}

static int text_collector_init(rm_node *node, void *state, const void *config)
{
    text_collector_state *st = state;
    const text_collector_config *cfg = config;
    if (!decode_boundaries(st, cfg->boundaries))
        return rm_node_fail(node, RM_EPARAM, "boundaries '%s' names no boundary character", cfg->boundaries);
    return 0;
}

static int text_collector_process(rm_node *node, void *state, unsigned port, const rm_frame *f)
{
    (void)port;
    text_collector_state *st = state;
    if (f->kind != RM_FRAME_TEXT) return rm_node_emit(node, 0, f);
    rm_frame_unref(st->last);
    st->last = rm_frame_ref(f);
    if (append(st, f->u.text.data, f->u.text.len) != 0) return rm_node_fail(node, RM_ENOMEM, "out of memory");
    return collect(node, st, 0);
}

static int text_collector_flush(rm_node *node, void *state)
{
    text_collector_state *st = state;
    int rc = collect(node, st, 1);
    rm_frame_unref(st->last);
    st->last = NULL;
    return rc;
}

static int text_collector_reset(rm_node *node, void *state)
{
    (void)node;
    text_collector_state *st = state;
    st->len = 0;
    rm_frame_unref(st->last);
    st->last = NULL;
    return 0;
}

static void text_collector_fini(void *state)
{
    text_collector_state *st = state;
    rm_frame_unref(st->last);
    free(st->buf);
}

static const char *const boundaries_aliases[] = {"split_pattern", NULL};

static const rm_param_def text_collector_params[] = {
    {.name = "boundaries", .type = RM_PARAM_STRING, .offset = offsetof(text_collector_config, boundaries),
     .doc = "characters that end a sentence (a regex class like \"[.!?]+\" is accepted)",
     .def_str = ".!?;\n", .aliases = boundaries_aliases},
    {.name = "min_sentence_length", .type = RM_PARAM_INT,
     .offset = offsetof(text_collector_config, min_sentence_length),
     .doc = "shorter sentences are merged into the next one", .def_num = 3, .min = 0, .max = 100000,
     .flags = RM_PARAM_RUNTIME},
    {.name = "yield_partial_on_end", .type = RM_PARAM_BOOL,
     .offset = offsetof(text_collector_config, yield_partial_on_end),
     .doc = "emit unfinished text at end of stream and at <|text_end|>", .def_num = 1,
     .flags = RM_PARAM_RUNTIME},
    {.name = "abbreviations", .type = RM_PARAM_STRING_LIST,
     .offset = offsetof(text_collector_config, abbreviations),
     .doc = "lower-case words whose trailing period does not end a sentence",
     .def_str = "mr,mrs,ms,dr,prof,sr,jr,st,vs,e.g,i.e,approx,fig,inc,ltd,dept,est"},
    {0},
};

static const rm_port_def text_collector_in[] = {
    {"in", RM_KINDS_ANY, "text pieces; other frames pass through"}, {0}};
static const rm_port_def text_collector_out[] = {{"out", RM_KINDS_ANY, "one text frame per sentence"}, {0}};

const rm_node_type rm__node_text_collector = {
    .abi_version = RM_NODE_ABI_VERSION,
    .name = "TextCollectorNode",
    .doc = "Collects streamed text into whole sentences (chunking-independent)",
    .family = "text",
    .inputs = text_collector_in,
    .outputs = text_collector_out,
    .params = text_collector_params,
    .config_size = sizeof(text_collector_config),
    .state_size = sizeof(text_collector_state),
    .init = text_collector_init,
    .process = text_collector_process,
    .flush = text_collector_flush,
    .reset = text_collector_reset,
    .fini = text_collector_fini,
    .example = "- id: sentences\n  node_type: TextCollectorNode\n  params: { min_sentence_length: 3 }\n",
};
