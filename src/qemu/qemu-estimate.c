/*
 * qemu-estimate.c: `ferry migrate --estimate` on a QEMU host -- the
 * prediction of a migration without migrating -- and the destination's
 * side of the link probe it makes.
 *
 * Owns: gathering the figures (the guest RAM's pages read from QEMU's
 * process -- only fingerprinted and counted, never kept -- for its data
 * and its dirty rate, else QEMU's dirty rate through qemu-converge.c; the
 * link through the engine's probe) and
 * handing them to the policy's model
 * (ferry_policy_estimate()).  Must not: predict anything itself (the
 * model lives with the policy, pure and unit-tested), or touch a running
 * migration: a migrating domain is refused.
 */
#include "ferry-config.h"

#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "migration/migration-policy.h"
#include "qemu/qemu-converge.h"
#include "qemu/qemu-migration.h"
#include "util/error.h"

gboolean
qemu_conn_migrate_probe(ferry_conn *dconn, GBytes *data, guint64 *ret_received,
                        gboolean *ret_postcopy, GError **error)
{
    *ret_received = g_bytes_get_size(data);
    *ret_postcopy = qemu_migration_postcopy_possible(dconn->driver_data, NULL);
    return TRUE;
}

/* The x86 guests' page: QEMU's "duplicate" counter counts these. */
#define QEMU_PAGE_SIZE 4096u
/* The guest RAM is read this many pages at a time (2 MiB). */
#define CHUNK_PAGES 512u

/* The guest RAM QEMU's process maps: its anonymous mapping of the RAM's
 * size (QEMU's "pc.ram"), found in /proc/PID/smaps, with the part of it
 * resident.  FALSE: no such mapping. */
static gboolean
find_ram(gint64 pid, guint64 mem_total, guint64 *ret_start, guint64 *ret_end,
         guint64 *ret_resident)
{
    g_autofree char *path = g_strdup_printf("/proc/%" G_GINT64_FORMAT "/smaps", pid);
    g_autofree char *text = NULL;
    g_auto(GStrv) lines = NULL;
    gboolean candidate = FALSE;

    if (pid <= 0 || !g_file_get_contents(path, &text, NULL, NULL))
        return FALSE;
    lines = g_strsplit(text, "\n", -1);
    for (guint i = 0; lines[i]; i++) {
        guint64 start, end, kib;
        char perms[8], rest[2];

        /* "START-END PERMS OFFSET DEV INODE [PATH]": anonymous, no path. */
        if (sscanf(lines[i], "%" G_GINT64_MODIFIER "x-%" G_GINT64_MODIFIER "x %7s",
                   &start, &end, perms) == 3) {
            int fields = sscanf(lines[i], "%*s %*s %*s %*s %*s %1s", rest);

            candidate = strcmp(perms, "rw-p") == 0 && fields <= 0 &&
                        end - start >= mem_total && end - start <= mem_total + (4u << 20);
            *ret_start = start;
            *ret_end = end;
        } else if (candidate && sscanf(lines[i], "Rss: %" G_GINT64_MODIFIER "u kB", &kib) == 1) {
            *ret_resident = MIN(kib * 1024, mem_total);
            return TRUE;
        }
    }
    return FALSE;
}

/* A page's fingerprint: 0 for a page of zeroes (as for one not present),
 * else a hash of its words that is never 0.  Only compared with the same
 * page's fingerprint a moment later: a change of content changes it. */
static guint64
page_print(const guint64 *words)
{
    guint64 h = 0, any = 0;

    for (gsize i = 0; i < QEMU_PAGE_SIZE / sizeof(guint64); i++) {
        any |= words[i];
        h = (h ^ words[i]) * G_GUINT64_CONSTANT(0x9E3779B97F4A7C15);
        h ^= h >> 29;
    }
    return any ? h | 1 : 0;
}

/* A page's fingerprint into @prints[@i]: stored, or (@compare) compared
 * with the one stored, a difference counted in @changed. */
static void
note_print(guint64 *prints, guint64 i, guint64 print, gboolean compare, guint64 *changed)
{
    if (!prints)
        return;
    if (compare)
        *changed += prints[i] != print;
    else
        prints[i] = print;
}

