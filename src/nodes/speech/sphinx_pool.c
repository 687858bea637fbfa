/* The process-wide pocketsphinx decoder pool (see sphinx_pool.h). */
#define _POSIX_C_SOURCE 200809L
#include "sphinx_pool.h"

#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sphinxbase/cmn.h>
#include <sphinxbase/err.h>
#include <sphinxbase/feat.h>

#include "remotemedia/error.h"

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/lsan_interface.h>
#define RM__LSAN_DISABLE() __lsan_disable()
#define RM__LSAN_ENABLE() __lsan_enable()
#else
#define RM__LSAN_DISABLE() ((void)0)
#define RM__LSAN_ENABLE() ((void)0)
#endif

/* ------------------------------------------------------ error capture --- */

static _Thread_local char tl_errors[480];
static _Thread_local jmp_buf *tl_fatal_trap;
static pthread_once_t log_once = PTHREAD_ONCE_INIT;

void rm__ps_errors_clear(void) { tl_errors[0] = '\0'; }
const char *rm__ps_errors(void) { return tl_errors; }

/* sphinxbase's log callback (global; installed once).  Keeps ERROR and FATAL
 * messages of the calling thread, drops the rest.  A FATAL message is followed
 * by exit() in the library; when a load is in progress on this thread, jump
 * back to it instead. */
static void capture_log(void *user, err_lvl_t lvl, const char *fmt, ...)
{
    (void)user;
    if (lvl < ERR_ERROR) return;
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    /* 'ERROR: "jsgf.c", line 923: Failed to ...' → 'Failed to ...' */
    const char *text = msg;
    const char *at = strstr(msg, "\", line ");
    if (at && (at = strstr(at, ": ")) != NULL) text = at + 2;
    size_t n = strlen(text);
    while (n && (text[n - 1] == '\n' || text[n - 1] == ' ')) n--;
    size_t used = strlen(tl_errors);
    if (n && used + 3 < sizeof tl_errors)
        snprintf(tl_errors + used, sizeof tl_errors - used, "%s%.*s", used ? "; " : "", (int)n, text);
    if (lvl == ERR_FATAL && tl_fatal_trap) longjmp(*tl_fatal_trap, 1);
}

static void install_log(void)
{
    err_set_logfp(NULL); /* also silences the configuration dump of ps_init() */
    err_set_callback(capture_log, NULL);
}

/* ---------------------------------------------------------------- pool --- */

static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;
/* ps_init() touches sphinxbase globals (debug level, log file): one at a time. */
static pthread_mutex_t load_lock = PTHREAD_MUTEX_INITIALIZER;
static rm__ps_lease *idle[RM__PS_POOL_IDLE_MAX]; /* oldest first */
static size_t n_idle;

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void lease_free(rm__ps_lease *l)
{
    if (!l) return;
    if (l->ps) ps_free(l->ps);
    free(l->key);
    free(l->cmn_init);
    free(l);
}

/* The CMN state is the only thing a decoder carries from one utterance to the
 * next besides the noise estimate (reset by ps_start_stream); restoring it
 * makes a reused decoder behave exactly like a freshly loaded one. */
static cmn_t *lease_cmn(rm__ps_lease *l)
{
    feat_t *feat = ps_get_feat(l->ps);
    return feat ? feat->cmn_struct : NULL;
}

static int snapshot_cmn(rm__ps_lease *l)
{
    cmn_t *cmn = lease_cmn(l);
    if (!cmn) return 0;
    l->cmn_len = cmn->veclen;
    l->cmn_init = malloc(2 * (size_t)cmn->veclen * sizeof *l->cmn_init);
    if (!l->cmn_init) return RM_ENOMEM;
    memcpy(l->cmn_init, cmn->cmn_mean, (size_t)cmn->veclen * sizeof *l->cmn_init);
    memcpy(l->cmn_init + cmn->veclen, cmn->sum, (size_t)cmn->veclen * sizeof *l->cmn_init);
    l->cmn_nframe = cmn->nframe;
    return 0;
}

