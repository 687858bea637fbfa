/* rmedia: run, validate and inspect RemoteMedia pipelines. */
#define _POSIX_C_SOURCE 200809L
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "remotemedia/python_nodes.h"

static const char usage[] =
    "Usage: rmedia [GLOBAL OPTIONS] COMMAND [ARGS]\n"
    "\n"
    "Run, validate and inspect RemoteMedia pipelines described by manifests\n"
    "(JSON or YAML).\n"
    "\n"
    "Commands:\n"
    "  run MANIFEST        run a pipeline on inputs, print or write its outputs\n"
    "  validate MANIFEST…  check manifests; print every problem\n"
    "  nodes               list node types\n"
    "  inspect NODE        show a node type's ports and parameters\n"
    "  schema              print the JSON Schema of manifests\n"
    "  graph MANIFEST      print the pipeline as a Graphviz DOT graph\n"
    "  pack MANIFEST -o P  create a .rmpkg package; pack --check P validates one\n"
    "  serve               serve pipelines over gRPC (remotemedia.v1)\n"
    "  version             print version and build features\n"
    "  help [COMMAND]      show help for a command\n"
    "\n"
    "Global options (before or after the command):\n"
    "  --plugin FILE       load node types from a plugin shared object (repeatable)\n"
    "  --plugin-dir DIR    load every *.so plugin in DIR (repeatable)\n"
    "  -v, --verbose       more log output (-v info, -vv debug, -vvv trace)\n"
    "  -q, --quiet         only log errors\n"
    "  --log-level LEVEL   error, warn, info, debug or trace\n"
    "  -h, --help          show this help\n"
    "  --version           print the version\n"
    "\n"
    "Environment:\n"
    "  RMEDIA_PLUGIN_PATH  ':'-separated plugin directories, loaded at start\n"
    "\n"
    "Exit codes:\n"
    "  0  success\n"
    "  1  the manifest or its parameters are invalid\n"
    "  2  bad command line\n"
    "  3  a node failed while the pipeline ran\n"
    "  4  input unreadable or invalid, or output unwritable\n"
    "  5  a plugin could not be loaded, or the build lacks a feature\n"
    "\n"
    "Run 'rmedia help COMMAND' for a command's options.\n";

