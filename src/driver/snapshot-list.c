/*
 * snapshot-list.c: each domain's snapshots as a tree of metadata, and a
 * driver's store of those trees (see snapshot-list.h).
 *
 * Owns: the hierarchy rules (libvirt's): a new snapshot is the current
 * one's child and becomes current; a redefinition keeps the parent it
 * names, which must exist and must not make a cycle; a single delete hands
 * the children to the deleted one's parent.  Must not: do anything to a
 * domain's disks, or to files (drivers persist what changed).
 */
#include "ferry-config.h"

#include <ferry/ferry.h>

#include "driver/snapshot-list.h"

struct ferry_snapshot_list {
    char *domain_name;
    GHashTable *snapshots;      /* name -> ferry_snapshot_def* (owned) */
    char *current;              /* nullable */
};

struct ferry_snapshot_store {
    GMutex lock;
    GHashTable *lists;          /* domain uuid -> ferry_snapshot_list* (owned) */
};

ferry_snapshot_list *
ferry_snapshot_list_new(const char *domain_name)
{
    ferry_snapshot_list *list = g_new0(ferry_snapshot_list, 1);

    list->domain_name = g_strdup(domain_name);
    list->snapshots = g_hash_table_new_full(g_str_hash, g_str_equal, NULL,
                                            (GDestroyNotify)ferry_snapshot_def_free);
    return list;
}

void
ferry_snapshot_list_free(ferry_snapshot_list *list)
{
    if (!list)
        return;
    g_hash_table_unref(list->snapshots);
    g_free(list->domain_name);
    g_free(list->current);
    g_free(list);
}

static void
set_no_snapshot(ferry_snapshot_list *list, const char *where, const char *name,
                GError **error)
{
    g_set_error(error, FERRY_ERROR, FERRY_ERROR_NO_SNAPSHOT,
                "%s%ssnapshot '%s' does not exist in domain '%s'", where ? where : "",
                where ? ": " : "", name, list->domain_name);
}

const ferry_snapshot_def *
ferry_snapshot_list_lookup(ferry_snapshot_list *list, const char *name, GError **error)
{
    ferry_snapshot_def *def = name ? g_hash_table_lookup(list->snapshots, name) : NULL;

    if (!def) {
        set_no_snapshot(list, NULL, name ? name : "(null)", error);
        return NULL;
    }
    def->current = g_strcmp0(list->current, name) == 0;
    return def;
}

/* Whether @ancestor is @name or above it. */
static gboolean
is_ancestor_or_self(ferry_snapshot_list *list, const char *ancestor, const char *name)
{
    /* The tree has no cycle (add() keeps it so): the walk ends. */
    for (const char *at = name; at;) {
        const ferry_snapshot_def *def;

        if (g_strcmp0(at, ancestor) == 0)
            return TRUE;
        def = g_hash_table_lookup(list->snapshots, at);
        at = def ? def->parent : NULL;
    }
    return FALSE;
}

gboolean
ferry_snapshot_list_check_add(ferry_snapshot_list *list, const ferry_snapshot_def *def,
                              guint flags, GError **error)
{
    g_return_val_if_fail(def->name != NULL, FALSE);

    if (!(flags & FERRY_SNAPSHOT_LIST_REDEFINE)) {
        if (g_hash_table_contains(list->snapshots, def->name)) {
            g_set_error(error, FERRY_ERROR, FERRY_ERROR_OPERATION_INVALID,
                        "domain '%s' already has a snapshot '%s' (delete it first, or "
                        "redefine its metadata)", list->domain_name, def->name);
            return FALSE;
        }
        return TRUE;
    }
    if (!def->parent)
        return TRUE;
    if (!g_hash_table_contains(list->snapshots, def->parent)) {
        set_no_snapshot(list, def->parent_origin, def->parent, error);
        return FALSE;
    }
    /* Redefining s with a parent below s would cut the branch off. */
    if (is_ancestor_or_self(list, def->name, def->parent)) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_INVALID_ARG,
                    "%s%ssnapshot '%s' of domain '%s' cannot have '%s' as its parent: "
                    "'%s' is '%s' itself or descends from it",
                    def->parent_origin ? def->parent_origin : "",
                    def->parent_origin ? ": " : "", def->name, list->domain_name,
                    def->parent, def->parent, def->name);
        return FALSE;
    }
    return TRUE;
}

