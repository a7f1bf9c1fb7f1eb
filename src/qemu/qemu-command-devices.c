/*
 * qemu-command-devices.c: the devices of a domain on QEMU's command line.
 *
 * Owns: turning every device of a definition (controllers, disks,
 * interfaces, serial ports, consoles, channels, graphics, video, input,
 * memballoon, rng, watchdog) into -device and the -blockdev, -netdev,
 * -chardev, -object behind it, and saying which of them QEMU cannot be
 * given (qemu_check_devices()).  Must not: choose an address (the parser
 * assigned every one, domain-addr.c), do I/O, or put a secret on the
 * command line (a graphics password is set over QMP).
 *
 * Every device is placed where its <address> says (bus=pci.0,addr=0x3;
 * bus=ide.1,unit=0; bus=scsi0.0,scsi-id=2; nr= on a virtio-serial bus), so
 * the guest sees the same layout on every host and a migration's
 * destination rebuilds exactly the source's machine.  Ids derive from the
 * definition: a disk's device is its target ("vda") on the block nodes
 * "drive-vda" (format) and "drive-vda-file" (protocol), names storage
 * migration relies on; an interface is net<i> on netdev hostnet<i>.
 */
#include "ferry-config.h"

#include <ferry/ferry.h>
#include <string.h>

#include "qemu/qemu-command-priv.h"

/* The largest display number -vnc may reach from 0 with to=: TCP port
 * 65535 (QEMU listens on 5900 + display). */
#define VNC_PORT_BASE 5900
#define VNC_DISPLAY_MAX (65535 - VNC_PORT_BASE)

/* ------------------------------------------------------------------ */
/* Addresses */

void
qemu_append_pci_address(const qemu_cmd *cmd, GString *s, const ferry_device_address *addr)
{
    if (addr->type != FERRY_ADDRESS_PCI)
        return;
    if (addr->bus == 0)
        g_string_append(s, cmd->q35 ? ",bus=pcie.0" : ",bus=pci.0");
    else
        g_string_append_printf(s, ",bus=pci.%u", addr->bus);
    if (addr->function)
        g_string_append_printf(s, ",addr=0x%x.0x%x", addr->slot, addr->function);
    else
        g_string_append_printf(s, ",addr=0x%x", addr->slot);
    if (addr->multifunction)
        g_string_append(s, ",multifunction=on");
}

char *
qemu_usb_controller_id(guint index)
{
    return index == 0 ? g_strdup("usb") : g_strdup_printf("usb%u", index);
}

/* ",bus=usb.0[,port=P]" for a USB address; nothing for none (QEMU takes
 * the first free port of the first bus). */
static void
append_usb_address(GString *s, const ferry_device_address *addr)
{
    g_autofree char *id = NULL;

    if (addr->type != FERRY_ADDRESS_USB)
        return;
    id = qemu_usb_controller_id(addr->bus);
    g_string_append_printf(s, ",bus=%s.0", id);
    if (addr->usb_port)
        qemu_append_kv(s, "port", addr->usb_port);
}

/* ",bus=virtio-serial0.0,nr=N" for a virtio-serial address. */
static void
append_virtio_serial_address(GString *s, const ferry_device_address *addr)
{
    if (addr->type != FERRY_ADDRESS_VIRTIO_SERIAL)
        return;
    g_string_append_printf(s, ",bus=virtio-serial%u.%u,nr=%u", addr->controller, addr->bus,
                           addr->port);
}

/* ------------------------------------------------------------------ */
/* Controllers */

/* The QEMU device of a USB controller model, NULL for "none" (no USB at
 * all).  No model: libvirt's default for the machine. */
static const char *
usb_controller_device(gboolean q35, const char *model)
{
    static const char *const map[][2] = {
        { "piix3-uhci", "piix3-usb-uhci" },
        { "piix4-uhci", "piix4-usb-uhci" },
        { "qemu-xhci", "qemu-xhci" },
        { "nec-xhci", "nec-usb-xhci" },
        { "ich9-ehci1", "ich9-usb-ehci1" },
    };

    if (!model)
        return q35 ? "qemu-xhci" : "piix3-usb-uhci";
    for (gsize i = 0; i < G_N_ELEMENTS(map); i++) {
        if (strcmp(map[i][0], model) == 0)
            return map[i][1];
    }
    return NULL;
}

/* The QEMU device of a SCSI controller model.  No model: virtio-scsi, as
 * ferry's parser fills in (libvirt's dumpxml always names one). */
static const char *
scsi_controller_device(const char *model)
{
    if (!model || strcmp(model, "virtio-scsi") == 0)
        return "virtio-scsi-pci";
    if (strcmp(model, "lsilogic") == 0)
        return "lsi53c895a";
    return NULL;
}

static gboolean
def_has_floppy(const ferry_domain_def *def)
{
    for (guint i = 0; i < QEMU_CMD_LEN(def->disks); i++) {
        const ferry_disk_def *disk = g_ptr_array_index(def->disks, i);

        if (disk->bus == FERRY_DISK_BUS_FDC)
            return TRUE;
    }
    return FALSE;
}

static void
add_controller(qemu_cmd *cmd, const ferry_controller_def *ctrl)
{
    g_autoptr(GString) s = g_string_new(NULL);
    const char *type = ctrl->type ? ctrl->type : "";

    if (strcmp(type, "pci") == 0) {
        /* The root bus is the machine's; bridges and root ports get the id
         * their bus is named by ("pci.<index>"). */
        if (g_strcmp0(ctrl->model, "pcie-root-port") == 0)
            g_string_printf(s, "pcie-root-port,id=pci.%u,chassis=%u", ctrl->index, ctrl->index);
        else if (g_strcmp0(ctrl->model, "pci-bridge") == 0)
            g_string_printf(s, "pci-bridge,id=pci.%u,chassis_nr=%u", ctrl->index, ctrl->index);
        else
            return;
    } else if (strcmp(type, "ide") == 0) {
        /* PIIX3's IDE is part of the pc machine (ide.0, ide.1). */
        return;
    } else if (strcmp(type, "sata") == 0) {
        /* q35's ICH9 AHCI at 00:1f.2 is built in, named "ide". */
        if (cmd->q35 && ctrl->index == 0)
            return;
        g_string_printf(s, "ich9-ahci,id=sata%u", ctrl->index);
    } else if (strcmp(type, "scsi") == 0) {
        const char *device = scsi_controller_device(ctrl->model);

        if (!device)
            return;
        g_string_printf(s, "%s,id=scsi%u", device, ctrl->index);
    } else if (strcmp(type, "usb") == 0) {
        const char *device = usb_controller_device(cmd->q35, ctrl->model);
        g_autofree char *id = qemu_usb_controller_id(ctrl->index);

        if (!device)
            return;
        g_string_printf(s, "%s,id=%s", device, id);
        /* xHCI: as many USB 2 as USB 3 ports, as libvirt gives them. */
        if (ctrl->ports && g_str_has_suffix(device, "xhci"))
            g_string_append_printf(s, ",p2=%u,p3=%u", ctrl->ports, ctrl->ports);
    } else if (strcmp(type, "virtio-serial") == 0) {
        g_string_printf(s, "virtio-serial-pci,id=virtio-serial%u", ctrl->index);
        if (ctrl->ports)
            g_string_append_printf(s, ",max_ports=%u", ctrl->ports);
    } else {
        /* fdc: the floppy controller is added with the floppies. */
        return;
    }
    qemu_append_pci_address(cmd, s, &ctrl->address);
    qemu_cmd_add_opt(cmd, "-device", g_steal_pointer(&s));
}

