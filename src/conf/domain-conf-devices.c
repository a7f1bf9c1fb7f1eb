/*
 * domain-conf-devices.c: the <devices> of a domain definition.
 *
 * Owns: the walk over <devices> (each device refused on its own, so that a
 * document's every problem is reported at once), the devices libvirt knows
 * and ferry refuses by name, the attribute helpers the device parsers
 * share, and the disks, controllers, interfaces, memballoon, rng and
 * watchdog (parse, format, copy, free).  <address> and the claims are
 * domain-conf-address.c's; serial ports, consoles, channels, graphics,
 * video and input domain-conf-console.c's; completing the guest ABI
 * (addresses, implicit controllers, MACs) domain-addr.c's.  Must not:
 * touch files, start processes or know about drivers.
 */
#include "ferry-config.h"

#include <ferry/ferry.h>
#include <string.h>

#include "conf/domain-conf-devices.h"

/* libvirt's device elements that ferry does not drive: refused by name
 * rather than as unknown elements, so the user knows it is deliberate. */
static const char *const refused_devices[] = {
    "lease", "filesystem", "sound", "smartcard", "redirdev", "redirfilter",
    "hub", "parallel", "tpm", "nvram", "panic", "shmem", "memory", "iommu", "vsock",
    "crypto", "pstore",
};

static const char *const disk_types[] = {
    [FERRY_DISK_TYPE_FILE] = "file",
    [FERRY_DISK_TYPE_BLOCK] = "block",
    [FERRY_DISK_TYPE_NETWORK] = "network",
};
static const char *const disk_devices[] = {
    [FERRY_DISK_DEVICE_DISK] = "disk",
    [FERRY_DISK_DEVICE_CDROM] = "cdrom",
    [FERRY_DISK_DEVICE_FLOPPY] = "floppy",
};
static const char *const disk_buses[] = {
    [FERRY_DISK_BUS_VIRTIO] = "virtio",
    [FERRY_DISK_BUS_IDE] = "ide",
    [FERRY_DISK_BUS_SATA] = "sata",
    [FERRY_DISK_BUS_SCSI] = "scsi",
    [FERRY_DISK_BUS_USB] = "usb",
    [FERRY_DISK_BUS_FDC] = "fdc",
};
static const char *const disk_caches[] = { "none", "writeback", "writethrough", "directsync",
                                           "unsafe" };
static const char *const disk_ios[] = { "threads", "native", "io_uring" };
static const char *const disk_discards[] = { "unmap", "ignore" };
static const char *const disk_zeroes[] = { "off", "on", "unmap" };
static const char *const nbd_transports[] = { "tcp", "unix" };

/* How a bus names its disks: a prefix, then 1 to max_letters letters
 * counted as libvirt does (a..z, aa..zz, ...), up to max_index. */
static const struct {
    const char *prefix;
    const char *names;        /* for the error */
    guint max_letters;
    guint max_index;
} target_rules[] = {
    [FERRY_DISK_BUS_VIRTIO] = { "vd", "vda, vdb, ...", 3, G_MAXUINT },
    [FERRY_DISK_BUS_IDE] = { "hd", "hda to hdd", 1, 3 },
    [FERRY_DISK_BUS_SATA] = { "sd", "sda, sdb, ...", 3, G_MAXUINT },
    [FERRY_DISK_BUS_SCSI] = { "sd", "sda, sdb, ...", 3, G_MAXUINT },
    [FERRY_DISK_BUS_USB] = { "sd", "sda, sdb, ...", 3, G_MAXUINT },
    [FERRY_DISK_BUS_FDC] = { "fd", "fda and fdb", 1, 1 },
};

/* What a drive address may hold on each bus (QEMU's limits). */
static const struct {
    guint controllers, buses, targets, units;
} drive_limits[] = {
    /* pc: the PIIX3's two channels of two units; q35: the ICH9's six
     * AHCI ports, one unit each (domain-addr.c checks which machine). */
    [FERRY_DISK_BUS_IDE] = { 1, 6, 1, 2 },
    [FERRY_DISK_BUS_SATA] = { 32, 1, 1, 6 },    /* six AHCI ports */
    [FERRY_DISK_BUS_SCSI] = { 32, 1, 256, 16384 },
    [FERRY_DISK_BUS_FDC] = { 1, 1, 1, 2 },
};

static const char *const controller_types[] = { "pci", "ide", "sata", "scsi", "usb",
                                                "virtio-serial", "fdc" };
static const char *const pci_models[] = { "pci-root", "pcie-root" };
static const char *const usb_models[] = { "piix3-uhci", "qemu-xhci", "nec-xhci", "none" };

static const char *const net_types[] = {
    [FERRY_NET_TYPE_BRIDGE] = "bridge",
    [FERRY_NET_TYPE_NETWORK] = "network",
    [FERRY_NET_TYPE_ETHERNET] = "ethernet",
    [FERRY_NET_TYPE_USER] = "user",
};
static const char *const net_models[] = { "virtio", "e1000", "rtl8139" };

static const char *const memballoon_models[] = { "virtio", "none" };
/* itco is the ICH9's own (q35), no card of its own. */
static const char *const watchdog_models[] = { "i6300esb", "ib700", "itco" };
static const char *const audio_types[] = {
    "none", "spice", "pulseaudio", "alsa", "sdl", "oss", "pipewire", "dbus", "file",
};
static const char *const watchdog_actions[] = { "reset", "shutdown", "poweroff", "pause",
                                                "none", "dump", "inject-nmi" };


/* ---- free and copy ------------------------------------------------------- */

void
ferry_dev_address_clear(ferry_device_address *addr)
{
    g_clear_pointer(&addr->usb_port, g_free);
}

void
ferry_dev_address_copy(ferry_device_address *dst, const ferry_device_address *src)
{
    *dst = *src;
    dst->usb_port = g_strdup(src->usb_port);
}

