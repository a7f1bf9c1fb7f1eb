/*
 * test-migrate.c: migration in the test driver: the v3, v2 and v1 phases
 * and job information, with the semantics the QEMU driver has (DESIGN.md
 * section 3), on simulated hosts.
 *
 * Owns: the per-domain migration state of test domains (mig_priv, in
 * ferry_domain_obj.priv under the object's lock), what each phase does to
 * the source and the incoming domain, fault injection (URI fail=) and the
 * held Perform (URI hold=perform).  Must not: order the phases (the
 * sequencer in src/api/migrate.c does) or reach into another host except
 * for the simulated memory transfer.
 *
 * The "memory transfer": Perform finds the destination in the process's
 * registry of test hosts by the host uuid of the migration URI
 * `test://HOST-UUID/` (what Prepare returns) and marks the incoming domain
 * of that migration id as received; Finish refuses to resume a domain that
 * received nothing.  In v1 there is no incoming domain before Perform:
 * Perform creates it on the destination from the source's definition.
 *
 * Storage migration (NON_SHARED flags, hosts opened with nbd=yes, v3
 * only): nothing is copied.  Begin checks the disks asked for against the
 * domain (every disk that is not read-only when none are named) and lists
 * them in its cookie, each TEST_DISK_BYTES big; Prepare checks them against
 * the incoming definition and announces an NBD port (params->disks_port,
 * else TEST_NBD_PORT); Perform counts the disks as copied.  Each host
 * records what its v3 phases received (ferry_test_driver_storage_record()).
 *
 * Jobs: Begin takes the source's FERRY_JOB_MIGRATION_OUT job (owner
 * "migration ID") and Confirm ends it; Prepare takes the incoming domain's
 * FERRY_JOB_MIGRATION_IN job and Finish ends it.  v1/v2 Perform takes and
 * ends the source's job itself.  A failed Confirm keeps the job: the source
 * stays paused and in doubt, as a real one would.
 */
#include "ferry-config.h"

#include <string.h>

#include "api/migrate-internal.h"
#include "conf/migration-cookie.h"
#include "test/test-host.h"

/* How long a held Perform waits for someone to read the job information. */
#define HOLD_SECONDS 30

/* The size every disk of a test domain has, for a storage migration. */
#define TEST_DISK_BYTES (16 * 1024 * 1024)
/* The NBD port a destination announces when the caller chose none. */
#define TEST_NBD_PORT 10809

#define NON_SHARED ((guint)(FERRY_MIGRATE_NON_SHARED_DISK | FERRY_MIGRATE_NON_SHARED_INC))

typedef struct {
    char *id;                   /* the migration the job belongs to */
    const char *phase;          /* for the job information: "begin"… or "" */
    gint64 start_us;            /* when the job began (monotonic) */
    int last;                   /* FERRY_JOB_INFO_COMPLETED/FAILED of the last job */
    gboolean paused_by_us;      /* source: Perform paused a running domain */
    gboolean received;          /* incoming: the source's Perform delivered */
    gboolean offline;           /* incoming: only the definition travels */
    guint64 mem_total;
    guint64 mem_processed;
    guint64 disk_total;         /* source: the disks Begin chose, TEST_DISK_BYTES each */
    guint64 disk_processed;
    gint64 total_ms;
    gint64 downtime_ms;
    gboolean hold_waiting;      /* a held Perform waits for a reader */
    gboolean hold_seen;         /* a reader came */
    GCond hold_cond;
} mig_priv;

static void
mig_priv_free(gpointer data)
{
    mig_priv *priv = data;

    g_free(priv->id);
    g_cond_clear(&priv->hold_cond);
    g_free(priv);
}

/* The migration state of @obj (lock held), created on first use. */
static mig_priv *
priv_of(ferry_domain_obj *obj)
{
    if (!obj->priv) {
        mig_priv *priv = g_new0(mig_priv, 1);

        g_cond_init(&priv->hold_cond);
        priv->phase = "";
        obj->priv = priv;
        obj->priv_free = mig_priv_free;
    }
    return obj->priv;
}

/* Starts the record of a new job on @obj (lock held). */
static mig_priv *
priv_start(ferry_domain_obj *obj, const char *id, const char *phase)
{
    mig_priv *priv = priv_of(obj);

    g_free(priv->id);
    priv->id = g_strdup(id);
    priv->phase = phase;
    priv->start_us = g_get_monotonic_time();
    priv->last = FERRY_JOB_INFO_NONE;
    priv->paused_by_us = FALSE;
    priv->received = FALSE;
    priv->offline = FALSE;
    priv->mem_total = obj->live ? obj->live->memory_kib * 1024 : 0;
    priv->mem_processed = 0;
    priv->disk_total = 0;
    priv->disk_processed = 0;
    priv->total_ms = 0;
    priv->downtime_ms = 0;
    return priv;
}

/* Ends the migration job of @obj, recording how it ended. */
static void
end_job(ferry_domain_obj *obj, int result)
{
    g_mutex_lock(&obj->lock);
    priv_of(obj)->last = result;
    priv_of(obj)->phase = "";
    g_mutex_unlock(&obj->lock);
    ferry_domain_obj_end_job(obj);
}

/* ------------------------------------------------------------------------ */
/* Small helpers                                                             */
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

/* Fails if the host was opened with fail=@phase. */
static gboolean
inject(test_host *host, const char *phase, GError **error)
{
    if (g_strcmp0(host->fail, phase) != 0)
        return TRUE;
    g_set_error(error, FERRY_ERROR, FERRY_ERROR_OPERATION_FAILED,
                "injected failure in %s", phase);
    return FALSE;
}

