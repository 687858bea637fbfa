/* rmedia audio input and output through libsndfile and raw PCM. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sndfile.h>

#include "audio_io.h"
#include "cli.h"

#define MIN_RATE 1000u
#define MAX_RATE 768000u
#define MAX_CHANNELS 256u

/* ------------------------------------------------------------ PCM specs --- */

int cli_pcm_spec_parse(const char *spec, int need_rate, cli_pcm_spec *out, char *why, size_t cap)
{
    char fmt[16];
    unsigned rate = 0, ch = 0;
    char extra;
    int n = sscanf(spec, "%15[a-z0-9]:%u:%u%c", fmt, &rate, &ch, &extra);
    int format_only = n == 1 && !strchr(spec, ':');
    if (!(n == 3 || (format_only && !need_rate))) {
        snprintf(why, cap, "'%s' is not %s (e.g. s16le:16000:1)", spec,
                 need_rate ? "FORMAT:RATE:CHANNELS" : "FORMAT or FORMAT:RATE:CHANNELS");
        return -1;
    }
    if (!strcmp(fmt, "s16le") || !strcmp(fmt, "s16")) out->format = RM_SAMPLE_S16;
    else if (!strcmp(fmt, "s32le") || !strcmp(fmt, "s32")) out->format = RM_SAMPLE_S32;
    else if (!strcmp(fmt, "f32le") || !strcmp(fmt, "f32")) out->format = RM_SAMPLE_F32;
    else {
        snprintf(why, cap, "unknown sample format '%s' (s16le, s32le, f32le)", fmt);
        return -1;
    }
    out->rate = out->channels = 0;
    if (format_only) return 0;
    if (rate < MIN_RATE || rate > MAX_RATE) {
        snprintf(why, cap, "sample rate %u Hz is outside %u–%u Hz", rate, MIN_RATE, MAX_RATE);
        return -1;
    }
    if (ch < 1 || ch > MAX_CHANNELS) {
        snprintf(why, cap, "channel count %u is outside 1–%u", ch, MAX_CHANNELS);
        return -1;
    }
    out->rate = rate;
    out->channels = ch;
    return 0;
}

/* Audio file formats by extension; `subtype` is the codec a compressed
 * container always uses (0: a PCM sample type, chosen by --output-subtype or
 * from the audio). */
static const struct {
    const char *ext;
    int major, subtype;
} formats[] = {
    {"wav", SF_FORMAT_WAV, 0},   {"flac", SF_FORMAT_FLAC, 0}, {"ogg", SF_FORMAT_OGG, 0},
    {"oga", SF_FORMAT_OGG, 0},   {"aiff", SF_FORMAT_AIFF, 0}, {"aif", SF_FORMAT_AIFF, 0},
    {"au", SF_FORMAT_AU, 0},     {"caf", SF_FORMAT_CAF, 0},   {"w64", SF_FORMAT_W64, 0},
    {"rf64", SF_FORMAT_RF64, 0},
#ifdef RM_SNDFILE_OPUS
    {"opus", SF_FORMAT_OGG, SF_FORMAT_OPUS},
#endif
#ifdef RM_SNDFILE_MPEG
    {"mp3", SF_FORMAT_MPEG, SF_FORMAT_MPEG_LAYER_III},
#endif
};

/* Whether this libsndfile can write the format (MP3 and Opus need optional
 * libraries). */
static int writable(size_t i)
{
    SF_INFO info = {.samplerate = 16000, .channels = 1,
                    .format = formats[i].major | (formats[i].subtype ? formats[i].subtype : SF_FORMAT_PCM_16)};
    if (formats[i].major == SF_FORMAT_OGG && !formats[i].subtype) info.format = SF_FORMAT_OGG | SF_FORMAT_VORBIS;
    return sf_format_check(&info);
}

static int format_index(const char *path)
{
    const char *dot = strrchr(path, '.');
    if (!dot || strchr(dot, '/')) return -1;
    for (size_t i = 0; i < sizeof formats / sizeof formats[0]; i++)
        if (!strcasecmp(dot + 1, formats[i].ext) && writable(i)) return (int)i;
    return -1;
}

