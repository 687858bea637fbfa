/* PassThrough: emits every input frame unchanged (zero copy). */
#include "remotemedia/node.h"

static int passthrough_process(rm_node *node, void *state, unsigned port, const rm_frame *f)
{
    (void)state;
    (void)port;
    return rm_node_emit(node, 0, f);
}

static int passthrough_caps(const void *config, const rm_caps *in, rm_caps *in_req, rm_caps *out,
                            rm_error *err)
{
    (void)config;
    (void)in_req;
    (void)err;
    out[0] = in[0];
    return 0;
}

static const char *const passthrough_aliases[] = {"PassThroughNode", "PassthroughNode", NULL};

const rm_node_type rm__node_passthrough = {
    .abi_version = RM_NODE_ABI_VERSION,
    .name = "PassThrough",
    .doc = "Emits every frame unchanged (any kind, zero copy)",
    .family = "core",
    .aliases = passthrough_aliases,
    .negotiate = passthrough_caps,
    .process = passthrough_process,
    .example = "- id: tap\n  node_type: PassThrough\n",
};
