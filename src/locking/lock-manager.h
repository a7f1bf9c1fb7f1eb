/*
 * lock-manager.h: leases on domains, a second guard against a VM running
 * on two hosts at once (the first is the migration protocol itself).
 *
 * Owns: the lock-manager object that the daemon creates from its
 * configuration (lock_manager, lockspace_dir), the lease operations
 * (acquire, release, holds, query), the uuid rule that keeps client strings
 * out of paths, and the small lease state a migration cookie carries.
 * Must not: decide when a lease is taken or dropped (the QEMU driver and
 * the migration engine do), format XML (the cookie code does), or log above
 * debug.
 *
 * A lease is per domain, named by the domain's uuid.  Two implementations
 * exist: "nop" (lock_manager = "none": every operation succeeds and nothing
 * is ever held) and "fcntl" (an OFD lock on LOCKSPACE/UUID.lease in a
 * directory that every host sharing the domains' storage mounts; see
 * docs/leases.md).  Others plug in through lock-manager-private.h.
 *
 * Every function may be called from any thread.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct ferry_lock_manager ferry_lock_manager;

/**
 * ferry_lock_manager_new:
 * @kind: (nullable): "none" or "fcntl" (the lock_manager setting of
 *   ferryd.conf); NULL means "none"
 * @lockspace_dir: (nullable): the lockspace directory; required by "fcntl"
 * @host_uuid: (nullable): this host's uuid, written into the leases it takes
 * @error: return location for an error
 *
 * Creates the lock manager a configuration asks for.
 *
 * Returns: (transfer full): a manager, or NULL with FERRY_ERROR_CONFIG for
 *   an unknown @kind or a missing directory, or the error of
 *   ferry_lock_manager_new_fcntl().
 */
ferry_lock_manager *ferry_lock_manager_new(const char *kind, const char *lockspace_dir,
                                           const char *host_uuid, GError **error);

/**
 * ferry_lock_manager_new_nop:
 *
 * The manager used when no lockspace is configured: acquire and release
 * succeed, nothing is ever held, and the lease state says so.
 *
 * Returns: (transfer full): a manager.
 */
ferry_lock_manager *ferry_lock_manager_new_nop(void);

/**
 * ferry_lock_manager_new_fcntl:
 * @lockspace_dir: an absolute path to an existing directory that this
 *   process can write, shared by the hosts
 * @host_uuid: (nullable): this host's uuid, written into the leases it takes
 * @error: return location for an error
 *
 * Opens the lockspace: checks the directory and reads its id from
 * LOCKSPACE/lockspace-id, creating that file (with a new uuid) if it is the
 * first host to use the directory.
 *
 * Returns: (transfer full): a manager, or NULL with FERRY_ERROR_SYSTEM
 *   naming the directory ("lockspace directory '/srv/leases' is not
 *   writable: Permission denied").
 */
ferry_lock_manager *ferry_lock_manager_new_fcntl(const char *lockspace_dir,
                                                 const char *host_uuid, GError **error);

/**
 * ferry_lock_manager_ref:
 * @mgr: (nullable): a manager
 *
 * Returns: @mgr, with one more reference.
 */
ferry_lock_manager *ferry_lock_manager_ref(ferry_lock_manager *mgr);

/**
 * ferry_lock_manager_unref:
 * @mgr: (nullable): a manager
 *
 * Drops a reference; the last one releases every lease the manager still
 * holds, as ferry_lock_manager_release() does.
 */
void ferry_lock_manager_unref(ferry_lock_manager *mgr);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(ferry_lock_manager, ferry_lock_manager_unref)

/**
 * ferry_lock_manager_get_name:
 * @mgr: a manager
 *
 * Returns: the implementation's name: "nop" or "fcntl".
 */
const char *ferry_lock_manager_get_name(ferry_lock_manager *mgr);

/**
 * ferry_lock_manager_get_lockspace_id:
 * @mgr: a manager
 *
 * Two hosts whose managers give the same id share their leases, whatever
 * path each mounts the lockspace at.
 *
 * Returns: (nullable): the lockspace's id (a uuid kept in the lockspace),
 *   or NULL for the nop manager.
 */
const char *ferry_lock_manager_get_lockspace_id(ferry_lock_manager *mgr);

/**
 * ferry_lock_manager_acquire:
 * @mgr: a manager
 * @uuid: the domain's uuid, in canonical form (ferry_lease_uuid_check())
 * @dom_name: the domain's name, for messages
 * @owner_host: this host's name, written into the lease so that others can
 *   name the holder
 * @error: return location for an error
 *
 * Takes the domain's lease without waiting.  Taking a lease this manager
 * already holds succeeds and changes nothing.
 *
 * Returns: TRUE if @mgr holds the lease now; FALSE with
 *   FERRY_ERROR_LEASE_HELD if someone else does ("domain 'web1': its lease
 *   is held by host 'hostB' (pid 1234) since 2026-12-04 06:00:01 UTC"),
 *   FERRY_ERROR_INVALID_ARG for a bad @uuid, FERRY_ERROR_SYSTEM if the
 *   lease file cannot be used.
 */