gboolean
ferry_snapshot_list_add(ferry_snapshot_list *list, ferry_snapshot_def *def, guint flags,
                        GError **error)
{
    g_autoptr(ferry_snapshot_def) owned = def;
    gboolean current;

    if (!ferry_snapshot_list_check_add(list, owned, flags, error))
        return FALSE;
    if (flags & FERRY_SNAPSHOT_LIST_REDEFINE) {
        current = (flags & FERRY_SNAPSHOT_LIST_CURRENT) || owned->current;
    } else {
        g_free(owned->parent);
        owned->parent = g_strdup(list->current);
        current = TRUE;
    }
    if (current) {
        g_free(list->current);
        list->current = g_strdup(owned->name);
    }
    owned->current = current;
    def = g_steal_pointer(&owned);
    g_hash_table_replace(list->snapshots, def->name, def);
    return TRUE;
}

const char *
ferry_snapshot_list_current(ferry_snapshot_list *list)
{
    return list->current;
}

gboolean
ferry_snapshot_list_set_current(ferry_snapshot_list *list, const char *name, GError **error)
{
    if (!ferry_snapshot_list_lookup(list, name, error))
        return FALSE;
    g_free(list->current);
    list->current = g_strdup(name);
    return TRUE;
}

gboolean
ferry_snapshot_list_remove(ferry_snapshot_list *list, const char *name,
                           GPtrArray **ret_reparented, GError **error)
{
    g_autoptr(GPtrArray) reparented = g_ptr_array_new_with_free_func(g_free);
    const ferry_snapshot_def *gone = ferry_snapshot_list_lookup(list, name, error);
    g_autofree char *parent = NULL;
    g_autofree char *key = NULL;
    GHashTableIter it;
    gpointer value;

    if (!gone)
        return FALSE;
    parent = g_strdup(gone->parent);
    key = g_strdup(name);
    g_hash_table_iter_init(&it, list->snapshots);
    while (g_hash_table_iter_next(&it, NULL, &value)) {
        ferry_snapshot_def *child = value;

        if (g_strcmp0(child->parent, key) != 0)
            continue;
        g_free(child->parent);
        child->parent = g_strdup(parent);
        g_clear_pointer(&child->parent_origin, g_free);
        g_ptr_array_add(reparented, g_strdup(child->name));
    }
    if (g_strcmp0(list->current, key) == 0) {
        g_free(list->current);
        list->current = g_steal_pointer(&parent);
    }
    g_hash_table_remove(list->snapshots, key);
    g_ptr_array_sort(reparented, (GCompareFunc)g_strcmp0);
    if (ret_reparented)
        *ret_reparented = g_steal_pointer(&reparented);
    return TRUE;
}

/* Older first, then by name: a stable order among siblings. */
static gint
compare_defs(gconstpointer a, gconstpointer b)
{
    const ferry_snapshot_def *x = *(const ferry_snapshot_def *const *)a;
    const ferry_snapshot_def *y = *(const ferry_snapshot_def *const *)b;

    if (x->creation_time != y->creation_time)
        return x->creation_time < y->creation_time ? -1 : 1;
    return g_strcmp0(x->name, y->name);
}

/* Appends @parent's children (sorted), each followed by its subtree. */
static void
append_subtree(const GPtrArray *sorted, const char *parent, GPtrArray *out)
{
    for (guint i = 0; i < sorted->len; i++) {
        const ferry_snapshot_def *def = sorted->pdata[i];

        if (g_strcmp0(def->parent, parent) != 0)
            continue;
        g_ptr_array_add(out, g_strdup(def->name));
        append_subtree(sorted, def->name, out);
    }
}

