/*
 * qemu-storage.c: storage migration over NBD (see qemu-storage.h).
 *
 * Owns: which disks travel, image pre-creation and deletion on the
 * destination, the destination's NBD server and exports, the source's
 * mirror jobs and their NBD client nodes, disk progress and statistics.
 * Must not: decide the order of phases (qemu-migration.c does) or touch a
 * disk that is not being migrated.
 *
 * Node names follow qemu-command.c: a disk's format node is "drive-TARGET";
 * the mirror job and its NBD client node on the source are "mig-TARGET",
 * as is the export on the destination.
 */
#include "ferry-config.h"

#include <errno.h>
#include <gio/gio.h>
#include <glib/gstdio.h>
#include <string.h>
#include <sys/statvfs.h>

#include "qemu/qemu-confine.h"
#include "qemu/qemu-migration.h"
#include "qemu/qemu-process.h"
#include "qemu/qemu-storage.h"
#include "qemu/qemu-tls.h"
#include "util/error.h"
#include "util/json-util.h"

#define COMPLETE_WAIT_SECONDS 30

gboolean
qemu_storage_wanted(const ferry_migrate_params *params)
{
    return (params->flags & (FERRY_MIGRATE_NON_SHARED_DISK | FERRY_MIGRATE_NON_SHARED_INC)) != 0;
}

static const char *
json_str(json_object *o, const char *key)
{
    json_object *v;

    return o && json_object_object_get_ex(o, key, &v) ? json_object_get_string(v) : NULL;
}

static gint64
json_int(json_object *o, const char *key)
{
    json_object *v;

    return o && json_object_object_get_ex(o, key, &v) ? json_object_get_int64(v) : 0;
}

/* Says in the log what QEMU's block graph holds when it refuses to
 * mirror @device: after "Need a root block node" the node a person looks
 * for is one left above the disk.  A diagnostic only, with QEMU's unstable
 * x-debug-query-block-graph; when that fails, the log says so. */
static void
log_block_graph(ferry_domain_obj *obj, const char *device)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(json_object) graph = qemu_process_command(obj, "x-debug-query-block-graph",
                                                          NULL, &err);
    g_autoptr(GString) out = g_string_new(NULL);
    json_object *nodes, *edges;

    if (!graph) {
        g_warning("domain '%s': QEMU refused to mirror '%s'; its block graph is unknown: %s",
                  obj->name, device, err->message);
        return;
    }
    if (json_object_object_get_ex(graph, "nodes", &nodes))
        for (size_t i = 0; i < json_object_array_length(nodes); i++) {
            json_object *n = json_object_array_get_idx(nodes, i);

            g_string_append_printf(out, "%s%" G_GINT64_FORMAT "=%s:%s", out->len ? " " : "",
                                   json_int(n, "id"),
                                   json_str(n, "type") ? json_str(n, "type") : "?",
                                   json_str(n, "name") ? json_str(n, "name") : "?");
        }
    if (json_object_object_get_ex(graph, "edges", &edges))
        for (size_t i = 0; i < json_object_array_length(edges); i++) {
            json_object *e = json_object_array_get_idx(edges, i);

            g_string_append_printf(out, " %" G_GINT64_FORMAT "->%" G_GINT64_FORMAT "(%s)",
                                   json_int(e, "parent"), json_int(e, "child"),
                                   json_str(e, "name") ? json_str(e, "name") : "?");
        }
    g_warning("domain '%s': QEMU refused to mirror '%s'; its block graph: %s", obj->name,
              device, out->str);
}

char *
qemu_storage_run_qemu_img(const char *const *args, GError **error)
{
    g_autoptr(GPtrArray) argv = g_ptr_array_new();
    g_autoptr(GSubprocess) proc = NULL;
    g_autofree char *out = NULL;
    g_autofree char *err = NULL;

    g_ptr_array_add(argv, (gpointer)FERRY_QEMU_IMG);
    for (guint i = 0; args[i]; i++)
        g_ptr_array_add(argv, (gpointer)args[i]);
    g_ptr_array_add(argv, NULL);
    proc = g_subprocess_newv((const char *const *)argv->pdata,
                             G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_PIPE,
                             error);
    if (!proc || !g_subprocess_communicate_utf8(proc, NULL, NULL, &out, &err, error))
        return NULL;
    if (!g_subprocess_get_successful(proc)) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_STORAGE, "qemu-img %s: %s", args[0],
                    g_strstrip(err));
        return NULL;
    }
    return g_steal_pointer(&out);
}

/* ------------------------------------------------------------------ */
/* Begin */

/* A disk named by --migrate-disks that has nothing a copy could move. */
static gboolean
check_copyable(const char *dom, const ferry_disk_def *disk, GError **error)
{
    if (disk->type == FERRY_DISK_TYPE_NETWORK) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_INVALID_ARG,
                    "domain '%s': disk '%s' is a network disk: its data is on its server, "
                    "there is nothing to copy", dom, disk->target);
        return FALSE;
    }
    if (!disk->source) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_INVALID_ARG,
                    "domain '%s': disk '%s' has no medium: there is nothing to copy", dom,
                    disk->target);
        return FALSE;
    }
    return TRUE;
}

