/*
 * domain-conf.h: the domain definition, parsed from and formatted to
 * libvirt-compatible domain XML.
 *
 * Owns: the in-memory form of a definition, its XML parser and formatter,
 * validation against docs/schemas/domain.rng plus the checks a schema cannot
 * express.  Must not: touch the file system beyond reading the schema, start
 * processes, or know about drivers.
 *
 * The subset understood, in the order the formatter writes it (libvirt's)
 * whatever the input's.  Anything not listed is refused, naming it and its
 * line.  Where libvirt fills in a default and writes it, so does ferry
 * (marked "written").
 *
 *   <domain type='qemu' id='7'>              type: qemu | kvm | test; id (a running domain's,
 *                                            as dumpxml writes it): accepted, not kept
 *     <name>web1</name>                      [A-Za-z0-9_.+-], 1..64 chars, not starting with '.' or '-'
 *     <uuid>…</uuid>                         optional; generated when absent
 *     <title>…</title>                       optional; one line
 *     <description>…</description>           optional
 *     <metadata>…</metadata>                 optional; any elements of any namespace, kept
 *                                            verbatim (re-indented; comments between them dropped)
 *     <memory unit='MiB'>128</memory>        unit: b, bytes, k, KB, KiB, M, MB, MiB, G, GB, GiB
 *                                            (default KiB); written in KiB
 *     <currentMemory unit='MiB'>64</currentMemory>  optional, at most memory; written always
 *                                            (equal to memory when absent)
 *     <vcpu placement='static' cpuset='0-3,^2' current='1'>2</vcpu>
 *                                            1..64; placement static|auto, cpuset: N, N-M, ^N
 *                                            (CPUs 0..4095), current 1..count: optional
 *     <os>
 *       <type arch='x86_64' machine='pc'>hvm</type>   machine e.g. pc, q35, pc-i440fx-7.2
 *       <loader readonly='yes' secure='no' type='pflash'>/abs/path</loader>  optional;
 *                                            type rom|pflash; readonly, secure written only if yes
 *       <nvram template='/abs/path'>/abs/path</nvram>  optional
 *       <kernel>/abs/path</kernel>           optional
 *       <initrd>/abs/path</initrd>           optional
 *       <cmdline>…</cmdline>                 optional
 *       <dtb>/abs/path</dtb>                 optional
 *       <boot dev='hd'/>                     zero or more, in order: hd|cdrom|network|fd, each once
 *       <bootmenu enable='yes' timeout='3000'/>  optional; timeout 1..65535 ms
 *     </os>
 *     <features>                             optional, kept even empty
 *       <acpi/> <apic/> <pae/>               each optional
 *       <hyperv mode='custom'>               optional; mode custom (written) | passthrough
 *         <relaxed state='on'/>              state on|off; each at most once, written in
 *                                            libvirt's order: relaxed vapic spinlocks vpindex
 *                                            runtime synic stimer reset vendor_id frequencies
 *                                            reenlightenment tlbflush ipi evmcs
 *         <spinlocks state='on' retries='8191'/>   retries >= 4095, required when on
 *         <vendor_id state='on' value='KVM Hv'/>   value 1..12 chars, required when on
 *       </hyperv>
 *     </features>
 *     <cpu mode='custom' match='exact' check='partial' migratable='on'>   optional
 *                                            mode custom (written) | host-model | host-passthrough
 *                                            | maximum; match exact|minimum|strict; check
 *                                            none|partial|full; migratable on|off, only with
 *                                            host-passthrough or maximum
 *       <model fallback='allow'>Skylake-Client</model>   optional; fallback allow|forbid
 *       <vendor>Intel</vendor>               optional; needs a model
 *       <topology sockets='1' dies='1' cores='2' threads='1'/>   optional; each 1..64, dies 1
 *                                            (written) when absent; the product must be <vcpu>
 *       <feature policy='require' name='vmx'/>   zero or more, each name once; policy force|
 *                                            require (written)|optional|disable|forbid
 *     </cpu>
 *     <clock offset='utc'>                   optional; offset utc (written) | localtime
 *       <timer name='rtc' tickpolicy='catchup' present='yes'/>   zero or more, each name once:
 *                                            rtc|pit|hpet|kvmclock|hypervclock|tsc; tickpolicy
 *                                            delay|catchup|merge|discard; present yes|no
 *     </clock>
 *     <on_poweroff>destroy</on_poweroff>     optional: destroy|restart|preserve|rename-restart
 *     <on_reboot>restart</on_reboot>         optional: the same
 *     <on_crash>destroy</on_crash>           optional: the same, coredump-destroy|coredump-restart
 *     <devices>                              each device refused on its own; in this order;
 *                                            <alias name='…'/> (live XML) accepted and dropped
 *                                            on every device; sound, filesystem, tpm, ...
 *                                            refused by name
 *       <emulator>/abs/path</emulator>       optional
 *       <disk type='file' device='disk'>     type file (default, written) | block | network;
 *                                            device disk (written) | cdrom | floppy
 *         <driver name='qemu' type='raw' cache='none' io='native' discard='unmap'
 *                 detect_zeroes='off'/>      optional; type raw (written) | qcow2; cache none|
 *                                            writeback|writethrough|directsync|unsafe; io
 *                                            threads|native (needs cache none or directsync)|
 *                                            io_uring; discard unmap|ignore; detect_zeroes
 *                                            off|on|unmap
 *         <source file='/abs/path'/>         block: dev='/abs'; network: protocol='nbd'
 *                                            name='export' holding <host name='h' port='N'/>
 *                                            or <host transport='unix' socket='/abs'/>; a
 *                                            cdrom or floppy may have none (no medium)
 *         <target dev='vda' bus='virtio'/>   vdX virtio, hdX ide (hda..hdd), sdX sata|scsi|
 *                                            usb, fdX fdc (fda, fdb); no bus: from the prefix
 *                                            (sd: scsi), written; each target once
 *         <readonly/> <shareable/>           optional; a cdrom is read-only (written)
 *         <serial>…</serial>                 optional
 *         <boot order='1'/>                  optional; each order once over disks and
 *                                            interfaces; not with <os><boot dev>
 *         <address type='pci|drive|usb' …/>  optional: chosen when absent (see below)
 *       </disk>
 *       <controller type='usb' index='0' model='qemu-xhci' ports='15'/>   pci (model
 *                                            pci-root|pcie-root, index 0) | ide | fdc (index 0:
 *                                            the chipset's) | sata | scsi (model virtio-scsi,
 *                                            written) | usb (piix3-uhci|qemu-xhci|nec-xhci|none,
 *                                            ports 1..15 for an xhci) | virtio-serial (ports
 *                                            1..511); index 0..31, default the next of its type
 *       <interface type='bridge'>            bridge | network | ethernet | user
 *         <mac address='52:54:00:12:34:56'/> unicast, lower-cased; chosen when absent
 *         <source bridge='br0'/>             network: network='NAME' (portid, bridge of live
 *                                            XML dropped); none for ethernet and user
 *         <target dev='vnet0'/>              optional; 1..15 chars, no '/', ':' or blanks
 *         <model type='virtio'/>             virtio|e1000|rtl8139 (default, written)
 *         <mtu size='1500'/>                 optional; 68..65535
 *         <boot order='2'/> <address type='pci' …/>   optional
 *       </interface>
 *       <serial type='file'>                 file|pty|unix|tcp|null
 *         <source path='/abs/path'/>         file; pty (live XML, also tty=''); unix:
 *                                            mode='bind|connect' path=; tcp: mode= host=
 *                                            service= and <protocol type='raw|telnet'/>
 *         <target type='isa-serial' port='0'><model name='isa-serial'/></target>
 *                                            written so; <target port='0'/> accepted; ports
 *                                            0..3, each once; none: the lowest free
 *       </serial>
 *       <console type='pty'>                 the types and sources of <serial>
 *         <target type='serial' port='0'/>   serial (default): serial port N itself, written
 *                                            with its source, added when missing | virtio
 *       </console>
 *       <channel type='unix'>                unix | pty
 *         <source mode='bind' path='/abs'/>  unix: optional (a path chosen at start)
 *         <target type='virtio' name='org.qemu.guest_agent.0'/>   each name once
 *         <address type='virtio-serial' …/>  optional: chosen when absent
 *       </channel>
 *       <input type='tablet' bus='usb'/>     mouse|tablet|keyboard on ps2 (default; one
 *                                            mouse, one keyboard) | usb (a tablet's default) |
 *                                            virtio
 *       <graphics type='vnc' port='-1' autoport='yes' listen='127.0.0.1' keymap='en-us'
 *                 passwd='…'>                vnc|spice, one of each; port -1 or 5900..65535
 *                                            (spice 1..)
 *         <listen type='address' address='127.0.0.1'/>   equal to listen=; written with it
 *       </graphics>
 *       <video><model type='vga' vram='16384' heads='1' primary='yes'/></video>
 *                                            cirrus|vga|qxl|virtio|none (alone); the primary
 *                                            goes first, written primary='yes'; a second
 *                                            video is qxl or virtio
 *       <hostdev mode='subsystem' type='pci' managed='yes'>   pci|usb; managed yes|no
 *                                            (written); kept for migration to refuse, never
 *                                            started by the QEMU driver
 *         <driver name='vfio'/>              pci, optional
 *         <source><address domain='0x0000' bus='0x01' slot='0x00' function='0x0'/></source>
 *                                            usb: <vendor id='0x046d'/><product id='0xc52b'/>
 *                                            or <address bus='1' device='3'/>
 *         <boot order='3'/> <address type='pci' …/>   optional; the address kept as given
 *       </hostdev>
 *       <watchdog model='i6300esb' action='reset'/>   at most one; ib700 (ISA); action
 *                                            reset (written)|shutdown|poweroff|pause|none|
 *                                            dump|inject-nmi
 *       <memballoon model='virtio'><stats period='10'/></memballoon>   at most one;
 *                                            virtio | none
 *       <rng model='virtio'><backend model='random'>/dev/urandom</backend></rng>
 *     </devices>
 *     <seclabel type='dynamic' model='selinux' relabel='yes'>   zero or more, one per model:
 *                                            kept, never enforced; type dynamic (written) |
 *                                            static (needs a label) | none; model selinux|
 *                                            apparmor|dac|none; relabel yes|no
 *       <label>…</label> <imagelabel>…</imagelabel> <baselabel>…</baselabel>   each optional;
 *                                            baselabel with dynamic only
 *     </seclabel>
 *   </domain>
 *
 * A document's problems are reported together: the first of each element
 * that is wrong, and every element or attribute not understood, in document
 * order ("web1.xml: 3 problems:" and one line each).
 */
