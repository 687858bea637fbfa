/* The runtime: node registry, plugin loading and the logger. */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef RM_NO_PLUGINS
#include <dlfcn.h>
#endif

#include "internal.h"

#ifndef RM_VERSION_STRING
#define RM_VERSION_STRING "0.0.0"
#endif

typedef struct plugin {
    void *handle;
    char *path;
} plugin;

struct rm_runtime {
    rm_log_fn log_fn;
    void *log_user;
    rm_log_level log_level;
    const rm_node_type **types; /* sorted by name */
    size_t n_types, cap_types;
    plugin *plugins;
    size_t n_plugins, cap_plugins;
};

const char *rm_version(void) { return RM_VERSION_STRING; }

static void default_log(void *user, rm_log_level level, const char *node_id, const char *msg)
{
    RM__UNUSED(user);
    if (node_id)
        fprintf(stderr, "rmedia: %s: [%s] %s\n", rm_log_level_name(level), node_id, msg);
    else
        fprintf(stderr, "rmedia: %s: %s\n", rm_log_level_name(level), msg);
}

void rm_runtime_opts_init(rm_runtime_opts *opts)
{
    memset(opts, 0, sizeof *opts);
    opts->log_level = RM_LOG_WARN;
}

void rm__vlog(const rm_runtime *rt, rm_log_level level, const char *node_id, const char *fmt,
              va_list ap)
{
    if (!rt || level > rt->log_level) return;
    char msg[1024];
    vsnprintf(msg, sizeof msg, fmt, ap);
    rt->log_fn(rt->log_user, level, node_id, msg);
}

void rm__log(const rm_runtime *rt, rm_log_level level, const char *node_id, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    rm__vlog(rt, level, node_id, fmt, ap);
    va_end(ap);
}

void rm_runtime_log(const rm_runtime *rt, rm_log_level level, const char *node_id,
                    const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    rm__vlog(rt, level, node_id, fmt, ap);
    va_end(ap);
}

rm_log_level rm_runtime_log_level(const rm_runtime *rt) { return rt->log_level; }

int rm_runtime_new(const rm_runtime_opts *opts, rm_runtime **out, rm_error *err)
{
    rm_runtime_opts defaults;
    if (!opts) {
        rm_runtime_opts_init(&defaults);
        opts = &defaults;
    }
    *out = NULL;
    rm_runtime *rt = calloc(1, sizeof *rt);
    if (!rt) return rm_error_set(err, RM_ENOMEM, NULL, "out of memory creating the runtime");
    rt->log_fn = opts->log_fn ? opts->log_fn : default_log;
    rt->log_user = opts->log_user;
    rt->log_level = opts->log_level;
    /* The registry starts empty: the core knows no node family.  Hosts add
     * theirs (remotemedia/nodes.h); RM_RUNTIME_NO_BUILTINS has no effect. */
    int rc = 0;
    if (!(opts->flags & RM_RUNTIME_NO_ENV_PLUGINS)) {
        const char *env = getenv(RM_PLUGIN_PATH_ENV);
        if (env && *env) rc = rm_runtime_load_plugin_dirs(rt, env, err);
    }
    if (rc != 0) {
        rm_runtime_free(rt);
        return rc;
    }
    *out = rt;
    return 0;
}

void rm_runtime_free(rm_runtime *rt)
{
    if (!rt) return;
    free(rt->types);
    for (size_t i = 0; i < rt->n_plugins; i++) {
#ifndef RM_NO_PLUGINS
        dlclose(rt->plugins[i].handle);
#endif
        free(rt->plugins[i].path);
    }
    free(rt->plugins);
    free(rt);
}

static int names_match(const rm_node_type *t, const char *name)
{
    if (strcmp(t->name, name) == 0) return 1;
    for (const char *const *a = t->aliases; a && *a; a++)
        if (strcmp(*a, name) == 0) return 1;
    return 0;
}

const rm_node_type *rm_runtime_find_node_type(const rm_runtime *rt, const char *name)
{
    if (!name) return NULL;
    for (size_t i = 0; i < rt->n_types; i++)
        if (names_match(rt->types[i], name)) return rt->types[i];
    return NULL;
}

