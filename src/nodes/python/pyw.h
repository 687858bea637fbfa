/*
 * Python node workers: private interfaces of src/nodes/python/.
 *
 *   ring.c    two byte rings in one memfd (wake-ups: worker.c)
 *   codec.c   rm_frame <-> ring message (fixed header + raw payload)
 *   worker.c  start, supervise and stop one worker process
 *   python_node.c  the PythonNode node type and rm_register_python_nodes()
 *
 * Layout shared with python/remotemedia/_worker.py (keep both in step):
 * the memfd holds ring "req" (runtime -> worker) then ring "rep"; each ring
 * is a 64-byte header {u64 head (producer), u64 tail (consumer), u64 cap}
 * and cap data bytes.  A message is {u32 total (8-aligned), u32 op} + body;
 * total == RM__PYW_WRAP marks "continue at offset 0".
 *
 * Wake-ups (worker.c): the runtime writes a request, then the worker's
 * eventfd; the worker publishes its reply and writes one byte on the
 * control socket only when the runtime has said it sleeps: the u64 at
 * index 3 of the reply ring's header (RM__PYW_SLEEPING) is 1 from just
 * before the runtime blocks until it wakes.  Both sides store, then fence,
 * then load the other's word (Dekker), so one of them always sees the
 * other: the runtime the reply, or the worker the flag.  Before blocking,
 * the runtime spins briefly (bounded) while the worker is running.
 *
 * Debug trace (RM_PYW_TRACE=FILE in the host's environment, read when a
 * worker starts; never on by default): the worker stamps each PROCESS
 * request into the other spare u64s of the ring headers, rep [4..7] =
 * {request number, woken, request seen, process() called}, req [3..6] =
 * {returned, reply written, then when publishing ended for odd and even
 * requests, the request number's low 16 bits in the top 16}; the host adds its own stamps and appends one line per
 * PROCESS call to FILE when the worker stops.
 */
#ifndef RM_NODES_PYTHON_PYW_H
#define RM_NODES_PYTHON_PYW_H
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "remotemedia/frame.h"
#include "remotemedia/node.h"

#define RM__PYW_RING_HDR 64u
#define RM__PYW_WRAP 0xFFFFFFFFu
#define RM__PYW_SLEEPING 3 /* u64 index in the reply ring's header */
enum { RM__PYW_PROCESS = 1, RM__PYW_FLUSH = 2, RM__PYW_RESET = 3,
       RM__PYW_FRAME = 10, RM__PYW_DONE = 11, RM__PYW_ERROR = 12,
       RM__PYW_LAST = 13 /* a frame, then done: the usual reply in one message */ };

typedef struct rm__pyw_prefix {
    uint32_t total, op;
} rm__pyw_prefix;

/* Frame header after the prefix (128 bytes, "<IIqQIIIIQ8qIIQ" in Python). */
typedef struct rm__pyw_fhdr {
    uint32_t kind, port;
    int64_t ts;
    uint64_t seq;
    uint32_t f0, f1, f2, f3; /* audio: fmt rate channels -; video: fmt w h stride;
                                tensor: dtype ndim - -                          */
    uint64_t n;              /* audio frames                                    */
    int64_t shape[8];
    uint32_t sid_len, meta_len;
    uint64_t payload_len;
} rm__pyw_fhdr;

typedef struct rm__pyw_ring {
    unsigned char *base; /* header; data follows */
    uint64_t cap;
} rm__pyw_ring;

/* ring.c */
int rm__pyw_ring_map(int memfd, size_t cap, rm__pyw_ring *req, rm__pyw_ring *rep, void **map,
                     size_t *map_len);
/* Space for `total` bytes in `r` at its head (writes a wrap marker when the
 * message must start at 0); NULL when it does not fit now. */
unsigned char *rm__pyw_ring_reserve(rm__pyw_ring *r, size_t total);
void rm__pyw_ring_commit(rm__pyw_ring *r, size_t total);
/* The next message, or NULL when the ring is empty. */
const unsigned char *rm__pyw_ring_peek(rm__pyw_ring *r);
void rm__pyw_ring_consume(rm__pyw_ring *r, size_t total);
void rm__pyw_ring_clear(rm__pyw_ring *r);
/* Producer side: has the consumer taken everything written so far? */
int rm__pyw_ring_taken(rm__pyw_ring *r);
/* Consumer side, only while the producer is idle (the worker between a
 * call's last reply and the next request): an empty ring restarts at offset
 * 0, so the producer's next message needs no wrap marker. */