#pragma once

#include <glib.h>
#include <libxml/tree.h>

G_BEGIN_DECLS

typedef enum {
    FERRY_DISK_FORMAT_RAW = 0,
    FERRY_DISK_FORMAT_QCOW2 = 1,
} ferry_disk_format;

typedef enum {
    FERRY_DISK_BUS_VIRTIO = 0,
    FERRY_DISK_BUS_IDE = 1,
    FERRY_DISK_BUS_SATA = 2,
    FERRY_DISK_BUS_SCSI = 3,
    FERRY_DISK_BUS_USB = 4,
    FERRY_DISK_BUS_FDC = 5,
} ferry_disk_bus;

/* <disk type=...>: where the data lives on the host. */
typedef enum {
    FERRY_DISK_TYPE_FILE = 0,      /* default when type is absent, as in libvirt */
    FERRY_DISK_TYPE_BLOCK = 1,     /* <source dev='/dev/...'/> */
    FERRY_DISK_TYPE_NETWORK = 2,   /* <source protocol='nbd' name=...><host .../></source> */
} ferry_disk_type;

/* <disk device=...>: what the guest sees. */
typedef enum {
    FERRY_DISK_DEVICE_DISK = 0,
    FERRY_DISK_DEVICE_CDROM = 1,
    FERRY_DISK_DEVICE_FLOPPY = 2,
} ferry_disk_device;

