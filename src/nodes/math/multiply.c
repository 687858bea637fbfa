/* MultiplyNode: multiplies numbers (or every number of an array) by a factor. */
#include <stddef.h>

#include "numeric.h"

typedef struct multiply_config {
    double factor;
} multiply_config;

static double mul(double x, double factor) { return x * factor; }

static int multiply_process(rm_node *node, void *state, unsigned port, const rm_frame *f)
{
    (void)state;
    (void)port;
    const multiply_config *cfg = rm_node_config(node);
    return rm__math_process_map(node, f, mul, cfg->factor);
}

static const char *const factor_aliases[] = {"multiplier", NULL};

static const rm_param_def multiply_params[] = {
    {.name = "factor", .type = RM_PARAM_FLOAT, .offset = offsetof(multiply_config, factor),
     .doc = "number each input number is multiplied by", .def_num = 2.0, .aliases = factor_aliases,
     .flags = RM_PARAM_RUNTIME},
    {0},
};

static const rm_port_def multiply_in[] = {
    {"in", RM_KINDS_ANY, "numbers or arrays of numbers (json); anything else passes through"}, {0}};
static const rm_port_def multiply_out[] = {{"out", RM_KINDS_ANY, "the products"}, {0}};

const rm_node_type rm__node_multiply = {
    .abi_version = RM_NODE_ABI_VERSION,
    .name = "MultiplyNode",
    .doc = "Multiplies a number, or each number of an array, by `factor`",
    .family = "math",
    .inputs = multiply_in,
    .outputs = multiply_out,
    .params = multiply_params,
    .config_size = sizeof(multiply_config),
    .negotiate = rm__math_same_caps,
    .process = multiply_process,
    .example = "- id: double\n  node_type: MultiplyNode\n  params: { factor: 2 }\n",
};
