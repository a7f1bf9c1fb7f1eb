/*
 * qemu-migration.c: live migration of a QEMU domain, v3 (Begin, Prepare,
 * Perform, Finish, Confirm), each side's half of DESIGN.md section 3.
 *
 * Owns: the migration job across phases (the source's lasts from Begin to
 * Confirm, the destination's from Prepare to Finish), migration URIs and
 * incoming ports, QMP's migrate/migrate-incoming, statistics, cookies' use.
 * Must not: spawn or kill processes itself (qemu-process.c does) or run the
 * sequence for a client (src/api/migrate.c does; only peer-to-peer Perform
 * calls it, as the source daemon is then the client).
 *
 * The invariant this file keeps: the source's CPUs run until QEMU stops them
 * for the switch-over; after that, only Confirm decides the source's fate --
 * killed when Finish says the destination runs, resumed otherwise.  At most
 * one copy runs at any moment; exactly one survives.
 */
#include "ferry-config.h"

#include <errno.h>
#include <gio/gio.h>
#include <string.h>

#include "api/migrate-internal.h"
#include "conf/migration-cookie.h"
#include "qemu/qemu-hook.h"
#include "qemu/qemu-migration.h"
#include "qemu/qemu-process.h"
#include "qemu/qemu-storage.h"
#include "util/error.h"
#include "util/json-util.h"

#define FINISH_WAIT_SECONDS 60
/* QEMU 7.2 limits migration to 32 MiB/s unless told otherwise. */
#define UNLIMITED_BANDWIDTH (G_GUINT64_CONSTANT(1) << 40)

static qemu_driver_state *
state_of(ferry_conn *conn)
{
    return conn->driver_data;
}

/* ------------------------------------------------------------------ */
/* Migration URIs: host, host:port, tcp://host/, tcp://host:port/ */

typedef struct {
    char *host;       /* NULL when not given */
    guint port;       /* 0 when not given */
} mig_uri;

static void
mig_uri_clear(mig_uri *u)
{
    g_clear_pointer(&u->host, g_free);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(mig_uri, mig_uri_clear)

static gboolean
parse_port(const char *uri, const char *text, guint *ret, GError **error)
{
    guint64 n;

    if (!g_ascii_string_to_unsigned(text, 10, 1, 65535, &n, NULL)) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_INVALID_URI,
                    "migration URI '%s': port '%s' is not a number from 1 to 65535", uri, text);
        return FALSE;
    }
    *ret = (guint)n;
    return TRUE;
}

static gboolean
parse_mig_uri(const char *uri, mig_uri *ret, GError **error)
{
    const char *rest = uri;
    const char *colon;

    memset(ret, 0, sizeof(*ret));
    if (!uri)
        return TRUE;
    if (strstr(uri, "://")) {
        const char *slash;

        if (!g_str_has_prefix(uri, "tcp://")) {
            g_autofree char *scheme = g_strndup(uri, strstr(uri, "://") - uri);

            g_set_error(error, FERRY_ERROR, FERRY_ERROR_INVALID_URI,
                        "migration URI '%s': transport '%s' is not supported (use tcp)", uri,
                        scheme);
            return FALSE;
        }
        rest = uri + strlen("tcp://");
        slash = strchr(rest, '/');
        if (slash && slash[1] != '\0') {
            g_set_error(error, FERRY_ERROR, FERRY_ERROR_INVALID_URI,
                        "migration URI '%s': a path is not allowed", uri);
            return FALSE;
        }
        rest = slash ? g_strndup(rest, slash - rest) : g_strdup(rest);
    } else {
        rest = g_strdup(uri);
    }
    /* rest is ours from here: [v6]:port, host:port or host. */
    {
        g_autofree char *hp = (char *)rest;

        if (hp[0] == '[') {
            char *end = strchr(hp, ']');

            if (!end || (end[1] && end[1] != ':')) {
                g_set_error(error, FERRY_ERROR, FERRY_ERROR_INVALID_URI,
                            "migration URI '%s': malformed IPv6 address", uri);
                return FALSE;
            }
            ret->host = g_strndup(hp + 1, end - hp - 1);
            colon = end[1] == ':' ? end + 1 : NULL;
        } else {
            colon = strrchr(hp, ':');
            ret->host = colon ? g_strndup(hp, colon - hp) : g_strdup(hp);
        }
        if (!*ret->host || strspn(ret->host, "abcdefghijklmnopqrstuvwxyz"
                                             "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-:") !=
                               strlen(ret->host)) {
            g_set_error(error, FERRY_ERROR, FERRY_ERROR_INVALID_URI,
                        "migration URI '%s': '%s' is not a host name or address", uri,
                        ret->host);
            mig_uri_clear(ret);
            return FALSE;
        }
        if (colon && !parse_port(uri, colon + 1, &ret->port, error)) {
            mig_uri_clear(ret);
            return FALSE;
        }
    }
    return TRUE;
}

static char *
host_for_uri(const char *host)
{
    return strchr(host, ':') ? g_strdup_printf("[%s]", host) : g_strdup(host);
}

/* ------------------------------------------------------------------ */
/* Incoming ports */

static gboolean
port_bindable(const char *address, guint port)
{
    g_autoptr(GInetAddress) inet = g_inet_address_new_from_string(address);
    g_autoptr(GSocketAddress) sa = NULL;
    g_autoptr(GSocket) sock = NULL;

    if (!inet)
        inet = g_inet_address_new_any(G_SOCKET_FAMILY_IPV4);
    sa = g_inet_socket_address_new(inet, (guint16)port);
    sock = g_socket_new(g_inet_address_get_family(inet), G_SOCKET_TYPE_STREAM,
                        G_SOCKET_PROTOCOL_TCP, NULL);
    return sock && g_socket_bind(sock, sa, TRUE, NULL);
}

/* Takes a free port from the configured range (or @wanted if given). */
guint
qemu_migration_acquire_port(qemu_driver_state *state, const char *address, guint wanted,
                            GError **error)
{
    g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&state->ports_lock);
    guint lo = wanted ? wanted : state->config.migration_port_min;
    guint hi = wanted ? wanted : state->config.migration_port_max;

    for (guint p = lo; p <= hi; p++) {
        if (g_hash_table_contains(state->ports_in_use, GUINT_TO_POINTER(p)) ||
            !port_bindable(address, p))
            continue;
        g_hash_table_add(state->ports_in_use, GUINT_TO_POINTER(p));
        return p;
    }
    if (wanted)
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_MIGRATE,
                    "host '%s': migration port %u on %s is in use", state->config.hostname,
                    wanted, address);
    else
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_LIMIT,
                    "host '%s': no free migration port in %u-%u on %s",
                    state->config.hostname, lo, hi, address);
    return 0;
}

