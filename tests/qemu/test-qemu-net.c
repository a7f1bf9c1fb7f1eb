/*
 * test-qemu-net.c: the taps of a domain's interfaces (src/qemu/qemu-net.c)
 * on a real kernel, and a real QEMU using one as an unprivileged user.
 *
 * Owns: proving that a tap is created, named, given its MAC and MTU,
 * plugged into its bridge and set up; that it goes when its last
 * descriptor does (so a killed QEMU leaves none); the refusals and their
 * words; that QEMU 7.2 takes the descriptor, accepts `announce-self` and
 * sends the RARPs through the bridge; that FERRY_QMP_TRACE never shows a
 * display's password; that the QEMU driver starts a domain with a tap,
 * a pty console, a VNC password and a balloon target and shows them in
 * its live XML; the paths of new devices held against storage_dirs and
 * file_dirs, and handed to an unprivileged QEMU user.
 *
 * Must not: touch the host's network.  The test moves itself into a
 * network namespace of its own before anything else (unshare), with its
 * own bridge; the namespace, its bridge and every tap go with the process.
 * It also gets a mount namespace with a /sys of that network namespace,
 * as `ip netns exec` gives a ferryd (what /sys/class/net shows is the
 * namespace of whoever mounted /sys).
 * Without root (or without /dev/net/tun) the tests fail saying so: a
 * missing prerequisite is never a skip.
 */
#include "ferry-config.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <linux/if_tun.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sockios.h>

#include <glib/gstdio.h>

#include <ferry/ferry.h>

#include "driver/driver.h"
#include "qemu/qemu-confine.h"
#include "qemu/qemu-driver.h"
#include "qemu/qemu-net.h"
#include "qemu/qemu-user.h"
#include "util/json-util.h"

#define BRIDGE "fbr0"
#define BRIDGE_MTU 1400
#define MAC "52:54:00:12:34:56"
#define LISTENER_MAC "52:54:00:00:00:99"
/* Where QEMU finds the tap, as ferryd passes it (qemu-process.c). */
#define TAP_CHILD_FD 4
#define ETH_P_RARP_BE 0x8035
/* The user QEMU runs as (no entry in /etc/passwd needed). */
#define QEMU_UID 4242

/* Why the tests cannot run here, or NULL (set in main()). */
static char *prerequisite;

static gboolean
prerequisites_met(void)
{
    if (!prerequisite)
        return TRUE;
    g_test_fail_printf("prerequisite: %s", prerequisite);
    return FALSE;
}

/* ------------------------------------------------------------------ */
/* The namespace's links, as the kernel sees them */

static int
ctl_socket(void)
{
    int sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

    g_assert_cmpint(sock, >=, 0);
    return sock;
}

static void
ifreq_for(struct ifreq *ifr, const char *name)
{
    memset(ifr, 0, sizeof(*ifr));
    g_strlcpy(ifr->ifr_name, name, sizeof(ifr->ifr_name));
}

static void
link_set_up(const char *name)
{
    struct ifreq ifr;
    int sock = ctl_socket();

    ifreq_for(&ifr, name);
    g_assert_cmpint(ioctl(sock, SIOCGIFFLAGS, &ifr), ==, 0);
    ifr.ifr_flags |= IFF_UP;
    g_assert_cmpint(ioctl(sock, SIOCSIFFLAGS, &ifr), ==, 0);
    close(sock);
}

/* A bridge of @name with @mtu (0: the kernel's), up. */
static void
bridge_add(const char *name, int mtu)
{
    struct ifreq ifr;
    int sock = ctl_socket();

    g_assert_cmpint(ioctl(sock, SIOCBRADDBR, name), ==, 0);
    if (mtu) {
        ifreq_for(&ifr, name);
        ifr.ifr_mtu = mtu;
        g_assert_cmpint(ioctl(sock, SIOCSIFMTU, &ifr), ==, 0);
    }
    close(sock);
    link_set_up(name);
}

static void
bridge_del(const char *name)
{
    struct ifreq ifr;
    int sock = ctl_socket();

    ifreq_for(&ifr, name);
    ioctl(sock, SIOCGIFFLAGS, &ifr);
    ifr.ifr_flags &= ~IFF_UP;
    ioctl(sock, SIOCSIFFLAGS, &ifr);
    g_assert_cmpint(ioctl(sock, SIOCBRDELBR, name), ==, 0);
    close(sock);
}

typedef struct {
    guint flags;
    guint mtu;
    guint master;               /* the bridge's ifindex; 0: none */
    char mac[18];
} link_info;

/* What the kernel says of @name (RTM_GETLINK); FALSE if there is no such link. */
static gboolean
link_get(const char *name, link_info *info)
{
    struct {
        struct nlmsghdr nh;
        struct ifinfomsg ifi;
    } req = { 0 };
    union {
        struct nlmsghdr nh;
        char buf[16384];
    } resp;
    struct nlmsghdr *nh = &resp.nh;
    struct ifinfomsg *ifi;
    struct rtattr *rta;
    int sock, len, rest;

    memset(info, 0, sizeof(*info));
    req.nh.nlmsg_len = NLMSG_LENGTH(sizeof(req.ifi));
    req.nh.nlmsg_type = RTM_GETLINK;
    req.nh.nlmsg_flags = NLM_F_REQUEST;
    req.ifi.ifi_family = AF_UNSPEC;
    req.ifi.ifi_index = (int)if_nametoindex(name);
    if (req.ifi.ifi_index == 0)
        return FALSE;
    sock = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
    g_assert_cmpint(sock, >=, 0);
    g_assert_cmpint(send(sock, &req, req.nh.nlmsg_len, 0), ==, (ssize_t)req.nh.nlmsg_len);
    len = (int)recv(sock, &resp, sizeof(resp), 0);
    close(sock);
    if (len <= 0 || !NLMSG_OK(nh, (guint)len) || nh->nlmsg_type != RTM_NEWLINK)
        return FALSE;
    ifi = NLMSG_DATA(nh);
    info->flags = ifi->ifi_flags;
    rest = (int)IFLA_PAYLOAD(nh);
    for (rta = IFLA_RTA(ifi); RTA_OK(rta, rest); rta = RTA_NEXT(rta, rest)) {
        const guint8 *data = RTA_DATA(rta);

        if (rta->rta_type == IFLA_MTU)
            info->mtu = *(const guint32 *)data;
        else if (rta->rta_type == IFLA_MASTER)
            info->master = *(const guint32 *)data;
        else if (rta->rta_type == IFLA_ADDRESS && RTA_PAYLOAD(rta) == 6)
            g_snprintf(info->mac, sizeof(info->mac), "%02x:%02x:%02x:%02x:%02x:%02x",
                       data[0], data[1], data[2], data[3], data[4], data[5]);
    }
    return TRUE;
}