void rm__pyw_ring_rewind(rm__pyw_ring *r);

/* codec.c */
/* A frame's message, measured once (json frames are dumped once): prepare,
 * reserve e->total bytes, write, free. */
typedef struct rm__pyw_enc {
    const void *payload;
    size_t plen, mlen, slen, total;
    char *owned, *meta; /* json text / metadata json, or NULL */
} rm__pyw_enc;
size_t rm__pyw_enc_prepare(rm__pyw_enc *e, const rm_frame *f);
void rm__pyw_enc_write(const rm__pyw_enc *e, const rm_frame *f, uint32_t op, unsigned char *dst);
void rm__pyw_enc_free(rm__pyw_enc *e);
/* A new frame from a FRAME message, or NULL with `err` set. */
rm_frame *rm__pyw_decode(const unsigned char *msg, char *err, size_t err_cap);

/* worker.c */
#define RM__PYW_NFDS 4 /* descriptors 3.. of a worker: control, memfd, ev_req, ev_space */
/* Host stamps of one call, then the worker's (CLOCK_MONOTONIC ns). */
enum { RM__PYW_T_CALL, RM__PYW_T_PUT, RM__PYW_T_KICK, RM__PYW_T_SEEN, RM__PYW_T_DECODED,
       RM__PYW_T_EMITTED, RM__PYW_T_SPUN, RM__PYW_T_SLEPT, RM__PYW_T_W_WOKEN, RM__PYW_T_W_SEEN,
       RM__PYW_T_W_CALL, RM__PYW_T_W_RET, RM__PYW_T_W_PUT, RM__PYW_T_W_SENT, RM__PYW_T_N };
typedef struct rm__pyw_trace rm__pyw_trace;

typedef struct rm__pyw {
    pid_t pid;
    rm__pyw_trace *trace; /* RM_PYW_TRACE only, else NULL */
    int ctl, memfd, ev_req, ev_space;
    int64_t rcvtimeo_ms; /* SO_RCVTIMEO set on ctl, -1 = not yet */
    uint64_t spin_ns;    /* longest spin for a reply before blocking (0 = never spin) */
    void *map;
    size_t map_len;
    rm__pyw_ring req, rep;
    int status;      /* wait status once reaped */
    int reaped;
} rm__pyw;

typedef struct rm__pyw_opts {
    const char *python;     /* interpreter */
    const char *cls;        /* "module:Class" */
    const char *params_json;/* the class's parameters */
    const char *base_dir;   /* put first on sys.path, or NULL */
    const char *const *path;/* more sys.path entries (NULL-terminated), or NULL */
    size_t ring_bytes;      /* per direction */
    int64_t memory_limit_mb;/* 0 = none */
    int64_t init_timeout_ms;
    int64_t spin_us;        /* see rm__pyw.spin_ns */
} rm__pyw_opts;

/* Starts a worker and waits for its ready line.  On failure returns a
 * negative RM_E* code with `err` explaining it (import error, crash). */
int rm__pyw_start(rm__pyw *w, const rm__pyw_opts *o, char *err, size_t err_cap);
/* Sends one request (a frame for PROCESS, none for FLUSH/RESET) and emits
 * every reply frame through `node` until the worker is done.  timeout_ms 0 =
 * no limit.  On a crash, hang or memory error the worker is stopped (the
 * next call starts a new one). */
int rm__pyw_call(rm__pyw *w, rm_node *node, uint32_t op, const rm_frame *f, int64_t timeout_ms,
                 int64_t memory_limit_mb, char *err, size_t err_cap);
void rm__pyw_stop(rm__pyw *w);
int rm__pyw_alive(const rm__pyw *w);

/* The worker's Python source (generated from python/remotemedia/_worker.py). */
extern const char rm__pyw_worker_src[];
#endif
