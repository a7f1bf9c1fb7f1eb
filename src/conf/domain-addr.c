/*
 * domain-addr.c: completes a definition's guest ABI, the way libvirt's
 * post-parse does.
 *
 * Why: QEMU places a device it is not told where to put in the first free
 * slot it finds, so the layout would follow the order of the command line
 * and change with it.  A migrated guest carries its device state to the
 * destination's QEMU, which must therefore get exactly the same layout:
 * every device's address, every controller a device needs, every MAC.  So
 * they are chosen once, at define, written into the XML, and kept; this
 * file chooses them, deterministically (the same definition always gets
 * the same layout), and leaves every address already given alone.
 *
 * Owns: ferry_domain_def_assign_addresses(): implicit controllers, PCI
 * slots on bus 0 of the pc (i440fx) and q35 machines, drive, USB and
 * virtio-serial addresses, MACs, a serial console's serial port.  Must
 * not: parse or format XML (domain-conf-devices.c does), touch files.
 */
#include "ferry-config.h"

#include <ferry/ferry.h>
#include <string.h>

#include "conf/domain-conf-devices.h"
#include "conf/domain-conf-priv.h"

#define PCI_SLOTS 32
#define PCI_FUNCTIONS 8
#define CONTROLLERS_MAX 32        /* indexes 0 to 31, as the parser allows */
#define VIRTIO_SERIAL_PORTS 31    /* QEMU's default max_ports */
#define SERIAL_PORTS 4

typedef struct {
    ferry_domain_def *def;
    ferry_xml_reader *r;          /* the walk that read def, or NULL: where each device is */
    gboolean q35;
    const char *machine;          /* for messages */
    GPtrArray *names;             /* owned strings the tables below point into */
    const char *pci[PCI_SLOTS][PCI_FUNCTIONS]; /* who holds each function of bus 0 */
    const char *builtin[PCI_SLOTS];            /* the chipset's, where it sits */
} addr_state;

/* A PCI device to place. */
typedef struct {
    gconstpointer device;         /* the struct holding addr, for messages */
    ferry_device_address *addr;
    const char *owner;
    int forced_slot;              /* a chipset function it must sit on; -1: none */
    int forced_function;
} pci_dev;

static const char *
keep(addr_state *s, char *text)
{
    g_ptr_array_add(s->names, text);
    return text;
}

/* Refuses the definition because of @thing (a device, or a field of the
 * definition), naming its element and line when the walk read it. */
static void G_GNUC_PRINTF(4, 5)
fail(const addr_state *s, gconstpointer thing, GError **error, const char *format, ...)
{
    g_autofree char *message = NULL;
    xmlNodePtr node;
    va_list ap;

    va_start(ap, format);
    message = g_strdup_vprintf(format, ap);
    va_end(ap);
    node = ferry_xml_reader_origin(s->r, thing);
    if (!node)
        node = ferry_xml_reader_origin(s->r, s->def);
    if (node)
        ferry_xml_error(s->r, error, node, "%s", message);
    else
        g_set_error_literal(error, FERRY_ERROR, FERRY_ERROR_XML, message);
}

static gboolean
is_type(const ferry_controller_def *c, const char *type)
{
    return g_strcmp0(c->type, type) == 0;
}

static ferry_controller_def *
find_controller(const ferry_domain_def *def, const char *type, guint index)
{
    for (guint i = 0; i < def->controllers->len; i++) {
        ferry_controller_def *c = g_ptr_array_index(def->controllers, i);

        if (is_type(c, type) && c->index == index)
            return c;
    }
    return NULL;
}

/* Adds controllers @type 0 to @max that are missing, as libvirt does. */
static void
add_controllers(addr_state *s, const char *type, guint max, const char *model)
{
    for (guint index = 0; index <= max; index++) {
        ferry_controller_def *c;

        if (find_controller(s->def, type, index))
            continue;
        c = g_new0(ferry_controller_def, 1);
        c->type = g_strdup(type);
        c->index = index;
        c->model = g_strdup(model);
        g_ptr_array_add(s->def->controllers, c);
    }
}

static char *
describe_controller(const ferry_controller_def *c)
{
    return g_strdup_printf("controller '%s' index %u", c->type ? c->type : "?", c->index);
}

/* ---- the machine ---------------------------------------------------------- */

static gboolean
check_machine(addr_state *s, GError **error)
{
    const char *m = s->def->machine ? s->def->machine : "pc";

    s->machine = m;
    if (strcmp(m, "q35") == 0 || g_str_has_prefix(m, "pc-q35-")) {
        s->q35 = TRUE;
        return TRUE;
    }
    if (strcmp(m, "pc") == 0 || g_str_has_prefix(m, "pc-i440fx-") ||
        g_str_has_prefix(m, "pc-0.") || g_str_has_prefix(m, "pc-1."))
        return TRUE;
    fail(s, &s->def->machine, error,
         "machine '%s': ferry lays devices out for the pc (i440fx) and q35 machines only", m);
    return FALSE;
}

