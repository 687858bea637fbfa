/* A plugin built for another ABI version: the runtime must refuse it. */
#include <remotemedia/plugin.h>

static const rm_node_type *const none[] = {NULL};

RM_PLUGIN_EXPORT const rm_plugin_info *rm_plugin_entry(void);
RM_PLUGIN_EXPORT const rm_plugin_info *rm_plugin_entry(void)
{
    static const rm_plugin_info info = {RM_NODE_ABI_VERSION + 100, "bad-abi", "0", none};
    return &info;
}
