/*
 * qemu-command.c: builds QEMU's command line from a domain definition.
 *
 * Owns: the domain-level options (machine, CPU, memory, topology, clock,
 * boot, firmware, lifecycle actions, the monitor) and reading a command
 * line back (ferry_qemu_def_from_argv()).  The devices are
 * qemu-command-devices.c's.  Must not: do I/O or run a shell: the result
 * is an argv, run as is.
 *
 * Choices that matter elsewhere:
 *  - disks are -blockdev nodes named "drive-<target>" (the format node) on
 *    top of "drive-<target>-file"; storage migration exports and mirrors
 *    these node names;
 *  - the monitor is a QMP server socket QEMU creates and ferry connects to,
 *    so a restarted ferryd can connect again;
 *  - -S always: CPUs start only when ferry says `cont`;
 *  - no -daemonize: QEMU stays ferryd's child so ferryd reaps it;
 *  - what is not QEMU's to know is not on the command line: the vCPU
 *    cpuset is the process's affinity (set by whoever starts QEMU), the
 *    current memory is a balloon target set over QMP once QEMU runs, a
 *    graphics password is set with set_password.
 *
 * ferry_qemu_def_from_argv() reads such a command line back: it is the
 * inverse of the builder for what it can read, and refuses the rest by
 * name, so a QEMU is never adopted under a definition that lost a device.
 */
#include "ferry-config.h"

#include <ferry/ferry.h>
#include <string.h>

#include "qemu/qemu-command-priv.h"

/* ------------------------------------------------------------------ */
/* Helpers shared with qemu-command-devices.c */

void
qemu_cmd_add(qemu_cmd *cmd, const char *arg)
{
    g_ptr_array_add(cmd->argv, g_strdup(arg));
}

void
qemu_cmd_addf(qemu_cmd *cmd, const char *format, ...)
{
    va_list ap;

    va_start(ap, format);
    g_ptr_array_add(cmd->argv, g_strdup_vprintf(format, ap));
    va_end(ap);
}

void
qemu_cmd_add_opt(qemu_cmd *cmd, const char *option, GString *value)
{
    qemu_cmd_add(cmd, option);
    g_ptr_array_add(cmd->argv, g_string_free(value, FALSE));
}

char *
qemu_escape_opt(const char *value)
{
    GString *s = g_string_new(NULL);

    for (const char *p = value; *p; p++) {
        if (*p == ',')
            g_string_append_c(s, ',');
        g_string_append_c(s, *p);
    }
    return g_string_free(s, FALSE);
}

void
qemu_append_kv(GString *s, const char *key, const char *value)
{
    g_autofree char *escaped = qemu_escape_opt(value);

    g_string_append_printf(s, ",%s=%s", key, escaped);
}

/* ------------------------------------------------------------------ */
/* Memory */

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

/* The inverse of ferry_qemu_ram_kib(): the definition's size for what
 * QEMU was given. */
static guint64
memory_kib_from_ram(const char *type, guint64 ram_kib)
{
    if (g_strcmp0(type, "kvm") != 0 && ram_kib > 8 && (ram_kib - 8) % 256 == 0)
        return ram_kib - 8;
    return ram_kib;
}

/* ------------------------------------------------------------------ */
/* Domain-level options */

static gboolean
def_is_kvm(const ferry_domain_def *def)
{
    return g_strcmp0(def->type, "kvm") == 0;
}

static gboolean
def_is_q35(const ferry_domain_def *def)
{
    for (guint i = 0; i < QEMU_CMD_LEN(def->controllers); i++) {
        const ferry_controller_def *ctrl = g_ptr_array_index(def->controllers, i);

        if (g_strcmp0(ctrl->type, "pci") == 0 && g_strcmp0(ctrl->model, "pcie-root") == 0)
            return TRUE;
    }
    /* "q35", "pc-q35-7.2" */
    return def->machine && (g_str_has_prefix(def->machine, "q35") ||
                            strstr(def->machine, "-q35") != NULL);
}

static const ferry_timer_def *
find_timer(const ferry_domain_def *def, const char *name)
{
    for (guint i = 0; i < QEMU_CMD_LEN(def->timers); i++) {
        const ferry_timer_def *timer = g_ptr_array_index(def->timers, i);

        if (g_strcmp0(timer->name, name) == 0)
            return timer;
    }
    return NULL;
}

static gboolean
loader_is_pflash(const ferry_domain_def *def)
{
    return def->loader && g_strcmp0(def->loader_type, "pflash") == 0;
}

static void
add_machine(qemu_cmd *cmd)
{
    const ferry_domain_def *def = cmd->def;
    const ferry_timer_def *hpet = find_timer(def, "hpet");
    GString *s = g_string_new(NULL);

    /* No KVM is assumed: type 'kvm' asks for it, anything else runs TCG. */
    g_string_printf(s, "%s,accel=%s", def->machine, def_is_kvm(def) ? "kvm" : "tcg");
    /* libvirt's meaning: a <features> without <acpi/> turns ACPI off; no
     * <features> at all leaves the machine's default (on). */
    if (def->has_features && !def->feature_acpi)
        g_string_append(s, ",acpi=off");
    if (hpet && g_strcmp0(hpet->present, "no") == 0)
        g_string_append(s, ",hpet=off");
    if (loader_is_pflash(def)) {
        /* Secure boot: the variable store may only be written from SMM. */
        if (def->loader_secure)
            g_string_append(s, ",smm=on");
        g_string_append(s, ",pflash0=pflash0");
        if (def->nvram)
            g_string_append(s, ",pflash1=pflash1");
    }
    qemu_cmd_add_opt(cmd, "-machine", s);
}

