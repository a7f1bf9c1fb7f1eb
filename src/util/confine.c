/*
 * confine.c: paths inside a list of directories (see confine.h).
 *
 * Owns: the resolution of a path that may not exist yet and the inside
 * test.  Must not: create, open or change any file, or let a refusal of a
 * path outside the directories depend on whether it exists.
 */
#include "ferry-config.h"

#include <errno.h>
#include <ferry/ferry.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "util/confine.h"

/* How much of an over-long path an error quotes. */
#define QUOTED_MAX 64

/*
 * @path's components (no empty or "." ones), or NULL if one is "..":
 * refused by its text alone, so that no answer depends on the file system.
 */
static GStrv
split_components(const char *path)
{
    g_auto(GStrv) parts = g_strsplit(path, "/", -1);
    GPtrArray *out = g_ptr_array_new_with_free_func(g_free);

    for (guint i = 0; parts[i]; i++) {
        if (!*parts[i] || !strcmp(parts[i], "."))
            continue;
        if (!strcmp(parts[i], "..")) {
            g_ptr_array_free(out, TRUE);
            return NULL;
        }
        g_ptr_array_add(out, g_strdup(parts[i]));
    }
    g_ptr_array_add(out, NULL);
    return (GStrv)g_ptr_array_free(out, FALSE);
}

/* "/" followed by the first @n of @parts. */
static char *
join_prefix(char **parts, guint n)
{
    GString *s = g_string_new("/");

    for (guint i = 0; i < n; i++) {
        if (i > 0)
            g_string_append_c(s, '/');
        g_string_append(s, parts[i]);
    }
    return g_string_free(s, FALSE);
}

/*
 * Where the kernel would take @parts (an absolute path's components) to:
 * the longest existing prefix through realpath(3), then the rest as
 * written.  NULL when that cannot be known safely: a component past the
 * existing prefix exists yet does not resolve (a dangling or looping
 * symlink), or the file system refused to say (permissions).
 */
static char *
resolve(char **parts)
{
    guint n = g_strv_length(parts);

    for (guint k = n + 1; k-- > 0;) {
        g_autofree char *prefix = join_prefix(parts, k);
        g_autofree char *real = realpath(prefix, NULL);
        struct stat st;

        if (real) {
            GString *s = g_string_new(real);

            for (guint i = k; i < n; i++) {
                if (s->str[s->len - 1] != '/')
                    g_string_append_c(s, '/');
                g_string_append(s, parts[i]);
            }
            return g_string_free(s, FALSE);
        }
        if (errno != ENOENT && errno != ENOTDIR)
            return NULL;
        /* It does not resolve, yet something is there: a symlink to
         * nowhere, which a create would follow. */
        if (lstat(prefix, &st) == 0)
            return NULL;
    }
    return NULL;
}

/* Is @real (resolved) strictly inside directory @dir (resolved)? */
static gboolean
inside(const char *real, const char *dir)
{
    gsize len = strlen(dir);

    /* "/" is written without its slash, so that "/x" is inside it. */
    if (len > 0 && dir[len - 1] == '/')
        len--;
    return strncmp(real, dir, len) == 0 && real[len] == '/' && real[len + 1] != '\0';
}

static gboolean
inside_any(const char *real, const char *const *dirs)
{
    for (guint i = 0; dirs && dirs[i]; i++) {
        g_auto(GStrv) parts = g_path_is_absolute(dirs[i]) ? split_components(dirs[i]) : NULL;
        g_autofree char *dir = parts ? resolve(parts) : NULL;

        if (dir && inside(real, dir))
            return TRUE;
    }
    return FALSE;
}

gboolean
ferry_confine_path(const char *path, const char *what, const char *const *dirs,
                   const char *setting, GError **error)
{
    gsize len = strlen(path);
    g_auto(GStrv) parts = NULL;
    g_autofree char *real = NULL;
    g_autofree char *list = NULL;

    if (len > FERRY_CONFINE_PATH_MAX) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_INVALID_ARG,
                    "%s '%.*s...' is %" G_GSIZE_FORMAT " bytes long, more than the limit of "
                    "%d", what, QUOTED_MAX, path, len, FERRY_CONFINE_PATH_MAX);
        return FALSE;
    }
    if (!g_path_is_absolute(path)) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_INVALID_ARG,
                    "%s '%s' is not an absolute path", what, path);
        return FALSE;
    }
    if (!(parts = split_components(path))) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_INVALID_ARG,
                    "%s '%s' has a '..' component, which is not allowed", what, path);
        return FALSE;
    }
    real = resolve(parts);
    if (real && inside_any(real, dirs))
        return TRUE;
    /* One sentence for every path found outside, existing or not. */
    list = dirs ? g_strjoinv(":", (char **)dirs) : g_strdup("");
    g_set_error(error, FERRY_ERROR, FERRY_ERROR_INVALID_ARG, "%s '%s' is outside %s (%s)",
                what, path, setting, list);
    return FALSE;
}