static void
add_controllers(qemu_cmd *cmd)
{
    const ferry_domain_def *def = cmd->def;

    for (guint i = 0; i < QEMU_CMD_LEN(def->controllers); i++)
        add_controller(cmd, g_ptr_array_index(def->controllers, i));
    /* pc has an ISA floppy controller built in (even with -nodefaults);
     * q35 has none, so one is added on its ISA bus (the LPC bridge). */
    if (cmd->q35 && def_has_floppy(def)) {
        qemu_cmd_add(cmd, "-device");
        qemu_cmd_add(cmd, "isa-fdc,id=fdc0");
    }
}

/* ------------------------------------------------------------------ */
/* Disks */

/* What a <driver cache=...> mode means for the block layer and the
 * guest-visible write cache, as libvirt maps them. */
typedef struct {
    const char *name;
    gboolean direct;          /* O_DIRECT: bypass the host's page cache */
    gboolean no_flush;        /* ignore the guest's flushes */
    gboolean write_cache;     /* the guest sees a volatile write cache */
} cache_mode;

static const cache_mode cache_modes[] = {
    { "none", TRUE, FALSE, TRUE },
    { "writeback", FALSE, FALSE, TRUE },
    { "writethrough", FALSE, FALSE, FALSE },
    { "directsync", TRUE, FALSE, FALSE },
    { "unsafe", FALSE, TRUE, TRUE },
};

static const cache_mode *
disk_cache_mode(const ferry_disk_def *disk)
{
    for (gsize i = 0; disk->cache && i < G_N_ELEMENTS(cache_modes); i++) {
        if (strcmp(cache_modes[i].name, disk->cache) == 0)
            return &cache_modes[i];
    }
    return NULL;
}

/* A cdrom or floppy with no medium has no block node at all. */
static gboolean
disk_has_medium(const ferry_disk_def *disk)
{
    return disk->type == FERRY_DISK_TYPE_NETWORK || disk->source != NULL;
}

static gboolean
disk_read_only(const ferry_disk_def *disk)
{
    /* A CD is read-only whatever the XML says (libvirt forces it too):
     * opening an ISO read-write would need write access to it. */
    return disk->readonly || disk->device == FERRY_DISK_DEVICE_CDROM;
}

/* The options both block nodes of a disk share, after node-name. */
static void
append_node_common(GString *s, const ferry_disk_def *disk)
{
    const cache_mode *cache = disk_cache_mode(disk);

    g_string_append_printf(s, ",read-only=%s", disk_read_only(disk) ? "on" : "off");
    /* discard=unmap unless the XML says ignore: zeroes written by a
     * storage migration's mirror (and the guest's discards) leave holes
     * instead of allocating the image. */
    g_string_append_printf(s, ",discard=%s",
                           g_strcmp0(disk->discard, "ignore") == 0 ? "ignore" : "unmap");
    if (cache)
        g_string_append_printf(s, ",cache.direct=%s,cache.no-flush=%s",
                               cache->direct ? "on" : "off", cache->no_flush ? "on" : "off");
}

static void
add_disk_nodes(qemu_cmd *cmd, const ferry_disk_def *disk)
{
    g_autoptr(GString) proto = g_string_new(NULL);
    g_autoptr(GString) format = g_string_new(NULL);

    switch (disk->type) {
    case FERRY_DISK_TYPE_BLOCK:
        g_string_append(proto, "driver=host_device");
        qemu_append_kv(proto, "filename", disk->source);
        break;
    case FERRY_DISK_TYPE_NETWORK:
        g_string_append(proto, "driver=nbd");
        if (disk->net_socket) {
            g_string_append(proto, ",server.type=unix");
            qemu_append_kv(proto, "server.path", disk->net_socket);
        } else {
            g_string_append(proto, ",server.type=inet");
            qemu_append_kv(proto, "server.host", disk->net_host ? disk->net_host : "localhost");
            g_string_append_printf(proto, ",server.port=%u",
                                   disk->net_port ? disk->net_port : 10809);
        }
        if (disk->net_name)
            qemu_append_kv(proto, "export", disk->net_name);
        break;
    case FERRY_DISK_TYPE_FILE:
    default:
        g_string_append(proto, "driver=file");
        qemu_append_kv(proto, "filename", disk->source);
        break;
    }
    g_string_append_printf(proto, ",node-name=drive-%s-file", disk->target);
    append_node_common(proto, disk);
    if (disk->io && disk->type != FERRY_DISK_TYPE_NETWORK)
        g_string_append_printf(proto, ",aio=%s", disk->io);
    qemu_cmd_add_opt(cmd, "-blockdev", g_steal_pointer(&proto));

    g_string_printf(format, "driver=%s,file=drive-%s-file,node-name=drive-%s",
                    ferry_disk_format_to_string(disk->format), disk->target, disk->target);
    append_node_common(format, disk);
    /* On the format node, where libvirt puts it: what the guest writes is
     * seen before the image format allocates anything. */
    if (disk->detect_zeroes)
        g_string_append_printf(format, ",detect-zeroes=%s", disk->detect_zeroes);
    qemu_cmd_add_opt(cmd, "-blockdev", g_steal_pointer(&format));
}