/* The -cpu features of the Hyper-V enlightenments, KVM only. */
static void
append_hyperv(GString *s, const ferry_domain_def *def)
{
    const ferry_timer_def *hvclock = find_timer(def, "hypervclock");

    if (g_strcmp0(def->hyperv_mode, "passthrough") == 0)
        g_string_append(s, ",hv-passthrough=on");
    for (guint i = 0; i < QEMU_CMD_LEN(def->hyperv); i++) {
        const ferry_named_value *hv = g_ptr_array_index(def->hyperv, i);
        g_autofree char *name = NULL;

        if (g_strcmp0(hv->value, "on") != 0 || !hv->name)
            continue;
        /* libvirt's vendor_id is QEMU's hv-vendor-id: '_' becomes '-'. */
        name = g_strdelimit(g_strdup(hv->name), "_", '-');
        if (strcmp(hv->name, "spinlocks") == 0 && hv->extra)
            g_string_append_printf(s, ",hv-spinlocks=0x%" G_GINT64_MODIFIER "x",
                                   (gint64)g_ascii_strtoull(hv->extra, NULL, 10));
        else if (strcmp(hv->name, "vendor_id") == 0 && hv->extra)
            g_string_append_printf(s, ",hv-vendor-id=%s", hv->extra);
        else
            g_string_append_printf(s, ",hv-%s=on", name);
    }
    if (hvclock && g_strcmp0(hvclock->present, "yes") == 0)
        g_string_append(s, ",hv-time=on");
}

static gboolean
def_has_hyperv(const ferry_domain_def *def)
{
    return QEMU_CMD_LEN(def->hyperv) > 0 || def->hyperv_mode != NULL;
}

static void
add_cpu(qemu_cmd *cmd)
{
    const ferry_domain_def *def = cmd->def;
    const char *mode = def->cpu_mode;
    gboolean kvm = def_is_kvm(def);
    const ferry_timer_def *kvmclock = find_timer(def, "kvmclock");
    GString *s;

    if (g_strcmp0(mode, "host-passthrough") == 0 || g_strcmp0(mode, "host-model") == 0 ||
        g_strcmp0(mode, "maximum") == 0) {
        /*
         * Under TCG there is no host CPU to pass through or to model: QEMU
         * refuses "-cpu host" without KVM.  "max" is everything TCG can
         * emulate, the closest to "all the host has".  Under KVM,
         * host-model is passed as the host CPU too (libvirt would expand
         * it to a named model; ferry has no CPU map).
         */
        s = g_string_new(kvm && strcmp(mode, "maximum") != 0 ? "host" : "max");
    } else if (def->cpu_model) {
        s = g_string_new(def->cpu_model);
    } else if (QEMU_CMD_LEN(def->cpu_features) > 0 || (kvm && def_has_hyperv(def))) {
        /* Features without a model change QEMU's default model.  (match,
         * check, fallback and vendor are libvirt's checks of the host's
         * CPU against its CPU map: QEMU is given the model and features.) */
        s = g_string_new("qemu64");
    } else {
        return;
    }
    for (guint i = 0; i < QEMU_CMD_LEN(def->cpu_features); i++) {
        const ferry_named_value *feature = g_ptr_array_index(def->cpu_features, i);
        gboolean off = g_strcmp0(feature->value, "disable") == 0 ||
                       g_strcmp0(feature->value, "forbid") == 0;

        /* require, force and optional ask for the feature; TCG warns about
         * one it cannot emulate and goes on. */
        g_string_append_printf(s, ",%s=%s", feature->name, off ? "off" : "on");
    }
    /*
     * Hyper-V enlightenments only with KVM: they are paravirtual
     * interfaces (synthetic MSRs, hypercalls, timers) that KVM implements
     * and TCG does not, so advertising them under TCG would send a Windows
     * guest to interfaces that do nothing.  Left out, the guest runs
     * without them.  The same for kvmclock.
     */
    if (kvm) {
        append_hyperv(s, def);
        if (kvmclock && g_strcmp0(kvmclock->present, "no") == 0)
            g_string_append(s, ",kvmclock=off");
    }
    qemu_cmd_add_opt(cmd, "-cpu", s);
}

static void
add_smp(qemu_cmd *cmd)
{
    const ferry_domain_def *def = cmd->def;
    guint current = def->vcpus_current ? def->vcpus_current : def->vcpus;
    gboolean topology = def->cpu_sockets || def->cpu_dies || def->cpu_cores || def->cpu_threads;

    qemu_cmd_add(cmd, "-smp");
    if (current == def->vcpus && !topology) {
        qemu_cmd_addf(cmd, "%u", def->vcpus);
        return;
    }
    /* The whole topology, as libvirt gives it, so QEMU's defaults (which
     * differ between machine versions) never decide the guest's view. */
    qemu_cmd_addf(cmd, "%u,maxcpus=%u,sockets=%u,dies=%u,cores=%u,threads=%u", current,
                  def->vcpus, topology ? MAX(def->cpu_sockets, 1) : def->vcpus,
                  MAX(def->cpu_dies, 1), topology ? MAX(def->cpu_cores, 1) : 1,
                  topology ? MAX(def->cpu_threads, 1) : 1);
}

static void
add_rtc(qemu_cmd *cmd)
{
    const ferry_domain_def *def = cmd->def;
    const ferry_timer_def *rtc = find_timer(def, "rtc");
    gboolean catchup = rtc && g_strcmp0(rtc->tickpolicy, "catchup") == 0;

    if (!def->clock_offset && !catchup)
        return;
    qemu_cmd_add(cmd, "-rtc");
    /* catchup: ticks lost while the vCPU did not run are delivered
     * faster afterwards (QEMU's slew). */
    qemu_cmd_addf(cmd, "base=%s%s",
                  g_strcmp0(def->clock_offset, "localtime") == 0 ? "localtime" : "utc",
                  catchup ? ",driftfix=slew" : "");
}