static void
disk_def_free(ferry_disk_def *disk)
{
    if (!disk)
        return;
    g_free(disk->target);
    g_free(disk->source);
    g_free(disk->net_name);
    g_free(disk->net_host);
    g_free(disk->net_socket);
    g_free(disk->cache);
    g_free(disk->io);
    g_free(disk->discard);
    g_free(disk->detect_zeroes);
    g_free(disk->serial);
    ferry_dev_address_clear(&disk->address);
    g_free(disk);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC(ferry_disk_def, disk_def_free)

static ferry_disk_def *
disk_def_copy(const ferry_disk_def *disk)
{
    ferry_disk_def *d = g_memdup2(disk, sizeof(*disk));

    d->target = g_strdup(disk->target);
    d->source = g_strdup(disk->source);
    d->net_name = g_strdup(disk->net_name);
    d->net_host = g_strdup(disk->net_host);
    d->net_socket = g_strdup(disk->net_socket);
    d->cache = g_strdup(disk->cache);
    d->io = g_strdup(disk->io);
    d->discard = g_strdup(disk->discard);
    d->detect_zeroes = g_strdup(disk->detect_zeroes);
    d->serial = g_strdup(disk->serial);
    ferry_dev_address_copy(&d->address, &disk->address);
    return d;
}

static void
controller_def_free(ferry_controller_def *c)
{
    if (!c)
        return;
    g_free(c->type);
    g_free(c->model);
    ferry_dev_address_clear(&c->address);
    g_free(c);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC(ferry_controller_def, controller_def_free)

static ferry_controller_def *
controller_def_copy(const ferry_controller_def *c)
{
    ferry_controller_def *d = g_memdup2(c, sizeof(*c));

    d->type = g_strdup(c->type);
    d->model = g_strdup(c->model);
    ferry_dev_address_copy(&d->address, &c->address);
    return d;
}

static void
net_def_free(ferry_net_def *net)
{
    if (!net)
        return;
    g_free(net->source);
    g_free(net->mac);
    g_free(net->model);
    g_free(net->target_dev);
    ferry_dev_address_clear(&net->address);
    g_free(net);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC(ferry_net_def, net_def_free)

static ferry_net_def *
net_def_copy(const ferry_net_def *net)
{
    ferry_net_def *d = g_memdup2(net, sizeof(*net));

    d->source = g_strdup(net->source);
    d->mac = g_strdup(net->mac);
    d->model = g_strdup(net->model);
    d->target_dev = g_strdup(net->target_dev);
    ferry_dev_address_copy(&d->address, &net->address);
    return d;
}

static void
memballoon_def_free(ferry_memballoon_def *m)
{
    if (!m)
        return;
    g_free(m->model);
    ferry_dev_address_clear(&m->address);
    g_free(m);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC(ferry_memballoon_def, memballoon_def_free)

static void
rng_def_free(ferry_rng_def *rng)
{
    if (!rng)
        return;
    g_free(rng->model);
    g_free(rng->backend);
    ferry_dev_address_clear(&rng->address);
    g_free(rng);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC(ferry_rng_def, rng_def_free)

static ferry_rng_def *
rng_def_copy(const ferry_rng_def *rng)
{
    ferry_rng_def *d = g_memdup2(rng, sizeof(*rng));

    d->model = g_strdup(rng->model);
    d->backend = g_strdup(rng->backend);
    ferry_dev_address_copy(&d->address, &rng->address);
    return d;
}

static void
watchdog_def_free(ferry_watchdog_def *w)
{
    if (!w)
        return;
    g_free(w->model);
    g_free(w->action);
    ferry_dev_address_clear(&w->address);
    g_free(w);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC(ferry_watchdog_def, watchdog_def_free)

static void
audio_def_free(ferry_audio_def *audio)
{
    if (!audio)
        return;
    g_free(audio->type);
    g_free(audio);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC(ferry_audio_def, audio_def_free)

static ferry_audio_def *
audio_def_copy(const ferry_audio_def *audio)
{
    ferry_audio_def *d = g_memdup2(audio, sizeof(*audio));

    d->type = g_strdup(audio->type);
    return d;
}

void
ferry_domain_devices_init(ferry_domain_def *def)
{
    def->disks = g_ptr_array_new_with_free_func((GDestroyNotify)disk_def_free);
    def->controllers = g_ptr_array_new_with_free_func((GDestroyNotify)controller_def_free);
    def->nets = g_ptr_array_new_with_free_func((GDestroyNotify)net_def_free);
    def->chardevs = g_ptr_array_new_with_free_func((GDestroyNotify)ferry_chr_def_free);
    def->graphics = g_ptr_array_new_with_free_func((GDestroyNotify)ferry_graphics_def_free);
    def->videos = g_ptr_array_new_with_free_func((GDestroyNotify)ferry_video_def_free);
    def->inputs = g_ptr_array_new_with_free_func((GDestroyNotify)ferry_input_def_free);
    def->rngs = g_ptr_array_new_with_free_func((GDestroyNotify)rng_def_free);
    def->hostdevs = g_ptr_array_new_with_free_func((GDestroyNotify)ferry_hostdev_def_free);
    def->audios = g_ptr_array_new_with_free_func((GDestroyNotify)audio_def_free);
}

void
ferry_domain_devices_clear(ferry_domain_def *def)
{
    g_clear_pointer(&def->emulator, g_free);
    g_clear_pointer(&def->disks, g_ptr_array_unref);
    g_clear_pointer(&def->controllers, g_ptr_array_unref);
    g_clear_pointer(&def->nets, g_ptr_array_unref);
    g_clear_pointer(&def->chardevs, g_ptr_array_unref);
    g_clear_pointer(&def->graphics, g_ptr_array_unref);
    g_clear_pointer(&def->videos, g_ptr_array_unref);
    g_clear_pointer(&def->inputs, g_ptr_array_unref);
    g_clear_pointer(&def->memballoon, memballoon_def_free);
    g_clear_pointer(&def->rngs, g_ptr_array_unref);
    g_clear_pointer(&def->hostdevs, g_ptr_array_unref);
    g_clear_pointer(&def->audios, g_ptr_array_unref);
    g_clear_pointer(&def->watchdog, watchdog_def_free);
    g_clear_pointer(&def->serial_log, g_free);
}

typedef gpointer (*copy_func)(gconstpointer item);

static void
copy_all(GPtrArray *dst, const GPtrArray *src, copy_func copy)
{
    for (guint i = 0; src && i < src->len; i++)
        g_ptr_array_add(dst, copy(g_ptr_array_index((GPtrArray *)src, i)));
}

void
ferry_domain_devices_copy(ferry_domain_def *copy, const ferry_domain_def *def)
{
    copy->emulator = g_strdup(def->emulator);
    copy->serial_log = g_strdup(def->serial_log);
    copy_all(copy->disks, def->disks, (copy_func)disk_def_copy);
    copy_all(copy->controllers, def->controllers, (copy_func)controller_def_copy);
    copy_all(copy->nets, def->nets, (copy_func)net_def_copy);
    copy_all(copy->chardevs, def->chardevs, (copy_func)ferry_chr_def_copy);
    copy_all(copy->graphics, def->graphics, (copy_func)ferry_graphics_def_copy);
    copy_all(copy->videos, def->videos, (copy_func)ferry_video_def_copy);
    copy_all(copy->inputs, def->inputs, (copy_func)ferry_input_def_copy);
    copy_all(copy->rngs, def->rngs, (copy_func)rng_def_copy);
    copy_all(copy->hostdevs, def->hostdevs, (copy_func)ferry_hostdev_def_copy);
    copy_all(copy->audios, def->audios, (copy_func)audio_def_copy);
    if (def->memballoon) {
        copy->memballoon = g_memdup2(def->memballoon, sizeof(*def->memballoon));
        copy->memballoon->model = g_strdup(def->memballoon->model);
        ferry_dev_address_copy(&copy->memballoon->address, &def->memballoon->address);
    }
    if (def->watchdog) {
        copy->watchdog = g_memdup2(def->watchdog, sizeof(*def->watchdog));
        copy->watchdog->model = g_strdup(def->watchdog->model);
        copy->watchdog->action = g_strdup(def->watchdog->action);
        ferry_dev_address_copy(&copy->watchdog->address, &def->watchdog->address);
    }
}

ferry_disk_def *
ferry_domain_def_find_disk(const ferry_domain_def *def, const char *target)
{
    g_return_val_if_fail(def != NULL && target != NULL, NULL);

    for (guint i = 0; def->disks && i < def->disks->len; i++) {
        ferry_disk_def *disk = g_ptr_array_index(def->disks, i);

        if (g_strcmp0(disk->target, target) == 0)
            return disk;
    }
    return NULL;
}

/* ---- attribute helpers --------------------------------------------------- */

char *
ferry_dev_choice_list(const char *const *table, gsize n)
{
    GString *list = g_string_new(NULL);

    for (gsize i = 0; i < n; i++) {
        if (i > 0)
            g_string_append(list, i + 1 == n ? " or " : ", ");
        g_string_append(list, table[i]);
    }
    return g_string_free(list, FALSE);
}

gboolean
ferry_dev_attr_choice(ferry_xml_reader *r, xmlNodePtr node, const char *name,
                      gboolean required, const char *const *table, gsize n, int absent,
                      int *ret, GError **error)
{
    g_autofree char *value = NULL;
    int index;

    if (!ferry_xml_attr(r, node, name, required, &value, error))
        return FALSE;
    if (!value) {
        *ret = absent;
        return TRUE;
    }
    index = ferry_conf_string_index(table, n, value);
    if (index < 0) {
        g_autofree char *list = ferry_dev_choice_list(table, n);

        ferry_xml_error(r, error, node, "%s '%s' is not supported (expected %s)", name, value,
                        list);
        return FALSE;
    }
    *ret = index;
    return TRUE;
}

gboolean
ferry_dev_attr_choice_str(ferry_xml_reader *r, xmlNodePtr node, const char *name,
                          gboolean required, const char *const *table, gsize n, char **ret,
                          GError **error)
{
    int index;

    if (!ferry_dev_attr_choice(r, node, name, required, table, n, -1, &index, error))
        return FALSE;
    *ret = index < 0 ? NULL : g_strdup(table[index]);
    return TRUE;
}

gboolean
ferry_dev_attr_uint(ferry_xml_reader *r, xmlNodePtr node, const char *name, gboolean required,
                    guint min, guint max, guint *ret, gboolean *ret_present, GError **error)
{
    g_autofree char *text = NULL;
    guint64 value = 0;

    if (ret_present)
        *ret_present = FALSE;
    if (!ferry_xml_attr(r, node, name, required, &text, error))
        return FALSE;
    if (!text)
        return TRUE;
    switch (ferry_xml_parse_uint(text, min, max, &value)) {
    case FERRY_XML_NUMBER_INVALID:
        ferry_xml_error(r, error, node, "%s '%s' is not a valid number", name, text);
        return FALSE;
    case FERRY_XML_NUMBER_OUT_OF_RANGE:
        ferry_xml_error(r, error, node, "%s %s is out of range (%u to %u)", name, text, min, max);
        return FALSE;
    case FERRY_XML_NUMBER_OK:
        break;
    }
    *ret = (guint)value;
    if (ret_present)
        *ret_present = TRUE;
    return TRUE;
}

gboolean
ferry_dev_skip_alias(ferry_xml_reader *r, xmlNodePtr node, GError **error)
{
    g_autofree char *name = NULL;
    xmlNodePtr alias;

    if (!ferry_xml_child(r, node, "alias", FALSE, &alias, error))
        return FALSE;
    return !alias || ferry_xml_attr(r, alias, "name", FALSE, &name, error);
}

/* A Linux interface name (a tap, a bridge): what the kernel accepts. */
static gboolean
check_ifname(ferry_xml_reader *r, xmlNodePtr node, const char *attribute, const char *name,
             GError **error)
{
    gsize len = strlen(name);

    if (len == 0 || len > 15) {
        ferry_xml_error(r, error, node, "%s '%s' is %zu characters long; a Linux interface "
                        "name has 1 to 15", attribute, name, len);
        return FALSE;
    }
    if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0 || strpbrk(name, "/: \t\n\r")) {
        ferry_xml_error(r, error, node, "%s '%s' is not a valid interface name (no '/', ':' "
                        "or blanks)", attribute, name);
        return FALSE;
    }
    return TRUE;
}

/* ---- disks --------------------------------------------------------------- */

/* The position of a target on its bus, counted as libvirt does (sda 0,
 * sdz 25, sdaa 26), or -1 if @dev does not fit @bus. */
static gint64
target_index(const char *dev, ferry_disk_bus bus)
{
    const char *letters;
    gsize n;
    guint64 index = 0;

    if (!g_str_has_prefix(dev, target_rules[bus].prefix))
        return -1;
    letters = dev + strlen(target_rules[bus].prefix);
    n = strlen(letters);
    if (n == 0 || n > target_rules[bus].max_letters ||
        letters[strspn(letters, "abcdefghijklmnopqrstuvwxyz")] != '\0')
        return -1;
    for (gsize i = 0; i < n; i++)
        index = (index + (i > 0 ? 1 : 0)) * 26 + (guint64)(letters[i] - 'a');
    if (index > target_rules[bus].max_index)
        return -1;
    return (gint64)index;
}

/* libvirt's default bus for a target's prefix. */
static int
bus_of_prefix(const char *dev)
{
    if (g_str_has_prefix(dev, "vd"))
        return FERRY_DISK_BUS_VIRTIO;
    if (g_str_has_prefix(dev, "hd"))
        return FERRY_DISK_BUS_IDE;
    if (g_str_has_prefix(dev, "sd"))
        return FERRY_DISK_BUS_SCSI;
    if (g_str_has_prefix(dev, "fd"))
        return FERRY_DISK_BUS_FDC;
    return -1;
}

static gboolean
parse_disk_target(ferry_dev_walk *w, xmlNodePtr disk_node, ferry_disk_def *disk,
                  xmlNodePtr *ret_node, GError **error)
{
    ferry_xml_reader *r = w->r;
    xmlNodePtr node;
    int bus;

    if (!ferry_xml_child(r, disk_node, "target", TRUE, ret_node, error))
        return FALSE;
    node = *ret_node;
    if (!ferry_xml_attr(r, node, "dev", TRUE, &disk->target, error) ||
        !ferry_dev_attr_choice(r, node, "bus", FALSE, FERRY_DEV_CHOICES(disk_buses), -1, &bus,
                               error))
        return FALSE;
    if (bus < 0)
        bus = bus_of_prefix(disk->target);
    if (bus < 0) {
        ferry_xml_error(r, error, node, "cannot tell the bus of target '%s': name it vdX "
                        "(virtio), hdX (ide), sdX (scsi) or fdX (fdc), or give the bus",
                        disk->target);
        return FALSE;
    }
    disk->bus = bus;
    if (target_index(disk->target, disk->bus) < 0) {
        ferry_xml_error(r, error, node, "target '%s' does not fit bus '%s', whose disks are "
                        "named %s", disk->target, disk_buses[bus], target_rules[bus].names);
        return FALSE;
    }
    /* What QEMU can put on each bus. */
    if (disk->device == FERRY_DISK_DEVICE_FLOPPY && bus != FERRY_DISK_BUS_FDC) {
        ferry_xml_error(r, error, node, "a floppy goes on bus 'fdc', not '%s'", disk_buses[bus]);
        return FALSE;
    }
    if (disk->device != FERRY_DISK_DEVICE_FLOPPY && bus == FERRY_DISK_BUS_FDC) {
        ferry_xml_error(r, error, node, "bus 'fdc' holds floppies only (device='floppy')");
        return FALSE;
    }
    if (disk->device == FERRY_DISK_DEVICE_CDROM && bus == FERRY_DISK_BUS_VIRTIO) {
        ferry_xml_error(r, error, node, "a cdrom cannot be on bus 'virtio' (expected ide, sata, "
                        "scsi or usb)");
        return FALSE;
    }
    return TRUE;
}

static gboolean
parse_disk_driver(ferry_xml_reader *r, xmlNodePtr disk_node, ferry_disk_def *disk,
                  GError **error)
{
    g_autofree char *format = NULL;
    xmlNodePtr node;
    int index;

    disk->format = FERRY_DISK_FORMAT_RAW;
    if (!ferry_xml_child(r, disk_node, "driver", FALSE, &node, error))
        return FALSE;
    if (!node)
        return TRUE;
    if (!ferry_conf_expect_attr(r, node, "name", FALSE, "qemu", error) ||
        !ferry_xml_attr(r, node, "type", FALSE, &format, error) ||
        !ferry_dev_attr_choice_str(r, node, "cache", FALSE, FERRY_DEV_CHOICES(disk_caches),
                                   &disk->cache, error) ||
        !ferry_dev_attr_choice_str(r, node, "io", FALSE, FERRY_DEV_CHOICES(disk_ios),
                                   &disk->io, error) ||
        !ferry_dev_attr_choice_str(r, node, "discard", FALSE, FERRY_DEV_CHOICES(disk_discards),
                                   &disk->discard, error) ||
        !ferry_dev_attr_choice_str(r, node, "detect_zeroes", FALSE,
                                   FERRY_DEV_CHOICES(disk_zeroes), &disk->detect_zeroes, error))
        return FALSE;
    if (format) {
        index = ferry_disk_format_from_string(format);
        if (index < 0) {
            ferry_xml_error(r, error, node, "unknown disk format '%s' (expected 'raw' or "
                            "'qcow2')", format);
            return FALSE;
        }
        disk->format = index;
    }
    /* Linux AIO needs O_DIRECT: QEMU refuses aio=native without it, at
     * start, far from the definition that asked for it. */
    if (g_strcmp0(disk->io, "native") == 0 && g_strcmp0(disk->cache, "none") != 0 &&
        g_strcmp0(disk->cache, "directsync") != 0) {
        if (disk->cache)
            ferry_xml_error(r, error, node, "io 'native' needs cache 'none' or 'directsync', "
                            "not cache '%s'", disk->cache);
        else
            ferry_xml_error(r, error, node, "io 'native' needs cache 'none' or 'directsync' "
                            "(without a cache mode QEMU uses 'writeback')");
        return FALSE;
    }
    return TRUE;
}

static gboolean
parse_nbd_source(ferry_xml_reader *r, xmlNodePtr node, ferry_disk_def *disk, GError **error)
{
    g_autofree char *protocol = NULL;
    xmlNodePtr host;
    int transport;

    if (!ferry_xml_attr(r, node, "protocol", TRUE, &protocol, error))
        return FALSE;
    if (strcmp(protocol, "nbd") != 0) {
        ferry_xml_error(r, error, node, "protocol '%s' is not supported (only 'nbd')", protocol);
        return FALSE;
    }
    if (!ferry_xml_attr(r, node, "name", FALSE, &disk->net_name, error) ||
        !ferry_xml_child(r, node, "host", TRUE, &host, error) ||
        !ferry_dev_attr_choice(r, host, "transport", FALSE, FERRY_DEV_CHOICES(nbd_transports),
                               0, &transport, error))
        return FALSE;
    if (transport == 1)
        return ferry_xml_attr(r, host, "socket", TRUE, &disk->net_socket, error) &&
               ferry_conf_check_absolute(r, host, "socket", disk->net_socket, error);
    if (!ferry_xml_attr(r, host, "name", TRUE, &disk->net_host, error) ||
        !ferry_dev_attr_uint(r, host, "port", FALSE, 1, 65535, &disk->net_port, NULL, error))
        return FALSE;
    if (!*disk->net_host || strpbrk(disk->net_host, " \t\n\r")) {
        ferry_xml_error(r, error, host, "name '%s' is not a host name", disk->net_host);
        return FALSE;
    }
    return TRUE;
}

static gboolean
parse_disk_source(ferry_xml_reader *r, xmlNodePtr disk_node, ferry_disk_def *disk,
                  GError **error)
{
    /* A cdrom or floppy may have no medium; a disk always has data. */
    gboolean required = disk->device == FERRY_DISK_DEVICE_DISK ||
                        disk->type == FERRY_DISK_TYPE_NETWORK;
    g_autofree char *index = NULL;
    xmlNodePtr node;
    xmlNodePtr backing;

    if (!ferry_xml_child(r, disk_node, "source", required, &node, error))
        return FALSE;
    /* libvirt's live XML: an empty <backingStore/> says "no backing
     * chain", <source index='N'> numbers the chain's images.  Neither
     * changes what ferry does; anything inside <backingStore> is unknown. */
    if (!ferry_xml_child(r, disk_node, "backingStore", FALSE, &backing, error))
        return FALSE;
    if (!node)
        return TRUE;
    if (!ferry_xml_attr(r, node, "index", FALSE, &index, error))
        return FALSE;
    switch (disk->type) {
    case FERRY_DISK_TYPE_FILE:
        return ferry_xml_attr(r, node, "file", TRUE, &disk->source, error) &&
               ferry_conf_check_absolute(r, node, "file", disk->source, error);
    case FERRY_DISK_TYPE_BLOCK:
        return ferry_xml_attr(r, node, "dev", TRUE, &disk->source, error) &&
               ferry_conf_check_absolute(r, node, "dev", disk->source, error);
    case FERRY_DISK_TYPE_NETWORK:
        return parse_nbd_source(r, node, disk, error);
    }
    return TRUE;
}

/* QEMU's limits: ide-hd and ide-cd take 20 characters, scsi-hd 36. */
static gboolean
parse_disk_serial(ferry_xml_reader *r, xmlNodePtr disk_node, ferry_disk_def *disk,
                  GError **error)
{
    gsize max = disk->bus == FERRY_DISK_BUS_SCSI ? 36 :
                disk->bus == FERRY_DISK_BUS_IDE || disk->bus == FERRY_DISK_BUS_SATA ? 20 : 64;
    xmlNodePtr node;
    gsize len;

    if (!ferry_xml_child_text(r, disk_node, "serial", FALSE, &node, &disk->serial, error))
        return FALSE;
    if (!disk->serial)
        return TRUE;
    len = strlen(disk->serial);
    for (const char *p = disk->serial; *p; p++) {
        if (g_ascii_isalnum(*p) || strchr(" _.+-", *p))
            continue;
        ferry_xml_error(r, error, node, "serial '%s' contains a character other than letters, "
                        "digits, ' ', '_', '.', '+' and '-'", disk->serial);
        return FALSE;
    }
    if (len == 0 || len > max) {
        ferry_xml_error(r, error, node, "serial '%s' is %zu characters long; bus '%s' takes 1 "
                        "to %zu", disk->serial, len, disk_buses[disk->bus], max);
        return FALSE;
    }
    return TRUE;
}

static gboolean
check_drive_address(ferry_xml_reader *r, xmlNodePtr disk_node, const ferry_disk_def *disk,
                    GError **error)
{
    const ferry_device_address *a = &disk->address;
    const char *bus = disk_buses[disk->bus];
    xmlNodePtr node = NULL;
    const char *field = NULL;
    guint value = 0, limit = 0;

    if (a->type != FERRY_ADDRESS_DRIVE)
        return TRUE;
    if (a->controller >= drive_limits[disk->bus].controllers) {
        field = "controller", value = a->controller, limit = drive_limits[disk->bus].controllers;
    } else if (a->bus >= drive_limits[disk->bus].buses) {
        field = "bus", value = a->bus, limit = drive_limits[disk->bus].buses;
    } else if (a->target >= drive_limits[disk->bus].targets) {
        field = "target", value = a->target, limit = drive_limits[disk->bus].targets;
    } else if (a->unit >= drive_limits[disk->bus].units) {
        field = "unit", value = a->unit, limit = drive_limits[disk->bus].units;
    }
    if (!field)
        return TRUE;
    ferry_xml_child(r, disk_node, "address", FALSE, &node, NULL);
    ferry_xml_error(r, error, node ? node : disk_node, "%s %u is out of range for bus '%s' "
                    "(0 to %u)", field, value, bus, limit - 1);
    return FALSE;
}

static gboolean
parse_disk(ferry_dev_walk *w, xmlNodePtr node, GError **error)
{
    static const guint address_of_bus[] = {
        [FERRY_DISK_BUS_VIRTIO] = FERRY_DEV_ADDR(FERRY_ADDRESS_PCI),
        [FERRY_DISK_BUS_IDE] = FERRY_DEV_ADDR(FERRY_ADDRESS_DRIVE),
        [FERRY_DISK_BUS_SATA] = FERRY_DEV_ADDR(FERRY_ADDRESS_DRIVE),
        [FERRY_DISK_BUS_SCSI] = FERRY_DEV_ADDR(FERRY_ADDRESS_DRIVE),
        [FERRY_DISK_BUS_USB] = FERRY_DEV_ADDR(FERRY_ADDRESS_USB),
        [FERRY_DISK_BUS_FDC] = FERRY_DEV_ADDR(FERRY_ADDRESS_DRIVE),
    };
    ferry_xml_reader *r = w->r;
    g_autoptr(ferry_disk_def) disk = g_new0(ferry_disk_def, 1);
    g_autofree char *owner = NULL;
    xmlNodePtr target = NULL;
    int type, device;

    if (!ferry_dev_attr_choice(r, node, "type", FALSE, FERRY_DEV_CHOICES(disk_types),
                               FERRY_DISK_TYPE_FILE, &type, error) ||
        !ferry_dev_attr_choice(r, node, "device", FALSE, FERRY_DEV_CHOICES(disk_devices),
                               FERRY_DISK_DEVICE_DISK, &device, error))
        return FALSE;
    disk->type = type;
    disk->device = device;
    if (!parse_disk_driver(r, node, disk, error) ||
        !parse_disk_source(r, node, disk, error) ||
        !parse_disk_target(w, node, disk, &target, error) ||
        !ferry_xml_child_flag(r, node, "readonly", &disk->readonly, error) ||
        !ferry_xml_child_flag(r, node, "shareable", &disk->shareable, error) ||
        !parse_disk_serial(r, node, disk, error) ||
        !ferry_dev_skip_alias(r, node, error))
        return FALSE;
    /* A cdrom is read-only whatever the XML says; libvirt writes <readonly/>. */
    if (disk->device == FERRY_DISK_DEVICE_CDROM)
        disk->readonly = TRUE;

    owner = g_strdup_printf("disk '%s'", disk->target);
    if (!ferry_dev_parse_boot(w, node, owner, &disk->boot_order, error) ||
        !ferry_dev_parse_address(w, node, owner, address_of_bus[disk->bus],
                                 disk_buses[disk->bus], &disk->address, error) ||
        !check_drive_address(r, node, disk, error))
        return FALSE;
    ferry_dev_claim(w, target, FALSE, g_strdup_printf("target:%s", disk->target),
                    g_strdup_printf("disk target '%s'", disk->target), NULL);
    ferry_xml_reader_set_origin(w->r, disk, node);
    g_ptr_array_add(w->def->disks, g_steal_pointer(&disk));
    return TRUE;
}

static void
format_disk(GString *out, const ferry_disk_def *disk)
{
    const char *format = ferry_disk_format_to_string(disk->format);
    guint bus = (guint)disk->bus < G_N_ELEMENTS(disk_buses) ? disk->bus : 0;
    guint type = (guint)disk->type < G_N_ELEMENTS(disk_types) ? disk->type : 0;
    guint device = (guint)disk->device < G_N_ELEMENTS(disk_devices) ? disk->device : 0;

    g_string_append_printf(out, "    <disk type='%s' device='%s'>\n", disk_types[type],
                           disk_devices[device]);
    g_string_append(out, "      <driver name='qemu'");
    ferry_xml_format_attr(out, "type", format ? format : "raw");
    if (disk->cache)
        ferry_xml_format_attr(out, "cache", disk->cache);
    if (disk->io)
        ferry_xml_format_attr(out, "io", disk->io);
    if (disk->discard)
        ferry_xml_format_attr(out, "discard", disk->discard);
    if (disk->detect_zeroes)
        ferry_xml_format_attr(out, "detect_zeroes", disk->detect_zeroes);
    g_string_append(out, "/>\n");

    if (disk->type == FERRY_DISK_TYPE_NETWORK) {
        g_string_append(out, "      <source protocol='nbd'");
        if (disk->net_name)
            ferry_xml_format_attr(out, "name", disk->net_name);
        g_string_append(out, ">\n        <host");
        if (disk->net_socket) {
            g_string_append(out, " transport='unix'");
            ferry_xml_format_attr(out, "socket", disk->net_socket);
        } else {
            ferry_xml_format_attr(out, "name", disk->net_host);
            if (disk->net_port)
                g_string_append_printf(out, " port='%u'", disk->net_port);
        }
        g_string_append(out, "/>\n      </source>\n");
    } else if (disk->source) {
        g_string_append(out, "      <source");
        ferry_xml_format_attr(out, disk->type == FERRY_DISK_TYPE_BLOCK ? "dev" : "file",
                              disk->source);
        g_string_append(out, "/>\n");
    }

    g_string_append(out, "      <target");
    ferry_xml_format_attr(out, "dev", disk->target);
    ferry_xml_format_attr(out, "bus", disk_buses[bus]);
    g_string_append(out, "/>\n");
    if (disk->readonly || disk->device == FERRY_DISK_DEVICE_CDROM)
        g_string_append(out, "      <readonly/>\n");
    if (disk->shareable)
        g_string_append(out, "      <shareable/>\n");
    ferry_xml_format_text(out, "      ", "serial", disk->serial);
    if (disk->boot_order)
        g_string_append_printf(out, "      <boot order='%u'/>\n", disk->boot_order);
    ferry_domain_address_format(out, "      ", &disk->address);
    g_string_append(out, "    </disk>\n");
}

/* ---- controllers --------------------------------------------------------- */

static gboolean
parse_controller_model(ferry_xml_reader *r, xmlNodePtr node, ferry_controller_def *c,
                       GError **error)
{
    g_autofree char *model = NULL;

    if (!ferry_xml_attr(r, node, "model", FALSE, &model, error))
        return FALSE;
    if (strcmp(c->type, "pci") == 0) {
        if (model && ferry_conf_string_index(FERRY_DEV_CHOICES(pci_models), model) < 0) {
            ferry_xml_error(r, error, node, "model '%s' is not supported: ferry puts every "
                            "device on the root bus (expected pci-root or pcie-root)", model);
            return FALSE;
        }
        if (c->index != 0) {
            ferry_xml_error(r, error, node, "index %u is not supported: the root bus is "
                            "index 0 and ferry adds no other PCI bus", c->index);
            return FALSE;
        }
    } else if (strcmp(c->type, "usb") == 0) {
        if (model && ferry_conf_string_index(FERRY_DEV_CHOICES(usb_models), model) < 0) {
            g_autofree char *list = ferry_dev_choice_list(FERRY_DEV_CHOICES(usb_models));

            ferry_xml_error(r, error, node, "model '%s' is not supported (expected %s)", model,
                            list);
            return FALSE;
        }
    } else if (strcmp(c->type, "scsi") == 0) {
        if (model && strcmp(model, "virtio-scsi") != 0) {
            ferry_xml_error(r, error, node, "model '%s' is not supported (only 'virtio-scsi')",
                            model);
            return FALSE;
        }
        /* libvirt writes the model it chose. */
        if (!model)
            model = g_strdup("virtio-scsi");
    } else if (model) {
        ferry_xml_error(r, error, node, "a controller of type '%s' has no model (found '%s')",
                        c->type, model);
        return FALSE;
    }
    /* The chipset's own: libvirt writes them, there is no second one. */
    if ((strcmp(c->type, "ide") == 0 || strcmp(c->type, "fdc") == 0) && c->index != 0) {
        ferry_xml_error(r, error, node, "index %u is not supported: the only %s controller "
                        "is the chipset's, index 0", c->index,
                        strcmp(c->type, "ide") == 0 ? "IDE" : "floppy");
        return FALSE;
    }
    c->model = g_steal_pointer(&model);
    return TRUE;
}

static gboolean
parse_controller(ferry_dev_walk *w, xmlNodePtr node, GError **error)
{
    ferry_xml_reader *r = w->r;
    g_autoptr(ferry_controller_def) c = g_new0(ferry_controller_def, 1);
    g_autofree char *owner = NULL;
    gboolean has_index = FALSE;
    gboolean xhci;

    if (!ferry_dev_attr_choice_str(r, node, "type", TRUE, FERRY_DEV_CHOICES(controller_types),
                                   &c->type, error) ||
        !ferry_dev_attr_uint(r, node, "index", FALSE, 0, FERRY_DEV_CONTROLLER_INDEX_MAX, &c->index,
                             &has_index, error))
        return FALSE;
    /* As libvirt: no index means the next of its type. */
    if (!has_index)
        c->index = GPOINTER_TO_UINT(g_hash_table_lookup(w->next_index, c->type));
    if (c->index > FERRY_DEV_CONTROLLER_INDEX_MAX) {
        ferry_xml_error(r, error, node, "index %u is out of range (0 to %d)", c->index,
                        FERRY_DEV_CONTROLLER_INDEX_MAX);
        return FALSE;
    }
    if (!parse_controller_model(r, node, c, error))
        return FALSE;
    xhci = g_strcmp0(c->model, "qemu-xhci") == 0 || g_strcmp0(c->model, "nec-xhci") == 0;
    if (strcmp(c->type, "virtio-serial") == 0 &&
        !ferry_dev_attr_uint(r, node, "ports", FALSE, 1, 511, &c->ports, NULL, error))
        return FALSE;
    if (xhci && !ferry_dev_attr_uint(r, node, "ports", FALSE, 1, 15, &c->ports, NULL, error))
        return FALSE;

    owner = g_strdup_printf("controller '%s' index %u", c->type, c->index);
    if (!ferry_dev_skip_alias(r, node, error))
        return FALSE;
    /* The root bus, the ISA floppy controller and "no USB" are no PCI
     * devices: no <address>. */
    if (strcmp(c->type, "pci") != 0 && strcmp(c->type, "fdc") != 0 &&
        g_strcmp0(c->model, "none") != 0 &&
        !ferry_dev_parse_address(w, node, owner, FERRY_DEV_ADDR(FERRY_ADDRESS_PCI), NULL,
                                 &c->address, error))
        return FALSE;
    ferry_dev_claim(w, node, TRUE, g_strdup_printf("controller:%s:%u", c->type, c->index),
                    g_steal_pointer(&owner), NULL);
    if (c->index + 1 > GPOINTER_TO_UINT(g_hash_table_lookup(w->next_index, c->type)))
        g_hash_table_insert(w->next_index, g_strdup(c->type), GUINT_TO_POINTER(c->index + 1));
    ferry_xml_reader_set_origin(w->r, c, node);
    g_ptr_array_add(w->def->controllers, g_steal_pointer(&c));
    return TRUE;
}

static void
format_controller(GString *out, const ferry_controller_def *c)
{
    gboolean empty = c->address.type == FERRY_ADDRESS_NONE;

    g_string_append(out, "    <controller");
    ferry_xml_format_attr(out, "type", c->type);
    g_string_append_printf(out, " index='%u'", c->index);
    if (c->model)
        ferry_xml_format_attr(out, "model", c->model);
    if (c->ports)
        g_string_append_printf(out, " ports='%u'", c->ports);
    if (empty) {
        g_string_append(out, "/>\n");
        return;
    }
    g_string_append(out, ">\n");
    ferry_domain_address_format(out, "      ", &c->address);
    g_string_append(out, "    </controller>\n");
}

/* ---- interfaces ---------------------------------------------------------- */

static gboolean
parse_mac(ferry_xml_reader *r, xmlNodePtr node, char **ret_mac, GError **error)
{
    g_autofree char *text = NULL;
    guint8 bytes[6];
    gboolean ok;

    if (!ferry_xml_attr(r, node, "address", TRUE, &text, error))
        return FALSE;
    ok = strlen(text) == 17;
    for (guint i = 0; ok && i < 6; i++) {
        const char *p = text + 3 * i;

        ok = g_ascii_isxdigit(p[0]) && g_ascii_isxdigit(p[1]) && (i == 5 || p[2] == ':');
        if (ok)
            bytes[i] = (guint8)(g_ascii_xdigit_value(p[0]) * 16 + g_ascii_xdigit_value(p[1]));
    }
    if (!ok) {
        ferry_xml_error(r, error, node, "'%s' is not a MAC address (expected the form "
                        "52:54:00:12:34:56)", text);
        return FALSE;
    }
    /* The low bit of the first byte marks a group address: a NIC's own
     * address must be unicast, and all zeros is nobody's. */
    if (bytes[0] & 1) {
        ferry_xml_error(r, error, node, "MAC address '%s' is a multicast address (its first "
                        "byte is odd); a NIC needs a unicast one", text);
        return FALSE;
    }
    if (!(bytes[0] | bytes[1] | bytes[2] | bytes[3] | bytes[4] | bytes[5])) {
        ferry_xml_error(r, error, node, "MAC address '%s' is all zeros", text);
        return FALSE;
    }
    *ret_mac = g_ascii_strdown(text, -1);
    return TRUE;
}

static gboolean
parse_net_source(ferry_xml_reader *r, xmlNodePtr parent, ferry_net_def *net, GError **error)
{
    g_autofree char *portid = NULL;
    g_autofree char *bridge = NULL;
    xmlNodePtr node;

    /* ethernet and user take no <source>: one is left unread, and unknown. */
    if (net->type == FERRY_NET_TYPE_ETHERNET || net->type == FERRY_NET_TYPE_USER)
        return TRUE;
    if (!ferry_xml_child(r, parent, "source", TRUE, &node, error))
        return FALSE;
    if (net->type == FERRY_NET_TYPE_BRIDGE)
        return ferry_xml_attr(r, node, "bridge", TRUE, &net->source, error) &&
               check_ifname(r, node, "bridge", net->source, error);
    /* libvirt's live XML adds the network's port and bridge: both are
     * the host's business of the moment, found again at start. */
    if (!ferry_xml_attr(r, node, "network", TRUE, &net->source, error) ||
        !ferry_xml_attr(r, node, "portid", FALSE, &portid, error) ||
        !ferry_xml_attr(r, node, "bridge", FALSE, &bridge, error))
        return FALSE;
    if (!*net->source || strchr(net->source, '/')) {
        ferry_xml_error(r, error, node, "network '%s' is not a valid network name",
                        net->source);
        return FALSE;
    }
    return TRUE;
}

static gboolean
parse_interface(ferry_dev_walk *w, xmlNodePtr node, GError **error)
{
    ferry_xml_reader *r = w->r;
    g_autoptr(ferry_net_def) net = g_new0(ferry_net_def, 1);
    g_autofree char *owner = g_strdup_printf("interface %u", w->def->nets->len);
    xmlNodePtr mac = NULL;
    xmlNodePtr child;
    int type;

    if (!ferry_dev_attr_choice(r, node, "type", TRUE, FERRY_DEV_CHOICES(net_types), -1, &type,
                               error))
        return FALSE;
    net->type = type;
    if (!ferry_xml_child(r, node, "mac", FALSE, &mac, error) ||
        (mac && !parse_mac(r, mac, &net->mac, error)) ||
        !parse_net_source(r, node, net, error))
        return FALSE;

    if (net->type != FERRY_NET_TYPE_USER) {
        if (!ferry_xml_child(r, node, "target", FALSE, &child, error))
            return FALSE;
        if (child && (!ferry_xml_attr(r, child, "dev", TRUE, &net->target_dev, error) ||
                      !check_ifname(r, child, "dev", net->target_dev, error)))
            return FALSE;
    }
    if (!ferry_xml_child(r, node, "model", FALSE, &child, error) ||
        (child && !ferry_dev_attr_choice_str(r, child, "type", TRUE,
                                             FERRY_DEV_CHOICES(net_models), &net->model,
                                             error)))
        return FALSE;
    /* libvirt's QEMU default when no model is given; written down so that
     * the guest keeps its NIC whatever a later default would be. */
    if (!net->model)
        net->model = g_strdup("rtl8139");
    if (!ferry_xml_child(r, node, "mtu", FALSE, &child, error) ||
        (child && !ferry_dev_attr_uint(r, child, "size", TRUE, 68, 65535, &net->mtu, NULL,
                                       error)) ||
        !ferry_dev_parse_boot(w, node, owner, &net->boot_order, error) ||
        !ferry_dev_skip_alias(r, node, error) ||
        !ferry_dev_parse_address(w, node, owner, FERRY_DEV_ADDR(FERRY_ADDRESS_PCI), NULL,
                                 &net->address, error))
        return FALSE;
    if (net->mac)
        ferry_dev_claim(w, mac, FALSE, g_strdup_printf("mac:%s", net->mac),
                        g_strdup_printf("MAC address %s", net->mac), g_strdup(owner));
    ferry_xml_reader_set_origin(w->r, net, node);
    g_ptr_array_add(w->def->nets, g_steal_pointer(&net));
    return TRUE;
}

static void
format_interface(GString *out, const ferry_net_def *net)
{
    guint type = (guint)net->type < G_N_ELEMENTS(net_types) ? net->type : 0;

    g_string_append_printf(out, "    <interface type='%s'>\n", net_types[type]);
    if (net->mac) {
        g_string_append(out, "      <mac");
        ferry_xml_format_attr(out, "address", net->mac);
        g_string_append(out, "/>\n");
    }
    if (net->type == FERRY_NET_TYPE_BRIDGE || net->type == FERRY_NET_TYPE_NETWORK) {
        g_string_append(out, "      <source");
        ferry_xml_format_attr(out, net->type == FERRY_NET_TYPE_BRIDGE ? "bridge" : "network",
                              net->source);
        g_string_append(out, "/>\n");
    }
    if (net->target_dev && net->type != FERRY_NET_TYPE_USER) {
        g_string_append(out, "      <target");
        ferry_xml_format_attr(out, "dev", net->target_dev);
        g_string_append(out, "/>\n");
    }
    if (net->model) {
        g_string_append(out, "      <model");
        ferry_xml_format_attr(out, "type", net->model);
        g_string_append(out, "/>\n");
    }
    if (net->mtu)
        g_string_append_printf(out, "      <mtu size='%u'/>\n", net->mtu);
    if (net->boot_order)
        g_string_append_printf(out, "      <boot order='%u'/>\n", net->boot_order);
    ferry_domain_address_format(out, "      ", &net->address);
    g_string_append(out, "    </interface>\n");
}

/* ---- memballoon, rng, watchdog ------------------------------------------- */

/* Refuses a second device of a kind the guest has at most one of. */
static gboolean
only_one(ferry_dev_walk *w, xmlNodePtr node, const char *kind, gconstpointer first,
         GError **error)
{
    if (!first)
        return TRUE;
    ferry_xml_error(w->r, error, node, "only one %s is supported (the first is at line %ld)",
                    kind, ferry_dev_line(w, first));
    return FALSE;
}

static gboolean
parse_memballoon(ferry_dev_walk *w, xmlNodePtr node, GError **error)
{
    ferry_xml_reader *r = w->r;
    g_autoptr(ferry_memballoon_def) m = g_new0(ferry_memballoon_def, 1);
    xmlNodePtr stats;

    if (!only_one(w, node, "memballoon", w->def->memballoon, error) ||
        !ferry_dev_attr_choice_str(r, node, "model", TRUE, FERRY_DEV_CHOICES(memballoon_models),
                                   &m->model, error) ||
        !ferry_dev_skip_alias(r, node, error))
        return FALSE;
    /* model 'none' is no device: it has neither statistics nor address. */
    if (strcmp(m->model, "none") != 0) {
        if (!ferry_xml_child(r, node, "stats", FALSE, &stats, error) ||
            (stats && !ferry_dev_attr_uint(r, stats, "period", TRUE, 0, 86400,
                                           &m->stats_period, NULL, error)) ||
            !ferry_dev_parse_address(w, node, "the memballoon",
                                     FERRY_DEV_ADDR(FERRY_ADDRESS_PCI), NULL, &m->address,
                                     error))
            return FALSE;
    }
    ferry_xml_reader_set_origin(w->r, m, node);
    w->def->memballoon = g_steal_pointer(&m);
    return TRUE;
}

static gboolean
parse_rng(ferry_dev_walk *w, xmlNodePtr node, GError **error)
{
    ferry_xml_reader *r = w->r;
    g_autoptr(ferry_rng_def) rng = g_new0(ferry_rng_def, 1);
    g_autofree char *owner = g_strdup_printf("rng %u", w->def->rngs->len);
    xmlNodePtr backend;

    if (!ferry_conf_expect_attr(r, node, "model", TRUE, "virtio", error) ||
        !ferry_xml_child(r, node, "backend", TRUE, &backend, error) ||
        !ferry_conf_expect_attr(r, backend, "model", TRUE, "random", error))
        return FALSE;
    rng->model = g_strdup("virtio");
    rng->backend = ferry_xml_text(r, backend);
    g_strstrip(rng->backend);
    /* libvirt's default source when the element is empty. */
    if (!*rng->backend) {
        g_free(rng->backend);
        rng->backend = g_strdup("/dev/urandom");
    }
    if (!ferry_conf_check_absolute(r, backend, NULL, rng->backend, error) ||
        !ferry_dev_skip_alias(r, node, error) ||
        !ferry_dev_parse_address(w, node, owner, FERRY_DEV_ADDR(FERRY_ADDRESS_PCI), NULL,
                                 &rng->address, error))
        return FALSE;
    ferry_xml_reader_set_origin(w->r, rng, node);
    g_ptr_array_add(w->def->rngs, g_steal_pointer(&rng));
    return TRUE;
}

static gboolean
parse_watchdog(ferry_dev_walk *w, xmlNodePtr node, GError **error)
{
    ferry_xml_reader *r = w->r;
    g_autoptr(ferry_watchdog_def) wd = g_new0(ferry_watchdog_def, 1);

    if (!only_one(w, node, "watchdog", w->def->watchdog, error) ||
        !ferry_dev_attr_choice_str(r, node, "model", TRUE, FERRY_DEV_CHOICES(watchdog_models),
                                   &wd->model, error) ||
        !ferry_dev_attr_choice_str(r, node, "action", FALSE, FERRY_DEV_CHOICES(watchdog_actions),
                                   &wd->action, error) ||
        !ferry_dev_skip_alias(r, node, error))
        return FALSE;
    if (!wd->action)
        wd->action = g_strdup("reset");
    if (strcmp(wd->model, "itco") == 0 && !g_str_has_prefix(w->def->machine, "q35") &&
        !g_str_has_prefix(w->def->machine, "pc-q35")) {
        ferry_xml_error(r, error, node, "model 'itco' is the ICH9 chipset's own watchdog: "
                        "machine '%s' has none (use i6300esb or ib700)", w->def->machine);
        return FALSE;
    }
    /* The ib700 is an ISA card: no PCI address. */
    if (strcmp(wd->model, "i6300esb") == 0 &&
        !ferry_dev_parse_address(w, node, "the watchdog", FERRY_DEV_ADDR(FERRY_ADDRESS_PCI), NULL,
                                 &wd->address, error))
        return FALSE;
    ferry_xml_reader_set_origin(w->r, wd, node);
    w->def->watchdog = g_steal_pointer(&wd);
    return TRUE;
}

/* <audio id='N' type='...'/>: ids unique, from 1. */
static gboolean
parse_audio(ferry_dev_walk *w, xmlNodePtr node, GError **error)
{
    ferry_xml_reader *r = w->r;
    g_autoptr(ferry_audio_def) audio = g_new0(ferry_audio_def, 1);

    if (!ferry_dev_attr_uint(r, node, "id", TRUE, 1, G_MAXINT32, &audio->id, NULL, error) ||
        !ferry_dev_attr_choice_str(r, node, "type", TRUE, FERRY_DEV_CHOICES(audio_types),
                                   &audio->type, error) ||
        !ferry_dev_skip_alias(r, node, error))
        return FALSE;
    for (guint i = 0; i < w->def->audios->len; i++) {
        const ferry_audio_def *other = g_ptr_array_index(w->def->audios, i);

        if (other->id == audio->id) {
            ferry_xml_error(r, error, node, "audio id %u is already used at line %ld",
                            audio->id, ferry_dev_line(w, other));
            return FALSE;
        }
    }
    ferry_xml_reader_set_origin(w->r, audio, node);
    g_ptr_array_add(w->def->audios, g_steal_pointer(&audio));
    return TRUE;
}

static void
format_audios(GString *out, const ferry_domain_def *def)
{
    for (guint i = 0; i < FERRY_DEV_LEN(def->audios); i++) {
        const ferry_audio_def *audio = g_ptr_array_index(def->audios, i);

        g_string_append_printf(out, "    <audio id='%u'", audio->id);
        ferry_xml_format_attr(out, "type", audio->type);
        g_string_append(out, "/>\n");
    }
}

static void
format_small_devices(GString *out, const ferry_domain_def *def)
{
    const ferry_watchdog_def *wd = def->watchdog;
    const ferry_memballoon_def *m = def->memballoon;

    if (wd) {
        g_string_append(out, "    <watchdog");
        ferry_xml_format_attr(out, "model", wd->model);
        ferry_xml_format_attr(out, "action", wd->action ? wd->action : "reset");
        if (wd->address.type == FERRY_ADDRESS_NONE) {
            g_string_append(out, "/>\n");
        } else {
            g_string_append(out, ">\n");
            ferry_domain_address_format(out, "      ", &wd->address);
            g_string_append(out, "    </watchdog>\n");
        }
    }
    if (m) {
        g_string_append(out, "    <memballoon");
        ferry_xml_format_attr(out, "model", m->model);
        if (!m->stats_period && m->address.type == FERRY_ADDRESS_NONE) {
            g_string_append(out, "/>\n");
        } else {
            g_string_append(out, ">\n");
            if (m->stats_period)
                g_string_append_printf(out, "      <stats period='%u'/>\n", m->stats_period);
            ferry_domain_address_format(out, "      ", &m->address);
            g_string_append(out, "    </memballoon>\n");
        }
    }
    for (guint i = 0; i < FERRY_DEV_LEN(def->rngs); i++) {
        const ferry_rng_def *rng = g_ptr_array_index(def->rngs, i);

        g_string_append(out, "    <rng");
        ferry_xml_format_attr(out, "model", rng->model ? rng->model : "virtio");
        g_string_append(out, ">\n      <backend model='random'>");
        ferry_xml_escape(out, rng->backend ? rng->backend : "/dev/urandom", FALSE);
        g_string_append(out, "</backend>\n");
        ferry_domain_address_format(out, "      ", &rng->address);
        g_string_append(out, "    </rng>\n");
    }
}

/* ---- the walk ------------------------------------------------------------ */

/* In libvirt's order of <devices>, which is also the canonical one. */
static const struct {
    const char *name;
    ferry_dev_parser parse;
} device_kinds[] = {
    { "disk", parse_disk },
    { "controller", parse_controller },
    { "interface", parse_interface },
    { "serial", ferry_dev_parse_serial },
    { "console", ferry_dev_parse_console },
    { "channel", ferry_dev_parse_channel },
    { "input", ferry_dev_parse_input },
    { "graphics", ferry_dev_parse_graphics },
    { "audio", parse_audio },
    { "video", ferry_dev_parse_video },
    { "hostdev", ferry_dev_parse_hostdev },
    { "watchdog", parse_watchdog },
    { "memballoon", parse_memballoon },
    { "rng", parse_rng },
};

static void
parse_emulator(ferry_xml_reader *r, xmlNodePtr devices, ferry_domain_def *def)
{
    g_autoptr(GError) local = NULL;
    g_autofree char *path = NULL;
    xmlNodePtr node = NULL;

    if (ferry_xml_child_text(r, devices, "emulator", FALSE, &node, &path, &local)) {
        if (path)
            g_strstrip(path);
        if (!path || ferry_conf_check_absolute(r, node, NULL, path, &local)) {
            def->emulator = g_steal_pointer(&path);
            return;
        }
    }
    ferry_xml_reader_defer(r, &local);
    for (xmlNodePtr n = devices->children; n; n = n->next) {
        if (n->type == XML_ELEMENT_NODE && xmlStrEqual(n->name, BAD_CAST "emulator"))
            ferry_xml_mark_subtree_read(r, n);
    }
}

gboolean
ferry_domain_devices_parse(ferry_xml_reader *r, xmlNodePtr devices, ferry_domain_def *def,
                           GError **error)
{
    g_autoptr(GPtrArray) claims = ferry_dev_claims_new();
    g_autoptr(GHashTable) next_index = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
                                                             NULL);
    ferry_dev_walk w = {
        .r = r, .def = def, .claims = claims, .next_index = next_index,
    };

    if (!devices)
        return TRUE;
    parse_emulator(r, devices, def);
    for (gsize k = 0; k < G_N_ELEMENTS(device_kinds); k++) {
        g_autoptr(GPtrArray) elements = ferry_xml_children(r, devices, device_kinds[k].name);

        for (guint i = 0; i < elements->len; i++) {
            xmlNodePtr node = g_ptr_array_index(elements, i);
            g_autoptr(GError) local = NULL;
            guint claimed = claims->len;

            if (device_kinds[k].parse(&w, node, &local))
                continue;
            ferry_xml_reader_defer(r, &local);
            ferry_xml_mark_subtree_read(r, node);
            /* A refused device holds nothing: no second error about it. */
            g_ptr_array_set_size(claims, claimed);
        }
    }
    for (gsize k = 0; k < G_N_ELEMENTS(refused_devices); k++) {
        g_autoptr(GPtrArray) elements = ferry_xml_children(r, devices, refused_devices[k]);

        for (guint i = 0; i < elements->len; i++) {
            xmlNodePtr node = g_ptr_array_index(elements, i);
            g_autoptr(GError) local = NULL;

            ferry_xml_error(r, &local, node, "device '%s' is not supported by ferry",
                            refused_devices[k]);
            ferry_xml_reader_defer(r, &local);
            ferry_xml_mark_subtree_read(r, node);
        }
    }
    ferry_dev_finish_console(&w);
    ferry_dev_check_claims(&w);
    return TRUE;
}

/* ---- formatting ---------------------------------------------------------- */

static gboolean
has_devices(const ferry_domain_def *def)
{
    return def->emulator || def->serial_log || def->memballoon || def->watchdog ||
           FERRY_DEV_LEN(def->disks) || FERRY_DEV_LEN(def->controllers) ||
           FERRY_DEV_LEN(def->nets) || FERRY_DEV_LEN(def->chardevs) ||
           FERRY_DEV_LEN(def->graphics) || FERRY_DEV_LEN(def->videos) ||
           FERRY_DEV_LEN(def->inputs) || FERRY_DEV_LEN(def->rngs) ||
           FERRY_DEV_LEN(def->audios) || FERRY_DEV_LEN(def->hostdevs);
}

void
ferry_domain_devices_format(GString *out, const ferry_domain_def *def)
{
    if (!has_devices(def))
        return;
    g_string_append(out, "  <devices>\n");
    ferry_xml_format_text(out, "    ", "emulator", def->emulator);
    for (guint i = 0; i < FERRY_DEV_LEN(def->disks); i++)
        format_disk(out, g_ptr_array_index(def->disks, i));
    for (guint i = 0; i < FERRY_DEV_LEN(def->controllers); i++)
        format_controller(out, g_ptr_array_index(def->controllers, i));
    for (guint i = 0; i < FERRY_DEV_LEN(def->nets); i++)
        format_interface(out, g_ptr_array_index(def->nets, i));
    ferry_dev_format_chardevs(out, def);
    ferry_dev_format_inputs(out, def);
    ferry_dev_format_graphics(out, def);
    format_audios(out, def);
    ferry_dev_format_videos(out, def);
    ferry_dev_format_hostdevs(out, def);
    format_small_devices(out, def);
    g_string_append(out, "  </devices>\n");
}
