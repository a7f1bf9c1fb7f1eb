/*
 * test-driver.c: the test driver, a simulated host kept in memory.
 *
 * Owns: `test:///NAME` connections and the process-wide registry of test
 * hosts.  Each open without host_uuid creates a new, empty host with a
 * random uuid, so two connections in one process are two hosts (the
 * migration tests rely on that); an open with host_uuid=U reaches the host
 * U of this process if one exists, else creates it.  Domains follow the QEMU
 * driver's semantics where a caller can see them: the same states, reasons,
 * events and errors.  It runs nothing: a "running" domain is a state in
 * memory.  Migration is in test-migrate.c.
 *
 * URI parameters (the only place they are listed):
 *   host_uuid=UUID   the host's uuid (default: random); an existing host
 *                    of this process with that uuid is reconnected to, which
 *                    is how a peer-to-peer migration in one process finds
 *                    its destination (test:///dst?host_uuid=U)
 *   hostname=NAME    the host's name (default: "test-NAME")
 *   migration=V      the highest migration protocol offered: v3 (default;
 *                    also offers peer-to-peer), v2, v1 or none
 *   fail=PHASE       that migration phase fails with "injected failure in
 *                    PHASE": begin, prepare, perform, finish or confirm
 *   hold=perform     the source's transfer starts (a job-progress event
 *                    says so) and does not end until someone reads the
 *                    domain's job information on this host, or
 *                    ferry_test_driver_release() is called: a
 *                    deterministic "slow" migration for tests
 *   hold=finish      the last of an incoming migration's data arrives only
 *                    when ferry_test_driver_release() is called, so that
 *                    Finish waits for it
 *   nbd=yes|no       whether the host offers storage migration over NBD
 *                    (FERRY_FEATURE_MIGRATION_NBD; default no).  With yes,
 *                    the NON_SHARED flags are accepted: nothing is copied,
 *                    the disks asked for are checked against the domain
 *                    and recorded (ferry_test_driver_storage_record())
 *   state_dir=PATH   the migration engine writes its job records there (an
 *                    absolute path); default: none kept
 *   abandon_timeout=S seconds a migration may wait between phases before
 *                    the engine gives up what nothing claims (default 60)
 *   local_storage=PREFIX  a disk whose source starts with PREFIX is on
 *                    storage only this host sees (the migration safety
 *                    rules refuse to leave it behind); default: every disk
 *                    is on shared storage
 *   block_job=TARGET a block job runs on the domains' disk TARGET (the
 *                    safety rules refuse to migrate while one runs)
 *   snapshots=yes|no whether the host's migrations carry snapshot metadata
 *                    (default yes); no: it takes none in Prepare, as a
 *                    daemon older than 0.6 (FERRY_FEATURE_MIGRATION_SNAPSHOTS)
 *   snapshot_stream=truncated|bad-xml  the snapshots this host hands to a
 *                    destination arrive cut short, or with a document that
 *                    is not XML: the destination's refusal, for tests
 * hostname, migration, fail, hold and nbd are the host's: reconnecting with
 * a different value is refused; local_storage and block_job are the first
 * connection's.
 *
 * Each host has its own migration engine (src/migration/), whose peer URI
 * is `test:///peer?host_uuid=UUID`: another host's engine reaches this one
 * through the registry.
 */
#include "ferry-config.h"

#include <string.h>

#include "conf/capabilities.h"
#include "remote/remote-driver.h"
#include "test/test-driver.h"
#include "test/test-host.h"
#include "util/uri.h"

/* The hosts of this process by uuid; a host leaves it when freed. */
static GMutex registry_lock;
static GHashTable *registry;    /* uuid -> test_host* (not referenced) */