/* Waits up to a second for @name to be gone (a tap goes as its last
 * descriptor closes; the kernel may finish a moment later). */
static gboolean
link_gone(const char *name)
{
    for (guint i = 0; i < 100; i++) {
        if (if_nametoindex(name) == 0)
            return TRUE;
        g_usleep(10000);
    }
    return FALSE;
}

static gint
compare_names(gconstpointer a, gconstpointer b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The names of every link whose name starts with @prefix, sorted. */
static char *
links_with_prefix(const char *prefix)
{
    struct if_nameindex *all = if_nameindex();
    g_autoptr(GPtrArray) names = g_ptr_array_new();

    g_assert_nonnull(all);
    for (struct if_nameindex *i = all; i->if_index; i++) {
        if (g_str_has_prefix(i->if_name, prefix))
            g_ptr_array_add(names, i->if_name);
    }
    g_ptr_array_sort(names, compare_names);
    g_ptr_array_add(names, NULL);
    {
        char *joined = g_strjoinv(",", (char **)names->pdata);

        if_freenameindex(all);
        return joined;
    }
}

/* The tun flags of the tap behind @fd. */
static guint
tap_flags(int fd)
{
    struct ifreq ifr = { 0 };

    g_assert_cmpint(ioctl(fd, TUNGETIFF, &ifr), ==, 0);
    return (guint)(unsigned short)ifr.ifr_flags;
}

/* ------------------------------------------------------------------ */
/* Interfaces, built as the parser would */

static ferry_net_def *
net_new(ferry_net_type type, const char *source, const char *mac, const char *model)
{
    ferry_net_def *net = g_new0(ferry_net_def, 1);

    net->type = type;
    net->source = g_strdup(source);
    net->mac = g_strdup(mac);
    net->model = g_strdup(model);
    return net;
}

static void
net_free(ferry_net_def *net)
{
    g_free(net->source);
    g_free(net->mac);
    g_free(net->model);
    g_free(net->target_dev);
    g_free(net);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC(ferry_net_def, net_free)

/* A definition that holds only what the taps read: its name and @nets. */
static ferry_domain_def
def_with(GPtrArray *nets)
{
    ferry_domain_def def = { .name = (char *)"web1", .nets = nets };

    return def;
}

static GPtrArray *
nets_new(void)
{
    return g_ptr_array_new_with_free_func((GDestroyNotify)net_free);
}

/* ------------------------------------------------------------------ */
/* Taps */

static void
test_names_generated(void)
{
    g_assert_true(qemu_net_tap_name_is_generated("ferry0"));
    g_assert_true(qemu_net_tap_name_is_generated("ferry123"));
    g_assert_true(qemu_net_tap_name_is_generated("vnet7"));
    g_assert_false(qemu_net_tap_name_is_generated(NULL));
    g_assert_false(qemu_net_tap_name_is_generated("ferry"));
    g_assert_false(qemu_net_tap_name_is_generated("ferry0a"));
    g_assert_false(qemu_net_tap_name_is_generated("vnet"));
    g_assert_false(qemu_net_tap_name_is_generated("tap0"));
    g_assert_false(qemu_net_tap_name_is_generated("web1-eth0"));
    g_assert_true(qemu_net_needs_tap(&(ferry_net_def){ .type = FERRY_NET_TYPE_BRIDGE }));
    g_assert_true(qemu_net_needs_tap(&(ferry_net_def){ .type = FERRY_NET_TYPE_NETWORK }));
    g_assert_true(qemu_net_needs_tap(&(ferry_net_def){ .type = FERRY_NET_TYPE_ETHERNET }));
    g_assert_false(qemu_net_needs_tap(&(ferry_net_def){ .type = FERRY_NET_TYPE_USER }));
}

/* A virtio interface on the bridge: in it, up, the bridge's MTU, the
 * guest's MAC behind 0xfe, a vnet header; its name in the live XML; gone
 * with its descriptor. */
static void
test_bridge(void)
{
    g_autoptr(GPtrArray) nets = nets_new();
    g_autoptr(qemu_net_taps) taps = NULL;
    g_autoptr(GError) error = NULL;
    g_autofree char *name = NULL;
    ferry_domain_def def = def_with(nets);
    ferry_net_def *net;
    link_info info;

    if (!prerequisites_met())
        return;
    g_ptr_array_add(nets, net_new(FERRY_NET_TYPE_USER, NULL, "52:54:00:00:00:01", "e1000"));
    g_ptr_array_add(nets, net_new(FERRY_NET_TYPE_BRIDGE, BRIDGE, MAC, "virtio"));
    taps = qemu_net_taps_open(&def, &error);
    g_assert_no_error(error);
    g_assert_nonnull(taps);
    g_assert_cmpuint(taps->n, ==, 2);
    g_assert_cmpint(taps->fds[0], ==, -1);
    g_assert_null(taps->names[0]);
    g_assert_cmpint(taps->fds[1], >=, 0);
    g_assert_true(qemu_net_tap_name_is_generated(taps->names[1]));
    g_assert_true(g_str_has_prefix(taps->names[1], "ferry"));
    g_assert_cmpint(fcntl(taps->fds[1], F_GETFD) & FD_CLOEXEC, !=, 0);
    g_assert_cmpuint(tap_flags(taps->fds[1]) & (IFF_TAP | IFF_NO_PI | IFF_VNET_HDR), ==,
                     IFF_TAP | IFF_NO_PI | IFF_VNET_HDR);
    g_assert_cmpuint(tap_flags(taps->fds[1]) & IFF_PERSIST, ==, 0);

    g_assert_true(link_get(taps->names[1], &info));
    g_assert_cmpuint(info.master, ==, if_nametoindex(BRIDGE));
    g_assert_cmpuint(info.flags & IFF_UP, !=, 0);
    g_assert_cmpuint(info.mtu, ==, BRIDGE_MTU);
    g_assert_cmpstr(info.mac, ==, "fe:54:00:12:34:56");

    qemu_net_taps_record(taps, &def);
    net = g_ptr_array_index(nets, 1);
    g_assert_cmpstr(net->target_dev, ==, taps->names[1]);
    g_assert_null(((ferry_net_def *)g_ptr_array_index(nets, 0))->target_dev);

    name = g_strdup(taps->names[1]);
    g_clear_pointer(&taps, qemu_net_taps_free);
    g_assert_true(link_gone(name));
}

/* <target dev> and <mtu> are kept; an ethernet interface joins no bridge;
 * a model other than virtio gets no vnet header; a network is the bridge
 * of its name. */
static void
test_target_mtu_ethernet_network(void)
{
    g_autoptr(ferry_net_def) eth = net_new(FERRY_NET_TYPE_ETHERNET, NULL, MAC, "e1000");
    g_autoptr(ferry_net_def) network = net_new(FERRY_NET_TYPE_NETWORK, BRIDGE,
                                               "52:54:00:00:00:02", "rtl8139");
    g_autoptr(GError) error = NULL;
    g_autofree char *name = NULL;
    g_autofree char *name2 = NULL;
    link_info info;
    int fd, fd2;

    if (!prerequisites_met())
        return;
    eth->target_dev = g_strdup("web1-eth0");
    eth->mtu = 1300;
    fd = qemu_net_open_tap("web1", 0, eth, &name, &error);
    g_assert_no_error(error);
    g_assert_cmpint(fd, >=, 0);
    g_assert_cmpstr(name, ==, "web1-eth0");
    g_assert_cmpuint(tap_flags(fd) & IFF_VNET_HDR, ==, 0);
    g_assert_true(link_get(name, &info));
    g_assert_cmpuint(info.master, ==, 0);
    g_assert_cmpuint(info.flags & IFF_UP, !=, 0);
    g_assert_cmpuint(info.mtu, ==, 1300);

    network->mtu = 1200;
    fd2 = qemu_net_open_tap("web1", 1, network, &name2, &error);
    g_assert_no_error(error);
    g_assert_true(link_get(name2, &info));
    g_assert_cmpuint(info.master, ==, if_nametoindex(BRIDGE));
    g_assert_cmpuint(info.mtu, ==, 1200);

    close(fd);
    close(fd2);
    g_assert_true(link_gone(name));
    g_assert_true(link_gone(name2));
}

/* A bridge or network the host lacks, a device that is no bridge, a name in
 * use or no name at all: refused in words, no tap left behind. */
static void
test_refusals(void)
{
    g_autofree char *before = NULL;
    g_autofree char *after = NULL;
    g_autofree char *name = NULL;
    g_autofree char *eth_name = NULL;
    g_autoptr(GError) error = NULL;
    g_autoptr(ferry_net_def) eth = net_new(FERRY_NET_TYPE_ETHERNET, NULL, "52:54:00:00:00:03",
                                           "virtio");
    int eth_fd;
    const struct {
        ferry_net_type type;
        const char *source;
        const char *target;
        const char *message;
    } cases[] = {
        { FERRY_NET_TYPE_BRIDGE, "br-missing", NULL,
          "domain 'web1': interface " MAC ": bridge 'br-missing' does not exist on this host" },
        { FERRY_NET_TYPE_NETWORK, "default", NULL,
          "domain 'web1': interface " MAC ": network 'default': there is no bridge 'default' "
          "on this host (ferry has no network objects: a network is the bridge of that name)" },
        { FERRY_NET_TYPE_BRIDGE, NULL, NULL,
          "domain 'web1': interface " MAC ": no bridge is named (<source bridge='...'/>)" },
        { FERRY_NET_TYPE_BRIDGE, BRIDGE, BRIDGE,
          "domain 'web1': interface " MAC ": tap name '" BRIDGE "' is already in use on this "
          "host" },
        { FERRY_NET_TYPE_ETHERNET, NULL, "a/b",
          "domain 'web1': interface " MAC ": tap name 'a/b' cannot name a network interface: "
          "it contains '/', ':', '%' or white space" },
        { FERRY_NET_TYPE_ETHERNET, NULL, "sixteen-chars-xx",
          "domain 'web1': interface " MAC ": tap name 'sixteen-chars-xx' cannot name a network "
          "interface: it is longer than 15 characters" },
        { FERRY_NET_TYPE_ETHERNET, NULL, "ferry%d",
          "domain 'web1': interface " MAC ": tap name 'ferry%d' cannot name a network "
          "interface: it contains '/', ':', '%' or white space" },
    };

    if (!prerequisites_met())
        return;
    before = links_with_prefix("");
    for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autoptr(ferry_net_def) net = net_new(cases[i].type, cases[i].source, MAC, "virtio");

        net->target_dev = g_strdup(cases[i].target);
        g_assert_cmpint(qemu_net_open_tap("web1", 0, net, &name, &error), ==, -1);
        g_assert_error(error, FERRY_ERROR, FERRY_ERROR_OPERATION_FAILED);
        g_assert_cmpstr(error->message, ==, cases[i].message);
        g_assert_null(name);
        g_clear_error(&error);
    }
    after = links_with_prefix("");
    g_assert_cmpstr(after, ==, before);

    /* A tap is no bridge: the tap made for the refused port goes again. */
    eth_fd = qemu_net_open_tap("web1", 0, eth, &eth_name, &error);
    g_assert_no_error(error);
    g_clear_pointer(&before, g_free);
    before = links_with_prefix("");
    {
        g_autoptr(ferry_net_def) net = net_new(FERRY_NET_TYPE_BRIDGE, eth_name, NULL, "virtio");
        g_autofree char *expected = g_strdup_printf("domain 'web1': interface 2: '%s' is not a "
                                                    "bridge: tap ", eth_name);

        g_assert_cmpint(qemu_net_open_tap("web1", 2, net, &name, &error), ==, -1);
        g_assert_error(error, FERRY_ERROR, FERRY_ERROR_OPERATION_FAILED);
        g_assert_true(g_str_has_prefix(error->message, expected));
        g_clear_error(&error);
    }
    g_clear_pointer(&after, g_free);
    after = links_with_prefix("");
    g_assert_cmpstr(after, ==, before);
    close(eth_fd);
    g_assert_true(link_gone(eth_name));
}

/* Several interfaces, the last refused: the taps made before it go too. */
static void
test_all_or_none(void)
{
    g_autoptr(GPtrArray) nets = nets_new();
    g_autoptr(GError) error = NULL;
    g_autofree char *before = NULL;
    g_autofree char *after = NULL;
    ferry_domain_def def = def_with(nets);

    if (!prerequisites_met())
        return;
    before = links_with_prefix("");
    g_ptr_array_add(nets, net_new(FERRY_NET_TYPE_BRIDGE, BRIDGE, "52:54:00:00:00:04", "virtio"));
    g_ptr_array_add(nets, net_new(FERRY_NET_TYPE_ETHERNET, NULL, "52:54:00:00:00:05", "virtio"));
    g_ptr_array_add(nets, net_new(FERRY_NET_TYPE_BRIDGE, "br-missing", "52:54:00:00:00:06",
                                  "virtio"));
    g_assert_null(qemu_net_taps_open(&def, &error));
    g_assert_error(error, FERRY_ERROR, FERRY_ERROR_OPERATION_FAILED);
    g_assert_cmpstr(error->message, ==, "domain 'web1': interface 52:54:00:00:00:06: bridge "
                                        "'br-missing' does not exist on this host");
    after = links_with_prefix("");
    g_assert_cmpstr(after, ==, before);
}

/* Generated names skip the names in use, whatever holds them; a generated
 * name in a definition (another host's live XML) gets a fresh one. */
static void
test_name_generation(void)
{
    g_autoptr(ferry_net_def) net = net_new(FERRY_NET_TYPE_BRIDGE, BRIDGE, MAC, "virtio");
    g_autoptr(GError) error = NULL;
    g_autofree char *first = NULL;
    g_autofree char *second = NULL;
    int fd1, fd2;

    if (!prerequisites_met())
        return;
    /* Not a tap, but holding the first names. */
    bridge_add("ferry0", 0);
    bridge_add("ferry1", 0);
    net->target_dev = g_strdup("ferry0");
    fd1 = qemu_net_open_tap("web1", 0, net, &first, &error);
    g_assert_no_error(error);
    g_assert_cmpstr(first, ==, "ferry2");
    g_clear_pointer(&net->target_dev, g_free);
    net->target_dev = g_strdup("vnet3");
    fd2 = qemu_net_open_tap("web1", 0, net, &second, &error);
    g_assert_no_error(error);
    g_assert_cmpstr(second, ==, "ferry3");
    close(fd1);
    close(fd2);
    g_assert_true(link_gone(first));
    g_assert_true(link_gone(second));
    bridge_del("ferry0");
    bridge_del("ferry1");
}

/* ------------------------------------------------------------------ */
/* A real QEMU on the tap */

/* Debug messages of the QMP client, recorded (FERRY_QMP_TRACE is on). */
static GMutex trace_lock;
static GString *trace;

static GLogWriterOutput
record_trace(GLogLevelFlags level, const GLogField *fields, gsize n_fields, gpointer data)
{
    for (gsize i = 0; i < n_fields; i++) {
        if (strcmp(fields[i].key, "MESSAGE") == 0 && fields[i].length < 0) {
            g_mutex_lock(&trace_lock);
            g_string_append(trace, fields[i].value);
            g_string_append_c(trace, '\n');
            g_mutex_unlock(&trace_lock);
        }
    }
    if (level & G_LOG_LEVEL_DEBUG)
        return G_LOG_WRITER_HANDLED;
    return g_log_writer_default(level, fields, n_fields, data);
}

/* In QEMU before exec: die with the test, even when an assertion aborts
 * it; run as an unprivileged user, as ferryd's `user` setting makes it:
 * the descriptor is all it needs of the tap. */
static void
qemu_child_setup(gpointer data)
{
    gid_t gid = QEMU_UID;

    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (setgroups(1, &gid) < 0 || setgid(QEMU_UID) < 0 || setuid(QEMU_UID) < 0)
        _exit(126);
}

/* The reply of @command, asserted to succeed. */
static json_object *
qmp_ok(ferry_qmp *qmp, const char *command, json_object *args)
{
    g_autoptr(GError) error = NULL;
    json_object *ret = ferry_qmp_command_sync(qmp, command, args, &error);

    g_assert_no_error(error);
    g_assert_nonnull(ret);
    return ret;
}

/* Reads frames from @fd for up to @ms until a RARP from @mac comes. */
static gboolean
saw_rarp(int fd, const guint8 mac[6], int ms)
{
    gint64 deadline = g_get_monotonic_time() + ms * G_TIME_SPAN_MILLISECOND;
    guint8 frame[2048];

    while (g_get_monotonic_time() < deadline) {
        struct pollfd p = { .fd = fd, .events = POLLIN };
        ssize_t n;

        if (poll(&p, 1, 100) <= 0)
            continue;
        n = read(fd, frame, sizeof(frame));
        if (n >= 14 && memcmp(frame + 6, mac, 6) == 0 &&
            ((frame[12] << 8) | frame[13]) == ETH_P_RARP_BE)
            return TRUE;
    }
    return FALSE;
}

static void
test_qemu(void)
{
    g_autoptr(ferry_net_def) net = net_new(FERRY_NET_TYPE_BRIDGE, BRIDGE, MAC, "virtio");
    g_autoptr(ferry_net_def) listener = net_new(FERRY_NET_TYPE_BRIDGE, BRIDGE, LISTENER_MAC,
                                                "e1000");
    g_autoptr(GSubprocessLauncher) launcher = NULL;
    g_autoptr(GSubprocess) qemu = NULL;
    g_autoptr(ferry_qmp) qmp = NULL;
    g_autoptr(GError) error = NULL;
    g_autoptr(json_object) ret = NULL;
    g_autoptr(json_object) args = NULL;
    g_autofree char *dir = NULL;
    g_autofree char *monitor = NULL;
    g_autofree char *chardev = NULL;
    g_autofree char *netdev = NULL;
    g_autofree char *tap = NULL;
    g_autofree char *listener_tap = NULL;
    g_autofree char *info = NULL;
    const guint8 mac[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };
    const char *secret = "s3cret-pw";
    json_object *entry, *value;
    int fd, listener_fd;

    if (!prerequisites_met())
        return;
    if (!g_file_test(FERRY_QEMU_BINARY, G_FILE_TEST_IS_EXECUTABLE)) {
        g_test_fail_printf("prerequisite: QEMU at '%s' (install qemu-system-x86)",
                           FERRY_QEMU_BINARY);
        return;
    }
    dir = g_dir_make_tmp("ferry-qemu-net-XXXXXX", &error);
    g_assert_no_error(error);
    g_assert_cmpint(chown(dir, QEMU_UID, QEMU_UID), ==, 0);
    monitor = g_build_filename(dir, "qmp.sock", NULL);
    fd = qemu_net_open_tap("web1", 0, net, &tap, &error);
    g_assert_no_error(error);
    listener_fd = qemu_net_open_tap("peer", 0, listener, &listener_tap, &error);
    g_assert_no_error(error);

    /* As ferryd does: QEMU inherits the tap at a known number, its own
     * copy; ours goes as soon as it runs. */
    chardev = g_strdup_printf("socket,id=monitor,path=%s,server=on,wait=off", monitor);
    netdev = g_strdup_printf("tap,id=hostnet0,fd=%d", TAP_CHILD_FD);
    launcher = g_subprocess_launcher_new(G_SUBPROCESS_FLAGS_STDOUT_SILENCE);
    g_subprocess_launcher_set_child_setup(launcher, qemu_child_setup, NULL, NULL);
    g_subprocess_launcher_take_fd(launcher, fd, TAP_CHILD_FD);
    qemu = g_subprocess_launcher_spawn(launcher, &error, FERRY_QEMU_BINARY, "-S",
                                       "-machine", "pc,accel=tcg", "-m", "64", "-nodefaults",
                                       "-display", "none", "-chardev", chardev,
                                       "-mon", "chardev=monitor,mode=control",
                                       "-netdev", netdev, "-device",
                                       "virtio-net-pci,netdev=hostnet0,id=net0,mac=" MAC
                                       ",romfile=",
                                       "-vnc", "127.0.0.1:0,to=99,password=on", NULL);
    g_assert_no_error(error);
    g_clear_object(&launcher);

    qmp = ferry_qmp_new(NULL, "domain 'web1'");
    g_assert_true(ferry_qmp_connect_sync(qmp, monitor, 10000, &error));
    g_assert_no_error(error);
    {
        g_autofree char *status_path = g_strdup_printf("/proc/%s/status",
                                                       g_subprocess_get_identifier(qemu));
        g_autofree char *status = NULL;

        g_assert_true(g_file_get_contents(status_path, &status, NULL, NULL));
        g_assert_nonnull(strstr(status, "\nUid:\t4242\t"));
    }

    /* QEMU has the tap: the NIC's filter, and the backend by descriptor. */
    ret = qmp_ok(qmp, "query-rx-filter", NULL);
    g_assert_cmpuint(json_object_array_length(ret), ==, 1);
    entry = json_object_array_get_idx(ret, 0);
    g_assert_true(json_object_object_get_ex(entry, "main-mac", &value));
    g_assert_cmpstr(json_object_get_string(value), ==, MAC);
    g_clear_pointer(&ret, json_object_put);
    args = json_object_new_object();
    json_object_object_add(args, "command-line", json_object_new_string("info network"));
    ret = qmp_ok(qmp, "human-monitor-command", args);
    info = g_strdup(json_object_get_string(ret));
    g_test_message("info network: %s", info);
    g_assert_nonnull(strstr(info, "type=tap,fd=4"));
    g_assert_nonnull(strstr(info, "macaddr=" MAC));
    g_assert_cmpuint(if_nametoindex(tap), !=, 0);
    g_clear_pointer(&ret, json_object_put);
    g_clear_pointer(&args, json_object_put);

    /* The password: set, and never in the trace. */
    args = json_object_new_object();
    json_object_object_add(args, "protocol", json_object_new_string("vnc"));
    json_object_object_add(args, "password", json_object_new_string(secret));
    ret = qmp_ok(qmp, "set_password", args);
    g_clear_pointer(&ret, json_object_put);
    g_clear_pointer(&args, json_object_put);
    g_mutex_lock(&trace_lock);
    g_assert_nonnull(strstr(trace->str, "\"execute\":\"set_password\",\"arguments\":(not "
                                        "traced: a secret)"));
    g_assert_nonnull(strstr(trace->str, "\"execute\":\"query-rx-filter\""));
    g_assert_null(strstr(trace->str, secret));
    g_mutex_unlock(&trace_lock);

    /* The guest runs, then announces itself: the RARPs cross the bridge
     * to its other port. */
    ret = qmp_ok(qmp, "cont", NULL);
    g_clear_pointer(&ret, json_object_put);
    g_assert_false(saw_rarp(listener_fd, mac, 500));
    g_assert_true(qemu_net_announce(qmp, "web1", &error));
    g_assert_no_error(error);
    g_assert_true(saw_rarp(listener_fd, mac, 3000));

    /* Killed, QEMU leaves no tap behind. */
    g_subprocess_force_exit(qemu);
    g_assert_true(g_subprocess_wait(qemu, NULL, &error));
    g_assert_true(link_gone(tap));
    ferry_qmp_close(qmp);

    /* A QEMU that is gone refuses, in words naming the domain. */
    g_assert_false(qemu_net_announce(qmp, "web1", &error));
    g_assert_nonnull(error);
    g_assert_true(g_str_has_prefix(error->message, "domain 'web1': cannot announce its "
                                                   "interfaces: "));
    close(listener_fd);
    g_assert_true(link_gone(listener_tap));
    g_unlink(monitor);
    g_rmdir(dir);
}

/* ------------------------------------------------------------------ */
/* The QEMU driver starting a domain with these devices */

static const ferry_driver *const drivers[] = { &ferry_qemu_driver, NULL };

static char *
driver_xml(const char *name, const char *bridge)
{
    return g_strdup_printf(
        "<domain type='qemu'>\n"
        "  <name>%s</name>\n"
        "  <memory unit='MiB'>128</memory>\n"
        "  <currentMemory unit='MiB'>96</currentMemory>\n"
        "  <vcpu>1</vcpu>\n"
        "  <os><type arch='x86_64' machine='pc'>hvm</type></os>\n"
        "  <devices>\n"
        "    <interface type='bridge'>\n"
        "      <source bridge='%s'/>\n"
        "      <mac address='" MAC "'/>\n"
        "      <model type='virtio'/>\n"
        "    </interface>\n"
        "    <console type='pty'><target type='serial' port='0'/></console>\n"
        "    <graphics type='vnc' autoport='yes' listen='127.0.0.1' passwd='s3cret-vnc'/>\n"
        "    <memballoon model='virtio'/>\n"
        "  </devices>\n"
        "</domain>\n", name, bridge);
}

/* The first match of @pattern's group 1 in @text, or NULL. */
static char *
match(const char *text, const char *pattern)
{
    g_autoptr(GRegex) re = g_regex_new(pattern, 0, 0, NULL);
    g_autoptr(GMatchInfo) m = NULL;

    g_assert_nonnull(re);
    return g_regex_match(re, text, 0, &m) ? g_match_info_fetch(m, 1) : NULL;
}

static void
test_driver(void)
{
    g_autoptr(GError) error = NULL;
    g_autofree char *dir = NULL;
    g_autofree char *xml = NULL;
    g_autofree char *bad = NULL;
    g_autofree char *live = NULL;
    g_autofree char *tap = NULL;
    g_autofree char *pty = NULL;
    g_autofree char *port = NULL;
    g_autofree char *cmd = NULL;
    g_autofree char *before = NULL;
    g_autofree char *after = NULL;
    ferry_conn *conn;
    ferry_domain *dom;
    link_info info;
    ferry_qemu_config cfg = {
        .qemu_binary = (char *)FERRY_QEMU_BINARY,
        .host_uuid = (char *)"0c1d2e3f-4a5b-4c6d-8e7f-8091a2b3c4d5",
        .hostname = (char *)"nethost",
    };

    if (!prerequisites_met())
        return;
    dir = g_dir_make_tmp("ferry-qemu-net-drv-XXXXXX", &error);
    g_assert_no_error(error);
    cfg.state_dir = dir;
    g_assert_true(ferry_qemu_driver_initialize(&cfg, &error));
    g_assert_no_error(error);
    conn = ferry_conn_open_with_drivers("qemu:///system", drivers, &error);
    g_assert_no_error(error);

    /* A bridge the host lacks: refused before QEMU runs, no tap left. */
    before = links_with_prefix("");
    bad = driver_xml("lan0", "br-missing");
    g_assert_null(ferry_domain_create_xml(conn, bad, 0, &error));
    g_assert_nonnull(error);
    g_assert_nonnull(strstr(error->message, "domain 'lan0': interface " MAC ": bridge "
                                            "'br-missing' does not exist on this host"));
    g_clear_error(&error);
    after = links_with_prefix("");
    g_assert_cmpstr(after, ==, before);

    g_mutex_lock(&trace_lock);
    g_string_truncate(trace, 0);
    g_mutex_unlock(&trace_lock);
    xml = driver_xml("lan1", BRIDGE);
    dom = ferry_domain_create_xml(conn, xml, 0, &error);
    g_assert_no_error(error);
    g_assert_nonnull(dom);
    live = ferry_domain_get_xml(dom, 0, &error);
    g_assert_no_error(error);
    g_test_message("live XML:\n%s", live);

    /* The tap in the live XML is the one on the bridge. */
    tap = match(live, "<target dev='([^']+)'/>");
    g_assert_nonnull(tap);
    g_assert_true(qemu_net_tap_name_is_generated(tap));
    g_assert_true(link_get(tap, &info));
    g_assert_cmpuint(info.master, ==, if_nametoindex(BRIDGE));
    g_assert_cmpuint(info.flags & IFF_UP, !=, 0);
    /* The console's pty, the VNC port QEMU took. */
    pty = match(live, "<console type='pty'[^>]*>\\s*<source path='(/dev/pts/[0-9]+)'");
    g_assert_nonnull(pty);
    g_assert_true(g_file_test(pty, G_FILE_TEST_EXISTS));
    port = match(live, "<graphics type='vnc' port='(59[0-9][0-9])'");
    g_assert_nonnull(port);
    /* The password and the balloon went over QMP, the password unseen. */
    g_mutex_lock(&trace_lock);
    g_assert_nonnull(strstr(trace->str, "\"execute\":\"set_password\",\"arguments\":(not "
                                        "traced: a secret)"));
    g_assert_null(strstr(trace->str, "s3cret-vnc"));
    g_assert_nonnull(strstr(trace->str, "\"execute\":\"balloon\",\"arguments\":"
                                        "{\"value\":100663296}"));
    g_mutex_unlock(&trace_lock);

    /* Destroyed, the domain leaves no tap. */
    g_assert_true(ferry_domain_destroy(dom, &error));
    g_assert_no_error(error);
    g_assert_true(link_gone(tap));

    ferry_domain_unref(dom);
    ferry_conn_unref(conn);
    ferry_qemu_driver_shutdown();
    cmd = g_strdup_printf("rm -rf '%s'", dir);
    g_assert_true(g_spawn_command_line_sync(cmd, NULL, NULL, NULL, NULL));
}

/* ------------------------------------------------------------------ */
/* The paths of new devices, for an untrusted caller */

static void
chr_free(ferry_chr_def *chr)
{
    g_free(chr->source.path);
    g_free(chr->target_name);
    g_free(chr);
}

static ferry_chr_def *
chr_new(ferry_chr_device device, ferry_chr_type type, const char *path, const char *name)
{
    ferry_chr_def *chr = g_new0(ferry_chr_def, 1);

    chr->device = device;
    chr->source.type = type;
    chr->source.path = g_strdup(path);
    chr->target_name = g_strdup(name);
    return chr;
}

static void
disk_free(ferry_disk_def *disk)
{
    g_free(disk->target);
    g_free(disk->source);
    g_free(disk);
}

static ferry_disk_def *
disk_new(ferry_disk_type type, ferry_disk_device device, const char *target,
         const char *source)
{
    ferry_disk_def *disk = g_new0(ferry_disk_def, 1);

    disk->type = type;
    disk->device = device;
    disk->target = g_strdup(target);
    disk->source = g_strdup(source);
    return disk;
}

static void
test_confine(void)
{
    static char *storage_dirs[] = { (char *)"/srv/ferry-test/images", NULL };
    static char *file_dirs[] = { (char *)"/srv/ferry-test/files", NULL };
    const ferry_qemu_config config = {
        .storage_dirs = storage_dirs,
        .file_dirs = file_dirs,
    };
    g_autoptr(GPtrArray) disks = g_ptr_array_new_with_free_func((GDestroyNotify)disk_free);
    g_autoptr(GPtrArray) chardevs = g_ptr_array_new_with_free_func((GDestroyNotify)chr_free);
    ferry_domain_def def = { .name = (char *)"web1", .disks = disks, .chardevs = chardevs };
    g_autoptr(GError) error = NULL;
    ferry_disk_def *block;
    ferry_chr_def *chan;

    /* Inside: a block device and a medium in storage_dirs, a network disk
     * and an empty cdrom naming nothing, firmware and chardevs in
     * file_dirs, a pty naming nothing of this host. */
    block = disk_new(FERRY_DISK_TYPE_BLOCK, FERRY_DISK_DEVICE_DISK, "vda",
                     "/srv/ferry-test/images/lv0");
    g_ptr_array_add(disks, block);
    g_ptr_array_add(disks, disk_new(FERRY_DISK_TYPE_FILE, FERRY_DISK_DEVICE_CDROM, "sda",
                                    "/srv/ferry-test/images/boot.iso"));
    g_ptr_array_add(disks, disk_new(FERRY_DISK_TYPE_NETWORK, FERRY_DISK_DEVICE_DISK, "vdb",
                                    NULL));
    g_ptr_array_add(disks, disk_new(FERRY_DISK_TYPE_FILE, FERRY_DISK_DEVICE_CDROM, "sdb", NULL));
    def.loader = (char *)"/srv/ferry-test/files/OVMF_CODE.fd";
    def.nvram = (char *)"/srv/ferry-test/files/web1_VARS.fd";
    g_ptr_array_add(chardevs, chr_new(FERRY_CHR_DEVICE_SERIAL, FERRY_CHR_FILE,
                                      "/srv/ferry-test/files/web1.log", NULL));
    chan = chr_new(FERRY_CHR_DEVICE_CHANNEL, FERRY_CHR_UNIX, "/srv/ferry-test/files/ga.sock",
                   "org.qemu.guest_agent.0");
    g_ptr_array_add(chardevs, chan);
    g_ptr_array_add(chardevs, chr_new(FERRY_CHR_DEVICE_CONSOLE, FERRY_CHR_PTY, "/dev/pts/3",
                                      NULL));
    g_assert_true(qemu_confine_def(&config, &def, &error));
    g_assert_no_error(error);

    /* Each outside, refused by name. */
    g_free(chan->source.path);
    chan->source.path = g_strdup("/run/elsewhere/ga.sock");
    g_assert_false(qemu_confine_def(&config, &def, &error));
    g_assert_cmpstr(error->message, ==, "domain 'web1': channel 'org.qemu.guest_agent.0': "
                                        "socket '/run/elsewhere/ga.sock' is outside file_dirs "
                                        "(/srv/ferry-test/files)");
    g_clear_error(&error);
    def.nvram = (char *)"/var/lib/other/VARS.fd";
    g_assert_false(qemu_confine_def(&config, &def, &error));
    g_assert_cmpstr(error->message, ==, "domain 'web1': nvram '/var/lib/other/VARS.fd' is "
                                        "outside file_dirs (/srv/ferry-test/files)");
    g_clear_error(&error);
    g_free(block->source);
    block->source = g_strdup("/dev/sda");
    g_assert_false(qemu_confine_def(&config, &def, &error));
    g_assert_cmpstr(error->message, ==, "domain 'web1': disk 'vda': block device '/dev/sda' "
                                        "is outside storage_dirs (/srv/ferry-test/images)");
}

/* ------------------------------------------------------------------ */
/* The paths of new devices, handed to the QEMU user */

#define UID 4242

static void
write_file(const char *path, guint mode)
{
    g_assert_true(g_file_set_contents(path, "x", 1, NULL));
    g_assert_cmpint(g_chmod(path, mode), ==, 0);
    g_assert_cmpint(chown(path, 0, 0), ==, 0);
}

static void
assert_owner(const char *path, guint uid)
{
    GStatBuf st;

    g_assert_cmpint(g_stat(path, &st), ==, 0);
    g_assert_cmpuint(st.st_uid, ==, uid);
}

/* Given (and given back): a block device, a cdrom medium, the loader and
 * the nvram, a file chardev (created), the directory of a listening unix
 * socket; a network disk, an empty cdrom and a pty need nothing. */
static void
test_user(void)
{
    g_autoptr(GError) error = NULL;
    g_autofree char *root = NULL;
    g_autofree char *images = NULL;
    g_autofree char *files = NULL;
    g_autofree char *state_dir = NULL;
    g_autofree char *block = NULL;
    g_autofree char *iso = NULL;
    g_autofree char *loader = NULL;
    g_autofree char *nvram = NULL;
    g_autofree char *log = NULL;
    g_autofree char *sock_dir = NULL;
    g_autofree char *sock = NULL;
    g_autofree char *pid = NULL;
    g_autofree char *cmd = NULL;
    char *storage_dirs[2] = { NULL, NULL };
    char *file_dirs[2] = { NULL, NULL };
    qemu_driver_state state = { 0 };
    ferry_domain_obj_list *list;
    ferry_domain_obj *obj;
    ferry_domain_def *def;
    ferry_chr_def *chan;

    if (!prerequisites_met())
        return;
    root = g_dir_make_tmp("ferry-qemu-net-user-XXXXXX", &error);
    g_assert_no_error(error);
    g_assert_cmpint(g_chmod(root, 0711), ==, 0);
    images = g_build_filename(root, "images", NULL);
    files = g_build_filename(root, "files", NULL);
    sock_dir = g_build_filename(files, "sockets", NULL);
    g_assert_cmpint(g_mkdir(images, 0755), ==, 0);
    g_assert_cmpint(g_mkdir(files, 0755), ==, 0);
    g_assert_cmpint(g_mkdir(sock_dir, 0700), ==, 0);
    storage_dirs[0] = images;
    file_dirs[0] = files;
    state_dir = g_build_filename(root, "state", NULL);
    state.config.state_dir = state_dir;
    state.config.storage_dirs = storage_dirs;
    state.config.file_dirs = file_dirs;
    state.config.user = (char *)"+4242";
    state.run_dir = g_build_filename(state_dir, "qemu", "run", NULL);
    state.relay_dir = g_build_filename(state.run_dir, "relay", NULL);
    g_assert_cmpint(g_mkdir_with_parents(state.relay_dir, 0700), ==, 0);
    g_assert_true(qemu_user_init(&state, &error));
    g_assert_no_error(error);

    block = g_build_filename(images, "lv0", NULL);
    iso = g_build_filename(images, "boot.iso", NULL);
    loader = g_build_filename(files, "OVMF_CODE.fd", NULL);
    nvram = g_build_filename(files, "web1_VARS.fd", NULL);
    log = g_build_filename(files, "web1-serial1.log", NULL);
    sock = g_build_filename(sock_dir, "ga.sock", NULL);
    pid = g_build_filename(state.run_dir, "web1.pid", NULL);
    write_file(block, 0600);
    write_file(iso, 0600);
    write_file(loader, 0600);
    write_file(nvram, 0600);

    def = ferry_domain_def_new();
    def->name = g_strdup("web1");
    def->uuid = g_strdup("0b6f6f4e-6b0a-4c55-9d1e-3f3c1f0e2a11");
    def->loader = g_strdup(loader);
    def->loader_readonly = TRUE;
    def->nvram = g_strdup(nvram);
    g_ptr_array_add(def->disks, disk_new(FERRY_DISK_TYPE_BLOCK, FERRY_DISK_DEVICE_DISK, "vda",
                                         block));
    g_ptr_array_add(def->disks, disk_new(FERRY_DISK_TYPE_FILE, FERRY_DISK_DEVICE_CDROM, "sda",
                                         iso));
    g_ptr_array_add(def->disks, disk_new(FERRY_DISK_TYPE_NETWORK, FERRY_DISK_DEVICE_DISK, "vdb",
                                         NULL));
    g_ptr_array_add(def->disks, disk_new(FERRY_DISK_TYPE_FILE, FERRY_DISK_DEVICE_CDROM, "sdb",
                                         NULL));
    g_ptr_array_add(def->chardevs, chr_new(FERRY_CHR_DEVICE_SERIAL, FERRY_CHR_FILE, log, NULL));
    chan = chr_new(FERRY_CHR_DEVICE_CHANNEL, FERRY_CHR_UNIX, sock, "org.qemu.guest_agent.0");
    chan->source.server = TRUE;
    g_ptr_array_add(def->chardevs, chan);
    g_ptr_array_add(def->chardevs, chr_new(FERRY_CHR_DEVICE_CONSOLE, FERRY_CHR_PTY, NULL, NULL));
    list = ferry_domain_obj_list_new();
    obj = ferry_domain_obj_list_add_transient(list, def, &error);
    g_assert_no_error(error);

    g_assert_true(qemu_user_hand_domain(&state, obj, pid, &error));
    g_assert_no_error(error);
    assert_owner(block, UID);
    assert_owner(iso, UID);
    assert_owner(loader, UID);
    assert_owner(nvram, UID);
    assert_owner(log, UID);
    assert_owner(sock_dir, UID);
    g_assert_cmpuint(((qemu_domain_priv *)obj->priv)->handed->len, ==, 6);

    qemu_user_restore_domain(&state, obj);
    assert_owner(block, 0);
    assert_owner(iso, 0);
    assert_owner(loader, 0);
    assert_owner(nvram, 0);
    assert_owner(log, 0);
    assert_owner(sock_dir, 0);

    ferry_domain_obj_unref(obj);

    /* Another program's socket is not given away: the user must reach it. */
    def = ferry_domain_def_new();
    def->name = g_strdup("web2");
    def->uuid = g_strdup("0b6f6f4e-6b0a-4c55-9d1e-3f3c1f0e2a12");
    g_ptr_array_add(def->chardevs, chr_new(FERRY_CHR_DEVICE_CHANNEL, FERRY_CHR_UNIX, sock,
                                           "org.example.agent"));
    obj = ferry_domain_obj_list_add_transient(list, def, &error);
    g_assert_no_error(error);
    g_assert_false(qemu_user_hand_domain(&state, obj, pid, &error));
    {
        g_autofree char *want = g_strdup_printf("domain 'web2': channel 'org.example.agent': "
                                                "user '+4242' cannot reach socket '%s': it "
                                                "may not search directory '%s'", sock, sock_dir);

        g_assert_cmpstr(error->message, ==, want);
    }
    assert_owner(sock_dir, 0);
    ferry_domain_obj_unref(obj);
    ferry_domain_obj_list_free(list);
    cmd = g_strdup_printf("rm -rf '%s'", root);
    g_assert_true(g_spawn_command_line_sync(cmd, NULL, NULL, NULL, NULL));
    g_free(state.run_dir);
    g_free(state.relay_dir);
    g_free(state.qemu_user_name);
    g_free(state.qemu_switch_error);
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    /* Before the first QMP command: the client reads it once. */
    g_setenv("FERRY_QMP_TRACE", "1", TRUE);
    trace = g_string_new(NULL);
    g_log_set_writer_func(record_trace, NULL, NULL);

    /* A network of our own, before anything opens a socket or a tap. */
    if (geteuid() != 0)
        prerequisite = g_strdup("root (network namespaces, bridges and taps); run as root");
    else if (access("/dev/net/tun", R_OK | W_OK) != 0)
        prerequisite = g_strdup_printf("/dev/net/tun: %s", g_strerror(errno));
    else if (unshare(CLONE_NEWNET | CLONE_NEWNS) != 0)
        prerequisite = g_strdup_printf("a network namespace of its own (unshare): %s",
                                       g_strerror(errno));
    else if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0 ||
             umount2("/sys", MNT_DETACH) != 0 || mount("sysfs", "/sys", "sysfs", 0, NULL) != 0)
        prerequisite = g_strdup_printf("a /sys of its own network namespace: %s",
                                       g_strerror(errno));
    if (!prerequisite) {
        /* VNC listens on 127.0.0.1, which needs the namespace's loopback. */
        link_set_up("lo");
        bridge_add(BRIDGE, BRIDGE_MTU);
    }

    g_test_add_func("/qemu-net/names", test_names_generated);
    g_test_add_func("/qemu-net/tap/bridge", test_bridge);
    g_test_add_func("/qemu-net/tap/target-mtu-ethernet-network", test_target_mtu_ethernet_network);
    g_test_add_func("/qemu-net/tap/refusals", test_refusals);
    g_test_add_func("/qemu-net/tap/all-or-none", test_all_or_none);
    g_test_add_func("/qemu-net/tap/name-generation", test_name_generation);
    g_test_add_func("/qemu-net/qemu", test_qemu);
    g_test_add_func("/qemu-net/driver", test_driver);
    g_test_add_func("/qemu-net/confine", test_confine);
    g_test_add_func("/qemu-net/user", test_user);
    return g_test_run();
}
