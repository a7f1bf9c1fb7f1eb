/*
 * qemu-driver.h: the QEMU driver as ferryd sees it.
 *
 * The driver keeps one process-wide state (like libvirt's QEMU driver): the
 * daemon initialises it once from its configuration, then every connection
 * to `qemu:///system` opened inside the daemon shares it.  Only ferryd links
 * this driver; clients reach it through the remote driver.
 */
#pragma once

#include "driver/driver.h"

G_BEGIN_DECLS

typedef struct {
    char *state_dir;     /* definitions, status files, monitor sockets, logs */
    char *qemu_binary;   /* qemu-system-x86_64 */
    char *host_uuid;     /* this host's uuid (refuses same-host migration) */
    char *hostname;      /* reported in capabilities and errors */
    char *migration_address; /* the IP address incoming migrations listen on; NULL: the
                              * one the hostname resolves to (never a wildcard) */
    guint migration_port_min; /* incoming migration port range */
    guint migration_port_max;
    char *hook_path;     /* run at migration phases; NULL: none */
    char **storage_dirs; /* where Prepare may create images, and where every disk and
                          * backing file a peer or an untrusted client names must lie;
                          * NULL: STATE/images */
    char **file_dirs;    /* where the other files they name (kernels, initrds, serial
                          * logs) must lie; NULL: STATE/files (docs/security.md) */
    char **shared_storage_dirs; /* directories the other hosts see too: a disk in them
                                 * may migrate without a copy; NULL: none */
    guint max_protocol;  /* the newest migration protocol offered: 3 (0: 3) or 2 */
    guint abandon_seconds; /* a migration idle this long between phases is given up */
    gboolean migration_relay; /* offer to relay incoming streams (src/relay) */
    char *peer_uri;      /* how another host's ferryd reaches this one (its TCP
                          * listener), for resolving migrations; NULL: none */
    char *inject_failure; /* for tests: migration phase that fails on purpose, or NULL */
    char *lock_manager;   /* leases: "none" (or NULL) or "fcntl" (docs/leases.md) */
    char *lockspace_dir;  /* the lease files' directory, for "fcntl" */
    char *pki_dir;        /* certificates for encrypted migrations (qemu-tls.c) */
    guint max_domains;    /* new domains refused beyond this many; 0: no limit */
    char *user;           /* QEMU runs as this user ("name" or "+UID"); NULL: root */
    char *group;          /* ...with this only group; NULL: the user's primary group */
} ferry_qemu_config;

/** ferry_qemu_driver: serves `qemu:///system` inside ferryd. */
extern const ferry_driver ferry_qemu_driver;

/**
 * ferry_qemu_driver_initialize:
 * @config: the configuration (copied)
 * @error: return location for an error
 *
 * Creates the state directories, loads persistent definitions, and
 * re-attaches to the QEMU processes that a previous ferryd left running
 * (their status files say which).  A status file whose QEMU is gone marks
 * the domain shut off (crashed).
 *
 * Returns: TRUE on success.
 */
gboolean ferry_qemu_driver_initialize(const ferry_qemu_config *config, GError **error);

/**
 * ferry_qemu_driver_stop_migrations:
 *
 * The first half of a shutdown, while connections may still be open: stops
 * the migration engine (an incoming migration that has not committed is
 * dropped; calls waiting on a job fail), after which every migration call
 * answers at once.  Idempotent.
 */
void ferry_qemu_driver_stop_migrations(void);

/**
 * ferry_qemu_driver_shutdown:
 *
 * Disconnects from every QEMU monitor and frees the driver's state, leaving
 * the QEMU processes running for the next ferryd to re-attach.  Every
 * connection to the driver must be closed first.
 */
void ferry_qemu_driver_shutdown(void);

G_END_DECLS