void
qemu_migration_release_port(qemu_driver_state *state, guint port)
{
    g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&state->ports_lock);

    g_hash_table_remove(state->ports_in_use, GUINT_TO_POINTER(port));
}

/* ------------------------------------------------------------------ */
/* Common helpers */

static void
set_phase(ferry_domain_obj *obj, const char *phase)
{
    qemu_domain_priv *priv;

    g_mutex_lock(&obj->lock);
    priv = qemu_domain_priv_get(obj);
    g_strlcpy(priv->mig_phase, phase, sizeof(priv->mig_phase));
    priv->mig_phase_since = g_get_monotonic_time();
    g_mutex_unlock(&obj->lock);
}

/* While a phase runs, the abandon watchdog keeps off (see below). */
typedef struct {
    ferry_domain_obj *obj;
} phase_guard;

static void
phase_guard_clear(phase_guard *g)
{
    if (!g->obj)
        return;
    g_mutex_lock(&g->obj->lock);
    qemu_domain_priv_get(g->obj)->mig_busy = FALSE;
    g_mutex_unlock(&g->obj->lock);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(phase_guard, phase_guard_clear)

/* Looks up the domain whose migration job (of @job type) serves @cookie's
 * migration, or explains why not. */
static ferry_domain_obj *
find_migrating(qemu_driver_state *state, const char *name, const char *uuid,
               ferry_job_type job, const ferry_migration_cookie *cookie, const char *phase,
               GError **error)
{
    g_autoptr(ferry_domain_obj) obj = uuid ? ferry_domain_obj_list_find_by_uuid(state->domains, uuid)
                                           : ferry_domain_obj_list_find_by_name(state->domains, name);
    g_autoptr(GMutexLocker) locker = NULL;
    qemu_domain_priv *priv;

    if (!obj) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_NO_DOMAIN,
                    "%s: no domain '%s' on host '%s'", phase, name, state->config.hostname);
        return NULL;
    }
    locker = g_mutex_locker_new(&obj->lock);
    priv = qemu_domain_priv_get(obj);
    if (obj->job != job || !priv->mig_id || (cookie && strcmp(priv->mig_id, cookie->id) != 0)) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_OPERATION_INVALID,
                    "%s: domain '%s' has no migration %s in progress on host '%s'", phase,
                    obj->name, cookie ? cookie->id : "", state->config.hostname);
        return NULL;
    }
    if (priv->mig_busy) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_OPERATION_INVALID,
                    "%s: domain '%s': migration %s is busy in another phase", phase,
                    obj->name, priv->mig_id);
        return NULL;
    }
    priv->mig_busy = TRUE;
    g_clear_pointer(&locker, g_mutex_locker_free);
    return g_steal_pointer(&obj);
}

/* Ends a migration job, remembering how it ended for get_job_info. */
static void
end_migration_job(qemu_driver_state *state, ferry_domain_obj *obj, gboolean ok)
{
    qemu_domain_priv *priv;

    g_mutex_lock(&obj->lock);
    priv = qemu_domain_priv_get(obj);
    priv->last_job.type = ok ? FERRY_JOB_INFO_COMPLETED : FERRY_JOB_INFO_FAILED;
    priv->last_job.elapsed_ms = (g_get_monotonic_time() - priv->mig_started_us) / 1000;
    priv->mig_phase[0] = '\0';
    priv->mig_conn = NULL;
    g_clear_pointer(&priv->mig_id, g_free);
    g_mutex_unlock(&obj->lock);
    qemu_process_end_job(state, obj);
}

static void
add_capability(json_object *caps, const char *name, gboolean on)
{
    json_object *cap = json_object_new_object();

    json_object_object_add(cap, "capability", json_object_new_string(name));
    json_object_object_add(cap, "state", json_object_new_boolean(on));
    json_object_array_add(caps, cap);
}

/* Turns on the MIGRATION events the phases wait on.  With storage to copy:
 * the source stops before the switch-over so the mirrors can be completed
 * there (pause-before-switchover), and the destination leaves its disks
 * to the NBD server until it is resumed (late-block-activate). */
static gboolean
enable_migration_events(ferry_domain_obj *obj, gboolean storage, gboolean incoming,
                        GError **error)
{
    g_autoptr(json_object) args = json_object_new_object();
    json_object *caps = json_object_new_array();
    g_autoptr(json_object) ret = NULL;

    add_capability(caps, "events", TRUE);
    if (incoming)
        add_capability(caps, "late-block-activate", storage);
    else
        add_capability(caps, "pause-before-switchover", storage);
    json_object_object_add(args, "capabilities", caps);
    ret = qemu_process_command(obj, "migrate-set-capabilities", args, error);
    return ret != NULL;
}

static gint64
json_get_int(json_object *obj, const char *key)
{
    json_object *v;

    return obj && json_object_object_get_ex(obj, key, &v) ? json_object_get_int64(v) : 0;
}

/* ------------------------------------------------------------------ */
/* Abandoned migrations
 *
 * A client that drives the phases may vanish between two of them.  Where
 * that leaves nothing in doubt -- the source after Begin (still running),
 * the destination after Prepare when no data came or the transfer died --
 * the migration is given up after abandon_seconds without a phase, so the
 * domain is not held by a job forever.  After Perform completed, only the
 * peers know the outcome: that case is left alone (see the README).
 */

typedef struct {
    ferry_domain_obj *obj;
    char *id;
    const char *why;          /* static text for the log */
} watchdog_data;

/* Set while this thread runs a peer-to-peer sequence: the phases it calls
 * belong to no client connection. */
static __thread gboolean p2p_runner;

static void
watchdog_data_free(watchdog_data *w)
{
    ferry_domain_obj_unref(w->obj);
    g_free(w->id);
    g_free(w);
}

static void discard_incoming(qemu_driver_state *state, ferry_domain_obj *obj, gboolean offline);

/* Runs off the monitor thread: stopping a QEMU waits for its exit watch,
 * which lives on that thread. */
static gpointer
abandon_thread(gpointer data)
{
    watchdog_data *w = data;
    qemu_driver_state *state = qemu_driver_get_state();
    gboolean incoming;

    gboolean active;

    g_mutex_lock(&w->obj->lock);
    incoming = w->obj->job == FERRY_JOB_MIGRATION_IN;
    active = ferry_domain_obj_is_active(w->obj);
    g_mutex_unlock(&w->obj->lock);
    g_message("domain '%s': migration %s abandoned: %s", w->obj->name, w->id, w->why);
    /* An offline Prepare left only a definition, no QEMU: drop it too. */
    if (incoming)
        discard_incoming(state, w->obj, !active);
    end_migration_job(state, w->obj, FALSE);
    g_mutex_lock(&w->obj->lock);
    qemu_domain_priv_get(w->obj)->mig_busy = FALSE;
    g_mutex_unlock(&w->obj->lock);
    watchdog_data_free(w);
    return NULL;
}

