/*
 * user.c: users and groups named in settings (see user.h).
 */
#include "ferry-config.h"

#include <grp.h>
#include <pwd.h>

#include "util/user.h"

/* "+N": a number, below the (uid_t)-1 that means "no change" to chown. */
static gboolean
parse_id(const char *name, guint64 *ret)
{
    return name[0] == '+' &&
           g_ascii_string_to_unsigned(name + 1, 10, 0, G_MAXUINT32 - 1, ret, NULL);
}

gboolean
ferry_user_lookup(const char *name, uid_t *ret_uid, gid_t *ret_gid)
{
    struct passwd pw, *found = NULL;
    char buf[4096];
    guint64 n;

    if (name[0] == '+') {
        if (!parse_id(name, &n))
            return FALSE;
        /* A number needs no entry; its entry, if any, gives the group. */
        if (getpwuid_r((uid_t)n, &pw, buf, sizeof(buf), &found) != 0)
            found = NULL;
        *ret_uid = (uid_t)n;
        if (ret_gid)
            *ret_gid = found ? found->pw_gid : (gid_t)n;
        return TRUE;
    }
    if (getpwnam_r(name, &pw, buf, sizeof(buf), &found) != 0 || !found)
        return FALSE;
    *ret_uid = found->pw_uid;
    if (ret_gid)
        *ret_gid = found->pw_gid;
    return TRUE;
}

gboolean
ferry_group_lookup(const char *name, gid_t *ret_gid)
{
    struct group gr, *found = NULL;
    char buf[4096];
    guint64 n;

    if (name[0] == '+') {
        if (!parse_id(name, &n))
            return FALSE;
        *ret_gid = (gid_t)n;
        return TRUE;
    }
    if (getgrnam_r(name, &gr, buf, sizeof(buf), &found) != 0 || !found)
        return FALSE;
    *ret_gid = found->gr_gid;
    return TRUE;
}
