/*
 * remotemedia/error.h — error codes, error classes and the error record.
 *
 * Every function that can fail returns an int: 0 on success, a negative
 * RM_E* code on failure.  The codes come from one X-macro table, which also
 * yields rm_strerror() and rm_err_name(), and assigns each code a class
 * (validation, node execution, resource limit, timeout, internal) that hosts
 * map to their own vocabulary (gRPC status, Python exception type, exit code).
 */
#ifndef REMOTEMEDIA_ERROR_H
#define REMOTEMEDIA_ERROR_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Error classes: what kind of failure, independent of the precise code. */
typedef enum rm_error_class {
    RM_ERRCLASS_NONE = 0,
    RM_ERRCLASS_VALIDATION,     /* bad manifest, parameter, input or call  */
    RM_ERRCLASS_NODE_EXECUTION, /* a node failed while processing          */
    RM_ERRCLASS_RESOURCE_LIMIT, /* memory, queue or size limit reached     */
    RM_ERRCLASS_TIMEOUT,        /* a deadline passed                       */
    RM_ERRCLASS_INTERNAL        /* a bug or an environment problem         */
} rm_error_class;

/* X(NAME, value, class, message) */
#define RM_ERRNO_MAP(X)                                                                 \
    X(EINVAL, -1, VALIDATION, "invalid argument")                                       \
    X(ENOMEM, -2, RESOURCE_LIMIT, "out of memory")                                      \
    X(EIO, -3, INTERNAL, "input/output error")                                          \
    X(EPARSE, -4, VALIDATION, "syntax error")                                           \
    X(EMANIFEST, -5, VALIDATION, "invalid manifest")                                    \
    X(ENOTFOUND, -6, VALIDATION, "not found")                                           \
    X(EPARAM, -7, VALIDATION, "invalid parameter")                                      \
    X(ECAPS, -8, VALIDATION, "incompatible port types")                                 \
    X(ECYCLE, -9, VALIDATION, "graph contains a cycle")                                 \
    X(EFRAMEKIND, -10, NODE_EXECUTION, "wrong frame kind for this port")                \
    X(EFORMAT, -11, NODE_EXECUTION, "unsupported or mismatched data format")            \
    X(ENODE, -12, NODE_EXECUTION, "node execution failed")                              \
    X(ECIRCUIT, -13, NODE_EXECUTION, "circuit breaker open")                            \
    X(ERETRY, -14, NODE_EXECUTION, "retries exhausted")                                 \
    X(EQUEUEFULL, -15, RESOURCE_LIMIT, "queue full")                                    \
    X(ELIMIT, -16, RESOURCE_LIMIT, "resource limit exceeded")                           \
    X(ETIMEDOUT, -17, TIMEOUT, "timed out")                                             \
    X(ECANCELED, -18, INTERNAL, "canceled")                                             \
    X(ESTATE, -19, VALIDATION, "operation not allowed in this state")                   \
    X(EPLUGIN, -20, VALIDATION, "plugin could not be loaded")                           \
    X(ENOTSUP, -21, INTERNAL, "not supported by this build")                            \
    X(EINTERNAL, -22, INTERNAL, "internal error")                                       \
    X(EAGAIN, -23, RESOURCE_LIMIT, "resource temporarily unavailable")                  \
    X(EMODEL, -24, VALIDATION, "model or data file missing or unusable")

typedef enum rm_errno {
    RM_OK = 0,
#define RM__ERRNO_ENUM(name, value, cls, msg) RM_##name = value,
    RM_ERRNO_MAP(RM__ERRNO_ENUM)
#undef RM__ERRNO_ENUM
    RM__ERRNO_MIN = -25
} rm_errno;

/* Human-readable message for an error code ("invalid parameter").  Never NULL;
 * unknown codes give "unknown error".  The string is static. */
const char *rm_strerror(int code);

/* Symbolic name of an error code ("RM_EPARAM").  Never NULL; static string. */
const char *rm_err_name(int code);

/* Class of an error code; RM_ERRCLASS_NONE for 0 and unknown codes. */
rm_error_class rm_err_class(int code);

/* Name of an error class ("validation", "node_execution", "resource_limit",
 * "timeout", "internal", "none").  Static string. */
const char *rm_errclass_name(rm_error_class cls);

/*
 * An error with its context.  Caller-allocated (usually on the stack) and
 * filled by functions that take an `rm_error *err` argument; such functions
 * accept err == NULL when the caller only wants the code.  All strings are
 * NUL-terminated and truncated to fit.
 */
typedef struct rm_error {
    int code;            /* RM_E* code, 0 if no error was recorded         */
    rm_error_class cls;  /* class of `code`                                 */
    char node_id[64];    /* node the error belongs to, "" if none           */
    char message[512];   /* what went wrong, naming the place (key, file…) */
} rm_error;

/* Clears `err` (no-op when NULL). */
void rm_error_clear(rm_error *err);

/* Records an error with a printf-style message and returns `code`, so that
 * `return rm_error_set(err, RM_EPARAM, "node", "...");` reads naturally.
 * `err` and `node_id` may be NULL. */
int rm_error_set(rm_error *err, int code, const char *node_id, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;

#ifdef __cplusplus
}
#endif
#endif /* REMOTEMEDIA_ERROR_H */
