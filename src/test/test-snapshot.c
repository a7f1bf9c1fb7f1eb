/*
 * test-snapshot.c: the test driver's snapshots: metadata only.
 *
 * Owns: the snapshot entries of the test driver table.  A test host keeps
 * each domain's snapshot tree in memory (test_host.snapshots) and no disk
 * data, so protocol and API tests of snapshots run in milliseconds.  The
 * rules a caller can see are the QEMU driver's: a new snapshot records the
 * domain's state and definition, a revert brings back the snapshot's state
 * (running or paused; an inactive domain cannot go back to a running
 * snapshot here, as there), a delete re-parents the children.
 */
#include "ferry-config.h"

#include <string.h>

#include "conf/snapshot-stream.h"
#include "test/test-host.h"

static void
end_snapshot_job(ferry_domain_obj *obj)
{
    ferry_domain_obj_end_job(obj);
    ferry_domain_obj_unref(obj);
}

char *
test_domain_snapshot_create_xml(ferry_domain *dom, const char *xml, guint flags,
                                GError **error)
{
    test_host *host = test_host_of(dom->conn);
    ferry_domain_obj *obj =
        ferry_domain_obj_list_lookup_job(host->domains, dom, host->hostname, "snapshot create",
                                         error);
    g_autoptr(ferry_snapshot_def) snap = NULL;
    g_autofree char *name = NULL;
    ferry_snapshot_list *list;
    gboolean ok;

    if (!obj)
        return NULL;
    g_mutex_lock(&obj->lock);
    snap = ferry_snapshot_def_for_create(xml, flags, obj->live ? obj->live : obj->def,
                                         obj->state, error);
    g_mutex_unlock(&obj->lock);
    if (snap) {
        name = g_strdup(snap->name);
        list = ferry_snapshot_store_lock(host->snapshots, obj->uuid, obj->name);
        ok = ferry_snapshot_list_add(list, g_steal_pointer(&snap), flags, error);
        ferry_snapshot_store_unlock(host->snapshots);
        if (!ok)
            g_clear_pointer(&name, g_free);
    }
    end_snapshot_job(obj);
    return g_steal_pointer(&name);
}

gboolean
test_domain_snapshot_list(ferry_domain *dom, guint flags, GPtrArray **ret_snapshots,
                          GError **error)
{
    test_host *host = test_host_of(dom->conn);
    g_autoptr(ferry_domain_obj) obj =
        ferry_domain_obj_list_lookup(host->domains, dom, host->hostname, error);

    if (!obj)
        return FALSE;
    *ret_snapshots = ferry_snapshot_store_infos(host->snapshots, obj->uuid, obj->name);
    return TRUE;
}

char *
test_domain_snapshot_get_xml(ferry_domain *dom, const char *name, guint flags, GError **error)
{
    test_host *host = test_host_of(dom->conn);
    g_autoptr(ferry_domain_obj) obj =
        ferry_domain_obj_list_lookup(host->domains, dom, host->hostname, error);

    if (!obj)
        return NULL;
    return ferry_snapshot_store_get_xml(host->snapshots, obj->uuid, obj->name, name, error);
}

char *
test_domain_snapshot_current(ferry_domain *dom, GError **error)
{
    test_host *host = test_host_of(dom->conn);
    g_autoptr(ferry_domain_obj) obj =
        ferry_domain_obj_list_lookup(host->domains, dom, host->hostname, error);

    if (!obj)
        return NULL;
    return ferry_snapshot_store_current(host->snapshots, obj->uuid, obj->name, error);
}

gboolean
test_domain_snapshot_revert(ferry_domain *dom, const char *name, guint flags, GError **error)
{
    test_host *host = test_host_of(dom->conn);
    ferry_domain_obj *obj =
        ferry_domain_obj_list_lookup_job(host->domains, dom, host->hostname, "snapshot revert",
                                         error);
    ferry_snapshot_list *list;
    const ferry_snapshot_def *snap;
    int want = FERRY_DOMAIN_SHUTOFF;
    gboolean ok = FALSE;

    if (!obj)
        return FALSE;
    list = ferry_snapshot_store_lock(host->snapshots, obj->uuid, obj->name);
    snap = ferry_snapshot_list_lookup(list, name, error);
    if (snap)
        want = ferry_snapshot_state_to_domain_state(snap->state);
    g_mutex_lock(&obj->lock);
    if (snap && want != FERRY_DOMAIN_SHUTOFF && !ferry_domain_obj_is_active(obj)) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_OPERATION_INVALID,
                    "domain '%s' is not running: start it before reverting to snapshot '%s' "
                    "of a running domain", obj->name, name);
    } else if (snap && want == FERRY_DOMAIN_SHUTOFF && ferry_domain_obj_is_active(obj)) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_OPERATION_INVALID,
                    "domain '%s' is running: destroy it before reverting to snapshot '%s' "
                    "of a shut off domain", obj->name, name);
    } else if (snap) {
        if (want == FERRY_DOMAIN_RUNNING)
            ferry_domain_obj_set_state(obj, want, FERRY_RUNNING_UNPAUSED);
        else if (want == FERRY_DOMAIN_PAUSED)
            ferry_domain_obj_set_state(obj, want, FERRY_PAUSED_USER);
        ok = ferry_snapshot_list_set_current(list, name, error);
    }
    g_mutex_unlock(&obj->lock);
    ferry_snapshot_store_unlock(host->snapshots);
    end_snapshot_job(obj);
    return ok;
}

