/*
 * CalculatorNode: evaluates {"operation": "add", "operands": [a, b]} requests
 * (REFERENCE.md §4.1; "args" is accepted for "operands" as in the Python
 * SDK).  A bare number or array input is combined with the `operand` param
 * using the `operation` param instead, as the JSON-era node did.
 */
#include <math.h>
#include <stddef.h>
#include <string.h>

#include "numeric.h"

enum { OP_ADD, OP_SUBTRACT, OP_MULTIPLY, OP_DIVIDE, OP_POWER, OP_MODULO };
static const char *const op_names[] = {"add", "subtract", "multiply", "divide", "power", "modulo", NULL};

typedef struct calculator_config {
    int operation;
    double operand;
} calculator_config;

static int find_op(const char *name)
{
    for (int i = 0; op_names[i]; i++)
        if (strcmp(op_names[i], name) == 0) return i;
    return -1;
}

/* Computes a op b; returns 0 or an error code with *why set. */
static int apply(int op, double a, double b, double *r, const char **why)
{
    switch (op) {
    case OP_ADD: *r = a + b; break;
    case OP_SUBTRACT: *r = a - b; break;
    case OP_MULTIPLY: *r = a * b; break;
    case OP_DIVIDE:
        if (b == 0) return *why = "division by zero", RM_ENODE;
        *r = a / b;
        break;
    case OP_POWER: *r = pow(a, b); break;
    case OP_MODULO:
        if (b == 0) return *why = "modulo by zero", RM_ENODE;
        *r = fmod(a, b);
        break;
    }
    if (!isfinite(*r)) return *why = "result is not a finite number", RM_ENODE;
    return 0;
}

static int request(rm_node *node, const rm_frame *f, const json_t *req)
{
    const json_t *op = json_object_get(req, "operation");
    const json_t *args = json_object_get(req, "operands");
    if (!args) args = json_object_get(req, "args");
    if (!json_is_string(op))
        return rm_node_fail(node, RM_EINVAL, "request needs \"operation\" (one of add, subtract, "
                                             "multiply, divide, power, modulo)");
    int o = find_op(json_string_value(op));
    if (o < 0)
        return rm_node_fail(node, RM_EINVAL, "unknown operation '%s' (valid: add, subtract, multiply, "
                                             "divide, power, modulo)", json_string_value(op));
    if (!json_is_array(args))
        return rm_node_fail(node, RM_EINVAL, "request needs \"operands\": [a, b]");
    if (json_array_size(args) != 2)
        return rm_node_fail(node, RM_EINVAL, "\"operands\" must hold exactly 2 numbers, got %zu",
                            json_array_size(args));
    const json_t *a = json_array_get(args, 0), *b = json_array_get(args, 1);
    if (!json_is_number(a) || !json_is_number(b))
        return rm_node_fail(node, RM_EINVAL, "\"operands\" must be numbers");
    double r;
    const char *why = NULL;
    int rc = apply(o, json_number_value(a), json_number_value(b), &r, &why);
    if (rc != 0) return rm_node_fail(node, rc, "%s", why);
    json_t *res = json_pack("{s:o, s:s, s:O}", "result", rm__math_number(r), "operation", op_names[o],
                            "operands", args);
    rm_frame *out = res ? rm_frame_new_json(res) : NULL;
    if (!out || rm_frame_copy_props(out, f) != 0) {
        rm_frame_unref(out);
        return rm_node_fail(node, RM_ENOMEM, "out of memory");
    }
    return rm_node_emit_take(node, 0, out);
}

static int calculator_process(rm_node *node, void *state, unsigned port, const rm_frame *f)
{
    (void)state;
    (void)port;
    if (f->kind != RM_FRAME_JSON)
        return rm_node_fail(node, RM_EINVAL, "expects a json request {\"operation\", \"operands\"}, got a %s frame",
                            rm_frame_kind_name(f->kind));
    const json_t *v = f->u.json.value;
    if (json_is_object(v)) return request(node, f, v);
    const calculator_config *cfg = rm_node_config(node);
    if (!json_is_number(v) && !json_is_array(v)) return rm_node_emit(node, 0, f);
    /* number or array: value <operation> operand */
    json_t *out_v;
    if (json_is_number(v)) {
        double r;
        const char *why = NULL;
        int rc = apply(cfg->operation, json_number_value(v), cfg->operand, &r, &why);
        if (rc != 0) return rm_node_fail(node, rc, "%s", why);
        out_v = rm__math_number(r);
    } else {
        out_v = json_array();
        size_t i;
        json_t *item;
        json_array_foreach(v, i, item)
        {
            if (!json_is_number(item)) {
                json_array_append(out_v, item);
                continue;
            }
            double r;
            const char *why = NULL;
            int rc = apply(cfg->operation, json_number_value(item), cfg->operand, &r, &why);
            if (rc != 0) {
                json_decref(out_v);
                return rm_node_fail(node, rc, "item %zu: %s", i, why);
            }
            json_array_append_new(out_v, rm__math_number(r));
        }
    }
    rm_frame *out = out_v ? rm_frame_new_json(out_v) : NULL;
    if (!out || rm_frame_copy_props(out, f) != 0) {
        rm_frame_unref(out);
        return rm_node_fail(node, RM_ENOMEM, "out of memory");
    }
    return rm_node_emit_take(node, 0, out);
}

static const rm_param_def calculator_params[] = {
    {.name = "operation", .type = RM_PARAM_ENUM, .offset = offsetof(calculator_config, operation),
     .doc = "operation applied to bare number inputs (requests name their own)", .def_str = "add",
     .enum_values = op_names, .flags = RM_PARAM_RUNTIME},
    {.name = "operand", .type = RM_PARAM_FLOAT, .offset = offsetof(calculator_config, operand),
     .doc = "second operand for bare number inputs", .def_num = 0, .flags = RM_PARAM_RUNTIME},
    {0},
};

static const rm_port_def calculator_in[] = {
    {"in", RM_KIND_BIT(RM_FRAME_JSON),
     "{\"operation\": add|subtract|multiply|divide|power|modulo, \"operands\": [a, b]}, or a number/array"},
    {0}};
static const rm_port_def calculator_out[] = {
    {"out", RM_KIND_BIT(RM_FRAME_JSON), "{\"result\", \"operation\", \"operands\"}, or the computed number/array"},
    {0}};

static const char *const calculator_aliases[] = {"Calculator", NULL};

const rm_node_type rm__node_calculator = {
    .abi_version = RM_NODE_ABI_VERSION,
    .name = "CalculatorNode",
    .doc = "Evaluates {operation, operands} requests (add, subtract, multiply, divide, power, modulo)",
    .family = "math",
    .aliases = calculator_aliases,
    .inputs = calculator_in,
    .outputs = calculator_out,
    .params = calculator_params,
    .config_size = sizeof(calculator_config),
    .process = calculator_process,
    .example = "- id: calc\n  node_type: CalculatorNode\n",
};