/*
 * A mirror's filter node ("mirror_top") sits above a disk while its job
 * runs, and goes with the job.  With no job, one left in @blocks is a
 * leftover: seen once with QEMU 7.2 after a copy whose destination died
 * mid-transfer (docs/faults.md, "Known failures").  The disk under it is
 * no longer a root node, so QEMU refuses every new mirror of it ("Need a
 * root block node"), and no QMP command removes a node QEMU made itself.
 * Said here, at Begin, before the destination prepares anything, with the
 * way out.
 */
gboolean
qemu_storage_check_no_mirror_filter(const char *name, json_object *blocks, GError **error)
{
    for (size_t k = 0; k < json_object_array_length(blocks); k++) {
        json_object *node = json_object_array_get_idx(blocks, k);

        if (g_strcmp0(json_str(node, "drv"), "mirror_top") != 0)
            continue;
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_OPERATION_INVALID,
                    "domain '%s': QEMU kept the filter node '%s' of an ended disk copy above "
                    "'%s', and will not copy that disk again while it is there (QEMU cannot "
                    "remove it while it runs): restart the domain (shutdown, start) to copy "
                    "its storage, or migrate it without a storage copy", name,
                    json_str(node, "node-name") ? json_str(node, "node-name") : "?",
                    json_str(node, "file") ? json_str(node, "file") : "?");
        return FALSE;
    }
    return TRUE;
}

gboolean
qemu_storage_begin(qemu_driver_state *state, ferry_domain_obj *obj,
                   const ferry_migrate_params *params, ferry_migration_cookie *cookie,
                   GError **error)
{
    g_autoptr(json_object) jobs = qemu_process_command(obj, "query-block-jobs", NULL, error);
    g_autoptr(json_object) blocks = NULL;
    gboolean inc = (params->flags & FERRY_MIGRATE_NON_SHARED_INC) != 0;
    const ferry_domain_def *def = obj->live;

    if (!jobs)
        return FALSE;
    if (json_object_array_length(jobs) > 0) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_OPERATION_INVALID,
                    "domain '%s': block job '%s' is active; storage migration needs none",
                    obj->name, json_str(json_object_array_get_idx(jobs, 0), "device"));
        return FALSE;
    }
    if (params->migrate_disks) {
        for (guint i = 0; params->migrate_disks[i]; i++) {
            if (!ferry_domain_def_find_disk(def, params->migrate_disks[i])) {
                g_set_error(error, FERRY_ERROR, FERRY_ERROR_INVALID_ARG,
                            "domain '%s' has no disk '%s' to migrate", obj->name,
                            params->migrate_disks[i]);
                return FALSE;
            }
        }
    }
    if (!(blocks = qemu_process_command(obj, "query-named-block-nodes", NULL, error)))
        return FALSE;
    if (!qemu_storage_check_no_mirror_filter(obj->name, blocks, error))
        return FALSE;
    cookie->has_nbd = TRUE;
    for (guint i = 0; i < def->disks->len; i++) {
        const ferry_disk_def *disk = g_ptr_array_index(def->disks, i);
        g_autofree char *node = g_strdup_printf("drive-%s", disk->target);
        json_object *image = NULL;
        ferry_cookie_disk *cd;

        if (!ferry_mig_disk_selected(params, disk))
            continue;
        if (!check_copyable(obj->name, disk, error))
            return FALSE;
        for (size_t k = 0; k < json_object_array_length(blocks); k++) {
            json_object *b = json_object_array_get_idx(blocks, k);

            if (g_strcmp0(json_str(b, "node-name"), node) == 0)
                json_object_object_get_ex(b, "image", &image);
        }
        if (!image || json_int(image, "virtual-size") <= 0) {
            g_set_error(error, FERRY_ERROR, FERRY_ERROR_STORAGE,
                        "domain '%s': QEMU does not report the size of disk '%s'", obj->name,
                        disk->target);
            return FALSE;
        }
        if (inc && !json_str(image, "backing-filename")) {
            g_set_error(error, FERRY_ERROR, FERRY_ERROR_INVALID_ARG,
                        "domain '%s': disk '%s' has no backing file, so an incremental copy "
                        "has nothing to share; use a full copy", obj->name, disk->target);
            return FALSE;
        }
        ferry_migration_cookie_add_disk(cookie, disk->target,
                                        ferry_disk_format_to_string(disk->format),
                                        (guint64)json_int(image, "virtual-size"));
        cd = g_ptr_array_index(cookie->disks, cookie->disks->len - 1);
        if (inc)
            cd->backing = g_strdup(json_str(image, "backing-filename"));
    }
    if (cookie->disks->len == 0) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_INVALID_ARG,
                    "domain '%s' has no writable disk to copy", obj->name);
        return FALSE;
    }
    return TRUE;
}

/* ------------------------------------------------------------------ */
/* Prepare: images */

static char *
human_gib(guint64 bytes)
{
    return g_strdup_printf("%.1f GiB", bytes / (1024.0 * 1024 * 1024));
}

