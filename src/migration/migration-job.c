/*
 * migration-job.c: the job object, the transition table and job records
 * (see migration-job.h).
 *
 * The table is data, not code: each row is one legal move, so that a test
 * can try every (phase, state) pair against it and a reader can see the
 * whole protocol of a role at a glance.  Moves out of a final state do not
 * exist: a new migration is a new job.
 */
#include "ferry-config.h"

#include <errno.h>
#include <stddef.h>
#include <glib/gstdio.h>
#include <json-c/json.h>
#include <string.h>

#include "migration/migration-job.h"
#include "migration/migration-policy.h"
#include "util/error.h"
#include "util/json-util.h"

#define RECORD_VERSION 1

/* ------------------------------------------------------------------------ */
/* Names                                                                     */
/* ------------------------------------------------------------------------ */

static const char *const phase_names[FERRY_MIG_N_PHASES] = {
    [FERRY_MIG_PHASE_NONE] = "",
    [FERRY_MIG_PHASE_BEGIN] = "begin",
    [FERRY_MIG_PHASE_PREPARE] = "prepare",
    [FERRY_MIG_PHASE_PERFORM] = "perform",
    [FERRY_MIG_PHASE_FINISH] = "finish",
    [FERRY_MIG_PHASE_CONFIRM] = "confirm",
};

static const char *const state_names[FERRY_MIG_N_STATES] = {
    [FERRY_MIG_STATE_NEW] = "new",
    [FERRY_MIG_STATE_RUNNING] = "running",
    [FERRY_MIG_STATE_WAITING] = "waiting",
    [FERRY_MIG_STATE_IN_DOUBT] = "in-doubt",
    [FERRY_MIG_STATE_COMMITTED] = "committed",
    [FERRY_MIG_STATE_ROLLBACK] = "rollback",
    [FERRY_MIG_STATE_COMPLETED] = "completed",
    [FERRY_MIG_STATE_FAILED] = "failed",
    [FERRY_MIG_STATE_CANCELLED] = "cancelled",
};

const char *
ferry_mig_phase_to_string(ferry_mig_phase phase)
{
    return (guint)phase < FERRY_MIG_N_PHASES ? phase_names[phase] : "unknown";
}

const char *
ferry_mig_state_to_string(ferry_mig_state state)
{
    return (guint)state < FERRY_MIG_N_STATES ? state_names[state] : "unknown";
}

const char *
ferry_mig_role_to_string(ferry_mig_role role)
{
    return role == FERRY_MIG_ROLE_SOURCE ? "source" : "destination";
}

static int
index_of(const char *const *names, int n, const char *name)
{
    for (int i = 0; name && i < n; i++) {
        if (strcmp(names[i], name) == 0)
            return i;
    }
    return -1;
}

int
ferry_mig_phase_from_string(const char *name)
{
    return index_of(phase_names, FERRY_MIG_N_PHASES, name);
}

int
ferry_mig_state_from_string(const char *name)
{
    return index_of(state_names, FERRY_MIG_N_STATES, name);
}

gboolean
ferry_mig_state_is_final(ferry_mig_state state)
{
    return state == FERRY_MIG_STATE_COMPLETED || state == FERRY_MIG_STATE_FAILED ||
           state == FERRY_MIG_STATE_CANCELLED;
}

/* ------------------------------------------------------------------------ */
/* The transition table                                                      */
/* ------------------------------------------------------------------------ */

#define SRC FERRY_MIG_ROLE_SOURCE
#define DST FERRY_MIG_ROLE_DESTINATION
#define P(x) FERRY_MIG_PHASE_##x
#define S(x) FERRY_MIG_STATE_##x

typedef struct {
    ferry_mig_role role;
    ferry_mig_phase from_phase;
    ferry_mig_state from_state;
    ferry_mig_phase to_phase;
    ferry_mig_state to_state;
} transition;