/* May the migration of @obj be given up now without leaving anything in
 * doubt?  Sets *@ret_over when it is past the point where that can happen
 * (or over).  Lock held. */
static gboolean
abandonable_locked(ferry_domain_obj *obj, qemu_domain_priv *priv, const char *id,
                   gboolean *ret_over)
{
    const char *st = priv->mig_status;

    *ret_over = FALSE;
    if (!priv->mig_id || (id && strcmp(priv->mig_id, id) != 0)) {
        *ret_over = TRUE;
        return FALSE;
    }
    if (obj->job == FERRY_JOB_MIGRATION_OUT) {
        *ret_over = strcmp(priv->mig_phase, "begin") != 0;
        return !*ret_over && !priv->mig_busy;
    }
    *ret_over = strcmp(priv->mig_phase, "prepare") != 0;
    return !*ret_over && !priv->mig_busy &&
           (priv->exited || !st || !strcmp(st, "failed") || !strcmp(st, "cancelled"));
}

static void
start_abandon(ferry_domain_obj *obj, const char *id, const char *why)
{
    watchdog_data *copy = g_new0(watchdog_data, 1);

    copy->obj = ferry_domain_obj_ref(obj);
    copy->id = g_strdup(id);
    copy->why = why;
    g_thread_unref(g_thread_new("ferry-abandon", abandon_thread, copy));
}

void
qemu_migration_conn_closed(qemu_driver_state *state, ferry_conn *conn)
{
    g_autoptr(GPtrArray) objs = ferry_domain_obj_list_collect(state->domains, 0);

    for (guint i = 0; i < objs->len; i++) {
        ferry_domain_obj *obj = objs->pdata[i];
        g_autofree char *id = NULL;
        qemu_domain_priv *priv;
        gboolean over;

        g_mutex_lock(&obj->lock);
        priv = obj->priv;
        if (priv && priv->mig_conn == conn) {
            priv->mig_conn = NULL;
            if (abandonable_locked(obj, priv, NULL, &over)) {
                priv->mig_busy = TRUE;
                id = g_strdup(priv->mig_id);
            }
        }
        g_mutex_unlock(&obj->lock);
        if (id)
            start_abandon(obj, id, "the client driving it disconnected");
    }
}

static gboolean
on_watchdog(gpointer data)
{
    watchdog_data *w = data;
    qemu_driver_state *state = qemu_driver_get_state();
    qemu_domain_priv *priv;
    gboolean abandon, done;

    if (!state)
        return G_SOURCE_REMOVE;
    g_mutex_lock(&w->obj->lock);
    priv = qemu_domain_priv_get(w->obj);
    abandon = abandonable_locked(w->obj, priv, w->id, &done) &&
              g_get_monotonic_time() - priv->mig_phase_since >=
                  (gint64)state->config.abandon_seconds * G_TIME_SPAN_SECOND;
    if (abandon)
        priv->mig_busy = TRUE;
    g_mutex_unlock(&w->obj->lock);
    if (abandon)
        start_abandon(w->obj, w->id, "no phase came within migration_abandon_timeout");
    return abandon || done ? G_SOURCE_REMOVE : G_SOURCE_CONTINUE;
}

static void
arm_watchdog(qemu_driver_state *state, ferry_domain_obj *obj, const char *id)
{
    watchdog_data *w = g_new0(watchdog_data, 1);
    g_autoptr(GSource) source = g_timeout_source_new_seconds(1);

    w->obj = ferry_domain_obj_ref(obj);
    w->id = g_strdup(id);
    g_source_set_callback(source, on_watchdog, w, (GDestroyNotify)watchdog_data_free);
    g_source_attach(source, state->monitor_ctx);
}

/* ------------------------------------------------------------------ */
/* Begin (source) */

char *
qemu_domain_migrate_begin3(ferry_domain *dom, const ferry_migrate_params *params,
                           char **ret_cookie_out, GError **error)
{
    qemu_driver_state *state = state_of(dom->conn);
    g_autoptr(ferry_domain_obj) obj = NULL;
    g_autoptr(ferry_migration_cookie) cookie = NULL;
    g_autoptr(ferry_domain_def) xml_def = NULL;
    g_auto(mig_uri) uri = { 0 };
    g_autofree char *xml = NULL;
    gboolean offline = (params->flags & FERRY_MIGRATE_OFFLINE) != 0;
    gboolean active, paused;
    qemu_domain_priv *priv;

    /* The flags and names were checked by the library (src/api/migrate.c). */
    if (!parse_mig_uri(params->uri, &uri, error))
        return NULL;
    obj = ferry_domain_obj_list_lookup(state->domains, dom, state->config.hostname, error);
    if (!obj || !ferry_domain_obj_begin_job(obj, FERRY_JOB_MIGRATION_OUT, "outgoing migration",
                                            error))
        return NULL;

    g_mutex_lock(&obj->lock);
    active = ferry_domain_obj_is_active(obj);
    paused = active && obj->state == FERRY_DOMAIN_PAUSED;
    if (!offline && !active)
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_OPERATION_INVALID,
                    "domain '%s' is not running: only an offline migration can move it",
                    obj->name);
    else if (offline && (active || !obj->def))
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_OPERATION_INVALID,
                    "domain '%s': an offline migration needs a persistent domain that is "
                    "not running", obj->name);
    else if (params->dxml)
        xml_def = qemu_driver_parse_def(params->dxml, error);
    else
        xml_def = ferry_domain_def_copy(offline ? obj->def : obj->live);
    if (xml_def && strcmp(xml_def->uuid, obj->uuid) != 0) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_INVALID_ARG,
                    "domain '%s': the destination XML has uuid %s, not the domain's %s",
                    obj->name, xml_def->uuid, obj->uuid);
        g_clear_pointer(&xml_def, ferry_domain_def_free);
    }
    if (xml_def) {
        cookie = ferry_migration_cookie_new(NULL, state->config.host_uuid,
                                            state->config.hostname);
        cookie->dom_name = g_strdup(obj->name);
        cookie->dom_uuid = g_strdup(obj->uuid);
        cookie->features = g_ptr_array_new_with_free_func(g_free);
        if (paused)
            g_ptr_array_add(cookie->features, g_strdup("source-paused"));
        if ((params->flags & FERRY_MIGRATE_PERSIST_DEST) && obj->def)
            cookie->persistent = ferry_domain_def_copy(obj->def);
        priv = qemu_domain_priv_get(obj);
        g_free(priv->mig_id);
        priv->mig_id = g_strdup(cookie->id);
        priv->mig_started_us = priv->mig_phase_since = g_get_monotonic_time();
        priv->mig_conn = p2p_runner ? NULL : dom->conn;
        g_strlcpy(priv->mig_phase, "begin", sizeof(priv->mig_phase));
        memset(&priv->last_job, 0, sizeof(priv->last_job));
        xml = ferry_domain_def_format(xml_def);
    }
    g_mutex_unlock(&obj->lock);
    if (!xml) {
        qemu_process_end_job(state, obj);
        return NULL;
    }

    if (qemu_storage_wanted(params) && !qemu_storage_begin(state, obj, params, cookie, error)) {
        end_migration_job(state, obj, FALSE);
        return NULL;
    }
    ferry_domain_obj_emit_event(state->bus, obj, FERRY_EVENT_MIGRATION_BEGIN, 0);
    if (!qemu_hook_run(state->config.hook_path, obj->name, "migrate", "begin", xml, error)) {
        end_migration_job(state, obj, FALSE);
        return NULL;
    }
    *ret_cookie_out = ferry_migration_cookie_format(cookie);
    arm_watchdog(state, obj, cookie->id);
    g_message("domain '%s': migration %s begins (%s)", obj->name, cookie->id,
              offline ? "offline" : "live");
    return g_steal_pointer(&xml);
}

