/*
 * test-migrate.c: migration in the test driver: its entries of the driver
 * table, which hand every phase to the host's migration engine
 * (src/migration/), and the engine's backend for simulated hosts.
 *
 * Owns: what a simulated hypervisor does when the engine asks -- the
 * "memory transfer" between two test hosts of this process, the held
 * transfer (URI hold=perform), storage migration that checks and records
 * without copying (nbd=yes) -- and the record of what the v3 phases got.
 * Must not: order phases or decide what a failure leads to (the engine
 * does, for this driver and the QEMU driver alike).
 *
 * The "memory transfer": Perform finds the destination in the process's
 * registry of test hosts by the host uuid of the migration URI
 * `test://HOST-UUID/` (what Prepare returns) and tells that host's engine
 * that the data of the migration arrived.  In v1 there is no incoming
 * domain before the data: the data brings the source's definition.
 *
 * Storage migration (NON_SHARED flags, hosts opened with nbd=yes, v3
 * only): nothing is copied.  Begin lists the disks asked for (every disk
 * that is not read-only when none are named), each TEST_DISK_BYTES big;
 * Prepare checks them against the incoming definition and announces an NBD
 * port (params->disks_port, else TEST_NBD_PORT); Perform counts them as
 * copied.  Each host records what its v3 phases received
 * (ferry_test_driver_storage_record()).
 */
#include "ferry-config.h"

#include <string.h>

#include "conf/migration-cookie.h"
#include "migration/migration-engine.h"
#include "test/test-host.h"

/* The size every disk of a test domain has, for a storage migration. */
#define TEST_DISK_BYTES (16 * 1024 * 1024)
/* The NBD port a destination announces when the caller chose none. */
#define TEST_NBD_PORT 10809

#define NON_SHARED ((guint)(FERRY_MIGRATE_NON_SHARED_DISK | FERRY_MIGRATE_NON_SHARED_INC))

/* A test job's transfer (job->backend_data, under job->lock). */
typedef struct {
    gboolean held;              /* hold=perform: waits for a job-info reader */
    gboolean read;              /* a reader came before the memory transfer began */
    gboolean arrival_held;      /* destination, hold=finish: the last data waits */
    gboolean sent;
    gboolean broken;            /* the destination dropped its side first */
    guint64 disk_total;
    gint64 start_us;
    char source_uuid[37];       /* destination: the source host (v3), "" if unknown */
} xfer;

static test_host *
host_of(ferry_mig_job *job)
{
    return ferry_mig_engine_get_backend_self(job->engine);
}

static xfer *
xfer_of(ferry_mig_job *job)
{
    if (!job->backend_data) {
        job->backend_data = g_new0(xfer, 1);
        job->backend_data_free = g_free;
    }
    return job->backend_data;
}

/* The destination dropped its side: a stream still being sent breaks, as
 * QEMU's does when the incoming QEMU goes. */
static void
break_stream(ferry_mig_job *incoming)
{
    g_autoptr(test_host) source = NULL;
    g_autoptr(ferry_mig_job) outgoing = NULL;
    char uuid[sizeof(((xfer *)NULL)->source_uuid)];
    gboolean broke = FALSE;

    g_mutex_lock(&incoming->lock);
    g_strlcpy(uuid, xfer_of(incoming)->source_uuid, sizeof(uuid));
    g_mutex_unlock(&incoming->lock);
    if (!*uuid || !(source = test_host_find(uuid)))
        return;
    outgoing = ferry_mig_engine_find_job_by_id(source->engine, incoming->id);
    if (!outgoing || outgoing->role != FERRY_MIG_ROLE_SOURCE)
        return;
    g_mutex_lock(&outgoing->lock);
    {
        xfer *x = xfer_of(outgoing);

        /* A transfer not started yet fails to start (test_start_memory). */
        broke = x->start_us && !x->sent && !x->broken;
        x->held = FALSE;
        x->broken = TRUE;
    }
    g_mutex_unlock(&outgoing->lock);
    if (broke)
        ferry_mig_job_notify(outgoing, FERRY_MIG_EV_TRANSFER_FAILED, 0,
                             "the destination closed the migration stream");
}

/* ------------------------------------------------------------------------ */
/* Storage migration: checked and recorded, nothing copied                   */
/* ------------------------------------------------------------------------ */

