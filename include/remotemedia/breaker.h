/*
 * remotemedia/breaker.h — the runtime's circuit breaker, for node code.
 *
 * The executor guards every node with `on_error.circuit_breaker` using this
 * breaker; a node that talks to several backends (RemotePipeline: one per
 * endpoint) keeps one per backend:
 *
 *   closed ──N consecutive failures──▶ open ──reset time──▶ half-open
 *   half-open ──M successes──▶ closed;  half-open ──a failure──▶ open
 *
 * A breaker is a plain struct the caller owns; it is not synchronised (guard
 * it with the caller's own lock if several threads share it).  Times are
 * CLOCK_MONOTONIC nanoseconds (rm_breaker_now_ns()).
 *
 * A backend that several sessions use (an endpoint and the credentials used
 * for it) should have one breaker for the whole process, so that a session
 * does not retry an endpoint that has just tripped for another one:
 * rm_breaker_shared_acquire() below.
 */
#ifndef REMOTEMEDIA_BREAKER_H
#define REMOTEMEDIA_BREAKER_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum rm_breaker_state { RM_BREAKER_CLOSED = 0, RM_BREAKER_OPEN, RM_BREAKER_HALF_OPEN } rm_breaker_state;

typedef struct rm_breaker {
    /* policy (set before use; failure_threshold 0 = never opens) */
    unsigned failure_threshold;
    uint64_t reset_timeout_ns;
    unsigned success_threshold; /* 0 is taken as 1 */
    /* state */
    rm_breaker_state state;
    unsigned consecutive_failures, half_open_successes;
    uint64_t opened_at_ns;
} rm_breaker;

/* A closed breaker with this policy. */
void rm_breaker_init(rm_breaker *b, unsigned failure_threshold, uint64_t reset_timeout_ns,
                     unsigned success_threshold);
/* May a call go through now?  1 yes (an open breaker past its reset time
 * turns half-open and lets calls probe), 0 no (open). */
int rm_breaker_allow(rm_breaker *b, uint64_t now_ns);
/* Records the outcome of a call; returns the state it moved to if it changed
 * (so the caller can log the transition), or -1 if unchanged. */
int rm_breaker_record(rm_breaker *b, int ok, uint64_t now_ns);
/* "closed", "open" or "half_open". */
const char *rm_breaker_state_name(rm_breaker_state s);
/* CLOCK_MONOTONIC in nanoseconds. */
uint64_t rm_breaker_now_ns(void);

/* ---- Shared breakers: one per backend for the whole process ----
 *
 * A process-wide registry of breakers keyed by a string the caller makes
 * from what identifies the backend (RemotePipeline: endpoint address, TLS
 * files and token, so different credentials never share state).  Users with
 * the same key but a different policy get separate breakers.
 *
 * Ownership: each successful acquire is paired with one release.  When the
 * last user releases it, a closed breaker with no failures counted is freed;
 * any other is kept idle so that the next user (the next session) starts
 * from its state: an endpoint that tripped stays skipped until its reset
 * time.  At most RM_BREAKER_SHARED_IDLE_MAX idle breakers are kept (the one
 * idle longest is dropped first); the rest are freed at process exit.
 * Threads: every function may be called from any thread.  One process-wide
 * mutex guards the registry and the state of every shared breaker; each call
 * holds it only for the state update (no I/O, no callbacks).  In
 * single-thread builds (wasm32-wasi) the mutex is a no-op. */
typedef struct rm_breaker_shared rm_breaker_shared;
#define RM_BREAKER_SHARED_IDLE_MAX 64

/* The breaker for `key` with this policy, created closed if no one holds it;
 * NULL only when out of memory. */
rm_breaker_shared *rm_breaker_shared_acquire(const char *key, unsigned failure_threshold,
                                             uint64_t reset_timeout_ns, unsigned success_threshold);
/* Drops one reference (NULL is ignored). */
void rm_breaker_shared_release(rm_breaker_shared *b);
/* rm_breaker_allow() / rm_breaker_record() under the registry lock; `after`
 * (may be NULL) receives a copy of the breaker as this call left it. */
int rm_breaker_shared_allow(rm_breaker_shared *b, uint64_t now_ns);
int rm_breaker_shared_record(rm_breaker_shared *b, int ok, uint64_t now_ns, rm_breaker *after);
/* A copy of the breaker's current policy and state. */
rm_breaker rm_breaker_shared_get(rm_breaker_shared *b);
/* How many users hold it (for tests and metrics). */
unsigned rm_breaker_shared_users(rm_breaker_shared *b);

#ifdef __cplusplus
}
#endif
#endif /* REMOTEMEDIA_BREAKER_H */