/* Sets the state of @obj and announces it with @event. */
static void
set_state(test_host *host, ferry_domain_obj *obj, int state, int reason,
          ferry_lifecycle_event event)
{
    g_mutex_lock(&obj->lock);
    ferry_domain_obj_set_state(obj, state, reason);
    g_mutex_unlock(&obj->lock);
    ferry_domain_obj_emit_lifecycle(host->bus, obj, event);
}

static char *
migration_uri(test_host *host)
{
    return g_strdup_printf("test://%s/", host->host_uuid);
}

static ferry_migration_cookie *
parse_cookie(const char *xml, const char *phase, GError **error)
{
    return ferry_migration_cookie_parse(xml, phase, error);
}

/* Parses the cookie of the other host and refuses a migration to itself. */
static ferry_migration_cookie *
parse_peer_cookie(test_host *host, const char *xml, const char *phase, GError **error)
{
    g_autoptr(ferry_migration_cookie) cookie = parse_cookie(xml, phase, error);

    if (!cookie)
        return NULL;
    if (strcmp(cookie->host_uuid, host->host_uuid) == 0) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_MIGRATE,
                    "migration to the same host (uuid %s) refused", host->host_uuid);
        return NULL;
    }
    return g_steal_pointer(&cookie);
}

static char *
format_cookie(ferry_migration_cookie *cookie)
{
    return ferry_migration_cookie_format(cookie);
}

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

static gboolean
storage_offered(test_host *host, const char *phase, GError **error)
{
    if (host->nbd)
        return TRUE;
    g_set_error(error, FERRY_ERROR, FERRY_ERROR_NO_SUPPORT,
                "%s: test host '%s' does not offer storage migration over NBD (URI "
                "parameter nbd=yes)", phase, host->hostname);
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

/*
 * Begin of a storage migration: the disks to copy -- those named (read-only
 * ones too, as libvirt does), else every disk that is not read-only -- go
 * into @cookie.  Lock of @obj held.
 */
static gboolean
choose_disks(test_host *host, ferry_domain_obj *obj, const ferry_migrate_params *params,
             ferry_migration_cookie *cookie, GError **error)
{
    const ferry_domain_def *def = obj->live;

    if (!storage_offered(host, "Begin3", error))
        return FALSE;
    for (gsize i = 0; params->migrate_disks && params->migrate_disks[i]; i++) {
        if (!add_disk_to_copy(def, params->migrate_disks[i], cookie, error))
            return FALSE;
    }
    for (guint i = 0; !params->migrate_disks && i < def->disks->len; i++) {
        const ferry_disk_def *disk = def->disks->pdata[i];

        if (!disk->readonly && !add_disk_to_copy(def, disk->target, cookie, error))
            return FALSE;
    }
    record_disks(host, cookie->disks, 0);
    return TRUE;
}

/*
 * Prepare of a storage migration: the disks Begin listed must exist in the
 * incoming definition @def; @out announces them and the NBD port.
 */
static gboolean
receive_disks(test_host *host, const ferry_migrate_params *params,
              const ferry_domain_def *def, const GPtrArray *disks,
              ferry_migration_cookie *out, GError **error)
{
    for (guint i = 0; i < disks->len; i++) {
        const ferry_cookie_disk *disk = disks->pdata[i];

        if (!ferry_domain_def_find_disk(def, disk->target)) {
            g_set_error(error, FERRY_ERROR, FERRY_ERROR_INVALID_ARG,
                        "domain '%s' has no disk '%s'", def->name, disk->target);
            return FALSE;
        }
        ferry_migration_cookie_add_disk(out, disk->target, disk->format, disk->capacity);
    }
    out->has_nbd = TRUE;
    out->nbd_port = params->disks_port ? params->disks_port : TEST_NBD_PORT;
    record_disks(host, out->disks, out->nbd_port);
    return TRUE;
}

/* ------------------------------------------------------------------------ */
/* Source side                                                               */
/* ------------------------------------------------------------------------ */

/*
 * The XML Begin hands the destination: @params->dxml when given (it must
 * describe the same domain), else the running definition, or the
 * persistent one offline.  Lock of @obj held.
 */
static char *
begin_xml(ferry_domain_obj *obj, const ferry_migrate_params *params, GError **error)
{
    g_autoptr(ferry_domain_def) def = NULL;

    if (!params->dxml)
        return ferry_domain_def_format(obj->live ? obj->live : obj->def);
    def = ferry_domain_def_parse_string(params->dxml, "params->dxml", 0, error);
    if (!def)
        return NULL;
    if (strcmp(def->uuid, obj->uuid) != 0) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_INVALID_ARG,
                    "params->dxml describes uuid %s, not domain '%s' (uuid %s)", def->uuid,
                    obj->name, obj->uuid);
        return NULL;
    }
    return ferry_domain_def_format(def);
}

