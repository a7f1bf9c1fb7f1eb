/*
 * qemu-driver.c: the QEMU driver's table: `qemu:///system` inside ferryd.
 *
 * Owns: the process-wide driver state (domain list, event bus, the monitor
 * thread) and the policy of each operation -- which states allow it, which
 * job it takes, what it persists, which event it emits.  Must not: spawn or
 * signal processes or speak QMP beyond one command per operation (that is
 * qemu-process.c), or parse XML (conf/).
 *
 * Every operation that changes a domain holds the domain's job for its whole
 * duration and ends it with qemu_process_end_job(), which finishes the
 * cleanup if QEMU died meanwhile.
 */
#include "ferry-config.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <string.h>

#include "driver/event-bus.h"
#include "conf/capabilities.h"
#include "qemu/qemu-define-check.h"
#include "qemu/qemu-confine.h"
#include "qemu/qemu-domain.h"
#include "qemu/qemu-driver.h"
#include "qemu/qemu-migration.h"
#include "qemu/qemu-process.h"
#include "qemu/qemu-snapshot.h"
#include "qemu/qemu-user.h"
#include "remote/remote-driver.h"
#include "util/error.h"
#include "util/json-util.h"
#include "util/uri.h"

static qemu_driver_state *driver_state;
/* Serialises defines: the name/uuid clash check and the file write must not
 * interleave with another define of the same name. */
static GMutex define_lock;

qemu_driver_state *
qemu_driver_get_state(void)
{
    return driver_state;
}

/* ------------------------------------------------------------------ */
/* Initialisation */

static gpointer
monitor_thread_main(gpointer data)
{
    qemu_driver_state *state = data;

    g_main_context_push_thread_default(state->monitor_ctx);
    g_main_loop_run(state->monitor_loop);
    g_main_context_pop_thread_default(state->monitor_ctx);
    return NULL;
}

static gboolean
quit_monitor_loop(gpointer data)
{
    g_main_loop_quit(data);
    return G_SOURCE_REMOVE;
}

/* Stops the monitor thread and waits for it.  The quit is a source of the
 * thread's own context, not g_main_loop_quit() from here: a quit that came
 * before the thread entered g_main_loop_run() would be lost (run sets the
 * loop running again), and the join would wait forever -- a driver shut
 * down just after it started (seen in test-qemu-driver, max-domains). */
static void
stop_monitor_thread(qemu_driver_state *state)
{
    g_autoptr(GSource) quit = g_idle_source_new();

    g_source_set_callback(quit, quit_monitor_loop, state->monitor_loop, NULL);
    g_source_attach(quit, state->monitor_ctx);
    g_thread_join(state->monitor_thread);
    state->monitor_thread = NULL;
}

static gboolean
make_dir(const char *path, GError **error)
{
    if (g_mkdir_with_parents(path, 0700) < 0) {
        ferry_set_error_errno(error, FERRY_ERROR_SYSTEM, errno,
                              "cannot create directory '%s'", path);
        return FALSE;
    }
    return TRUE;
}