/* The QEMU device of a disk: what its bus and device kind make. */
static const char *
disk_device_model(const ferry_disk_def *disk)
{
    gboolean cd = disk->device == FERRY_DISK_DEVICE_CDROM;

    switch (disk->bus) {
    case FERRY_DISK_BUS_IDE:
    case FERRY_DISK_BUS_SATA:
        return cd ? "ide-cd" : "ide-hd";
    case FERRY_DISK_BUS_SCSI:
        return cd ? "scsi-cd" : "scsi-hd";
    case FERRY_DISK_BUS_USB:
        return "usb-storage";
    case FERRY_DISK_BUS_FDC:
        return "floppy";
    case FERRY_DISK_BUS_VIRTIO:
    default:
        return "virtio-blk-pci";
    }
}

/* The index of the last letter of a target ("hdc" -> 2): where a disk
 * without a drive address sits, as before addresses were assigned. */
static guint
target_index(const char *target)
{
    gsize len = strlen(target);

    return len > 2 ? (guint)(target[len - 1] - 'a') : 0;
}

static void
append_disk_placement(const qemu_cmd *cmd, GString *s, const ferry_disk_def *disk)
{
    const ferry_device_address *addr = &disk->address;
    gboolean drive = addr->type == FERRY_ADDRESS_DRIVE;

    switch (disk->bus) {
    case FERRY_DISK_BUS_IDE:
        /* pc: two channels, master and slave on each: hda..hdd; q35: the
         * AHCI ports ide.0 to ide.5, one unit each. */
        if (drive)
            g_string_append_printf(s, ",bus=ide.%u,unit=%u", addr->bus, addr->unit);
        else if (cmd->q35)
            g_string_append_printf(s, ",bus=ide.%u,unit=0", target_index(disk->target));
        else
            g_string_append_printf(s, ",bus=ide.%u,unit=%u", target_index(disk->target) / 2,
                                   target_index(disk->target) % 2);
        break;
    case FERRY_DISK_BUS_SATA:
        /* An AHCI controller has one bus per port, "<id>.<port>", each
         * with one device: the drive address's unit is the port. */
        if (drive && cmd->q35 && addr->controller == 0)
            g_string_append_printf(s, ",bus=ide.%u", addr->unit);
        else if (drive)
            g_string_append_printf(s, ",bus=sata%u.%u", addr->controller, addr->unit);
        break;
    case FERRY_DISK_BUS_SCSI:
        if (drive)
            g_string_append_printf(s, ",bus=scsi%u.0,channel=%u,scsi-id=%u,lun=%u",
                                   addr->controller, addr->bus, addr->target, addr->unit);
        break;
    case FERRY_DISK_BUS_USB:
        append_usb_address(s, addr);
        break;
    case FERRY_DISK_BUS_FDC:
        /* The one floppy bus of the one controller: A: is unit 0. */
        g_string_append_printf(s, ",unit=%u", drive ? addr->unit : target_index(disk->target));
        break;
    case FERRY_DISK_BUS_VIRTIO:
    default:
        qemu_append_pci_address(cmd, s, addr);
        break;
    }
}

static void
add_disk(qemu_cmd *cmd, const ferry_disk_def *disk)
{
    g_autoptr(GString) s = g_string_new(disk_device_model(disk));
    const cache_mode *cache = disk_cache_mode(disk);
    gboolean floppy = disk->bus == FERRY_DISK_BUS_FDC;

    if (disk_has_medium(disk)) {
        add_disk_nodes(cmd, disk);
        g_string_append_printf(s, ",drive=drive-%s", disk->target);
    }
    g_string_append_printf(s, ",id=%s", disk->target);
    append_disk_placement(cmd, s, disk);
    /* A floppy drive has neither a boot index (the controller has:
     * bootindexA/B, below) nor a serial number. */
    if (disk->boot_order && !floppy)
        g_string_append_printf(s, ",bootindex=%u", disk->boot_order);
    if (disk->serial && !floppy)
        qemu_append_kv(s, "serial", disk->serial);
    if (cache)
        g_string_append_printf(s, ",write-cache=%s", cache->write_cache ? "on" : "off");
    if (disk->shareable)
        g_string_append(s, ",share-rw=on");
    qemu_cmd_add_opt(cmd, "-device", g_steal_pointer(&s));
    if (disk->boot_order && floppy) {
        guint unit = disk->address.type == FERRY_ADDRESS_DRIVE ? disk->address.unit
                                                               : target_index(disk->target);

        qemu_cmd_add(cmd, "-global");
        qemu_cmd_addf(cmd, "isa-fdc.bootindex%c=%u", unit ? 'B' : 'A', disk->boot_order);
    }
}

/* ------------------------------------------------------------------ */
/* Interfaces */

static const char *
net_device_model(const ferry_net_def *net)
{
    if (g_strcmp0(net->model, "virtio") == 0)
        return "virtio-net-pci";
    if (g_strcmp0(net->model, "e1000") == 0)
        return "e1000";
    /* rtl8139, and libvirt's default for a model-less interface. */
    return "rtl8139";
}

static void
add_net(qemu_cmd *cmd, guint i, const ferry_net_def *net)
{
    const ferry_qemu_command_opts *opts = cmd->opts;
    g_autoptr(GString) backend = g_string_new(NULL);
    g_autoptr(GString) s = g_string_new(net_device_model(net));
    int fd = opts->tap_fds && i < opts->n_tap_fds ? opts->tap_fds[i] : -1;

    if (net->type == FERRY_NET_TYPE_USER) {
        g_string_printf(backend, "user,id=hostnet%u", i);
    } else if (fd >= 0) {
        /* ferryd opened the tap (and plugged it into its bridge). */
        g_string_printf(backend, "tap,id=hostnet%u,fd=%d", i, fd);
    } else {
        /* No descriptor: QEMU opens the tap by name, which needs
         * CAP_NET_ADMIN; no script runs (ferry never runs a shell). */
        g_autofree char *name = net->target_dev ? g_strdup(net->target_dev)
                                                : g_strdup_printf("ferry-tap%u", i);

        g_string_printf(backend, "tap,id=hostnet%u", i);
        qemu_append_kv(backend, "ifname", name);
        g_string_append(backend, ",script=no,downscript=no");
    }
    qemu_cmd_add_opt(cmd, "-netdev", g_steal_pointer(&backend));

    g_string_append_printf(s, ",netdev=hostnet%u,id=net%u", i, i);
    if (net->mac)
        qemu_append_kv(s, "mac", net->mac);
    qemu_append_pci_address(cmd, s, &net->address);
    if (net->boot_order)
        g_string_append_printf(s, ",bootindex=%u", net->boot_order);
    if (net->mtu && g_strcmp0(net->model, "virtio") == 0)
        g_string_append_printf(s, ",host_mtu=%u", net->mtu);
    qemu_cmd_add_opt(cmd, "-device", g_steal_pointer(&s));
}

