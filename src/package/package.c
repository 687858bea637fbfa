/*
 * .rmpkg packages (remotemedia/package.h, docs/rmpkg.md): validation and
 * creation on libzip and OpenSSL's sha256.
 *
 * Validation is in two passes so that nothing is decompressed before it is
 * known to be safe: first every entry's name, kind, declared sizes and
 * compression ratio from the central directory; only if all of that passes
 * are the members read, each into a buffer of its declared size (a member
 * whose data runs past its header is refused, not followed).
 */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <zip.h>

#include "remotemedia/graph.h"
#include "remotemedia/node.h"
#include "remotemedia/package.h"

#define MAX_PROBLEMS 200

void rm_package_limits_init(rm_package_limits *lim)
{
    lim->max_package_bytes = 100u << 20;
    lim->max_members = 1000;
    lim->max_manifest_bytes = 4u << 20;
    lim->max_metadata_bytes = 1u << 20;
    lim->max_wasm_bytes = 64u << 20;
    lim->max_python_bytes = 8u << 20;
    lim->max_total_bytes = 128u << 20;
    lim->max_ratio = 100;
    lim->ratio_min_bytes = 1u << 20;
}

/* ------------------------------------------------------------ reports --- */

struct rm_package_report {
    rm_package_problem *items;
    size_t count, cap, errors, dropped;
};

rm_package_report *rm_package_report_new(void) { return calloc(1, sizeof(rm_package_report)); }

void rm_package_report_free(rm_package_report *r)
{
    if (!r) return;
    for (size_t i = 0; i < r->count; i++) {
        free((char *)r->items[i].member);
        free((char *)r->items[i].text);
    }
    free(r->items);
    free(r);
}

size_t rm_package_report_count(const rm_package_report *r) { return r ? r->count : 0; }
size_t rm_package_report_errors(const rm_package_report *r) { return r ? r->errors + r->dropped : 0; }

const rm_package_problem *rm_package_report_at(const rm_package_report *r, size_t i)
{
    return r && i < r->count ? &r->items[i] : NULL;
}

/* Member names come from the archive: show control bytes as '?'. */
static char *printable(const char *s)
{
    char *o = strdup(s ? s : "");
    for (char *p = o; p && *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f) *p = '?';
    return o;
}

static void add_text(rm_package_report *r, rm_diag_severity sev, int code, const char *member, const char *text)
{
    if (!r) return;
    if (sev == RM_DIAG_ERROR) r->errors++;
    if (r->count == MAX_PROBLEMS) { /* counted as errors, not kept */
        if (sev == RM_DIAG_ERROR) r->errors--, r->dropped++;
        return;
    }
    if (r->count == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 8;
        rm_package_problem *n = realloc(r->items, cap * sizeof *n);
        if (!n) return;
        r->items = n;
        r->cap = cap;
    }
    char *m = printable(member), *t = strdup(text);
    if (!m || !t) {
        free(m);
        free(t);
        return;
    }
    r->items[r->count++] = (rm_package_problem){sev, code, m, t};
}

/* "member[:line:col]: error: message" */
static void problem(rm_package_report *r, rm_diag_severity sev, int code, const char *member, int line, int col,
                    const char *fmt, ...)
{
    char msg[768], text[1200], *m = printable(member);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    const char *what = sev == RM_DIAG_ERROR ? "error" : "warning";
    if (m && *m && line > 0) snprintf(text, sizeof text, "%s:%d:%d: %s: %s", m, line, col, what, msg);
    else if (m && *m) snprintf(text, sizeof text, "%s: %s: %s", m, what, msg);
    else snprintf(text, sizeof text, "%s: %s", what, msg);
    add_text(r, sev, code, member, text);
    free(m);
}

#define ERR(r, code, member, ...) problem(r, RM_DIAG_ERROR, code, member, 0, 0, __VA_ARGS__)

static void import_diags(rm_package_report *r, const rm_diags *d, const char *member)
{
    for (size_t i = 0; i < rm_diags_count(d); i++) {
        const rm_diag *x = rm_diags_at(d, i);
        char buf[1200];
        rm_diag_format(x, buf, sizeof buf);
        add_text(r, x->severity, x->code, member, buf);
    }
}

/* ------------------------------------------------------------- sha256 --- */

static int sha256_hex(const void *data, size_t len, char out[65])
{
    unsigned char md[32];
    unsigned int n = 0;
    if (!EVP_Digest(data, len, md, &n, EVP_sha256(), NULL) || n != 32) return -1;
    for (int i = 0; i < 32; i++) snprintf(out + 2 * i, 3, "%02x", md[i]);
    return 0;
}

/* ----------------------------------------------------------- packages --- */

/* ---------------------------------------------- Python node types --- */

/* Python node types in one package (declared, or defined by one file):
 * bounds the work a crafted package can cause. */
#define MAX_PY_TYPES 1000

typedef struct pytype {
    char *name, *member;
    char *cls; /* the class its @node decorator decorates, NULL until known */
} pytype;

typedef struct pytypes {
    pytype *v;
    size_t n;
} pytypes;

static void pytypes_free(pytypes *t)
{
    for (size_t i = 0; i < t->n; i++) free(t->v[i].name), free(t->v[i].member), free(t->v[i].cls);
    free(t->v);
    t->v = NULL, t->n = 0;
}

static int pytypes_find(const pytypes *t, const char *name, size_t len)
{
    for (size_t i = 0; i < t->n; i++)
        if (strlen(t->v[i].name) == len && !memcmp(t->v[i].name, name, len)) return (int)i;
    return -1;
}

static char *strndup_(const char *s, size_t len)
{
    char *n = malloc(len + 1);
    if (n) memcpy(n, s, len), n[len] = 0;
    return n;
}

/* Adds name (len bytes) unless present, with its class (NULL: not known
 * yet); -1 on allocation failure. */
static int pytypes_add(pytypes *t, const char *name, size_t len, const char *from, const char *cls)
{
    if (pytypes_find(t, name, len) >= 0) return 0;
    pytype *nv = realloc(t->v, (t->n + 1) * sizeof *nv);
    if (!nv) return -1;
    t->v = nv;
    char *n = strndup_(name, len), *m = strdup(from), *c = cls ? strdup(cls) : NULL;
    if (!n || !m || (cls && !c)) return free(n), free(m), free(c), -1;
    t->v[t->n++] = (pytype){n, m, c};
    return 0;
}

typedef struct member {
    char *name;
    unsigned char *data; /* NUL-terminated after len */
    size_t len;
    int is_dir;
} member;

struct rm_package {
    member *m;
    size_t n;
    pytypes py; /* the declared Python node types */
};

void rm_package_free(rm_package *p)
{
    if (!p) return;
    for (size_t i = 0; i < p->n; i++) {
        free(p->m[i].name);
        free(p->m[i].data);
    }
    free(p->m);
    pytypes_free(&p->py);
    free(p);
}

