/*
 * test-driver.h: the in-process simulated host, for fast protocol tests and
 * for programs that want to try the API without QEMU.
 */
#pragma once

#include "driver/driver.h"

G_BEGIN_DECLS

/**
 * ferry_test_driver: serves `test:///NAME` URIs (no transport).  Every host
 * it creates is registered in this process by its host uuid: opening
 * `test:///NAME?host_uuid=U` again reaches the same host while a connection
 * to it is open (how an in-process peer-to-peer migration finds its
 * destination).  The parameters migration=, fail=, hold= and nbd= shape its
 * migration support for tests (see test-driver.c).
 */
extern const ferry_driver ferry_test_driver;

/**
 * ferry_test_storage_record:
 *
 * What the v3 migration phases of one test host last received, for tests
 * of the storage migration parameters through the API and the wire.  The
 * test driver copies nothing: with nbd=yes it checks the disks asked for
 * against the domain and records them.
 */
typedef struct {
    guint flags;            /* params->flags of the last v3 phase on the host */
    char **migrate_disks;   /* a copy of its params->migrate_disks (NULL when NULL) */
    guint disks_port;       /* its params->disks_port */
    char **disks;           /* the last storage migration's disks: those Begin chose to
                             * copy (source) or Prepare was told to receive
                             * (destination); NULL when it copied none */
    guint nbd_port;         /* destination: the NBD port Prepare announced, else 0 */
} ferry_test_storage_record;

/**
 * ferry_test_storage_record_free:
 * @record: (nullable): a record
 */
void ferry_test_storage_record_free(ferry_test_storage_record *record);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(ferry_test_storage_record, ferry_test_storage_record_free)

/**
 * ferry_test_driver_storage_record:
 * @host_uuid: the uuid of a test host of this process (lower case)
 *
 * Returns: (transfer full) (nullable): a copy of the host's record, or NULL
 *   if no such host exists or no v3 migration phase ran on it.
 */
ferry_test_storage_record *ferry_test_driver_storage_record(const char *host_uuid);

/**
 * ferry_test_driver_release:
 * @host_uuid: the uuid of a test host of this process opened with hold=
 *
 * Lets what the host holds go on: a held transfer (hold=perform) is
 * delivered, the held end of incoming data (hold=finish) arrives.
 *
 * Returns: how many held things were released.
 */
guint ferry_test_driver_release(const char *host_uuid);

/**
 * ferry_test_driver_held:
 * @host_uuid: the test host's uuid
 *
 * Counts the transfers held by "hold=perform" that have started on that
 * host: a test waits for one before it acts "during the transfer".
 *
 * Returns: how many are held now
 */
guint ferry_test_driver_held(const char *host_uuid);

G_END_DECLS