/* Begin's checks and outputs, with the job held. */
static char *
begin_locked(test_host *host, ferry_domain_obj *obj, const ferry_migrate_params *params,
             ferry_migration_cookie *cookie, GError **error)
{
    g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&obj->lock);
    gboolean offline = (params->flags & FERRY_MIGRATE_OFFLINE) != 0;
    gboolean active = ferry_domain_obj_is_active(obj);
    char *xml;

    if (!active && !offline) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_OPERATION_INVALID,
                    "domain '%s' is not running: only FERRY_MIGRATE_OFFLINE moves it",
                    obj->name);
        return NULL;
    }
    if (active && offline) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_OPERATION_INVALID,
                    "domain '%s' is running: FERRY_MIGRATE_OFFLINE is for domains that "
                    "are shut off", obj->name);
        return NULL;
    }
    if ((params->flags & NON_SHARED) && !choose_disks(host, obj, params, cookie, error))
        return NULL;
    xml = begin_xml(obj, params, error);
    if (!xml)
        return NULL;
    cookie->dom_name = g_strdup(obj->name);
    cookie->dom_uuid = g_strdup(obj->uuid);
    if (params->flags & FERRY_MIGRATE_PERSIST_DEST)
        cookie->persistent = ferry_domain_def_copy(obj->def ? obj->def : obj->live);
    priv_start(obj, cookie->id, "begin")->disk_total =
        (guint64)cookie->disks->len * TEST_DISK_BYTES;
    return xml;
}

char *
test_domain_migrate_begin3(ferry_domain *dom, const ferry_migrate_params *params,
                           char **ret_cookie_out, GError **error)
{
    test_host *host = test_host_of(dom->conn);
    g_autoptr(ferry_domain_obj) obj = NULL;
    g_autoptr(ferry_migration_cookie) cookie = NULL;
    g_autofree char *owner = NULL;
    g_autofree char *xml = NULL;

    if (!offers(host, 3, "Begin3", error))
        return NULL;
    record_params(host, params);
    obj = ferry_domain_obj_list_lookup(host->domains, dom, host->hostname, error);
    if (!obj)
        return NULL;
    cookie = ferry_migration_cookie_new(NULL, host->host_uuid, host->hostname);
    owner = g_strdup_printf("migration %s", cookie->id);
    if (!ferry_domain_obj_begin_job(obj, FERRY_JOB_MIGRATION_OUT, owner, error))
        return NULL;
    xml = begin_locked(host, obj, params, cookie, error);
    if (!xml || !inject(host, "begin", error)) {
        end_job(obj, FERRY_JOB_INFO_FAILED);
        return NULL;
    }
    ferry_domain_obj_emit_event(host->bus, obj, FERRY_EVENT_MIGRATION_BEGIN, 0);
    *ret_cookie_out = format_cookie(cookie);
    return g_steal_pointer(&xml);
}

/*
 * The source domain whose outgoing migration @id (NULL: whichever) the
 * caller continues in @phase.
 */
static ferry_domain_obj *
source_job(test_host *host, ferry_domain *dom, const char *id, const char *phase,
           GError **error)
{
    g_autoptr(ferry_domain_obj) obj =
        ferry_domain_obj_list_lookup(host->domains, dom, host->hostname, error);
    mig_priv *priv;
    gboolean ours;

    if (!obj)
        return NULL;
    g_mutex_lock(&obj->lock);
    priv = obj->priv;
    ours = obj->job == FERRY_JOB_MIGRATION_OUT && priv &&
           (!id || g_strcmp0(priv->id, id) == 0);
    if (ours)
        priv->phase = phase;
    g_mutex_unlock(&obj->lock);
    if (!ours) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_OPERATION_INVALID,
                    "domain '%s' has no outgoing migration%s%s to continue in %s",
                    obj->name, id ? " " : "", id ? id : "", phase);
        return NULL;
    }
    return g_steal_pointer(&obj);
}

/* hold=perform: announce the job and wait until someone reads its
 * information (test_domain_get_job_info). */
static gboolean
wait_for_reader(test_host *host, ferry_domain_obj *obj, GError **error)
{
    gint64 deadline = g_get_monotonic_time() + HOLD_SECONDS * G_TIME_SPAN_SECOND;
    mig_priv *priv;
    gboolean seen;

    g_mutex_lock(&obj->lock);
    priv = priv_of(obj);
    priv->hold_waiting = TRUE;
    priv->hold_seen = FALSE;
    g_mutex_unlock(&obj->lock);

    ferry_domain_obj_emit_event(host->bus, obj, FERRY_EVENT_JOB_PROGRESS, 0);

    g_mutex_lock(&obj->lock);
    while (!priv->hold_seen) {
        if (!g_cond_wait_until(&priv->hold_cond, &obj->lock, deadline))
            break;
    }
    seen = priv->hold_seen;
    priv->hold_waiting = FALSE;
    g_mutex_unlock(&obj->lock);
    if (!seen)
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_TIMEOUT,
                    "hold=perform: nobody read the job information of domain '%s' "
                    "within %d seconds", obj->name, HOLD_SECONDS);
    return seen;
}

/* Perform in v1: the destination had nothing yet; it gets the domain from
 * the source's definition, already received. */
static ferry_domain_obj *
create_v1_incoming(test_host *dest, ferry_domain_obj *src, const ferry_migrate_params *params,
                   const char *id, GError **error);

/* Marks the destination's incoming domain of migration @id as received. */
static gboolean
deliver(test_host *dest, ferry_domain_obj *src, const ferry_migrate_params *params,
        const char *id, GError **error)
{
    g_autoptr(ferry_domain_obj) incoming =
        ferry_domain_obj_list_find_by_uuid(dest->domains, src->uuid);
    gboolean pending_v1;
    gboolean ours = FALSE;

    g_mutex_lock(&dest->lock);
    pending_v1 = g_hash_table_remove(dest->pending_v1, id);
    g_mutex_unlock(&dest->lock);
    if (pending_v1) {
        g_clear_pointer(&incoming, ferry_domain_obj_unref);
        incoming = create_v1_incoming(dest, src, params, id, error);
        return incoming != NULL;
    }
    if (incoming) {
        g_mutex_lock(&incoming->lock);
        ours = incoming->job == FERRY_JOB_MIGRATION_IN && incoming->priv &&
               g_strcmp0(((mig_priv *)incoming->priv)->id, id) == 0;
        if (ours)
            ((mig_priv *)incoming->priv)->received = TRUE;
        g_mutex_unlock(&incoming->lock);
    }
    if (!ours)
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_MIGRATE,
                    "host '%s' expects no migration %s of domain '%s' (uuid %s)",
                    dest->hostname, id, src->name, src->uuid);
    return ours;
}