/* <boot dev=...> as a letter of -boot order=. */
static char
boot_letter(const char *dev)
{
    if (g_strcmp0(dev, "hd") == 0)
        return 'c';
    if (g_strcmp0(dev, "cdrom") == 0)
        return 'd';
    if (g_strcmp0(dev, "fd") == 0)
        return 'a';
    if (g_strcmp0(dev, "network") == 0)
        return 'n';
    return 0;
}

static void
add_boot(qemu_cmd *cmd)
{
    const ferry_domain_def *def = cmd->def;
    GString *s = g_string_new(NULL);

    if (def->boot_devs && !cmd->per_device_boot) {
        g_string_append(s, ",order=");
        for (guint i = 0; def->boot_devs[i]; i++) {
            char c = boot_letter(def->boot_devs[i]);

            if (c)
                g_string_append_c(s, c);
        }
    }
    /* <bootmenu enable='no'/> is QEMU's default: nothing to say. */
    if (def->bootmenu > 0) {
        g_string_append(s, ",menu=on");
        if (def->bootmenu_timeout)
            g_string_append_printf(s, ",splash-time=%u", def->bootmenu_timeout);
    }
    if (s->len == 0) {
        g_string_free(s, TRUE);
        return;
    }
    g_string_erase(s, 0, 1);
    qemu_cmd_add_opt(cmd, "-boot", s);
}

/*
 * <on_poweroff>, <on_reboot>, <on_crash> and the watchdog's action as
 * QEMU 7.2's -action, only where they differ from QEMU's defaults
 * (reboot=reset, shutdown=poweroff, panic=shutdown, watchdog=reset), so
 * the usual destroy/restart/destroy of dumpxml adds nothing.
 */
static void
add_actions(qemu_cmd *cmd)
{
    const ferry_domain_def *def = cmd->def;
    gboolean no_shutdown = g_strcmp0(def->on_poweroff, "preserve") == 0;
    const char *crash = def->on_crash;
    const char *watchdog = qemu_watchdog_action(def);
    GString *s = g_string_new(NULL);

    /* preserve: QEMU stays, stopped, after the guest powers off. */
    if (no_shutdown)
        qemu_cmd_add(cmd, "-no-shutdown");
    /* destroy: a guest's reboot ends QEMU like a power-off. */
    if (g_strcmp0(def->on_reboot, "destroy") == 0)
        g_string_append(s, ",reboot=shutdown");
    /*
     * A panic is only reported by a pvpanic device.  preserve keeps the
     * guest paused; destroy is QEMU's default "shutdown", which
     * -no-shutdown turns into a pause, so then QEMU is told to exit; the
     * restart modes let the guest run on (its own panic handler reboots
     * it, or the driver resets it on GUEST_PANICKED).
     */
    if (g_strcmp0(crash, "preserve") == 0)
        g_string_append(s, ",panic=pause");
    else if ((g_strcmp0(crash, "destroy") == 0 || g_strcmp0(crash, "coredump-destroy") == 0) &&
             no_shutdown)
        g_string_append(s, ",panic=exit-failure");
    else if (crash && g_str_has_suffix(crash, "restart"))
        g_string_append(s, ",panic=none");
    if (watchdog)
        g_string_append_printf(s, ",watchdog=%s", watchdog);
    if (s->len == 0) {
        g_string_free(s, TRUE);
        return;
    }
    g_string_erase(s, 0, 1);
    qemu_cmd_add_opt(cmd, "-action", s);
}

/* One raw pflash image as a file node and its format node "pflashN". */
static void
add_pflash(qemu_cmd *cmd, guint unit, const char *path, gboolean read_only)
{
    g_autofree char *file = qemu_escape_opt(path);

    qemu_cmd_add(cmd, "-blockdev");
    qemu_cmd_addf(cmd, "driver=file,filename=%s,node-name=pflash%u-file,read-only=%s", file,
                  unit, read_only ? "on" : "off");
    qemu_cmd_add(cmd, "-blockdev");
    qemu_cmd_addf(cmd, "driver=raw,file=pflash%u-file,node-name=pflash%u,read-only=%s", unit,
                  unit, read_only ? "on" : "off");
}

static void
add_firmware(qemu_cmd *cmd)
{
    const ferry_domain_def *def = cmd->def;

    if (!def->loader)
        return;
    if (!loader_is_pflash(def)) {
        /* rom (and no type): the image replaces the BIOS. */
        qemu_cmd_add(cmd, "-bios");
        qemu_cmd_add(cmd, def->loader);
        return;
    }
    /* UEFI: the code (read-only as the XML says, normally yes) and the
     * domain's variable store, a copy of the template the driver makes. */
    add_pflash(cmd, 0, def->loader, def->loader_readonly);
    if (def->nvram)
        add_pflash(cmd, 1, def->nvram, FALSE);
    if (def->loader_secure) {
        qemu_cmd_add(cmd, "-global");
        qemu_cmd_add(cmd, "driver=cfi.pflash01,property=secure,value=on");
    }
}

