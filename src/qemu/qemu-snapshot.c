/*
 * qemu-snapshot.c: the QEMU driver's snapshots: internal qcow2 snapshots
 * and their metadata (docs/snapshots.md).
 *
 * Owns: the snapshot entries of the QEMU driver table; QEMU's snapshot
 * jobs (snapshot-save, snapshot-load, snapshot-delete) on an active domain,
 * waited for through their JOB_STATUS_CHANGE events, and `qemu-img
 * snapshot` on the images of an inactive one; the metadata files, one per
 * snapshot in STATE/qemu/snapshots/DOMAIN/NAME.xml, reloaded when ferryd
 * starts.  Must not: take or end a domain's process (qemu-process.c), or
 * decide the snapshot tree's rules (src/driver/snapshot-list.c).
 *
 * Every operation that changes a snapshot holds the domain's job, so the
 * images, QEMU and the metadata change together.
 */
#include "ferry-config.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <string.h>

#include "qemu/qemu-domain.h"
#include "qemu/qemu-process.h"
#include "qemu/qemu-snapshot.h"
#include "util/error.h"
#include "util/json-util.h"

/* How long one snapshot job may take: it writes the guest's whole memory. */
#define SNAPSHOT_JOB_SECONDS 600

/* ------------------------------------------------------------------ */
/* QEMU's jobs: what their events said, by job id */

static GMutex jobs_lock;
static GHashTable *jobs;        /* job id -> last status (char*), while waited for */
static gint job_serial;

gboolean
qemu_snapshot_handle_event(ferry_domain_obj *obj, const char *event, json_object *data)
{
    json_object *id = NULL;
    json_object *status = NULL;
    gboolean ours = FALSE;

    if (strcmp(event, "JOB_STATUS_CHANGE") != 0 || !data ||
        !json_object_object_get_ex(data, "id", &id) ||
        !json_object_object_get_ex(data, "status", &status))
        return FALSE;
    g_mutex_lock(&jobs_lock);
    if (jobs && g_hash_table_contains(jobs, json_object_get_string(id))) {
        g_hash_table_replace(jobs, g_strdup(json_object_get_string(id)),
                             g_strdup(json_object_get_string(status)));
        ours = TRUE;
    }
    g_mutex_unlock(&jobs_lock);
    if (!ours)
        return FALSE;
    /* The waiter sleeps on the domain's condition (it also hears of
     * QEMU's exit there). */
    g_mutex_lock(&obj->lock);
    g_cond_broadcast(&qemu_domain_priv_get(obj)->exit_cond);
    g_mutex_unlock(&obj->lock);
    return TRUE;
}

static char *
job_status(const char *id)
{
    char *status;

    g_mutex_lock(&jobs_lock);
    status = g_strdup(g_hash_table_lookup(jobs, id));
    g_mutex_unlock(&jobs_lock);
    return status;
}

static void
job_forget(const char *id)
{
    g_mutex_lock(&jobs_lock);
    g_hash_table_remove(jobs, id);
    g_mutex_unlock(&jobs_lock);
}

/* QEMU's error of concluded job @id (query-jobs); NULL if it succeeded. */
static char *
job_error(ferry_domain_obj *obj, const char *id)
{
    g_autoptr(json_object) reply = qemu_process_command(obj, "query-jobs", NULL, NULL);

    for (size_t i = 0; reply && i < json_object_array_length(reply); i++) {
        json_object *job = json_object_array_get_idx(reply, i);
        json_object *v = NULL;

        if (!json_object_object_get_ex(job, "id", &v) ||
            g_strcmp0(json_object_get_string(v), id) != 0)
            continue;
        if (json_object_object_get_ex(job, "error", &v))
            return g_strdup(json_object_get_string(v));
    }
    return NULL;
}

/*
 * Runs QEMU job @command with @args (its "job-id" added here) and waits for
 * it to conclude, then dismisses it.  @what names the operation in errors.
 */
