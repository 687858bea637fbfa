/*
 * flite voices, registered once per process, and sentence-by-sentence
 * synthesis.
 *
 * flite is not thread-safe (global error jump buffer, regex compiler state,
 * voice registration that returns the same object twice), so every call into
 * it here runs under one process-wide lock.  Voices are registered on first
 * use and shared by every TextToSpeech instance; they are unregistered when
 * the library is unloaded.
 *
 * Text is split into utterances by flite's own tokenizer and its voice's
 * utterance-break rule (sentence punctuation, a blank line), so a caller gets
 * the first sentence's audio without waiting for the rest.
 */
#ifndef RM_NODES_SPEECH_FLITE_VOICES_H
#define RM_NODES_SPEECH_FLITE_VOICES_H

#include <stddef.h>
#include <stdint.h>

/* Voice names in the order of their index, NULL-terminated. */
extern const char *const rm__flite_voice_names[];
/* Native sample rate of voice `index` in Hz. */
unsigned rm__flite_voice_rate(int index);

typedef struct rm__flite_text rm__flite_text;

/* Registers voice `index` if this process has not yet; *load_ms is the time
 * that took (0 when it was registered already).  Returns 0 or RM_ENODE with a
 * message in msg. */
int rm__flite_load(int index, double *load_ms, char *msg, size_t cap);

/* Prepares `text` (UTF-8, copied) for synthesis with voice `index`
 * (registering it if needed).  Returns 0, RM_ENOMEM, or RM_ENODE with a
 * message in msg. */
int rm__flite_open(int index, const char *text, rm__flite_text **out, char *msg, size_t cap);

/*
 * Synthesises the next sentence with durations scaled by `stretch` (2 = half
 * as fast).  Returns 1 and sets *samples / *n (s16 mono at the voice's rate,
 * valid until the next call; *n may be 0 for a sentence of punctuation only),
 * 0 when the text is used up, or RM_ENOMEM / RM_ENODE with a message in msg.
 */
int rm__flite_next(rm__flite_text *t, double stretch, const int16_t **samples, size_t *n, char *msg,
                   size_t cap);

/* Streams each later sentence's audio to `fn` while flite synthesises it
 * (its MLSA/LPC stage calls back every ~20 ms of audio), so the first audio
 * of a sentence is out after a fraction of its synthesis time.  The samples
 * are the same as without streaming.  fn runs on the calling thread inside
 * rm__flite_next, with flite's process-wide lock held (it must not call into
 * flite); it returns 0 to go on, or a non-zero code to stop the sentence
 * there (rm__flite_next then returns that code if negative, else 1).  With a
 * sink, rm__flite_next sets *samples to NULL and *n to the samples streamed.
 * fn = NULL turns streaming off. */
typedef int (*rm__flite_sink)(void *user, const int16_t *samples, size_t n);
void rm__flite_set_sink(rm__flite_text *t, rm__flite_sink fn, void *user);

void rm__flite_close(rm__flite_text *t);

#endif
