/*
 * An out-of-tree node plugin: ClampNode limits numbers (or every number of an
 * array) to [min, max].  Build it against an installed RemoteMedia with
 *
 *   cc -shared -fPIC -o clamp.so clamp_node.c $(pkg-config --cflags --libs remotemedia)
 *
 * and load it with `rmedia --plugin ./clamp.so ...` or by putting clamp.so in
 * a directory listed in RMEDIA_PLUGIN_PATH.
 */
#include <stddef.h>

#include <jansson.h>
#include <remotemedia/plugin.h>

typedef struct clamp_config {
    double min, max;
} clamp_config;

static json_t *clamp_value(const json_t *v, const clamp_config *c)
{
    if (json_is_number(v)) {
        double x = json_number_value(v);
        x = x < c->min ? c->min : x > c->max ? c->max : x;
        return json_is_integer(v) && x == (double)(json_int_t)x ? json_integer((json_int_t)x) : json_real(x);
    }
    if (json_is_array(v)) {
        json_t *out = json_array();
        size_t i;
        json_t *item;
        json_array_foreach(v, i, item) json_array_append_new(out, clamp_value(item, c));
        return out;
    }
    return json_incref((json_t *)v);
}

static int clamp_init(rm_node *node, void *state, const void *config)
{
    (void)state;
    const clamp_config *c = config;
    if (c->min > c->max) return rm_node_fail(node, RM_EPARAM, "min (%g) is greater than max (%g)", c->min, c->max);
    return 0;
}

static int clamp_process(rm_node *node, void *state, unsigned port, const rm_frame *f)
{
    (void)state;
    (void)port;
    if (f->kind != RM_FRAME_JSON) return rm_node_emit(node, 0, f);
    rm_frame *out = rm_frame_new_json(clamp_value(f->u.json.value, rm_node_config(node)));
    if (!out || rm_frame_copy_props(out, f) != 0) {
        rm_frame_unref(out);
        return rm_node_fail(node, RM_ENOMEM, "out of memory");
    }
    return rm_node_emit_take(node, 0, out);
}

static const rm_param_def clamp_params[] = {
    {.name = "min", .type = RM_PARAM_FLOAT, .offset = offsetof(clamp_config, min), .doc = "lower limit",
     .def_num = 0},
    {.name = "max", .type = RM_PARAM_FLOAT, .offset = offsetof(clamp_config, max), .doc = "upper limit",
     .def_num = 1},
    {0},
};

static const rm_node_type clamp_node = {
    .abi_version = RM_NODE_ABI_VERSION,
    .name = "ClampNode",
    .doc = "Limits numbers (or each number of an array) to [min, max]",
    .family = "example-plugin",
    .params = clamp_params,
    .config_size = sizeof(clamp_config),
    .init = clamp_init,
    .process = clamp_process,
    .example = "- id: clamp\n  node_type: ClampNode\n  params: { min: 0, max: 100 }\n",
};

static const rm_node_type *const node_types[] = {&clamp_node, NULL};

RM_PLUGIN_EXPORT const rm_plugin_info *rm_plugin_entry(void);

RM_PLUGIN_EXPORT const rm_plugin_info *rm_plugin_entry(void)
{
    static const rm_plugin_info info = {RM_NODE_ABI_VERSION, "example-clamp", "1.0.0", node_types};
    return &info;
}
