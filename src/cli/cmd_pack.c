/* rmedia pack: create and check .rmpkg packages (docs/rmpkg.md). */
#define _GNU_SOURCE /* SYS_getdents64 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "cli.h"
#include "remotemedia/package.h"
#include "remotemedia/python_nodes.h"

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

/* ----------------------------------------------- running a package --- */

/* A package run natively: the temporary directory its python/ files are
 * extracted to and the node types that run them.  The directory is removed
 * when the run ends, also on an error and on a signal that ends the process
 * (SIGTERM, SIGINT, SIGHUP, SIGPIPE, ...).  SIGKILL cannot be caught: such
 * a directory stays until the next package run removes it (sweep_stale). */
struct cli_package {
    char dir[4096];
    int lock; /* the directory, open and flock()ed while this run uses it */
    const rm_node_type **types;
    size_t n_types;
};

static const int fatal_signals[] = {SIGHUP, SIGINT, SIGQUIT, SIGPIPE, SIGALRM, SIGTERM, SIGUSR1, SIGUSR2};
#define N_FATAL (sizeof fatal_signals / sizeof fatal_signals[0])
static struct sigaction saved_actions[N_FATAL];
static int handled[N_FATAL];
static char sig_dir[4096];               /* the directory to remove, for the handler */
static volatile sig_atomic_t sig_dir_set; /* sig_dir is complete */

/* Removes `name` under `parent` and everything below it, with system calls
 * only (async-signal-safe: the signal handler uses it too).  Files a worker
 * wrote there (__pycache__) go as well. */
static void remove_tree(int parent, const char *name, int depth)
{
    if (unlinkat(parent, name, 0) == 0 || (errno != EISDIR && errno != EPERM)) return;
    int fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd >= 0 && depth < 64) {
        char buf[4096] __attribute__((aligned(8)));
        for (int again = 1; again;) { /* entries removed while listing may hide others: list until clean */
            again = 0;
            lseek(fd, 0, SEEK_SET);
            long n;
            while ((n = syscall(SYS_getdents64, fd, buf, sizeof buf)) > 0) {
                for (long off = 0; off < n;) {
                    struct {
                        uint64_t ino;
                        int64_t off;
                        unsigned short reclen;
                        unsigned char type;
                        char name[];
                    } *e = (void *)(buf + off);
                    off += e->reclen;
                    if (!strcmp(e->name, ".") || !strcmp(e->name, "..")) continue;
                    remove_tree(fd, e->name, depth + 1);
                    again = 1;
                }
            }
            if (n < 0) break;
        }
    }
    if (fd >= 0) close(fd);
    unlinkat(parent, name, AT_REMOVEDIR);
}

static void on_fatal_signal(int sig)
{
    int saved = errno;
    if (sig_dir_set) remove_tree(AT_FDCWD, sig_dir, 0);
    errno = saved;
    signal(sig, SIG_DFL); /* then die of the signal, as without the handler */
    raise(sig);
}

static void guard_signals(const char *dir)
{
    snprintf(sig_dir, sizeof sig_dir, "%s", dir);
    sig_dir_set = 1;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_fatal_signal;
    sigfillset(&sa.sa_mask);
    for (size_t i = 0; i < N_FATAL; i++) {
        struct sigaction old;
        /* a signal the caller ignores stays ignored (nohup, a shell's background job) */
        if (sigaction(fatal_signals[i], NULL, &old) != 0 || old.sa_handler != SIG_DFL) continue;
        handled[i] = sigaction(fatal_signals[i], &sa, &saved_actions[i]) == 0;
    }
}

static void unguard_signals(void)
{
    for (size_t i = 0; i < N_FATAL; i++)
        if (handled[i]) sigaction(fatal_signals[i], &saved_actions[i], NULL), handled[i] = 0;
    sig_dir_set = 0;
}

void cli_package_close(cli_package *pkg)
{
    if (!pkg) return;
    if (pkg->dir[0]) {
        remove_tree(AT_FDCWD, pkg->dir, 0);
        unguard_signals();
    }
    if (pkg->lock >= 0) close(pkg->lock);
    for (size_t i = 0; i < pkg->n_types; i++) rm_python_node_type_free(pkg->types[i]);
    free(pkg->types);
    free(pkg);
}

