/*
 * Minimal checks for the C unit tests: each test program runs its cases and
 * exits non-zero if any check failed.  ctest runs every program (under ASan,
 * UBSan and LeakSanitizer in `make test`).
 */
#ifndef RM_TEST_CHECK_H
#define RM_TEST_CHECK_H

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "remotemedia/remotemedia.h"

static int check_failures;

#define CHECK(cond)                                                                  \
    do {                                                                             \
        if (!(cond)) {                                                               \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
            check_failures++;                                                        \
        }                                                                            \
    } while (0)

#define CHECK_INT(a, b)                                                                         \
    do {                                                                                        \
        long long a_ = (long long)(a), b_ = (long long)(b);                                     \
        if (a_ != b_) {                                                                         \
            fprintf(stderr, "%s:%d: %s == %lld, expected %lld\n", __FILE__, __LINE__, #a, a_, b_); \
            check_failures++;                                                                   \
        }                                                                                       \
    } while (0)

#define CHECK_STR(a, b)                                                                           \
    do {                                                                                          \
        const char *a_ = (a), *b_ = (b);                                                          \
        if (!a_ || !b_ || strcmp(a_, b_) != 0) {                                                  \
            fprintf(stderr, "%s:%d: %s == \"%s\", expected \"%s\"\n", __FILE__, __LINE__, #a,      \
                    a_ ? a_ : "(null)", b_ ? b_ : "(null)");                                       \
            check_failures++;                                                                     \
        }                                                                                         \
    } while (0)

/* Substring check, for error messages. */
#define CHECK_CONTAINS(hay, needle)                                                              \
    do {                                                                                         \
        const char *h_ = (hay), *n_ = (needle);                                                  \
        if (!h_ || !strstr(h_, n_)) {                                                            \
            fprintf(stderr, "%s:%d: \"%s\" does not contain \"%s\"\n", __FILE__, __LINE__,        \
                    h_ ? h_ : "(null)", n_);                                                     \
            check_failures++;                                                                    \
        }                                                                                        \
    } while (0)

#define CHECK_NEAR(a, b, tol)                                                                          \
    do {                                                                                               \
        double a_ = (a), b_ = (b);                                                                     \
        if (!(fabs(a_ - b_) <= (tol))) {                                                               \
            fprintf(stderr, "%s:%d: %s == %.9g, expected %.9g ± %g\n", __FILE__, __LINE__, #a, a_, b_, \
                    (double)(tol));                                                                    \
            check_failures++;                                                                          \
        }                                                                                              \
    } while (0)

#define RUN(test)                                      \
    do {                                               \
        int before_ = check_failures;                  \
        test();                                        \
        fprintf(stderr, "%-44s %s\n", #test,           \
                check_failures == before_ ? "ok" : "FAILED"); \
    } while (0)

#define CHECK_DONE() (check_failures ? 1 : 0)

/* A runtime with the built-in node types only (RMEDIA_PLUGIN_PATH is
 * ignored, so the environment cannot change a test) that logs `level` and
 * more severe.  Returns NULL, with the reason on stderr, on failure; the
 * caller frees it with rm_runtime_free(). */
static inline rm_runtime *check_runtime_new(rm_log_level level)
{
    rm_runtime_opts o;
    rm_runtime_opts_init(&o);
    o.flags = RM_RUNTIME_NO_ENV_PLUGINS;
    o.log_level = level;
    rm_runtime *rt = NULL;
    rm_error e;
    if (rm_runtime_new_with_builtins(&o, &rt, &e) != 0) fprintf(stderr, "rm_runtime_new: %s\n", e.message);
    return rt;
}

#endif
