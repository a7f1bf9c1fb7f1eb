/*
 * domain-conf-address.c: <address>, and the claims that keep two devices
 * off one address, disk target, boot order, MAC or name.
 *
 * Owns: reading, checking and writing <address> (PCI numbers in hex as
 * libvirt writes them, decimal accepted), and the claims made during the
 * walk over <devices>, checked after it in document order so that the
 * later of two devices is refused naming the line of the first.  Must
 * not: choose an address (domain-addr.c does) or know a device's other
 * elements.
 */
#include "ferry-config.h"

#include <ferry/ferry.h>
#include <string.h>

#include "conf/domain-conf-devices.h"

static const char *const address_types[] = {
    [FERRY_ADDRESS_NONE] = "none",
    [FERRY_ADDRESS_PCI] = "pci",
    [FERRY_ADDRESS_DRIVE] = "drive",
    [FERRY_ADDRESS_VIRTIO_SERIAL] = "virtio-serial",
    [FERRY_ADDRESS_USB] = "usb",
};

/* ---- claims -------------------------------------------------------------- */

typedef struct {
    char *key;
    char *what;
    char *owner;              /* nullable */
    xmlNodePtr node;
    gboolean defined;
    guint order;
} dev_claim;

static void
dev_claim_free(dev_claim *c)
{
    g_free(c->key);
    g_free(c->what);
    g_free(c->owner);
    g_free(c);
}

GPtrArray *
ferry_dev_claims_new(void)
{
    return g_ptr_array_new_with_free_func((GDestroyNotify)dev_claim_free);
}

void
ferry_dev_claim(ferry_dev_walk *w, xmlNodePtr node, gboolean defined, char *key, char *what,
                char *owner)
{
    dev_claim *c = g_new0(dev_claim, 1);

    c->key = key;
    c->what = what;
    c->owner = owner;
    c->node = node;
    c->defined = defined;
    c->order = w->claims->len;
    g_ptr_array_add(w->claims, c);
}

static int
compare_claims(gconstpointer a, gconstpointer b)
{
    const dev_claim *x = *(dev_claim *const *)a;
    const dev_claim *y = *(dev_claim *const *)b;
    long lx = xmlGetLineNo(x->node);
    long ly = xmlGetLineNo(y->node);

    if (lx != ly)
        return lx < ly ? -1 : 1;
    return x->order < y->order ? -1 : x->order > y->order;
}

/* In document order, so that "the first" is the first a reader sees. */
void
ferry_dev_check_claims(ferry_dev_walk *w)
{
    g_autoptr(GHashTable) first = g_hash_table_new(g_str_hash, g_str_equal);

    g_ptr_array_sort(w->claims, compare_claims);
    for (guint i = 0; i < w->claims->len; i++) {
        dev_claim *c = g_ptr_array_index(w->claims, i);
        dev_claim *earlier = g_hash_table_lookup(first, c->key);
        g_autoptr(GError) local = NULL;
        const char *verb = c->defined ? "defined" : "used";

        if (!earlier) {
            g_hash_table_insert(first, c->key, c);
            continue;
        }
        if (c->owner && earlier->owner)
            ferry_xml_error(w->r, &local, c->node, "%s of %s is already used by %s at line %ld",
                            c->what, c->owner, earlier->owner, xmlGetLineNo(earlier->node));
        else
            ferry_xml_error(w->r, &local, c->node, "%s is already %s at line %ld", c->what,
                            verb, xmlGetLineNo(earlier->node));
        ferry_xml_reader_defer(w->r, &local);
    }
}

long
ferry_dev_line(ferry_dev_walk *w, gconstpointer device)
{
    xmlNodePtr node = ferry_xml_reader_origin(w->r, device);

    return node ? xmlGetLineNo(node) : 0;
}

gboolean
ferry_dev_parse_boot(ferry_dev_walk *w, xmlNodePtr parent, const char *owner, guint *ret_order,
                     GError **error)
{
    xmlNodePtr node;

    if (!ferry_xml_child(w->r, parent, "boot", FALSE, &node, error))
        return FALSE;
    if (!node)
        return TRUE;
    if (!ferry_dev_attr_uint(w->r, node, "order", TRUE, 1, G_MAXINT, ret_order, NULL, error))
        return FALSE;
    ferry_dev_claim(w, node, FALSE, g_strdup_printf("boot:%u", *ret_order),
                    g_strdup_printf("boot order %u", *ret_order), g_strdup(owner));
    return TRUE;
}

/* ---- <address> ----------------------------------------------------------- */

