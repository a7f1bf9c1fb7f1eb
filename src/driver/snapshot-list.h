/*
 * snapshot-list.h: the snapshots of each domain of a driver, as metadata.
 *
 * Owns: one domain's snapshots (ferry_snapshot_list): their names, the
 * parent/child relation, which one is current, and the rules of adding
 * (new, or redefined as libvirt's REDEFINE) and removing one (its children
 * go to its parent, as libvirt's single delete).  And a driver's store of
 * those lists by domain uuid (ferry_snapshot_store).  Must not: touch disks,
 * QEMU or files -- a driver does, and calls here once that succeeded (or
 * asks here first whether it would be allowed, *_check_*()).
 *
 * Locking: a list is not thread-safe on its own; the store's lock guards
 * every list in it (ferry_snapshot_store_lock()).  A driver holds the
 * domain's job across a change of the disks and the list, so the store's
 * lock is only held for short reads and updates.
 */
#pragma once

#include "conf/snapshot-conf.h"

G_BEGIN_DECLS

typedef struct ferry_snapshot_list ferry_snapshot_list;
typedef struct ferry_snapshot_store ferry_snapshot_store;

/** Flags of ferry_snapshot_list_add(); the numbers of ferry.h's create flags. */
typedef enum {
    /* Metadata of a snapshot taken elsewhere (or earlier): its parent is
     * the one it names, an existing snapshot of that name is replaced. */
    FERRY_SNAPSHOT_LIST_REDEFINE = 1 << 0,
    /* It becomes the current snapshot (a new one always does). */
    FERRY_SNAPSHOT_LIST_CURRENT = 1 << 1,
} ferry_snapshot_list_flags;

/**
 * ferry_snapshot_list_new:
 * @domain_name: the domain's name, for errors
 *
 * Returns: (transfer full): an empty list.
 */
ferry_snapshot_list *ferry_snapshot_list_new(const char *domain_name);

/** ferry_snapshot_list_free: frees @list and its definitions; accepts NULL. */
void ferry_snapshot_list_free(ferry_snapshot_list *list);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(ferry_snapshot_list, ferry_snapshot_list_free)

/**
 * ferry_snapshot_list_check_add:
 * @list: a list
 * @def: a definition about to be added (named)
 * @flags: ferry_snapshot_list_flags
 * @error: return location for an error
 *
 * Says whether ferry_snapshot_list_add() would accept @def, before a
 * driver takes the snapshot: a new name must be free; a redefinition's
 * parent must exist ("<parent_origin>: snapshot 's0' does not exist in
 * domain 'web1'") and must not be the snapshot itself or one of its
 * descendants.
 *
 * Returns: TRUE if it would.
 */
gboolean ferry_snapshot_list_check_add(ferry_snapshot_list *list, const ferry_snapshot_def *def,
                                       guint flags, GError **error);

/**
 * ferry_snapshot_list_add:
 * @list: a list
 * @def: (transfer full): the definition
 * @flags: ferry_snapshot_list_flags
 * @error: return location for an error
 *
 * Without REDEFINE: a new snapshot, child of the current one (its parent
 * field is set so), becomes current.  With REDEFINE: as the definition
 * says; current if CURRENT is given or @def->current is set.
 *
 * Returns: FALSE, as ferry_snapshot_list_check_add() says, with @def freed.
 */
gboolean ferry_snapshot_list_add(ferry_snapshot_list *list, ferry_snapshot_def *def,
                                 guint flags, GError **error);

/**
 * ferry_snapshot_list_lookup:
 * @list: a list
 * @name: a snapshot name
 * @error: return location for an error (FERRY_ERROR_NO_SNAPSHOT naming the
 *   snapshot and the domain)
 *
 * Returns: (transfer none): the definition (its current field up to date),
 *   or NULL.
 */
const ferry_snapshot_def *ferry_snapshot_list_lookup(ferry_snapshot_list *list,
                                                     const char *name, GError **error);

/**
 * ferry_snapshot_list_current:
 * @list: a list
 *
 * Returns: (transfer none) (nullable): the current snapshot's name.
 */
const char *ferry_snapshot_list_current(ferry_snapshot_list *list);

/**
 * ferry_snapshot_list_set_current:
 * @list: a list
 * @name: an existing snapshot (after a revert to it)
 * @error: return location for an error (FERRY_ERROR_NO_SNAPSHOT)
 *
 * Returns: TRUE on success.
 */
gboolean ferry_snapshot_list_set_current(ferry_snapshot_list *list, const char *name,
                                         GError **error);

/**
 * ferry_snapshot_list_remove:
 * @list: a list
 * @name: an existing snapshot
 * @ret_reparented: (out) (optional) (transfer container): the names of the
 *   children now under its parent (a changed definition to store)
 * @error: return location for an error (FERRY_ERROR_NO_SNAPSHOT)
 *
 * Removes one snapshot; its children take its parent (none: they become
 * roots).  When it was current its parent becomes current.
 *
 * Returns: TRUE on success.
 */
gboolean ferry_snapshot_list_remove(ferry_snapshot_list *list, const char *name,
                                    GPtrArray **ret_reparented, GError **error);

/**
 * ferry_snapshot_list_names:
 * @list: a list
 *
 * Returns: (transfer full): every snapshot's name, parents before their
 *   children, then by creation time and name: the order a redefinition on
 *   another host must follow.  The array frees its strings.
 */
GPtrArray *ferry_snapshot_list_names(ferry_snapshot_list *list);

