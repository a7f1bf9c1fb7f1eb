/*
 * migration-snapshots.c: a domain's snapshot metadata follows its
 * migration (docs/snapshots.md, "Migrating a domain with snapshots").
 *
 *   Begin (source)      the domain's snapshots, as XML, parents first, are
 *                       kept with the job under a random token; Begin's
 *                       cookie says <snapshots count='N' token='T'/>
 *   Prepare (dest)      the destination's daemon dials the source's (the
 *                       cookie's <peer uri>), presents the id and token
 *                       (conn_migrate_snapshots: a stream of the count,
 *                       then each document's length and XML), redefines
 *                       them with the same parents and current one, and
 *                       says <snapshots received='N'/> in Prepare's cookie
 *                       (and again in Finish's)
 *   Perform (source)    a destination that did not say so (an older
 *                       daemon, one that keeps no snapshots) did not take
 *                       them: refused unless FERRY_MIGRATE_FORCE
 *                       (migration-source-safety.c)
 *   Confirm (source)    the domain left with them: its metadata here goes
 *   rollback (dest)     what Prepare redefined goes
 *
 * Why the destination pulls them in Prepare rather than the source
 * pushing them later: Prepare is the one phase where the destination
 * already has the domain and the source has not sent anything yet, so a
 * failure to take them (an unreachable daemon, malformed data) fails
 * Prepare and leaves the source running as it was, and the source knows
 * before Perform whether they arrived.
 *
 * With FERRY_MIGRATE_FORCE a migration whose snapshots cannot follow goes
 * without them; the metadata stays on the source, and the source's
 * statistics cookie says which stayed where (<snapshots left='N'>note),
 * which reaches the caller's ferry_migrate_stats.
 */
#include "ferry-config.h"

#include <string.h>

#include "conf/snapshot-conf.h"
#include "migration/migration-engine-private.h"
#include "util/token.h"

/* How many names a message lists before it says "and N more". */
#define NAMES_SHOWN 16

char *
ferry_mig_snap_names_text(const GPtrArray *names)
{
    GString *out = g_string_new(NULL);

    for (guint i = 0; i < names->len && i < NAMES_SHOWN; i++)
        g_string_append_printf(out, "%s'%s'", i ? ", " : "", (const char *)names->pdata[i]);
    if (names->len > NAMES_SHOWN)
        g_string_append_printf(out, " and %u more", names->len - NAMES_SHOWN);
    return g_string_free(out, FALSE);
}

void
ferry_mig_snap_collect(ferry_mig_job *job)
{
    const ferry_mig_backend *backend = backend_of(job);
    ferry_mig_job_ctl *ctl = ctl_of(job);
    g_autoptr(GPtrArray) names = NULL;
    GPtrArray *docs;

    if (!backend->snapshots_export || !job->obj)
        return;
    docs = backend->snapshots_export(engine_of(job)->backend_self, job->obj, &names);
    g_mutex_lock(&job->lock);
    g_clear_pointer(&ctl->snap_docs, g_ptr_array_unref);
    g_clear_pointer(&ctl->snap_names, g_ptr_array_unref);
    if (docs->len > 0) {
        ctl->snap_docs = docs;
        ctl->snap_names = g_steal_pointer(&names);
    } else {
        g_ptr_array_unref(docs);
    }
    g_mutex_unlock(&job->lock);
}

guint
ferry_mig_snap_count(ferry_mig_job *job)
{
    g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&job->lock);

    return ctl_of(job)->snap_docs ? ctl_of(job)->snap_docs->len : 0;
}

void
ferry_mig_snap_leave(ferry_mig_job *job, const char *why)
{
    ferry_mig_job_ctl *ctl = ctl_of(job);
    g_autofree char *names = NULL;

    g_mutex_lock(&job->lock);
    if (ctl->snap_names) {
        names = ferry_mig_snap_names_text(ctl->snap_names);
        ctl->snap_left = ctl->snap_names->len;
        g_free(ctl->snap_note);
        ctl->snap_note = g_strdup_printf("domain '%s': %s %s stayed on host '%s' (%s)",
                                         job->dom_name,
                                         ctl->snap_left == 1 ? "snapshot" : "snapshots", names,
                                         engine_of(job)->hostname, why);
        /* Not offered any more: nothing to take. */
        g_clear_pointer(&ctl->snap_docs, g_ptr_array_unref);
        g_clear_pointer(&ctl->snap_token, g_free);
    }
    g_mutex_unlock(&job->lock);
    if (names)
        g_warning("%s", ctl->snap_note);
}


gboolean
ferry_mig_snap_offer(ferry_mig_job *job, ferry_migration_cookie *cookie, GError **error)
{
    ferry_mig_job_ctl *ctl = ctl_of(job);
    g_autofree char *token = NULL;

    if (!ferry_mig_snap_count(job))
        return TRUE;
    if (!(token = ferry_token_new(error)))
        return FALSE;
    g_mutex_lock(&job->lock);
    cookie->snapshots_count = ctl->snap_docs->len;
    cookie->snapshots_token = g_strdup(token);
    ctl->snap_token = g_steal_pointer(&token);
    g_mutex_unlock(&job->lock);
    return TRUE;
}