static gboolean
def_has_boot_order(const ferry_domain_def *def)
{
    for (guint i = 0; i < QEMU_CMD_LEN(def->disks); i++) {
        const ferry_disk_def *disk = g_ptr_array_index(def->disks, i);

        if (disk->boot_order)
            return TRUE;
    }
    for (guint i = 0; i < QEMU_CMD_LEN(def->nets); i++) {
        const ferry_net_def *net = g_ptr_array_index(def->nets, i);

        if (net->boot_order)
            return TRUE;
    }
    return FALSE;
}

GStrv
ferry_qemu_build_argv(const ferry_domain_def *def, const ferry_qemu_command_opts *opts)
{
    qemu_cmd cmd = {
        .def = def,
        .opts = opts,
        .argv = g_ptr_array_new(),
        .q35 = def_is_q35(def),
        .per_device_boot = def_has_boot_order(def),
    };
    g_autofree char *name = qemu_escape_opt(def->name);
    g_autofree char *monitor = qemu_escape_opt(opts->monitor_path);

    qemu_cmd_add(&cmd, def->emulator ? def->emulator : opts->qemu_binary);
    qemu_cmd_add(&cmd, "-name");
    qemu_cmd_addf(&cmd, "guest=%s,debug-threads=on", name);
    qemu_cmd_add(&cmd, "-uuid");
    qemu_cmd_add(&cmd, def->uuid);
    add_machine(&cmd);
    add_cpu(&cmd);
    qemu_cmd_add(&cmd, "-m");
    qemu_cmd_addf(&cmd, "%" G_GUINT64_FORMAT "k", ferry_qemu_ram_kib(def));
    add_smp(&cmd);
    qemu_cmd_add(&cmd, "-nodefaults");
    qemu_cmd_add(&cmd, "-no-user-config");
    /* No window ever, graphics or not: -vnc and -spice serve the guest's
     * display without one (QEMU 7.2 keeps VNC working under -display
     * none), and a DISPLAY in ferryd's environment must not open one. */
    qemu_cmd_add(&cmd, "-display");
    qemu_cmd_add(&cmd, "none");
    qemu_cmd_add_graphics(&cmd);
    qemu_cmd_add(&cmd, "-msg");
    qemu_cmd_add(&cmd, "timestamp=on");
    qemu_cmd_add(&cmd, "-chardev");
    if (opts->monitor_fd > 2)
        qemu_cmd_addf(&cmd, "socket,id=monitor,fd=%d,server=on,wait=off", opts->monitor_fd);
    else
        qemu_cmd_addf(&cmd, "socket,id=monitor,path=%s,server=on,wait=off", monitor);
    qemu_cmd_add(&cmd, "-mon");
    qemu_cmd_add(&cmd, "chardev=monitor,mode=control");
    if (opts->pid_path) {
        qemu_cmd_add(&cmd, "-pidfile");
        qemu_cmd_add(&cmd, opts->pid_path);
    }
    add_rtc(&cmd);
    add_boot(&cmd);
    add_actions(&cmd);

    add_firmware(&cmd);
    if (def->kernel) {
        qemu_cmd_add(&cmd, "-kernel");
        qemu_cmd_add(&cmd, def->kernel);
    }
    if (def->initrd) {
        qemu_cmd_add(&cmd, "-initrd");
        qemu_cmd_add(&cmd, def->initrd);
    }
    if (def->cmdline) {
        qemu_cmd_add(&cmd, "-append");
        qemu_cmd_add(&cmd, def->cmdline);
    }
    if (def->dtb) {
        qemu_cmd_add(&cmd, "-dtb");
        qemu_cmd_add(&cmd, def->dtb);
    }

    qemu_cmd_add_devices(&cmd);

    if (opts->incoming_defer) {
        qemu_cmd_add(&cmd, "-incoming");
        qemu_cmd_add(&cmd, "defer");
    }
    qemu_cmd_add(&cmd, "-S");

    g_ptr_array_add(cmd.argv, NULL);
    return (GStrv)g_ptr_array_free(cmd.argv, FALSE);
}

/* ------------------------------------------------------------------ */
/* What the builder cannot express */

gboolean
qemu_refuse(GError **error, const ferry_domain_def *def, const char *format, ...)
{
    g_autofree char *what = NULL;
    va_list ap;

    va_start(ap, format);
    what = g_strdup_vprintf(format, ap);
    va_end(ap);
    g_set_error(error, FERRY_ERROR, FERRY_ERROR_INVALID_ARG, "domain '%s': %s", def->name, what);
    return FALSE;
}

