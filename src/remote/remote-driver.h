/*
 * remote-driver.h: the driver that forwards every call to a ferryd over the
 * wire protocol (UNIX socket or TCP).
 *
 * URIs it serves (the others belong to in-process drivers):
 *   qemu:///system                     the local ferryd at FERRY_DEFAULT_SOCKET,
 *                                      or at $FERRY_SOCKET when that is set
 *   DRIVER+unix:///PATH?socket=SOCK    ferryd at the UNIX socket SOCK
 *                                      (default as above)
 *   DRIVER+tcp://HOST[:PORT]/PATH      ferryd over plain TCP, port
 *                                      FERRY_DEFAULT_TCP_PORT by default
 * The daemon opens `DRIVER:///PATH` with the URI's other parameters, so
 * `test+unix:///default` reaches the daemon's test driver.
 */
#pragma once

#include "driver/driver.h"

G_BEGIN_DECLS

/** ferry_remote_driver: serves every URI with a transport, and qemu:///system. */
extern const ferry_driver ferry_remote_driver;

G_END_DECLS
