/*
 * test-qemu-command.c: the QEMU command line of a domain, from golden files.
 *
 * Every tests/data/qemu-argv/<case>.xml is parsed and turned into argv,
 * one argument per line, compared with <case>.args.  A case whose name
 * starts with "incoming-" is built as a migration destination (-incoming
 * defer).  All cases get the monitor socket as an inherited descriptor, as
 * ferryd gives it; the path form is checked apart.  FERRY_TEST_REGENERATE=1
 * rewrites the .args files (see tests/conf/golden.h).
 *
 * The other direction too: the argv of each case of what ferry wrote
 * before devices were modelled, read back (ferry_qemu_def_from_argv()), is
 * its definition but the description, and builds the same argv again;
 * every other case is refused, naming an option.
 *
 * Definitions assembled in C ("c-" cases, tests/data/qemu-argv/c-*.args)
 * give every device field directly, whatever the parser accepts; they and
 * ferry_qemu_command_check()'s refusals are tested here too.  Each .args
 * was also started with the real QEMU (tests/data/qemu-argv/check-qemu.py:
 * devices at the slots, buses and units the XML says).
 */
#include "ferry-config.h"

#include <ferry/ferry.h>
#include <string.h>

#include "conf/domain-conf.h"
#include "qemu/qemu-command.h"
#include "../conf/golden.h"

#define MONITOR "/var/lib/ferry/qemu/run/monitor.sock"

static char *
argv_text(const char *xml_path, const ferry_qemu_command_opts *opts)
{
    g_autofree char *xml = golden_read(xml_path);
    g_autoptr(GError) error = NULL;
    g_autoptr(ferry_domain_def) def =
        ferry_domain_def_parse_string(xml, xml_path, FERRY_DOMAIN_DEF_PARSE_NO_UUID, &error);
    g_auto(GStrv) argv = NULL;
    g_autofree char *joined = NULL;

    g_assert_no_error(error);
    g_assert_nonnull(def->uuid);    /* a case names its uuid: stable output */
    argv = ferry_qemu_build_argv(def, opts);
    joined = g_strjoinv("\n", argv);
    return g_strconcat(joined, "\n", NULL);
}

/* How every case is built: as ferryd builds it, a destination for the
 * "incoming-" cases. */
static ferry_qemu_command_opts
case_opts(const char *name)
{
    ferry_qemu_command_opts opts = {
        .qemu_binary = "qemu-system-x86_64",
        .monitor_path = MONITOR,
        .monitor_fd = 3,
        .pid_path = "/var/lib/ferry/qemu/run/domain.pid",
        .channel_dir = "/var/lib/ferry/qemu/channel/domain",
        .incoming_defer = g_str_has_prefix(name, "incoming-"),
    };

    return opts;
}

static void
run_case(gconstpointer data)
{
    const char *name = data;
    g_autofree char *dir = golden_data_dir("qemu-argv");
    g_autofree char *xml = g_strconcat(dir, "/", name, ".xml", NULL);
    g_autofree char *args = g_strconcat(dir, "/", name, ".args", NULL);
    ferry_qemu_command_opts opts = case_opts(name);
    g_autofree char *text = argv_text(xml, &opts);

    golden_check(args, text);
}

static void
run_back_case(gconstpointer data)
{
    const char *name = data;
    g_autofree char *dir = golden_data_dir("qemu-argv");
    g_autofree char *path = g_strconcat(dir, "/", name, ".xml", NULL);
    g_autofree char *xml = golden_read(path);
    g_autoptr(GError) error = NULL;
    g_autoptr(ferry_domain_def) def =
        ferry_domain_def_parse_string(xml, path, FERRY_DOMAIN_DEF_PARSE_NO_UUID, &error);
    ferry_qemu_command_opts opts = case_opts(name);
    g_auto(GStrv) argv = NULL;
    g_auto(GStrv) again = NULL;
    g_autoptr(ferry_domain_def) back = NULL;
    g_autofree char *want = NULL;
    g_autofree char *got = NULL;

    g_assert_no_error(error);
    argv = ferry_qemu_build_argv(def, &opts);
    back = ferry_qemu_def_from_argv((const char *const *)argv, &error);
    g_assert_no_error(error);
    g_clear_pointer(&def->description, g_free);
    want = ferry_domain_def_format(def);
    got = ferry_domain_def_format(back);
    g_assert_cmpstr(got, ==, want);
    again = ferry_qemu_build_argv(back, &opts);
    g_assert_true(g_strv_equal((const char *const *)again, (const char *const *)argv));
}

/* The cases whose command line is all ferry_qemu_def_from_argv() reads:
 * what ferry wrote before devices were modelled. */
static const char *const readable_cases[] = { "full", "incoming-ide-disk", "kvm-commas", NULL };

/* Every other case has a device or option that cannot be read back: it is
 * refused, naming the option and its value, never dropped. */
static void
run_back_refused_case(gconstpointer data)
{
    const char *name = data;
    g_autofree char *dir = golden_data_dir("qemu-argv");
    g_autofree char *path = g_strconcat(dir, "/", name, ".xml", NULL);
    g_autofree char *xml = golden_read(path);
    g_autoptr(GError) error = NULL;
    g_autoptr(ferry_domain_def) def =
        ferry_domain_def_parse_string(xml, path, FERRY_DOMAIN_DEF_PARSE_NO_UUID, &error);
    ferry_qemu_command_opts opts = case_opts(name);
    g_auto(GStrv) argv = NULL;
    g_autoptr(ferry_domain_def) back = NULL;

    g_assert_no_error(error);
    argv = ferry_qemu_build_argv(def, &opts);
    back = ferry_qemu_def_from_argv((const char *const *)argv, &error);
    g_assert_null(back);
    g_assert_error(error, FERRY_ERROR, FERRY_ERROR_INTERNAL);
    g_assert_true(error->message[0] == '-');
    g_assert_nonnull(strstr(error->message, " '"));
}

/* A QEMU started before addresses were assigned (no addr= on its disks)
 * is read back with the slots QEMU gave them, in command-line order: pc
 * from slot 2 (after the host bridge and the PIIX3), q35 from slot 1.
 * Checked with the real QEMU 7.2 (check-qemu.py on these command lines). */
