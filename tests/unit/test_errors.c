/* Error codes: one table gives messages, names and classes. */
#include "check.h"
#include "remotemedia/remotemedia.h"

static void test_messages_and_names(void)
{
    CHECK_STR(rm_strerror(0), "success");
    CHECK_STR(rm_strerror(RM_EPARAM), "invalid parameter");
    CHECK_STR(rm_err_name(RM_EPARAM), "RM_EPARAM");
    CHECK_STR(rm_err_name(RM_ECYCLE), "RM_ECYCLE");
    CHECK_STR(rm_strerror(-9999), "unknown error");
    CHECK_STR(rm_err_name(-9999), "RM_EUNKNOWN");
    /* every code in the table has a distinct name and a message */
    for (int c = -1; c > RM__ERRNO_MIN; c--) {
        CHECK(strcmp(rm_strerror(c), "unknown error") != 0);
        CHECK(strncmp(rm_err_name(c), "RM_E", 4) == 0);
        CHECK(rm_err_class(c) != RM_ERRCLASS_NONE);
    }
}

static void test_classes(void)
{
    CHECK_INT(rm_err_class(RM_EPARAM), RM_ERRCLASS_VALIDATION);
    CHECK_INT(rm_err_class(RM_ENODE), RM_ERRCLASS_NODE_EXECUTION);
    CHECK_INT(rm_err_class(RM_EQUEUEFULL), RM_ERRCLASS_RESOURCE_LIMIT);
    CHECK_INT(rm_err_class(RM_ETIMEDOUT), RM_ERRCLASS_TIMEOUT);
    CHECK_INT(rm_err_class(RM_EINTERNAL), RM_ERRCLASS_INTERNAL);
    CHECK_INT(rm_err_class(0), RM_ERRCLASS_NONE);
    CHECK_STR(rm_errclass_name(RM_ERRCLASS_NODE_EXECUTION), "node_execution");
}

static void test_error_record(void)
{
    rm_error e;
    rm_error_clear(&e);
    CHECK_INT(e.code, 0);
    CHECK_INT(rm_error_set(&e, RM_ENODE, "vad", "bad %s at %d", "thing", 3), RM_ENODE);
    CHECK_STR(e.node_id, "vad");
    CHECK_STR(e.message, "bad thing at 3");
    CHECK_INT(e.cls, RM_ERRCLASS_NODE_EXECUTION);
    CHECK_INT(rm_error_set(NULL, RM_EIO, NULL, "ignored"), RM_EIO);
    /* long messages are truncated, not overflowed */
    char big[2000];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    rm_error_set(&e, RM_EINVAL, big, "%s", big);
    CHECK_INT(strlen(e.message), sizeof e.message - 1);
    CHECK_INT(strlen(e.node_id), sizeof e.node_id - 1);
}

static void test_log_levels(void)
{
    CHECK_STR(rm_log_level_name(RM_LOG_DEBUG), "debug");
    CHECK_INT(rm_log_level_from_name("trace"), RM_LOG_TRACE);
    CHECK_INT(rm_log_level_from_name("warning"), RM_LOG_WARN);
    CHECK_INT(rm_log_level_from_name("loud"), -1);
}

int main(void)
{
    RUN(test_messages_and_names);
    RUN(test_classes);
    RUN(test_error_record);
    RUN(test_log_levels);
    return CHECK_DONE();
}