static const transition table[] = {
    /* Source: Begin, then Perform; v1/v2 have no Begin. */
    { SRC, P(NONE), S(NEW), P(BEGIN), S(RUNNING) },
    { SRC, P(NONE), S(NEW), P(PERFORM), S(RUNNING) },
    { SRC, P(BEGIN), S(RUNNING), P(BEGIN), S(WAITING) },
    { SRC, P(BEGIN), S(RUNNING), P(BEGIN), S(ROLLBACK) },
    { SRC, P(BEGIN), S(WAITING), P(PERFORM), S(RUNNING) },
    /* Prepare failed on the destination: the caller confirms the cancel. */
    { SRC, P(BEGIN), S(WAITING), P(CONFIRM), S(RUNNING) },
    /* Aborted, or given up by a vanished client, before anything moved. */
    { SRC, P(BEGIN), S(WAITING), P(BEGIN), S(ROLLBACK) },
    /* Everything sent: the source is paused in the commit zone. */
    { SRC, P(PERFORM), S(RUNNING), P(PERFORM), S(WAITING) },
    { SRC, P(PERFORM), S(RUNNING), P(PERFORM), S(ROLLBACK) },
    /* Out of the commit zone only with the destination's word: the
     * caller's Confirm, the daemon's own Finish, or asking. */
    { SRC, P(PERFORM), S(WAITING), P(CONFIRM), S(RUNNING) },
    { SRC, P(PERFORM), S(WAITING), P(FINISH), S(RUNNING) },
    { SRC, P(PERFORM), S(WAITING), P(CONFIRM), S(IN_DOUBT) },
    { SRC, P(FINISH), S(RUNNING), P(CONFIRM), S(RUNNING) },
    { SRC, P(FINISH), S(RUNNING), P(CONFIRM), S(IN_DOUBT) },
    { SRC, P(CONFIRM), S(IN_DOUBT), P(CONFIRM), S(RUNNING) },
    /* Restart recovery: Confirm's outcome was not recorded; ask again. */
    { SRC, P(CONFIRM), S(RUNNING), P(CONFIRM), S(IN_DOUBT) },
    { SRC, P(CONFIRM), S(RUNNING), P(CONFIRM), S(COMPLETED) },
    { SRC, P(CONFIRM), S(RUNNING), P(CONFIRM), S(ROLLBACK) },
    { SRC, P(BEGIN), S(ROLLBACK), P(BEGIN), S(FAILED) },
    { SRC, P(BEGIN), S(ROLLBACK), P(BEGIN), S(CANCELLED) },
    { SRC, P(PERFORM), S(ROLLBACK), P(PERFORM), S(FAILED) },
    { SRC, P(PERFORM), S(ROLLBACK), P(PERFORM), S(CANCELLED) },
    { SRC, P(CONFIRM), S(ROLLBACK), P(CONFIRM), S(FAILED) },
    { SRC, P(CONFIRM), S(ROLLBACK), P(CONFIRM), S(CANCELLED) },

    /* Destination: Prepare, then Finish. */
    { DST, P(NONE), S(NEW), P(PREPARE), S(RUNNING) },
    { DST, P(PREPARE), S(RUNNING), P(PREPARE), S(WAITING) },
    { DST, P(PREPARE), S(RUNNING), P(PREPARE), S(ROLLBACK) },
    { DST, P(PREPARE), S(WAITING), P(FINISH), S(RUNNING) },
    { DST, P(PREPARE), S(WAITING), P(PREPARE), S(ROLLBACK) },
    /* Deciding to run the guest is recorded before the guest runs. */
    { DST, P(FINISH), S(RUNNING), P(FINISH), S(COMMITTED) },
    { DST, P(FINISH), S(RUNNING), P(FINISH), S(ROLLBACK) },
    { DST, P(FINISH), S(COMMITTED), P(FINISH), S(COMPLETED) },
    /* The guest could not be started after all: it never ran here. */
    { DST, P(FINISH), S(COMMITTED), P(FINISH), S(ROLLBACK) },
    { DST, P(PREPARE), S(ROLLBACK), P(PREPARE), S(FAILED) },
    { DST, P(PREPARE), S(ROLLBACK), P(PREPARE), S(CANCELLED) },
    { DST, P(FINISH), S(ROLLBACK), P(FINISH), S(FAILED) },
    { DST, P(FINISH), S(ROLLBACK), P(FINISH), S(CANCELLED) },
};

