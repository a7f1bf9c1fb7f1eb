/*
 * qemu-hook.h: the operator's hook, run at migration phases.
 *
 * Like libvirt's /etc/libvirt/hooks/qemu: an executable run with the domain
 * name, the operation and the phase as arguments and the domain XML on its
 * standard input, without a shell.  A non-zero exit vetoes the operation;
 * what the hook printed on stderr becomes part of the error.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/**
 * qemu_hook_run:
 * @hook_path: (nullable): the executable; NULL means there is no hook
 * @name: the domain's name
 * @operation: e.g. "migrate"
 * @phase: e.g. "begin" or "prepare"
 * @xml: the domain XML, written to the hook's stdin
 * @error: return location for an error (FERRY_ERROR_HOOK)
 *
 * Runs the hook and waits for it (at most 30 s, then it is killed).
 *
 * Returns: TRUE if there is no hook or it exited 0.
 */
gboolean qemu_hook_run(const char *hook_path, const char *name, const char *operation,
                       const char *phase, const char *xml, GError **error);

G_END_DECLS
