/*
 * qemu-domain.c: persistence of QEMU domains: definitions and status files.
 *
 * Every write is atomic (GLib writes a temporary file, fsyncs it and renames
 * it over the old one), so a crash leaves either the old or the new file,
 * never half of one.  Loading never trusts a file blindly: a broken one is
 * reported, naming it and why, and skipped; the rest still load.  A QEMU
 * whose status file did not load is still found (by its command line) and
 * re-attached: a running VM is never left without its ferryd, where a
 * second start of its uuid would make two.
 */
#include "ferry-config.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <string.h>

#include "conf/xml-util.h"
#include "qemu/qemu-command.h"
#include "qemu/qemu-domain.h"
#include "qemu/qemu-process.h"
#include "qemu/qemu-migration.h"
#include "qemu/qemu-user.h"
#include "util/error.h"
#include "util/json-util.h"

#define STATUS_VERSION 1
/* The largest status file read: the live definition JSON-escaped (each
 * byte two at most) and a little more.  As large as any parseable
 * definition makes it, so that files of older ferryds still load. */
#define STATUS_MAX_SIZE (2 * FERRY_XML_MAX_SIZE + 64 * 1024)

qemu_domain_priv *
qemu_domain_priv_new(void)
{
    qemu_domain_priv *priv = g_new0(qemu_domain_priv, 1);

    priv->pidfd = -1;
    g_cond_init(&priv->exit_cond);
    return priv;
}

void
qemu_domain_priv_free(qemu_domain_priv *priv)
{
    if (!priv)
        return;
    if (priv->exit_source) {
        g_source_destroy(priv->exit_source);
        g_source_unref(priv->exit_source);
    }
    ferry_relay_close(g_steal_pointer(&priv->mig_relay));
    ferry_relay_close(g_steal_pointer(&priv->mig_nbd_relay));
    if (priv->exit_pending) {
        g_source_destroy(priv->exit_pending);
        g_source_unref(priv->exit_pending);
    }
    if (priv->pidfd >= 0)
        close(priv->pidfd);
    if (priv->qmp) {
        ferry_qmp_close(priv->qmp);
        ferry_qmp_unref(priv->qmp);
    }
    g_clear_object(&priv->proc);
    g_free(priv->monitor_path);
    g_free(priv->log_path);
    g_clear_pointer(&priv->mig_jobs, g_hash_table_unref);
    g_clear_pointer(&priv->mig_disks, g_ptr_array_unref);
    g_clear_pointer(&priv->mig_images, g_ptr_array_unref);
    g_clear_pointer(&priv->handed, g_ptr_array_unref);
    g_clear_object(&priv->mig_listener);
    g_free(priv->mig_status);
    g_cond_clear(&priv->exit_cond);
    g_free(priv);
}

qemu_domain_priv *
qemu_domain_priv_get(ferry_domain_obj *obj)
{
    if (!obj->priv) {
        obj->priv = qemu_domain_priv_new();
        obj->priv_free = (GDestroyNotify)qemu_domain_priv_free;
    }
    return obj->priv;
}

static char *
def_path(qemu_driver_state *state, const char *name)
{
    g_autofree char *file = g_strdup_printf("%s.xml", name);

    return g_build_filename(state->def_dir, file, NULL);
}

static char *
status_path(qemu_driver_state *state, const char *uuid)
{
    g_autofree char *file = g_strdup_printf("%s.json", uuid);

    return g_build_filename(state->run_dir, file, NULL);
}

char *
qemu_domain_pid_path(qemu_driver_state *state, const char *uuid)
{
    g_autofree char *file = g_strdup_printf("%s.pid", uuid);

    return g_build_filename(state->run_dir, file, NULL);
}

char *
qemu_domain_monitor_path(qemu_driver_state *state, const char *uuid)
{
    g_autofree char *file = g_strdup_printf("%s.qmp", uuid);

    return g_build_filename(state->run_dir, file, NULL);
}

static gboolean
write_atomic(const char *path, const char *data, GError **error)
{
    g_autoptr(GError) local = NULL;

    if (!g_file_set_contents_full(path, data, -1,
                                  G_FILE_SET_CONTENTS_CONSISTENT |
                                  G_FILE_SET_CONTENTS_DURABLE,
                                  0600, &local)) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_SYSTEM,
                    "cannot write '%s': %s", path, local->message);
        return FALSE;
    }
    return TRUE;
}

gboolean
qemu_domain_save_def(qemu_driver_state *state, const ferry_domain_def *def, GError **error)
{
    g_autofree char *path = def_path(state, def->name);
    g_autofree char *xml = ferry_domain_def_format_checked(def, error);

    return xml && write_atomic(path, xml, error);
}

