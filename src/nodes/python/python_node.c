/* PythonNode: a Python class run in an isolated worker process (worker.c).
 * Its own parameters are whatever the manifest puts beside `class`
 * (RM_PARAM_REST collects them).  The worker starts at init, so a class that
 * cannot be imported or has no process() fails the session before any frame
 * runs; a worker that died, hung or ran out of memory is started again on
 * the next frame (the node's error policy decides whether there is one);
 * flush and reset skip a lost worker (its state is gone). */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "pyw.h"
#include "remotemedia/python_nodes.h"
#include "remotemedia/runtime.h"

typedef struct {
    const char *cls;
    const json_t *args;
    int64_t timeout_ms, memory_limit_mb, ring_mb, init_timeout_ms, spin_us;
    const char *python;
    const char *const *python_path;
} pn_config;

typedef struct {
    rm__pyw w;
    int started;
    char base_dir[4096];
    pn_config cfg; /* the node's config; for a class type, with its class and path */
} pn_state;

static const rm_param_def pn_params[] = {
    {"class", RM_PARAM_STRING, offsetof(pn_config, cls), "the Python class, 'module:ClassName'", 0,
     NULL, 0, 0, NULL, NULL, RM_PARAM_REQUIRED},
    {"args", RM_PARAM_JSON, offsetof(pn_config, args),
     "the class's own parameters (every other key under params is added here)", 0, "{}", 0, 0, NULL,
     NULL, RM_PARAM_REST},
    {"timeout_ms", RM_PARAM_INT, offsetof(pn_config, timeout_ms),
     "longest a process/flush call may take before the worker is killed (0 = no limit)", 10000, NULL,
     0, 86400000, NULL, NULL, 0},
    {"memory_limit_mb", RM_PARAM_INT, offsetof(pn_config, memory_limit_mb),
     "address-space limit of the worker process (RLIMIT_AS; 0 = none)", 0, NULL, 0, 1 << 20, NULL,
     NULL, 0},
    {"ring_mb", RM_PARAM_INT, offsetof(pn_config, ring_mb),
     "shared-memory ring size per direction (the largest frame that can cross)", 8, NULL, 1, 4096,
     NULL, NULL, 0},
    {"init_timeout_ms", RM_PARAM_INT, offsetof(pn_config, init_timeout_ms),
     "longest the worker may take to import the class and report ready", 30000, NULL, 1, 86400000,
     NULL, NULL, 0},
    {"spin_us", RM_PARAM_INT, offsetof(pn_config, spin_us),
     "longest the caller spins for a reply while the worker runs, before it sleeps (0 = always sleep)", 50,
     NULL, 0, 1000, NULL, NULL, 0},
    {"python", RM_PARAM_STRING, offsetof(pn_config, python),
     "interpreter (default: $REMOTEMEDIA_PYTHON, else the host's, else /usr/bin/python3)", 0, NULL,
     0, 0, NULL, NULL, 0},
    {"python_path", RM_PARAM_STRING_LIST, offsetof(pn_config, python_path),
     "directories put first on the worker's import path (after the manifest's directory)", 0, NULL, 0,
     0, NULL, NULL, 0},
    {NULL},
};

/* A class type (rm_python_node_type_new): a node type of its own name bound
 * to one class, e.g. a package's declared Python node type.  Every manifest
 * param goes to the class, as in the browser; the worker gets PythonNode's
 * defaults. */
typedef struct pn_class_type {
    rm_node_type t; /* first: rm_node_type_of() returns &t */
    char *name, *cls, *dir, *label, *doc;
    const char *path[2];
} pn_class_type;

static const rm_param_def pn_class_params[] = {
    {"args", RM_PARAM_JSON, offsetof(pn_config, args), "the class's parameters (every key under params)", 0,
     "{}", 0, 0, NULL, NULL, RM_PARAM_REST},
    {NULL},
};

/* A class type's module that imports remotemedia (its @node decorator) needs
 * the Python package where the worker runs. */
#define REMOTEMEDIA_HINT                                                                                    \
    " (the class's module imports the remotemedia Python package: install it for this interpreter, "       \
    "pip install ./python, or put it on PYTHONPATH)"

static const pn_class_type *class_type_of(rm_node *node)
{
    const rm_node_type *t = rm_node_type_of(node);
    return t->params == pn_class_params ? (const pn_class_type *)(const void *)t : NULL;
}