static void
state_free(qemu_driver_state *state)
{
    if (!state)
        return;
    if (state->monitor_thread)
        stop_monitor_thread(state);
    ferry_mig_engine_free(state->engine);
    ferry_domain_obj_list_free(state->domains);
    ferry_snapshot_store_free(state->snapshots);
    ferry_event_bus_free(state->bus);
    if (state->ports_in_use) {
        g_hash_table_unref(state->ports_in_use);
        g_mutex_clear(&state->ports_lock);
    }
    if (state->monitor_loop)
        g_main_loop_unref(state->monitor_loop);
    if (state->monitor_ctx)
        g_main_context_unref(state->monitor_ctx);
    g_free(state->config.state_dir);
    g_free(state->config.qemu_binary);
    g_free(state->config.host_uuid);
    g_free(state->config.hostname);
    g_free(state->config.migration_address);
    g_free(state->config.hook_path);
    g_free(state->config.inject_failure);
    g_free(state->config.lock_manager);
    g_free(state->config.lockspace_dir);
    g_clear_pointer(&state->locks, ferry_lock_manager_unref);
    g_strfreev(state->config.storage_dirs);
    g_strfreev(state->config.file_dirs);
    g_strfreev(state->config.shared_storage_dirs);
    g_free(state->config.peer_uri);
    g_free(state->config.pki_dir);
    g_free(state->config.user);
    g_free(state->config.group);
    g_free(state->relay_dir);
    g_free(state->qemu_user_name);
    g_free(state->qemu_switch_error);
    g_free(state->def_dir);
    g_free(state->run_dir);
    g_free(state->log_dir);
    g_free(state->record_dir);
    g_free(state);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC(qemu_driver_state, state_free)

/* A copy of @dirs, or when NULL the one directory STATE_DIR/@fallback. */
static char **
dir_list(char **dirs, const char *state_dir, const char *fallback)
{
    char **list;

    if (dirs)
        return g_strdupv(dirs);
    list = g_new0(char *, 2);
    list[0] = g_build_filename(state_dir, fallback, NULL);
    return list;
}

gboolean
ferry_qemu_driver_initialize(const ferry_qemu_config *config, GError **error)
{
    g_autoptr(qemu_driver_state) state = g_new0(qemu_driver_state, 1);

    if (driver_state) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_INTERNAL,
                    "the QEMU driver is already initialised");
        return FALSE;
    }
    state->config.state_dir = g_strdup(config->state_dir);
    state->config.qemu_binary = g_strdup(config->qemu_binary ? config->qemu_binary
                                                             : FERRY_QEMU_BINARY);
    state->config.host_uuid = g_strdup(config->host_uuid);
    state->config.hostname = g_strdup(config->hostname ? config->hostname
                                                       : g_get_host_name());
    state->config.migration_address = g_strdup(config->migration_address);
    state->config.migration_port_min = config->migration_port_min ? config->migration_port_min
                                                                  : 49152;
    state->config.migration_port_max = config->migration_port_max ? config->migration_port_max
                                                                  : 49215;
    state->config.hook_path = g_strdup(config->hook_path);
    state->config.inject_failure = g_strdup(config->inject_failure);
    state->config.abandon_seconds = config->abandon_seconds ? config->abandon_seconds : 60;
    state->config.migration_relay = config->migration_relay;
    state->config.max_protocol = config->max_protocol ? config->max_protocol : 3;
    state->config.storage_dirs = dir_list(config->storage_dirs, config->state_dir, "images");
    state->config.file_dirs = dir_list(config->file_dirs, config->state_dir, "files");
    state->config.shared_storage_dirs = g_strdupv(config->shared_storage_dirs);
    state->config.peer_uri = g_strdup(config->peer_uri);
    state->config.pki_dir = g_strdup(config->pki_dir);
    state->config.user = g_strdup(config->user);
    state->config.group = g_strdup(config->group);
    state->def_dir = g_build_filename(config->state_dir, "qemu", "domains", NULL);
    state->run_dir = g_build_filename(config->state_dir, "qemu", "run", NULL);
    state->log_dir = g_build_filename(config->state_dir, "qemu", "log", NULL);
    state->record_dir = g_build_filename(config->state_dir, "qemu", "migrations", NULL);
    state->relay_dir = g_build_filename(state->run_dir, "relay", NULL);
    if (!make_dir(state->def_dir, error) || !make_dir(state->run_dir, error) ||
        !make_dir(state->log_dir, error) || !make_dir(state->record_dir, error) ||
        !make_dir(state->relay_dir, error) || !qemu_user_init(state, error))
        return FALSE;
    if (!g_file_test(state->config.qemu_binary, G_FILE_TEST_IS_EXECUTABLE)) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_CONFIG,
                    "QEMU binary '%s' is not an executable file (install qemu-system-x86)",
                    state->config.qemu_binary);
        return FALSE;
    }
    state->config.lock_manager = g_strdup(config->lock_manager);
    state->config.lockspace_dir = g_strdup(config->lockspace_dir);
    state->locks = ferry_lock_manager_new(config->lock_manager, config->lockspace_dir,
                                          config->host_uuid, error);
    if (!state->locks)
        return FALSE;
    if (ferry_lock_manager_get_lockspace_id(state->locks))
        g_message("leases: lock manager '%s', lockspace %s ('%s')",
                  ferry_lock_manager_get_name(state->locks),
                  ferry_lock_manager_get_lockspace_id(state->locks), config->lockspace_dir);
    state->domains = ferry_domain_obj_list_new();
    state->snapshots = ferry_snapshot_store_new();
    state->bus = ferry_event_bus_new();
    g_mutex_init(&state->ports_lock);
    state->ports_in_use = g_hash_table_new(NULL, NULL);
    state->monitor_ctx = g_main_context_new();
    state->monitor_loop = g_main_loop_new(state->monitor_ctx, FALSE);
    state->monitor_thread = g_thread_new("qemu-monitor", monitor_thread_main, state);
    {
        static const ferry_driver *const peers[] = { &ferry_remote_driver, NULL };
        ferry_mig_engine_config mc = {
            .host_uuid = state->config.host_uuid,
            .hostname = state->config.hostname,
            .peer_uri = state->config.peer_uri,
            .record_dir = state->record_dir,
            .hook_path = state->config.hook_path,
            .fail_phase = state->config.inject_failure,
            .abandon_seconds = state->config.abandon_seconds,
            .nbd = TRUE,
            .domains = state->domains,
            .bus = state->bus,
            .backend = &qemu_mig_backend,
            .backend_self = state,
            .peer_drivers = peers,
            .locks = state->locks,
        };

        state->engine = ferry_mig_engine_new(&mc);
    }

    /* Published before loading: re-attached domains' callbacks look it up. */
    driver_state = state;
    if (!qemu_domain_load_all(state, error)) {
        driver_state = NULL;
        return FALSE;
    }
    qemu_snapshot_load_all(state);
    /* After loading: a lowered limit refuses new domains, loses none. */
    ferry_domain_obj_list_set_max(state->domains, config->max_domains);
    g_steal_pointer(&state);
    return TRUE;
}

