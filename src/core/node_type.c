/* Port lookups on node type descriptors, with the default in/out ports. */
#include <string.h>

#include "internal.h"

static const rm_port_def default_in[] = {{"in", RM_KINDS_ANY, "input"}, {NULL, 0, NULL}};
static const rm_port_def default_out[] = {{"out", RM_KINDS_ANY, "output"}, {NULL, 0, NULL}};

static const rm_port_def *inputs(const rm_node_type *t) { return t->inputs ? t->inputs : default_in; }
static const rm_port_def *outputs(const rm_node_type *t) { return t->outputs ? t->outputs : default_out; }

static unsigned count(const rm_port_def *p)
{
    unsigned n = 0;
    while (p[n].name) n++;
    return n;
}

static int index_of(const rm_port_def *p, const char *name)
{
    for (int i = 0; p[i].name; i++)
        if (strcmp(p[i].name, name) == 0) return i;
    return -1;
}

unsigned rm_node_type_n_inputs(const rm_node_type *t) { return count(inputs(t)); }
unsigned rm_node_type_n_outputs(const rm_node_type *t) { return count(outputs(t)); }

const rm_port_def *rm_node_type_input(const rm_node_type *t, unsigned i)
{
    return i < rm_node_type_n_inputs(t) ? &inputs(t)[i] : NULL;
}

const rm_port_def *rm_node_type_output(const rm_node_type *t, unsigned i)
{
    return i < rm_node_type_n_outputs(t) ? &outputs(t)[i] : NULL;
}

int rm_node_type_input_index(const rm_node_type *t, const char *name) { return index_of(inputs(t), name); }
int rm_node_type_output_index(const rm_node_type *t, const char *name) { return index_of(outputs(t), name); }