static member *find_member(const rm_package *p, const char *name)
{
    for (size_t i = 0; i < p->n; i++)
        if (!p->m[i].is_dir && !strcmp(p->m[i].name, name)) return &p->m[i];
    return NULL;
}

const unsigned char *rm_package_member(const rm_package *p, const char *name, size_t *len)
{
    member *m = p && name ? find_member(p, name) : NULL;
    if (len) *len = m ? m->len : 0;
    return m ? m->data : NULL;
}

size_t rm_package_member_count(const rm_package *p) { return p ? p->n : 0; }
const char *rm_package_member_name(const rm_package *p, size_t i) { return p && i < p->n ? p->m[i].name : NULL; }

size_t rm_package_python_type_count(const rm_package *p) { return p ? p->py.n : 0; }

int rm_package_python_type_at(const rm_package *p, size_t i, rm_package_python_type *out, char *module, size_t cap)
{
    if (!p || i >= p->py.n) return RM_ENOTFOUND;
    const pytype *t = &p->py.v[i];
    /* python/a/b.py -> a.b, python/a/__init__.py -> a (web/src/package.ts, pythonModuleName) */
    const char *rel = t->member + 7;
    size_t n = strlen(rel);
    if (n > 3 && !strcmp(rel + n - 3, ".py")) n -= 3;
    if (n > 9 && !memcmp(rel + n - 9, "/__init__", 9)) n -= 9;
    if (n + 1 > cap) return RM_ELIMIT;
    for (size_t k = 0; k < n; k++) module[k] = rel[k] == '/' ? '.' : rel[k];
    module[n] = 0;
    *out = (rm_package_python_type){t->name, t->member, module, t->cls ? t->cls : t->name};
    return 0;
}

enum kind { K_MANIFEST, K_WASM, K_METADATA, K_CHECKSUMS, K_PYTHON, K_DIR, K_OTHER };

/* Why a member name is unsafe to extract anywhere, or NULL. */
static const char *unsafe_name(const char *s)
{
    if (!*s) return "empty name";
    if (strlen(s) > 255) return "name longer than 255 bytes";
    if (s[0] == '/') return "absolute path";
    for (const char *p = s; *p; p++) {
        if (*p == '\\') return "backslash in the name";
        if ((unsigned char)*p < 0x20 || *p == 0x7f) return "control character in the name";
        if (*p == ':') return "':' in the name (drive letter or stream)";
    }
    /* components: none empty (except after a final '/'), none "." or ".." */
    for (const char *c = s; *c;) {
        const char *e = strchr(c, '/');
        size_t n = e ? (size_t)(e - c) : strlen(c);
        if (n == 2 && c[0] == '.' && c[1] == '.') return "'..' in the path (path traversal)";
        if (n == 1 && c[0] == '.') return "'.' component in the path";
        if (n == 0) return "empty path component";
        if (!e) break;
        c = e + 1;
    }
    return NULL;
}

static enum kind classify(const char *name)
{
    size_t n = strlen(name);
    if (!strcmp(name, "manifest.json")) return K_MANIFEST;
    if (!strcmp(name, "runtime.wasm")) return K_WASM;
    if (!strcmp(name, "metadata.json")) return K_METADATA;
    if (!strcmp(name, "checksums")) return K_CHECKSUMS;
    if (!strncmp(name, "python/", 7)) return name[n - 1] == '/' ? K_DIR : n > 7 ? K_PYTHON : K_DIR;
    return K_OTHER;
}

static const char *mib(size_t bytes, char buf[32])
{
    if (bytes >= (1u << 20) && bytes % (1u << 20) == 0) snprintf(buf, 32, "%zu MiB", bytes >> 20);
    else snprintf(buf, 32, "%zu bytes", bytes);
    return buf;
}

/* Pass 1: the central directory only.  Returns the number of errors. */
static size_t check_directory(zip_t *z, const rm_package_limits *lim, rm_package_report *r, rm_package *p)
{
    size_t before = rm_package_report_errors(r);
    zip_int64_t n = zip_get_num_entries(z, 0);
    if (n < 0) n = 0;
    if ((size_t)n > lim->max_members) {
        ERR(r, RM_ELIMIT, "", "the archive has %lld entries, over the limit of %zu", (long long)n, lim->max_members);
        return 1;
    }
    p->m = calloc((size_t)n ? (size_t)n : 1, sizeof *p->m);
    if (!p->m) {
        ERR(r, RM_ENOMEM, "", "out of memory");
        return 1;
    }
    unsigned long long total = 0;
    int total_reported = 0;
    for (zip_int64_t i = 0; i < n; i++) {
        zip_stat_t st;
        zip_stat_init(&st);
        if (zip_stat_index(z, (zip_uint64_t)i, ZIP_FL_ENC_RAW, &st) != 0 || !(st.valid & ZIP_STAT_NAME)) {
            ERR(r, RM_EPARSE, "", "entry %lld: unreadable directory record (%s)", (long long)i, zip_strerror(z));
            continue;
        }
        const char *name = st.name;
        const char *why = unsafe_name(name);
        if (why) {
            ERR(r, RM_EINVAL, name, "unsafe member name: %s", why);
            continue;
        }
        member *m = &p->m[p->n];
        if (!(m->name = strdup(name))) {
            ERR(r, RM_ENOMEM, "", "out of memory");
            return 1;
        }
        p->n++;
        for (size_t k = 0; k + 1 < p->n; k++)
            if (!strcmp(p->m[k].name, name)) ERR(r, RM_EINVAL, name, "appears twice in the archive");
        enum kind kind = classify(name);
        if (kind == K_OTHER) {
            ERR(r, RM_EINVAL, name,
                "not part of the format (manifest.json, runtime.wasm, metadata.json, checksums, python/...)");
            continue;
        }
        if (kind == K_DIR) {
            m->is_dir = 1;
            continue;
        }
        if (st.encryption_method != ZIP_EM_NONE) {
            ERR(r, RM_EINVAL, name, "encrypted members are not supported");
            continue;
        }
        if (st.comp_method != ZIP_CM_STORE && st.comp_method != ZIP_CM_DEFLATE) {
            ERR(r, RM_EINVAL, name, "compression method %d; only stored and deflate are allowed",
                (int)st.comp_method);
            continue;
        }
        size_t limit = kind == K_MANIFEST ? lim->max_manifest_bytes
                       : kind == K_WASM   ? lim->max_wasm_bytes
                       : kind == K_PYTHON ? lim->max_python_bytes
                                          : lim->max_metadata_bytes;
        char b1[32];
        if (st.size > limit) {
            ERR(r, RM_ELIMIT, name, "%llu bytes uncompressed, over the limit of %s", (unsigned long long)st.size,
                mib(limit, b1));
            continue;
        }
        if (st.size > lim->ratio_min_bytes && st.size / (st.comp_size ? st.comp_size : 1) > lim->max_ratio) {
            ERR(r, RM_ELIMIT, name,
                "compression ratio %llu:1 (%llu bytes from %llu) is over the limit of %zu:1 (zip bomb)",
                (unsigned long long)(st.size / (st.comp_size ? st.comp_size : 1)), (unsigned long long)st.size,
                (unsigned long long)st.comp_size, lim->max_ratio);
            continue;
        }
        total += st.size;
        if (total > lim->max_total_bytes && !total_reported) {
            total_reported = 1;
            ERR(r, RM_ELIMIT, name, "the members so far add up to %llu bytes uncompressed, over the limit of %s "
                "(zip bomb)", total, mib(lim->max_total_bytes, b1));
        }
        m->len = st.size;
    }
    return rm_package_report_errors(r) - before;
}

