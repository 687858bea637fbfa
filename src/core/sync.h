/*
 * Thin mutex / condition-variable / thread layer, so the executor compiles
 * both with pthreads and in single-thread builds (wasm32-wasi), where every
 * segment runs inline and these become no-ops.
 */
#ifndef RM_CORE_SYNC_H
#define RM_CORE_SYNC_H

#ifdef RM_SINGLE_THREAD
typedef struct { int unused; } rm__mutex;
typedef struct { int unused; } rm__cond;
#define RM__MUTEX_INITIALIZER {0}
#define rm__mutex_init(m) ((void)(m))
#define rm__mutex_destroy(m) ((void)(m))
#define rm__lock(m) ((void)(m))
#define rm__unlock(m) ((void)(m))
#define rm__cond_init(c) ((void)(c))
#define rm__cond_destroy(c) ((void)(c))
#define rm__cond_wait(c, m) ((void)(c), (void)(m))
#define rm__cond_signal(c) ((void)(c))
#define rm__cond_broadcast(c) ((void)(c))
#else
#include <pthread.h>
typedef pthread_mutex_t rm__mutex;
typedef pthread_cond_t rm__cond;
#define RM__MUTEX_INITIALIZER PTHREAD_MUTEX_INITIALIZER
#define rm__mutex_init(m) pthread_mutex_init((m), NULL)
#define rm__mutex_destroy(m) pthread_mutex_destroy(m)
#define rm__lock(m) pthread_mutex_lock(m)
#define rm__unlock(m) pthread_mutex_unlock(m)
#define rm__cond_init(c) pthread_cond_init((c), NULL)
#define rm__cond_destroy(c) pthread_cond_destroy(c)
#define rm__cond_wait(c, m) pthread_cond_wait((c), (m))
#define rm__cond_signal(c) pthread_cond_signal(c)
#define rm__cond_broadcast(c) pthread_cond_broadcast(c)
#endif

#endif /* RM_CORE_SYNC_H */