/* Removes the directories of package runs that were killed by SIGKILL: ours
 * (same user), named rmedia-pkg-XXXXXX, and not locked.  A run holds a
 * flock on its directory from just after creating it to its end, and the
 * kernel drops the lock when the process dies however it dies; the age
 * check covers the instant between mkdtemp and flock. */
static void sweep_stale(const char *tmp)
{
    DIR *d = opendir(tmp);
    if (!d) return;
    struct dirent *e;
    while ((e = readdir(d))) {
        struct stat st;
        if (strncmp(e->d_name, "rmedia-pkg-", 11) || strlen(e->d_name) != 17) continue;
        if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISDIR(st.st_mode) ||
            st.st_uid != geteuid() || time(NULL) - st.st_ctime < 5)
            continue;
        int fd = openat(dirfd(d), e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd >= 0 && flock(fd, LOCK_EX | LOCK_NB) == 0) remove_tree(dirfd(d), e->d_name, 0);
        if (fd >= 0) close(fd);
    }
    closedir(d);
}

/* The interpreter PythonNode workers start (python_node.c: $REMOTEMEDIA_PYTHON,
 * else /usr/bin/python3), checked before anything is extracted. */
static int check_interpreter(const char *path, const char *type, const char *member)
{
    const char *env = getenv("REMOTEMEDIA_PYTHON");
    const char *py = env && *env ? env : "/usr/bin/python3";
    if (access(py, X_OK) == 0) return 0;
    fprintf(stderr,
            "%s: %s: error: Python node type '%s' needs a Python interpreter: %s%s cannot be executed (%s); "
            "set REMOTEMEDIA_PYTHON to one\n",
            path, member, type, py, env && *env ? " (REMOTEMEDIA_PYTHON)" : "", strerror(errno));
    return -1;
}

/* Which declared Python type node `i` of the manifest uses, or -1. */
static int node_python_type(const rm_package *p, const json_t *node, rm_package_python_type *t, char *mod,
                            size_t cap)
{
    const char *type = json_string_value(json_object_get(node, "node_type"));
    for (size_t k = 0; type && k < rm_package_python_type_count(p); k++)
        if (rm_package_python_type_at(p, k, t, mod, cap) == 0 && !strcmp(t->name, type)) return (int)k;
    return -1;
}

/* Checks the manifest's Python nodes against the run's options and, when
 * they may run, extracts the python/ files and registers their types in
 * `rt`.  Returns EXIT_OK (pkg set when something was extracted) or an exit
 * code, with every problem printed. */