/* Pass 2: reads one member into a buffer of its declared size. */
static int read_member(zip_t *z, zip_uint64_t index, member *m, rm_package_report *r)
{
    if (!(m->data = malloc(m->len + 1))) {
        ERR(r, RM_ENOMEM, m->name, "out of memory");
        return -1;
    }
    zip_file_t *f = zip_fopen_index(z, index, 0);
    if (!f) {
        ERR(r, RM_EPARSE, m->name, "cannot read the member: %s", zip_strerror(z));
        return -1;
    }
    size_t got = 0;
    int rc = 0;
    while (got < m->len) {
        zip_int64_t k = zip_fread(f, m->data + got, m->len - got);
        if (k <= 0) break;
        got += (size_t)k;
    }
    unsigned char extra;
    zip_int64_t more = got == m->len ? zip_fread(f, &extra, 1) : 0;
    if (more < 0 || (got < m->len && zip_file_get_error(f) && zip_error_code_zip(zip_file_get_error(f)))) {
        ERR(r, RM_EPARSE, m->name, "damaged data: %s", zip_file_strerror(f));
        rc = -1;
    } else if (got != m->len || more > 0) {
        ERR(r, RM_EPARSE, m->name, "the data is %s than the %zu bytes its header declares",
            more > 0 ? "longer" : "shorter", m->len);
        rc = -1;
    }
    zip_fclose(f);
    m->data[got] = 0;
    return rc;
}

static void check_checksums(rm_package *p, rm_package_report *r)
{
    member *cs = find_member(p, "checksums");
    if (!cs) return;
    char *listed = calloc(p->n ? p->n : 1, 1);
    if (!listed) return;
    const char *s = (const char *)cs->data, *end = s + cs->len;
    int line = 0;
    while (s < end) {
        const char *nl = memchr(s, '\n', (size_t)(end - s));
        size_t n = nl ? (size_t)(nl - s) : (size_t)(end - s);
        line++;
        char hex[65], name[300];
        if (n == 0) goto next;
        if (n < 67 || n - 66 >= sizeof name || s[64] != ' ' || s[65] != ' ') {
            problem(r, RM_DIAG_ERROR, RM_EPARSE, "checksums", line, 1,
                    "expected '<64 hex digits>  <member name>' (as sha256sum prints it)");
            goto next;
        }
        memcpy(hex, s, 64);
        hex[64] = 0;
        memcpy(name, s + 66, n - 66);
        name[n - 66] = 0;
        if (strspn(hex, "0123456789abcdef") != 64) {
            problem(r, RM_DIAG_ERROR, RM_EPARSE, "checksums", line, 1, "the sha256 is not 64 lowercase hex digits");
            goto next;
        }
        size_t k = 0;
        while (k < p->n && (p->m[k].is_dir || strcmp(p->m[k].name, name))) k++;
        if (k == p->n || !strcmp(name, "checksums")) {
            problem(r, RM_DIAG_ERROR, RM_EINVAL, "checksums", line, 67, "lists '%s', which is not a member", name);
            goto next;
        }
        if (listed[k]++) {
            problem(r, RM_DIAG_ERROR, RM_EINVAL, "checksums", line, 67, "lists '%s' twice", name);
            goto next;
        }
        char have[65];
        if (sha256_hex(p->m[k].data, p->m[k].len, have) != 0) ERR(r, RM_EINTERNAL, name, "sha256 failed");
        else if (strcmp(have, hex))
            ERR(r, RM_EINVAL, name, "checksum mismatch: sha256 is %s, checksums (line %d) says %s", have, line, hex);
    next:
        if (!nl) break;
        s = nl + 1;
    }
    for (size_t k = 0; k < p->n; k++)
        if (!p->m[k].is_dir && !listed[k] && strcmp(p->m[k].name, "checksums"))
            ERR(r, RM_EINVAL, p->m[k].name, "has no line in checksums");
    free(listed);
}

static void check_wasm(const member *w, rm_package_report *r)
{
    static const unsigned char magic[4] = {0, 'a', 's', 'm'};
    if (w->len < 8 || memcmp(w->data, magic, 4)) {
        ERR(r, RM_EINVAL, "runtime.wasm", "not a WebAssembly module: it does not start with the magic \\0asm");
        return;
    }
    unsigned version = w->data[4] | w->data[5] << 8 | (unsigned)w->data[6] << 16 | (unsigned)w->data[7] << 24;
    if (version != 1)
        ERR(r, RM_EINVAL, "runtime.wasm", "WebAssembly binary version 0x%08x; the runtime must be a version 1 module",
            version);
}

/* ---------------------------------------------- Python node types --- */

/* A package may define node types in its python/ files; metadata.json
 * declares them as runtime_info.python_node_types {"Type": "python/f.py"}.
 * Neither side imports Python to find them: the packers and validators read
 * the same decorator lines (docs/rmpkg.md, "Python node types"), here and in
 * web/src/package.ts, so both accept and refuse the same packages.
 *
 *   @remotemedia.node("Name") / @node(name="Name")   → Name
 *   @node() / @node(doc="...")  then  class Name:   → Name
 */
