/*
 * api-internal.h: what the public API files share among themselves.
 */
#pragma once

#include "driver/driver.h"
#include "util/error.h"

G_BEGIN_DECLS

/**
 * ferry_api_unsupported:
 * @conn: the connection whose driver lacks the operation
 * @operation: what was asked, as a noun phrase ("listing domains")
 * @error: return location for an error
 *
 * Sets FERRY_ERROR_NO_SUPPORT naming the driver and the operation.
 *
 * Returns: FALSE, always.
 */
gboolean ferry_api_unsupported(const ferry_conn *conn, const char *operation,
                               GError **error);

G_END_DECLS