#undef SRC
#undef DST
#undef P
#undef S

gboolean
ferry_mig_transition_allowed(ferry_mig_role role, ferry_mig_phase from_phase,
                             ferry_mig_state from_state, ferry_mig_phase to_phase,
                             ferry_mig_state to_state)
{
    for (gsize i = 0; i < G_N_ELEMENTS(table); i++) {
        const transition *t = &table[i];

        if (t->role == role && t->from_phase == from_phase && t->from_state == from_state &&
            t->to_phase == to_phase && t->to_state == to_state)
            return TRUE;
    }
    return FALSE;
}

/* ------------------------------------------------------------------------ */
/* Parameters                                                                */
/* ------------------------------------------------------------------------ */

ferry_mig_params *
ferry_mig_params_new(const ferry_migrate_params *params)
{
    ferry_mig_params *copy = g_new0(ferry_mig_params, 1);

    if (params)
        copy->p = *params;
    copy->dname = g_strdup(copy->p.dname);
    copy->uri = g_strdup(copy->p.uri);
    copy->dxml = g_strdup(copy->p.dxml);
    copy->disks = g_strdupv((char **)copy->p.migrate_disks);
    copy->p.dname = copy->dname;
    copy->p.uri = copy->uri;
    copy->p.dxml = copy->dxml;
    copy->p.migrate_disks = (const char *const *)copy->disks;
    return copy;
}

void
ferry_mig_params_free(ferry_mig_params *params)
{
    if (!params)
        return;
    g_free(params->dname);
    g_free(params->uri);
    g_free(params->dxml);
    g_strfreev(params->disks);
    g_free(params);
}

void
ferry_mig_params_set_uri(ferry_mig_params *params, const char *uri)
{
    char *copy = g_strdup(uri);

    g_free(params->uri);
    params->uri = copy;
    params->p.uri = copy;
}

/* ------------------------------------------------------------------------ */
/* The job                                                                   */
/* ------------------------------------------------------------------------ */

ferry_mig_job *
ferry_mig_job_new(ferry_mig_engine *engine, const char *id, ferry_mig_role role, int protocol,
                  const char *dom_name, const char *dom_uuid, ferry_mig_params *params)
{
    ferry_mig_job *job = g_new0(ferry_mig_job, 1);

    job->ref = 1;
    g_mutex_init(&job->lock);
    job->engine = engine;
    job->id = g_strdup(id);
    job->role = role;
    job->protocol = protocol;
    job->dom_name = g_strdup(dom_name);
    job->dom_uuid = g_strdup(dom_uuid);
    job->params = params;
    job->phase = FERRY_MIG_PHASE_NONE;
    job->state = FERRY_MIG_STATE_NEW;
    job->started_us = g_get_monotonic_time();
    job->info.protocol = protocol;
    g_strlcpy(job->info.id, id, sizeof(job->info.id));
    g_strlcpy(job->info.role, ferry_mig_role_to_string(role), sizeof(job->info.role));
    job->info.bandwidth_bps = params->p.bandwidth_mib << 20;
    /* QEMU is given less than the cap (ferry_policy_cap_target()). */
    job->info.max_downtime_ms = params->p.max_downtime_cap_ms
                                ? (gint64)ferry_policy_cap_target(params->p.max_downtime_ms,
                                                                  params->p.max_downtime_cap_ms)
                                : (gint64)params->p.max_downtime_ms;
    job->info.max_downtime_cap_ms = (gint64)params->p.max_downtime_cap_ms;
    return job;
}