static void restore(rm__ps_lease *l)
{
    cmn_t *cmn = lease_cmn(l);
    if (cmn && l->cmn_init && cmn->veclen == l->cmn_len) {
        memcpy(cmn->cmn_mean, l->cmn_init, (size_t)l->cmn_len * sizeof *l->cmn_init);
        memcpy(cmn->sum, l->cmn_init + l->cmn_len, (size_t)l->cmn_len * sizeof *l->cmn_init);
        cmn->nframe = l->cmn_nframe;
    }
    ps_start_stream(l->ps);
}

/* ps_init() with the fatal-exit trap armed.  NULL on failure (the reason is
 * in the thread's captured errors). */
static ps_decoder_t *trapped_init(cmd_ln_t *config)
{
    ps_decoder_t *volatile ps = NULL;
    jmp_buf trap;
    pthread_mutex_lock(&load_lock);
    /* ps_init()'s allocations belong to the decoder and are freed by
     * ps_free(); when a loader exits through the trap they cannot be, and
     * LeakSanitizer would report them, so they are not tracked. */
    RM__LSAN_DISABLE();
    if (setjmp(trap) == 0) {
        tl_fatal_trap = &trap;
        ps = ps_init(config);
    } else {
        ps = NULL; /* a loader called E_FATAL: the half-built decoder is lost */
    }
    tl_fatal_trap = NULL;
    RM__LSAN_ENABLE();
    pthread_mutex_unlock(&load_lock);
    return ps;
}

static ps_decoder_t *load(const char *const *argv)
{
    int argc = 0;
    while (argv[argc]) argc++;
    cmd_ln_t *config = cmd_ln_parse_r(NULL, ps_args(), argc, (char **)argv, TRUE);
    if (!config) return NULL;
    ps_decoder_t *ps = trapped_init(config);
    cmd_ln_free_r(config); /* the decoder holds its own reference */
    return ps;
}

int rm__ps_acquire(const char *key, const char *const *argv, rm__ps_lease **out, double *load_ms,
                   int *reused, char *msg, size_t cap)
{
    pthread_once(&log_once, install_log);
    *out = NULL;
    *load_ms = 0;
    *reused = 0;
    double t0 = now_ms();

    pthread_mutex_lock(&pool_lock);
    for (size_t i = n_idle; i-- > 0;) {
        if (strcmp(idle[i]->key, key) != 0) continue;
        rm__ps_lease *l = idle[i];
        memmove(&idle[i], &idle[i + 1], (n_idle - i - 1) * sizeof idle[0]);
        n_idle--;
        pthread_mutex_unlock(&pool_lock);
        restore(l);
        *out = l;
        *reused = 1;
        *load_ms = now_ms() - t0;
        return 0;
    }
    pthread_mutex_unlock(&pool_lock);

    rm__ps_lease *l = calloc(1, sizeof *l);
    if (!l || !(l->key = strdup(key))) {
        lease_free(l);
        snprintf(msg, cap, "out of memory");
        return RM_ENOMEM;
    }
    rm__ps_errors_clear();
    l->ps = load(argv);
    if (!l->ps) {
        snprintf(msg, cap, "%s", rm__ps_errors()[0] ? rm__ps_errors() : "pocketsphinx could not load the model");
        lease_free(l);
        return RM_EMODEL;
    }
    if (snapshot_cmn(l) != 0) {
        lease_free(l);
        snprintf(msg, cap, "out of memory");
        return RM_ENOMEM;
    }
    restore(l);
    *out = l;
    *load_ms = now_ms() - t0;
    return 0;
}

void rm__ps_release(rm__ps_lease *l, int reusable)
{
    if (!l) return;
    if (!reusable) {
        lease_free(l);
        return;
    }
    rm__ps_lease *evict = NULL;
    pthread_mutex_lock(&pool_lock);
    if (n_idle == RM__PS_POOL_IDLE_MAX) {
        evict = idle[0];
        memmove(&idle[0], &idle[1], (n_idle - 1) * sizeof idle[0]);
        n_idle--;
    }
    idle[n_idle++] = l;
    pthread_mutex_unlock(&pool_lock);
    lease_free(evict);
}

/* Frees the idle decoders when the library is unloaded (or the process
 * exits), so that leak checkers see a clean exit. */
__attribute__((destructor)) static void pool_cleanup(void)
{
    pthread_mutex_lock(&pool_lock);
    for (size_t i = 0; i < n_idle; i++) lease_free(idle[i]);
    n_idle = 0;
    pthread_mutex_unlock(&pool_lock);
}