/* ------------------------------------------------------------------ */
/* Prepare (destination) */

/* Where incoming connections are accepted: the caller's URI when it names
 * an address, else the configured migration address, else everywhere. */
static const char *
listen_address(qemu_driver_state *state, const mig_uri *want)
{
    if (want->host && g_hostname_is_ip_address(want->host))
        return want->host;
    return state->config.migration_address ? state->config.migration_address : "0.0.0.0";
}

/* Starts QEMU waiting for the incoming stream and has it listen. */
static gboolean
prepare_incoming(qemu_driver_state *state, ferry_domain_obj *obj, const mig_uri *want,
                 gboolean storage, char **ret_uri_out, GError **error)
{
    const char *listen = listen_address(state, want);
    g_autofree char *advertise = NULL;
    g_autofree char *listen_host = NULL;
    g_autofree char *qemu_uri = NULL;
    g_autoptr(json_object) args = json_object_new_object();
    g_autoptr(json_object) ret = NULL;
    qemu_domain_priv *priv;
    guint port;

    advertise = g_strdup(want->host ? want->host
                                    : state->config.migration_address
                                          ? state->config.migration_address
                                          : state->config.hostname);
    port = qemu_migration_acquire_port(state, listen, want->port, error);
    if (!port)
        return FALSE;
    g_mutex_lock(&obj->lock);
    qemu_domain_priv_get(obj)->mig_port = port;
    g_mutex_unlock(&obj->lock);

    if (!qemu_process_start(state, obj, QEMU_PROCESS_START_INCOMING, error))
        return FALSE;  /* the cleanup released the port */
    if (!enable_migration_events(obj, storage, TRUE, error))
        return FALSE;
    listen_host = host_for_uri(listen);
    qemu_uri = g_strdup_printf("tcp:%s:%u", listen_host, port);
    json_object_object_add(args, "uri", json_object_new_string(qemu_uri));
    ret = qemu_process_command(obj, "migrate-incoming", args, error);
    if (!ret)
        return FALSE;
    g_mutex_lock(&obj->lock);
    priv = qemu_domain_priv_get(obj);
    g_clear_pointer(&priv->mig_status, g_free);
    g_mutex_unlock(&obj->lock);
    g_free(listen_host);
    listen_host = host_for_uri(advertise);
    *ret_uri_out = g_strdup_printf("tcp://%s:%u/", listen_host, port);
    return TRUE;
}