void
ferry_qemu_driver_stop_migrations(void)
{
    if (driver_state)
        ferry_mig_engine_stop(driver_state->engine);
}

void
ferry_qemu_driver_shutdown(void)
{
    qemu_driver_state *state = driver_state;
    g_autoptr(GPtrArray) objs = NULL;

    if (!state)
        return;
    /* The engine first: outgoing migrations under way stay as they are,
     * their records on disk for the next ferryd. */
    ferry_mig_engine_stop(state->engine);
    objs = ferry_domain_obj_list_collect(state->domains, 0);
    for (guint i = 0; i < objs->len; i++)
        qemu_process_detach(state, objs->pdata[i]);
    /* Let the monitor thread run the queued monitor closes, then stop it. */
    stop_monitor_thread(state);
    while (g_main_context_iteration(state->monitor_ctx, FALSE))
        ;
    /* Nothing notifies the engine any more: it can go. */
    g_clear_pointer(&state->engine, ferry_mig_engine_free);
    driver_state = NULL;
    state_free(state);
}

/* ------------------------------------------------------------------ */
/* Connections */

static qemu_driver_state *
state_of(ferry_conn *conn)
{
    return conn->driver_data;
}

static gboolean
qemu_conn_probe(const ferry_uri *uri)
{
    return strcmp(uri->driver, "qemu") == 0 && uri->transport == NULL &&
           (uri->host == NULL || *uri->host == '\0');
}

static gboolean
qemu_conn_open(ferry_conn *conn, const ferry_uri *uri, GError **error)
{
    static const char *const allowed[] = { NULL };

    if (!driver_state) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_NO_CONNECT,
                    "URI '%s': the QEMU driver runs only inside ferryd", uri->original);
        return FALSE;
    }
    if (strcmp(uri->path, "/system") != 0) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_INVALID_URI,
                    "URI '%s': the QEMU driver serves only '/system', not '%s'",
                    uri->original, uri->path);
        return FALSE;
    }
    if (!ferry_uri_check_params(uri, allowed, error))
        return FALSE;
    conn->driver_data = driver_state;
    return TRUE;
}

static void
qemu_conn_client_gone(ferry_conn *conn)
{
    ferry_mig_engine_conn_closed(state_of(conn)->engine, conn);
}

static void
qemu_conn_close(ferry_conn *conn)
{
    ferry_mig_engine_conn_closed(state_of(conn)->engine, conn);
    ferry_event_bus_unsubscribe_conn(state_of(conn)->bus, conn);
    conn->driver_data = NULL;
}

