/*
 * qemu-net.c: the taps of a domain's interfaces and the announce after an
 * incoming migration (see qemu-net.h for what this owns and must not do).
 *
 * Everything is done with ioctls on the tap's descriptor and on a plain
 * socket: TUNSETIFF creates the tap, SIOCSIFHWADDR/SIOCSIFMTU/SIOCSIFFLAGS
 * set it up, SIOCBRADDIF makes it a bridge port.  No program runs, so no
 * name from a definition ever reaches a command line.
 *
 * The order matters: the MTU is set before the tap joins the bridge (a
 * bridge whose MTU nobody fixed takes the smallest of its ports', and a
 * new 1500-byte port would shrink a jumbo-frame bridge), and the link goes
 * up last, once the port is complete.
 */
#include "ferry-config.h"

#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <linux/if_tun.h>
#include <linux/sockios.h>

#include "qemu/qemu-net.h"
#include "qemu/qemu-process.h"
#include "util/error.h"
#include "util/json-util.h"

#define TUN_DEVICE "/dev/net/tun"

/* QEMU's own defaults for the announce after an incoming migration
 * (migration parameters announce-initial, -max, -rounds, -step, in ms):
 * five rounds, 50 ms after the command, then 150, 250, 350, 450 ms. */
#define ANNOUNCE_INITIAL_MS 50
#define ANNOUNCE_MAX_MS 550
#define ANNOUNCE_ROUNDS 5
#define ANNOUNCE_STEP_MS 100

gboolean
qemu_net_needs_tap(const ferry_net_def *net)
{
    return net->type == FERRY_NET_TYPE_BRIDGE || net->type == FERRY_NET_TYPE_NETWORK ||
           net->type == FERRY_NET_TYPE_ETHERNET;
}

/* @name is @prefix followed by a decimal number and nothing else. */
static gboolean
is_numbered(const char *name, const char *prefix)
{
    gsize len = strlen(prefix);

    return g_str_has_prefix(name, prefix) && name[len] != '\0' &&
           strspn(name + len, "0123456789") == strlen(name + len);
}

gboolean
qemu_net_tap_name_is_generated(const char *name)
{
    return name && (is_numbered(name, QEMU_NET_TAP_PREFIX) || is_numbered(name, "vnet"));
}

/* "domain 'web1': interface 52:54:00:12:34:56", or by position without a MAC. */
static char *
describe(const char *dom_name, guint index, const ferry_net_def *net)
{
    if (net->mac)
        return g_strdup_printf("domain '%s': interface %s", dom_name, net->mac);
    return g_strdup_printf("domain '%s': interface %u", dom_name, index);
}

/* What the kernel accepts as an interface name (dev_valid_name()), without
 * '%', which would make the name a template for the kernel to fill in. */
static gboolean
check_tap_name(const char *what, const char *name, GError **error)
{
    const char *why = NULL;

    if (name[0] == '\0')
        why = "it is empty";
    else if (strlen(name) >= IFNAMSIZ)
        why = "it is longer than 15 characters";
    else if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
        why = "it is '.' or '..'";
    else if (strpbrk(name, "/:% \t\n\r\v\f"))
        why = "it contains '/', ':', '%' or white space";
    if (!why)
        return TRUE;
    g_set_error(error, FERRY_ERROR, FERRY_ERROR_OPERATION_FAILED,
                "%s: tap name '%s' cannot name a network interface: %s", what, name, why);
    return FALSE;
}

/* An ifreq naming @name (shorter than IFNAMSIZ, checked before). */
static void
ifreq_init(struct ifreq *ifr, const char *name)
{
    memset(ifr, 0, sizeof(*ifr));
    g_strlcpy(ifr->ifr_name, name, sizeof(ifr->ifr_name));
}

/* The tap's MAC: the guest's with the first byte 0xfe.  Not the guest's
 * own, or the bridge would learn the guest's address on the host side of
 * its port; not the kernel's random one either, since a bridge takes the
 * lowest MAC of its ports as its own and would change address each time
 * a tap with a lower one joins (0xfe is above any assigned prefix). */