gboolean
qemu_conn_migrate_prepare3(ferry_conn *dconn, const ferry_migrate_params *params,
                           const char *dom_xml, const char *cookie_in, char **ret_cookie_out,
                           char **ret_uri_out, GError **error)
{
    qemu_driver_state *state = state_of(dconn);
    g_autoptr(ferry_migration_cookie) cookie = NULL;
    g_autoptr(ferry_migration_cookie) out = NULL;
    g_autoptr(ferry_domain_def) def = NULL;
    g_autoptr(ferry_domain_obj) obj = NULL;
    g_autoptr(GError) local = NULL;
    g_auto(mig_uri) uri = { 0 };
    g_autofree char *xml = NULL;
    gboolean offline = (params->flags & FERRY_MIGRATE_OFFLINE) != 0;
    gboolean created = FALSE;
    qemu_domain_priv *priv;

    if (!(cookie = ferry_migration_cookie_parse(cookie_in, "Prepare", error)) ||
        !parse_mig_uri(params->uri, &uri, error))
        return FALSE;
    if (g_ascii_strcasecmp(cookie->host_uuid, state->config.host_uuid) == 0) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_MIGRATE,
                    "migration to the same host refused: host '%s' has uuid %s, the same "
                    "as the source's", state->config.hostname, state->config.host_uuid);
        return FALSE;
    }
    if (!(def = qemu_driver_parse_def(dom_xml, error)))
        return FALSE;
    if (params->dname) {
        g_free(def->name);
        def->name = g_strdup(params->dname);
    }
    xml = ferry_domain_def_format(def);
    if (!qemu_hook_run(state->config.hook_path, def->name, "migrate", "prepare", xml, error))
        return FALSE;

    if (offline) {
        /* The definition moves; nothing runs.  Finish keeps or drops it. */
        g_autoptr(GMutexLocker) locker = NULL;
        g_autoptr(ferry_domain_obj) existing =
            ferry_domain_obj_list_find_by_uuid(state->domains, def->uuid);

        created = existing == NULL;
        if (!ferry_domain_obj_list_check_clash(state->domains, def, error) ||
            !qemu_domain_save_def(state, def, error))
            return FALSE;
        obj = ferry_domain_obj_list_define(state->domains, g_steal_pointer(&def), NULL, error);
        if (!obj)
            return FALSE;
    } else {
        obj = ferry_domain_obj_list_add_transient(state->domains, g_steal_pointer(&def), error);
        if (!obj)
            return FALSE;
        created = TRUE;
    }
    if (!ferry_domain_obj_begin_job(obj, FERRY_JOB_MIGRATION_IN, "incoming migration", error)) {
        if (created && !offline)
            ferry_domain_obj_list_remove(state->domains, obj);
        return FALSE;
    }
    g_mutex_lock(&obj->lock);
    priv = qemu_domain_priv_get(obj);
    g_free(priv->mig_id);
    priv->mig_id = g_strdup(cookie->id);
    priv->mig_created = created;
    priv->mig_started_us = priv->mig_phase_since = g_get_monotonic_time();
    priv->mig_conn = dconn;
    g_strlcpy(priv->mig_phase, "prepare", sizeof(priv->mig_phase));
    g_mutex_unlock(&obj->lock);

    out = ferry_migration_cookie_new(cookie->id, state->config.host_uuid, state->config.hostname);
    if (!offline &&
        ((qemu_storage_wanted(params) &&
          !qemu_storage_prepare_images(state, obj, obj->live, cookie, &local)) ||
         !prepare_incoming(state, obj, &uri, qemu_storage_wanted(params), ret_uri_out,
                           &local) ||
         (qemu_storage_wanted(params) &&
          !qemu_storage_prepare_nbd(state, obj, listen_address(state, &uri), params, cookie,
                                    out, &local)))) {
        gboolean running;

        /* Undo: a QEMU that started is stopped (its cleanup frees the port
         * and drops the transient domain); one that never started only
         * has its domain object to drop. */
        g_mutex_lock(&obj->lock);
        running = obj->live && priv->pid > 0 && !priv->cleaned;
        g_mutex_unlock(&obj->lock);
        if (running)
            qemu_process_destroy(state, obj, FERRY_SHUTOFF_FAILED, NULL);
        else if (priv->mig_port)
            qemu_migration_release_port(state, priv->mig_port);
        priv->mig_port = 0;
        if (priv->mig_nbd_port)
            qemu_migration_release_port(state, priv->mig_nbd_port);
        priv->mig_nbd_port = 0;
        qemu_storage_discard(state, obj);
        ferry_domain_obj_list_remove(state->domains, obj);
        end_migration_job(state, obj, FALSE);
        g_propagate_prefixed_error(error, g_steal_pointer(&local),
                                   "Prepare on host '%s': ", state->config.hostname);
        return FALSE;
    }
    out->dom_name = g_strdup(obj->name);
    out->dom_uuid = g_strdup(obj->uuid);
    *ret_cookie_out = ferry_migration_cookie_format(out);
    arm_watchdog(state, obj, cookie->id);
    g_message("domain '%s': migration %s prepared, incoming on %s", obj->name, cookie->id,
              offline ? "(offline)" : *ret_uri_out);
    return TRUE;
}

/* ------------------------------------------------------------------ */
/* Perform (source) */

static gboolean
set_bandwidth(ferry_domain_obj *obj, guint64 mib, GError **error)
{
    g_autoptr(json_object) args = json_object_new_object();
    g_autoptr(json_object) ret = NULL;
    guint64 bps = mib ? mib * 1024 * 1024 : UNLIMITED_BANDWIDTH;

    json_object_object_add(args, "max-bandwidth", json_object_new_int64((gint64)bps));
    ret = qemu_process_command(obj, "migrate-set-parameters", args, error);
    return ret != NULL;
}

/* Waits, lock held, until QEMU's migration ends or QEMU exits. */
static const char *
wait_migration_end(ferry_domain_obj *obj, qemu_domain_priv *priv, gint64 deadline)
{
    for (;;) {
        const char *st = priv->mig_status;

        if (priv->exited)
            return "exited";
        if (st && (!strcmp(st, "completed") || !strcmp(st, "failed") ||
                   !strcmp(st, "cancelled") || !strcmp(st, "pre-switchover")))
            return st;
        if (deadline && !g_cond_wait_until(&priv->exit_cond, &obj->lock, deadline))
            return "timeout";
        if (!deadline)
            g_cond_wait(&priv->exit_cond, &obj->lock);
    }
}

/* As wait_migration_end(), once the status has moved on from @past. */
static const char *
wait_migration_end_after(ferry_domain_obj *obj, qemu_domain_priv *priv, const char *past)
{
    const char *end;

    while (!strcmp((end = wait_migration_end(obj, priv, 0)), past))
        g_cond_wait(&priv->exit_cond, &obj->lock);
    return end;
}

/* The reason QEMU gives for a failed migration. */
static char *
migration_error(ferry_domain_obj *obj)
{
    g_autoptr(json_object) info = qemu_process_command(obj, "query-migrate", NULL, NULL);
    json_object *desc;

    if (info && json_object_object_get_ex(info, "error-desc", &desc))
        return g_strdup(json_object_get_string(desc));
    return g_strdup("QEMU gave no reason");
}

static void
fill_stats(ferry_domain_obj *obj, qemu_domain_priv *priv, ferry_migration_cookie *cookie)
{
    g_autoptr(json_object) info = qemu_process_command(obj, "query-migrate", NULL, NULL);
    json_object *ram = NULL;

    cookie->has_stats = TRUE;
    if (info) {
        json_object_object_get_ex(info, "ram", &ram);
        cookie->total_ms = json_get_int(info, "total-time");
        cookie->downtime_ms = json_get_int(info, "downtime");
        cookie->setup_ms = json_get_int(info, "setup-time");
        cookie->data_total = (guint64)json_get_int(ram, "total");
        cookie->data_transferred = (guint64)json_get_int(ram, "transferred");
    }
    /* QEMU 7.2 sometimes reports 0 right after completing (DESIGN.md §9):
     * take the total from its own event timestamps then. */
    g_mutex_lock(&obj->lock);
    if (!cookie->total_ms && priv->mig_active_ts && priv->mig_completed_ts)
        cookie->total_ms = (priv->mig_completed_ts - priv->mig_active_ts) / 1000;
    g_mutex_unlock(&obj->lock);
}

static gboolean
perform_p2p(ferry_domain *dom, const ferry_migrate_params *params, const char *dconn_uri,
            char **ret_cookie_out, GError **error)
{
    qemu_driver_state *state = state_of(dom->conn);
    ferry_migrate_params p = *params;
    ferry_migrate_stats stats = { 0 };
    g_autoptr(ferry_conn) dconn = NULL;
    g_autoptr(ferry_domain) ddom = NULL;
    g_autoptr(ferry_migration_cookie) out = NULL;

    p.flags &= ~FERRY_MIGRATE_PEER2PEER;
    dconn = ferry_conn_open(dconn_uri, error);
    if (!dconn) {
        g_prefix_error(error, "peer-to-peer migration of '%s': ", dom->name);
        return FALSE;
    }
    p2p_runner = TRUE;
    ddom = ferry_migrate_run_v3(dom, dconn, &p, &stats, error);
    p2p_runner = FALSE;
    if (!ddom)
        return FALSE;
    out = ferry_migration_cookie_new(NULL, state->config.host_uuid, state->config.hostname);
    out->has_stats = TRUE;
    out->total_ms = stats.total_ms;
    out->downtime_ms = stats.downtime_ms;
    out->setup_ms = stats.setup_ms;
    out->data_total = stats.data_total;
    out->data_transferred = stats.data_transferred;
    *ret_cookie_out = ferry_migration_cookie_format(out);
    return TRUE;
}

