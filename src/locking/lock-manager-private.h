/*
 * lock-manager-private.h: what a lock-manager implementation plugs in, and
 * the helpers the implementations share (the holder record written into a
 * lease, the key=value codec).
 *
 * Must not be included outside src/locking/ (and its tests).
 *
 * Rules for every lock driver table, as for the driver tables of
 * src/driver/driver.h: designated initialisers, one entry per operation
 * with its "since X.Y" annotation, and the function behind entry `.foo` of
 * driver `bar` named `bar_foo`.  Entries follow the error rules of
 * ferry.h.  The public wrappers (lock-manager.c) check the arguments, the
 * uuid included, before any entry runs; an entry may be called from any
 * thread, so an implementation locks its own state.
 */
#pragma once

#include "locking/lock-manager.h"

G_BEGIN_DECLS

/* The most a lease record or a lease state may weigh: anything longer is
 * refused before it is decoded. */
#define FERRY_LEASE_RECORD_MAX 4096

/**
 * ferry_lease_holder:
 * @host: (nullable): the holder's host name
 * @host_uuid: (nullable): the holder's host uuid
 * @dom_name: (nullable): the domain's name as the holder knew it
 * @pid: the holder's process id, 0 if unknown
 * @since: when it took the lease, in seconds since the epoch, 0 if unknown
 *
 * Who holds a lease, as its holder wrote it into the lease.
 */
typedef struct {
    char *host;
    char *host_uuid;
    char *dom_name;
    gint64 pid;
    gint64 since;
} ferry_lease_holder;

/**
 * ferry_lease_holder_new:
 * @host: (nullable): the holder's host name
 * @host_uuid: (nullable): the holder's host uuid
 * @dom_name: (nullable): the domain's name
 *
 * Returns: (transfer full): a holder for this process, taking the lease now.
 */
ferry_lease_holder *ferry_lease_holder_new(const char *host, const char *host_uuid,
                                           const char *dom_name);

/**
 * ferry_lease_holder_copy:
 * @holder: a holder
 *
 * Returns: (transfer full): a deep copy.
 */
ferry_lease_holder *ferry_lease_holder_copy(const ferry_lease_holder *holder);

/**
 * ferry_lease_holder_free:
 * @holder: (nullable): a holder
 */
void ferry_lease_holder_free(ferry_lease_holder *holder);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(ferry_lease_holder, ferry_lease_holder_free)

/**
 * ferry_lease_holder_format:
 * @holder: a holder
 *
 * Returns: (transfer full): the record written into a lease file: a comment
 *   line, then "key=value" lines (host, host_uuid, domain, pid, since),
 *   values percent-escaped.
 */
char *ferry_lease_holder_format(const ferry_lease_holder *holder);

/**
 * ferry_lease_holder_parse:
 * @text: a lease file's contents, written by any host
 * @len: its length in bytes
 *
 * Returns: (transfer full) (nullable): the holder, or NULL when @text is
 *   empty, too long or not a record (a holder between locking and writing,
 *   or not ferry).
 */
ferry_lease_holder *ferry_lease_holder_parse(const char *text, gsize len);

/**
 * ferry_lease_holder_describe:
 * @holder: (nullable): a holder; NULL when the lease names nobody
 *
 * Returns: (transfer full): "host 'hostB' (pid 1234) since 2026-12-04
 *   06:00:01 UTC", leaving out what is unknown, or "a process that has not
 *   written its name into the lease" for NULL.
 */
char *ferry_lease_holder_describe(const ferry_lease_holder *holder);

/**
 * ferry_lock_driver:
 *
 * One lock-manager implementation.  @self is what was given to
 * ferry_lock_manager_new_with_driver().
 */
typedef struct {
    const char *name;
    /* Takes the lease without waiting; TRUE if already held by @self. */
    gboolean (*acquire)(gpointer self, const char *uuid, const char *dom_name,
                        const char *owner_host, GError **error);
    /* Drops the lease if held; TRUE if it was. */
    gboolean (*release)(gpointer self, const char *uuid);
    gboolean (*holds)(gpointer self, const char *uuid);
    /* *ret_holder: (nullable) who holds it, when *ret_held and known. */
    gboolean (*query)(gpointer self, const char *uuid, gboolean *ret_held,
                      ferry_lease_holder **ret_holder, GError **error);
    /* (nullable) */
    const char *(*lockspace_id)(gpointer self);
    /* Releases every lease still held and frees @self. */
    void (*free)(gpointer self);
} ferry_lock_driver;

/**
 * ferry_lock_manager_new_with_driver:
 * @driver: the implementation (static storage)
 * @self: (transfer full): its state, freed by @driver's free entry
 *
 * Returns: (transfer full): a manager with one reference.
 */
ferry_lock_manager *ferry_lock_manager_new_with_driver(const ferry_lock_driver *driver,
                                                       gpointer self);

/**
 * ferry_lease_kv_append:
 * @out: where to append
 * @key: a name made of [a-z_]
 * @value: (nullable): the value; nothing is appended for NULL
 * @sep: what ends the pair (';' or '\n')
 *
 * Appends "key=VALUE" and @sep, VALUE percent-escaped so that it holds no
 * separator, no '=' and nothing but printable ASCII.
 */
void ferry_lease_kv_append(GString *out, const char *key, const char *value, char sep);

/**
 * ferry_lease_kv_parse:
 * @text: pairs made by ferry_lease_kv_append(); empty pieces and pieces
 *   starting with '#' are skipped
 * @len: its length in bytes (at most FERRY_LEASE_RECORD_MAX)
 * @sep: the separator
 * @error: return location for an error (FERRY_ERROR_INVALID_ARG) whose
 *   message the caller prefixes with what was being read
 *
 * Returns: (transfer full): key -> value, values unescaped, valid UTF-8
 *   without control characters; or NULL on a malformed, duplicated or
 *   oversized piece.
 */
GHashTable *ferry_lease_kv_parse(const char *text, gsize len, char sep, GError **error);

G_END_DECLS