static gboolean
check_domain(const ferry_domain_def *def, GError **error)
{
    static const char *const cpu_modes[] = { "custom", "host-model", "host-passthrough",
                                             "maximum", NULL };
    static const char *const policies[] = { "require", "force", "optional", "disable",
                                            "forbid", NULL };
    guint topology = MAX(def->cpu_sockets, 1) * MAX(def->cpu_dies, 1) *
                     MAX(def->cpu_cores, 1) * MAX(def->cpu_threads, 1);

    if (def->cpu_mode && !g_strv_contains(cpu_modes, def->cpu_mode))
        return qemu_refuse(error, def, "cpu mode '%s' is not supported (expected custom, "
                      "host-model, host-passthrough or maximum)", def->cpu_mode);
    for (guint i = 0; i < QEMU_CMD_LEN(def->cpu_features); i++) {
        const ferry_named_value *f = g_ptr_array_index(def->cpu_features, i);

        if (!f->name || (f->value && !g_strv_contains(policies, f->value)))
            return qemu_refuse(error, def, "cpu feature '%s': policy '%s' is not supported "
                          "(expected require, force, optional, disable or forbid)",
                          f->name ? f->name : "", f->value);
    }
    /* QEMU splits -cpu at every ',' (no ",," escape there). */
    if (def->cpu_model && strchr(def->cpu_model, ','))
        return qemu_refuse(error, def, "cpu model '%s' contains ','", def->cpu_model);
    for (guint i = 0; i < QEMU_CMD_LEN(def->cpu_features); i++) {
        const ferry_named_value *f = g_ptr_array_index(def->cpu_features, i);

        if (strchr(f->name, ',') || strchr(f->name, '='))
            return qemu_refuse(error, def, "cpu feature '%s' contains ',' or '='", f->name);
    }
    for (guint i = 0; i < QEMU_CMD_LEN(def->hyperv); i++) {
        const ferry_named_value *hv = g_ptr_array_index(def->hyperv, i);

        if ((hv->name && strpbrk(hv->name, ",=")) || (hv->extra && strchr(hv->extra, ',')))
            return qemu_refuse(error, def, "hyperv '%s': '%s' contains ','",
                          hv->name ? hv->name : "", hv->extra ? hv->extra : hv->name);
    }
    if ((def->cpu_sockets || def->cpu_dies || def->cpu_cores || def->cpu_threads) &&
        topology != def->vcpus)
        return qemu_refuse(error, def, "cpu topology %u sockets x %u dies x %u cores x %u threads "
                      "makes %u vCPUs, but vcpu is %u", MAX(def->cpu_sockets, 1),
                      MAX(def->cpu_dies, 1), MAX(def->cpu_cores, 1),
                      MAX(def->cpu_threads, 1), topology, def->vcpus);
    if (def->vcpus_current > def->vcpus)
        return qemu_refuse(error, def, "vcpu current='%u' is more than the %u vCPUs",
                      def->vcpus_current, def->vcpus);
    if (def->loader_type && strcmp(def->loader_type, "pflash") != 0 &&
        strcmp(def->loader_type, "rom") != 0)
        return qemu_refuse(error, def, "os loader type '%s' is not supported (expected pflash "
                      "or rom)", def->loader_type);
    if (def->clock_offset && strcmp(def->clock_offset, "utc") != 0 &&
        strcmp(def->clock_offset, "localtime") != 0)
        return qemu_refuse(error, def, "clock offset '%s' is not supported (expected utc or "
                      "localtime)", def->clock_offset);
    for (guint i = 0; def->boot_devs && def->boot_devs[i]; i++) {
        if (!boot_letter(def->boot_devs[i]))
            return qemu_refuse(error, def, "os boot dev '%s' is not supported (expected hd, "
                          "cdrom, fd or network)", def->boot_devs[i]);
    }
    return TRUE;
}

gboolean
ferry_qemu_command_check(const ferry_domain_def *def, const ferry_qemu_command_opts *opts,
                         GError **error)
{
    return check_domain(def, error) && qemu_check_devices(def, opts, def_is_q35(def), error);
}

/* ------------------------------------------------------------------ */
/* Reading a command line back */

/* The parts of an option value "a,k=v,k2=v2", a doubled comma being a
 * literal one (qemu_escape_opt()). */
static GStrv
split_opt(const char *value)
{
    GPtrArray *parts = g_ptr_array_new();
    GString *cur = g_string_new(NULL);

    for (const char *p = value; *p; p++) {
        if (*p == ',' && p[1] == ',') {
            g_string_append_c(cur, ',');
            p++;
        } else if (*p == ',') {
            g_ptr_array_add(parts, g_string_free(g_steal_pointer(&cur), FALSE));
            cur = g_string_new(NULL);
        } else {
            g_string_append_c(cur, *p);
        }
    }
    g_ptr_array_add(parts, g_string_free(cur, FALSE));
    g_ptr_array_add(parts, NULL);
    return (GStrv)g_ptr_array_free(parts, FALSE);
}

/* One option's value being read: every part must be read, or the option
 * says something the definition would lose. */
typedef struct {
    const char *option;         /* "-device" */
    const char *value;          /* as on the command line, for errors */
    GStrv parts;
    GPtrArray *unread;          /* (char *) parts no one asked for yet */
} opt_value;

static void
opt_value_init(opt_value *ov, const char *option, const char *value)
{
    ov->option = option;
    ov->value = value;
    ov->parts = split_opt(value);
    ov->unread = g_ptr_array_new();
    for (guint i = 0; ov->parts[i]; i++)
        g_ptr_array_add(ov->unread, ov->parts[i]);
}

