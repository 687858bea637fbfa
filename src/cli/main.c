/* rmedia: run, validate and inspect RemoteMedia pipelines. */
#define _POSIX_C_SOURCE 200809L
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

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
    "  serve               serve pipelines over gRPC (remotemedia.v1)\n"
    "  version             print version and build features\n"
    "  help [COMMAND]      show help for a command\n"
    "\n"
    "Global options:\n"
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

void cli_print_diags(const rm_diags *d)
{
    char *s = rm_diags_to_string(d);
    if (s) fputs(s, stderr);
    free(s);
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

static void cli_log(void *user, rm_log_level level, const char *node_id, const char *msg)
{
    (void)user;
    if (node_id) fprintf(stderr, "rmedia: %s: node '%s': %s\n", rm_log_level_name(level), node_id, msg);
    else fprintf(stderr, "rmedia: %s: %s\n", rm_log_level_name(level), msg);
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

static int cmd_version(void)
{
    printf("rmedia %s (features: %s)\n", rm_version(), rm_build_features());
    return EXIT_OK;
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
#ifdef RM_CLI_GRPC
    if (!strcmp(argv[1], "serve")) return cmd_serve(g, 2, args);
#endif
    if (!strcmp(argv[1], "version") || !strcmp(argv[1], "help")) {
        fputs(usage, stdout);
        return EXIT_OK;
    }
    cli_error("unknown command '%s' (see 'rmedia --help')", argv[1]);
    return EXIT_USAGE;
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
        case OPT_VERSION: return cmd_version();
        default: fputs("Try 'rmedia --help'.\n", stderr); return EXIT_USAGE;
        }
    }
    if (verbose) g.log_level = verbose >= 3 ? RM_LOG_TRACE : verbose == 2 ? RM_LOG_DEBUG : RM_LOG_INFO;
    if (optind >= argc) {
        fputs(usage, stderr);
        return EXIT_USAGE;
    }
    const char *cmd = argv[optind];
    int sub_argc = argc - optind;
    char **sub_argv = argv + optind;
    optind = 0; /* reset getopt fully: subcommands parse their own options */
    if (!strcmp(cmd, "run")) return cmd_run(&g, sub_argc, sub_argv);
    if (!strcmp(cmd, "validate")) return cmd_validate(&g, sub_argc, sub_argv);
    if (!strcmp(cmd, "nodes")) return cmd_nodes(&g, sub_argc, sub_argv);
    if (!strcmp(cmd, "inspect")) return cmd_inspect(&g, sub_argc, sub_argv);
    if (!strcmp(cmd, "schema")) return cmd_schema(&g, sub_argc, sub_argv);
    if (!strcmp(cmd, "graph")) return cmd_graph(&g, sub_argc, sub_argv);
#ifdef RM_CLI_GRPC
    if (!strcmp(cmd, "serve")) return cmd_serve(&g, sub_argc, sub_argv);
#else
    if (!strcmp(cmd, "serve")) {
        cli_error("this rmedia was built without the gRPC server (RM_WITH_GRPC=OFF)");
        return EXIT_ENV;
    }
#endif
    if (!strcmp(cmd, "version")) return cmd_version();
    if (!strcmp(cmd, "help")) return cmd_help(&g, sub_argc, sub_argv);
    cli_error("unknown command '%s' (see 'rmedia --help')", cmd);
    return EXIT_USAGE;
}
