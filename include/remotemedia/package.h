/*
 * remotemedia/package.h — .rmpkg packages: create and validate (docs/rmpkg.md).
 *
 * A package is a zip archive holding a pipeline and the wasm runtime that
 * runs it in a browser (REFERENCE.md §7.3, format version 1.0.0):
 *
 *   manifest.json   the manifest (JSON) with runtime.target = "wasm32-wasi"
 *   runtime.wasm    the runtime (build/wasm/remotemedia.wasm)
 *   metadata.json   name, version, node types, sizes (optional when reading)
 *   python/...      Python node sources (optional)
 *   checksums       "<sha256 hex>  <member>" per line for every other member
 *
 * Validation reads the whole package before it trusts any of it and reports
 * every problem it finds, each naming the member (and line:column inside
 * manifest.json): not a zip, missing or unexpected members, unsafe member
 * names (absolute, "..", backslashes), sizes and compression ratios over
 * the limits (zip bombs), checksum mismatches, a runtime.wasm that is not a
 * WebAssembly 1 module, an invalid manifest or metadata, and node types the
 * runtime given to the check lacks.
 *
 * This is a host-layer module (libzip, OpenSSL's libcrypto for sha256) built
 * into native hosts only (rm_package); the core does not depend on it.
 * Thread rules: a report or package belongs to one thread at a time; the
 * functions keep no global state.
 */
#ifndef REMOTEMEDIA_PACKAGE_H
#define REMOTEMEDIA_PACKAGE_H

#include <stddef.h>

#include "manifest.h"
#include "runtime.h"

#ifdef __cplusplus
extern "C" {
#endif

#define RM_PACKAGE_FORMAT_VERSION "1.0.0"
#define RM_PACKAGE_WASM_TARGET "wasm32-wasi"

/* What a package may hold.  rm_package_limits_init() sets the defaults
 * given here (docs/rmpkg.md, "Limits"). */
typedef struct rm_package_limits {
    size_t max_package_bytes;  /* the .rmpkg file: 100 MiB                     */
    size_t max_members;        /* entries in the zip: 1000                     */
    size_t max_manifest_bytes; /* manifest.json uncompressed: 4 MiB            */
    size_t max_metadata_bytes; /* metadata.json and checksums: 1 MiB each      */
    size_t max_wasm_bytes;     /* runtime.wasm: 64 MiB                         */
    size_t max_python_bytes;   /* one python/ file: 8 MiB                      */
    size_t max_total_bytes;    /* all members uncompressed: 128 MiB            */
    size_t max_ratio;          /* uncompressed / compressed of a member above   */
    size_t ratio_min_bytes;    /* ratio_min_bytes (100 above 1 MiB)            */
} rm_package_limits;

void rm_package_limits_init(rm_package_limits *lim);

/* ------------------------------------------------------------ reports --- */

/* One problem: `text` is "member[:line:col]: error: message" (or
 * "warning:"), without the package name; `member` is "" for the package as
 * a whole. */
typedef struct rm_package_problem {
    rm_diag_severity severity;
    int code;            /* RM_E* */
    const char *member;
    const char *text;
} rm_package_problem;

typedef struct rm_package_report rm_package_report;

rm_package_report *rm_package_report_new(void); /* NULL on allocation failure */
void rm_package_report_free(rm_package_report *r);
size_t rm_package_report_count(const rm_package_report *r);
size_t rm_package_report_errors(const rm_package_report *r);
const rm_package_problem *rm_package_report_at(const rm_package_report *r, size_t i); /* borrowed */

/* ---------------------------------------------------------- validation --- */

/* A validated package: its members, read into memory. */
typedef struct rm_package rm_package;

/* Validates the package in `data` (borrowed).  `rt` (may be NULL: node
 * types are not checked) is the runtime the manifest must compile against;
 * `lim` NULL means the defaults.  Every problem goes into `report`.
 * Returns 0 with *out set (out may be NULL to only check) when there is no
 * error, else RM_EINVAL (bad package) or RM_ENOMEM, with *out NULL. */
int rm_package_open_bytes(const void *data, size_t len, rm_runtime *rt, const rm_package_limits *lim,
                          rm_package **out, rm_package_report *report);
/* The same for a file; RM_EIO (in the report) if it cannot be read. */
int rm_package_open_file(const char *path, rm_runtime *rt, const rm_package_limits *lim, rm_package **out,
                         rm_package_report *report);
void rm_package_free(rm_package *p); /* NULL is ignored */

/* A member's bytes (borrowed, valid while `p` lives; NUL-terminated after
 * `len` bytes), or NULL when the package has no such member. */
const unsigned char *rm_package_member(const rm_package *p, const char *name, size_t *len);
size_t rm_package_member_count(const rm_package *p);
const char *rm_package_member_name(const rm_package *p, size_t i);

/* --------------------------------------------------- Python node types --- */

/* A node type the package defines in a python/ file and declares in
 * metadata.json (runtime_info.python_node_types; docs/rmpkg.md). */
typedef struct rm_package_python_type {
    const char *name;   /* the node type, "Normalize"                          */
    const char *member; /* the member that defines it, "python/text_nodes.py"   */
    const char *module; /* its module: python/a/b.py -> "a.b",
                           python/a/__init__.py -> "a"                        */
    const char *cls;    /* the class its @node decorator decorates (the type
                           name when no class line follows the decorator)    */
} rm_package_python_type;

/* The declared Python node types of a validated package, in declaration
 * order.  `out`'s strings are borrowed from `p`, except `module`, written
 * into the caller's `module` buffer of `cap` bytes.  Returns 0,
 * RM_ENOTFOUND past the end, RM_ELIMIT when the buffer is too small. */
size_t rm_package_python_type_count(const rm_package *p);
int rm_package_python_type_at(const rm_package *p, size_t i, rm_package_python_type *out, char *module,
                              size_t cap);

/* Writes every python/ member of `p` into the existing directory `dir`
 * (python/a/b.py -> DIR/a/b.py): directories 0700, files 0600, created
 * exclusively and never through a symbolic link, so a member can only land
 * inside `dir`.  The caller makes `dir` private (mkdtemp) and removes it.
 * Problems name the member.  Returns 0, RM_EIO or RM_EINVAL. */
int rm_package_extract_python(const rm_package *p, const char *dir, rm_package_report *report);

/* ------------------------------------------------------------ creation --- */

typedef struct rm_package_input {
    const char *manifest_name;  /* for messages, e.g. the source file name   */
    const char *manifest;       /* JSON text stored as manifest.json         */
    size_t manifest_len;
    const unsigned char *wasm;  /* runtime.wasm                              */
    size_t wasm_len;
    const char *metadata;       /* JSON object merged over the generated     */
    size_t metadata_len;        /* metadata.json; NULL for none               */
    const char *python_dir;     /* directory copied under python/, or NULL    */
    long long created_at;       /* seconds since 1970 for created_at and the
                                   zip timestamps (SOURCE_DATE_EPOCH)        */
} rm_package_input;

/* Writes a package to `path`: to a temporary file next to it, validated
 * with rm_package_open_file against `rt`, then renamed into place, so a
 * failure leaves nothing behind.  Problems (also the manifest's, with
 * line:column) go into `report`. */
int rm_package_write(const char *path, const rm_package_input *in, rm_runtime *rt, rm_package_report *report);

#ifdef __cplusplus
}
#endif
#endif /* REMOTEMEDIA_PACKAGE_H */