static int major_for(const char *path)
{
    int i = format_index(path);
    return i < 0 ? 0 : formats[i].major;
}

int cli_is_audio_extension(const char *path) { return path && major_for(path) != 0; }

/* Extensions of audio formats this build cannot write. */
static const char *const other_audio[] = {"mp3", "opus", "m4a", "aac", "mp4", "m4b", "wma", "amr", "ape", "wv",
                                          "mka", "webm", "ac3", "dts", "mp2", "mpc", "spx", "weba", "3gp", NULL};

int cli_unwritable_audio_extension(const char *path, char *list, size_t cap)
{
    const char *dot = path ? strrchr(path, '.') : NULL;
    if (!dot || strchr(dot, '/') || major_for(path)) return 0;
    int hit = 0;
    for (const char *const *e = other_audio; *e; e++) hit |= !strcasecmp(dot + 1, *e);
    if (!hit) return 0;
    list[0] = '\0';
    for (size_t i = 0; i < sizeof formats / sizeof formats[0]; i++) {
        if (!writable(i)) continue;
        size_t n = strlen(list);
        snprintf(list + n, cap - n, "%s.%s", n ? ", " : "", formats[i].ext);
    }
    return 1;
}

int cli_is_audio_magic(const void *head, size_t n)
{
    const unsigned char *m = head;
    return n >= 4 && (!memcmp(m, "RIFF", 4) || !memcmp(m, "fLaC", 4) || !memcmp(m, "OggS", 4) ||
                      !memcmp(m, "FORM", 4) || !memcmp(m, "RF64", 4));
}

int cli_is_audio_path(const char *path)
{
    if (!path || !strcmp(path, "-")) return 0;
    if (major_for(path)) return 1;
    struct stat st; /* never read from a FIFO here: its bytes would be lost */
    if (stat(path, &st) != 0 || !S_ISREG(st.st_mode)) return 0;
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    unsigned char m[4] = {0};
    size_t n = fread(m, 1, 4, f);
    fclose(f);
    return cli_is_audio_magic(m, n);
}

/* ---------------------------------------------------------------- input --- */

/* An audio file arriving on a pipe, read through libsndfile's virtual I/O:
 * the bytes read so far stay in a buffer so the format parsers can seek back
 * over the headers; once the header is parsed, all but the last 64 KiB
 * before the read position is dropped, so a long stream needs no more memory
 * than a short one.  Its length is unknown until the end of the input. */
typedef struct pipe_buf {
    FILE *f;
    unsigned char *data;
    size_t cap, len;   /* data[0..len) holds bytes base .. base+len */
    sf_count_t base, pos;
    int eof, streaming;
} pipe_buf;

#define PIPE_KEEP 65536

/* Makes bytes up to `end` available, if the input has them. */
static void pipe_fill(pipe_buf *p, sf_count_t end)
{
    while (!p->eof && p->base + (sf_count_t)p->len < end) {
        if (p->streaming && p->pos - p->base > 2 * PIPE_KEEP) { /* drop what is far behind */
            size_t drop = (size_t)(p->pos - p->base - PIPE_KEEP);
            memmove(p->data, p->data + drop, p->len - drop);
            p->len -= drop;
            p->base += (sf_count_t)drop;
        }
        if (p->len == p->cap) {
            size_t cap = p->cap ? p->cap * 2 : 65536;
            unsigned char *d = realloc(p->data, cap);
            if (!d) {
                p->eof = 1;
                return;
            }
            p->data = d;
            p->cap = cap;
        }
        /* read(), not fread(): live audio must not wait for a full buffer */
        ssize_t n;
        do n = read(fileno(p->f), p->data + p->len, p->cap - p->len);
        while (n < 0 && errno == EINTR);
        if (n <= 0) p->eof = 1;
        else p->len += (size_t)n;
    }
}

