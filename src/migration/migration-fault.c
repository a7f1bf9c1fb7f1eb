/*
 * migration-fault.c: fault injection for the fault matrix (tests only).
 *
 * Owns: reading the fault a daemon was started with -- the environment
 * variable FERRY_FAULT="POINT:ACTION" -- and carrying it out when a job
 * reaches that point.  Points: begin, prepare, perform (its start),
 * perform-mid (the first pre-copy pass), perform-sent (everything sent,
 * recorded), finish (before the destination commits), finish-committed
 * (committed and recorded, the guest not yet started), confirm.  Actions:
 * fail (the phase returns an error; only where a phase can fail), kill
 * (the daemon dies at once, SIGKILL, as in a crash), stall (the daemon
 * stops itself, SIGSTOP, until someone sends SIGCONT), misjudge
 * (perform-mid only: QEMU is given a wrong downtime limit, as if it
 * misjudged the switch-over; the point returns FERRY_ERROR_LIMIT for its
 * caller to do so).  Each fault fires once per process.
 * Must not: be reachable without the variable: an unset variable costs one
 * getenv per point and does nothing.
 */
#include "ferry-config.h"

#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "migration/migration-engine-private.h"

gboolean
ferry_mig_fault(ferry_mig_job *job, const char *point, GError **error)
{
    static gint fired;
    const char *spec = g_getenv("FERRY_FAULT");
    const char *colon;
    const char *action;

    if (!spec || !(colon = strchr(spec, ':')) || (gsize)(colon - spec) != strlen(point) ||
        strncmp(spec, point, strlen(point)) != 0)
        return TRUE;
    if (!g_atomic_int_compare_and_exchange(&fired, 0, 1))
        return TRUE;
    action = colon + 1;
    g_message("fault injection: %s at '%s' of migration %s (domain '%s')", action, point,
              job->id, job->dom_name);
    if (strcmp(action, "kill") == 0) {
        kill(getpid(), SIGKILL);
    } else if (strcmp(action, "stall") == 0) {
        kill(getpid(), SIGSTOP);
    } else if (strcmp(action, "fail") == 0) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_OPERATION_FAILED,
                    "injected failure at %s on host '%s'", point, job->engine->hostname);
        return FALSE;
    } else if (strcmp(action, "misjudge") == 0 && strcmp(point, "perform-mid") == 0) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_LIMIT,
                    "injected misjudgement of the switch-over at %s", point);
        return FALSE;
    } else {
        g_warning("FERRY_FAULT: unknown action '%s' (fail, kill, stall or misjudge)", action);
    }
    return TRUE;
}