GPtrArray *
ferry_snapshot_list_names(ferry_snapshot_list *list)
{
    g_autoptr(GPtrArray) sorted = g_ptr_array_new();
    GPtrArray *out = g_ptr_array_new_with_free_func(g_free);
    GHashTableIter it;
    gpointer value;

    g_hash_table_iter_init(&it, list->snapshots);
    while (g_hash_table_iter_next(&it, NULL, &value))
        g_ptr_array_add(sorted, value);

    g_ptr_array_sort(sorted, compare_defs);
    append_subtree(sorted, NULL, out);
    return out;
}

guint
ferry_snapshot_list_count(ferry_snapshot_list *list)
{
    return g_hash_table_size(list->snapshots);
}

/* ---- the store ----------------------------------------------------------- */

ferry_snapshot_store *
ferry_snapshot_store_new(void)
{
    ferry_snapshot_store *store = g_new0(ferry_snapshot_store, 1);

    g_mutex_init(&store->lock);
    store->lists = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
                                         (GDestroyNotify)ferry_snapshot_list_free);
    return store;
}

void
ferry_snapshot_store_free(ferry_snapshot_store *store)
{
    if (!store)
        return;
    g_hash_table_unref(store->lists);
    g_mutex_clear(&store->lock);
    g_free(store);
}

ferry_snapshot_list *
ferry_snapshot_store_lock(ferry_snapshot_store *store, const char *uuid,
                          const char *domain_name)
{
    ferry_snapshot_list *list;

    g_mutex_lock(&store->lock);
    list = g_hash_table_lookup(store->lists, uuid);
    if (!list) {
        list = ferry_snapshot_list_new(domain_name);
        g_hash_table_insert(store->lists, g_strdup(uuid), list);
    }
    return list;
}

void
ferry_snapshot_store_unlock(ferry_snapshot_store *store)
{
    g_mutex_unlock(&store->lock);
}

void
ferry_snapshot_store_drop(ferry_snapshot_store *store, const char *uuid)
{
    g_mutex_lock(&store->lock);
    g_hash_table_remove(store->lists, uuid);
    g_mutex_unlock(&store->lock);
}

/* ---- what drivers share -------------------------------------------------- */

int
ferry_snapshot_state_to_domain_state(ferry_snapshot_state state)
{
    switch (state) {
    case FERRY_SNAPSHOT_STATE_RUNNING:
        return FERRY_DOMAIN_RUNNING;
    case FERRY_SNAPSHOT_STATE_PAUSED:
        return FERRY_DOMAIN_PAUSED;
    default:
        return FERRY_DOMAIN_SHUTOFF;
    }
}

static ferry_snapshot_state
snapshot_state_of(int domain_state)
{
    switch (domain_state) {
    case FERRY_DOMAIN_RUNNING:
        return FERRY_SNAPSHOT_STATE_RUNNING;
    case FERRY_DOMAIN_PAUSED:
        return FERRY_SNAPSHOT_STATE_PAUSED;
    default:
        return FERRY_SNAPSHOT_STATE_SHUTOFF;
    }
}

/* The disks a new snapshot keeps: every one listed as asked, the others
 * by kind; a listed disk must be the domain's. */
static gboolean
fill_disks(ferry_snapshot_def *snap, const ferry_domain_def *dom, GError **error)
{
    for (guint i = 0; i < snap->disks->len; i++) {
        ferry_snapshot_disk *disk = snap->disks->pdata[i];

        if (!ferry_domain_def_find_disk(dom, disk->name)) {
            g_set_error(error, FERRY_ERROR, FERRY_ERROR_INVALID_ARG,
                        "snapshot '%s': disk '%s' does not exist in domain '%s'", snap->name,
                        disk->name, dom->name);
            return FALSE;
        }
        if (disk->location == FERRY_SNAPSHOT_LOCATION_DEFAULT)
            disk->location = FERRY_SNAPSHOT_LOCATION_INTERNAL;
    }
    for (guint i = 0; i < dom->disks->len; i++) {
        const ferry_disk_def *d = dom->disks->pdata[i];
        ferry_snapshot_disk *disk;

        if (ferry_snapshot_def_find_disk(snap, d->target))
            continue;
        disk = g_new0(ferry_snapshot_disk, 1);
        disk->name = g_strdup(d->target);
        disk->location = (d->readonly || !d->source || d->device != FERRY_DISK_DEVICE_DISK)
                             ? FERRY_SNAPSHOT_LOCATION_NO : FERRY_SNAPSHOT_LOCATION_INTERNAL;
        g_ptr_array_add(snap->disks, disk);
    }
    return TRUE;
}