static gboolean
set_mac(int sock, const char *what, const char *tap, const char *guest_mac,
        GError **error)
{
    struct ifreq ifr;
    unsigned char mac[6];

    if (!guest_mac || sscanf(guest_mac, "%2hhx:%2hhx:%2hhx:%2hhx:%2hhx:%2hhx", &mac[0],
                             &mac[1], &mac[2], &mac[3], &mac[4], &mac[5]) != 6)
        return TRUE;    /* no MAC to derive from: the kernel's stays */
    mac[0] = 0xfe;
    ifreq_init(&ifr, tap);
    ifr.ifr_hwaddr.sa_family = ARPHRD_ETHER;
    memcpy(ifr.ifr_hwaddr.sa_data, mac, sizeof(mac));
    if (ioctl(sock, SIOCSIFHWADDR, &ifr) < 0) {
        ferry_set_error_errno(error, FERRY_ERROR_OPERATION_FAILED, errno,
                              "%s: cannot set the MAC address of tap '%s'", what, tap);
        return FALSE;
    }
    return TRUE;
}

static gboolean
set_mtu(int sock, const char *what, const char *tap, guint mtu, GError **error)
{
    struct ifreq ifr;

    ifreq_init(&ifr, tap);
    ifr.ifr_mtu = (int)mtu;
    if (ioctl(sock, SIOCSIFMTU, &ifr) < 0) {
        ferry_set_error_errno(error, FERRY_ERROR_OPERATION_FAILED, errno,
                              "%s: cannot set the MTU of tap '%s' to %u", what, tap, mtu);
        return FALSE;
    }
    return TRUE;
}

static gboolean
set_up(int sock, const char *what, const char *tap, GError **error)
{
    struct ifreq ifr;

    ifreq_init(&ifr, tap);
    if (ioctl(sock, SIOCGIFFLAGS, &ifr) == 0) {
        ifr.ifr_flags |= IFF_UP;
        if (ioctl(sock, SIOCSIFFLAGS, &ifr) == 0)
            return TRUE;
    }
    ferry_set_error_errno(error, FERRY_ERROR_OPERATION_FAILED, errno,
                          "%s: cannot bring tap '%s' up", what, tap);
    return FALSE;
}

/* The bridge of @net, refused if this host has none of that name. */
static gboolean
find_bridge(const char *what, const ferry_net_def *net, GError **error)
{
    if (net->source && if_nametoindex(net->source) != 0)
        return TRUE;
    if (!net->source)
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_OPERATION_FAILED,
                    "%s: no bridge is named (<source %s='...'/>)", what,
                    net->type == FERRY_NET_TYPE_NETWORK ? "network" : "bridge");
    else if (net->type == FERRY_NET_TYPE_NETWORK)
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_OPERATION_FAILED,
                    "%s: network '%s': there is no bridge '%s' on this host (ferry has no "
                    "network objects: a network is the bridge of that name)", what,
                    net->source, net->source);
    else
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_OPERATION_FAILED,
                    "%s: bridge '%s' does not exist on this host", what, net->source);
    return FALSE;
}

/* The MTU of interface @name, or 0 if it cannot be read. */
static guint
get_mtu(int sock, const char *name)
{
    struct ifreq ifr;

    if (strlen(name) >= IFNAMSIZ)
        return 0;
    ifreq_init(&ifr, name);
    return ioctl(sock, SIOCGIFMTU, &ifr) == 0 && ifr.ifr_mtu > 0 ? (guint)ifr.ifr_mtu : 0;
}

static gboolean
plug(int sock, const char *what, const char *tap, const char *bridge, GError **error)
{
    struct ifreq ifr;
    int err;

    ifreq_init(&ifr, bridge);
    ifr.ifr_ifindex = (int)if_nametoindex(tap);
    if (ifr.ifr_ifindex > 0 && ioctl(sock, SIOCBRADDIF, &ifr) == 0)
        return TRUE;
    err = ifr.ifr_ifindex > 0 ? errno : ENODEV;
    if (err == EOPNOTSUPP)
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_OPERATION_FAILED,
                    "%s: '%s' is not a bridge: tap '%s' cannot join it", what, bridge, tap);
    else
        ferry_set_error_errno(error, FERRY_ERROR_OPERATION_FAILED, err,
                              "%s: cannot add tap '%s' to bridge '%s'", what, tap, bridge);
    return FALSE;
}

