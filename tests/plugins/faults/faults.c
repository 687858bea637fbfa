/*
 * Test-only fault injection, loaded with `rmedia serve --plugin-dir` by the
 * gRPC limit tests and `make soak`; never part of the default registry (no
 * build of rmedia or of the library contains it).
 *
 * TestFaultNode passes every frame through, after `delay_ms` of work (slept
 * in 1 ms steps that stop once the session is cancelled, as a long decode
 * should), and fails a frame with probability `fail_rate` (RM_ENODE), so a
 * manifest's on_error retry policy and circuit breaker see failures come and
 * go.
 */
#define _POSIX_C_SOURCE 200809L
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <remotemedia/plugin.h>

typedef struct fault_config {
    double fail_rate;
    int64_t delay_ms;
    int64_t seed;
} fault_config;

typedef struct fault_state {
    uint64_t rng;
} fault_state;

static int fault_init(rm_node *node, void *state, const void *config)
{
    (void)node;
    const fault_config *c = config;
    fault_state *st = state;
    st->rng = (uint64_t)c->seed * 0x9E3779B97F4A7C15ull + 1;
    if (c->seed == 0) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        st->rng ^= (uint64_t)ts.tv_nsec ^ (uint64_t)(uintptr_t)state;
    }
    return 0;
}

static double next_unit(fault_state *st)
{
    st->rng ^= st->rng << 13;
    st->rng ^= st->rng >> 7;
    st->rng ^= st->rng << 17;
    return (double)(st->rng >> 11) / 9007199254740992.0;
}

static int fault_process(rm_node *node, void *state, unsigned port, const rm_frame *f)
{
    (void)port;
    const fault_config *c = rm_node_config(node);
    for (int64_t i = 0; i < c->delay_ms; i++) {
        if (rm_node_cancelled(node)) return RM_ECANCELED;
        struct timespec ms = {0, 1000000L};
        nanosleep(&ms, NULL);
    }
    if (c->fail_rate > 0 && next_unit(state) < c->fail_rate)
        return rm_node_fail(node, RM_ENODE, "injected fault (fail_rate %g)", c->fail_rate);
    return rm_node_emit(node, 0, f);
}

static const rm_param_def fault_params[] = {
    {.name = "fail_rate", .type = RM_PARAM_FLOAT, .offset = offsetof(fault_config, fail_rate),
     .doc = "probability that a frame fails", .def_num = 0, .min = 0, .max = 1},
    {.name = "delay_ms", .type = RM_PARAM_INT, .offset = offsetof(fault_config, delay_ms),
     .doc = "work per frame (ms), stopped early by cancellation", .def_num = 0, .min = 0, .max = 600000},
    {.name = "seed", .type = RM_PARAM_INT, .offset = offsetof(fault_config, seed),
     .doc = "random seed (0 = from the clock)", .def_num = 0, .min = 0, .max = 1e9},
    {0},
};

static const rm_node_type fault_node = {
    .abi_version = RM_NODE_ABI_VERSION,
    .name = "TestFaultNode",
    .doc = "Test only: passes frames through after delay_ms, failing a fail_rate share of them",
    .family = "test-faults",
    .flags = RM_NODE_BLOCKING, /* it sleeps: its own worker thread */
    .params = fault_params,
    .config_size = sizeof(fault_config),
    .state_size = sizeof(fault_state),
    .init = fault_init,
    .process = fault_process,
};

static const rm_node_type *const node_types[] = {&fault_node, NULL};

RM_PLUGIN_EXPORT const rm_plugin_info *rm_plugin_entry(void);
RM_PLUGIN_EXPORT const rm_plugin_info *rm_plugin_entry(void)
{
    static const rm_plugin_info info = {RM_NODE_ABI_VERSION, "test-faults", "1", node_types};
    return &info;
}
