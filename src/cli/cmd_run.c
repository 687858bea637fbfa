/* rmedia run: feed inputs through a pipeline and print its outputs. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "cli.h"

static const char run_help[] =
    "Usage: rmedia run MANIFEST [OPTIONS]\n"
    "\n"
    "Runs the pipeline described by MANIFEST (JSON or YAML) on JSON inputs.\n"
    "\n"
    "Inputs are JSON values: either one JSON array, whose elements are pushed\n"
    "one by one, or one JSON value per line, pushed as each line arrives.  A\n"
    "JSON string becomes a text frame, any other value a json frame.  To push\n"
    "an array as one input, wrap it: [[1, 2]].  Every source node receives\n"
    "every input; whatever sink nodes emit is output.\n"
    "\n"
    "Options:\n"
    "  -i, --input FILE     read inputs from FILE ('-' = stdin; default: stdin\n"
    "                       unless it is a terminal, then no inputs)\n"
    "  -o, --output FILE    write outputs to FILE ('-' = stdout, the default); a\n"
    "                       file is written completely or not at all\n"
    "  -f, --format FMT     auto: an array input gives a JSON array (an object of\n"
    "                         arrays keyed by sink id if there are several sinks),\n"
    "                         line input gives one value per line (default)\n"
    "                       jsonl: one {\"node\",\"port\",\"seq\",\"timestamp_ms\",\"value\"}\n"
    "                         line per output\n"
    "                       values: one bare value per line\n"
    "      --metrics[=FILE] write the run's metrics as JSON to stderr (or FILE)\n"
    "      --table          print a per-node latency table to stderr\n"
    "  -h, --help           show this help\n"
    "\n"
    "Example:\n"
    "  echo '[5, 7, 3]' | rmedia run examples/calculator.json   # prints [20,24,16]\n";

typedef enum { FMT_AUTO, FMT_JSONL, FMT_VALUES } out_format;

typedef struct run_ctx {
    out_format format;
    int batch;   /* inputs came as one JSON array */
    int single;  /* the graph has one sink */
    FILE *out;
    int write_error;
} run_ctx;