/* Models the XML left to the machine, and what a machine cannot have. */
static gboolean
complete_controllers(addr_state *s, GError **error)
{
    for (guint i = 0; i < s->def->controllers->len; i++) {
        ferry_controller_def *c = g_ptr_array_index(s->def->controllers, i);
        g_autofree char *name = describe_controller(c);

        if (is_type(c, "pci")) {
            const char *root = s->q35 ? "pcie-root" : "pci-root";

            if (!c->model)
                c->model = g_strdup(root);
            if (strcmp(c->model, root) != 0) {
                fail(s, c, error,
                     "%s: model '%s' is not the root bus of machine '%s' (expected '%s')", name,
                     c->model, s->machine, root);
                return FALSE;
            }
        } else if (is_type(c, "usb") && !c->model) {
            c->model = g_strdup(s->q35 ? "qemu-xhci" : "piix3-uhci");
        } else if (is_type(c, "scsi") && !c->model) {
            c->model = g_strdup("virtio-scsi");
        } else if (is_type(c, "ide") && s->q35) {
            fail(s, c, error, "%s: machine '%s' has no IDE controller (use a sata one)", name,
                 s->machine);
            return FALSE;
        }
    }
    return TRUE;
}

/* ---- serial ports and consoles ------------------------------------------- */

/* Keeps the chardevs grouped as the parser reads them: serials first. */
static void
insert_serial(ferry_domain_def *def, ferry_chr_def *serial)
{
    guint at = 0;

    for (guint i = 0; i < def->chardevs->len; i++) {
        const ferry_chr_def *chr = g_ptr_array_index(def->chardevs, i);

        if (chr->device == FERRY_CHR_DEVICE_SERIAL)
            at = i + 1;
    }
    g_ptr_array_insert(def->chardevs, at, serial);
}

static ferry_chr_def *
find_serial(const ferry_domain_def *def, guint port)
{
    for (guint i = 0; i < def->chardevs->len; i++) {
        ferry_chr_def *chr = g_ptr_array_index(def->chardevs, i);

        if (chr->device == FERRY_CHR_DEVICE_SERIAL && chr->target_port == port)
            return chr;
    }
    return NULL;
}

static ferry_chr_def *
new_serial(guint port, const ferry_chr_source *source)
{
    ferry_chr_def *serial = g_new0(ferry_chr_def, 1);

    serial->device = FERRY_CHR_DEVICE_SERIAL;
    serial->target_type = g_strdup("isa-serial");
    serial->target_port = port;
    ferry_chr_source_copy(&serial->source, source);
    return serial;
}

/*
 * A console of target type 'serial' is serial port N seen as the console
 * (QEMU has no device of its own for it): without serial N, libvirt adds
 * one with the console's source; with it, the console shows its source.
 */
static gboolean
complete_chardevs(addr_state *s, GError **error)
{
    ferry_domain_def *def = s->def;

    /* Code that built the definition may only have said where the log goes. */
    if (def->serial_log && !find_serial(def, 0)) {
        gboolean any = FALSE;

        for (guint i = 0; i < def->chardevs->len; i++)
            any |= ((ferry_chr_def *)g_ptr_array_index(def->chardevs, i))->device ==
                   FERRY_CHR_DEVICE_SERIAL;
        if (!any) {
            ferry_chr_source log = { .type = FERRY_CHR_FILE, .path = def->serial_log };

            insert_serial(def, new_serial(0, &log));
        }
    }
    for (guint i = 0; i < def->chardevs->len; i++) {
        ferry_chr_def *chr = g_ptr_array_index(def->chardevs, i);
        ferry_chr_def *serial;

        if (chr->device == FERRY_CHR_DEVICE_SERIAL && !chr->target_type)
            chr->target_type = g_strdup("isa-serial");
        if (chr->device == FERRY_CHR_DEVICE_CHANNEL && !chr->target_type)
            chr->target_type = g_strdup("virtio");
        if (chr->device != FERRY_CHR_DEVICE_CONSOLE)
            continue;
        if (!chr->target_type)
            chr->target_type = g_strdup("serial");
        if (strcmp(chr->target_type, "serial") != 0)
            continue;
        if (chr->target_port >= SERIAL_PORTS) {
            fail(s, chr, error, "console %u: a PC has serial ports 0 to %d", chr->target_port,
                 SERIAL_PORTS - 1);
            return FALSE;
        }
        serial = find_serial(def, chr->target_port);
        if (!serial) {
            serial = new_serial(chr->target_port, &chr->source);
            if (s->r)
                ferry_xml_reader_set_origin(s->r, serial, ferry_xml_reader_origin(s->r, chr)
                                                          ?: ferry_xml_reader_origin(s->r, def));
            insert_serial(def, serial);
            continue;
        }
        ferry_chr_source_clear(&chr->source);
        ferry_chr_source_copy(&chr->source, &serial->source);
    }

    g_clear_pointer(&def->serial_log, g_free);
    for (guint i = 0; i < def->chardevs->len; i++) {
        const ferry_chr_def *chr = g_ptr_array_index(def->chardevs, i);

        if (chr->device == FERRY_CHR_DEVICE_SERIAL && chr->target_port == 0 &&
            chr->source.type == FERRY_CHR_FILE && chr->source.path) {
            def->serial_log = g_strdup(chr->source.path);
            break;
        }
    }
    return TRUE;
}

