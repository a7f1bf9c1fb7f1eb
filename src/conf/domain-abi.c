/*
 * domain-abi.c: is a definition offered for a running guest the same
 * machine as far as the guest can tell?
 *
 * A migration may carry a destination XML (`ferry migrate --xml`): the
 * destination's QEMU is built from it, and the guest's memory and device
 * state arrive from the source.  If the device layout, a device model, a
 * MAC, the memory size or the CPU differs, the incoming state does not fit
 * and the guest breaks or QEMU refuses the stream half way through.  So
 * the source checks before Begin, as libvirt does, and names the first
 * difference.  Host-side values (image and chardev paths, bridge, network
 * and tap names, listen addresses, passwords, cache modes) may change:
 * that is what a destination XML is for.
 *
 * Owns: the comparison.  Must not: know drivers or touch files.
 */
#include "ferry-config.h"

#include <ferry/ferry.h>
#include <string.h>

#include "conf/domain-conf.h"

/* The first difference found, with what and where. */
typedef struct {
    const char *domain;
    GError **error;
    gboolean failed;
} abi_check;

static void G_GNUC_PRINTF(2, 3)
abi_fail(abi_check *c, const char *format, ...)
{
    g_autofree char *what = NULL;
    va_list ap;

    if (c->failed)
        return;
    va_start(ap, format);
    what = g_strdup_vprintf(format, ap);
    va_end(ap);
    g_set_error(c->error, FERRY_ERROR, FERRY_ERROR_XML,
                "domain '%s': the destination XML changes what the guest sees: %s",
                c->domain, what);
    c->failed = TRUE;
}

static const char *
show(const char *s)
{
    return s ? s : "(none)";
}

static void
same_str(abi_check *c, const char *device, const char *field, const char *src, const char *dst)
{
    if (g_strcmp0(src, dst) != 0)
        abi_fail(c, "%s: %s '%s' on the destination, '%s' on the source", device, field,
                 show(dst), show(src));
}

static void
same_uint(abi_check *c, const char *device, const char *field, guint64 src, guint64 dst)
{
    if (src != dst)
        abi_fail(c, "%s: %s %" G_GUINT64_FORMAT " on the destination, %" G_GUINT64_FORMAT
                 " on the source", device, field, dst, src);
}

static char *
format_address(const ferry_device_address *a)
{
    switch (a->type) {
    case FERRY_ADDRESS_NONE:
        return g_strdup("none");
    case FERRY_ADDRESS_PCI:
        return g_strdup_printf("pci %04x:%02x:%02x.%x", a->domain, a->bus, a->slot, a->function);
    case FERRY_ADDRESS_DRIVE:
        return g_strdup_printf("drive %u:%u:%u:%u", a->controller, a->bus, a->target, a->unit);
    case FERRY_ADDRESS_VIRTIO_SERIAL:
        return g_strdup_printf("virtio-serial %u:%u:%u", a->controller, a->bus, a->port);
    case FERRY_ADDRESS_USB:
        return g_strdup_printf("usb %u:%s", a->bus, show(a->usb_port));
    }
    return g_strdup("unknown");
}

static void
same_address(abi_check *c, const char *device, const ferry_device_address *src,
             const ferry_device_address *dst)
{
    g_autofree char *s = format_address(src);
    g_autofree char *d = format_address(dst);

    if (strcmp(s, d) != 0 || src->multifunction != dst->multifunction)
        abi_fail(c, "%s: address %s on the destination, %s on the source", device, d, s);
}

static gboolean
same_count(abi_check *c, const char *what, const GPtrArray *src, const GPtrArray *dst)
{
    guint s = src ? src->len : 0;
    guint d = dst ? dst->len : 0;

    if (s == d)
        return TRUE;
    abi_fail(c, "%u %s on the destination, %u on the source", d, what, s);
    return FALSE;
}

static void
check_named_values(abi_check *c, const char *what, const GPtrArray *src, const GPtrArray *dst)
{
    if (!same_count(c, what, src, dst))
        return;
    for (guint i = 0; src && i < src->len; i++) {
        const ferry_named_value *s = g_ptr_array_index((GPtrArray *)src, i);
        const ferry_named_value *d = g_ptr_array_index((GPtrArray *)dst, i);
        g_autofree char *label = g_strdup_printf("%s '%s'", what, show(s->name));

        same_str(c, label, "name", s->name, d->name);
        same_str(c, label, "value", s->value, d->value);
        same_str(c, label, "setting", s->extra, d->extra);
    }
}