ferry_snapshot_def *
ferry_snapshot_def_for_create(const char *xml, guint flags, const ferry_domain_def *dom,
                              int domain_state, GError **error)
{
    gboolean redefine = (flags & FERRY_SNAPSHOT_LIST_REDEFINE) != 0;
    g_autoptr(ferry_snapshot_def) snap = ferry_snapshot_def_parse_string(
        xml, NULL, redefine ? FERRY_SNAPSHOT_PARSE_REDEFINE : 0, error);
    gboolean active = domain_state == FERRY_DOMAIN_RUNNING ||
                      domain_state == FERRY_DOMAIN_PAUSED;

    if (!snap)
        return NULL;
    if (redefine) {
        /* The definition it holds must be this domain's. */
        if (g_strcmp0(snap->dom->uuid, dom->uuid) != 0 && snap->dom->uuid) {
            g_set_error(error, FERRY_ERROR, FERRY_ERROR_INVALID_ARG,
                        "snapshot '%s': its definition is of domain uuid %s, not of domain "
                        "'%s' (%s)", snap->name, snap->dom->uuid, dom->name, dom->uuid);
            return NULL;
        }
        return g_steal_pointer(&snap);
    }
    snap->creation_time = g_get_real_time() / G_USEC_PER_SEC;
    if (!snap->name)
        snap->name = g_strdup_printf("%" G_GINT64_FORMAT, snap->creation_time);
    snap->state = snapshot_state_of(domain_state);
    if (snap->memory == FERRY_SNAPSHOT_LOCATION_DEFAULT)
        snap->memory = active ? FERRY_SNAPSHOT_LOCATION_INTERNAL : FERRY_SNAPSHOT_LOCATION_NO;
    if (snap->memory == FERRY_SNAPSHOT_LOCATION_INTERNAL && !active) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_OPERATION_INVALID,
                    "snapshot '%s': domain '%s' is not running: there is no memory to keep",
                    snap->name, dom->name);
        return NULL;
    }
    if (snap->memory == FERRY_SNAPSHOT_LOCATION_NO && active) {
        /* QEMU's internal snapshots of a running guest always hold its
         * memory: disks alone would not be consistent. */
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_NO_SUPPORT,
                    "snapshot '%s': domain '%s' is active: an internal snapshot of it keeps "
                    "its memory too (snapshot='internal')", snap->name, dom->name);
        return NULL;
    }
    if (!fill_disks(snap, dom, error))
        return NULL;
    snap->dom = ferry_domain_def_copy(dom);
    return g_steal_pointer(&snap);
}

void
ferry_snapshot_info_free(ferry_snapshot_info *info)
{
    if (!info)
        return;
    g_free(info->name);
    g_free(info->parent);
    g_free(info);
}

GPtrArray *
ferry_snapshot_list_infos(ferry_snapshot_list *list)
{
    g_autoptr(GPtrArray) names = ferry_snapshot_list_names(list);
    GPtrArray *out = g_ptr_array_new_with_free_func((GDestroyNotify)ferry_snapshot_info_free);

    for (guint i = 0; i < names->len; i++) {
        const ferry_snapshot_def *def = g_hash_table_lookup(list->snapshots, names->pdata[i]);
        ferry_snapshot_info *info = g_new0(ferry_snapshot_info, 1);

        info->name = g_strdup(def->name);
        info->parent = g_strdup(def->parent);
        info->creation_time = def->creation_time;
        info->state = ferry_snapshot_state_to_domain_state(def->state);
        info->current = g_strcmp0(list->current, def->name) == 0;
        g_ptr_array_add(out, info);
    }
    return out;
}