static sf_count_t pipe_filelen(void *user)
{
    pipe_buf *p = user;
    /* Unknown until the input ends: a length past anything a header can
     * announce lets the parsers take the header's word (or "unknown"). */
    return p->eof ? p->base + (sf_count_t)p->len : (sf_count_t)1 << 50;
}

static sf_count_t pipe_seek(sf_count_t offset, int whence, void *user)
{
    pipe_buf *p = user;
    sf_count_t to = whence == SEEK_SET ? offset : whence == SEEK_CUR ? p->pos + offset : -1;
    if (whence == SEEK_END) {
        pipe_fill(p, (sf_count_t)1 << 62); /* the end of a pipe is where it ends */
        to = p->base + (sf_count_t)p->len + offset;
    }
    if (to < p->base) return -1; /* already dropped */
    p->pos = to;
    return to;
}

static sf_count_t pipe_read(void *ptr, sf_count_t count, void *user)
{
    pipe_buf *p = user;
    pipe_fill(p, p->pos + count);
    sf_count_t end = p->base + (sf_count_t)p->len;
    if (p->pos >= end || p->pos < p->base) return 0;
    sf_count_t n = end - p->pos < count ? end - p->pos : count;
    memcpy(ptr, p->data + (p->pos - p->base), (size_t)n);
    p->pos += n;
    return n;
}

static sf_count_t pipe_write(const void *ptr, sf_count_t count, void *user)
{
    (void)ptr, (void)count, (void)user;
    return 0;
}

static sf_count_t pipe_tell(void *user) { return ((pipe_buf *)user)->pos; }

struct cli_audio_in {
    const char *path;
    SNDFILE *sf;
    SF_INFO info;
    FILE *raw;
    cli_pcm_spec spec;
    uint64_t pos, seq;
    pipe_buf *pipe; /* an audio file read from a pipe */
};

/* libsndfile quietly shortens a WAV/AIFF whose data chunk is cut off; its
 * parse log keeps the evidence ("data : 104000 (should be 956)"). */
static int truncated_header(SNDFILE *sf, char *why, size_t cap)
{
    char log[8192];
    log[0] = '\0';
    sf_command(sf, SFC_GET_LOG_INFO, log, sizeof log);
    for (const char *line = log; line && *line;) {
        long long announced, actual;
        /* A streamed header announces an unknown length as the largest size
         * (0x7ffff000, 0xffffffff, ...): the data ends where the file does. */
        if (!strncmp(line, "data", 4) && sscanf(line, "data : %lld (should be %lld)", &announced, &actual) == 2 &&
            announced < 0x7fff0000LL) {
            snprintf(why, cap, "it is truncated: its header announces %lld bytes of audio, the file holds %lld",
                     announced, actual);
            return 1;
        }
        line = strchr(line, '\n');
        if (line) line++;
    }
    return 0;
}

static cli_audio_in *check_opened(cli_audio_in *in);

cli_audio_in *cli_audio_in_open(const char *path, const cli_pcm_spec *raw)
{
    cli_audio_in *in = calloc(1, sizeof *in);
    if (!in) return cli_error("out of memory"), NULL;
    in->path = path;
    if (raw) {
        in->spec = *raw;
        in->raw = strcmp(path, "-") ? fopen(path, "rb") : stdin;
        if (!in->raw) {
            cli_error("cannot read input '%s': %s", path, strerror(errno));
            free(in);
            return NULL;
        }
        return in;
    }
    in->sf = sf_open(path, SFM_READ, &in->info);
    if (!in->sf) {
        FILE *probe = fopen(path, "rb");
        if (!probe) cli_error("cannot read input '%s': %s", path, strerror(errno));
        else cli_error("'%s' is not a readable audio file: %s", path, sf_strerror(NULL));
        if (probe) fclose(probe);
        free(in);
        return NULL;
    }
    return check_opened(in);
}