/* An image already there is used when it has the right format and size. */
static gboolean
check_existing(const char *path, const ferry_cookie_disk *cd, const char *name,
               GError **error)
{
    const char *args[] = { "info", "-U", "--output=json", path, NULL };
    g_autofree char *out = qemu_storage_run_qemu_img(args, error);
    g_autoptr(json_object) info = out ? json_tokener_parse(out) : NULL;

    if (!info)
        return FALSE;
    if (g_strcmp0(json_str(info, "format"), cd->format) != 0 ||
        (guint64)json_int(info, "virtual-size") != cd->capacity) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_STORAGE,
                    "domain '%s': disk '%s': '%s' exists as %s of %" G_GINT64_FORMAT
                    " bytes, not %s of %" G_GUINT64_FORMAT " bytes", name, cd->target, path,
                    json_str(info, "format"), json_int(info, "virtual-size"), cd->format,
                    cd->capacity);
        return FALSE;
    }
    return TRUE;
}

static gboolean
create_image(const char *path, const ferry_cookie_disk *cd, GError **error)
{
    g_autofree char *size = g_strdup_printf("%" G_GUINT64_FORMAT, cd->capacity);
    g_autofree char *out = NULL;

    if (cd->backing) {
        const char *info_args[] = { "info", "-U", "--output=json", cd->backing, NULL };
        g_autofree char *info_out = qemu_storage_run_qemu_img(info_args, error);
        g_autoptr(json_object) info = info_out ? json_tokener_parse(info_out) : NULL;
        const char *args[] = { "create", "-q", "-f", cd->format, "-b", cd->backing, "-F",
                               json_str(info, "format"), path, size, NULL };

        if (!info) {
            g_prefix_error(error, "the shared backing file '%s' is not usable here: ",
                           cd->backing);
            return FALSE;
        }
        out = qemu_storage_run_qemu_img(args, error);
    } else {
        const char *args[] = { "create", "-q", "-f", cd->format, path, size, NULL };

        out = qemu_storage_run_qemu_img(args, error);
    }
    return out != NULL;
}

gboolean
qemu_storage_prepare_images(qemu_driver_state *state, ferry_domain_obj *obj,
                            const ferry_domain_def *def, const ferry_migration_cookie *cookie_in,
                            GError **error)
{
    g_autoptr(GPtrArray) created = g_ptr_array_new_with_free_func(g_free);
    qemu_domain_priv *priv;

    if (!cookie_in->has_nbd || cookie_in->disks->len == 0) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_COOKIE,
                    "Prepare: storage migration asked for, but the cookie lists no disk");
        return FALSE;
    }
    for (guint i = 0; i < cookie_in->disks->len; i++) {
        const ferry_cookie_disk *cd = g_ptr_array_index(cookie_in->disks, i);
        const ferry_disk_def *disk = ferry_domain_def_find_disk(def, cd->target);
        g_autofree char *dir = NULL;
        struct statvfs vfs;
        guint64 avail;

        if (!disk) {
            g_set_error(error, FERRY_ERROR, FERRY_ERROR_STORAGE,
                        "domain '%s': the cookie lists disk '%s', the domain has none",
                        def->name, cd->target);
            goto fail;
        }
        if (strcmp(ferry_disk_format_to_string(disk->format), cd->format) != 0) {
            g_set_error(error, FERRY_ERROR, FERRY_ERROR_STORAGE,
                        "domain '%s': disk '%s' is %s on the source but %s in the "
                        "destination XML", def->name, cd->target, cd->format,
                        ferry_disk_format_to_string(disk->format));
            goto fail;
        }
        /* Checked before Prepare began (qemu_confine_incoming()); again
         * here, where the files are made. */
        if (!qemu_confine_storage_disk(&state->config, def, cd, error))
            goto fail;
        if (g_file_test(disk->source, G_FILE_TEST_EXISTS)) {
            if (!check_existing(disk->source, cd, def->name, error))
                goto fail;
            continue;
        }
        dir = g_path_get_dirname(disk->source);
        if (statvfs(dir, &vfs) < 0) {
            ferry_set_error_errno(error, FERRY_ERROR_STORAGE, errno,
                                  "domain '%s': disk '%s': cannot check free space in '%s'",
                                  def->name, cd->target, dir);
            goto fail;
        }
        avail = (guint64)vfs.f_bavail * vfs.f_frsize;
        if (cd->capacity > avail) {
            g_autofree char *need = human_gib(cd->capacity);
            g_autofree char *have = human_gib(avail);

            g_set_error(error, FERRY_ERROR, FERRY_ERROR_STORAGE,
                        "domain '%s': disk '%s' needs %s, host '%s' has %s free in '%s'",
                        def->name, cd->target, need, state->config.hostname, have, dir);
            goto fail;
        }
        if (!create_image(disk->source, cd, error)) {
            g_prefix_error(error, "domain '%s': disk '%s': ", def->name, cd->target);
            goto fail;
        }
        g_ptr_array_add(created, g_strdup(disk->source));
    }
    g_mutex_lock(&obj->lock);
    priv = qemu_domain_priv_get(obj);
    g_clear_pointer(&priv->mig_images, g_ptr_array_unref);
    priv->mig_images = g_steal_pointer(&created);
    g_mutex_unlock(&obj->lock);
    return TRUE;

fail:
    for (guint i = 0; i < created->len; i++)
        g_unlink(created->pdata[i]);
    return FALSE;
}

