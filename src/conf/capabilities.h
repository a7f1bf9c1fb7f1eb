/*
 * capabilities.h: the host capabilities document.
 *
 * Owns: the in-memory form of what a host offers (its identity, its migration
 * features, the guests it can run) and its XML formatter and parser.
 * Must not: probe the host itself; drivers fill the structure in.
 *
 * Document (libvirt-compatible subset):
 *
 *   <capabilities>
 *     <host>
 *       <uuid>…</uuid>
 *       <hostname>…</hostname>
 *       <cpu><arch>x86_64</arch></cpu>
 *       <migration_features>                 when any of the four below
 *         <live/>                            live migration is possible
 *         <uri_transports>                   migration URI schemes accepted
 *           <uri_transport>tcp</uri_transport> …
 *         </uri_transports>
 *         <protocols>                        ferry's: migration protocol versions,
 *           <protocol>v3</protocol> …        preferred first
 *         </protocols>
 *         <nbd/>                             ferry's: disks can travel by NBD
 *       </migration_features>
 *     </host>
 *     <guest>                                one per (os_type, arch)
 *       <os_type>hvm</os_type>
 *       <arch name='x86_64'>
 *         <wordsize>64</wordsize>
 *         <emulator>/usr/bin/qemu-system-x86_64</emulator>
 *         <machine>pc</machine>               one per machine
 *         <domain type='qemu'/>               one per domain type
 *       </arch>
 *     </guest>
 *   </capabilities>
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct {
    char *os_type;            /* "hvm" */
    char *arch;               /* "x86_64" */
    guint wordsize;           /* 64 */
    char *emulator;           /* nullable */
    GPtrArray *machines;      /* char*; never NULL */
    GPtrArray *domain_types;  /* char*; never NULL */
} ferry_caps_guest;

typedef struct {
    char *host_uuid;          /* nullable */
    char *hostname;           /* nullable */
    char *arch;               /* nullable */
    GPtrArray *guests;        /* ferry_caps_guest*; never NULL */

    /* <migration_features> */
    gboolean migration_live;        /* <live/> */
    GPtrArray *uri_transports;      /* char*: "tcp", ...; never NULL */
    GPtrArray *migration_protocols; /* char*: "v3", "v2", ...; never NULL */
    gboolean migration_nbd;         /* <nbd/> */
    gboolean migration_tunnelled;   /* <tunnelled/>: tunnelled migration (since 0.6) */
} ferry_caps;

/**
 * ferry_caps_new:
 *
 * Returns: (transfer full): an empty capabilities object (empty lists,
 *   no migration features).
 */
ferry_caps *ferry_caps_new(void);

/**
 * ferry_caps_free:
 * @caps: (nullable): a capabilities object
 */
void ferry_caps_free(ferry_caps *caps);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(ferry_caps, ferry_caps_free)

/**
 * ferry_caps_add_guest:
 * @caps: a capabilities object
 * @os_type: e.g. "hvm"
 * @arch: e.g. "x86_64"
 *
 * Returns: (transfer none): the new guest entry, owned by @caps, with empty
 *   machine and domain type lists for the caller to fill.
 */
ferry_caps_guest *ferry_caps_add_guest(ferry_caps *caps, const char *os_type,
                                       const char *arch);

/**
 * ferry_caps_format:
 * @caps: a capabilities object
 *
 * Returns: (transfer full): the document, two-space indented, ending with a
 *   newline.
 */
char *ferry_caps_format(const ferry_caps *caps);

/**
 * ferry_caps_parse:
 * @xml: a capabilities document
 * @error: return location for an error (FERRY_ERROR_XML naming the element
 *   and line)
 *
 * Returns: (transfer full): the parsed capabilities, or NULL on error.
 */
ferry_caps *ferry_caps_parse(const char *xml, GError **error);

G_END_DECLS