/* One look at the guest RAM, [@start, @end) in QEMU's process: the bytes
 * of its pages that hold anything but zeroes (what pre-copy's first pass
 * sends whole: it sends zero pages as a flag), and, with @prints, the
 * pages' fingerprints: stored if @compare is FALSE, else compared, the
 * pages whose content changed since counted in @ret_changed.  Only the
 * pages present are read (/proc/PID/pagemap): reading the others would
 * fault them in.  FALSE if the process cannot be read. */
static gboolean
look_at_ram(gint64 pid, guint64 start, guint64 end, guint64 *prints, gboolean compare,
            guint64 *ret_data, guint64 *ret_changed)
{
    g_autofree char *map_path = g_strdup_printf("/proc/%" G_GINT64_FORMAT "/pagemap", pid);
    g_autofree char *mem_path = g_strdup_printf("/proc/%" G_GINT64_FORMAT "/mem", pid);
    g_autofree guint64 *entries = g_new(guint64, CHUNK_PAGES);
    g_autofree guint64 *pages = g_new(guint64, CHUNK_PAGES * QEMU_PAGE_SIZE / sizeof(guint64));
    int map_fd = open(map_path, O_RDONLY | O_CLOEXEC);
    int mem_fd = open(mem_path, O_RDONLY | O_CLOEXEC);
    guint64 data = 0, changed = 0;
    gboolean ok = map_fd >= 0 && mem_fd >= 0;

    for (guint64 addr = start; ok && addr < end; addr += CHUNK_PAGES * QEMU_PAGE_SIZE) {
        gsize n = MIN(CHUNK_PAGES, (end - addr) / QEMU_PAGE_SIZE);
        gsize want = n * sizeof(guint64);
        guint64 first = (addr - start) / QEMU_PAGE_SIZE;

        if (pread(map_fd, entries, want, (off_t)(addr / QEMU_PAGE_SIZE * sizeof(guint64))) !=
            (ssize_t)want) {
            ok = FALSE;
            break;
        }
        for (gsize i = 0; i < n;) {
            gsize run = 0;

            /* Bit 63: the page is present. */
            while (i + run < n && (entries[i + run] >> 63))
                run++;
            if (run == 0) {
                note_print(prints, first + i, 0, compare, &changed);
                i++;
                continue;
            }
            if (pread(mem_fd, pages, run * QEMU_PAGE_SIZE,
                      (off_t)(addr + i * QEMU_PAGE_SIZE)) != (ssize_t)(run * QEMU_PAGE_SIZE)) {
                ok = FALSE;
                break;
            }
            for (gsize p = 0; p < run; p++) {
                guint64 print = page_print(pages + p * (QEMU_PAGE_SIZE / sizeof(guint64)));

                data += print ? QEMU_PAGE_SIZE : 0;
                note_print(prints, first + i + p, print, compare, &changed);
            }
            i += run;
        }
    }
    if (map_fd >= 0)
        close(map_fd);
    if (mem_fd >= 0)
        close(mem_fd);
    if (ok) {
        *ret_data = data;
        if (ret_changed)
            *ret_changed = changed * QEMU_PAGE_SIZE;
    }
    return ok;
}

/* The moments after the first look at which the guest RAM is looked at
 * again, ms: a short one for a guest that rewrites a small working set
 * many times a second (over a second it would seem to dirty only that
 * set's size per second), and two and one seconds for whether what it
 * dirties keeps growing. */
static const guint LOOK_AT_MS[] = { 250, 1000, 2000 };
/* A guest with more RAM resident than this is not read four times (each
 * look reads all of it): QEMU samples its dirty rate instead (with 4096
 * pages per GiB, plenty of them), and its data is counted in one look. */
#define SCAN_DIRTY_MAX (4ull << 30)

/* The guest's dirty rate counted on every page of its RAM, from the pages
 * whose content changed since a first look (LOOK_AT_MS): the highest rate
 * any interval showed, and its working set (@ret_set, 0 if what it
 * dirties keeps growing; ferry_policy_dirty_set() over one second and
 * two).  Exact where QEMU's calc-dirty-rate samples (at most 4096 pages
 * per GiB, its result in whole MiB/s), but blind to a page rewritten with
 * the content it had.  Also the bytes not zero (first look).  FALSE if
 * the process cannot be read. */
