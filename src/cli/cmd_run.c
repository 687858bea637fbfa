/* rmedia run: feed inputs (JSON values or audio) through a pipeline and
 * print or write its outputs. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
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
#ifdef RM_CLI_AUDIO
    "\n"
    "Audio inputs: an audio file (WAV, FLAC, OGG, AIFF, … any rate and channel\n"
    "count, recognised by extension or content) or raw PCM with\n"
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
#ifdef RM_CLI_AUDIO
    "      --input-format F json, audio, or raw PCM FORMAT:RATE:CHANNELS with\n"
    "                       FORMAT s16le, s32le or f32le (e.g. s16le:16000:1)\n"
    "      --output-format F write audio as raw PCM: FORMAT (s16le, s32le, f32le)\n"
    "                       or FORMAT:RATE:CHANNELS to also check what the\n"
    "                       pipeline produces\n"
    "      --output-subtype T sample type of an audio file: s16 (default), s24,\n"
    "                       s32, f32, vorbis (default for .ogg)\n"
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
    "      --metrics[=FILE] write the run's metrics as JSON to stderr (or FILE)\n"
    "      --table          print a per-node latency table to stderr\n"
    "  -h, --help           show this help\n"
    "\n"
    "Examples:\n"
    "  echo '[5, 7, 3]' | rmedia run examples/calculator.json   # prints [20,24,16]\n"
#ifdef RM_CLI_AUDIO
    "  rmedia run examples/preprocess.yaml -i in.wav -o out.wav\n"
    "  arecord -f S16_LE -r 16000 | rmedia run vad.yaml --input-format s16le:16000:1\n"
#endif
    ;

typedef enum { FMT_AUTO, FMT_JSONL, FMT_VALUES } out_format;

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

/* Frame metadata values are strings; one that is a plain decimal number
 * (SpeechToText's start_ms, end_ms, confidence) prints as a JSON number, so
 * meta.start_ms has the type of results.start_ms. */
static json_t *meta_json_value(const char *v)
{
    const char *d = v + (*v == '-');
    if (*d >= '0' && *d <= '9' && strspn(d, "0123456789.") == strlen(d) && strchr(d, '.') == strrchr(d, '.')) {
        char *end;
        if (!strchr(d, '.') && strlen(d) < 16) return json_integer((json_int_t)strtoll(v, NULL, 10));
        double x = strtod(v, &end);
        if (*end == '\0' && isfinite(x)) return json_real(x);
    }
    return json_string(v);
}

static void print_value(run_ctx *c, const char *node, const char *port, const rm_frame *f)
{
    if (!selected(c, node, port)) return;
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
                json_object_set_new(meta, k, meta_json_value(val));
            }
            json_object_set_new(line, "meta", meta);
        }
    }
    char *s = line ? json_dumps(line, JSON_COMPACT | JSON_ENCODE_ANY | JSON_REAL_PRECISION(15)) : NULL;
    json_decref(line);
#ifndef RM_SINGLE_THREAD
    flockfile(c->out); /* sinks on worker threads may print concurrently */