gboolean ferry_lock_manager_acquire(ferry_lock_manager *mgr, const char *uuid,
                                    const char *dom_name, const char *owner_host,
                                    GError **error);

/**
 * ferry_lock_manager_release:
 * @mgr: a manager
 * @uuid: the domain's uuid
 *
 * Drops the domain's lease if @mgr holds it, clearing the holder's name
 * from it first.  Cannot fail: once the lease file is closed the lock is
 * gone, whatever else went wrong.
 *
 * Returns: TRUE if @mgr held the lease (and no longer does), FALSE if it
 *   held nothing under @uuid.
 */
gboolean ferry_lock_manager_release(ferry_lock_manager *mgr, const char *uuid);

/**
 * ferry_lock_manager_holds:
 * @mgr: a manager
 * @uuid: the domain's uuid
 *
 * Returns: TRUE if @mgr itself holds the domain's lease.
 */
gboolean ferry_lock_manager_holds(ferry_lock_manager *mgr, const char *uuid);

/**
 * ferry_lock_manager_query:
 * @mgr: a manager
 * @uuid: the domain's uuid
 * @ret_held: (out): whether anyone (this manager included) holds the lease
 * @ret_holder: (out) (optional) (nullable) (transfer full): who, as
 *   "host 'hostB' (pid 1234) since 2026-12-04 06:00:01 UTC"; NULL when
 *   nobody does
 * @error: return location for an error
 *
 * Looks at the lease without taking it.
 *
 * Returns: TRUE if the question was answered; FALSE with
 *   FERRY_ERROR_INVALID_ARG or FERRY_ERROR_SYSTEM (outputs untouched).
 */
gboolean ferry_lock_manager_query(ferry_lock_manager *mgr, const char *uuid,
                                  gboolean *ret_held, char **ret_holder, GError **error);

/**
 * ferry_lease_uuid_check:
 * @uuid: (nullable): a string from anywhere
 * @error: return location for an error
 *
 * The only uuids a lease accepts: 36 characters, lower-case hexadecimal
 * digits in groups of 8-4-4-4-12 separated by '-' (the form domain XML
 * parsing produces), so no path can be built from anything else.
 *
 * Returns: TRUE if @uuid is canonical; FALSE with FERRY_ERROR_INVALID_ARG.
 */
gboolean ferry_lease_uuid_check(const char *uuid, GError **error);

/**
 * ferry_lease_state:
 * @held: whether anyone holds the domain's lease
 * @lockspace: (nullable): the lockspace's id
 *   (ferry_lock_manager_get_lockspace_id()); NULL without a lockspace
 * @holder: (nullable): the host name of the holder, when known
 *
 * The lease of one domain as a migration cookie carries it, so that the
 * destination can check that both hosts use the same lockspace and that
 * the source holds the lease.
 */
typedef struct {
    gboolean held;
    char *lockspace;
    char *holder;
} ferry_lease_state;

/**
 * ferry_lease_state_new:
 * @held: whether the lease is held
 * @lockspace: (nullable): the lockspace id
 * @holder: (nullable): the holder's host name
 *
 * Returns: (transfer full): a new state holding copies of the strings.
 */
ferry_lease_state *ferry_lease_state_new(gboolean held, const char *lockspace,
                                         const char *holder);

/**
 * ferry_lease_state_copy:
 * @state: (nullable): a state
 *
 * Returns: (transfer full) (nullable): a deep copy, NULL for NULL.
 */
ferry_lease_state *ferry_lease_state_copy(const ferry_lease_state *state);

/**
 * ferry_lease_state_free:
 * @state: (nullable): a state
 */
void ferry_lease_state_free(ferry_lease_state *state);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(ferry_lease_state, ferry_lease_state_free)

/**
 * ferry_lease_state_format:
 * @state: a state
 *
 * One line of ASCII with no spaces, fit for an XML attribute or element:
 * "held=yes;lockspace=0b6e...;holder=hostA", values percent-escaped,
 * absent fields left out.
 *
 * Returns: (transfer full): the text.
 */
char *ferry_lease_state_format(const ferry_lease_state *state);

/**
 * ferry_lease_state_parse:
 * @text: what ferry_lease_state_format() made, as received from a peer
 * @error: return location for an error
 *
 * Checks the size first, then every field; fields it does not know are
 * ignored, so that newer hosts can add some.
 *
 * Returns: (transfer full): the state, or NULL with FERRY_ERROR_COOKIE
 *   ("lease state: field 'held': expected yes or no, got 'maybe'").
 */
ferry_lease_state *ferry_lease_state_parse(const char *text, GError **error);

/**
 * ferry_lock_manager_get_lease_state:
 * @mgr: a manager
 * @uuid: the domain's uuid
 * @error: return location for an error
 *
 * The domain's lease as the lockspace sees it: held by anyone, and the
 * holder's host name (this manager's @owner_host when it holds it).
 *
 * Returns: (transfer full): the state, or NULL with the error of
 *   ferry_lock_manager_query().
 */
ferry_lease_state *ferry_lock_manager_get_lease_state(ferry_lock_manager *mgr,
                                                      const char *uuid, GError **error);

G_END_DECLS