/*
 * The source's side of sending: pause it, (hold,) fail if asked, deliver to
 * the destination of @params->uri.  On failure the source may be left
 * paused: the caller resumes it (v1/v2) or Confirm does (v3).
 */
static gboolean
transfer(test_host *host, ferry_domain_obj *obj, const ferry_migrate_params *params,
         const char *id, GError **error)
{
    gint64 start = g_get_monotonic_time();
    g_autoptr(test_host) dest = NULL;
    gboolean pause;
    mig_priv *priv;

    g_mutex_lock(&obj->lock);
    priv = priv_of(obj);
    priv->phase = "perform";
    pause = obj->state == FERRY_DOMAIN_RUNNING;
    if (pause) {
        ferry_domain_obj_set_state(obj, FERRY_DOMAIN_PAUSED, FERRY_PAUSED_MIGRATION);
        priv->paused_by_us = TRUE;
    }
    g_mutex_unlock(&obj->lock);
    if (pause)
        ferry_domain_obj_emit_lifecycle(host->bus, obj, FERRY_LIFECYCLE_SUSPENDED);

    if (g_strcmp0(host->hold, "perform") == 0 && !wait_for_reader(host, obj, error))
        return FALSE;
    if (!inject(host, "perform", error))
        return FALSE;
    dest = find_destination(params->uri, error);
    if (!dest || !deliver(dest, obj, params, id, error))
        return FALSE;

    g_mutex_lock(&obj->lock);
    priv->mem_processed = priv->mem_total;
    priv->disk_processed = priv->disk_total;
    priv->total_ms = MAX((g_get_monotonic_time() - start) / 1000, 1);
    priv->downtime_ms = 1;
    g_mutex_unlock(&obj->lock);
    return TRUE;
}

/* Confirm after a failure: a source Perform paused runs again. */
static void
resume_source(test_host *host, ferry_domain_obj *obj)
{
    gboolean resume;

    g_mutex_lock(&obj->lock);
    resume = priv_of(obj)->paused_by_us && obj->state == FERRY_DOMAIN_PAUSED;
    priv_of(obj)->paused_by_us = FALSE;
    if (resume)
        ferry_domain_obj_set_state(obj, FERRY_DOMAIN_RUNNING, FERRY_RUNNING_MIGRATION_CANCELED);
    g_mutex_unlock(&obj->lock);
    if (resume)
        ferry_domain_obj_emit_lifecycle(host->bus, obj, FERRY_LIFECYCLE_RESUMED);
}

/* Confirm after success: the domain left; a transient one is gone. */
static void
kill_source(test_host *host, ferry_domain_obj *obj, const ferry_migrate_params *params)
{
    gboolean was_active;
    gboolean undefined = FALSE;
    gboolean gone;

    g_mutex_lock(&obj->lock);
    was_active = ferry_domain_obj_is_active(obj);
    if (was_active) {
        g_clear_pointer(&obj->live, ferry_domain_def_free);
        ferry_domain_obj_set_state(obj, FERRY_DOMAIN_SHUTOFF, FERRY_SHUTOFF_MIGRATED);
    }
    if ((params->flags & FERRY_MIGRATE_UNDEFINE_SOURCE) && obj->def) {
        g_clear_pointer(&obj->def, ferry_domain_def_free);
        undefined = TRUE;
    }
    gone = obj->def == NULL;
    g_mutex_unlock(&obj->lock);
    if (gone)
        ferry_domain_obj_list_remove(host->domains, obj);
    if (was_active)
        ferry_domain_obj_emit_lifecycle(host->bus, obj, FERRY_LIFECYCLE_STOPPED);
    if (undefined)
        ferry_domain_obj_emit_lifecycle(host->bus, obj, FERRY_LIFECYCLE_UNDEFINED);
}

/* The statistics Perform reports in its cookie. */
static void
add_statistics(ferry_migration_cookie *cookie, ferry_domain_obj *obj)
{
    g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&obj->lock);
    mig_priv *priv = priv_of(obj);

    cookie->has_stats = TRUE;
    cookie->total_ms = priv->total_ms;
    cookie->downtime_ms = priv->downtime_ms;
    cookie->data_total = priv->mem_total;
    cookie->data_transferred = priv->mem_processed;
    cookie->disk_total = priv->disk_total;
    cookie->disk_transferred = priv->disk_processed;
}

/* Perform of a storage migration: the disks go to the NBD port Prepare
 * announced, so there must be one. */
static gboolean
check_nbd_announced(ferry_domain_obj *obj, const ferry_migrate_params *params,
                    const ferry_migration_cookie *in, GError **error)
{
    gboolean disks;

    g_mutex_lock(&obj->lock);
    disks = priv_of(obj)->disk_total > 0;
    g_mutex_unlock(&obj->lock);
    if (!(params->flags & NON_SHARED) || !disks || (in->has_nbd && in->nbd_port))
        return TRUE;
    g_set_error(error, FERRY_ERROR, FERRY_ERROR_MIGRATE,
                "Perform3: the destination announced no NBD port for the disks of domain "
                "'%s'", obj->name);
    return FALSE;
}