void
ferry_test_storage_record_free(ferry_test_storage_record *record)
{
    if (!record)
        return;
    g_strfreev(record->migrate_disks);
    g_strfreev(record->disks);
    g_free(record);
}

ferry_test_storage_record *
ferry_test_driver_storage_record(const char *host_uuid)
{
    g_autoptr(test_host) host = test_host_find(host_uuid);
    /* Declared after host, so released before it. */
    g_autoptr(GMutexLocker) locker = NULL;
    ferry_test_storage_record *copy;

    if (!host)
        return NULL;
    locker = g_mutex_locker_new(&host->lock);
    if (!host->record)
        return NULL;
    copy = g_new0(ferry_test_storage_record, 1);
    *copy = *host->record;
    copy->migrate_disks = g_strdupv(host->record->migrate_disks);
    copy->disks = g_strdupv(host->record->disks);
    return copy;
}

/* The record of @host, created on first use (host->lock held). */
static ferry_test_storage_record *
record_of(test_host *host)
{
    if (!host->record)
        host->record = g_new0(ferry_test_storage_record, 1);
    return host->record;
}

/* Records the parameters a v3 phase received. */
static void
record_params(test_host *host, const ferry_migrate_params *params)
{
    ferry_test_storage_record *r;

    g_mutex_lock(&host->lock);
    r = record_of(host);
    r->flags = params->flags;
    g_strfreev(r->migrate_disks);
    r->migrate_disks = g_strdupv((char **)params->migrate_disks);
    r->disks_port = params->disks_port;
    g_mutex_unlock(&host->lock);
}

/* Records the disks of a storage migration, in the order of @disks
 * (ferry_cookie_disk*), and the NBD port announced (0: none). */
static void
record_disks(test_host *host, const GPtrArray *disks, guint nbd_port)
{
    g_autoptr(GStrvBuilder) builder = g_strv_builder_new();
    ferry_test_storage_record *r;

    for (guint i = 0; disks && i < disks->len; i++)
        g_strv_builder_add(builder, ((ferry_cookie_disk *)disks->pdata[i])->target);
    g_mutex_lock(&host->lock);
    r = record_of(host);
    g_strfreev(r->disks);
    r->disks = disks && disks->len ? g_strv_builder_end(builder) : NULL;
    r->nbd_port = nbd_port;
    g_mutex_unlock(&host->lock);
}

/* Adds disk @target of domain @def to @cookie, if the domain has it. */
static gboolean
add_disk_to_copy(const ferry_domain_def *def, const char *target,
                 ferry_migration_cookie *cookie, GError **error)
{
    const ferry_disk_def *disk = ferry_domain_def_find_disk(def, target);

    if (!disk) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_INVALID_ARG,
                    "domain '%s' has no disk '%s'", def->name, target);
        return FALSE;
    }
    ferry_migration_cookie_add_disk(cookie, target, ferry_disk_format_to_string(disk->format),
                                    TEST_DISK_BYTES);
    return TRUE;
}

/* Begin: the disks named (read-only ones too, as libvirt does), else every
 * disk that is not read-only. */
static gboolean
test_list_disks(ferry_mig_job *job, ferry_migration_cookie *cookie, GError **error)
{
    const ferry_migrate_params *params = &job->params->p;
    g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&job->obj->lock);
    const ferry_domain_def *def = job->obj->live;

    for (gsize i = 0; params->migrate_disks && params->migrate_disks[i]; i++) {
        if (!add_disk_to_copy(def, params->migrate_disks[i], cookie, error))
            return FALSE;
    }
    for (guint i = 0; !params->migrate_disks && i < def->disks->len; i++) {
        const ferry_disk_def *disk = def->disks->pdata[i];

        if (!disk->readonly && !add_disk_to_copy(def, disk->target, cookie, error))
            return FALSE;
    }
    g_clear_pointer(&locker, g_mutex_locker_free);
    record_disks(host_of(job), cookie->disks, 0);
    return TRUE;
}

/* The safety rules' facts: URI local_storage= and block_job=. */
static gboolean
test_disk_storage(gpointer self, const ferry_disk_def *disk, char **ret_where)
{
    test_host *host = self;

    if (host->local_storage && g_str_has_prefix(disk->source, host->local_storage)) {
        *ret_where = g_strdup_printf("under local_storage '%s' of host '%s'",
                                     host->local_storage, host->hostname);
        return FALSE;
    }
    *ret_where = g_strdup("shared");
    return TRUE;
}

