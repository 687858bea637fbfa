/* rmedia pack: create and check .rmpkg packages (docs/rmpkg.md). */
#define _POSIX_C_SOURCE 200809L
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "cli.h"
#include "remotemedia/package.h"

static const char pack_help[] =
    "Usage: rmedia pack MANIFEST -o PACKAGE.rmpkg [--wasm FILE] [--metadata FILE] [--python DIR]\n"
    "       rmedia pack --check PACKAGE.rmpkg...\n"
    "\n"
    "Creates a .rmpkg package: a zip with manifest.json, runtime.wasm (the wasm\n"
    "library build/wasm/remotemedia.wasm), metadata.json (generated; --metadata\n"
    "merges a JSON object over it), python/ (the files of --python DIR) and\n"
    "checksums (sha256 of every member).  The manifest (JSON, or YAML converted\n"
    "to JSON) must compile against the node types of the wasm runtime (families\n"
    "core, math, text, audio) plus the Python node types the --python files\n"
    "define (@node decorators; declared in metadata.json as\n"
    "runtime_info.python_node_types).  The package is written to a temporary file,\n"
    "checked, then renamed: a failure leaves nothing behind.\n"
    "\n"
    "--check validates packages as a loader does and prints every problem as\n"
    "PACKAGE: MEMBER[:LINE:COL]: error: ...; exit 1 if any is invalid.\n"
    "\n"
    "  -o, --output FILE   the package to write\n"
    "  --wasm FILE         the runtime (default: $RMEDIA_WASM, else\n"
    "                      ../wasm/remotemedia.wasm next to this rmedia, else\n"
    "                      ../share/remotemedia/remotemedia.wasm)\n"
    "  --metadata FILE     JSON object merged over the generated metadata.json\n"
    "  --python DIR        Python node sources, stored under python/\n"
    "  --check             validate the packages given instead of creating one\n"
    "\n"
    "Environment: SOURCE_DATE_EPOCH sets created_at and the zip timestamps\n"
    "(reproducible packages).\n";

/* The node types the wasm runtime has: the built-in families of the wasm
 * build (docs/wasm.md).  Speech and Python nodes are native only. */
static rm_runtime *wasm_profile_runtime(int *exit_code)
{
    static const char *const families[] = {"core", "math", "text", "audio"};
    rm_runtime_opts o;
    rm_runtime_opts_init(&o);
    o.flags |= RM_RUNTIME_NO_ENV_PLUGINS;
    o.log_level = RM_LOG_ERROR;
    rm_runtime *full = NULL, *rt = NULL;
    rm_error err;
    rm_error_clear(&err);
    int rc = rm_runtime_new_with_builtins(&o, &full, &err);
    if (rc == 0) rc = rm_runtime_new(&o, &rt, &err);
    for (size_t i = 0; rc == 0 && i < rm_runtime_node_type_count(full); i++) {
        const rm_node_type *t = rm_runtime_node_type_at(full, i);
        int ok = 0;
        for (size_t k = 0; k < sizeof families / sizeof families[0]; k++)
            ok |= t->family && !strcmp(t->family, families[k]);
        if (ok && !rm_runtime_find_node_type(rt, t->name)) rc = rm_runtime_register(rt, t, &err);
    }
    rm_runtime_free(full); /* the types are static: rt keeps working */
    if (rc != 0) {
        cli_error("%s", err.message[0] ? err.message : rm_strerror(rc));
        rm_runtime_free(rt);
        *exit_code = cli_exit_for(rc);
        return NULL;
    }
    return rt;
}

static void print_report(const char *pkg, const rm_package_report *r)
{
    for (size_t i = 0; i < rm_package_report_count(r); i++)
        fprintf(stderr, "%s: %s\n", pkg, rm_package_report_at(r, i)->text);
}

