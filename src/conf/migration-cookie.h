/*
 * migration-cookie.h: the cookies migration phases pass each other.
 *
 * Owns: the cookie document -- an XML document of named, optional sections
 * -- its parser, formatter and rules.  Must not: act on a cookie (the
 * drivers do), or trust one: everything is checked and every error names
 * the section, the element and what is wrong (FERRY_ERROR_COOKIE).
 *
 *   <ferry-migration>
 *     <id>MIGRATION-UUID</id>                          required
 *     <host uuid='HOST-UUID' name='HOSTNAME'/>         required: the sender
 *     <domain name='NAME' uuid='UUID'/>                optional
 *     <features>                                       optional: what the sender supports
 *       <feature name='nbd'/> …
 *     </features>
 *     <peer uri='qemu+tcp://10.0.0.2/system'/>         optional: how the sender's daemon
 *                                                      is reached by the other's
 *     <statistics>                                     optional (Perform -> Finish/caller)
 *       <total-ms>N</total-ms> <downtime-ms>N</downtime-ms> <setup-ms>N</setup-ms>
 *       <data-total>BYTES</data-total> <data-transferred>BYTES</data-transferred>
 *       <disk-total>BYTES</disk-total> <disk-transferred>BYTES</disk-transferred>
 *       <passes>N</passes> <stopped-us>T</stopped-us> <resumed-us>T</resumed-us>
 *       <guest-downtime-ms>N</guest-downtime-ms> <time-setup-ms>N</time-setup-ms>
 *       <time-disk-ms>N</time-disk-ms> <time-memory-ms>N</time-memory-ms>
 *       <time-switchover-ms>N</time-switchover-ms> <time-overhead-ms>N</time-overhead-ms>
 *     </statistics>
 *     <definition token='HEX32'/>                      optional (v1 Prepare -> Perform)
 *     <nbd port='N'>                                   optional (storage migration)
 *       <disk target='vda' format='qcow2' capacity='BYTES' [backing='/abs/path']/> …
 *     </nbd>
 *     <snapshots count='N' token='HEX32'/>             optional (Begin): the domain's N
 *                                                      snapshots wait on the source's
 *                                                      daemon under that token
 *     <snapshots received='N'/>                        optional (Prepare, Finish): the
 *                                                      destination redefined N of them
 *     <snapshots left='N'>note</snapshots>             optional (the source's statistics):
 *                                                      N stayed on the source, and where
 *     <persistent>                                     optional: the source's persistent
 *       <domain …>…</domain>                           definition (PERSIST_DEST)
 *     </persistent>
 *     <result ok='yes|no' [aborted='yes']>message</result>
 *                                                      optional (Finish -> Confirm; the
 *                                                      caller -> Finish when cancelled)
 *   </ferry-migration>
 *
 * Any section may carry mandatory='yes': a receiver that does not know a
 * section so marked refuses the cookie ("migration cookie: section 'x' is
 * mandatory but not understood by this host"); unknown sections without it
 * are ignored, so newer senders can add optional data.
 */
#pragma once

#include <glib.h>

#include "conf/domain-conf.h"

G_BEGIN_DECLS

/* The most snapshots a <snapshots> section may count (the snapshot
 * stream's own limit, conf/snapshot-stream.h). */
#define FERRY_COOKIE_MAX_SNAPSHOTS 1024
/* The longest note of <snapshots left='N'>, in bytes. */
#define FERRY_COOKIE_MAX_SNAPSHOTS_NOTE 4096

/* The most disks a cookie's <nbd> section may list: a bound on what a peer
 * can make a host create and export. */
#define FERRY_COOKIE_MAX_DISKS 64

typedef struct {
    char *target;             /* "vda" */
    char *format;             /* "raw" or "qcow2" */
    guint64 capacity;         /* virtual size, bytes, > 0 */
    char *backing;            /* nullable: backing file shared by both hosts
                               * (incremental copy), an absolute path */
} ferry_cookie_disk;

