/* One Python worker process: started with fork+exec (descriptors 3..6, see
 * python/remotemedia/_worker.py), killed with the parent (PR_SET_PDEATHSIG,
 * and the worker exits on EOF of its control socket), supervised per call.
 * A call writes the request and kicks the worker's eventfd, then waits for
 * the reply (pyw.h, "Wake-ups"): first a bounded spin while the worker runs
 * (spin_for_reply), then, flagged as sleeping, one recv() on the control
 * socket with the node's timeout (SO_RCVTIMEO), which returns on the
 * worker's wake byte, its death (EOF) or its hang (EAGAIN) at once.  A dead
 * or hung worker is reaped and reported. */
#define _GNU_SOURCE
#include "pyw.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "remotemedia/error.h"

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

/* The debug trace (pyw.h): stamps of up to `cap` PROCESS calls, appended to
 * `path` as text lines when the worker stops.  Off unless RM_PYW_TRACE is
 * set when the worker starts; the per-call cost when off is one branch per
 * stamp site. */
struct rm__pyw_trace {
    uint64_t (*rec)[RM__PYW_T_N];
    size_t n, cap;
    uint64_t cur[RM__PYW_T_N];
    uint64_t calls; /* requests sent; the worker counts the same */
    char path[];
};
#define TRACE_AT(w, i) \
    do { \
        if ((w)->trace) (w)->trace->cur[i] = now_ns(); \
    } while (0)

static rm__pyw_trace *trace_new(void)
{
    const char *path = getenv("RM_PYW_TRACE");
    if (!path || !*path) return NULL;
    size_t len = strlen(path);
    rm__pyw_trace *t = calloc(1, sizeof *t + len + 1);
    if (!t) return NULL;
    t->cap = 1u << 16;
    t->rec = calloc(t->cap, sizeof *t->rec);
    if (!t->rec) {
        free(t);
        return NULL;
    }
    memcpy(t->path, path, len + 1);
    return t;
}

/* After a PROCESS call answered: the worker's stamps of this request from
 * the reply ring header, and its wake-up stamp of the previous request
 * (written after that wake-up, so only readable now) from the request's. */
static void trace_call(rm__pyw *w)
{
    rm__pyw_trace *t = w->trace;
    const uint64_t *rep = (const uint64_t *)(const void *)w->rep.base;
    const uint64_t *req = (const uint64_t *)(const void *)w->req.base;
    uint64_t prev = t->calls - 1, sent = __atomic_load_n(&req[5 + (prev & 1)], __ATOMIC_ACQUIRE);
    if (t->n > 0 && sent >> 48 == (prev & 0xFFFF)) t->rec[t->n - 1][RM__PYW_T_W_SENT] = sent & ((1ull << 48) - 1);
    if (t->n == t->cap || __atomic_load_n(&rep[4], __ATOMIC_ACQUIRE) != t->calls) return;
    t->cur[RM__PYW_T_EMITTED] = now_ns();
    for (int i = 0; i < 3; i++) t->cur[RM__PYW_T_W_WOKEN + i] = rep[5 + i];
    t->cur[RM__PYW_T_W_RET] = req[3];
    t->cur[RM__PYW_T_W_PUT] = req[4];
    t->cur[RM__PYW_T_W_SENT] = 0;
    memcpy(t->rec[t->n++], t->cur, sizeof t->cur);
}

static void trace_free(rm__pyw *w)
{
    rm__pyw_trace *t = w->trace;
    if (!t) return;
    w->trace = NULL;
    int fd = t->n ? open(t->path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644) : -1;
    for (size_t i = 0; fd >= 0 && i < t->n; i++) {
        dprintf(fd, "pyw %d", (int)w->pid);
        for (int k = 0; k < RM__PYW_T_N; k++) dprintf(fd, " %llu", (unsigned long long)t->rec[i][k]);
        dprintf(fd, "\n");
    }
    if (fd >= 0) close(fd);
    free(t->rec);
    free(t);
}

int rm__pyw_alive(const rm__pyw *w) { return w->pid > 0 && !w->reaped; }

static void close_fd(int *fd)
{
    if (*fd >= 0) close(*fd);
    *fd = -1;
}