static void
check_machine(abi_check *c, const ferry_domain_def *s, const ferry_domain_def *d)
{
    same_str(c, "os", "machine", s->machine, d->machine);
    same_str(c, "os", "arch", s->arch, d->arch);
    same_uint(c, "memory", "KiB", s->memory_kib, d->memory_kib);
    same_uint(c, "vcpu", "count", s->vcpus, d->vcpus);
    same_uint(c, "vcpu", "current", s->vcpus_current ? s->vcpus_current : s->vcpus,
              d->vcpus_current ? d->vcpus_current : d->vcpus);
    same_str(c, "cpu", "mode", s->cpu_mode, d->cpu_mode);
    same_str(c, "cpu", "model", s->cpu_model, d->cpu_model);
    same_str(c, "cpu", "vendor", s->cpu_vendor, d->cpu_vendor);
    same_uint(c, "cpu topology", "sockets", s->cpu_sockets, d->cpu_sockets);
    same_uint(c, "cpu topology", "dies", s->cpu_dies, d->cpu_dies);
    same_uint(c, "cpu topology", "cores", s->cpu_cores, d->cpu_cores);
    same_uint(c, "cpu topology", "threads", s->cpu_threads, d->cpu_threads);
    check_named_values(c, "cpu feature", s->cpu_features, d->cpu_features);
    /* Only what the command line turns into guest-visible hardware. */
    same_uint(c, "features", "acpi", s->has_features && s->feature_acpi,
              d->has_features && d->feature_acpi);
    if (s->has_features != d->has_features)
        abi_fail(c, "features: <features> %s on the destination, %s on the source",
                 d->has_features ? "present" : "absent", s->has_features ? "present" : "absent");
    check_named_values(c, "hyperv feature", s->hyperv, d->hyperv);
    same_str(c, "os", "loader type", s->loader_type, d->loader_type);
    if (!s->loader != !d->loader)
        abi_fail(c, "os: a firmware loader %s on the destination, %s on the source",
                 d->loader ? "given" : "absent", s->loader ? "given" : "absent");
    same_str(c, "clock", "offset", s->clock_offset, d->clock_offset);
}

static void
check_disks(abi_check *c, const ferry_domain_def *s, const ferry_domain_def *d)
{
    if (!same_count(c, "disks", s->disks, d->disks))
        return;
    for (guint i = 0; i < s->disks->len; i++) {
        const ferry_disk_def *a = g_ptr_array_index(s->disks, i);
        const ferry_disk_def *b = g_ptr_array_index(d->disks, i);
        g_autofree char *label = g_strdup_printf("disk %u ('%s')", i, a->target);

        same_str(c, label, "target", a->target, b->target);
        same_uint(c, label, "bus", a->bus, b->bus);
        same_uint(c, label, "device", a->device, b->device);
        same_uint(c, label, "read-only", a->readonly, b->readonly);
        same_uint(c, label, "shareable", a->shareable, b->shareable);
        same_str(c, label, "serial", a->serial, b->serial);
        same_address(c, label, &a->address, &b->address);
    }
}

static void
check_controllers(abi_check *c, const ferry_domain_def *s, const ferry_domain_def *d)
{
    if (!same_count(c, "controllers", s->controllers, d->controllers))
        return;
    for (guint i = 0; i < s->controllers->len; i++) {
        const ferry_controller_def *a = g_ptr_array_index(s->controllers, i);
        const ferry_controller_def *b = g_ptr_array_index(d->controllers, i);
        g_autofree char *label = g_strdup_printf("controller %u ('%s' %u)", i, show(a->type),
                                                 a->index);

        same_str(c, label, "type", a->type, b->type);
        same_uint(c, label, "index", a->index, b->index);
        same_str(c, label, "model", a->model, b->model);
        same_uint(c, label, "ports", a->ports, b->ports);
        same_address(c, label, &a->address, &b->address);
    }
}

static void
check_nets(abi_check *c, const ferry_domain_def *s, const ferry_domain_def *d)
{
    if (!same_count(c, "interfaces", s->nets, d->nets))
        return;
    for (guint i = 0; i < s->nets->len; i++) {
        const ferry_net_def *a = g_ptr_array_index(s->nets, i);
        const ferry_net_def *b = g_ptr_array_index(d->nets, i);
        g_autofree char *label = g_strdup_printf("interface %u (%s)", i, show(a->mac));

        same_str(c, label, "MAC", a->mac, b->mac);
        same_str(c, label, "model", a->model, b->model);
        same_uint(c, label, "mtu", a->mtu, b->mtu);
        /* User-mode networking is inside QEMU; a tap is outside: the
         * guest's NIC is the same, but its network is not. */
        if ((a->type == FERRY_NET_TYPE_USER) != (b->type == FERRY_NET_TYPE_USER))
            abi_fail(c, "%s: %s networking on the destination, %s on the source", label,
                     b->type == FERRY_NET_TYPE_USER ? "user-mode" : "tap",
                     a->type == FERRY_NET_TYPE_USER ? "user-mode" : "tap");
        same_address(c, label, &a->address, &b->address);
    }
}

