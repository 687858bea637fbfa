/* Fuzz target: the CLI's audio file reader (src/cli/audio_io.c, compiled
 * unchanged).
 *
 * Input: an audio file (WAV, FLAC, OGG/Vorbis, AIFF, … — whatever libsndfile
 * recognises), read as `rmedia run --input FILE` reads it: opened with
 * cli_audio_in_open() (header checks, truncation check), then read to the end
 * in 20 ms chunks.  An input starting with "PCM" followed by one spec byte is
 * raw PCM instead (the --input-format FORMAT:RATE:CHANNELS path): the byte
 * picks the sample format, rate and channel count.
 *
 * The bytes are handed to the reader as a file through a memfd, named by
 * /proc/self/fd/N, so both sf_open() and fopen() run as in the CLI. */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "audio_io.h"
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int mem_fd = -1;
static char mem_path[64];

static int put_file(const uint8_t *data, size_t size)
{
    if (mem_fd < 0) {
        mem_fd = memfd_create("fuzz-audio", 0);
        if (mem_fd < 0) {
            perror("fuzz_audio_file: memfd_create");
            abort();
        }
        snprintf(mem_path, sizeof mem_path, "/proc/self/fd/%d", mem_fd);
    }
    if (ftruncate(mem_fd, 0) != 0) abort();
    for (size_t done = 0; done < size;) {
        ssize_t w = pwrite(mem_fd, data + done, size - done, (off_t)done);
        if (w <= 0) abort();
        done += (size_t)w;
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const uint32_t rates[] = {8000, 16000, 44100, 48000};
    cli_pcm_spec raw, *spec = NULL;
    if (size >= 4 && !memcmp(data, "PCM", 3)) {
        static const char *const formats[] = {"s16le", "s32le", "f32le"};
        char text[48], why[128];
        uint8_t b = data[3];
        snprintf(text, sizeof text, "%s:%u:%u", formats[b % 3], rates[(b / 3) % 4], 1u + (b / 12) % 8u);
        if (cli_pcm_spec_parse(text, 1, &raw, why, sizeof why) != 0) abort(); /* our own specs are valid */
        spec = &raw;
        data += 4;
        size -= 4;
    }
    put_file(data, size);

    cli_audio_in *in = cli_audio_in_open(mem_path, spec);
    if (!in) return 0;
    size_t chunk = cli_audio_in_rate(in) / 50;
    if (chunk < 1) chunk = 1;
    rm_frame *f;
    while (cli_audio_in_read(in, chunk, &f) == 1) {
        (void)rm_frame_audio_duration_us(f);
        rm_frame_unref(f);
    }
    cli_audio_in_close(in);
    return 0;
}