static void
opt_value_clear(opt_value *ov)
{
    g_strfreev(ov->parts);
    g_ptr_array_unref(ov->unread);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(opt_value, opt_value_clear)

/* The value of KEY=VALUE; with @key NULL, the first part when it has no
 * '=' (QEMU's implied key, as the machine type in "pc,accel=tcg").  Marks
 * the part read. */
static const char *
opt_get(opt_value *ov, const char *key)
{
    gsize len = key ? strlen(key) : 0;

    if (!key) {
        if (!ov->parts[0] || strchr(ov->parts[0], '='))
            return NULL;
        g_ptr_array_remove(ov->unread, ov->parts[0]);
        return ov->parts[0];
    }
    for (guint i = 0; ov->parts[i]; i++) {
        if (strncmp(ov->parts[i], key, len) == 0 && ov->parts[i][len] == '=') {
            g_ptr_array_remove(ov->unread, ov->parts[i]);
            return ov->parts[i] + len + 1;
        }
    }
    return NULL;
}

/* Reads KEY and checks it has one of @allowed (NULL-terminated). */
static gboolean
opt_expect(opt_value *ov, const char *key, const char *const *allowed, GError **error)
{
    const char *v = opt_get(ov, key);

    if (v && g_strv_contains(allowed, v))
        return TRUE;
    g_set_error(error, FERRY_ERROR, FERRY_ERROR_INTERNAL,
                "%s '%s': %s%s%s is not what ferry writes, so it is not read back",
                ov->option, ov->value, key ? key : "the type", v ? " " : " is missing and",
                v ? v : "");
    return FALSE;
}

/* Refuses the option if some part was not read. */
static gboolean
opt_all_read(opt_value *ov, GError **error)
{
    if (ov->unread->len == 0)
        return TRUE;
    g_set_error(error, FERRY_ERROR, FERRY_ERROR_INTERNAL,
                "%s '%s': '%s' cannot be read back into a definition", ov->option, ov->value,
                (const char *)g_ptr_array_index(ov->unread, 0));
    return FALSE;
}

static const char *const on_off[] = { "on", "off", NULL };

/* What the -blockdev nodes of a command line say about one disk. */
typedef struct {
    char *source;               /* the file node's filename */
    gboolean readonly;
    int format;                 /* the format node's driver; -1 until seen */
} argv_disk;

static void
argv_disk_free(argv_disk *d)
{
    g_free(d->source);
    g_free(d);
}

/* The state of one reading. */
typedef struct {
    ferry_domain_def *def;
    GHashTable *disks;          /* target -> argv_disk* */
    gboolean q35;
    guint32 slots_used;         /* bus 0 slots taken, for devices without addr= */
} argv_reader;

static argv_disk *
argv_disk_get(GHashTable *disks, const char *target)
{
    argv_disk *d = g_hash_table_lookup(disks, target);

    if (!d) {
        d = g_new0(argv_disk, 1);
        d->format = -1;
        g_hash_table_insert(disks, g_strdup(target), d);
    }
    return d;
}

/* -blockdev: "drive-T-file" is the image file, "drive-T" its format. */
static gboolean
read_blockdev(argv_reader *r, opt_value *ov, GError **error)
{
    static const char *const unmap[] = { "unmap", NULL };
    static const char *const file_driver[] = { "file", NULL };
    const char *node = opt_get(ov, "node-name");
    g_autofree char *target = NULL;
    const char *read_only;
    argv_disk *d;

    if (!node || !g_str_has_prefix(node, "drive-")) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_INTERNAL,
                    "-blockdev '%s': node '%s' is not a disk's, so it is not read back",
                    ov->value, node ? node : "(unnamed)");
        return FALSE;
    }
    target = g_strdup(node + strlen("drive-"));
    read_only = opt_get(ov, "read-only");
    if (!opt_expect(ov, "discard", unmap, error))
        return FALSE;
    if (g_str_has_suffix(target, "-file")) {
        target[strlen(target) - strlen("-file")] = '\0';
        if (!opt_expect(ov, "driver", file_driver, error))
            return FALSE;
        d = argv_disk_get(r->disks, target);
        g_free(d->source);
        d->source = g_strdup(opt_get(ov, "filename"));
        d->readonly = g_strcmp0(read_only, "on") == 0;
    } else {
        g_autofree char *file = g_strdup_printf("drive-%s-file", target);
        const char *const files[] = { file, NULL };

        if (!opt_expect(ov, "file", files, error))
            return FALSE;
        d = argv_disk_get(r->disks, target);
        d->format = ferry_disk_format_from_string(opt_get(ov, "driver"));
        if (d->format < 0) {
            g_set_error(error, FERRY_ERROR, FERRY_ERROR_INTERNAL,
                        "-blockdev '%s': format is not raw or qcow2", ov->value);
            return FALSE;
        }
    }
    return opt_all_read(ov, error);
}

/* "0x3" or "0x1.0x2" into a PCI address on bus 0. */
static gboolean
read_pci_addr(argv_reader *r, opt_value *ov, ferry_device_address *addr, GError **error)
{
    const char *bus = opt_get(ov, "bus");
    const char *text = opt_get(ov, "addr");
    guint64 slot = 0;
    guint64 function = 0;
    char *end = NULL;

    if (!bus && !text) {
        /* Written before addresses were assigned: QEMU gave the device
         * the first free slot of bus 0 (pc: after the host bridge and
         * PIIX3 in 0 and 1; q35: after the host bridge in 0).  The
         * definition gets that slot, where the guest has it. */
        for (slot = r->q35 ? 1 : 2; slot < 32 && (r->slots_used & (1u << slot)); slot++)
            ;
    } else {
        if (g_strcmp0(bus, r->q35 ? "pcie.0" : "pci.0") != 0 || !text ||
            !g_str_has_prefix(text, "0x")) {
            g_set_error(error, FERRY_ERROR, FERRY_ERROR_INTERNAL,
                        "%s '%s': only an addr=0xSS on bus %s is read back", ov->option,
                        ov->value, r->q35 ? "pcie.0" : "pci.0");
            return FALSE;
        }
        slot = g_ascii_strtoull(text + 2, &end, 16);
        if (*end == '.' && g_str_has_prefix(end + 1, "0x"))
            function = g_ascii_strtoull(end + 3, &end, 16);
        if (*end || slot >= 32 || function >= 8) {
            g_set_error(error, FERRY_ERROR, FERRY_ERROR_INTERNAL,
                        "%s '%s': addr '%s' is not a PCI slot", ov->option, ov->value, text);
            return FALSE;
        }
    }
    if (slot >= 32) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_INTERNAL,
                    "%s '%s': no free PCI slot is left for it", ov->option, ov->value);
        return FALSE;
    }
    r->slots_used |= 1u << slot;
    addr->type = FERRY_ADDRESS_PCI;
    addr->slot = (guint)slot;
    addr->function = (guint)function;
    return TRUE;
}

