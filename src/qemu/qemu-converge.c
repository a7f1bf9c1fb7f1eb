/*
 * qemu-converge.c: QEMU's side of the ways a migration converges --
 * post-copy, parallel connections (multifd), compression (XBZRLE, zstd over
 * multifd), auto-converge: the capabilities and parameters that turn them
 * on, the command that switches to post-copy, and their statistics.
 *
 * Owns: the QMP names of these features (QEMU's migration QAPI schema:
 * migrate-set-capabilities, migrate-set-parameters, migrate-start-postcopy,
 * query-migrate's "ram", "xbzrle-cache" and "cpu-throttle-percentage").
 * Must not: decide when to use a feature (the caller's flags and the
 * engine do) or follow the migration's status (qemu-migration.c does).
 */
#include "ferry-config.h"

#include <string.h>

#include "migration/migration-policy.h"
#include "qemu/qemu-converge.h"
#include "qemu/qemu-process.h"
#include "util/error.h"
#include "util/json-util.h"

/* QEMU's own defaults, restored when a feature is not asked for. */
#define DEFAULT_CHANNELS 2
#define DEFAULT_THROTTLE_INITIAL 20
#define DEFAULT_THROTTLE_INCREMENT 10
#define DEFAULT_TRIGGER_THRESHOLD 50

static void
add_capability(json_object *caps, const char *name, gboolean on)
{
    json_object *cap = json_object_new_object();

    json_object_object_add(cap, "capability", json_object_new_string(name));
    json_object_object_add(cap, "state", json_object_new_boolean(on));
    json_object_array_add(caps, cap);
}

/* When the convergence policy may throttle a migration, QEMU's
 * auto-converge is set up dormant (1 % steps, only once the guest dirties
 * faster than the link) and woken by qemu_converge_throttle(). */
static gboolean
policy_may_throttle(const ferry_migrate_params *params)
{
    return ferry_policy_may_throttle(params->flags);
}

gboolean
qemu_converge_set_capabilities(ferry_domain_obj *obj, const ferry_migrate_params *params,
                               gboolean storage, gboolean incoming, GError **error)
{
    g_autoptr(json_object) args = json_object_new_object();
    json_object *caps = json_object_new_array();
    g_autoptr(json_object) ret = NULL;
    g_autoptr(GError) local = NULL;
    guint flags = params->flags;

    add_capability(caps, "events", TRUE);
    /* With storage to copy: the source stops before the switch-over so the
     * mirrors can be completed there (pause-before-switchover; with a
     * downtime cap too, to check it there), and the
     * destination leaves its disks to the NBD server until it is resumed
     * (late-block-activate). */
    if (incoming)
        add_capability(caps, "late-block-activate", storage);
    else
        add_capability(caps, "pause-before-switchover",
                       storage || params->max_downtime_cap_ms);
    /* Both sides must agree on these two. */
    add_capability(caps, "postcopy-ram", (flags & FERRY_MIGRATE_POSTCOPY) != 0);
    add_capability(caps, "multifd", (flags & FERRY_MIGRATE_PARALLEL) != 0);
    if (!incoming) {
        /* Only the sender decides; the receiver decodes whatever comes. */
        add_capability(caps, "xbzrle",
                       (flags & FERRY_MIGRATE_COMPRESSED) &&
                           (!params->comp_methods ||
                            (params->comp_methods & FERRY_MIGRATE_COMP_XBZRLE)));
        add_capability(caps, "auto-converge", (flags & FERRY_MIGRATE_AUTO_CONVERGE) ||
                                                  policy_may_throttle(params));
    }
    json_object_object_add(args, "capabilities", caps);
    ret = qemu_process_command(obj, "migrate-set-capabilities", args, &local);
    if (!ret) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_MIGRATE,
                    "QEMU refused the migration capabilities%s%s%s: %s",
                    (flags & FERRY_MIGRATE_POSTCOPY) ? " postcopy-ram" : "",
                    (flags & FERRY_MIGRATE_PARALLEL) ? " multifd" : "",
                    (flags & FERRY_MIGRATE_COMPRESSED) ? " (compression)" : "",
                    local->message);
        return FALSE;
    }
    return TRUE;
}

