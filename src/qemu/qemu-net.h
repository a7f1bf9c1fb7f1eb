/*
 * qemu-net.h: the host side of a domain's network interfaces -- the tap
 * of each bridge, network or ethernet interface, and the announce that
 * tells the layer-2 segment where a migrated guest now runs.
 *
 * Owns: opening taps (/dev/net/tun), their names, MAC, MTU, link state
 * and bridge port; the `announce-self` after an incoming migration.  Must
 * not: start QEMU or build its command line (qemu-process.c passes the
 * descriptors, qemu-command.c writes `-netdev tap,fd=N`), or run any
 * program: no `ip`, no `brctl`, no shell.
 *
 * Networks: ferry has no network objects.  <source network='NAME'/> means
 * the bridge named NAME on the host the domain runs on; a host without
 * such a bridge refuses to start (or receive) the domain.
 *
 * Why ferryd opens the taps: creating a tap and adding a bridge port need
 * CAP_NET_ADMIN, which an unprivileged QEMU does not have; QEMU gets the
 * open descriptor.  The taps are not persistent: each lives exactly as
 * long as the last descriptor of it, QEMU's once ferryd closed its own, so
 * a QEMU that dies, however it dies, leaves no tap behind.
 */
#pragma once

#include "conf/domain-conf.h"
#include "driver/domain-obj.h"
#include "qmp/qmp.h"

G_BEGIN_DECLS

/* The names ferry gives taps: the kernel picks the first free N. */
#define QEMU_NET_TAP_PREFIX "ferry"

/** The taps of one QEMU about to start (qemu_net_taps_open()). */
typedef struct {
    guint n;                    /* the definition's number of interfaces */
    int *fds;                   /* one per interface: the open tap, or -1 (user
                                 * mode, or already given to QEMU) */
    char **names;               /* one per interface: the tap's name, or NULL */
} qemu_net_taps;

/**
 * qemu_net_needs_tap:
 * @net: an interface
 *
 * Returns: TRUE for a bridge, network or ethernet interface (QEMU gets a
 *   tap), FALSE for user mode.
 */
gboolean qemu_net_needs_tap(const ferry_net_def *net);

/**
 * qemu_net_tap_name_is_generated:
 * @name: (nullable): an interface's <target dev>
 *
 * Names "ferryN" and "vnetN" (libvirt's) are chosen by the host the
 * domain runs on: a definition that names one -- the live XML of another
 * host, a migration's XML -- gets a fresh tap name where it starts, as
 * libvirt does.  Any other name is the administrator's and is kept.
 *
 * Returns: TRUE if @name is such a generated name (FALSE for NULL).
 */
gboolean qemu_net_tap_name_is_generated(const char *name);

/**
 * qemu_net_open_tap:
 * @dom_name: the domain's name, for errors
 * @index: the interface's position in the definition, for errors when it
 *   has no MAC
 * @net: a bridge, network or ethernet interface
 * @ret_name: (out): the tap's name
 * @error: return location for an error (FERRY_ERROR_OPERATION_FAILED)
 *   naming the domain, the interface and the bridge, e.g. "domain 'web1':
 *   interface 52:54:00:12:34:56: bridge 'br0' does not exist on this host"
 *
 * Creates a tap (IFF_TAP | IFF_NO_PI, and IFF_VNET_HDR for a virtio
 * model) named @net's <target dev>, or "ferryN" when it has none or a
 * generated one; gives it the guest's MAC with the first byte 0xfe, the
 * MTU of <mtu> (else, on a bridge, the bridge's), plugs it into the bridge
 * (bridge and network types) and sets it up.  The descriptor is
 * close-on-exec; closing the last copy removes the tap.
 *
 * Returns: the tap's descriptor, or -1 with @error.
 */
int qemu_net_open_tap(const char *dom_name, guint index, const ferry_net_def *net,
                      char **ret_name, GError **error);

/**
 * qemu_net_taps_open:
 * @def: the definition QEMU will run (not changed)
 * @error: return location for an error, as for qemu_net_open_tap()
 *
 * qemu_net_open_tap() for every interface of @def that needs one.  On
 * failure the taps opened already are closed (and so gone).
 *
 * Returns: (transfer full): the taps, or NULL with @error.
 */
qemu_net_taps *qemu_net_taps_open(const ferry_domain_def *def, GError **error);

/**
 * qemu_net_taps_record:
 * @taps: what qemu_net_taps_open() returned for @def
 * @def: the live definition (the caller holds its lock)
 *
 * Writes each tap's name into its interface's <target dev>, so that the
 * live XML shows which tap the guest uses.
 */
void qemu_net_taps_record(const qemu_net_taps *taps, ferry_domain_def *def);

/**
 * qemu_net_taps_free:
 * @taps: (nullable): taps
 *
 * Closes every descriptor still held (a tap whose only descriptor it was
 * disappears) and frees @taps.
 */
void qemu_net_taps_free(qemu_net_taps *taps);

/**
 * qemu_net_announce:
 * @qmp: the domain's monitor
 * @dom_name: the domain's name, for errors
 * @error: return location for an error
 *
 * Asks QEMU to announce every NIC of the guest on its segment (QMP
 * `announce-self`: gratuitous RARPs from the guest's MACs, and a virtio
 * guest asked to announce itself), a few rounds over about half a second.
 *
 * Returns: TRUE if QEMU accepted.
 */
gboolean qemu_net_announce(ferry_qmp *qmp, const char *dom_name, GError **error);

/**
 * qemu_net_announce_migrated:
 * @obj: a domain whose incoming migration just resumed its CPUs here (the
 *   caller holds its job)
 *
 * qemu_net_announce() when the domain has interfaces; a failure is logged
 * (see why in qemu-net.c), never returned.
 */
void qemu_net_announce_migrated(ferry_domain_obj *obj);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(qemu_net_taps, qemu_net_taps_free)

G_END_DECLS
