/* AddNode: adds a constant to numbers (or every number of an array). */
#include <stddef.h>

#include "numeric.h"

typedef struct add_config {
    double addend;
} add_config;

static double add(double x, double addend) { return x + addend; }

static int add_process(rm_node *node, void *state, unsigned port, const rm_frame *f)
{
    (void)state;
    (void)port;
    const add_config *cfg = rm_node_config(node);
    return rm__math_process_map(node, f, add, cfg->addend);
}

static const rm_param_def add_params[] = {
    {.name = "addend", .type = RM_PARAM_FLOAT, .offset = offsetof(add_config, addend),
     .doc = "number added to each input number", .def_num = 0.0, .flags = RM_PARAM_RUNTIME},
    {0},
};

static const rm_port_def add_in[] = {
    {"in", RM_KINDS_ANY, "numbers or arrays of numbers (json); anything else passes through"}, {0}};
static const rm_port_def add_out[] = {{"out", RM_KINDS_ANY, "the sums"}, {0}};

const rm_node_type rm__node_add = {
    .abi_version = RM_NODE_ABI_VERSION,
    .name = "AddNode",
    .doc = "Adds `addend` to a number, or to each number of an array",
    .family = "math",
    .inputs = add_in,
    .outputs = add_out,
    .params = add_params,
    .config_size = sizeof(add_config),
    .negotiate = rm__math_same_caps,
    .process = add_process,
    .example = "- id: plus_ten\n  node_type: AddNode\n  params: { addend: 10 }\n",
};