/* Peer-to-peer: this host runs the whole v3 sequence itself. */
static gboolean
perform_p2p(test_host *host, ferry_domain *dom, const ferry_migrate_params *params,
            const char *dconn_uri, char **ret_cookie_out, GError **error)
{
    g_autoptr(ferry_conn) dconn = ferry_conn_open(dconn_uri, error);
    g_autoptr(ferry_domain) ddom = NULL;
    g_autoptr(ferry_migration_cookie) cookie = NULL;
    ferry_migrate_stats stats = { 0 };

    if (!dconn)
        return FALSE;
    ddom = ferry_migrate_run_v3(dom, dconn, params, &stats, error);
    if (!ddom)
        return FALSE;
    cookie = ferry_migration_cookie_new(NULL, host->host_uuid, host->hostname);
    cookie->has_stats = TRUE;
    cookie->total_ms = stats.total_ms;
    cookie->downtime_ms = stats.downtime_ms;
    cookie->setup_ms = stats.setup_ms;
    cookie->data_total = stats.data_total;
    cookie->data_transferred = stats.data_transferred;
    cookie->disk_total = stats.disk_total;
    cookie->disk_transferred = stats.disk_transferred;
    *ret_cookie_out = format_cookie(cookie);
    return TRUE;
}

gboolean
test_domain_migrate_perform3(ferry_domain *dom, const ferry_migrate_params *params,
                             const char *dconn_uri, const char *cookie_in,
                             char **ret_cookie_out, GError **error)
{
    test_host *host = test_host_of(dom->conn);
    g_autoptr(ferry_migration_cookie) in = NULL;
    g_autoptr(ferry_migration_cookie) out = NULL;
    g_autoptr(ferry_domain_obj) obj = NULL;

    if (!offers(host, 3, "Perform3", error))
        return FALSE;
    record_params(host, params);
    if (params->flags & FERRY_MIGRATE_PEER2PEER)
        return perform_p2p(host, dom, params, dconn_uri, ret_cookie_out, error);
    in = parse_cookie(cookie_in, "Perform3", error);
    if (!in)
        return FALSE;
    obj = source_job(host, dom, in->id, "perform", error);
    if (!obj || !check_nbd_announced(obj, params, in, error))
        return FALSE;
    out = ferry_migration_cookie_new(in->id, host->host_uuid, host->hostname);
    /* Offline, only the definition travels: there is nothing to send. */
    if (!(params->flags & FERRY_MIGRATE_OFFLINE)) {
        if (!transfer(host, obj, params, in->id, error))
            return FALSE;
        add_statistics(out, obj);
    }
    if (params->flags & FERRY_MIGRATE_PERSIST_DEST) {
        g_mutex_lock(&obj->lock);
        out->persistent = ferry_domain_def_copy(obj->def ? obj->def : obj->live);
        g_mutex_unlock(&obj->lock);
    }
    *ret_cookie_out = format_cookie(out);
    return TRUE;
}

gboolean
test_domain_migrate_confirm3(ferry_domain *dom, const ferry_migrate_params *params,
                             const char *cookie_in, gboolean cancelled, GError **error)
{
    test_host *host = test_host_of(dom->conn);
    g_autoptr(ferry_migration_cookie) in = NULL;
    g_autoptr(ferry_domain_obj) obj = NULL;

    if (!offers(host, 3, "Confirm3", error))
        return FALSE;
    record_params(host, params);
    if (cookie_in) {
        in = parse_cookie(cookie_in, "Confirm3", error);
        if (!in)
            return FALSE;
    }
    obj = source_job(host, dom, in ? in->id : NULL, "confirm", error);
    if (!obj)
        return FALSE;
    /* Before acting: the source stays paused, its job held, in doubt. */
    if (!inject(host, "confirm", error))
        return FALSE;
    if (cancelled) {
        resume_source(host, obj);
        end_job(obj, FERRY_JOB_INFO_FAILED);
    } else {
        kill_source(host, obj, params);
        end_job(obj, FERRY_JOB_INFO_COMPLETED);
    }
    return TRUE;
}

gboolean
test_domain_migrate_perform(ferry_domain *dom, const ferry_migrate_params *params,
                            const char *cookie_in, GError **error)
{
    test_host *host = test_host_of(dom->conn);
    g_autoptr(ferry_migration_cookie) in = NULL;
    g_autoptr(ferry_domain_obj) obj = NULL;
    g_autofree char *owner = NULL;
    gboolean active;

    if (!offers(host, 1, "Perform", error) || !refuse_storage(params, "Perform", error))
        return FALSE;
    /* v1 and v2 have no Begin: the same-host check is here. */
    in = parse_peer_cookie(host, cookie_in, "Perform", error);
    if (!in)
        return FALSE;
    obj = ferry_domain_obj_list_lookup(host->domains, dom, host->hostname, error);
    if (!obj)
        return FALSE;
    owner = g_strdup_printf("migration %s", in->id);
    if (!ferry_domain_obj_begin_job(obj, FERRY_JOB_MIGRATION_OUT, owner, error))
        return FALSE;
    g_mutex_lock(&obj->lock);
    active = ferry_domain_obj_is_active(obj);
    if (active)
        priv_start(obj, in->id, "perform");
    g_mutex_unlock(&obj->lock);
    if (!active) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_OPERATION_INVALID,
                    "domain '%s' is not running: protocols v1 and v2 only move running "
                    "domains", obj->name);
        ferry_domain_obj_end_job(obj);
        return FALSE;
    }
    /* Perform of v1 and v2 ends the migration on the source. */
    if (!transfer(host, obj, params, in->id, error)) {
        resume_source(host, obj);
        end_job(obj, FERRY_JOB_INFO_FAILED);
        return FALSE;
    }
    kill_source(host, obj, params);
    end_job(obj, FERRY_JOB_INFO_COMPLETED);
    return TRUE;
}

