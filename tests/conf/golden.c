/*
 * golden.c: expected-file helpers for the data-driven tests (see golden.h).
 * Owns nothing but reading and, when asked, rewriting files under tests/data/.
 */
#include "ferry-config.h"

#include <ferry/ferry.h>
#include <glib/gstdio.h>
#include <string.h>

#include "golden.h"

char *
golden_data_dir(const char *suite)
{
    const char *srcdir = g_getenv("G_TEST_SRCDIR");

    if (srcdir)
        return g_build_filename(srcdir, "data", suite, NULL);
    return g_build_filename(FERRY_SOURCE_DIR, "tests", "data", suite, NULL);
}

static int
compare_names(gconstpointer a, gconstpointer b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

GStrv
golden_list_cases(const char *dir, const char *suffix, const char *not_suffix)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(GDir) d = g_dir_open(dir, 0, &error);
    GPtrArray *names = g_ptr_array_new();
    const char *name;

    g_assert_no_error(error);
    while ((name = g_dir_read_name(d))) {
        if (!g_str_has_suffix(name, suffix))
            continue;
        if (not_suffix && g_str_has_suffix(name, not_suffix))
            continue;
        g_ptr_array_add(names, g_strndup(name, strlen(name) - strlen(suffix)));
    }
    g_ptr_array_sort(names, compare_names);
    g_ptr_array_add(names, NULL);
    return (GStrv)g_ptr_array_free(names, FALSE);
}

static gboolean
golden_regenerate(void)
{
    return g_strcmp0(g_getenv("FERRY_TEST_REGENERATE"), "1") == 0;
}

char *
golden_read(const char *path)
{
    g_autoptr(GError) error = NULL;
    char *contents = NULL;

    g_file_get_contents(path, &contents, NULL, &error);
    g_assert_no_error(error);
    return contents;
}

void
golden_check(const char *path, const char *actual)
{
    g_autofree char *expected = NULL;

    if (golden_regenerate()) {
        g_autoptr(GError) error = NULL;

        g_file_set_contents(path, actual, -1, &error);
        g_assert_no_error(error);
        g_test_message("rewrote %s", path);
        return;
    }
    if (!g_file_test(path, G_FILE_TEST_EXISTS)) {
        g_test_fail_printf("expected file %s is missing; run with FERRY_TEST_REGENERATE=1 "
                           "to create it", path);
        return;
    }
    expected = golden_read(path);
    g_assert_cmpstr(actual, ==, expected);
}

typedef struct {
    char *dir;
    char *name;
    golden_transform transform;
    int code;                 /* the error code failing cases expect */
} golden_case;

static void
golden_case_free(gpointer data)
{
    golden_case *c = data;

    g_free(c->dir);
    g_free(c->name);
    g_free(c);
}

static void
run_case(gconstpointer data)
{
    const golden_case *c = data;
    g_autofree char *file = g_strconcat(c->name, ".xml", NULL);
    g_autofree char *in_path = g_build_filename(c->dir, file, NULL);
    g_autofree char *out_path = g_strconcat(c->dir, "/", c->name, ".out.xml", NULL);
    g_autofree char *err_path = g_strconcat(c->dir, "/", c->name, ".err", NULL);
    g_autofree char *input = golden_read(in_path);
    g_autoptr(GError) error = NULL;
    g_autofree char *output = c->transform(input, file, &error);
    g_autofree char *again = NULL;

    g_assert_true((output == NULL) == (error != NULL));
    if (golden_regenerate()) {
        g_autofree char *message = error ? g_strconcat(error->message, "\n", NULL) : NULL;

        g_unlink(output ? err_path : out_path);
        golden_check(output ? out_path : err_path, output ? output : message);
        return;
    }

    if (g_file_test(err_path, G_FILE_TEST_EXISTS)) {
        g_autofree char *expected = golden_read(err_path);

        g_assert_false(g_file_test(out_path, G_FILE_TEST_EXISTS));
        g_assert_error(error, FERRY_ERROR, c->code);
        g_assert_cmpstr(error->message, ==, g_strchomp(expected));
        return;
    }

    g_assert_no_error(error);
    golden_check(out_path, output);
    /* The canonical form is a fixed point. */
    again = c->transform(output, "output", &error);
    g_assert_no_error(error);
    g_assert_cmpstr(again, ==, output);
}

void
golden_add_cases(const char *suite, golden_transform transform)
{
    golden_add_cases_with_code(suite, transform, FERRY_ERROR_XML);
}

void
golden_add_cases_with_code(const char *suite, golden_transform transform, int code)
{
    g_autofree char *dir = golden_data_dir(suite);
    g_auto(GStrv) names = golden_list_cases(dir, ".xml", ".out.xml");

    if (!names[0])
        g_test_fail_printf("no cases in %s", dir);
    for (guint i = 0; names[i]; i++) {
        g_autofree char *path = g_strconcat("/conf/", suite, "/data/", names[i], NULL);
        golden_case *c = g_new0(golden_case, 1);

        c->dir = g_strdup(dir);
        c->name = g_strdup(names[i]);
        c->transform = transform;
        c->code = code;
        g_test_add_data_func_full(path, c, run_case, golden_case_free);
    }
}
