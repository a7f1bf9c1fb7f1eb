/*
 * migration-lease.c: a migration hands the domain's lease from the source
 * to the destination (docs/leases.md).
 *
 * Owns: what a job does with the engine's lock manager -- the lease state
 * Begin's cookie carries, the check that both hosts share a lockspace, the
 * source's release at the pause that ends Perform, the destination's
 * acquire before its guest runs, the source's re-acquire before it runs
 * again.  Must not: decide anything about the protocol; without a lock
 * manager (the test driver, lock_manager = "none") every call is a no-op.
 */
#include "ferry-config.h"

#include "locking/lock-manager.h"
#include "migration/migration-engine-private.h"

gboolean
ferry_mig_lease_acquire(ferry_mig_job *job, GError **error)
{
    ferry_mig_engine *engine = job->engine;

    if (!engine->locks)
        return TRUE;
    return ferry_lock_manager_acquire(engine->locks, job->dom_uuid, job->dom_name,
                                      engine->hostname, error);
}

void
ferry_mig_lease_release(ferry_mig_job *job)
{
    if (job->engine->locks && ferry_lock_manager_release(job->engine->locks, job->dom_uuid))
        g_message("domain '%s': lease released for migration %s", job->dom_name, job->id);
}

void
ferry_mig_lease_to_cookie(ferry_mig_job *job, ferry_migration_cookie *cookie)
{
    ferry_mig_engine *engine = job->engine;
    const char *lockspace;

    if (!engine->locks || !(lockspace = ferry_lock_manager_get_lockspace_id(engine->locks)))
        return;
    cookie->has_lease = TRUE;
    cookie->lease_held = ferry_lock_manager_holds(engine->locks, job->dom_uuid);
    cookie->lease_lockspace = g_strdup(lockspace);
    if (cookie->lease_held)
        cookie->lease_holder = g_strdup(engine->hostname);
}

gboolean
ferry_mig_lease_check_cookie(ferry_mig_job *job, const ferry_migration_cookie *cookie,
                             GError **error)
{
    ferry_mig_engine *engine = job->engine;
    const char *ours = engine->locks ? ferry_lock_manager_get_lockspace_id(engine->locks)
                                     : NULL;
    const char *theirs = cookie && cookie->has_lease ? cookie->lease_lockspace : NULL;

    g_autofree char *src = NULL;
    g_autofree char *dst = NULL;

    /* Leases guard only if both hosts see the same lockspace: a guest
     * protected on one host and not on the other is not protected. */
    if (g_strcmp0(ours, theirs) == 0)
        return TRUE;
    src = theirs ? g_strdup_printf("lockspace %s", theirs) : g_strdup("no lockspace");
    dst = ours ? g_strdup_printf("lockspace %s", ours) : g_strdup("no lockspace");
    g_set_error(error, FERRY_ERROR, FERRY_ERROR_MIGRATE,
                "Prepare: domain '%s': the source host has %s, host '%s' has %s: both must "
                "use the same lockspace (lock_manager, lockspace_dir)", job->dom_name, src,
                engine->hostname, dst);
    return FALSE;
}