gboolean
qemu_domain_delete_def(qemu_driver_state *state, const char *name, GError **error)
{
    g_autofree char *path = def_path(state, name);

    if (g_unlink(path) < 0 && errno != ENOENT) {
        ferry_set_error_errno(error, FERRY_ERROR_SYSTEM, errno,
                              "cannot delete the definition of domain '%s' ('%s')",
                              name, path);
        return FALSE;
    }
    return TRUE;
}

gboolean
qemu_domain_save_status(qemu_driver_state *state, ferry_domain_obj *obj, GError **error)
{
    qemu_domain_priv *priv = qemu_domain_priv_get(obj);
    g_autoptr(json_object) root = json_object_new_object();
    g_autofree char *xml = ferry_domain_def_format_checked(obj->live, error);
    g_autofree char *path = status_path(state, obj->uuid);

    if (!xml)
        return FALSE;
    json_object_object_add(root, "version", json_object_new_int(STATUS_VERSION));
    json_object_object_add(root, "pid", json_object_new_int64(priv->pid));
    json_object_object_add(root, "state", json_object_new_int(obj->state));
    json_object_object_add(root, "reason", json_object_new_int(obj->reason));
    json_object_object_add(root, "started_at", json_object_new_int64(priv->started_at));
    json_object_object_add(root, "monitor", json_object_new_string(priv->monitor_path));
    json_object_object_add(root, "log", json_object_new_string(priv->log_path));
    json_object_object_add(root, "live", json_object_new_string(xml));
    /* What the QEMU user was given, to give back even after a restart. */
    if (priv->handed && priv->handed->len > 0)
        json_object_object_add(root, "handed", qemu_user_files_to_json(priv->handed));
    /* A migration under way is in the engine's job record, not here. */
    return write_atomic(path,
                        json_object_to_json_string_ext(root, JSON_C_TO_STRING_PRETTY),
                        error);
}

void
qemu_domain_delete_status(qemu_driver_state *state, const char *uuid)
{
    g_autofree char *path = status_path(state, uuid);

    if (g_unlink(path) < 0 && errno != ENOENT)
        g_warning("cannot delete status file '%s': %s", path, g_strerror(errno));
}

void
qemu_domain_emit_lifecycle(qemu_driver_state *state, ferry_domain_obj *obj,
                           ferry_lifecycle_event what)
{
    ferry_domain_obj_emit_lifecycle(state->bus, obj, what);
}

/* Reads @path whole if it holds at most @max bytes: sized first, so that
 * a huge file costs nothing. */
static char *
read_bounded(const char *path, gsize max, GError **error)
{
    GStatBuf st;
    char *text = NULL;

    if (g_stat(path, &st) < 0) {
        ferry_set_error_errno(error, FERRY_ERROR_SYSTEM, errno, "cannot read '%s'", path);
        return NULL;
    }
    if ((guint64)st.st_size > max) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_SYSTEM,
                    "'%s' is %" G_GUINT64_FORMAT " bytes long, more than the %" G_GSIZE_FORMAT
                    " this ferryd reads", path, (guint64)st.st_size, max);
        return NULL;
    }
    if (!g_file_get_contents(path, &text, NULL, error))
        return NULL;
    return text;
}

/* Loads DEF_DIR/NAME.xml into the list. */
static void
load_def(qemu_driver_state *state, const char *file)
{
    g_autofree char *path = g_build_filename(state->def_dir, file, NULL);
    g_autofree char *xml = NULL;
    g_autofree char *expected = g_strndup(file, strlen(file) - strlen(".xml"));
    g_autoptr(GError) error = NULL;
    g_autoptr(ferry_domain_def) def = NULL;
    g_autoptr(ferry_domain_obj) obj = NULL;

    if (!(xml = read_bounded(path, FERRY_XML_MAX_SIZE, &error)) ||
        !(def = ferry_domain_def_parse_string(xml, path, 0, &error))) {
        g_warning("cannot load domain definition '%s', left as it is: %s", path,
                  error->message);
        return;
    }
    if (strcmp(def->name, expected) != 0) {
        g_warning("cannot load domain definition '%s', left as it is: it defines domain '%s'",
                  path, def->name);
        return;
    }
    obj = ferry_domain_obj_list_define(state->domains, g_steal_pointer(&def), NULL, &error);
    if (!obj)
        g_warning("cannot load domain definition '%s', left as it is: %s", path,
                  error->message);
}

static gboolean
status_get_int64(json_object *root, const char *key, gint64 *ret)
{
    json_object *v;

    if (!json_object_object_get_ex(root, key, &v) || !json_object_is_type(v, json_type_int))
        return FALSE;
    *ret = json_object_get_int64(v);
    return TRUE;
}