static gboolean
test_block_jobs(ferry_mig_job *job, GPtrArray **ret_jobs, GError **error)
{
    test_host *host = host_of(job);

    *ret_jobs = g_ptr_array_new_with_free_func(g_free);
    if (host->block_job)
        g_ptr_array_add(*ret_jobs, g_strdup_printf("commit block job on disk '%s'",
                                                   host->block_job));
    return TRUE;
}

/* ------------------------------------------------------------------------ */
/* The transfer                                                              */
/* ------------------------------------------------------------------------ */

/* The host a migration URI `test://HOST-UUID/` names.  (Not a connection
 * URI: ferry_uri_parse() refuses a host without a transport.) */
static test_host *
find_destination(const char *uri, GError **error)
{
    static const char prefix[] = "test://";
    g_autofree char *uuid = NULL;
    test_host *dest;
    gsize len;

    if (!uri) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_INVALID_URI,
                    "Perform needs a migration URI (test://HOST-UUID/)");
        return NULL;
    }
    len = strlen(uri);
    if (!g_str_has_prefix(uri, prefix) || len < sizeof(prefix) || uri[len - 1] != '/' ||
        !(uuid = g_strndup(uri + sizeof(prefix) - 1, len - sizeof(prefix))) ||
        !g_uuid_string_is_valid(uuid)) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_INVALID_URI,
                    "migration URI '%s' is not of the test driver's form test://HOST-UUID/",
                    uri);
        return NULL;
    }
    dest = test_host_find(uuid);
    if (!dest)
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_MIGRATE,
                    "migration URI '%s': no test host with uuid %s in this process", uri,
                    uuid);
    return dest;
}

/* Hands the data of migration @job to the destination's engine. */
static gboolean
deliver(ferry_mig_job *job, GError **error)
{
    g_autoptr(test_host) dest = find_destination(job->params->p.uri, error);
    g_autoptr(ferry_mig_job) incoming = NULL;

    if (!dest)
        return FALSE;
    incoming = ferry_mig_engine_find_job_by_id(dest->engine, job->id);
    if (!incoming || incoming->role != FERRY_MIG_ROLE_DESTINATION ||
        ferry_mig_state_is_final(incoming->state)) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_MIGRATE,
                    "host '%s' expects no migration %s of domain '%s' (uuid %s)",
                    dest->hostname, job->id, job->dom_name, job->dom_uuid);
        return FALSE;
    }
    ferry_mig_job_notify(incoming, FERRY_MIG_EV_INCOMING_ACTIVE, 0, NULL);
    if (g_strcmp0(dest->hold, "finish") == 0) {
        g_mutex_lock(&incoming->lock);
        xfer_of(incoming)->arrival_held = TRUE;
        g_mutex_unlock(&incoming->lock);
        return TRUE;
    }
    if (incoming->protocol == 1) {
        /* The source ran Perform, which v1 and v2 share: the destination
         * knows which one this is. */
        ferry_domain_def *def;

        g_mutex_lock(&job->obj->lock);
        def = ferry_domain_def_copy(job->obj->live);
        g_mutex_unlock(&job->obj->lock);
        ferry_mig_job_notify_arrival(incoming, def);
    } else {
        ferry_mig_job_notify(incoming, FERRY_MIG_EV_INCOMING_DONE, 0, NULL);
    }
    return TRUE;
}

/* The transfer ends: delivered, or failed to. */
static void
complete_transfer(ferry_mig_job *job)
{
    g_autoptr(GError) error = NULL;
    xfer *x;

    g_mutex_lock(&job->lock);
    x = xfer_of(job);
    if (x->sent || x->broken) {
        g_mutex_unlock(&job->lock);
        return;
    }
    x->held = FALSE;
    x->sent = TRUE;
    g_mutex_unlock(&job->lock);
    if (!deliver(job, &error)) {
        ferry_mig_job_notify(job, FERRY_MIG_EV_TRANSFER_FAILED, 0, error->message);
        return;
    }
    ferry_mig_job_notify(job, FERRY_MIG_EV_PASS, 1, NULL);
    ferry_mig_job_notify(job, FERRY_MIG_EV_SOURCE_STOPPED, g_get_real_time(), NULL);
    ferry_mig_job_notify(job, FERRY_MIG_EV_SENT, 0, NULL);
}

