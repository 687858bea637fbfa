/* Shared helpers of the math nodes: numbers and arrays of numbers as JSON. */
#ifndef RM_NODES_MATH_NUMERIC_H
#define RM_NODES_MATH_NUMERIC_H

#include <jansson.h>

#include "remotemedia/node.h"

/* A JSON number for x: an integer when x is integral and exactly
 * representable, else a real.  New reference. */
json_t *rm__math_number(double x);

/* Applies fn to a number, or to each number of an array (other items are
 * kept).  Returns 0 with *out a new reference, or *out NULL if `v` holds no
 * number (the caller passes the frame through); RM_ENODE if a result is not
 * finite (*bad = the array index); RM_ENOMEM. */
int rm__math_map(const json_t *v, double (*fn)(double x, double arg), double arg, json_t **out, size_t *bad);

/* process() of the element-wise nodes: json frames with numbers are mapped,
 * everything else passes through. */
int rm__math_process_map(rm_node *node, const rm_frame *f, double (*fn)(double, double), double arg);

/* negotiate() of nodes whose output has the type of their input. */
int rm__math_same_caps(const void *config, const rm_caps *in, rm_caps *in_req, rm_caps *out,
                      rm_error *err);

#endif
