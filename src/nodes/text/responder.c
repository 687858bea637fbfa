/*
 * Responder: a small rule-based reply for voice agents (examples/
 * voice-agent.yaml).  Each utterance (a text frame, or a json frame with a
 * "text" field such as SpeechToText's results) gets one text reply:
 *   - a question about the time ("what time is it") → "the time is three
 *     fifteen p m", spelled as words so that a synthesiser reads it and a
 *     recogniser hears it the same way;
 *   - a greeting ("hello", "hi") → `greeting`;
 *   - anything else → `echo_prefix` followed by what was heard.
 * Utterances shorter than `min_words` words are ignored (noise, "uh").
 */
#define _POSIX_C_SOURCE 200809L /* localtime_r, gmtime_r */
#include <ctype.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "remotemedia/node.h"

typedef struct responder_config {
    const char *echo_prefix;
    const char *greeting;
    int answer_time;
    int utc;
    int64_t min_words;
} responder_config;

static const char *const ones[] = {"", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine",
                                   "ten", "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen",
                                   "seventeen", "eighteen", "nineteen"};
static const char *const tens[] = {"", "", "twenty", "thirty", "forty", "fifty"};

/* "three fifteen p m", "twelve o'clock a m", "nine oh five p m" */
static void time_words(const struct tm *t, char *out, size_t cap)
{
    int h = t->tm_hour % 12, m = t->tm_min;
    const char *ampm = t->tm_hour < 12 ? "a m" : "p m";
    const char *hour = ones[h ? h : 12];
    if (m == 0) snprintf(out, cap, "the time is %s o'clock %s", hour, ampm);
    else if (m < 10) snprintf(out, cap, "the time is %s oh %s %s", hour, ones[m], ampm);
    else if (m < 20) snprintf(out, cap, "the time is %s %s %s", hour, ones[m], ampm);
    else snprintf(out, cap, "the time is %s %s%s%s %s", hour, tens[m / 10], m % 10 ? " " : "", ones[m % 10], ampm);
}

/* Whether `word` appears in `text` as a whole word (ASCII, any case). */
static int has_word(const char *text, const char *word)
{
    size_t wl = strlen(word);
    for (const char *p = text; *p; p++) {
        if (p != text && isalpha((unsigned char)p[-1])) continue;
        size_t k = 0;
        while (k < wl && p[k] && tolower((unsigned char)p[k]) == word[k]) k++;
        if (k == wl && !isalpha((unsigned char)p[k])) return 1;
    }
    return 0;
}

static size_t count_words(const char *s)
{
    size_t n = 0;
    for (int in = 0; *s; s++) {
        int w = isalnum((unsigned char)*s) || *s == '\'';
        if (w && !in) n++;
        in = w;
    }
    return n;
}

static int responder_process(rm_node *node, void *state, unsigned port, const rm_frame *f)
{
    (void)state;
    (void)port;
    const responder_config *cfg = rm_node_config(node);
    const char *text = NULL;
    if (f->kind == RM_FRAME_TEXT) text = f->u.text.data;
    else if (f->kind == RM_FRAME_JSON) text = json_string_value(json_object_get(f->u.json.value, "text"));
    if (!text || count_words(text) < (size_t)cfg->min_words) return 0;
    char reply[1024];
    if (cfg->answer_time && has_word(text, "time")) {
        time_t now = time(NULL);
        struct tm t;
        if (cfg->utc) gmtime_r(&now, &t);
        else localtime_r(&now, &t);
        time_words(&t, reply, sizeof reply);
    } else if (*cfg->greeting && (has_word(text, "hello") || has_word(text, "hi"))) {
        snprintf(reply, sizeof reply, "%s", cfg->greeting);
    } else {
        snprintf(reply, sizeof reply, "%s%s%.900s", cfg->echo_prefix, *cfg->echo_prefix ? " " : "", text);
    }
    rm_frame *out = rm_frame_new_text(reply, strlen(reply));
    if (!out || rm_frame_copy_props(out, f) != 0) {
        rm_frame_unref(out);
        return rm_node_fail(node, RM_ENOMEM, "out of memory");
    }
    return rm_node_emit_take(node, 0, out);
}

static const rm_param_def responder_params[] = {
    {.name = "echo_prefix", .type = RM_PARAM_STRING, .offset = offsetof(responder_config, echo_prefix),
     .doc = "said before an echoed utterance (\"\" = echo only)", .def_str = "you said",
     .flags = RM_PARAM_RUNTIME},
    {.name = "greeting", .type = RM_PARAM_STRING, .offset = offsetof(responder_config, greeting),
     .doc = "reply to \"hello\" or \"hi\" (\"\" = echo greetings too)", .def_str = "hello, how can I help",
     .flags = RM_PARAM_RUNTIME},
    {.name = "answer_time", .type = RM_PARAM_BOOL, .offset = offsetof(responder_config, answer_time),
     .doc = "answer an utterance with the word \"time\" with the time of day, in words", .def_num = 1,
     .flags = RM_PARAM_RUNTIME},
    {.name = "utc", .type = RM_PARAM_BOOL, .offset = offsetof(responder_config, utc),
     .doc = "tell the time in UTC instead of the server's local time", .def_num = 0, .flags = RM_PARAM_RUNTIME},
    {.name = "min_words", .type = RM_PARAM_INT, .offset = offsetof(responder_config, min_words),
     .doc = "utterances with fewer words get no reply", .def_num = 1, .min = 0, .max = 1000,
     .flags = RM_PARAM_RUNTIME},
    {0},
};

static const rm_port_def responder_in[] = {
    {"in", RM_KIND_BIT(RM_FRAME_TEXT) | RM_KIND_BIT(RM_FRAME_JSON), "an utterance: text, or json with \"text\""},
    {0}};
static const rm_port_def responder_out[] = {{"out", RM_KIND_BIT(RM_FRAME_TEXT), "one reply per utterance"}, {0}};

const rm_node_type rm__node_responder = {
    .abi_version = RM_NODE_ABI_VERSION,
    .name = "Responder",
    .doc = "Rule-based voice-agent reply: tells the time, greets, echoes what it heard",
    .family = "text",
    .inputs = responder_in,
    .outputs = responder_out,
    .params = responder_params,
    .config_size = sizeof(responder_config),
    .process = responder_process,
    .example = "- id: reply\n  node_type: Responder\n  params: { echo_prefix: \"you said\" }\n",
};