/* ------------------------------------------------------------------ */
/* Serial ports, consoles, channels */

/* The socket path of a unix channel the XML gave none. */
static char *
channel_default_path(const ferry_qemu_command_opts *opts, const ferry_chr_def *chr,
                     const char *id)
{
    const char *name = chr->target_name;

    if (!opts || !opts->channel_dir)
        return NULL;
    /* A file name of the directory, never a way out of it. */
    if (!name || !*name || strchr(name, '/') || strcmp(name, ".") == 0 ||
        strcmp(name, "..") == 0)
        name = id;
    return g_build_filename(opts->channel_dir, name, NULL);
}

/* "-chardev <backend>,id=<id>,..." for the host side of a character
 * device; @path, when not NULL, stands for the source's missing path. */
static void
add_chardev_path(qemu_cmd *cmd, const char *id, const ferry_chr_source *src, const char *path)
{
    g_autoptr(GString) s = g_string_new(NULL);

    if (!path)
        path = src->path;

    switch (src->type) {
    case FERRY_CHR_FILE:
        /* append=on: a restarted or migrated guest's log goes on where it
         * was, never truncated. */
        g_string_printf(s, "file,id=%s", id);
        qemu_append_kv(s, "path", src->path ? src->path : "/dev/null");
        g_string_append(s, ",append=on");
        break;
    case FERRY_CHR_PTY:
        /* The path of a pty is QEMU's choice, read back over QMP. */
        g_string_printf(s, "pty,id=%s", id);
        break;
    case FERRY_CHR_UNIX:
        g_string_printf(s, "socket,id=%s", id);
        qemu_append_kv(s, "path", path ? path : "");
        break;
    case FERRY_CHR_TCP:
        /* No host: loopback, never every interface of the host. */
        g_string_printf(s, "socket,id=%s", id);
        qemu_append_kv(s, "host", src->host ? src->host : "127.0.0.1");
        qemu_append_kv(s, "port", src->service ? src->service : "0");
        if (g_strcmp0(src->protocol, "telnet") == 0)
            g_string_append(s, ",telnet=on");
        break;
    case FERRY_CHR_NULL:
    default:
        g_string_printf(s, "null,id=%s", id);
        break;
    }
    if (src->type == FERRY_CHR_UNIX || src->type == FERRY_CHR_TCP) {
        /*
         * A server never waits for its client.  A client reconnects every
         * second: without reconnect= QEMU connects once at start and exits
         * if nobody listens, so a start (or a migration's destination)
         * would fail because a host-side listener was not up yet.  With
         * it, QEMU starts and connects when the listener appears; what the
         * guest writes meanwhile is dropped, as it would be with nobody
         * listening.  (libvirt does this only with <reconnect
         * enabled='yes'/>, which ferry's definition does not carry.)
         */
        g_string_append(s, src->server ? ",server=on,wait=off" : ",reconnect=1");
    }
    qemu_cmd_add_opt(cmd, "-chardev", g_steal_pointer(&s));
}

static void
add_chardev(qemu_cmd *cmd, const char *id, const ferry_chr_source *src)
{
    add_chardev_path(cmd, id, src, NULL);
}

/* A console that is the serial port (target type serial, the default on
 * x86) rather than a virtio console of its own. */
static gboolean
console_is_serial(const ferry_chr_def *chr)
{
    return chr->device == FERRY_CHR_DEVICE_CONSOLE &&
           (!chr->target_type || strcmp(chr->target_type, "serial") == 0);
}

static gint
compare_port(gconstpointer a, gconstpointer b)
{
    const ferry_chr_def *x = *(const ferry_chr_def *const *)a;
    const ferry_chr_def *y = *(const ferry_chr_def *const *)b;

    return x->target_port < y->target_port ? -1 : x->target_port > y->target_port;
}

/*
 * The ISA serial ports, by port: each <serial>, and a serial console whose
 * port has no <serial> (libvirt adds that serial; a parser that did not
 * still gets the port).  Emitted in port order because QEMU numbers an
 * isa-serial without index= by a counter of every isa-serial realized
 * before it: port 0 first makes its implied index 0, so its option keeps
 * the form ferry always wrote (a QEMU started before stays adoptable),
 * and every other port names its index.
 */
static void
add_serials(qemu_cmd *cmd)
{
    const ferry_domain_def *def = cmd->def;
    g_autoptr(GPtrArray) ports = g_ptr_array_new();
    gboolean seen[4] = { FALSE };

    for (guint i = 0; i < QEMU_CMD_LEN(def->chardevs); i++) {
        const ferry_chr_def *chr = g_ptr_array_index(def->chardevs, i);

        if (chr->device == FERRY_CHR_DEVICE_SERIAL && chr->target_port < G_N_ELEMENTS(seen) &&
            !seen[chr->target_port]) {
            seen[chr->target_port] = TRUE;
            g_ptr_array_add(ports, (gpointer)chr);
        }
    }
    for (guint i = 0; i < QEMU_CMD_LEN(def->chardevs); i++) {
        const ferry_chr_def *chr = g_ptr_array_index(def->chardevs, i);

        if (console_is_serial(chr) && chr->target_port < G_N_ELEMENTS(seen) &&
            !seen[chr->target_port]) {
            seen[chr->target_port] = TRUE;
            g_ptr_array_add(ports, (gpointer)chr);
        }
    }
    g_ptr_array_sort(ports, compare_port);

    for (guint i = 0; i < ports->len; i++) {
        const ferry_chr_def *chr = g_ptr_array_index(ports, i);
        g_autofree char *id = g_strdup_printf("serial%u", chr->target_port);

        add_chardev(cmd, id, &chr->source);
        qemu_cmd_add(cmd, "-device");
        if (chr->target_port == 0)
            qemu_cmd_addf(cmd, "isa-serial,chardev=%s,id=%s", id, id);
        else
            qemu_cmd_addf(cmd, "isa-serial,chardev=%s,id=%s,index=%u", id, id, chr->target_port);
    }
}