static gboolean
test_start_disks(ferry_mig_job *job, const ferry_migration_cookie *prepared, GError **error)
{
    if (!prepared->has_nbd || !prepared->nbd_port) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_MIGRATE,
                    "Perform3: the destination announced no NBD port for the disks of "
                    "domain '%s'", job->dom_name);
        return FALSE;
    }
    g_mutex_lock(&job->lock);
    xfer_of(job)->disk_total = (guint64)prepared->disks->len * TEST_DISK_BYTES;
    g_mutex_unlock(&job->lock);
    ferry_mig_job_notify(job, FERRY_MIG_EV_DISKS_READY, 0, NULL);
    return TRUE;
}

static gboolean
test_start_memory(ferry_mig_job *job, GError **error)
{
    test_host *host = host_of(job);
    g_autoptr(test_host) dest = find_destination(job->params->p.uri, error);
    g_autoptr(ferry_mig_job) incoming = NULL;
    gboolean hold = g_strcmp0(host->hold, "perform") == 0;

    if (!dest)
        return FALSE;
    g_mutex_lock(&job->lock);
    if (xfer_of(job)->broken) {
        g_mutex_unlock(&job->lock);
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_MIGRATE,
                    "host '%s' closed the migration stream of domain '%s'", dest->hostname,
                    job->dom_name);
        return FALSE;
    }
    hold = hold && !xfer_of(job)->read;
    xfer_of(job)->held = hold;
    xfer_of(job)->start_us = g_get_monotonic_time();
    g_mutex_unlock(&job->lock);
    /* Held: the transfer "runs" until someone reads the job information
     * (test_domain_get_job_stats) or it is cancelled.  The destination
     * sees its incoming side active at once, as QEMU's is when the source
     * connects. */
    if (!hold) {
        complete_transfer(job);
        return TRUE;
    }
    incoming = ferry_mig_engine_find_job_by_id(dest->engine, job->id);
    if (incoming && incoming->role == FERRY_MIG_ROLE_DESTINATION)
        ferry_mig_job_notify(incoming, FERRY_MIG_EV_INCOMING_ACTIVE, 0, NULL);
    return TRUE;
}

static gboolean
test_switch_over(ferry_mig_job *job, ferry_migration_cookie *stats, GError **error)
{
    return TRUE;
}

static gboolean
test_cancel_transfer(ferry_mig_job *job)
{
    g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&job->lock);
    xfer *x = xfer_of(job);

    /* A broken stream is cancelled all the same: nothing went. */
    if (x->sent)
        return FALSE;
    x->held = FALSE;
    x->sent = TRUE;     /* nothing will be sent any more */
    return TRUE;
}

static void
test_collect_stats(ferry_mig_job *job, ferry_job_info *info, gboolean final)
{
    g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&job->lock);
    xfer *x = xfer_of(job);
    guint64 mem = job->obj && job->obj->live ? job->obj->live->memory_kib * 1024 : 0;

    info->mem_total = mem;
    info->mem_processed = final ? mem : 0;
    info->mem_remaining = mem - info->mem_processed;
    info->disk_total = x->disk_total;
    info->disk_processed = final ? x->disk_total : 0;
    info->disk_remaining = x->disk_total - info->disk_processed;
    info->passes = final ? 1 : 0;
    info->setup_ms = 1;
    if (final) {
        info->total_ms = MAX((g_get_monotonic_time() - x->start_us) / 1000, 1);
        info->downtime_ms = 1;
    }
}

static gboolean
test_set_tunable(ferry_mig_job *job, int tunable, guint64 value, GError **error)
{
    return TRUE;
}

static gboolean
test_get_tunable(ferry_mig_job *job, int tunable, guint64 *ret_value, GError **error)
{
    g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&job->lock);

    *ret_value = tunable == FERRY_MIGRATE_TUNABLE_MAX_DOWNTIME ? job->params->p.max_downtime_ms
                                                               : job->params->p.bandwidth_mib;
    return TRUE;
}

static gboolean
test_pause(ferry_mig_job *job, GError **error)
{
    return TRUE;
}

