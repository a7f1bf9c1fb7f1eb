/*
 * user.h: naming users and groups in settings, as libvirt's qemu.conf does.
 *
 * Owns: turning "name" or "+number" into a uid or gid.  Must not: change
 * any process's credentials or any file's owner (src/qemu/qemu-user.c does,
 * for the QEMU user).
 */
#pragma once

#include <glib.h>
#include <sys/types.h>

G_BEGIN_DECLS

/**
 * ferry_user_lookup:
 * @name: a user name, or "+UID" for a number that needs no entry in the
 *   user database
 * @ret_uid: (out): the uid
 * @ret_gid: (out) (optional): the user's primary group; for "+UID" without
 *   a database entry, the gid of the same number
 *
 * Returns: FALSE if there is no such user (or "+" is not followed by a
 *   number).
 */
gboolean ferry_user_lookup(const char *name, uid_t *ret_uid, gid_t *ret_gid);

/**
 * ferry_group_lookup:
 * @name: a group name, or "+GID"
 * @ret_gid: (out): the gid
 *
 * Returns: FALSE if there is no such group.
 */
gboolean ferry_group_lookup(const char *name, gid_t *ret_gid);

G_END_DECLS