#endif
    if (c->out == stdout) clear_progress(c);
    if (!s || fputs(s, c->out) < 0 || fputc('\n', c->out) < 0 || fflush(c->out) != 0) c->write_error = 1;
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
static int print_batch(run_ctx *c, rm_session *s, rm_graph *g)
{
    const rm_outputs *o = rm_session_outputs(s);
    if (c->format != FMT_AUTO) {
        for (size_t i = 0; i < rm_outputs_count(o); i++) {
            const rm_output *x = rm_outputs_at(o, i);
            print_value(c, x->node_id, x->port, x->frame);
        }
        return c->write_error ? -1 : 0;
    }
    json_t *root = c->single ? json_array() : json_object();
    for (size_t k = 0; k < rm_graph_sink_count(g); k++) {
        const char *id = rm_graph_node_id(g, rm_graph_sink(g, k));
        int wanted = !c->n_only;
        for (int i = 0; i < c->n_only && !wanted; i++) {
            size_t nl = strlen(id);
            wanted = !strncmp(c->only[i], id, nl) && (c->only[i][nl] == '\0' || c->only[i][nl] == '.');
        }
        if (!wanted) continue;
        json_t *arr = c->single ? root : json_array();
        for (size_t i = 0; i < rm_outputs_count(o); i++) {
            const rm_output *x = rm_outputs_at(o, i);
            if (!strcmp(x->node_id, id) && selected(c, x->node_id, x->port))
                json_array_append_new(arr, cli_frame_to_json(x->frame));
        }
        if (!c->single) json_object_set_new(root, id, arr);
    }
    char *text = json_dumps(root, JSON_COMPACT | JSON_ENCODE_ANY | JSON_REAL_PRECISION(15));
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
    json_object_foreach(nodes, id, nm) total += json_number_value(json_object_get(nm, "total_us"));
    fprintf(stderr, "\n%-20s %-20s %8s %10s %10s %10s %7s\n", "node", "type", "calls", "p50 µs", "p99 µs",
            "total ms", "share");
    json_object_foreach(nodes, id, nm)
    {
        double t = json_number_value(json_object_get(nm, "total_us"));
        fprintf(stderr, "%-20s %-20s %8lld %10.1f %10.1f %10.3f %6.1f%%\n", id,
                json_string_value(json_object_get(nm, "node_type")),
                (long long)json_integer_value(json_object_get(nm, "calls")),
                json_number_value(json_object_get(nm, "p50_us")), json_number_value(json_object_get(nm, "p99_us")),
                t / 1000.0, total > 0 ? 100.0 * t / total : 0.0);
    }
    fprintf(stderr, "wall time %.3f ms\n", json_number_value(json_object_get(m, "total_duration_us")) / 1000.0);
    json_decref(m);
}

static int report_failure(rm_session *s, int rc)
{
    const rm_error *e = rm_session_error(s);
    if (e->code && e->node_id[0]) cli_error("node '%s': %s (%s)", e->node_id, e->message, rm_err_name(e->code));
    else if (e->code) cli_error("%s (%s)", e->message, rm_err_name(e->code));
    else cli_error("%s (%s)", rm_strerror(rc), rm_err_name(rc));
    return cli_exit_for(e->code ? e->code : rc);
}

/* Pushes one JSON input line; returns 0, or an exit code. */
static int push_line(rm_session *s, const char *src, size_t lineno, const char *line, size_t len)
{
    size_t a = 0;
    while (a < len && (line[a] == ' ' || line[a] == '\t' || line[a] == '\r' || line[a] == '\n')) a++;
    if (a == len) return 0;
    json_error_t jerr;
    json_t *v = json_loadb(line + a, len - a, JSON_DECODE_ANY, &jerr);
    if (!v) {
        cli_error("%s:%zu: invalid JSON input: %s", src, lineno, jerr.text);
        return EXIT_IO;
    }
    rm_frame *f = cli_json_to_frame(v);
    if (!f) {
        cli_error("%s:%zu: input is not valid UTF-8 text or memory ran out", src, lineno);
        return EXIT_IO;
    }
    f->sequence = lineno;
    int rc = rm_session_push(s, f);
    rm_frame_unref(f);
    return rc == 0 ? 0 : report_failure(s, rc);
}