/* ------------------------------------------------------------------------ */
/* Destination side                                                          */
/* ------------------------------------------------------------------------ */

/* Removes what Prepare made for an incoming domain. */
static void
drop_incoming(test_host *host, ferry_domain_obj *obj)
{
    gboolean was_active;
    gboolean gone;

    g_mutex_lock(&obj->lock);
    was_active = ferry_domain_obj_is_active(obj);
    g_clear_pointer(&obj->live, ferry_domain_def_free);
    if (priv_of(obj)->offline)
        g_clear_pointer(&obj->def, ferry_domain_def_free);
    ferry_domain_obj_set_state(obj, FERRY_DOMAIN_SHUTOFF, FERRY_SHUTOFF_FAILED);
    gone = obj->def == NULL;
    g_mutex_unlock(&obj->lock);
    if (gone)
        ferry_domain_obj_list_remove(host->domains, obj);
    if (was_active)
        ferry_domain_obj_emit_lifecycle(host->bus, obj, FERRY_LIFECYCLE_STOPPED);
}

/* Offline, the definition alone arrives: nothing of that name or uuid may
 * exist yet. */
static ferry_domain_obj *
add_offline(test_host *host, ferry_domain_def *def, GError **error)
{
    g_autoptr(ferry_domain_def) owned = def;
    g_autoptr(ferry_domain_obj) by_name =
        ferry_domain_obj_list_find_by_name(host->domains, def->name);
    g_autoptr(ferry_domain_obj) by_uuid =
        ferry_domain_obj_list_find_by_uuid(host->domains, def->uuid);

    if (by_name || by_uuid) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_DOMAIN_EXISTS,
                    "host '%s' already has a domain named '%s' or with uuid %s",
                    host->hostname, def->name, def->uuid);
        return NULL;
    }
    return ferry_domain_obj_list_define(host->domains, g_steal_pointer(&owned), NULL, error);
}

/*
 * Adds the incoming domain of migration @id from @def (taken) and takes its
 * migration job: paused (reason migration) when live, a definition only
 * when offline.
 */
static ferry_domain_obj *
add_incoming(test_host *host, ferry_domain_def *def, const ferry_migrate_params *params,
             const char *id, gboolean received, GError **error)
{
    gboolean offline = (params->flags & FERRY_MIGRATE_OFFLINE) != 0;
    g_autoptr(ferry_domain_obj) obj = NULL;
    g_autofree char *owner = g_strdup_printf("migration %s", id);
    mig_priv *priv;

    if (params->dname) {
        g_free(def->name);
        def->name = g_strdup(params->dname);
    }
    obj = offline ? add_offline(host, def, error)
                  : ferry_domain_obj_list_add_transient(host->domains, def, error);
    if (!obj)
        return NULL;
    if (!ferry_domain_obj_begin_job(obj, FERRY_JOB_MIGRATION_IN, owner, error)) {
        drop_incoming(host, obj);
        return NULL;
    }
    g_mutex_lock(&obj->lock);
    priv = priv_start(obj, id, "prepare");
    priv->offline = offline;
    priv->received = received;
    if (!offline)
        ferry_domain_obj_set_state(obj, FERRY_DOMAIN_PAUSED, FERRY_PAUSED_MIGRATION);
    g_mutex_unlock(&obj->lock);
    if (!offline)
        ferry_domain_obj_emit_lifecycle(host->bus, obj, FERRY_LIFECYCLE_STARTED);
    return g_steal_pointer(&obj);
}

static ferry_domain_obj *
create_v1_incoming(test_host *dest, ferry_domain_obj *src, const ferry_migrate_params *params,
                   const char *id, GError **error)
{
    ferry_domain_def *def;

    g_mutex_lock(&src->lock);
    def = ferry_domain_def_copy(src->live);
    g_mutex_unlock(&src->lock);
    return add_incoming(dest, def, params, id, TRUE, error);
}

/* The migration URI a Prepare returns: the caller's, if it names this host. */
static gboolean
choose_uri(test_host *host, const ferry_migrate_params *params, char **ret_uri,
           GError **error)
{
    g_autofree char *ours = migration_uri(host);

    if (params->uri && strcmp(params->uri, ours) != 0) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_INVALID_URI,
                    "migration URI '%s' does not name test host '%s' (use %s or none)",
                    params->uri, host->hostname, ours);
        return FALSE;
    }
    *ret_uri = g_steal_pointer(&ours);
    return TRUE;
}

/* Prepare of v3 and v2: the incoming domain from @dom_xml; @disks
 * (ferry_cookie_disk*), for a storage migration, those Begin listed. */
static gboolean
prepare_incoming(test_host *host, const ferry_migrate_params *params, const char *dom_xml,
                 const char *id, const GPtrArray *disks, char **ret_cookie_out,
                 char **ret_uri_out, GError **error)
{
    g_autoptr(ferry_migration_cookie) out =
        ferry_migration_cookie_new(id, host->host_uuid, host->hostname);
    g_autoptr(ferry_domain_obj) obj = NULL;
    g_autoptr(ferry_domain_def) def = NULL;
    g_autofree char *uri = NULL;

    if (!inject(host, "prepare", error) || !choose_uri(host, params, &uri, error))
        return FALSE;
    def = ferry_domain_def_parse_string(dom_xml, "the migrated domain's XML", 0, error);
    if (!def || (disks && !receive_disks(host, params, def, disks, out, error)))
        return FALSE;
    obj = add_incoming(host, g_steal_pointer(&def), params, id, FALSE, error);
    if (!obj)
        return FALSE;
    *ret_cookie_out = format_cookie(out);
    *ret_uri_out = g_steal_pointer(&uri);
    return TRUE;
}

