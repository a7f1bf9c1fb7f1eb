/*
 * domain-conf-devices.c: the <devices> of a domain definition.
 *
 * Owns: parsing, formatting, copying and freeing every device (disks,
 * controllers, interfaces, serial ports, consoles, channels, graphics,
 * video, input, memballoon, rng, watchdog) and their <address>.  Must not:
 * touch files, start processes or know about drivers; address assignment
 * is domain-addr.c's.
 */
#include "ferry-config.h"

#include <ferry/ferry.h>
#include <string.h>

#include "conf/domain-conf-priv.h"

static const char *const disk_buses[] = {
    [FERRY_DISK_BUS_VIRTIO] = "virtio",
    [FERRY_DISK_BUS_IDE] = "ide",
};

static void
disk_def_free(ferry_disk_def *disk)
{
    if (!disk)
        return;
    g_free(disk->target);
    g_free(disk->source);
    g_free(disk);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC(ferry_disk_def, disk_def_free)

void
ferry_domain_devices_init(ferry_domain_def *def)
{
    def->disks = g_ptr_array_new_with_free_func((GDestroyNotify)disk_def_free);
}

void
ferry_domain_devices_clear(ferry_domain_def *def)
{
    g_clear_pointer(&def->disks, g_ptr_array_unref);
    g_clear_pointer(&def->serial_log, g_free);
}

void
ferry_domain_devices_copy(ferry_domain_def *copy, const ferry_domain_def *def)
{
    copy->serial_log = g_strdup(def->serial_log);
    for (guint i = 0; def->disks && i < def->disks->len; i++) {
        const ferry_disk_def *disk = g_ptr_array_index(def->disks, i);
        ferry_disk_def *d = g_new0(ferry_disk_def, 1);

        d->target = g_strdup(disk->target);
        d->bus = disk->bus;
        d->source = g_strdup(disk->source);
        d->format = disk->format;
        d->readonly = disk->readonly;
        g_ptr_array_add(copy->disks, d);
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

static gboolean
target_fits_bus(const char *dev, ferry_disk_bus bus)
{
    if (bus == FERRY_DISK_BUS_IDE)
        return strlen(dev) == 3 && g_str_has_prefix(dev, "hd") && dev[2] >= 'a' && dev[2] <= 'd';
    return strlen(dev) > 2 && g_str_has_prefix(dev, "vd") &&
           dev[2 + strspn(dev + 2, "abcdefghijklmnopqrstuvwxyz")] == '\0';
}

static gboolean
parse_disk_target(ferry_xml_reader *r, xmlNodePtr disk_node, ferry_disk_def *disk,
                  xmlNodePtr *ret_node, GError **error)
{
    g_autofree char *bus = NULL;
    xmlNodePtr node;
    int index;

    if (!ferry_xml_child(r, disk_node, "target", TRUE, ret_node, error))
        return FALSE;
    node = *ret_node;
    if (!ferry_xml_attr(r, node, "dev", TRUE, &disk->target, error) ||
        !ferry_xml_attr(r, node, "bus", FALSE, &bus, error))
        return FALSE;

    if (bus) {
        index = ferry_conf_string_index(disk_buses, G_N_ELEMENTS(disk_buses), bus);
        if (index < 0) {
            ferry_xml_error(r, error, node, "unknown bus '%s' (expected 'virtio' or 'ide')", bus);
            return FALSE;
        }
        disk->bus = index;
    } else if (g_str_has_prefix(disk->target, "vd")) {
        disk->bus = FERRY_DISK_BUS_VIRTIO;
    } else if (g_str_has_prefix(disk->target, "hd")) {
        disk->bus = FERRY_DISK_BUS_IDE;
    } else {
        ferry_xml_error(r, error, node,
                        "cannot tell the bus of target '%s': name it vdX for virtio or "
                        "hdX for ide, or give the bus", disk->target);
        return FALSE;
    }

    if (!target_fits_bus(disk->target, disk->bus)) {
        if (disk->bus == FERRY_DISK_BUS_IDE)
            ferry_xml_error(r, error, node, "target '%s' does not fit bus 'ide', "
                            "whose disks are named hda to hdd", disk->target);
        else
            ferry_xml_error(r, error, node, "target '%s' does not fit bus 'virtio', "
                            "whose disks are named vda, vdb, ...", disk->target);
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
        !ferry_xml_attr(r, node, "type", FALSE, &format, error))
        return FALSE;
    if (!format)
        return TRUE;
    index = ferry_disk_format_from_string(format);
    if (index < 0) {
        ferry_xml_error(r, error, node, "unknown disk format '%s' (expected 'raw' or 'qcow2')",
                        format);
        return FALSE;
    }
    disk->format = index;
    return TRUE;
}

/* @ret_target: (out): the <target> element, to point at a clash */
static ferry_disk_def *
parse_disk(ferry_xml_reader *r, xmlNodePtr node, xmlNodePtr *ret_target, GError **error)
{
    g_autoptr(ferry_disk_def) disk = g_new0(ferry_disk_def, 1);
    xmlNodePtr source;
    xmlNodePtr readonly;

    if (!ferry_conf_expect_attr(r, node, "type", TRUE, "file", error) ||
        !ferry_conf_expect_attr(r, node, "device", FALSE, "disk", error) ||
        !parse_disk_driver(r, node, disk, error))
        return NULL;

    if (!ferry_xml_child(r, node, "source", TRUE, &source, error) ||
        !ferry_xml_attr(r, source, "file", TRUE, &disk->source, error) ||
        !ferry_conf_check_absolute(r, source, "file", disk->source, error))
        return NULL;

    if (!parse_disk_target(r, node, disk, ret_target, error) ||
        !ferry_xml_child(r, node, "readonly", FALSE, &readonly, error))
        return NULL;
    disk->readonly = readonly != NULL;
    return g_steal_pointer(&disk);
}

static gboolean
parse_disks(ferry_xml_reader *r, xmlNodePtr devices, ferry_domain_def *def, GError **error)
{
    g_autoptr(GPtrArray) nodes = ferry_xml_children(r, devices, "disk");
    g_autoptr(GHashTable) targets = g_hash_table_new(g_str_hash, g_str_equal);

    for (guint i = 0; i < nodes->len; i++) {
        xmlNodePtr node = g_ptr_array_index(nodes, i);
        xmlNodePtr target = NULL;
        ferry_disk_def *disk = parse_disk(r, node, &target, error);
        xmlNodePtr first;

        if (!disk)
            return FALSE;
        g_ptr_array_add(def->disks, disk);
        first = g_hash_table_lookup(targets, disk->target);
        if (first) {
            ferry_xml_error(r, error, target, "disk target '%s' is already used at line %ld",
                            disk->target, xmlGetLineNo(first));
            return FALSE;
        }
        g_hash_table_insert(targets, disk->target, target);
    }
    return TRUE;
}

static gboolean
parse_serial(ferry_xml_reader *r, xmlNodePtr devices, ferry_domain_def *def, GError **error)
{
    g_autoptr(GPtrArray) nodes = ferry_xml_children(r, devices, "serial");
    g_autofree char *path = NULL;
    xmlNodePtr node;
    xmlNodePtr source;
    xmlNodePtr target;

    if (nodes->len == 0)
        return TRUE;
    node = g_ptr_array_index(nodes, 0);
    if (nodes->len > 1) {
        ferry_xml_error(r, error, g_ptr_array_index(nodes, 1),
                        "only one serial port is supported (the first is at line %ld)",
                        xmlGetLineNo(node));
        return FALSE;
    }
    if (!ferry_conf_expect_attr(r, node, "type", TRUE, "file", error) ||
        !ferry_xml_child(r, node, "source", TRUE, &source, error) ||
        !ferry_xml_attr(r, source, "path", TRUE, &path, error) ||
        !ferry_conf_check_absolute(r, source, "path", path, error) ||
        !ferry_xml_child(r, node, "target", FALSE, &target, error))
        return FALSE;
    if (target && !ferry_conf_expect_attr(r, target, "port", TRUE, "0", error))
        return FALSE;
    def->serial_log = g_steal_pointer(&path);
    return TRUE;
}

gboolean
ferry_domain_devices_parse(ferry_xml_reader *r, xmlNodePtr devices, ferry_domain_def *def,
                           GError **error)
{
    if (!devices)
        return TRUE;
    return parse_disks(r, devices, def, error) && parse_serial(r, devices, def, error);
}

static void
format_disk(GString *out, const ferry_disk_def *disk)
{
    const char *format = ferry_disk_format_to_string(disk->format);
    const char *bus = (guint)disk->bus < G_N_ELEMENTS(disk_buses) ? disk_buses[disk->bus] : NULL;

    g_string_append(out, "    <disk type='file' device='disk'>\n");
    g_string_append(out, "      <driver name='qemu'");
    ferry_xml_format_attr(out, "type", format);
    g_string_append(out, "/>\n      <source");
    ferry_xml_format_attr(out, "file", disk->source);
    g_string_append(out, "/>\n      <target");
    ferry_xml_format_attr(out, "dev", disk->target);
    ferry_xml_format_attr(out, "bus", bus);
    g_string_append(out, "/>\n");
    if (disk->readonly)
        g_string_append(out, "      <readonly/>\n");
    g_string_append(out, "    </disk>\n");
}

void
ferry_domain_devices_format(GString *out, const ferry_domain_def *def)
{
    guint n_disks = def->disks ? def->disks->len : 0;

    if (n_disks == 0 && !def->serial_log)
        return;
    g_string_append(out, "  <devices>\n");
    for (guint i = 0; i < n_disks; i++)
        format_disk(out, g_ptr_array_index(def->disks, i));
    if (def->serial_log) {
        g_string_append(out, "    <serial type='file'>\n      <source");
        ferry_xml_format_attr(out, "path", def->serial_log);
        g_string_append(out, "/>\n      <target port='0'/>\n    </serial>\n");
    }
    g_string_append(out, "  </devices>\n");
}
