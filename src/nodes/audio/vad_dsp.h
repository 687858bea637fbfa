/*
 * The voice activity detector's signal processing, apart from the node that
 * frames, times and reports it (vad.c).  docs/vad.md explains the design.
 *
 * One detector analyses fixed frames of `n` mono float samples:
 *   rm__vad_dsp_init(&d, 16000, 20, 5000, 1e-4);   // allocates (the only time)
 *   rm__vad_dsp_frame(&d, samples, &result);        // per frame, no allocation
 *   rm__vad_dsp_free(&d);
 * Internal to the library (rm__ prefix, not exported).
 */
#ifndef RM_NODES_AUDIO_VAD_DSP_H
#define RM_NODES_AUDIO_VAD_DSP_H

#include <stddef.h>
#include <stdint.h>

#define RM__VAD_MAX_BANDS 17
#define RM__VAD_SUB_MS 5 /* boundary refinement resolution */
#define RM__VAD_MAX_SUB 6 /* 30 ms / 5 ms */

/* Windowed quantile of a log-power value (0.25 dB histogram bins), with the
 * factor that turns that quantile into a mean noise power. */
typedef struct rm__vad_tracker {
    uint16_t *hist;   /* counts per bin                                 */
    uint16_t *ring;   /* bin of each frame in the window, oldest first  */
    unsigned head, count;
    int qi;           /* bin holding the quantile                       */
    unsigned below;   /* frames in bins below qi                        */
    double inv_bias;  /* mean / quantile for stationary Gaussian noise  */
} rm__vad_tracker;

typedef struct rm__vad_dsp {
    uint32_t rate;
    unsigned n;        /* samples per frame                              */
    unsigned nfft;     /* FFT size (>= n, even, 2^a 3^b 5^c)            */
    unsigned n_bands;
    unsigned window;   /* frames in the noise window                     */
    unsigned n_sub;    /* refinement sub-blocks per frame                */
    unsigned sub_len;  /* samples per sub-block (last one takes the rest)*/
    unsigned band_lo[RM__VAD_MAX_BANDS], band_hi[RM__VAD_MAX_BANDS]; /* bins [lo, hi) */
    double t0, t_scale; /* statistic → log-odds: (T - t0) * t_scale     */
    double min_power;   /* frames below this mean power are never speech */
    void *fft;          /* kiss_fftr_cfg                                 */
    float *work;        /* nfft time samples                             */
    void *spec;         /* nfft/2+1 kiss_fft_cpx                         */
    /* one tracker per band, plus the full-band (time-domain) energy last */
    rm__vad_tracker trk[RM__VAD_MAX_BANDS + 1];
    uint16_t *mem;      /* histograms and rings of every tracker         */
    double *bin_power;  /* power at the centre of each histogram bin     */
} rm__vad_dsp;

typedef struct rm__vad_result {
    float prob;         /* speech probability of the frame, 0..1         */
    double stat;        /* the detection statistic T (see docs/vad.md)   */
    double energy;      /* mean power of the frame (full scale = 1)      */
    double noise;       /* estimated noise mean power, same scale        */
    unsigned n_sub;
    double sub[RM__VAD_MAX_SUB]; /* mean power of each sub-block         */
} rm__vad_result;

/* Prepares a detector for `rate` Hz (8000..192000) and frames of `frame_ms`
 * (10, 20 or 30) with a noise window of `window_ms`; `min_rms` is the RMS
 * (full scale 1.0) below which a frame is never speech.  Returns 0 or
 * RM_ENOMEM / RM_EINVAL; on failure nothing is left allocated. */
int rm__vad_dsp_init(rm__vad_dsp *d, uint32_t rate, unsigned frame_ms, unsigned window_ms, double min_rms);
/* Analyses one frame of d->n samples (borrowed).  Realtime-safe. */
void rm__vad_dsp_frame(rm__vad_dsp *d, const float *x, rm__vad_result *r);
/* Forgets the learned noise floor. */
void rm__vad_dsp_reset(rm__vad_dsp *d);
void rm__vad_dsp_free(rm__vad_dsp *d);

#endif