void cli_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("rmedia: error: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

static const cli_globals *globals;

/* Node types of the families that some builds leave out, so that a manifest
 * using one says why it is unknown instead of looking like a typo. */
static const struct {
    const char *family, *names[12];
} family_types[] = {
    {"audio", {"AudioChunker", "AudioChunkerNode", "AudioLevel", "AudioResample", "FastResampleNode",
               "RustResampleNode", "ChannelMixer", "FormatConverter", "RustFormatConverterNode", "Gain", NULL}},
    {"audio", {"SpeechSegmenter", "AudioBufferAccumulatorNode", "AudioBufferAccumulator", "VAD", "RustVADNode",
               "SileroVADNode", NULL}},
    {"speech", {"SpeechToText", "TextToSpeech", NULL}},
};

static const char *family_of(const char *type)
{
    for (size_t i = 0; i < sizeof family_types / sizeof family_types[0]; i++)
        for (size_t k = 0; family_types[i].names[k]; k++)
            if (!strcmp(family_types[i].names[k], type)) return family_types[i].family;
    return NULL;
}

/* Up to 64 --set overrides: a diagnostic at `path` is about the command
 * line, not the file. */
static struct {
    const char *path, *label;
} overrides[64];
static int n_overrides;

void cli_diag_override(const char *path, const char *label)
{
    if (n_overrides < 64) {
        overrides[n_overrides].path = path;
        overrides[n_overrides++].label = label;
    }
}

void cli_path_note(const char *path)
{
#ifdef __wasi__
    /* A WASI program sees only the directories its runtime preopens. */
    if (path && (path[0] == '/' || !strncmp(path, "../", 3) || strstr(path, "/../") || !strcmp(path, "..")))
        fprintf(stderr,
                "  note: the wasm build reaches only the directories the WASI runtime preopens (the current "
                "directory under tests/wasm/run-wasi.mjs; 'wasmtime --dir DIR' or node's preopens add others); "
                "'%s' lies outside them unless its directory is preopened\n",
                path);
#else
    (void)path;
#endif
}

/* Whether the diagnostic's "did you mean 'X'" is close enough to `type` to
 * be a typo of it (then a plugin is not the likely cause). */
static int plausible_typo(const char *message, const char *type)
{
    const char *dym = strstr(message, "did you mean '");
    char best[128];
    if (!dym || sscanf(dym, "did you mean '%127[^']'", best) != 1) return 0;
    const char *cand[] = {best};
    return cli_suggest(type, cand, 1) != NULL;
}

void cli_print_diags(const rm_diags *d)
{
    for (size_t i = 0; i < rm_diags_count(d); i++) {
        const rm_diag *x = rm_diags_at(d, i);
        const char *label = NULL;
        for (int k = 0; k < n_overrides && x->path; k++)
            if (!strcmp(x->path, overrides[k].path)) label = overrides[k].label;
        if (label) {
            fprintf(stderr, "rmedia: error: --set %s: %s\n", label, x->message);
            continue;
        }
        char buf[1024];
        int n = rm_diag_format(x, buf, sizeof buf);
        if (n >= (int)sizeof buf) {
            char *big = malloc((size_t)n + 1);
            if (big) rm_diag_format(x, big, (size_t)n + 1);
            fprintf(stderr, "%s\n", big ? big : buf);
            free(big);
        } else {
            fprintf(stderr, "%s\n", buf);
        }
        if (x->message && !strncmp(x->message, "cannot open manifest", 20)) cli_path_note(x->file);
        /* Why a node type is unknown, when the CLI can tell. */
        char type[128];
        if (!x->message || sscanf(x->message, "unknown node type '%127[^']'", type) != 1) continue;
        const char *fam = family_of(type);
        if (fam) {
#ifdef __wasi__
            fprintf(stderr, "  note: %s is not in the wasm build: %s nodes are native only\n", type, fam);
#else
            fprintf(stderr, "  note: %s is not in this build: it was built without the %s nodes\n", type, fam);
#endif
        } else if (globals && !globals->n_plugins && !globals->n_plugin_dirs && !plausible_typo(x->message, type)) {
#ifdef __wasi__
            fprintf(stderr, "  note: no plugin is loaded, and the wasm build cannot load plugins\n");
#else
            fprintf(stderr, "  note: no plugin is loaded; if %s comes from a plugin, load it with "
                            "'rmedia --plugin FILE.so ...' or '--plugin-dir DIR'\n", type);
#endif
        }
    }
}

int cli_exit_for(int code)
{
    switch (rm_err_class(code)) {
    case RM_ERRCLASS_VALIDATION:
        if (code == RM_EPLUGIN) return EXIT_ENV;
        if (code == RM_EIO) return EXIT_IO;
        return EXIT_INVALID;
    case RM_ERRCLASS_INTERNAL:
        if (code == RM_EIO) return EXIT_IO;
        if (code == RM_ENOTSUP) return EXIT_ENV;
        return EXIT_RUNTIME;
    default: return code ? EXIT_RUNTIME : EXIT_OK;
    }
}

/* The last error a node logged.  The session logs a node's fatal error as it
 * happens (so a worker thread's failure shows at once), and the command then
 * reports the same error from rm_session_error(): cli_already_logged() lets
 * it print the error once. */
static char last_error[1200];

static void cli_log(void *user, rm_log_level level, const char *node_id, const char *msg)
{
    (void)user;
#ifndef RM_SINGLE_THREAD
    flockfile(stderr); /* nodes on worker threads may log concurrently */
#endif
    if (node_id) fprintf(stderr, "rmedia: %s: node '%s': %s\n", rm_log_level_name(level), node_id, msg);
    else fprintf(stderr, "rmedia: %s: %s\n", rm_log_level_name(level), msg);
    if (level == RM_LOG_ERROR) snprintf(last_error, sizeof last_error, "%s\n%s", node_id ? node_id : "", msg);
#ifndef RM_SINGLE_THREAD
    funlockfile(stderr);
#endif
}

int cli_already_logged(const char *node_id, const char *text)
{
    char want[sizeof last_error];
    snprintf(want, sizeof want, "%s\n%s", node_id ? node_id : "", text);
#ifndef RM_SINGLE_THREAD
    flockfile(stderr);
#endif
    int same = last_error[0] && !strcmp(want, last_error);
#ifndef RM_SINGLE_THREAD
    funlockfile(stderr);
#endif
    return same;
}

/* Levenshtein distance, capped: enough to spot typos in short names. */
static size_t edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 64 || lb > 64) return (size_t)-1;
    size_t row[65];
    for (size_t j = 0; j <= lb; j++) row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t prev = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t cur = row[j];
            size_t sub = prev + (a[i - 1] != b[j - 1]);
            size_t del = row[j] + 1, ins = row[j - 1] + 1;
            row[j] = sub < del ? (sub < ins ? sub : ins) : (del < ins ? del : ins);
            prev = cur;
        }
    }
    return row[lb];
}

