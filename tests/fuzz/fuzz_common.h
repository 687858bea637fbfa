/* Shared set-up of the fuzz targets: one quiet runtime per process. */
#ifndef RM_FUZZ_COMMON_H
#define RM_FUZZ_COMMON_H

#include <stdio.h>
#include <stdlib.h>

#include "remotemedia/remotemedia.h"

static inline void fuzz_quiet_log(void *user, rm_log_level level, const char *node_id, const char *msg)
{
    (void)user, (void)level, (void)node_id, (void)msg;
}

/* The built-in node families, no plugins from the environment, no log output
 * (a fuzzer prints millions of rejected inputs).  Kept for the whole run. */
static inline rm_runtime *fuzz_runtime(void)
{
    static rm_runtime *rt;
    if (rt) return rt;
    rm_runtime_opts o;
    rm_runtime_opts_init(&o);
    o.log_fn = fuzz_quiet_log;
    o.log_level = RM_LOG_DEBUG; /* format every message, print none */
    o.flags = RM_RUNTIME_NO_ENV_PLUGINS;
    rm_error err;
    rm_error_clear(&err);
    if (rm_runtime_new_with_builtins(&o, &rt, &err) != 0) {
        fprintf(stderr, "fuzz: cannot create the runtime: %s\n", err.message);
        abort();
    }
    /* A runtime without node types would fuzz only "unknown node type". */
    if (!rm_runtime_find_node_type(rt, "CalculatorNode")) {
        fprintf(stderr, "fuzz: the built-in node families are not registered\n");
        abort();
    }
    return rt;
}

#endif
