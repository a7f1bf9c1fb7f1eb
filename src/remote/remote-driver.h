/*
 * remote-driver.h: the driver that forwards every call to a ferryd over the
 * wire protocol (UNIX socket or TCP).
 */
#pragma once

#include "driver/driver.h"

G_BEGIN_DECLS

/** ferry_remote_driver: serves every URI with a transport, and qemu:///system. */
extern const ferry_driver ferry_remote_driver;

G_END_DECLS
