/* rmedia run: feed inputs (JSON values or audio) through a pipeline and
 * print or write its outputs. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "cli.h"
#ifdef RM_CLI_AUDIO
#include "audio_io.h"
#endif

static const char run_help[] =
    "Usage: rmedia run MANIFEST [OPTIONS]\n"
    "\n"
    "Runs the pipeline described by MANIFEST (JSON or YAML) on JSON values or\n"
    "on audio, and prints or writes what its sink nodes emit.\n"
    "\n"
    "JSON inputs: either one JSON array, whose elements are pushed one by one,\n"
    "or one JSON value per line, pushed as each line arrives.  A JSON string\n"
    "becomes a text frame, any other value a json frame.  To push an array as\n"
    "one input, wrap it: [[1, 2]].  Every source node receives every input.\n"
    "An input line (or a whole array) may hold up to --max-input-bytes.\n"
#ifdef RM_CLI_AUDIO
    "\n"
    "Audio inputs: an audio file (WAV, FLAC, OGG, AIFF, … any rate and channel\n"
    "count, recognised by extension or content, also on stdin) or raw PCM with\n"
    "--input-format, fed as a stream of chunks.  Audio that sinks emit goes to\n"
    "--output FILE.wav (or raw PCM with --output-format); everything else\n"
    "(VAD events, transcripts) is printed as JSON lines with timestamps.\n"
#endif
    "\n"
    "Options:\n"
    "  -i, --input FILE     read inputs from FILE ('-' = stdin; default: stdin\n"
    "                       unless it is a terminal, then no inputs)\n"
    "  -o, --output FILE    write outputs to FILE ('-' = stdout, the default); a\n"
    "                       file is written completely or not at all\n"
    "  -f, --format FMT     how JSON outputs are printed:\n"
    "                       auto: an array input gives a JSON array (an object of\n"
    "                         arrays keyed by sink id if there are several sinks),\n"
    "                         line input gives one value per line (default)\n"
    "                       jsonl: one {\"node\",\"port\",\"seq\",\"timestamp_ms\",\"value\"}\n"
    "                         line per output\n"
    "                       values: one bare value per line\n"
    "                       transcript: one line per utterance of speech to\n"
    "                         text, \"[  0.19 s –   1.22 s]  text   (confidence 0.54)\"\n"
#ifdef RM_CLI_AUDIO
    "      --input-format F json, audio, or raw PCM FORMAT:RATE:CHANNELS with\n"
    "                       FORMAT s16le, s32le or f32le (e.g. s16le:16000:1)\n"
    "      --output-format F write audio as raw PCM: FORMAT (s16le, s32le, f32le)\n"
    "                       or FORMAT:RATE:CHANNELS to also check what the\n"
    "                       pipeline produces\n"
    "      --output-subtype T sample type of an audio file: s16, s24, s32, f32,\n"
    "                       vorbis (default for .ogg); default: the audio's own\n"
    "                       (an f32 or s16 input file gives an f32 or s16 output)\n"
    "      --output-node ID the sink whose audio is written (default: the first\n"
    "                       sink that emits audio)\n"
    "      --chunk-ms MS    audio chunk size pushed per call (default 20)\n"
    "      --realtime       pace audio input at real time (live simulation) and\n"
    "                       report per-chunk latency\n"
    "      --no-progress    never show the progress bar (it shows on a terminal)\n"
#endif
    "      --set NODE.PARAM=VALUE  override a node parameter (VALUE is JSON, or a\n"
    "                       plain word taken as a string); repeatable\n"
    "      --only NODE[.PORT] print only this sink's outputs; repeatable\n"
    "      --strict         treat manifest warnings (unknown keys) as errors\n"
    "      --metrics [FILE] write the run's metrics as JSON to stderr (or FILE)\n"
    "      --max-input-bytes N  largest JSON input line, or whole JSON array, in\n"
    "                       bytes (suffix k, M or G; default 16M)\n"
    "      --table          print a per-node latency table to stderr\n"
    "      --allow-python   let a .rmpkg package run the Python node types of its\n"
    "                       python/ files (that is running the package's code)\n"
    "  -h, --help           show this help\n"
    "\n"
    "Examples:\n"
    "  echo '[5, 7, 3]' | rmedia run examples/calculator.json   # prints [20,24,16]\n"
#ifdef RM_CLI_AUDIO
    "  rmedia run examples/preprocess.yaml -i in.wav -o out.wav\n"
    "  arecord -f S16_LE -r 16000 | rmedia run vad.yaml --input-format s16le:16000:1\n"
#endif
    ;

/* The session, local or through a cli_backend (rmedia remote run). */
static const cli_backend *backend;
typedef struct cli_sess cli_sess; /* rm_session, or the backend's session */
static int be_push(cli_sess *s, rm_frame *f)
{
    return backend ? backend->push(s, f) : rm_session_push((rm_session *)s, f);
}
static const rm_error *be_error(cli_sess *s)
{
    return backend ? backend->error(s) : rm_session_error((rm_session *)s);
}

typedef enum { FMT_AUTO, FMT_JSONL, FMT_VALUES, FMT_TRANSCRIPT } out_format;

#define DEFAULT_MAX_INPUT ((size_t)16 << 20)

typedef struct run_ctx {
    out_format format;
    int batch;      /* inputs came as one JSON array */
    int single;     /* the graph has one sink */
    int streaming;  /* audio run: outputs are lines with timestamps */
    FILE *out;      /* JSON output */
    int write_error;
#ifdef RM_CLI_AUDIO
    cli_audio_out *audio;
    const char *audio_node;
    char audio_key[160];
    int warned_audio;
    int audio_error;
#endif
    int progress_shown;
    double dropped_audio_s; /* audio the sinks emitted that no output took */
    const char *only[16];   /* --only NODE[.PORT]: print just these outputs */
    int n_only;
    int stream_array;       /* array input, one sink: print "[v1,v2,…]" as they come */
    size_t n_printed;
    int transcript_text;    /* transcript: from text frames (else JSON results) */
} run_ctx;

/* Whether --only lets this output through. */
static int selected(const run_ctx *c, const char *node, const char *port)
{
    if (!c->n_only) return 1;
    size_t nl = strlen(node);
    for (int i = 0; i < c->n_only; i++) {
        const char *o = c->only[i];
        if (strncmp(o, node, nl) != 0) continue;
        if (o[nl] == '\0' || (o[nl] == '.' && !strcmp(o + nl + 1, port))) return 1;
    }
    return 0;
}

static void clear_progress(run_ctx *c)
{
    if (c->progress_shown) {
        fputs("\r\033[K", stderr);
        c->progress_shown = 0;
    }
}

/* A meta value as JSON: numbers ("2940", "0.858") as numbers, so that
 * meta.start_ms and the results' start_ms have one type. */
static json_t *meta_value(const char *val)
{
    char *end;
    if (*val && strspn(val, "-+.eE0123456789") == strlen(val) && (strtod(val, &end), *end == '\0')) {
        json_t *n = json_loads(val, JSON_DECODE_ANY, NULL);
        if (json_is_number(n)) return n;
        json_decref(n);
    }
    return json_string(val);
}

static double meta_number(const rm_frame *f, const char *key, int *found)
{
    for (size_t i = 0; i < rm_frame_meta_count(f); i++) {
        const char *k, *v;
        rm_frame_meta_at(f, i, &k, &v);
        if (!strcmp(k, key)) {
            *found = 1;
            return strtod(v, NULL);
        }
    }
    *found = 0;
    return 0;
}

/* One transcript line: "[  0.19 s –   1.22 s]  text   (confidence 0.54)",
 * from a speech-to-text result object or a text frame with timing meta.
 * NULL for outputs that are not utterances (VAD events, audio). */
