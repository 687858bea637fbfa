/* Fuzz target: `rmedia run` JSON input (frames from JSON text).
 *
 * The input is read as the CLI reads it: one JSON array (a batch) when the
 * text is one, else JSON lines.  Each value becomes a frame through the CLI's
 * own cli_json_to_frame() (strings -> text frames, anything else -> json
 * frames) and is printed back with cli_frame_to_json(); each line also goes
 * through the library's rm_frame_new_json_text() (duplicate keys rejected)
 * and rm_frame_json_dumps(). */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void round_trip(json_t *v) /* takes the reference */
{
    rm_frame *f = cli_json_to_frame(v);
    if (!f) return;
    json_t *back = cli_frame_to_json(f);
    free(json_dumps(back, JSON_COMPACT | JSON_ENCODE_ANY | JSON_REAL_PRECISION(15)));
    json_decref(back);
    free(rm_frame_json_dumps(f));
    rm_frame *c = rm_frame_copy(f);
    rm_frame_unref(c);
    rm_frame_unref(f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* NUL-terminated like cli_read_all()'s buffer. */
    char *all = malloc(size + 1);
    if (!all) return 0;
    memcpy(all, data, size);
    all[size] = '\0';

    json_t *batch = NULL;
    size_t a = strspn(all, " \t\r\n");
    if (all[a] == '[') batch = json_loads(all, JSON_DECODE_ANY, NULL);
    if (batch && json_is_array(batch)) {
        size_t i;
        json_t *v;
        json_array_foreach(batch, i, v) round_trip(json_incref(v));
    } else {
        for (char *p = all; p < all + size;) {
            char *nl = memchr(p, '\n', (size_t)(all + size - p));
            size_t len = nl ? (size_t)(nl - p) : (size_t)(all + size - p);
            size_t s = 0;
            while (s < len && (p[s] == ' ' || p[s] == '\t' || p[s] == '\r')) s++;
            if (s < len) {
                json_error_t jerr;
                json_t *v = json_loadb(p + s, len - s, JSON_DECODE_ANY, &jerr);
                if (v) round_trip(v);
                char msg[256];
                rm_frame *f = rm_frame_new_json_text(p + s, len - s, msg, sizeof msg);
                if (f) free(rm_frame_json_dumps(f));
                rm_frame_unref(f);
            }
            p += len + 1;
        }
    }
    json_decref(batch);
    free(all);
    return 0;
}