void rm__pyw_stop(rm__pyw *w)
{
    close_fd(&w->ctl); /* the worker exits on EOF; SIGKILL makes it certain */
    if (w->pid > 0 && !w->reaped) {
        kill(w->pid, SIGKILL);
        while (waitpid(w->pid, &w->status, 0) < 0 && errno == EINTR) {}
        w->reaped = 1;
    }
    close_fd(&w->memfd), close_fd(&w->ev_req), close_fd(&w->ev_space);
    trace_free(w);
    if (w->map) munmap(w->map, w->map_len);
    w->map = NULL;
}

/* "exited with status 3" / "killed by signal 11 (Segmentation fault)" */
static void describe_exit(rm__pyw *w, char *buf, size_t cap)
{
    if (!w->reaped) {
        while (waitpid(w->pid, &w->status, 0) < 0 && errno == EINTR) {}
        w->reaped = 1;
    }
    if (WIFSIGNALED(w->status))
        snprintf(buf, cap, "worker process %d crashed: killed by signal %d (%s)", (int)w->pid,
                 WTERMSIG(w->status), strsignal(WTERMSIG(w->status)));
    else
        snprintf(buf, cap, "worker process %d exited with status %d", (int)w->pid,
                 WEXITSTATUS(w->status));
}

static int hi(int fd) { return fcntl(fd, F_DUPFD, 20); }

/* Workers are forked by one thread that lives as long as the process:
 * PR_SET_PDEATHSIG fires when the *thread* that forked exits, and the
 * threads that start sessions (a server's, an asyncio executor's) may end
 * while their sessions' workers should live on. */
typedef struct spawn_req {
    const char *python;
    int fds[RM__PYW_NFDS]; /* control, memfd, ev_req, ev_space -> 3..6 */
    int64_t memory_limit_mb;
    pid_t parent, pid;
    int err, done;
} spawn_req;

static pthread_mutex_t sp_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t sp_cv = PTHREAD_COND_INITIALIZER;
static spawn_req *sp_pending;
static int sp_running;

static void fork_worker(spawn_req *r)
{
    const char *argv[] = {r->python, "-c", rm__pyw_worker_src, NULL};
    struct rlimit rl = {(rlim_t)r->memory_limit_mb << 20, (rlim_t)r->memory_limit_mb << 20};
    pid_t pid = fork();
    if (pid == 0) {
        /* child: async-signal-safe calls only until exec */
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL); /* the spawner blocks all; the worker must not */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != r->parent) _exit(127);
        int src[RM__PYW_NFDS];
        for (int i = 0; i < RM__PYW_NFDS; i++) src[i] = hi(r->fds[i]);
        for (int i = 0; i < RM__PYW_NFDS; i++)
            if (src[i] < 0 || dup2(src[i], 3 + i) < 0) _exit(127);
        close_range(3 + RM__PYW_NFDS, ~0u, 0);
        if (r->memory_limit_mb > 0) setrlimit(RLIMIT_AS, &rl);
        execv(r->python, (char *const *)argv);
        static const char msg[] = "rmedia: cannot execute the Python interpreter\n";
        ssize_t n = write(2, msg, sizeof msg - 1);
        (void)n;
        _exit(127);
    }
    r->pid = pid;
    r->err = pid < 0 ? errno : 0;
}

static void *spawner(void *unused)
{
    (void)unused;
    pthread_mutex_lock(&sp_mu);
    for (;;) {
        while (!sp_pending) pthread_cond_wait(&sp_cv, &sp_mu);
        spawn_req *r = sp_pending;
        pthread_mutex_unlock(&sp_mu);
        fork_worker(r);
        pthread_mutex_lock(&sp_mu);
        sp_pending = NULL;
        r->done = 1;
        pthread_cond_broadcast(&sp_cv);
    }
    return NULL;
}

