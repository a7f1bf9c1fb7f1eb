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
 * destination).  The parameters migration=, fail= and hold= shape its
 * migration support for tests (see test-driver.c).
 */
extern const ferry_driver ferry_test_driver;

G_END_DECLS
