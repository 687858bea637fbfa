/* Shared helpers of the math nodes. */
#include <math.h>

#include "numeric.h"

json_t *rm__math_number(double x)
{
    if (x == floor(x) && fabs(x) < 9007199254740992.0) return json_integer((json_int_t)x);
    return json_real(x);
}

json_t *rm__math_map(const json_t *v, double (*fn)(double, double), double arg)
{
    if (json_is_number(v)) return rm__math_number(fn(json_number_value(v), arg));
    if (!json_is_array(v)) return NULL;
    size_t i;
    json_t *item;
    int any = 0;
    json_array_foreach(v, i, item) any |= json_is_number(item);
    if (!any) return NULL;
    json_t *out = json_array();
    json_array_foreach(v, i, item)
    {
        json_t *x = json_is_number(item) ? rm__math_number(fn(json_number_value(item), arg)) : json_incref(item);
        if (!x || json_array_append_new(out, x) != 0) {
            json_decref(out);
            return NULL;
        }
    }
    return out;
}

int rm__math_process_map(rm_node *node, const rm_frame *f, double (*fn)(double, double), double arg)
{
    if (f->kind != RM_FRAME_JSON) return rm_node_emit(node, 0, f);
    json_t *v = rm__math_map(f->u.json.value, fn, arg);
    if (!v) return rm_node_emit(node, 0, f);
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