static gboolean
count_dirty(gint64 pid, guint64 start, guint64 end, guint64 *ret_data, guint64 *ret_rate_bps,
            guint64 *ret_set)
{
    g_autofree guint64 *prints = g_new(guint64, (end - start) / QEMU_PAGE_SIZE);
    guint64 data, rate[G_N_ELEMENTS(LOOK_AT_MS)];
    gint64 t0 = g_get_monotonic_time();

    if (!look_at_ram(pid, start, end, prints, FALSE, &data, NULL))
        return FALSE;
    *ret_rate_bps = 0;
    for (gsize i = 0; i < G_N_ELEMENTS(LOOK_AT_MS); i++) {
        guint64 changed, ignored;
        gint64 t;

        g_usleep(MAX(0, t0 + LOOK_AT_MS[i] * G_TIME_SPAN_MILLISECOND - g_get_monotonic_time()));
        t = g_get_monotonic_time();
        if (!look_at_ram(pid, start, end, prints, TRUE, &ignored, &changed))
            return FALSE;
        rate[i] = (guint64)((double)changed * G_TIME_SPAN_SECOND / (double)MAX(1, t - t0));
        *ret_rate_bps = MAX(*ret_rate_bps, rate[i]);
    }
    *ret_data = data;
    *ret_set = ferry_policy_dirty_set(rate[1], rate[2]);
    return TRUE;
}

/* The domain's data as its last migration from this host found it: its
 * RAM less the zero pages QEMU sent as a flag.  FALSE: no such figures. */
static gboolean
last_mem_data(qemu_driver_state *state, ferry_domain *dom, guint64 mem_total,
              guint64 *ret_data)
{
    ferry_job_info info = { 0 };
    guint64 zero;

    if (!ferry_mig_engine_get_job_stats(state->engine, dom, FERRY_JOB_STATS_COMPLETED, &info,
                                        NULL) ||
        strcmp(info.role, "source") != 0 || info.zero_pages + info.normal_pages == 0)
        return FALSE;
    zero = MIN(info.zero_pages * QEMU_PAGE_SIZE, mem_total);
    *ret_data = mem_total - zero;
    return TRUE;
}

