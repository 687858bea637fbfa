/*
 * Voice activity detection, the signal processing (see vad_dsp.h and
 * docs/vad.md for the design and the reasons behind each choice).
 *
 * Per frame:
 *  1. frame mean removed, frame power and 5 ms sub-block powers;
 *  2. real FFT (kissfft) of the frame, power per band (17 bands, 100 Hz – 8 kHz);
 *  3. per band, the noise mean power from a windowed low quantile of the
 *     band's log power over the last `window_ms` (quantile noise estimation),
 *     corrected by the quantile/mean ratio of the band's chi-square law;
 *  4. per band, the generalised likelihood ratio of "noise plus a signal"
 *     against "noise alone" for the Gaussian model (Sohn et al. 1999 with the
 *     maximum-likelihood a-priori SNR), one-sided, summed over bands: T;
 *  5. T against its noise-only distribution → log-odds → probability.
 */
#include "vad_dsp.h"

#include <kiss_fftr.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "remotemedia/error.h"

#define HIST_DB 0.25     /* histogram resolution                          */
#define HIST_MIN_DB -160.0
#define HIST_BINS 760    /* -160 dB .. +30 dB                             */
#define NOISE_Q 0.2      /* quantile of the noise window taken as floor   */
#define NOISE_Z -0.8416  /* standard normal quantile at NOISE_Q           */
#define T_Z 4.0          /* noise-only T above its mean, in SDs, for p = 0.5 */
#define T_SLOPE 1.5      /* log-odds per SD of T                           */
#define LOGODDS_MAX 8.0

/* Band edges in Hz: about one critical band wide in the voice range, never
 * narrower than two bins of a 10 ms frame (100 Hz). */
static const double band_edges[RM__VAD_MAX_BANDS + 1] = {100,  300,  500,  700,  900,  1100,
                                                         1350, 1650, 2000, 2400, 2850, 3350,
                                                         3900, 4600, 5400, 6300, 7300, 8000};

/* Ratio quantile/mean of chi-square with `dof` degrees of freedom at
 * NOISE_Q (Wilson–Hilferty approximation; within 1 % for dof >= 4). */
static double chi2_quantile_ratio(double dof)
{
    double v = 2.0 / (9.0 * dof);
    double c = 1.0 - v + NOISE_Z * sqrt(v);
    if (c < 0.05) c = 0.05;
    return c * c * c;
}

/* log2(x) for normal x > 0, within 2e-4 (the float's exponent plus a
 * degree-4 Chebyshev fit on its mantissa): the detector needs ~0.01 dB, not
 * libm's last bit, and takes ~40 logarithms per frame. */
static float fast_log2(float x)
{
    union {
        float f;
        uint32_t u;
    } v = {x};
    float e = (float)(int)((v.u >> 23) & 0xff) - 127.0f;
    v.u = (v.u & 0x007fffffu) | 0x3f800000u; /* mantissa in [1, 2) */
    float m = v.f;
    return e + (-2.49677377f + m * (4.02837277f + m * (-2.0810602f + m * (0.62881573f - 0.07915037f * m))));
}

static int db_bin(double power)
{
    float db = 3.0103f * fast_log2((float)(power > 1e-16 ? power : 1e-16)); /* 10 log10 */
    int h = (int)((db - (float)HIST_MIN_DB) * (float)(1.0 / HIST_DB));
    return h < 0 ? 0 : h >= HIST_BINS ? HIST_BINS - 1 : h;
}

static void trk_clear(rm__vad_tracker *t)
{
    memset(t->hist, 0, HIST_BINS * sizeof *t->hist);
    t->head = t->count = 0;
    t->qi = 0;
    t->below = 0;
}

/* Adds one frame's bin, drops the oldest when the window is full, and moves
 * the quantile pointer (amortised O(1): it moves by the bins the quantile
 * moved). */