static char *
qemu_conn_get_capabilities(ferry_conn *conn, GError **error)
{
    qemu_driver_state *state = state_of(conn);
    g_autoptr(ferry_caps) caps = ferry_caps_new();
    ferry_caps_guest *guest = ferry_caps_add_guest(caps, "hvm", "x86_64");

    caps->host_uuid = g_strdup(state->config.host_uuid);
    caps->hostname = g_strdup(state->config.hostname);
    caps->arch = g_strdup("x86_64");
    guest->emulator = g_strdup(state->config.qemu_binary);
    guest->wordsize = 64;
    g_ptr_array_add(guest->machines, g_strdup("pc"));
    g_ptr_array_add(guest->machines, g_strdup("q35"));
    g_ptr_array_add(guest->domain_types, g_strdup("qemu"));
    caps->migration_live = TRUE;
    g_ptr_array_add(caps->uri_transports, g_strdup("tcp"));
    g_ptr_array_add(caps->migration_protocols, g_strdup("v1"));
    if (state->config.max_protocol >= 2)
        g_ptr_array_add(caps->migration_protocols, g_strdup("v2"));
    if (state->config.max_protocol >= 3)
        g_ptr_array_add(caps->migration_protocols, g_strdup("v3"));
    caps->migration_nbd = state->config.max_protocol >= 3;
    caps->migration_tunnelled = state->config.max_protocol >= 3;
    if (g_file_test("/dev/kvm", G_FILE_TEST_EXISTS))
        g_ptr_array_add(guest->domain_types, g_strdup("kvm"));
    return ferry_caps_format(caps);
}

static char *
qemu_conn_get_hostname(ferry_conn *conn, GError **error)
{
    return g_strdup(state_of(conn)->config.hostname);
}

static gboolean
qemu_conn_supports_feature(ferry_conn *conn, ferry_feature feature,
                           gboolean *ret_supported, GError **error)
{
    guint max = state_of(conn)->config.max_protocol;

    /* v1 always; v2 and v3, and what needs v3 (peer-to-peer, NBD, the
     * tunnel), unless the host is limited (migration_max_protocol). */
    *ret_supported = feature == FERRY_FEATURE_EVENTS || feature == FERRY_FEATURE_MIGRATION_V1 ||
                     (max >= 2 && feature == FERRY_FEATURE_MIGRATION_V2) ||
                     (max >= 3 && (feature == FERRY_FEATURE_MIGRATION_V3 ||
                                   feature == FERRY_FEATURE_MIGRATION_P2P ||
                                   feature == FERRY_FEATURE_MIGRATION_NBD ||
                                   feature == FERRY_FEATURE_MIGRATION_TUNNEL));
    return TRUE;
}

static gboolean
qemu_conn_list_domains(ferry_conn *conn, guint flags, GPtrArray **ret_domains,
                       GError **error)
{
    *ret_domains = ferry_domain_obj_list_handles(state_of(conn)->domains, conn, flags);
    return TRUE;
}

static guint
qemu_conn_subscribe_events(ferry_conn *conn, ferry_event_cb callback,
                           gpointer user_data, GDestroyNotify destroy, GError **error)
{
    return ferry_event_bus_subscribe(state_of(conn)->bus, conn, callback, user_data,
                                     destroy);
}

static gboolean
qemu_conn_unsubscribe_events(ferry_conn *conn, guint id, GError **error)
{
    return ferry_event_bus_unsubscribe(state_of(conn)->bus, conn, id, error);
}

/* ------------------------------------------------------------------ */
/* Lookup and definition */

static ferry_domain *
qemu_domain_lookup_by_name(ferry_conn *conn, const char *name, GError **error)
{
    qemu_driver_state *state = state_of(conn);

    return ferry_domain_obj_list_handle_by_name(state->domains, conn, name,
                                                state->config.hostname, error);
}

static ferry_domain *
qemu_domain_lookup_by_uuid(ferry_conn *conn, const char *uuid, GError **error)
{
    qemu_driver_state *state = state_of(conn);

    return ferry_domain_obj_list_handle_by_uuid(state->domains, conn, uuid,
                                                state->config.hostname, error);
}

/* Parses @text and refuses what this driver cannot run or keep. */
ferry_domain_def *
qemu_driver_parse_def(const char *text, GError **error)
{
    g_autoptr(ferry_domain_def) def = ferry_domain_def_parse_string(text, NULL, 0, error);
    g_autofree char *xml = NULL;

    if (!def)
        return NULL;
    if (strcmp(def->type, "qemu") != 0 && strcmp(def->type, "kvm") != 0) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_XML,
                    "domain '%s': type '%s' cannot run on the QEMU driver "
                    "(use 'qemu' or 'kvm')", def->name, def->type);
        return NULL;
    }
    if (strcmp(def->type, "kvm") == 0 && !g_file_test("/dev/kvm", G_FILE_TEST_EXISTS)) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_OPERATION_INVALID,
                    "domain '%s': type 'kvm' needs /dev/kvm, which this host lacks "
                    "(use type 'qemu' for TCG)", def->name);
        return NULL;
    }
    /* Accepted means kept: a definition this daemon could not write and
     * read back would be lost at its next start, its QEMU with it. */
    xml = ferry_domain_def_format_checked(def, error);
    if (!xml)
        return NULL;
    return g_steal_pointer(&def);
}