static char *transcript_line(const run_ctx *c, const rm_frame *f)
{
    const char *text = NULL;
    size_t len = 0;
    double start = 0, end = 0, conf = 0;
    int has_time = 0, has_conf = 0;
    if (c->transcript_text && f->kind == RM_FRAME_TEXT) {
        text = f->u.text.data;
        len = f->u.text.len;
        int a, b;
        start = meta_number(f, "start_ms", &a);
        end = meta_number(f, "end_ms", &b);
        has_time = a && b;
        conf = meta_number(f, "confidence", &has_conf);
    } else if (!c->transcript_text && f->kind == RM_FRAME_JSON && json_is_object(f->u.json.value)) {
        const json_t *o = f->u.json.value, *t = json_object_get(o, "text");
        if (!json_is_string(t) || json_is_false(json_object_get(o, "final"))) return NULL;
        text = json_string_value(t);
        len = json_string_length(t);
        const json_t *a = json_object_get(o, "start_ms"), *b = json_object_get(o, "end_ms");
        const json_t *cf = json_object_get(o, "confidence");
        has_time = json_is_number(a) && json_is_number(b);
        start = json_number_value(a);
        end = json_number_value(b);
        has_conf = json_is_number(cf);
        conf = json_number_value(cf);
    } else {
        return NULL;
    }
    size_t cap = len + 96;
    char *s = malloc(cap);
    if (!s) return NULL;
    int n = has_time ? snprintf(s, cap, "[%6.2f s – %6.2f s]  ", start / 1000, end / 1000) : 0;
    n += snprintf(s + n, cap - (size_t)n, "%.*s", (int)len, text);
    if (has_conf) snprintf(s + n, cap - (size_t)n, "   (confidence %.2f)", conf);
    return s;
}

static void print_value(run_ctx *c, const char *node, const char *port, const rm_frame *f)
{
    if (!selected(c, node, port)) return;
    if (c->format == FMT_TRANSCRIPT) {
        char *s = transcript_line(c, f);
        if (!s) return;
#ifndef RM_SINGLE_THREAD
        flockfile(c->out);
#endif
        if (c->out == stdout) clear_progress(c);
        if (fputs(s, c->out) < 0 || fputc('\n', c->out) < 0 || fflush(c->out) != 0) c->write_error = 1;
#ifndef RM_SINGLE_THREAD
        funlockfile(c->out);
#endif
        free(s);
        return;
    }
    json_t *v = cli_frame_to_json(f);
    json_t *line = v;
    if (c->format == FMT_JSONL || (c->format == FMT_AUTO && (!c->single || c->streaming))) {
        line = json_pack("{s:s, s:s, s:I, s:o}", "node", node, "port", port, "seq", (json_int_t)f->sequence,
                         "value", v);
        if (line && f->timestamp_us != RM_TS_NONE)
            json_object_set_new(line, "timestamp_ms", json_real((double)f->timestamp_us / 1000.0));
        if (line && rm_frame_meta_count(f)) {
            json_t *meta = json_object();
            for (size_t i = 0; i < rm_frame_meta_count(f); i++) {
                const char *k, *val;
                rm_frame_meta_at(f, i, &k, &val);
                json_object_set_new(meta, k, meta_value(val));
            }
            json_object_set_new(line, "meta", meta);
        }
    }
    char *s = line ? rm_json_dumps(line, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
    json_decref(line);
#ifndef RM_SINGLE_THREAD
    flockfile(c->out); /* sinks on worker threads may print concurrently */
#endif
    if (c->out == stdout) clear_progress(c);
    if (c->stream_array) { /* "[" v1 "," v2 … "]": the closing bracket comes at the end */
        if (!s || fputs(c->n_printed++ ? "," : "[", c->out) < 0 || fputs(s, c->out) < 0) c->write_error = 1;
    } else if (!s || fputs(s, c->out) < 0 || fputc('\n', c->out) < 0 || fflush(c->out) != 0) {
        c->write_error = 1;
    }
#ifndef RM_SINGLE_THREAD
    funlockfile(c->out);
#endif
    free(s);
}

static void on_output(void *user, const char *node, const char *port, const rm_frame *f)
{
    run_ctx *c = user;
#ifdef RM_CLI_AUDIO
    if (c->audio && f->kind == RM_FRAME_AUDIO) {
        char key[160];
        snprintf(key, sizeof key, "%s.%s", node, port);
        if (!c->audio_key[0] && (!c->audio_node || !strcmp(node, c->audio_node)))
            snprintf(c->audio_key, sizeof c->audio_key, "%s", key);
        if (!strcmp(key, c->audio_key)) {
            if (!c->audio_error && cli_audio_out_write(c->audio, f) != 0) c->audio_error = 1;
            return;
        }
        if (!c->warned_audio) {
            fprintf(stderr, "rmedia: warning: audio from %s is not written (the output takes %s; see --output-node)\n",
                    key, c->audio_key);
            c->warned_audio = 1;
        }
        return;
    }
#endif
    if (c->streaming && f->kind == RM_FRAME_AUDIO) {
        /* audio only goes to an audio output; printing a description per
         * chunk would bury the events */
        c->dropped_audio_s += f->u.audio.rate ? (double)f->u.audio.frames / f->u.audio.rate : 0;
        return;
    }
    print_value(c, node, port, f);
}

/* Prints collected outputs of a batch run. */
static int print_batch(run_ctx *c, cli_sess *s, rm_graph *g)
{
    const rm_outputs *o = backend ? NULL : rm_session_outputs((rm_session *)s);
    size_t n_out = backend ? backend->count(s) : rm_outputs_count(o);
#define OUT_AT(i) (backend ? backend->at(s, i) : rm_outputs_at(o, i))
    if (c->stream_array) { /* printed as they came; close the array */
        int rc = fputs(c->n_printed ? "]\n" : "[]\n", c->out) >= 0 ? 0 : -1;
        return rc || c->write_error ? -1 : 0;
    }
    if (c->format != FMT_AUTO) {
        for (size_t i = 0; i < n_out; i++) {
            const rm_output *x = OUT_AT(i);
            print_value(c, x->node_id, x->port, x->frame);
        }
        return c->write_error ? -1 : 0;
    }
    json_t *root = c->single ? json_array() : json_object();
    /* one array per wanted sink, indexed by node; one pass over the outputs */
    json_t **by_node = calloc(rm_graph_node_count(g) + 1, sizeof *by_node);
    if (!root || !by_node) {
        json_decref(root);
        free(by_node);
        return -1;
    }
    for (size_t k = 0; k < rm_graph_sink_count(g); k++) {
        const char *id = rm_graph_node_id(g, rm_graph_sink(g, k));
        int wanted = !c->n_only;
        for (int i = 0; i < c->n_only && !wanted; i++) {
            size_t nl = strlen(id);
            wanted = !strncmp(c->only[i], id, nl) && (c->only[i][nl] == '\0' || c->only[i][nl] == '.');
        }
        if (!wanted) continue;
        json_t *arr = c->single ? root : json_array();
        by_node[rm_graph_sink(g, k)] = arr;
        if (!c->single) json_object_set_new(root, id, arr);
    }
    for (size_t i = 0; i < n_out; i++) {
        const rm_output *x = OUT_AT(i);
        int idx = rm_graph_node_index(g, x->node_id);
        if (idx >= 0 && by_node[idx] && selected(c, x->node_id, x->port))
            json_array_append_new(by_node[idx], cli_frame_to_json(x->frame));
    }
#undef OUT_AT
    free(by_node);
    char *text = rm_json_dumps(root, JSON_COMPACT | JSON_ENCODE_ANY);
    json_decref(root);
    int rc = text && fputs(text, c->out) >= 0 && fputc('\n', c->out) >= 0 ? 0 : -1;
    free(text);
    return rc;
}

static void print_table(const char *metrics)
{
    json_t *m = json_loads(metrics, 0, NULL);
    if (!m) return;
    json_t *nodes = json_object_get(m, "node_metrics");
    double total = 0;
    const char *id;
    json_t *nm;
    int wid = 20, wtype = 20; /* columns as wide as their longest entry */
    json_object_foreach(nodes, id, nm)
    {
        total += json_number_value(json_object_get(nm, "total_us"));
        const char *type = json_string_value(json_object_get(nm, "node_type"));
        if ((int)strlen(id) > wid) wid = (int)strlen(id);
        if (type && (int)strlen(type) > wtype) wtype = (int)strlen(type);
    }
    /* "µs" is one column but two bytes: pad those headers by one more */
    fprintf(stderr, "\n%-*s %-*s %8s %11s %11s %10s %7s\n", wid, "node", wtype, "type", "calls", "p50 µs",
            "p99 µs", "total ms", "share");
    json_object_foreach(nodes, id, nm)
    {
        double t = json_number_value(json_object_get(nm, "total_us"));
        fprintf(stderr, "%-*s %-*s %8lld %10.1f %10.1f %10.3f %6.1f%%\n", wid, id, wtype,
                json_string_value(json_object_get(nm, "node_type")),
                (long long)json_integer_value(json_object_get(nm, "calls")),
                json_number_value(json_object_get(nm, "p50_us")), json_number_value(json_object_get(nm, "p99_us")),
                t / 1000.0, total > 0 ? 100.0 * t / total : 0.0);
    }
    fprintf(stderr, "wall time %.3f ms\n", json_number_value(json_object_get(m, "total_duration_us")) / 1000.0);
    json_decref(m);
}

static int report_failure(cli_sess *s, int rc)
{
    const rm_error *e = be_error(s);
    char text[sizeof e->message + 64];
    snprintf(text, sizeof text, "%s (%s)", e->message, rm_err_name(e->code));
    if (e->code && cli_already_logged(e->node_id[0] ? e->node_id : NULL, text)) {
        /* the session logged it as it happened */
    } else if (e->code && e->node_id[0]) cli_error("node '%s': %s", e->node_id, text);
    else if (e->code) cli_error("%s", text);
    else cli_error("%s (%s)", rm_strerror(rc), rm_err_name(rc));
    return cli_exit_for(e->code ? e->code : rc);
}

/* ----------------------------------------------------------- JSON input --- */

/* Reads input lines of at most `max` bytes without holding more than one
 * line (plus a read buffer) in memory.  The first bytes can be looked at
 * before any is consumed, to tell audio from JSON on stdin. */
typedef struct reader {
    FILE *f;
    char *buf;
    size_t cap, pos, len, max;
    int eof, err;
} reader;

/* Buffers at least `want` bytes after pos (if the input has them); -1 on
 * out of memory. */
static int reader_fill(reader *r, size_t want)
{
    while (!r->eof && r->len - r->pos < want) {
        if (r->pos > 0 && r->pos == r->len) r->pos = r->len = 0;
        if (r->len == r->cap) {
            if (r->pos > 0) { /* make room by dropping what was consumed */
                memmove(r->buf, r->buf + r->pos, r->len - r->pos);
                r->len -= r->pos;
                r->pos = 0;
                continue;
            }
            size_t cap = r->cap ? r->cap * 2 : 65536;
            char *b = realloc(r->buf, cap + 1);
            if (!b) return -1;
            r->buf = b;
            r->cap = cap;
        }
        /* read(), not fread(): a pipe's line must not wait for a full buffer */
        ssize_t n;
        do n = read(fileno(r->f), r->buf + r->len, r->cap - r->len);
        while (n < 0 && errno == EINTR);
        if (n <= 0) {
            r->eof = 1;
            r->err = n < 0;
        } else {
            r->len += (size_t)n;
        }
    }
    return 0;
}

/* Next line (without its newline) in *line and *len, valid until the next call.
 * Returns 1, 0 at the end, -1 on a read error or out of memory, -2 if the
 * line is longer than r->max. */
static int reader_line(reader *r, char **line, size_t *len)
{
    size_t scanned = 0;
    for (;;) {
        char *nl = memchr(r->buf + r->pos + scanned, '\n', r->len - r->pos - scanned);
        if (nl) {
            *line = r->buf + r->pos;
            *len = (size_t)(nl - *line);
            r->pos += *len + 1;
            return *len > r->max ? -2 : 1;
        }
        scanned = r->len - r->pos;
        if (scanned > r->max) return -2;
        if (r->eof) {
            if (scanned == 0) return r->err ? -1 : 0;
            *line = r->buf + r->pos;
            *len = scanned;
            r->pos = r->len;
            (*line)[*len] = '\0';
            return 1;
        }
        if (reader_fill(r, scanned + 1) != 0) return -1;
        if (r->err) return -1;
    }
}

static void too_large(const char *src, size_t lineno, size_t max)
{
    cli_error("%s:%zu: input line is too large: more than %zu bytes (--max-input-bytes; the default is "
              "16M)", src, lineno, max);
}

static int blank(const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != ' ' && p[i] != '\t' && p[i] != '\r' && p[i] != '\n') return 0;
    return 1;
}

