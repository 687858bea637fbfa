/* rmedia validate | nodes | inspect | schema | graph */
#define _POSIX_C_SOURCE 200809L
#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cli.h"

/* Parses "--help" and "--json" style flags shared by the info commands.
 * Returns -1 to continue, or an exit code. */
static int simple_opts(int argc, char **argv, const char *help, int *json, const char **output)
{
    static const struct option opts[] = {
        {"help", no_argument, NULL, 'h'},
        {"json", no_argument, NULL, 'j'},
        {"output", required_argument, NULL, 'o'},
        {NULL, 0, NULL, 0},
    };
    int c;
    while ((c = getopt_long(argc, argv, "hjo:", opts, NULL)) != -1) {
        switch (c) {
        case 'h': fputs(help, stdout); return EXIT_OK;
        case 'j':
            if (!json) goto bad;
            *json = 1;
            break;
        case 'o':
            if (!output) goto bad;
            *output = optarg;
            break;
        default: goto bad;
        }
    }
    return -1;
bad:
    fprintf(stderr, "Try 'rmedia %s --help'.\n", argv[0]);
    return EXIT_USAGE;
}

/* Loads and compiles a manifest file, or standard input for "-" (shown as
 * "stdin" in diagnostics; JSON or YAML told apart by content). */
static int load_graph(rm_runtime *rt, const char *path, rm_graph **graph, rm_diags *d)
{
    if (strcmp(path, "-") != 0) return rm_graph_load_file(rt, path, NULL, graph, d);
    size_t len = 0;
    char *text = cli_read_all(stdin, &len);
    if (!text) {
        cli_error("cannot read the manifest from standard input");
        return RM_EIO;
    }
    int rc = rm_graph_load_string(rt, text, len, "stdin", NULL, graph, d);
    free(text);
    return rc;
}

/* ------------------------------------------------------------- validate --- */

static const char validate_help[] =
    "Usage: rmedia validate [--strict] MANIFEST...   ('-' reads a manifest from stdin)\n"
    "\n"
    "Checks each manifest completely: syntax, version, node ids, node types,\n"
    "every parameter against its node type, connections and ports, cycles and\n"
    "the data types on each link.  Prints every problem as\n"
    "FILE:LINE:COLUMN: error: ... and exits 1 if any manifest is invalid.\n"
    "Unknown keys (typos such as 'conections') are warnings.\n"
    "  --strict   treat warnings as errors (exit 1)\n";

int cmd_validate(const cli_globals *g, int argc, char **argv)
{
    /* --strict: warnings (unknown keys) fail too; taken out before the
     * shared option parser sees the arguments */
    int strict = 0, k = 1;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--strict")) strict = 1;
        else argv[k++] = argv[i];
    }
    argc = k;
    int rc = simple_opts(argc, argv, validate_help, NULL, NULL);
    if (rc >= 0) return rc;
    if (optind >= argc) {
        cli_error("validate needs a manifest (see 'rmedia validate --help')");
        return EXIT_USAGE;
    }
    int exit_code = EXIT_OK;
    rm_runtime *rt = cli_runtime(g, &exit_code);
    if (!rt) return exit_code;
    for (int i = optind; i < argc; i++) {
        rm_diags *d = rm_diags_new();
        rm_graph *graph;
        int r = load_graph(rt, argv[i], &graph, d);
        const char *name = strcmp(argv[i], "-") ? argv[i] : "stdin";
        size_t warnings = rm_diags_count_severity(d, RM_DIAG_WARNING);
        if (r == 0 && strict && warnings) {
            cli_print_diags(d);
            fprintf(stderr, "%s: %zu warning%s (--strict)\n", name, warnings, warnings == 1 ? "" : "s");
            rm_graph_unref(graph);
            exit_code = EXIT_INVALID;
        } else if (r == 0) {
            cli_print_diags(d); /* warnings */
            printf("%s: ok (%zu nodes, %zu sources, %zu sinks)\n", name, rm_graph_node_count(graph),
                   rm_graph_source_count(graph), rm_graph_sink_count(graph));
            rm_graph_unref(graph);
        } else {
            cli_print_diags(d);
            size_t n = rm_diags_count(d);
            fprintf(stderr, "%s: %zu problem%s\n", name, n, n == 1 ? "" : "s");
            int e = r == RM_EIO ? EXIT_IO : cli_exit_for(r);
            if (exit_code == EXIT_OK || e == EXIT_INVALID) exit_code = e;
        }
        rm_diags_free(d);
    }
    rm_runtime_free(rt);
    return exit_code;
}

/* ---------------------------------------------------------------- nodes --- */

static const char nodes_help[] =
    "Usage: rmedia nodes [--json]\n"
    "\n"
    "Lists the node types this build and its plugins provide.\n"
    "  --json   print the full description of every node type as JSON\n";