static void
test_back_implied_slots(void)
{
    static const char *const pc[] = {
        "qemu", "-name", "guest=old,debug-threads=on", "-uuid",
        "4f9a2c1e-0b7d-4c3a-9e51-8d2f6a7b3c10", "-machine", "pc,accel=tcg", "-m", "262152k",
        "-smp", "2", "-nodefaults", "-display", "none",
        "-blockdev", "driver=file,filename=/i/a.img,node-name=drive-vdb-file,read-only=off,"
                     "discard=unmap",
        "-blockdev", "driver=raw,file=drive-vdb-file,node-name=drive-vdb,read-only=off,"
                     "discard=unmap",
        "-device", "virtio-blk-pci,drive=drive-vdb,id=vdb",
        "-blockdev", "driver=file,filename=/i/b.img,node-name=drive-vda-file,read-only=off,"
                     "discard=unmap",
        "-blockdev", "driver=raw,file=drive-vda-file,node-name=drive-vda,read-only=off,"
                     "discard=unmap",
        "-device", "virtio-blk-pci,drive=drive-vda,id=vda",
        "-chardev", "file,id=serial0,path=/l/old.log,append=on",
        "-device", "isa-serial,chardev=serial0,id=serial0", "-S", NULL,
    };
    g_autoptr(GPtrArray) q35 = g_ptr_array_new();
    g_autoptr(GError) error = NULL;

    for (gsize i = 0; i < G_N_ELEMENTS(pc); i++)
        g_ptr_array_add(q35, (gpointer)(pc[i] && strcmp(pc[i], "pc,accel=tcg") == 0
                                        ? "q35,accel=tcg" : pc[i]));
    for (int machine = 0; machine < 2; machine++) {
        const char *const *argv = machine ? (const char *const *)q35->pdata : pc;
        g_autoptr(ferry_domain_def) back = ferry_qemu_def_from_argv(argv, &error);
        ferry_disk_def *vda;
        ferry_disk_def *vdb;

        g_assert_no_error(error);
        vdb = ferry_domain_def_find_disk(back, "vdb");
        vda = ferry_domain_def_find_disk(back, "vda");
        g_assert_cmpint(vdb->address.type, ==, FERRY_ADDRESS_PCI);
        g_assert_cmpuint(vdb->address.slot, ==, machine ? 1 : 2);
        g_assert_cmpint(vda->address.type, ==, FERRY_ADDRESS_PCI);
        g_assert_cmpuint(vda->address.slot, ==, machine ? 2 : 3);
        g_assert_cmpstr(back->serial_log, ==, "/l/old.log");
    }
}

/* What is not a command line of ferry's is refused, saying what lacks. */
static void
test_back_refused(void)
{
    static const char *const no_uuid[] = { "qemu", "-name", "guest=a", "-machine", "pc",
                                           "-m", "1024k", "-smp", "1", NULL };
    static const char *const bad_name[] = { "qemu", "-name", "guest=-a", "-uuid",
                                            "4f9a2c1e-0b7d-4c3a-9e51-8d2f6a7b3c10",
                                            "-machine", "pc", "-m", "1024k", "-smp", "1",
                                            NULL };
    g_autoptr(GError) error = NULL;

    g_assert_null(ferry_qemu_def_from_argv(no_uuid, &error));
    g_assert_error(error, FERRY_ERROR, FERRY_ERROR_INTERNAL);
    g_assert_cmpstr(error->message, ==, "the command line lacks -uuid");
    g_clear_error(&error);
    g_assert_null(ferry_qemu_def_from_argv(bad_name, &error));
    g_assert_error(error, FERRY_ERROR, FERRY_ERROR_INTERNAL);
    g_assert_true(g_str_has_prefix(error->message,
                                   "the command line does not make a valid definition: "));
}

/* Without an inherited descriptor QEMU binds the path itself; with one, the
 * path is not on the command line (QEMU must not bind it a second time). */
static void
test_monitor_forms(void)
{
    g_autofree char *dir = golden_data_dir("qemu-argv");
    g_autofree char *xml = g_strconcat(dir, "/full.xml", NULL);
    ferry_qemu_command_opts opts = { .qemu_binary = "qemu-system-x86_64",
                                     .monitor_path = MONITOR };
    g_autofree char *by_path = argv_text(xml, &opts);
    g_autofree char *by_fd = NULL;

    g_assert_nonnull(strstr(by_path, "socket,id=monitor,path=" MONITOR ",server=on,wait=off\n"));
    opts.monitor_fd = 7;
    by_fd = argv_text(xml, &opts);
    g_assert_nonnull(strstr(by_fd, "socket,id=monitor,fd=7,server=on,wait=off\n"));
    g_assert_null(strstr(by_fd, MONITOR));
}

/* ------------------------------------------------------------------ */
/* Definitions assembled in C: every device kind, before the parser reads
 * them.  The test owns every allocation (ferry_domain_def_free() frees
 * only what the parser fills in). */

typedef struct {
    ferry_domain_def def;
    GPtrArray *pool;            /* g_free()d */
    GPtrArray *arrays;          /* the def's arrays, unref'd */
} c_def;