/* Virtio consoles and channels: ports of a virtio-serial controller. */
static void
add_virtio_ports(qemu_cmd *cmd)
{
    const ferry_domain_def *def = cmd->def;
    guint consoles = 0;
    guint channels = 0;

    for (guint i = 0; i < QEMU_CMD_LEN(def->chardevs); i++) {
        const ferry_chr_def *chr = g_ptr_array_index(def->chardevs, i);
        g_autoptr(GString) s = NULL;
        g_autofree char *id = NULL;

        if (chr->device == FERRY_CHR_DEVICE_CONSOLE && !console_is_serial(chr)) {
            id = g_strdup_printf("console%u", consoles++);
            s = g_string_new("virtconsole");
        } else if (chr->device == FERRY_CHR_DEVICE_CHANNEL) {
            id = g_strdup_printf("channel%u", channels++);
            s = g_string_new("virtserialport");
        } else {
            continue;
        }
        if (chr->source.type == FERRY_CHR_UNIX && !chr->source.path) {
            g_autofree char *path = channel_default_path(cmd->opts, chr, id);

            add_chardev_path(cmd, id, &chr->source, path);
        } else {
            add_chardev(cmd, id, &chr->source);
        }
        append_virtio_serial_address(s, &chr->address);
        g_string_append_printf(s, ",chardev=%s,id=%s", id, id);
        if (chr->device == FERRY_CHR_DEVICE_CHANNEL && chr->target_name)
            qemu_append_kv(s, "name", chr->target_name);
        qemu_cmd_add_opt(cmd, "-device", g_steal_pointer(&s));
    }
}

/* The one file serial port of a definition made before chardevs existed
 * (assembled in C with only serial_log set). */
static void
add_legacy_serial(qemu_cmd *cmd)
{
    ferry_chr_source src = { .type = FERRY_CHR_FILE, .path = cmd->def->serial_log };

    add_chardev(cmd, "serial0", &src);
    qemu_cmd_add(cmd, "-device");
    qemu_cmd_add(cmd, "isa-serial,chardev=serial0,id=serial0");
}

/* ------------------------------------------------------------------ */
/* Graphics */

/* An address as the host part of -vnc or -spice addr=: IPv6 in brackets
 * for -vnc, where a ':' separates the display. */
static char *
vnc_host(const char *listen)
{
    if (strchr(listen, ':') && listen[0] != '[')
        return g_strdup_printf("[%s]", listen);
    return g_strdup(listen);
}

void
qemu_cmd_add_graphics(qemu_cmd *cmd)
{
    const ferry_domain_def *def = cmd->def;
    const char *keymap = NULL;

    for (guint i = 0; i < QEMU_CMD_LEN(def->graphics); i++) {
        const ferry_graphics_def *g = g_ptr_array_index(def->graphics, i);
        const char *listen = g->listen ? g->listen : "127.0.0.1";
        g_autoptr(GString) s = g_string_new(NULL);

        if (g_strcmp0(g->type, "vnc") == 0) {
            g_autofree char *host = vnc_host(listen);
            g_autofree char *escaped = qemu_escape_opt(host);

            /* autoport: from display 0 up, QEMU takes the first port no one
             * holds (to=); the driver reads it back with query-vnc. */
            if (g->autoport || g->port < VNC_PORT_BASE)
                g_string_printf(s, "%s:0,to=%d", escaped, VNC_DISPLAY_MAX);
            else
                g_string_printf(s, "%s:%d", escaped, g->port - VNC_PORT_BASE);
            /* The password itself is set with QMP set_password: never on
             * the command line, where every local user can read it.  Until
             * then no client gets in. */
            if (g->passwd)
                g_string_append(s, ",password=on");
            qemu_cmd_add_opt(cmd, "-vnc", g_steal_pointer(&s));
        } else if (g_strcmp0(g->type, "spice") == 0) {
            guint port = g->autoport || g->port <= 0 ? cmd->opts->spice_port : (guint)g->port;

            g_string_printf(s, "port=%u", port);
            qemu_append_kv(s, "addr", listen);
            /* Without a password, no ticket; with one, clients wait for
             * set_password as for VNC. */
            if (!g->passwd)
                g_string_append(s, ",disable-ticketing=on");
            qemu_cmd_add_opt(cmd, "-spice", g_steal_pointer(&s));
        }
        if (g->keymap && !keymap)
            keymap = g->keymap;
    }
    if (keymap) {
        qemu_cmd_add(cmd, "-k");
        qemu_cmd_add(cmd, keymap);
    }
}

/* ------------------------------------------------------------------ */
/* Video, input, memballoon, rng, watchdog */

/* The QEMU device of a video model: the primary one is VGA-compatible,
 * the others are secondary displays.  NULL: no device (none, or a model
 * QEMU can only have once as primary). */
static const char *
video_device(const ferry_video_def *video, gboolean primary)
{
    const char *model = video->model ? video->model : "";

    if (strcmp(model, "qxl") == 0)
        return primary ? "qxl-vga" : "qxl";
    if (strcmp(model, "virtio") == 0)
        return primary ? "virtio-vga" : "virtio-gpu-pci";
    if (!primary)
        return NULL;
    if (strcmp(model, "cirrus") == 0)
        return "cirrus-vga";
    if (strcmp(model, "vga") == 0)
        return "VGA";
    return NULL;
}

/* The primary video: the one marked primary, else the first. */
static guint
primary_video(const ferry_domain_def *def)
{
    for (guint i = 0; i < QEMU_CMD_LEN(def->videos); i++) {
        const ferry_video_def *video = g_ptr_array_index(def->videos, i);

        if (video->primary)
            return i;
    }
    return 0;
}

static void
add_video(qemu_cmd *cmd, guint i, gboolean primary)
{
    const ferry_video_def *video = g_ptr_array_index(cmd->def->videos, i);
    const char *device = video_device(video, primary);
    g_autoptr(GString) s = NULL;

    if (!device)
        return;
    s = g_string_new(device);
    g_string_append_printf(s, ",id=video%u", i);
    if (video->vram && strcmp(device, "VGA") == 0)
        g_string_append_printf(s, ",vgamem_mb=%u", video->vram / 1024);
    else if (video->vram && g_str_has_prefix(device, "qxl"))
        g_string_append_printf(s, ",vram_size=%" G_GUINT64_FORMAT,
                               (guint64)video->vram * 1024);
    if (video->ram && g_str_has_prefix(device, "qxl"))
        g_string_append_printf(s, ",ram_size=%" G_GUINT64_FORMAT, (guint64)video->ram * 1024);
    if (video->vgamem && g_str_has_prefix(device, "qxl"))
        g_string_append_printf(s, ",vgamem_mb=%u", video->vgamem / 1024);
    if (video->heads && (g_str_has_prefix(device, "qxl") || g_str_has_prefix(device, "virtio")))
        g_string_append_printf(s, ",max_outputs=%u", video->heads);
    qemu_append_pci_address(cmd, s, &video->address);
    qemu_cmd_add_opt(cmd, "-device", g_steal_pointer(&s));
}