gboolean
qemu_domain_migrate_estimate(ferry_domain *dom, const char *dest_uri,
                             const ferry_migrate_params *params, ferry_migrate_estimate *ret,
                             GError **error)
{
    qemu_driver_state *state = dom->conn->driver_data;
    g_autoptr(ferry_domain_obj) obj =
        ferry_domain_obj_list_lookup(state->domains, dom, state->config.hostname, error);
    g_autoptr(ferry_mig_job) job = NULL;
    ferry_policy_estimate_input in = { 0 };
    ferry_policy_estimate_result out;
    gboolean dest_postcopy = FALSE;
    guint64 rate2 = 0, ram_start = 0, ram_end = 0, resident = 0;
    gint64 pid = 0;
    gboolean running, found;

    if (!obj)
        return FALSE;
    g_mutex_lock(&obj->lock);
    running = obj->state == FERRY_DOMAIN_RUNNING && obj->live;
    ret->mem_total = running ? obj->live->memory_kib * 1024 : 0;
    if (running && obj->priv)
        pid = ((qemu_domain_priv *)obj->priv)->pid;
    g_mutex_unlock(&obj->lock);
    if (!running) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_OPERATION_INVALID,
                    "domain '%s' is not running: only a running guest dirties memory",
                    dom->name);
        return FALSE;
    }
    if ((job = ferry_mig_engine_find_job(state->engine, dom->uuid))) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_OPERATION_INVALID,
                    "domain '%s' is migrating (migration %s): estimate before or after",
                    dom->name, job->id);
        return FALSE;
    }
    g_info("domain '%s': estimating its migration to %s (its memory watched for 2 s)",
           dom->name, dest_uri);
    /* What it dirties in one second, and in two (counted on its pages
     * when ferryd can read them and they are not too many to read four
     * times; else QEMU's sampling), and its data. */
    found = find_ram(pid, ret->mem_total, &ram_start, &ram_end, &resident);
    if (found && resident <= SCAN_DIRTY_MAX &&
        count_dirty(pid, ram_start, ram_end, &ret->mem_data, &ret->dirty_rate_bps,
                    &ret->dirty_set)) {
        ret->mem_data = MIN(ret->mem_data, ret->mem_total);
        g_strlcpy(ret->mem_data_source, "nonzero", sizeof(ret->mem_data_source));
    } else {
        if (!qemu_converge_dirty_rate(obj, 1, &ret->dirty_rate_bps, error) ||
            !qemu_converge_dirty_rate(obj, 2, &rate2, error))
            return FALSE;
        /* QEMU's figures are whole MiB/s, rounded down: half a MiB/s more
         * is nearer, except for a guest it saw dirty nothing. */
        ret->dirty_rate_bps += ret->dirty_rate_bps ? 1u << 19 : 0;
        rate2 += rate2 ? 1u << 19 : 0;
        ret->dirty_set = ferry_policy_dirty_set(ret->dirty_rate_bps, rate2);
        if (found && look_at_ram(pid, ram_start, ram_end, NULL, FALSE, &ret->mem_data, NULL)) {
            ret->mem_data = MIN(ret->mem_data, ret->mem_total);
            g_strlcpy(ret->mem_data_source, "nonzero", sizeof(ret->mem_data_source));
        } else if (resident) {
            ret->mem_data = resident;
            g_strlcpy(ret->mem_data_source, "resident", sizeof(ret->mem_data_source));
        } else if (last_mem_data(state, dom, ret->mem_total, &ret->mem_data))
            g_strlcpy(ret->mem_data_source, "last-migration", sizeof(ret->mem_data_source));
        else {
            g_strlcpy(ret->mem_data_source, "all", sizeof(ret->mem_data_source));
            ret->mem_data = ret->mem_total;
        }
    }
    if (!ferry_mig_engine_probe_link(state->engine, dest_uri, &ret->link_bps, &dest_postcopy,
                                     error))
        return FALSE;
    ret->rate_bps = ret->link_bps;
    if (params->bandwidth_mib && (params->flags & FERRY_MIGRATE_PARALLEL) &&
        !(params->flags & FERRY_MIGRATE_COMPRESSED))
        ret->rate_bps = MIN(ret->rate_bps, ferry_policy_multifd_rate(params->bandwidth_mib << 20));
    else if (params->bandwidth_mib)
        ret->rate_bps = MIN(ret->rate_bps, params->bandwidth_mib << 20);

    in.mem_data = ret->mem_data;
    in.dirty_rate_bps = ret->dirty_rate_bps;
    in.dirty_set = ret->dirty_set;
    in.rate_bps = ret->rate_bps;
    /* QEMU limits pre-copy's passes only: the switch-over and post-copy
     * (unless --postcopy-bandwidth) go at the link's rate. */
    in.link_bps = ret->link_bps;
    in.postcopy_rate_bps = params->postcopy_bandwidth_mib
                           ? MIN(ret->link_bps, params->postcopy_bandwidth_mib << 20) : 0;
    in.postcopy_after_precopy = (params->flags & FERRY_MIGRATE_POSTCOPY_AFTER_PRECOPY) != 0;
    in.policy = !(params->flags & FERRY_MIGRATE_NO_POLICY);
    ferry_policy_config_init(&in.config, params->max_downtime_ms,
                             params->max_downtime_cap_ms,
                             (params->flags & FERRY_MIGRATE_POSTCOPY) ||
                             (ferry_policy_may_postcopy(params->flags) && dest_postcopy),
                             ferry_policy_may_throttle(params->flags));
    ferry_policy_estimate(&in, &out);
    ret->passes = out.passes;
    ret->total_ms = out.total_ms;
    ret->downtime_ms = out.downtime_ms;
    g_strlcpy(ret->strategy, out.step == FERRY_POLICY_WAIT ? "precopy"
                             : out.step == FERRY_POLICY_GIVE_UP ? "none"
                             : ferry_policy_step_name(out.step), sizeof(ret->strategy));
    g_strlcpy(ret->reason, out.reason, sizeof(ret->reason));
    g_message("domain '%s': estimate of its migration to %s: %s", dom->name, dest_uri,
              out.reason);
    return TRUE;
}