gboolean
test_conn_migrate_prepare3(ferry_conn *dconn, const ferry_migrate_params *params,
                           const char *dom_xml, const char *cookie_in,
                           char **ret_cookie_out, char **ret_uri_out, GError **error)
{
    test_host *host = test_host_of(dconn);
    g_autoptr(ferry_migration_cookie) in = NULL;

    if (!offers(host, 3, "Prepare3", error))
        return FALSE;
    record_params(host, params);
    if ((params->flags & NON_SHARED) && !storage_offered(host, "Prepare3", error))
        return FALSE;
    in = parse_peer_cookie(host, cookie_in, "Prepare3", error);
    if (!in)
        return FALSE;
    return prepare_incoming(host, params, dom_xml, in->id,
                            (params->flags & NON_SHARED) ? in->disks : NULL, ret_cookie_out,
                            ret_uri_out, error);
}

gboolean
test_conn_migrate_prepare2(ferry_conn *dconn, const ferry_migrate_params *params,
                           const char *dom_xml, char **ret_cookie_out, char **ret_uri_out,
                           GError **error)
{
    test_host *host = test_host_of(dconn);
    g_autofree char *id = g_uuid_string_random();

    if (!offers(host, 2, "Prepare2", error) || !refuse_storage(params, "Prepare2", error))
        return FALSE;
    return prepare_incoming(host, params, dom_xml, id, NULL, ret_cookie_out, ret_uri_out,
                            error);
}

gboolean
test_conn_migrate_prepare(ferry_conn *dconn, const ferry_migrate_params *params,
                          char **ret_cookie_out, char **ret_uri_out, GError **error)
{
    test_host *host = test_host_of(dconn);
    g_autoptr(ferry_migration_cookie) out = NULL;
    g_autofree char *uri = NULL;

    if (!offers(host, 1, "Prepare", error) || !refuse_storage(params, "Prepare", error) ||
        !inject(host, "prepare", error) ||
        !choose_uri(host, params, &uri, error))
        return FALSE;
    out = ferry_migration_cookie_new(NULL, host->host_uuid, host->hostname);
    g_mutex_lock(&host->lock);
    g_hash_table_add(host->pending_v1, g_strdup(out->id));
    g_mutex_unlock(&host->lock);
    *ret_cookie_out = format_cookie(out);
    *ret_uri_out = g_steal_pointer(&uri);
    return TRUE;
}

/* The incoming domain @dname of migration @id (NULL: whichever). */
static ferry_domain_obj *
incoming_job(test_host *host, const char *dname, const char *id, const char *phase,
             GError **error)
{
    g_autoptr(ferry_domain_obj) obj = ferry_domain_obj_list_find_by_name(host->domains, dname);
    gboolean ours = FALSE;

    if (obj) {
        g_mutex_lock(&obj->lock);
        ours = obj->job == FERRY_JOB_MIGRATION_IN && obj->priv &&
               (!id || g_strcmp0(((mig_priv *)obj->priv)->id, id) == 0);
        if (ours)
            ((mig_priv *)obj->priv)->phase = phase;
        g_mutex_unlock(&obj->lock);
    }
    if (!ours) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_NO_DOMAIN,
                    "%s: host '%s' has no incoming migration%s%s of a domain named '%s'",
                    phase, host->hostname, id ? " " : "", id ? id : "", dname);
        return NULL;
    }
    return g_steal_pointer(&obj);
}

/* Gives the incoming domain the persistent definition @persistent (or its
 * own running one), under its destination name. */
static gboolean
persist(test_host *host, ferry_domain_obj *obj, const ferry_domain_def *persistent,
        GError **error)
{
    g_autoptr(ferry_domain_obj) same = NULL;
    ferry_domain_def *def;

    g_mutex_lock(&obj->lock);
    def = ferry_domain_def_copy(persistent ? persistent : obj->live ? obj->live : obj->def);
    g_mutex_unlock(&obj->lock);
    g_free(def->name);
    def->name = g_strdup(obj->name);
    same = ferry_domain_obj_list_define(host->domains, def, NULL, error);
    if (!same)
        return FALSE;
    ferry_domain_obj_emit_lifecycle(host->bus, obj, FERRY_LIFECYCLE_DEFINED);
    return TRUE;
}

