/* Shared by the gRPC transport's files: byte buffers, message conversion
 * (rmg_convert.h) and metrics. */
#ifndef RMG_INTERNAL_H
#define RMG_INTERNAL_H

#include <stdatomic.h>
#include <stdint.h>

#include <grpc/grpc.h>

#include "remotemedia/transport.h"
#include "rmg_convert.h"

/* Reads a received byte buffer into one contiguous slice and unpacks it.
 * NULL when it is not a valid message. */
ProtobufCMessage *rmg_unpack(grpc_byte_buffer *bb, const ProtobufCMessageDescriptor *d);
/* Packs a message into a byte buffer (one slice, no extra copy). */
grpc_byte_buffer *rmg_pack(const ProtobufCMessage *m);

/* ------------------------------------------------------------ metrics --- */

enum { RMG_M_EXECUTE, RMG_M_VERSION, RMG_M_STREAM, RMG_M_CHECK, RMG_M_WATCH, RMG_M_OTHER, RMG_M_COUNT };
const char *rmg_method_name(int method);

typedef struct rmg_prom rmg_prom;
rmg_prom *rmg_prom_new(rm_host *host);
void rmg_prom_free(rmg_prom *p);
/* One finished request. */
void rmg_prom_request(rmg_prom *p, int method, grpc_status_code code, double seconds);
void rmg_prom_chunks(rmg_prom *p, uint64_t n);
/* One trim (rmg_mem_trim) done, taking `seconds`. */
void rmg_prom_trimmed(rmg_prom *p, double seconds);
void rmg_prom_error(rmg_prom *p, Remotemedia__V1__ErrorType type);
/* Per-node-type calls and latency from a finished session's metrics JSON. */
void rmg_prom_session(rmg_prom *p, const char *metrics_json);
/* Starts /metrics on HOST:PORT (libmicrohttpd); *port gets the bound port.
 * Returns 0, or -1 with a message printed. */
int rmg_prom_listen(rmg_prom *p, const char *hostport, unsigned *port);

/* ----------------------------------------------- process memory (memstats.c) --- */

typedef struct {
    double rss_bytes;        /* resident set, /proc/self/statm */
    double heap_inuse_bytes; /* malloc'd and not freed: mallinfo2 uordblks + hblkhd */
    double heap_free_bytes;  /* free but kept by the allocator: fordblks */
    double mmap_bytes;       /* large blocks mmap'd one each: hblkhd */
    int arenas;              /* malloc arenas; -1 when unknown (not glibc) */
} rmg_mem;
/* Reads the figures above; takes every arena's lock once (for /metrics, not a hot path). */
void rmg_mem_read(rmg_mem *m);
/* Gives freed heap back to the system (malloc_trim); *seconds gets the time
 * taken.  Returns 1 if it trimmed (0: not glibc).  It holds each arena's
 * lock while it walks that arena, so a thread that mallocs then waits (up to
 * 213 ms under load in the soak): the server trims only when idle, after
 * RMG_TRIM_IDLE_S seconds without calls that followed a busy spell. */
#define RMG_TRIM_IDLE_S 2.0
int rmg_mem_trim(double *seconds);

#endif