static gboolean
test_resume(ferry_mig_job *job, GError **error)
{
    return TRUE;
}

/* The domain's simulated process ends with @reason: a transient domain
 * is gone with it. */
static void
stop_domain(ferry_mig_job *job, int reason)
{
    test_host *host = host_of(job);
    ferry_domain_obj *obj = job->obj;
    gboolean was_active, gone;

    g_mutex_lock(&obj->lock);
    was_active = ferry_domain_obj_is_active(obj);
    g_clear_pointer(&obj->live, ferry_domain_def_free);
    ferry_domain_obj_set_state(obj, FERRY_DOMAIN_SHUTOFF, reason);
    gone = obj->def == NULL;
    g_mutex_unlock(&obj->lock);
    if (gone)
        ferry_domain_obj_list_remove(host->domains, obj);
    if (was_active)
        ferry_domain_obj_emit_lifecycle(host->bus, obj, FERRY_LIFECYCLE_STOPPED);
}

/* The domain left. */
static gboolean
test_stop_source(ferry_mig_job *job, GError **error)
{
    stop_domain(job, FERRY_SHUTOFF_MIGRATED);
    return TRUE;
}

/* ------------------------------------------------------------------------ */
/* The destination                                                           */
/* ------------------------------------------------------------------------ */

static char *
migration_uri(test_host *host)
{
    return g_strdup_printf("test://%s/", host->host_uuid);
}

static gboolean
test_start_incoming(ferry_mig_job *job, const ferry_migration_cookie *cookie_in,
                    ferry_migration_cookie *cookie_out, char **ret_uri, GError **error)
{
    test_host *host = host_of(job);
    const ferry_migrate_params *params = &job->params->p;
    g_autofree char *ours = migration_uri(host);

    if (params->uri && strcmp(params->uri, ours) != 0) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_INVALID_URI,
                    "migration URI '%s' does not name test host '%s' (use %s or none)",
                    params->uri, host->hostname, ours);
        return FALSE;
    }
    if (cookie_in && cookie_in->host_uuid) {
        g_mutex_lock(&job->lock);
        g_strlcpy(xfer_of(job)->source_uuid, cookie_in->host_uuid,
                  sizeof(xfer_of(job)->source_uuid));
        g_mutex_unlock(&job->lock);
    }
    if ((params->flags & NON_SHARED) && cookie_in && job->obj) {
        const GPtrArray *disks = cookie_in->disks;

        for (guint i = 0; i < disks->len; i++) {
            const ferry_cookie_disk *disk = disks->pdata[i];

            if (!ferry_domain_def_find_disk(job->obj->live, disk->target)) {
                g_set_error(error, FERRY_ERROR, FERRY_ERROR_INVALID_ARG,
                            "domain '%s' has no disk '%s'", job->dom_name, disk->target);
                return FALSE;
            }
            ferry_migration_cookie_add_disk(cookie_out, disk->target, disk->format,
                                            disk->capacity);
        }
        cookie_out->has_nbd = TRUE;
        cookie_out->nbd_port = params->disks_port ? params->disks_port : TEST_NBD_PORT;
        record_disks(host, cookie_out->disks, cookie_out->nbd_port);
    }
    *ret_uri = g_steal_pointer(&ours);
    return TRUE;
}

static gboolean
test_activate(ferry_mig_job *job, gboolean run, GError **error)
{
    return TRUE;
}

/* Removes what Prepare made for an incoming domain. */
static void
test_discard_incoming(ferry_mig_job *job)
{
    stop_domain(job, FERRY_SHUTOFF_FAILED);
    break_stream(job);
}

/* A simulated process keeps nothing across a restart: it runs, or not. */
static void
test_probe(ferry_mig_job *job, ferry_mig_probe *ret)
{
    ferry_domain_obj *obj = job->obj;
    g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&obj->lock);

    memset(ret, 0, sizeof(*ret));
    if (!ferry_domain_obj_is_active(obj))
        return;
    ret->transfer = FERRY_MIG_PROBE_IDLE;
    ret->cpus_running = obj->state == FERRY_DOMAIN_RUNNING;
    ret->migration_paused = obj->state == FERRY_DOMAIN_PAUSED &&
                            obj->reason == FERRY_PAUSED_MIGRATION;
}