static gboolean
run_job(ferry_domain_obj *obj, const char *command, json_object *args, const char *what,
        GError **error)
{
    g_autofree char *id = g_strdup_printf("ferry-snapshot-%d", g_atomic_int_add(&job_serial, 1));
    g_autoptr(json_object) reply = NULL;
    g_autoptr(json_object) dismiss = json_object_new_object();
    g_autoptr(GError) local = NULL;
    g_autofree char *status = NULL;
    g_autofree char *why = NULL;
    g_autoptr(json_object) done = NULL;
    gint64 deadline = g_get_monotonic_time() + SNAPSHOT_JOB_SECONDS * G_TIME_SPAN_SECOND;
    gboolean exited = FALSE;
    qemu_domain_priv *priv;

    /* Known before QEMU can speak of it. */
    g_mutex_lock(&jobs_lock);
    if (!jobs)
        jobs = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    g_hash_table_replace(jobs, g_strdup(id), g_strdup("created"));
    g_mutex_unlock(&jobs_lock);
    json_object_object_add(args, "job-id", json_object_new_string(id));
    reply = qemu_process_command(obj, command, args, &local);
    if (!reply) {
        job_forget(id);
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_OPERATION_FAILED, "%s of domain '%s': %s",
                    what, obj->name, local->message);
        return FALSE;
    }
    g_mutex_lock(&obj->lock);
    priv = qemu_domain_priv_get(obj);
    for (;;) {
        g_free(status);
        status = job_status(id);
        if (!g_strcmp0(status, "concluded") || !g_strcmp0(status, "null"))
            break;
        if (priv->exited) {
            exited = TRUE;
            break;
        }
        if (!g_cond_wait_until(&priv->exit_cond, &obj->lock, deadline))
            break;
    }
    g_mutex_unlock(&obj->lock);
    job_forget(id);
    if (exited) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_OPERATION_FAILED,
                    "%s of domain '%s': QEMU exited", what, obj->name);
        return FALSE;
    }
    if (g_strcmp0(status, "concluded") != 0) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_TIMEOUT,
                    "%s of domain '%s': QEMU's job %s did not end within %d s (status %s)",
                    what, obj->name, id, SNAPSHOT_JOB_SECONDS, status);
        return FALSE;
    }
    /* Concluded: a failed job says why in query-jobs, until dismissed. */
    why = job_error(obj, id);
    json_object_object_add(dismiss, "id", json_object_new_string(id));
    done = qemu_process_command(obj, "job-dismiss", dismiss, NULL);
    if (why) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_OPERATION_FAILED,
                    "%s of domain '%s' failed: %s", what, obj->name, why);
        return FALSE;
    }
    return TRUE;
}

/* ------------------------------------------------------------------ */
/* The disks */

/* The disks a snapshot covers: every writable disk with an image, all
 * qcow2 (internal snapshots live in qcow2 images only). */
static GPtrArray *
snapshot_disks(const ferry_domain_def *def, GError **error)
{
    g_autoptr(GPtrArray) disks = g_ptr_array_new();

    for (guint i = 0; i < def->disks->len; i++) {
        ferry_disk_def *disk = def->disks->pdata[i];

        if (disk->readonly || !disk->source || disk->device != FERRY_DISK_DEVICE_DISK)
            continue;
        if (disk->format != FERRY_DISK_FORMAT_QCOW2 || disk->type != FERRY_DISK_TYPE_FILE) {
            g_set_error(error, FERRY_ERROR, FERRY_ERROR_OPERATION_INVALID,
                        "domain '%s': disk '%s' (%s) is not a qcow2 image file: internal "
                        "snapshots need every writable disk in qcow2", def->name,
                        disk->target, disk->source);
            return NULL;
        }
        g_ptr_array_add(disks, disk);
    }
    if (disks->len == 0) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_OPERATION_INVALID,
                    "domain '%s' has no writable qcow2 disk to keep a snapshot in", def->name);
        return NULL;
    }
    return g_steal_pointer(&disks);
}

/* The name of @disk's format node (qemu-command-devices.c names it). */
static json_object *
node_name(const ferry_disk_def *disk)
{
    g_autofree char *name = g_strdup_printf("drive-%s", disk->target);

    return json_object_new_string(name);
}

/* Arguments of snapshot-save/load/delete for tag @name. */
static json_object *
job_args(GPtrArray *disks, const char *name, gboolean vmstate)
{
    json_object *args = json_object_new_object();
    json_object *devices = json_object_new_array();

    json_object_object_add(args, "tag", json_object_new_string(name));
    for (guint i = 0; i < disks->len; i++) {
        const ferry_disk_def *disk = disks->pdata[i];

        json_object_array_add(devices, node_name(disk));
    }
    if (vmstate) {
        const ferry_disk_def *first = disks->pdata[0];

        json_object_object_add(args, "vmstate", node_name(first));
    }
    json_object_object_add(args, "devices", devices);
    return args;
}