/* Parses one JSON input line: NULL (blank) with *code 0, or NULL with *code
 * an exit code (message printed). */
static json_t *parse_line(const char *src, size_t lineno, const char *line, size_t len, int *code)
{
    *code = EXIT_OK;
    if (blank(line, len)) return NULL;
    json_error_t jerr;
    json_t *v = json_loadb(line, len, JSON_DECODE_ANY, &jerr);
    if (!v) {
        /* jansson leaves the reason empty when memory runs out */
        cli_error("%s:%zu: invalid JSON input: %s", src, lineno,
                  jerr.text[0] ? jerr.text : "out of memory while parsing it");
        *code = EXIT_IO;
    }
    return v;
}

/* Pushes one parsed input (takes the reference); returns 0 or an exit code. */
static int push_value(cli_sess *s, const char *src, size_t lineno, json_t *v)
{
    rm_frame *f = cli_json_to_frame(v);
    if (!f) {
        cli_error("%s:%zu: input is not valid UTF-8 text or memory ran out", src, lineno);
        return EXIT_IO;
    }
    f->sequence = lineno;
    int rc = be_push(s, f);
    rm_frame_unref(f);
    return rc == 0 ? 0 : report_failure(s, rc);
}

/* What the start of a JSON input turned out to be. */
typedef struct json_start {
    json_t *batch;        /* the whole input was one array */
    json_t *first;        /* lines: the first value, already parsed */
    size_t first_line;
    char *second;         /* lines: the second non-blank line's text */
    size_t second_len, second_line;
    size_t lines_read;    /* lines consumed so far */
    char *all;            /* a multi-line text that is not one array: its lines */
} json_start;

static void json_start_free(json_start *js)
{
    json_decref(js->batch);
    json_decref(js->first);
    free(js->second);
    free(js->all);
}

/* Reads the start of JSON input: one array (batch) or JSON lines.  An input
 * whose first value is an array and that has more lines is JSON lines; an
 * array spread over several lines is read whole (up to max bytes).  Returns
 * 0 or an exit code. */
