/* The circuit breaker (remotemedia/breaker.h): one implementation for the
 * executor's on_error policy and for node code with several backends. */
#include "remotemedia/breaker.h"

#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "sync.h"

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

/* ------------------------------------------------------ shared breakers --- */

/* A short list: a process has a handful of backends.  One mutex for the list
 * and every entry's state; calls hold it for a few loads and stores.
 *
 * An entry whose last user has gone is kept while it has something to say
 * (open, half-open, or failures counted), so the next session sees it; at
 * most RM_BREAKER_SHARED_IDLE_MAX such idle entries are kept, the one idle
 * longest goes first.  A clean closed breaker is freed with its last user. */
struct rm_breaker_shared {
    rm_breaker_shared *next;
    unsigned users;
    uint64_t idle_since; /* release order of idle entries (oldest: smallest) */
    rm_breaker br;
    char key[]; /* NUL-terminated */
};

static rm__mutex shared_mu = RM__MUTEX_INITIALIZER;
static rm_breaker_shared *shared_list;
static uint64_t shared_clock;
static unsigned shared_idle;

static void unlink_free(rm_breaker_shared *b)
{
    rm_breaker_shared **pp = &shared_list;
    while (*pp != b) pp = &(*pp)->next;
    *pp = b->next;
    free(b);
}

rm_breaker_shared *rm_breaker_shared_acquire(const char *key, unsigned failure_threshold,
                                             uint64_t reset_timeout_ns, unsigned success_threshold)
{
    rm_breaker want;
    rm_breaker_init(&want, failure_threshold, reset_timeout_ns, success_threshold);
    rm__lock(&shared_mu);
    rm_breaker_shared *b = shared_list;
    while (b && (strcmp(b->key, key) != 0 || b->br.failure_threshold != want.failure_threshold ||
                 b->br.reset_timeout_ns != want.reset_timeout_ns ||
                 b->br.success_threshold != want.success_threshold))
        b = b->next;
    if (!b) {
        size_t n = strlen(key) + 1;
        b = malloc(sizeof *b + n);
        if (b) {
            b->users = 0;
            b->br = want;
            memcpy(b->key, key, n);
            b->next = shared_list;
            shared_list = b;
        }
    } else if (b->users == 0) {
        shared_idle--;
    }
    if (b) b->users++;
    rm__unlock(&shared_mu);
    return b;
}

void rm_breaker_shared_release(rm_breaker_shared *b)
{
    if (!b) return;
    rm__lock(&shared_mu);
    if (--b->users == 0) {
        if (b->br.state == RM_BREAKER_CLOSED && b->br.consecutive_failures == 0) {
            unlink_free(b); /* nothing to remember */
        } else {
            b->idle_since = ++shared_clock;
            if (++shared_idle > RM_BREAKER_SHARED_IDLE_MAX) {
                rm_breaker_shared *old = NULL;
                for (rm_breaker_shared *e = shared_list; e; e = e->next)
                    if (e->users == 0 && (!old || e->idle_since < old->idle_since)) old = e;
                unlink_free(old);
                shared_idle--;
            }
        }
    }
    rm__unlock(&shared_mu);
}

/* Idle entries are reachable until exit; free them then so that no leak
 * checker has anything to say.  Entries still in use are left alone. */
__attribute__((destructor)) static void shared_free_idle(void)
{
    rm__lock(&shared_mu);
    for (rm_breaker_shared **pp = &shared_list; *pp;) {
        rm_breaker_shared *b = *pp;
        if (b->users == 0) {
            *pp = b->next;
            free(b);
        } else {
            pp = &b->next;
        }
    }
    shared_idle = 0;
    rm__unlock(&shared_mu);
}

int rm_breaker_shared_allow(rm_breaker_shared *b, uint64_t now_ns)
{
    rm__lock(&shared_mu);
    int ok = rm_breaker_allow(&b->br, now_ns);
    rm__unlock(&shared_mu);
    return ok;
}

int rm_breaker_shared_record(rm_breaker_shared *b, int ok, uint64_t now_ns, rm_breaker *after)
{
    rm__lock(&shared_mu);
    int to = rm_breaker_record(&b->br, ok, now_ns);
    if (after) *after = b->br;
    rm__unlock(&shared_mu);
    return to;
}

rm_breaker rm_breaker_shared_get(rm_breaker_shared *b)
{
    rm__lock(&shared_mu);
    rm_breaker r = b->br;
    rm__unlock(&shared_mu);
    return r;
}

unsigned rm_breaker_shared_users(rm_breaker_shared *b)
{
    rm__lock(&shared_mu);
    unsigned n = b->users;
    rm__unlock(&shared_mu);
    return n;
}
