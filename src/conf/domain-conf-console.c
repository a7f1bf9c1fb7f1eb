/*
 * domain-conf-console.c: the devices through which a guest is watched and
 * driven: serial ports, consoles, channels, input, graphics and video.
 *
 * Owns: their parsing (called by the walk of domain-conf-devices.c),
 * formatting, copying and freeing, the default serial ports, the primary
 * video and def->serial_log.  Must not: touch files, start processes or
 * know about drivers; completing the guest ABI is domain-addr.c's.
 */
#include "ferry-config.h"

#include <ferry/ferry.h>
#include <string.h>

#include "conf/domain-conf-devices.h"

/* A serial port whose XML gave no port: chosen after the walk. */
#define PORT_UNSET G_MAXUINT
#define SERIAL_PORTS 4        /* ttyS0 to ttyS3: the ISA ports a PC has */

static const char *const chr_types[] = {
    [FERRY_CHR_NULL] = "null",
    [FERRY_CHR_FILE] = "file",
    [FERRY_CHR_PTY] = "pty",
    [FERRY_CHR_UNIX] = "unix",
    [FERRY_CHR_TCP] = "tcp",
};
static const char *const channel_types[] = { "unix", "pty" };
static const ferry_chr_type channel_type_values[] = { FERRY_CHR_UNIX, FERRY_CHR_PTY };
static const char *const chr_modes[] = { "connect", "bind" };
static const char *const tcp_protocols[] = { "raw", "telnet" };
static const char *const console_targets[] = { "serial", "virtio" };

static const char *const input_types[] = { "mouse", "tablet", "keyboard" };
static const char *const input_buses[] = { "ps2", "usb", "virtio" };
static const char *const graphics_types[] = { "vnc", "spice" };
static const char *const listen_types[] = { "address" };
static const char *const video_models[] = { "cirrus", "vga", "qxl", "virtio", "none" };
static const char *const no_yes[] = { "no", "yes" };

/* ---- free and copy ------------------------------------------------------- */

void
ferry_chr_source_clear(ferry_chr_source *src)
{
    g_clear_pointer(&src->path, g_free);
    g_clear_pointer(&src->host, g_free);
    g_clear_pointer(&src->service, g_free);
    g_clear_pointer(&src->protocol, g_free);
}

void
ferry_chr_source_copy(ferry_chr_source *dst, const ferry_chr_source *src)
{
    *dst = *src;
    dst->path = g_strdup(src->path);
    dst->host = g_strdup(src->host);
    dst->service = g_strdup(src->service);
    dst->protocol = g_strdup(src->protocol);
}