static int read_json_start(reader *r, const char *src, json_start *js)
{
    memset(js, 0, sizeof *js);
    if (reader_fill(r, 1) != 0) return cli_error("out of memory"), EXIT_IO;
    size_t i = r->pos;
    for (;;) { /* first non-blank byte */
        while (i < r->len && strchr(" \t\r\n", r->buf[i])) i++;
        if (i < r->len || r->eof) break;
        if (reader_fill(r, r->len - r->pos + 1) != 0) return cli_error("out of memory"), EXIT_IO;
        if (r->len - r->pos > r->max) break;
    }
    if (i >= r->len || r->buf[i] != '[') return 0; /* lines */
    char *line;
    size_t len;
    int got;
    while ((got = reader_line(r, &line, &len)) == 1) {
        js->lines_read++;
        if (!blank(line, len)) break;
    }
    if (got == -2) return too_large(src, js->lines_read + 1, r->max), EXIT_IO;
    if (got < 0) return cli_error("cannot read input '%s': %s", src, strerror(errno)), EXIT_IO;
    if (got == 0) return 0;
    js->first_line = js->lines_read;
    json_t *v = json_loadb(line, len, JSON_DECODE_ANY, NULL);
    if (json_is_array(v)) {
        js->first = v;
        while ((got = reader_line(r, &line, &len)) == 1) {
            js->lines_read++;
            if (!blank(line, len)) break;
        }
        if (got == -2) return too_large(src, js->lines_read + 1, r->max), EXIT_IO;
        if (got < 0) return cli_error("cannot read input '%s': %s", src, strerror(errno)), EXIT_IO;
        if (got == 0) { /* the only line: a batch */
            js->batch = js->first;
            js->first = NULL;
            return 0;
        }
        js->second_line = js->lines_read;
        js->second = malloc(len + 1);
        if (!js->second) return cli_error("out of memory"), EXIT_IO;
        memcpy(js->second, line, len);
        js->second_len = len;
        return 0;
    }
    json_decref(v);
    /* An array over several lines (or a bad first line): read it whole. */
    size_t cap = len + 65536, n = len;
    js->all = malloc(cap + 1);
    if (!js->all) return cli_error("out of memory"), EXIT_IO;
    memcpy(js->all, line, len);
    while ((got = reader_line(r, &line, &len)) == 1) {
        if (n + 1 + len > r->max) {
            got = -2;
            break;
        }
        if (n + 1 + len > cap) {
            cap = (n + 1 + len) * 2;
            char *p = realloc(js->all, cap + 1);
            if (!p) return cli_error("out of memory"), EXIT_IO;
            js->all = p;
        }
        js->all[n++] = '\n';
        memcpy(js->all + n, line, len);
        n += len;
    }
    if (got == -2) {
        cli_error("%s: input is too large: a JSON array is read whole and this one is more than %zu bytes "
                  "(raise --max-input-bytes, or send one value per line)", src, r->max);
        return EXIT_IO;
    }
    if (got < 0) return cli_error("cannot read input '%s': %s", src, strerror(errno)), EXIT_IO;
    js->all[n] = '\0';
    js->batch = json_loadb(js->all, n, JSON_DECODE_ANY, NULL);
    if (js->batch && !json_is_array(js->batch)) json_decref(js->batch), js->batch = NULL;
    if (js->batch) free(js->all), js->all = NULL;
    js->first_line = 0;
    return 0;
}

/* Pushes JSON inputs: one array (batch) or lines, streamed. */
static int run_json(cli_sess *s, reader *r, const char *src, json_start *js)
{
    if (js->batch) {
        size_t i;
        json_t *v;
        json_array_foreach(js->batch, i, v)
        {
            rm_frame *f = cli_json_to_frame(json_incref(v));
            if (!f) {
                cli_error("%s: input [%zu] is not valid UTF-8 text", src, i);
                return EXIT_IO;
            }
            f->sequence = i;
            int rc = be_push(s, f);
            rm_frame_unref(f);
            if (rc != 0) return report_failure(s, rc);
        }
        return EXIT_OK;
    }
    int code = EXIT_OK;
    if (js->all) { /* several lines starting with '[' that are not one array */
        size_t lineno = 1;
        for (char *p = js->all; *p && code == EXIT_OK; lineno++) {
            char *nl = strchr(p, '\n');
            size_t len = nl ? (size_t)(nl - p) : strlen(p);
            json_t *v = parse_line(src, lineno, p, len, &code);
            if (v) code = push_value(s, src, lineno, v);
            p += len + (nl ? 1 : 0);
        }
        return code;
    }
    if (js->first) {
        code = push_value(s, src, js->first_line, js->first);
        js->first = NULL;
    }
    if (code == EXIT_OK && js->second) {
        json_t *v = parse_line(src, js->second_line, js->second, js->second_len, &code);
        if (v) code = push_value(s, src, js->second_line, v);
    }
    if (!r) return code;
    size_t lineno = js->lines_read;
    char *line;
    size_t len;
    int got = 1;
    while (code == EXIT_OK && (got = reader_line(r, &line, &len)) == 1) {
        json_t *v = parse_line(src, ++lineno, line, len, &code);
        if (v) code = push_value(s, src, lineno, v);
    }
    if (code == EXIT_OK && got == -2) {
        too_large(src, lineno + 1, r->max);
        code = EXIT_IO;
    } else if (code == EXIT_OK && got < 0) {
        cli_error("cannot read input '%s': %s", src, errno ? strerror(errno) : "out of memory");
        code = EXIT_IO;
    }
    return code;
}

#ifdef RM_CLI_AUDIO
static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void show_progress(run_ctx *c, uint64_t done, int64_t total, uint32_t rate)
{
    double frac = total > 0 ? (double)done / (double)total : 0;
    int width = 30, fill = (int)(frac * width + 0.5);
    char bar[40];
    for (int i = 0; i < width; i++) bar[i] = i < fill ? '#' : '.';
    bar[width] = '\0';
    double t = (double)done / rate, tt = (double)total / rate;
    fprintf(stderr, "\r\033[K[%s] %3.0f%%  %d:%04.1f / %d:%04.1f", bar, frac * 100, (int)(t / 60), fmod(t, 60),
            (int)(tt / 60), fmod(tt, 60));
    c->progress_shown = 1;
}

/* Feeds audio chunks; returns 0 or an exit code. */
static int run_audio(run_ctx *c, cli_sess *s, cli_audio_in *in, double chunk_ms, int realtime, int progress)
{
    uint32_t rate = cli_audio_in_rate(in);
    size_t chunk = (size_t)llround(rate * chunk_ms / 1000.0);
    if (chunk < 1) chunk = 1;
    int64_t total = cli_audio_in_frames(in);
    double *lat = NULL;
    size_t n_lat = 0, cap_lat = 0, late = 0;
    double start = now_s(), last_progress = 0;
    uint64_t done = 0;
    int exit_code = EXIT_OK;
    rm_frame *f;
    int r;
    while ((r = cli_audio_in_read(in, chunk, &f)) == 1) {
        double dur = (double)f->u.audio.frames / rate;
        if (realtime) {
            double due = start + (double)done / rate;
            double wait = due - now_s();
            if (wait > 0) {
                struct timespec ts = {(time_t)wait, (long)((wait - (double)(time_t)wait) * 1e9)};
                nanosleep(&ts, NULL);
            }
        }
        double t0 = now_s();
        int rc = be_push(s, f);
        double dt = now_s() - t0;
        done += f->u.audio.frames;
        rm_frame_unref(f);
        if (rc != 0) {
            exit_code = report_failure(s, rc);
            break;
        }
        if (c->write_error || c->audio_error) break;
        if (realtime) {
            if (n_lat == cap_lat) {
                cap_lat = cap_lat ? cap_lat * 2 : 1024;
                double *p = realloc(lat, cap_lat * sizeof *p);
                if (!p) break;
                lat = p;
            }
            lat[n_lat++] = dt * 1e6;
            if (dt > dur) late++;
        }
        if (progress && total > 0 && t0 - last_progress > 0.1) {
            show_progress(c, done, total, rate);
            last_progress = t0;
        }
    }
    if (r < 0 && exit_code == EXIT_OK) exit_code = EXIT_IO;
    if (progress && total > 0) clear_progress(c);
    if (realtime && n_lat) {
        qsort(lat, n_lat, sizeof *lat, cmp_double);
        fprintf(stderr,
                "rmedia: realtime: %zu chunks of %.0f ms; push latency per chunk p50 %.1f µs, p99 %.1f µs, "
                "max %.1f µs; %zu chunk%s took longer than real time\n",
                n_lat, chunk_ms, lat[n_lat / 2], lat[(size_t)((double)(n_lat - 1) * 0.99)], lat[n_lat - 1], late,
                late == 1 ? "" : "s");
    }
    free(lat);
    return exit_code;
}
#endif