static int ident_start(char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_'; }
static int ident_char(char c) { return ident_start(c) || (c >= '0' && c <= '9'); }

static const char *skip_blank(const char *p, const char *e)
{
    while (p < e && (*p == ' ' || *p == '\t' || *p == '\r')) p++;
    return p;
}

/* "Name" or 'Name' at p (an identifier in quotes): its length, else 0. */
static size_t quoted_ident(const char *p, const char *e, const char **name)
{
    if (p >= e || (*p != '"' && *p != '\'') || p + 1 >= e || !ident_start(p[1])) return 0;
    const char *q = p + 1;
    while (q < e && ident_char(*q)) q++;
    if (q >= e || *q != *p) return 0;
    *name = p + 1;
    return (size_t)(q - p - 1);
}

/* The node types the Python source `s` defines, added to `out` as from
 * `from`, each with the class its decorator decorates (the next `class`
 * line; native hosts import that class).  -1 on allocation failure, -2 past
 * MAX_PY_TYPES. */
static int scan_python_types(const char *s, size_t len, const char *from, pytypes *out)
{
    const char *end = s + len;
    int pending = 0; /* a @node(...) without a name: the next class names it */
    int named = -1;  /* a @node("Name"): out->v[named] waits for its class */
    while (s < end) {
        const char *nl = memchr(s, '\n', (size_t)(end - s)), *le = nl ? nl : end;
        const char *p = skip_blank(s, le), *name = NULL;
        size_t n = 0;
        if (p < le && *p == '@') {
            const char *last = NULL;
            size_t lastn = 0;
            p = skip_blank(p + 1, le);
            while (p < le && ident_start(*p)) {
                last = p;
                while (p < le && ident_char(*p)) p++;
                lastn = (size_t)(p - last);
                p = skip_blank(p, le);
                if (p < le && *p == '.') p = skip_blank(p + 1, le);
                else break;
            }
            if (last && lastn == 4 && !memcmp(last, "node", 4) && p < le && *p == '(') {
                p = skip_blank(p + 1, le);
                n = quoted_ident(p, le, &name);
                for (const char *q = p; !n && q + 4 <= le; q++) {
                    if (memcmp(q, "name", 4) || (q > p && q[-1] != ' ' && q[-1] != ',' && q[-1] != '(')) continue;
                    const char *v = skip_blank(q + 4, le);
                    if (v < le && *v == '=' && (v + 1 >= le || v[1] != '='))
                        n = quoted_ident(skip_blank(v + 1, le), le, &name);
                }
                pending = !n;
                if (n && pytypes_add(out, name, n, from, NULL) != 0) return -1;
                named = n ? pytypes_find(out, name, n) : -1;
            }
        } else if ((pending || named >= 0) && le - p > 5 && !memcmp(p, "class", 5) &&
                   (p[5] == ' ' || p[5] == '\t')) {
            p = skip_blank(p + 5, le);
            name = p;
            while (p < le && ident_char(*p)) p++;
            n = ident_start(*name) ? (size_t)(p - name) : 0;
            char *cls = n ? strndup_(name, n) : NULL;
            if (n && !cls) return -1;
            if (pending && n && pytypes_add(out, name, n, from, cls) != 0) return free(cls), -1;
            if (named >= 0 && cls && !out->v[named].cls) out->v[named].cls = cls, cls = NULL;
            free(cls);
            pending = 0, named = -1;
        } else if ((pending || named >= 0) && p < le && *p != '#') {
            pending = 0, named = -1; /* @node decorates a class; this is something else */
        }
        if (out->n > MAX_PY_TYPES) return -2;
        s = nl ? nl + 1 : end;
    }
    return 0;
}

static int is_ident(const char *s)
{
    if (!ident_start(*s)) return 0;
    while (*++s)
        if (!ident_char(*s)) return 0;
    return 1;
}

#define PNT "runtime_info.python_node_types"

/* Reads and checks the declaration in metadata.json (each type must be
 * defined by the member it names, and not be one of the runtime's own);
 * fills `out`. */
static void check_python_types(const rm_package *p, rm_runtime *rt, pytypes *out, rm_package_report *r)
{
    member *md = find_member(p, "metadata.json");
    json_t *v = md ? json_loadb((const char *)md->data, md->len, JSON_REJECT_DUPLICATES, NULL) : NULL;
    const json_t *decl = json_object_get(json_object_get(v, "runtime_info"), "python_node_types");
    const char *type;
    const json_t *file;
    /* each member is read once: what it defines, by member index */
    pytypes *found = calloc(p->n ? p->n : 1, sizeof *found);
    char *scanned = calloc(p->n ? p->n : 1, 1);
    if (!found || !scanned) ERR(r, RM_ENOMEM, "metadata.json", "out of memory");
    else if (decl && !json_is_object(decl))
        ERR(r, RM_EINVAL, "metadata.json", PNT ": expected an object {\"NodeType\": \"python/FILE.py\"}");
    else if (json_object_size(decl) > MAX_PY_TYPES)
        ERR(r, RM_ELIMIT, "metadata.json", PNT ": %zu types, over the limit of %d", json_object_size(decl),
            MAX_PY_TYPES);
    else json_object_foreach((json_t *)decl, type, file)
    {
        const char *f = json_string_value(file);
        member *m = f && !strncmp(f, "python/", 7) ? find_member(p, f) : NULL;
        size_t k = m ? (size_t)(m - p->m) : 0;
        if (m && !scanned[k]) {
            scanned[k] = 1;
            int sc = scan_python_types((const char *)m->data, m->len, f, &found[k]);
            if (sc == -2) ERR(r, RM_ELIMIT, f, "defines more than %d Python node types", MAX_PY_TYPES);
            else if (sc == -1) ERR(r, RM_ENOMEM, f, "out of memory");
        }
        if (!is_ident(type)) ERR(r, RM_EINVAL, "metadata.json", PNT ": '%s' is not a node type name", type);
        else if (!f) ERR(r, RM_EINVAL, "metadata.json", PNT ": '%s': expected a member name \"python/FILE.py\"", type);
        else if (!m)
            ERR(r, RM_EINVAL, "metadata.json", PNT ": '%s' is declared in '%s', which is not a python/ member", type, f);
        else if (rt && rm_runtime_find_node_type(rt, type))
            ERR(r, RM_EINVAL, "metadata.json", PNT ": '%s' is a node type of the runtime already", type);
        else if (pytypes_find(&found[k], type, strlen(type)) < 0)
            ERR(r, RM_EINVAL, f, "does not define Python node type '%s' (metadata.json declares it in " PNT ")",
                type);
        else if (pytypes_add(out, type, strlen(type), f,
                             found[k].v[pytypes_find(&found[k], type, strlen(type))].cls) != 0)
            ERR(r, RM_ENOMEM, "metadata.json", "out of memory");
    }
    for (size_t i = 0; found && i < p->n; i++) pytypes_free(&found[i]);
    free(found);
    free(scanned);
    json_decref(v);
}

/* The descriptor of a Python node type the package declares, so that the
 * validator can compile the manifest against it: any parameters, the default
 * ports.  It only compiles: the validator's runtime never runs a session.
 * Hosts run the type from the package's python/ file (Pyodide in the
 * browser; natively rmedia run --allow-python, src/cli/cmd_pack.c). */
typedef struct {
    const json_t *args;
} declared_py_config;

static const rm_param_def declared_py_params[] = {
    {"args", RM_PARAM_JSON, offsetof(declared_py_config, args), "the node's parameters", 0, "{}", 0, 0, NULL, NULL,
     RM_PARAM_REST},
    {NULL, 0, 0, NULL, 0, NULL, 0, 0, NULL, NULL, 0},
};

static int declared_py_process(rm_node *node, void *state, unsigned port, const rm_frame *f)
{
    (void)state, (void)port, (void)f;
    return rm_node_fail(node, RM_ENOTSUP, "a Python node type of a package: the validator's runtime does not run it");
}

/* A runtime with the node types of `rt` plus the declared Python `types`;
 * their descriptors go to *decls (free after the runtime).  NULL on failure. */
static rm_runtime *runtime_with_python(rm_runtime *rt, const pytypes *types, rm_node_type **decls,
                                       rm_package_report *r)
{
    rm_runtime_opts o;
    rm_runtime_opts_init(&o);
    o.flags |= RM_RUNTIME_NO_ENV_PLUGINS;
    o.log_level = RM_LOG_ERROR;
    rm_runtime *x = NULL;
    rm_error err;
    rm_error_clear(&err);
    int rc = rm_runtime_new(&o, &x, &err);
    *decls = rc == 0 ? calloc(types->n ? types->n : 1, sizeof **decls) : NULL;
    if (rc == 0 && !*decls) rc = RM_ENOMEM;
    for (size_t i = 0; rc == 0 && i < rm_runtime_node_type_count(rt); i++)
        rc = rm_runtime_register(x, rm_runtime_node_type_at(rt, i), &err);
    for (size_t i = 0; rc == 0 && i < types->n; i++) {
        (*decls)[i] = (rm_node_type){
            .abi_version = RM_NODE_ABI_VERSION,
            .name = types->v[i].name,
            .doc = "Python node type of this package",
            .family = "python",
            .params = declared_py_params,
            .config_size = sizeof(declared_py_config),
            .process = declared_py_process,
        };
        rc = rm_runtime_register(x, &(*decls)[i], &err);
    }
    if (rc != 0) {
        ERR(r, rc, "manifest.json", "cannot check the node types: %s", err.message[0] ? err.message : rm_strerror(rc));
        rm_runtime_free(x);
        free(*decls);
        *decls = NULL;
        return NULL;
    }
    return x;
}

/* The parts of manifest.json the core does not check: `runtime`. */
static void check_runtime_key(const rm_manifest *mf, rm_package_report *r)
{
    const json_t *root = rm_manifest_json(mf);
    const json_t *rtk = json_object_get(root, "runtime");
    int line = 0, col = 0;
    if (!rtk) {
        problem(r, RM_DIAG_WARNING, RM_EMANIFEST, "manifest.json", 0, 0,
                "no 'runtime' object; assuming runtime.target \"" RM_PACKAGE_WASM_TARGET "\"");
        return;
    }
    rm_manifest_locate(mf, "runtime", &line, &col);
    if (!json_is_object(rtk)) {
        problem(r, RM_DIAG_ERROR, RM_EMANIFEST, "manifest.json", line, col, "runtime: expected an object");
        return;
    }
    const json_t *t = json_object_get(rtk, "target");
    if (t) rm_manifest_locate(mf, "runtime.target", &line, &col);
    if (!t)
        problem(r, RM_DIAG_ERROR, RM_EMANIFEST, "manifest.json", line, col,
                "runtime.target is missing (must be \"" RM_PACKAGE_WASM_TARGET "\")");
    else if (!json_is_string(t) || strcmp(json_string_value(t), RM_PACKAGE_WASM_TARGET))
        problem(r, RM_DIAG_ERROR, RM_EMANIFEST, "manifest.json", line, col,
                "runtime.target must be \"" RM_PACKAGE_WASM_TARGET "\"");
}

static void check_manifest(const member *mm, rm_runtime *rt, const pytypes *py, rm_package_report *r)
{
    rm_diags *d = rm_diags_new();
    if (!d) {
        ERR(r, RM_ENOMEM, "manifest.json", "out of memory");
        return;
    }
    rm_manifest *mf = NULL;
    int rc = rm_manifest_load_string((const char *)mm->data, mm->len, "manifest.json", RM_MANIFEST_JSON, &mf, d);
    if (rc == 0) {
        check_runtime_key(mf, r);
        rm_graph *g = NULL;
        rm_node_type *decls = NULL;
        rm_runtime *x = rt && py && py->n ? runtime_with_python(rt, py, &decls, r) : rt;
        if (x && rm_graph_compile(x, mf, NULL, &g, d) == 0) rm_graph_unref(g);
        if (x != rt) rm_runtime_free(x);
        free(decls);
    }
    import_diags(r, d, "manifest.json");
    if (rc != 0 && !rm_diags_count_severity(d, RM_DIAG_ERROR))
        ERR(r, rc, "manifest.json", "cannot parse: %s", rm_strerror(rc));
    rm_manifest_free(mf);
    rm_diags_free(d);
}

static void check_metadata(const member *md, rm_package_report *r)
{
    json_error_t je;
    json_t *v = json_loadb((const char *)md->data, md->len, JSON_REJECT_DUPLICATES, &je);
    if (!v) problem(r, RM_DIAG_ERROR, RM_EPARSE, "metadata.json", je.line, je.column, "invalid JSON: %s", je.text);
    else if (!json_is_object(v)) ERR(r, RM_EPARSE, "metadata.json", "expected a JSON object");
    json_decref(v);
}

int rm_package_open_bytes(const void *data, size_t len, rm_runtime *rt, const rm_package_limits *lim,
                          rm_package **out, rm_package_report *report)
{
    rm_package_limits dl;
    if (!lim) rm_package_limits_init(&dl), lim = &dl;
    if (out) *out = NULL;
    size_t errors0 = rm_package_report_errors(report);
    if (len > lim->max_package_bytes) {
        char b[32];
        ERR(report, RM_ELIMIT, "", "the package is %zu bytes, over the limit of %s", len,
            mib(lim->max_package_bytes, b));
        return RM_EINVAL;
    }
    if (len < 22) { /* the end-of-directory record alone is 22 bytes */
        ERR(report, RM_EPARSE, "", "not a zip archive (%zu bytes)", len);
        return RM_EINVAL;
    }
    zip_error_t ze;
    zip_error_init(&ze);
    zip_source_t *src = zip_source_buffer_create(len ? data : "", len, 0, &ze);
    zip_t *z = src ? zip_open_from_source(src, ZIP_RDONLY | ZIP_CHECKCONS, &ze) : NULL;
    if (!z) {
        int code = zip_error_code_zip(&ze);
        if (code == ZIP_ER_NOZIP) ERR(report, RM_EPARSE, "", "not a zip archive");
        else if (code == ZIP_ER_EXISTS) ERR(report, RM_EINVAL, "", "two members have the same name");
        else ERR(report, RM_EPARSE, "", "damaged zip archive: %s", zip_error_strerror(&ze));
        zip_error_fini(&ze);
        zip_source_free(src);
        return RM_EINVAL;
    }
    zip_error_fini(&ze);
    rm_package *p = calloc(1, sizeof *p);
    int rc = 0;
    if (!p) {
        ERR(report, RM_ENOMEM, "", "out of memory");
        zip_discard(z);
        return RM_ENOMEM;
    }
    if (check_directory(z, lim, report, p) == 0) {
        /* Indices of p->m follow the archive's entries (pass 1 stopped at
         * none, since it found no error). */
        for (size_t i = 0; i < p->n; i++)
            if (!p->m[i].is_dir && read_member(z, i, &p->m[i], report) != 0) rc = -1;
        static const char *const required[] = {"manifest.json", "runtime.wasm", "checksums"};
        for (size_t i = 0; i < 3; i++)
            if (!find_member(p, required[i])) ERR(report, RM_ENOTFOUND, required[i], "missing (a required member)");
        if (rc == 0) {
            check_checksums(p, report);
            member *m;
            if ((m = find_member(p, "runtime.wasm"))) check_wasm(m, report);
            if ((m = find_member(p, "metadata.json"))) check_metadata(m, report);
            pytypes py = {0};
            size_t before = rm_package_report_errors(report);
            check_python_types(p, rt, &py, report);
            /* with a wrong declaration the node types are not checked (they
             * would only repeat the problem), as in web/src/package.ts */
            int decl_ok = rm_package_report_errors(report) == before;
            if ((m = find_member(p, "manifest.json"))) check_manifest(m, decl_ok ? rt : NULL, &py, report);
            p->py = py; /* freed with p */
        }
    }
    zip_discard(z);
    if (rm_package_report_errors(report) != errors0) {
        rm_package_free(p);
        return RM_EINVAL;
    }
    if (out) *out = p;
    else rm_package_free(p);
    return 0;
}

/* Reads at most max + 1 bytes of a file (more means over the limit). */
static unsigned char *read_file(const char *path, size_t max, size_t *len, rm_package_report *r, const char *what)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        ERR(r, RM_EIO, what, "cannot open %s: %s", path, strerror(errno));
        return NULL;
    }
    size_t cap = 1 << 16, n = 0;
    unsigned char *buf = malloc(cap + 1);
    while (buf) {
        if (n == cap) {
            if (cap > max) break;
            unsigned char *nb = realloc(buf, cap * 2 + 1);
            if (!nb) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb, cap *= 2;
        }
        size_t k = fread(buf + n, 1, cap - n, f);
        n += k;
        if (k == 0) break;
    }
    int bad = ferror(f);
    fclose(f);
    if (!buf || bad) {
        ERR(r, buf ? RM_EIO : RM_ENOMEM, what, "cannot read %s%s%s", path, bad ? ": " : "",
            bad ? strerror(errno) : "");
        free(buf);
        return NULL;
    }
    if (n > max) {
        char b[32];
        ERR(r, RM_ELIMIT, what, "%s is over the limit of %s", path, mib(max, b));
        free(buf);
        return NULL;
    }
    buf[n] = 0;
    *len = n;
    return buf;
}