/* A WAV written to a pipe cannot go back to fill in its sizes: some writers
 * leave them 0 (others write the largest size, which libsndfile takes as
 * "read to the end").  A 0 data size on a pipe is read as the latter. */
static void patch_streamed_wav(pipe_buf *p)
{
    pipe_fill(p, 4096);
    if (p->len < 12 || memcmp(p->data, "RIFF", 4) || memcmp(p->data + 8, "WAVE", 4)) return;
    for (size_t off = 12; off + 8 <= p->len;) {
        uint32_t size = (uint32_t)p->data[off + 4] | (uint32_t)p->data[off + 5] << 8 |
                        (uint32_t)p->data[off + 6] << 16 | (uint32_t)p->data[off + 7] << 24;
        if (!memcmp(p->data + off, "data", 4)) {
            if (size == 0) memset(p->data + off + 4, 0xff, 4);
            if (size == 0 && !memcmp(p->data + 4, "\0\0\0\0", 4)) memset(p->data + 4, 0xff, 4);
            return;
        }
        off += 8 + (size_t)size + (size & 1);
    }
}

cli_audio_in *cli_audio_in_open_pipe(const char *name, FILE *f, const void *pre, size_t n_pre)
{
    cli_audio_in *in = calloc(1, sizeof *in);
    pipe_buf *p = calloc(1, sizeof *p);
    unsigned char *data = malloc(n_pre > 65536 ? n_pre : 65536);
    if (!in || !p || !data) {
        free(in), free(p), free(data);
        return cli_error("out of memory"), NULL;
    }
    if (n_pre) memcpy(data, pre, n_pre);
    *p = (pipe_buf){.f = f, .data = data, .cap = n_pre > 65536 ? n_pre : 65536, .len = n_pre};
    in->path = name;
    in->pipe = p;
    patch_streamed_wav(p);
    static SF_VIRTUAL_IO vio = {pipe_filelen, pipe_seek, pipe_read, pipe_write, pipe_tell};
    in->sf = sf_open_virtual(&vio, SFM_READ, &in->info, p);
    if (!in->sf) {
        cli_error("'%s' is not a readable audio stream: %s", name, sf_strerror(NULL));
        cli_audio_in_close(in);
        return NULL;
    }
    p->streaming = 1; /* the header is parsed: old bytes may go */
    return check_opened(in);
}

/* Checks what sf_open found; frees `in` and returns NULL on a problem. */
static cli_audio_in *check_opened(cli_audio_in *in)
{
    const char *path = in->path;
    const char *why = NULL;
    char buf[128];
    if (in->info.channels < 1 || (unsigned)in->info.channels > MAX_CHANNELS) {
        snprintf(buf, sizeof buf, "unsupported channel count %d (1–%u)", in->info.channels, MAX_CHANNELS);
        why = buf;
    } else if ((unsigned)in->info.samplerate < MIN_RATE || (unsigned)in->info.samplerate > MAX_RATE) {
        snprintf(buf, sizeof buf, "sample rate %d Hz is outside %u–%u Hz", in->info.samplerate, MIN_RATE, MAX_RATE);
        why = buf;
    } else if (in->info.frames <= 0 && !in->pipe) {
        why = "it contains no audio (zero length)";
    } else if (!in->pipe && truncated_header(in->sf, buf, sizeof buf)) {
        why = buf;
    }
    if (why) {
        cli_error("'%s': %s", path, why);
        cli_audio_in_close(in);
        return NULL;
    }
    in->spec.format = RM_SAMPLE_F32;
    in->spec.rate = (uint32_t)in->info.samplerate;
    in->spec.channels = (uint32_t)in->info.channels;
    return in;
}

uint32_t cli_audio_in_rate(const cli_audio_in *in) { return in->spec.rate; }
uint32_t cli_audio_in_channels(const cli_audio_in *in) { return in->spec.channels; }
int64_t cli_audio_in_frames(const cli_audio_in *in) { return in->sf && !in->pipe ? (int64_t)in->info.frames : -1; }

