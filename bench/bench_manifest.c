/*
 * bench_manifest — manifest load + validate + compile of a 100-node graph.
 *
 * Generated manifests of 100 math nodes (MultiplyNode / AddNode alternating,
 * each with a param, every tenth with an `on_error` policy):
 *   chain  n0 → n1 → … → n99 (99 connections), in JSON and in YAML;
 *   dag    n(i) → n(i+1) and n(i) → n(i+2) (197 connections, fan-out and
 *          fan-in at every node), in JSON.
 * One measurement is rm_graph_load_string(): parse, validate every node,
 * param and link, negotiate caps, order, assign segments, build the graph,
 * and free it again.  The parse alone (rm_manifest_load_string) is shown
 * too.  Variants are interleaved round by round; the table shows medians.
 *
 * Scaling (what a server accepting client manifests cares about): load +
 * validate + compile of a linear YAML chain of 20000, 50000 and 100000
 * AddNodes (what `rmedia validate` does), and running 100000 unconnected
 * nodes over one input (compile, open, push, end, outputs grouped by sink
 * as `rmedia run` prints them).  Cost per node must stay flat: the ratio
 * row compares µs per node at 100000 with 20000 nodes.
 */
#include "bench.h"

#define NODES 100

#include "../tests/unit/textbuf.h"

static void json_node(text *t, int i)
{
    put(t, "%s\n    {\"id\": \"n%d\", ", i ? "," : "", i);
    if (i % 2 == 0) put(t, "\"node_type\": \"MultiplyNode\", \"params\": {\"factor\": %.3f}", 1.0 + i / 1000.0);
    else put(t, "\"node_type\": \"AddNode\", \"params\": {\"addend\": %d}", i);
    if (i % 10 == 5) put(t, ", \"on_error\": {\"policy\": \"skip\"}");
    put(t, "}");
}

static char *gen_json(int dag)
{
    text t = {0};
    put(&t, "{\n  \"version\": \"v1\",\n  \"metadata\": {\"name\": \"bench-%s-100\"},\n  \"nodes\": [",
        dag ? "dag" : "chain");
    for (int i = 0; i < NODES; i++) json_node(&t, i);
    put(&t, "\n  ],\n  \"connections\": [");
    int first = 1;
    for (int i = 0; i + 1 < NODES; i++) {
        put(&t, "%s\n    {\"from\": \"n%d\", \"to\": \"n%d\"}", first ? "" : ",", i, i + 1);
        first = 0;
        if (dag && i + 2 < NODES) put(&t, ",\n    {\"from\": \"n%d\", \"to\": \"n%d\"}", i, i + 2);
    }
    put(&t, "\n  ]\n}\n");
    return t.p;
}

static char *gen_yaml(void)
{
    text t = {0};
    put(&t, "version: v1\nmetadata:\n  name: bench-chain-100\nnodes:\n");
    for (int i = 0; i < NODES; i++) {
        put(&t, "  - id: n%d\n", i);
        if (i % 2 == 0) put(&t, "    node_type: MultiplyNode\n    params:\n      factor: %.3f\n", 1.0 + i / 1000.0);
        else put(&t, "    node_type: AddNode\n    params:\n      addend: %d\n", i);
        if (i % 10 == 5) put(&t, "    on_error:\n      policy: skip\n");
    }
    put(&t, "connections:\n");
    for (int i = 0; i + 1 < NODES; i++) put(&t, "  - from: n%d\n    to: n%d\n", i, i + 1);
    return t.p;
}

enum { CHAIN_JSON, CHAIN_YAML, DAG_JSON, PARSE_JSON, PARSE_YAML, NV };

