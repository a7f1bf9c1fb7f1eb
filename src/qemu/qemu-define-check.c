/*
 * qemu-define-check.c: what `ferry define` checks against this host.
 *
 * A definition can be valid XML and still never start here: an emulator
 * that is not installed, a machine type this QEMU does not know, a disk
 * image that is not there, a bridge nobody created.  libvirt refuses most
 * of these at define, so a user learns of them when writing the XML, not
 * at the first start or, worse, on a migration's destination.  What only
 * `start` can know (a VNC port someone else holds, a tap name taken by
 * then) or what ferry accepts but does not do (security labels, Hyper-V
 * enlightenments without KVM) becomes a warning the CLI prints.
 *
 * Owns: these checks and the cached list of each emulator's machine types.
 * Must not: change the definition, start QEMU for anything but
 * `-machine help`, or decide anything a migration does (a destination's
 * definition is checked by its own Prepare, not here).
 */
#include "ferry-config.h"

#include <ferry/ferry.h>
#include <string.h>
#include <net/if.h>
#include <sys/stat.h>
#include <unistd.h>

#include "qemu/qemu-command.h"
#include "qemu/qemu-define-check.h"
#include "qemu/qemu-net.h"

/* Each emulator's machine types, probed once per path.  An upgraded QEMU
 * at the same path keeps the old list until ferryd restarts; machine
 * types are only ever added by upgrades, so the list errs on the safe side
 * only for types QEMU dropped. */
static GMutex machines_lock;
static GHashTable *machines_by_emulator;   /* path -> GStrv */

/* Reads `EMULATOR -machine help`: after a header line, one machine per
 * line, its name first. */
static GStrv
probe_machines(const char *emulator, GError **error)
{
    const char *argv[] = { emulator, "-machine", "help", NULL };
    g_autofree char *out = NULL;
    g_autofree char *err = NULL;
    g_auto(GStrv) lines = NULL;
    g_autoptr(GPtrArray) names = g_ptr_array_new();
    int status = 0;

    if (!g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_DEFAULT, NULL, NULL, &out, &err,
                      &status, error))
        return NULL;
    if (!g_spawn_check_wait_status(status, NULL)) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_INTERNAL,
                    "'%s -machine help' failed: %s", emulator, g_strstrip(err));
        return NULL;
    }
    lines = g_strsplit(out, "\n", -1);
    for (guint i = 0; lines[i]; i++) {
        g_auto(GStrv) words = g_strsplit_set(g_strstrip(lines[i]), " \t", 2);

        if (!words[0] || !*words[0] || g_str_has_prefix(lines[i], "Supported machines"))
            continue;
        g_ptr_array_add(names, g_strdup(words[0]));
    }
    g_ptr_array_add(names, NULL);
    return (GStrv)g_ptr_array_free(g_steal_pointer(&names), FALSE);
}

/* (transfer none): valid until the process ends. */
static const char *const *
machines_of(const char *emulator, GError **error)
{
    g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&machines_lock);
    GStrv machines;

    if (!machines_by_emulator)
        machines_by_emulator = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
                                                     (GDestroyNotify)g_strfreev);
    machines = g_hash_table_lookup(machines_by_emulator, emulator);
    if (machines)
        return (const char *const *)machines;
    machines = probe_machines(emulator, error);
    if (!machines)
        return NULL;
    g_hash_table_insert(machines_by_emulator, g_strdup(emulator), machines);
    return (const char *const *)machines;
}

static gboolean
check_emulator(const ferry_domain_def *def, const char *emulator, GError **error)
{
    g_autoptr(GError) local = NULL;
    const char *const *machines;
    g_autoptr(GString) some = NULL;

    if (!g_file_test(emulator, G_FILE_TEST_EXISTS)) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_INVALID_ARG,
                    "domain '%s': emulator '%s' does not exist on this host", def->name,
                    emulator);
        return FALSE;
    }
    if (!g_file_test(emulator, G_FILE_TEST_IS_EXECUTABLE)) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_INVALID_ARG,
                    "domain '%s': emulator '%s' is not executable", def->name, emulator);
        return FALSE;
    }
    if (g_strcmp0(def->arch, "x86_64") != 0) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_INVALID_ARG,
                    "domain '%s': arch '%s' is not supported by this host, which runs "
                    "x86_64 guests", def->name, def->arch);
        return FALSE;
    }
    machines = machines_of(emulator, &local);
    if (!machines) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_INVALID_ARG,
                    "domain '%s': cannot ask emulator '%s' for its machine types: %s",
                    def->name, emulator, local->message);
        return FALSE;
    }
    if (g_strv_contains(machines, def->machine))
        return TRUE;
    some = g_string_new(NULL);
    for (guint i = 0; machines[i] && i < 6; i++)
        g_string_append_printf(some, "%s%s", i ? ", " : "", machines[i]);
    g_set_error(error, FERRY_ERROR, FERRY_ERROR_INVALID_ARG,
                "domain '%s': machine type '%s' is not known to emulator '%s' (it has %u, "
                "e.g. %s; see '%s -machine help')", def->name, def->machine, emulator,
                g_strv_length((char **)machines), some->str, emulator);
    return FALSE;
}

