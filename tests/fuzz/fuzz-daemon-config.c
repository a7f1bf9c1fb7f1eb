/*
 * fuzz-daemon-config.c: feeds ferry_daemon_config_parse() and
 * ferry_daemon_config_check() (src/daemon/daemon-config.c) any text as the
 * contents of ferryd.conf, starting from the defaults as ferryd does.
 *
 * Must hold: no crash, leak or undefined behaviour; a text that is refused
 * is refused with FERRY_ERROR_CONFIG.  Must not: read or write files (the
 * text is parsed from memory; nothing here loads or creates the paths it
 * names).
 */
#include "ferry-config.h"

#include <ferry/ferry.h>

#include "daemon/daemon-config.h"
#include "fuzz.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    g_autoptr(ferry_daemon_config) config = NULL;
    g_autoptr(GError) error = NULL;
    g_autofree char *text = NULL;

    fuzz_init();
    text = fuzz_strdup(data, size);
    config = ferry_daemon_config_new_defaults();
    if (!ferry_daemon_config_parse(config, text, "fuzz.conf", &error) ||
        !ferry_daemon_config_check(config, "fuzz.conf", &error)) {
        g_assert_error(error, FERRY_ERROR, FERRY_ERROR_CONFIG);
        return 0;
    }
    g_assert_no_error(error);
    g_assert_true(g_path_is_absolute(config->unix_socket_path));
    g_assert_true(g_path_is_absolute(config->state_dir));
    g_assert_cmpuint(config->migration_port_min, <=, config->migration_port_max);
    return 0;
}