/* The primary video is the first, and says so (libvirt writes primary='yes'). */
static void
complete_videos(addr_state *s)
{
    GPtrArray *videos = s->def->videos;
    ferry_video_def *first;

    for (guint i = 1; i < videos->len; i++) {
        ferry_video_def *video = g_ptr_array_index(videos, i);

        if (video->primary) {
            g_ptr_array_steal_index(videos, i);
            g_ptr_array_insert(videos, 0, video);
            break;
        }
    }
    for (guint i = 1; i < videos->len; i++)
        ((ferry_video_def *)g_ptr_array_index(videos, i))->primary = FALSE;
    if (videos->len == 0)
        return;
    first = g_ptr_array_index(videos, 0);
    first->primary = g_strcmp0(first->model, "none") != 0;
}

/* ---- drive addresses ----------------------------------------------------- */

static const char *const drive_bus_names[] = {
    [FERRY_DISK_BUS_VIRTIO] = "virtio",
    [FERRY_DISK_BUS_IDE] = "ide",
    [FERRY_DISK_BUS_SATA] = "sata",
    [FERRY_DISK_BUS_SCSI] = "scsi",
    [FERRY_DISK_BUS_USB] = "usb",
    [FERRY_DISK_BUS_FDC] = "fdc",
};

/* The letters after the prefix, counted as libvirt does (a 0, aa 26). */
static guint
target_index(const char *target)
{
    guint index = 0;

    if (!target || strlen(target) < 3)
        return 0;
    for (const char *p = target + 2; *p >= 'a' && *p <= 'z'; p++)
        index = (index + (p > target + 2 ? 1 : 0)) * 26 + (guint)(*p - 'a');
    return index;
}

/*
 * libvirt's rule, so that a disk keeps the address it would have under
 * libvirt: ide hdX on bus index/2 unit index%2, sata sdX on controller
 * index/6 unit index%6, scsi sdX on controller index/7 unit index%7 (the
 * old LSI limit libvirt kept for virtio-scsi), fdX on unit index.
 */
static gboolean
assign_drives(addr_state *s, GError **error)
{
    g_autoptr(GHashTable) used = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    guint max_sata = 0, max_scsi = 0;
    gboolean any_sata = FALSE, any_scsi = FALSE;

    for (int pass = 0; pass < 2; pass++) {
        for (guint i = 0; i < s->def->disks->len; i++) {
            ferry_disk_def *disk = g_ptr_array_index(s->def->disks, i);
            ferry_device_address *a = &disk->address;
            guint index = target_index(disk->target);
            const char *bus;
            char *key;
            const ferry_disk_def *other;

            if ((guint)disk->bus >= G_N_ELEMENTS(drive_bus_names) ||
                disk->bus == FERRY_DISK_BUS_VIRTIO || disk->bus == FERRY_DISK_BUS_USB)
                continue;
            bus = drive_bus_names[disk->bus];
            /* The given addresses first, so the chosen ones avoid them. */
            if ((pass == 0) != (a->type == FERRY_ADDRESS_DRIVE))
                continue;
            if (a->type == FERRY_ADDRESS_NONE) {
                a->type = FERRY_ADDRESS_DRIVE;
                switch (disk->bus) {
                case FERRY_DISK_BUS_IDE:
                    /* q35 has no IDE: QEMU puts "ide" disks on the ICH9's
                     * AHCI ports ide.0 to ide.5, one unit each. */
                    if (s->q35)
                        a->bus = index, a->unit = 0;
                    else
                        a->bus = index / 2, a->unit = index % 2;
                    break;
                case FERRY_DISK_BUS_SATA:
                    a->controller = index / 6, a->unit = index % 6;
                    break;
                case FERRY_DISK_BUS_SCSI:
                    a->controller = index / 7, a->unit = index % 7;
                    break;
                default:
                    a->unit = index;
                    break;
                }
            }
            if (a->type != FERRY_ADDRESS_DRIVE) {
                fail(s, disk, error, "disk '%s': its address is not a drive one", disk->target);
                return FALSE;
            }
            if (a->controller >= CONTROLLERS_MAX) {
                fail(s, disk, error, "disk '%s': it would need %s controller %u, and ferry adds "
                     "controllers 0 to %d only (give it an <address>)", disk->target, bus,
                     a->controller, CONTROLLERS_MAX - 1);
                return FALSE;
            }
            if (disk->bus == FERRY_DISK_BUS_IDE &&
                (s->q35 ? a->bus > 5 || a->unit > 0 : a->bus > 1 || a->unit > 1)) {
                fail(s, disk, error, "disk '%s': ide drive address %u:%u:%u:%u does not exist on "
                     "machine '%s' (%s)", disk->target, a->controller, a->bus, a->target,
                     a->unit, s->machine, s->q35 ? "buses 0 to 5, unit 0: the AHCI ports"
                                                 : "buses 0 and 1, units 0 and 1");
                return FALSE;
            }
            /* On q35 an ide disk sits on an AHCI port of sata controller 0. */
            if (disk->bus == FERRY_DISK_BUS_IDE && s->q35)
                key = g_strdup_printf("sata:0:0:0:%u", a->bus);
            else
                key = g_strdup_printf("%s:%u:%u:%u:%u", bus, a->controller, a->bus, a->target,
                                      a->unit);
            other = g_hash_table_lookup(used, key);
            if (other) {
                fail(s, disk, error,
                     "disk '%s': its %s drive address %u:%u:%u:%u is that of disk '%s'",
                     disk->target, bus, a->controller, a->bus, a->target, a->unit, other->target);
                g_free(key);
                return FALSE;
            }
            g_hash_table_insert(used, key, disk);
            if (disk->bus == FERRY_DISK_BUS_SATA) {
                any_sata = TRUE;
                max_sata = MAX(max_sata, a->controller);
            } else if (disk->bus == FERRY_DISK_BUS_SCSI) {
                any_scsi = TRUE;
                max_scsi = MAX(max_scsi, a->controller);
            }
        }
    }
    /* No ide or fdc controller: the chipset's are there anyway. */
    if (any_scsi)
        add_controllers(s, "scsi", max_scsi, "virtio-scsi");
    if (any_sata)
        add_controllers(s, "sata", max_sata, NULL);
    return TRUE;
}