/*
 * <address>: where a device sits in the guest.  Part of the guest ABI: the
 * destination's QEMU must get exactly the same, so addresses are assigned
 * once (ferry_domain_def_assign_addresses()) and kept in the XML.
 */
typedef enum {
    FERRY_ADDRESS_NONE = 0,
    FERRY_ADDRESS_PCI = 1,     /* domain, bus, slot, function, multifunction */
    FERRY_ADDRESS_DRIVE = 2,   /* controller, bus, target, unit (ide, sata, scsi, fdc) */
    FERRY_ADDRESS_VIRTIO_SERIAL = 3, /* controller, bus, port (channels, virtio consoles) */
    FERRY_ADDRESS_USB = 4,     /* bus, port (port kept as text, e.g. "1" or "1.2") */
} ferry_address_type;

typedef struct {
    ferry_address_type type;
    guint domain, bus, slot, function;  /* PCI; bus also for drive/usb/virtio-serial */
    gboolean multifunction;
    guint controller, target, unit;     /* drive; controller also for virtio-serial */
    guint port;                         /* virtio-serial port */
    char *usb_port;                     /* USB: "1", "2", ... (nullable; ferry adds no hubs,
                                         * so "1.2" is refused when addresses are assigned) */
} ferry_device_address;

typedef struct {
    char *target;             /* "vda", "hdc", "sda", "fda" */
    ferry_disk_bus bus;
    ferry_disk_type type;
    ferry_disk_device device;
    /* file: the image; block: the device node; network: NULL.  NULL too for
     * a cdrom or floppy with no medium. */
    char *source;
    /* network (protocol 'nbd' only): a TCP host and port, or a unix socket */
    char *net_name;           /* the export name (nullable) */
    char *net_host;           /* nullable */
    guint net_port;           /* 0: the NBD default, 10809 */
    char *net_socket;         /* <host transport='unix' socket='...'/> (nullable) */
    ferry_disk_format format;
    char *cache;              /* none|writeback|writethrough|directsync|unsafe (nullable) */
    char *io;                 /* threads|native|io_uring (nullable) */
    char *discard;            /* unmap|ignore (nullable) */
    char *detect_zeroes;      /* off|on|unmap (nullable) */
    gboolean readonly;
    gboolean shareable;
    char *serial;             /* nullable */
    guint boot_order;         /* <boot order='N'/>; 0: none */
    ferry_device_address address;
} ferry_disk_def;