static void
add_input(qemu_cmd *cmd, guint i, const ferry_input_def *input)
{
    const char *type = input->type ? input->type : "";
    g_autoptr(GString) s = NULL;

    if (g_strcmp0(input->bus, "usb") == 0) {
        s = g_string_new(strcmp(type, "tablet") == 0 ? "usb-tablet"
                         : strcmp(type, "keyboard") == 0 ? "usb-kbd" : "usb-mouse");
        g_string_append_printf(s, ",id=input%u", i);
        append_usb_address(s, &input->address);
    } else if (g_strcmp0(input->bus, "virtio") == 0) {
        s = g_string_new(strcmp(type, "tablet") == 0 ? "virtio-tablet-pci"
                         : strcmp(type, "keyboard") == 0 ? "virtio-keyboard-pci"
                         : "virtio-mouse-pci");
        g_string_append_printf(s, ",id=input%u", i);
        qemu_append_pci_address(cmd, s, &input->address);
    } else {
        /* PS/2 mouse and keyboard: the i8042 of pc and q35. */
        return;
    }
    qemu_cmd_add_opt(cmd, "-device", g_steal_pointer(&s));
}

static void
add_rng(qemu_cmd *cmd, guint i, const ferry_rng_def *rng)
{
    g_autoptr(GString) backend = g_string_new(NULL);
    g_autoptr(GString) s = g_string_new("virtio-rng-pci");

    if (rng->backend) {
        g_string_printf(backend, "rng-random,id=objrng%u", i);
        qemu_append_kv(backend, "filename", rng->backend);
    } else {
        g_string_printf(backend, "rng-builtin,id=objrng%u", i);
    }
    qemu_cmd_add_opt(cmd, "-object", g_steal_pointer(&backend));
    g_string_append_printf(s, ",rng=objrng%u,id=rng%u", i, i);
    qemu_append_pci_address(cmd, s, &rng->address);
    qemu_cmd_add_opt(cmd, "-device", g_steal_pointer(&s));
}

const char *
qemu_watchdog_action(const ferry_domain_def *def)
{
    const char *action = def->watchdog ? def->watchdog->action : NULL;

    if (!action || strcmp(action, "reset") == 0)
        return NULL;
    /* libvirt's dump is a pause while it dumps the guest's memory, then a
     * resume; ferry does not dump, so the guest stays paused for whoever
     * looks at it. */
    if (strcmp(action, "dump") == 0)
        return "pause";
    return action;  /* shutdown, poweroff, pause, none, inject-nmi: QEMU's names */
}

static void
add_watchdog(qemu_cmd *cmd, const ferry_watchdog_def *watchdog)
{
    g_autoptr(GString) s = NULL;

    if (g_strcmp0(watchdog->model, "i6300esb") == 0)
        s = g_string_new("i6300esb,id=watchdog0");
    else if (g_strcmp0(watchdog->model, "ib700") == 0)
        s = g_string_new("ib700,id=watchdog0");
    else
        return;   /* itco: the ICH9's own, built into q35; only its action is ours */
    qemu_append_pci_address(cmd, s, &watchdog->address);
    qemu_cmd_add_opt(cmd, "-device", g_steal_pointer(&s));
}

/* ------------------------------------------------------------------ */

void
qemu_cmd_add_devices(qemu_cmd *cmd)
{
    const ferry_domain_def *def = cmd->def;
    guint primary = primary_video(def);

    add_controllers(cmd);
    for (guint i = 0; i < QEMU_CMD_LEN(def->disks); i++)
        add_disk(cmd, g_ptr_array_index(def->disks, i));
    for (guint i = 0; i < QEMU_CMD_LEN(def->nets); i++)
        add_net(cmd, i, g_ptr_array_index(def->nets, i));
    if (QEMU_CMD_LEN(def->chardevs) > 0) {
        add_serials(cmd);
        add_virtio_ports(cmd);
    } else if (def->serial_log) {
        add_legacy_serial(cmd);
    }
    if (QEMU_CMD_LEN(def->videos) > 0) {
        add_video(cmd, primary, TRUE);
        for (guint i = 0; i < def->videos->len; i++) {
            if (i != primary)
                add_video(cmd, i, FALSE);
        }
    }
    for (guint i = 0; i < QEMU_CMD_LEN(def->inputs); i++)
        add_input(cmd, i, g_ptr_array_index(def->inputs, i));
    if (def->memballoon && g_strcmp0(def->memballoon->model, "virtio") == 0) {
        g_autoptr(GString) s = g_string_new("virtio-balloon-pci,id=balloon0");

        /* <stats period>: the driver sets guest-stats-polling-interval
         * over QMP; it is no device property. */
        qemu_append_pci_address(cmd, s, &def->memballoon->address);
        qemu_cmd_add_opt(cmd, "-device", g_steal_pointer(&s));
    }
    for (guint i = 0; i < QEMU_CMD_LEN(def->rngs); i++)
        add_rng(cmd, i, g_ptr_array_index(def->rngs, i));
    if (def->watchdog)
        add_watchdog(cmd, def->watchdog);
}

/* ------------------------------------------------------------------ */
/* What QEMU cannot be given */

static const char *const disk_bus_names[] = {
    [FERRY_DISK_BUS_VIRTIO] = "virtio", [FERRY_DISK_BUS_IDE] = "ide",
    [FERRY_DISK_BUS_SATA] = "sata", [FERRY_DISK_BUS_SCSI] = "scsi",
    [FERRY_DISK_BUS_USB] = "usb", [FERRY_DISK_BUS_FDC] = "fdc",
};

static const char *
disk_bus_name(ferry_disk_bus bus)
{
    return (guint)bus < G_N_ELEMENTS(disk_bus_names) ? disk_bus_names[bus] : "?";
}