void
qemu_storage_discard(qemu_driver_state *state, ferry_domain_obj *obj)
{
    g_autoptr(GPtrArray) images = NULL;

    g_mutex_lock(&obj->lock);
    if (obj->priv)
        images = g_steal_pointer(&((qemu_domain_priv *)obj->priv)->mig_images);
    g_mutex_unlock(&obj->lock);
    for (guint i = 0; images && i < images->len; i++) {
        if (g_unlink(images->pdata[i]) < 0 && errno != ENOENT)
            g_warning("domain '%s': cannot delete '%s': %s", obj->name,
                      (char *)images->pdata[i], g_strerror(errno));
        else
            g_message("domain '%s': deleted '%s' (created for a failed migration)",
                      obj->name, (char *)images->pdata[i]);
    }
}

/* ------------------------------------------------------------------ */
/* Prepare: NBD server */

gboolean
qemu_storage_prepare_nbd(qemu_driver_state *state, ferry_domain_obj *obj, const char *listen,
                         const ferry_migrate_params *params, const char *relay_token,
                         const ferry_migration_cookie *cookie_in,
                         ferry_migration_cookie *cookie_out, GError **error)
{
    g_autoptr(json_object) args = json_object_new_object();
    g_autoptr(json_object) ret = NULL;
    json_object *addr = json_object_new_object();
    json_object *data = json_object_new_object();
    g_autofree char *port_str = NULL;
    g_autofree char *relay_path = NULL;
    guint port = qemu_migration_acquire_port(state, listen, params->disks_port, error);

    if (!port)
        return FALSE;
    g_mutex_lock(&obj->lock);
    qemu_domain_priv_get(obj)->mig_nbd_port = port;
    g_mutex_unlock(&obj->lock);
    port_str = g_strdup_printf("%u", port);
    if (relay_token) {
        /* QEMU serves a unix socket; this ferryd's relay listens on the port. */
        relay_path = qemu_migration_relay_path(state, obj->uuid, "nbd-in");
        g_unlink(relay_path);
        json_object_object_add(data, "path", json_object_new_string(relay_path));
        json_object_object_add(addr, "type", json_object_new_string("unix"));
    } else {
        json_object_object_add(data, "host", json_object_new_string(listen));
        json_object_object_add(data, "port", json_object_new_string(port_str));
        json_object_object_add(addr, "type", json_object_new_string("inet"));
    }
    json_object_object_add(addr, "data", data);
    json_object_object_add(args, "addr", addr);
    /* The credentials object listen_incoming() gave QEMU. */
    if (params->flags & FERRY_MIGRATE_TLS)
        json_object_object_add(args, "tls-creds", json_object_new_string(QEMU_TLS_CREDS_ID));
    if (!(ret = qemu_process_command(obj, "nbd-server-start", args, error)))
        return FALSE;
    for (guint i = 0; i < cookie_in->disks->len; i++) {
        const ferry_cookie_disk *cd = g_ptr_array_index(cookie_in->disks, i);
        g_autoptr(json_object) ex = json_object_new_object();
        g_autoptr(json_object) r = NULL;
        g_autofree char *id = g_strdup_printf("mig-%s", cd->target);
        g_autofree char *node = g_strdup_printf("drive-%s", cd->target);

        json_object_object_add(ex, "type", json_object_new_string("nbd"));
        json_object_object_add(ex, "id", json_object_new_string(id));
        json_object_object_add(ex, "node-name", json_object_new_string(node));
        json_object_object_add(ex, "writable", json_object_new_boolean(TRUE));
        json_object_object_add(ex, "name", json_object_new_string(cd->target));
        if (!(r = qemu_process_command(obj, "block-export-add", ex, error))) {
            g_prefix_error(error, "cannot export disk '%s': ", cd->target);
            return FALSE;
        }
        ferry_migration_cookie_add_disk(cookie_out, cd->target, cd->format, cd->capacity);
    }
    if (relay_token &&
        !qemu_migration_relay_listen(obj, TRUE, listen, port, relay_path, relay_token, error))
        return FALSE;
    cookie_out->has_nbd = TRUE;
    cookie_out->nbd_port = port;
    return TRUE;
}

void
qemu_storage_stop_nbd(qemu_driver_state *state, ferry_domain_obj *obj)
{
    guint port;

    gboolean adopted = FALSE;

    g_mutex_lock(&obj->lock);
    port = obj->priv ? ((qemu_domain_priv *)obj->priv)->mig_nbd_port : 0;
    if (obj->priv) {
        ((qemu_domain_priv *)obj->priv)->mig_nbd_port = 0;
        adopted = ((qemu_domain_priv *)obj->priv)->mig_nbd_adopted;
        ((qemu_domain_priv *)obj->priv)->mig_nbd_adopted = FALSE;
    }
    g_mutex_unlock(&obj->lock);
    qemu_migration_close_relays(obj, FALSE, TRUE);
    if (!port && !adopted)
        return;
    {
        g_autoptr(json_object) r = qemu_process_command(obj, "nbd-server-stop", NULL, NULL);
    }
    if (port)
        qemu_migration_release_port(state, port);
}

/* Records that @target's mirror (job and/or NBD client node "mig-TARGET")
 * exists in QEMU, with the job's @status (NULL: no job, only the node). */
static void
adopt_mirror(qemu_domain_priv *priv, const char *id, const char *status)
{
    const char *target = id + strlen("mig-");

    if (!priv->mig_disks)
        priv->mig_disks = g_ptr_array_new_with_free_func(g_free);
    if (!priv->mig_jobs)
        priv->mig_jobs = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    if (!g_ptr_array_find_with_equal_func(priv->mig_disks, target, g_str_equal, NULL))
        g_ptr_array_add(priv->mig_disks, g_strdup(target));
    if (status)
        g_hash_table_replace(priv->mig_jobs, g_strdup(id), g_strdup(status));
}