static void spawn(spawn_req *r)
{
    pthread_mutex_lock(&sp_mu);
    if (!sp_running) {
        pthread_t t;
        sigset_t all, old;
        sigfillset(&all); /* the spawner takes no signals of the host's */
        pthread_sigmask(SIG_SETMASK, &all, &old);
        int rc = pthread_create(&t, NULL, spawner, NULL);
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        if (rc == 0) {
            pthread_detach(t);
            sp_running = 1;
        }
    }
    if (!sp_running) { /* no thread: fork here (PDEATHSIG tied to this thread) */
        pthread_mutex_unlock(&sp_mu);
        fork_worker(r);
        return;
    }
    while (sp_pending) pthread_cond_wait(&sp_cv, &sp_mu);
    sp_pending = r;
    pthread_cond_broadcast(&sp_cv);
    while (!r->done) pthread_cond_wait(&sp_cv, &sp_mu);
    pthread_mutex_unlock(&sp_mu);
}

int rm__pyw_start(rm__pyw *w, const rm__pyw_opts *o, char *err, size_t cap)
{
    memset(w, 0, sizeof *w);
    w->ctl = w->memfd = w->ev_req = w->ev_space = -1;
    w->rcvtimeo_ms = -1;
    int sv[2] = {-1, -1};
    w->memfd = memfd_create("rmedia-pyworker", MFD_CLOEXEC);
    w->ev_req = eventfd(0, EFD_CLOEXEC);
    w->ev_space = eventfd(0, EFD_CLOEXEC);
    if (w->memfd < 0 || w->ev_req < 0 || w->ev_space < 0 ||
        socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0 ||
        rm__pyw_ring_map(w->memfd, o->ring_bytes, &w->req, &w->rep, &w->map, &w->map_len) != 0) {
        snprintf(err, cap, "cannot set up the worker's shared memory: %s", strerror(errno));
        if (sv[0] >= 0) close(sv[0]), close(sv[1]);
        rm__pyw_stop(w);
        return RM_ENOMEM;
    }
    w->ctl = sv[0];
    w->spin_ns = o->spin_us > 0 ? (uint64_t)o->spin_us * 1000u : 0;
    w->trace = trace_new();
    spawn_req sr = {o->python, {sv[1], w->memfd, w->ev_req, w->ev_space}, o->memory_limit_mb,
                   getpid(), -1, 0, 0};
    spawn(&sr);
    close(sv[1]);
    pid_t pid = sr.pid;
    if (pid < 0) {
        snprintf(err, cap, "cannot start a worker process: %s", strerror(sr.err));
        rm__pyw_stop(w);
        return RM_ENOMEM;
    }
    w->pid = pid;
    /* init request, then the ready line (or the import error) */
    json_t *req = json_pack("{s:s, s:s?}", "class", o->cls, "base_dir", o->base_dir);
    json_t *params = json_loads(o->params_json ? o->params_json : "{}", 0, NULL);
    json_object_set_new(req, "params", params ? params : json_object());
    json_t *path = json_array();
    for (const char *const *d = o->path; d && *d; d++) json_array_append_new(path, json_string(*d));
    json_object_set_new(req, "sys_path", path);
    char *line = json_dumps(req, JSON_COMPACT);
    json_decref(req);
    size_t len = strlen(line);
    int ok = send(w->ctl, line, len, MSG_NOSIGNAL) == (ssize_t)len && send(w->ctl, "\n", 1, MSG_NOSIGNAL) == 1;
    free(line);
    char buf[4096];
    size_t got = 0;
    int64_t deadline = now_ms() + o->init_timeout_ms;
    while (ok && got < sizeof buf - 1 && !memchr(buf, '\n', got)) {
        struct pollfd p = {w->ctl, POLLIN, 0};
        int64_t left = deadline - now_ms();
        int r = left > 0 ? poll(&p, 1, (int)left) : 0;
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) {
            snprintf(err, cap, "the worker did not report ready within %lld ms (importing %s)",
                     (long long)o->init_timeout_ms, o->cls);
            rm__pyw_stop(w);
            return RM_ETIMEDOUT;
        }
        ssize_t n = read(w->ctl, buf + got, sizeof buf - 1 - got);
        if (n <= 0) break;
        got += (size_t)n;
    }
    buf[got] = 0;
    json_t *rep = json_loads(buf, JSON_DISABLE_EOF_CHECK, NULL);
    if (!json_is_object(rep)) {
        json_decref(rep);
        char why[160];
        describe_exit(w, why, sizeof why);
        snprintf(err, cap, "the worker (%s) failed before reporting ready: %s", o->python, why);
        rm__pyw_stop(w);
        return RM_ENODE;
    }
    if (!json_is_true(json_object_get(rep, "ok"))) {
        snprintf(err, cap, "%s", json_string_value(json_object_get(rep, "error")));
        json_decref(rep);
        rm__pyw_stop(w);
        return RM_EPARAM;
    }
    json_decref(rep);
    return 0;
}

