/*
 * test-driver.h: the in-process simulated host, for fast protocol tests and
 * for programs that want to try the API without QEMU.
 */
#pragma once

#include "driver/driver.h"

G_BEGIN_DECLS

/** ferry_test_driver: serves `test:///NAME` URIs (no transport). */
extern const ferry_driver ferry_test_driver;

G_END_DECLS
