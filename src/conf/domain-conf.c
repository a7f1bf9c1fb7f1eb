/* Placeholder: replaced by the domain XML parser and formatter. */
#include "ferry-config.h"

#include <ferry/ferry.h>

#include "conf/domain-conf.h"

ferry_domain_def *
ferry_domain_def_parse_string(const char *xml, const char *source_name,
                              guint flags, GError **error)
{
    g_set_error(error, FERRY_ERROR, FERRY_ERROR_NO_SUPPORT, "domain XML parsing is not built yet");
    return NULL;
}

void
ferry_domain_def_free(ferry_domain_def *def)
{
    g_free(def);
}

char *
ferry_domain_def_format(const ferry_domain_def *def)
{
    return g_strdup("");
}

ferry_domain_def *
ferry_domain_def_copy(const ferry_domain_def *def)
{
    return NULL;
}
