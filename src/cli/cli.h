/* The rmedia command-line tool: shared declarations. */
#ifndef RM_CLI_H
#define RM_CLI_H

#include <stdio.h>

#include "remotemedia/remotemedia.h"

/* Exit codes (documented in `rmedia --help` and the README). */
enum {
    EXIT_OK = 0,
    EXIT_INVALID = 1, /* manifest or parameters invalid                 */
    EXIT_USAGE = 2,   /* bad command line                               */
    EXIT_RUNTIME = 3, /* a node failed while running                    */
    EXIT_IO = 4,      /* input unreadable or invalid, output unwritable */
    EXIT_ENV = 5      /* plugin or library problem                      */
};

typedef struct cli_globals {
    rm_log_level log_level;
    const char *plugins[64];
    int n_plugins;
    const char *plugin_dirs[64];
    int n_plugin_dirs;
} cli_globals;

/* Creates the runtime with the globals' logger and plugins; prints the error
 * and returns NULL on failure (*exit_code set). */
rm_runtime *cli_runtime(const cli_globals *g, int *exit_code);
/* Prints "rmedia: error: ..." to stderr. */
void cli_error(const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 1, 2)))
#endif
    ;
/* Prints compile diagnostics to stderr, each with a note where the CLI can
 * tell more (a node type left out of this build, a plugin not loaded); a
 * diagnostic at a path registered with cli_diag_override() is printed as
 * an error of that --set option instead of a place in the file. */
void cli_print_diags(const rm_diags *d);
/* `path` ("nodes[1].params.addend") was set by "--set LABEL".  Both strings
 * must outlive the printing. */
void cli_diag_override(const char *path, const char *label);
/* True if the logger has just printed this error of node `node_id` (NULL:
 * none): the session logs a node's failure as it happens. */
int cli_already_logged(const char *node_id, const char *text);
/* The candidate closest to `word` if it is a plausible typo of it, else
 * NULL (for "did you mean"). */
const char *cli_suggest(const char *word, const char *const *cands, size_t n);
/* In the wasm build, after an error opening `path`: a note that WASI
 * reaches only preopened directories, when `path` is absolute or goes up
 * with "..".  Nothing elsewhere. */
void cli_path_note(const char *path);
/* Exit code for an rm_* error code. */
int cli_exit_for(int code);

int cmd_run(const cli_globals *g, int argc, char **argv);
int cmd_validate(const cli_globals *g, int argc, char **argv);
int cmd_nodes(const cli_globals *g, int argc, char **argv);
int cmd_inspect(const cli_globals *g, int argc, char **argv);
int cmd_schema(const cli_globals *g, int argc, char **argv);
int cmd_graph(const cli_globals *g, int argc, char **argv);
int cmd_serve(const cli_globals *g, int argc, char **argv); /* cmd_serve.c, RM_WITH_GRPC */
int cmd_remote(const cli_globals *g, int argc, char **argv); /* cmd_remote.c, RM_WITH_GRPC */
int cmd_pack(const cli_globals *g, int argc, char **argv);   /* cmd_pack.c, RM_CLI_PACKAGE */
/* The manifest of a .rmpkg package, after validating the package against
 * `rt` (problems printed); NULL with *exit_code set on failure.  cmd_pack.c.
 * When the manifest uses the package's Python node types (and
 * allow_python is set, and the run is local: remote = 0), their python/
 * files are extracted to a private temporary directory and the types
 * registered in `rt`: *pkg is then set, to be closed after `rt` is freed. */
typedef struct cli_package cli_package;
rm_manifest *cli_package_manifest(rm_runtime *rt, const char *path, int allow_python, int remote, rm_diags *d,
                                  cli_package **pkg, int *exit_code);
/* Removes the temporary directory and frees the types (NULL is ignored). */
void cli_package_close(cli_package *pkg);

/* Where `rmedia run` executes its session: NULL = locally; `rmedia remote
 * run` passes one that runs it on a server.  The graph is still compiled
 * locally (sinks, ports, checks), so both print the same way.  `manifest`
 * is the manifest JSON after --set.  push/end return 0 or an RM_E* code
 * with error() set; outputs (collect mode, no on_output) are listed by
 * count/at. */
#include "remotemedia/session.h"
typedef struct cli_backend {
    void *user;
    int (*open)(void *user, rm_graph *g, const char *manifest, rm_output_fn on_output, void *output_user,
                void **session, rm_error *err);
    int (*push)(void *session, rm_frame *f);
    int (*end)(void *session);
    const rm_error *(*error)(void *session);
    size_t (*count)(void *session);
    const rm_output *(*at)(void *session, size_t i);
    char *(*metrics)(void *session);
    void (*close)(void *session);
} cli_backend;
int cli_run_with(const cli_globals *g, int argc, char **argv, const cli_backend *be);

/* ----------------------------------------------------------------- io --- */

/* Output written to a temporary file next to the target and renamed into
 * place on success, so a failed run never leaves a half-written file.  With
 * path "-" or NULL it is stdout. */
typedef struct cli_out {
    FILE *f;
    char *path, *tmp;
} cli_out;

int cli_out_open(cli_out *o, const char *path);
/* The temporary name an output file is written under (caller frees). */
char *cli_tmp_name(const char *path);
/* Renames `tmp` to `path` when ok, else (or if that fails) removes it.
 * Returns 0, or -1 with an error printed. */
int cli_commit_file(const char *tmp, const char *path, int ok);
/* Renames into place (commit = 1) or removes the temporary file. Returns 0 or
 * -1 with an error printed. */
int cli_out_close(cli_out *o, int commit);

/* Reads a whole file ("-" = stdin) into a NUL-terminated buffer. */
char *cli_read_all(FILE *f, size_t *len);

/* A frame as a JSON value for printing (text → string, json → itself,
 * other kinds → a description).  New reference. */
json_t *cli_frame_to_json(const rm_frame *f);
/* A JSON input value as a frame: strings become text frames, anything else
 * a json frame.  Takes the reference. */
rm_frame *cli_json_to_frame(json_t *v);

#endif