/* Pushes JSON inputs: one array (batch) or lines. */
static int run_json(run_ctx *c, rm_session *s, FILE *in, const char *src, json_t *batch, char *all)
{
    int exit_code = EXIT_OK;
    if (batch) {
        size_t i;
        json_t *v;
        json_array_foreach(batch, i, v)
        {
            rm_frame *f = cli_json_to_frame(json_incref(v));
            if (!f) {
                cli_error("%s: input [%zu] is not valid UTF-8 text", src, i);
                return EXIT_IO;
            }
            f->sequence = i;
            int rc = rm_session_push(s, f);
            rm_frame_unref(f);
            if (rc != 0) return report_failure(s, rc);
        }
    } else if (all) { /* started with '[' but is not one array: JSON lines */
        size_t lineno = 1;
        for (char *p = all; *p && exit_code == EXIT_OK; lineno++) {
            char *nl = strchr(p, '\n');
            size_t len = nl ? (size_t)(nl - p) : strlen(p);
            exit_code = push_line(s, src, lineno, p, len);
            p += len + (nl ? 1 : 0);
        }
    } else if (in) {
        char *line = NULL;
        size_t cap = 0;
        ssize_t n;
        size_t lineno = 0;
        while (exit_code == EXIT_OK && (n = getline(&line, &cap, in)) >= 0)
            exit_code = push_line(s, src, ++lineno, line, (size_t)n);
        if (exit_code == EXIT_OK && ferror(in)) {
            cli_error("cannot read input '%s': %s", src, strerror(errno));
            exit_code = EXIT_IO;
        }
        free(line);
    }
    (void)c;
    return exit_code;
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
static int run_audio(run_ctx *c, rm_session *s, cli_audio_in *in, double chunk_ms, int realtime, int progress)
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
        int rc = rm_session_push(s, f);
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

int cmd_run(const cli_globals *g, int argc, char **argv)
{
    enum { OPT_METRICS = 256, OPT_TABLE, OPT_IN_FMT, OPT_OUT_FMT, OPT_SUBTYPE, OPT_OUT_NODE, OPT_CHUNK,
           OPT_REALTIME, OPT_NO_PROGRESS, OPT_SET, OPT_ONLY };
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
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *input = NULL, *output = NULL, *metrics_file = NULL, *in_fmt = NULL, *out_fmt = NULL;
    const char *subtype = NULL, *out_node = NULL;
    double chunk_ms = 20;
    int want_metrics = 0, want_table = 0, realtime = 0, no_progress = 0, n_sets = 0;
    char *sets[64];
    run_ctx ctx;
    memset(&ctx, 0, sizeof ctx);
    ctx.single = 1;
    int c;
    while ((c = getopt_long(argc, argv, "i:o:f:h", opts, NULL)) != -1) {
        switch (c) {
        case 'i': input = optarg; break;
        case 'o': output = optarg; break;
        case 'f':
            if (!strcmp(optarg, "auto")) ctx.format = FMT_AUTO;
            else if (!strcmp(optarg, "jsonl")) ctx.format = FMT_JSONL;
            else if (!strcmp(optarg, "values")) ctx.format = FMT_VALUES;
            else {
                cli_error("unknown --format '%s' (auto, jsonl, values)", optarg);
                return EXIT_USAGE;
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
                return EXIT_USAGE;
            }
            break;
        }
        case OPT_REALTIME: realtime = 1; break;
        case OPT_NO_PROGRESS: no_progress = 1; break;
        case OPT_SET:
            if (n_sets == 64) return cli_error("too many --set options"), EXIT_USAGE;
            sets[n_sets++] = optarg;
            break;
        case OPT_ONLY:
            if (ctx.n_only == 16) return cli_error("too many --only options"), EXIT_USAGE;
            ctx.only[ctx.n_only++] = optarg;
            break;
        case 'h': fputs(run_help, stdout); return EXIT_OK;
        default: fputs("Try 'rmedia run --help'.\n", stderr); return EXIT_USAGE;
        }
    }
    if (optind >= argc) {
        cli_error("run needs a manifest (see 'rmedia run --help')");
        return EXIT_USAGE;
    }
    if (optind + 1 < argc) {
        cli_error("unexpected argument '%s' (inputs go in --input or stdin)", argv[optind + 1]);
        return EXIT_USAGE;
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
            return EXIT_USAGE;
        }
        in_raw = &in_spec;
    }
    if (subtype && strcmp(subtype, "s16") && strcmp(subtype, "s24") && strcmp(subtype, "s32") &&
        strcmp(subtype, "f32") && strcmp(subtype, "vorbis")) {
        cli_error("unknown --output-subtype '%s' (s16, s24, s32, f32, vorbis)", subtype);
        return EXIT_USAGE;
    }
    if (out_fmt) {
        if (cli_pcm_spec_parse(out_fmt, 0, &out_spec, why, sizeof why) != 0) {
            cli_error("--output-format: %s", why);
            return EXIT_USAGE;
        }
        out_raw = &out_spec;
    }
    audio_in = in_raw || (in_fmt && !strcmp(in_fmt, "audio")) || (!in_fmt && cli_is_audio_path(input));
    audio_out = out_raw || (output && cli_is_audio_extension(output));
    if (audio_in && !input) input = "-";
#else
    if (in_fmt || out_fmt || subtype || out_node || realtime) {
        cli_error("this build of rmedia has no audio support");
        return EXIT_ENV;
    }
    (void)chunk_ms;
    (void)no_progress;
#endif
    (void)audio_out;

    int exit_code = EXIT_OK;
    FILE *in = NULL;
    const char *src = "stdin";
