/* Error codes, names, classes and the rm_error record. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"

const char *rm_strerror(int code)
{
    switch (code) {
    case 0: return "success";
#define RM__ERR_MSG(name, value, cls, msg) \
    case value: return msg;
        RM_ERRNO_MAP(RM__ERR_MSG)
#undef RM__ERR_MSG
    default: return "unknown error";
    }
}

const char *rm_err_name(int code)
{
    switch (code) {
    case 0: return "RM_OK";
#define RM__ERR_NAME(name, value, cls, msg) \
    case value: return "RM_" #name;
        RM_ERRNO_MAP(RM__ERR_NAME)
#undef RM__ERR_NAME
    default: return "RM_EUNKNOWN";
    }
}

rm_error_class rm_err_class(int code)
{
    switch (code) {
#define RM__ERR_CLASS(name, value, cls, msg) \
    case value: return RM_ERRCLASS_##cls;
        RM_ERRNO_MAP(RM__ERR_CLASS)
#undef RM__ERR_CLASS
    default: return RM_ERRCLASS_NONE;
    }
}

const char *rm_errclass_name(rm_error_class cls)
{
    switch (cls) {
    case RM_ERRCLASS_VALIDATION: return "validation";
    case RM_ERRCLASS_NODE_EXECUTION: return "node_execution";
    case RM_ERRCLASS_RESOURCE_LIMIT: return "resource_limit";
    case RM_ERRCLASS_TIMEOUT: return "timeout";
    case RM_ERRCLASS_INTERNAL: return "internal";
    case RM_ERRCLASS_NONE: break;
    }
    return "none";
}

void rm_error_clear(rm_error *err)
{
    if (!err) return;
    err->code = 0;
    err->cls = RM_ERRCLASS_NONE;
    err->node_id[0] = '\0';
    err->message[0] = '\0';
}

int rm_error_set(rm_error *err, int code, const char *node_id, const char *fmt, ...)
{
    if (!err) return code;
    err->code = code;
    err->cls = rm_err_class(code);
    snprintf(err->node_id, sizeof err->node_id, "%s", node_id ? node_id : "");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
    return code;
}
