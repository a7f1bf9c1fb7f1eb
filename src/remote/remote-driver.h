/*
 * remote-driver.h: the driver that forwards every call to a ferryd over the
 * wire protocol (UNIX socket or TCP).
 *
 * URIs it serves (the others belong to in-process drivers):
 *   qemu:///system                     the local ferryd at FERRY_DEFAULT_SOCKET,
 *                                      or at $FERRY_SOCKET when that is set
 *   DRIVER+unix:///PATH?socket=SOCK    ferryd at the UNIX socket SOCK
 *                                      (default as above)
 *   DRIVER+tls://HOST[:PORT]/PATH      ferryd over TLS, port
 *   DRIVER://HOST[:PORT]/PATH          FERRY_DEFAULT_TLS_PORT (16514) by default;
 *                                      ?pkipath=DIR names the directory of
 *                                      cacert.pem, clientcert.pem, clientkey.pem
 *                                      (default: ferry_remote_set_pki_dir(), else
 *                                      ferry_rpc_tls_default_pki_dir())
 *   DRIVER+ssh://[USER@]HOST[:PORT]/PATH  ssh to HOST, which runs ferry-ssh-helper
 *                                      on ferryd's UNIX socket (?socket=, default
 *                                      FERRY_DEFAULT_SOCKET); ?keyfile=, ?known_hosts=,
 *                                      ?helper= (its path there), ?no_tty=1 (never
 *                                      ask a question: ssh's BatchMode)
 *   DRIVER+tcp://HOST[:PORT]/PATH      ferryd over plain TCP, port
 *                                      FERRY_DEFAULT_TCP_PORT (16509) by default
 * The daemon opens `DRIVER:///PATH` with the URI's other parameters, so
 * `test+unix:///default` reaches the daemon's test driver.
 */
#pragma once

#include "driver/driver.h"

G_BEGIN_DECLS

/** ferry_remote_driver: serves every URI with a transport, and qemu:///system. */
extern const ferry_driver ferry_remote_driver;

/**
 * ferry_remote_set_pki_dir:
 * @dir: (nullable): where TLS connections of this process find their
 *   client certificate when their URI has no `pkipath`; NULL restores the
 *   default
 *
 * A daemon calls it once at start-up (before any connection): its own
 * connections to other daemons (peer-to-peer migration, asking a peer)
 * present the client certificate of its PKI directory.
 */
void ferry_remote_set_pki_dir(const char *dir);

G_END_DECLS