/* Parses @xml for @conn: from a caller this host does not trust, every
 * path in it must lie in storage_dirs or file_dirs (qemu-confine.h). */
static ferry_domain_def *
parse_def_for(ferry_conn *conn, const char *xml, GError **error)
{
    g_autoptr(ferry_domain_def) def = qemu_driver_parse_def(xml, error);

    if (def && ferry_conn_is_confined(conn) &&
        !qemu_confine_def(&state_of(conn)->config, def, error))
        return NULL;
    return g_steal_pointer(&def);
}

/* A uuid no domain of the list runs must not run here at all: its QEMU
 * would be one ferryd could not load at its start, and a start of the new
 * definition would make it two. */
static gboolean
check_define_uuid(qemu_driver_state *state, const ferry_domain_def *def, GError **error)
{
    g_autoptr(ferry_domain_obj) obj = ferry_domain_obj_list_find_by_uuid(state->domains,
                                                                         def->uuid);
    gboolean active = FALSE;

    if (obj) {
        g_mutex_lock(&obj->lock);
        active = ferry_domain_obj_is_active(obj);
        g_mutex_unlock(&obj->lock);
    }
    return active || qemu_process_check_not_running(state, "define", def->name, def->uuid,
                                                    error);
}

/* The host checks of a define (qemu-define-check.c); the warnings are
 * logged here and handed to the caller on the domain's handle. */
static gboolean
check_on_host(qemu_driver_state *state, const ferry_domain_def *def, GStrv *ret_warnings,
              GError **error)
{
    if (!qemu_define_check(def, state->config.qemu_binary, ret_warnings, error))
        return FALSE;
    for (guint i = 0; (*ret_warnings)[i]; i++)
        g_message("domain '%s': define: %s", def->name, (*ret_warnings)[i]);
    return TRUE;
}

static ferry_domain *
qemu_domain_define_xml(ferry_conn *conn, const char *xml, GError **error)
{
    qemu_driver_state *state = state_of(conn);
    g_autoptr(ferry_domain_def) def = parse_def_for(conn, xml, error);
    g_autoptr(ferry_domain_obj) obj = NULL;
    g_autoptr(GMutexLocker) locker = NULL;
    g_auto(GStrv) warnings = NULL;
    ferry_domain *dom;

    if (!def || !check_on_host(state, def, &warnings, error))
        return NULL;
    locker = g_mutex_locker_new(&define_lock);
    if (!ferry_domain_obj_list_check_clash(state->domains, def, error) ||
        !check_define_uuid(state, def, error) || !qemu_domain_save_def(state, def, error))
        return NULL;
    obj = ferry_domain_obj_list_define(state->domains, g_steal_pointer(&def), NULL, error);
    if (!obj)
        return NULL;
    g_clear_pointer(&locker, g_mutex_locker_free);
    qemu_domain_emit_lifecycle(state, obj, FERRY_LIFECYCLE_DEFINED);
    dom = ferry_domain_new_handle(conn, obj->name, obj->uuid);
    dom->warnings = g_steal_pointer(&warnings);
    return dom;
}

/* Looks the domain up and takes its job; the caller ends it with
 * qemu_process_end_job(). */
static ferry_domain_obj *
begin_modify(ferry_domain *dom, const char *what, GError **error)
{
    qemu_driver_state *state = state_of(dom->conn);

    return ferry_domain_obj_list_lookup_job(state->domains, dom, state->config.hostname, what,
                                            error);
}

static void
end_modify(qemu_driver_state *state, ferry_domain_obj *obj)
{
    qemu_process_end_job(state, obj);
    ferry_domain_obj_unref(obj);
}