int cmd_nodes(const cli_globals *g, int argc, char **argv)
{
    int json = 0;
    int rc = simple_opts(argc, argv, nodes_help, &json, NULL);
    if (rc >= 0) return rc;
    int exit_code = EXIT_OK;
    rm_runtime *rt = cli_runtime(g, &exit_code);
    if (!rt) return exit_code;
    size_t n = rm_runtime_node_type_count(rt);
    int wname = 4, wfam = 6; /* columns as wide as their longest entry */
    for (size_t i = 0; i < n; i++) {
        const rm_node_type *t = rm_runtime_node_type_at(rt, i);
        int a = (int)strlen(t->name), b = t->family ? (int)strlen(t->family) : 0;
        if (a > wname) wname = a;
        if (b > wfam) wfam = b;
    }
    if (json) fputs("[", stdout);
    for (size_t i = 0; i < n; i++) {
        const rm_node_type *t = rm_runtime_node_type_at(rt, i);
        if (json) {
            char *s = rm_node_type_describe_json(t);
            printf("%s%s", i ? ",\n" : "\n", s ? s : "null");
            free(s);
        } else {
            printf("%-*s  %-*s  %s\n", wname, t->name, wfam, t->family ? t->family : "", t->doc ? t->doc : "");
        }
    }
    if (json) fputs("\n]\n", stdout);
    else printf("\n%zu node types.  'rmedia inspect NODE' shows ports and parameters.\n", n);
    rm_runtime_free(rt);
    return EXIT_OK;
}

/* -------------------------------------------------------------- inspect --- */

static const char inspect_help[] =
    "Usage: rmedia inspect NODE [--json]\n"
    "\n"
    "Shows a node type: what it does, its input and output ports with the data\n"
    "kinds they carry, and every parameter with its type, default, range,\n"
    "allowed values and aliases, plus an example manifest entry.\n"
    "  --json   print the description as JSON\n";

static void print_kinds(const json_t *kinds)
{
    char buf[96] = "";
    size_t i;
    json_t *k;
    json_array_foreach(kinds, i, k)
    {
        if (i) strncat(buf, "|", sizeof buf - strlen(buf) - 1);
        strncat(buf, json_string_value(k), sizeof buf - strlen(buf) - 1);
    }
    printf("%-16s", buf);
}

static void print_ports(const char *title, const json_t *ports)
{
    printf("\n%s\n", title);
    size_t i;
    json_t *p;
    if (json_array_size(ports) == 0) printf("  (none)\n");
    json_array_foreach(ports, i, p)
    {
        printf("  %-14s ", json_string_value(json_object_get(p, "name")));
        print_kinds(json_object_get(p, "kinds"));
        printf(" %s\n", json_string_value(json_object_get(p, "doc")));
    }
}

static void print_number(const json_t *v)
{
    double x = json_number_value(v);
    char buf[40];
    if (x == floor(x) && fabs(x) < 1e15) printf("%lld", (long long)x);
    else if (rm_format_double(x, buf, sizeof buf) > 0) fputs(buf, stdout);
}

static void print_params(const json_t *params)
{
    printf("\nParameters\n");
    if (json_array_size(params) == 0) {
        printf("  (none)\n");
        return;
    }
    size_t i;
    json_t *p;
    json_array_foreach(params, i, p)
    {
        char *def = rm_json_dumps(json_object_get(p, "default"), JSON_ENCODE_ANY | JSON_COMPACT);
        printf("  %-22s %-12s", json_string_value(json_object_get(p, "name")),
               json_string_value(json_object_get(p, "type")));
        if (json_is_true(json_object_get(p, "required"))) printf(" required");
        else printf(" default %s", def ? def : "?");
        const json_t *mn = json_object_get(p, "min"), *mx = json_object_get(p, "max");
        if (mn || mx) {
            printf("   range ");
            if (mn) print_number(mn);
            else printf("-inf");
            printf(" … ");
            if (mx) print_number(mx);
            else printf("inf");
        }
        if (json_is_true(json_object_get(p, "runtime"))) printf("   [changeable while running]");
        printf("\n      %s\n", json_string_value(json_object_get(p, "doc")));
        const json_t *en = json_object_get(p, "enum");
        if (en) {
            printf("      values: ");
            size_t k;
            json_t *e;
            json_array_foreach(en, k, e) printf("%s%s", k ? ", " : "", json_string_value(e));
            printf("\n");
        }
        const json_t *al = json_object_get(p, "aliases");
        if (al) {
            printf("      aliases: ");
            size_t k;
            json_t *e;
            json_array_foreach(al, k, e) printf("%s%s", k ? ", " : "", json_string_value(e));
            printf("\n");
        }
        free(def);
    }
    printf("  (camelCase spellings such as sourceRate for source_rate are accepted too)\n");
}