/* Parses "16M", "65536", "2k" (bytes); 0 on a bad value. */
static size_t parse_size(const char *s)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || *s == '-') return 0;
    unsigned long long mul = 1;
    if (*end == 'k' || *end == 'K') mul = 1ull << 10, end++;
    else if (*end == 'M') mul = 1ull << 20, end++;
    else if (*end == 'G') mul = 1ull << 30, end++;
    if (*end || v == 0 || v > (1ull << 40) / mul) return 0;
    return (size_t)(v * mul);
}

/* The ids of the manifest's nodes (borrowed from its JSON); NULL if none. */
static const char **manifest_ids(const rm_manifest *mf, size_t *n)
{
    const json_t *nodes = json_object_get(rm_manifest_json(mf), "nodes");
    *n = json_array_size(nodes);
    const char **ids = *n ? calloc(*n, sizeof *ids) : NULL;
    for (size_t i = 0; ids && i < *n; i++) ids[i] = json_string_value(json_object_get(json_array_get(nodes, i), "id"));
    return ids;
}

/* Whether manifest key `key` names `spelling` (a parameter's name or alias)
 * as written or in camelCase (source_rate → sourceRate). */
static int spells(const char *key, const char *spelling)
{
    if (!strcmp(key, spelling)) return 1;
    for (; *spelling; spelling++, key++) {
        if (*spelling == '_' && spelling[1]) {
            spelling++;
            if (*key != (spelling[0] >= 'a' && spelling[0] <= 'z' ? spelling[0] - 'a' + 'A' : spelling[0])) return 0;
        } else if (*key != *spelling) {
            return 0;
        }
    }
    return *key == '\0';
}

static const rm_param_def *param_named(const rm_node_type *t, const char *key)
{
    for (const rm_param_def *p = t && t->params ? t->params : NULL; p && p->name; p++) {
        if (spells(key, p->name)) return p;
        for (const char *const *a = p->aliases; a && *a; a++)
            if (spells(key, *a)) return p;
    }
    return NULL;
}

/* The key under which node `index` of the manifest already sets the same
 * parameter as `key` (another spelling: "multiplier" for "factor"), so that
 * --set replaces it instead of setting it twice; else `key`. */
static const char *existing_spelling(rm_runtime *rt, const rm_manifest *mf, size_t index, const char *key)
{
    const json_t *node = json_array_get(json_object_get(rm_manifest_json(mf), "nodes"), index);
    const rm_node_type *t = rm_runtime_find_node_type(rt, json_string_value(json_object_get(node, "node_type")));
    const rm_param_def *want = param_named(t, key);
    const char *k;
    const json_t *v;
    if (want)
        json_object_foreach((json_t *)json_object_get(node, "params"), k, v) if (param_named(t, k) == want) return k;
    return key;
}

/* Applies --set NODE.PARAM=VALUE; returns 0 or an exit code (message
 * printed).  Each override's key path is registered so that a problem with
 * its value is reported against the command line. */
static int apply_sets(rm_runtime *rt, rm_manifest *mf, char **sets, int n_sets, char paths[][200])
{
    size_t n_ids;
    const char **ids = manifest_ids(mf, &n_ids);
    int code = EXIT_OK;
    for (int i = 0; i < n_sets && code == EXIT_OK; i++) {
        char *eq = strchr(sets[i], '='), *dot = strchr(sets[i], '.');
        if (!eq || !dot || dot > eq) {
            cli_error("--set '%s': expected NODE.PARAM=VALUE", sets[i]);
            code = EXIT_USAGE;
            break;
        }
        *eq = *dot = '\0';
        rm_error e;
        rm_error_clear(&e);
        const char *key = dot + 1;
        for (size_t k = 0; k < n_ids; k++)
            if (ids[k] && !strcmp(ids[k], sets[i])) key = existing_spelling(rt, mf, k, dot + 1);
        char keybuf[128];
        snprintf(keybuf, sizeof keybuf, "%s", key); /* set_param may replace the old key */
        int rc = rm_manifest_set_param(mf, sets[i], keybuf, eq + 1, &e);
        if (rc == RM_ENOTFOUND) {
            const char *best = cli_suggest(sets[i], ids, n_ids);
            if (best) cli_error("--set %s.%s=%s: no node '%s' in the manifest; did you mean '%s'?", sets[i], dot + 1,
                                eq + 1, sets[i], best);
            else cli_error("--set %s.%s=%s: %s", sets[i], dot + 1, eq + 1, e.message);
            code = EXIT_USAGE;
        } else if (rc != 0) {
            cli_error("--set %s.%s=%s: %s", sets[i], dot + 1, eq + 1, e.message);
            code = EXIT_USAGE;
        }
        for (size_t k = 0; rc == 0 && k < n_ids; k++)
            if (ids[k] && !strcmp(ids[k], sets[i])) snprintf(paths[i], 200, "nodes[%zu].params.%s", k, keybuf);
        *eq = '=';
        *dot = '.';
        if (rc == 0 && paths[i][0]) cli_diag_override(paths[i], sets[i]);
    }
    free(ids);
    return code;
}

/* Checks each --only NODE[.PORT] against the graph's sinks and their output
 * ports; returns 0 or an exit code (message printed). */
static int check_only(const run_ctx *c, rm_graph *graph)
{
    size_t n_sinks = rm_graph_sink_count(graph);
    const char *sinks[256], *ports[256];
    size_t n_ports = 0;
    for (size_t k = 0; k < n_sinks && k < 256; k++) sinks[k] = rm_graph_node_id(graph, rm_graph_sink(graph, k));
    for (int i = 0; i < c->n_only; i++) {
        char node[128];
        const char *o = c->only[i], *dot = strchr(o, '.');
        snprintf(node, sizeof node, "%.*s", dot ? (int)(dot - o) : (int)strlen(o), o);
        int idx = rm_graph_node_index(graph, node), is_sink = 0;
        for (size_t k = 0; k < n_sinks; k++) is_sink |= !strcmp(rm_graph_node_id(graph, rm_graph_sink(graph, k)), node);
        if (!is_sink) {
            const char *best = cli_suggest(node, sinks, n_sinks < 256 ? n_sinks : 256);
            char list[512] = "";
            for (size_t k = 0; k < n_sinks && k < 256; k++)
                snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", k ? ", " : "", sinks[k]);
            if (idx >= 0) cli_error("--only %s: node '%s' is not a sink, its outputs go to other nodes (sinks: %s)", o, node, list);
            else if (best) cli_error("--only %s: no sink '%s'; did you mean '%s'? (sinks: %s)", o, node, best, list);
            else cli_error("--only %s: no sink '%s' (sinks: %s)", o, node, list);
            return EXIT_USAGE;
        }
        if (!dot) continue;
        const rm_node_type *t = rm_graph_node_type(graph, (size_t)idx);
        n_ports = 0;
        for (unsigned p = 0; p < rm_node_type_n_outputs(t) && n_ports < 256; p++)
            ports[n_ports++] = rm_node_type_output(t, p)->name;
        int found = 0;
        for (size_t p = 0; p < n_ports; p++) found |= !strcmp(ports[p], dot + 1);
        if (!found) {
            const char *best = cli_suggest(dot + 1, ports, n_ports);
            char list[512] = "";
            for (size_t p = 0; p < n_ports; p++)
                snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", p ? ", " : "", ports[p]);
            if (best) cli_error("--only %s: %s has no output port '%s'; did you mean '%s'? (ports: %s)", o, node,
                                dot + 1, best, list);
            else cli_error("--only %s: %s has no output port '%s' (ports: %s)", o, node, dot + 1, list);
            return EXIT_USAGE;
        }
    }
    return EXIT_OK;
}

