/*
 * remotemedia/plugin.h — node types from shared objects.
 *
 * A plugin is a shared object that exports one function, named by
 * RM_PLUGIN_ENTRY_SYMBOL ("rm_plugin_entry"), returning a static
 * rm_plugin_info.  The runtime loads plugins given with `rmedia --plugin FILE`
 * / `--plugin-dir DIR`, or found in the directories of RMEDIA_PLUGIN_PATH, and
 * registers every node type they list.  Minimal plugin:
 *
 *     static const rm_node_type my_node = { .abi_version = RM_NODE_ABI_VERSION, ... };
 *     static const rm_node_type *const types[] = { &my_node, NULL };
 *     RM_PLUGIN_EXPORT const rm_plugin_info *rm_plugin_entry(void) {
 *         static const rm_plugin_info info = {
 *             RM_NODE_ABI_VERSION, "my-plugin", "1.0", types };
 *         return &info;
 *     }
 *
 * Build it with `cc -shared -fPIC $(pkg-config --cflags --libs remotemedia)`.
 * See examples/plugin/ for a complete one.
 */
#ifndef REMOTEMEDIA_PLUGIN_H
#define REMOTEMEDIA_PLUGIN_H

#include <stdint.h>

#include "node.h"

#ifdef __cplusplus
extern "C" {
#endif

#define RM_PLUGIN_ENTRY_SYMBOL "rm_plugin_entry"

#if defined(__GNUC__)
#define RM_PLUGIN_EXPORT __attribute__((visibility("default")))
#else
#define RM_PLUGIN_EXPORT
#endif

typedef struct rm_plugin_info {
    uint32_t abi_version;                   /* RM_NODE_ABI_VERSION at build time */
    const char *name;                       /* plugin name, for messages         */
    const char *version;                    /* plugin version string             */
    const rm_node_type *const *node_types;  /* NULL-terminated, static           */
} rm_plugin_info;

typedef const rm_plugin_info *(*rm_plugin_entry_fn)(void);

#ifdef __cplusplus
}
#endif
#endif /* REMOTEMEDIA_PLUGIN_H */