static void
test_host_free(test_host *host)
{
    /* The engine first: its jobs hold domains and emit on the bus. */
    ferry_mig_engine_free(host->engine);
    ferry_event_bus_free(host->bus);
    ferry_domain_obj_list_free(host->domains);
    ferry_test_storage_record_free(host->record);
    ferry_snapshot_store_free(host->snapshots);
    g_free(host->state_dir);
    g_free(host->local_storage);
    g_free(host->block_job);
    g_free(host->snapshot_stream);
    g_mutex_clear(&host->lock);
    g_free(host->host_uuid);
    g_free(host->hostname);
    g_free(host->fail);
    g_free(host->hold);
    g_free(host);
}

void
test_host_unref(test_host *host)
{
    gboolean last;

    if (!host)
        return;
    g_mutex_lock(&registry_lock);
    last = g_atomic_int_dec_and_test(&host->ref);
    if (last && g_hash_table_lookup(registry, host->host_uuid) == host)
        g_hash_table_remove(registry, host->host_uuid);
    g_mutex_unlock(&registry_lock);
    if (last)
        test_host_free(host);
}

/* Looks @uuid up with the registry locked; takes a reference. */
static test_host *
find_locked(const char *uuid)
{
    test_host *host = registry ? g_hash_table_lookup(registry, uuid) : NULL;

    if (host)
        g_atomic_int_inc(&host->ref);
    return host;
}

test_host *
test_host_find(const char *uuid)
{
    g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&registry_lock);

    return find_locked(uuid);
}

test_host *
test_host_of(ferry_conn *conn)
{
    return conn->driver_data;
}

static gboolean
test_conn_probe(const ferry_uri *uri)
{
    return strcmp(uri->driver, "test") == 0 && uri->transport == NULL;
}

/* What the URI asks of the host; NULL fields were not given. */
typedef struct {
    const char *uuid;
    const char *hostname;
    const char *migration;
    const char *fail;
    const char *hold;
    const char *nbd;
    const char *state_dir;
    const char *abandon_timeout;
    const char *local_storage;
    const char *block_job;
    const char *snapshots;
    const char *snapshot_stream;
} host_settings;

static gboolean
check_choice(const ferry_uri *uri, const char *param, const char *value,
             const char *const *choices, GError **error)
{
    g_autofree char *list = NULL;

    if (!value || g_strv_contains(choices, value))
        return TRUE;
    list = g_strjoinv(", ", (char **)choices);
    g_set_error(error, FERRY_ERROR, FERRY_ERROR_INVALID_URI,
                "URI '%s': %s '%s' is not one of %s", uri->original, param, value, list);
    return FALSE;
}

