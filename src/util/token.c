/*
 * token.c: random tokens (token.h).  Owns: where their randomness comes
 * from (getrandom(2), which blocks only before the kernel's pool was ever
 * seeded) and their text form.
 */
#include "ferry-config.h"

#include <errno.h>
#include <sys/random.h>

#include "util/error.h"
#include "util/token.h"

char *
ferry_token_new(GError **error)
{
    guint8 bytes[FERRY_TOKEN_LEN / 2];
    GString *token;

    if (getrandom(bytes, sizeof(bytes), 0) != (ssize_t)sizeof(bytes)) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_SYSTEM, "getrandom: %s",
                    g_strerror(errno));
        return NULL;
    }
    token = g_string_sized_new(FERRY_TOKEN_LEN);
    for (gsize i = 0; i < sizeof(bytes); i++)
        g_string_append_printf(token, "%02x", bytes[i]);
    return g_string_free(token, FALSE);
}