/* <controller type=... index=... model=...>.  Controllers the devices need
 * are added by ferry_domain_def_assign_addresses(), which also fills in the
 * models of pci (pci-root | pcie-root) and usb (piix3-uhci on pc, qemu-xhci
 * on q35).  ide and fdc are the chipset's (no device of their own), as is
 * sata index 0 on q35 (the ICH9's AHCI at 00:1f.2). */
typedef struct {
    char *type;               /* pci|ide|fdc|sata|scsi|usb|virtio-serial */
    guint index;
    char *model;              /* pci-root, pcie-root, virtio-scsi, piix3-uhci, qemu-xhci, nec-xhci,
                               * none (usb: no USB at all); NULL for ide, fdc, sata, virtio-serial */
    guint ports;              /* virtio-serial ports, or an xhci's USB 2 and USB 3 ports each
                               * (QEMU's p2 and p3, as libvirt); 0: QEMU's default */
    ferry_device_address address;
} ferry_controller_def;

typedef enum {
    FERRY_NET_TYPE_BRIDGE = 0,     /* <source bridge='br0'/> */
    FERRY_NET_TYPE_NETWORK = 1,    /* <source network='NAME'/>: a named bridge */
    FERRY_NET_TYPE_ETHERNET = 2,   /* a tap of its own, <target dev=.../> */
    FERRY_NET_TYPE_USER = 3,       /* QEMU's user-mode network */
} ferry_net_type;

/* <interface> */
typedef struct {
    ferry_net_type type;
    char *source;             /* bridge or network name; NULL for ethernet and user */
    char *mac;                /* "52:54:00:xx:xx:xx", lower case; assigned at define */
    char *model;              /* virtio|e1000|rtl8139 */
    char *target_dev;         /* the tap's name (nullable: chosen at start) */
    guint mtu;                /* 0: the bridge's */
    guint boot_order;
    ferry_device_address address;
} ferry_net_def;

/* The host side of a serial port, console or channel. */
typedef enum {
    FERRY_CHR_NULL = 0,
    FERRY_CHR_FILE = 1,       /* path */
    FERRY_CHR_PTY = 2,        /* path: the pty QEMU allocated (live XML only) */
    FERRY_CHR_UNIX = 3,       /* path, server */
    FERRY_CHR_TCP = 4,        /* host, service, server */
} ferry_chr_type;

typedef struct {
    ferry_chr_type type;
    char *path;               /* nullable; NULL for a unix channel: the driver chooses a
                               * path at start, and QEMU listens on it (server) */
    char *host;               /* nullable */
    char *service;            /* TCP port, as text (nullable) */
    gboolean server;          /* <source mode='bind'/> */
    char *protocol;           /* tcp: <protocol type='raw|telnet'/> (nullable: raw) */
} ferry_chr_source;

/* <serial>, <console> and <channel>.  A console of target type "serial" is
 * serial port target_port itself (QEMU has no device for it): its source is
 * a copy of that serial's, and ferry_domain_def_assign_addresses() adds the
 * serial when it is missing. */
typedef enum {
    FERRY_CHR_DEVICE_SERIAL = 0,
    FERRY_CHR_DEVICE_CONSOLE = 1,
    FERRY_CHR_DEVICE_CHANNEL = 2,
} ferry_chr_device;

