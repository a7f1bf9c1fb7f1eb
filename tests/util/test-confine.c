/*
 * test-confine.c: ferry_confine_path() (src/util/confine.c) on a real
 * directory tree: files inside and outside, existing or not, symlinks that
 * lead out (to a file, to nowhere, through a directory), '..', relative and
 * over-long paths, and the rule that a refusal never tells whether a path
 * outside exists.
 *
 * The tree, under a fresh temporary directory @:
 *   @/in/disk.raw  @/in/sub/          the allowed directory and its files
 *   @/in/link-out -> @/out/secret     a symlink to a file outside
 *   @/in/dangling -> @/out/nothing    a symlink to nowhere outside
 *   @/in/dir-out -> @/out             a symlink to a directory outside
 *   @/in/inner -> @/in/sub            a symlink that stays inside
 *   @/out/secret (0600)               outside
 *   @/inx/                            a sibling whose name starts like in
 *   @/alias -> @/in                   the allowed directory through a link
 */
#include "ferry-config.h"

#include <ferry/ferry.h>
#include <glib/gstdio.h>
#include <string.h>
#include <unistd.h>

#include "util/confine.h"

static char *root;

static char *
at(const char *rel)
{
    return g_build_filename(root, rel, NULL);
}

static void
make_file(const char *rel, int mode)
{
    g_autofree char *path = at(rel);
    g_autoptr(GError) error = NULL;

    g_assert_true(g_file_set_contents(path, "x", 1, &error));
    g_assert_no_error(error);
    g_assert_cmpint(g_chmod(path, mode), ==, 0);
}

static void
make_dir(const char *rel)
{
    g_autofree char *path = at(rel);

    g_assert_cmpint(g_mkdir(path, 0700), ==, 0);
}

static void
make_link(const char *rel, const char *target_rel)
{
    g_autofree char *path = at(rel);
    g_autofree char *target = at(target_rel);

    g_assert_cmpint(symlink(target, path), ==, 0);
}

static void
make_tree(void)
{
    g_autoptr(GError) error = NULL;

    root = g_dir_make_tmp("ferry-confine-XXXXXX", &error);
    g_assert_no_error(error);
    make_dir("in");
    make_dir("in/sub");
    make_dir("out");
    make_dir("inx");
    make_file("in/disk.raw", 0600);
    make_file("out/secret", 0600);
    make_link("in/link-out", "out/secret");
    make_link("in/dangling", "out/nothing");
    make_link("in/dir-out", "out");
    make_link("in/inner", "in/sub");
    make_link("alias", "in");
}

static void
remove_tree(void)
{
    const char *const files[] = { "in/link-out", "in/dangling", "in/dir-out", "in/inner",
                                  "alias", "in/disk.raw", "out/secret", "in/sub", "in",
                                  "out", "inx", NULL };

    for (guint i = 0; files[i]; i++) {
        g_autofree char *path = at(files[i]);

        g_remove(path);
    }
    g_rmdir(root);
    g_clear_pointer(&root, g_free);
}

/* @text with every '@' replaced by the tree's root. */
static char *
expand(const char *text)
{
    g_auto(GStrv) parts = g_strsplit(text, "@", -1);

    return g_strjoinv(root, parts);
}

/* Runs the check of @path_t ('@': the root) against the one directory
 * @dir_t; returns the error message, or NULL if accepted. */
static char *
check(const char *path_t, const char *dir_t)
{
    g_autofree char *path = expand(path_t);
    g_autofree char *dir = expand(dir_t);
    const char *const dirs[] = { "/nonexistent-ferry-dir", dir, NULL };
    g_autoptr(GError) error = NULL;
    gboolean ok = ferry_confine_path(path, "domain 'web1': disk 'vda': backing file", dirs,
                                     "storage_dirs", &error);

    g_assert_true(ok == (error == NULL));
    if (error)
        g_assert_error(error, FERRY_ERROR, FERRY_ERROR_INVALID_ARG);
    return error ? g_strdup(error->message) : NULL;
}

typedef struct {
    const char *name;
    const char *path;       /* '@': the tree's root */
    const char *dir;        /* the allowed directory */
    gboolean inside;
} path_case;

static const path_case cases[] = {
    { "existing-file", "@/in/disk.raw", "@/in", TRUE },
    { "new-file", "@/in/new.qcow2", "@/in", TRUE },
    { "new-file-in-new-dir", "@/in/a/b/new.qcow2", "@/in", TRUE },
    { "subdir-file", "@/in/sub/new.raw", "@/in", TRUE },
    { "double-slashes-and-dots", "@//in/./sub//x.raw", "@/in", TRUE },
    { "link-staying-inside", "@/in/inner/x.raw", "@/in", TRUE },
    { "dir-through-alias", "@/in/x.raw", "@/alias", TRUE },
    { "path-through-alias", "@/alias/x.raw", "@/in", TRUE },
    { "trailing-slash-on-dir", "@/in/x.raw", "@/in/", TRUE },
    { "past-a-file", "@/in/disk.raw/x", "@/in", TRUE },
    { "root-allows-all", "@/out/secret", "/", TRUE },
    { "outside-existing", "@/out/secret", "@/in", FALSE },
    { "outside-missing", "@/out/nothing", "@/in", FALSE },
    { "outside-missing-dir", "@/nowhere/at/all", "@/in", FALSE },
    { "link-to-file-outside", "@/in/link-out", "@/in", FALSE },
    { "dangling-link-outside", "@/in/dangling", "@/in", FALSE },
    { "dir-link-outside", "@/in/dir-out/secret", "@/in", FALSE },
    { "dir-link-outside-new-file", "@/in/dir-out/new.raw", "@/in", FALSE },
    { "sibling-with-same-prefix", "@/inx/x.raw", "@/in", FALSE },
    { "the-dir-itself", "@/in", "@/in", FALSE },
    { "dir-does-not-exist", "@/in/x.raw", "@/missing", FALSE },
};

