/* Small string helpers: growable buffer, edit distance, camelCase, UTF-8. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

void rm__buf_init(rm__buf *b) { memset(b, 0, sizeof *b); }

void rm__buf_free(rm__buf *b)
{
    free(b->data);
    rm__buf_init(b);
}

static int buf_reserve(rm__buf *b, size_t extra)
{
    if (b->oom) return -1;
    if (b->len + extra + 1 <= b->cap) return 0;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < b->len + extra + 1) cap *= 2;
    char *p = realloc(b->data, cap);
    if (!p) {
        b->oom = 1;
        return -1;
    }
    b->data = p;
    b->cap = cap;
    return 0;
}

void rm__buf_append(rm__buf *b, const char *s, size_t n)
{
    if (buf_reserve(b, n) != 0) return;
    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
}

void rm__buf_puts(rm__buf *b, const char *s) { rm__buf_append(b, s, strlen(s)); }

void rm__buf_vprintf(rm__buf *b, const char *fmt, va_list ap)
{
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    if (n < 0 || buf_reserve(b, (size_t)n) != 0) return;
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    b->len += (size_t)n;
}

void rm__buf_printf(rm__buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    rm__buf_vprintf(b, fmt, ap);
    va_end(ap);
}

void rm__buf_json_str(rm__buf *b, const char *s)
{
    rm__buf_append(b, "\"", 1);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        switch (*p) {
        case '"': rm__buf_append(b, "\\\"", 2); break;
        case '\\': rm__buf_append(b, "\\\\", 2); break;
        case '\n': rm__buf_append(b, "\\n", 2); break;
        case '\r': rm__buf_append(b, "\\r", 2); break;
        case '\t': rm__buf_append(b, "\\t", 2); break;
        default:
            if (*p < 0x20)
                rm__buf_printf(b, "\\u%04x", *p);
            else
                rm__buf_append(b, (const char *)p, 1);
        }
    }
    rm__buf_append(b, "\"", 1);
}

char *rm__buf_steal(rm__buf *b)
{
    if (b->oom) {
        rm__buf_free(b);
        return NULL;
    }
    if (!b->data) { /* nothing appended: return "" (a fresh buffer is not terminated) */
        if (buf_reserve(b, 0) != 0) return NULL;
        b->data[0] = '\0';
    }
    char *p = b->data;
    rm__buf_init(b);
    return p;
}

char *rm__strdup(const char *s)
{
    if (!s) return NULL;
    return rm__strndup(s, strlen(s));
}

char *rm__strndup(const char *s, size_t n)
{
    char *p = malloc(n + 1);
    if (!p) return NULL;
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

unsigned rm__edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 64 || lb > 64) return 32;
    unsigned row[65];
    for (size_t j = 0; j <= lb; j++) row[j] = (unsigned)j;
    for (size_t i = 1; i <= la; i++) {
        unsigned diag = row[0];
        row[0] = (unsigned)i;
        for (size_t j = 1; j <= lb; j++) {
            unsigned up = row[j];
            unsigned cost = tolower((unsigned char)a[i - 1]) == tolower((unsigned char)b[j - 1]) ? 0 : 1;
            unsigned best = diag + cost;
            if (up + 1 < best) best = up + 1;
            if (row[j - 1] + 1 < best) best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb] < 32 ? row[lb] : 32;
}

char *rm__camel_case(const char *snake, char *buf, size_t cap)
{
    size_t o = 0;
    int up = 0;
    for (const char *p = snake; *p && o + 1 < cap; p++) {
        if (*p == '_' && o > 0) {
            up = 1;
            continue;
        }
        buf[o++] = up ? (char)toupper((unsigned char)*p) : *p;
        up = 0;
    }
    buf[o] = '\0';
    return buf;
}

int rm__utf8_valid(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s, *end = p + len;
    while (p < end) {
        unsigned c = *p++;
        if (c < 0x80) continue;
        int n;
        unsigned min;
        if ((c & 0xE0) == 0xC0) n = 1, min = 0x80, c &= 0x1F;
        else if ((c & 0xF0) == 0xE0) n = 2, min = 0x800, c &= 0x0F;
        else if ((c & 0xF8) == 0xF0) n = 3, min = 0x10000, c &= 0x07;
        else return 0;
        if (end - p < n) return 0;
        for (int i = 0; i < n; i++) {
            if ((p[i] & 0xC0) != 0x80) return 0;
            c = (c << 6) | (p[i] & 0x3F);
        }
        p += n;
        if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF)) return 0;
    }
    return 1;
}

const char *rm__basename(const char *path)
{
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}