int rm_package_open_file(const char *path, rm_runtime *rt, const rm_package_limits *lim, rm_package **out,
                         rm_package_report *report)
{
    rm_package_limits dl;
    if (!lim) rm_package_limits_init(&dl), lim = &dl;
    if (out) *out = NULL;
    struct stat st;
    if (stat(path, &st) == 0 && S_ISREG(st.st_mode) && (unsigned long long)st.st_size > lim->max_package_bytes) {
        char b[32];
        ERR(report, RM_ELIMIT, "", "the package is %lld bytes, over the limit of %s", (long long)st.st_size,
            mib(lim->max_package_bytes, b));
        return RM_EINVAL;
    }
    size_t len = 0;
    unsigned char *data = read_file(path, lim->max_package_bytes, &len, report, "");
    if (!data) return RM_EIO;
    int rc = rm_package_open_bytes(data, len, rt, lim, out, report);
    free(data);
    return rc;
}

/* ---------------------------------------------------------- extraction --- */

static int write_all(int fd, const unsigned char *d, size_t len)
{
    while (len > 0) {
        ssize_t w = write(fd, d, len);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return -1;
        d += w, len -= (size_t)w;
    }
    return 0;
}

/* Writes python/REL as dir/REL.  Every step is relative to a directory
 * descriptor opened without following symbolic links, and files are
 * created exclusively, so nothing outside `dir` can be reached or
 * overwritten even if `dir` is not empty. */