/* Whether the transcript format reads text frames: a selected sink port
 * carries text (speech to text's `out`); else JSON results. */
static int transcript_from_text(const run_ctx *c, rm_graph *graph)
{
    for (size_t k = 0; k < rm_graph_sink_count(graph); k++) {
        size_t i = rm_graph_sink(graph, k);
        const rm_node_type *t = rm_graph_node_type(graph, i);
        for (unsigned p = 0; p < rm_node_type_n_outputs(t); p++) {
            const rm_caps *caps = rm_graph_output_caps(graph, i, p);
            if (caps && (caps->kinds & RM_KIND_BIT(RM_FRAME_TEXT)) &&
                selected(c, rm_graph_node_id(graph, i), rm_node_type_output(t, p)->name))
                return 1;
        }
    }
    return 0;
}

/* Whether any source node takes audio on its first input. */
static int sources_take_audio(rm_graph *graph, char *list, size_t cap)
{
    int any = 0;
    list[0] = '\0';
    for (size_t k = 0; k < rm_graph_source_count(graph); k++) {
        size_t i = rm_graph_source(graph, k);
        const rm_node_type *t = rm_graph_node_type(graph, i);
        const rm_port_def *in = rm_node_type_n_inputs(t) ? rm_node_type_input(t, 0) : NULL;
        uint32_t kinds = in ? in->kinds : 0;
        /* The math and text nodes take any kind only to pass what they do
         * not handle through untouched. */
        int passes = t->family && (!strcmp(t->family, "math") || !strcmp(t->family, "text"));
        if ((!kinds && !passes) || (kinds & RM_KIND_BIT(RM_FRAME_AUDIO))) any = 1;
        size_t n = strlen(list);
        snprintf(list + n, cap - n, "%s%s (%s)", n ? ", " : "", rm_graph_node_id(graph, i), t->name);
    }
    return any;
}

int cmd_run(const cli_globals *g, int argc, char **argv)
{
    return cli_run_with(g, argc, argv, NULL);
}

