/*
 * qemu-command.h: the QEMU command line of a domain.
 *
 * Owns: turning a definition into argv (qemu-command.c: the domain-level
 * options; qemu-command-devices.c: every device), saying what of a
 * definition cannot be given to QEMU, and reading such an argv back into
 * the definition it ran (for a QEMU whose status file was lost).  Pure: no
 * I/O, so it is tested with golden files (tests/data/qemu-argv/,
 * tests/qemu/test-qemu-command.c) and each golden was started with the
 * real QEMU (tests/data/qemu-argv/check-qemu.py).
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
    /* The TCP port ferryd reserved for a <graphics type='spice'> with
     * autoport: QEMU's SPICE server cannot pick a free one itself (VNC's
     * can: to=).  0: none reserved; ferry_qemu_command_check() refuses
     * such a definition. */
    guint spice_port;
    /* Where a unix channel without a path (libvirt's <source mode='bind'/>
     * of the guest agent) gets its socket: "<channel_dir>/<target name>".
     * The driver passes a directory of the domain's own; NULL: such a
     * channel is refused by ferry_qemu_command_check(). */
    const char *channel_dir;
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
 * ferry_qemu_command_check:
 * @def: a parsed definition
 * @opts: (nullable): the options it will be built with (NULL: the
 *   definition alone, as at define; a spice autoport is then refused)
 * @error: return location for an error (FERRY_ERROR_INVALID_ARG naming the
 *   domain and the device, e.g. "domain 'web1': disk 'hdc': QEMU has no
 *   cdrom on bus 'virtio' (expected ide, sata or scsi)")
 *
 * What a valid definition may still say that ferry_qemu_build_argv()
 * cannot give QEMU, or QEMU would refuse at start: a device model or bus
 * QEMU lacks, an IDE unit beyond q35's six AHCI ports, a read-only IDE
 * disk, io='native' without O_DIRECT, a socket chardev without its path, a
 * VNC port below 5900, a secondary VGA, a CPU topology that does not make
 * the vCPU count, a ',' where QEMU's -cpu cannot escape one, a host device
 * (FERRY_ERROR_NO_SUPPORT, see ferry_qemu_check_hostdevs()).  The builder
 * itself never fails: call this first (at define and at start).
 *
 * Returns: TRUE if @def can be built and started.
 */
gboolean ferry_qemu_command_check(const ferry_domain_def *def,
                                  const ferry_qemu_command_opts *opts, GError **error);

/**
 * ferry_qemu_check_hostdevs:
 * @def: a definition
 * @error: return location for an error (FERRY_ERROR_NO_SUPPORT naming the
 *   domain and the first host device: "domain 'gpu1': pci host device
 *   0000:01:00.0: host device assignment is not supported by ferry's QEMU
 *   driver")
 *
 * ferry gives QEMU no host device (no VFIO, no USB host passthrough):
 * part of ferry_qemu_command_check(), and called at define too, so that a
 * <hostdev> is refused rather than silently left out of the guest.
 *
 * Returns: TRUE if @def has no host device.
 */
gboolean ferry_qemu_check_hostdevs(const ferry_domain_def *def, GError **error);

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
 * Only what ferry wrote before devices were modelled is read: virtio and
 * IDE disks on file images (and their PCI slot or IDE bus/unit; a disk
 * without addr= gets the slot QEMU gave it), a file serial port 0.  Any
 * other option, device or key is refused by name, never skipped: adopting
 * a QEMU under a definition without its NIC would lose the NIC at the
 * next start or migration.
 *
 * Returns: (transfer full): the definition, checked as parsed XML would
 *   be, or NULL if @argv lacks what every definition has, has what cannot
 *   be read back (the error names the option and its value) or breaks a
 *   rule.
 */
ferry_domain_def *ferry_qemu_def_from_argv(const char *const *argv, GError **error);

G_END_DECLS