static gboolean
read_settings(const ferry_uri *uri, host_settings *s, GError **error)
{
    static const char *const allowed[] = {
        "host_uuid", "hostname", "migration", "fail", "hold", "nbd", "state_dir",
        "abandon_timeout", "local_storage", "block_job", "snapshots", "snapshot_stream", NULL,
    };
    static const char *const streams[] = { "truncated", "bad-xml", NULL };
    static const char *const protocols[] = { "v3", "v2", "v1", "none", NULL };
    static const char *const phases[] = {
        "begin", "prepare", "perform", "finish", "confirm", NULL,
    };
    static const char *const holds[] = { "perform", "finish", NULL };
    static const char *const yes_no[] = { "yes", "no", NULL };

    if (!ferry_uri_check_params(uri, allowed, error))
        return FALSE;
    s->uuid = ferry_uri_get_param(uri, "host_uuid");
    s->hostname = ferry_uri_get_param(uri, "hostname");
    s->migration = ferry_uri_get_param(uri, "migration");
    s->fail = ferry_uri_get_param(uri, "fail");
    s->hold = ferry_uri_get_param(uri, "hold");
    s->nbd = ferry_uri_get_param(uri, "nbd");
    s->state_dir = ferry_uri_get_param(uri, "state_dir");
    s->abandon_timeout = ferry_uri_get_param(uri, "abandon_timeout");
    s->local_storage = ferry_uri_get_param(uri, "local_storage");
    s->block_job = ferry_uri_get_param(uri, "block_job");
    s->snapshots = ferry_uri_get_param(uri, "snapshots");
    s->snapshot_stream = ferry_uri_get_param(uri, "snapshot_stream");
    if (s->state_dir && !g_path_is_absolute(s->state_dir)) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_INVALID_URI,
                    "URI '%s': state_dir '%s' is not an absolute path", uri->original,
                    s->state_dir);
        return FALSE;
    }
    if (s->abandon_timeout &&
        !g_ascii_string_to_unsigned(s->abandon_timeout, 10, 1, 86400, NULL, NULL)) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_INVALID_URI,
                    "URI '%s': abandon_timeout '%s' is not a number of seconds from 1 to "
                    "86400", uri->original, s->abandon_timeout);
        return FALSE;
    }
    if (s->uuid && !g_uuid_string_is_valid(s->uuid)) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_INVALID_URI,
                    "URI '%s': host_uuid '%s' is not a valid uuid", uri->original, s->uuid);
        return FALSE;
    }
    return check_choice(uri, "migration", s->migration, protocols, error) &&
           check_choice(uri, "fail", s->fail, phases, error) &&
           check_choice(uri, "hold", s->hold, holds, error) &&
           check_choice(uri, "nbd", s->nbd, yes_no, error) &&
           check_choice(uri, "snapshots", s->snapshots, yes_no, error) &&
           check_choice(uri, "snapshot_stream", s->snapshot_stream, streams, error);
}

static int
protocol_number(const char *migration)
{
    if (!migration)
        return 3;
    return strcmp(migration, "none") == 0 ? 0 : migration[1] - '0';
}

static test_host *
test_host_new(const char *uuid, const char *name, const host_settings *s)
{
    test_host *host = g_new0(test_host, 1);

    host->ref = 1;
    host->host_uuid = uuid ? g_ascii_strdown(uuid, -1) : g_uuid_string_random();
    host->hostname = s->hostname ? g_strdup(s->hostname) : g_strdup_printf("test-%s", name);
    host->migration = protocol_number(s->migration);
    host->fail = g_strdup(s->fail);
    host->hold = g_strdup(s->hold);
    host->nbd = g_strcmp0(s->nbd, "yes") == 0;
    host->domains = ferry_domain_obj_list_new();
    host->bus = ferry_event_bus_new();
    host->snapshots = ferry_snapshot_store_new();
    host->state_dir = g_strdup(s->state_dir);
    host->local_storage = g_strdup(s->local_storage);
    host->block_job = g_strdup(s->block_job);
    host->snapshots_migrate = g_strcmp0(s->snapshots, "no") != 0;
    host->snapshot_stream = g_strdup(s->snapshot_stream);
    host->abandon_seconds = s->abandon_timeout ? (guint)g_ascii_strtoull(s->abandon_timeout,
                                                                         NULL, 10) : 0;
    g_mutex_init(&host->lock);
    {
        /* Peers in this process, or behind a daemon (the daemon tests). */
        static const ferry_driver *const peers[] = { &ferry_test_driver, &ferry_remote_driver,
                                                     NULL };
        g_autofree char *peer_uri = g_strdup_printf("test:///peer?host_uuid=%s",
                                                    host->host_uuid);
        ferry_mig_engine_config config = {
            .host_uuid = host->host_uuid,
            .hostname = host->hostname,
            .peer_uri = peer_uri,
            .record_dir = host->state_dir,
            .fail_phase = host->fail,
            .abandon_seconds = host->abandon_seconds,
            .nbd = host->nbd,
            .domains = host->domains,
            .bus = host->bus,
            .backend = host->snapshots_migrate ? ferry_test_mig_backend_with_snapshots()
                                               : ferry_test_mig_backend_without_snapshots(),
            .backend_self = host,
            .peer_drivers = peers,
        };

        host->engine = ferry_mig_engine_new(&config);
    }
    return host;
}