int cli_run_with(const cli_globals *g, int argc, char **argv, const cli_backend *be)
{
    backend = be;
    enum { OPT_METRICS = 256, OPT_TABLE, OPT_IN_FMT, OPT_OUT_FMT, OPT_SUBTYPE, OPT_OUT_NODE, OPT_CHUNK,
           OPT_REALTIME, OPT_NO_PROGRESS, OPT_SET, OPT_ONLY, OPT_STRICT, OPT_MAX_INPUT, OPT_ALLOW_PYTHON };
    static const struct option opts[] = {
        {"input", required_argument, NULL, 'i'},
        {"output", required_argument, NULL, 'o'},
        {"format", required_argument, NULL, 'f'},
        {"metrics", optional_argument, NULL, OPT_METRICS},
        {"table", no_argument, NULL, OPT_TABLE},
        {"input-format", required_argument, NULL, OPT_IN_FMT},
        {"output-format", required_argument, NULL, OPT_OUT_FMT},
        {"output-subtype", required_argument, NULL, OPT_SUBTYPE},
        {"output-node", required_argument, NULL, OPT_OUT_NODE},
        {"chunk-ms", required_argument, NULL, OPT_CHUNK},
        {"realtime", no_argument, NULL, OPT_REALTIME},
        {"no-progress", no_argument, NULL, OPT_NO_PROGRESS},
        {"set", required_argument, NULL, OPT_SET},
        {"only", required_argument, NULL, OPT_ONLY},
        {"strict", no_argument, NULL, OPT_STRICT},
        {"max-input-bytes", required_argument, NULL, OPT_MAX_INPUT},
        {"allow-python", no_argument, NULL, OPT_ALLOW_PYTHON},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *input = NULL, *output = NULL, *metrics_file = NULL, *in_fmt = NULL, *out_fmt = NULL;
    const char *subtype = NULL, *out_node = NULL;
    double chunk_ms = 20;
    size_t max_input = DEFAULT_MAX_INPUT;
    int want_metrics = 0, want_table = 0, realtime = 0, no_progress = 0, n_sets = 0, strict = 0;
    int allow_python = 0; /* a package's Python node types may run */
#ifdef RM_CLI_PACKAGE
    cli_package *pkg = NULL;
#endif
    char *sets[64];
    static char set_paths[64][200];
    memset(set_paths, 0, sizeof set_paths);
    run_ctx ctx;
    memset(&ctx, 0, sizeof ctx);
    ctx.single = 1;

    /* "--metrics FILE": FILE is taken when another operand (the manifest)
     * remains, so "run --metrics x.yaml" still runs x.yaml. */
    int operands = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (a[0] != '-' || !a[1]) operands++;
        else if (!strcmp(a, "--")) {
            operands += argc - i - 1;
            break;
        } else if (a[1] != '-' ? strchr("iof", a[1]) && !a[2]
                               : !strchr(a, '=') && strcmp(a, "--metrics") && strcmp(a, "--table") &&
                                     strcmp(a, "--realtime") && strcmp(a, "--no-progress") && strcmp(a, "--help") &&
                                     strcmp(a, "--allow-python"))
            i++; /* skip the option's value */
    }
    char *metrics_arg = NULL;
    for (int i = 1; i + 1 < argc && operands >= 2; i++) {
        if (!strcmp(argv[i], "--")) break;
        if (!strcmp(argv[i], "--metrics") && argv[i + 1][0] != '-') {
            size_t n = strlen(argv[i + 1]) + 11;
            metrics_arg = malloc(n);
            if (!metrics_arg) return cli_error("out of memory"), EXIT_RUNTIME;
            snprintf(metrics_arg, n, "--metrics=%s", argv[i + 1]);
            argv[i] = metrics_arg;
            for (int k = i + 1; k + 1 <= argc; k++) argv[k] = argv[k + 1];
            argc--;
            break;
        }
    }

    int c, exit_code = EXIT_OK;
    while ((c = getopt_long(argc, argv, "i:o:f:h", opts, NULL)) != -1) {
        switch (c) {
        case 'i': input = optarg; break;
        case 'o': output = optarg; break;
        case 'f':
            if (!strcmp(optarg, "auto")) ctx.format = FMT_AUTO;
            else if (!strcmp(optarg, "jsonl")) ctx.format = FMT_JSONL;
            else if (!strcmp(optarg, "values")) ctx.format = FMT_VALUES;
            else if (!strcmp(optarg, "transcript")) ctx.format = FMT_TRANSCRIPT;
            else {
                cli_error("unknown --format '%s' (auto, jsonl, values, transcript)", optarg);
                exit_code = EXIT_USAGE;
            }
            break;
        case OPT_METRICS:
            want_metrics = 1;
            metrics_file = optarg;
            break;
        case OPT_TABLE: want_table = 1; break;
        case OPT_IN_FMT: in_fmt = optarg; break;
        case OPT_OUT_FMT: out_fmt = optarg; break;
        case OPT_SUBTYPE: subtype = optarg; break;
        case OPT_OUT_NODE: out_node = optarg; break;
        case OPT_CHUNK: {
            char *end;
            chunk_ms = strtod(optarg, &end);
            if (*end || !(chunk_ms >= 1 && chunk_ms <= 10000)) {
                cli_error("--chunk-ms must be a number of milliseconds in 1–10000, got '%s'", optarg);
                exit_code = EXIT_USAGE;
            }
            break;
        }
        case OPT_MAX_INPUT:
            max_input = parse_size(optarg);
            if (!max_input) {
                cli_error("--max-input-bytes must be a size in bytes from 1 to 1T (e.g. 65536, 64k, 16M), got '%s'",
                          optarg);
                exit_code = EXIT_USAGE;
            }
            break;
        case OPT_REALTIME: realtime = 1; break;
        case OPT_ALLOW_PYTHON: allow_python = 1; break;
        case OPT_NO_PROGRESS: no_progress = 1; break;
        case OPT_SET:
            if (n_sets == 64) cli_error("too many --set options"), exit_code = EXIT_USAGE;
            else sets[n_sets++] = optarg;
            break;
        case OPT_ONLY:
            if (ctx.n_only == 16) cli_error("too many --only options"), exit_code = EXIT_USAGE;
            else ctx.only[ctx.n_only++] = optarg;
            break;
        case OPT_STRICT: strict = 1; break;
        case 'h':
            fputs(run_help, stdout);
            free(metrics_arg);
            return EXIT_OK;
        default: fputs("Try 'rmedia run --help'.\n", stderr); exit_code = EXIT_USAGE;
        }
        if (exit_code != EXIT_OK) break;
    }
    if (exit_code == EXIT_OK && optind >= argc) {
        cli_error("run needs a manifest (see 'rmedia run --help')");
        exit_code = EXIT_USAGE;
    } else if (exit_code == EXIT_OK && optind + 1 < argc) {
        cli_error("unexpected argument '%s' (inputs go in --input or stdin)", argv[optind + 1]);
        exit_code = EXIT_USAGE;
    }
    if (exit_code != EXIT_OK) {
        free(metrics_arg);
        return exit_code;
    }
    const char *manifest = argv[optind];

    /* What kind of input and output? */
    int audio_in = 0, audio_out = 0;
#ifdef RM_CLI_AUDIO
    cli_pcm_spec in_spec, out_spec;
    char why[200];
    const cli_pcm_spec *in_raw = NULL, *out_raw = NULL;
    if (in_fmt && strcmp(in_fmt, "json") != 0 && strcmp(in_fmt, "audio") != 0) {
        if (cli_pcm_spec_parse(in_fmt, 1, &in_spec, why, sizeof why) != 0) {
            cli_error("--input-format: %s", why);
            exit_code = EXIT_USAGE;
        }
        in_raw = &in_spec;
    }
    if (exit_code == EXIT_OK && subtype && strcmp(subtype, "s16") && strcmp(subtype, "s24") &&
        strcmp(subtype, "s32") && strcmp(subtype, "f32") && strcmp(subtype, "vorbis")) {
        cli_error("unknown --output-subtype '%s' (s16, s24, s32, f32, vorbis)", subtype);
        exit_code = EXIT_USAGE;
    }
    if (exit_code == EXIT_OK && out_fmt) {
        if (cli_pcm_spec_parse(out_fmt, 0, &out_spec, why, sizeof why) != 0) {
            cli_error("--output-format: %s", why);
            exit_code = EXIT_USAGE;
        }
        out_raw = &out_spec;
    }
    char writable[200];
    if (exit_code == EXIT_OK && !out_raw && cli_unwritable_audio_extension(output, writable, sizeof writable)) {
        cli_error("cannot write audio as '%s': this build writes %s (or raw PCM with --output-format)", output,
                  writable);
        exit_code = EXIT_USAGE;
    }
    if (exit_code != EXIT_OK) {
        free(metrics_arg);
        return exit_code;
    }
    audio_in = in_raw || (in_fmt && !strcmp(in_fmt, "audio")) || (!in_fmt && cli_is_audio_path(input));
    audio_out = out_raw || (output && cli_is_audio_extension(output));
    if (audio_in && !input) input = "-";
#else
    if (in_fmt || out_fmt || subtype || out_node || realtime) {
        cli_error("this build of rmedia has no audio support");
        free(metrics_arg);
        return EXIT_ENV;
    }
    (void)chunk_ms;
    (void)no_progress;
#endif
    (void)audio_out;

    FILE *in = NULL;
    const char *src = "stdin";
    reader rd = {0};
    json_start js = {0};
    if (input && strcmp(input, "-") != 0 && !audio_in) {
        in = fopen(input, "rb");
        src = input;
        if (!in) {
            cli_error("cannot read input '%s': %s", input, strerror(errno));
            cli_path_note(input);
            free(metrics_arg);
            return EXIT_IO;
        }
    } else if (!audio_in && (input || !isatty(STDIN_FILENO))) {
        in = stdin;
    }
    rd.f = in;
    rd.max = max_input;
#ifdef RM_CLI_AUDIO
    cli_audio_in *ain = NULL;
    /* An audio file on stdin (or a pipe) is recognised by its first bytes. */
    FILE *apipe = NULL;
    if (audio_in && !in_raw) {
        struct stat st;
        if (!strcmp(input, "-")) apipe = stdin;
        else if (stat(input, &st) == 0 && !S_ISREG(st.st_mode)) apipe = fopen(input, "rb");
        if (!apipe && strcmp(input, "-") && stat(input, &st) == 0 && !S_ISREG(st.st_mode)) {
            cli_error("cannot read input '%s': %s", input, strerror(errno));
            free(metrics_arg);
            return EXIT_IO;
        }
    } else if (in && !in_fmt) {
        rd.max = max_input;
        /* read only as far as the bytes could still be a magic number, so
         * a short first JSON line is not held up */
        static const char *const magics[] = {"RIFF", "RF64", "FORM", "fLaC", "OggS"};
        int could = 1;
        while (could && rd.len < 4 && !rd.eof) {
            if (reader_fill(&rd, rd.len + 1) != 0) break;
            could = 0;
            for (size_t k = 0; k < sizeof magics / sizeof magics[0]; k++)
                could |= !memcmp(rd.buf, magics[k], rd.len < 4 ? rd.len : 4);
        }
        if (rd.len >= 4 && cli_is_audio_magic(rd.buf, 4)) {
            apipe = in;
            in = NULL;
            audio_in = 1;
            if (!input) input = "-";
        }
    }
    if (apipe) {
        ain = cli_audio_in_open_pipe(strcmp(input, "-") ? input : "stdin", apipe, rd.buf ? rd.buf + rd.pos : "",
                                     rd.len - rd.pos);
        if (!ain) {
            free(rd.buf);
            free(metrics_arg);
            return EXIT_IO;
        }
    } else if (audio_in) {
        ain = cli_audio_in_open(input, in_raw);
        if (!ain) {
            free(metrics_arg);
            return EXIT_IO;
        }
    }
#endif

    rm_runtime *rt = cli_runtime(g, &exit_code);
    rm_diags *d = rm_diags_new();
    rm_graph *graph = NULL;
    cli_sess *s = NULL;
    char *manifest_text = NULL; /* for a backend */
    cli_out out = {0};
    int out_open = 0;
    if (!rt) goto done;
    rm_compile_opts copts = {0};
#ifdef RM_CLI_AUDIO
    rm_caps in_caps = {0};
    if (ain) { /* the compiler can then insert converters where formats differ */
        in_caps.kinds = RM_KIND_BIT(RM_FRAME_AUDIO);
        in_caps.format = in_raw ? in_raw->format : RM_SAMPLE_F32;
        in_caps.rate = cli_audio_in_rate(ain);
        in_caps.channels = cli_audio_in_channels(ain);
        copts.input_caps = &in_caps;
    }
#endif
    rm_manifest *mf = NULL;
    int rc;
#ifdef RM_CLI_PACKAGE
    size_t ml = strlen(manifest);
    if (ml > 6 && !strcmp(manifest + ml - 6, ".rmpkg")) { /* run a package's manifest natively */
        mf = cli_package_manifest(rt, manifest, allow_python, backend != NULL, d, &pkg, &exit_code);
        if (!mf) goto done;
        rc = 0;
    } else
#endif
    {
        (void)allow_python; /* only packages need it */
        rc = rm_manifest_load_file(manifest, &mf, d);
    }
    if (rc == 0) {
        exit_code = apply_sets(rt, mf, sets, n_sets, set_paths);
        if (exit_code != EXIT_OK) {
            rm_manifest_free(mf);
            goto done;
        }
    }
    if (rc == 0) rc = rm_graph_compile(rt, mf, &copts, &graph, d);
    if (rc == 0 && backend && !(manifest_text = json_dumps(rm_manifest_json(mf), JSON_COMPACT))) rc = RM_ENOMEM;
    rm_manifest_free(mf);
    if (rc != 0) {
        cli_print_diags(d);
        exit_code = rc == RM_EIO ? EXIT_IO : cli_exit_for(rc);
        goto done;
    }
    cli_print_diags(d); /* warnings */
    if (strict && rm_diags_count_severity(d, RM_DIAG_WARNING)) {
        cli_error("--strict: the manifest has warnings");
        exit_code = EXIT_INVALID;
        goto done;
    }
    ctx.single = rm_graph_sink_count(graph) == 1;
    ctx.streaming = audio_in;
    if ((exit_code = check_only(&ctx, graph)) != EXIT_OK) goto done;
    if (ctx.format == FMT_TRANSCRIPT) ctx.transcript_text = transcript_from_text(&ctx, graph);
    if (audio_in) {
        char list[512];
        if (!sources_take_audio(graph, list, sizeof list)) {
            cli_error("the input is audio but no source node of %s takes audio (sources: %s)", manifest, list);
            exit_code = EXIT_IO;
            goto done;
        }
    }
#ifdef RM_CLI_AUDIO
    if (out_node) {
        int idx = rm_graph_node_index(graph, out_node);
        if (idx < 0) {
            cli_error("--output-node: no node '%s' in %s", out_node, manifest);
            exit_code = EXIT_USAGE;
            goto done;
        }
        ctx.audio_node = out_node;
    }
#endif

    /* JSON input: one array (batch) or lines (streamed)? */
    if (in && (exit_code = read_json_start(&rd, src, &js)) != EXIT_OK) goto done;
    ctx.batch = js.batch != NULL;

    /* Outputs: an audio file/stream, and JSON to stdout or a file. */
#ifdef RM_CLI_AUDIO
    if (audio_out) {
        ctx.audio = cli_audio_out_open(output, out_raw, subtype);
        if (!ctx.audio) {
            exit_code = EXIT_IO;
            goto done;
        }
        cli_audio_out_hint(ctx.audio, cli_audio_in_subtype(ain));
        /* raw audio on stdout: JSON lines go to stderr so they cannot mix */
        ctx.out = out_raw && (!output || !strcmp(output, "-")) ? stderr : stdout;
    } else
#endif
    {
        if (cli_out_open(&out, output) != 0) {
            cli_path_note(output);
            exit_code = EXIT_IO;
            goto done;
        }
        out_open = 1;
        ctx.out = out.f;
    }
    /* Outputs are printed as they come; only an object of arrays keyed by
     * sink (an array input, several sinks, --format auto) is held to the end. */
    rm_session_opts so = {0};
    int collect = ctx.batch && ctx.format == FMT_AUTO && !ctx.single;
    ctx.stream_array = ctx.batch && ctx.format == FMT_AUTO && ctx.single;
    if (!collect) {
        so.on_output = on_output;
        so.output_user = &ctx;
    }
    rm_error err;
    if (backend) rc = backend->open(backend->user, graph, manifest_text, so.on_output, so.output_user, (void **)&s, &err);
    else rc = rm_session_open(graph, &so, (rm_session **)&s, &err);
    if (rc != 0) {
        cli_error("%s", err.message);
        exit_code = cli_exit_for(rc);
        goto done;
    }
#ifdef RM_CLI_AUDIO
    if (ain) {
        int progress = !no_progress && isatty(STDOUT_FILENO) && isatty(STDERR_FILENO);
        exit_code = run_audio(&ctx, s, ain, chunk_ms, realtime, progress);
    } else
#endif
        exit_code = run_json(s, in ? &rd : NULL, src, &js);

    rc = backend ? backend->end(s) : rm_session_end((rm_session *)s);
    if (rc != 0 && exit_code == EXIT_OK) exit_code = report_failure(s, rc);
    if (exit_code == EXIT_OK && ctx.batch && ctx.format == FMT_AUTO && print_batch(&ctx, s, graph) != 0)
        exit_code = EXIT_IO;
    if (ctx.write_error && exit_code == EXIT_OK) {
        cli_error("cannot write output: %s", strerror(errno));
        exit_code = EXIT_IO;
    }
#ifdef RM_CLI_AUDIO
    if (ctx.audio_error && exit_code == EXIT_OK) exit_code = EXIT_IO;
#endif
    if (ctx.dropped_audio_s > 0 && g->log_level >= RM_LOG_INFO)
        fprintf(stderr, "rmedia: info: %.2f s of audio from the sinks was not written (use --output FILE.wav)\n",
                ctx.dropped_audio_s);
    if (want_metrics || want_table) {
        char *m = backend ? backend->metrics(s) : rm_session_metrics_json((rm_session *)s);
        if (m && want_metrics) {
            FILE *mfile = metrics_file ? fopen(metrics_file, "w") : stderr;
            if (!mfile) {
                cli_error("cannot write metrics '%s': %s", metrics_file, strerror(errno));
                if (exit_code == EXIT_OK) exit_code = EXIT_IO;
            } else {
                fprintf(mfile, "%s\n", m);
                if (mfile != stderr) fclose(mfile);
            }
        }
        if (m && want_table) print_table(m);
        free(m);
    }
done:
#ifdef RM_CLI_AUDIO
    if (ctx.audio && cli_audio_out_close(ctx.audio, exit_code == EXIT_OK) != 0 && exit_code == EXIT_OK)
        exit_code = EXIT_IO;
    cli_audio_in_close(ain);
#endif
    if (out_open && cli_out_close(&out, exit_code == EXIT_OK) != 0 && exit_code == EXIT_OK) exit_code = EXIT_IO;
    if (backend && s) backend->close(s);
    else rm_session_close((rm_session *)s);
    free(manifest_text);
    json_start_free(&js);
    free(rd.buf);
    rm_graph_unref(graph);
    rm_diags_free(d);
    rm_runtime_free(rt);
#ifdef RM_CLI_PACKAGE
    cli_package_close(pkg); /* after the runtime: it holds the package's node types */
#endif
    if (in && in != stdin) fclose(in);
    free(metrics_arg);
    return exit_code;
}
