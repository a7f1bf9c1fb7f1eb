/*
 * fake-driver.h: a small in-memory driver for the RPC tests, `fake:///NAME`.
 *
 * Until the domain XML parser lands the test driver cannot define domains,
 * so the remote driver's lifecycle tests run against this one.  Unlike the
 * test driver, every connection to the same NAME in a process shares one
 * host, so two clients of a daemon see each other's domains and events.
 * Domain XML is read for <name> and <uuid> only.
 */
#pragma once

#include "driver/driver.h"

G_BEGIN_DECLS

/** fake_driver: serves fake:///NAME. */
extern const ferry_driver fake_driver;

G_END_DECLS
