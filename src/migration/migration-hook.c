/*
 * migration-hook.c: the operator's hook, run at migration phases.
 *
 * Like libvirt's /etc/libvirt/hooks/qemu: an executable run with the domain
 * name, the operation and the phase as arguments and the domain XML on its
 * standard input, without a shell.  A non-zero exit vetoes the operation;
 * what the hook printed on stderr becomes part of the error.  It runs on a
 * step thread and is waited for at most 30 s, then killed.
 */
#include "ferry-config.h"

#include <ferry/ferry.h>
#include <gio/gio.h>
#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "migration/migration-engine-private.h"

#define HOOK_TIMEOUT_SECONDS 30

typedef struct {
    GAsyncResult *result;
    gboolean timed_out;
} hook_wait;

static gboolean
on_hook_timeout(gpointer data)
{
    ((hook_wait *)data)->timed_out = TRUE;
    return G_SOURCE_REMOVE;
}

static void
on_hook_done(GObject *source, GAsyncResult *res, gpointer data)
{
    ((hook_wait *)data)->result = g_object_ref(res);
}

gboolean
ferry_mig_hook_run(const char *hook_path, const char *name, const char *operation,
                   const char *phase, const char *xml, GError **error)
{
    const char *argv[] = { hook_path, name, operation, phase, NULL };
    g_autoptr(GSubprocess) proc = NULL;
    g_autoptr(GError) local = NULL;
    hook_wait w = { NULL, FALSE };
    g_autoptr(GSubprocessLauncher) launcher = NULL;
    int xml_fd;
    g_autoptr(GMainContext) ctx = NULL;
    g_autoptr(GSource) timer = NULL;
    g_autofree char *err_text = NULL;
    gboolean ok;

    if (!hook_path)
        return TRUE;
    /* The XML goes in as a file, not a pipe: a hook that does not read
     * its input must not fail with a broken pipe. */
    xml_fd = memfd_create("ferry-hook-xml", MFD_CLOEXEC);
    if (xml_fd < 0 || write(xml_fd, xml, strlen(xml)) != (ssize_t)strlen(xml) ||
        lseek(xml_fd, 0, SEEK_SET) != 0) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_HOOK,
                    "cannot pass the XML of domain '%s' to hook '%s': %s", name, hook_path,
                    g_strerror(errno));
        if (xml_fd >= 0)
            close(xml_fd);
        return FALSE;
    }
    launcher = g_subprocess_launcher_new(G_SUBPROCESS_FLAGS_STDOUT_SILENCE |
                                         G_SUBPROCESS_FLAGS_STDERR_PIPE);
    g_subprocess_launcher_take_stdin_fd(launcher, xml_fd);
    proc = g_subprocess_launcher_spawnv(launcher, argv, &local);
    if (!proc) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_HOOK,
                    "cannot run hook '%s' for domain '%s' (%s %s): %s", hook_path, name,
                    operation, phase, local->message);
        return FALSE;
    }
    /* A private context iterated here: this runs on a worker thread, and a
     * hook that hangs must not hold the migration forever. */
    ctx = g_main_context_new();
    g_main_context_push_thread_default(ctx);
    timer = g_timeout_source_new_seconds(HOOK_TIMEOUT_SECONDS);
    g_source_set_callback(timer, on_hook_timeout, &w, NULL);
    g_source_attach(timer, ctx);
    g_subprocess_communicate_utf8_async(proc, NULL, NULL, on_hook_done, &w);
    while (!w.result && !w.timed_out)
        g_main_context_iteration(ctx, TRUE);
    if (w.timed_out) {
        g_subprocess_force_exit(proc);
        while (!w.result)
            g_main_context_iteration(ctx, TRUE);
    }
    ok = g_subprocess_communicate_utf8_finish(proc, w.result, NULL, &err_text, &local);
    g_clear_object(&w.result);
    g_source_destroy(timer);
    g_main_context_pop_thread_default(ctx);
    if (w.timed_out || !ok) {
        g_subprocess_wait(proc, NULL, NULL);
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_HOOK,
                    "hook '%s' for domain '%s' (%s %s) %s", hook_path, name, operation, phase,
                    w.timed_out ? "did not finish within 30 s and was killed"
                                : local->message);
        return FALSE;
    }
    if (!g_subprocess_get_successful(proc)) {
        g_strstrip(err_text);
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_HOOK,
                    "hook '%s' refused %s of domain '%s' at %s (exit status %d)%s%s",
                    hook_path, operation, name, phase,
                    g_subprocess_get_if_exited(proc) ? g_subprocess_get_exit_status(proc) : -1,
                    err_text && *err_text ? ": " : "", err_text ? err_text : "");
        return FALSE;
    }
    return TRUE;
}