static ferry_domain_def *
test_parse_def(gpointer self, const char *xml, const char *what, GError **error)
{
    return ferry_domain_def_parse_string(xml, what, 0, error);
}

static void
test_end_domain_job(gpointer self, ferry_domain_obj *obj)
{
    ferry_domain_obj_end_job(obj);
}

const ferry_mig_backend ferry_test_mig_backend = {
    .parse_def = test_parse_def,
    .end_domain_job = test_end_domain_job,
    .list_disks = test_list_disks,
    .disk_storage = test_disk_storage,
    .block_jobs = test_block_jobs,
    .start_disks = test_start_disks,
    .start_memory = test_start_memory,
    .switch_over = test_switch_over,
    .cancel_transfer = test_cancel_transfer,
    .collect_stats = test_collect_stats,
    .set_tunable = test_set_tunable,
    .get_tunable = test_get_tunable,
    .pause = test_pause,
    .resume = test_resume,
    .stop_source = test_stop_source,
    .start_incoming = test_start_incoming,
    .activate = test_activate,
    .discard_incoming = test_discard_incoming,
    .probe = test_probe,
};

/* ------------------------------------------------------------------------ */
/* The driver table's migration entries                                      */
/* ------------------------------------------------------------------------ */

static gboolean
offers(test_host *host, int protocol, const char *phase, GError **error)
{
    if (host->migration >= protocol)
        return TRUE;
    g_set_error(error, FERRY_ERROR, FERRY_ERROR_NO_SUPPORT,
                "test host '%s' offers migration protocols up to v%d (URI parameter "
                "migration=), so not phase '%s' of v%d", host->hostname, host->migration,
                phase, protocol);
    return FALSE;
}

/* Protocols v1 and v2 have no cookie to carry an NBD port in. */
static gboolean
refuse_storage(const ferry_migrate_params *params, const char *phase, GError **error)
{
    if (!(params->flags & NON_SHARED))
        return TRUE;
    g_set_error(error, FERRY_ERROR, FERRY_ERROR_NO_SUPPORT,
                "%s: storage migration (FERRY_MIGRATE_NON_SHARED_*) needs protocol v3",
                phase);
    return FALSE;
}

/* Answers a call the host refuses before the engine sees it. */
static void
refuse(GError *error, GAsyncReadyCallback callback, gpointer user_data)
{
    GTask *task = g_task_new(NULL, NULL, callback, user_data);

    g_task_return_error(task, error);
    g_object_unref(task);
}

void
test_domain_migrate_begin3(ferry_domain *dom, const ferry_migrate_params *params,
                           GCancellable *cancellable, GAsyncReadyCallback callback,
                           gpointer user_data)
{
    test_host *host = test_host_of(dom->conn);
    GError *error = NULL;

    if (!offers(host, 3, "Begin3", &error)) {
        refuse(error, callback, user_data);
        return;
    }
    record_params(host, params);
    ferry_mig_engine_begin3(host->engine, dom, params, cancellable, callback, user_data);
}

void
test_conn_migrate_prepare3(ferry_conn *dconn, const ferry_migrate_params *params,
                           const char *dom_xml, const char *cookie_in,
                           GCancellable *cancellable, GAsyncReadyCallback callback,
                           gpointer user_data)
{
    test_host *host = test_host_of(dconn);
    GError *error = NULL;

    if (!offers(host, 3, "Prepare3", &error)) {
        refuse(error, callback, user_data);
        return;
    }
    record_params(host, params);
    ferry_mig_engine_prepare(host->engine, dconn, 3, params, dom_xml, cookie_in, cancellable,
                             callback, user_data);
}

void
test_domain_migrate_perform3(ferry_domain *dom, const ferry_migrate_params *params,
                             const char *dconn_uri, const char *cookie_in,
                             GCancellable *cancellable, GAsyncReadyCallback callback,
                             gpointer user_data)
{
    test_host *host = test_host_of(dom->conn);
    GError *error = NULL;

    if (!offers(host, 3, "Perform3", &error)) {
        refuse(error, callback, user_data);
        return;
    }
    record_params(host, params);
    ferry_mig_engine_perform(host->engine, dom, 3, params, dconn_uri, cookie_in, cancellable,
                             callback, user_data);
}