int cli_audio_in_read(cli_audio_in *in, size_t frames, rm_frame **out)
{
    *out = NULL;
    rm_frame *f = rm_frame_new_audio(in->spec.format, in->spec.rate, in->spec.channels, frames);
    if (!f) return cli_error("out of memory"), -1;
    size_t got;
    if (in->sf) {
        got = (size_t)sf_readf_float(in->sf, f->u.audio.data, (sf_count_t)frames);
        if (sf_error(in->sf) != SF_ERR_NO_ERROR) {
            cli_error("'%s': read error: %s", in->path, sf_strerror(in->sf));
            rm_frame_unref(f);
            return -1;
        }
        /* A stream's header announces an unknown length by convention (the
         * largest size, or 0): it ends where the input ends. */
        if (got < frames && !in->pipe && in->pos + got < (uint64_t)in->info.frames) {
            cli_error("'%s' is truncated: its header announces %lld frames, the data ends after %llu",
                      in->path, (long long)in->info.frames, (unsigned long long)(in->pos + got));
            rm_frame_unref(f);
            return -1;
        }
    } else {
        size_t fb = rm_sample_format_size(in->spec.format) * in->spec.channels;
        size_t bytes = fread(f->u.audio.data, 1, frames * fb, in->raw);
        if (ferror(in->raw)) {
            cli_error("cannot read input '%s': %s", in->path, strerror(errno));
            rm_frame_unref(f);
            return -1;
        }
        if (bytes % fb) {
            cli_error("'%s': raw input ends in the middle of a sample frame (%zu stray bytes)", in->path, bytes % fb);
            rm_frame_unref(f);
            return -1;
        }
        got = bytes / fb;
    }
    if (got == 0) {
        rm_frame_unref(f);
        if (in->pos == 0) {
            cli_error("'%s' contains no audio", in->path);
            return -1;
        }
        return 0;
    }
    f->u.audio.frames = got;
    f->timestamp_us = (int64_t)llround((double)in->pos * 1e6 / in->spec.rate);
    f->sequence = in->seq++;
    in->pos += got;
    *out = f;
    return 1;
}

void cli_audio_in_close(cli_audio_in *in)
{
    if (!in) return;
    if (in->sf) sf_close(in->sf);
    if (in->raw && in->raw != stdin) fclose(in->raw);
    if (in->pipe) {
        if (in->pipe->f != stdin) fclose(in->pipe->f);
        free(in->pipe->data);
        free(in->pipe);
    }
    free(in);
}

/* --------------------------------------------------------------- output --- */

struct cli_audio_out {
    char *path, *tmp;
    int major, subtype, hint;
    SNDFILE *sf;
    FILE *raw;
    cli_pcm_spec spec;
    int is_raw, to_stdout;
    uint32_t rate, channels;
    uint64_t frames;
};

static int subtype_for(const char *name, int major)
{
    if (!name) return major == SF_FORMAT_OGG ? SF_FORMAT_VORBIS : 0; /* 0: from the audio */
    if (!strcmp(name, "s16")) return SF_FORMAT_PCM_16;
    if (!strcmp(name, "s24")) return SF_FORMAT_PCM_24;
    if (!strcmp(name, "s32")) return SF_FORMAT_PCM_32;
    if (!strcmp(name, "f32")) return SF_FORMAT_FLOAT;
    if (!strcmp(name, "vorbis")) return SF_FORMAT_VORBIS;
    return -1;
}