gboolean
qemu_domain_migrate_perform3(ferry_domain *dom, const ferry_migrate_params *params,
                             const char *dconn_uri, const char *cookie_in,
                             char **ret_cookie_out, GError **error)
{
    qemu_driver_state *state = state_of(dom->conn);
    g_autoptr(ferry_migration_cookie) cookie = NULL;
    g_autoptr(ferry_migration_cookie) out = NULL;
    g_autoptr(ferry_domain_obj) obj = NULL;
    g_auto(phase_guard) guard = { NULL };  /* after obj: cleared before obj's unref */
    g_autoptr(json_object) args = NULL;
    g_autoptr(json_object) ret = NULL;
    g_autoptr(GError) local = NULL;
    g_auto(mig_uri) uri = { 0 };
    g_autofree char *host = NULL;
    g_autofree char *qemu_uri = NULL;
    qemu_domain_priv *priv;
    const char *end;

    if (params->flags & FERRY_MIGRATE_PEER2PEER) {
        if (!dconn_uri) {
            g_set_error(error, FERRY_ERROR, FERRY_ERROR_INVALID_ARG,
                        "peer-to-peer migration needs the destination's connection URI");
            return FALSE;
        }
        return perform_p2p(dom, params, dconn_uri, ret_cookie_out, error);
    }
    if (!(cookie = ferry_migration_cookie_parse(cookie_in, "Perform", error)) ||
        !(obj = find_migrating(state, dom->name, dom->uuid, FERRY_JOB_MIGRATION_OUT, cookie,
                               "Perform", error)))
        return FALSE;
    guard.obj = obj;
    set_phase(obj, "perform");
    out = ferry_migration_cookie_new(cookie->id, state->config.host_uuid, state->config.hostname);
    if (params->flags & FERRY_MIGRATE_OFFLINE) {
        *ret_cookie_out = ferry_migration_cookie_format(out);
        return TRUE;
    }
    if (!parse_mig_uri(params->uri, &uri, error))
        return FALSE;
    if (!uri.host || !uri.port) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_INVALID_URI,
                    "Perform: migration URI '%s' must name a host and a port",
                    params->uri ? params->uri : "(none)");
        return FALSE;
    }
    host = host_for_uri(uri.host);
    qemu_uri = g_strdup_printf("tcp:%s:%u", host, uri.port);

    g_mutex_lock(&obj->lock);
    priv = qemu_domain_priv_get(obj);
    g_clear_pointer(&priv->mig_status, g_free);
    priv->mig_active_ts = priv->mig_stop_ts = priv->mig_completed_ts = 0;
    g_mutex_unlock(&obj->lock);
    if (!enable_migration_events(obj, qemu_storage_wanted(params), FALSE, &local) ||
        !set_bandwidth(obj, params->bandwidth_mib, &local)) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_MIGRATE,
                    "Perform: domain '%s': %s", dom->name, local->message);
        return FALSE;
    }
    if (qemu_storage_wanted(params) &&
        !qemu_storage_mirror(state, obj, params, uri.host, cookie, error))
        return FALSE;
    args = json_object_new_object();
    json_object_object_add(args, "uri", json_object_new_string(qemu_uri));
    ret = qemu_process_command(obj, "migrate", args, &local);
    if (!ret) {
        qemu_storage_abort(state, obj);
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_MIGRATE,
                    "Perform: domain '%s': QEMU refused to migrate to %s: %s", dom->name,
                    qemu_uri, local->message);
        return FALSE;
    }

    g_mutex_lock(&obj->lock);
    end = wait_migration_end(obj, priv, 0);
    g_mutex_unlock(&obj->lock);
    if (!strcmp(end, "pre-switchover")) {
        /* The source is paused before the last RAM pass: finish the disk
         * copies now, while no guest write can come, then let QEMU switch. */
        g_autoptr(json_object) cargs = json_object_new_object();
        g_autoptr(json_object) cret = NULL;

        if (!qemu_storage_complete(state, obj, params, cookie, out, &local)) {
            g_autoptr(json_object) r = qemu_process_command(obj, "migrate_cancel", NULL, NULL);

            g_propagate_error(error, g_steal_pointer(&local));
            return FALSE;
        }
        json_object_object_add(cargs, "state", json_object_new_string("pre-switchover"));
        cret = qemu_process_command(obj, "migrate-continue", cargs, &local);
        g_mutex_lock(&obj->lock);
        end = cret ? wait_migration_end_after(obj, priv, "pre-switchover") : "failed";
        g_mutex_unlock(&obj->lock);
    }
    g_mutex_lock(&obj->lock);
    if (!strcmp(end, "completed"))
        ferry_domain_obj_set_state(obj, FERRY_DOMAIN_PAUSED, FERRY_PAUSED_MIGRATION);
    g_mutex_unlock(&obj->lock);

    if (strcmp(end, "completed") != 0) {
        g_autofree char *why = strcmp(end, "exited") ? migration_error(obj)
                                                     : g_strdup("the source QEMU exited");

        g_set_error(error, FERRY_ERROR, FERRY_ERROR_MIGRATE,
                    "Perform: migration of domain '%s' to %s %s: %s", dom->name, params->uri,
                    end, why);
        qemu_storage_abort(state, obj);
        return FALSE;
    }
    fill_stats(obj, priv, out);
    *ret_cookie_out = ferry_migration_cookie_format(out);
    g_message("domain '%s': migration %s sent (%" G_GINT64_FORMAT " ms, downtime %"
              G_GINT64_FORMAT " ms)", dom->name, cookie->id, out->total_ms, out->downtime_ms);
    return TRUE;
}

/* ------------------------------------------------------------------ */
/* Finish (destination) */