static gboolean
check_disk(const ferry_domain_def *def, const ferry_disk_def *disk, gboolean q35,
           GError **error)
{
    const char *bus = disk_bus_name(disk->bus);
    const cache_mode *cache = disk_cache_mode(disk);
    gboolean ide = disk->bus == FERRY_DISK_BUS_IDE || disk->bus == FERRY_DISK_BUS_SATA;

    if (disk->device == FERRY_DISK_DEVICE_CDROM && !ide && disk->bus != FERRY_DISK_BUS_SCSI)
        return qemu_refuse(error, def, "disk '%s': QEMU has no cdrom on bus '%s' "
                      "(expected ide, sata or scsi)", disk->target, bus);
    if ((disk->device == FERRY_DISK_DEVICE_FLOPPY) != (disk->bus == FERRY_DISK_BUS_FDC))
        return qemu_refuse(error, def, "disk '%s': a %s on bus '%s' (a floppy goes on bus 'fdc', "
                      "and only a floppy)", disk->target,
                      disk->device == FERRY_DISK_DEVICE_FLOPPY ? "floppy" : "disk", bus);
    /* On q35 an IDE disk is on an AHCI port (QEMU's ide.0 to ide.5): one
     * unit each. */
    if (disk->bus == FERRY_DISK_BUS_IDE && q35 && disk->address.type == FERRY_ADDRESS_DRIVE &&
        (disk->address.unit > 0 || disk->address.bus > 5))
        return qemu_refuse(error, def, "disk '%s': machine '%s' has IDE buses 0 to 5 of one unit "
                      "each (the AHCI ports), not bus %u unit %u", disk->target, def->machine,
                      disk->address.bus, disk->address.unit);
    if (ide && disk->device == FERRY_DISK_DEVICE_DISK && disk->readonly)
        return qemu_refuse(error, def, "disk '%s': QEMU's IDE and SATA disks cannot be read-only "
                      "(use a cdrom, or bus virtio or scsi)", disk->target);
    if (disk->bus == FERRY_DISK_BUS_FDC && disk->serial)
        return qemu_refuse(error, def, "disk '%s': a floppy has no serial number", disk->target);
    if (!disk_has_medium(disk) && disk->device == FERRY_DISK_DEVICE_DISK)
        return qemu_refuse(error, def, "disk '%s': a disk needs a source (only a cdrom or a floppy "
                      "may be empty)", disk->target);
    if (disk->cache && !cache)
        return qemu_refuse(error, def, "disk '%s': unknown cache mode '%s'", disk->target,
                      disk->cache);
    if (g_strcmp0(disk->io, "native") == 0 && (!cache || !cache->direct))
        return qemu_refuse(error, def, "disk '%s': io 'native' needs cache 'none' or 'directsync' "
                      "(QEMU's native AIO bypasses the page cache)", disk->target);
    return TRUE;
}

static gboolean
check_controller(const ferry_domain_def *def, const ferry_controller_def *ctrl, gboolean q35,
                 GError **error)
{
    const char *type = ctrl->type ? ctrl->type : "";
    const char *model = ctrl->model ? ctrl->model : "";

    if (strcmp(type, "pci") == 0 && ctrl->model &&
        !g_strv_contains((const char *const[]){ "pci-root", "pcie-root", "pcie-root-port",
                                                "pci-bridge", NULL }, model))
        return qemu_refuse(error, def, "controller pci %u: model '%s' is not supported "
                      "(expected pci-root, pcie-root, pcie-root-port or pci-bridge)",
                      ctrl->index, model);
    if (strcmp(type, "ide") == 0 && (q35 || ctrl->index > 0))
        return qemu_refuse(error, def, "controller ide %u: machine '%s' has %s", ctrl->index,
                      def->machine, q35 ? "no IDE controller (use sata)"
                                        : "one IDE controller, index 0");
    if (strcmp(type, "scsi") == 0 && !scsi_controller_device(ctrl->model))
        return qemu_refuse(error, def, "controller scsi %u: model '%s' is not supported "
                      "(expected virtio-scsi or lsilogic)", ctrl->index, model);
    if (strcmp(type, "usb") == 0 && strcmp(model, "none") != 0 &&
        !usb_controller_device(q35, ctrl->model))
        return qemu_refuse(error, def, "controller usb %u: model '%s' is not supported (expected "
                      "piix3-uhci, piix4-uhci, qemu-xhci, nec-xhci, ich9-ehci1 or none)",
                      ctrl->index, model);
    return TRUE;
}

static gboolean
check_chardev(const ferry_domain_def *def, const ferry_chr_def *chr,
              const ferry_qemu_command_opts *opts, GError **error)
{
    static const char *const kinds[] = { "serial", "console", "channel" };
    const char *kind = (guint)chr->device < G_N_ELEMENTS(kinds) ? kinds[chr->device] : "?";
    gboolean virtio_port = chr->device == FERRY_CHR_DEVICE_CHANNEL ||
                           (chr->device == FERRY_CHR_DEVICE_CONSOLE && !console_is_serial(chr));

    if (chr->source.type == FERRY_CHR_UNIX && !chr->source.path &&
        !(virtio_port && opts && opts->channel_dir))
        return qemu_refuse(error, def, "%s %u: a unix socket needs a path", kind, chr->target_port);
    if (chr->source.type == FERRY_CHR_TCP && !chr->source.service)
        return qemu_refuse(error, def, "%s %u: a TCP socket needs a port (service)", kind,
                      chr->target_port);
    if (chr->source.type == FERRY_CHR_FILE && !chr->source.path)
        return qemu_refuse(error, def, "%s %u: a file needs a path", kind, chr->target_port);
    if ((chr->device == FERRY_CHR_DEVICE_SERIAL || console_is_serial(chr)) &&
        chr->target_port > 3)
        return qemu_refuse(error, def, "%s %u: an ISA serial port is 0 to 3", kind,
                      chr->target_port);
    if (chr->device == FERRY_CHR_DEVICE_CHANNEL && chr->target_type &&
        strcmp(chr->target_type, "virtio") != 0)
        return qemu_refuse(error, def, "channel '%s': target type '%s' is not supported "
                      "(only virtio)", chr->target_name ? chr->target_name : "",
                      chr->target_type);
    if (chr->device == FERRY_CHR_DEVICE_CONSOLE && chr->target_type &&
        strcmp(chr->target_type, "serial") != 0 && strcmp(chr->target_type, "virtio") != 0)
        return qemu_refuse(error, def, "console %u: target type '%s' is not supported "
                      "(expected serial or virtio)", chr->target_port, chr->target_type);
    return TRUE;
}