/* `qemu-img snapshot -OP NAME IMAGE` on every disk of an inactive domain. */
static gboolean
run_qemu_img(const ferry_domain_def *def, GPtrArray *disks, const char *op, const char *name,
             GError **error)
{
    for (guint i = 0; i < disks->len; i++) {
        const ferry_disk_def *disk = disks->pdata[i];
        const char *argv[] = { "qemu-img", "snapshot", op, name, disk->source, NULL };
        g_autofree char *err = NULL;
        g_autoptr(GError) local = NULL;
        int status = 0;

        if (!g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_SEARCH_PATH |
                          G_SPAWN_STDOUT_TO_DEV_NULL, NULL, NULL, NULL, &err, &status,
                          &local) ||
            !g_spawn_check_wait_status(status, &local)) {
            g_set_error(error, FERRY_ERROR, FERRY_ERROR_STORAGE,
                        "domain '%s': qemu-img snapshot %s '%s' on disk '%s' (%s): %s%s",
                        def->name, op, name, disk->target, disk->source, local->message,
                        err && *err ? g_strstrip(err) : "");
            return FALSE;
        }
    }
    return TRUE;
}

/* ------------------------------------------------------------------ */
/* Metadata files */

static char *
snapshot_dir(qemu_driver_state *state, const char *domain_name)
{
    return g_build_filename(state->config.state_dir, "qemu", "snapshots", domain_name, NULL);
}

/* Rewrites the files of @list's snapshots (the current one changes two
 * of them, a delete re-parents several: all is simplest) and removes
 * @removed's. */
static gboolean
save_list(qemu_driver_state *state, const char *domain_name, ferry_snapshot_list *list,
          const char *removed, GError **error)
{
    g_autofree char *dir = snapshot_dir(state, domain_name);
    g_autoptr(GPtrArray) names = ferry_snapshot_list_names(list);

    if (g_mkdir_with_parents(dir, 0700) < 0) {
        ferry_set_error_errno(error, FERRY_ERROR_SYSTEM, errno, "cannot create directory '%s'",
                              dir);
        return FALSE;
    }
    for (guint i = 0; i < names->len; i++) {
        const ferry_snapshot_def *def = ferry_snapshot_list_lookup(list, names->pdata[i], NULL);
        g_autofree char *file = g_strconcat((char *)names->pdata[i], ".xml", NULL);
        g_autofree char *path = g_build_filename(dir, file, NULL);
        g_autofree char *xml = ferry_snapshot_def_format(def, FERRY_SNAPSHOT_FORMAT_INTERNAL);

        if (!g_file_set_contents_full(path, xml, -1, G_FILE_SET_CONTENTS_CONSISTENT, 0600,
                                      error))
            return FALSE;
    }
    if (removed) {
        g_autofree char *file = g_strconcat(removed, ".xml", NULL);
        g_autofree char *path = g_build_filename(dir, file, NULL);

        if (g_unlink(path) < 0 && errno != ENOENT) {
            ferry_set_error_errno(error, FERRY_ERROR_SYSTEM, errno, "cannot delete '%s'",
                                  path);
            return FALSE;
        }
    }
    return TRUE;
}

/* Loads one domain's directory: parents before children, whatever the
 * order of the files. */
static void
load_domain(qemu_driver_state *state, ferry_domain_obj *obj)
{
    g_autofree char *dir = snapshot_dir(state, obj->name);
    g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
    g_autoptr(GPtrArray) pending = g_ptr_array_new_with_free_func(
        (GDestroyNotify)ferry_snapshot_def_free);
    ferry_snapshot_list *list;
    const char *entry;
    gboolean progress = TRUE;

    if (!d)
        return;
    while ((entry = g_dir_read_name(d))) {
        g_autofree char *path = NULL;
        g_autofree char *xml = NULL;
        g_autoptr(GError) error = NULL;
        ferry_snapshot_def *def;

        if (!g_str_has_suffix(entry, ".xml"))
            continue;
        path = g_build_filename(dir, entry, NULL);
        if (!g_file_get_contents(path, &xml, NULL, &error) ||
            !(def = ferry_snapshot_def_parse_string(xml, path, FERRY_SNAPSHOT_PARSE_REDEFINE |
                                                    FERRY_SNAPSHOT_PARSE_INTERNAL, &error))) {
            g_warning("domain '%s': snapshot metadata skipped: %s", obj->name, error->message);
            continue;
        }
        g_ptr_array_add(pending, def);
    }
    list = ferry_snapshot_store_lock(state->snapshots, obj->uuid, obj->name);
    while (progress && pending->len > 0) {
        progress = FALSE;
        for (guint i = 0; i < pending->len;) {
            ferry_snapshot_def *def = pending->pdata[i];
            g_autoptr(GError) error = NULL;

            if (def->parent && !ferry_snapshot_list_lookup(list, def->parent, NULL)) {
                i++;
                continue;
            }
            if (!ferry_snapshot_list_add(list, g_ptr_array_steal_index(pending, i),
                                         FERRY_SNAPSHOT_LIST_REDEFINE, &error))
                g_warning("domain '%s': %s", obj->name, error->message);
            progress = TRUE;
        }
    }
    for (guint i = 0; i < pending->len; i++) {
        const ferry_snapshot_def *def = pending->pdata[i];

        g_warning("domain '%s': snapshot '%s' skipped: its parent '%s' is missing", obj->name,
                  def->name, def->parent);
    }
    ferry_snapshot_store_unlock(state->snapshots);
}