static int extract_one(int root, const member *m, rm_package_report *r)
{
    const char *c = m->name + 7;
    int fd = dup(root);
    for (const char *slash; fd >= 0 && (slash = strchr(c, '/')); c = slash + 1) {
        char part[256];
        size_t n = (size_t)(slash - c);
        if (n >= sizeof part) break; /* not possible after unsafe_name() */
        memcpy(part, c, n);
        part[n] = 0;
        int sub = mkdirat(fd, part, 0700) == 0 || errno == EEXIST
                      ? openat(fd, part, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
                      : -1;
        close(fd);
        fd = sub;
    }
    int f = fd >= 0 ? openat(fd, c, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600) : -1;
    int rc = f >= 0 && write_all(f, m->data, m->len) == 0 ? 0 : -1;
    if (rc != 0) ERR(r, RM_EIO, m->name, "cannot extract: %s", strerror(errno));
    if (f >= 0 && close(f) != 0 && rc == 0) {
        ERR(r, RM_EIO, m->name, "cannot extract: %s", strerror(errno));
        rc = -1;
    }
    if (fd >= 0) close(fd);
    return rc;
}

int rm_package_extract_python(const rm_package *p, const char *dir, rm_package_report *r)
{
    int root = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (root < 0) {
        ERR(r, RM_EIO, "", "cannot open the directory %s: %s", dir, strerror(errno));
        return RM_EIO;
    }
    int rc = 0;
    for (size_t i = 0; rc == 0 && p && i < p->n; i++) {
        const member *m = &p->m[i];
        size_t n = strlen(m->name);
        if (m->is_dir || n <= 7 || strncmp(m->name, "python/", 7) || m->name[n - 1] == '/') continue;
        const char *why = unsafe_name(m->name); /* checked by validation; again before writing */
        if (why) {
            ERR(r, RM_EINVAL, m->name, "unsafe member name: %s", why);
            rc = RM_EINVAL;
        } else if (extract_one(root, m, r) != 0) {
            rc = RM_EIO;
        }
    }
    close(root);
    return rc;
}

/* ------------------------------------------------------------ creation --- */

typedef struct wfile {
    char *name;
    unsigned char *data;
    size_t len;
} wfile;

typedef struct wlist {
    wfile *f;
    size_t n, cap;
} wlist;

static int wlist_add(wlist *l, const char *name, unsigned char *data, size_t len)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 8;
        wfile *nf = realloc(l->f, cap * sizeof *nf);
        if (!nf) return -1;
        l->f = nf, l->cap = cap;
    }
    if (!(l->f[l->n].name = strdup(name))) return -1;
    l->f[l->n].data = data;
    l->f[l->n++].len = len;
    return 0;
}

static void wlist_free(wlist *l)
{
    for (size_t i = 0; i < l->n; i++) {
        free(l->f[i].name);
        free(l->f[i].data);
    }
    free(l->f);
}