static const char *
status_get_string(json_object *root, const char *key)
{
    json_object *v;

    if (!json_object_object_get_ex(root, key, &v) || !json_object_is_type(v, json_type_string))
        return NULL;
    return json_object_get_string(v);
}

/* Loads RUN_DIR/UUID.json and re-attaches to its QEMU. */
static void
load_status(qemu_driver_state *state, const char *file)
{
    g_autofree char *path = g_build_filename(state->run_dir, file, NULL);
    g_autofree char *text = NULL;
    g_autoptr(GError) error = NULL;
    g_autoptr(json_object) root = NULL;
    g_autoptr(ferry_domain_def) live = NULL;
    g_autoptr(ferry_domain_obj) obj = NULL;
    const char *xml, *monitor, *log;
    gint64 version, pid, st, reason, started_at;
    qemu_domain_priv *priv;

    if (!(text = read_bounded(path, STATUS_MAX_SIZE, &error))) {
        g_warning("cannot load status file '%s': %s", path, error->message);
        return;
    }
    root = json_tokener_parse(text);
    if (!root || !json_object_is_type(root, json_type_object) ||
        !status_get_int64(root, "version", &version) || version != STATUS_VERSION ||
        !status_get_int64(root, "pid", &pid) || pid <= 0 ||
        !status_get_int64(root, "state", &st) ||
        !status_get_int64(root, "reason", &reason) ||
        !status_get_int64(root, "started_at", &started_at) ||
        !(xml = status_get_string(root, "live")) ||
        !(monitor = status_get_string(root, "monitor")) ||
        !(log = status_get_string(root, "log"))) {
        g_warning("cannot load status file '%s': it is not a version %d status file",
                  path, STATUS_VERSION);
        return;
    }
    live = ferry_domain_def_parse_string(xml, path, 0, &error);
    if (!live) {
        g_warning("cannot load status file '%s': %s", path, error->message);
        return;
    }
    obj = ferry_domain_obj_list_add_transient(state->domains, g_steal_pointer(&live), &error);
    if (!obj) {
        g_warning("cannot load status file '%s': %s", path, error->message);
        return;
    }

    g_mutex_lock(&obj->lock);
    ferry_domain_obj_set_state(obj, (int)st, (int)reason);
    priv = qemu_domain_priv_get(obj);
    priv->pid = pid;
    priv->started_at = started_at;
    priv->monitor_path = g_strdup(monitor);
    priv->log_path = g_strdup(log);
    {
        json_object *handed = NULL;

        if (json_object_object_get_ex(root, "handed", &handed))
            priv->handed = qemu_user_files_from_json(handed);
    }
    g_mutex_unlock(&obj->lock);

    if (!qemu_process_reattach(state, obj, &error))
        g_warning("domain '%s': %s", obj->name, error->message);
}

typedef void (*load_fn)(qemu_driver_state *state, const char *file);

static gboolean
load_dir(qemu_driver_state *state, const char *dir, const char *suffix, load_fn fn,
         GError **error)
{
    g_autoptr(GDir) d = g_dir_open(dir, 0, error);
    const char *file;

    if (!d)
        return FALSE;
    while ((file = g_dir_read_name(d))) {
        if (g_str_has_suffix(file, suffix) && strlen(file) > strlen(suffix))
            fn(state, file);
    }
    return TRUE;
}

/* ------------------------------------------------------------------ */
/* QEMUs that no status file brought back */

/* The definition a QEMU found running without its status file gets: what
 * its command line says, under the name and with the description of the
 * persistent definition of its uuid if one loaded. */
static ferry_domain_def *
adopted_def(qemu_driver_state *state, const char *uuid, const qemu_running *r,
            GError **error)
{
    g_autoptr(ferry_domain_def) live =
        ferry_qemu_def_from_argv((const char *const *)r->argv, error);
    g_autoptr(ferry_domain_obj) same = NULL;
    g_autoptr(ferry_domain_obj) other = NULL;

    if (!live)
        return NULL;
    same = ferry_domain_obj_list_find_by_uuid(state->domains, uuid);
    if (same) {
        g_mutex_lock(&same->lock);
        g_free(live->name);
        live->name = g_strdup(same->name);
        live->description = same->def ? g_strdup(same->def->description) : NULL;
        g_mutex_unlock(&same->lock);
        return g_steal_pointer(&live);
    }
    /* Another uuid holds its name: still managed, under a name of its own. */
    other = ferry_domain_obj_list_find_by_name(state->domains, live->name);
    if (other) {
        g_free(live->name);
        live->name = g_strdup_printf("recovered-%s", uuid);
    }
    live->description = g_strdup_printf("re-attached by ferryd to QEMU pid %" G_GINT64_FORMAT
                                        " from its command line: no status file of it "
                                        "could be loaded", r->pid);
    return g_steal_pointer(&live);
}