void
qemu_snapshot_load_all(qemu_driver_state *state)
{
    g_autoptr(GPtrArray) objs = ferry_domain_obj_list_collect(state->domains, 0);

    for (guint i = 0; i < objs->len; i++)
        load_domain(state, objs->pdata[i]);
}

/* ------------------------------------------------------------------ */
/* The driver table's entries */

static void
end_job(qemu_driver_state *state, ferry_domain_obj *obj)
{
    qemu_process_end_job(state, obj);
    ferry_domain_obj_unref(obj);
}

/* The domain's definition now and its state, copied under its lock. */
static ferry_domain_def *
current_def(ferry_domain_obj *obj, int *ret_state)
{
    ferry_domain_def *def;

    g_mutex_lock(&obj->lock);
    def = ferry_domain_def_copy(obj->live ? obj->live : obj->def);
    *ret_state = obj->state;
    g_mutex_unlock(&obj->lock);
    return def;
}

char *
qemu_domain_snapshot_create_xml(ferry_domain *dom, const char *xml, guint flags, GError **error)
{
    qemu_driver_state *state = qemu_driver_get_state();
    ferry_domain_obj *obj = ferry_domain_obj_list_lookup_job(
        state->domains, dom, state->config.hostname, "snapshot create", error);
    g_autoptr(ferry_domain_def) def = NULL;
    g_autoptr(ferry_snapshot_def) snap = NULL;
    g_autoptr(GPtrArray) disks = NULL;
    g_autofree char *name = NULL;
    ferry_snapshot_list *list;
    gboolean ok = FALSE;
    int dstate;

    if (!obj)
        return NULL;
    def = current_def(obj, &dstate);
    snap = ferry_snapshot_def_for_create(xml, flags, def, dstate, error);
    if (!snap || !(disks = snapshot_disks(def, error)))
        goto out;
    name = g_strdup(snap->name);
    list = ferry_snapshot_store_lock(state->snapshots, obj->uuid, obj->name);
    ok = ferry_snapshot_list_check_add(list, snap, flags, error);
    ferry_snapshot_store_unlock(state->snapshots);
    if (!ok)
        goto out;
    if (!(flags & FERRY_SNAPSHOT_LIST_REDEFINE)) {
        if (dstate == FERRY_DOMAIN_RUNNING || dstate == FERRY_DOMAIN_PAUSED) {
            g_autoptr(json_object) args = job_args(disks, name, TRUE);

            ok = run_job(obj, "snapshot-save", args, "snapshot", error);
        } else {
            ok = run_qemu_img(def, disks, "-c", name, error);
        }
        if (!ok)
            goto out;
    }
    list = ferry_snapshot_store_lock(state->snapshots, obj->uuid, obj->name);
    ok = ferry_snapshot_list_add(list, g_steal_pointer(&snap), flags, error) &&
         save_list(state, obj->name, list, NULL, error);
    ferry_snapshot_store_unlock(state->snapshots);
out:
    end_job(state, obj);
    return ok ? g_steal_pointer(&name) : NULL;
}

gboolean
qemu_domain_snapshot_list(ferry_domain *dom, guint flags, GPtrArray **ret_snapshots,
                          GError **error)
{
    qemu_driver_state *state = qemu_driver_get_state();
    g_autoptr(ferry_domain_obj) obj =
        ferry_domain_obj_list_lookup(state->domains, dom, state->config.hostname, error);

    if (!obj)
        return FALSE;
    *ret_snapshots = ferry_snapshot_store_infos(state->snapshots, obj->uuid, obj->name);
    return TRUE;
}