/* Gives up an incoming domain: QEMU stopped, the domain gone if Prepare made it. */
static void
discard_incoming(qemu_driver_state *state, ferry_domain_obj *obj, gboolean offline)
{
    qemu_domain_priv *priv;
    gboolean created, active;

    g_mutex_lock(&obj->lock);
    priv = qemu_domain_priv_get(obj);
    created = priv->mig_created;
    active = ferry_domain_obj_is_active(obj);
    g_mutex_unlock(&obj->lock);
    if (active) {
        qemu_storage_stop_nbd(state, obj);
        qemu_process_destroy(state, obj, FERRY_SHUTOFF_FAILED, NULL);
    }
    qemu_storage_discard(state, obj);
    if (offline && created) {
        qemu_domain_delete_def(state, obj->name, NULL);
        ferry_domain_obj_list_remove(state->domains, obj);
    }
}

ferry_domain *
qemu_conn_migrate_finish3(ferry_conn *dconn, const ferry_migrate_params *params,
                          const char *dname, const char *cookie_in, char **ret_cookie_out,
                          gboolean cancelled, GError **error)
{
    qemu_driver_state *state = state_of(dconn);
    g_autoptr(ferry_migration_cookie) cookie = NULL;
    g_autoptr(ferry_migration_cookie) out = NULL;
    g_autoptr(ferry_domain_obj) obj = NULL;
    g_auto(phase_guard) guard = { NULL };  /* after obj: cleared before obj's unref */
    g_autoptr(GError) local = NULL;
    gboolean offline = (params->flags & FERRY_MIGRATE_OFFLINE) != 0;
    gboolean stay_paused = (params->flags & FERRY_MIGRATE_PAUSED) != 0;
    qemu_domain_priv *priv;
    const char *end;

    if (!(cookie = ferry_migration_cookie_parse(cookie_in, "Finish", error)) ||
        !(obj = find_migrating(state, dname, NULL, FERRY_JOB_MIGRATION_IN, cookie, "Finish",
                               error)))
        return NULL;
    guard.obj = obj;
    set_phase(obj, "finish");
    if (cancelled) {
        discard_incoming(state, obj, offline);
        end_migration_job(state, obj, FALSE);
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_MIGRATE,
                    "Finish: migration of domain '%s' was cancelled; host '%s' dropped it",
                    dname, state->config.hostname);
        return NULL;
    }
    if (offline) {
        end_migration_job(state, obj, TRUE);
        return ferry_domain_new_handle(dconn, obj->name, obj->uuid);
    }
    if (g_strcmp0(state->config.inject_failure, "finish") == 0) {
        /* Tests: the data has arrived, yet the destination cannot take the
         * domain -- the case Confirm exists for. */
        discard_incoming(state, obj, FALSE);
        end_migration_job(state, obj, FALSE);
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_MIGRATE,
                    "Finish: injected failure on host '%s' (debug_inject_failure = finish)",
                    state->config.hostname);
        return NULL;
    }

    g_mutex_lock(&obj->lock);
    priv = qemu_domain_priv_get(obj);
    end = wait_migration_end(obj, priv, g_get_monotonic_time() +
                                            FINISH_WAIT_SECONDS * G_TIME_SPAN_SECOND);
    g_mutex_unlock(&obj->lock);
    if (strcmp(end, "completed") != 0) {
        discard_incoming(state, obj, FALSE);
        end_migration_job(state, obj, FALSE);
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_MIGRATE,
                    "Finish: incoming migration of domain '%s' on host '%s' %s", dname,
                    state->config.hostname,
                    !strcmp(end, "exited") ? "failed: the destination QEMU exited" : end);
        return NULL;
    }
    if (priv->mig_port) {
        qemu_migration_release_port(state, priv->mig_port);
        priv->mig_port = 0;
    }
    /* Every disk write has arrived (Perform completed the mirrors while the
     * source was paused): no more NBD clients, and the images stay. */
    qemu_storage_stop_nbd(state, obj);
    g_mutex_lock(&obj->lock);
    g_clear_pointer(&priv->mig_images, g_ptr_array_unref);
    g_mutex_unlock(&obj->lock);
    if (cookie->features && g_ptr_array_find_with_equal_func(cookie->features, "source-paused",
                                                             g_str_equal, NULL))
        stay_paused = TRUE;
    if (!stay_paused) {
        g_autoptr(json_object) ret = qemu_process_command(obj, "cont", NULL, &local);

        if (!ret) {
            discard_incoming(state, obj, FALSE);
            end_migration_job(state, obj, FALSE);
            g_set_error(error, FERRY_ERROR, FERRY_ERROR_MIGRATE,
                        "Finish: domain '%s' arrived but cannot run: %s", dname,
                        local->message);
            return NULL;
        }
    }
    g_mutex_lock(&obj->lock);
    if (stay_paused)
        ferry_domain_obj_set_state(obj, FERRY_DOMAIN_PAUSED, FERRY_PAUSED_USER);
    else
        ferry_domain_obj_set_state(obj, FERRY_DOMAIN_RUNNING, FERRY_RUNNING_MIGRATED);
    if (params->flags & FERRY_MIGRATE_PERSIST_DEST) {
        ferry_domain_def *pdef = cookie->persistent ? g_steal_pointer(&cookie->persistent)
                                                    : ferry_domain_def_copy(obj->live);

        g_free(pdef->name);
        pdef->name = g_strdup(obj->name);
        if (!qemu_domain_save_def(state, pdef, &local))
            g_warning("domain '%s': arrived but not persisted: %s", obj->name, local->message);
        ferry_domain_def_free(obj->def);
        obj->def = pdef;
    }
    if (!qemu_domain_save_status(state, obj, &local))
        g_warning("domain '%s': %s", obj->name, local->message);
    g_mutex_unlock(&obj->lock);

    out = ferry_migration_cookie_new(cookie->id, state->config.host_uuid, state->config.hostname);
    out->has_result = TRUE;
    out->result_ok = TRUE;
    *ret_cookie_out = ferry_migration_cookie_format(out);
    qemu_domain_emit_lifecycle(state, obj, stay_paused ? FERRY_LIFECYCLE_SUSPENDED
                                                       : FERRY_LIFECYCLE_STARTED);
    end_migration_job(state, obj, TRUE);
    g_message("domain '%s': migration %s arrived, %s", obj->name, cookie->id,
              stay_paused ? "paused" : "running");
    return ferry_domain_new_handle(dconn, obj->name, obj->uuid);
}

/* ------------------------------------------------------------------ */
/* Confirm (source) */

