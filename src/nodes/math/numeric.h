/* Shared helpers of the math nodes: numbers and arrays of numbers as JSON. */
#ifndef RM_NODES_MATH_NUMERIC_H
#define RM_NODES_MATH_NUMERIC_H

#include <jansson.h>

#include "remotemedia/node.h"

/* A JSON number for x: an integer when x is integral and exactly
 * representable, else a real.  New reference. */
json_t *rm__math_number(double x);

/* Applies fn to a number, or to each number of an array (other items are
 * kept).  Returns a new reference, or NULL if `v` holds no number (the
 * caller then passes the frame through unchanged). */
json_t *rm__math_map(const json_t *v, double (*fn)(double x, double arg), double arg);

/* process() of the element-wise nodes: json frames with numbers are mapped,
 * everything else passes through. */
int rm__math_process_map(rm_node *node, const rm_frame *f, double (*fn)(double, double), double arg);

/* negotiate() of nodes whose output has the type of their input. */
int rm__math_same_caps(const void *config, const rm_caps *in, rm_caps *in_req, rm_caps *out,
                      rm_error *err);

#endif