static int check_one(rm_runtime *rt, const char *path)
{
    rm_package_report *r = rm_package_report_new();
    if (!r) return cli_error("out of memory"), EXIT_RUNTIME;
    rm_package *p = NULL;
    int rc = rm_package_open_file(path, rt, NULL, &p, r);
    print_report(path, r);
    size_t errors = rm_package_report_errors(r);
    if (rc == 0) {
        size_t wl = 0;
        rm_package_member(p, "runtime.wasm", &wl);
        printf("%s: ok (%zu members, runtime.wasm %zu bytes)\n", path, rm_package_member_count(p), wl);
    } else if (errors) {
        fprintf(stderr, "%s: %zu problem%s\n", path, errors, errors == 1 ? "" : "s");
    }
    rm_package_free(p);
    rm_package_report_free(r);
    return rc == 0 ? EXIT_OK : rc == RM_EIO ? EXIT_IO : EXIT_INVALID;
}

/* The default runtime.wasm: $RMEDIA_WASM, else next to this executable. */
static char *default_wasm(void)
{
    const char *env = getenv("RMEDIA_WASM");
    if (env && *env) return strdup(env);
    char self[4096];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0) return NULL;
    self[n] = 0;
    char *slash = strrchr(self, '/');
    if (!slash) return NULL;
    *slash = 0;
    static const char *const rel[] = {"/../wasm/remotemedia.wasm", "/../share/remotemedia/remotemedia.wasm"};
    for (size_t i = 0; i < 2; i++) {
        size_t len = strlen(self) + strlen(rel[i]) + 1;
        char *p = malloc(len);
        if (!p) return NULL;
        snprintf(p, len, "%s%s", self, rel[i]);
        if (access(p, R_OK) == 0) return p;
        free(p);
    }
    return NULL;
}

static char *read_path(const char *path, size_t *len, const char *what)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        cli_error("cannot open %s '%s'", what, path);
        cli_path_note(path);
        return NULL;
    }
    char *s = cli_read_all(f, len);
    fclose(f);
    if (!s) cli_error("cannot read %s '%s'", what, path);
    return s;
}

/* JSON manifests are stored as written (line:column in messages stays
 * theirs); YAML is converted to JSON. */
static char *manifest_json(const char *path, size_t *len, int *exit_code)
{
    char *text = read_path(path, len, "manifest");
    if (!text) return *exit_code = EXIT_IO, NULL;
    size_t i = 0;
    while (i < *len && strchr(" \t\r\n", text[i])) i++;
    if (i < *len && text[i] == '{') return text;
    rm_diags *d = rm_diags_new();
    rm_manifest *m = NULL;
    int rc = d ? rm_manifest_load_string(text, *len, path, RM_MANIFEST_YAML, &m, d) : RM_ENOMEM;
    free(text);
    char *out = NULL;
    if (rc == 0 && !(out = json_dumps(rm_manifest_json(m), JSON_INDENT(2)))) rc = RM_ENOMEM;
    if (rc != 0) {
        if (d) cli_print_diags(d);
        *exit_code = cli_exit_for(rc);
    } else {
        *len = strlen(out);
    }
    rm_manifest_free(m);
    rm_diags_free(d);
    return out;
}