gboolean
test_domain_snapshot_delete(ferry_domain *dom, const char *name, guint flags, GError **error)
{
    test_host *host = test_host_of(dom->conn);
    ferry_domain_obj *obj =
        ferry_domain_obj_list_lookup_job(host->domains, dom, host->hostname, "snapshot delete",
                                         error);
    gboolean ok;

    if (!obj)
        return FALSE;
    ok = ferry_snapshot_list_remove(ferry_snapshot_store_lock(host->snapshots, obj->uuid,
                                                              obj->name),
                                    name, NULL, error);
    ferry_snapshot_store_unlock(host->snapshots);
    end_snapshot_job(obj);
    return ok;
}

/* ------------------------------------------------------------------------ */
/* Migrations carry the metadata (src/migration/migration-snapshots.c)      */
/* ------------------------------------------------------------------------ */

static GPtrArray *
test_snapshots_export(gpointer self, ferry_domain_obj *obj, GPtrArray **ret_names)
{
    test_host *host = self;

    return ferry_snapshot_store_export(host->snapshots, obj->uuid, obj->name, ret_names);
}

static gboolean
test_snapshots_import(gpointer self, ferry_domain_obj *obj, const GPtrArray *defs,
                      GError **error)
{
    test_host *host = self;

    return ferry_snapshot_store_import(host->snapshots, obj->uuid, obj->name, defs, error);
}

static void
test_snapshots_drop(gpointer self, ferry_domain_obj *obj)
{
    test_host *host = self;

    ferry_snapshot_store_drop(host->snapshots, obj->uuid);
}

/* The test backend with its snapshot operations (test-migrate.c has the
 * rest): filled in once, the first time a host needs either. */
static ferry_mig_backend with_snapshots, without_snapshots;

static gpointer
init_backends(gpointer data)
{
    with_snapshots = ferry_test_mig_backend;
    with_snapshots.snapshots_export = test_snapshots_export;
    with_snapshots.snapshots_import = test_snapshots_import;
    with_snapshots.snapshots_drop = test_snapshots_drop;
    without_snapshots = ferry_test_mig_backend;
    return NULL;
}

const ferry_mig_backend *
ferry_test_mig_backend_with_snapshots(void)
{
    static GOnce once = G_ONCE_INIT;

    g_once(&once, init_backends, NULL);
    return &with_snapshots;
}

const ferry_mig_backend *
ferry_test_mig_backend_without_snapshots(void)
{
    static GOnce once = G_ONCE_INIT;

    g_once(&once, init_backends, NULL);
    return &without_snapshots;
}

/* Spoils @bytes as URI snapshot_stream= asks: cut in the middle of the
 * last document, or its first document's bytes replaced by what is not
 * XML (the same length, so that only the parser can tell). */
static GBytes *
spoil(const char *how, GBytes *bytes)
{
    gsize size;
    const guint8 *data = g_bytes_get_data(bytes, &size);
    guint8 *copy;

    if (!how)
        return g_bytes_ref(bytes);
    if (g_str_equal(how, "truncated"))
        return g_bytes_new(data, size - 5);
    copy = g_memdup2(data, size);
    /* After the count and the first length: the first document. */
    memset(copy + 8, '#', MIN(size - 8, 6));
    return g_bytes_new_take(copy, size);
}

gboolean
test_conn_migrate_snapshots(ferry_conn *conn, const char *id, const char *token,
                            GPtrArray **ret_docs, GError **error)
{
    test_host *host = test_host_of(conn);
    g_autoptr(GPtrArray) docs = NULL;
    g_autoptr(GBytes) bytes = NULL;
    g_autoptr(GBytes) sent = NULL;
    g_autoptr(ferry_snapshot_stream_decoder) dec = NULL;
    g_autofree char *what = NULL;
    const guint8 *data;
    gsize size;

    if (!ferry_mig_engine_snapshots_take(host->engine, id, token, &docs, error))
        return FALSE;
    /* Through the same bytes the daemons exchange, fed in small pieces as
     * a stream's window cuts them: the decoder and its refusals are the
     * ones a remote destination has. */
    bytes = ferry_snapshot_stream_encode(docs);
    sent = spoil(host->snapshot_stream, bytes);
    what = g_strdup_printf("the snapshot stream of migration %s from host '%s'", id,
                           host->hostname);
    dec = ferry_snapshot_stream_decoder_new(what);
    data = g_bytes_get_data(sent, &size);
    for (gsize at = 0; at < size; at += 7) {
        if (!ferry_snapshot_stream_decoder_feed(dec, data + at, MIN(7, size - at), error))
            return FALSE;
    }
    *ret_docs = ferry_snapshot_stream_decoder_finish(dec, error);
    return *ret_docs != NULL;
}