/* A file the domain's QEMU will open: present and readable now. */
static gboolean
check_readable(const ferry_domain_def *def, const char *what, const char *path,
               gboolean block_device, GError **error)
{
    struct stat st;

    if (stat(path, &st) < 0) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_INVALID_ARG,
                    "domain '%s': %s '%s' does not exist on this host", def->name, what, path);
        return FALSE;
    }
    if (block_device && !S_ISBLK(st.st_mode)) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_INVALID_ARG,
                    "domain '%s': %s '%s' is not a block device (use <disk type='file'> "
                    "for an image file)", def->name, what, path);
        return FALSE;
    }
    if (!block_device && S_ISDIR(st.st_mode)) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_INVALID_ARG,
                    "domain '%s': %s '%s' is a directory", def->name, what, path);
        return FALSE;
    }
    if (access(path, R_OK) < 0) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_INVALID_ARG,
                    "domain '%s': %s '%s' is not readable", def->name, what, path);
        return FALSE;
    }
    return TRUE;
}

static gboolean
check_files(const ferry_domain_def *def, GPtrArray *warnings, GError **error)
{
    const struct {
        const char *what;
        const char *path;
    } boot[] = {
        { "kernel", def->kernel }, { "initrd", def->initrd }, { "dtb", def->dtb },
        { "firmware loader", def->loader },
    };

    for (gsize i = 0; i < G_N_ELEMENTS(boot); i++) {
        if (boot[i].path && !check_readable(def, boot[i].what, boot[i].path, FALSE, error))
            return FALSE;
    }
    if (def->nvram && !g_file_test(def->nvram, G_FILE_TEST_EXISTS)) {
        if (!def->nvram_template) {
            g_set_error(error, FERRY_ERROR, FERRY_ERROR_INVALID_ARG,
                        "domain '%s': nvram '%s' does not exist and no template is given "
                        "to create it from", def->name, def->nvram);
            return FALSE;
        }
        if (!check_readable(def, "nvram template", def->nvram_template, FALSE, error))
            return FALSE;
        g_ptr_array_add(warnings, g_strdup_printf("nvram '%s' does not exist yet: it is "
                                                  "created from '%s' at the first start",
                                                  def->nvram, def->nvram_template));
    }
    for (guint i = 0; i < def->disks->len; i++) {
        const ferry_disk_def *disk = g_ptr_array_index(def->disks, i);
        g_autofree char *what = g_strdup_printf("disk '%s': %s", disk->target,
                                                disk->type == FERRY_DISK_TYPE_BLOCK
                                                ? "device" : "image");

        if (disk->type == FERRY_DISK_TYPE_NETWORK || !disk->source)
            continue;
        if (!check_readable(def, what, disk->source, disk->type == FERRY_DISK_TYPE_BLOCK,
                            error))
            return FALSE;
    }
    return TRUE;
}

/* Whether @name is a network device of ferryd's network namespace, and,
 * when it is, not something other than a bridge.  The device's existence
 * comes from the kernel (if_nametoindex() answers for the caller's
 * namespace); whether it is a bridge from /sys, which shows the namespace
 * of whoever mounted it -- ferryd's own when it runs in its namespace as
 * `ip netns exec` arranges, possibly another's otherwise.  So /sys is
 * trusted only when it shows the same device, by index; if not, the
 * tap's plugging at start says it. */
static gboolean
bridge_exists(const char *name)
{
    unsigned int index = strchr(name, '/') ? 0 : if_nametoindex(name);
    g_autofree char *dir = NULL;
    g_autofree char *bridge = NULL;
    g_autofree char *index_path = NULL;
    g_autofree char *text = NULL;

    if (index == 0)
        return FALSE;
    dir = g_build_filename("/sys/class/net", name, NULL);
    bridge = g_build_filename(dir, "bridge", NULL);
    index_path = g_build_filename(dir, "ifindex", NULL);
    if (!g_file_get_contents(index_path, &text, NULL, NULL) ||
        g_ascii_strtoull(text, NULL, 10) != index)
        return TRUE;
    return g_file_test(bridge, G_FILE_TEST_IS_DIR);
}