static void trk_push(rm__vad_tracker *t, unsigned window, int h)
{
    if (t->count == window) {
        int old = t->ring[t->head];
        t->hist[old]--;
        if (old < t->qi) t->below--;
    } else {
        t->count++;
    }
    t->ring[t->head] = (uint16_t)h;
    t->head = t->head + 1 == window ? 0 : t->head + 1;
    t->hist[h]++;
    if (h < t->qi) t->below++;
    unsigned r = (unsigned)(NOISE_Q * t->count); /* 0-based rank, < count */
    while (t->below > r) {
        t->qi--;
        t->below -= t->hist[t->qi];
    }
    while (t->below + t->hist[t->qi] <= r) {
        t->below += t->hist[t->qi];
        t->qi++;
    }
}

/* Noise mean power implied by the current quantile. */
static double trk_mean(const rm__vad_dsp *d, const rm__vad_tracker *t) { return d->bin_power[t->qi] * t->inv_bias; }

/* Sum of x[0..n) (sq == NULL) or of its squares (sq == x), with four
 * independent accumulators so the adds pipeline. */
static float sum4(const float *x, unsigned n, const float *sq)
{
    float a0 = 0, a1 = 0, a2 = 0, a3 = 0;
    unsigned i = 0;
    if (sq) {
        for (; i + 4 <= n; i += 4) {
            a0 += x[i] * x[i];
            a1 += x[i + 1] * x[i + 1];
            a2 += x[i + 2] * x[i + 2];
            a3 += x[i + 3] * x[i + 3];
        }
        for (; i < n; i++) a0 += x[i] * x[i];
    } else {
        for (; i + 4 <= n; i += 4) {
            a0 += x[i];
            a1 += x[i + 1];
            a2 += x[i + 2];
            a3 += x[i + 3];
        }
        for (; i < n; i++) a0 += x[i];
    }
    return (a0 + a1) + (a2 + a3);
}

int rm__vad_dsp_init(rm__vad_dsp *d, uint32_t rate, unsigned frame_ms, unsigned window_ms, double min_rms)
{
    memset(d, 0, sizeof *d);
    if (rate < 8000 || rate > 192000 || (frame_ms != 10 && frame_ms != 20 && frame_ms != 30) || window_ms < 100)
        return RM_EINVAL;
    d->rate = rate;
    d->n = (unsigned)((uint64_t)rate * frame_ms / 1000);
    d->nfft = (unsigned)kiss_fftr_next_fast_size_real((int)d->n);
    d->window = window_ms / frame_ms;
    if (d->window > 65535) d->window = 65535; /* histogram counts are 16-bit */
    d->n_sub = frame_ms / RM__VAD_SUB_MS;
    d->sub_len = d->n / d->n_sub;
    d->min_power = min_rms * min_rms;

    double bin_hz = (double)rate / d->nfft, top = 0.48 * rate;
    unsigned nb = 0;
    for (unsigned b = 0; b < RM__VAD_MAX_BANDS && band_edges[b] < top; b++) {
        double hi = band_edges[b + 1] < top ? band_edges[b + 1] : top;
        unsigned lo_k = (unsigned)ceil(band_edges[b] / bin_hz), hi_k = (unsigned)ceil(hi / bin_hz);
        if (hi_k <= lo_k) continue;
        d->band_lo[nb] = lo_k;
        d->band_hi[nb] = hi_k;
        /* each bin's power is exponential (chi-square, 2 dof) under white
         * Gaussian noise; the band mean has 2 * bins dof */
        d->trk[nb].inv_bias = 1.0 / chi2_quantile_ratio(2.0 * (hi_k - lo_k));
        nb++;
    }
    d->n_bands = nb;
    /* the frame power of n real samples: n dof */
    d->trk[nb].inv_bias = 1.0 / chi2_quantile_ratio((double)d->n);
    /* Under noise alone each band adds about chi-square(1)/2 one-sided:
     * mean 0.5 and variance 1.25 per band. */
    double sd = sqrt(1.25 * nb);
    d->t0 = 0.5 * nb + T_Z * sd;
    d->t_scale = T_SLOPE / sd;

    d->fft = kiss_fftr_alloc((int)d->nfft, 0, NULL, NULL);
    d->work = calloc(d->nfft, sizeof *d->work);
    d->spec = calloc(d->nfft / 2 + 1, sizeof(kiss_fft_cpx));
    d->mem = calloc((size_t)(nb + 1) * (HIST_BINS + d->window), sizeof *d->mem);
    d->bin_power = malloc(HIST_BINS * sizeof *d->bin_power);
    if (!d->fft || !d->work || !d->spec || !d->mem || !d->bin_power) {
        rm__vad_dsp_free(d);
        return RM_ENOMEM;
    }
    for (int h = 0; h < HIST_BINS; h++) d->bin_power[h] = pow(10.0, (HIST_MIN_DB + (h + 0.5) * HIST_DB) / 10.0);
    for (unsigned b = 0; b <= nb; b++) {
        d->trk[b].hist = d->mem + (size_t)b * (HIST_BINS + d->window);
        d->trk[b].ring = d->trk[b].hist + HIST_BINS;
    }
    rm__vad_dsp_reset(d);
    return 0;
}