const char *cli_suggest(const char *word, const char *const *cands, size_t n)
{
    const char *best = NULL;
    size_t best_d = (size_t)-1, len = strlen(word);
    size_t limit = len <= 3 ? 1 : len <= 8 ? 2 : 3; /* only plausible typos */
    for (size_t i = 0; i < n; i++) {
        if (!cands[i]) continue;
        size_t d = edit_distance(word, cands[i]);
        if (d <= limit && d < best_d) {
            best = cands[i];
            best_d = d;
        }
    }
    return best;
}

rm_runtime *cli_runtime(const cli_globals *g, int *exit_code)
{
    rm_runtime_opts opts;
    rm_runtime_opts_init(&opts);
    opts.log_fn = cli_log;
    opts.log_level = g->log_level;
    rm_runtime *rt;
    rm_error err;
    rm_error_clear(&err);
    int rc = rm_runtime_new_with_builtins(&opts, &rt, &err);
#ifdef RM_WITH_PYTHON_NODES
    if (rc == 0) rc = rm_register_python_nodes(rt, NULL, &err);
#endif
    for (int i = 0; rc == 0 && i < g->n_plugin_dirs; i++) rc = rm_runtime_load_plugin_dirs(rt, g->plugin_dirs[i], &err);
    for (int i = 0; rc == 0 && i < g->n_plugins; i++) rc = rm_runtime_load_plugin(rt, g->plugins[i], &err);
    if (rc != 0) {
        cli_error("%s", err.message[0] ? err.message : rm_strerror(rc));
        if (rt && rc != 0) rm_runtime_free(rt);
        *exit_code = cli_exit_for(rc);
        return NULL;
    }
    return rt;
}

static const char version_help[] =
    "Usage: rmedia version\n"
    "\n"
    "Prints the version and the features of this build: threads or\n"
    "single-thread, plugins, and the node families built in (audio, speech).\n";

static int cmd_version(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            fputs(version_help, stdout);
            return EXIT_OK;
        }
        cli_error("version takes no arguments, got '%s' (see 'rmedia version --help')", argv[i]);
        return EXIT_USAGE;
    }
    printf("rmedia %s (features: %s)\n", rm_version(), rm_build_features());
    return EXIT_OK;
}

static const char *const commands[] = {"run", "validate", "nodes", "inspect", "schema", "graph", "pack", "serve", "remote", "version", "help"};

static int unknown_command(const char *cmd)
{
    const char *s = cli_suggest(cmd, commands, sizeof commands / sizeof commands[0]);
    if (s) cli_error("unknown command '%s'; did you mean '%s'? (see 'rmedia --help')", cmd, s);
    else cli_error("unknown command '%s' (see 'rmedia --help')", cmd);
    return EXIT_USAGE;
}

/* Global options given after the command ("rmedia run x.yaml -v") are taken
 * as if they came before it: they are removed from the command's arguments
 * and applied.  Values of the commands' own options are skipped, so
 * "--set a.b=-v" keeps its value.  Returns -1, or an exit code. */