ferry_mig_job *
ferry_mig_job_ref(ferry_mig_job *job)
{
    g_atomic_int_inc(&job->ref);
    return job;
}

void
ferry_mig_job_unref(ferry_mig_job *job)
{
    if (!job || !g_atomic_int_dec_and_test(&job->ref))
        return;
    if (job->backend_data_free)
        job->backend_data_free(job->backend_data);
    if (job->ctl_free)
        job->ctl_free(job->ctl);
    ferry_domain_obj_unref(job->obj);
    ferry_mig_params_free(job->params);
    g_clear_pointer(&job->created_images, g_ptr_array_unref);
    g_free(job->id);
    g_free(job->dom_name);
    g_free(job->dom_uuid);
    g_free(job->message);
    g_free(job->peer_uri);
    g_clear_object(&job->tunnel);
    g_mutex_clear(&job->lock);
    g_free(job);
}

void
ferry_mig_job_set_message(ferry_mig_job *job, int code, const char *fmt, ...)
{
    va_list args;
    char *text;

    va_start(args, fmt);
    text = g_strdup_vprintf(fmt, args);
    va_end(args);
    g_mutex_lock(&job->lock);
    g_free(job->message);
    job->message = text;
    job->error_code = code;
    g_mutex_unlock(&job->lock);
}

static int
info_type(ferry_mig_state state)
{
    switch (state) {
    case FERRY_MIG_STATE_COMPLETED:
        return FERRY_JOB_INFO_COMPLETED;
    case FERRY_MIG_STATE_FAILED:
        return FERRY_JOB_INFO_FAILED;
    case FERRY_MIG_STATE_CANCELLED:
        return FERRY_JOB_INFO_CANCELLED;
    default:
        return FERRY_JOB_INFO_ACTIVE;
    }
}

void
ferry_mig_job_get_info(ferry_mig_job *job, ferry_job_info *ret_info)
{
    g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&job->lock);
    gint64 end = job->ended_us ? job->ended_us : g_get_monotonic_time();

    *ret_info = job->info;
    ret_info->type = info_type(job->state);
    /* An ended job is in no phase: its state says how it ended. */
    if (!job->ended_us)
        g_strlcpy(ret_info->phase, ferry_mig_phase_to_string(job->phase),
                  sizeof(ret_info->phase));
    g_strlcpy(ret_info->state, ferry_mig_state_to_string(job->state), sizeof(ret_info->state));
    g_strlcpy(ret_info->message, job->message ? job->message : "", sizeof(ret_info->message));
    ret_info->elapsed_ms = (end - job->started_us) / 1000;
}

void
ferry_mig_job_take_cookie_stats(ferry_mig_job *job, const ferry_migration_cookie *cookie)
{
    g_autoptr(GMutexLocker) locker = NULL;
    ferry_job_info *i = &job->info;

    if (!cookie || !cookie->has_stats)
        return;
    locker = g_mutex_locker_new(&job->lock);
    i->total_ms = cookie->total_ms;
    i->downtime_ms = cookie->downtime_ms;
    i->setup_ms = cookie->setup_ms;
    i->mem_total = cookie->data_total;
    i->mem_processed = cookie->data_transferred;
    i->mem_remaining = 0;
    i->disk_total = cookie->disk_total;
    i->disk_processed = cookie->disk_transferred;
    i->disk_remaining = 0;
    i->passes = cookie->passes;
    i->guest_downtime_ms = cookie->guest_downtime_ms;
    i->time_setup_ms = cookie->time_setup_ms;
    i->time_disk_ms = cookie->time_disk_ms;
    i->time_memory_ms = cookie->time_memory_ms;
    i->time_switchover_ms = cookie->time_switchover_ms;
    i->time_overhead_ms = cookie->time_overhead_ms;
}

/* ------------------------------------------------------------------------ */
/* Records                                                                   */
/* ------------------------------------------------------------------------ */