cli_audio_out *cli_audio_out_open(const char *path, const cli_pcm_spec *raw, const char *subtype)
{
    cli_audio_out *o = calloc(1, sizeof *o);
    if (!o) return cli_error("out of memory"), NULL;
    o->to_stdout = !path || !strcmp(path, "-");
    if (raw) {
        o->is_raw = 1;
        o->spec = *raw;
    } else if (o->to_stdout) {
        cli_error("audio to standard output needs --output-format FORMAT:RATE:CHANNELS (raw PCM)");
        free(o);
        return NULL;
    } else {
        int fi = format_index(path);
        o->major = fi < 0 ? 0 : formats[fi].major;
        if (!o->major) {
            cli_error("cannot tell the audio format of '%s' from its extension (wav, flac, ogg, aiff, au, caf, w64, "
                      "rf64, and mp3 and opus where libsndfile has them)", path);
            free(o);
            return NULL;
        }
        o->subtype = formats[fi].subtype && !subtype ? formats[fi].subtype : subtype_for(subtype, o->major);
        if (o->subtype < 0) {
            cli_error("unknown --output-subtype '%s' (s16, s24, s32, f32, vorbis)", subtype);
            free(o);
            return NULL;
        }
    }
    if (!o->to_stdout) {
        o->path = strdup(path);
        o->tmp = cli_tmp_name(path);
        if (!o->path || !o->tmp) {
            free(o->path);
            free(o->tmp);
            free(o);
            return NULL;
        }
    }
    return o;
}

/* Opens the file at the first frame, when rate and channels are known. */
static int open_lazily(cli_audio_out *o, const rm_frame *f)
{
    o->rate = f->u.audio.rate;
    o->channels = f->u.audio.channels;
    if (o->is_raw && o->spec.rate && (o->spec.rate != o->rate || o->spec.channels != o->channels)) {
        cli_error("--output-format asks for %u Hz/%u ch but the pipeline produces %u Hz/%u ch "
                  "(add an AudioResample or ChannelMixer node, or give only the sample format)",
                  o->spec.rate, o->spec.channels, o->rate, o->channels);
        return -1;
    }
    if (o->is_raw) {
        o->raw = o->to_stdout ? stdout : fopen(o->tmp, "wb");
        if (!o->raw) return cli_error("cannot write '%s': %s", o->path, strerror(errno)), -1;
        return 0;
    }
    SF_INFO info;
    memset(&info, 0, sizeof info);
    info.samplerate = (int)o->rate;
    info.channels = (int)o->channels;
    int sub = o->subtype;
    if (!sub) { /* keep the audio's sample type: f32 in, f32 out */
        sub = f->u.audio.format == RM_SAMPLE_S16   ? SF_FORMAT_PCM_16
              : f->u.audio.format == RM_SAMPLE_S32 ? SF_FORMAT_PCM_32
              : o->hint                            ? o->hint
                                                   : SF_FORMAT_FLOAT;
        info.format = o->major | sub;
        if (!sf_format_check(&info)) sub = SF_FORMAT_PCM_24; /* FLAC: no float */
        info.format = o->major | sub;
        if (!sf_format_check(&info)) sub = SF_FORMAT_PCM_16;
    }
    info.format = o->major | sub;
    if (!sf_format_check(&info)) {
        cli_error("'%s': this format cannot hold %u Hz, %u-channel audio with that sample type", o->path,
                  o->rate, o->channels);
        return -1;
    }
    o->sf = sf_open(o->tmp, SFM_WRITE, &info);
    if (!o->sf) return cli_error("cannot write '%s': %s", o->path, sf_strerror(NULL)), -1;
    sf_command(o->sf, SFC_SET_CLIPPING, NULL, SF_TRUE); /* clip, never wrap around */
    return 0;
}

/* Converts one sample to the raw output format (full scale 32768 / 2^31). */
static void put_sample(const rm_frame *f, size_t i, rm_sample_format to, unsigned char *dst)
{
    double x;
    switch (f->u.audio.format) {
    case RM_SAMPLE_S16: x = ((const int16_t *)f->u.audio.data)[i] / 32768.0; break;
    case RM_SAMPLE_S32: x = ((const int32_t *)f->u.audio.data)[i] / 2147483648.0; break;
    default: x = ((const float *)f->u.audio.data)[i]; break;
    }
    if (to == RM_SAMPLE_F32) {
        float v = (float)x;
        memcpy(dst, &v, 4);
    } else if (to == RM_SAMPLE_S16) {
        double v = nearbyint(x * 32768.0);
        int16_t s = (int16_t)(v > 32767 ? 32767 : v < -32768 ? -32768 : v);
        memcpy(dst, &s, 2);
    } else {
        double v = nearbyint(x * 2147483648.0);
        int32_t s = (int32_t)(v > 2147483647.0 ? 2147483647.0 : v < -2147483648.0 ? -2147483648.0 : v);
        memcpy(dst, &s, 4);
    }
}