static void
c_def_free(c_def *c)
{
    g_ptr_array_unref(c->arrays);
    g_ptr_array_unref(c->pool);
    g_free(c);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC(c_def, c_def_free)

static char *
cs(c_def *c, const char *s)
{
    char *copy = g_strdup(s);

    if (copy)
        g_ptr_array_add(c->pool, copy);
    return copy;
}

static gpointer
calloc_(c_def *c, gsize size)
{
    gpointer p = g_malloc0(size);

    g_ptr_array_add(c->pool, p);
    return p;
}

static GPtrArray *
carray(c_def *c)
{
    GPtrArray *a = g_ptr_array_new();

    g_ptr_array_add(c->arrays, a);
    return a;
}

static c_def *
c_def_new(const char *name, const char *type, const char *machine, guint64 memory_kib,
          guint vcpus)
{
    c_def *c = g_new0(c_def, 1);
    ferry_domain_def *def = &c->def;

    c->pool = g_ptr_array_new_with_free_func(g_free);
    c->arrays = g_ptr_array_new_with_free_func((GDestroyNotify)g_ptr_array_unref);
    def->type = cs(c, type);
    def->name = cs(c, name);
    def->uuid = cs(c, "5b1f3c2a-9d4e-4f6a-8b7c-1d2e3f4a5b6c");
    def->memory_kib = memory_kib;
    def->vcpus = vcpus;
    def->os_type = cs(c, "hvm");
    def->arch = cs(c, "x86_64");
    def->machine = cs(c, machine);
    def->bootmenu = -1;
    def->cpu_features = carray(c);
    def->hyperv = carray(c);
    def->timers = carray(c);
    def->disks = carray(c);
    def->controllers = carray(c);
    def->nets = carray(c);
    def->chardevs = carray(c);
    def->graphics = carray(c);
    def->videos = carray(c);
    def->inputs = carray(c);
    def->rngs = carray(c);
    def->seclabels = carray(c);
    return c;
}

static void
pci(ferry_device_address *addr, guint slot, guint function)
{
    addr->type = FERRY_ADDRESS_PCI;
    addr->slot = slot;
    addr->function = function;
}

static void
drive(ferry_device_address *addr, guint controller, guint bus, guint target, guint unit)
{
    addr->type = FERRY_ADDRESS_DRIVE;
    addr->controller = controller;
    addr->bus = bus;
    addr->target = target;
    addr->unit = unit;
}

static ferry_disk_def *
c_disk(c_def *c, const char *target, ferry_disk_bus bus, ferry_disk_type type,
       ferry_disk_device device, const char *source, ferry_disk_format format)
{
    ferry_disk_def *disk = calloc_(c, sizeof(*disk));

    disk->target = cs(c, target);
    disk->bus = bus;
    disk->type = type;
    disk->device = device;
    disk->source = cs(c, source);
    disk->format = format;
    g_ptr_array_add(c->def.disks, disk);
    return disk;
}

static ferry_controller_def *
c_controller(c_def *c, const char *type, guint index, const char *model)
{
    ferry_controller_def *ctrl = calloc_(c, sizeof(*ctrl));

    ctrl->type = cs(c, type);
    ctrl->index = index;
    ctrl->model = cs(c, model);
    g_ptr_array_add(c->def.controllers, ctrl);
    return ctrl;
}

static ferry_net_def *
c_net(c_def *c, ferry_net_type type, const char *source, const char *model, const char *mac)
{
    ferry_net_def *net = calloc_(c, sizeof(*net));

    net->type = type;
    net->source = cs(c, source);
    net->model = cs(c, model);
    net->mac = cs(c, mac);
    g_ptr_array_add(c->def.nets, net);
    return net;
}

static ferry_chr_def *
c_chr(c_def *c, ferry_chr_device device, ferry_chr_type type, const char *path, guint port)
{
    ferry_chr_def *chr = calloc_(c, sizeof(*chr));

    chr->device = device;
    chr->source.type = type;
    chr->source.path = cs(c, path);
    chr->target_port = port;
    g_ptr_array_add(c->def.chardevs, chr);
    return chr;
}

static ferry_named_value *
c_named(c_def *c, GPtrArray *array, const char *name, const char *value, const char *extra)
{
    ferry_named_value *nv = calloc_(c, sizeof(*nv));

    nv->name = cs(c, name);
    nv->value = cs(c, value);
    nv->extra = cs(c, extra);
    g_ptr_array_add(array, nv);
    return nv;
}

static void
c_timer(c_def *c, const char *name, const char *tickpolicy, const char *present)
{
    ferry_timer_def *timer = calloc_(c, sizeof(*timer));

    timer->name = cs(c, name);
    timer->tickpolicy = cs(c, tickpolicy);
    timer->present = cs(c, present);
    g_ptr_array_add(c->def.timers, timer);
}

static ferry_video_def *
c_video(c_def *c, const char *model, guint vram, guint slot)
{
    ferry_video_def *video = calloc_(c, sizeof(*video));

    video->model = cs(c, model);
    video->vram = vram;
    pci(&video->address, slot, 0);
    g_ptr_array_add(c->def.videos, video);
    return video;
}

static ferry_input_def *
c_input(c_def *c, const char *type, const char *bus)
{
    ferry_input_def *input = calloc_(c, sizeof(*input));

    input->type = cs(c, type);
    input->bus = cs(c, bus);
    g_ptr_array_add(c->def.inputs, input);
    return input;
}

static ferry_graphics_def *
c_graphics(c_def *c, const char *type, int port, const char *listen, const char *passwd)
{
    ferry_graphics_def *g = calloc_(c, sizeof(*g));

    g->type = cs(c, type);
    g->autoport = port < 0;
    g->port = port;
    g->listen = cs(c, listen);
    g->passwd = cs(c, passwd);
    g_ptr_array_add(c->def.graphics, g);
    return g;
}

/*
 * pc: a disk on every bus (virtio with every driver option, an empty IDE
 * cdrom, SATA on a block device, SCSI over NBD, USB, a floppy), every
 * controller, three interfaces, four serial ports (file, pty, TCP server
 * and client) with a serial console, a virtio console and two channels,
 * VNC with a password, two videos, inputs, balloon, rng, watchdog; the
 * CPU, topology, clock, boot menu and lifecycle of the domain.
 */
static c_def *
case_pc_devices(void)
{
    c_def *c = c_def_new("pc-all", "qemu", "pc-i440fx-7.2", 524288, 4);
    ferry_domain_def *def = &c->def;
    ferry_disk_def *disk;
    ferry_controller_def *ctrl;
    ferry_net_def *net;
    ferry_chr_def *chr;
    ferry_video_def *video;
    ferry_input_def *input;
    ferry_graphics_def *g;

    def->vcpus_current = 2;
    def->cpu_mode = cs(c, "host-passthrough");
    def->cpu_sockets = 1;
    def->cpu_dies = 1;
    def->cpu_cores = 2;
    def->cpu_threads = 2;
    c_named(c, def->cpu_features, "vmx", "disable", NULL);
    def->has_features = TRUE;
    def->feature_acpi = TRUE;
    def->feature_apic = TRUE;
    /* Hyper-V under TCG: left out. */
    c_named(c, def->hyperv, "relaxed", "on", NULL);
    def->clock_offset = cs(c, "localtime");
    c_timer(c, "rtc", "catchup", NULL);
    c_timer(c, "pit", "delay", NULL);
    c_timer(c, "hpet", NULL, "no");
    def->bootmenu = 1;
    def->bootmenu_timeout = 3000;
    def->boot_devs = calloc_(c, 3 * sizeof(char *));
    def->boot_devs[0] = cs(c, "hd");
    def->boot_devs[1] = cs(c, "cdrom");
    def->on_poweroff = cs(c, "preserve");
    def->on_reboot = cs(c, "destroy");
    def->on_crash = cs(c, "destroy");
    def->vcpu_cpuset = cs(c, "0-1");
    def->current_memory_kib = 262144;
    def->emulator = cs(c, "/usr/bin/qemu-system-x86_64");

    c_controller(c, "pci", 0, "pci-root");
    c_controller(c, "ide", 0, NULL);
    ctrl = c_controller(c, "usb", 0, "piix3-uhci");
    pci(&ctrl->address, 1, 2);
    ctrl = c_controller(c, "sata", 0, NULL);
    pci(&ctrl->address, 5, 0);
    ctrl = c_controller(c, "scsi", 0, "virtio-scsi");
    pci(&ctrl->address, 6, 0);
    ctrl = c_controller(c, "virtio-serial", 0, NULL);
    ctrl->ports = 4;
    pci(&ctrl->address, 7, 0);

    disk = c_disk(c, "vda", FERRY_DISK_BUS_VIRTIO, FERRY_DISK_TYPE_FILE,
                  FERRY_DISK_DEVICE_DISK, "/var/lib/ferry/images/pc,all.qcow2",
                  FERRY_DISK_FORMAT_QCOW2);
    disk->cache = cs(c, "none");
    disk->io = cs(c, "native");
    disk->discard = cs(c, "ignore");
    disk->detect_zeroes = cs(c, "on");
    disk->serial = cs(c, "ROOT,1");
    disk->boot_order = 1;
    pci(&disk->address, 4, 0);
    disk = c_disk(c, "hdc", FERRY_DISK_BUS_IDE, FERRY_DISK_TYPE_FILE,
                  FERRY_DISK_DEVICE_CDROM, NULL, FERRY_DISK_FORMAT_RAW);
    drive(&disk->address, 0, 1, 0, 0);
    disk->boot_order = 2;
    disk = c_disk(c, "sda", FERRY_DISK_BUS_SATA, FERRY_DISK_TYPE_BLOCK,
                  FERRY_DISK_DEVICE_DISK, "/dev/mapper/vg-data", FERRY_DISK_FORMAT_RAW);
    disk->cache = cs(c, "writethrough");
    disk->io = cs(c, "threads");
    disk->shareable = TRUE;
    drive(&disk->address, 0, 0, 0, 3);
    disk = c_disk(c, "sdb", FERRY_DISK_BUS_SCSI, FERRY_DISK_TYPE_NETWORK,
                  FERRY_DISK_DEVICE_DISK, NULL, FERRY_DISK_FORMAT_RAW);
    disk->net_host = cs(c, "127.0.0.1");
    disk->net_port = 10809;
    disk->net_name = cs(c, "data");
    disk->cache = cs(c, "unsafe");
    drive(&disk->address, 0, 0, 1, 0);
    disk = c_disk(c, "sdc", FERRY_DISK_BUS_USB, FERRY_DISK_TYPE_FILE,
                  FERRY_DISK_DEVICE_DISK, "/var/lib/ferry/images/stick.img",
                  FERRY_DISK_FORMAT_RAW);
    disk->readonly = TRUE;
    disk->address.type = FERRY_ADDRESS_USB;
    disk->address.usb_port = cs(c, "2");
    disk = c_disk(c, "fda", FERRY_DISK_BUS_FDC, FERRY_DISK_TYPE_FILE,
                  FERRY_DISK_DEVICE_FLOPPY, "/var/lib/ferry/images/boot.flp",
                  FERRY_DISK_FORMAT_RAW);
    drive(&disk->address, 0, 0, 0, 0);

    net = c_net(c, FERRY_NET_TYPE_BRIDGE, "br0", "virtio", "52:54:00:12:34:56");
    net->mtu = 9000;
    net->boot_order = 3;
    pci(&net->address, 3, 0);
    net = c_net(c, FERRY_NET_TYPE_USER, NULL, "e1000", "52:54:00:12:34:57");
    pci(&net->address, 8, 0);
    net = c_net(c, FERRY_NET_TYPE_ETHERNET, NULL, "rtl8139", "52:54:00:12:34:58");
    net->target_dev = cs(c, "vnet-pc1");
    pci(&net->address, 9, 0);

    /* Port 1 before port 0 in the XML: emitted in port order. */
    c_chr(c, FERRY_CHR_DEVICE_SERIAL, FERRY_CHR_PTY, NULL, 1);
    c_chr(c, FERRY_CHR_DEVICE_SERIAL, FERRY_CHR_FILE, "/var/log/ferry/pc-all.serial.log", 0);
    chr = c_chr(c, FERRY_CHR_DEVICE_SERIAL, FERRY_CHR_TCP, NULL, 2);
    chr->source.host = cs(c, "127.0.0.1");
    chr->source.service = cs(c, "4555");
    chr->source.server = TRUE;
    chr = c_chr(c, FERRY_CHR_DEVICE_SERIAL, FERRY_CHR_TCP, NULL, 3);
    chr->source.host = cs(c, "127.0.0.1");
    chr->source.service = cs(c, "4556");
    chr = c_chr(c, FERRY_CHR_DEVICE_CONSOLE, FERRY_CHR_FILE,
                "/var/log/ferry/pc-all.serial.log", 0);
    chr->target_type = cs(c, "serial");
    chr = c_chr(c, FERRY_CHR_DEVICE_CONSOLE, FERRY_CHR_PTY, NULL, 0);
    chr->target_type = cs(c, "virtio");
    chr->address.type = FERRY_ADDRESS_VIRTIO_SERIAL;
    chr = c_chr(c, FERRY_CHR_DEVICE_CHANNEL, FERRY_CHR_UNIX,
                "/var/lib/ferry/qemu/channel/pc-all.agent", 0);
    chr->source.server = TRUE;
    chr->target_type = cs(c, "virtio");
    chr->target_name = cs(c, "org.qemu.guest_agent.0");
    chr->address.type = FERRY_ADDRESS_VIRTIO_SERIAL;
    chr->address.port = 1;
    chr = c_chr(c, FERRY_CHR_DEVICE_CHANNEL, FERRY_CHR_UNIX, "/run/pc-all/host.sock", 0);
    chr->target_type = cs(c, "virtio");
    chr->target_name = cs(c, "org.example.host");
    chr->address.type = FERRY_ADDRESS_VIRTIO_SERIAL;
    chr->address.port = 2;

    g = c_graphics(c, "vnc", -1, "127.0.0.1", "s3cret-pw");
    g->keymap = cs(c, "de");
    video = c_video(c, "virtio", 0, 10);
    video = c_video(c, "qxl", 65536, 2);
    video->primary = TRUE;
    video->heads = 1;
    c_input(c, "mouse", "ps2");
    c_input(c, "keyboard", "ps2");
    input = c_input(c, "tablet", "usb");
    input->address.type = FERRY_ADDRESS_USB;
    input->address.usb_port = cs(c, "1");
    input = c_input(c, "keyboard", "virtio");
    pci(&input->address, 11, 0);
    def->memballoon = calloc_(c, sizeof(*def->memballoon));
    def->memballoon->model = cs(c, "virtio");
    def->memballoon->stats_period = 10;
    pci(&def->memballoon->address, 12, 0);
    {
        ferry_rng_def *rng = calloc_(c, sizeof(*rng));

        rng->model = cs(c, "virtio");
        rng->backend = cs(c, "/dev/urandom");
        pci(&rng->address, 13, 0);
        g_ptr_array_add(def->rngs, rng);
    }
    def->watchdog = calloc_(c, sizeof(*def->watchdog));
    def->watchdog->model = cs(c, "i6300esb");
    def->watchdog->action = cs(c, "dump");
    pci(&def->watchdog->address, 14, 0);
    return c;
}

/*
 * q35 with UEFI (secure boot, a variable store), ACPI off by a
 * <features> without <acpi/>, a custom CPU model, the built-in AHCI with
 * a disk and a cdrom, xHCI, a floppy on an added ISA controller booted by
 * index, SPICE without a password, VGA, an ib700 watchdog, the built-in
 * rng backend.
 */
static c_def *
case_q35_uefi(void)
{
    c_def *c = c_def_new("q35-uefi", "qemu", "pc-q35-7.2", 1048576, 2);
    ferry_domain_def *def = &c->def;
    ferry_disk_def *disk;
    ferry_controller_def *ctrl;
    ferry_net_def *net;
    ferry_video_def *video;

    def->cpu_mode = cs(c, "custom");
    def->cpu_model = cs(c, "Skylake-Client");
    c_named(c, def->cpu_features, "pcid", "require", NULL);
    c_named(c, def->cpu_features, "hle", "disable", NULL);
    c_named(c, def->cpu_features, "rtm", "forbid", NULL);
    def->has_features = TRUE;
    def->clock_offset = cs(c, "utc");
    def->loader = cs(c, "/usr/share/OVMF/OVMF_CODE_4M.secboot.fd");
    def->loader_readonly = TRUE;
    def->loader_type = cs(c, "pflash");
    def->loader_secure = TRUE;
    def->nvram = cs(c, "/var/lib/ferry/nvram/q35-uefi_VARS.fd");
    def->nvram_template = cs(c, "/usr/share/OVMF/OVMF_VARS_4M.ms.fd");
    def->on_poweroff = cs(c, "destroy");
    def->on_reboot = cs(c, "restart");
    def->on_crash = cs(c, "preserve");

    c_controller(c, "pci", 0, "pcie-root");
    ctrl = c_controller(c, "sata", 0, NULL);
    pci(&ctrl->address, 0x1f, 2);
    ctrl = c_controller(c, "usb", 0, "qemu-xhci");
    ctrl->ports = 15;
    pci(&ctrl->address, 2, 0);

    disk = c_disk(c, "sda", FERRY_DISK_BUS_SATA, FERRY_DISK_TYPE_FILE,
                  FERRY_DISK_DEVICE_DISK, "/var/lib/ferry/images/win.qcow2",
                  FERRY_DISK_FORMAT_QCOW2);
    disk->cache = cs(c, "writeback");
    disk->io = cs(c, "io_uring");
    disk->detect_zeroes = cs(c, "unmap");
    disk->boot_order = 2;
    drive(&disk->address, 0, 0, 0, 0);
    disk = c_disk(c, "sdb", FERRY_DISK_BUS_SATA, FERRY_DISK_TYPE_FILE,
                  FERRY_DISK_DEVICE_CDROM, "/var/lib/ferry/iso/virtio-win.iso",
                  FERRY_DISK_FORMAT_RAW);
    disk->boot_order = 3;
    drive(&disk->address, 0, 0, 0, 1);
    disk = c_disk(c, "vda", FERRY_DISK_BUS_VIRTIO, FERRY_DISK_TYPE_NETWORK,
                  FERRY_DISK_DEVICE_DISK, NULL, FERRY_DISK_FORMAT_RAW);
    disk->net_socket = cs(c, "/run/ferry/nbd/q35.sock");
    disk->net_name = cs(c, "vda");
    disk->cache = cs(c, "directsync");
    pci(&disk->address, 4, 0);
    disk = c_disk(c, "fda", FERRY_DISK_BUS_FDC, FERRY_DISK_TYPE_FILE,
                  FERRY_DISK_DEVICE_FLOPPY, "/var/lib/ferry/images/drivers.flp",
                  FERRY_DISK_FORMAT_RAW);
    disk->boot_order = 1;
    drive(&disk->address, 0, 0, 0, 0);

    net = c_net(c, FERRY_NET_TYPE_NETWORK, "default", "e1000", "52:54:00:aa:bb:cc");
    pci(&net->address, 3, 0);

    c_graphics(c, "spice", 5930, "127.0.0.1", NULL);
    video = c_video(c, "vga", 16384, 1);
    video->primary = TRUE;
    c_input(c, "tablet", "usb");
    {
        ferry_rng_def *rng = calloc_(c, sizeof(*rng));

        rng->model = cs(c, "virtio");
        pci(&rng->address, 5, 0);
        g_ptr_array_add(def->rngs, rng);
    }
    def->watchdog = calloc_(c, sizeof(*def->watchdog));
    def->watchdog->model = cs(c, "ib700");
    def->watchdog->action = cs(c, "poweroff");
    return c;
}

/* KVM: host CPU, Hyper-V enlightenments, kvmclock off, the ROM BIOS and a
 * device tree, LSI SCSI with a cdrom, a fixed VNC port on IPv6. */
static c_def *
case_kvm_hyperv(void)
{
    c_def *c = c_def_new("kvm-hv", "kvm", "pc", 2097152, 2);
    ferry_domain_def *def = &c->def;
    ferry_disk_def *disk;
    ferry_controller_def *ctrl;

    def->cpu_mode = cs(c, "host-model");
    def->has_features = TRUE;
    def->feature_acpi = TRUE;
    def->hyperv_mode = cs(c, "custom");
    c_named(c, def->hyperv, "relaxed", "on", NULL);
    c_named(c, def->hyperv, "vapic", "on", NULL);
    c_named(c, def->hyperv, "spinlocks", "on", "8191");
    c_named(c, def->hyperv, "vendor_id", "on", "ferryhv");
    c_named(c, def->hyperv, "synic", "off", NULL);
    c_timer(c, "hypervclock", NULL, "yes");
    c_timer(c, "kvmclock", NULL, "no");
    def->loader = cs(c, "/usr/share/seabios/bios-256k.bin");
    def->loader_type = cs(c, "rom");
    def->dtb = cs(c, "/var/lib/ferry/images/guest.dtb");
    def->on_poweroff = cs(c, "preserve");
    def->on_crash = cs(c, "coredump-restart");
    def->boot_devs = calloc_(c, 3 * sizeof(char *));
    def->boot_devs[0] = cs(c, "cdrom");
    def->boot_devs[1] = cs(c, "hd");
    def->bootmenu = 0;

    ctrl = c_controller(c, "scsi", 0, "lsilogic");
    pci(&ctrl->address, 3, 0);
    disk = c_disk(c, "sda", FERRY_DISK_BUS_SCSI, FERRY_DISK_TYPE_FILE,
                  FERRY_DISK_DEVICE_CDROM, "/var/lib/ferry/iso/install.iso",
                  FERRY_DISK_FORMAT_RAW);
    drive(&disk->address, 0, 0, 2, 0);
    c_graphics(c, "vnc", 5907, "::1", NULL);
    c_video(c, "cirrus", 16384, 2);
    c_video(c, "none", 0, 0)->address.type = FERRY_ADDRESS_NONE;
    return c;
}

typedef c_def *(*c_case_fn)(void);

static const struct {
    const char *name;
    c_case_fn build;
} c_cases[] = {
    { "c-pc-devices", case_pc_devices },
    { "c-q35-uefi", case_q35_uefi },
    { "c-kvm-hyperv", case_kvm_hyperv },
};

static c_case_fn
c_case_find(const char *name)
{
    for (gsize i = 0; i < G_N_ELEMENTS(c_cases); i++) {
        if (strcmp(c_cases[i].name, name) == 0)
            return c_cases[i].build;
    }
    g_assert_not_reached();
}

static void
run_c_case(gconstpointer data)
{
    const char *name = data;
    g_autoptr(c_def) c = c_case_find(name)();
    g_autofree char *dir = golden_data_dir("qemu-argv");
    g_autofree char *args = g_strconcat(dir, "/", name, ".args", NULL);
    ferry_qemu_command_opts opts = case_opts(name);
    g_autoptr(GError) error = NULL;
    g_auto(GStrv) argv = NULL;
    g_autofree char *joined = NULL;
    g_autofree char *text = NULL;

    g_assert_true(ferry_qemu_command_check(&c->def, &opts, &error));
    g_assert_no_error(error);
    argv = ferry_qemu_build_argv(&c->def, &opts);
    joined = g_strjoinv("\n", argv);
    text = g_strconcat(joined, "\n", NULL);
    golden_check(args, text);
}

/* No password reaches the command line: QEMU's argv is readable by every
 * local user in /proc. */
static void
test_no_secret(void)
{
    g_autoptr(c_def) c = case_pc_devices();
    ferry_qemu_command_opts opts = case_opts("x");
    g_auto(GStrv) argv = ferry_qemu_build_argv(&c->def, &opts);

    for (guint i = 0; argv[i]; i++)
        g_assert_null(strstr(argv[i], "s3cret"));
}

/* The taps ferryd opened are given by descriptor, one per interface in
 * order; a user-mode interface's slot is -1. */
static void
test_tap_fds(void)
{
    g_autoptr(c_def) c = case_pc_devices();
    static const int fds[] = { 23, -1, 24 };
    ferry_qemu_command_opts opts = case_opts("x");
    g_auto(GStrv) argv = NULL;
    g_autofree char *joined = NULL;

    opts.tap_fds = fds;
    opts.n_tap_fds = G_N_ELEMENTS(fds);
    argv = ferry_qemu_build_argv(&c->def, &opts);
    joined = g_strjoinv("\n", argv);
    g_assert_nonnull(strstr(joined, "\n-netdev\ntap,id=hostnet0,fd=23\n"));
    g_assert_nonnull(strstr(joined, "\n-netdev\nuser,id=hostnet1\n"));
    g_assert_nonnull(strstr(joined, "\n-netdev\ntap,id=hostnet2,fd=24\n"));
    g_assert_null(strstr(joined, "ifname="));
}

/* A spice display with autoport gets the port the driver reserved. */
static void
test_spice_autoport(void)
{
    g_autoptr(c_def) c = case_q35_uefi();
    ferry_graphics_def *g = g_ptr_array_index(c->def.graphics, 0);
    ferry_qemu_command_opts opts = case_opts("x");
    g_autoptr(GError) error = NULL;
    g_auto(GStrv) argv = NULL;
    g_autofree char *joined = NULL;

    g->autoport = TRUE;
    g->port = -1;
    g_assert_false(ferry_qemu_command_check(&c->def, &opts, &error));
    g_assert_error(error, FERRY_ERROR, FERRY_ERROR_INVALID_ARG);
    g_assert_cmpstr(error->message, ==, "domain 'q35-uefi': graphics spice: autoport needs a "
                    "port reserved by the driver (QEMU's SPICE server cannot pick one)");
    g_clear_error(&error);
    opts.spice_port = 5999;
    g_assert_true(ferry_qemu_command_check(&c->def, &opts, &error));
    argv = ferry_qemu_build_argv(&c->def, &opts);
    joined = g_strjoinv("\n", argv);
    g_assert_nonnull(strstr(joined, "\n-spice\nport=5999,addr=127.0.0.1,disable-ticketing=on\n"));
}

/* What QEMU cannot be given is refused before it starts, naming it. */
static void
test_check_refused(void)
{
    static const struct {
        const char *what;
        const char *message;
    } cases[] = {
        { "virtio-cdrom", "domain 'pc-all': disk 'vdb': QEMU has no cdrom on bus 'virtio' "
                          "(expected ide, sata or scsi)" },
        { "ide-on-q35", "domain 'q35-uefi': disk 'hda': machine 'pc-q35-7.2' has IDE buses 0 "
                        "to 5 of one unit each (the AHCI ports), not bus 1 unit 1" },
        { "readonly-ide", "domain 'pc-all': disk 'hdb': QEMU's IDE and SATA disks cannot be "
                          "read-only (use a cdrom, or bus virtio or scsi)" },
        { "native-aio", "domain 'pc-all': disk 'vda': io 'native' needs cache 'none' or "
                        "'directsync' (QEMU's native AIO bypasses the page cache)" },
        { "unix-no-path", "domain 'pc-all': channel 0: a unix socket needs a path" },
        { "vnc-port", "domain 'pc-all': graphics vnc: port 5800 is below 5900, where VNC "
                      "displays start" },
        { "second-vga", "domain 'pc-all': video 0: model 'vga' can only be the primary video "
                        "(secondary ones are qxl or virtio)" },
        { "topology", "domain 'pc-all': cpu topology 1 sockets x 1 dies x 2 cores x 1 threads "
                      "makes 2 vCPUs, but vcpu is 4" },
        { "hv-vendor", "domain 'pc-all': hyperv 'vendor_id': 'a,b' contains ','" },
        { "nic-model", "domain 'pc-all': interface 0 (52:54:00:12:34:56): model 'ne2k_pci' is "
                       "not supported (expected virtio, e1000 or rtl8139)" },
    };

    for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
        gboolean q35 = strcmp(cases[i].what, "ide-on-q35") == 0;
        g_autoptr(c_def) c = q35 ? case_q35_uefi() : case_pc_devices();
        ferry_domain_def *def = &c->def;
        ferry_qemu_command_opts opts = case_opts("x");
        g_autoptr(GError) error = NULL;
        const char *what = cases[i].what;

        if (strcmp(what, "virtio-cdrom") == 0) {
            c_disk(c, "vdb", FERRY_DISK_BUS_VIRTIO, FERRY_DISK_TYPE_FILE,
                   FERRY_DISK_DEVICE_CDROM, "/x.iso", FERRY_DISK_FORMAT_RAW);
        } else if (strcmp(what, "ide-on-q35") == 0) {
            drive(&c_disk(c, "hda", FERRY_DISK_BUS_IDE, FERRY_DISK_TYPE_FILE,
                          FERRY_DISK_DEVICE_DISK, "/x.img", FERRY_DISK_FORMAT_RAW)->address,
                  0, 1, 0, 1);
        } else if (strcmp(what, "readonly-ide") == 0) {
            c_disk(c, "hdb", FERRY_DISK_BUS_IDE, FERRY_DISK_TYPE_FILE,
                   FERRY_DISK_DEVICE_DISK, "/x.img", FERRY_DISK_FORMAT_RAW)->readonly = TRUE;
        } else if (strcmp(what, "native-aio") == 0) {
            ((ferry_disk_def *)g_ptr_array_index(def->disks, 0))->cache = cs(c, "writeback");
        } else if (strcmp(what, "unix-no-path") == 0) {
            ferry_chr_def *chr = g_ptr_array_index(def->chardevs, 6);

            chr->source.path = NULL;
            chr->target_port = 0;
            opts.channel_dir = NULL;
        } else if (strcmp(what, "vnc-port") == 0) {
            ferry_graphics_def *g = g_ptr_array_index(def->graphics, 0);

            g->autoport = FALSE;
            g->port = 5800;
        } else if (strcmp(what, "second-vga") == 0) {
            ((ferry_video_def *)g_ptr_array_index(def->videos, 0))->model = cs(c, "vga");
        } else if (strcmp(what, "topology") == 0) {
            def->cpu_threads = 1;
        } else if (strcmp(what, "hv-vendor") == 0) {
            c_named(c, def->hyperv, "vendor_id", "on", "a,b");
        } else if (strcmp(what, "nic-model") == 0) {
            ((ferry_net_def *)g_ptr_array_index(def->nets, 0))->model = cs(c, "ne2k_pci");
        }
        g_assert_false(ferry_qemu_command_check(def, &opts, &error));
        g_assert_error(error, FERRY_ERROR, FERRY_ERROR_INVALID_ARG);
        g_assert_cmpstr(error->message, ==, cases[i].message);
    }
}