const char *rm_runtime_suggest_node_type(const rm_runtime *rt, const char *name)
{
    const char *best = NULL;
    unsigned best_d = 32;
    size_t len = strlen(name);
    for (size_t i = 0; i < rt->n_types; i++) {
        const rm_node_type *t = rt->types[i];
        unsigned d = rm__edit_distance(name, t->name);
        if (d < best_d) best_d = d, best = t->name;
        for (const char *const *a = t->aliases; a && *a; a++) {
            d = rm__edit_distance(name, *a);
            if (d < best_d) best_d = d, best = *a;
        }
    }
    /* Only suggest names that are plausibly a typo of the input… */
    unsigned limit = len < 6 ? 2 : (unsigned)(len / 3 + 1);
    if (best_d <= limit) return best;
    /* …or that contain it ("Multiply" → "MultiplyNode"). */
    for (size_t i = 0; len >= 3 && i < rt->n_types; i++)
        if (rm__contains_nocase(rt->types[i]->name, name)) return rt->types[i]->name;
    return NULL;
}

size_t rm_runtime_node_type_count(const rm_runtime *rt) { return rt->n_types; }

const rm_node_type *rm_runtime_node_type_at(const rm_runtime *rt, size_t i)
{
    return i < rt->n_types ? rt->types[i] : NULL;
}

static int check_ports(const rm_port_def *ports, const char *what, const rm_node_type *t,
                       rm_error *err)
{
    for (const rm_port_def *p = ports; p && p->name; p++) {
        if (strchr(p->name, '.'))
            return rm_error_set(err, RM_EINVAL, NULL, "node type %s: %s port name '%s' contains '.'",
                                t->name, what, p->name);
        for (const rm_port_def *q = ports; q < p; q++)
            if (strcmp(p->name, q->name) == 0)
                return rm_error_set(err, RM_EINVAL, NULL, "node type %s: duplicate %s port '%s'",
                                    t->name, what, p->name);
    }
    return 0;
}

int rm_runtime_register(rm_runtime *rt, const rm_node_type *t, rm_error *err)
{
    if (!t || !t->name || !*t->name)
        return rm_error_set(err, RM_EINVAL, NULL, "node type without a name");
    if (t->abi_version < RM_NODE_ABI_MIN || t->abi_version > RM_NODE_ABI_VERSION)
        return rm_error_set(err, RM_EINVAL, NULL,
                            "node type %s: ABI version %u, this runtime supports %u to %u", t->name,
                            t->abi_version, RM_NODE_ABI_MIN, RM_NODE_ABI_VERSION);
    if (!t->process)
        return rm_error_set(err, RM_EINVAL, NULL, "node type %s: no process callback", t->name);
    if (t->params && !t->config_size)
        return rm_error_set(err, RM_EINVAL, NULL, "node type %s: params but config_size is 0",
                            t->name);
    int rc = check_ports(t->inputs, "input", t, err);
    if (rc == 0) rc = check_ports(t->outputs, "output", t, err);
    if (rc == 0) rc = rm__params_check_table(t, err);
    if (rc != 0) return rc;
    if (rm_runtime_find_node_type(rt, t->name))
        return rm_error_set(err, RM_EINVAL, NULL, "node type %s is already registered", t->name);
    for (const char *const *a = t->aliases; a && *a; a++)
        if (rm_runtime_find_node_type(rt, *a))
            return rm_error_set(err, RM_EINVAL, NULL,
                                "node type %s: alias %s is already registered", t->name, *a);
    if (rt->n_types == rt->cap_types) {
        size_t cap = rt->cap_types ? rt->cap_types * 2 : 32;
        const rm_node_type **p = realloc(rt->types, cap * sizeof *p);
        if (!p) return rm_error_set(err, RM_ENOMEM, NULL, "out of memory");
        rt->types = p;
        rt->cap_types = cap;
    }
    size_t pos = rt->n_types;
    while (pos > 0 && strcmp(rt->types[pos - 1]->name, t->name) > 0) {
        rt->types[pos] = rt->types[pos - 1];
        pos--;
    }
    rt->types[pos] = t;
    rt->n_types++;
    return 0;
}

