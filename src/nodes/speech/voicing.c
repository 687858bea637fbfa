/* Voicing detector (see voicing.h). */
#define _POSIX_C_SOURCE 200809L
#include "voicing.h"

#include <math.h>
#include <string.h>

#define V_PI 3.14159265358979323846
#define V_RATE 8000.0
#define V_LAG_MIN 20  /* 400 Hz */
#define V_LAG_MAX 100 /* 80 Hz */
#define V_THRESHOLD 0.6f
#define V_MIN_RMS 1e-4f /* below: digital silence, not voiced */

/* RBJ audio-EQ-cookbook biquad, Q = 1/sqrt(2) (Butterworth). */
static void design(float *c, int highpass, double f0)
{
    double w = 2 * V_PI * f0 / V_RATE, cw = cos(w), alpha = sin(w) / (2 * 0.70710678118654752);
    double a0 = 1 + alpha;
    double b1 = highpass ? -(1 + cw) : 1 - cw;
    double b0 = highpass ? (1 + cw) / 2 : (1 - cw) / 2;
    c[0] = (float)(b0 / a0);
    c[1] = (float)(b1 / a0);
    c[2] = (float)(b0 / a0);
    c[3] = (float)(-2 * cw / a0);
    c[4] = (float)((1 - alpha) / a0);
}

static float run(const float *c, float *s, float x)
{
    float y = c[0] * x + c[1] * s[0] + c[2] * s[1] - c[3] * s[2] - c[4] * s[3];
    s[1] = s[0];
    s[0] = x;
    s[3] = s[2];
    s[2] = y;
    return y;
}

void rm__voicing_init(rm__voicing *v)
{
    memset(v, 0, sizeof *v);
    design(v->hp, 1, 80.0);
    design(v->lp, 0, 1000.0);
}

void rm__voicing_reset_counts(rm__voicing *v) { v->voiced = v->blocks = 0; }

static int analyse(const float *w)
{
    float e = 0;
    for (int i = 0; i < RM__VOICING_WIN; i++) e += w[i] * w[i];
    if (e < V_MIN_RMS * V_MIN_RMS * RM__VOICING_WIN) return 0;
    for (int lag = V_LAG_MIN; lag <= V_LAG_MAX; lag++) {
        float xy = 0, xx = 0, yy = 0;
        for (int i = lag; i < RM__VOICING_WIN; i++) {
            xy += w[i] * w[i - lag];
            xx += w[i] * w[i];
            yy += w[i - lag] * w[i - lag];
        }
        if (xy > 0 && xy * xy >= V_THRESHOLD * V_THRESHOLD * xx * yy) return 1;
    }
    return 0;
}

void rm__voicing_feed(rm__voicing *v, const int16_t *pcm, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        float x = (float)pcm[i] / 32768.0f;
        if (!v->odd) {
            v->pending = x;
            v->odd = 1;
            continue;
        }
        v->odd = 0;
        float y = run(v->lp, v->ls, run(v->hp, v->hs, 0.5f * (v->pending + x)));
        v->win[RM__VOICING_WIN - RM__VOICING_HOP + v->fill++] = y;
        if (v->fill == RM__VOICING_HOP) {
            v->blocks++;
            v->voiced += (unsigned)analyse(v->win);
            memmove(v->win, v->win + RM__VOICING_HOP, (RM__VOICING_WIN - RM__VOICING_HOP) * sizeof *v->win);
            v->fill = 0;
        }
    }
}