/* The definition of tests/data/qemu-argv/full.xml. */
static ferry_domain_def *
parse_full(void)
{
    g_autofree char *dir = golden_data_dir("qemu-argv");
    g_autofree char *path = g_strconcat(dir, "/full.xml", NULL);
    g_autofree char *xml = golden_read(path);
    g_autoptr(GError) error = NULL;
    ferry_domain_def *def =
        ferry_domain_def_parse_string(xml, path, FERRY_DOMAIN_DEF_PARSE_NO_UUID, &error);

    g_assert_no_error(error);
    return def;
}

/* A host device is refused before QEMU starts (NO_SUPPORT, naming it),
 * never left out of the command line. */
static void
test_check_refuses_hostdev(void)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(ferry_domain_def) def = parse_full();
    ferry_qemu_command_opts opts = case_opts("full");
    ferry_hostdev_def *h = g_new0(ferry_hostdev_def, 1);
    g_autofree char *expected = NULL;

    g_assert_true(ferry_qemu_command_check(def, &opts, &error));
    g_assert_no_error(error);
    h->type = g_strdup("usb");
    h->usb_has_address = TRUE;
    h->usb_bus = 1;
    h->usb_device = 3;
    g_ptr_array_add(def->hostdevs, h);
    g_assert_false(ferry_qemu_command_check(def, &opts, &error));
    g_assert_error(error, FERRY_ERROR, FERRY_ERROR_NO_SUPPORT);
    expected = g_strdup_printf("domain '%s': usb host device at bus 1 device 3: host device "
                               "assignment is not supported by ferry's QEMU driver", def->name);
    g_assert_cmpstr(error->message, ==, expected);
}