typedef struct {
    ferry_chr_device device;
    ferry_chr_source source;
    /* serial: target type isa-serial; console: "serial" (the same port as
     * serial 0) or "virtio"; channel: "virtio" */
    char *target_type;        /* nullable: the default of the element */
    guint target_port;        /* serial/console port */
    char *target_name;        /* channel: e.g. "org.qemu.guest_agent.0" */
    ferry_device_address address;
} ferry_chr_def;

/* <graphics type='vnc|spice'> */
typedef struct {
    char *type;               /* vnc|spice */
    gboolean autoport;        /* the port is chosen at start */
    int port;                 /* -1: chosen at start; with autoport, the port a running
                               * domain was given (live XML), not to be reused */
    char *listen;             /* an address (nullable: 127.0.0.1) */
    char *passwd;             /* never written to logs or to the command line */
    char *keymap;             /* nullable */
} ferry_graphics_def;

/* <video><model type=... vram=... heads=... primary='yes'/></video> */
typedef struct {
    char *model;              /* cirrus|vga|qxl|virtio|none */
    guint vram;               /* KiB; 0: default */
    guint ram;                /* qxl: KiB of its RAM bar; 0: default */
    guint vgamem;             /* qxl: KiB of its VGA memory; 0: default */
    guint heads;              /* 0: default */
    gboolean primary;         /* the first video, and only it (none: no primary) */
    ferry_device_address address;
} ferry_video_def;

/* <input type='mouse|tablet|keyboard' bus='ps2|usb|virtio'/> */
typedef struct {
    char *type;
    char *bus;
    ferry_device_address address;
} ferry_input_def;

/*
 * <audio id='1' type='none'/>: a sound backend.  libvirt (7.2 and later)
 * writes one into every QEMU domain; with no sound device (ferry has
 * none) nothing in the guest uses it, so it is kept, not given to QEMU.
 */
typedef struct {
    guint id;                 /* 1, 2, ... */
    char *type;               /* none|spice|pulseaudio|alsa|sdl|oss|pipewire|dbus|file */
} ferry_audio_def;

/* <memballoon model='virtio|none'> */
typedef struct {
    char *model;
    guint stats_period;       /* <stats period='N'/>; 0: none */
    ferry_device_address address;
} ferry_memballoon_def;

/* <rng model='virtio'><backend model='random'>/dev/urandom</backend></rng> */
typedef struct {
    char *model;
    char *backend;            /* the random source file */
    ferry_device_address address;
} ferry_rng_def;

/* <watchdog model='i6300esb|ib700' action='reset|...'/> */
typedef struct {
    char *model;
    char *action;             /* nullable: reset */
    ferry_device_address address;
} ferry_watchdog_def;

/*
 * <hostdev mode='subsystem' type='pci|usb' managed='yes|no'>: a device of
 * the host given to the guest.  Kept so that a definition can carry it and
 * a migration can refuse it (the device stays behind on the source host);
 * ferry's QEMU driver never starts a domain that has one.
 */
typedef struct {
    char *type;               /* "pci" or "usb" */
    gboolean managed;         /* managed='yes': detached from its host driver at start */
    /* pci: the host's address of the device */
    guint pci_domain, pci_bus, pci_slot, pci_function;
    char *driver;             /* pci: <driver name='vfio'/> (nullable) */
    /* usb: by vendor and product, by where it is plugged in, or both (a
     * running domain's XML adds the address libvirt found) */
    gboolean usb_has_id;
    guint usb_vendor, usb_product;
    gboolean usb_has_address;
    guint usb_bus, usb_device;
    guint boot_order;         /* 0: none */
    ferry_device_address address;   /* in the guest: kept as given, never chosen */
} ferry_hostdev_def;

/* <cpu><feature policy='require' name='x'/></cpu>, <hyperv><relaxed state='on'/></hyperv> */
typedef struct {
    char *name;
    char *value;              /* the policy (cpu), the state (hyperv) */
    char *extra;              /* hyperv: spinlocks retries, vendor_id value (nullable) */
} ferry_named_value;

/* <clock><timer name='rtc' tickpolicy='catchup' present='yes'/></clock> */
typedef struct {
    char *name;
    char *tickpolicy;         /* nullable */
    char *present;            /* yes|no (nullable) */
} ferry_timer_def;

