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

#ifdef __cplusplus
}
#endif
#endif /* REMOTEMEDIA_BREAKER_H */