/* A reconnection must not ask for other settings than the host has. */
static gboolean
check_same(const ferry_uri *uri, const char *param, const char *asked, const char *has,
           GError **error)
{
    if (!asked || g_strcmp0(asked, has) == 0)
        return TRUE;
    g_set_error(error, FERRY_ERROR, FERRY_ERROR_INVALID_URI,
                "URI '%s': test host %s already exists with %s=%s, not %s", uri->original,
                ferry_uri_get_param(uri, "host_uuid"), param, has ? has : "(unset)", asked);
    return FALSE;
}

static gboolean
check_reconnect(const ferry_uri *uri, const host_settings *s, test_host *host,
                GError **error)
{
    static const char *const names[] = { "none", "v1", "v2", "v3" };

    return check_same(uri, "hostname", s->hostname, host->hostname, error) &&
           check_same(uri, "migration", s->migration, names[host->migration], error) &&
           check_same(uri, "fail", s->fail, host->fail, error) &&
           check_same(uri, "hold", s->hold, host->hold, error) &&
           check_same(uri, "nbd", s->nbd, host->nbd ? "yes" : "no", error) &&
           check_same(uri, "snapshots", s->snapshots, host->snapshots_migrate ? "yes" : "no",
                      error);
}

static gboolean
test_conn_open(ferry_conn *conn, const ferry_uri *uri, GError **error)
{
    g_autoptr(test_host) host = NULL;
    /* Declared after host, so released before: host's unref takes it. */
    g_autoptr(GMutexLocker) locker = NULL;
    g_autofree char *uuid = NULL;
    const char *name = uri->path[0] == '/' ? uri->path + 1 : uri->path;
    host_settings s = { 0 };

    if (!read_settings(uri, &s, error))
        return FALSE;
    if (!*name) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_INVALID_URI,
                    "URI '%s' names no test host (use test:///default)", uri->original);
        return FALSE;
    }
    uuid = s.uuid ? g_ascii_strdown(s.uuid, -1) : g_uuid_string_random();

    locker = g_mutex_locker_new(&registry_lock);
    host = find_locked(uuid);
    if (host) {
        if (!check_reconnect(uri, &s, host, error))
            return FALSE;
    } else {
        host = test_host_new(uuid, name, &s);
        if (!registry)
            registry = g_hash_table_new(g_str_hash, g_str_equal);
        g_hash_table_insert(registry, host->host_uuid, host);
    }
    conn->driver_data = g_steal_pointer(&host);
    return TRUE;
}

static void
test_conn_client_gone(ferry_conn *conn)
{
    ferry_mig_engine_conn_closed(test_host_of(conn)->engine, conn);
}

static void
test_conn_close(ferry_conn *conn)
{
    test_host *host = test_host_of(conn);

    /* Migrations this connection drove lost their client. */
    ferry_mig_engine_conn_closed(host->engine, conn);
    ferry_event_bus_unsubscribe_conn(host->bus, conn);
    test_host_unref(host);
    conn->driver_data = NULL;
}

static char *
test_conn_get_capabilities(ferry_conn *conn, GError **error)
{
    test_host *host = test_host_of(conn);
    g_autoptr(ferry_caps) caps = ferry_caps_new();
    ferry_caps_guest *guest = ferry_caps_add_guest(caps, "hvm", "x86_64");

    caps->host_uuid = g_strdup(host->host_uuid);
    caps->hostname = g_strdup(host->hostname);
    caps->arch = g_strdup("x86_64");
    guest->emulator = g_strdup("/bin/true");
    guest->wordsize = 64;
    g_ptr_array_add(guest->machines, g_strdup("test"));
    g_ptr_array_add(guest->domain_types, g_strdup("test"));
    if (host->migration > 0) {
        caps->migration_live = TRUE;
        g_ptr_array_add(caps->uri_transports, g_strdup("test"));
        for (int v = host->migration; v >= 1; v--)
            g_ptr_array_add(caps->migration_protocols, g_strdup_printf("v%d", v));
    }
    return ferry_caps_format(caps);
}

