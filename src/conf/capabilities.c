/* Placeholder: replaced by the capabilities formatter and parser. */
#include "ferry-config.h"

#include <ferry/ferry.h>

#include "conf/capabilities.h"

ferry_caps *
ferry_caps_new(void)
{
    ferry_caps *caps = g_new0(ferry_caps, 1);

    caps->guests = g_ptr_array_new();
    return caps;
}

void
ferry_caps_free(ferry_caps *caps)
{
    g_free(caps);
}

ferry_caps_guest *
ferry_caps_add_guest(ferry_caps *caps, const char *os_type, const char *arch)
{
    ferry_caps_guest *g = g_new0(ferry_caps_guest, 1);

    g->machines = g_ptr_array_new();
    g->domain_types = g_ptr_array_new();
    g_ptr_array_add(caps->guests, g);
    return g;
}

char *
ferry_caps_format(const ferry_caps *caps)
{
    return g_strdup("");
}
