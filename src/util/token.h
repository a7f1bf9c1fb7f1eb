/*
 * token.h: the secrets a migration hands out in its cookies -- the relay's
 * token, v1's definition token, the snapshot stream's -- so that only the
 * peer that got the cookie can use what they open.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/** FERRY_TOKEN_LEN: the length of a token's text: 32 lower-case hex digits. */
#define FERRY_TOKEN_LEN 32

/**
 * ferry_token_new:
 * @error: return location for an error (FERRY_ERROR_SYSTEM)
 *
 * Returns: (transfer full): 128 bits from the kernel's random source, as
 *   FERRY_TOKEN_LEN lower-case hexadecimal digits, or NULL.
 */
char *ferry_token_new(GError **error);

G_END_DECLS
