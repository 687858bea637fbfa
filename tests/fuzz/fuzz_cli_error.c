/* The CLI's cli_error() for targets that compile src/cli readers: the
 * message is formatted (so its arguments are checked by the sanitizers) and
 * dropped. */
#include <stdarg.h>
#include <stdio.h>

#include "cli.h"

void cli_error(const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
}
