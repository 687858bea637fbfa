/* UTF-8 helpers of the text nodes: decode, encode, simple case mapping. */
#ifndef RM_NODES_TEXT_UTF8_H
#define RM_NODES_TEXT_UTF8_H

#include <stddef.h>
#include <stdint.h>

/* Decodes the code point at s[*i] (valid UTF-8 assumed) and advances *i. */
uint32_t rm__utf8_next(const char *s, size_t *i);
/* Encodes cp into out (at least 4 bytes); returns the byte count. */
size_t rm__utf8_put(uint32_t cp, char *out);
/* Case mapping for ASCII, Latin-1, Latin Extended-A, Greek and Cyrillic. */
uint32_t rm__utf8_upper(uint32_t cp);
uint32_t rm__utf8_lower(uint32_t cp);
int rm__utf8_is_space(uint32_t cp);
int rm__utf8_is_alpha(uint32_t cp);

#endif