void
test_conn_migrate_finish3(ferry_conn *dconn, const ferry_migrate_params *params,
                          const char *dname, const char *cookie_in, gboolean cancelled,
                          GCancellable *cancellable, GAsyncReadyCallback callback,
                          gpointer user_data)
{
    test_host *host = test_host_of(dconn);
    GError *error = NULL;

    if (!offers(host, 3, "Finish3", &error)) {
        refuse(error, callback, user_data);
        return;
    }
    record_params(host, params);
    ferry_mig_engine_finish(host->engine, dconn, 3, params, dname, cookie_in, cancelled,
                            cancellable, callback, user_data);
}

void
test_domain_migrate_confirm3(ferry_domain *dom, const ferry_migrate_params *params,
                             const char *cookie_in, int outcome, GCancellable *cancellable,
                             GAsyncReadyCallback callback, gpointer user_data)
{
    test_host *host = test_host_of(dom->conn);
    GError *error = NULL;

    if (!offers(host, 3, "Confirm3", &error)) {
        refuse(error, callback, user_data);
        return;
    }
    record_params(host, params);
    ferry_mig_engine_confirm3(host->engine, dom, params, cookie_in, outcome, cancellable,
                              callback, user_data);
}

void
test_conn_migrate_prepare2(ferry_conn *dconn, const ferry_migrate_params *params,
                           const char *dom_xml, GCancellable *cancellable,
                           GAsyncReadyCallback callback, gpointer user_data)
{
    test_host *host = test_host_of(dconn);
    GError *error = NULL;

    if (!offers(host, 2, "Prepare2", &error) || !refuse_storage(params, "Prepare2", &error)) {
        refuse(error, callback, user_data);
        return;
    }
    ferry_mig_engine_prepare(host->engine, dconn, 2, params, dom_xml, NULL, cancellable,
                             callback, user_data);
}

void
test_domain_migrate_perform(ferry_domain *dom, const ferry_migrate_params *params,
                            const char *cookie_in, GCancellable *cancellable,
                            GAsyncReadyCallback callback, gpointer user_data)
{
    test_host *host = test_host_of(dom->conn);
    GError *error = NULL;

    if (!offers(host, 1, "Perform", &error) || !refuse_storage(params, "Perform", &error)) {
        refuse(error, callback, user_data);
        return;
    }
    ferry_mig_engine_perform(host->engine, dom, host->migration >= 2 ? 2 : 1, params, NULL,
                             cookie_in, cancellable, callback, user_data);
}

void
test_conn_migrate_finish2(ferry_conn *dconn, const ferry_migrate_params *params,
                          const char *dname, const char *cookie_in, gboolean ok,
                          GCancellable *cancellable, GAsyncReadyCallback callback,
                          gpointer user_data)
{
    test_host *host = test_host_of(dconn);
    GError *error = NULL;

    if (!offers(host, 2, "Finish2", &error)) {
        refuse(error, callback, user_data);
        return;
    }
    ferry_mig_engine_finish(host->engine, dconn, 2, params, dname, cookie_in, !ok, cancellable,
                            callback, user_data);
}

void
test_conn_migrate_prepare(ferry_conn *dconn, const ferry_migrate_params *params,
                          GCancellable *cancellable, GAsyncReadyCallback callback,
                          gpointer user_data)
{
    test_host *host = test_host_of(dconn);
    GError *error = NULL;

    if (!offers(host, 1, "Prepare", &error) || !refuse_storage(params, "Prepare", &error)) {
        refuse(error, callback, user_data);
        return;
    }
    ferry_mig_engine_prepare(host->engine, dconn, 1, params, NULL, NULL, cancellable, callback,
                             user_data);
}

void
test_conn_migrate_finish(ferry_conn *dconn, const ferry_migrate_params *params,
                         const char *dname, const char *cookie_in, GCancellable *cancellable,
                         GAsyncReadyCallback callback, gpointer user_data)
{
    test_host *host = test_host_of(dconn);
    GError *error = NULL;

    if (!offers(host, 1, "Finish", &error)) {
        refuse(error, callback, user_data);
        return;
    }
    ferry_mig_engine_finish(host->engine, dconn, 1, params, dname, cookie_in, FALSE,
                            cancellable, callback, user_data);
}