static void
test_case(gconstpointer data)
{
    const path_case *c = data;
    g_autofree char *message = check(c->path, c->dir);

    if (c->inside) {
        g_assert_null(message);
    } else {
        g_autofree char *path = expand(c->path);
        g_autofree char *dir = expand(c->dir);
        g_autofree char *want = g_strdup_printf("domain 'web1': disk 'vda': backing file '%s' "
                                                "is outside storage_dirs "
                                                "(/nonexistent-ferry-dir:%s)", path, dir);

        g_assert_cmpstr(message, ==, want);
    }
}

/* Outside paths that exist and that do not get one sentence, the path
 * aside: a refusal must not be a way to probe the host's files. */
static void
test_same_text_existing_or_not(void)
{
    const char *const pairs[][2] = {
        { "@/out/secret", "@/out/nothing" },
        { "@/in/link-out", "@/in/dangling" },
        { "@/in/dir-out/secret", "@/in/dir-out/nothing" },
        { "/etc/passwd", "/etc/no-such-file-ferry" },
        { "/root", "/no-such-dir-ferry/x/y" },
    };

    for (guint i = 0; i < G_N_ELEMENTS(pairs); i++) {
        g_autofree char *a_path = expand(pairs[i][0]);
        g_autofree char *b_path = expand(pairs[i][1]);
        g_autofree char *a = check(pairs[i][0], "@/in");
        g_autofree char *b = check(pairs[i][1], "@/in");
        g_auto(GStrv) a_parts = NULL;
        g_auto(GStrv) b_parts = NULL;

        g_assert_nonnull(a);
        g_assert_nonnull(b);
        a_parts = g_strsplit(a, a_path, 2);
        b_parts = g_strsplit(b, b_path, 2);
        g_assert_cmpuint(g_strv_length(a_parts), ==, 2);
        g_assert_cmpuint(g_strv_length(b_parts), ==, 2);
        g_assert_cmpstr(a_parts[0], ==, b_parts[0]);
        g_assert_cmpstr(a_parts[1], ==, b_parts[1]);
    }
}

static void
test_dot_dot(void)
{
    const char *const paths[] = { "@/in/../out/secret", "@/in/sub/../disk.raw",
                                  "@/in/nothing/../../out/x", NULL };

    for (guint i = 0; paths[i]; i++) {
        g_autofree char *path = expand(paths[i]);
        g_autofree char *message = check(paths[i], "@/in");
        g_autofree char *want = g_strdup_printf("domain 'web1': disk 'vda': backing file '%s' "
                                                "has a '..' component, which is not allowed",
                                                path);

        /* Even one that would land inside: '..' is refused by its text. */
        g_assert_cmpstr(message, ==, want);
    }
}

static void
test_relative(void)
{
    g_autofree char *message = check("in/disk.raw", "@/in");

    g_assert_cmpstr(message, ==,
                    "domain 'web1': disk 'vda': backing file 'in/disk.raw' is not an absolute "
                    "path");
}

static void
test_too_long(void)
{
    g_autoptr(GString) path = g_string_new(root);
    g_autofree char *message = NULL;
    g_autofree char *want = NULL;

    g_string_append(path, "/in");
    while (path->len <= FERRY_CONFINE_PATH_MAX)
        g_string_append(path, "/aaaaaaa");
    message = check(path->str, "@/in");
    want = g_strdup_printf("domain 'web1': disk 'vda': backing file '%.64s...' is %"
                           G_GSIZE_FORMAT " bytes long, more than the limit of %d", path->str,
                           path->len, FERRY_CONFINE_PATH_MAX);
    g_assert_cmpstr(message, ==, want);
}

static void
test_no_dirs(void)
{
    g_autofree char *path = expand("@/in/disk.raw");
    const char *const none[] = { NULL };
    g_autoptr(GError) error = NULL;

    g_assert_false(ferry_confine_path(path, "kernel", none, "file_dirs", &error));
    g_assert_error(error, FERRY_ERROR, FERRY_ERROR_INVALID_ARG);
    g_assert_true(g_str_has_suffix(error->message, "is outside file_dirs ()"));
}

int
main(int argc, char **argv)
{
    int rc;

    g_test_init(&argc, &argv, NULL);
    make_tree();
    for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autofree char *name = g_strdup_printf("/confine/%s", cases[i].name);

        g_test_add_data_func(name, &cases[i], test_case);
    }
    g_test_add_func("/confine/same-text-existing-or-not", test_same_text_existing_or_not);
    g_test_add_func("/confine/dot-dot", test_dot_dot);
    g_test_add_func("/confine/relative", test_relative);
    g_test_add_func("/confine/too-long", test_too_long);
    g_test_add_func("/confine/no-dirs", test_no_dirs);
    rc = g_test_run();
    remove_tree();
    return rc;
}