/* <seclabel>: accepted and kept, never enforced (reported at define). */
typedef struct {
    char *type;               /* dynamic|static|none */
    char *model;              /* nullable */
    char *relabel;            /* nullable */
    char *label;              /* nullable */
    char *imagelabel;         /* nullable */
    char *baselabel;          /* nullable: dynamic only */
} ferry_seclabel_def;

typedef struct {
    char *type;               /* "qemu", "kvm" or "test" */
    char *name;
    char *uuid;               /* lower-case textual form */
    char *title;              /* nullable */
    char *description;        /* nullable */
    char *metadata;           /* nullable: the children of <metadata>, verbatim XML */
    guint64 memory_kib;
    guint64 current_memory_kib; /* 0: same as memory_kib */
    guint vcpus;
    guint vcpus_current;      /* 0: same as vcpus */
    char *vcpu_placement;     /* static|auto (nullable) */
    char *vcpu_cpuset;        /* e.g. "0-1" (nullable) */

    /* <cpu> */
    char *cpu_mode;           /* custom|host-model|host-passthrough|maximum (nullable: no <cpu>) */
    char *cpu_match;          /* nullable */
    char *cpu_check;          /* nullable */
    char *cpu_migratable;     /* on|off (nullable); host-passthrough and maximum only */
    char *cpu_model;          /* nullable */
    char *cpu_model_fallback; /* nullable */
    char *cpu_vendor;         /* nullable */
    guint cpu_sockets, cpu_dies, cpu_cores, cpu_threads;  /* 0: no <topology> */
    GPtrArray *cpu_features;  /* ferry_named_value*; never NULL */

    /* <os> */
    char *os_type;            /* "hvm" */
    char *arch;               /* "x86_64" */
    char *machine;            /* "pc" */
    char *kernel;             /* nullable */
    char *initrd;             /* nullable */
    char *cmdline;            /* nullable */
    char *dtb;                /* nullable */
    char *loader;             /* nullable: UEFI code, e.g. /usr/share/OVMF/OVMF_CODE_4M.fd */
    gboolean loader_readonly;
    char *loader_type;        /* pflash|rom (nullable) */
    gboolean loader_secure;
    char *nvram;              /* nullable: the per-domain variable store */
    char *nvram_template;     /* nullable */
    GStrv boot_devs;          /* <boot dev='hd'/>..., in order; nullable */
    int bootmenu;             /* -1 absent, 0 no, 1 yes */
    guint bootmenu_timeout;   /* ms; 0: none */

    /* <features> */
    gboolean feature_acpi;
    gboolean feature_apic;
    gboolean feature_pae;
    gboolean has_features;    /* <features> was present (even empty) */
    GPtrArray *hyperv;        /* ferry_named_value*; never NULL */
    char *hyperv_mode;        /* custom|passthrough (nullable) */

    /* <clock> */
    char *clock_offset;       /* utc|localtime (nullable: no <clock>) */
    GPtrArray *timers;        /* ferry_timer_def*; never NULL */

    char *on_poweroff;        /* destroy|restart|preserve|rename-restart (nullable) */
    char *on_reboot;
    char *on_crash;           /* also coredump-destroy|coredump-restart */

    char *emulator;           /* nullable: the daemon's configured QEMU */

    GPtrArray *disks;         /* ferry_disk_def*, in document order; never NULL */
    GPtrArray *controllers;   /* ferry_controller_def*; never NULL */
    GPtrArray *nets;          /* ferry_net_def*; never NULL */
    GPtrArray *chardevs;      /* ferry_chr_def*: serials, consoles, channels; never NULL */
    GPtrArray *graphics;      /* ferry_graphics_def*; never NULL */
    GPtrArray *audios;        /* ferry_audio_def*; never NULL */
    GPtrArray *videos;        /* ferry_video_def*; never NULL */
    GPtrArray *inputs;        /* ferry_input_def*; never NULL */
    ferry_memballoon_def *memballoon; /* nullable */
    GPtrArray *rngs;          /* ferry_rng_def*; never NULL */
    GPtrArray *hostdevs;      /* ferry_hostdev_def*; never NULL */
    ferry_watchdog_def *watchdog;     /* nullable */
    GPtrArray *seclabels;     /* ferry_seclabel_def*; never NULL */

    /*
     * The serial port's log file: the path of the first <serial type='file'>
     * at port 0, which ferry's own guests write to.  Derived from chardevs
     * by the parser and by ferry_domain_def_assign_addresses(); kept as a
     * field because the QEMU driver and the tests read it everywhere.  Code
     * that builds a definition may set it alone, without any serial in
     * chardevs: the formatter then writes a file serial at port 0, and
     * ferry_domain_def_assign_addresses() adds that serial to chardevs.
     */
    char *serial_log;         /* nullable */
} ferry_domain_def;

