/*
 * error.h: helpers around the FERRY_ERROR domain for ferry's own code.
 *
 * Owns: turning foreign GErrors (GIO, GLib, libxml2) into FERRY_ERROR at the
 * public boundary.  Must not log: callers decide what to show.
 */
#pragma once

#include <ferry/ferry.h>

G_BEGIN_DECLS

/**
 * ferry_error_normalize:
 * @error: (inout) (nullable): an error location
 *
 * If *@error is set and not in FERRY_ERROR, replaces it by a FERRY_ERROR with
 * the same message and the nearest code (FERRY_ERROR_SYSTEM for GIO/GLib file
 * errors, FERRY_ERROR_CONNECTION_CLOSED for a closed socket,
 * FERRY_ERROR_TIMEOUT for a timeout, FERRY_ERROR_INTERNAL otherwise), so
 * that the public API only ever reports FERRY_ERROR.
 */
void ferry_error_normalize(GError **error);

/**
 * ferry_set_error_errno:
 * @error: (nullable): return location for an error
 * @code: a ferry_error_code
 * @errsv: the errno value to describe
 * @format: printf format of the first part of the message
 *
 * Sets @error to "<formatted>: <strerror(errsv)>".
 */
void ferry_set_error_errno(GError **error, int code, int errsv,
                           const char *format, ...) G_GNUC_PRINTF(4, 5);

G_END_DECLS