int cli_audio_out_write(cli_audio_out *o, const rm_frame *f)
{
    if (f->kind != RM_FRAME_AUDIO) return 0;
    if (!o->rate && open_lazily(o, f) != 0) return -1;
    if (f->u.audio.rate != o->rate || f->u.audio.channels != o->channels) {
        cli_error("audio output changed from %u Hz/%u ch to %u Hz/%u ch mid-stream", o->rate, o->channels,
                  f->u.audio.rate, f->u.audio.channels);
        return -1;
    }
    size_t n = f->u.audio.frames;
    if (o->is_raw) {
        size_t samples = n * f->u.audio.channels, ss = rm_sample_format_size(o->spec.format);
        if (f->u.audio.format == o->spec.format) {
            if (fwrite(f->u.audio.data, ss, samples, o->raw) != samples) goto write_error;
        } else {
            unsigned char buf[4096];
            for (size_t i = 0; i < samples;) {
                size_t k = 0;
                for (; i < samples && k + ss <= sizeof buf; i++, k += ss) put_sample(f, i, o->spec.format, buf + k);
                if (fwrite(buf, 1, k, o->raw) != k) goto write_error;
            }
        }
    } else {
        sf_count_t w;
        switch (f->u.audio.format) {
        case RM_SAMPLE_S16: w = sf_writef_short(o->sf, f->u.audio.data, (sf_count_t)n); break;
        case RM_SAMPLE_S32: w = sf_writef_int(o->sf, f->u.audio.data, (sf_count_t)n); break;
        default: w = sf_writef_float(o->sf, f->u.audio.data, (sf_count_t)n); break;
        }
        if (w != (sf_count_t)n) goto write_error;
    }
    o->frames += n;
    return 0;
write_error:
    cli_error("cannot write '%s': %s", o->to_stdout ? "standard output" : o->path,
              o->sf ? sf_strerror(o->sf) : strerror(errno));
    return -1;
}

int cli_audio_in_subtype(const cli_audio_in *in)
{
    if (!in || !in->sf) return 0;
    switch (in->info.format & SF_FORMAT_SUBMASK) {
    case SF_FORMAT_PCM_S8:
    case SF_FORMAT_PCM_U8:
    case SF_FORMAT_PCM_16: return SF_FORMAT_PCM_16;
    case SF_FORMAT_PCM_24: return SF_FORMAT_PCM_24;
    case SF_FORMAT_PCM_32: return SF_FORMAT_PCM_32;
    default: return 0; /* float, or a lossy codec decoded to float */
    }
}

void cli_audio_out_hint(cli_audio_out *o, int subtype)
{
    if (o) o->hint = subtype;
}

double cli_audio_out_seconds(const cli_audio_out *o) { return o->rate ? (double)o->frames / o->rate : 0; }

int cli_audio_out_close(cli_audio_out *o, int commit)
{
    if (!o) return 0;
    int rc = 0;
    if (commit && !o->rate) {
        cli_error("the pipeline produced no audio for '%s'", o->to_stdout ? "standard output" : o->path);
        rc = -1;
    }
    if (o->sf && sf_close(o->sf) != 0) rc = -1;
    if (o->raw && o->raw != stdout && fclose(o->raw) != 0) rc = -1;
    if (o->raw == stdout && fflush(stdout) != 0) rc = -1;
    if (!o->to_stdout && o->rate && cli_commit_file(o->tmp, o->path, commit && rc == 0) != 0) rc = -1;
    free(o->path);
    free(o->tmp);
    free(o);
    return commit ? rc : 0;
}