void
ferry_chr_def_free(ferry_chr_def *chr)
{
    if (!chr)
        return;
    ferry_chr_source_clear(&chr->source);
    g_free(chr->target_type);
    g_free(chr->target_name);
    ferry_dev_address_clear(&chr->address);
    g_free(chr);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC(ferry_chr_def, ferry_chr_def_free)

ferry_chr_def *
ferry_chr_def_copy(const ferry_chr_def *chr)
{
    ferry_chr_def *d = g_memdup2(chr, sizeof(*chr));

    ferry_chr_source_copy(&d->source, &chr->source);
    d->target_type = g_strdup(chr->target_type);
    d->target_name = g_strdup(chr->target_name);
    ferry_dev_address_copy(&d->address, &chr->address);
    return d;
}

void
ferry_graphics_def_free(ferry_graphics_def *g)
{
    if (!g)
        return;
    g_free(g->type);
    g_free(g->listen);
    g_free(g->passwd);
    g_free(g->keymap);
    g_free(g);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC(ferry_graphics_def, ferry_graphics_def_free)

ferry_graphics_def *
ferry_graphics_def_copy(const ferry_graphics_def *g)
{
    ferry_graphics_def *d = g_memdup2(g, sizeof(*g));

    d->type = g_strdup(g->type);
    d->listen = g_strdup(g->listen);
    d->passwd = g_strdup(g->passwd);
    d->keymap = g_strdup(g->keymap);
    return d;
}

void
ferry_video_def_free(ferry_video_def *video)
{
    if (!video)
        return;
    g_free(video->model);
    ferry_dev_address_clear(&video->address);
    g_free(video);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC(ferry_video_def, ferry_video_def_free)

ferry_video_def *
ferry_video_def_copy(const ferry_video_def *video)
{
    ferry_video_def *d = g_memdup2(video, sizeof(*video));

    d->model = g_strdup(video->model);
    ferry_dev_address_copy(&d->address, &video->address);
    return d;
}

void
ferry_input_def_free(ferry_input_def *input)
{
    if (!input)
        return;
    g_free(input->type);
    g_free(input->bus);
    ferry_dev_address_clear(&input->address);
    g_free(input);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC(ferry_input_def, ferry_input_def_free)

ferry_input_def *
ferry_input_def_copy(const ferry_input_def *input)
{
    ferry_input_def *d = g_memdup2(input, sizeof(*input));

    d->type = g_strdup(input->type);
    d->bus = g_strdup(input->bus);
    ferry_dev_address_copy(&d->address, &input->address);
    return d;
}

/* ---- the host side of a character device --------------------------------- */

static gboolean
parse_tcp_source(ferry_xml_reader *r, xmlNodePtr node, xmlNodePtr source,
                 ferry_chr_source *src, GError **error)
{
    xmlNodePtr protocol;
    guint64 port;

    if (!ferry_xml_attr(r, source, "host", FALSE, &src->host, error) ||
        !ferry_xml_attr(r, source, "service", TRUE, &src->service, error) ||
        !ferry_xml_child(r, node, "protocol", FALSE, &protocol, error) ||
        (protocol && !ferry_dev_attr_choice_str(r, protocol, "type", TRUE,
                                                FERRY_DEV_CHOICES(tcp_protocols),
                                                &src->protocol, error)))
        return FALSE;
    if (ferry_xml_parse_uint(src->service, 1, 65535, &port) != FERRY_XML_NUMBER_OK) {
        ferry_xml_error(r, error, source, "service '%s' is not a TCP port (1 to 65535)",
                        src->service);
        return FALSE;
    }
    if (src->host && (!*src->host || strpbrk(src->host, " \t\n\r"))) {
        ferry_xml_error(r, error, source, "host '%s' is not a host name or address", src->host);
        return FALSE;
    }
    /* libvirt writes the protocol it uses. */
    if (!src->protocol)
        src->protocol = g_strdup("raw");
    return TRUE;
}

/*
 * The <source> (and <protocol>) of @node for chr->source.type.  A unix
 * channel may have no path: libvirt's own XML leaves it out and the driver
 * chooses one at start (and QEMU then listens on it).
 */
static gboolean
parse_chr_source(ferry_xml_reader *r, xmlNodePtr node, ferry_chr_def *chr, GError **error)
{
    ferry_chr_source *src = &chr->source;
    gboolean channel = chr->device == FERRY_CHR_DEVICE_CHANNEL;
    g_autofree char *tty = NULL;
    xmlNodePtr source = NULL;
    int mode = 0;

    switch (src->type) {
    case FERRY_CHR_NULL:
        return TRUE;
    case FERRY_CHR_FILE:
        return ferry_xml_child(r, node, "source", TRUE, &source, error) &&
               ferry_xml_attr(r, source, "path", TRUE, &src->path, error) &&
               ferry_conf_check_absolute(r, source, "path", src->path, error);
    case FERRY_CHR_PTY:
        /* Live XML names the pty QEMU allocated, twice: tty='' and <source path>. */
        if (!ferry_xml_attr(r, node, "tty", FALSE, &tty, error) ||
            !ferry_xml_child(r, node, "source", FALSE, &source, error) ||
            (source && !ferry_xml_attr(r, source, "path", FALSE, &src->path, error)))
            return FALSE;
        return !src->path || ferry_conf_check_absolute(r, source, "path", src->path, error);
    case FERRY_CHR_UNIX:
        if (!ferry_xml_child(r, node, "source", !channel, &source, error))
            return FALSE;
        if (!source) {
            src->server = TRUE;
            return TRUE;
        }
        if (!ferry_dev_attr_choice(r, source, "mode", FALSE, FERRY_DEV_CHOICES(chr_modes),
                                   channel ? 1 : 0, &mode, error) ||
            !ferry_xml_attr(r, source, "path", !channel, &src->path, error))
            return FALSE;
        src->server = mode == 1;
        if (!src->path && !src->server) {
            ferry_xml_error(r, error, source, "mode 'connect' needs a path to connect to");
            return FALSE;
        }
        return !src->path || ferry_conf_check_absolute(r, source, "path", src->path, error);
    case FERRY_CHR_TCP:
        if (!ferry_xml_child(r, node, "source", TRUE, &source, error) ||
            !ferry_dev_attr_choice(r, source, "mode", FALSE, FERRY_DEV_CHOICES(chr_modes), 0,
                                   &mode, error))
            return FALSE;
        src->server = mode == 1;
        return parse_tcp_source(r, node, source, src, error);
    }
    return TRUE;
}

static void
format_chr_source(GString *out, const ferry_chr_source *src)
{
    switch (src->type) {
    case FERRY_CHR_NULL:
        return;
    case FERRY_CHR_FILE:
    case FERRY_CHR_PTY:
        if (!src->path)
            return;
        g_string_append(out, "      <source");
        ferry_xml_format_attr(out, "path", src->path);
        g_string_append(out, "/>\n");
        return;
    case FERRY_CHR_UNIX:
        g_string_append_printf(out, "      <source mode='%s'", src->server ? "bind" : "connect");
        if (src->path)
            ferry_xml_format_attr(out, "path", src->path);
        g_string_append(out, "/>\n");
        return;
    case FERRY_CHR_TCP:
        g_string_append_printf(out, "      <source mode='%s'", src->server ? "bind" : "connect");
        if (src->host)
            ferry_xml_format_attr(out, "host", src->host);
        ferry_xml_format_attr(out, "service", src->service);
        g_string_append(out, "/>\n      <protocol");
        ferry_xml_format_attr(out, "type", src->protocol ? src->protocol : "raw");
        g_string_append(out, "/>\n");
        return;
    }
}

static const char *
chr_type_name(ferry_chr_type type)
{
    return (guint)type < G_N_ELEMENTS(chr_types) ? chr_types[type] : "null";
}

/* ---- serial ports, consoles, channels ------------------------------------ */

/* The element's type and source: @names are the types it takes, @values
 * (nullable: the names' indexes) their ferry_chr_type. */
static gboolean
parse_chr_common(ferry_xml_reader *r, xmlNodePtr node, ferry_chr_def *chr,
                 const char *const *names, gsize n, const ferry_chr_type *values,
                 GError **error)
{
    int index;

    if (!ferry_dev_attr_choice(r, node, "type", TRUE, names, n, -1, &index, error))
        return FALSE;
    chr->source.type = values ? values[index] : (ferry_chr_type)index;
    return parse_chr_source(r, node, chr, error) && ferry_dev_skip_alias(r, node, error);
}

gboolean
ferry_dev_parse_serial(ferry_dev_walk *w, xmlNodePtr node, GError **error)
{
    ferry_xml_reader *r = w->r;
    g_autoptr(ferry_chr_def) chr = g_new0(ferry_chr_def, 1);
    gboolean has_port = FALSE;
    xmlNodePtr target;
    xmlNodePtr model;

    chr->device = FERRY_CHR_DEVICE_SERIAL;
    chr->target_type = g_strdup("isa-serial");
    chr->target_port = PORT_UNSET;
    if (!parse_chr_common(r, node, chr, FERRY_DEV_CHOICES(chr_types), NULL, error) ||
        !ferry_xml_child(r, node, "target", FALSE, &target, error))
        return FALSE;
    /* libvirt writes <target type='isa-serial' port='0'><model name='isa-serial'/>. */
    if (target &&
        (!ferry_conf_expect_attr(r, target, "type", FALSE, "isa-serial", error) ||
         !ferry_dev_attr_uint(r, target, "port", FALSE, 0, SERIAL_PORTS - 1, &chr->target_port,
                              &has_port, error) ||
         !ferry_xml_child(r, target, "model", FALSE, &model, error) ||
         (model && !ferry_conf_expect_attr(r, model, "name", TRUE, "isa-serial", error))))
        return FALSE;
    if (has_port)
        ferry_dev_claim(w, target, FALSE, g_strdup_printf("serial:%u", chr->target_port),
                        g_strdup_printf("serial port %u", chr->target_port), NULL);
    ferry_xml_reader_set_origin(w->r, chr, node);
    g_ptr_array_add(w->def->chardevs, g_steal_pointer(&chr));
    return TRUE;
}

gboolean
ferry_dev_parse_console(ferry_dev_walk *w, xmlNodePtr node, GError **error)
{
    ferry_xml_reader *r = w->r;
    g_autoptr(ferry_chr_def) chr = g_new0(ferry_chr_def, 1);
    g_autofree char *owner = NULL;
    xmlNodePtr target;
    int target_type = 0;
    gboolean virtio;

    chr->device = FERRY_CHR_DEVICE_CONSOLE;
    if (!parse_chr_common(r, node, chr, FERRY_DEV_CHOICES(chr_types), NULL, error) ||
        !ferry_xml_child(r, node, "target", FALSE, &target, error) ||
        (target && !ferry_dev_attr_choice(r, target, "type", FALSE,
                                          FERRY_DEV_CHOICES(console_targets), 0, &target_type,
                                          error)))
        return FALSE;
    virtio = target_type == 1;
    chr->target_type = g_strdup(console_targets[target_type]);
    /* A serial console is serial port N itself; virtio consoles are
     * numbered hvc0, hvc1, ... in order. */
    chr->target_port = virtio ? w->virtio_consoles : 0;
    if (target && !ferry_dev_attr_uint(r, target, "port", FALSE, 0,
                                       virtio ? 30 : SERIAL_PORTS - 1, &chr->target_port, NULL,
                                       error))
        return FALSE;
    owner = g_strdup_printf("console %u", chr->target_port);
    if (virtio) {
        if (!ferry_dev_parse_address(w, node, owner,
                                     FERRY_DEV_ADDR(FERRY_ADDRESS_VIRTIO_SERIAL), NULL,
                                     &chr->address, error))
            return FALSE;
        ferry_dev_claim(w, target ? target : node, FALSE,
                        g_strdup_printf("virtio-console:%u", chr->target_port),
                        g_strdup_printf("virtio console port %u", chr->target_port), NULL);
    } else {
        /* QEMU has one serial console, as libvirt: the first console. */
        ferry_dev_claim(w, node, TRUE, g_strdup("console:serial"),
                        g_strdup("a console on a serial port"), NULL);
    }
    w->virtio_consoles += virtio;
    ferry_xml_reader_set_origin(w->r, chr, node);
    g_ptr_array_add(w->def->chardevs, g_steal_pointer(&chr));
    return TRUE;
}

gboolean
ferry_dev_parse_channel(ferry_dev_walk *w, xmlNodePtr node, GError **error)
{
    ferry_xml_reader *r = w->r;
    g_autoptr(ferry_chr_def) chr = g_new0(ferry_chr_def, 1);
    g_autofree char *state = NULL;
    g_autofree char *owner = NULL;
    xmlNodePtr target;
    gsize len;

    chr->device = FERRY_CHR_DEVICE_CHANNEL;
    if (!parse_chr_common(r, node, chr, FERRY_DEV_CHOICES(channel_types), channel_type_values,
                          error) ||
        !ferry_xml_child(r, node, "target", TRUE, &target, error) ||
        !ferry_conf_expect_attr(r, target, "type", TRUE, "virtio", error) ||
        !ferry_xml_attr(r, target, "name", TRUE, &chr->target_name, error) ||
        /* live XML: whether the guest side is open right now */
        !ferry_xml_attr(r, target, "state", FALSE, &state, error))
        return FALSE;
    chr->target_type = g_strdup("virtio");
    len = strlen(chr->target_name);
    if (len == 0 || len > 128 ||
        chr->target_name[strspn(chr->target_name, "abcdefghijklmnopqrstuvwxyz"
                                "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-")] != '\0') {
        ferry_xml_error(r, error, target, "name '%s' is not a channel name (1 to 128 letters, "
                        "digits, '.', '_' or '-', e.g. org.qemu.guest_agent.0)",
                        chr->target_name);
        return FALSE;
    }
    owner = g_strdup_printf("channel '%s'", chr->target_name);
    if (!ferry_dev_parse_address(w, node, owner, FERRY_DEV_ADDR(FERRY_ADDRESS_VIRTIO_SERIAL), NULL,
                                 &chr->address, error))
        return FALSE;
    /* The guest finds a channel by its name: two would be ambiguous. */
    ferry_dev_claim(w, target, TRUE, g_strdup_printf("channel:%s", chr->target_name),
                    g_steal_pointer(&owner), NULL);
    ferry_xml_reader_set_origin(w->r, chr, node);
    g_ptr_array_add(w->def->chardevs, g_steal_pointer(&chr));
    return TRUE;
}

static const ferry_chr_def *
find_serial(const ferry_domain_def *def, guint port)
{
    for (guint i = 0; i < FERRY_DEV_LEN(def->chardevs); i++) {
        const ferry_chr_def *chr = g_ptr_array_index(def->chardevs, i);

        if (chr->device == FERRY_CHR_DEVICE_SERIAL && chr->target_port == port)
            return chr;
    }
    return NULL;
}

static void
format_serial(GString *out, ferry_chr_type type, const ferry_chr_source *src, guint port)
{
    g_string_append_printf(out, "    <serial type='%s'>\n", chr_type_name(type));
    format_chr_source(out, src);
    g_string_append_printf(out, "      <target type='isa-serial' port='%u'>\n"
                           "        <model name='isa-serial'/>\n"
                           "      </target>\n"
                           "    </serial>\n", port);
}

static void
format_console(GString *out, const ferry_domain_def *def, const ferry_chr_def *chr)
{
    gboolean virtio = g_strcmp0(chr->target_type, "virtio") == 0;
    /* A serial console shows serial port N's host side, as libvirt. */
    const ferry_chr_def *serial = virtio ? NULL : find_serial(def, chr->target_port);
    const ferry_chr_source *src = serial ? &serial->source : &chr->source;

    g_string_append_printf(out, "    <console type='%s'>\n", chr_type_name(src->type));
    format_chr_source(out, src);
    g_string_append_printf(out, "      <target type='%s' port='%u'/>\n",
                           virtio ? "virtio" : "serial", chr->target_port);
    ferry_domain_address_format(out, "      ", &chr->address);
    g_string_append(out, "    </console>\n");
}

static void
format_channel(GString *out, const ferry_chr_def *chr)
{
    g_string_append_printf(out, "    <channel type='%s'>\n", chr_type_name(chr->source.type));
    format_chr_source(out, &chr->source);
    g_string_append(out, "      <target type='virtio'");
    ferry_xml_format_attr(out, "name", chr->target_name);
    g_string_append(out, "/>\n");
    ferry_domain_address_format(out, "      ", &chr->address);
    g_string_append(out, "    </channel>\n");
}

void
ferry_dev_format_chardevs(GString *out, const ferry_domain_def *def)
{
    static const ferry_chr_device order[] = {
        FERRY_CHR_DEVICE_SERIAL, FERRY_CHR_DEVICE_CONSOLE, FERRY_CHR_DEVICE_CHANNEL,
    };
    gboolean any_serial = FALSE;

    for (gsize k = 0; k < G_N_ELEMENTS(order); k++) {
        /* A definition built by code may only say where the serial log goes. */
        if (order[k] == FERRY_CHR_DEVICE_CONSOLE && !any_serial && def->serial_log) {
            ferry_chr_source src = { .type = FERRY_CHR_FILE, .path = def->serial_log };

            format_serial(out, FERRY_CHR_FILE, &src, 0);
        }
        for (guint i = 0; i < FERRY_DEV_LEN(def->chardevs); i++) {
            const ferry_chr_def *chr = g_ptr_array_index(def->chardevs, i);

            if (chr->device != order[k])
                continue;
            switch (chr->device) {
            case FERRY_CHR_DEVICE_SERIAL:
                any_serial = TRUE;
                format_serial(out, chr->source.type, &chr->source, chr->target_port);
                break;
            case FERRY_CHR_DEVICE_CONSOLE:
                format_console(out, def, chr);
                break;
            case FERRY_CHR_DEVICE_CHANNEL:
                format_channel(out, chr);
                break;
            }
        }
    }
}

/* ---- input --------------------------------------------------------------- */

gboolean
ferry_dev_parse_input(ferry_dev_walk *w, xmlNodePtr node, GError **error)
{
    ferry_xml_reader *r = w->r;
    g_autoptr(ferry_input_def) input = g_new0(ferry_input_def, 1);
    g_autofree char *owner = g_strdup_printf("input %u", w->def->inputs->len);
    int type, bus;

    if (!ferry_dev_attr_choice(r, node, "type", TRUE, FERRY_DEV_CHOICES(input_types), -1,
                               &type, error) ||
        !ferry_dev_attr_choice(r, node, "bus", FALSE, FERRY_DEV_CHOICES(input_buses), -1, &bus,
                               error) ||
        !ferry_dev_skip_alias(r, node, error))
        return FALSE;
    /* libvirt's defaults on x86: a tablet is a USB device, the rest PS/2. */
    if (bus < 0)
        bus = strcmp(input_types[type], "tablet") == 0 ? 1 : 0;
    if (strcmp(input_types[type], "tablet") == 0 && bus == 0) {
        ferry_xml_error(r, error, node, "a tablet cannot be on bus 'ps2' (expected usb or "
                        "virtio)");
        return FALSE;
    }
    input->type = g_strdup(input_types[type]);
    input->bus = g_strdup(input_buses[bus]);
    if (bus == 0) {
        /* The PC's i8042 has one mouse and one keyboard port. */
        ferry_dev_claim(w, node, TRUE, g_strdup_printf("ps2:%s", input->type),
                        g_strdup_printf("a PS/2 %s", input->type), NULL);
    } else if (!ferry_dev_parse_address(w, node, owner,
                                        bus == 1 ? FERRY_DEV_ADDR(FERRY_ADDRESS_USB)
                                                 : FERRY_DEV_ADDR(FERRY_ADDRESS_PCI),
                                        NULL, &input->address, error)) {
        return FALSE;
    }
    ferry_xml_reader_set_origin(w->r, input, node);
    g_ptr_array_add(w->def->inputs, g_steal_pointer(&input));
    return TRUE;
}

void
ferry_dev_format_inputs(GString *out, const ferry_domain_def *def)
{
    for (guint i = 0; i < FERRY_DEV_LEN(def->inputs); i++) {
        const ferry_input_def *input = g_ptr_array_index(def->inputs, i);

        g_string_append(out, "    <input");
        ferry_xml_format_attr(out, "type", input->type);
        ferry_xml_format_attr(out, "bus", input->bus);
        if (input->address.type == FERRY_ADDRESS_NONE) {
            g_string_append(out, "/>\n");
            continue;
        }
        g_string_append(out, ">\n");
        ferry_domain_address_format(out, "      ", &input->address);
        g_string_append(out, "    </input>\n");
    }
}

/* ---- graphics ------------------------------------------------------------ */

/* -1 (chosen at start), or a TCP port; VNC's start at 5900 (display 0). */
static gboolean
parse_graphics_port(ferry_xml_reader *r, xmlNodePtr node, ferry_graphics_def *g,
                    GError **error)
{
    g_autofree char *text = NULL;
    guint min = strcmp(g->type, "vnc") == 0 ? 5900 : 1;
    guint64 port;

    g->port = -1;
    if (!ferry_xml_attr(r, node, "port", FALSE, &text, error))
        return FALSE;
    if (!text || strcmp(text, "-1") == 0)
        return TRUE;
    if (ferry_xml_parse_uint(text, min, 65535, &port) != FERRY_XML_NUMBER_OK) {
        ferry_xml_error(r, error, node, "port '%s' is out of range for %s (%u to 65535, or -1 "
                        "to have one chosen at start)", text, g->type, min);
        return FALSE;
    }
    g->port = (int)port;
    return TRUE;
}

/* An IP address or a host name: nothing QEMU's option syntax could misread. */
static gboolean
listen_valid(const char *listen)
{
    if (g_hostname_is_ip_address(listen))
        return TRUE;
    return *listen && strlen(listen) <= 253 &&
           listen[strspn(listen, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                         "0123456789.-")] == '\0';
}

static gboolean
parse_graphics_listen(ferry_xml_reader *r, xmlNodePtr node, ferry_graphics_def *g,
                      GError **error)
{
    g_autofree char *address = NULL;
    xmlNodePtr listen;
    int type;

    if (!ferry_xml_attr(r, node, "listen", FALSE, &g->listen, error) ||
        !ferry_xml_child(r, node, "listen", FALSE, &listen, error))
        return FALSE;
    if (listen &&
        (!ferry_dev_attr_choice(r, listen, "type", TRUE, FERRY_DEV_CHOICES(listen_types), -1,
                                &type, error) ||
         !ferry_xml_attr(r, listen, "address", FALSE, &address, error)))
        return FALSE;
    /* libvirt writes both the attribute and the element: one address. */
    if (address && g->listen && strcmp(address, g->listen) != 0) {
        ferry_xml_error(r, error, listen, "address '%s' differs from the listen '%s' of its "
                        "<graphics>", address, g->listen);
        return FALSE;
    }
    if (address && !g->listen)
        g->listen = g_steal_pointer(&address);
    if (g->listen && !listen_valid(g->listen)) {
        ferry_xml_error(r, error, listen ? listen : node, "listen '%s' is not an IP address or "
                        "a host name", g->listen);
        return FALSE;
    }
    return TRUE;
}

gboolean
ferry_dev_parse_graphics(ferry_dev_walk *w, xmlNodePtr node, GError **error)
{
    ferry_xml_reader *r = w->r;
    g_autoptr(ferry_graphics_def) g = g_new0(ferry_graphics_def, 1);
    int autoport;

    if (!ferry_dev_attr_choice_str(r, node, "type", TRUE, FERRY_DEV_CHOICES(graphics_types),
                                   &g->type, error) ||
        !parse_graphics_port(r, node, g, error) ||
        !ferry_dev_attr_choice(r, node, "autoport", FALSE, FERRY_DEV_CHOICES(no_yes), -1,
                               &autoport, error) ||
        !parse_graphics_listen(r, node, g, error) ||
        !ferry_xml_attr(r, node, "passwd", FALSE, &g->passwd, error) ||
        !ferry_xml_attr(r, node, "keymap", FALSE, &g->keymap, error) ||
        !ferry_dev_skip_alias(r, node, error))
        return FALSE;
    /* As libvirt: no port is autoport, whatever autoport says. */
    g->autoport = autoport == 1 || g->port == -1;
    if (g->keymap && (!*g->keymap ||
                      g->keymap[strspn(g->keymap, "abcdefghijklmnopqrstuvwxyz"
                                       "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-")] != '\0')) {
        ferry_xml_error(r, error, node, "keymap '%s' is not a keymap name such as 'en-us'",
                        g->keymap);
        return FALSE;
    }
    ferry_dev_claim(w, node, TRUE, g_strdup_printf("graphics:%s", g->type),
                    g_strdup_printf("graphics of type '%s'", g->type), NULL);
    g_ptr_array_add(w->def->graphics, g_steal_pointer(&g));
    return TRUE;
}

void
ferry_dev_format_graphics(GString *out, const ferry_domain_def *def)
{
    for (guint i = 0; i < FERRY_DEV_LEN(def->graphics); i++) {
        const ferry_graphics_def *g = g_ptr_array_index(def->graphics, i);

        g_string_append(out, "    <graphics");
        ferry_xml_format_attr(out, "type", g->type);
        g_string_append_printf(out, " port='%d' autoport='%s'", g->port,
                               g->autoport ? "yes" : "no");
        if (g->listen)
            ferry_xml_format_attr(out, "listen", g->listen);
        if (g->keymap)
            ferry_xml_format_attr(out, "keymap", g->keymap);
        if (g->passwd)
            ferry_xml_format_attr(out, "passwd", g->passwd);
        if (!g->listen) {
            g_string_append(out, "/>\n");
            continue;
        }
        g_string_append(out, ">\n      <listen type='address'");
        ferry_xml_format_attr(out, "address", g->listen);
        g_string_append(out, "/>\n    </graphics>\n");
    }
}

/* ---- video --------------------------------------------------------------- */

gboolean
ferry_dev_parse_video(ferry_dev_walk *w, xmlNodePtr node, GError **error)
{
    ferry_xml_reader *r = w->r;
    g_autoptr(ferry_video_def) video = g_new0(ferry_video_def, 1);
    g_autofree char *owner = g_strdup_printf("video %u", w->def->videos->len);
    xmlNodePtr model;
    int primary = 0;

    if (!ferry_xml_child(r, node, "model", TRUE, &model, error) ||
        !ferry_dev_attr_choice_str(r, model, "type", TRUE, FERRY_DEV_CHOICES(video_models),
                                   &video->model, error) ||
        !ferry_dev_skip_alias(r, node, error))
        return FALSE;
    /* model 'none' is no device: no memory, heads or address. */
    if (strcmp(video->model, "none") != 0 &&
        (!ferry_dev_attr_uint(r, model, "vram", FALSE, 1, 4 * 1024 * 1024, &video->vram, NULL,
                              error) ||
         !ferry_dev_attr_uint(r, model, "heads", FALSE, 1, 16, &video->heads, NULL, error) ||
         /* qxl's two other memory bars; libvirt writes them for every qxl */
         (strcmp(video->model, "qxl") == 0 &&
          (!ferry_dev_attr_uint(r, model, "ram", FALSE, 1, 4 * 1024 * 1024, &video->ram, NULL,
                                error) ||
           !ferry_dev_attr_uint(r, model, "vgamem", FALSE, 1024, 1024 * 1024, &video->vgamem,
                                NULL, error))) ||
         !ferry_dev_attr_choice(r, model, "primary", FALSE, FERRY_DEV_CHOICES(no_yes), 0,
                                &primary, error) ||
         !ferry_dev_parse_address(w, node, owner, FERRY_DEV_ADDR(FERRY_ADDRESS_PCI), NULL,
                                  &video->address, error)))
        return FALSE;
    video->primary = primary == 1;
    if (video->primary)
        ferry_dev_claim(w, model, TRUE, g_strdup("video:primary"),
                        g_strdup("a primary video"), NULL);
    ferry_xml_reader_set_origin(w->r, video, node);
    g_ptr_array_add(w->def->videos, g_steal_pointer(&video));
    return TRUE;
}

void
ferry_dev_format_videos(GString *out, const ferry_domain_def *def)
{
    for (guint i = 0; i < FERRY_DEV_LEN(def->videos); i++) {
        const ferry_video_def *video = g_ptr_array_index(def->videos, i);

        g_string_append(out, "    <video>\n      <model");
        ferry_xml_format_attr(out, "type", video->model);
        if (video->ram)
            g_string_append_printf(out, " ram='%u'", video->ram);
        if (video->vram)
            g_string_append_printf(out, " vram='%u'", video->vram);
        if (video->vgamem)
            g_string_append_printf(out, " vgamem='%u'", video->vgamem);
        if (video->heads)
            g_string_append_printf(out, " heads='%u'", video->heads);
        if (video->primary)
            g_string_append(out, " primary='yes'");
        g_string_append(out, "/>\n");
        ferry_domain_address_format(out, "      ", &video->address);
        g_string_append(out, "    </video>\n");
    }
}

/* ---- after the walk ------------------------------------------------------ */

static void
defer_at(ferry_dev_walk *w, gconstpointer device, const char *format, ...) G_GNUC_PRINTF(3, 4);

static void
defer_at(ferry_dev_walk *w, gconstpointer device, const char *format, ...)
{
    xmlNodePtr node = ferry_xml_reader_origin(w->r, device);
    g_autoptr(GError) local = NULL;
    g_autofree char *reason = NULL;
    va_list ap;

    va_start(ap, format);
    reason = g_strdup_vprintf(format, ap);
    va_end(ap);
    ferry_xml_error(w->r, &local, node, "%s", reason);
    ferry_xml_reader_defer(w->r, &local);
}

/* As libvirt: a serial port without a port number takes the lowest free one. */
static void
finish_serial_ports(ferry_dev_walk *w)
{
    GPtrArray *chardevs = w->def->chardevs;
    gboolean used[SERIAL_PORTS] = { FALSE };

    for (guint i = 0; i < chardevs->len; i++) {
        const ferry_chr_def *chr = g_ptr_array_index(chardevs, i);

        if (chr->device == FERRY_CHR_DEVICE_SERIAL && chr->target_port < SERIAL_PORTS)
            used[chr->target_port] = TRUE;
    }
    for (guint i = 0; i < chardevs->len; i++) {
        ferry_chr_def *chr = g_ptr_array_index(chardevs, i);
        guint port = 0;

        if (chr->device != FERRY_CHR_DEVICE_SERIAL || chr->target_port != PORT_UNSET)
            continue;
        while (port < SERIAL_PORTS && used[port])
            port++;
        if (port == SERIAL_PORTS) {
            defer_at(w, chr, "no serial port is left for this one (ports 0 to %d are taken)",
                     SERIAL_PORTS - 1);
            chr->target_port = 0;
            continue;
        }
        used[port] = TRUE;
        chr->target_port = port;
    }
}

/* The primary video goes first (libvirt moves it there); a second video
 * can only be a qxl or virtio one, and "none" stands alone. */
static void
finish_videos(ferry_dev_walk *w)
{
    GPtrArray *videos = w->def->videos;

    for (guint i = 1; i < videos->len; i++) {
        ferry_video_def *video = g_ptr_array_index(videos, i);

        if (video->primary) {
            g_ptr_array_steal_index(videos, i);
            g_ptr_array_insert(videos, 0, video);
            break;
        }
    }
    for (guint i = 0; i < videos->len; i++) {
        const ferry_video_def *video = g_ptr_array_index(videos, i);

        if (videos->len > 1 && strcmp(video->model, "none") == 0)
            defer_at(w, video, "model 'none' means no video: it must be the only <video>");
        else if (i > 0 && strcmp(video->model, "qxl") != 0 &&
                 strcmp(video->model, "virtio") != 0)
            defer_at(w, video, "model '%s' can only be the primary video (a second video is "
                     "qxl or virtio)", video->model);
    }
}

void
ferry_dev_finish_console(ferry_dev_walk *w)
{
    ferry_domain_def *def = w->def;

    finish_serial_ports(w);
    finish_videos(w);
    /* The log ferry's own guests write: the first file serial on port 0. */
    g_clear_pointer(&def->serial_log, g_free);
    for (guint i = 0; i < def->chardevs->len; i++) {
        const ferry_chr_def *chr = g_ptr_array_index(def->chardevs, i);

        if (chr->device == FERRY_CHR_DEVICE_SERIAL && chr->target_port == 0 &&
            chr->source.type == FERRY_CHR_FILE) {
            def->serial_log = g_strdup(chr->source.path);
            break;
        }
    }
}