/* ---- virtio-serial ports -------------------------------------------------- */

static gboolean
needs_virtio_serial(const ferry_chr_def *chr)
{
    return chr->device == FERRY_CHR_DEVICE_CHANNEL ||
           (chr->device == FERRY_CHR_DEVICE_CONSOLE && g_strcmp0(chr->target_type, "virtio") == 0);
}

static char *
describe_chr(const ferry_chr_def *chr)
{
    if (chr->device == FERRY_CHR_DEVICE_CHANNEL)
        return g_strdup_printf("channel '%s'", chr->target_name ? chr->target_name : "");
    return g_strdup_printf("console %u", chr->target_port);
}

/* Channels from port 1 up; port 0 is a virtio console's (hvc0 in the guest). */
static gboolean
assign_virtio_serial(addr_state *s, GError **error)
{
    g_autoptr(GHashTable) used = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    GPtrArray *chardevs = s->def->chardevs;
    guint max_controller = 0;
    gboolean any = FALSE;

    for (guint i = 0; i < chardevs->len; i++) {
        const ferry_chr_def *chr = g_ptr_array_index(chardevs, i);

        if (!needs_virtio_serial(chr))
            continue;
        any = TRUE;
        if (chr->address.type == FERRY_ADDRESS_VIRTIO_SERIAL)
            max_controller = MAX(max_controller, chr->address.controller);
    }
    if (!any)
        return TRUE;
    add_controllers(s, "virtio-serial", max_controller, NULL);

    for (int pass = 0; pass < 2; pass++) {
        for (guint i = 0; i < chardevs->len; i++) {
            ferry_chr_def *chr = g_ptr_array_index(chardevs, i);
            ferry_device_address *a = &chr->address;
            g_autofree char *name = NULL;
            const ferry_controller_def *c;
            guint ports;
            char *key;

            if (!needs_virtio_serial(chr) ||
                (pass == 0) != (a->type == FERRY_ADDRESS_VIRTIO_SERIAL))
                continue;
            name = describe_chr(chr);
            if (a->type != FERRY_ADDRESS_NONE && a->type != FERRY_ADDRESS_VIRTIO_SERIAL) {
                fail(s, chr, error, "%s: its address is not a virtio-serial one", name);
                return FALSE;
            }
            c = find_controller(s->def, "virtio-serial", a->type ? a->controller : 0);
            ports = c && c->ports ? c->ports : VIRTIO_SERIAL_PORTS;
            if (a->type == FERRY_ADDRESS_NONE) {
                gboolean console = chr->device == FERRY_CHR_DEVICE_CONSOLE;

                a->type = FERRY_ADDRESS_VIRTIO_SERIAL;
                a->controller = 0, a->bus = 0;
                a->port = console && !g_hash_table_contains(used, "0:0") ? 0 : 1;
                for (;; a->port++) {
                    g_autofree char *probe = g_strdup_printf("0:%u", a->port);

                    if (!g_hash_table_contains(used, probe))
                        break;
                }
            }
            /* QEMU keeps port 0 of a bus for a virtio console. */
            if (a->port == 0 && chr->device == FERRY_CHR_DEVICE_CHANNEL) {
                fail(s, chr, error,
                     "%s: port 0 of a virtio-serial bus is a virtio console's, as QEMU has it "
                     "(channels take ports 1 and up)", name);
                return FALSE;
            }
            if (a->port >= ports) {
                fail(s, chr, error,
                     "%s: port %u is beyond the %u ports of virtio-serial controller %u", name,
                     a->port, ports, a->controller);
                return FALSE;
            }
            key = g_strdup_printf("%u:%u", a->controller, a->port);
            if (g_hash_table_contains(used, key)) {
                fail(s, chr, error, "%s: virtio-serial address %u:%u:%u is already used", name,
                     a->controller, a->bus, a->port);
                g_free(key);
                return FALSE;
            }
            g_hash_table_add(used, key);
        }
    }
    return TRUE;
}

