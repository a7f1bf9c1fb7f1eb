/*
 * fuzz-domain-xml.c: feeds ferry_domain_def_parse_string()
 * (src/conf/domain-conf.c: libxml2, ferry's walk, then the RelaxNG schema
 * docs/schemas/domain.rng) any document, as a client's define or a peer's
 * migration XML would be.
 *
 * Must hold: no crash, leak or undefined behaviour; a refusal is a
 * FERRY_ERROR_XML; an accepted definition formats to XML that parses back
 * to the same formatted text (domain-conf.h promises it: a definition is
 * stored and sent in that form), and a copy formats the same.
 * Must not: read or write files (the schemas are built in).
 */
#include "ferry-config.h"

#include <ferry/ferry.h>
#include <string.h>

#include "conf/domain-conf.h"
#include "fuzz.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    g_autofree char *xml = NULL;
    g_autoptr(ferry_domain_def) def = NULL;
    g_autoptr(ferry_domain_def) again = NULL;
    g_autoptr(ferry_domain_def) copy = NULL;
    g_autoptr(GError) error = NULL;
    g_autofree char *formatted = NULL;
    g_autofree char *formatted_again = NULL;
    g_autofree char *formatted_copy = NULL;

    fuzz_init();
    xml = fuzz_strdup(data, size);
    /* No generated uuid: the same input must give the same result. */
    def = ferry_domain_def_parse_string(xml, "fuzz.xml", FERRY_DOMAIN_DEF_PARSE_NO_UUID,
                                        &error);
    if (!def) {
        g_assert_error(error, FERRY_ERROR, FERRY_ERROR_XML);
        return 0;
    }

    formatted = ferry_domain_def_format(def);
    again = ferry_domain_def_parse_string(formatted, "formatted.xml",
                                          FERRY_DOMAIN_DEF_PARSE_NO_UUID, &error);
    if (!again)
        g_error("an accepted definition formats to XML that does not parse: %s\n%s",
                error->message, formatted);
    formatted_again = ferry_domain_def_format(again);
    if (strcmp(formatted, formatted_again) != 0)
        g_error("an accepted definition does not survive a format and parse:\n%s\n"
                "formatted again:\n%s", formatted, formatted_again);

    copy = ferry_domain_def_copy(def);
    formatted_copy = ferry_domain_def_format(copy);
    g_assert_cmpstr(formatted_copy, ==, formatted);
    return 0;
}