static void print_value(run_ctx *c, const char *node, const char *port, const rm_frame *f)
{
    json_t *v = cli_frame_to_json(f);
    json_t *line = v;
    if (c->format == FMT_JSONL || (c->format == FMT_AUTO && !c->single)) {
        line = json_pack("{s:s, s:s, s:I, s:o}", "node", node, "port", port, "seq", (json_int_t)f->sequence,
                         "value", v);
        if (line && f->timestamp_us != RM_TS_NONE)
            json_object_set_new(line, "timestamp_ms", json_real((double)f->timestamp_us / 1000.0));
    }
    char *s = line ? json_dumps(line, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
    json_decref(line);
#ifndef RM_SINGLE_THREAD
    flockfile(c->out); /* sinks on worker threads may print concurrently */
#endif
    if (!s || fputs(s, c->out) < 0 || fputc('\n', c->out) < 0 || fflush(c->out) != 0) c->write_error = 1;
#ifndef RM_SINGLE_THREAD
    funlockfile(c->out);
#endif
    free(s);
}

static void on_output(void *user, const char *node, const char *port, const rm_frame *f)
{
    print_value(user, node, port, f);
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
        json_t *arr = c->single ? root : json_array();
        for (size_t i = 0; i < rm_outputs_count(o); i++) {
            const rm_output *x = rm_outputs_at(o, i);
            if (!strcmp(x->node_id, id)) json_array_append_new(arr, cli_frame_to_json(x->frame));
        }
        if (!c->single) json_object_set_new(root, id, arr);
    }
    char *text = json_dumps(root, JSON_COMPACT | JSON_ENCODE_ANY);
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

/* Pushes one input line; returns 0, or an exit code. */
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

int cmd_run(const cli_globals *g, int argc, char **argv)
{
    enum { OPT_METRICS = 256, OPT_TABLE };
    static const struct option opts[] = {
        {"input", required_argument, NULL, 'i'},   {"output", required_argument, NULL, 'o'},
        {"format", required_argument, NULL, 'f'},  {"metrics", optional_argument, NULL, OPT_METRICS},
        {"table", no_argument, NULL, OPT_TABLE},   {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *input = NULL, *output = NULL, *metrics_file = NULL;
    int want_metrics = 0, want_table = 0;
    run_ctx ctx = {FMT_AUTO, 0, 1, NULL, 0};
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

    /* open the input before compiling, so a missing file fails fast */
    FILE *in = NULL;
    const char *src = "stdin";
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

    int exit_code = EXIT_OK;
    rm_runtime *rt = cli_runtime(g, &exit_code);
    if (!rt) {
        if (in && in != stdin) fclose(in);
        return exit_code;
    }
    rm_diags *d = rm_diags_new();
    rm_graph *graph = NULL;
    int rc = rm_graph_load_file(rt, manifest, NULL, &graph, d);
    if (rc != 0) {
        cli_print_diags(d);
        exit_code = rc == RM_EIO ? EXIT_IO : cli_exit_for(rc);
        goto done;
    }
    ctx.single = rm_graph_sink_count(graph) == 1;

    /* Decide between one JSON array (batch) and JSON lines (streaming). */
    char *all = NULL;
    size_t all_len = 0;
    json_t *batch = NULL;
    if (in) {
        int first = fgetc(in);
        while (first == ' ' || first == '\n' || first == '\r' || first == '\t') first = fgetc(in);
        if (first != EOF) ungetc(first, in);
        if (first == '[') {
            all = cli_read_all(in, &all_len);
            if (!all) {
                cli_error("cannot read input '%s': %s", src, strerror(errno));
                exit_code = EXIT_IO;
                goto done;
            }
            batch = json_loadb(all, all_len, JSON_DECODE_ANY, NULL);
            if (batch && !json_is_array(batch)) json_decref(batch), batch = NULL;
        }
    }
    ctx.batch = batch != NULL;

    cli_out out;
    if (cli_out_open(&out, output) != 0) {
        exit_code = EXIT_IO;
        json_decref(batch);
        free(all);
        goto done;
    }
    ctx.out = out.f;
    rm_session_opts so = {0};
    if (!ctx.batch) {
        so.on_output = on_output;
        so.output_user = &ctx;
    }
    rm_session *s;
    rm_error err;
    rc = rm_session_open(graph, &so, &s, &err);
    if (rc != 0) {
        cli_error("%s", err.message);
        exit_code = cli_exit_for(rc);
        cli_out_close(&out, 0);
        json_decref(batch);
        free(all);
        goto done;
    }
    if (ctx.batch) {
        size_t i;
        json_t *v;
        json_array_foreach(batch, i, v)
        {
            rm_frame *f = cli_json_to_frame(json_incref(v));
            if (!f) {
                cli_error("%s: input [%zu] is not valid UTF-8 text", src, i);
                exit_code = EXIT_IO;
                break;
            }
            f->sequence = i;
            rc = rm_session_push(s, f);
            rm_frame_unref(f);
            if (rc != 0) {
                exit_code = report_failure(s, rc);
                break;
            }
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
    rc = rm_session_end(s);
    if (rc != 0 && exit_code == EXIT_OK) exit_code = report_failure(s, rc);
    if (exit_code == EXIT_OK && ctx.batch && print_batch(&ctx, s, graph) != 0) exit_code = EXIT_IO;
    if (ctx.write_error && exit_code == EXIT_OK) {
        cli_error("cannot write output: %s", strerror(errno));
        exit_code = EXIT_IO;
    }
    if (cli_out_close(&out, exit_code == EXIT_OK) != 0 && exit_code == EXIT_OK) exit_code = EXIT_IO;
    if (want_metrics || want_table) {
        char *m = rm_session_metrics_json(s);
        if (m && want_metrics) {
            FILE *mf = metrics_file ? fopen(metrics_file, "w") : stderr;
            if (!mf) {
                cli_error("cannot write metrics '%s': %s", metrics_file, strerror(errno));
                if (exit_code == EXIT_OK) exit_code = EXIT_IO;
            } else {
                fprintf(mf, "%s\n", m);
                if (mf != stderr) fclose(mf);
            }
        }
        if (m && want_table) print_table(m);
        free(m);
    }
    rm_session_close(s);
    json_decref(batch);
    free(all);
done:
    rm_graph_unref(graph);
    rm_diags_free(d);
    rm_runtime_free(rt);
    if (in && in != stdin) fclose(in);
    return exit_code;
}