static int take_late_globals(cli_globals *g, int *verbose, int *argc, char **argv)
{
    static const char *const with_value[] = {"-i", "-o", "-f", "--input", "--output", "--format",
                                             "--input-format", "--output-format", "--output-subtype",
                                             "--output-node", "--chunk-ms", "--set", "--only",
                                             "--max-input-bytes", "--wasm", "--metadata", "--python", NULL};
    int out = 1;
    for (int i = 1; i < *argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--")) { /* the rest are operands */
            while (i < *argc) argv[out++] = argv[i++];
            break;
        }
        int skip_value = 0;
        for (const char *const *w = with_value; *w; w++) skip_value |= !strcmp(a, *w);
        if (skip_value) {
            argv[out++] = argv[i];
            if (i + 1 < *argc) argv[out++] = argv[++i];
            continue;
        }
        const char *val = NULL;
        int kind = 0; /* 1 plugin, 2 plugin-dir, 3 log-level */
        if (!strcmp(a, "--plugin") || !strcmp(a, "--plugin-dir") || !strcmp(a, "--log-level")) {
            kind = a[2] == 'l' ? 3 : strlen(a) == 8 ? 1 : 2;
            if (i + 1 >= *argc) {
                cli_error("option '%s' needs a value", a);
                return EXIT_USAGE;
            }
            val = argv[++i];
        } else if (!strncmp(a, "--plugin=", 9)) kind = 1, val = a + 9;
        else if (!strncmp(a, "--plugin-dir=", 13)) kind = 2, val = a + 13;
        else if (!strncmp(a, "--log-level=", 12)) kind = 3, val = a + 12;
        else if (!strcmp(a, "--verbose")) (*verbose)++, kind = -1;
        else if (!strcmp(a, "--quiet")) g->log_level = RM_LOG_ERROR, kind = -1;
        else if (a[0] == '-' && a[1] != '-' && a[1] && strspn(a + 1, "vq") == strlen(a + 1)) {
            for (const char *p = a + 1; *p; p++) {
                if (*p == 'v') (*verbose)++;
                else g->log_level = RM_LOG_ERROR;
            }
            kind = -1;
        }
        if (kind == 0) {
            argv[out++] = argv[i];
            continue;
        }
        if (kind == 1 || kind == 2) {
            if ((kind == 1 ? g->n_plugins : g->n_plugin_dirs) == 64) {
                cli_error("too many %s options", kind == 1 ? "--plugin" : "--plugin-dir");
                return EXIT_USAGE;
            }
            if (kind == 1) g->plugins[g->n_plugins++] = val;
            else g->plugin_dirs[g->n_plugin_dirs++] = val;
        } else if (kind == 3) {
            int lv = rm_log_level_from_name(val);
            if (lv < 0) {
                cli_error("unknown log level '%s' (error, warn, info, debug, trace)", val);
                return EXIT_USAGE;
            }
            g->log_level = (rm_log_level)lv;
        }
    }
    argv[out] = NULL;
    *argc = out;
    return -1;
}

static int cmd_help(const cli_globals *g, int argc, char **argv)
{
    if (argc < 2) {
        fputs(usage, stdout);
        return EXIT_OK;
    }
    char *args[] = {argv[1], "--help", NULL};
    if (!strcmp(argv[1], "run")) return cmd_run(g, 2, args);
    if (!strcmp(argv[1], "validate")) return cmd_validate(g, 2, args);
    if (!strcmp(argv[1], "nodes")) return cmd_nodes(g, 2, args);
    if (!strcmp(argv[1], "inspect")) return cmd_inspect(g, 2, args);
    if (!strcmp(argv[1], "schema")) return cmd_schema(g, 2, args);
    if (!strcmp(argv[1], "graph")) return cmd_graph(g, 2, args);
#ifdef RM_CLI_PACKAGE
    if (!strcmp(argv[1], "pack")) return cmd_pack(g, 2, args);
#endif
#ifdef RM_CLI_GRPC
    if (!strcmp(argv[1], "serve")) return cmd_serve(g, 2, args);
#endif
    if (!strcmp(argv[1], "version")) return cmd_version(2, args);
    if (!strcmp(argv[1], "help")) {
        fputs(usage, stdout);
        return EXIT_OK;
    }
    return unknown_command(argv[1]);
}