gboolean
qemu_converge_set_parameters(ferry_domain_obj *obj, const ferry_migrate_params *params,
                             gboolean incoming, GError **error)
{
    g_autoptr(json_object) args = json_object_new_object();
    g_autoptr(json_object) ret = NULL;
    g_autoptr(GError) local = NULL;
    guint flags = params->flags;
    gboolean zstd = (flags & FERRY_MIGRATE_COMPRESSED) &&
                    (params->comp_methods & FERRY_MIGRATE_COMP_ZSTD);

    json_object_object_add(args, "multifd-channels",
                           json_object_new_int((flags & FERRY_MIGRATE_PARALLEL) &&
                                                       params->parallel_connections
                                                   ? (int)params->parallel_connections
                                                   : DEFAULT_CHANNELS));
    json_object_object_add(args, "multifd-compression",
                           json_object_new_string(zstd ? "zstd" : "none"));
    if (!incoming) {
        gboolean dormant = policy_may_throttle(params);

        /* 0: post-copy as fast as the link goes. */
        json_object_object_add(args, "max-postcopy-bandwidth",
                               json_object_new_int64((gint64)(params->postcopy_bandwidth_mib << 20)));
        json_object_object_add(args, "cpu-throttle-initial",
                               json_object_new_int(dormant ? 1
                                                   : params->auto_converge_initial
                                                       ? (int)params->auto_converge_initial
                                                       : DEFAULT_THROTTLE_INITIAL));
        json_object_object_add(args, "cpu-throttle-increment",
                               json_object_new_int(dormant ? 1
                                                   : params->auto_converge_increment
                                                       ? (int)params->auto_converge_increment
                                                       : DEFAULT_THROTTLE_INCREMENT));
        json_object_object_add(args, "throttle-trigger-threshold",
                               json_object_new_int(dormant ? 100 : DEFAULT_TRIGGER_THRESHOLD));
    }
    ret = qemu_process_command(obj, "migrate-set-parameters", args, &local);
    if (!ret) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_MIGRATE,
                    "QEMU refused the migration parameters (%s): %s",
                    json_object_to_json_string_ext(args, JSON_C_TO_STRING_PLAIN),
                    local->message);
        return FALSE;
    }
    return TRUE;
}

static guint64
get_u64(json_object *obj, const char *key)
{
    json_object *v;

    if (!obj || !json_object_object_get_ex(obj, key, &v))
        return 0;
    return (guint64)MAX(json_object_get_int64(v), 0);
}

void
qemu_converge_read_stats(json_object *q, ferry_job_info *info)
{
    json_object *ram = NULL, *xbzrle = NULL;

    if (!q)
        return;
    if (json_object_object_get_ex(q, "ram", &ram)) {
        info->postcopy_requests = get_u64(ram, "postcopy-requests");
        info->postcopy_bytes = get_u64(ram, "postcopy-bytes");
        info->multifd_bytes = get_u64(ram, "multifd-bytes");
        info->normal_pages = get_u64(ram, "normal");
        info->zero_pages = get_u64(ram, "duplicate");
    }
    if (json_object_object_get_ex(q, "xbzrle-cache", &xbzrle)) {
        info->xbzrle_bytes = get_u64(xbzrle, "bytes");
        info->xbzrle_pages = get_u64(xbzrle, "pages");
        info->xbzrle_cache_miss = get_u64(xbzrle, "cache-miss");
        info->xbzrle_overflow = get_u64(xbzrle, "overflow");
    }
    /* Absent when auto-converge never throttled. */
    info->throttle_percent = (guint)get_u64(q, "cpu-throttle-percentage");
}

