/*
 * test-error.c: the FERRY_ERROR domain and its helpers (src/util/error.c).
 */
#include "ferry-config.h"

#include <errno.h>
#include <ferry/ferry.h>
#include <gio/gio.h>

#include "util/error.h"

static void
test_code_names(void)
{
    g_assert_cmpstr(ferry_error_code_to_string(FERRY_ERROR_INTERNAL), ==, "internal");
    g_assert_cmpstr(ferry_error_code_to_string(FERRY_ERROR_XML), ==, "xml");
    g_assert_cmpstr(ferry_error_code_to_string(FERRY_ERROR_NO_DOMAIN), ==, "no-domain");
    g_assert_cmpstr(ferry_error_code_to_string(FERRY_ERROR_STORAGE), ==, "storage");
    g_assert_cmpstr(ferry_error_code_to_string(0), ==, "unknown");
    g_assert_cmpstr(ferry_error_code_to_string(-1), ==, "unknown");
    g_assert_cmpstr(ferry_error_code_to_string(10000), ==, "unknown");
    /* Every code from INTERNAL to STORAGE has its own name. */
    for (int code = FERRY_ERROR_INTERNAL; code <= FERRY_ERROR_ACCESS_DENIED; code++) {
        for (int other = code + 1; other <= FERRY_ERROR_ACCESS_DENIED; other++)
            g_assert_cmpstr(ferry_error_code_to_string(code), !=,
                            ferry_error_code_to_string(other));
        g_assert_cmpstr(ferry_error_code_to_string(code), !=, "unknown");
    }
}

static void
test_version(void)
{
    g_assert_cmpstr(ferry_version_string(), ==, FERRY_VERSION);
}

typedef struct {
    GQuark domain;
    int code;
    int ferry_code;
} foreign_case;

static void
test_normalize(void)
{
    const foreign_case cases[] = {
        { G_IO_ERROR, G_IO_ERROR_CLOSED, FERRY_ERROR_CONNECTION_CLOSED },
        { G_IO_ERROR, G_IO_ERROR_BROKEN_PIPE, FERRY_ERROR_CONNECTION_CLOSED },
        { G_IO_ERROR, G_IO_ERROR_TIMED_OUT, FERRY_ERROR_TIMEOUT },
        { G_IO_ERROR, G_IO_ERROR_CANCELLED, FERRY_ERROR_OPERATION_ABORTED },
        { G_IO_ERROR, G_IO_ERROR_CONNECTION_REFUSED, FERRY_ERROR_NO_CONNECT },
        { G_IO_ERROR, G_IO_ERROR_HOST_UNREACHABLE, FERRY_ERROR_NO_CONNECT },
        { G_IO_ERROR, G_IO_ERROR_NOT_FOUND, FERRY_ERROR_SYSTEM },
        { G_FILE_ERROR, G_FILE_ERROR_NOENT, FERRY_ERROR_SYSTEM },
        { G_SPAWN_ERROR, G_SPAWN_ERROR_FAILED, FERRY_ERROR_SYSTEM },
        { G_MARKUP_ERROR, G_MARKUP_ERROR_PARSE, FERRY_ERROR_XML },
        { G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_PARSE, FERRY_ERROR_INTERNAL },
    };

    for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autoptr(GError) error = g_error_new(cases[i].domain, cases[i].code, "case %u went wrong", i);
        g_autofree char *message = g_strdup_printf("case %u went wrong", i);

        ferry_error_normalize(&error);
        g_assert_error(error, FERRY_ERROR, cases[i].ferry_code);
        g_assert_cmpstr(error->message, ==, message);
    }
}

static void
test_normalize_leaves_ferry_errors(void)
{
    GError *error = g_error_new_literal(FERRY_ERROR, FERRY_ERROR_NO_DOMAIN, "no domain 'x'");
    GError *before = error;
    GError *none = NULL;

    ferry_error_normalize(&error);
    g_assert_true(error == before);
    g_assert_error(error, FERRY_ERROR, FERRY_ERROR_NO_DOMAIN);
    g_error_free(error);

    ferry_error_normalize(&none);
    g_assert_null(none);
    ferry_error_normalize(NULL);
}

static void
test_set_error_errno(void)
{
    g_autoptr(GError) error = NULL;
    g_autofree char *expected = g_strdup_printf("cannot open '/x/y': %s", g_strerror(ENOENT));

    ferry_set_error_errno(&error, FERRY_ERROR_SYSTEM, ENOENT, "cannot open '%s'", "/x/y");
    g_assert_error(error, FERRY_ERROR, FERRY_ERROR_SYSTEM);
    g_assert_cmpstr(error->message, ==, expected);

    /* A NULL location is allowed and ignored. */
    ferry_set_error_errno(NULL, FERRY_ERROR_SYSTEM, EIO, "ignored %d", 1);
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);

    g_test_add_func("/util/error/code-names", test_code_names);
    g_test_add_func("/util/error/version", test_version);
    g_test_add_func("/util/error/normalize", test_normalize);
    g_test_add_func("/util/error/normalize-leaves-ferry-errors", test_normalize_leaves_ferry_errors);
    g_test_add_func("/util/error/set-error-errno", test_set_error_errno);
    return g_test_run();
}