char *
ferry_mig_record_path(const char *dir, const char *dom_uuid)
{
    g_autofree char *file = g_strdup_printf("%s.json", dom_uuid);

    return g_build_filename(dir, file, NULL);
}

/* The final statistics of an ended job, kept in its record so that
 * "domjobinfo --completed" answers the same after a restart.  Data, not
 * code: one row per field of ferry_job_info worth keeping (not the type,
 * phase, state, message, role or id: the record has them already). */
typedef enum { STAT_I64, STAT_U64, STAT_UINT, STAT_INT, STAT_STR } stat_kind;

typedef struct {
    const char *name;
    size_t offset;
    stat_kind kind;
    size_t size;        /* STAT_STR: the array's size */
} stat_field;

#define STAT(kind, f) { #f, offsetof(ferry_job_info, f), kind, sizeof(((ferry_job_info *)0)->f) }

static const stat_field stat_fields[] = {
    STAT(STAT_I64, elapsed_ms), STAT(STAT_U64, mem_total), STAT(STAT_U64, mem_processed),
    STAT(STAT_U64, mem_remaining), STAT(STAT_U64, disk_total), STAT(STAT_U64, disk_processed),
    STAT(STAT_U64, disk_remaining), STAT(STAT_U64, rate_bps), STAT(STAT_I64, downtime_ms),
    STAT(STAT_I64, total_ms), STAT(STAT_U64, dirty_rate_bps), STAT(STAT_U64, passes),
    STAT(STAT_U64, bandwidth_bps), STAT(STAT_I64, expected_downtime_ms),
    STAT(STAT_I64, max_downtime_ms), STAT(STAT_I64, setup_ms),
    STAT(STAT_I64, guest_downtime_ms), STAT(STAT_I64, time_setup_ms),
    STAT(STAT_I64, time_disk_ms), STAT(STAT_I64, time_memory_ms),
    STAT(STAT_I64, time_switchover_ms), STAT(STAT_I64, time_overhead_ms),
    STAT(STAT_INT, protocol), STAT(STAT_U64, reconnects), STAT(STAT_STR, postcopy),
    STAT(STAT_U64, postcopy_requests), STAT(STAT_U64, postcopy_bytes),
    STAT(STAT_I64, postcopy_ms), STAT(STAT_UINT, throttle_percent),
    STAT(STAT_U64, multifd_bytes), STAT(STAT_U64, xbzrle_bytes), STAT(STAT_U64, xbzrle_pages),
    STAT(STAT_U64, xbzrle_cache_miss), STAT(STAT_U64, xbzrle_overflow),
    STAT(STAT_U64, normal_pages), STAT(STAT_U64, zero_pages), STAT(STAT_STR, policy),
    STAT(STAT_I64, max_downtime_cap_ms),
};

static json_object *
stats_to_json(const ferry_job_info *info)
{
    json_object *obj = json_object_new_object();

    for (guint i = 0; i < G_N_ELEMENTS(stat_fields); i++) {
        const stat_field *f = &stat_fields[i];
        const char *at = (const char *)info + f->offset;
        json_object *v;

        switch (f->kind) {
        case STAT_I64:
            v = json_object_new_int64(*(const gint64 *)at);
            break;
        case STAT_U64:
            v = json_object_new_uint64(*(const guint64 *)at);
            break;
        case STAT_UINT:
            v = json_object_new_int64(*(const guint *)at);
            break;
        case STAT_INT:
            v = json_object_new_int(*(const int *)at);
            break;
        default:
            v = json_object_new_string(at);
            break;
        }
        json_object_object_add(obj, f->name, v);
    }
    return obj;
}