/* ---- USB ports ------------------------------------------------------------ */

/* libvirt's port counts: the UHCI has two, an XHCI 4 unless told. */
static guint
usb_ports(const ferry_controller_def *c)
{
    if (g_strcmp0(c->model, "piix3-uhci") == 0)
        return 2;
    return c->ports ? c->ports : 4;
}

static gboolean
assign_usb_one(addr_state *s, GHashTable *used, gconstpointer device, ferry_device_address *a,
               const char *owner, gboolean chosen_pass, GError **error)
{
    const ferry_controller_def *c;
    guint64 port = 0;
    char *key;

    if (a->type != FERRY_ADDRESS_NONE && a->type != FERRY_ADDRESS_USB) {
        fail(s, device, error, "%s: its address is not a USB one", owner);
        return FALSE;
    }
    if (chosen_pass != (a->type == FERRY_ADDRESS_NONE || !a->usb_port))
        return TRUE;
    c = find_controller(s->def, "usb", a->bus);
    if (!c || g_strcmp0(c->model, "none") == 0) {
        fail(s, device, error,
             "%s: USB controller %u is model 'none': the guest has no USB", owner, a->bus);
        return FALSE;
    }
    if (chosen_pass) {
        a->type = FERRY_ADDRESS_USB;
        for (port = 1; port <= usb_ports(c); port++) {
            g_autofree char *probe = g_strdup_printf("%u:%u", a->bus, (guint)port);

            if (!g_hash_table_contains(used, probe))
                break;
        }
        if (port > usb_ports(c)) {
            fail(s, device, error,
                 "%s: the %u ports of USB controller %u (%s) are all taken, and ferry adds no USB "
                 "hubs", owner, usb_ports(c), a->bus, c->model);
            return FALSE;
        }
        g_free(a->usb_port);
        a->usb_port = g_strdup_printf("%u", (guint)port);
    }
    if (ferry_xml_parse_uint(a->usb_port, 1, usb_ports(c), &port) != FERRY_XML_NUMBER_OK) {
        fail(s, device, error,
             "%s: USB port '%s' does not exist on controller %u (%s), which has ports 1 to %u and "
             "no hubs", owner, a->usb_port, a->bus, c->model, usb_ports(c));
        return FALSE;
    }
    key = g_strdup_printf("%u:%u", a->bus, (guint)port);
    if (g_hash_table_contains(used, key)) {
        fail(s, device, error, "%s: USB address %u:%u is already used", owner, a->bus, (guint)port);
        g_free(key);
        return FALSE;
    }
    g_hash_table_add(used, key);
    return TRUE;
}

static gboolean
assign_usb(addr_state *s, GError **error)
{
    g_autoptr(GHashTable) used = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    ferry_domain_def *def = s->def;
    guint max_bus = 0;
    gboolean any = FALSE;

    for (guint i = 0; i < def->disks->len; i++) {
        const ferry_disk_def *disk = g_ptr_array_index(def->disks, i);

        if (disk->bus == FERRY_DISK_BUS_USB) {
            any = TRUE;
            if (disk->address.type == FERRY_ADDRESS_USB)
                max_bus = MAX(max_bus, disk->address.bus);
        }
    }
    for (guint i = 0; i < def->inputs->len; i++) {
        const ferry_input_def *input = g_ptr_array_index(def->inputs, i);

        if (g_strcmp0(input->bus, "usb") == 0) {
            any = TRUE;
            if (input->address.type == FERRY_ADDRESS_USB)
                max_bus = MAX(max_bus, input->address.bus);
        }
    }
    if (!any)
        return TRUE;
    add_controllers(s, "usb", max_bus, s->q35 ? "qemu-xhci" : "piix3-uhci");

    /* The given ports first, then disks and inputs in order. */
    for (int pass = 0; pass < 2; pass++) {
        for (guint i = 0; i < def->disks->len; i++) {
            ferry_disk_def *disk = g_ptr_array_index(def->disks, i);
            g_autofree char *owner = g_strdup_printf("disk '%s'", disk->target);

            if (disk->bus == FERRY_DISK_BUS_USB &&
                !assign_usb_one(s, used, disk, &disk->address, owner, pass == 1, error))
                return FALSE;
        }
        for (guint i = 0; i < def->inputs->len; i++) {
            ferry_input_def *input = g_ptr_array_index(def->inputs, i);
            g_autofree char *owner = g_strdup_printf("input %u", i);

            if (g_strcmp0(input->bus, "usb") == 0 &&
                !assign_usb_one(s, used, input, &input->address, owner, pass == 1, error))
                return FALSE;
        }
    }
    return TRUE;
}

/* ---- PCI slots ------------------------------------------------------------ */