void
qemu_storage_adopt(ferry_domain_obj *obj)
{
    g_autoptr(json_object) jobs = qemu_process_command(obj, "query-block-jobs", NULL, NULL);
    g_autoptr(json_object) args = json_object_new_object();
    g_autoptr(json_object) nodes = NULL;
    g_autoptr(json_object) exports = NULL;
    qemu_domain_priv *priv;

    json_object_object_add(args, "flat", json_object_new_boolean(TRUE));
    nodes = qemu_process_command(obj, "query-named-block-nodes", args, NULL);
    exports = qemu_process_command(obj, "query-block-exports", NULL, NULL);
    g_mutex_lock(&obj->lock);
    priv = qemu_domain_priv_get(obj);
    for (gsize i = 0; jobs && json_object_is_type(jobs, json_type_array) &&
                      i < json_object_array_length(jobs); i++) {
        json_object *j = json_object_array_get_idx(jobs, i);
        json_object *v = NULL;
        const char *id = json_object_object_get_ex(j, "device", &v) ? json_object_get_string(v)
                                                                     : NULL;
        gboolean ready = json_object_object_get_ex(j, "ready", &v) && json_object_get_boolean(v);

        if (id && g_str_has_prefix(id, "mig-") && id[4])
            adopt_mirror(priv, id, ready ? "ready" : "running");
    }
    for (gsize i = 0; nodes && json_object_is_type(nodes, json_type_array) &&
                      i < json_object_array_length(nodes); i++) {
        json_object *v = NULL;
        const char *name = json_object_object_get_ex(json_object_array_get_idx(nodes, i),
                                                     "node-name", &v)
                           ? json_object_get_string(v) : NULL;

        if (name && g_str_has_prefix(name, "mig-") && name[4])
            adopt_mirror(priv, name, NULL);
    }
    if (exports && json_object_is_type(exports, json_type_array) &&
        json_object_array_length(exports) > 0)
        priv->mig_nbd_adopted = TRUE;
    g_mutex_unlock(&obj->lock);
}

/* ------------------------------------------------------------------ */
/* Perform: mirrors */

/* How long a mirror's NBD client waits for its connection to be made again
 * (QEMU's reconnect-delay), within the QMP timeout (30 s). */
#define NBD_RECONNECT_SECONDS 10
/* How long an abort waits for cancelled mirrors to end: longer than a
 * mirror's requests may wait for their NBD connection, or the job would
 * outlive the wait and its filter node block the next migration. */
#define ABORT_WAIT_SECONDS (NBD_RECONNECT_SECONDS + 10)

/* Waits, lock held, until every mirror reached @want (or one failed). */
static char *
wait_jobs(ferry_domain_obj *obj, qemu_domain_priv *priv, const char *want, gint64 deadline)
{
    for (;;) {
        GHashTableIter it;
        gpointer key, value;
        gboolean all = TRUE;

        if (priv->exited)
            return g_strdup("the source QEMU exited");
        g_hash_table_iter_init(&it, priv->mig_jobs);
        while (g_hash_table_iter_next(&it, &key, &value)) {
            if (g_str_has_prefix(value, "error") || g_str_has_prefix(value, "failing") ||
                (strcmp(value, want) != 0 && strcmp(value, "running") != 0 &&
                 strcmp(value, "ready") != 0))
                return g_strdup_printf("disk copy '%s' %s", (char *)key, (char *)value);
            if (strcmp(value, want) != 0)
                all = FALSE;
        }
        if (all)
            return NULL;
        if (deadline) {
            if (!g_cond_wait_until(&priv->exit_cond, &obj->lock, deadline))
                return g_strdup_printf("disk copies not %s in time", want);
        } else {
            g_cond_wait(&priv->exit_cond, &obj->lock);
        }
    }
}

/* Removes the block node @node; TRUE if there was one to remove. */
static gboolean
delete_node(ferry_domain_obj *obj, const char *node)
{
    g_autoptr(json_object) args = json_object_new_object();
    g_autoptr(json_object) r = NULL;

    json_object_object_add(args, "node-name", json_object_new_string(node));
    r = qemu_process_command(obj, "blockdev-del", args, NULL);
    return r != NULL;
}