gboolean
test_domain_get_job_stats(ferry_domain *dom, guint flags, ferry_job_info *ret_info,
                          GError **error)
{
    test_host *host = test_host_of(dom->conn);
    g_autoptr(ferry_mig_job) job = NULL;
    gboolean release = FALSE;

    if (!ferry_mig_engine_get_job_stats(host->engine, dom, flags, ret_info, error))
        return FALSE;
    /* hold=perform: a reader came; the held transfer goes on. */
    job = ferry_mig_engine_find_job(host->engine, dom->uuid);
    if (job && job->role == FERRY_MIG_ROLE_SOURCE) {
        g_mutex_lock(&job->lock);
        if (job->backend_data) {
            release = ((xfer *)job->backend_data)->held;
            ((xfer *)job->backend_data)->read = TRUE;
        }
        g_mutex_unlock(&job->lock);
    }
    if (release)
        complete_transfer(job);
    return TRUE;
}

guint
ferry_test_driver_held(const char *host_uuid)
{
    g_autoptr(test_host) host = test_host_find(host_uuid);
    g_autoptr(GPtrArray) objs = NULL;
    guint held = 0;

    if (!host)
        return 0;
    objs = ferry_domain_obj_list_collect(host->domains, 0);
    for (guint i = 0; i < objs->len; i++) {
        ferry_domain_obj *obj = objs->pdata[i];
        g_autoptr(ferry_mig_job) job = ferry_mig_engine_find_job(host->engine, obj->uuid);

        if (!job)
            continue;
        g_mutex_lock(&job->lock);
        if (job->backend_data && ((xfer *)job->backend_data)->held)
            held++;
        g_mutex_unlock(&job->lock);
    }
    return held;
}

guint
ferry_test_driver_release(const char *host_uuid)
{
    g_autoptr(test_host) host = test_host_find(host_uuid);
    g_autoptr(GPtrArray) objs = NULL;
    guint released = 0;

    if (!host)
        return 0;
    objs = ferry_domain_obj_list_collect(host->domains, 0);
    for (guint i = 0; i < objs->len; i++) {
        ferry_domain_obj *obj = objs->pdata[i];
        g_autoptr(ferry_mig_job) job = ferry_mig_engine_find_job(host->engine, obj->uuid);
        gboolean held = FALSE, arrival = FALSE;

        if (!job)
            continue;
        g_mutex_lock(&job->lock);
        if (job->backend_data) {
            held = ((xfer *)job->backend_data)->held;
            arrival = ((xfer *)job->backend_data)->arrival_held;
            ((xfer *)job->backend_data)->arrival_held = FALSE;
        }
        g_mutex_unlock(&job->lock);
        if (held)
            complete_transfer(job);
        if (arrival)
            ferry_mig_job_notify(job, FERRY_MIG_EV_INCOMING_DONE, 0, NULL);
        released += held + arrival;
    }
    return released;
}

void
test_domain_abort_job(ferry_domain *dom, guint flags, GCancellable *cancellable,
                      GAsyncReadyCallback callback, gpointer user_data)
{
    ferry_mig_engine_abort(test_host_of(dom->conn)->engine, dom, cancellable, callback,
                           user_data);
}

gboolean
test_domain_migrate_set_tunable(ferry_domain *dom, int tunable, guint64 value, GError **error)
{
    return ferry_mig_engine_set_tunable(test_host_of(dom->conn)->engine, dom, tunable, value,
                                        error);
}

gboolean
test_domain_migrate_get_tunable(ferry_domain *dom, int tunable, guint64 *ret_value,
                                GError **error)
{
    return ferry_mig_engine_get_tunable(test_host_of(dom->conn)->engine, dom, tunable,
                                        ret_value, error);
}

void
test_conn_migrate_query(ferry_conn *dconn, const char *id, GCancellable *cancellable,
                        GAsyncReadyCallback callback, gpointer user_data)
{
    ferry_mig_engine_query(test_host_of(dconn)->engine, id, cancellable, callback, user_data);
}

void
test_conn_migrate_cancel(ferry_conn *dconn, const char *id, const char *reason,
                         GCancellable *cancellable, GAsyncReadyCallback callback,
                         gpointer user_data)
{
    ferry_mig_engine_cancel(test_host_of(dconn)->engine, id, reason, cancellable, callback,
                            user_data);
}