int cmd_inspect(const cli_globals *g, int argc, char **argv)
{
    int json = 0;
    int rc = simple_opts(argc, argv, inspect_help, &json, NULL);
    if (rc >= 0) return rc;
    if (optind >= argc) {
        cli_error("inspect needs a node type name (see 'rmedia nodes')");
        return EXIT_USAGE;
    }
    int exit_code = EXIT_OK;
    rm_runtime *rt = cli_runtime(g, &exit_code);
    if (!rt) return exit_code;
    const char *name = argv[optind];
    const rm_node_type *t = rm_runtime_find_node_type(rt, name);
    if (!t) {
        const char *s = rm_runtime_suggest_node_type(rt, name);
        if (s) cli_error("unknown node type '%s'; did you mean '%s'?", name, s);
        else cli_error("unknown node type '%s' (see 'rmedia nodes')", name);
        rm_runtime_free(rt);
        return EXIT_INVALID;
    }
    char *desc = rm_node_type_describe_json(t);
    json_t *d = desc ? json_loads(desc, 0, NULL) : NULL;
    if (!d) {
        free(desc);
        rm_runtime_free(rt);
        cli_error("out of memory");
        return EXIT_RUNTIME;
    }
    if (json) {
        printf("%s\n", desc);
    } else {
        printf("%s — %s\n\n", t->name, t->doc ? t->doc : "");
        printf("  Family      %s\n", t->family ? t->family : "-");
        printf("  Aliases     ");
        if (!t->aliases || !t->aliases[0]) printf("-");
        for (const char *const *a = t->aliases; a && *a; a++) printf("%s%s", a == t->aliases ? "" : ", ", *a);
        printf("\n  Threading   %s\n", (t->flags & RM_NODE_BLOCKING)
                                          ? "blocking: runs on its own worker behind a bounded queue"
                                          : "inline: runs on the thread that pushes the frame");
        print_ports("Input ports", json_object_get(d, "inputs"));
        print_ports("Output ports", json_object_get(d, "outputs"));
        print_params(json_object_get(d, "params"));
        if (t->example) {
            printf("\nExample\n");
            const char *line = t->example;
            while (*line) {
                const char *nl = strchr(line, '\n');
                int len = nl ? (int)(nl - line) : (int)strlen(line);
                printf("  %.*s\n", len, line);
                line += len + (nl ? 1 : 0);
            }
        }
    }
    json_decref(d);
    free(desc);
    rm_runtime_free(rt);
    return EXIT_OK;
}

/* --------------------------------------------------------------- schema --- */

static const char schema_help[] =
    "Usage: rmedia schema\n"
    "\n"
    "Prints the JSON Schema (draft-07) of v1 manifests, with the parameters of\n"
    "every node type this build and its plugins provide (for editors and CI).\n";

int cmd_schema(const cli_globals *g, int argc, char **argv)
{
    int rc = simple_opts(argc, argv, schema_help, NULL, NULL);
    if (rc >= 0) return rc;
    int exit_code = EXIT_OK;
    rm_runtime *rt = cli_runtime(g, &exit_code);
    if (!rt) return exit_code;
    char *s = rm_runtime_manifest_schema(rt);
    if (s) printf("%s\n", s);
    free(s);
    rm_runtime_free(rt);
    return s ? EXIT_OK : EXIT_RUNTIME;
}

/* ---------------------------------------------------------------- graph --- */

static const char graph_help[] =
    "Usage: rmedia graph MANIFEST [-o FILE]   ('-' reads the manifest from stdin)\n"
    "\n"
    "Prints the compiled pipeline as a Graphviz DOT graph: nodes with their type\n"
    "and non-default parameters, links with ports and data types, queues and\n"
    "worker threads, and converters the compiler inserted (dashed).\n"
    "  -o, --output FILE   write to FILE instead of stdout\n"
    "Render with: rmedia graph p.yaml | dot -Tsvg > p.svg\n";

int cmd_graph(const cli_globals *g, int argc, char **argv)
{
    const char *output = NULL;
    int rc = simple_opts(argc, argv, graph_help, NULL, &output);
    if (rc >= 0) return rc;
    if (optind >= argc) {
        cli_error("graph needs a manifest (see 'rmedia graph --help')");
        return EXIT_USAGE;
    }
    int exit_code = EXIT_OK;
    rm_runtime *rt = cli_runtime(g, &exit_code);
    if (!rt) return exit_code;
    rm_diags *d = rm_diags_new();
    rm_graph *graph;
    rc = load_graph(rt, argv[optind], &graph, d);
    if (rc != 0) {
        cli_print_diags(d);
        rm_diags_free(d);
        rm_runtime_free(rt);
        return rc == RM_EIO ? EXIT_IO : cli_exit_for(rc);
    }
    rm_diags_free(d);
    char *dot = rm_graph_to_dot(graph);
    cli_out out;
    exit_code = EXIT_OK;
    if (!dot || cli_out_open(&out, output) != 0) {
        exit_code = dot ? EXIT_IO : EXIT_RUNTIME;
    } else {
        fputs(dot, out.f);
        if (cli_out_close(&out, 1) != 0) exit_code = EXIT_IO;
    }
    free(dot);
    rm_graph_unref(graph);
    rm_runtime_free(rt);
    return exit_code;
}