/* Compares two tokens in a time that does not depend on where they
 * differ. */
static gboolean
same_token(const char *a, const char *b)
{
    gsize len = strlen(a);
    guint diff = len != strlen(b);

    for (gsize i = 0; i < len && b[i]; i++)
        diff |= (guint)(a[i] ^ b[i]);
    return diff == 0;
}

gboolean
ferry_mig_engine_snapshots_take(ferry_mig_engine *engine, const char *id, const char *token,
                                GPtrArray **ret_docs, GError **error)
{
    g_autoptr(ferry_mig_job) job = NULL;
    ferry_mig_job_ctl *ctl;
    gboolean ok = FALSE;

    g_mutex_lock(&engine->lock);
    job = g_hash_table_lookup(engine->by_id, id);
    if (job)
        ferry_mig_job_ref(job);
    g_mutex_unlock(&engine->lock);
    /* One refusal for every case: a caller without the token learns
     * nothing of which migrations exist here. */
    if (!job || job->role != FERRY_MIG_ROLE_SOURCE) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_OPERATION_INVALID,
                    "host '%s' offers no snapshots for migration %s", engine->hostname, id);
        return FALSE;
    }
    ctl = ctl_of(job);
    g_mutex_lock(&job->lock);
    if (ctl->snap_docs && ctl->snap_token && same_token(ctl->snap_token, token)) {
        *ret_docs = g_ptr_array_new_full(ctl->snap_docs->len, g_free);
        for (guint i = 0; i < ctl->snap_docs->len; i++)
            g_ptr_array_add(*ret_docs, g_strdup(ctl->snap_docs->pdata[i]));
        ok = TRUE;
    }
    g_mutex_unlock(&job->lock);
    if (!ok)
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_OPERATION_INVALID,
                    "host '%s' offers no snapshots for migration %s", engine->hostname, id);
    else
        g_message("domain '%s': migration %s: %u snapshots handed to the destination",
                  job->dom_name, id, (*ret_docs)->len);
    return ok;
}

/* Parses the documents the source sent; each error names the snapshot's
 * place ("snapshot 2 of 3 from host 'a'") and what is wrong. */
static GPtrArray *
parse_docs(ferry_mig_job *job, const GPtrArray *docs, const char *from, GError **error)
{
    g_autoptr(GPtrArray) defs = g_ptr_array_new_with_free_func(
        (GDestroyNotify)ferry_snapshot_def_free);
    guint current = 0;

    for (guint i = 0; i < docs->len; i++) {
        g_autofree char *what = g_strdup_printf("snapshot %u of %u from %s", i + 1, docs->len,
                                                from);
        ferry_snapshot_def *def = ferry_snapshot_def_parse_string(
            docs->pdata[i], what, FERRY_SNAPSHOT_PARSE_REDEFINE | FERRY_SNAPSHOT_PARSE_INTERNAL,
            error);

        if (!def)
            return NULL;
        g_ptr_array_add(defs, def);
        current += def->current;
    }
    if (current > 1) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_RPC,
                    "%u snapshots from %s are marked current (one at most)", current, from);
        return NULL;
    }
    return g_steal_pointer(&defs);
}

/* Asks the source's daemon for the snapshots (blocks: a step thread). */
static GPtrArray *
fetch(ferry_mig_job *job, const ferry_migration_cookie *in, const char *from, GError **error)
{
    ferry_mig_engine *engine = engine_of(job);
    g_autoptr(ferry_conn) peer = NULL;
    g_autoptr(GPtrArray) docs = NULL;
    g_autoptr(GError) local = NULL;
    g_autofree char *uri = NULL;

    g_mutex_lock(&job->lock);
    uri = g_strdup(job->peer_uri);
    g_mutex_unlock(&job->lock);
    if (!uri) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_NO_CONNECT,
                    "%s offers %u snapshots but does not say how to reach its daemon",
                    from, in->snapshots_count);
        return NULL;
    }
    if (!(peer = ferry_conn_open_with_drivers(uri, engine->peer_drivers, &local))) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_NO_CONNECT,
                    "cannot reach the daemon of %s at '%s' for its %u snapshots: %s", from,
                    uri, in->snapshots_count, local->message);
        return NULL;
    }
    if (!peer->driver->conn_migrate_snapshots) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_NO_SUPPORT,
                    "the daemon of %s at '%s' (driver %s) cannot hand over snapshots", from,
                    uri, peer->driver->name);
        return NULL;
    }
    if (!peer->driver->conn_migrate_snapshots(peer, job->id, in->snapshots_token, &docs,
                                              &local)) {
        g_set_error(error, FERRY_ERROR, local->domain == FERRY_ERROR ? local->code
                                                                     : FERRY_ERROR_RPC,
                    "fetching %u snapshots from %s at '%s': %s", in->snapshots_count, from,
                    uri, local->message);
        return NULL;
    }
    if (docs->len != in->snapshots_count) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_RPC,
                    "%s announced %u snapshots in Begin's cookie but sent %u",
                    from, in->snapshots_count, docs->len);
        return NULL;
    }
    return g_steal_pointer(&docs);
}