/* The chipset's own functions: pc has the host bridge at 00.0 and the
 * PIIX3 (ISA, IDE, USB, power management) at 01.x; q35 the host bridge
 * and the ICH9 (LPC, SATA, SMBus) at 1f.x. */
static void
reserve_chipset(addr_state *s)
{
    const guint slots[] = { 0, s->q35 ? 0x1f : 1 };
    const char *names[] = {
        "the host bridge",
        s->q35 ? "the ICH9 (LPC, SATA and SMBus at slot 0x1f)"
               : "the PIIX3 (ISA, IDE, USB and power management at slot 0x01)",
    };

    for (gsize i = 0; i < G_N_ELEMENTS(slots); i++) {
        s->builtin[slots[i]] = names[i];
        for (guint f = 0; f < PCI_FUNCTIONS; f++)
            s->pci[slots[i]][f] = names[i];
    }
}

static void
add_pci(GArray *devs, gconstpointer device, ferry_device_address *addr, const char *owner,
        int slot, int function)
{
    pci_dev d = { device, addr, owner, slot, function };

    g_array_append_val(devs, d);
}

/* The chipset function a controller is, or FALSE: on pc the PIIX3's IDE
 * (01.1) and UHCI (01.2), on q35 the ICH9's AHCI (1f.2). */
static gboolean
chipset_seat(const addr_state *s, const ferry_controller_def *c, int *slot, int *function)
{
    *slot = s->q35 ? 0x1f : 1;
    if (c->index != 0)
        return FALSE;
    if (s->q35 && is_type(c, "sata"))
        return *function = 2, TRUE;
    if (!s->q35 && is_type(c, "ide"))
        return *function = 1, TRUE;
    if (!s->q35 && is_type(c, "usb") && g_strcmp0(c->model, "piix3-uhci") == 0)
        return *function = 2, TRUE;
    return FALSE;
}

/* Every PCI device, in libvirt's order: the chipset's functions, the
 * primary video, controllers, interfaces, virtio disks, other videos,
 * virtio inputs, watchdog, memballoon, rngs. */
static GArray *
collect_pci(addr_state *s)
{
    ferry_domain_def *def = s->def;
    GArray *devs = g_array_new(FALSE, FALSE, sizeof(pci_dev));
    int slot, function;

    for (guint i = 0; i < def->controllers->len; i++) {
        ferry_controller_def *c = g_ptr_array_index(def->controllers, i);

        if (chipset_seat(s, c, &slot, &function))
            add_pci(devs, c, &c->address, keep(s, describe_controller(c)), slot, function);
    }
    for (guint i = 0; i < MIN(def->videos->len, 1); i++) {
        ferry_video_def *video = g_ptr_array_index(def->videos, i);

        if (g_strcmp0(video->model, "none") != 0)
            add_pci(devs, video, &video->address, keep(s, g_strdup("video 0")), -1, -1);
    }
    for (guint i = 0; i < def->controllers->len; i++) {
        ferry_controller_def *c = g_ptr_array_index(def->controllers, i);

        /* The root bus, the ISA floppy controller, "no USB": no PCI device. */
        if (chipset_seat(s, c, &slot, &function) || is_type(c, "pci") || is_type(c, "fdc") ||
            g_strcmp0(c->model, "none") == 0)
            continue;
        add_pci(devs, c, &c->address, keep(s, describe_controller(c)), -1, -1);
    }
    for (guint i = 0; i < def->nets->len; i++) {
        ferry_net_def *net = g_ptr_array_index(def->nets, i);

        add_pci(devs, net, &net->address, keep(s, g_strdup_printf("interface %u", i)), -1, -1);
    }
    for (guint i = 0; i < def->disks->len; i++) {
        ferry_disk_def *disk = g_ptr_array_index(def->disks, i);

        if (disk->bus == FERRY_DISK_BUS_VIRTIO)
            add_pci(devs, disk, &disk->address, keep(s, g_strdup_printf("disk '%s'", disk->target)),
                    -1, -1);
    }
    for (guint i = 1; i < def->videos->len; i++) {
        ferry_video_def *video = g_ptr_array_index(def->videos, i);

        add_pci(devs, video, &video->address, keep(s, g_strdup_printf("video %u", i)), -1, -1);
    }
    for (guint i = 0; i < def->inputs->len; i++) {
        ferry_input_def *input = g_ptr_array_index(def->inputs, i);

        if (g_strcmp0(input->bus, "virtio") == 0)
            add_pci(devs, input, &input->address, keep(s, g_strdup_printf("input %u", i)), -1, -1);
    }
    if (def->watchdog && g_strcmp0(def->watchdog->model, "i6300esb") == 0)
        add_pci(devs, def->watchdog, &def->watchdog->address, "the watchdog", -1, -1);
    if (def->memballoon && g_strcmp0(def->memballoon->model, "none") != 0)
        add_pci(devs, def->memballoon, &def->memballoon->address, "the memballoon", -1, -1);
    for (guint i = 0; i < def->rngs->len; i++) {
        ferry_rng_def *rng = g_ptr_array_index(def->rngs, i);

        add_pci(devs, rng, &rng->address, keep(s, g_strdup_printf("rng %u", i)), -1, -1);
    }
    /* A host device gets no address here (no QEMU of ferry's runs one), but
     * one it has is taken, so that no other device is placed on it. */
    for (guint i = 0; def->hostdevs && i < def->hostdevs->len; i++) {
        ferry_hostdev_def *h = g_ptr_array_index(def->hostdevs, i);

        if (h->address.type == FERRY_ADDRESS_PCI)
            add_pci(devs, h, &h->address, keep(s, ferry_hostdev_describe(h)), -1, -1);
    }
    return devs;
}