gboolean
qemu_storage_start_mirrors(qemu_driver_state *state, ferry_domain_obj *obj,
                           const ferry_migrate_params *params, const char *host,
                           const ferry_migration_cookie *cookie_in, GError **error)
{
    g_autofree char *port = NULL;
    g_autofree char *relay_path = NULL;
    qemu_domain_priv *priv;

    if (!cookie_in->has_nbd || !cookie_in->nbd_port || cookie_in->disks->len == 0) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_COOKIE,
                    "Perform: the destination gave no NBD port or disks for the storage copy");
        return FALSE;
    }
    port = g_strdup_printf("%u", cookie_in->nbd_port);
    if (cookie_in->relay_token) {
        /* Each disk's NBD connection goes through this ferryd's relay. */
        relay_path = qemu_migration_relay_path(state, obj->uuid, "nbd-out");
        if (!qemu_migration_relay_dial(obj, TRUE, relay_path, host, cookie_in->nbd_port,
                                       cookie_in->relay_token, params, error)) {
            g_prefix_error(error, "Perform: ");
            return FALSE;
        }
    }
    g_mutex_lock(&obj->lock);
    priv = qemu_domain_priv_get(obj);
    g_clear_pointer(&priv->mig_jobs, g_hash_table_unref);
    priv->mig_jobs = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    g_clear_pointer(&priv->mig_disks, g_ptr_array_unref);
    priv->mig_disks = g_ptr_array_new_with_free_func(g_free);
    priv->mig_disks_ready = FALSE;
    g_mutex_unlock(&obj->lock);

    for (guint i = 0; i < cookie_in->disks->len; i++) {
        const ferry_cookie_disk *cd = g_ptr_array_index(cookie_in->disks, i);
        g_autofree char *id = g_strdup_printf("mig-%s", cd->target);
        g_autofree char *device = g_strdup_printf("drive-%s", cd->target);
        g_autoptr(json_object) add = json_object_new_object();
        g_autoptr(json_object) mirror = json_object_new_object();
        g_autoptr(json_object) r1 = NULL;
        g_autoptr(json_object) r2 = NULL;
        json_object *server = json_object_new_object();

        if (relay_path) {
            json_object_object_add(server, "type", json_object_new_string("unix"));
            json_object_object_add(server, "path", json_object_new_string(relay_path));
        } else {
            json_object_object_add(server, "type", json_object_new_string("inet"));
            json_object_object_add(server, "host", json_object_new_string(host));
            json_object_object_add(server, "port", json_object_new_string(port));
        }
        json_object_object_add(add, "driver", json_object_new_string("nbd"));
        json_object_object_add(add, "node-name", json_object_new_string(id));
        json_object_object_add(add, "server", server);
        json_object_object_add(add, "export", json_object_new_string(cd->target));
        /* The credentials object source_tls() gave QEMU; the name to
         * check is the address dialled, also through the relay. */
        if (params->flags & FERRY_MIGRATE_TLS) {
            json_object_object_add(add, "tls-creds", json_object_new_string(QEMU_TLS_CREDS_ID));
            json_object_object_add(add, "tls-hostname", json_object_new_string(host));
        }
        /* A connection that breaks is made again, and the mirror's
         * requests wait for it instead of failing: the copy goes on from
         * where it was (its dirty bitmap).  Briefly: while requests wait,
         * QEMU's main loop blocks in any drain (a job cancel, a node
         * removal), its monitor with it.  A longer break fails the mirror,
         * and the migration is tried again from the start.  Relayed, the
         * relay makes the connection again, for as long as the retry bound;
         * its unix socket closes only when the stream is over for good. */
        if (params->retry_s != FERRY_MIGRATE_RETRY_NEVER && !relay_path)
            json_object_object_add(add, "reconnect-delay",
                                   json_object_new_int(NBD_RECONNECT_SECONDS));
        /* A node of that name may be left by an earlier attempt: QEMU 7.2
         * connects to the NBD server inside blockdev-add, a stalled peer
         * (its daemon stopped, the link down) holds the command past
         * ferry's wait for its reply, and QEMU adds the node afterwards,
         * unrecorded.  It would refuse this one ("Duplicate nodes") for
         * every later migration (found by the fault matrix, dst-stop and
         * link-long with copied storage). */
        if (delete_node(obj, id))
            g_message("domain '%s': removed block node '%s', left by an earlier storage "
                      "migration", obj->name, id);
        if (!(r1 = qemu_process_command(obj, "blockdev-add", add, error))) {
            g_prefix_error(error, "Perform: cannot reach the NBD export of disk '%s' at "
                                  "%s:%s: ", cd->target, host, port);
            goto fail;
        }
        /* The NBD node is ours to remove from now on.  The job is
         * "starting" until QEMU says it made it: its events are recorded
         * meanwhile, but an abort waits only for jobs that exist (one
         * QEMU refused would hold it for ABORT_WAIT_SECONDS). */
        g_mutex_lock(&obj->lock);
        g_ptr_array_add(priv->mig_disks, g_strdup(cd->target));
        g_hash_table_replace(priv->mig_jobs, g_strdup(id), g_strdup("starting"));
        g_mutex_unlock(&obj->lock);
        json_object_object_add(mirror, "job-id", json_object_new_string(id));
        json_object_object_add(mirror, "device", json_object_new_string(device));
        json_object_object_add(mirror, "target", json_object_new_string(id));
        json_object_object_add(mirror, "sync", json_object_new_string(
            (params->flags & FERRY_MIGRATE_NON_SHARED_INC) ? "top" : "full"));
        if (params->bandwidth_mib)
            json_object_object_add(mirror, "speed",
                                   json_object_new_int64((gint64)params->bandwidth_mib << 20));
        /* A write that fails on the destination pauses the job instead of
         * ending it: ferry then ends it (qemu_storage_abort()) once QEMU's
         * own reaction to the failure is over.  Ended by QEMU itself while
         * the migration failed at its switchover -- the guest being
         * stopped, then resumed -- QEMU 7.2 left the job's filter node above
         * the disk for good, and the disk could never be copied again
         * (found by the fault matrix, perform-mid/dst-kill). */
        json_object_object_add(mirror, "on-target-error", json_object_new_string("stop"));
        if (!(r2 = qemu_process_command(obj, "blockdev-mirror", mirror, error))) {
            log_block_graph(obj, device);
            g_prefix_error(error, "Perform: cannot start copying disk '%s': ", cd->target);
            goto fail;
        }
        /* Unless an event already said more. */
        g_mutex_lock(&obj->lock);
        if (!g_strcmp0(g_hash_table_lookup(priv->mig_jobs, id), "starting"))
            g_hash_table_replace(priv->mig_jobs, g_strdup(id), g_strdup("running"));
        g_mutex_unlock(&obj->lock);
    }
    /* Every mirror must be in sync before the memory starts to move: the
     * BLOCK_JOB_READY events say so (qemu_storage_mirrors_state()). */
    return TRUE;