/* The bounded adaptive spin (pyw.h): a reply usually comes after a few
 * microseconds of Python work, and blocking for it costs this thread a
 * sleep and a wake-up (on a VM: its vCPU halts and needs an interrupt to
 * run again) and the worker a system call to wake it.  Until the worker has
 * taken the request it may be waiting for this very CPU (a loaded machine
 * puts it on the waker's run queue), so this yields; once it has, it runs
 * elsewhere and this spins with a pause.  A worker that has not taken the
 * request within 15 us (half the spin if less; a woken idle CPU takes 5-10)
 * is not getting a CPU soon, so this blocks; never longer than spin_ns in
 * all.  1 = a reply is there. */
static int spin_for_reply(rm__pyw *w)
{
    uint64_t t0 = now_ns(), grace = w->spin_ns / 2 < 15000 ? w->spin_ns / 2 : 15000;
    for (;;) {
        if (rm__pyw_ring_peek(&w->rep)) return 1;
        uint64_t spent = now_ns() - t0;
        if (spent >= w->spin_ns) return 0;
        if (!rm__pyw_ring_taken(&w->req)) {
            if (spent >= grace) return 0;
            sched_yield();
        } else {
            for (int i = 0; i < 8; i++) cpu_relax();
        }
    }
}

static void kick(int fd)
{
    uint64_t one = 1;
    ssize_t r = write(fd, &one, sizeof one);
    (void)r;
}