gboolean
ferry_mig_snap_pull(ferry_mig_job *job, const ferry_migration_cookie *in,
                    ferry_migration_cookie *out, GError **error)
{
    ferry_mig_engine *engine = engine_of(job);
    const ferry_mig_backend *backend = engine->backend;
    g_autofree char *from = NULL;
    g_autoptr(GPtrArray) docs = NULL;
    g_autoptr(GPtrArray) defs = NULL;
    g_autoptr(GError) local = NULL;

    if (!in || !in->snapshots_count || !job->obj)
        return TRUE;
    if (!backend->snapshots_import) {
        /* Not acknowledged in Prepare's cookie: the source refuses, or
         * leaves them behind with FORCE. */
        g_message("domain '%s': migration %s: host '%s' keeps no snapshot metadata; the "
                  "source's %u snapshots are not taken", job->dom_name, job->id,
                  engine->hostname, in->snapshots_count);
        return TRUE;
    }
    from = g_strdup_printf("host '%s'", in->hostname ? in->hostname : in->host_uuid);
    if (!(docs = fetch(job, in, from, &local)) ||
        !(defs = parse_docs(job, docs, from, &local)) ||
        !backend->snapshots_import(engine->backend_self, job->obj, defs, &local)) {
        g_set_error(error, FERRY_ERROR, local->code == FERRY_ERROR_NO_CONNECT ||
                    local->code == FERRY_ERROR_RPC ? local->code : FERRY_ERROR_MIGRATE_SNAPSHOTS,
                    "domain '%s': its snapshots cannot follow it to host '%s': %s",
                    job->dom_name, engine->hostname, local->message);
        return FALSE;
    }
    ctl_of(job)->snap_imported = TRUE;
    ctl_of(job)->snap_moved = defs->len;
    out->has_snapshots_received = TRUE;
    out->snapshots_received = defs->len;
    g_message("domain '%s': migration %s: %u snapshots redefined from %s", job->dom_name,
              job->id, defs->len, from);
    return TRUE;
}

void
ferry_mig_snap_dest_finished(ferry_mig_job *job, ferry_migration_cookie *out)
{
    if (!ctl_of(job)->snap_imported)
        return;
    out->has_snapshots_received = TRUE;
    out->snapshots_received = ctl_of(job)->snap_moved;
}

void
ferry_mig_snap_dest_discard(ferry_mig_job *job)
{
    const ferry_mig_backend *backend = backend_of(job);

    if (!ctl_of(job)->snap_imported || !job->obj || !backend->snapshots_drop)
        return;
    backend->snapshots_drop(engine_of(job)->backend_self, job->obj);
    ctl_of(job)->snap_imported = FALSE;
}

gboolean
ferry_mig_snap_taken(ferry_mig_job *job, const ferry_migration_cookie *prepared)
{
    guint offered = 0;

    g_mutex_lock(&job->lock);
    if (ctl_of(job)->snap_token)
        offered = ctl_of(job)->snap_docs->len;
    g_mutex_unlock(&job->lock);
    if (!offered)
        return TRUE;
    if (!prepared || !prepared->has_snapshots_received ||
        prepared->snapshots_received != offered)
        return FALSE;
    ctl_of(job)->snap_moved = offered;
    return TRUE;
}

void
ferry_mig_snap_fill(ferry_mig_job *job, ferry_migration_cookie *cookie)
{
    ferry_mig_job_ctl *ctl = ctl_of(job);

    g_mutex_lock(&job->lock);
    if (ctl->snap_moved) {
        cookie->has_snapshots_received = TRUE;
        cookie->snapshots_received = ctl->snap_moved;
    }
    if (ctl->snap_left && !cookie->snapshots_left) {
        cookie->snapshots_left = ctl->snap_left;
        cookie->snapshots_note = g_strdup(ctl->snap_note);
    }
    g_mutex_unlock(&job->lock);
}

void
ferry_mig_snap_source_done(ferry_mig_job *job)
{
    const ferry_mig_backend *backend = backend_of(job);

    if (!ctl_of(job)->snap_moved || !job->obj || !backend->snapshots_drop)
        return;
    /* The destination has them now; the images' snapshots are untouched
     * (on shared storage they are the destination's too). */
    backend->snapshots_drop(engine_of(job)->backend_self, job->obj);
    g_message("domain '%s': migration %s: its %u snapshots left with it", job->dom_name,
              job->id, ctl_of(job)->snap_moved);
}