/* Creates the tap: @wanted, or the first free "ferryN" when NULL. */
static int
create_tap(const char *what, const char *wanted, gboolean vnet_hdr, char **ret_name,
           GError **error)
{
    const char *shown = wanted ? wanted : QEMU_NET_TAP_PREFIX "N";
    struct ifreq ifr;
    int fd;

    /* A name in use is refused rather than shared: TUNSETIFF would attach
     * to an idle persistent tap of that name, which would then outlive
     * QEMU, and fails obscurely (EINVAL) on a device that is no tap. */
    if (wanted && if_nametoindex(wanted) != 0) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_OPERATION_FAILED,
                    "%s: tap name '%s' is already in use on this host", what, wanted);
        return -1;
    }
    fd = open(TUN_DEVICE, O_RDWR | O_CLOEXEC);
    if (fd < 0) {
        ferry_set_error_errno(error, FERRY_ERROR_OPERATION_FAILED, errno,
                              "%s: cannot open %s to create a tap", what, TUN_DEVICE);
        return -1;
    }
    ifreq_init(&ifr, wanted ? wanted : QEMU_NET_TAP_PREFIX "%d");
    /*
     * IFF_VNET_HDR for virtio only, as libvirt does: QEMU 7.2 reads it
     * from the descriptor (it refuses vnet_hdr= next to fd=), and a
     * virtio-net guest then gets checksum and segmentation offloads.  It
     * must be the same on both ends of a migration -- virtio-net's state
     * says whether the source had it, and a destination without refuses
     * to load -- which the same rule on the same model guarantees.
     */
    ifr.ifr_flags = IFF_TAP | IFF_NO_PI | (vnet_hdr ? IFF_VNET_HDR : 0);
    if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
        int err = errno;

        close(fd);
        if (err == EBUSY)
            g_set_error(error, FERRY_ERROR, FERRY_ERROR_OPERATION_FAILED,
                        "%s: tap name '%s' is already in use on this host", what, shown);
        else
            ferry_set_error_errno(error, FERRY_ERROR_OPERATION_FAILED, err,
                                  "%s: cannot create tap '%s'", what, shown);
        return -1;
    }
    /* Made between the check and TUNSETIFF by someone else: not ours. */
    if (ioctl(fd, TUNGETIFF, &ifr) == 0 && (ifr.ifr_flags & IFF_PERSIST)) {
        close(fd);
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_OPERATION_FAILED,
                    "%s: tap name '%s' is already in use on this host", what, ifr.ifr_name);
        return -1;
    }
    *ret_name = g_strndup(ifr.ifr_name, IFNAMSIZ);
    return fd;
}

int
qemu_net_open_tap(const char *dom_name, guint index, const ferry_net_def *net,
                  char **ret_name, GError **error)
{
    g_autofree char *what = describe(dom_name, index, net);
    g_autofree char *name = NULL;
    const char *wanted = net->target_dev;
    gboolean bridged = net->type != FERRY_NET_TYPE_ETHERNET;
    guint mtu = net->mtu;
    int fd, sock;

    g_return_val_if_fail(qemu_net_needs_tap(net), -1);
    if (qemu_net_tap_name_is_generated(wanted))
        wanted = NULL;
    if ((wanted && !check_tap_name(what, wanted, error)) ||
        (bridged && !find_bridge(what, net, error)))
        return -1;
    sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (sock < 0) {
        ferry_set_error_errno(error, FERRY_ERROR_OPERATION_FAILED, errno,
                              "%s: cannot open a socket to set up its tap", what);
        return -1;
    }
    fd = create_tap(what, wanted, g_strcmp0(net->model, "virtio") == 0, &name, error);
    if (fd < 0) {
        close(sock);
        return -1;
    }
    if (!mtu && bridged)
        mtu = get_mtu(sock, net->source);
    if (!set_mac(sock, what, name, net->mac, error) ||
        (mtu && !set_mtu(sock, what, name, mtu, error)) ||
        (bridged && !plug(sock, what, name, net->source, error)) ||
        !set_up(sock, what, name, error)) {
        /* Ours alone: closing it removes the tap (and its bridge port). */
        close(fd);
        close(sock);
        return -1;
    }
    close(sock);
    g_debug("%s: tap '%s'%s%s, MTU %u", what, name, bridged ? " on bridge " : "",
            bridged ? net->source : "", mtu);
    *ret_name = g_steal_pointer(&name);
    return fd;
}

void
qemu_net_taps_free(qemu_net_taps *taps)
{
    if (!taps)
        return;
    for (guint i = 0; i < taps->n; i++) {
        if (taps->fds[i] >= 0)
            close(taps->fds[i]);
        g_free(taps->names[i]);
    }
    g_free(taps->fds);
    g_free(taps->names);
    g_free(taps);
}