/* µs for one load (+ compile unless parse-only) and free. */
static double time_once(rm_runtime *rt, const char *txt, const char *name, rm_manifest_format fmt, int parse_only)
{
    size_t len = strlen(txt);
    uint64_t t0 = bench_now_ns();
    int rc;
    if (parse_only) {
        rm_manifest *m = NULL;
        rc = rm_manifest_load_string(txt, len, name, fmt, &m, NULL);
        rm_manifest_free(m);
    } else {
        rm_graph *g = NULL;
        rc = rm_graph_load_string(rt, txt, len, name, NULL, &g, NULL);
        rm_graph_unref(g);
    }
    uint64_t t1 = bench_now_ns();
    if (rc != 0) bench_die(name, rc, NULL);
    return (double)(t1 - t0) / 1000.0;
}

/* ------------------------------------------------------------- scaling --- */

static char *gen_big(int n, int connected)
{
    text t = {0};
    put(&t, "version: v1\nnodes:\n");
    for (int i = 0; i < n; i++) put(&t, "  - {id: n%d, node_type: AddNode, params: {addend: 1}}\n", i);
    if (connected) {
        put(&t, "connections:\n");
        for (int i = 0; i + 1 < n; i++) put(&t, "  - {from: n%d, to: n%d}\n", i, i + 1);
    }
    return t.p;
}

static double secs_since(uint64_t t0) { return (double)(bench_now_ns() - t0) / 1e9; }

/* `rmedia validate`: load, validate and compile (seconds). */
static double time_validate(rm_runtime *rt, const char *txt)
{
    uint64_t t0 = bench_now_ns();
    rm_graph *g = NULL;
    int rc = rm_graph_load_string(rt, txt, strlen(txt), "big.yaml", NULL, &g, NULL);
    rm_graph_unref(g);
    if (rc != 0) bench_die("big.yaml", rc, NULL);
    return secs_since(t0);
}

/* `rmedia run` without the printing: compile, one input through every
 * source, end, then every output found by its sink (seconds). */
static double time_run(rm_runtime *rt, const char *txt, int n)
{
    uint64_t t0 = bench_now_ns();
    rm_graph *g = NULL;
    int rc = rm_graph_load_string(rt, txt, strlen(txt), "flat.yaml", NULL, &g, NULL);
    if (rc != 0) bench_die("flat.yaml", rc, NULL);
    rm_frame *in = rm_frame_new_json_text("1", 1, NULL, 0);
    const rm_frame *ins[1] = {in};
    rm_outputs *o = NULL;
    rm_error err;
    rc = rm_graph_run(g, ins, 1, &o, NULL, &err);
    if (rc != 0) bench_die("run", rc, &err);
    size_t *per_sink = calloc(rm_graph_node_count(g), sizeof *per_sink);
    for (size_t i = 0; i < rm_outputs_count(o); i++) {
        int idx = rm_graph_node_index(g, rm_outputs_at(o, i)->node_id);
        if (idx >= 0) per_sink[idx]++;
    }
    size_t got = 0;
    for (size_t k = 0; k < rm_graph_sink_count(g); k++) got += per_sink[rm_graph_sink(g, k)];
    if (got != (size_t)n) {
        fprintf(stderr, "bench_manifest: expected %d outputs, got %zu\n", n, got);
        exit(2);
    }
    free(per_sink);
    rm_outputs_free(o);
    rm_frame_unref(in);
    rm_graph_unref(g);
    return secs_since(t0);
}

