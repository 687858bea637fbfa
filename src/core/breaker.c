/* The circuit breaker (remotemedia/breaker.h): one implementation for the
 * executor's on_error policy and for node code with several backends. */
#include "remotemedia/breaker.h"

#include "internal.h"

void rm_breaker_init(rm_breaker *b, unsigned failure_threshold, uint64_t reset_timeout_ns,
                     unsigned success_threshold)
{
    *b = (rm_breaker){.failure_threshold = failure_threshold,
                      .reset_timeout_ns = reset_timeout_ns,
                      .success_threshold = success_threshold ? success_threshold : 1};
}

int rm_breaker_allow(rm_breaker *b, uint64_t now_ns)
{
    if (b->state != RM_BREAKER_OPEN) return 1;
    if (now_ns - b->opened_at_ns < b->reset_timeout_ns) return 0;
    b->state = RM_BREAKER_HALF_OPEN; /* let calls probe the backend */
    b->half_open_successes = 0;
    return 1;
}

int rm_breaker_record(rm_breaker *b, int ok, uint64_t now_ns)
{
    if (!b->failure_threshold) return -1;
    if (ok) {
        b->consecutive_failures = 0;
        unsigned need = b->success_threshold ? b->success_threshold : 1;
        if (b->state == RM_BREAKER_HALF_OPEN && ++b->half_open_successes >= need) {
            b->state = RM_BREAKER_CLOSED;
            return RM_BREAKER_CLOSED;
        }
        return -1;
    }
    b->consecutive_failures++;
    if (b->state == RM_BREAKER_HALF_OPEN || b->consecutive_failures >= b->failure_threshold) {
        int was = b->state;
        b->state = RM_BREAKER_OPEN;
        b->opened_at_ns = now_ns;
        return was != RM_BREAKER_OPEN ? RM_BREAKER_OPEN : -1;
    }
    return -1;
}

const char *rm_breaker_state_name(rm_breaker_state s)
{
    static const char *const names[] = {"closed", "open", "half_open"};
    return (unsigned)s < 3 ? names[s] : "unknown";
}

uint64_t rm_breaker_now_ns(void) { return rm__now_ns(); }