/* Starts an inactive domain whose job is held; emits "started". */
static gboolean
start_with_job(qemu_driver_state *state, ferry_domain_obj *obj, guint flags,
               GError **error)
{
    /* No second QEMU of the uuid here, then the lease: held elsewhere, the
     * domain may run there.  A transient domain that cannot start is gone. */
    if (!qemu_process_check_not_running(state, "start", obj->name, obj->uuid, error) ||
        !ferry_lock_manager_acquire(state->locks, obj->uuid, obj->name, state->config.hostname,
                                    error)) {
        gboolean transient;

        g_mutex_lock(&obj->lock);
        transient = obj->def == NULL;
        if (transient)
            g_clear_pointer(&obj->live, ferry_domain_def_free);
        g_mutex_unlock(&obj->lock);
        if (transient)
            ferry_domain_obj_list_remove(state->domains, obj);
        return FALSE;
    }
    g_mutex_lock(&obj->lock);
    if (!obj->live)
        obj->live = ferry_domain_def_copy(obj->def);
    g_mutex_unlock(&obj->lock);
    if (!qemu_process_start(state, obj,
                            (flags & FERRY_START_PAUSED) ? QEMU_PROCESS_START_PAUSED : 0,
                            error)) {
        ferry_lock_manager_release(state->locks, obj->uuid);
        return FALSE;
    }
    qemu_domain_emit_lifecycle(state, obj, FERRY_LIFECYCLE_STARTED);
    return TRUE;
}

static ferry_domain *
qemu_domain_create_xml(ferry_conn *conn, const char *xml, guint flags, GError **error)
{
    qemu_driver_state *state = state_of(conn);
    ferry_domain_def *def = parse_def_for(conn, xml, error);
    ferry_domain_obj *obj;
    ferry_domain *dom = NULL;
    g_auto(GStrv) warnings = NULL;

    if (!def)
        return NULL;
    if (!check_on_host(state, def, &warnings, error)) {
        ferry_domain_def_free(def);
        return NULL;
    }
    obj = ferry_domain_obj_list_add_transient(state->domains, def, error);
    if (!obj)
        return NULL;
    if (!ferry_domain_obj_begin_job(obj, FERRY_JOB_MODIFY, "create", error)) {
        ferry_domain_obj_unref(obj);
        return NULL;
    }
    if (start_with_job(state, obj, flags, error)) {
        dom = ferry_domain_new_handle(conn, obj->name, obj->uuid);
        dom->warnings = g_steal_pointer(&warnings);
    }
    end_modify(state, obj);
    return dom;
}

static gboolean
qemu_domain_undefine(ferry_domain *dom, guint flags, GError **error)
{
    qemu_driver_state *state = state_of(dom->conn);
    ferry_domain_obj *obj = begin_modify(dom, "undefine", error);
    gboolean active;

    if (!obj)
        return FALSE;
    if (!ferry_domain_obj_check_persistent(obj, error) ||
        !qemu_domain_delete_def(state, obj->name, error)) {
        end_modify(state, obj);
        return FALSE;
    }
    g_mutex_lock(&obj->lock);
    g_clear_pointer(&obj->def, ferry_domain_def_free);
    active = ferry_domain_obj_is_active(obj);
    g_mutex_unlock(&obj->lock);
    /* A running domain stays, transient, until it stops. */
    if (!active)
        ferry_domain_obj_list_remove(state->domains, obj);
    qemu_domain_emit_lifecycle(state, obj, FERRY_LIFECYCLE_UNDEFINED);
    end_modify(state, obj);
    return TRUE;
}

static gboolean
qemu_domain_start(ferry_domain *dom, guint flags, GError **error)
{
    qemu_driver_state *state = state_of(dom->conn);
    ferry_domain_obj *obj = begin_modify(dom, "start", error);
    gboolean ok = FALSE;

    if (!obj)
        return FALSE;
    if (ferry_domain_obj_check_active(obj, FALSE, error))
        ok = start_with_job(state, obj, flags, error);
    end_modify(state, obj);
    return ok;
}

static gboolean
qemu_domain_destroy(ferry_domain *dom, GError **error)
{
    qemu_driver_state *state = state_of(dom->conn);
    g_autoptr(ferry_mig_job) job = ferry_mig_engine_find_job(state->engine, dom->uuid);
    ferry_domain_obj *obj;
    gboolean ok = FALSE;

    /* During a migration: the QEMU goes at once, without waiting for the
     * job; its exit ends the job (qemu_migration_process_exited()), and
     * the other side cleans up. */
    if (job && job->obj && ferry_domain_obj_check_active(job->obj, TRUE, NULL))
        return qemu_process_destroy(state, job->obj, FERRY_SHUTOFF_DESTROYED, error);
    obj = begin_modify(dom, "destroy", error);
    if (!obj)
        return FALSE;
    if (ferry_domain_obj_check_active(obj, TRUE, error))
        ok = qemu_process_destroy(state, obj, FERRY_SHUTOFF_DESTROYED, error);
    end_modify(state, obj);
    return ok;
}

