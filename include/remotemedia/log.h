/*
 * remotemedia/log.h — log levels and the log callback a host installs.
 *
 * The runtime never writes to stderr on its own: every message goes through
 * the rm_log_fn given in rm_runtime_opts (the default one prints to stderr).
 * Messages from nodes carry the node id.
 */
#ifndef REMOTEMEDIA_LOG_H
#define REMOTEMEDIA_LOG_H

#ifdef __cplusplus
extern "C" {
#endif

typedef enum rm_log_level {
    RM_LOG_ERROR = 0,
    RM_LOG_WARN = 1,
    RM_LOG_INFO = 2,
    RM_LOG_DEBUG = 3,
    RM_LOG_TRACE = 4
} rm_log_level;

/* Called for each message at or below the runtime's level.  `node_id` is NULL
 * for messages that do not belong to a node.  `message` is borrowed (valid
 * during the call) and has no trailing newline.  May be called from any thread
 * that runs a session, concurrently; it must be thread-safe. */
typedef void (*rm_log_fn)(void *user, rm_log_level level, const char *node_id,
                          const char *message);

/* "error", "warn", "info", "debug", "trace". */
const char *rm_log_level_name(rm_log_level level);
/* Parses a level name; returns -1 if unknown. */
int rm_log_level_from_name(const char *name);

#ifdef __cplusplus
}
#endif
#endif /* REMOTEMEDIA_LOG_H */
