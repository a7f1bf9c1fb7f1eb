/*
 * qemu-user.h: the unprivileged user QEMU runs as (ferryd.conf `user` and
 * `group`), and the files ferryd hands to it, libvirt-DAC-like.
 *
 * Owns: resolving the user once, the switch to it in QEMU's child process,
 * the directories of the state directory QEMU must reach, and every change
 * of a file's owner made for QEMU: made before QEMU needs the file, given
 * back after it exited.  The owner before is kept in the domain's status
 * (a restarted ferryd gives it back) and in an extended attribute of the
 * file, "trusted.ferry.owner" = "UID:GID:HOLDERS", so that a file two
 * QEMUs hold -- a shared backing file, a disk on storage both ends of a
 * migration use -- goes back to its owner only when the last lets go.
 *
 * Must not: change the owner of anything outside storage_dirs, file_dirs
 * and state_dir; change a directory's permissions outside state_dir (a
 * directory QEMU cannot search is an error naming it); decide when a
 * domain starts or stops (qemu-process.c calls in).
 *
 * With no user set every function here does nothing: QEMU runs as root.
 */
#pragma once

#include <json-c/json.h>

#include "qemu/qemu-domain.h"

G_BEGIN_DECLS

/* A file handed to QEMU, and whom it belonged to before. */
typedef struct {
    char *path;                 /* resolved (no symlink) */
    guint uid;
    guint gid;
} qemu_user_file;

/**
 * qemu_user_init:
 * @state: the driver, its configuration's user and group set or not, its
 *   directories created
 * @error: return location for an error
 *
 * Resolves the user and group (uid 0 means "as root"), and lets the group
 * search state_dir, STATE/qemu and the run directory (root:GROUP, 0710), and
 * gives the relay directory to the user (QEMU creates its unix sockets
 * there); without a user the relay directory is root's (0700).
 *
 * Returns: TRUE on success.
 */
gboolean qemu_user_init(qemu_driver_state *state, GError **error);

/**
 * qemu_user_enabled:
 * @state: the driver
 *
 * Returns: TRUE if QEMU runs as a user other than root.
 */
gboolean qemu_user_enabled(qemu_driver_state *state);

/**
 * qemu_user_child_setup:
 * @data: the driver state
 *
 * A GSpawnChildSetupFunc: a session of its own, then (with a user set) the
 * group as the only group, then the user.  A failed switch is written to
 * stderr (QEMU's log) and the child exits 126: QEMU never runs as root
 * when a user is set.  Async-signal-safe.
 */
void qemu_user_child_setup(gpointer data);

/**
 * qemu_user_hand_domain:
 * @state: the driver
 * @obj: the domain about to start (no lock held)
 * @pid_path: the -pidfile QEMU will write, created here for the user
 * @error: return location for an error naming the domain, the device and
 *   the file, e.g. "domain 'web1': disk 'vda': cannot hand image
 *   '/srv/a.qcow2' to user 'nobody': Operation not permitted"
 *
 * Makes every file of @obj's live definition that QEMU opens reachable by
 * the user: disk images and their backing chains, the kernel, the initrd
 * and the serial log (created first if missing).  A file the user can
 * already open as needed is left alone; another is given to the user if it
 * lies in storage_dirs, file_dirs or state_dir, and refused otherwise.
 * What was given is recorded in the domain's private data (and its status
 * file when next saved); on failure it is given back already.
 *
 * Returns: TRUE if QEMU can open them all.
 */
gboolean qemu_user_hand_domain(qemu_driver_state *state, ferry_domain_obj *obj,
                               const char *pid_path, GError **error);

/**
 * qemu_user_restore_domain:
 * @state: the driver
 * @obj: a domain whose QEMU is gone (no lock held)
 *
 * Gives back every file recorded by qemu_user_hand_domain() (failures are
 * logged: QEMU is gone either way).  Idempotent.
 */
void qemu_user_restore_domain(qemu_driver_state *state, ferry_domain_obj *obj);

/**
 * qemu_user_hand_socket:
 * @state: the driver
 * @path: a unix socket ferryd listens on for QEMU to connect to
 * @what: how errors name it, e.g. "domain 'web1': migration relay"
 * @error: return location for an error
 *
 * Gives the socket to the user (connecting needs write permission on it).
 * The socket is ferryd's, removed with the domain: nothing to give back.
 *
 * Returns: TRUE on success.
 */
gboolean qemu_user_hand_socket(qemu_driver_state *state, const char *path, const char *what,
                               GError **error);

/**
 * qemu_user_private_dir:
 * @state: the driver
 * @dir: a directory of ferryd's for QEMU to read, e.g. its TLS credentials
 * @error: return location for an error
 *
 * Makes @dir readable by root and the user only (owned by the user, 0500),
 * or by root only without a user.
 *
 * Returns: TRUE on success.
 */
gboolean qemu_user_private_dir(qemu_driver_state *state, const char *dir, GError **error);

/**
 * qemu_user_copy_private:
 * @state: the driver (a user set)
 * @source: a file QEMU must read but may not reach, e.g. a private key
 *   0600 root
 * @dest: where its copy goes, in a qemu_user_private_dir()
 * @error: return location for an error
 *
 * Writes a copy of @source readable by the user alone (0400), replacing
 * whatever @dest was (a symlink is replaced, not followed).
 *
 * Returns: TRUE on success.
 */
gboolean qemu_user_copy_private(qemu_driver_state *state, const char *source,
                                const char *dest, GError **error);

/**
 * qemu_user_files_to_json:
 * @files: (element-type qemu_user_file) (nullable): handed files
 *
 * Returns: (transfer full): them as a JSON array for the status file.
 */
json_object *qemu_user_files_to_json(GPtrArray *files);

/**
 * qemu_user_files_from_json:
 * @array: (nullable): what qemu_user_files_to_json() wrote
 *
 * Returns: (transfer full) (nullable): the files, NULL when none; entries
 *   that are not well formed are skipped with a warning.
 */
GPtrArray *qemu_user_files_from_json(json_object *array);

G_END_DECLS