char *
qemu_domain_snapshot_get_xml(ferry_domain *dom, const char *name, guint flags, GError **error)
{
    qemu_driver_state *state = qemu_driver_get_state();
    g_autoptr(ferry_domain_obj) obj =
        ferry_domain_obj_list_lookup(state->domains, dom, state->config.hostname, error);

    if (!obj)
        return NULL;
    return ferry_snapshot_store_get_xml(state->snapshots, obj->uuid, obj->name, name, error);
}

char *
qemu_domain_snapshot_current(ferry_domain *dom, GError **error)
{
    qemu_driver_state *state = qemu_driver_get_state();
    g_autoptr(ferry_domain_obj) obj =
        ferry_domain_obj_list_lookup(state->domains, dom, state->config.hostname, error);

    if (!obj)
        return NULL;
    return ferry_snapshot_store_current(state->snapshots, obj->uuid, obj->name, error);
}

/* The snapshot's state, copied, or -1 with @error. */
static int
snapshot_state(qemu_driver_state *state, ferry_domain_obj *obj, const char *name,
               GError **error)
{
    ferry_snapshot_list *list = ferry_snapshot_store_lock(state->snapshots, obj->uuid,
                                                          obj->name);
    const ferry_snapshot_def *snap = ferry_snapshot_list_lookup(list, name, error);
    int want = snap ? ferry_snapshot_state_to_domain_state(snap->state) : -1;

    ferry_snapshot_store_unlock(state->snapshots);
    return want;
}

/* After a load: the domain runs or stays paused as the snapshot was. */
static gboolean
set_run_state(ferry_domain_obj *obj, int want, GError **error)
{
    g_autoptr(json_object) reply = NULL;
    g_autoptr(GError) local = NULL;
    const char *command = want == FERRY_DOMAIN_RUNNING ? "cont" : "stop";

    if (!(reply = qemu_process_command(obj, command, NULL, &local))) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_OPERATION_FAILED,
                    "domain '%s': cannot %s after the revert: %s", obj->name,
                    want == FERRY_DOMAIN_RUNNING ? "resume" : "pause", local->message);
        return FALSE;
    }
    g_mutex_lock(&obj->lock);
    if (want == FERRY_DOMAIN_RUNNING)
        ferry_domain_obj_set_state(obj, want, FERRY_RUNNING_UNPAUSED);
    else
        ferry_domain_obj_set_state(obj, want, FERRY_PAUSED_USER);
    if (!qemu_domain_save_status(qemu_driver_get_state(), obj, &local))
        g_warning("domain '%s': %s", obj->name, local->message);
    g_mutex_unlock(&obj->lock);
    return TRUE;
}

/* After the images changed: @name becomes current (revert) or goes
 * (delete), and the files follow. */
static gboolean
update_metadata(qemu_driver_state *state, ferry_domain_obj *obj, const char *name,
                gboolean removing, GError **error)
{
    ferry_snapshot_list *list = ferry_snapshot_store_lock(state->snapshots, obj->uuid,
                                                          obj->name);
    gboolean ok = removing ? ferry_snapshot_list_remove(list, name, NULL, error)
                           : ferry_snapshot_list_set_current(list, name, error);

    ok = ok && save_list(state, obj->name, list, removing ? name : NULL, error);
    ferry_snapshot_store_unlock(state->snapshots);
    return ok;
}

gboolean
qemu_domain_snapshot_revert(ferry_domain *dom, const char *name, guint flags, GError **error)
{
    qemu_driver_state *state = qemu_driver_get_state();
    ferry_domain_obj *obj = ferry_domain_obj_list_lookup_job(
        state->domains, dom, state->config.hostname, "snapshot revert", error);
    g_autoptr(ferry_domain_def) def = NULL;
    g_autoptr(GPtrArray) disks = NULL;
    gboolean ok = FALSE;
    gboolean active;
    int dstate, want;

    if (!obj)
        return FALSE;
    def = current_def(obj, &dstate);
    active = dstate == FERRY_DOMAIN_RUNNING || dstate == FERRY_DOMAIN_PAUSED;
    if ((want = snapshot_state(state, obj, name, error)) < 0 ||
        !(disks = snapshot_disks(def, error)))
        goto out;
    if (want != FERRY_DOMAIN_SHUTOFF && !active) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_OPERATION_INVALID,
                    "domain '%s' is not running: start it before reverting to snapshot '%s' "
                    "of a running domain", obj->name, name);
        goto out;
    }
    if (want == FERRY_DOMAIN_SHUTOFF && active) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_OPERATION_INVALID,
                    "domain '%s' is running: destroy it before reverting to snapshot '%s' "
                    "of a shut off domain", obj->name, name);
        goto out;
    }
    if (active) {
        g_autoptr(json_object) args = job_args(disks, name, TRUE);

        ok = run_job(obj, "snapshot-load", args, "revert", error) &&
             (want == dstate || set_run_state(obj, want, error));
    } else {
        ok = run_qemu_img(def, disks, "-a", name, error);
    }
    ok = ok && update_metadata(state, obj, name, FALSE, error);
