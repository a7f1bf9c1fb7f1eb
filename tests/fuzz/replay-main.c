/*
 * replay-main.c: runs a fuzz harness over its corpus without libFuzzer.
 *
 * Usage: replay-NAME PATH...  where each PATH is a corpus directory (every
 * regular file in it, in name order) or a single input file.  Prints TAP:
 * one case per PATH, a "# file" line before each input so that a crash in
 * the log names the input that caused it.  Built with gcc in both builds of
 * `make check`, so the sanitizers of the ASan build check every input.
 */
#include "ferry-config.h"

#include <stdio.h>
#include <string.h>

#include "fuzz.h"

static int
compare_names(gconstpointer a, gconstpointer b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The files to run for @path, sorted; NULL with @error if none can be read. */
static GPtrArray *
list_inputs(const char *path, GError **error)
{
    g_autoptr(GPtrArray) files = g_ptr_array_new_with_free_func(g_free);
    g_autoptr(GDir) dir = NULL;
    const char *name;

    if (!g_file_test(path, G_FILE_TEST_IS_DIR)) {
        g_ptr_array_add(files, g_strdup(path));
        return g_steal_pointer(&files);
    }
    dir = g_dir_open(path, 0, error);
    if (!dir)
        return NULL;
    while ((name = g_dir_read_name(dir))) {
        g_autofree char *file = g_build_filename(path, name, NULL);

        if (g_file_test(file, G_FILE_TEST_IS_REGULAR))
            g_ptr_array_add(files, g_steal_pointer(&file));
    }
    g_ptr_array_sort(files, compare_names);
    if (files->len == 0) {
        g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_NOENT,
                    "corpus directory '%s' holds no file", path);
        return NULL;
    }
    return g_steal_pointer(&files);
}

/* Runs every input of @path; FALSE with a TAP diagnostic if one is unreadable. */
static gboolean
replay(const char *path, guint *ret_count)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(GPtrArray) files = list_inputs(path, &error);

    if (!files) {
        printf("# %s\n", error->message);
        return FALSE;
    }
    for (guint i = 0; i < files->len; i++) {
        const char *file = g_ptr_array_index(files, i);
        g_autofree char *data = NULL;
        gsize size;

        printf("# %s\n", file);
        fflush(stdout);
        if (!g_file_get_contents(file, &data, &size, &error)) {
            printf("# cannot read input: %s\n", error->message);
            return FALSE;
        }
        LLVMFuzzerTestOneInput((const uint8_t *)data, size);
    }
    *ret_count = files->len;
    return TRUE;
}

int
main(int argc, char **argv)
{
    gboolean all_ok = TRUE;

    if (argc < 2) {
        fprintf(stderr, "usage: %s CORPUS-DIR-OR-FILE...\n", argv[0]);
        return 2;
    }
    printf("1..%d\n", argc - 1);
    for (int i = 1; i < argc; i++) {
        guint count = 0;

        if (replay(argv[i], &count)) {
            printf("ok %d - %u inputs of %s\n", i, count, argv[i]);
        } else {
            printf("not ok %d - %s\n", i, argv[i]);
            all_ok = FALSE;
        }
    }
    return all_ok ? 0 : 1;
}