/* Fills @info from @obj; a field missing or of another type stays 0. */
static void
stats_from_json(json_object *obj, ferry_job_info *info)
{
    for (guint i = 0; i < G_N_ELEMENTS(stat_fields); i++) {
        const stat_field *f = &stat_fields[i];
        char *at = (char *)info + f->offset;
        json_object *v;

        if (!json_object_object_get_ex(obj, f->name, &v))
            continue;
        if (f->kind == STAT_STR) {
            if (json_object_is_type(v, json_type_string))
                g_strlcpy(at, json_object_get_string(v), f->size);
            continue;
        }
        if (!json_object_is_type(v, json_type_int))
            continue;
        switch (f->kind) {
        case STAT_I64:
            *(gint64 *)at = json_object_get_int64(v);
            break;
        case STAT_U64:
            *(guint64 *)at = json_object_get_uint64(v);
            break;
        case STAT_UINT:
            *(guint *)at = (guint)CLAMP(json_object_get_int64(v), 0, G_MAXUINT);
            break;
        default:
            *(int *)at = json_object_get_int(v);
            break;
        }
    }
}

static void
add_string(json_object *root, const char *key, const char *value)
{
    if (value)
        json_object_object_add(root, key, json_object_new_string(value));
}

gboolean
ferry_mig_job_write_record(ferry_mig_job *job, const char *dir, ferry_mig_phase phase,
                           ferry_mig_state state, GError **error)
{
    g_autoptr(json_object) root = NULL;
    g_autofree char *path = NULL;
    g_autoptr(GError) local = NULL;
    const char *text;
    gboolean ok;
    json_object *images;
    json_object *domain;

    if (!dir)
        return TRUE;
    root = json_object_new_object();
    domain = json_object_new_object();
    images = json_object_new_array();
    path = ferry_mig_record_path(dir, job->dom_uuid);
    json_object_object_add(root, "version", json_object_new_int(RECORD_VERSION));
    add_string(root, "id", job->id);
    add_string(root, "role", ferry_mig_role_to_string(job->role));
    add_string(root, "phase", ferry_mig_phase_to_string(phase));
    add_string(root, "state", ferry_mig_state_to_string(state));
    add_string(domain, "name", job->dom_name);
    add_string(domain, "uuid", job->dom_uuid);
    json_object_object_add(root, "domain", domain);
    json_object_object_add(root, "protocol", json_object_new_int(job->protocol));
    json_object_object_add(root, "flags", json_object_new_int64(job->params->p.flags));
    g_mutex_lock(&job->lock);
    add_string(root, "peer_uri", job->peer_uri);
    add_string(root, "message", job->message);
    for (guint i = 0; job->created_images && i < job->created_images->len; i++)
        json_object_array_add(images, json_object_new_string(job->created_images->pdata[i]));
    if (ferry_mig_state_is_final(state) && job->ended_us) {
        ferry_job_info info = job->info;

        info.elapsed_ms = (job->ended_us - job->started_us) / 1000;
        json_object_object_add(root, "stats", stats_to_json(&info));
    }
    g_mutex_unlock(&job->lock);
    json_object_object_add(root, "created_images", images);
    if (job->may_have_run)
        json_object_object_add(root, "may_have_run", json_object_new_boolean(TRUE));
    json_object_object_add(root, "written_real_us", json_object_new_int64(g_get_real_time()));

    if (g_mkdir_with_parents(dir, 0700) < 0) {
        ferry_set_error_errno(error, FERRY_ERROR_SYSTEM, errno,
                              "cannot create the migration records directory '%s'", dir);
        return FALSE;
    }
    text = json_object_to_json_string_ext(root, JSON_C_TO_STRING_PRETTY);
    /* Write, fsync, rename, and the directory synced (GLib's): the record
     * survives a crash of the daemon and of the host, and is the old one
     * or the new one, never a mix. */
    ok = g_file_set_contents_full(path, text, -1,
                                  G_FILE_SET_CONTENTS_CONSISTENT | G_FILE_SET_CONTENTS_DURABLE,
                                  0600, &local);
    if (!ok) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_SYSTEM,
                    "cannot write the record of migration %s ('%s'): %s", job->id, path,
                    local->message);
        return FALSE;
    }
    return TRUE;
}

