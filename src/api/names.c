/*
 * names.c: the stable names of states, reasons and events.
 *
 * These strings appear in `ferry --json` output and in logs; scripts rely on
 * them, so they never change once released.
 */
#include "ferry-config.h"

#include <ferry/ferry.h>

static const char *
lookup(const char *const *names, gsize n, int value)
{
    if (value < 0 || (gsize)value >= n || !names[value])
        return "unknown";
    return names[value];
}

const char *
ferry_domain_state_to_string(int state)
{
    static const char *const names[] = {
        [FERRY_DOMAIN_NOSTATE] = "no state",
        [FERRY_DOMAIN_RUNNING] = "running",
        [FERRY_DOMAIN_PAUSED] = "paused",
        [FERRY_DOMAIN_SHUTDOWN] = "in shutdown",
        [FERRY_DOMAIN_SHUTOFF] = "shut off",
        [FERRY_DOMAIN_CRASHED] = "crashed",
    };
    return lookup(names, G_N_ELEMENTS(names), state);
}

const char *
ferry_domain_state_reason_to_string(int state, int reason)
{
    static const char *const running[] = {
        [FERRY_RUNNING_UNKNOWN] = "unknown",
        [FERRY_RUNNING_BOOTED] = "booted",
        [FERRY_RUNNING_MIGRATED] = "migrated",
        [FERRY_RUNNING_UNPAUSED] = "unpaused",
        [FERRY_RUNNING_MIGRATION_CANCELED] = "migration canceled",
    };
    static const char *const paused[] = {
        [FERRY_PAUSED_UNKNOWN] = "unknown",
        [FERRY_PAUSED_USER] = "user",
        [FERRY_PAUSED_MIGRATION] = "migration",
        [FERRY_PAUSED_STARTING_UP] = "starting up",
        [FERRY_PAUSED_IOERROR] = "I/O error",
        [FERRY_PAUSED_SHUTTING_DOWN] = "shutting down",
        [FERRY_PAUSED_POSTCOPY] = "post-copy",
    };
    static const char *const shutoff[] = {
        [FERRY_SHUTOFF_UNKNOWN] = "unknown",
        [FERRY_SHUTOFF_SHUTDOWN] = "shutdown",
        [FERRY_SHUTOFF_DESTROYED] = "destroyed",
        [FERRY_SHUTOFF_CRASHED] = "crashed",
        [FERRY_SHUTOFF_MIGRATED] = "migrated",
        [FERRY_SHUTOFF_FAILED] = "failed",
    };

    switch (state) {
    case FERRY_DOMAIN_RUNNING:
        return lookup(running, G_N_ELEMENTS(running), reason);
    case FERRY_DOMAIN_PAUSED:
        return lookup(paused, G_N_ELEMENTS(paused), reason);
    case FERRY_DOMAIN_SHUTOFF:
        return lookup(shutoff, G_N_ELEMENTS(shutoff), reason);
    default:
        return "unknown";
    }
}

const char *
ferry_lifecycle_event_to_string(int event)
{
    static const char *const names[] = {
        [FERRY_LIFECYCLE_DEFINED] = "defined",
        [FERRY_LIFECYCLE_UNDEFINED] = "undefined",
        [FERRY_LIFECYCLE_STARTED] = "started",
        [FERRY_LIFECYCLE_SUSPENDED] = "suspended",
        [FERRY_LIFECYCLE_RESUMED] = "resumed",
        [FERRY_LIFECYCLE_STOPPED] = "stopped",
    };
    return lookup(names, G_N_ELEMENTS(names), event);
}

const char *
ferry_job_info_type_to_string(int type)
{
    static const char *const names[] = {
        [FERRY_JOB_INFO_NONE] = "none",
        [FERRY_JOB_INFO_ACTIVE] = "active",
        [FERRY_JOB_INFO_COMPLETED] = "completed",
        [FERRY_JOB_INFO_FAILED] = "failed",
        [FERRY_JOB_INFO_CANCELLED] = "cancelled",
    };
    return lookup(names, G_N_ELEMENTS(names), type);
}