/* libvirt writes PCI numbers in hex ("0x1f"); people write decimal too. */
gboolean
ferry_dev_address_number(ferry_xml_reader *r, xmlNodePtr node, const char *name,
                         gboolean hex_allowed, guint max, guint *ret, GError **error)
{
    g_autofree char *text = NULL;
    const char *digits;
    gboolean hex;
    guint64 value = 0;

    *ret = 0;
    if (!ferry_xml_attr(r, node, name, FALSE, &text, error))
        return FALSE;
    if (!text)
        return TRUE;
    hex = hex_allowed && (g_str_has_prefix(text, "0x") || g_str_has_prefix(text, "0X"));
    digits = hex ? text + 2 : text;
    if (!*digits || digits[strspn(digits, hex ? "0123456789abcdefABCDEF" : "0123456789")]) {
        ferry_xml_error(r, error, node, "%s '%s' is not a valid number%s", name, text,
                        hex_allowed ? " (decimal, or hexadecimal after 0x)" : "");
        return FALSE;
    }
    /* More digits than 64 bits hold is out of range like any big number. */
    if (!g_ascii_string_to_unsigned(digits, hex ? 16 : 10, 0, G_MAXUINT64, &value, NULL) ||
        value > max) {
        ferry_xml_error(r, error, node, "%s %s is out of range (0 to %u)", name, text, max);
        return FALSE;
    }
    *ret = (guint)value;
    return TRUE;
}

static gboolean
parse_pci_address(ferry_xml_reader *r, xmlNodePtr node, ferry_device_address *addr,
                  GError **error)
{
    int multifunction = 0;
    static const char *const off_on[] = { "off", "on" };

    if (!ferry_dev_address_number(r, node, "domain", TRUE, 0xffff, &addr->domain, error) ||
        !ferry_dev_address_number(r, node, "bus", TRUE, 0xff, &addr->bus, error) ||
        !ferry_dev_address_number(r, node, "slot", TRUE, 0x1f, &addr->slot, error) ||
        !ferry_dev_address_number(r, node, "function", TRUE, 7, &addr->function, error) ||
        !ferry_dev_attr_choice(r, node, "multifunction", FALSE, FERRY_DEV_CHOICES(off_on), 0,
                               &multifunction, error))
        return FALSE;
    addr->multifunction = multifunction == 1;
    /* Without PCI bridges there is one bus; a device elsewhere could not
     * be created, and an address that says so is a mistake. */
    if (addr->domain != 0 || addr->bus != 0) {
        ferry_xml_error(r, error, node, "PCI address %04x:%02x:%02x.%x is not on bus 0000:00, "
                        "the only PCI bus of a ferry guest (PCI bridges and root ports are "
                        "not supported)", addr->domain, addr->bus, addr->slot, addr->function);
        return FALSE;
    }
    return TRUE;
}

/* "1" or "1.2.3": a port on the root hub, then on hubs below it. */
static gboolean
usb_port_valid(const char *port)
{
    g_auto(GStrv) parts = g_strsplit(port, ".", -1);
    guint n = g_strv_length(parts);

    if (n == 0 || n > 5)
        return FALSE;
    for (guint i = 0; i < n; i++) {
        guint64 value;

        if (ferry_xml_parse_uint(parts[i], 1, 255, &value) != FERRY_XML_NUMBER_OK)
            return FALSE;
    }
    return TRUE;
}

/* The key and text of an address, for claims and messages. */
static void
address_describe(const ferry_device_address *addr, const char *drive_bus, char **ret_key,
                 char **ret_what)
{
    switch (addr->type) {
    case FERRY_ADDRESS_PCI:
        *ret_what = g_strdup_printf("PCI address %04x:%02x:%02x.%x", addr->domain, addr->bus,
                                    addr->slot, addr->function);
        break;
    case FERRY_ADDRESS_DRIVE:
        *ret_what = g_strdup_printf("%s drive address %u:%u:%u:%u", drive_bus, addr->controller,
                                    addr->bus, addr->target, addr->unit);
        break;
    case FERRY_ADDRESS_VIRTIO_SERIAL:
        *ret_what = g_strdup_printf("virtio-serial address %u:%u:%u", addr->controller,
                                    addr->bus, addr->port);
        break;
    case FERRY_ADDRESS_USB:
        *ret_what = g_strdup_printf("USB address %u:%s", addr->bus,
                                    addr->usb_port ? addr->usb_port : "");
        break;
    case FERRY_ADDRESS_NONE:
    default:
        *ret_what = g_strdup("no address");
        break;
    }
    *ret_key = g_strdup(*ret_what);
}

static char *
allowed_list(guint allowed)
{
    const char *names[G_N_ELEMENTS(address_types)];
    gsize n = 0;

    for (gsize i = 1; i < G_N_ELEMENTS(address_types); i++) {
        if (allowed & FERRY_DEV_ADDR(i))
            names[n++] = address_types[i];
    }
    return ferry_dev_choice_list(names, n);
}

