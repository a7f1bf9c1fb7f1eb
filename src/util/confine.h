/*
 * confine.h: does a path that someone this host does not trust named lie
 * inside the directories it may name?
 *
 * Owns: resolving a path as the kernel will when the path is opened or
 * created -- every symlink followed, also for a file that does not exist
 * yet -- comparing the result with a list of directories, and the wording
 * of a refusal.  Must not: open, create or change anything, or say in an
 * error whether a path outside the directories exists (an untrusted caller
 * would use ferryd as a probe of the host's file system).
 *
 * Who is trusted, and which paths are confined to which setting, is said
 * in docs/security.md ("Confinement").
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* The longest path accepted from an untrusted caller, in bytes (Linux's
 * PATH_MAX, the longest a system call takes). */
#define FERRY_CONFINE_PATH_MAX 4096

/**
 * ferry_confine_path:
 * @path: a path as the caller named it (a disk image, a backing file, a
 *   kernel, a serial log...)
 * @what: how errors name it, e.g. "domain 'web1': disk 'vda': backing file"
 * @dirs: NULL-terminated list of absolute directories @path must lie in
 * @setting: the configuration setting that lists @dirs, for errors, e.g.
 *   "storage_dirs"
 * @error: return location for an error (FERRY_ERROR_INVALID_ARG)
 *
 * Accepts @path when it is absolute, at most FERRY_CONFINE_PATH_MAX bytes
 * long, has no ".." component, and lies strictly inside one of @dirs once
 * resolved.  Resolving: the longest prefix of @path that exists is
 * resolved with realpath(3) (every symlink followed); the components after
 * it must not exist at all -- a dangling symlink among them is refused, as
 * creating a file through it would land wherever it points.  Each of @dirs
 * is resolved the same way, so a directory that does not exist yet, or is
 * itself reached through a symlink, still works.
 *
 * Every refusal of a path outside @dirs reads the same whether the path
 * exists or not, e.g.
 *   "domain 'web1': disk 'vda': backing file '/x' is outside storage_dirs (/a:/b)".
 *
 * The answer holds for the file system as it is now: only someone who can
 * write inside @dirs (the host's administrator) can change it afterwards.
 *
 * Returns: TRUE if @path is inside.
 */
gboolean ferry_confine_path(const char *path, const char *what, const char *const *dirs,
                            const char *setting, GError **error);

G_END_DECLS