/** ferry_snapshot_list_count: Returns: how many snapshots @list holds. */
guint ferry_snapshot_list_count(ferry_snapshot_list *list);

/** ferry_snapshot_store_new: Returns: (transfer full): an empty store. */
ferry_snapshot_store *ferry_snapshot_store_new(void);

/** ferry_snapshot_store_free: frees @store and its lists; accepts NULL. */
void ferry_snapshot_store_free(ferry_snapshot_store *store);

/**
 * ferry_snapshot_store_lock:
 * @store: a store
 * @uuid: a domain's uuid
 * @domain_name: its name, for the errors of a list created now
 *
 * Takes the store's lock and returns the domain's list, created empty on
 * first use.  Release with ferry_snapshot_store_unlock().
 *
 * Returns: (transfer none): the list, valid until the unlock.
 */
ferry_snapshot_list *ferry_snapshot_store_lock(ferry_snapshot_store *store, const char *uuid,
                                               const char *domain_name);

/** ferry_snapshot_store_unlock: releases what ferry_snapshot_store_lock() took. */
void ferry_snapshot_store_unlock(ferry_snapshot_store *store);

/**
 * ferry_snapshot_store_drop:
 * @store: a store
 * @uuid: a domain's uuid
 *
 * Forgets the domain's list (its domain is gone).  Takes the lock itself.
 */
void ferry_snapshot_store_drop(ferry_snapshot_store *store, const char *uuid);

/**
 * ferry_snapshot_def_for_create:
 * @xml: what the caller of ferry_domain_snapshot_create_xml() gave
 * @flags: ferry_snapshot_create_flags (REDEFINE parses as a redefinition)
 * @dom: the domain's definition now (the live one when active)
 * @domain_state: its ferry_domain_state now
 * @error: return location for an error
 *
 * Parses @xml and, for a new snapshot, fills what the driver records: the
 * name (the creation time when none is given), creation time, state, the
 * definition, memory ('internal' when active), and every disk not listed
 * ('internal' for a writable disk with an image, 'no' otherwise).  Disks
 * listed must exist in @dom.
 *
 * Returns: (transfer full): the definition, or NULL on error.
 */
ferry_snapshot_def *ferry_snapshot_def_for_create(const char *xml, guint flags,
                                                  const ferry_domain_def *dom,
                                                  int domain_state, GError **error);

/**
 * ferry_snapshot_list_infos:
 * @list: a list
 *
 * Returns: (transfer full): ferry_snapshot_info* of every snapshot, in the
 *   order of ferry_snapshot_list_names(); the array frees its elements.
 */
GPtrArray *ferry_snapshot_list_infos(ferry_snapshot_list *list);

/**
 * ferry_snapshot_state_to_domain_state:
 * @state: a snapshot's state
 *
 * Returns: the ferry_domain_state it names (SHUTOFF for NONE).
 */
int ferry_snapshot_state_to_domain_state(ferry_snapshot_state state);

/*
 * The read-only entries both drivers answer the same way from their
 * store, for the domain @uuid named @domain_name.
 */
/** ferry_snapshot_store_infos: Returns: (transfer full): as ferry_snapshot_list_infos(). */
GPtrArray *ferry_snapshot_store_infos(ferry_snapshot_store *store, const char *uuid,
                                      const char *domain_name);

/**
 * ferry_snapshot_store_get_xml:
 * Returns: (transfer full): the snapshot's XML, or NULL with
 *   FERRY_ERROR_NO_SNAPSHOT.
 */
char *ferry_snapshot_store_get_xml(ferry_snapshot_store *store, const char *uuid,
                                   const char *domain_name, const char *name, GError **error);

/**
 * ferry_snapshot_store_current:
 * Returns: (transfer full): the current snapshot's name, or NULL with
 *   FERRY_ERROR_NO_SNAPSHOT when there is none.
 */
char *ferry_snapshot_store_current(ferry_snapshot_store *store, const char *uuid,
                                   const char *domain_name, GError **error);

/**
 * ferry_snapshot_store_export:
 * @store: a store
 * @uuid: a domain's uuid
 * @domain_name: its name
 * @ret_names: (out) (optional) (transfer full): the snapshots' names, in
 *   the same order
 *
 * What a migration carries of a domain's snapshots (docs/snapshots.md).
 *
 * Returns: (transfer full): each snapshot's XML, parents before children
 *   (ferry_snapshot_list_names()), formatted with
 *   FERRY_SNAPSHOT_FORMAT_INTERNAL so that the current one says so; empty
 *   when it has none.  The array frees its strings.
 */
GPtrArray *ferry_snapshot_store_export(ferry_snapshot_store *store, const char *uuid,
                                       const char *domain_name, GPtrArray **ret_names);

/**
 * ferry_snapshot_store_import:
 * @store: a store
 * @uuid: a domain's uuid
 * @domain_name: its name, for errors
 * @defs: ferry_snapshot_def*, parents before children (copied)
 * @error: return location for an error naming the snapshot
 *
 * Redefines @defs as the domain's snapshots, each with the parent it
 * names, the one marked current as current: a migration's destination.
 * A name the domain already has here is refused.  All or none: on
 * failure the list is as it was.
 *
 * Returns: TRUE on success.
 */
gboolean ferry_snapshot_store_import(ferry_snapshot_store *store, const char *uuid,
                                     const char *domain_name, const GPtrArray *defs,
                                     GError **error);

G_END_DECLS
