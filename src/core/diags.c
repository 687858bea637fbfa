/* Diagnostics: the list of problems found while loading and compiling. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

typedef struct diag_impl {
    rm_diag pub;
    char *file, *path, *node_id, *message;
} diag_impl;

struct rm_diags {
    diag_impl *items;
    size_t n, cap;
    /* RM_MANIFEST_MAX_DIAGS errors (warnings) kept: the rest are dropped,
     * counted apart so that a flood of warnings cannot hide an error */
    size_t n_err, n_warn;
    int full, warn_full;
};

rm_diags *rm_diags_new(void) { return calloc(1, sizeof(rm_diags)); }

void rm_diags_clear(rm_diags *d)
{
    if (!d) return;
    for (size_t i = 0; i < d->n; i++) {
        free(d->items[i].file);
        free(d->items[i].path);
        free(d->items[i].node_id);
        free(d->items[i].message);
    }
    d->n = d->n_err = d->n_warn = 0;
    d->full = d->warn_full = 0;
}

void rm_diags_free(rm_diags *d)
{
    if (!d) return;
    rm_diags_clear(d);
    free(d->items);
    free(d);
}

size_t rm_diags_count(const rm_diags *d) { return d ? d->n : 0; }

size_t rm_diags_count_severity(const rm_diags *d, rm_diag_severity sev)
{
    size_t k = 0;
    for (size_t i = 0; d && i < d->n; i++) k += d->items[i].pub.severity == sev;
    return k;
}

int rm__diags_full(const rm_diags *d) { return d && d->full; }

const rm_diag *rm_diags_at(const rm_diags *d, size_t i)
{
    return d && i < d->n ? &d->items[i].pub : NULL;
}

static int add(rm_diags *d, rm_diag_severity sev, const char *file, int line, int col, int code,
               const char *path, const char *node_id, const char *msg)
{
    int warn = sev == RM_DIAG_WARNING;
    if (!d || (warn ? d->warn_full : d->full)) return code;
    if ((warn ? d->n_warn : d->n_err) == RM_MANIFEST_MAX_DIAGS) {
        /* a client's manifest with a million bad keys gets a bounded answer */
        if (warn) d->warn_full = 1;
        else d->full = 1;
        line = col = 0;
        path = "";
        node_id = NULL;
        msg = warn ? "too many warnings; only the first ones are shown"
                   : "too many problems; only the first ones are shown";
    }
    if (d->n == d->cap) {
        size_t cap = d->cap ? d->cap * 2 : 8;
        diag_impl *p = realloc(d->items, cap * sizeof *p);
        if (!p) return code;
        d->items = p;
        d->cap = cap;
    }
    diag_impl *x = &d->items[d->n];
    memset(x, 0, sizeof *x);
    x->file = file ? rm__strdup(file) : NULL;
    x->path = rm__strdup(path ? path : "");
    x->node_id = node_id ? rm__strdup(node_id) : NULL;
    x->message = rm__strdup(msg);
    if (!x->path || !x->message) {
        free(x->file);
        free(x->path);
        free(x->node_id);
        free(x->message);
        return code;
    }
    x->pub.code = code;
    x->pub.file = x->file;
    x->pub.line = line;
    x->pub.column = col;
    x->pub.path = x->path;
    x->pub.node_id = x->node_id;
    x->pub.message = x->message;
    x->pub.severity = sev;
    d->n++;
    if (warn) d->n_warn++;
    else d->n_err++;
    return code;
}

int rm__diag_at(rm_diags *d, const char *file, int line, int col, int code, const char *path,
                const char *node_id, const char *msg)
{
    return add(d, RM_DIAG_ERROR, file, line, col, code, path, node_id, msg);
}

static int vdiag(rm_diags *d, rm_diag_severity sev, const rm_manifest *m, int code, const char *path,
                 const char *node_id, const char *fmt, va_list ap)
{
    if (!d || (sev == RM_DIAG_WARNING ? d->warn_full : d->full)) return code; /* skip the lookup too */
    char msg[1024];
    vsnprintf(msg, sizeof msg, fmt, ap);
    int line = 0, col = 0;
    const char *file = NULL;
    if (m) {
        file = rm_manifest_file(m);
        if (path) rm_manifest_locate(m, path, &line, &col);
    }
    return add(d, sev, file, line, col, code, path, node_id, msg);
}

void rm__warn(rm_diags *d, const rm_manifest *m, const char *path, const char *node_id, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vdiag(d, RM_DIAG_WARNING, m, 0, path, node_id, fmt, ap);
    va_end(ap);
}

int rm__diag(rm_diags *d, const rm_manifest *m, int code, const char *path, const char *node_id,
             const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = vdiag(d, RM_DIAG_ERROR, m, code, path, node_id, fmt, ap);
    va_end(ap);
    return rc;
}

int rm_diag_format(const rm_diag *x, char *buf, size_t cap)
{
    rm__buf b;
    rm__buf_init(&b);
    if (x->file) {
        rm__buf_puts(&b, x->file);
        if (x->line > 0) rm__buf_printf(&b, ":%d:%d", x->line, x->column);
        rm__buf_puts(&b, ": ");
    }
    rm__buf_puts(&b, x->severity == RM_DIAG_WARNING ? "warning: " : "error: ");
    if (x->node_id) rm__buf_printf(&b, "node '%s': ", x->node_id);
    rm__buf_puts(&b, x->message);
    if (x->path && *x->path) rm__buf_printf(&b, " (at %s)", x->path);
    int n = (int)b.len;
    if (cap) snprintf(buf, cap, "%s", b.data ? b.data : "");
    rm__buf_free(&b);
    return n;
}

char *rm_diags_to_string(const rm_diags *d)
{
    rm__buf b;
    rm__buf_init(&b);
    for (size_t i = 0; d && i < d->n; i++) {
        int n = rm_diag_format(&d->items[i].pub, NULL, 0);
        char *line = malloc((size_t)n + 1);
        if (!line) {
            rm__buf_free(&b);
            return NULL;
        }
        rm_diag_format(&d->items[i].pub, line, (size_t)n + 1);
        rm__buf_puts(&b, line);
        rm__buf_puts(&b, "\n");
        free(line);
    }
    return rm__buf_steal(&b);
}

void rm_diags_to_error(const rm_diags *d, rm_error *err)
{
    if (!err) return;
    if (!d || d->n == 0) {
        rm_error_set(err, RM_EMANIFEST, NULL, "invalid manifest");
        return;
    }
    size_t errors = rm_diags_count_severity(d, RM_DIAG_ERROR);
    const rm_diag *x = &d->items[0].pub;
    for (size_t i = 0; i < d->n; i++)
        if (d->items[i].pub.severity == RM_DIAG_ERROR) {
            x = &d->items[i].pub;
            break;
        }
    char msg[sizeof err->message];
    rm_diag_format(x, msg, sizeof msg);
    if (errors > 1) {
        size_t len = strlen(msg);
        snprintf(msg + len, sizeof msg - len, " (and %zu more problem%s)", errors - 1,
                 errors > 2 ? "s" : "");
    }
    rm_error_set(err, x->code ? x->code : RM_EMANIFEST, x->node_id, "%s", msg);
}