static void scaling(rm_runtime *rt, int quick)
{
    static const int sizes[] = {20000, 50000, 100000};
    const int rounds = quick ? 1 : 3;
    double per_node[3];
    for (int k = 0; k < 3; k++) {
        int n = quick ? sizes[k] / 10 : sizes[k];
        char *txt = gen_big(n, 1);
        double v[3];
        for (int r = 0; r < rounds; r++) v[r] = time_validate(rt, txt);
        double m = bench_median(v, (size_t)rounds);
        per_node[k] = m * 1e6 / n;
        bench_row(bench_fmt("validate a linear YAML chain, %d nodes", n),
                  bench_fmt("%.2f s (%.1f us/node)", m, per_node[k]), "-", "-", "info");
        free(txt);
    }
    double ratio = per_node[2] / per_node[0];
    bench_row("  cost per node, largest vs smallest chain (linear = 1)", bench_fmt("%.2f", ratio), "target <= 2",
              bench_fmt("%.2f", ratio / 2), bench_verdict_max(ratio, 2));
    int n = quick ? 10000 : 100000;
    char *txt = gen_big(n, 0);
    double v[3];
    for (int r = 0; r < rounds; r++) v[r] = time_run(rt, txt, n);
    bench_row(bench_fmt("run %d unconnected nodes, one input (compile, run, group outputs)", n),
              bench_fmt("%.2f s", bench_median(v, (size_t)rounds)), "-", "-", "info");
    free(txt);
}

int main(int argc, char **argv)
{
    int quick = bench_quick(argc, argv);
    const int rounds = quick ? 20 : 301;
    rm_runtime *rt = bench_runtime();
    char *chain_json = gen_json(0), *dag_json = gen_json(1), *chain_yaml = gen_yaml();
    const char *dump = bench_arg(argc, argv, "--dump");
    if (dump) { /* for docs and debugging: print a generated manifest */
        puts(strcmp(dump, "yaml") == 0 ? chain_yaml : strcmp(dump, "dag") == 0 ? dag_json : chain_json);
        return 0;
    }

    /* every variant must compile cleanly, with the expected graph */
    rm_graph *g = bench_graph(rt, dag_json, "dag.json");
    if (rm_graph_node_count(g) != NODES) {
        fprintf(stderr, "bench_manifest: expected %d nodes, got %zu\n", NODES, rm_graph_node_count(g));
        return 2;
    }
    rm_graph_unref(g);
    rm_graph_unref(bench_graph(rt, chain_yaml, "chain.yaml"));

    double *v[NV];
    for (int k = 0; k < NV; k++) v[k] = calloc((size_t)rounds, sizeof(double));
    for (int r = 0; r < 5; r++) time_once(rt, chain_json, "chain.json", RM_MANIFEST_JSON, 0); /* warm-up */
    for (int r = 0; r < rounds; r++) {
        v[CHAIN_JSON][r] = time_once(rt, chain_json, "chain.json", RM_MANIFEST_JSON, 0);
        v[CHAIN_YAML][r] = time_once(rt, chain_yaml, "chain.yaml", RM_MANIFEST_YAML, 0);
        v[DAG_JSON][r] = time_once(rt, dag_json, "dag.json", RM_MANIFEST_JSON, 0);
        v[PARSE_JSON][r] = time_once(rt, chain_json, "chain.json", RM_MANIFEST_JSON, 1);
        v[PARSE_YAML][r] = time_once(rt, chain_yaml, "chain.yaml", RM_MANIFEST_YAML, 1);
    }
    size_t R = (size_t)rounds;
    const double target = 1000.0;
    static const char *const names[] = {
        "manifest load+validate+compile, 100-node chain, JSON",
        "manifest load+validate+compile, 100-node chain, YAML",
        "manifest load+validate+compile, 100-node DAG (197 links), JSON",
    };
    for (int k = CHAIN_JSON; k <= DAG_JSON; k++) {
        double m = bench_median(v[k], R);
        bench_row(names[k], bench_fmt("%.0f us", m), "target <= 1000 us", bench_fmt("%.2f", m / target),
                  bench_verdict_max(m, target));
    }
    bench_row("  of which parsing only, chain JSON / YAML",
              bench_fmt("%.0f / %.0f us", bench_median(v[PARSE_JSON], R), bench_median(v[PARSE_YAML], R)), "-", "-",
              "info");
    for (int k = 0; k < NV; k++) free(v[k]);
    scaling(rt, quick);
    free(chain_json);
    free(dag_json);
    free(chain_yaml);
    rm_runtime_free(rt);
    return 0;
}