/* "ide.B" and unit U into a drive address: pc's two IDE channels of two
 * units, or on q35 the six one-unit AHCI ports QEMU names ide.0..5. */
static gboolean
read_ide_addr(argv_reader *r, opt_value *ov, ferry_device_address *addr, GError **error)
{
    const char *bus = opt_get(ov, "bus");
    const char *unit = opt_get(ov, "unit");
    char max_bus = r->q35 ? '5' : '1';
    char max_unit = r->q35 ? '0' : '1';

    if (!bus || !unit || !g_str_has_prefix(bus, "ide.") || strlen(bus) != 5 ||
        bus[4] < '0' || bus[4] > max_bus || strlen(unit) != 1 || unit[0] < '0' ||
        unit[0] > max_unit) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_INTERNAL,
                    "-device '%s': only bus=ide.0 to ide.%c, unit=0%s is read back", ov->value,
                    max_bus, r->q35 ? "" : "|1");
        return FALSE;
    }
    addr->type = FERRY_ADDRESS_DRIVE;
    addr->bus = (guint)(bus[4] - '0');
    addr->unit = (guint)(unit[0] - '0');
    return TRUE;
}

/* -device: a disk's front end, in the definition's order. */
static gboolean
read_disk_device(argv_reader *r, opt_value *ov, const char *model, GError **error)
{
    const char *drive = opt_get(ov, "drive");
    const char *id = opt_get(ov, "id");
    g_autofree ferry_disk_def *disk = NULL;
    argv_disk *d;

    if (!drive || !g_str_has_prefix(drive, "drive-") || g_strcmp0(id, drive + 6) != 0) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_INTERNAL,
                    "-device '%s': a disk is read back only as drive=drive-T,id=T", ov->value);
        return FALSE;
    }
    d = g_hash_table_lookup(r->disks, id);
    if (!d || !d->source || d->format < 0) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_INTERNAL,
                    "disk '%s' has no -blockdev nodes before its -device", drive);
        return FALSE;
    }
    disk = g_new0(ferry_disk_def, 1);
    if (strcmp(model, "ide-hd") == 0) {
        disk->bus = FERRY_DISK_BUS_IDE;
        if (!read_ide_addr(r, ov, &disk->address, error))
            return FALSE;
    } else {
        disk->bus = FERRY_DISK_BUS_VIRTIO;
        if (!read_pci_addr(r, ov, &disk->address, error))
            return FALSE;
    }
    if (!opt_all_read(ov, error))
        return FALSE;
    disk->target = g_strdup(id);
    disk->source = g_strdup(d->source);
    disk->format = d->format;
    disk->readonly = d->readonly;
    g_ptr_array_add(r->def->disks, g_steal_pointer(&disk));
    return TRUE;
}

static gboolean
read_device(argv_reader *r, opt_value *ov, GError **error)
{
    static const char *const serial0[] = { "serial0", NULL };
    const char *model = opt_get(ov, NULL);

    if (g_strcmp0(model, "virtio-blk-pci") == 0 || g_strcmp0(model, "ide-hd") == 0)
        return read_disk_device(r, ov, model, error);
    if (g_strcmp0(model, "isa-serial") == 0) {
        if (!opt_expect(ov, "chardev", serial0, error) || !opt_expect(ov, "id", serial0, error))
            return FALSE;
        return opt_all_read(ov, error);
    }
    g_set_error(error, FERRY_ERROR, FERRY_ERROR_INTERNAL,
                "-device '%s': ferry cannot read this device back into a definition, so a "
                "QEMU running it is not adopted", ov->value);
    return FALSE;
}

static gboolean
read_chardev(argv_reader *r, opt_value *ov, GError **error)
{
    static const char *const on[] = { "on", NULL };
    static const char *const off[] = { "off", NULL };
    const char *backend = opt_get(ov, NULL);
    const char *id = opt_get(ov, "id");

    if (g_strcmp0(backend, "socket") == 0 && g_strcmp0(id, "monitor") == 0) {
        /* The monitor: the next ferryd's, not the definition's. */
        if (!opt_get(ov, "fd"))
            opt_get(ov, "path");
        if (!opt_expect(ov, "server", on, error) || !opt_expect(ov, "wait", off, error))
            return FALSE;
        return opt_all_read(ov, error);
    }
    if (g_strcmp0(backend, "file") == 0 && g_strcmp0(id, "serial0") == 0) {
        if (!opt_expect(ov, "append", on, error))
            return FALSE;
        g_free(r->def->serial_log);
        r->def->serial_log = g_strdup(opt_get(ov, "path"));
        return opt_all_read(ov, error);
    }
    g_set_error(error, FERRY_ERROR, FERRY_ERROR_INTERNAL,
                "-chardev '%s': only the monitor and a file serial port 0 are read back",
                ov->value);
    return FALSE;
}