static gboolean
check_nets(const ferry_domain_def *def, GPtrArray *warnings, GError **error)
{
    for (guint i = 0; i < def->nets->len; i++) {
        const ferry_net_def *net = g_ptr_array_index(def->nets, i);
        g_autofree char *dev_path = NULL;

        if ((net->type == FERRY_NET_TYPE_BRIDGE || net->type == FERRY_NET_TYPE_NETWORK) &&
            !bridge_exists(net->source)) {
            g_set_error(error, FERRY_ERROR, FERRY_ERROR_INVALID_ARG,
                        "domain '%s': interface %s: %s '%s' does not exist on this host%s",
                        def->name, net->mac,
                        net->type == FERRY_NET_TYPE_BRIDGE ? "bridge" : "network",
                        net->source,
                        net->type == FERRY_NET_TYPE_NETWORK
                        ? " (ferry's networks are the bridges of the same name)" : "");
            return FALSE;
        }
        /* A generated name (ferryN, vnetN) is replaced at start. */
        if (!net->target_dev || qemu_net_tap_name_is_generated(net->target_dev))
            continue;
        dev_path = g_build_filename("/sys/class/net", net->target_dev, NULL);
        if (g_file_test(dev_path, G_FILE_TEST_EXISTS))
            g_ptr_array_add(warnings,
                            g_strdup_printf("interface %s: a network device named '%s' "
                                            "exists on this host now; the domain cannot start "
                                            "while it does", net->mac, net->target_dev));
    }
    return TRUE;
}

/* What ferry accepts and keeps but does not do, said once at define. */
static void
collect_warnings(const ferry_domain_def *def, GPtrArray *warnings)
{
    gboolean kvm = g_strcmp0(def->type, "kvm") == 0;

    if (def->seclabels->len > 0)
        g_ptr_array_add(warnings, g_strdup("<seclabel> is kept in the definition but not "
                                           "enforced: ferry applies no security labels"));
    if (!kvm && def->hyperv->len > 0)
        g_ptr_array_add(warnings, g_strdup("Hyper-V enlightenments are kept but not given to "
                                           "QEMU: they need domain type 'kvm'"));
    if (!kvm && (g_strcmp0(def->cpu_mode, "host-model") == 0 ||
                 g_strcmp0(def->cpu_mode, "host-passthrough") == 0))
        g_ptr_array_add(warnings,
                        g_strdup_printf("cpu mode '%s' runs as QEMU's 'max' CPU without "
                                        "KVM; migrate only between hosts of the same QEMU "
                                        "version", def->cpu_mode));
    if (def->vcpu_cpuset || g_strcmp0(def->vcpu_placement, "auto") == 0)
        g_ptr_array_add(warnings, g_strdup("vcpu placement and cpuset are kept but not "
                                           "applied: QEMU's threads may run on any CPU"));
    for (guint i = 0; i < def->graphics->len; i++) {
        const ferry_graphics_def *g = g_ptr_array_index(def->graphics, i);

        if (!g->autoport && g->port > 0)
            g_ptr_array_add(warnings,
                            g_strdup_printf("graphics %s: port %d is a fixed port; whether it "
                                            "is free is known only at start, on each host the "
                                            "domain runs on", g->type, g->port));
    }
}

gboolean
qemu_define_check(const ferry_domain_def *def, const char *default_emulator,
                  GStrv *ret_warnings, GError **error)
{
    g_autoptr(GPtrArray) warnings = g_ptr_array_new_with_free_func(g_free);
    const char *emulator = def->emulator ? def->emulator : default_emulator;

    g_return_val_if_fail(def != NULL && emulator != NULL, FALSE);

    if (!ferry_qemu_check_hostdevs(def, error) ||
        !check_emulator(def, emulator, error) ||
        !check_files(def, warnings, error) || !check_nets(def, warnings, error))
        return FALSE;
    collect_warnings(def, warnings);
    if (ret_warnings) {
        g_ptr_array_add(warnings, NULL);
        *ret_warnings = (GStrv)g_ptr_array_free(g_steal_pointer(&warnings), FALSE);
    }
    return TRUE;
}
