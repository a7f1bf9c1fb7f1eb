/*
 * qemu-command.c: builds QEMU's command line from a domain definition.
 *
 * Choices that matter elsewhere:
 *  - disks are -blockdev nodes named "drive-<target>" (the format node) on
 *    top of "drive-<target>-file"; storage migration exports and mirrors
 *    these node names;
 *  - the monitor is a QMP server socket QEMU creates and ferry connects to,
 *    so a restarted ferryd can connect again;
 *  - -S always: CPUs start only when ferry says `cont`;
 *  - no -daemonize: QEMU stays ferryd's child so ferryd reaps it.
 */
#include "ferry-config.h"

#include "qemu/qemu-command.h"

static void
add(GPtrArray *argv, const char *arg)
{
    g_ptr_array_add(argv, g_strdup(arg));
}

static void G_GNUC_PRINTF(2, 3)
addf(GPtrArray *argv, const char *format, ...)
{
    va_list ap;

    va_start(ap, format);
    g_ptr_array_add(argv, g_strdup_vprintf(format, ap));
    va_end(ap);
}

/* QEMU option values separate keys with ',': a literal comma is doubled. */
static char *
escape_opt(const char *value)
{
    GString *s = g_string_new(NULL);

    for (const char *p = value; *p; p++) {
        if (*p == ',')
            g_string_append_c(s, ',');
        g_string_append_c(s, *p);
    }
    return g_string_free(s, FALSE);
}

static void
add_disk(GPtrArray *argv, const ferry_disk_def *disk)
{
    g_autofree char *path = escape_opt(disk->source);

    /* discard=unmap: zeroes written by a storage migration's mirror (and
     * the guest's discards) leave holes instead of allocating the image. */
    add(argv, "-blockdev");
    addf(argv, "driver=file,filename=%s,node-name=drive-%s-file,read-only=%s,discard=unmap",
         path, disk->target, disk->readonly ? "on" : "off");
    add(argv, "-blockdev");
    addf(argv, "driver=%s,file=drive-%s-file,node-name=drive-%s,read-only=%s,discard=unmap",
         ferry_disk_format_to_string(disk->format), disk->target, disk->target,
         disk->readonly ? "on" : "off");
    add(argv, "-device");
    if (disk->bus == FERRY_DISK_BUS_IDE) {
        /* hda..hdd: two buses, master and slave. */
        int index = disk->target[2] - 'a';

        addf(argv, "ide-hd,drive=drive-%s,id=%s,bus=ide.%d,unit=%d",
             disk->target, disk->target, index / 2, index % 2);
    } else {
        addf(argv, "virtio-blk-pci,drive=drive-%s,id=%s", disk->target, disk->target);
    }
}

guint64
ferry_qemu_ram_kib(const ferry_domain_def *def)
{
    /*
     * QEMU 7.2 under TCG loses guest writes during live migration when the
     * RAM block's size is a multiple of 64 pages (256 KiB): the fast path
     * of its dirty-bitmap sync clears the bitmap without re-arming TCG's
     * dirty tracking, so pages written through TLB entries filled earlier
     * are never sent again (reproduced here: a page of the bundled guest
     * arrived stale after a 64 MiB migration).  Sizes that are not such a
     * multiple take the slow path, which is correct.  Both ends compute the
     * same size from the same definition, so migration stays compatible;
     * the guest sees 8 KiB more than asked.  KVM does not need this.
     */
    if (g_strcmp0(def->type, "kvm") != 0 && def->memory_kib % 256 == 0)
        return def->memory_kib + 8;
    return def->memory_kib;
}

GStrv
ferry_qemu_build_argv(const ferry_domain_def *def, const ferry_qemu_command_opts *opts)
{
    GPtrArray *argv = g_ptr_array_new();
    g_autofree char *name = escape_opt(def->name);
    g_autofree char *monitor = escape_opt(opts->monitor_path);

    add(argv, opts->qemu_binary);
    add(argv, "-name");
    addf(argv, "guest=%s,debug-threads=on", name);
    add(argv, "-uuid");
    add(argv, def->uuid);
    add(argv, "-machine");
    /* No KVM is assumed: type 'kvm' asks for it, anything else runs TCG. */
    addf(argv, "%s,accel=%s", def->machine,
         g_strcmp0(def->type, "kvm") == 0 ? "kvm" : "tcg");
    add(argv, "-m");
    addf(argv, "%" G_GUINT64_FORMAT "k", ferry_qemu_ram_kib(def));
    add(argv, "-smp");
    addf(argv, "%u", def->vcpus);
    add(argv, "-nodefaults");
    add(argv, "-no-user-config");
    add(argv, "-display");
    add(argv, "none");
    add(argv, "-msg");
    add(argv, "timestamp=on");
    add(argv, "-chardev");
    if (opts->monitor_fd > 2)
        addf(argv, "socket,id=monitor,fd=%d,server=on,wait=off", opts->monitor_fd);
    else
        addf(argv, "socket,id=monitor,path=%s,server=on,wait=off", monitor);
    add(argv, "-mon");
    add(argv, "chardev=monitor,mode=control");
    if (opts->pid_path) {
        add(argv, "-pidfile");
        add(argv, opts->pid_path);
    }

    if (def->kernel) {
        add(argv, "-kernel");
        add(argv, def->kernel);
    }
    if (def->initrd) {
        add(argv, "-initrd");
        add(argv, def->initrd);
    }
    if (def->cmdline) {
        add(argv, "-append");
        add(argv, def->cmdline);
    }

    for (guint i = 0; i < def->disks->len; i++)
        add_disk(argv, def->disks->pdata[i]);

    if (def->serial_log) {
        g_autofree char *log = escape_opt(def->serial_log);

        add(argv, "-chardev");
        addf(argv, "file,id=serial0,path=%s,append=on", log);
        add(argv, "-device");
        add(argv, "isa-serial,chardev=serial0,id=serial0");
    }

    if (opts->incoming_defer) {
        add(argv, "-incoming");
        add(argv, "defer");
    }
    add(argv, "-S");

    g_ptr_array_add(argv, NULL);
    return (GStrv)g_ptr_array_free(argv, FALSE);
}