out:
    end_job(state, obj);
    return ok;
}

gboolean
qemu_domain_snapshot_delete(ferry_domain *dom, const char *name, guint flags, GError **error)
{
    qemu_driver_state *state = qemu_driver_get_state();
    ferry_domain_obj *obj = ferry_domain_obj_list_lookup_job(
        state->domains, dom, state->config.hostname, "snapshot delete", error);
    g_autoptr(ferry_domain_def) def = NULL;
    g_autoptr(GPtrArray) disks = NULL;
    gboolean ok = FALSE;
    int dstate;

    if (!obj)
        return FALSE;
    def = current_def(obj, &dstate);
    if (snapshot_state(state, obj, name, error) < 0 || !(disks = snapshot_disks(def, error)))
        goto out;
    if (dstate == FERRY_DOMAIN_RUNNING || dstate == FERRY_DOMAIN_PAUSED) {
        g_autoptr(json_object) args = job_args(disks, name, FALSE);

        ok = run_job(obj, "snapshot-delete", args, "snapshot delete", error);
    } else {
        ok = run_qemu_img(def, disks, "-d", name, error);
    }
    ok = ok && update_metadata(state, obj, name, TRUE, error);
out:
    end_job(state, obj);
    return ok;
}

/* ------------------------------------------------------------------ */
/* Migrations carry the metadata (src/migration/migration-snapshots.c) */

GPtrArray *
qemu_snapshot_mig_export(gpointer self, ferry_domain_obj *obj, GPtrArray **ret_names)
{
    qemu_driver_state *state = self;

    return ferry_snapshot_store_export(state->snapshots, obj->uuid, obj->name, ret_names);
}

/* Removes the domain's metadata directory and what is in it. */
static void
remove_dir(qemu_driver_state *state, const char *domain_name)
{
    g_autofree char *dir = snapshot_dir(state, domain_name);
    g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
    const char *entry;

    if (!d)
        return;
    while ((entry = g_dir_read_name(d))) {
        g_autofree char *path = g_build_filename(dir, entry, NULL);

        if (g_unlink(path) < 0)
            g_warning("domain '%s': cannot delete snapshot metadata '%s': %s", domain_name,
                      path, g_strerror(errno));
    }
    if (g_rmdir(dir) < 0)
        g_warning("domain '%s': cannot delete '%s': %s", domain_name, dir, g_strerror(errno));
}

gboolean
qemu_snapshot_mig_import(gpointer self, ferry_domain_obj *obj, const GPtrArray *defs,
                         GError **error)
{
    qemu_driver_state *state = self;
    ferry_snapshot_list *list;
    gboolean ok;

    if (!ferry_snapshot_store_import(state->snapshots, obj->uuid, obj->name, defs, error))
        return FALSE;
    list = ferry_snapshot_store_lock(state->snapshots, obj->uuid, obj->name);
    ok = save_list(state, obj->name, list, NULL, error);
    ferry_snapshot_store_unlock(state->snapshots);
    if (!ok) {
        /* All or none: not kept in memory what is not on disk. */
        ferry_snapshot_store_drop(state->snapshots, obj->uuid);
        remove_dir(state, obj->name);
    }
    return ok;
}

void
qemu_snapshot_mig_drop(gpointer self, ferry_domain_obj *obj)
{
    qemu_driver_state *state = self;

    ferry_snapshot_store_drop(state->snapshots, obj->uuid);
    remove_dir(state, obj->name);
}

gboolean
qemu_conn_migrate_snapshots(ferry_conn *conn, const char *id, const char *token,
                            GPtrArray **ret_docs, GError **error)
{
    return ferry_mig_engine_snapshots_take(qemu_driver_get_state()->engine, id, token, ret_docs,
                                           error);
}
