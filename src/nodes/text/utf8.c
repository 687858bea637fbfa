/*
 * UTF-8 helpers.  Case mapping covers the scripts whose case pairs are a
 * fixed offset (ASCII, Latin-1, Latin Extended-A, Greek, Cyrillic): enough
 * for the text nodes without a locale or an ICU dependency.
 */
#include "utf8.h"

uint32_t rm__utf8_next(const char *str, size_t *i)
{
    const unsigned char *s = (const unsigned char *)str + *i;
    uint32_t c = s[0];
    size_t n = 1;
    if (c >= 0xF0) c = ((c & 0x07u) << 18) | ((s[1] & 0x3Fu) << 12) | ((s[2] & 0x3Fu) << 6) | (s[3] & 0x3Fu), n = 4;
    else if (c >= 0xE0) c = ((c & 0x0Fu) << 12) | ((s[1] & 0x3Fu) << 6) | (s[2] & 0x3Fu), n = 3;
    else if (c >= 0xC0) c = ((c & 0x1Fu) << 6) | (s[1] & 0x3Fu), n = 2;
    *i += n;
    return c;
}

size_t rm__utf8_put(uint32_t cp, char *o)
{
    if (cp < 0x80) return o[0] = (char)cp, 1;
    if (cp < 0x800) return o[0] = (char)(0xC0 | (cp >> 6)), o[1] = (char)(0x80 | (cp & 0x3F)), 2;
    if (cp < 0x10000) {
        o[0] = (char)(0xE0 | (cp >> 12));
        o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (char)(0xF0 | (cp >> 18));
    o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    o[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* Latin Extended-A alternates upper/lower case in pairs; the parity of the
 * upper-case letter changes between blocks.  Returns 1 if c is upper case in
 * a pair, 0 if lower case, -1 if not in a pair. */
static int latin_a_upper(uint32_t c)
{
    if ((c >= 0x100 && c <= 0x12F) || (c >= 0x132 && c <= 0x137) || (c >= 0x14A && c <= 0x177))
        return (c & 1) == 0;
    if ((c >= 0x139 && c <= 0x148) || (c >= 0x179 && c <= 0x17E)) return (c & 1) == 1;
    return -1;
}

uint32_t rm__utf8_upper(uint32_t c)
{
    if (c >= 'a' && c <= 'z') return c - 32;
    if ((c >= 0xE0 && c <= 0xFE && c != 0xF7)) return c - 32;
    if (c == 0xFF) return 0x178;
    if (latin_a_upper(c) == 0) return c - 1;
    if (c >= 0x3B1 && c <= 0x3C9 && c != 0x3C2) return c - 32;
    if (c >= 0x430 && c <= 0x44F) return c - 32;
    if (c >= 0x450 && c <= 0x45F) return c - 80;
    return c;
}

uint32_t rm__utf8_lower(uint32_t c)
{
    if (c >= 'A' && c <= 'Z') return c + 32;
    if (c >= 0xC0 && c <= 0xDE && c != 0xD7) return c + 32;
    if (c == 0x178) return 0xFF;
    if (latin_a_upper(c) == 1) return c + 1;
    if (c >= 0x391 && c <= 0x3A9 && c != 0x3A2) return c + 32;
    if (c >= 0x410 && c <= 0x42F) return c + 32;
    if (c >= 0x400 && c <= 0x40F) return c + 80;
    return c;
}

int rm__utf8_is_space(uint32_t c)
{
    return c == ' ' || (c >= 0x09 && c <= 0x0D) || c == 0xA0 || c == 0x2028 || c == 0x2029 ||
           c == 0x3000 || (c >= 0x2000 && c <= 0x200A);
}

int rm__utf8_is_alpha(uint32_t c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c >= 0xC0;
}