gboolean
qemu_converge_start_postcopy(ferry_domain_obj *obj, GError **error)
{
    g_autoptr(json_object) ret = NULL;
    g_autoptr(GError) local = NULL;

    ret = qemu_process_command(obj, "migrate-start-postcopy", NULL, &local);
    if (!ret) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_MIGRATE,
                    "domain '%s': QEMU refused to switch to post-copy: %s", obj->name,
                    local->message);
        return FALSE;
    }
    return TRUE;
}

gboolean
qemu_converge_throttle(ferry_domain_obj *obj, GError **error)
{
    g_autoptr(json_object) args = json_object_new_object();
    g_autoptr(json_object) ret = NULL;
    g_autoptr(GError) local = NULL;

    /* Auto-converge was set up dormant: QEMU's own steps from now on. */
    json_object_object_add(args, "cpu-throttle-initial",
                           json_object_new_int(DEFAULT_THROTTLE_INITIAL));
    json_object_object_add(args, "cpu-throttle-increment",
                           json_object_new_int(DEFAULT_THROTTLE_INCREMENT));
    json_object_object_add(args, "throttle-trigger-threshold",
                           json_object_new_int(DEFAULT_TRIGGER_THRESHOLD));
    ret = qemu_process_command(obj, "migrate-set-parameters", args, &local);
    if (!ret) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_MIGRATE,
                    "domain '%s': QEMU did not take the throttle: %s", obj->name,
                    local->message);
        return FALSE;
    }
    return TRUE;
}

/* QEMU's page-sampling hashes this many pages per GiB at the start and end
 * of the second (its most; the default 512 sees too few of a small guest).
 * Not the dirty-bitmap mode: QEMU 7.2 under TCG dies of it. */
#define DIRTY_SAMPLE_PAGES 4096
/* How long QEMU may take to say "measured" after its second. */
#define DIRTY_RATE_WAIT_MS 5000
#define DIRTY_RATE_POLL_MS 50

gboolean
qemu_converge_dirty_rate(ferry_domain_obj *obj, guint seconds, guint64 *ret_bps,
                         GError **error)
{
    g_autoptr(json_object) args = json_object_new_object();
    g_autoptr(json_object) ret = NULL;
    gint64 deadline;

    json_object_object_add(args, "calc-time", json_object_new_int64(seconds));
    json_object_object_add(args, "sample-pages", json_object_new_int64(DIRTY_SAMPLE_PAGES));
    json_object_object_add(args, "mode", json_object_new_string("page-sampling"));
    if (!(ret = qemu_process_command(obj, "calc-dirty-rate", args, error)))
        return FALSE;
    g_usleep(seconds * G_TIME_SPAN_SECOND);
    deadline = g_get_monotonic_time() + DIRTY_RATE_WAIT_MS * G_TIME_SPAN_MILLISECOND;
    for (;;) {
        json_object *status = NULL;

        g_clear_pointer(&ret, json_object_put);
        if (!(ret = qemu_process_command(obj, "query-dirty-rate", NULL, error)))
            return FALSE;
        if (json_object_object_get_ex(ret, "status", &status) &&
            g_strcmp0(json_object_get_string(status), "measured") == 0)
            break;
        if (g_get_monotonic_time() > deadline) {
            g_set_error(error, FERRY_ERROR, FERRY_ERROR_TIMEOUT,
                        "QEMU did not measure the dirty rate within %d ms of its second "
                        "(status '%s')", DIRTY_RATE_WAIT_MS,
                        status ? json_object_get_string(status) : "?");
            return FALSE;
        }
        g_usleep(DIRTY_RATE_POLL_MS * G_TIME_SPAN_MILLISECOND);
    }
    /* QEMU's unit: MiB/s (dirtied pages times the page size, shifted by 20). */
    *ret_bps = get_u64(ret, "dirty-rate") << 20;
    return TRUE;
}