static const char *const chr_devices[] = { "serial", "console", "channel" };

static void
check_chardevs(abi_check *c, const ferry_domain_def *s, const ferry_domain_def *d)
{
    if (!same_count(c, "serial ports, consoles and channels", s->chardevs, d->chardevs))
        return;
    for (guint i = 0; i < s->chardevs->len; i++) {
        const ferry_chr_def *a = g_ptr_array_index(s->chardevs, i);
        const ferry_chr_def *b = g_ptr_array_index(d->chardevs, i);
        g_autofree char *label =
            g_strdup_printf("%s %u", (guint)a->device < G_N_ELEMENTS(chr_devices)
                            ? chr_devices[a->device] : "chardev", a->target_port);

        same_uint(c, label, "kind", a->device, b->device);
        same_str(c, label, "target type", a->target_type, b->target_type);
        same_uint(c, label, "target port", a->target_port, b->target_port);
        same_str(c, label, "target name", a->target_name, b->target_name);
        same_address(c, label, &a->address, &b->address);
    }
}

static void
check_other_devices(abi_check *c, const ferry_domain_def *s, const ferry_domain_def *d)
{
    if (same_count(c, "video devices", s->videos, d->videos)) {
        for (guint i = 0; i < s->videos->len; i++) {
            const ferry_video_def *a = g_ptr_array_index(s->videos, i);
            const ferry_video_def *b = g_ptr_array_index(d->videos, i);
            g_autofree char *label = g_strdup_printf("video %u", i);

            same_str(c, label, "model", a->model, b->model);
            same_uint(c, label, "vram", a->vram, b->vram);
            same_uint(c, label, "ram", a->ram, b->ram);
            same_uint(c, label, "vgamem", a->vgamem, b->vgamem);
            same_uint(c, label, "heads", a->heads, b->heads);
            same_uint(c, label, "primary", a->primary, b->primary);
            same_address(c, label, &a->address, &b->address);
        }
    }
    if (same_count(c, "input devices", s->inputs, d->inputs)) {
        for (guint i = 0; i < s->inputs->len; i++) {
            const ferry_input_def *a = g_ptr_array_index(s->inputs, i);
            const ferry_input_def *b = g_ptr_array_index(d->inputs, i);
            g_autofree char *label = g_strdup_printf("input %u", i);

            same_str(c, label, "type", a->type, b->type);
            same_str(c, label, "bus", a->bus, b->bus);
            same_address(c, label, &a->address, &b->address);
        }
    }
    if (same_count(c, "rng devices", s->rngs, d->rngs)) {
        for (guint i = 0; i < s->rngs->len; i++) {
            const ferry_rng_def *a = g_ptr_array_index(s->rngs, i);
            const ferry_rng_def *b = g_ptr_array_index(d->rngs, i);
            g_autofree char *label = g_strdup_printf("rng %u", i);

            same_str(c, label, "model", a->model, b->model);
            same_address(c, label, &a->address, &b->address);
        }
    }
    if (!s->memballoon != !d->memballoon) {
        abi_fail(c, "memballoon: %s on the destination, %s on the source",
                 d->memballoon ? "present" : "absent", s->memballoon ? "present" : "absent");
    } else if (s->memballoon) {
        same_str(c, "memballoon", "model", s->memballoon->model, d->memballoon->model);
        same_address(c, "memballoon", &s->memballoon->address, &d->memballoon->address);
    }
    if (!s->watchdog != !d->watchdog) {
        abi_fail(c, "watchdog: %s on the destination, %s on the source",
                 d->watchdog ? "present" : "absent", s->watchdog ? "present" : "absent");
    } else if (s->watchdog) {
        same_str(c, "watchdog", "model", s->watchdog->model, d->watchdog->model);
        same_address(c, "watchdog", &s->watchdog->address, &d->watchdog->address);
    }
}

gboolean
ferry_domain_def_check_abi_stability(const ferry_domain_def *src, const ferry_domain_def *dst,
                                     GError **error)
{
    abi_check c = { .domain = src->name, .error = error };

    g_return_val_if_fail(src != NULL && dst != NULL, FALSE);

    check_machine(&c, src, dst);
    check_disks(&c, src, dst);
    check_controllers(&c, src, dst);
    check_nets(&c, src, dst);
    check_chardevs(&c, src, dst);
    check_other_devices(&c, src, dst);
    return !c.failed;
}