gboolean
ferry_dev_parse_address(ferry_dev_walk *w, xmlNodePtr parent, const char *owner,
                        guint allowed, const char *drive_bus, ferry_device_address *addr,
                        GError **error)
{
    ferry_xml_reader *r = w->r;
    g_autofree char *type = NULL;
    xmlNodePtr node;
    int index;
    char *key;
    char *what;

    memset(addr, 0, sizeof(*addr));
    if (!ferry_xml_child(r, parent, "address", FALSE, &node, error))
        return FALSE;
    if (!node)
        return TRUE;
    if (!ferry_xml_attr(r, node, "type", TRUE, &type, error))
        return FALSE;
    index = ferry_conf_string_index(address_types, G_N_ELEMENTS(address_types), type);
    if (index <= 0 || !(allowed & FERRY_DEV_ADDR(index))) {
        g_autofree char *list = allowed_list(allowed);

        ferry_xml_error(r, error, node, "address type '%s' does not fit %s (expected %s)",
                        type, owner, list);
        return FALSE;
    }
    addr->type = index;
    switch (addr->type) {
    case FERRY_ADDRESS_PCI:
        if (!parse_pci_address(r, node, addr, error))
            return FALSE;
        /* libvirt reads an all-zero PCI address as "not chosen yet". */
        if (addr->slot == 0 && addr->function == 0 && !addr->multifunction) {
            addr->type = FERRY_ADDRESS_NONE;
            return TRUE;
        }
        break;
    case FERRY_ADDRESS_DRIVE:
        if (!ferry_dev_address_number(r, node, "controller", FALSE, FERRY_DEV_CONTROLLER_INDEX_MAX,
                                      &addr->controller, error) ||
            !ferry_dev_address_number(r, node, "bus", FALSE, G_MAXINT, &addr->bus, error) ||
            !ferry_dev_address_number(r, node, "target", FALSE, G_MAXINT, &addr->target, error) ||
            !ferry_dev_address_number(r, node, "unit", FALSE, G_MAXINT, &addr->unit, error))
            return FALSE;
        break;
    case FERRY_ADDRESS_VIRTIO_SERIAL:
        if (!ferry_dev_address_number(r, node, "controller", FALSE, FERRY_DEV_CONTROLLER_INDEX_MAX,
                                      &addr->controller, error) ||
            !ferry_dev_address_number(r, node, "bus", FALSE, 0, &addr->bus, error) ||
            !ferry_dev_address_number(r, node, "port", FALSE, 510, &addr->port, error))
            return FALSE;
        break;
    case FERRY_ADDRESS_USB:
        if (!ferry_dev_address_number(r, node, "bus", FALSE, FERRY_DEV_CONTROLLER_INDEX_MAX,
                                      &addr->bus, error) ||
            !ferry_xml_attr(r, node, "port", FALSE, &addr->usb_port, error))
            return FALSE;
        if (addr->usb_port && !usb_port_valid(addr->usb_port)) {
            ferry_xml_error(r, error, node, "port '%s' is not a USB port (expected 1, 2, ... "
                            "or a path through hubs such as 1.2)", addr->usb_port);
            return FALSE;
        }
        if (!addr->usb_port)
            return TRUE;     /* the port is chosen later: nothing to claim yet */
        break;
    default:
        break;
    }
    address_describe(addr, drive_bus, &key, &what);
    ferry_dev_claim(w, node, FALSE, key, what, g_strdup(owner));
    return TRUE;
}

void
ferry_domain_address_format(GString *out, const char *indent, const ferry_device_address *a)
{
    switch (a->type) {
    case FERRY_ADDRESS_NONE:
        return;
    case FERRY_ADDRESS_PCI:
        g_string_append_printf(out, "%s<address type='pci' domain='0x%04x' bus='0x%02x' "
                               "slot='0x%02x' function='0x%x'%s/>\n", indent, a->domain, a->bus,
                               a->slot, a->function,
                               a->multifunction ? " multifunction='on'" : "");
        return;
    case FERRY_ADDRESS_DRIVE:
        g_string_append_printf(out, "%s<address type='drive' controller='%u' bus='%u' "
                               "target='%u' unit='%u'/>\n", indent, a->controller, a->bus,
                               a->target, a->unit);
        return;
    case FERRY_ADDRESS_VIRTIO_SERIAL:
        g_string_append_printf(out, "%s<address type='virtio-serial' controller='%u' bus='%u' "
                               "port='%u'/>\n", indent, a->controller, a->bus, a->port);
        return;
    case FERRY_ADDRESS_USB:
        g_string_append_printf(out, "%s<address type='usb' bus='%u'", indent, a->bus);
        if (a->usb_port)
            ferry_xml_format_attr(out, "port", a->usb_port);
        g_string_append(out, "/>\n");
        return;
    }
}