static int cmp_names(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Adds the regular files under dir (sorted, recursively) as prefix/... */
static int add_dir(wlist *l, const char *dir, const char *prefix, int depth, const rm_package_limits *lim,
                   rm_package_report *r)
{
    if (depth > 16) {
        ERR(r, RM_ELIMIT, prefix, "directories nested more than 16 deep");
        return -1;
    }
    DIR *d = opendir(dir);
    if (!d) {
        ERR(r, RM_EIO, prefix, "cannot open directory %s: %s", dir, strerror(errno));
        return -1;
    }
    char **names = NULL;
    size_t n = 0, cap = 0;
    int rc = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..") || !strcmp(e->d_name, "__pycache__")) continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            char **nn = realloc(names, cap * sizeof *nn);
            if (!nn) {
                rc = -1;
                break;
            }
            names = nn;
        }
        if (!(names[n] = strdup(e->d_name))) {
            rc = -1;
            break;
        }
        n++;
    }
    closedir(d);
    if (names) qsort(names, n, sizeof *names, cmp_names);
    for (size_t i = 0; i < n && rc == 0; i++) {
        size_t pl = strlen(dir) + strlen(names[i]) + 2, ml = strlen(prefix) + strlen(names[i]) + 2;
        char *path = malloc(pl), *mname = malloc(ml);
        struct stat st;
        if (!path || !mname) rc = -1;
        else {
            snprintf(path, pl, "%s/%s", dir, names[i]);
            snprintf(mname, ml, "%s/%s", prefix, names[i]);
            if (lstat(path, &st) != 0) {
                ERR(r, RM_EIO, mname, "cannot stat %s: %s", path, strerror(errno));
                rc = -1;
            } else if (S_ISDIR(st.st_mode)) rc = add_dir(l, path, mname, depth + 1, lim, r);
            else if (!S_ISREG(st.st_mode)) {
                ERR(r, RM_EINVAL, mname, "%s is not a regular file (symbolic links are not packed)", path);
                rc = -1;
            } else if (unsafe_name(mname)) {
                ERR(r, RM_EINVAL, mname, "unsafe member name: %s", unsafe_name(mname));
                rc = -1;
            } else {
                size_t len = 0;
                unsigned char *data = read_file(path, lim->max_python_bytes, &len, r, mname);
                if (!data || wlist_add(l, mname, data, len) != 0) {
                    free(data);
                    rc = -1;
                }
            }
        }
        free(path);
        free(mname);
    }
    for (size_t i = 0; i < n; i++) free(names[i]);
    free(names);
    return rc;
}

static int cmp_str_json(const void *a, const void *b)
{
    return strcmp(json_string_value(*(json_t *const *)a), json_string_value(*(json_t *const *)b));
}

/* metadata.json as REFERENCE.md §7.3 describes it, from the manifest. */
static json_t *make_metadata(const json_t *man, const rm_package_input *in, int has_python, const pytypes *py)
{
    const json_t *mm = json_object_get(man, "metadata");
    const char *name = json_string_value(json_object_get(mm, "name"));
    const char *version = json_string_value(json_object_get(mm, "version"));
    json_t *types = json_array();
    const json_t *nodes = json_object_get(man, "nodes"), *node;
    size_t i;
    int python_nodes = has_python;
    json_array_foreach(nodes, i, node)
    {
        const char *t = json_string_value(json_object_get(node, "node_type"));
        if (!t) continue;
        if (strstr(t, "Python")) python_nodes = 1;
        size_t k;
        json_t *have;
        int dup = 0;
        json_array_foreach(types, k, have) dup |= !strcmp(json_string_value(have), t);
        if (!dup) json_array_append_new(types, json_string(t));
    }
    /* sorted, so that the same manifest always gives the same package */
    size_t nt = json_array_size(types);
    json_t **v = malloc((nt ? nt : 1) * sizeof *v);
    json_t *sorted = json_array();
    if (v) {
        for (size_t k = 0; k < nt; k++) v[k] = json_array_get(types, k);
        qsort(v, nt, sizeof *v, cmp_str_json);
        for (size_t k = 0; k < nt; k++) json_array_append(sorted, v[k]);
        free(v);
    }
    json_decref(types);
    char when[32];
    time_t t = (time_t)in->created_at;
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
    double wasm_mib = (double)in->wasm_len / (1 << 20);
    json_t *md = json_pack(
        "{s:s, s:s, s:s, s:s, s:{s:s, s:I, s:b, s:b, s:o, s:I, s:I}, s:{s:i, s:i, s:I}}",
        "format_version", RM_PACKAGE_FORMAT_VERSION, "package_name", name ? name : "pipeline", "package_version",
        version ? version : "1.0.0", "created_at", when, "runtime_info", "target", RM_PACKAGE_WASM_TARGET,
        "wasm_size_bytes", (json_int_t)in->wasm_len, "has_python_nodes", python_nodes, "has_rust_nodes", 0,
        "node_types", sorted, "node_count", (json_int_t)json_array_size(nodes), "connection_count",
        (json_int_t)json_array_size(json_object_get(man, "connections")), "performance_hints",
        "expected_load_time_ms", in->wasm_len < (10u << 20) ? 50 : 200, "expected_execution_time_ms",
        python_nodes ? 50 : 10, "memory_requirement_mb", (json_int_t)(wasm_mib + 0.999999) + 20);
    if (md && has_python) { /* the declaration validators check (check_python_types) */
        json_t *decl = json_object();
        for (size_t k = 0; k < py->n; k++) json_object_set_new(decl, py->v[k].name, json_string(py->v[k].member));
        json_object_set_new(json_object_get(md, "runtime_info"), "python_node_types", decl);
    }
    return md;
}