int cmd_pack(const cli_globals *g, int argc, char **argv)
{
    (void)g;
    enum { OPT_WASM = 256, OPT_METADATA, OPT_PYTHON, OPT_CHECK };
    static const struct option opts[] = {
        {"help", no_argument, NULL, 'h'},
        {"output", required_argument, NULL, 'o'},
        {"wasm", required_argument, NULL, OPT_WASM},
        {"metadata", required_argument, NULL, OPT_METADATA},
        {"python", required_argument, NULL, OPT_PYTHON},
        {"check", no_argument, NULL, OPT_CHECK},
        {NULL, 0, NULL, 0},
    };
    const char *output = NULL, *wasm_path = NULL, *metadata_path = NULL, *python_dir = NULL;
    int check = 0, c;
    while ((c = getopt_long(argc, argv, "ho:", opts, NULL)) != -1) {
        switch (c) {
        case 'h': fputs(pack_help, stdout); return EXIT_OK;
        case 'o': output = optarg; break;
        case OPT_WASM: wasm_path = optarg; break;
        case OPT_METADATA: metadata_path = optarg; break;
        case OPT_PYTHON: python_dir = optarg; break;
        case OPT_CHECK: check = 1; break;
        default: fputs("Try 'rmedia pack --help'.\n", stderr); return EXIT_USAGE;
        }
    }
    int nargs = argc - optind;
    if (check && (output || wasm_path || metadata_path || python_dir)) {
        cli_error("pack --check takes only package files");
        return EXIT_USAGE;
    }
    if (check ? nargs < 1 : nargs != 1 || !output) {
        cli_error(check ? "pack --check needs a package file"
                        : "pack needs one MANIFEST and -o PACKAGE.rmpkg (see 'rmedia pack --help')");
        return EXIT_USAGE;
    }
    int exit_code = EXIT_OK;
    rm_runtime *rt = wasm_profile_runtime(&exit_code);
    if (!rt) return exit_code;
    if (check) {
        for (int i = optind; i < argc; i++) {
            int rc = check_one(rt, argv[i]);
            if (rc > exit_code) exit_code = rc;
        }
        rm_runtime_free(rt);
        return exit_code;
    }

    const char *manifest = argv[optind];
    rm_package_input in = {0};
    in.manifest_name = manifest;
    char *wasm_owned = wasm_path ? NULL : default_wasm();
    if (!wasm_path && !wasm_owned) {
        cli_error("no runtime: give --wasm FILE or set RMEDIA_WASM (make wasm builds build/wasm/remotemedia.wasm)");
        rm_runtime_free(rt);
        return EXIT_USAGE;
    }
    char *mtext = manifest_json(manifest, &in.manifest_len, &exit_code);
    char *wasm = mtext ? read_path(wasm_path ? wasm_path : wasm_owned, &in.wasm_len, "runtime") : NULL;
    char *metadata = wasm && metadata_path ? read_path(metadata_path, &in.metadata_len, "metadata") : NULL;
    if (mtext && (!wasm || (metadata_path && !metadata))) exit_code = EXIT_IO;
    if (exit_code == EXIT_OK) {
        in.manifest = mtext;
        in.wasm = (const unsigned char *)wasm;
        in.metadata = metadata;
        in.python_dir = python_dir;
        const char *sde = getenv("SOURCE_DATE_EPOCH");
        in.created_at = sde && *sde ? strtoll(sde, NULL, 10) : (long long)time(NULL);
        rm_package_report *r = rm_package_report_new();
        int rc = r ? rm_package_write(output, &in, rt, r) : RM_ENOMEM;
        print_report(output, r);
        if (rc == 0) printf("%s: written (runtime.wasm %zu bytes)\n", output, in.wasm_len);
        else exit_code = rc == RM_EIO ? EXIT_IO : rc == RM_ENOMEM ? EXIT_RUNTIME : EXIT_INVALID;
        rm_package_report_free(r);
    }
    free(mtext);
    free(wasm);
    free(metadata);
    free(wasm_owned);
    rm_runtime_free(rt);
    return exit_code;
}

rm_manifest *cli_package_manifest(rm_runtime *rt, const char *path, rm_diags *d, int *exit_code)
{
    rm_package_report *r = rm_package_report_new();
    rm_package *p = NULL;
    int rc = r ? rm_package_open_file(path, rt, NULL, &p, r) : RM_ENOMEM;
    print_report(path, r);
    rm_package_report_free(r);
    if (rc != 0) {
        *exit_code = rc == RM_EIO ? EXIT_IO : EXIT_INVALID;
        return NULL;
    }
    size_t len = 0;
    const unsigned char *text = rm_package_member(p, "manifest.json", &len);
    size_t nl = strlen(path) + 16;
    char *name = malloc(nl);
    rm_manifest *m = NULL;
    if (name) snprintf(name, nl, "%s:manifest.json", path);
    rc = name ? rm_manifest_load_string((const char *)text, len, name, RM_MANIFEST_JSON, &m, d) : RM_ENOMEM;
    free(name);
    rm_package_free(p);
    if (rc != 0) {
        cli_print_diags(d);
        *exit_code = cli_exit_for(rc);
        return NULL;
    }
    return m;
}
