/*
 * qemu-domain.c: persistence of QEMU domains: definitions and status files.
 *
 * Every write is atomic (GLib writes a temporary file, fsyncs it and renames
 * it over the old one), so a crash leaves either the old or the new file,
 * never half of one.  Loading never trusts a file blindly: a broken one is
 * reported and skipped, the rest still load.
 */
#include "ferry-config.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <string.h>

#include "qemu/qemu-domain.h"
#include "qemu/qemu-process.h"
#include "qemu/qemu-migration.h"
#include "util/error.h"
#include "util/json-util.h"

#define STATUS_VERSION 1

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

    if (!g_file_get_contents(path, &xml, NULL, &error) ||
        !(def = ferry_domain_def_parse_string(xml, path, 0, &error))) {
        g_warning("skipping domain definition: %s", error->message);
        return;
    }
    if (strcmp(def->name, expected) != 0) {
        g_warning("skipping domain definition '%s': it defines domain '%s'",
                  path, def->name);
        return;
    }
    obj = ferry_domain_obj_list_define(state->domains, g_steal_pointer(&def), NULL, &error);
    if (!obj)
        g_warning("skipping domain definition '%s': %s", path, error->message);
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

    if (!g_file_get_contents(path, &text, NULL, &error)) {
        g_warning("skipping status file: %s", error->message);
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
        g_warning("skipping status file '%s': it is not a version %d status file",
                  path, STATUS_VERSION);
        return;
    }
    live = ferry_domain_def_parse_string(xml, path, 0, &error);
    if (!live) {
        g_warning("skipping status file: %s", error->message);
        return;
    }
    obj = ferry_domain_obj_list_add_transient(state->domains, g_steal_pointer(&live), &error);
    if (!obj) {
        g_warning("skipping status file '%s': %s", path, error->message);
        return;
    }

    g_mutex_lock(&obj->lock);
    ferry_domain_obj_set_state(obj, (int)st, (int)reason);
    priv = qemu_domain_priv_get(obj);
    priv->pid = pid;
    priv->started_at = started_at;
    priv->monitor_path = g_strdup(monitor);
    priv->log_path = g_strdup(log);
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

gboolean
qemu_domain_load_all(qemu_driver_state *state, GError **error)
{
    /* Definitions first: a running persistent domain's status then finds
     * its domain and only adds the live part.  The migrations last: they
     * look at the domains. */
    if (!load_dir(state, state->def_dir, ".xml", load_def, error) ||
        !load_dir(state, state->run_dir, ".json", load_status, error))
        return FALSE;
    qemu_migration_recover(state);
    return TRUE;
}