static char *
test_conn_get_hostname(ferry_conn *conn, GError **error)
{
    return g_strdup(test_host_of(conn)->hostname);
}

static gboolean
test_conn_supports_feature(ferry_conn *conn, ferry_feature feature,
                           gboolean *ret_supported, GError **error)
{
    int offered = test_host_of(conn)->migration;

    switch (feature) {
    case FERRY_FEATURE_EVENTS:
        *ret_supported = TRUE;
        break;
    case FERRY_FEATURE_MIGRATION_V1:
        *ret_supported = offered >= 1;
        break;
    case FERRY_FEATURE_MIGRATION_V2:
        *ret_supported = offered >= 2;
        break;
    case FERRY_FEATURE_MIGRATION_V3:
    case FERRY_FEATURE_MIGRATION_P2P:
        *ret_supported = offered >= 3;
        break;
    case FERRY_FEATURE_MIGRATION_NBD:
        *ret_supported = test_host_of(conn)->nbd;
        break;
    default:
        *ret_supported = FALSE;
        break;
    }
    return TRUE;
}

static gboolean
test_conn_list_domains(ferry_conn *conn, guint flags, GPtrArray **ret_domains,
                       GError **error)
{
    *ret_domains = ferry_domain_obj_list_handles(test_host_of(conn)->domains, conn, flags);
    return TRUE;
}

static guint
test_conn_subscribe_events(ferry_conn *conn, ferry_event_cb callback,
                           gpointer user_data, GDestroyNotify destroy,
                           GError **error)
{
    return ferry_event_bus_subscribe(test_host_of(conn)->bus, conn, callback,
                                     user_data, destroy);
}

static gboolean
test_conn_unsubscribe_events(ferry_conn *conn, guint id, GError **error)
{
    return ferry_event_bus_unsubscribe(test_host_of(conn)->bus, conn, id, error);
}

static void
emit_lifecycle(test_host *host, ferry_domain_obj *obj, ferry_lifecycle_event what)
{
    ferry_domain_obj_emit_lifecycle(host->bus, obj, what);
}

static ferry_domain *
handle_for(ferry_conn *conn, ferry_domain_obj *obj)
{
    return ferry_domain_new_handle(conn, obj->name, obj->uuid);
}

static ferry_domain *
test_domain_lookup_by_name(ferry_conn *conn, const char *name, GError **error)
{
    test_host *host = test_host_of(conn);

    return ferry_domain_obj_list_handle_by_name(host->domains, conn, name, host->hostname,
                                                error);
}

static ferry_domain *
test_domain_lookup_by_uuid(ferry_conn *conn, const char *uuid, GError **error)
{
    test_host *host = test_host_of(conn);

    return ferry_domain_obj_list_handle_by_uuid(host->domains, conn, uuid, host->hostname,
                                                error);
}

static ferry_domain *
test_domain_define_xml(ferry_conn *conn, const char *xml, GError **error)
{
    test_host *host = test_host_of(conn);
    g_autoptr(ferry_domain_obj) obj = NULL;
    ferry_domain_def *def = ferry_domain_def_parse_string(xml, NULL, 0, error);

    if (!def)
        return NULL;
    obj = ferry_domain_obj_list_define(host->domains, def, NULL, error);
    if (!obj)
        return NULL;
    emit_lifecycle(host, obj, FERRY_LIFECYCLE_DEFINED);
    return handle_for(conn, obj);
}

