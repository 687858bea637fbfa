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
void rmg_prom_error(rmg_prom *p, Remotemedia__V1__ErrorType type);
/* Per-node-type calls and latency from a finished session's metrics JSON. */
void rmg_prom_session(rmg_prom *p, const char *metrics_json);
/* Starts /metrics on HOST:PORT (libmicrohttpd); *port gets the bound port.
 * Returns 0, or -1 with a message printed. */
int rmg_prom_listen(rmg_prom *p, const char *hostport, unsigned *port);


#endif
