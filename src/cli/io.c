/* rmedia input and output helpers: atomic output files, frame ↔ JSON. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "cli.h"

#ifdef __wasi__
/* WASI has no process ids; the sandbox's one process owns its files. */
#define cli_pid() 0L
#else
#define cli_pid() ((long)getpid())
#endif

/* Regular files are written beside their final name and renamed into place,
 * so a failed run leaves nothing half-written.  Anything else that already
 * exists (/dev/null, a FIFO, a terminal) is written in place: renaming a
 * temporary file onto it would replace the device node itself. */
char *cli_tmp_name(const char *path)
{
    struct stat st;
    if (stat(path, &st) == 0 && !S_ISREG(st.st_mode)) {
        char *same = strdup(path);
        if (!same) cli_error("out of memory");
        return same;
    }
    size_t n = strlen(path) + 32;
    char *tmp = malloc(n);
    if (tmp) snprintf(tmp, n, "%s.tmp-%ld", path, cli_pid());
    else cli_error("out of memory");
    return tmp;
}

int cli_commit_file(const char *tmp, const char *path, int ok)
{
    if (!strcmp(tmp, path)) return ok ? 0 : -1; /* written in place */
    if (ok && rename(tmp, path) != 0) {
        cli_error("cannot write '%s': %s", path, strerror(errno));
        ok = 0;
    }
    if (!ok) unlink(tmp);
    return ok ? 0 : -1;
}

int cli_out_open(cli_out *o, const char *path)
{
    memset(o, 0, sizeof *o);
    if (!path || !strcmp(path, "-")) {
        o->f = stdout;
        return 0;
    }
    o->path = strdup(path);
    o->tmp = cli_tmp_name(path);
    if (!o->path || !o->tmp) {
        free(o->path);
        free(o->tmp);
        return -1;
    }
    o->f = fopen(o->tmp, "wb");
    if (!o->f) {
        cli_error("cannot write '%s': %s", path, strerror(errno));
        free(o->path);
        free(o->tmp);
        memset(o, 0, sizeof *o);
        return -1;
    }
    return 0;
}

int cli_out_close(cli_out *o, int commit)
{
    if (!o->f) return 0;
    if (o->f == stdout) {
        int rc = fflush(stdout) == 0 ? 0 : -1;
        if (rc) cli_error("cannot write to standard output: %s", strerror(errno));
        o->f = NULL;
        return rc;
    }
    int rc = 0;
    if (fflush(o->f) != 0 || ferror(o->f)) {
        if (commit) cli_error("cannot write '%s': %s", o->path, strerror(errno));
        rc = -1;
    }
    if (fclose(o->f) != 0 && rc == 0) {
        if (commit) cli_error("cannot write '%s': %s", o->path, strerror(errno));
        rc = -1;
    }
    if (cli_commit_file(o->tmp, o->path, commit && rc == 0) != 0) rc = -1;
    free(o->path);
    free(o->tmp);
    memset(o, 0, sizeof *o);
    return commit ? rc : 0;
}

char *cli_read_all(FILE *f, size_t *len)
{
    size_t cap = 65536, n = 0;
    char *buf = malloc(cap);
    if (!buf) return NULL;
    for (;;) {
        if (n + 1 >= cap) {
            char *p = realloc(buf, cap * 2);
            if (!p) {
                free(buf);
                return NULL;
            }
            buf = p;
            cap *= 2;
        }
        size_t r = fread(buf + n, 1, cap - n - 1, f);
        n += r;
        if (r == 0) break;
    }
    if (ferror(f)) {
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    *len = n;
    return buf;
}

json_t *cli_frame_to_json(const rm_frame *f)
{
    switch (f->kind) {
    case RM_FRAME_JSON: return json_incref(f->u.json.value);
    case RM_FRAME_TEXT: return json_stringn(f->u.text.data, f->u.text.len);
    case RM_FRAME_AUDIO:
        return json_pack("{s:s, s:s, s:i, s:i, s:I}", "kind", "audio", "format",
                         rm_sample_format_name(f->u.audio.format), "rate", (int)f->u.audio.rate,
                         "channels", (int)f->u.audio.channels, "frames", (json_int_t)f->u.audio.frames);
    case RM_FRAME_VIDEO:
        return json_pack("{s:s, s:i, s:i, s:I}", "kind", "video", "width", (int)f->u.video.width, "height",
                         (int)f->u.video.height, "bytes", (json_int_t)f->u.video.size);
    case RM_FRAME_TENSOR: {
        json_t *shape = json_array();
        for (uint32_t i = 0; i < f->u.tensor.ndim; i++) json_array_append_new(shape, json_integer(f->u.tensor.shape[i]));
        return json_pack("{s:s, s:s, s:o}", "kind", "tensor", "dtype", rm_dtype_name(f->u.tensor.dtype), "shape", shape);
    }
    case RM_FRAME_BINARY:
        return json_pack("{s:s, s:I}", "kind", "binary", "bytes", (json_int_t)f->u.binary.size);
    }
    return json_null();
}

rm_frame *cli_json_to_frame(json_t *v)
{
    if (json_is_string(v)) {
        rm_frame *f = rm_frame_new_text(json_string_value(v), json_string_length(v));
        json_decref(v);
        return f;
    }
    return rm_frame_new_json(v);
}