/* Marks an inactive domain running (or paused) and announces it. */
static void
start_locked_job(test_host *host, ferry_domain_obj *obj, guint flags)
{
    gboolean paused = (flags & FERRY_START_PAUSED) != 0;

    g_mutex_lock(&obj->lock);
    if (!obj->live)
        obj->live = ferry_domain_def_copy(obj->def);
    if (paused)
        ferry_domain_obj_set_state(obj, FERRY_DOMAIN_PAUSED, FERRY_PAUSED_STARTING_UP);
    else
        ferry_domain_obj_set_state(obj, FERRY_DOMAIN_RUNNING, FERRY_RUNNING_BOOTED);
    g_mutex_unlock(&obj->lock);
    emit_lifecycle(host, obj, FERRY_LIFECYCLE_STARTED);
}

static ferry_domain *
test_domain_create_xml(ferry_conn *conn, const char *xml, guint flags, GError **error)
{
    test_host *host = test_host_of(conn);
    g_autoptr(ferry_domain_obj) obj = NULL;
    ferry_domain_def *def = ferry_domain_def_parse_string(xml, NULL, 0, error);

    if (!def)
        return NULL;
    obj = ferry_domain_obj_list_add_transient(host->domains, def, error);
    if (!obj)
        return NULL;
    start_locked_job(host, obj, flags);
    return handle_for(conn, obj);
}

/* Looks the domain up and takes its job; on success the caller must end it. */
static ferry_domain_obj *
begin_modify(ferry_domain *dom, const char *what, GError **error)
{
    test_host *host = test_host_of(dom->conn);

    return ferry_domain_obj_list_lookup_job(host->domains, dom, host->hostname, what, error);
}

static void
end_modify(ferry_domain_obj *obj)
{
    ferry_domain_obj_end_job(obj);
    ferry_domain_obj_unref(obj);
}

static gboolean
test_domain_undefine(ferry_domain *dom, guint flags, GError **error)
{
    test_host *host = test_host_of(dom->conn);
    ferry_domain_obj *obj = begin_modify(dom, "undefine", error);
    gboolean active;

    if (!obj)
        return FALSE;
    if (!ferry_domain_obj_check_persistent(obj, error)) {
        end_modify(obj);
        return FALSE;
    }
    g_mutex_lock(&obj->lock);
    g_clear_pointer(&obj->def, ferry_domain_def_free);
    active = ferry_domain_obj_is_active(obj);
    g_mutex_unlock(&obj->lock);
    if (!active)
        ferry_domain_obj_list_remove(host->domains, obj);
    emit_lifecycle(host, obj, FERRY_LIFECYCLE_UNDEFINED);
    end_modify(obj);
    return TRUE;
}

static gboolean
test_domain_start(ferry_domain *dom, guint flags, GError **error)
{
    test_host *host = test_host_of(dom->conn);
    ferry_domain_obj *obj = begin_modify(dom, "start", error);

    if (!obj)
        return FALSE;
    if (!ferry_domain_obj_check_active(obj, FALSE, error)) {
        end_modify(obj);
        return FALSE;
    }
    start_locked_job(host, obj, flags);
    end_modify(obj);
    return TRUE;
}

/* Destroy during a migration: the "process" goes at once, and the job
 * learns it as it would learn a QEMU's exit. */
static gboolean
destroy_migrating(test_host *host, ferry_mig_job *job)
{
    ferry_domain_obj *obj = job->obj;
    gboolean active, transient;

    if (!obj)
        return FALSE;
    g_mutex_lock(&obj->lock);
    active = ferry_domain_obj_is_active(obj);
    if (active) {
        g_clear_pointer(&obj->live, ferry_domain_def_free);
        ferry_domain_obj_set_state(obj, FERRY_DOMAIN_SHUTOFF, FERRY_SHUTOFF_DESTROYED);
    }
    transient = obj->def == NULL;
    g_mutex_unlock(&obj->lock);
    if (!active)
        return FALSE;
    if (transient)
        ferry_domain_obj_list_remove(host->domains, obj);
    ferry_domain_obj_emit_lifecycle(host->bus, obj, FERRY_LIFECYCLE_STOPPED);
    ferry_mig_job_notify(job, FERRY_MIG_EV_EXITED, FERRY_SHUTOFF_DESTROYED, NULL);
    return TRUE;
}