/* rm_register_python_nodes() with an interpreter registers a copy of the
 * descriptor that carries it: the choice belongs to that runtime, and the
 * host's environment is never modified (setenv would race every thread
 * that reads the environment).  One copy per distinct interpreter, kept
 * for the life of the process (runtimes do not own their descriptors). */
typedef struct pn_type {
    rm_node_type t; /* first: rm_node_type_of() returns &t */
    struct pn_type *next;
    char python[];
} pn_type;

static pthread_mutex_t pn_types_mu = PTHREAD_MUTEX_INITIALIZER;
static pn_type *pn_types;
static const rm_node_type rm__node_python;

/* The node's `python` param, else $REMOTEMEDIA_PYTHON, else the
 * registration's interpreter, else /usr/bin/python3. */
static const char *interpreter(rm_node *node, const pn_config *c)
{
    if (c->python && *c->python) return c->python;
    const char *e = getenv("REMOTEMEDIA_PYTHON");
    if (e && *e) return e;
    const rm_node_type *t = rm_node_type_of(node);
    if (t != &rm__node_python && !class_type_of(node)) return ((const pn_type *)(const void *)t)->python;
    return "/usr/bin/python3";
}

static int start(rm_node *node, pn_state *s, const pn_config *c)
{
    char *params = json_dumps(c->args ? c->args : json_object(), JSON_COMPACT);
    rm__pyw_opts o = {interpreter(node, c), c->cls, params, s->base_dir[0] ? s->base_dir : NULL,
                      c->python_path, (size_t)c->ring_mb << 20, c->memory_limit_mb,
                      c->init_timeout_ms, c->spin_us};
    char err[1024] = "";
    int rc = rm__pyw_start(&s->w, &o, err, sizeof err);
    free(params);
    if (rc != 0) {
        const pn_class_type *ct = class_type_of(node);
        if (ct)
            return rm_node_fail(node, rc, "node '%s' (%s, class %s): %s%s", rm_node_id(node), ct->label, c->cls,
                                err, strstr(err, "No module named 'remotemedia'") ? REMOTEMEDIA_HINT : "");
        return rm_node_fail(node, rc, "PythonNode '%s' (class %s): %s", rm_node_id(node), c->cls, err);
    }
    s->started = 1;
    return 0;
}

static int pn_init(rm_node *node, void *state, const void *config)
{
    pn_state *s = state;
    s->cfg = *(const pn_config *)config;
    const pn_class_type *ct = class_type_of(node);
    if (ct) { /* its own class and import path; PythonNode's defaults for the rest */
        for (const rm_param_def *p = pn_params; p->name; p++)
            if (p->type == RM_PARAM_INT) *(int64_t *)(void *)((char *)&s->cfg + p->offset) = (int64_t)p->def_num;
        s->cfg.cls = ct->cls;
        s->cfg.python_path = ct->path;
        return start(node, s, &s->cfg); /* not the manifest's directory: only the class's */
    }
    const char *file = rm_node_manifest_file(node);
    const char *slash = file ? strrchr(file, '/') : NULL;
    if (slash && (size_t)(slash - file) < sizeof s->base_dir)
        memcpy(s->base_dir, file, (size_t)(slash - file)), s->base_dir[slash - file] = 0;
    else if (file)
        strcpy(s->base_dir, ".");
    return start(node, s, &s->cfg);
}

static int call(rm_node *node, pn_state *s, uint32_t op, const rm_frame *f)
{
    const pn_config *c = &s->cfg;
    /* A worker lost since the last frame took its state with it: a new one
     * would flush an empty state as if it were the real one. */
    if (op != RM__PYW_PROCESS && !rm__pyw_alive(&s->w)) return 0;
    if (!rm__pyw_alive(&s->w)) {
        rm__pyw_stop(&s->w);
        int rc = start(node, s, c); /* a worker lost earlier: a fresh one */
        if (rc != 0) return rc;
    }
    char err[1024] = "";
    int rc = rm__pyw_call(&s->w, node, op, f, c->timeout_ms, c->memory_limit_mb, err, sizeof err);
    if (rc != 0 && err[0]) {
        const pn_class_type *ct = class_type_of(node);
        if (ct) return rm_node_fail(node, rc, "node '%s' (%s, class %s): %s", rm_node_id(node), ct->label, c->cls, err);
        return rm_node_fail(node, rc, "PythonNode '%s' (class %s): %s", rm_node_id(node), c->cls, err);
    }
    return rc;
}