fail:
    qemu_storage_abort(state, obj);
    return FALSE;
}

int
qemu_storage_mirrors_state(qemu_domain_priv *priv, char **ret_why)
{
    GHashTableIter it;
    gpointer key, value;
    gboolean all = TRUE;

    if (!priv->mig_jobs || !priv->mig_disks)
        return QEMU_MIRRORS_NONE;
    g_hash_table_iter_init(&it, priv->mig_jobs);
    while (g_hash_table_iter_next(&it, &key, &value)) {
        if (g_str_has_prefix(value, "error") || g_str_has_prefix(value, "failing") ||
            !strcmp(value, "cancelled") || !strcmp(value, "completed")) {
            if (ret_why)
                *ret_why = g_strdup_printf("disk copy '%s' %s", (char *)key, (char *)value);
            return QEMU_MIRRORS_FAILED;
        }
        if (strcmp(value, "ready") != 0)
            all = FALSE;
    }
    return all && g_hash_table_size(priv->mig_jobs) == priv->mig_disks->len
               ? QEMU_MIRRORS_READY : QEMU_MIRRORS_COPYING;
}

/* Data bytes of the source images the copy had to send: zero and
 * unallocated areas travel as holes, not as data. */
static guint64
data_bytes(ferry_domain_obj *obj, const char *target, gboolean top_only)
{
    const ferry_disk_def *disk = ferry_domain_def_find_disk(obj->live, target);
    const char *args[] = { "map", "-U", "--output=json", disk ? disk->source : NULL, NULL };
    g_autofree char *out = disk ? qemu_storage_run_qemu_img(args, NULL) : NULL;
    g_autoptr(json_object) map = NULL;
    guint64 total = 0;

    map = out ? json_tokener_parse(out) : NULL;
    for (size_t i = 0; map && i < json_object_array_length(map); i++) {
        json_object *e = json_object_array_get_idx(map, i);
        json_object *d = NULL, *z = NULL;

        if (json_object_object_get_ex(e, "data", &d) && json_object_get_boolean(d) &&
            !(json_object_object_get_ex(e, "zero", &z) && json_object_get_boolean(z)) &&
            (!top_only || json_int(e, "depth") == 0))
            total += (guint64)json_int(e, "length");
    }
    return total;
}

/* Removes the mirrors' NBD client nodes (their jobs are gone) and forgets
 * the jobs. */
static void
forget_mirrors(ferry_domain_obj *obj, qemu_domain_priv *priv, GPtrArray *disks)
{
    for (guint i = 0; i < disks->len; i++) {
        g_autofree char *id = g_strdup_printf("mig-%s", (char *)disks->pdata[i]);

        delete_node(obj, id);
    }
    g_mutex_lock(&obj->lock);
    g_clear_pointer(&priv->mig_jobs, g_hash_table_unref);
    g_clear_pointer(&priv->mig_disks, g_ptr_array_unref);
    g_mutex_unlock(&obj->lock);
}

gboolean
qemu_storage_complete(qemu_driver_state *state, ferry_domain_obj *obj,
                      const ferry_migrate_params *params,
                      const ferry_migration_cookie *cookie_in,
                      ferry_migration_cookie *cookie_out, GError **error)
{
    g_autoptr(GPtrArray) disks = NULL;
    g_autofree char *why = NULL;
    qemu_domain_priv *priv;
    gboolean top_only = (params->flags & FERRY_MIGRATE_NON_SHARED_INC) != 0;

    g_mutex_lock(&obj->lock);
    priv = qemu_domain_priv_get(obj);
    disks = priv->mig_disks ? g_ptr_array_ref(priv->mig_disks) : NULL;
    g_mutex_unlock(&obj->lock);
    if (!disks)
        return TRUE;

    /* Cancelling a mirror that is ready completes it without switching
     * the source over: the target then holds every write made so far,
     * and with the CPUs stopped no more can come. */
    for (guint i = 0; i < disks->len; i++) {
        g_autoptr(json_object) args = json_object_new_object();
        g_autoptr(json_object) r = NULL;
        g_autofree char *id = g_strdup_printf("mig-%s", (char *)disks->pdata[i]);

        json_object_object_add(args, "device", json_object_new_string(id));
        if (!(r = qemu_process_command(obj, "block-job-cancel", args, error))) {
            qemu_storage_abort(state, obj);
            return FALSE;
        }
    }
    /* The source is paused: completing mirrors that are in sync takes
     * moments.  Bounded all the same: a stalled QEMU must not hold the
     * step thread forever. */
    g_mutex_lock(&obj->lock);
    why = wait_jobs(obj, priv, "completed",
                    g_get_monotonic_time() + COMPLETE_WAIT_SECONDS * G_TIME_SPAN_SECOND);
    g_mutex_unlock(&obj->lock);
    if (why) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_STORAGE, "Perform: domain '%s': %s",
                    obj->name, why);
        qemu_storage_abort(state, obj);
        return FALSE;
    }
    cookie_out->has_stats = TRUE;
    for (guint i = 0; i < cookie_in->disks->len; i++)
        cookie_out->disk_total += ((ferry_cookie_disk *)cookie_in->disks->pdata[i])->capacity;
    for (guint i = 0; i < disks->len; i++)
        cookie_out->disk_transferred += data_bytes(obj, disks->pdata[i], top_only);
    forget_mirrors(obj, priv, disks);
    return TRUE;
}