static gboolean
test_domain_destroy(ferry_domain *dom, GError **error)
{
    test_host *host = test_host_of(dom->conn);
    g_autoptr(ferry_mig_job) job = ferry_mig_engine_find_job(host->engine, dom->uuid);
    ferry_domain_obj *obj;
    gboolean transient;

    if (job && destroy_migrating(host, job))
        return TRUE;
    obj = begin_modify(dom, "destroy", error);
    if (!obj)
        return FALSE;
    if (!ferry_domain_obj_check_active(obj, TRUE, error)) {
        end_modify(obj);
        return FALSE;
    }
    g_mutex_lock(&obj->lock);
    g_clear_pointer(&obj->live, ferry_domain_def_free);
    ferry_domain_obj_set_state(obj, FERRY_DOMAIN_SHUTOFF, FERRY_SHUTOFF_DESTROYED);
    transient = obj->def == NULL;
    g_mutex_unlock(&obj->lock);
    if (transient)
        ferry_domain_obj_list_remove(host->domains, obj);
    emit_lifecycle(host, obj, FERRY_LIFECYCLE_STOPPED);
    end_modify(obj);
    return TRUE;
}

/* Moves a domain from state @from to @to_state/@to_reason, or explains why
 * it cannot. */
static gboolean
change_run_state(ferry_domain *dom, const char *what, int from, int to_state,
                 int to_reason, ferry_lifecycle_event event, GError **error)
{
    test_host *host = test_host_of(dom->conn);
    ferry_domain_obj *obj = begin_modify(dom, what, error);

    if (!obj)
        return FALSE;
    if (!ferry_domain_obj_check_state(obj, what, from, error)) {
        end_modify(obj);
        return FALSE;
    }
    g_mutex_lock(&obj->lock);
    ferry_domain_obj_set_state(obj, to_state, to_reason);
    g_mutex_unlock(&obj->lock);
    emit_lifecycle(host, obj, event);
    end_modify(obj);
    return TRUE;
}

static gboolean
test_domain_suspend(ferry_domain *dom, GError **error)
{
    return change_run_state(dom, "suspend", FERRY_DOMAIN_RUNNING, FERRY_DOMAIN_PAUSED,
                            FERRY_PAUSED_USER, FERRY_LIFECYCLE_SUSPENDED, error);
}

static gboolean
test_domain_resume(ferry_domain *dom, GError **error)
{
    return change_run_state(dom, "resume", FERRY_DOMAIN_PAUSED, FERRY_DOMAIN_RUNNING,
                            FERRY_RUNNING_UNPAUSED, FERRY_LIFECYCLE_RESUMED, error);
}

static gboolean
test_domain_get_info(ferry_domain *dom, ferry_domain_info *ret_info, GError **error)
{
    test_host *host = test_host_of(dom->conn);
    g_autoptr(ferry_domain_obj) obj =
        ferry_domain_obj_list_lookup(host->domains, dom, host->hostname, error);

    if (!obj)
        return FALSE;
    g_mutex_lock(&obj->lock);
    ferry_domain_obj_fill_info(obj, ret_info);
    g_mutex_unlock(&obj->lock);
    return TRUE;
}

static char *
test_domain_get_xml(ferry_domain *dom, guint flags, GError **error)
{
    test_host *host = test_host_of(dom->conn);
    g_autoptr(ferry_domain_obj) obj =
        ferry_domain_obj_list_lookup(host->domains, dom, host->hostname, error);
    char *xml;

    if (!obj)
        return NULL;
    g_mutex_lock(&obj->lock);
    xml = ferry_domain_obj_format_xml(obj, flags);
    g_mutex_unlock(&obj->lock);
    return xml;
}