int main(int argc, char **argv)
{
    cli_globals g;
    memset(&g, 0, sizeof g);
    g.log_level = RM_LOG_WARN;
    enum { OPT_PLUGIN = 256, OPT_PLUGIN_DIR, OPT_LOG_LEVEL, OPT_VERSION };
    static const struct option opts[] = {
        {"plugin", required_argument, NULL, OPT_PLUGIN},
        {"plugin-dir", required_argument, NULL, OPT_PLUGIN_DIR},
        {"verbose", no_argument, NULL, 'v'},
        {"quiet", no_argument, NULL, 'q'},
        {"log-level", required_argument, NULL, OPT_LOG_LEVEL},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, OPT_VERSION},
        {NULL, 0, NULL, 0},
    };
    int c, verbose = 0;
    while ((c = getopt_long(argc, argv, "+vqh", opts, NULL)) != -1) {
        switch (c) {
        case OPT_PLUGIN:
            if (g.n_plugins == 64) return cli_error("too many --plugin options"), EXIT_USAGE;
            g.plugins[g.n_plugins++] = optarg;
            break;
        case OPT_PLUGIN_DIR:
            if (g.n_plugin_dirs == 64) return cli_error("too many --plugin-dir options"), EXIT_USAGE;
            g.plugin_dirs[g.n_plugin_dirs++] = optarg;
            break;
        case 'v': verbose++; break;
        case 'q': g.log_level = RM_LOG_ERROR; break;
        case OPT_LOG_LEVEL: {
            int lv = rm_log_level_from_name(optarg);
            if (lv < 0) {
                cli_error("unknown log level '%s' (error, warn, info, debug, trace)", optarg);
                return EXIT_USAGE;
            }
            g.log_level = (rm_log_level)lv;
            break;
        }
        case 'h': fputs(usage, stdout); return EXIT_OK;
        case OPT_VERSION: return cmd_version(1, argv);
        default: fputs("Try 'rmedia --help'.\n", stderr); return EXIT_USAGE;
        }
    }
    if (optind >= argc) {
        fputs(usage, stderr);
        return EXIT_USAGE;
    }
    const char *cmd = argv[optind];
    int sub_argc = argc - optind;
    char **sub_argv = argv + optind;
    globals = &g;
    int rc = take_late_globals(&g, &verbose, &sub_argc, sub_argv);
    if (rc >= 0) return rc;
    if (verbose) g.log_level = verbose >= 3 ? RM_LOG_TRACE : verbose == 2 ? RM_LOG_DEBUG : RM_LOG_INFO;
    optind = 0; /* reset getopt fully: subcommands parse their own options */
    if (!strcmp(cmd, "run")) return cmd_run(&g, sub_argc, sub_argv);
    if (!strcmp(cmd, "validate")) return cmd_validate(&g, sub_argc, sub_argv);
    if (!strcmp(cmd, "nodes")) return cmd_nodes(&g, sub_argc, sub_argv);
    if (!strcmp(cmd, "inspect")) return cmd_inspect(&g, sub_argc, sub_argv);
    if (!strcmp(cmd, "schema")) return cmd_schema(&g, sub_argc, sub_argv);
    if (!strcmp(cmd, "graph")) return cmd_graph(&g, sub_argc, sub_argv);
#ifdef RM_CLI_PACKAGE
    if (!strcmp(cmd, "pack")) return cmd_pack(&g, sub_argc, sub_argv);
#else
    if (!strcmp(cmd, "pack")) {
        cli_error("this rmedia was built without .rmpkg packages (RM_WITH_PACKAGE=OFF)");
        return EXIT_ENV;
    }
#endif
#ifdef RM_CLI_GRPC
    if (!strcmp(cmd, "serve")) return cmd_serve(&g, sub_argc, sub_argv);
    if (!strcmp(cmd, "remote")) return cmd_remote(&g, sub_argc, sub_argv);
#else
    if (!strcmp(cmd, "serve") || !strcmp(cmd, "remote")) {
        cli_error("this rmedia was built without gRPC (RM_WITH_GRPC=OFF)");
        return EXIT_ENV;
    }
#endif
    if (!strcmp(cmd, "version")) return cmd_version(sub_argc, sub_argv);
    if (!strcmp(cmd, "help")) return cmd_help(&g, sub_argc, sub_argv);
    return unknown_command(cmd);
}
