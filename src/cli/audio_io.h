/*
 * rmedia audio input and output: audio files through libsndfile (WAV, FLAC,
 * OGG/Vorbis, AIFF, …) and raw interleaved PCM on pipes.
 */
#ifndef RM_CLI_AUDIO_IO_H
#define RM_CLI_AUDIO_IO_H

#include <stdint.h>
#include <stdio.h>

#include "remotemedia/remotemedia.h"

/* Raw PCM description parsed from "s16le:16000:1" (format:rate:channels). */
typedef struct cli_pcm_spec {
    rm_sample_format format;
    uint32_t rate, channels;
} cli_pcm_spec;

/* Parses a raw PCM spec; returns 0 or -1 with a message in `why`.  Without
 * need_rate, FORMAT alone is accepted (rate and channels left 0). */
int cli_pcm_spec_parse(const char *spec, int need_rate, cli_pcm_spec *out, char *why, size_t cap);

/* True if `path` has an audio file extension (wav, flac, ogg, …). */
int cli_is_audio_extension(const char *path);
/* True if `path` has the extension of an audio format this build cannot
 * write (m4a, aac, ...); `list` gets the writable ones (".wav, .flac, ..."). */
int cli_unwritable_audio_extension(const char *path, char *list, size_t cap);
/* True if `path` looks like an audio file (extension or magic bytes). */
int cli_is_audio_path(const char *path);

typedef struct cli_audio_in cli_audio_in;

/* Opens an audio file, or raw PCM when `raw` is given (path "-" = stdin).
 * Errors name the file and say what is wrong (unreadable, not audio,
 * unsupported, zero length, absurd rate) and return NULL. */
cli_audio_in *cli_audio_in_open(const char *path, const cli_pcm_spec *raw);
/* Opens an audio file (WAV, FLAC, OGG, AIFF, …) arriving on a pipe `f`
 * (stdin or a FIFO; closed by cli_audio_in_close unless it is stdin) whose
 * first `n_pre` bytes were already read into `pre` (to detect it).  Its
 * length is unknown until it ends: a streamed header's length is not
 * checked.  `name` is used in messages. */
cli_audio_in *cli_audio_in_open_pipe(const char *name, FILE *f, const void *pre, size_t n_pre);
/* True if these first bytes start an audio file (RIFF, RF64, FORM, fLaC,
 * OggS). */
int cli_is_audio_magic(const void *head, size_t n);
uint32_t cli_audio_in_rate(const cli_audio_in *in);
uint32_t cli_audio_in_channels(const cli_audio_in *in);
/* Total frames if known (files), else -1. */
int64_t cli_audio_in_frames(const cli_audio_in *in);
/* Reads up to `frames` frames as an f32 (files) or raw-format (pipes) audio
 * frame with timestamp and sequence set.  Returns 1 with *out set, 0 at the
 * end, -1 on error (message printed; e.g. a truncated file). */
int cli_audio_in_read(cli_audio_in *in, size_t frames, rm_frame **out);
void cli_audio_in_close(cli_audio_in *in);

typedef struct cli_audio_out cli_audio_out;

/* An audio output: a file (format from its extension, written to a temporary
 * name and renamed on success) or raw PCM to stdout/a file (raw != NULL;
 * rate and channels, if given, must match the frames). */
cli_audio_out *cli_audio_out_open(const char *path, const cli_pcm_spec *raw, const char *subtype);
/* Writes an audio frame; the first frame fixes rate and channels, a later
 * frame with others is an error.  Returns 0 or -1 (message printed). */
int cli_audio_out_write(cli_audio_out *o, const rm_frame *f);
/* Finishes (commit = 1: rename into place) or discards the output.  Returns
 * 0 or -1 (message printed). */
int cli_audio_out_close(cli_audio_out *o, int commit);
/* The PCM sample type of an input file (a libsndfile SF_FORMAT_PCM_*), or 0
 * for float, lossy codecs and raw input. */
int cli_audio_in_subtype(const cli_audio_in *in);
/* Without --output-subtype, a file output keeps the sample type of the
 * audio it gets: s16/s32 frames as such, f32 frames as `subtype` (from
 * cli_audio_in_subtype: the input file's type, which the pipeline read as
 * f32) or as float when 0. */
void cli_audio_out_hint(cli_audio_out *o, int subtype);
/* Seconds written so far. */
double cli_audio_out_seconds(const cli_audio_out *o);

#endif