const ferry_driver ferry_test_driver = {
    .name = "test",
    .conn_probe = test_conn_probe,                               /* since 0.1 */
    .conn_open = test_conn_open,                                 /* since 0.1 */
    .conn_close = test_conn_close,                               /* since 0.1 */
    .conn_get_capabilities = test_conn_get_capabilities,         /* since 0.1 */
    .conn_get_hostname = test_conn_get_hostname,                 /* since 0.1 */
    .conn_supports_feature = test_conn_supports_feature,         /* since 0.1 */
    .conn_list_domains = test_conn_list_domains,                 /* since 0.1 */
    .conn_subscribe_events = test_conn_subscribe_events,         /* since 0.1 */
    .conn_unsubscribe_events = test_conn_unsubscribe_events,     /* since 0.1 */
    .domain_lookup_by_name = test_domain_lookup_by_name,         /* since 0.1 */
    .domain_lookup_by_uuid = test_domain_lookup_by_uuid,         /* since 0.1 */
    .domain_define_xml = test_domain_define_xml,                 /* since 0.1 */
    .domain_create_xml = test_domain_create_xml,                 /* since 0.1 */
    .domain_undefine = test_domain_undefine,                     /* since 0.1 */
    .domain_start = test_domain_start,                           /* since 0.1 */
    .domain_destroy = test_domain_destroy,                       /* since 0.1 */
    .domain_suspend = test_domain_suspend,                       /* since 0.1 */
    .domain_resume = test_domain_resume,                         /* since 0.1 */
    .domain_get_info = test_domain_get_info,                     /* since 0.1 */
    .domain_get_xml = test_domain_get_xml,                       /* since 0.1 */
    .domain_migrate_begin3 = test_domain_migrate_begin3,         /* since 0.2 */
    .conn_migrate_prepare3 = test_conn_migrate_prepare3,         /* since 0.2 */
    .domain_migrate_perform3 = test_domain_migrate_perform3,     /* since 0.2 */
    .conn_migrate_finish3 = test_conn_migrate_finish3,           /* since 0.2 */
    .domain_migrate_confirm3 = test_domain_migrate_confirm3,     /* since 0.2 */
    .conn_migrate_prepare2 = test_conn_migrate_prepare2,         /* since 0.2 */
    .domain_migrate_perform = test_domain_migrate_perform,       /* since 0.2 */
    .conn_migrate_finish2 = test_conn_migrate_finish2,           /* since 0.2 */
    .conn_migrate_prepare = test_conn_migrate_prepare,           /* since 0.2 */
    .conn_migrate_finish = test_conn_migrate_finish,             /* since 0.2 */
    .domain_get_job_stats = test_domain_get_job_stats,           /* since 0.3 */
    .domain_abort_job = test_domain_abort_job,                   /* since 0.3 */
    .domain_migrate_set_tunable = test_domain_migrate_set_tunable, /* since 0.3 */
    .domain_migrate_get_tunable = test_domain_migrate_get_tunable, /* since 0.3 */
    .conn_migrate_query = test_conn_migrate_query,               /* since 0.3 */
    .conn_migrate_snapshots = test_conn_migrate_snapshots,       /* since 0.6 */
    .conn_migrate_cancel = test_conn_migrate_cancel,             /* since 0.3 */
    .domain_snapshot_create_xml = test_domain_snapshot_create_xml, /* since 0.6 */
    .domain_snapshot_list = test_domain_snapshot_list,           /* since 0.6 */
    .domain_snapshot_get_xml = test_domain_snapshot_get_xml,     /* since 0.6 */
    .domain_snapshot_current = test_domain_snapshot_current,     /* since 0.6 */
    .domain_snapshot_revert = test_domain_snapshot_revert,       /* since 0.6 */
    .domain_snapshot_delete = test_domain_snapshot_delete,       /* since 0.6 */
    .conn_client_gone = test_conn_client_gone,                   /* since 0.3 */
};