#ifdef RM_CLI_AUDIO
    cli_audio_in *ain = NULL;
    if (audio_in) {
        ain = cli_audio_in_open(input, in_raw);
        if (!ain) return EXIT_IO;
    } else
#endif
    if (input && strcmp(input, "-") != 0) {
        in = fopen(input, "rb");
        src = input;
        if (!in) {
            cli_error("cannot read input '%s': %s", input, strerror(errno));
            return EXIT_IO;
        }
    } else if (input || !isatty(STDIN_FILENO)) {
        in = stdin;
    }

    rm_runtime *rt = cli_runtime(g, &exit_code);
    rm_diags *d = rm_diags_new();
    rm_graph *graph = NULL;
    rm_session *s = NULL;
    json_t *batch = NULL;
    char *all = NULL;
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
    int rc = rm_manifest_load_file(manifest, &mf, d);
    for (int i = 0; rc == 0 && i < n_sets; i++) {
        char *eq = strchr(sets[i], '='), *dot = strchr(sets[i], '.');
        rm_error e;
        if (!eq || !dot || dot > eq) {
            cli_error("--set '%s': expected NODE.PARAM=VALUE", sets[i]);
            exit_code = EXIT_USAGE;
            rm_manifest_free(mf);
            goto done;
        }
        *eq = *dot = '\0';
        rc = rm_manifest_set_param(mf, sets[i], dot + 1, eq + 1, &e);
        *eq = '=';
        *dot = '.';
        if (rc != 0) {
            cli_error("--set %s: %s", sets[i], e.message);
            exit_code = EXIT_USAGE;
            rm_manifest_free(mf);
            goto done;
        }
    }
    if (rc == 0) rc = rm_graph_compile(rt, mf, &copts, &graph, d);
    rm_manifest_free(mf);
    if (rc != 0) {
        cli_print_diags(d);
        exit_code = rc == RM_EIO ? EXIT_IO : cli_exit_for(rc);
        goto done;
    }
    ctx.single = rm_graph_sink_count(graph) == 1;
    ctx.streaming = audio_in;
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

    /* JSON input: one array (batch) or lines (streaming)? */
    if (in) {
        int first = fgetc(in);
        while (first == ' ' || first == '\n' || first == '\r' || first == '\t') first = fgetc(in);
        if (first != EOF) ungetc(first, in);
        if (first == '[') {
            all = cli_read_all(in, &(size_t){0});
            if (!all) {
                cli_error("cannot read input '%s': %s", src, strerror(errno));
                exit_code = EXIT_IO;
                goto done;
            }
            batch = json_loads(all, JSON_DECODE_ANY, NULL);
            if (batch && !json_is_array(batch)) json_decref(batch), batch = NULL;
        }
    }
    ctx.batch = batch != NULL;

    /* Outputs: an audio file/stream, and JSON to stdout or a file. */
#ifdef RM_CLI_AUDIO
    if (audio_out) {
        ctx.audio = cli_audio_out_open(output, out_raw, subtype);
        if (!ctx.audio) {
            exit_code = EXIT_IO;
            goto done;
        }
        /* raw audio on stdout: JSON lines go to stderr so they cannot mix */
        ctx.out = out_raw && (!output || !strcmp(output, "-")) ? stderr : stdout;
    } else
#endif
    {
        if (cli_out_open(&out, output) != 0) {
            exit_code = EXIT_IO;
            goto done;
        }
        out_open = 1;
        ctx.out = out.f;
    }
    rm_session_opts so = {0};
    if (!ctx.batch) {
        so.on_output = on_output;
        so.output_user = &ctx;
    }
    rm_error err;
    rc = rm_session_open(graph, &so, &s, &err);
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
        exit_code = run_json(&ctx, s, in, src, batch, all);

    rc = rm_session_end(s);
    if (rc != 0 && exit_code == EXIT_OK) exit_code = report_failure(s, rc);
    if (exit_code == EXIT_OK && ctx.batch && print_batch(&ctx, s, graph) != 0) exit_code = EXIT_IO;
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
        char *m = rm_session_metrics_json(s);
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
    rm_session_close(s);
    json_decref(batch);
    free(all);
    rm_graph_unref(graph);
    rm_diags_free(d);
    rm_runtime_free(rt);
    if (in && in != stdin) fclose(in);
    return exit_code;
}