int rm_package_write(const char *path, const rm_package_input *in, rm_runtime *rt, rm_package_report *r)
{
    rm_package_limits lim;
    rm_package_limits_init(&lim);
    size_t e0 = rm_package_report_errors(r);
    const char *mname = in->manifest_name ? in->manifest_name : "manifest.json";
    /* The manifest must be valid before anything is written. */
    json_error_t je;
    json_t *man = json_loadb(in->manifest, in->manifest_len, JSON_REJECT_DUPLICATES, &je);
    if (!man) {
        problem(r, RM_DIAG_ERROR, RM_EPARSE, mname, je.line, je.column, "invalid JSON: %s", je.text);
        return RM_EINVAL;
    }
    /* The python/ files first: the node types they define are part of the
     * manifest's runtime. */
    wlist pyfiles = {0};
    pytypes py = {0};
    if (in->python_dir && add_dir(&pyfiles, in->python_dir, "python", 0, &lim, r) != 0) {
        wlist_free(&pyfiles);
        json_decref(man);
        return RM_EINVAL;
    }
    for (size_t i = 0; i < pyfiles.n; i++) {
        size_t nl = strlen(pyfiles.f[i].name);
        int sc = nl > 3 && !strcmp(pyfiles.f[i].name + nl - 3, ".py")
                     ? scan_python_types((const char *)pyfiles.f[i].data, pyfiles.f[i].len, pyfiles.f[i].name, &py)
                     : 0;
        if (sc == -2) ERR(r, RM_ELIMIT, pyfiles.f[i].name, "defines more than %d Python node types", MAX_PY_TYPES);
        if (sc == -1) ERR(r, RM_ENOMEM, "", "out of memory");
        if (sc != 0) break;
    }
    for (size_t i = 0; rt && i < py.n; i++)
        if (rm_runtime_find_node_type(rt, py.v[i].name))
            ERR(r, RM_EINVAL, py.v[i].member, "defines Python node type '%s', which the runtime has already",
                py.v[i].name);
    {
        member mm = {(char *)"manifest.json", (unsigned char *)in->manifest, in->manifest_len, 0};
        rm_package_report *tmp = rm_package_report_new();
        if (!tmp) {
            json_decref(man);
            wlist_free(&pyfiles);
            pytypes_free(&py);
            return RM_ENOMEM;
        }
        check_manifest(&mm, rt, &py, tmp);
        /* Report the manifest's problems under its source name. */
        for (size_t i = 0; i < rm_package_report_count(tmp); i++) {
            const rm_package_problem *x = rm_package_report_at(tmp, i);
            const char *rest = !strncmp(x->text, "manifest.json", 13) ? x->text + 13 : x->text;
            char *t = malloc(strlen(mname) + strlen(rest) + 1);
            if (t) {
                sprintf(t, "%s%s", mname, rest);
                add_text(r, x->severity, x->code, mname, t);
            }
            free(t);
        }
        rm_package_report_free(tmp);
    }
    if (in->wasm_len < 8 || memcmp(in->wasm, "\0asm\1\0\0\0", 8))
        ERR(r, RM_EINVAL, "runtime.wasm", "the runtime is not a WebAssembly version 1 module");
    if (rm_package_report_errors(r) != e0) {
        json_decref(man);
        wlist_free(&pyfiles);
        pytypes_free(&py);
        return RM_EINVAL;
    }

    wlist files = {0};
    int rc = 0;
    unsigned char *mcopy = malloc(in->manifest_len + 1), *wcopy = malloc(in->wasm_len ? in->wasm_len : 1);
    if (!mcopy || !wcopy || wlist_add(&files, "manifest.json", mcopy, in->manifest_len) != 0) {
        free(mcopy);
        free(wcopy);
        rc = RM_ENOMEM;
    } else {
        memcpy(mcopy, in->manifest, in->manifest_len);
        memcpy(wcopy, in->wasm, in->wasm_len);
        if (wlist_add(&files, "runtime.wasm", wcopy, in->wasm_len) != 0) free(wcopy), rc = RM_ENOMEM;
    }
    for (size_t i = 0; i < pyfiles.n; i++) { /* moved into files */
        if (rc == 0 && wlist_add(&files, pyfiles.f[i].name, pyfiles.f[i].data, pyfiles.f[i].len) != 0) rc = RM_ENOMEM;
        if (rc != 0) free(pyfiles.f[i].data);
        free(pyfiles.f[i].name);
    }
    free(pyfiles.f);
    json_t *md = rc == 0 ? make_metadata(man, in, pyfiles.n > 0, &py) : NULL;
    pytypes_free(&py);
    if (rc == 0 && !md) rc = RM_ENOMEM;
    if (rc == 0 && in->metadata) {
        json_t *user = json_loadb(in->metadata, in->metadata_len, JSON_REJECT_DUPLICATES, &je);
        if (!user || !json_is_object(user)) {
            problem(r, RM_DIAG_ERROR, RM_EPARSE, "metadata", user ? 0 : je.line, user ? 0 : je.column, "%s",
                    user ? "expected a JSON object" : je.text);
            rc = RM_EINVAL;
        } else json_object_update(md, user);
        json_decref(user);
    }
    char *mdtext = md ? json_dumps(md, JSON_INDENT(2)) : NULL;
    json_decref(md);
    json_decref(man);
    if (rc == 0 && (!mdtext || wlist_add(&files, "metadata.json", (unsigned char *)mdtext, strlen(mdtext)) != 0))
        free(mdtext), rc = rc ? rc : RM_ENOMEM;
    else if (rc != 0) free(mdtext);
    /* checksums: every member, in the order they are stored */
    if (rc == 0) {
        size_t cap = files.n * 330 + 1, n = 0;
        char *cs = malloc(cap);
        for (size_t i = 0; cs && i < files.n; i++) {
            char hex[65];
            if (sha256_hex(files.f[i].data, files.f[i].len, hex) != 0) {
                free(cs);
                cs = NULL;
                break;
            }
            n += (size_t)snprintf(cs + n, cap - n, "%s  %s\n", hex, files.f[i].name);
        }
        if (!cs || wlist_add(&files, "checksums", (unsigned char *)cs, n) != 0) free(cs), rc = RM_ENOMEM;
    }

    /* Write to a temporary file, check it, then rename into place. */
    size_t tl = strlen(path) + 32;
    char *tmp = malloc(tl);
    if (rc == 0 && !tmp) rc = RM_ENOMEM;
    if (rc == 0) {
        snprintf(tmp, tl, "%s.tmp-%ld", path, (long)getpid());
        int zerr = 0;
        zip_t *z = zip_open(tmp, ZIP_CREATE | ZIP_TRUNCATE, &zerr);
        if (!z) {
            zip_error_t ze;
            zip_error_init_with_code(&ze, zerr);
            ERR(r, RM_EIO, "", "cannot create %s: %s", tmp, zip_error_strerror(&ze));
            zip_error_fini(&ze);
            rc = RM_EIO;
        }
        for (size_t i = 0; rc == 0 && i < files.n; i++) {
            zip_source_t *s = zip_source_buffer(z, files.f[i].data, files.f[i].len, 0);
            zip_int64_t idx = s ? zip_file_add(z, files.f[i].name, s, ZIP_FL_ENC_UTF_8) : -1;
            if (idx < 0) zip_source_free(s);
            if (idx < 0 || zip_set_file_compression(z, (zip_uint64_t)idx, ZIP_CM_DEFLATE, 9) != 0 ||
                zip_file_set_mtime(z, (zip_uint64_t)idx, (time_t)in->created_at, 0) != 0) {
                ERR(r, RM_EIO, files.f[i].name, "cannot add to the archive: %s", zip_strerror(z));
                rc = RM_EIO;
            }
        }
        if (z && rc == 0 && zip_close(z) != 0) {
            ERR(r, RM_EIO, "", "cannot write %s: %s", path, zip_strerror(z));
            rc = RM_EIO;
        }
        if (z && rc != 0) zip_discard(z); /* after a failed zip_close too */
        if (rc == 0) {
            rm_package_report *chk = rm_package_report_new();
            int vr = chk ? rm_package_open_file(tmp, rt, NULL, NULL, chk) : RM_ENOMEM;
            for (size_t i = 0; i < rm_package_report_count(chk); i++) {
                const rm_package_problem *x = rm_package_report_at(chk, i);
                if (x->severity == RM_DIAG_ERROR) add_text(r, x->severity, x->code, x->member, x->text);
            }
            rm_package_report_free(chk);
            if (vr != 0) rc = vr;
        }
        if (rc == 0 && rename(tmp, path) != 0) {
            ERR(r, RM_EIO, "", "cannot rename %s to %s: %s", tmp, path, strerror(errno));
            rc = RM_EIO;
        }
        if (rc != 0) unlink(tmp);
    }
    free(tmp);
    wlist_free(&files);
    return rc;
}