int rm__pyw_call(rm__pyw *w, rm_node *node, uint32_t op, const rm_frame *f, int64_t timeout_ms,
                 int64_t memory_limit_mb, char *err, size_t cap)
{
    TRACE_AT(w, RM__PYW_T_CALL);
    rm__pyw_enc e = {0};
    size_t total = f ? rm__pyw_enc_prepare(&e, f) : sizeof(rm__pyw_prefix);
    unsigned char *dst = rm__pyw_ring_reserve(&w->req, total);
    if (!dst) {
        rm__pyw_enc_free(&e);
        snprintf(err, cap, "a %s frame of %zu bytes does not fit the %llu-byte ring (raise ring_mb)",
                 f ? rm_frame_kind_name(f->kind) : "control", total, (unsigned long long)w->req.cap);
        return RM_ELIMIT;
    }
    if (f) {
        rm__pyw_enc_write(&e, f, op, dst);
        rm__pyw_enc_free(&e);
    } else {
        rm__pyw_prefix pre = {(uint32_t)total, op};
        memcpy(dst, &pre, sizeof pre);
    }
    if (w->rcvtimeo_ms != timeout_ms) { /* once per worker: the node's timeout is fixed */
        struct timeval tv = {(time_t)(timeout_ms / 1000), (suseconds_t)(timeout_ms % 1000) * 1000};
        if (setsockopt(w->ctl, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) != 0) {
            snprintf(err, cap, "cannot set the worker's reply timeout: %s", strerror(errno));
            return RM_EINTERNAL;
        }
        w->rcvtimeo_ms = timeout_ms;
    }
    rm__pyw_ring_commit(&w->req, total);
    TRACE_AT(w, RM__PYW_T_PUT);
    kick(w->ev_req);
    TRACE_AT(w, RM__PYW_T_KICK);
    if (w->trace) {
        if (op == RM__PYW_PROCESS) w->trace->calls++;
        w->trace->cur[RM__PYW_T_SLEPT] = 0;
    }
    int64_t deadline = timeout_ms > 0 ? now_ms() + timeout_ms : 0;
    int first = 1;
    if (w->spin_ns) spin_for_reply(w);
    TRACE_AT(w, RM__PYW_T_SPUN);
    uint64_t *sleeping = (uint64_t *)(void *)w->rep.base + RM__PYW_SLEEPING;
    for (;;) {
        const unsigned char *m;
        while ((m = rm__pyw_ring_peek(&w->rep)) != NULL) {
            rm__pyw_prefix pre;
            memcpy(&pre, m, sizeof pre);
            int rc = 0;
            if (pre.op == RM__PYW_DONE) {
                rm__pyw_ring_consume(&w->rep, pre.total);
                rm__pyw_ring_rewind(&w->rep);
                return 0;
            }
            if (pre.op == RM__PYW_ERROR) {
                int len = (int)(pre.total - sizeof pre);
                const char *txt = (const char *)m + sizeof pre;
                int is_mem = strncmp(txt, "MemoryError", 11) == 0;
                if (is_mem && memory_limit_mb > 0)
                    snprintf(err, cap, "memory limit exceeded (memory_limit_mb=%lld): %.*s",
                             (long long)memory_limit_mb, len, txt);
                else
                    snprintf(err, cap, "%.*s", len, txt);
                /* strip the zero padding */
                rm__pyw_ring_consume(&w->rep, pre.total);
                if (is_mem) rm__pyw_stop(w); /* the worker exits; the next call restarts it */
                return is_mem ? RM_ELIMIT : RM_ENODE;
            }
            TRACE_AT(w, RM__PYW_T_SEEN);
            rm_frame *out = rm__pyw_decode(m, err, cap);
            TRACE_AT(w, RM__PYW_T_DECODED);
            rm__pyw_ring_consume(&w->rep, pre.total);
            if (pre.op != RM__PYW_LAST) kick(w->ev_space); /* after LAST it waits for requests */
            else rm__pyw_ring_rewind(&w->rep);
            if (!out) return RM_ENODE;
            rc = rm_node_emit_take(node, 0, out);
            if (w->trace && rc == 0 && pre.op == RM__PYW_LAST && op == RM__PYW_PROCESS) trace_call(w);
            if (rc != 0 || pre.op == RM__PYW_LAST) return rc;
        }
        /* Sleep until the worker's wake byte: say so, then look once more
         * (the worker may have published before it could see the flag).
         * The first wait of a call is one recv() with the node's timeout as
         * SO_RCVTIMEO; later ones (more replies of a generator, a full
         * ring) poll() with what is left. */
        __atomic_store_n(sleeping, 1, __ATOMIC_RELAXED);
        __atomic_thread_fence(__ATOMIC_SEQ_CST);
        if (rm__pyw_ring_peek(&w->rep)) {
            __atomic_store_n(sleeping, 0, __ATOMIC_RELAXED);
            continue;
        }
        char wake[256];
        ssize_t n;
        if (first) {
            first = 0;
            n = recv(w->ctl, wake, sizeof wake, 0);
            __atomic_store_n(sleeping, 0, __ATOMIC_RELAXED);
            TRACE_AT(w, RM__PYW_T_SLEPT);
            if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) && deadline) goto timed_out;
        } else {
            struct pollfd p = {w->ctl, POLLIN, 0};
            int wait = -1;
            if (deadline) {
                int64_t left = deadline - now_ms();
                wait = left > 0 ? (int)left : 0;
            }
            int r = poll(&p, 1, wait);
            __atomic_store_n(sleeping, 0, __ATOMIC_RELAXED);
            if (r < 0 && errno == EINTR) continue;
            if (r == 0) goto timed_out;
            n = recv(w->ctl, wake, sizeof wake, MSG_DONTWAIT);
        }
        if (n > 0 || (n < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)))
            continue; /* woken (or a stale byte, or a signal): look again */
        /* EOF (or a reset): the worker is gone */
        if (rm__pyw_ring_peek(&w->rep)) continue; /* drain what it sent first */
        char why[200];
        describe_exit(w, why, sizeof why);
        if (memory_limit_mb > 0 && WIFEXITED(w->status) && WEXITSTATUS(w->status) == 3)
            snprintf(err, cap, "memory limit exceeded (memory_limit_mb=%lld): %s", (long long)memory_limit_mb,
                     why);
        else
            snprintf(err, cap, "%s", why);
        rm__pyw_stop(w);
        return RM_ENODE;
    }
timed_out:
    rm__pyw_stop(w);
    snprintf(err, cap, "timed out: no reply within timeout_ms=%lld (worker killed)", (long long)timeout_ms);
    return RM_ETIMEDOUT;
}