void
qemu_storage_abort(qemu_driver_state *state, ferry_domain_obj *obj)
{
    g_autoptr(GPtrArray) disks = NULL;
    qemu_domain_priv *priv;

    g_mutex_lock(&obj->lock);
    priv = qemu_domain_priv_get(obj);
    disks = priv->mig_disks ? g_ptr_array_ref(priv->mig_disks) : NULL;
    g_mutex_unlock(&obj->lock);
    if (!disks)
        return;
    for (guint i = 0; i < disks->len; i++) {
        g_autoptr(json_object) args = json_object_new_object();
        g_autoptr(json_object) r = NULL;
        g_autofree char *id = g_strdup_printf("mig-%s", (char *)disks->pdata[i]);
        const char *st;

        g_mutex_lock(&obj->lock);
        st = priv->mig_jobs ? g_hash_table_lookup(priv->mig_jobs, id) : NULL;
        g_mutex_unlock(&obj->lock);
        if (st && (!strcmp(st, "running") || !strcmp(st, "ready") ||
                   g_str_has_prefix(st, "failing"))) {
            json_object_object_add(args, "device", json_object_new_string(id));
            json_object_object_add(args, "force", json_object_new_boolean(TRUE));
            r = qemu_process_command(obj, "block-job-cancel", args, NULL);
        }
    }
    /* Wait for the jobs to go before removing their targets. */
    g_mutex_lock(&obj->lock);
    {
        gint64 deadline = g_get_monotonic_time() + ABORT_WAIT_SECONDS * G_TIME_SPAN_SECOND;
        gboolean busy = TRUE;

        while (busy && !priv->exited && priv->mig_jobs) {
            GHashTableIter it;
            gpointer value;

            busy = FALSE;
            g_hash_table_iter_init(&it, priv->mig_jobs);
            while (g_hash_table_iter_next(&it, NULL, &value))
                busy |= !strcmp(value, "running") || !strcmp(value, "ready") ||
                        g_str_has_prefix(value, "failing");
            if (busy && !g_cond_wait_until(&priv->exit_cond, &obj->lock, deadline))
                break;
        }
    }
    g_mutex_unlock(&obj->lock);
    forget_mirrors(obj, priv, disks);
}

gboolean
qemu_storage_set_speed(ferry_domain_obj *obj, guint64 bandwidth_mib, GError **error)
{
    g_autoptr(GPtrArray) disks = NULL;

    g_mutex_lock(&obj->lock);
    if (obj->priv && ((qemu_domain_priv *)obj->priv)->mig_disks)
        disks = g_ptr_array_ref(((qemu_domain_priv *)obj->priv)->mig_disks);
    g_mutex_unlock(&obj->lock);
    for (guint i = 0; disks && i < disks->len; i++) {
        g_autoptr(json_object) args = json_object_new_object();
        g_autoptr(json_object) r = NULL;
        g_autofree char *id = g_strdup_printf("mig-%s", (char *)disks->pdata[i]);

        json_object_object_add(args, "device", json_object_new_string(id));
        json_object_object_add(args, "speed", json_object_new_int64((gint64)bandwidth_mib << 20));
        if (!(r = qemu_process_command(obj, "block-job-set-speed", args, error)))
            return FALSE;
    }
    return TRUE;
}

guint
qemu_storage_mirrors_sum(json_object *jobs, guint64 *ret_total, guint64 *ret_done)
{
    guint mirrors = 0;

    *ret_total = *ret_done = 0;
    for (size_t i = 0; jobs && json_object_is_type(jobs, json_type_array) &&
                       i < json_object_array_length(jobs); i++) {
        json_object *j = json_object_array_get_idx(jobs, i);

        /* Only the migration's own mirrors (named by qemu_storage_start_mirrors()). */
        if (!g_str_has_prefix(json_str(j, "device") ? json_str(j, "device") : "", "mig-"))
            continue;
        *ret_total += (guint64)json_int(j, "len");
        *ret_done += (guint64)MIN(json_int(j, "offset"), json_int(j, "len"));
        mirrors++;
    }
    return mirrors;
}

void
qemu_storage_job_info(ferry_domain_obj *obj, ferry_job_info *info)
{
    g_autoptr(json_object) jobs = qemu_process_command(obj, "query-block-jobs", NULL, NULL);
    guint64 total, done;

    /* @info holds the last figures: replace them, never add to them. */
    if (!qemu_storage_mirrors_sum(jobs, &total, &done))
        return;
    info->disk_total = total;
    info->disk_processed = done;
    info->disk_remaining = total - done;
}
