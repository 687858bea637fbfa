/*
 * A process-wide pool of pocketsphinx decoders, shared by every
 * SpeechToText instance of every session and runtime in the process.
 *
 * Why a pool: pocketsphinx 5prealpha cannot share an acoustic model,
 * dictionary or language model between decoders (no public API for it), a
 * decoder is not thread-safe, and ps_init() costs 0.5–1.5 s (acoustic model,
 * 134k-word dictionary, trie LM).  So a decoder is loaded once, lent to one
 * node instance at a time, and returned to the pool when the instance ends;
 * the next session with the same configuration gets it back in microseconds.
 * Concurrent sessions each hold their own decoder (the pool grows); at most
 * RM__PS_POOL_IDLE_MAX idle decoders are kept, the least recently used goes
 * first.  Idle decoders are freed when the library is unloaded.
 *
 * Errors: sphinxbase logs through one global callback, which this module
 * installs once (pthread_once) to keep its INFO chatter off stderr and to
 * capture ERROR messages for the error text.  A few loaders call exit() on a
 * corrupt file (E_FATAL); while a decoder loads, that exit is turned into an
 * error return (see sphinx_pool.c), at the price of leaking the half-built
 * decoder.
 */
#ifndef RM_NODES_SPEECH_SPHINX_POOL_H
#define RM_NODES_SPEECH_SPHINX_POOL_H

#include <stddef.h>

#include <pocketsphinx.h>

#define RM__PS_POOL_IDLE_MAX 4

/* A decoder on loan from the pool. */
typedef struct rm__ps_lease {
    ps_decoder_t *ps;
    char *key;        /* owned: identifies the configuration */
    mfcc_t *cmn_init; /* owned: CMN mean and sum right after loading */
    int cmn_len, cmn_nframe;
} rm__ps_lease;

/*
 * Borrows a decoder for configuration `key` (a string that identifies every
 * setting that went into `argv`, including the identity of the files), loading
 * one with ps_init() from `argv` ("-name", "value", ..., NULL) if no idle
 * decoder matches.  The decoder comes back fresh: a new stream started, the
 * cepstral mean reset to its initial value, no utterance open.
 *
 * On success returns 0, sets *out (release it with rm__ps_release), *load_ms
 * (time spent loading, ~0 when reused) and *reused.  On failure returns
 * RM_EMODEL or RM_ENOMEM and writes the library's reason into msg.
 */
int rm__ps_acquire(const char *key, const char *const *argv, rm__ps_lease **out, double *load_ms,
                   int *reused, char *msg, size_t cap);

/* Returns a lease to the pool (`reusable` = the decoder is in a clean state)
 * or frees it.  NULL is ignored. */
void rm__ps_release(rm__ps_lease *lease, int reusable);

/* Clears the calling thread's captured sphinxbase error text, and returns it
 * ("" if none): ERROR and FATAL messages since the last clear, joined. */
void rm__ps_errors_clear(void);
const char *rm__ps_errors(void);

#endif