int rm_runtime_load_plugin(rm_runtime *rt, const char *path, rm_error *err)
{
#ifdef RM_NO_PLUGINS
    RM__UNUSED(rt);
    return rm_error_set(err, RM_ENOTSUP, NULL, "%s: plugins are not supported by this build", path);
#else
    for (size_t i = 0; i < rt->n_plugins; i++)
        if (strcmp(rt->plugins[i].path, path) == 0) return 0; /* already loaded */
    void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!h) return rm_error_set(err, RM_EPLUGIN, NULL, "plugin %s: %s", path, dlerror());
    rm_plugin_entry_fn entry;
    *(void **)&entry = dlsym(h, RM_PLUGIN_ENTRY_SYMBOL);
    if (!entry) {
        dlclose(h);
        return rm_error_set(err, RM_EPLUGIN, NULL, "plugin %s: no '%s' symbol (not a RemoteMedia plugin?)",
                            path, RM_PLUGIN_ENTRY_SYMBOL);
    }
    const rm_plugin_info *info = entry();
    if (!info || info->abi_version < RM_NODE_ABI_MIN || info->abi_version > RM_NODE_ABI_VERSION ||
        !info->node_types) {
        unsigned abi = info ? info->abi_version : 0; /* read before the code goes away */
        dlclose(h);
        return rm_error_set(err, RM_EPLUGIN, NULL,
                            "plugin %s: ABI version %u, this runtime supports %u to %u", path, abi,
                            RM_NODE_ABI_MIN, RM_NODE_ABI_VERSION);
    }
    if (rt->n_plugins == rt->cap_plugins) {
        size_t cap = rt->cap_plugins ? rt->cap_plugins * 2 : 4;
        plugin *p = realloc(rt->plugins, cap * sizeof *p);
        if (!p) {
            dlclose(h);
            return rm_error_set(err, RM_ENOMEM, NULL, "out of memory");
        }
        rt->plugins = p;
        rt->cap_plugins = cap;
    }
    char *copy = rm__strdup(path);
    if (!copy) {
        dlclose(h);
        return rm_error_set(err, RM_ENOMEM, NULL, "out of memory");
    }
    /* Register all types or none, so a failed load leaves the registry as it was. */
    size_t before = rt->n_types;
    const rm_node_type **saved = malloc((before ? before : 1) * sizeof *saved);
    if (!saved) {
        free(copy);
        dlclose(h);
        return rm_error_set(err, RM_ENOMEM, NULL, "out of memory");
    }
    if (before) memcpy(saved, rt->types, before * sizeof *saved);
    for (const rm_node_type *const *t = info->node_types; *t; t++) {
        rm_error e;
        int rc = rm_runtime_register(rt, *t, &e);
        if (rc != 0) {
            memcpy(rt->types, saved, before * sizeof *saved);
            rt->n_types = before;
            free(saved);
            free(copy);
            dlclose(h);
            return rm_error_set(err, RM_EPLUGIN, NULL, "plugin %s: %s", path, e.message);
        }
    }
    free(saved);
    rt->plugins[rt->n_plugins].handle = h;
    rt->plugins[rt->n_plugins].path = copy;
    rt->n_plugins++;
    rm__log(rt, RM_LOG_DEBUG, NULL, "loaded plugin %s (%s %s)", path, info->name ? info->name : "?",
            info->version ? info->version : "?");
    return 0;
#endif
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Loads the *.so files of one directory in name order. */
static int load_dir(rm_runtime *rt, const char *dir, rm_error *err)
{
    DIR *d = opendir(dir);
    if (!d) return 0; /* a missing directory on the search path is not an error */
    char **names = NULL;
    size_t n = 0, cap = 0;
    int rc = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        size_t len = strlen(e->d_name);
        if (len < 4 || strcmp(e->d_name + len - 3, ".so") != 0) continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 8;
            char **p = realloc(names, cap * sizeof *p);
            if (!p) {
                rc = rm_error_set(err, RM_ENOMEM, NULL, "out of memory");
                break;
            }
            names = p;
        }
        if (!(names[n] = rm__strdup(e->d_name))) {
            rc = rm_error_set(err, RM_ENOMEM, NULL, "out of memory");
            break;
        }
        n++;
    }
    closedir(d);
    if (rc == 0 && n) qsort(names, n, sizeof *names, cmp_str);
    for (size_t i = 0; i < n; i++) {
        if (rc == 0) {
            rm__buf path;
            rm__buf_init(&path);
            rm__buf_printf(&path, "%s/%s", dir, names[i]);
            char *p = rm__buf_steal(&path);
            rc = p ? rm_runtime_load_plugin(rt, p, err) : rm_error_set(err, RM_ENOMEM, NULL, "out of memory");
            free(p);
        }
        free(names[i]);
    }
    free(names);
    return rc;
}

int rm_runtime_load_plugin_dirs(rm_runtime *rt, const char *dirs, rm_error *err)
{
    const char *p = dirs;
    while (p && *p) {
        const char *colon = strchr(p, ':');
        size_t len = colon ? (size_t)(colon - p) : strlen(p);
        if (len) {
            char *dir = rm__strndup(p, len);
            if (!dir) return rm_error_set(err, RM_ENOMEM, NULL, "out of memory");
            int rc = load_dir(rt, dir, err);
            free(dir);
            if (rc != 0) return rc;
        }
        p = colon ? colon + 1 : NULL;
    }
    return 0;
}
