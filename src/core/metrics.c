/*
 * Latency histogram: 4 sub-buckets per power of two (≤ 19 % relative error
 * per bucket), counts only, so recording is an index computation and an
 * increment.  Quantiles interpolate linearly inside the bucket.
 */
#include "internal.h"

uint64_t rm__hist_bucket_low(unsigned idx)
{
    if (idx < RM__HIST_SUB) return idx;
    unsigned msb = idx / RM__HIST_SUB + 1, sub = idx % RM__HIST_SUB;
    return (uint64_t)(RM__HIST_SUB + sub) << (msb - 2);
}

double rm__hist_quantile(const rm__hist *h, uint64_t count, double q)
{
    if (!count) return 0;
    double target = q * (double)count;
    uint64_t seen = 0;
    for (unsigned i = 0; i < RM__HIST_BUCKETS; i++) {
        if (!h->b[i]) continue;
        if ((double)(seen + h->b[i]) >= target) {
            double lo = (double)rm__hist_bucket_low(i);
            double hi = i + 1 < RM__HIST_BUCKETS ? (double)rm__hist_bucket_low(i + 1) : lo * 1.25;
            double frac = (target - (double)seen) / (double)h->b[i];
            return lo + (hi - lo) * frac;
        }
        seen += h->b[i];
    }
    return (double)rm__hist_bucket_low(RM__HIST_BUCKETS - 1);
}