/* suspend/resume: one QMP command moving the domain from one state to
 * another. */
static gboolean
change_run_state(ferry_domain *dom, const char *what, const char *command, int from,
                 int to_state, int to_reason, ferry_lifecycle_event event, GError **error)
{
    qemu_driver_state *state = state_of(dom->conn);
    ferry_domain_obj *obj = begin_modify(dom, what, error);
    g_autoptr(json_object) reply = NULL;
    g_autoptr(GError) local = NULL;

    if (!obj)
        return FALSE;
    if (!ferry_domain_obj_check_state(obj, what, from, error)) {
        end_modify(state, obj);
        return FALSE;
    }
    /* Running again needs the lease (a migration may have handed it on). */
    if (to_state == FERRY_DOMAIN_RUNNING &&
        !ferry_lock_manager_acquire(state->locks, obj->uuid, obj->name, state->config.hostname,
                                    error)) {
        end_modify(state, obj);
        return FALSE;
    }
    if (!(reply = qemu_process_command(obj, command, NULL, &local))) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_OPERATION_FAILED,
                    "cannot %s domain '%s': %s", what, obj->name, local->message);
        end_modify(state, obj);
        return FALSE;
    }
    g_mutex_lock(&obj->lock);
    ferry_domain_obj_set_state(obj, to_state, to_reason);
    if (!qemu_domain_save_status(state, obj, &local))
        g_warning("domain '%s': %s", obj->name, local->message);
    g_mutex_unlock(&obj->lock);
    qemu_domain_emit_lifecycle(state, obj, event);
    end_modify(state, obj);
    return TRUE;
}

static gboolean
qemu_domain_suspend(ferry_domain *dom, GError **error)
{
    return change_run_state(dom, "suspend", "stop", FERRY_DOMAIN_RUNNING,
                            FERRY_DOMAIN_PAUSED, FERRY_PAUSED_USER,
                            FERRY_LIFECYCLE_SUSPENDED, error);
}

static gboolean
qemu_domain_resume(ferry_domain *dom, GError **error)
{
    return change_run_state(dom, "resume", "cont", FERRY_DOMAIN_PAUSED,
                            FERRY_DOMAIN_RUNNING, FERRY_RUNNING_UNPAUSED,
                            FERRY_LIFECYCLE_RESUMED, error);
}

static gboolean
qemu_domain_get_info(ferry_domain *dom, ferry_domain_info *ret_info, GError **error)
{
    qemu_driver_state *state = state_of(dom->conn);
    g_autoptr(ferry_domain_obj) obj =
        ferry_domain_obj_list_lookup(state->domains, dom, state->config.hostname, error);
    gint64 pid = 0;

    if (!obj)
        return FALSE;
    g_mutex_lock(&obj->lock);
    ferry_domain_obj_fill_info(obj, ret_info);
    if (obj->live && obj->priv)
        pid = ((qemu_domain_priv *)obj->priv)->pid;
    g_mutex_unlock(&obj->lock);
    if (pid > 0) {
        ret_info->pid = pid;
        ret_info->cpu_time_ns = qemu_process_cpu_time(pid);
    }
    return TRUE;
}

static char *
qemu_domain_get_xml(ferry_domain *dom, guint flags, GError **error)
{
    qemu_driver_state *state = state_of(dom->conn);
    g_autoptr(ferry_domain_obj) obj =
        ferry_domain_obj_list_lookup(state->domains, dom, state->config.hostname, error);
    g_autoptr(GMutexLocker) locker = NULL;

    if (!obj)
        return NULL;
    locker = g_mutex_locker_new(&obj->lock);
    return ferry_domain_obj_format_xml(obj, flags);
}