/* Moves a status file that did not load out of the way of the new one,
 * keeping it to look at.  Returns (transfer full) where, or NULL. */
static char *
keep_bad_status(qemu_driver_state *state, const char *uuid)
{
    g_autofree char *path = status_path(state, uuid);
    g_autofree char *kept = g_strconcat(path, ".bad", NULL);

    if (!g_file_test(path, G_FILE_TEST_EXISTS))
        return NULL;
    if (g_rename(path, kept) < 0) {
        g_warning("cannot rename '%s' to '%s': %s", path, kept, g_strerror(errno));
        return NULL;
    }
    return g_steal_pointer(&kept);
}

/* Re-attaches to a QEMU of this ferryd that runs @uuid without a domain. */
static void
adopt_qemu(qemu_driver_state *state, const char *uuid, const qemu_running *r)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(ferry_domain_def) live = adopted_def(state, uuid, r, &error);
    g_autoptr(ferry_domain_obj) obj = NULL;
    g_autofree char *kept = NULL;
    g_autofree char *log_file = NULL;
    qemu_domain_priv *priv;

    if (live)
        obj = ferry_domain_obj_list_add_transient(state->domains, g_steal_pointer(&live),
                                                  &error);
    if (!obj) {
        g_warning("QEMU pid %" G_GINT64_FORMAT " runs uuid %s, which no status file brought "
                  "back, and ferryd cannot take it back: %s; it keeps running, and no domain "
                  "of that uuid can be defined or started here while it does",
                  r->pid, uuid, error->message);
        return;
    }
    kept = keep_bad_status(state, uuid);
    g_mutex_lock(&obj->lock);
    ferry_domain_obj_set_state(obj, FERRY_DOMAIN_PAUSED, FERRY_PAUSED_UNKNOWN);
    priv = qemu_domain_priv_get(obj);
    priv->pid = r->pid;
    /* When it started is in no file any more; the status keeps this. */
    priv->started_at = g_get_real_time();
    /* The domain may have had a life already (a status file naming a dead
     * pid): its paths are replaced. */
    g_free(priv->monitor_path);
    priv->monitor_path = qemu_domain_monitor_path(state, uuid);
    log_file = g_strdup_printf("%s.log", obj->name);
    g_free(priv->log_path);
    priv->log_path = g_build_filename(state->log_dir, log_file, NULL);
    g_mutex_unlock(&obj->lock);
    g_warning("domain '%s' (uuid %s): re-attaching to QEMU pid %" G_GINT64_FORMAT " from its "
              "command line, as no status file of it loaded%s%s", obj->name, uuid, r->pid,
              kept ? "; the one that did not is kept as " : "", kept ? kept : "");
    if (!qemu_process_reattach(state, obj, &error)) {
        g_warning("domain '%s': %s", obj->name, error->message);
        return;
    }
    /* The next ferryd loads it from a status file again. */
    g_mutex_lock(&obj->lock);
    if (ferry_domain_obj_is_active(obj) && !qemu_domain_save_status(state, obj, &error))
        g_warning("domain '%s': %s", obj->name, error->message);
    g_mutex_unlock(&obj->lock);
}

/* Every QEMU of this ferryd that the status files did not bring back. */
static void
adopt_unloaded(qemu_driver_state *state)
{
    g_autoptr(GHashTable) running = qemu_process_list_running(state);
    GHashTableIter iter;
    gpointer uuid, r;

    g_hash_table_iter_init(&iter, running);
    while (g_hash_table_iter_next(&iter, &uuid, &r)) {
        g_autoptr(ferry_domain_obj) obj = ferry_domain_obj_list_find_by_uuid(state->domains,
                                                                             uuid);
        gboolean managed = FALSE;

        if (obj) {
            g_mutex_lock(&obj->lock);
            managed = ferry_domain_obj_is_active(obj);
            g_mutex_unlock(&obj->lock);
        }
        if (!managed)
            adopt_qemu(state, uuid, r);
    }
}

gboolean
qemu_domain_load_all(qemu_driver_state *state, GError **error)
{
    /* Definitions first: a running persistent domain's status then finds
     * its domain and only adds the live part.  Then the QEMUs no status
     * file accounted for.  The migrations last: they look at the domains. */
    if (!load_dir(state, state->def_dir, ".xml", load_def, error) ||
        !load_dir(state, state->run_dir, ".json", load_status, error))
        return FALSE;
    adopt_unloaded(state);
    qemu_migration_recover(state);
    return TRUE;
}