static int setup_python(rm_runtime *rt, const char *path, const rm_package *p, const rm_manifest *m,
                        int allow_python, int remote, cli_package **out)
{
    const json_t *nodes = json_object_get(rm_manifest_json(m), "nodes"), *node;
    size_t i;
    int code = EXIT_OK, used = 0;
    char mod[512];
    rm_package_python_type t;
    json_array_foreach(nodes, i, node)
    {
        const char *id = json_string_value(json_object_get(node, "id"));
        const char *type = json_string_value(json_object_get(node, "node_type"));
        char where[64], at[48];
        int line = 0, col = 0;
        snprintf(at, sizeof at, "nodes[%zu].node_type", i);
        rm_manifest_locate(m, at, &line, &col);
        snprintf(where, sizeof where, "manifest.json:%d:%d", line, col);
        const rm_node_type *nt = type ? rm_runtime_find_node_type(rt, type) : NULL;
        if (nt && nt->family && !strcmp(nt->family, "python")) {
            /* PythonNode names any module on the host: not part of the format */
            fprintf(stderr,
                    "%s: %s: error: node '%s': %s is not available to packages; a package defines its Python "
                    "node types in python/ (@node) and declares them in metadata.json "
                    "(runtime_info.python_node_types)\n",
                    path, where, id ? id : "", type);
            code = EXIT_INVALID;
            continue;
        }
        if (node_python_type(p, node, &t, mod, sizeof mod) < 0) continue;
        used = 1;
        if (remote) {
            fprintf(stderr,
                    "%s: %s: error: node '%s' (%s) uses Python node type '%s' defined here, which runs the "
                    "package's python/ files: a server does not have them; run the package locally "
                    "(rmedia run --allow-python %s)\n",
                    path, t.member, id ? id : "", where, t.name, path);
            code = EXIT_INVALID;
        } else if (!allow_python) {
            fprintf(stderr,
                    "%s: %s: error: node '%s' (%s) uses Python node type '%s' defined here: running it runs "
                    "the package's Python code, which needs --allow-python (rmedia run --allow-python %s)\n",
                    path, t.member, id ? id : "", where, t.name, path);
            code = EXIT_USAGE;
        }
    }
    if (code != EXIT_OK || !used) return code;
    if (rm_package_python_type_at(p, 0, &t, mod, sizeof mod) == 0 && check_interpreter(path, t.name, t.member) != 0)
        return EXIT_ENV;

    cli_package *pkg = calloc(1, sizeof *pkg);
    if (pkg) pkg->lock = -1;
    size_t nt = rm_package_python_type_count(p);
    if (!pkg || !(pkg->types = calloc(nt ? nt : 1, sizeof *pkg->types))) {
        free(pkg);
        return cli_error("out of memory"), EXIT_RUNTIME;
    }
    const char *tmp = getenv("TMPDIR");
    tmp = tmp && *tmp ? tmp : "/tmp";
    sweep_stale(tmp);
    snprintf(pkg->dir, sizeof pkg->dir, "%s/rmedia-pkg-XXXXXX", tmp);
    if (mkdtemp(pkg->dir)) { /* mode 0700 */
        pkg->lock = open(pkg->dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (pkg->lock >= 0) flock(pkg->lock, LOCK_EX);
    } else {
        cli_error("%s: cannot create a temporary directory for its python/ files (%s): %s", path, pkg->dir,
                  strerror(errno));
        pkg->dir[0] = 0;
        cli_package_close(pkg);
        return EXIT_IO;
    }
    guard_signals(pkg->dir);
    rm_package_report *r = rm_package_report_new();
    int rc = r ? rm_package_extract_python(p, pkg->dir, r) : RM_ENOMEM;
    print_report(path, r);
    rm_package_report_free(r);
    if (rc != 0) {
        cli_package_close(pkg);
        return rc == RM_ENOMEM ? EXIT_RUNTIME : EXIT_IO;
    }
    for (size_t k = 0; k < nt; k++) {
        char cls[1024], origin[4200];
        rm_error err;
        rm_error_clear(&err);
        if (rm_package_python_type_at(p, k, &t, mod, sizeof mod) != 0) continue;
        snprintf(cls, sizeof cls, "%s:%s", t.module, t.cls);
        snprintf(origin, sizeof origin, "%s of %s", t.member, path);
        rm_python_class_type spec = {t.name, cls, pkg->dir, origin};
        rc = rm_python_node_type_new(&spec, &pkg->types[pkg->n_types], &err);
        if (rc == 0) pkg->n_types++;
        if (rc == 0) rc = rm_runtime_register(rt, pkg->types[pkg->n_types - 1], &err);
        if (rc != 0) {
            fprintf(stderr, "%s: %s: error: cannot run Python node type '%s': %s\n", path, t.member, t.name,
                    err.message[0] ? err.message : rm_strerror(rc));
            cli_package_close(pkg);
            return rc == RM_ENOTSUP ? EXIT_ENV : EXIT_RUNTIME;
        }
    }
    *out = pkg;
    return EXIT_OK;
}

rm_manifest *cli_package_manifest(rm_runtime *rt, const char *path, int allow_python, int remote, rm_diags *d,
                                  cli_package **pkg, int *exit_code)
{
    *pkg = NULL;
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
    if (rc != 0) {
        rm_package_free(p);
        cli_print_diags(d);
        *exit_code = cli_exit_for(rc);
        return NULL;
    }
    int code = setup_python(rt, path, p, m, allow_python, remote, pkg);
    rm_package_free(p);
    if (code != EXIT_OK) {
        rm_manifest_free(m);
        *exit_code = code;
        return NULL;
    }
    return m;
}
