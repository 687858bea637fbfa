/* The process-wide shared circuit breakers (remotemedia/breaker.h), as the
 * RemotePipeline node uses them per endpoint: one breaker per key and
 * policy, shared by every user, half-open after the reset time, closed after
 * M successes, kept for the next user while it has state to remember (at
 * most RM_BREAKER_SHARED_IDLE_MAX idle ones), consistent under threads.  Times are given explicitly, so
 * nothing here depends on the machine's speed. */
#include <pthread.h>
#include <stdio.h>

#include "remotemedia/breaker.h"
#include "../unit/check.h"


#define MS 1000000ull
#define THREADS 4
#define PER_THREAD 5000

static void *hammer(void *arg)
{
    rm_breaker_shared *b = rm_breaker_shared_acquire("hammer", 1000000000u, 1000 * MS, 1);
    for (int i = 0; i < PER_THREAD; i++) {
        rm_breaker_shared_allow(b, 1);
        rm_breaker_shared_record(b, 0, 1, NULL);
    }
    rm_breaker_shared_release(b);
    (void)arg;
    return NULL;
}

int main(void)
{
    /* two sessions of one endpoint share; other credentials or policy do not */
    rm_breaker_shared *s1 = rm_breaker_shared_acquire("ep-a|token=1", 2, 100 * MS, 3);
    rm_breaker_shared *s2 = rm_breaker_shared_acquire("ep-a|token=1", 2, 100 * MS, 3);
    rm_breaker_shared *other_token = rm_breaker_shared_acquire("ep-a|token=2", 2, 100 * MS, 3);
    rm_breaker_shared *other_policy = rm_breaker_shared_acquire("ep-a|token=1", 5, 100 * MS, 3);
    CHECK(s1 && s2 && other_token && other_policy);
    CHECK(s1 == s2 && rm_breaker_shared_users(s1) == 2);
    CHECK(other_token != s1 && other_policy != s1 && rm_breaker_shared_users(other_token) == 1);

    /* session 1 trips it ... */
    uint64_t t = 1000 * MS;
    rm_breaker after;
    CHECK(rm_breaker_shared_allow(s1, t) == 1);
    CHECK(rm_breaker_shared_record(s1, 0, t, &after) == -1 && after.consecutive_failures == 1);
    CHECK(rm_breaker_shared_record(s1, 0, t, &after) == RM_BREAKER_OPEN && after.state == RM_BREAKER_OPEN);
    /* ... session 2 sees it open at once; the other credentials do not */
    CHECK(rm_breaker_shared_allow(s2, t + 1) == 0);
    CHECK(rm_breaker_shared_get(s2).state == RM_BREAKER_OPEN);
    CHECK(rm_breaker_shared_allow(other_token, t + 1) == 1);
    CHECK(rm_breaker_shared_allow(other_policy, t + 1) == 1);
    /* still open just before the reset time, for everyone */
    CHECK(rm_breaker_shared_allow(s2, t + 100 * MS - 1) == 0);
    CHECK(rm_breaker_shared_allow(s1, t + 100 * MS - 1) == 0);

    /* a session that ends keeps the state for the others */
    rm_breaker_shared_release(s1);
    CHECK(rm_breaker_shared_users(s2) == 1);
    rm_breaker_shared *s3 = rm_breaker_shared_acquire("ep-a|token=1", 2, 100 * MS, 3);
    CHECK(s3 == s2 && rm_breaker_shared_get(s3).state == RM_BREAKER_OPEN);

    /* half-open after the reset time; a failed probe opens it again */
    t += 100 * MS;
    CHECK(rm_breaker_shared_allow(s3, t) == 1 && rm_breaker_shared_get(s2).state == RM_BREAKER_HALF_OPEN);
    CHECK(rm_breaker_shared_record(s3, 0, t, NULL) == RM_BREAKER_OPEN);
    CHECK(rm_breaker_shared_allow(s2, t + 50 * MS) == 0);
    /* next reset: M = 3 successes from any session close it */
    t += 100 * MS;
    CHECK(rm_breaker_shared_allow(s2, t) == 1);
    CHECK(rm_breaker_shared_record(s2, 1, t, NULL) == -1);
    CHECK(rm_breaker_shared_record(s3, 1, t, NULL) == -1);
    CHECK(rm_breaker_shared_get(s2).state == RM_BREAKER_HALF_OPEN);
    CHECK(rm_breaker_shared_record(s2, 1, t, &after) == RM_BREAKER_CLOSED && after.state == RM_BREAKER_CLOSED);
    CHECK(rm_breaker_shared_allow(s3, t) == 1);

    /* the last user gone while it is open: kept for the next session */
    rm_breaker_shared_record(s2, 0, t, NULL);
    rm_breaker_shared_record(s2, 0, t, NULL);
    CHECK(rm_breaker_shared_get(s2).state == RM_BREAKER_OPEN);
    rm_breaker_shared_release(s2);
    rm_breaker_shared_release(s3);
    rm_breaker_shared *next = rm_breaker_shared_acquire("ep-a|token=1", 2, 100 * MS, 3);
    CHECK(next && rm_breaker_shared_users(next) == 1 && rm_breaker_shared_get(next).state == RM_BREAKER_OPEN);
    CHECK(rm_breaker_shared_allow(next, t + 1) == 0);
    /* closed and clean when the last user goes: nothing to remember */
    t += 100 * MS;
    CHECK(rm_breaker_shared_allow(next, t) == 1);
    for (int i = 0; i < 3; i++) rm_breaker_shared_record(next, 1, t, NULL);
    CHECK(rm_breaker_shared_get(next).state == RM_BREAKER_CLOSED);
    rm_breaker_shared_release(next);
    rm_breaker_shared_release(other_token);
    rm_breaker_shared_release(other_policy);
    rm_breaker_shared_release(NULL);

    /* one failure counted (still closed) is remembered too */
    rm_breaker_shared *one = rm_breaker_shared_acquire("ep-b", 2, 100 * MS, 1);
    rm_breaker_shared_record(one, 0, t, NULL);
    rm_breaker_shared_release(one);
    one = rm_breaker_shared_acquire("ep-b", 2, 100 * MS, 1);
    CHECK(rm_breaker_shared_record(one, 0, t, NULL) == RM_BREAKER_OPEN);
    rm_breaker_shared_release(one);

    /* the limit: RM_BREAKER_SHARED_IDLE_MAX idle breakers; the one idle
     * longest is dropped (ep-b above, then idle-0) */
    for (int i = 0; i < RM_BREAKER_SHARED_IDLE_MAX; i++) {
        char key[32];
        snprintf(key, sizeof key, "idle-%d", i);
        rm_breaker_shared *b = rm_breaker_shared_acquire(key, 1, 100 * MS, 1);
        CHECK(b && rm_breaker_shared_record(b, 0, t, NULL) == RM_BREAKER_OPEN);
        rm_breaker_shared_release(b);
    }
    rm_breaker_shared *b = rm_breaker_shared_acquire("ep-b", 2, 100 * MS, 1);
    CHECK(rm_breaker_shared_get(b).state == RM_BREAKER_CLOSED); /* dropped: a new one */
    rm_breaker_shared_release(b); /* clean: freed, the idle set is unchanged */
    b = rm_breaker_shared_acquire("idle-0", 1, 100 * MS, 1); /* still there: 64 idle fit */
    CHECK(rm_breaker_shared_get(b).state == RM_BREAKER_OPEN);
    rm_breaker_shared_release(b); /* idle again, now the newest */
    b = rm_breaker_shared_acquire("extra", 1, 100 * MS, 1);
    rm_breaker_shared_record(b, 0, t, NULL);
    rm_breaker_shared_release(b); /* 65 idle: idle-1 (idle longest) goes */
    b = rm_breaker_shared_acquire("idle-1", 1, 100 * MS, 1);
    CHECK(rm_breaker_shared_get(b).state == RM_BREAKER_CLOSED);
    rm_breaker_shared_release(b);
    b = rm_breaker_shared_acquire("idle-0", 1, 100 * MS, 1);
    CHECK(rm_breaker_shared_get(b).state == RM_BREAKER_OPEN);
    rm_breaker_shared_release(b);

    /* threads: no update lost (every failure counted once) */
    rm_breaker_shared *keep = rm_breaker_shared_acquire("hammer", 1000000000u, 1000 * MS, 1);
    pthread_t th[THREADS];
    for (int i = 0; i < THREADS; i++) CHECK(pthread_create(&th[i], NULL, hammer, NULL) == 0);
    for (int i = 0; i < THREADS; i++) pthread_join(th[i], NULL);
    CHECK(rm_breaker_shared_get(keep).consecutive_failures == THREADS * PER_THREAD);
    CHECK(rm_breaker_shared_users(keep) == 1);
    rm_breaker_shared_release(keep);

    if (check_failures) fprintf(stderr, "test_shared_breaker: %d check(s) failed\n", check_failures);
    else printf("test_shared_breaker: ok\n");
    return check_failures != 0;
}
