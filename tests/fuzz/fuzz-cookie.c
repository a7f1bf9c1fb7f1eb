/*
 * fuzz-cookie.c: feeds ferry_migration_cookie_parse()
 * (src/conf/migration-cookie.c, with the <persistent> domain through
 * domain-conf.c) any document, as the other host of a migration could send.
 *
 * Must hold: no crash, leak or undefined behaviour; a refusal is a
 * FERRY_ERROR_COOKIE; an accepted cookie formats to a cookie that parses
 * back to the same formatted text (each phase re-sends what it received).
 * Must not: act on the cookie, read or write files.
 */
#include "ferry-config.h"

#include <ferry/ferry.h>
#include <string.h>

#include "conf/migration-cookie.h"
#include "fuzz.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    g_autofree char *xml = NULL;
    g_autoptr(ferry_migration_cookie) cookie = NULL;
    g_autoptr(ferry_migration_cookie) again = NULL;
    g_autoptr(GError) error = NULL;
    g_autofree char *formatted = NULL;
    g_autofree char *formatted_again = NULL;

    fuzz_init();
    xml = fuzz_strdup(data, size);
    cookie = ferry_migration_cookie_parse(xml, "Prepare", &error);
    if (!cookie) {
        g_assert_error(error, FERRY_ERROR, FERRY_ERROR_COOKIE);
        return 0;
    }
    g_assert_nonnull(cookie->id);
    g_assert_nonnull(cookie->host_uuid);

    formatted = ferry_migration_cookie_format(cookie);
    again = ferry_migration_cookie_parse(formatted, "Finish", &error);
    if (!again)
        g_error("an accepted cookie formats to a cookie that does not parse: %s\n%s",
                error->message, formatted);
    formatted_again = ferry_migration_cookie_format(again);
    if (strcmp(formatted, formatted_again) != 0)
        g_error("an accepted cookie does not survive a format and parse:\n%s\n"
                "formatted again:\n%s", formatted, formatted_again);
    return 0;
}