static gboolean
check_graphics(const ferry_domain_def *def, const ferry_graphics_def *g,
               const ferry_qemu_command_opts *opts, GError **error)
{
    if (g_strcmp0(g->type, "vnc") == 0) {
        if (!g->autoport && g->port >= 0 && g->port < VNC_PORT_BASE)
            return qemu_refuse(error, def, "graphics vnc: port %d is below %d, where VNC "
                          "displays start", g->port, VNC_PORT_BASE);
        return TRUE;
    }
    if (g_strcmp0(g->type, "spice") == 0) {
        if ((g->autoport || g->port <= 0) && (!opts || !opts->spice_port))
            return qemu_refuse(error, def, "graphics spice: autoport needs a port reserved by the "
                          "driver (QEMU's SPICE server cannot pick one)");
        return TRUE;
    }
    return qemu_refuse(error, def, "graphics '%s' is not supported (expected vnc or spice)",
                  g->type ? g->type : "");
}

static gboolean
check_videos(const ferry_domain_def *def, GError **error)
{
    guint primary = primary_video(def);

    for (guint i = 0; i < QEMU_CMD_LEN(def->videos); i++) {
        const ferry_video_def *video = g_ptr_array_index(def->videos, i);
        const char *model = video->model ? video->model : "";

        if (strcmp(model, "none") == 0)
            continue;
        if (!video_device(video, TRUE))
            return qemu_refuse(error, def, "video %u: model '%s' is not supported (expected "
                          "cirrus, vga, qxl, virtio or none)", i, model);
        if (i != primary && !video_device(video, FALSE))
            return qemu_refuse(error, def, "video %u: model '%s' can only be the primary video "
                          "(secondary ones are qxl or virtio)", i, model);
    }
    return TRUE;
}

static gboolean
check_input(const ferry_domain_def *def, guint i, const ferry_input_def *input,
            GError **error)
{
    const char *bus = input->bus ? input->bus : "ps2";
    const char *type = input->type ? input->type : "";

    if (!g_strv_contains((const char *const[]){ "ps2", "usb", "virtio", NULL }, bus))
        return qemu_refuse(error, def, "input %u: bus '%s' is not supported "
                      "(expected ps2, usb or virtio)", i, bus);
    if (!g_strv_contains((const char *const[]){ "mouse", "tablet", "keyboard", NULL }, type))
        return qemu_refuse(error, def, "input %u: type '%s' is not supported "
                      "(expected mouse, tablet or keyboard)", i, type);
    if (strcmp(bus, "ps2") == 0 && strcmp(type, "tablet") == 0)
        return qemu_refuse(error, def, "input %u: there is no PS/2 tablet (use bus usb or virtio)",
                      i);
    return TRUE;
}

gboolean
ferry_qemu_check_hostdevs(const ferry_domain_def *def, GError **error)
{
    g_autofree char *what = NULL;

    g_return_val_if_fail(def != NULL, FALSE);

    if (QEMU_CMD_LEN(def->hostdevs) == 0)
        return TRUE;
    /* The builder has no -device for one: refused, never dropped. */
    what = ferry_hostdev_describe(g_ptr_array_index(def->hostdevs, 0));
    g_set_error(error, FERRY_ERROR, FERRY_ERROR_NO_SUPPORT, "domain '%s': %s: host device "
                "assignment is not supported by ferry's QEMU driver", def->name, what);
    return FALSE;
}

gboolean
qemu_check_devices(const ferry_domain_def *def, const ferry_qemu_command_opts *opts,
                   gboolean q35, GError **error)
{
    if (!ferry_qemu_check_hostdevs(def, error))
        return FALSE;
    for (guint i = 0; i < QEMU_CMD_LEN(def->disks); i++) {
        if (!check_disk(def, g_ptr_array_index(def->disks, i), q35, error))
            return FALSE;
    }
    for (guint i = 0; i < QEMU_CMD_LEN(def->controllers); i++) {
        if (!check_controller(def, g_ptr_array_index(def->controllers, i), q35, error))
            return FALSE;
    }
    for (guint i = 0; i < QEMU_CMD_LEN(def->nets); i++) {
        const ferry_net_def *net = g_ptr_array_index(def->nets, i);

        if (net->model && !g_strv_contains((const char *const[]){ "virtio", "e1000",
                                                                  "rtl8139", NULL },
                                           net->model))
            return qemu_refuse(error, def, "interface %u (%s): model '%s' is not supported "
                          "(expected virtio, e1000 or rtl8139)", i,
                          net->mac ? net->mac : "no MAC", net->model);
    }
    for (guint i = 0; i < QEMU_CMD_LEN(def->chardevs); i++) {
        if (!check_chardev(def, g_ptr_array_index(def->chardevs, i), opts, error))
            return FALSE;
    }
    for (guint i = 0; i < QEMU_CMD_LEN(def->graphics); i++) {
        if (!check_graphics(def, g_ptr_array_index(def->graphics, i), opts, error))
            return FALSE;
    }
    if (!check_videos(def, error))
        return FALSE;
    for (guint i = 0; i < QEMU_CMD_LEN(def->inputs); i++) {
        if (!check_input(def, i, g_ptr_array_index(def->inputs, i), error))
            return FALSE;
    }
    if (def->memballoon && g_strcmp0(def->memballoon->model, "virtio") != 0 &&
        g_strcmp0(def->memballoon->model, "none") != 0)
        return qemu_refuse(error, def, "memballoon: model '%s' is not supported "
                      "(expected virtio or none)", def->memballoon->model);
    for (guint i = 0; i < QEMU_CMD_LEN(def->rngs); i++) {
        const ferry_rng_def *rng = g_ptr_array_index(def->rngs, i);

        if (g_strcmp0(rng->model, "virtio") != 0)
            return qemu_refuse(error, def, "rng %u: model '%s' is not supported (only virtio)", i,
                          rng->model ? rng->model : "");
    }
    if (def->watchdog) {
        const char *model = def->watchdog->model ? def->watchdog->model : "";
        const char *action = def->watchdog->action;

        if (strcmp(model, "i6300esb") != 0 && strcmp(model, "ib700") != 0)
            return qemu_refuse(error, def, "watchdog: model '%s' is not supported "
                          "(expected i6300esb or ib700)", model);
        if (action && !g_strv_contains((const char *const[]){ "reset", "shutdown",
                                                              "poweroff", "pause", "none",
                                                              "dump", "inject-nmi", NULL },
                                       action))
            return qemu_refuse(error, def, "watchdog: action '%s' is not supported (expected "
                          "reset, shutdown, poweroff, pause, none, dump or inject-nmi)",
                          action);
    }
    return TRUE;
}