void rm__vad_dsp_reset(rm__vad_dsp *d)
{
    for (unsigned b = 0; b <= d->n_bands; b++) trk_clear(&d->trk[b]);
}

void rm__vad_dsp_free(rm__vad_dsp *d)
{
    kiss_fftr_free(d->fft);
    free(d->work);
    free(d->spec);
    free(d->mem);
    free(d->bin_power);
    d->bin_power = NULL;
    d->fft = NULL;
    d->work = NULL;
    d->spec = NULL;
    d->mem = NULL;
}

void rm__vad_dsp_frame(rm__vad_dsp *d, const float *x, rm__vad_result *r)
{
    const unsigned n = d->n;
    float *w = d->work;
    /* remove the frame's mean: DC leaks into the low bands when the FFT is
     * zero-padded and inflates the sub-block energies */
    float mean = sum4(x, n, NULL) / (float)n;
    for (unsigned i = 0; i < n; i++) w[i] = x[i] - mean;
    double total = 0;
    r->n_sub = d->n_sub;
    for (unsigned s = 0; s < d->n_sub; s++) {
        unsigned i = s * d->sub_len, len = s + 1 == d->n_sub ? n - i : d->sub_len;
        double acc = sum4(w + i, len, w + i);
        r->sub[s] = acc / len;
        total += acc;
    }
    r->energy = total / n;

    kiss_fft_cpx *X = d->spec;
    kiss_fftr(d->fft, w, X);
    const double norm = 1.0 / n;
    double T = 0;
    for (unsigned b = 0; b < d->n_bands; b++) {
        double p = 0;
        for (unsigned k = d->band_lo[b]; k < d->band_hi[b]; k++) p += (double)X[k].r * X[k].r + (double)X[k].i * X[k].i;
        unsigned bins = d->band_hi[b] - d->band_lo[b];
        p *= norm / bins;
        rm__vad_tracker *t = &d->trk[b];
        if (t->count) {
            double g = p / trk_mean(d, t);
            if (g > 1.0) T += 2.0 * bins * (g - 1.0 - 0.69314718 * fast_log2((float)g));
        }
        trk_push(t, d->window, db_bin(p));
    }
    rm__vad_tracker *ft = &d->trk[d->n_bands];
    r->noise = ft->count ? trk_mean(d, ft) : r->energy;
    trk_push(ft, d->window, db_bin(r->energy));

    double lo = (T - d->t0) * d->t_scale;
    if (lo > LOGODDS_MAX) lo = LOGODDS_MAX;
    if (lo < -LOGODDS_MAX || r->energy < d->min_power) lo = -LOGODDS_MAX;
    r->stat = T;
    r->prob = (float)(1.0 / (1.0 + exp(-lo)));
}
