/*
 * test-token.c: ferry_token_new() gives 32 lower-case hex digits, and two
 * tokens differ (1000 of them, all distinct).
 */
#include "ferry-config.h"

#include <string.h>

#include "util/token.h"

static void
test_shape_and_distinct(void)
{
    g_autoptr(GHashTable) seen = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);

    for (guint i = 0; i < 1000; i++) {
        g_autoptr(GError) error = NULL;
        char *token = ferry_token_new(&error);

        g_assert_no_error(error);
        g_assert_cmpuint(strlen(token), ==, FERRY_TOKEN_LEN);
        g_assert_cmpuint(strspn(token, "0123456789abcdef"), ==, FERRY_TOKEN_LEN);
        g_assert_true(g_hash_table_add(seen, token));
    }
    g_assert_cmpuint(g_hash_table_size(seen), ==, 1000);
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/util/token/shape-and-distinct", test_shape_and_distinct);
    return g_test_run();
}