const ferry_driver ferry_qemu_driver = {
    .name = "qemu",
    .conn_probe = qemu_conn_probe,                               /* since 0.1 */
    .conn_open = qemu_conn_open,                                 /* since 0.1 */
    .conn_close = qemu_conn_close,                               /* since 0.1 */
    .conn_get_capabilities = qemu_conn_get_capabilities,         /* since 0.1 */
    .conn_get_hostname = qemu_conn_get_hostname,                 /* since 0.1 */
    .conn_supports_feature = qemu_conn_supports_feature,         /* since 0.1 */
    .conn_list_domains = qemu_conn_list_domains,                 /* since 0.1 */
    .conn_subscribe_events = qemu_conn_subscribe_events,         /* since 0.1 */
    .conn_unsubscribe_events = qemu_conn_unsubscribe_events,     /* since 0.1 */
    .domain_lookup_by_name = qemu_domain_lookup_by_name,         /* since 0.1 */
    .domain_lookup_by_uuid = qemu_domain_lookup_by_uuid,         /* since 0.1 */
    .domain_define_xml = qemu_domain_define_xml,                 /* since 0.1 */
    .domain_create_xml = qemu_domain_create_xml,                 /* since 0.1 */
    .domain_undefine = qemu_domain_undefine,                     /* since 0.1 */
    .domain_start = qemu_domain_start,                           /* since 0.1 */
    .domain_destroy = qemu_domain_destroy,                       /* since 0.1 */
    .domain_suspend = qemu_domain_suspend,                       /* since 0.1 */
    .domain_resume = qemu_domain_resume,                         /* since 0.1 */
    .domain_get_info = qemu_domain_get_info,                     /* since 0.1 */
    .domain_get_xml = qemu_domain_get_xml,                       /* since 0.1 */
    .domain_migrate_begin3 = qemu_domain_migrate_begin3,         /* since 0.2 */
    .conn_migrate_prepare3 = qemu_conn_migrate_prepare3,         /* since 0.2 */
    .domain_migrate_perform3 = qemu_domain_migrate_perform3,     /* since 0.2 */
    .conn_migrate_prepare_tunnel3 = qemu_conn_migrate_prepare_tunnel3, /* since 0.6 */
    .domain_migrate_perform_tunnel3 = qemu_domain_migrate_perform_tunnel3, /* since 0.6 */
    .conn_migrate_finish3 = qemu_conn_migrate_finish3,           /* since 0.2 */
    .domain_migrate_confirm3 = qemu_domain_migrate_confirm3,     /* since 0.2 */
    .conn_migrate_prepare2 = qemu_conn_migrate_prepare2,         /* since 0.6 */
    .domain_migrate_perform = qemu_domain_migrate_perform,       /* since 0.6 */
    .conn_migrate_finish2 = qemu_conn_migrate_finish2,           /* since 0.6 */
    .conn_migrate_prepare = qemu_conn_migrate_prepare,           /* since 0.6 */
    .conn_migrate_finish = qemu_conn_migrate_finish,             /* since 0.6 */
    .domain_get_job_stats = qemu_domain_get_job_stats,           /* since 0.3 */
    .domain_abort_job = qemu_domain_abort_job,                   /* since 0.3 */
    .domain_migrate_set_tunable = qemu_domain_migrate_set_tunable, /* since 0.3 */
    .domain_migrate_get_tunable = qemu_domain_migrate_get_tunable, /* since 0.3 */
    .domain_migrate_start_postcopy = qemu_domain_migrate_start_postcopy, /* since 0.5 */
    .domain_migrate_postcopy_resume = qemu_domain_migrate_postcopy_resume, /* since 0.5 */
    .domain_migrate_estimate = qemu_domain_migrate_estimate, /* since 0.5 */
    .conn_migrate_probe = qemu_conn_migrate_probe, /* since 0.5 */
    .conn_migrate_query = qemu_conn_migrate_query,               /* since 0.3 */
    .conn_migrate_snapshots = qemu_conn_migrate_snapshots,       /* since 0.6 */
    .conn_migrate_cancel = qemu_conn_migrate_cancel,             /* since 0.3 */
    .conn_migrate_postcopy_recover = qemu_conn_migrate_postcopy_recover, /* since 0.5 */
    .domain_snapshot_create_xml = qemu_domain_snapshot_create_xml, /* since 0.6 */
    .domain_snapshot_list = qemu_domain_snapshot_list,           /* since 0.6 */
    .domain_snapshot_get_xml = qemu_domain_snapshot_get_xml,     /* since 0.6 */
    .domain_snapshot_current = qemu_domain_snapshot_current,     /* since 0.6 */
    .domain_snapshot_revert = qemu_domain_snapshot_revert,       /* since 0.6 */
    .domain_snapshot_delete = qemu_domain_snapshot_delete,       /* since 0.6 */
    .conn_client_gone = qemu_conn_client_gone,                   /* since 0.3 */
};