/* One option and its value into the definition. */
static gboolean
read_option(argv_reader *r, const char *opt, const char *value, GError **error)
{
    static const char *const accels[] = { "tcg", "kvm", NULL };
    static const char *const none[] = { "none", NULL };
    static const char *const control[] = { "control", NULL };
    static const char *const monitor[] = { "monitor", NULL };
    static const char *const defer[] = { "defer", NULL };
    ferry_domain_def *def = r->def;
    g_auto(opt_value) ov = { 0 };

    opt_value_init(&ov, opt, value);
    if (strcmp(opt, "-name") == 0) {
        const char *threads;

        g_free(def->name);
        def->name = g_strdup(opt_get(&ov, "guest"));
        /* Thread names are no part of the definition. */
        threads = opt_get(&ov, "debug-threads");
        if (threads && !g_strv_contains(on_off, threads)) {
            g_set_error(error, FERRY_ERROR, FERRY_ERROR_INTERNAL,
                        "-name '%s': debug-threads is not on or off", value);
            return FALSE;
        }
    } else if (strcmp(opt, "-uuid") == 0) {
        g_free(def->uuid);
        def->uuid = g_ascii_strdown(value, -1);
        return TRUE;
    } else if (strcmp(opt, "-machine") == 0) {
        const char *accel;

        g_free(def->machine);
        def->machine = g_strdup(opt_get(&ov, NULL));
        accel = opt_get(&ov, "accel");
        if (accel && !g_strv_contains(accels, accel)) {
            g_set_error(error, FERRY_ERROR, FERRY_ERROR_INTERNAL,
                        "-machine '%s': accel is not tcg or kvm", value);
            return FALSE;
        }
        g_free(def->type);
        def->type = g_strdup(g_strcmp0(accel, "kvm") == 0 ? "kvm" : "qemu");
        r->q35 = def_is_q35(def);
    } else if (strcmp(opt, "-m") == 0) {
        char *end = NULL;

        /* The builder writes KiB as "<n>k". */
        def->memory_kib = g_ascii_strtoull(value, &end, 10);
        if (g_strcmp0(end, "k") != 0)
            def->memory_kib = 0;
        return TRUE;
    } else if (strcmp(opt, "-smp") == 0) {
        char *end = NULL;

        def->vcpus = (guint)g_ascii_strtoull(value, &end, 10);
        if (*end) {
            g_set_error(error, FERRY_ERROR, FERRY_ERROR_INTERNAL,
                        "-smp '%s': only a number of vCPUs is read back", value);
            return FALSE;
        }
        return TRUE;
    } else if (strcmp(opt, "-display") == 0) {
        if (!opt_expect(&ov, NULL, none, error))
            return FALSE;
    } else if (strcmp(opt, "-msg") == 0) {
        if (!opt_expect(&ov, "timestamp", on_off, error))
            return FALSE;
    } else if (strcmp(opt, "-mon") == 0) {
        if (!opt_expect(&ov, "chardev", monitor, error) ||
            !opt_expect(&ov, "mode", control, error))
            return FALSE;
    } else if (strcmp(opt, "-incoming") == 0) {
        if (!opt_expect(&ov, NULL, defer, error))
            return FALSE;
    } else if (strcmp(opt, "-pidfile") == 0) {
        return TRUE;
    } else if (strcmp(opt, "-kernel") == 0) {
        g_free(def->kernel);
        def->kernel = g_strdup(value);
        return TRUE;
    } else if (strcmp(opt, "-initrd") == 0) {
        g_free(def->initrd);
        def->initrd = g_strdup(value);
        return TRUE;
    } else if (strcmp(opt, "-append") == 0) {
        g_free(def->cmdline);
        def->cmdline = g_strdup(value);
        return TRUE;
    } else if (strcmp(opt, "-blockdev") == 0) {
        return read_blockdev(r, &ov, error);
    } else if (strcmp(opt, "-device") == 0) {
        return read_device(r, &ov, error);
    } else if (strcmp(opt, "-chardev") == 0) {
        return read_chardev(r, &ov, error);
    } else {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_INTERNAL,
                    "%s '%s': ferry cannot read this option back into a definition, so a "
                    "QEMU running with it is not adopted", opt, value);
        return FALSE;
    }
    return opt_all_read(&ov, error);
}

/* Options the builder adds without a value. */
static gboolean
is_flag(const char *opt)
{
    static const char *const flags[] = { "-nodefaults", "-no-user-config", "-S", NULL };

    return g_strv_contains(flags, opt);
}

ferry_domain_def *
ferry_qemu_def_from_argv(const char *const *argv, GError **error)
{
    g_autoptr(ferry_domain_def) def = ferry_domain_def_new();
    g_autoptr(GHashTable) disks = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
                                                        (GDestroyNotify)argv_disk_free);
    argv_reader r = { .def = def, .disks = disks, .slots_used = 0 };
    g_autoptr(GError) local = NULL;
    g_autofree char *xml = NULL;
    ferry_domain_def *checked;

    for (guint i = argv[0] ? 1 : 0; argv[i]; i++) {
        if (is_flag(argv[i]))
            continue;
        if (argv[i][0] != '-' || !argv[i + 1]) {
            g_set_error(error, FERRY_ERROR, FERRY_ERROR_INTERNAL,
                        "the command line has '%s' where ferry writes an option and its "
                        "value", argv[i]);
            return NULL;
        }
        if (!read_option(&r, argv[i], argv[i + 1], error))
            return NULL;
        i++;
    }
    if (!def->name || !def->uuid || !def->machine || !def->memory_kib || !def->vcpus) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_INTERNAL,
                    "the command line lacks %s", !def->name ? "-name guest=NAME"
                    : !def->uuid ? "-uuid" : !def->machine ? "-machine"
                    : !def->memory_kib ? "-m SIZEk" : "-smp");
        return NULL;
    }
    def->memory_kib = memory_kib_from_ram(def->type, def->memory_kib);
    def->os_type = g_strdup("hvm");
    def->arch = g_strdup("x86_64");
    /* Through the parser: every rule a definition obeys is checked once. */
    xml = ferry_domain_def_format(def);
    checked = ferry_domain_def_parse_string(xml, "QEMU's command line", 0, &local);
    if (!checked)
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_INTERNAL,
                    "the command line does not make a valid definition: %s", local->message);
    return checked;
}