/* A command line with what cannot be read back is refused, naming the
 * option: adopting it would lose the device. */
static void
test_back_refuses_devices(void)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(ferry_domain_def) def = parse_full();
    ferry_qemu_command_opts opts = case_opts("full");
    g_auto(GStrv) argv = ferry_qemu_build_argv(def, &opts);
    static const char *const extra[][2] = {
        { "-netdev", "user,id=hostnet0" },
        { "-device", "virtio-net-pci,netdev=hostnet0,id=net0,mac=52:54:00:12:34:56" },
        { "-vnc", "127.0.0.1:0,to=59635" },
        { "-cpu", "max" },
        { "-machine", "pc,accel=tcg,acpi=off" },
        { "-smp", "1,maxcpus=2,sockets=2,dies=1,cores=1,threads=1" },
        { "-blockdev", "driver=file,filename=/x,node-name=drive-vdc-file,read-only=off,"
                       "discard=unmap,cache.direct=on,cache.no-flush=off" },
        { "-chardev", "pty,id=serial1" },
        { "-object", "rng-random,id=objrng0,filename=/dev/urandom" },
    };
    static const char *const expected[] = {
        "-netdev 'user,id=hostnet0': ferry cannot read this option back into a definition, "
        "so a QEMU running with it is not adopted",
        "-device 'virtio-net-pci,netdev=hostnet0,id=net0,mac=52:54:00:12:34:56': ferry cannot "
        "read this device back into a definition, so a QEMU running it is not adopted",
        "-vnc '127.0.0.1:0,to=59635': ferry cannot read this option back into a definition, "
        "so a QEMU running with it is not adopted",
        "-cpu 'max': ferry cannot read this option back into a definition, so a QEMU running "
        "with it is not adopted",
        "-machine 'pc,accel=tcg,acpi=off': 'acpi=off' cannot be read back into a definition",
        "-smp '1,maxcpus=2,sockets=2,dies=1,cores=1,threads=1': only a number of vCPUs is "
        "read back",
        "-blockdev 'driver=file,filename=/x,node-name=drive-vdc-file,read-only=off,"
        "discard=unmap,cache.direct=on,cache.no-flush=off': 'cache.direct=on' cannot be read "
        "back into a definition",
        "-chardev 'pty,id=serial1': only the monitor and a file serial port 0 are read back",
        "-object 'rng-random,id=objrng0,filename=/dev/urandom': ferry cannot read this option "
        "back into a definition, so a QEMU running with it is not adopted",
    };

    g_assert_no_error(error);
    for (gsize i = 0; i < G_N_ELEMENTS(extra); i++) {
        g_autoptr(GPtrArray) more = g_ptr_array_new();
        g_autoptr(ferry_domain_def) back = NULL;

        /* Before the final -S. */
        for (guint j = 0; argv[j + 1]; j++)
            g_ptr_array_add(more, argv[j]);
        g_ptr_array_add(more, (gpointer)extra[i][0]);
        g_ptr_array_add(more, (gpointer)extra[i][1]);
        g_ptr_array_add(more, (gpointer)"-S");
        g_ptr_array_add(more, NULL);
        back = ferry_qemu_def_from_argv((const char *const *)more->pdata, &error);
        g_assert_null(back);
        g_assert_error(error, FERRY_ERROR, FERRY_ERROR_INTERNAL);
        g_assert_cmpstr(error->message, ==, expected[i]);
        g_clear_error(&error);
    }
    /* Every C case: each has something that cannot be read back. */
    for (gsize i = 0; i < G_N_ELEMENTS(c_cases); i++) {
        g_autoptr(c_def) c = c_cases[i].build();
        g_auto(GStrv) all = ferry_qemu_build_argv(&c->def, &opts);
        g_autoptr(ferry_domain_def) back = ferry_qemu_def_from_argv((const char *const *)all,
                                                                    &error);

        g_assert_null(back);
        g_assert_error(error, FERRY_ERROR, FERRY_ERROR_INTERNAL);
        g_clear_error(&error);
    }
}