/* Finish of every protocol: keep and run the incoming domain, or drop it. */
static ferry_domain *
finish_incoming(ferry_conn *dconn, const ferry_migrate_params *params, const char *dname,
                const ferry_migration_cookie *in, gboolean ok, const char *phase,
                GError **error)
{
    test_host *host = test_host_of(dconn);
    g_autoptr(ferry_domain_obj) obj =
        incoming_job(host, dname, in ? in->id : NULL, "finish", error);
    gboolean received;
    gboolean offline;

    if (!obj)
        return NULL;
    if (!ok) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_MIGRATE,
                    "%s: the source failed to send domain '%s'; host '%s' removed its "
                    "incoming copy", phase, dname, host->hostname);
        drop_incoming(host, obj);
        end_job(obj, FERRY_JOB_INFO_FAILED);
        return NULL;
    }
    g_mutex_lock(&obj->lock);
    offline = priv_of(obj)->offline;
    received = priv_of(obj)->received || offline;
    g_mutex_unlock(&obj->lock);
    if (!received)
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_MIGRATE,
                    "%s: domain '%s' never arrived on host '%s'", phase, dname,
                    host->hostname);
    if (!received || !inject(host, "finish", error) ||
        ((params->flags & FERRY_MIGRATE_PERSIST_DEST) &&
         !persist(host, obj, in ? in->persistent : NULL, error))) {
        drop_incoming(host, obj);
        end_job(obj, FERRY_JOB_INFO_FAILED);
        return NULL;
    }
    if (!offline && (params->flags & FERRY_MIGRATE_PAUSED))
        set_state(host, obj, FERRY_DOMAIN_PAUSED, FERRY_PAUSED_USER, FERRY_LIFECYCLE_SUSPENDED);
    else if (!offline)
        set_state(host, obj, FERRY_DOMAIN_RUNNING, FERRY_RUNNING_MIGRATED,
                  FERRY_LIFECYCLE_RESUMED);
    end_job(obj, FERRY_JOB_INFO_COMPLETED);
    return ferry_domain_new_handle(dconn, obj->name, obj->uuid);
}

/* Parses an optional cookie: NULL is allowed, a bad one is not. */
static gboolean
parse_optional(const char *xml, const char *phase, ferry_migration_cookie **ret_cookie,
               GError **error)
{
    *ret_cookie = NULL;
    if (!xml)
        return TRUE;
    *ret_cookie = parse_cookie(xml, phase, error);
    return *ret_cookie != NULL;
}

ferry_domain *
test_conn_migrate_finish3(ferry_conn *dconn, const ferry_migrate_params *params,
                          const char *dname, const char *cookie_in, char **ret_cookie_out,
                          gboolean cancelled, GError **error)
{
    test_host *host = test_host_of(dconn);
    g_autoptr(ferry_migration_cookie) in = NULL;
    g_autoptr(ferry_migration_cookie) out = NULL;
    ferry_domain *ddom;

    if (!offers(host, 3, "Finish3", error))
        return NULL;
    record_params(host, params);
    if (!parse_optional(cookie_in, "Finish3", &in, error))
        return NULL;
    ddom = finish_incoming(dconn, params, dname, in, !cancelled, "Finish3", error);
    if (!ddom)
        return NULL;
    out = ferry_migration_cookie_new(in ? in->id : NULL, host->host_uuid, host->hostname);
    out->has_result = TRUE;
    out->result_ok = TRUE;
    *ret_cookie_out = format_cookie(out);
    return ddom;
}

ferry_domain *
test_conn_migrate_finish2(ferry_conn *dconn, const ferry_migrate_params *params,
                          const char *dname, const char *cookie_in, gboolean ok,
                          GError **error)
{
    g_autoptr(ferry_migration_cookie) in = NULL;

    if (!offers(test_host_of(dconn), 2, "Finish2", error) ||
        !parse_optional(cookie_in, "Finish2", &in, error))
        return NULL;
    return finish_incoming(dconn, params, dname, in, ok, "Finish2", error);
}

ferry_domain *
test_conn_migrate_finish(ferry_conn *dconn, const ferry_migrate_params *params,
                         const char *dname, const char *cookie_in, GError **error)
{
    g_autoptr(ferry_migration_cookie) in = NULL;

    if (!offers(test_host_of(dconn), 1, "Finish", error) ||
        !parse_optional(cookie_in, "Finish", &in, error))
        return NULL;
    return finish_incoming(dconn, params, dname, in, TRUE, "Finish", error);
}

/* ------------------------------------------------------------------------ */
/* Job information                                                           */
/* ------------------------------------------------------------------------ */

gboolean
test_domain_get_job_info(ferry_domain *dom, ferry_job_info *ret_info, GError **error)
{
    test_host *host = test_host_of(dom->conn);
    g_autoptr(ferry_domain_obj) obj =
        ferry_domain_obj_list_lookup(host->domains, dom, host->hostname, error);
    g_autoptr(GMutexLocker) locker = NULL;
    gboolean migrating;
    mig_priv *priv;

    if (!obj)
        return FALSE;
    locker = g_mutex_locker_new(&obj->lock);
    priv = obj->priv;
    memset(ret_info, 0, sizeof(*ret_info));
    if (!priv)
        return TRUE;
    migrating = obj->job == FERRY_JOB_MIGRATION_OUT || obj->job == FERRY_JOB_MIGRATION_IN;
    if (!migrating && priv->last == FERRY_JOB_INFO_NONE)
        return TRUE;
    ret_info->type = migrating ? FERRY_JOB_INFO_ACTIVE : priv->last;
    g_strlcpy(ret_info->phase, migrating ? priv->phase : "", sizeof(ret_info->phase));
    ret_info->elapsed_ms = (g_get_monotonic_time() - priv->start_us) / 1000;
    ret_info->mem_total = priv->mem_total;
    ret_info->mem_processed = priv->mem_processed;
    ret_info->mem_remaining = priv->mem_total - priv->mem_processed;
    ret_info->disk_total = priv->disk_total;
    ret_info->disk_processed = priv->disk_processed;
    ret_info->disk_remaining = priv->disk_total - priv->disk_processed;
    ret_info->downtime_ms = priv->downtime_ms;
    ret_info->total_ms = priv->total_ms;
    if (priv->hold_waiting) {
        priv->hold_seen = TRUE;
        g_cond_broadcast(&priv->hold_cond);
    }
    return TRUE;
}