static int pn_process(rm_node *node, void *state, unsigned port, const rm_frame *f)
{
    (void)port;
    return call(node, state, RM__PYW_PROCESS, f);
}

static int pn_flush(rm_node *node, void *state) { return call(node, state, RM__PYW_FLUSH, NULL); }
static int pn_reset(rm_node *node, void *state) { return call(node, state, RM__PYW_RESET, NULL); }

static void pn_fini(void *state)
{
    pn_state *s = state;
    if (s->started) rm__pyw_stop(&s->w);
}

static const rm_node_type rm__node_python = {
    .abi_version = RM_NODE_ABI_VERSION,
    .name = "PythonNode",
    .doc = "Runs a Python node class (module:Class) in an isolated worker process",
    .family = "python",
    .params = pn_params,
    .config_size = sizeof(pn_config),
    .state_size = sizeof(pn_state),
    .flags = 0, /* not RM_NODE_BLOCKING: the caller's thread talks to the worker
                   directly; a queue thread would add a hop to every frame */
    .init = pn_init,
    .process = pn_process,
    .flush = pn_flush,
    .reset = pn_reset,
    .fini = pn_fini,
    .example = "- id: upper\n  node_type: PythonNode\n  params: {class: \"my_nodes:Upper\", suffix: \"!\"}\n",
};

int rm_register_python_nodes(rm_runtime *rt, const rm_python_nodes_opts *opts, rm_error *err)
{
    if (!opts || !opts->python || !*opts->python) return rm_runtime_register(rt, &rm__node_python, err);
    pthread_mutex_lock(&pn_types_mu);
    pn_type *pt = pn_types;
    while (pt && strcmp(pt->python, opts->python) != 0) pt = pt->next;
    if (!pt) {
        size_t len = strlen(opts->python);
        pt = malloc(sizeof *pt + len + 1);
        if (pt) {
            pt->t = rm__node_python;
            memcpy(pt->python, opts->python, len + 1);
            pt->next = pn_types;
            pn_types = pt;
        }
    }
    pthread_mutex_unlock(&pn_types_mu);
    if (!pt) return rm_error_set(err, RM_ENOMEM, NULL, "out of memory registering PythonNode");
    return rm_runtime_register(rt, &pt->t, err);
}

void rm_python_node_type_free(const rm_node_type *t)
{
    if (!t) return;
    pn_class_type *ct = (pn_class_type *)(void *)t;
    free(ct->name), free(ct->cls), free(ct->dir), free(ct->label), free(ct->doc);
    free(ct);
}

int rm_python_node_type_new(const rm_python_class_type *spec, const rm_node_type **out, rm_error *err)
{
    *out = NULL;
    if (!spec || !spec->name || !spec->cls || !strchr(spec->cls, ':') || !spec->dir)
        return rm_error_set(err, RM_EINVAL, NULL, "a Python class type needs a name, a class 'module:Class' and a directory");
    pn_class_type *ct = calloc(1, sizeof *ct);
    if (!ct) return rm_error_set(err, RM_ENOMEM, NULL, "out of memory");
    const char *origin = spec->origin ? spec->origin : spec->cls;
    size_t ll = strlen(spec->name) + strlen(origin) + 32;
    ct->name = strdup(spec->name);
    ct->cls = strdup(spec->cls);
    ct->dir = strdup(spec->dir);
    ct->label = malloc(ll);
    ct->doc = malloc(ll);
    if (!ct->name || !ct->cls || !ct->dir || !ct->label || !ct->doc) {
        rm_python_node_type_free(&ct->t);
        return rm_error_set(err, RM_ENOMEM, NULL, "out of memory");
    }
    snprintf(ct->label, ll, "Python node type %s of %s", spec->name, origin);
    snprintf(ct->doc, ll, "Python node type (%s)", origin);
    ct->path[0] = ct->dir;
    ct->t = rm__node_python;
    ct->t.name = ct->name;
    ct->t.doc = ct->doc;
    ct->t.params = pn_class_params;
    ct->t.example = NULL;
    *out = &ct->t;
    return 0;
}
