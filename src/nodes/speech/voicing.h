/*
 * A voicing detector for 16 kHz speech: tells whether 20 ms blocks contain a
 * periodic (voiced) signal with a pitch between 80 and 400 Hz.
 *
 * Why: the recogniser maps noise onto fricative-heavy words ("if", "thigh")
 * when the noise level jumps (a fan starting, a mic unmuted); every spoken
 * word has a vowel, noise has none.  SpeechToText drops utterances with less
 * than min_voiced_ms of voiced audio.
 *
 * Method: decimate to 8 kHz, band-pass 80–1000 Hz (two biquads, where voiced
 * harmonics dominate and white, pink and brown noise are weak or aperiodic),
 * then the normalised autocorrelation over a 40 ms window at lags of 2.5–12.5
 * ms; a block is voiced when its maximum reaches 0.6.  Measured on the flite
 * voices: voiced speech gives 0.9–1.0 (0.6–0.8 in white noise at 0 dB SNR);
 * white noise at most 0.42, pink 0.6, brown 0.77 in rare blocks (~1%).
 * Cost: ~22k multiply-adds per 20 ms block, well under 1% of decoding.
 */
#ifndef RM_NODES_SPEECH_VOICING_H
#define RM_NODES_SPEECH_VOICING_H

#include <stddef.h>
#include <stdint.h>

#define RM__VOICING_WIN 320 /* 40 ms at 8 kHz */
#define RM__VOICING_HOP 160 /* 20 ms at 8 kHz */

typedef struct rm__voicing {
    float hp[5], lp[5];             /* biquad coefficients b0 b1 b2 a1 a2 */
    float hs[4], ls[4];             /* their states x1 x2 y1 y2 */
    float win[RM__VOICING_WIN];
    size_t fill;                    /* new samples in win since the last analysis */
    int odd;                        /* a 16 kHz sample waits for its pair */
    float pending;
    unsigned voiced, blocks;        /* counts since the last rm__voicing_reset_counts */
} rm__voicing;

void rm__voicing_init(rm__voicing *v);
/* Feeds 16 kHz samples; counts analysed and voiced 20 ms blocks. */
void rm__voicing_feed(rm__voicing *v, const int16_t *pcm, size_t n);
void rm__voicing_reset_counts(rm__voicing *v);
/* Milliseconds of voiced audio counted. */
static inline unsigned rm__voicing_ms(const rm__voicing *v) { return v->voiced * 20u; }

#endif