/**
 * ferry_hostdev_describe:
 * @h: a host device
 *
 * Names @h by what it is on the host, for messages: "pci host device
 * 0000:01:00.0", "usb host device 046d:c52b", "usb host device at bus 1
 * device 3".
 *
 * Returns: (transfer full): the text
 */
char *ferry_hostdev_describe(const ferry_hostdev_def *h);

/** Flags of ferry_domain_def_parse_*(). */
typedef enum {
    /* Do not generate a uuid when the XML has none (keep def->uuid NULL). */
    FERRY_DOMAIN_DEF_PARSE_NO_UUID = 1 << 0,
} ferry_domain_def_parse_flags;

/**
 * ferry_domain_def_parse_string:
 * @xml: the document
 * @source_name: (nullable): how to name the document in errors, e.g. a file
 *   name; NULL means "domain XML"
 * @flags: ferry_domain_def_parse_flags
 * @error: return location for an error (FERRY_ERROR_XML)
 *
 * Parses and validates a definition.  Every error names the element or
 * attribute and its line, e.g.
 *   "web1.xml:7: element 'memory': '12x' is not a valid size"
 *
 * Returns: (transfer full): the definition, or NULL on error.
 */
ferry_domain_def *ferry_domain_def_parse_string(const char *xml,
                                                const char *source_name,
                                                guint flags, GError **error);

/**
 * ferry_domain_def_parse_node:
 * @doc: the document holding @root
 * @root: a <domain> element, e.g. embedded in a migration cookie
 * @source_name: (nullable): as for ferry_domain_def_parse_string()
 * @flags: ferry_domain_def_parse_flags
 * @error: return location for an error
 *
 * Returns: (transfer full): the definition, or NULL on error.
 */
ferry_domain_def *ferry_domain_def_parse_node(xmlDocPtr doc, xmlNodePtr root,
                                              const char *source_name,
                                              guint flags, GError **error);

/**
 * ferry_domain_def_format:
 * @def: a definition
 *
 * Formats in the canonical form: two-space indentation, memory in KiB,
 * elements in the order of the subset above, no XML declaration, ending
 * with a newline.  Parsing the output gives back an equal definition.
 *
 * Returns: (transfer full): the XML text.
 */
char *ferry_domain_def_format(const ferry_domain_def *def);

/**
 * FERRY_DOMAIN_XML_MAX_FORMATTED:
 *
 * The largest definition a daemon keeps, in bytes once formatted.  What a
 * daemon accepts it must be able to read back and send on: the definition
 * file is read under FERRY_XML_MAX_SIZE; the status file holds the live
 * definition JSON-escaped (up to twice as long); one frame may carry it
 * twice (Begin's XML and a --persistent cookie) under the default
 * max_frame_size of 4 MiB.  A quarter of those 4 MiB keeps all three.
 */
#define FERRY_DOMAIN_XML_MAX_FORMATTED (1024 * 1024)

/**
 * ferry_domain_def_format_checked:
 * @def: a definition
 * @error: return location for an error (FERRY_ERROR_XML)
 *
 * As ferry_domain_def_format(), refusing a definition longer than
 * FERRY_DOMAIN_XML_MAX_FORMATTED once formatted.  Escaping makes a
 * definition grow ('>' becomes "&gt;"), so the size accepted on input says
 * nothing about this one; the error names the domain, the size and the
 * limit.
 *
 * Returns: (transfer full): the XML text, or NULL on error.
 */
char *ferry_domain_def_format_checked(const ferry_domain_def *def, GError **error);

/**
 * ferry_domain_def_new:
 *
 * For code that assembles a definition from something other than XML: the
 * caller fills every field the XML would require, then formats and parses
 * it again to have it checked.
 *
 * Returns: (transfer full): an empty definition whose disks array exists
 *   and frees its ferry_disk_def elements.
 */
ferry_domain_def *ferry_domain_def_new(void);

/**
 * ferry_domain_def_copy:
 * @def: a definition
 *
 * Returns: (transfer full): a deep copy.
 */
ferry_domain_def *ferry_domain_def_copy(const ferry_domain_def *def);

/**
 * ferry_domain_def_free:
 * @def: (nullable): a definition
 */
void ferry_domain_def_free(ferry_domain_def *def);

