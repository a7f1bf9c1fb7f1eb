/*
 * qemu-define-check.h: what `ferry define` checks against this host
 * (emulator, arch, machine type, files, bridges) and the warnings it gives.
 */
#pragma once

#include <glib.h>

#include "conf/domain-conf.h"

G_BEGIN_DECLS

/**
 * qemu_define_check:
 * @def: a parsed definition of type qemu or kvm
 * @default_emulator: the daemon's QEMU, used when @def has no <emulator>
 * @ret_warnings: (out) (optional) (transfer full): what define cannot
 *   check or ferry will not do, one sentence each (possibly empty)
 * @error: return location for an error (FERRY_ERROR_INVALID_ARG naming the
 *   domain and the thing: "domain 'web1': disk 'vda': image '/x' does not
 *   exist on this host")
 *
 * Refuses what can never start here: an emulator that is missing or not
 * executable, an arch other than x86_64, a machine type the emulator does
 * not list, a kernel, initrd, dtb, loader, disk image or block device that
 * does not exist or cannot be read, a bridge (or network) that is not on
 * this host, an nvram with neither a file nor a template; a host device
 * (FERRY_ERROR_NO_SUPPORT: ferry_qemu_check_hostdevs()).
 *
 * Returns: TRUE if @def may be defined here.
 */
gboolean qemu_define_check(const ferry_domain_def *def, const char *default_emulator,
                           GStrv *ret_warnings, GError **error);

G_END_DECLS
