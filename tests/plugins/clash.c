/* A plugin whose node type name clashes with a built-in: refused as a whole. */
#include <remotemedia/plugin.h>

static int clash_process(rm_node *node, void *state, unsigned port, const rm_frame *f)
{
    (void)state, (void)port;
    return rm_node_emit(node, 0, f);
}
static const rm_node_type fresh = {.abi_version = RM_NODE_ABI_VERSION, .name = "FreshNode", .process = clash_process};
static const rm_node_type clash = {.abi_version = RM_NODE_ABI_VERSION, .name = "AddNode", .process = clash_process};
static const rm_node_type *const types[] = {&fresh, &clash, NULL};

RM_PLUGIN_EXPORT const rm_plugin_info *rm_plugin_entry(void);
RM_PLUGIN_EXPORT const rm_plugin_info *rm_plugin_entry(void)
{
    static const rm_plugin_info info = {RM_NODE_ABI_VERSION, "clash", "0", types};
    return &info;
}
