/* Shared helpers of the math nodes. */
#include <math.h>

#include "numeric.h"

json_t *rm__math_number(double x)
{
    if (x == floor(x) && fabs(x) < 9007199254740992.0) return json_integer((json_int_t)x);
    return json_real(x);
}

int rm__math_map(const json_t *v, double (*fn)(double, double), double arg, json_t **out, size_t *bad)
{
    *out = NULL;
    if (json_is_number(v)) {
        double r = fn(json_number_value(v), arg);
        if (!isfinite(r)) return *bad = 0, RM_ENODE;
        return (*out = rm__math_number(r)) ? 0 : RM_ENOMEM;
    }
    if (!json_is_array(v)) return 0;
    size_t i;
    json_t *item;
    int any = 0;
    json_array_foreach(v, i, item) any |= json_is_number(item);
    if (!any) return 0;
    json_t *arr = json_array();
    if (!arr) return RM_ENOMEM;
    json_array_foreach(v, i, item)
    {
        json_t *x;
        if (json_is_number(item)) {
            double r = fn(json_number_value(item), arg);
            if (!isfinite(r)) {
                json_decref(arr);
                *bad = i;
                return RM_ENODE;
            }
            x = rm__math_number(r);
        } else {
            x = json_incref(item);
        }
        if (!x || json_array_append_new(arr, x) != 0) {
            json_decref(arr);
            return RM_ENOMEM;
        }
    }
    *out = arr;
    return 0;
}

int rm__math_process_map(rm_node *node, const rm_frame *f, double (*fn)(double, double), double arg)
{
    if (f->kind != RM_FRAME_JSON) return rm_node_emit(node, 0, f);
    json_t *v;
    size_t bad = 0;
    int rc = rm__math_map(f->u.json.value, fn, arg, &v, &bad);
    if (rc == RM_ENODE)
        return json_is_array(f->u.json.value)
                   ? rm_node_fail(node, rc, "item %zu: the result is not a finite number", bad)
                   : rm_node_fail(node, rc, "the result is not a finite number");
    if (rc != 0) return rm_node_fail(node, rc, "out of memory");
    if (!v) return rm_node_emit(node, 0, f); /* no numbers: pass through */
    rm_frame *out = rm_frame_new_json(v);
    if (!out || rm_frame_copy_props(out, f) != 0) {
        rm_frame_unref(out);
        return rm_node_fail(node, RM_ENOMEM, "out of memory");
    }
    return rm_node_emit_take(node, 0, out);
}

int rm__math_same_caps(const void *config, const rm_caps *in, rm_caps *in_req, rm_caps *out, rm_error *err)
{
    (void)config;
    (void)in_req;
    (void)err;
    out[0] = in[0];
    return 0;
}