gboolean
qemu_domain_migrate_confirm3(ferry_domain *dom, const ferry_migrate_params *params,
                             const char *cookie_in, gboolean cancelled, GError **error)
{
    qemu_driver_state *state = state_of(dom->conn);
    g_autoptr(ferry_migration_cookie) cookie = NULL;
    g_autoptr(ferry_domain_obj) obj = NULL;
    g_auto(phase_guard) guard = { NULL };  /* after obj: cleared before obj's unref */
    g_autoptr(GError) local = NULL;
    gboolean offline = (params->flags & FERRY_MIGRATE_OFFLINE) != 0;
    gboolean ok = TRUE;

    /* A cancelled migration may have no Finish cookie: find it by job. */
    if (cookie_in && *cookie_in &&
        !(cookie = ferry_migration_cookie_parse(cookie_in, "Confirm", error)))
        return FALSE;
    if (!(obj = find_migrating(state, dom->name, dom->uuid, FERRY_JOB_MIGRATION_OUT, cookie,
                               "Confirm", error)))
        return FALSE;
    guard.obj = obj;
    set_phase(obj, "confirm");

    if (!cancelled) {
        if (!offline)
            ok = qemu_process_destroy(state, obj, FERRY_SHUTOFF_MIGRATED, error);
        if (ok && (params->flags & FERRY_MIGRATE_UNDEFINE_SOURCE)) {
            gboolean had_def;

            g_mutex_lock(&obj->lock);
            had_def = obj->def != NULL;
            g_mutex_unlock(&obj->lock);
            if (had_def && qemu_domain_delete_def(state, obj->name, &local)) {
                g_mutex_lock(&obj->lock);
                g_clear_pointer(&obj->def, ferry_domain_def_free);
                g_mutex_unlock(&obj->lock);
                ferry_domain_obj_list_remove(state->domains, obj);
                qemu_domain_emit_lifecycle(state, obj, FERRY_LIFECYCLE_UNDEFINED);
            } else if (local) {
                g_warning("domain '%s': %s", obj->name, local->message);
            }
        }
        end_migration_job(state, obj, ok);
        return ok;
    }

    /* Cancelled: the source must run again as it did before. */
    if (!offline) {
        g_autoptr(json_object) info = qemu_process_command(obj, "query-migrate", NULL, NULL);
        json_object *st = NULL;
        gboolean was_paused;
        int state_now;

        if (info && json_object_object_get_ex(info, "status", &st) &&
            !strcmp(json_object_get_string(st), "active")) {
            g_autoptr(json_object) r = qemu_process_command(obj, "migrate_cancel", NULL, NULL);
        }
        gboolean active;

        g_mutex_lock(&obj->lock);
        state_now = obj->state;
        active = ferry_domain_obj_is_active(obj);
        was_paused = obj->state == FERRY_DOMAIN_PAUSED && obj->reason != FERRY_PAUSED_MIGRATION;
        g_mutex_unlock(&obj->lock);
        if (active && !was_paused) {
            g_autoptr(json_object) r = qemu_process_command(obj, "cont", NULL, &local);

            if (!r) {
                ok = FALSE;
                g_set_error(error, FERRY_ERROR, FERRY_ERROR_MIGRATE,
                            "Confirm: cannot resume domain '%s' after the failed migration: "
                            "%s", dom->name, local->message);
            } else {
                g_mutex_lock(&obj->lock);
                ferry_domain_obj_set_state(obj, FERRY_DOMAIN_RUNNING,
                                           FERRY_RUNNING_MIGRATION_CANCELED);
                qemu_domain_save_status(state, obj, NULL);
                g_mutex_unlock(&obj->lock);
                if (state_now != FERRY_DOMAIN_RUNNING)
                    qemu_domain_emit_lifecycle(state, obj, FERRY_LIFECYCLE_RESUMED);
            }
        }
    }
    g_message("domain '%s': migration cancelled, the source keeps the domain", dom->name);
    end_migration_job(state, obj, FALSE);
    return ok;
}

/* ------------------------------------------------------------------ */
/* Job info */

gboolean
qemu_domain_get_job_info(ferry_domain *dom, ferry_job_info *ret_info, GError **error)
{
    qemu_driver_state *state = state_of(dom->conn);
    g_autoptr(ferry_domain_obj) obj =
        ferry_domain_obj_list_lookup(state->domains, dom, state->config.hostname, error);
    gboolean query = FALSE;
    qemu_domain_priv *priv;

    if (!obj)
        return FALSE;
    memset(ret_info, 0, sizeof(*ret_info));
    g_mutex_lock(&obj->lock);
    priv = qemu_domain_priv_get(obj);
    if (priv->mig_id && (obj->job == FERRY_JOB_MIGRATION_OUT || obj->job == FERRY_JOB_MIGRATION_IN)) {
        ret_info->type = FERRY_JOB_INFO_ACTIVE;
        g_strlcpy(ret_info->phase, priv->mig_phase, sizeof(ret_info->phase));
        ret_info->elapsed_ms = (g_get_monotonic_time() - priv->mig_started_us) / 1000;
        query = obj->job == FERRY_JOB_MIGRATION_OUT && !strcmp(priv->mig_phase, "perform");
    } else {
        *ret_info = priv->last_job;
    }
    g_mutex_unlock(&obj->lock);

    if (query) {
        /* QMP answers even while the migration runs: no job is needed. */
        g_autoptr(json_object) info = qemu_process_command(obj, "query-migrate", NULL, NULL);
        json_object *ram = NULL;

        qemu_storage_job_info(obj, ret_info);
        if (info && json_object_object_get_ex(info, "ram", &ram)) {
            ret_info->mem_total = (guint64)json_get_int(ram, "total");
            ret_info->mem_processed = (guint64)json_get_int(ram, "transferred");
            ret_info->mem_remaining = (guint64)json_get_int(ram, "remaining");
            /* "mbps" is a float in megabits per second. */
            {
                json_object *mbps;

                if (json_object_object_get_ex(ram, "mbps", &mbps))
                    ret_info->rate_bps = (guint64)(json_object_get_double(mbps) * 1e6 / 8);
            }
        }
    }
    return TRUE;
}

void
qemu_migration_abort_incoming(qemu_driver_state *state, ferry_domain_obj *obj, const char *why)
{
    gboolean incoming;

    g_mutex_lock(&obj->lock);
    incoming = obj->job == FERRY_JOB_MIGRATION_IN && obj->priv &&
               ((qemu_domain_priv *)obj->priv)->mig_id;
    g_mutex_unlock(&obj->lock);
    if (!incoming)
        return;
    /* Between Prepare and Finish nothing holds the job but this migration;
     * nobody will finish it, so it takes its half-arrived domain with it
     * rather than leave a paused QEMU, a port and images behind. */
    g_message("domain '%s': giving up the incoming migration: %s", obj->name, why);
    discard_incoming(state, obj, FALSE);
    end_migration_job(state, obj, FALSE);
}