static gboolean
slot_free(const addr_state *s, guint slot)
{
    for (guint f = 0; f < PCI_FUNCTIONS; f++) {
        if (s->pci[slot][f])
            return FALSE;
    }
    return TRUE;
}

/* Takes what @d's address says, refusing a function already held. */
static gboolean
take_pci(addr_state *s, const pci_dev *d, GError **error)
{
    const ferry_device_address *a = d->addr;
    const char *holder = s->pci[a->slot][a->function];
    gboolean chipset_seat = d->forced_slot == (int)a->slot &&
                            d->forced_function == (int)a->function;

    if (holder && !(chipset_seat && holder == s->builtin[a->slot])) {
        fail(s, d->device, error,
             "PCI address %04x:%02x:%02x.%x of %s is already used by %s", a->domain, a->bus,
             a->slot, a->function, d->owner, holder);
        return FALSE;
    }
    s->pci[a->slot][a->function] = d->owner;
    return TRUE;
}

static gboolean
place_pci(addr_state *s, const pci_dev *d, guint first_slot, GError **error)
{
    ferry_device_address *a = d->addr;
    guint slot = first_slot;

    while (slot < PCI_SLOTS && !slot_free(s, slot))
        slot++;
    if (slot == PCI_SLOTS) {
        fail(s, d->device, error,
             "%s: no PCI slot is left on bus 0 (32 slots, and ferry adds no PCI bridges)",
             d->owner);
        return FALSE;
    }
    ferry_dev_address_clear(a);
    memset(a, 0, sizeof(*a));
    a->type = FERRY_ADDRESS_PCI;
    a->slot = slot;
    return take_pci(s, d, error);
}

static gboolean
assign_pci(addr_state *s, GError **error)
{
    g_autoptr(GArray) devs = collect_pci(s);
    /* pc: the primary video at 02.0, as QEMU's first free slot after the
     * PIIX3 always was; q35: at 01.0.  The rest from the slot after; with
     * no video, from that slot itself: the layout QEMU itself gives
     * devices without addresses, so a guest that an older ferry started
     * (whose definition has none) keeps the slots it runs with. */
    guint video_slot = s->q35 ? 1 : 2;
    gboolean have_video = s->def->videos->len > 0 &&
                          g_strcmp0(((ferry_video_def *)g_ptr_array_index(s->def->videos, 0))
                                    ->model, "none") != 0;

    reserve_chipset(s);
    /* The given addresses first: the chosen ones go around them. */
    for (guint i = 0; i < devs->len; i++) {
        const pci_dev *d = &g_array_index(devs, pci_dev, i);
        const ferry_device_address *a = d->addr;

        if (a->type == FERRY_ADDRESS_NONE)
            continue;
        if (a->type != FERRY_ADDRESS_PCI) {
            fail(s, d->device, error, "%s: its address is not a PCI one", d->owner);
            return FALSE;
        }
        if (a->domain != 0 || a->bus != 0 || a->slot >= PCI_SLOTS ||
            a->function >= PCI_FUNCTIONS) {
            fail(s, d->device, error,
                 "%s: PCI address %04x:%02x:%02x.%x is not on bus 0000:00 (ferry adds no PCI "
                 "bridges)", d->owner, a->domain, a->bus, a->slot, a->function);
            return FALSE;
        }
        if (d->forced_slot >= 0 &&
            (a->slot != (guint)d->forced_slot || a->function != (guint)d->forced_function)) {
            fail(s, d->device, error,
                 "%s is the chipset's, at 0000:00:%02x.%x on machine '%s' (found 0000:00:%02x.%x)",
                 d->owner, d->forced_slot, d->forced_function, s->machine, a->slot, a->function);
            return FALSE;
        }
        if (!take_pci(s, d, error))
            return FALSE;
    }
    for (guint i = 0; i < devs->len; i++) {
        const pci_dev *d = &g_array_index(devs, pci_dev, i);
        ferry_device_address *a = d->addr;

        if (a->type != FERRY_ADDRESS_NONE)
            continue;
        if (d->forced_slot >= 0) {
            a->type = FERRY_ADDRESS_PCI;
            a->slot = d->forced_slot;
            a->function = d->forced_function;
            if (!take_pci(s, d, error))
                return FALSE;
        } else if (have_video && a == &((ferry_video_def *)g_ptr_array_index(s->def->videos,
                                                                            0))->address) {
            if (!place_pci(s, d, slot_free(s, video_slot) ? video_slot : video_slot + 1, error))
                return FALSE;
        } else if (!place_pci(s, d, have_video ? video_slot + 1 : video_slot, error)) {
            return FALSE;
        }
    }
    return TRUE;
}