GPtrArray *
ferry_snapshot_store_infos(ferry_snapshot_store *store, const char *uuid,
                           const char *domain_name)
{
    GPtrArray *infos =
        ferry_snapshot_list_infos(ferry_snapshot_store_lock(store, uuid, domain_name));

    ferry_snapshot_store_unlock(store);
    return infos;
}

char *
ferry_snapshot_store_get_xml(ferry_snapshot_store *store, const char *uuid,
                             const char *domain_name, const char *name, GError **error)
{
    ferry_snapshot_list *list = ferry_snapshot_store_lock(store, uuid, domain_name);
    const ferry_snapshot_def *def = ferry_snapshot_list_lookup(list, name, error);
    char *xml = def ? ferry_snapshot_def_format(def, 0) : NULL;

    ferry_snapshot_store_unlock(store);
    return xml;
}

char *
ferry_snapshot_store_current(ferry_snapshot_store *store, const char *uuid,
                             const char *domain_name, GError **error)
{
    ferry_snapshot_list *list = ferry_snapshot_store_lock(store, uuid, domain_name);
    char *name = g_strdup(ferry_snapshot_list_current(list));

    ferry_snapshot_store_unlock(store);
    if (!name)
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_NO_SNAPSHOT,
                    "domain '%s' has no current snapshot", domain_name);
    return name;
}

GPtrArray *
ferry_snapshot_store_export(ferry_snapshot_store *store, const char *uuid,
                            const char *domain_name, GPtrArray **ret_names)
{
    ferry_snapshot_list *list = ferry_snapshot_store_lock(store, uuid, domain_name);
    g_autoptr(GPtrArray) names = ferry_snapshot_list_names(list);
    GPtrArray *docs = g_ptr_array_new_with_free_func(g_free);

    for (guint i = 0; i < names->len; i++) {
        const ferry_snapshot_def *def = ferry_snapshot_list_lookup(list, names->pdata[i], NULL);

        /* INTERNAL: the current one carries <active>, so the receiver
         * learns which is current from the documents alone. */
        g_ptr_array_add(docs, ferry_snapshot_def_format(def, FERRY_SNAPSHOT_FORMAT_INTERNAL));
    }
    ferry_snapshot_store_unlock(store);
    if (ret_names)
        *ret_names = g_steal_pointer(&names);
    return docs;
}

gboolean
ferry_snapshot_store_import(ferry_snapshot_store *store, const char *uuid,
                            const char *domain_name, const GPtrArray *defs, GError **error)
{
    ferry_snapshot_list *list = ferry_snapshot_store_lock(store, uuid, domain_name);
    guint added = 0;
    gboolean ok = TRUE;

    for (; added < defs->len && ok; added++) {
        const ferry_snapshot_def *def = defs->pdata[added];

        /* The names a domain already has here are refused rather than
         * replaced: the migrating domain's would overwrite metadata this
         * host keeps of another one with the same uuid. */
        if (g_hash_table_contains(list->snapshots, def->name)) {
            g_set_error(error, FERRY_ERROR, FERRY_ERROR_OPERATION_INVALID,
                        "snapshot '%s' of domain '%s' exists on this host already", def->name,
                        domain_name);
            ok = FALSE;
            break;
        }
        ok = ferry_snapshot_list_add(list, ferry_snapshot_def_copy(def),
                                     FERRY_SNAPSHOT_LIST_REDEFINE, error);
        if (!ok)
            break;
    }
    /* All or none: what was added goes again, children first. */
    while (!ok && added-- > 0)
        ferry_snapshot_list_remove(list, ((ferry_snapshot_def *)defs->pdata[added])->name, NULL,
                                   NULL);
    ferry_snapshot_store_unlock(store);
    return ok;
}