void
ferry_mig_record_free(ferry_mig_record *record)
{
    if (!record)
        return;
    g_free(record->id);
    g_free(record->dom_name);
    g_free(record->dom_uuid);
    g_free(record->peer_uri);
    g_strfreev(record->created_images);
    g_free(record->message);
    g_free(record->stats);
    g_free(record);
}

static const char *
get_string(json_object *obj, const char *key)
{
    json_object *v;

    if (!obj || !json_object_object_get_ex(obj, key, &v) ||
        !json_object_is_type(v, json_type_string))
        return NULL;
    return json_object_get_string(v);
}

ferry_mig_record *
ferry_mig_record_read(const char *path, GError **error)
{
    g_autofree char *text = NULL;
    g_autoptr(json_object) root = NULL;
    g_autoptr(ferry_mig_record) record = g_new0(ferry_mig_record, 1);
    g_autoptr(GError) local = NULL;
    json_object *domain = NULL, *v = NULL;
    const char *role;
    int phase, state;

    if (!g_file_get_contents(path, &text, NULL, &local)) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_SYSTEM, "cannot read migration record: %s",
                    local->message);
        return NULL;
    }
    root = json_tokener_parse(text);
    if (!root || !json_object_is_type(root, json_type_object) ||
        !json_object_object_get_ex(root, "version", &v) ||
        json_object_get_int(v) != RECORD_VERSION) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_SYSTEM,
                    "migration record '%s' is not a version %d record", path, RECORD_VERSION);
        return NULL;
    }
    json_object_object_get_ex(root, "domain", &domain);
    role = get_string(root, "role");
    phase = ferry_mig_phase_from_string(get_string(root, "phase"));
    state = ferry_mig_state_from_string(get_string(root, "state"));
    record->id = g_strdup(get_string(root, "id"));
    record->dom_name = g_strdup(get_string(domain, "name"));
    record->dom_uuid = g_strdup(get_string(domain, "uuid"));
    if (!record->id || !g_uuid_string_is_valid(record->id) || !record->dom_name ||
        !record->dom_uuid || phase < 0 || state < 0 ||
        (g_strcmp0(role, "source") != 0 && g_strcmp0(role, "destination") != 0)) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_SYSTEM,
                    "migration record '%s': id, role, phase, state or domain missing or "
                    "malformed", path);
        return NULL;
    }
    record->role = strcmp(role, "source") == 0 ? FERRY_MIG_ROLE_SOURCE
                                               : FERRY_MIG_ROLE_DESTINATION;
    record->phase = phase;
    record->state = state;
    record->peer_uri = g_strdup(get_string(root, "peer_uri"));
    record->message = g_strdup(get_string(root, "message"));
    if (json_object_object_get_ex(root, "protocol", &v))
        record->protocol = json_object_get_int(v);
    if (json_object_object_get_ex(root, "flags", &v))
        record->flags = (guint)json_object_get_int64(v);
    if (json_object_object_get_ex(root, "may_have_run", &v))
        record->may_have_run = json_object_get_boolean(v);
    if (json_object_object_get_ex(root, "stats", &v) && json_object_is_type(v, json_type_object)) {
        record->stats = g_new0(ferry_job_info, 1);
        stats_from_json(v, record->stats);
    }
    if (json_object_object_get_ex(root, "created_images", &v) &&
        json_object_is_type(v, json_type_array)) {
        g_autoptr(GStrvBuilder) b = g_strv_builder_new();

        for (size_t i = 0; i < json_object_array_length(v); i++) {
            json_object *e = json_object_array_get_idx(v, i);

            if (json_object_is_type(e, json_type_string))
                g_strv_builder_add(b, json_object_get_string(e));
        }
        record->created_images = g_strv_builder_end(b);
    }
    return g_steal_pointer(&record);
}
