/*
 * qemu-process.h: one QEMU process per active domain: start, watch, stop,
 * and re-attach after a daemon restart.
 *
 * Callers hold the domain's job (except for the exit watch, which runs on the
 * monitor thread and only acts when no job is held; the job holder finishes
 * the work in qemu_process_end_job()).
 */
#pragma once

#include "qemu/qemu-domain.h"

G_BEGIN_DECLS

/** Flags of qemu_process_start(). */
typedef enum {
    QEMU_PROCESS_START_PAUSED = 1 << 0,   /* leave the CPUs stopped */
    QEMU_PROCESS_START_INCOMING = 1 << 1, /* -incoming defer: a migration destination */
} qemu_process_start_flags;

/**
 * qemu_process_start:
 * @state: the driver state
 * @obj: a domain whose live definition is set and whose job the caller holds
 * @flags: qemu_process_start_flags
 * @error: return location for an error
 *
 * Spawns QEMU, records its pid in the status file before anything else,
 * attaches to its monitor and starts the CPUs unless @paused.  On failure
 * QEMU is killed, the domain is left shut off (reason failed) and the error
 * quotes what QEMU printed.
 *
 * Returns: TRUE on success.
 */
gboolean qemu_process_start(qemu_driver_state *state, ferry_domain_obj *obj,
                            guint flags, GError **error);

/**
 * qemu_process_destroy:
 * @state: the driver state
 * @obj: an active domain whose job the caller holds
 * @reason: the ferry_shutoff_reason to record
 * @error: return location for an error
 *
 * Stops QEMU (SIGTERM, then SIGKILL after a grace period), waits until it is
 * gone and cleans up.
 *
 * Returns: TRUE once the process is gone.
 */
gboolean qemu_process_destroy(qemu_driver_state *state, ferry_domain_obj *obj,
                              int reason, GError **error);

/**
 * qemu_process_reattach:
 * @state: the driver state
 * @obj: a domain loaded from a status file (pid and monitor path set)
 * @error: return location for an error
 *
 * Checks that the recorded pid is still that domain's QEMU, watches it,
 * reconnects to its monitor and refreshes the state from QEMU.  If the
 * process is gone the domain is marked shut off (crashed) and TRUE is
 * returned; if it runs but its monitor cannot be reached it is stopped and
 * FALSE is returned with the reason.
 *
 * Returns: TRUE on success.
 */
gboolean qemu_process_reattach(qemu_driver_state *state, ferry_domain_obj *obj,
                               GError **error);

/** A QEMU of this ferryd found in /proc (qemu_process_list_running()). */
typedef struct {
    gint64 pid;
    GStrv argv;                 /* its command line */
} qemu_running;

/**
 * qemu_process_list_running:
 * @state: the driver state
 *
 * Finds, in /proc, every QEMU this ferryd (or one before it, with the same
 * state directory) started, whether or not a domain manages it: a QEMU
 * whose argv names this run directory's UUID.pid after -pidfile and the
 * same UUID after -uuid.  Its pid file is not trusted alone: an older
 * ferryd could delete a running QEMU's.
 *
 * Returns: (transfer full): uuid (lower case) -> qemu_running*.
 */
GHashTable *qemu_process_list_running(qemu_driver_state *state);

/**
 * qemu_process_check_not_running:
 * @state: the driver state
 * @what: the operation refused, as in "cannot @what domain 'x'", e.g. "start"
 * @name: the domain's name, for the error
 * @uuid: its uuid
 * @error: return location for an error (FERRY_ERROR_OPERATION_INVALID)
 *
 * The guard of every start, define and incoming migration: a uuid whose
 * QEMU already runs here (as qemu_process_list_running() finds them) must
 * never get a second one, whatever the domain list says.
 *
 * Returns: TRUE if no QEMU of @uuid runs on this host.
 */
gboolean qemu_process_check_not_running(qemu_driver_state *state, const char *what,
                                        const char *name, const char *uuid,
                                        GError **error);

/**
 * qemu_process_end_job:
 * @state: the driver state
 * @obj: a domain whose job the caller holds
 *
 * Ends the job; if QEMU exited while the job was held, cleans up now.
 */
void qemu_process_end_job(qemu_driver_state *state, ferry_domain_obj *obj);

/**
 * qemu_process_get_qmp:
 * @obj: a domain
 * @error: return location for an error
 *
 * Returns: (transfer full): the domain's monitor, or NULL with an error if
 *   it is not running.
 */
ferry_qmp *qemu_process_get_qmp(ferry_domain_obj *obj, GError **error);

/**
 * qemu_process_command:
 * @obj: a running domain
 * @command: a QMP command
 * @arguments: (nullable) (transfer none): its arguments
 * @error: return location for an error
 *
 * Runs one QMP command on the domain's monitor and waits for the reply.
 *
 * Returns: (transfer full): the reply's "return", or NULL with @error.
 */
json_object *qemu_process_command(ferry_domain_obj *obj, const char *command,
                                  json_object *arguments, GError **error);

/**
 * qemu_process_cpu_time:
 * @pid: a process id
 *
 * Returns: the CPU time (user + system) the process used, in ns; 0 if unknown.
 */
guint64 qemu_process_cpu_time(gint64 pid);

/**
 * qemu_process_detach:
 * @state: the driver state
 * @obj: a domain
 *
 * Stops watching the domain's QEMU and closes its monitor without stopping
 * it: for daemon shutdown.
 */
void qemu_process_detach(qemu_driver_state *state, ferry_domain_obj *obj);

G_END_DECLS