int
main(int argc, char **argv)
{
    g_autofree char *dir = NULL;
    g_auto(GStrv) cases = NULL;

    g_test_init(&argc, &argv, NULL);
    dir = golden_data_dir("qemu-argv");
    cases = golden_list_cases(dir, ".xml", NULL);
    g_assert_cmpuint(g_strv_length(cases), >, 0);
    for (guint i = 0; cases[i]; i++) {
        g_autofree char *path = g_strdup_printf("/qemu/argv/%s", cases[i]);

        g_autofree char *back = g_strdup_printf("/qemu/argv-back/%s", cases[i]);

        g_test_add_data_func(path, cases[i], run_case);
        g_test_add_data_func(back, cases[i],
                             g_strv_contains(readable_cases, cases[i]) ? run_back_case
                                                                       : run_back_refused_case);
    }
    for (gsize i = 0; i < G_N_ELEMENTS(c_cases); i++) {
        g_autofree char *path = g_strdup_printf("/qemu/argv/%s", c_cases[i].name);

        g_test_add_data_func(path, c_cases[i].name, run_c_case);
    }
    g_test_add_func("/qemu/argv/no-secret", test_no_secret);
    g_test_add_func("/qemu/argv/tap-fds", test_tap_fds);
    g_test_add_func("/qemu/argv/spice-autoport", test_spice_autoport);
    g_test_add_func("/qemu/check/refused", test_check_refused);
    g_test_add_func("/qemu/check/refuses-hostdev", test_check_refuses_hostdev);
    g_test_add_func("/qemu/argv-back/refused", test_back_refused);
    g_test_add_func("/qemu/argv-back/refused-devices", test_back_refuses_devices);
    g_test_add_func("/qemu/argv-back/implied-slots", test_back_implied_slots);
    g_test_add_func("/qemu/argv/monitor-forms", test_monitor_forms);
    return g_test_run();
}