typedef struct {
    char *id;                 /* the migration id (a uuid) */
    char *host_uuid;          /* the sender's host uuid */
    char *hostname;           /* the sender's host name (nullable) */

    char *dom_name;           /* <domain>: nullable */
    char *dom_uuid;

    GPtrArray *features;      /* char*: <features>; NULL when absent */

    gboolean has_stats;       /* <statistics> */
    gint64 total_ms, downtime_ms, setup_ms;
    guint64 data_total, data_transferred, disk_total, disk_transferred;
    guint64 passes;           /* pre-copy passes */
    gint64 stopped_real_us;   /* source: the CPUs stopped (real time, microseconds) */
    gint64 resumed_real_us;   /* destination: the CPUs ran again (real time) */
    gint64 guest_downtime_ms; /* the two above, as the guest saw them */
    gint64 time_setup_ms, time_disk_ms, time_memory_ms, time_switchover_ms,
           time_overhead_ms;  /* the whole migration, split */
    guint64 attempts;         /* peer-to-peer: how many times the source's daemon
                               * started it (0: not said) */
    guint64 reconnects;       /* its streams' relays connected again this often */

    char *peer_uri;           /* <peer uri='...'/>: how the sender's daemon is reached
                               * by the other host's daemon; nullable */

    gboolean has_lease;       /* <lease>: the domain's lease on the sender (Begin) */
    gboolean lease_held;      /* the sender holds it */
    char *lease_lockspace;    /* the sender's lockspace id (a uuid); nullable: none */
    char *lease_holder;       /* the host that holds it; nullable */

    char *definition_token;   /* <definition token='...'/>: protocol v1, whose Prepare
                               * has no domain XML: the source sends the definition
                               * first on the migration connection, with this token
                               * (qemu-migration.c); nullable */
    char *relay_token;        /* <relay token='...'/>: the destination relays the
                               * migration's streams (src/relay); nullable: QEMU
                               * listens itself */

    gboolean has_nbd;         /* <nbd> */
    guint nbd_port;           /* 0 when the sender only lists disks (Begin) */
    GPtrArray *disks;         /* ferry_cookie_disk*; never NULL */

    ferry_domain_def *persistent; /* <persistent>: nullable */

    /* <snapshots> (since 0.6): the domain's snapshot metadata follows the
     * migration (docs/snapshots.md).  Each field is there when not 0/NULL. */
    guint snapshots_count;    /* count='N': the source offers N (Begin) */
    char *snapshots_token;    /* token='…': what the destination presents to get them
                               * (32 lower-case hex digits; with count) */
    gboolean has_snapshots_received;
    guint snapshots_received; /* received='N': the destination redefined N */
    guint snapshots_left;     /* left='N': N stayed on the source (FORCE) */
    char *snapshots_note;     /* the text: which stayed on which host, and why */

    gboolean has_result;      /* <result> */
    gboolean result_ok;
    gboolean result_aborted;  /* ok='no' because the migration was aborted */
    char *result_message;     /* nullable */
} ferry_migration_cookie;

/**
 * ferry_migration_cookie_new:
 * @id: (nullable): the migration id; NULL generates a new one
 * @host_uuid: the sender's host uuid
 * @hostname: (nullable): the sender's host name
 *
 * Returns: (transfer full): a cookie with only the required sections.
 */
ferry_migration_cookie *ferry_migration_cookie_new(const char *id, const char *host_uuid,
                                                   const char *hostname);

/**
 * ferry_migration_cookie_free:
 * @cookie: (nullable): a cookie
 */
void ferry_migration_cookie_free(ferry_migration_cookie *cookie);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(ferry_migration_cookie, ferry_migration_cookie_free)

/**
 * ferry_migration_cookie_has_feature:
 * @cookie: (nullable): a cookie
 * @name: a feature's name ("relay", "postcopy", ...)
 *
 * Returns: TRUE if @cookie's <features> list @name.
 */
gboolean ferry_migration_cookie_has_feature(const ferry_migration_cookie *cookie,
                                            const char *name);

/**
 * ferry_migration_cookie_add_feature:
 * @cookie: a cookie
 * @name: a feature's name, added to <features> (created if absent)
 */
void ferry_migration_cookie_add_feature(ferry_migration_cookie *cookie, const char *name);

/**
 * ferry_migration_cookie_add_disk:
 * @cookie: a cookie (sets has_nbd)
 * @target, @format, @capacity: the disk
 */
void ferry_migration_cookie_add_disk(ferry_migration_cookie *cookie, const char *target,
                                     const char *format, guint64 capacity);

/**
 * ferry_migration_cookie_format:
 * @cookie: a cookie
 *
 * Returns: (transfer full): the document (no XML declaration).
 */
char *ferry_migration_cookie_format(const ferry_migration_cookie *cookie);

/**
 * ferry_migration_cookie_parse:
 * @xml: (nullable): a cookie document; NULL or "" is an error
 * @phase: the phase receiving it, for errors, e.g. "Prepare"
 * @error: return location for an error (FERRY_ERROR_COOKIE), e.g.
 *   "Prepare: migration cookie line 4: <statistics>: element 'total-ms':
 *    'abc' is not a number"
 *
 * Checks: well-formed, root element, id and host uuid are uuids, numbers
 * are numbers, disk capacities > 0, at most FERRY_COOKIE_MAX_DISKS disks,
 * backing paths absolute and at most FERRY_CONFINE_PATH_MAX bytes, a
 * <domain> inside <persistent> parses (ferry_domain_def_parse_node),
 * unknown mandatory sections refused, size limit 1 MiB.  Whether a path is
 * one this host allows is the driver's to say (src/qemu/qemu-confine.h).
 *
 * Returns: (transfer full): the cookie, or NULL on error.
 */
ferry_migration_cookie *ferry_migration_cookie_parse(const char *xml, const char *phase,
                                                     GError **error);

G_END_DECLS
