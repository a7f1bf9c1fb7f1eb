/*
 * domain-conf-hostdev.c: <hostdev>, a PCI or USB device of the host given
 * to the guest.
 *
 * ferry reads and writes host devices so that a definition that has one
 * can be kept (by the test driver) and a migration can refuse it by name:
 * the device cannot follow the guest to another host.  ferry's QEMU driver
 * refuses to define or start such a domain (qemu-define-check.c).
 *
 * Owns: parsing, formatting, copying and describing host devices.  Must
 * not: choose a guest address for one (domain-addr.c leaves a given one as
 * it is and adds none), touch the host's devices, or know about drivers.
 */
#include "ferry-config.h"

#include <ferry/ferry.h>
#include <string.h>

#include "conf/domain-conf-devices.h"

static const char *const hostdev_modes[] = { "subsystem" };
static const char *const hostdev_types[] = { "pci", "usb" };
static const char *const yes_no[] = { "no", "yes" };

/* ---- free, copy, describe ------------------------------------------------ */

void
ferry_hostdev_def_free(ferry_hostdev_def *h)
{
    if (!h)
        return;
    g_free(h->type);
    g_free(h->driver);
    ferry_dev_address_clear(&h->address);
    g_free(h);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC(ferry_hostdev_def, ferry_hostdev_def_free)

ferry_hostdev_def *
ferry_hostdev_def_copy(const ferry_hostdev_def *h)
{
    ferry_hostdev_def *d = g_memdup2(h, sizeof(*h));

    d->type = g_strdup(h->type);
    d->driver = g_strdup(h->driver);
    ferry_dev_address_copy(&d->address, &h->address);
    return d;
}

char *
ferry_hostdev_describe(const ferry_hostdev_def *h)
{
    g_return_val_if_fail(h != NULL, NULL);

    if (g_strcmp0(h->type, "usb") == 0) {
        if (h->usb_has_id)
            return g_strdup_printf("usb host device %04x:%04x", h->usb_vendor, h->usb_product);
        return g_strdup_printf("usb host device at bus %u device %u", h->usb_bus, h->usb_device);
    }
    return g_strdup_printf("%s host device %04x:%02x:%02x.%x", h->type ? h->type : "pci",
                           h->pci_domain, h->pci_bus, h->pci_slot, h->pci_function);
}

/* ---- parse --------------------------------------------------------------- */

/* <source><address domain= bus= slot= function=/></source>: any bus of the
 * host, unlike a guest address (whose only bus is 0). */
static gboolean
parse_pci_source(ferry_dev_walk *w, xmlNodePtr source, ferry_hostdev_def *h, GError **error)
{
    ferry_xml_reader *r = w->r;
    xmlNodePtr addr;

    if (!ferry_xml_child(r, source, "address", TRUE, &addr, error) ||
        !ferry_conf_expect_attr(r, addr, "type", FALSE, "pci", error) ||
        !ferry_dev_address_number(r, addr, "domain", TRUE, 0xffff, &h->pci_domain, error) ||
        !ferry_dev_address_number(r, addr, "bus", TRUE, 0xff, &h->pci_bus, error) ||
        !ferry_dev_address_number(r, addr, "slot", TRUE, 0x1f, &h->pci_slot, error) ||
        !ferry_dev_address_number(r, addr, "function", TRUE, 7, &h->pci_function, error))
        return FALSE;
    return TRUE;
}

/* <vendor id='0x046d'/>, <product id='0xc52b'/>: both or neither. */
static gboolean
parse_usb_id(ferry_xml_reader *r, xmlNodePtr source, ferry_hostdev_def *h, GError **error)
{
    g_autofree char *vendor_id = NULL;
    g_autofree char *product_id = NULL;
    xmlNodePtr vendor, product;

    if (!ferry_xml_child(r, source, "vendor", FALSE, &vendor, error) ||
        !ferry_xml_child(r, source, "product", FALSE, &product, error))
        return FALSE;
    if (!vendor && !product)
        return TRUE;
    if (!vendor || !product) {
        ferry_xml_error(r, error, source, "<%s> needs <%s> (a USB device is named by both)",
                        vendor ? "vendor" : "product", vendor ? "product" : "vendor");
        return FALSE;
    }
    /* ferry_dev_address_number() reads an absent attribute as 0: the
     * first two calls only make it required. */
    if (!ferry_xml_attr(r, vendor, "id", TRUE, &vendor_id, error) ||
        !ferry_xml_attr(r, product, "id", TRUE, &product_id, error) ||
        !ferry_dev_address_number(r, vendor, "id", TRUE, 0xffff, &h->usb_vendor, error) ||
        !ferry_dev_address_number(r, product, "id", TRUE, 0xffff, &h->usb_product, error))
        return FALSE;
    h->usb_has_id = TRUE;
    return TRUE;
}

/* <source> of a USB device: vendor and product, its bus and device on the
 * host, or both (a running domain's XML adds where libvirt found it). */
static gboolean
parse_usb_source(ferry_dev_walk *w, xmlNodePtr source, ferry_hostdev_def *h, GError **error)
{
    ferry_xml_reader *r = w->r;
    xmlNodePtr addr;

    if (!parse_usb_id(r, source, h, error) ||
        !ferry_xml_child(r, source, "address", FALSE, &addr, error))
        return FALSE;
    if (addr) {
        if (!ferry_conf_expect_attr(r, addr, "type", FALSE, "usb", error) ||
            !ferry_dev_attr_uint(r, addr, "bus", TRUE, 0, 0xffff, &h->usb_bus, NULL, error) ||
            !ferry_dev_attr_uint(r, addr, "device", TRUE, 1, 127, &h->usb_device, NULL, error))
            return FALSE;
        h->usb_has_address = TRUE;
    }
    if (!h->usb_has_id && !h->usb_has_address) {
        ferry_xml_error(r, error, source, "a usb host device needs <vendor> and <product>, or "
                        "<address bus= device=>");
        return FALSE;
    }
    return TRUE;
}

gboolean
ferry_dev_parse_hostdev(ferry_dev_walk *w, xmlNodePtr node, GError **error)
{
    ferry_xml_reader *r = w->r;
    g_autoptr(ferry_hostdev_def) h = g_new0(ferry_hostdev_def, 1);
    g_autofree char *mode = NULL;
    g_autofree char *owner = NULL;
    xmlNodePtr source;
    xmlNodePtr driver = NULL;
    gboolean is_pci;
    int managed;

    /* libvirt's default mode is subsystem; "capabilities" (a block or
     * character device, a network interface) is not assignment. */
    if (!ferry_dev_attr_choice_str(r, node, "mode", FALSE, FERRY_DEV_CHOICES(hostdev_modes),
                                   &mode, error) ||
        !ferry_dev_attr_choice_str(r, node, "type", TRUE, FERRY_DEV_CHOICES(hostdev_types),
                                   &h->type, error) ||
        !ferry_dev_attr_choice(r, node, "managed", FALSE, FERRY_DEV_CHOICES(yes_no), 0,
                               &managed, error) ||
        !ferry_xml_child(r, node, "source", TRUE, &source, error))
        return FALSE;
    h->managed = managed == 1;
    is_pci = strcmp(h->type, "pci") == 0;
    if (is_pci) {
        if (!parse_pci_source(w, source, h, error) ||
            !ferry_xml_child(r, node, "driver", FALSE, &driver, error) ||
            (driver && !ferry_conf_expect_attr(r, driver, "name", TRUE, "vfio", error)))
            return FALSE;
        if (driver)
            h->driver = g_strdup("vfio");
    } else if (!parse_usb_source(w, source, h, error)) {
        return FALSE;
    }
    /* The guest sees a PCI device on the PCI bus, a USB one on a USB port. */
    owner = ferry_hostdev_describe(h);
    if (!ferry_dev_skip_alias(r, node, error) ||
        !ferry_dev_parse_boot(w, node, owner, &h->boot_order, error) ||
        !ferry_dev_parse_address(w, node, owner,
                                 FERRY_DEV_ADDR(is_pci ? FERRY_ADDRESS_PCI : FERRY_ADDRESS_USB),
                                 NULL, &h->address, error))
        return FALSE;
    ferry_xml_reader_set_origin(r, h, node);
    g_ptr_array_add(w->def->hostdevs, g_steal_pointer(&h));
    return TRUE;
}

/* ---- format -------------------------------------------------------------- */

static void
format_hostdev(GString *out, const ferry_hostdev_def *h)
{
    gboolean is_usb = g_strcmp0(h->type, "usb") == 0;

    g_string_append(out, "    <hostdev mode='subsystem'");
    ferry_xml_format_attr(out, "type", is_usb ? "usb" : "pci");
    ferry_xml_format_attr(out, "managed", h->managed ? "yes" : "no");
    g_string_append(out, ">\n");
    if (!is_usb && h->driver) {
        g_string_append(out, "      <driver");
        ferry_xml_format_attr(out, "name", h->driver);
        g_string_append(out, "/>\n");
    }
    g_string_append(out, "      <source>\n");
    if (!is_usb) {
        g_string_append_printf(out, "        <address domain='0x%04x' bus='0x%02x' "
                               "slot='0x%02x' function='0x%x'/>\n", h->pci_domain, h->pci_bus,
                               h->pci_slot, h->pci_function);
    } else {
        if (h->usb_has_id)
            g_string_append_printf(out, "        <vendor id='0x%04x'/>\n"
                                   "        <product id='0x%04x'/>\n", h->usb_vendor,
                                   h->usb_product);
        if (h->usb_has_address)
            g_string_append_printf(out, "        <address bus='%u' device='%u'/>\n",
                                   h->usb_bus, h->usb_device);
    }
    g_string_append(out, "      </source>\n");
    if (h->boot_order)
        g_string_append_printf(out, "      <boot order='%u'/>\n", h->boot_order);
    ferry_domain_address_format(out, "      ", &h->address);
    g_string_append(out, "    </hostdev>\n");
}

void
ferry_dev_format_hostdevs(GString *out, const ferry_domain_def *def)
{
    for (guint i = 0; i < FERRY_DEV_LEN(def->hostdevs); i++)
        format_hostdev(out, g_ptr_array_index(def->hostdevs, i));
}
