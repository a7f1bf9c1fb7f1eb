/*
 * fuzz-uri.c: feeds ferry_uri_parse() (src/util/uri.c) any string, as a
 * client's connection URI or a peer's <peer uri='...'/> would be.
 *
 * Must hold: no crash, leak or undefined behaviour; a URI that parses has
 * a canonical form (ferry_uri_to_string()) that parses again to the same
 * canonical form, since that form is what ferry sends and stores.
 * Must not: connect anywhere or write files.
 */
#include "ferry-config.h"

#include <ferry/ferry.h>
#include <string.h>

#include "fuzz.h"
#include "util/uri.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const allowed[] = { "socket", "hostname", NULL };
    g_autofree char *str = NULL;
    g_autoptr(ferry_uri) uri = NULL;
    g_autoptr(ferry_uri) again = NULL;
    g_autoptr(GError) error = NULL;
    g_autofree char *canonical = NULL;
    g_autofree char *canonical_again = NULL;

    fuzz_init();
    str = fuzz_strdup(data, size);
    uri = ferry_uri_parse(str, &error);
    if (!uri) {
        g_assert_error(error, FERRY_ERROR, FERRY_ERROR_INVALID_URI);
        return 0;
    }
    g_assert_nonnull(uri->driver);
    g_assert_nonnull(uri->path);
    g_assert_true(uri->port == -1 || (uri->port > 0 && uri->port <= 65535));
    (void)ferry_uri_get_param(uri, "socket");
    if (!ferry_uri_check_params(uri, allowed, &error)) {
        g_assert_error(error, FERRY_ERROR, FERRY_ERROR_INVALID_URI);
        g_clear_error(&error);
    }

    canonical = ferry_uri_to_string(uri);
    again = ferry_uri_parse(canonical, &error);
    if (!again)
        g_error("the canonical form '%s' of URI '%s' does not parse: %s", canonical, str,
                error->message);
    canonical_again = ferry_uri_to_string(again);
    if (strcmp(canonical, canonical_again) != 0)
        g_error("URI '%s': canonical form '%s' parses to another one, '%s'", str, canonical,
                canonical_again);
    return 0;
}
