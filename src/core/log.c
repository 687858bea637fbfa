/* Log level names. */
#include <string.h>

#include "internal.h"

static const char *const level_names[] = {"error", "warn", "info", "debug", "trace"};

const char *rm_log_level_name(rm_log_level level)
{
    if ((unsigned)level < RM__ARRAY_LEN(level_names)) return level_names[level];
    return "?";
}

int rm_log_level_from_name(const char *name)
{
    if (!name) return -1;
    for (unsigned i = 0; i < RM__ARRAY_LEN(level_names); i++)
        if (strcmp(name, level_names[i]) == 0) return (int)i;
    if (strcmp(name, "warning") == 0) return RM_LOG_WARN;
    return -1;
}