qemu_net_taps *
qemu_net_taps_open(const ferry_domain_def *def, GError **error)
{
    g_autoptr(qemu_net_taps) taps = g_new0(qemu_net_taps, 1);

    /* The data model promises an array; a definition assembled by hand
     * may still lack one, and then has no interface. */
    taps->n = def->nets ? def->nets->len : 0;
    taps->fds = g_new(int, MAX(taps->n, 1));
    taps->names = g_new0(char *, MAX(taps->n, 1));
    for (guint i = 0; i < taps->n; i++)
        taps->fds[i] = -1;
    for (guint i = 0; i < taps->n; i++) {
        const ferry_net_def *net = g_ptr_array_index(def->nets, i);

        if (!qemu_net_needs_tap(net))
            continue;
        taps->fds[i] = qemu_net_open_tap(def->name, i, net, &taps->names[i], error);
        if (taps->fds[i] < 0)
            return NULL;
    }
    return g_steal_pointer(&taps);
}

void
qemu_net_taps_record(const qemu_net_taps *taps, ferry_domain_def *def)
{
    for (guint i = 0; def->nets && i < taps->n && i < def->nets->len; i++) {
        ferry_net_def *net = g_ptr_array_index(def->nets, i);

        if (!taps->names[i])
            continue;
        g_free(net->target_dev);
        net->target_dev = g_strdup(taps->names[i]);
    }
}

/* ------------------------------------------------------------------ */
/* The announce after an incoming migration */

gboolean
qemu_net_announce(ferry_qmp *qmp, const char *dom_name, GError **error)
{
    g_autoptr(json_object) args = json_object_new_object();
    g_autoptr(json_object) ret = NULL;
    g_autoptr(GError) local = NULL;

    /* Every NIC (no "interfaces" list): a user-mode one gets a frame no
     * switch sees, which costs nothing. */
    json_object_object_add(args, "initial", json_object_new_int(ANNOUNCE_INITIAL_MS));
    json_object_object_add(args, "max", json_object_new_int(ANNOUNCE_MAX_MS));
    json_object_object_add(args, "rounds", json_object_new_int(ANNOUNCE_ROUNDS));
    json_object_object_add(args, "step", json_object_new_int(ANNOUNCE_STEP_MS));
    ret = ferry_qmp_command_sync(qmp, "announce-self", args, &local);
    if (!ret) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_OPERATION_FAILED,
                    "domain '%s': cannot announce its interfaces: %s", dom_name,
                    local->message);
        return FALSE;
    }
    return TRUE;
}

/*
 * Why ferry asks, when QEMU announces by itself: a destination QEMU sends
 * its rounds (the announce-* migration parameters: by default five, from
 * 50 ms to about half a second) as soon as the incoming stream has been
 * loaded -- while its CPUs are still stopped, since ferry starts it with
 * -S, and before the source has even been told.  Ferry resumes the guest
 * later, in Finish, and by then those rounds are over: if the way out of
 * this host was not forwarding yet when they went (a bridge port still
 * learning, an uplink or a switch programmed late -- the case for which
 * OpenStack asks for a second announce too), the segment goes on sending
 * the guest's frames to its old port until the guest itself speaks, and a
 * guest that only listens may not speak for a long time.  A virtio guest
 * also answers an announce request with its own gratuitous ARPs, which it
 * can do only once its CPUs run.  Asking again right after `cont` costs a
 * few frames.
 *
 * Why a failure is not fatal: the guest runs here already and its old
 * copy is being discarded; failing Finish would lose the only copy for the
 * sake of a courtesy to the switches, which learn the new port from the
 * guest's next frame anyway.
 */
void
qemu_net_announce_migrated(ferry_domain_obj *obj)
{
    g_autoptr(ferry_qmp) qmp = NULL;
    g_autoptr(GError) error = NULL;
    gboolean has_nets;

    g_mutex_lock(&obj->lock);
    has_nets = obj->live && obj->live->nets && obj->live->nets->len > 0;
    g_mutex_unlock(&obj->lock);
    if (!has_nets)
        return;
    qmp = qemu_process_get_qmp(obj, &error);
    if (!qmp || !qemu_net_announce(qmp, obj->name, &error))
        g_warning("%s; the segment learns where the guest runs from its next frame",
                  error->message);
}
