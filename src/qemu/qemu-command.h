/*
 * qemu-command.h: the QEMU command line of a domain.
 *
 * Owns: turning a definition into argv, and such an argv back into the
 * definition it ran (for a QEMU whose status file was lost).  Pure: no
 * I/O, so it is tested with golden files (tests/data/qemu-argv/,
 * tests/qemu/test-qemu-command.c).
 */
#pragma once

#include "conf/domain-conf.h"

G_BEGIN_DECLS

typedef struct {
    const char *qemu_binary;
    const char *monitor_path;   /* QMP UNIX socket QEMU listens on */
    int monitor_fd;             /* > 2: QEMU inherits, at this descriptor, a
                                 * socket already listening on monitor_path
                                 * (0: QEMU binds monitor_path itself) */
    const char *pid_path;       /* -pidfile: QEMU writes and locks it (NULL: none) */
    gboolean incoming_defer;    /* add `-incoming defer` (migration destination) */
    /* One per def->nets entry: the tap descriptor QEMU inherits for a
     * bridge, network or ethernet interface (ferryd opens the tap, plugs
     * it into its bridge and passes it: QEMU may run unprivileged), -1 for
     * a user-mode one.  NULL/0: none opened (golden tests), then a tap
     * interface is given by name (ifname=, script=no). */
    const int *tap_fds;
    guint n_tap_fds;
} ferry_qemu_command_opts;

/**
 * ferry_qemu_ram_kib:
 * @def: a definition
 *
 * Returns: the RAM size to give QEMU, in KiB: the definition's, adjusted
 *   where this QEMU needs it (see the comment in qemu-command.c).
 */
guint64 ferry_qemu_ram_kib(const ferry_domain_def *def);

/**
 * ferry_qemu_build_argv:
 * @def: the definition to run
 * @opts: paths and modes
 *
 * QEMU always starts with its CPUs stopped (-S); the driver resumes them
 * over QMP once it is attached, so no guest instruction runs unmanaged.
 *
 * Returns: (transfer full): a NULL-terminated argv.
 */
GStrv ferry_qemu_build_argv(const ferry_domain_def *def, const ferry_qemu_command_opts *opts);

/**
 * ferry_qemu_def_from_argv:
 * @argv: a command line ferry_qemu_build_argv() made (as read from
 *   /proc/PID/cmdline)
 * @error: return location for an error (FERRY_ERROR_INTERNAL)
 *
 * Reads back the definition a running QEMU was started with: everything
 * but the description, which QEMU is never told.  Building the argv of the
 * result gives @argv again (with the same options).
 *
 * Returns: (transfer full): the definition, checked as parsed XML would
 *   be, or NULL if @argv lacks what every definition has or breaks a rule.
 */
ferry_domain_def *ferry_qemu_def_from_argv(const char *const *argv, GError **error);

G_END_DECLS