/* ---- MACs, boot orders --------------------------------------------------- */

/*
 * QEMU's prefix 52:54:00 and three bytes of a SHA-256 of the domain's
 * uuid (its name without one) and the interface's index: the same
 * definition always gets the same MACs, two domains almost never share
 * one.
 */
static char *
derive_mac(const ferry_domain_def *def, guint index, guint attempt)
{
    g_autoptr(GChecksum) sum = g_checksum_new(G_CHECKSUM_SHA256);
    g_autofree char *seed = g_strdup_printf("ferry-mac:%s:%u:%u",
                                            def->uuid ? def->uuid : def->name ? def->name : "",
                                            index, attempt);
    guint8 digest[32];
    gsize len = sizeof(digest);

    g_checksum_update(sum, (const guchar *)seed, -1);
    g_checksum_get_digest(sum, digest, &len);
    return g_strdup_printf("52:54:00:%02x:%02x:%02x", digest[0], digest[1], digest[2]);
}

static gboolean
assign_macs(addr_state *s, GError **error)
{
    g_autoptr(GHashTable) used = g_hash_table_new(g_str_hash, g_str_equal);
    GPtrArray *nets = s->def->nets;

    for (guint i = 0; i < nets->len; i++) {
        ferry_net_def *net = g_ptr_array_index(nets, i);
        gpointer other;

        if (!net->mac)
            continue;
        if (g_hash_table_lookup_extended(used, net->mac, NULL, &other)) {
            fail(s, net, error, "interface %u: MAC address %s is already that of interface %u", i,
                 net->mac, GPOINTER_TO_UINT(other));
            return FALSE;
        }
        g_hash_table_insert(used, net->mac, GUINT_TO_POINTER(i));
    }
    for (guint i = 0; i < nets->len; i++) {
        ferry_net_def *net = g_ptr_array_index(nets, i);

        for (guint attempt = 0; !net->mac; attempt++) {
            net->mac = derive_mac(s->def, i, attempt);
            if (g_hash_table_contains(used, net->mac))
                g_clear_pointer(&net->mac, g_free);
        }
        g_hash_table_insert(used, net->mac, GUINT_TO_POINTER(i));
    }
    return TRUE;
}

/* The parser says where; this catches a definition built by code. */
static gboolean
check_boot_orders(addr_state *s, GError **error)
{
    g_autoptr(GHashTable) used = g_hash_table_new_full(g_direct_hash, g_direct_equal, NULL,
                                                       g_free);
    ferry_domain_def *def = s->def;
    guint n = def->disks->len + def->nets->len;

    for (guint i = 0; i < n; i++) {
        gboolean is_disk = i < def->disks->len;
        const ferry_disk_def *disk = is_disk ? g_ptr_array_index(def->disks, i) : NULL;
        guint net = i - def->disks->len;
        const ferry_net_def *nic = is_disk ? NULL : g_ptr_array_index(def->nets, net);
        gconstpointer device = is_disk ? (gconstpointer)disk : (gconstpointer)nic;
        guint order = is_disk ? disk->boot_order : nic->boot_order;
        char *name;
        const char *other;

        if (!order)
            continue;
        name = is_disk ? g_strdup_printf("disk '%s'", disk->target)
                       : g_strdup_printf("interface %u", net);
        if (def->boot_devs && def->boot_devs[0]) {
            fail(s, device, error, "%s: <boot order> cannot be combined with <os><boot dev>, as in "
                 "libvirt", name);
            g_free(name);
            return FALSE;
        }
        other = g_hash_table_lookup(used, GUINT_TO_POINTER(order));
        if (other) {
            fail(s, device, error, "%s: boot order %u is already that of %s", name, order, other);
            g_free(name);
            return FALSE;
        }
        g_hash_table_insert(used, GUINT_TO_POINTER(order), name);
    }
    return TRUE;
}

gboolean
ferry_domain_def_assign_addresses(ferry_domain_def *def, GError **error)
{
    return ferry_domain_def_assign_addresses_from(def, NULL, error);
}

gboolean
ferry_domain_def_assign_addresses_from(ferry_domain_def *def, ferry_xml_reader *r,
                                       GError **error)
{
    g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func(g_free);
    g_autofree addr_state *s = g_new0(addr_state, 1);

    g_return_val_if_fail(def != NULL && def->disks != NULL, FALSE);

    s->def = def;
    s->r = r;
    s->names = names;
    /* Order matters: controllers get their models before the devices on
     * them count ports, and every implicit controller exists before the
     * PCI slots are handed out. */
    return check_machine(s, error) &&
           complete_controllers(s, error) &&
           complete_chardevs(s, error) &&
           (complete_videos(s), TRUE) &&
           assign_drives(s, error) &&
           assign_virtio_serial(s, error) &&
           assign_usb(s, error) &&
           assign_pci(s, error) &&
           assign_macs(s, error) &&
           check_boot_orders(s, error);
}