/**
 * ferry_domain_def_find_disk:
 * @def: a definition
 * @target: a target name such as "vda"
 *
 * Returns: (transfer none) (nullable): the disk with that target.
 */
ferry_disk_def *ferry_domain_def_find_disk(const ferry_domain_def *def,
                                           const char *target);

/**
 * ferry_domain_name_is_valid:
 * @name: a candidate domain name
 * @error: return location for an error naming what is wrong
 *
 * Domain names become file names, so they are restricted (see above).
 *
 * Returns: TRUE if @name is acceptable.
 */
gboolean ferry_domain_name_is_valid(const char *name, GError **error);

/**
 * ferry_disk_format_to_string / ferry_disk_format_from_string:
 * "raw" and "qcow2".  from_string returns -1 for an unknown name.
 */
const char *ferry_disk_format_to_string(ferry_disk_format format);
int ferry_disk_format_from_string(const char *name);

/**
 * ferry_domain_def_assign_addresses:
 * @def: a parsed definition
 * @error: return location for an error (FERRY_ERROR_XML naming the device)
 *
 * Completes the guest ABI the way libvirt's post-parse does, so that it is
 * written into the XML at define and every later QEMU of this domain, on
 * any host, gets the same layout: adds the controllers the devices need
 * (a virtio-scsi controller for scsi disks, a virtio-serial one for
 * channels, ...), gives every PCI device a slot on bus 0 and every drive a
 * controller/bus/unit, every interface a MAC (52:54:00:xx:xx:xx), the
 * console of a serial port its target.  Addresses already present are
 * kept; two devices on one address are refused naming both.  Called by the
 * parser, so every definition read is complete; calling it again changes
 * nothing.  The layout, deterministic:
 *  - machine pc (pc, pc-i440fx-*): 00.0 host bridge, 01.x the PIIX3 (the
 *    ide controller is 01.1, a piix3-uhci usb controller index 0 is 01.2),
 *    the primary video 02.0; q35 (q35, pc-q35-*): 00.0 host bridge, the
 *    primary video 01.0, 1f.x the ICH9 (sata controller 0 is 1f.2).  Every
 *    other PCI device without an address takes the next free slot of bus 0
 *    from 03 (pc) or 02 (q35) -- from 02 or 01 when there is no video, as
 *    QEMU itself places devices, so that a guest an older ferry started
 *    keeps its slots -- in this order: controllers, interfaces,
 *    virtio disks, other videos, virtio inputs, an i6300esb watchdog, the
 *    memballoon, rngs.  No PCI bridge is ever added: 32 slots in all.
 *  - drives as libvirt: ide hdX controller 0 bus X/2 unit X%2 (q35: bus X,
 *    unit 0, an AHCI port), sata sdX controller X/6 unit X%6, scsi sdX
 *    controller X/7 unit X%7, fdX unit X; usb disks and inputs a port of
 *    usb controller 0; channels virtio-serial port 1 up, a virtio console
 *    port 0.  Missing scsi (virtio-scsi), sata, usb and virtio-serial
 *    controllers are added (never pci-root or ide).
 *  - a MAC 52:54:00 + 3 bytes of SHA-256 of the uuid (else the name) and
 *    the interface's index; a primary video (the first, marked primary).
 * On failure @def is left partly completed: discard it.
 *
 * Returns: FALSE on error.
 */
gboolean ferry_domain_def_assign_addresses(ferry_domain_def *def, GError **error);

/**
 * ferry_domain_def_check_abi_stability:
 * @src: the definition the guest runs with
 * @dst: a definition offered for the same guest elsewhere (a migration's
 *   destination XML)
 * @error: return location for an error (FERRY_ERROR_XML)
 *
 * What the guest can see must not change: machine, arch, memory, vCPUs,
 * CPU model and topology, features, and every device's kind, model, bus,
 * address and MAC, in the same order.  Host-side values may change:
 * image paths, bridge and network names, tap names, chardev paths, listen
 * addresses, passwords, cache modes.  The error names the device and
 * both values, e.g. "interface 0 (52:54:00:12:34:56): model 'e1000' on
 * the destination, 'virtio' on the source".
 *
 * Returns: TRUE if @dst keeps @src's guest ABI.
 */
gboolean ferry_domain_def_check_abi_stability(const ferry_domain_def *src,
                                              const ferry_domain_def *dst,
                                              GError **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(ferry_domain_def, ferry_domain_def_free)

G_END_DECLS
