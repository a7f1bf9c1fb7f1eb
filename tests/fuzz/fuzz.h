/*
 * fuzz.h: what the harnesses of tests/fuzz/ share.
 *
 * Each fuzz-NAME.c defines LLVMFuzzerTestOneInput() for one parser.  It is
 * linked either with libFuzzer's main (`make fuzz`, clang, -Dfuzzing=true)
 * or with replay-main.c, which runs it over every file of
 * tests/fuzz/corpus/NAME/ in `make check`.  A harness must: accept any
 * bytes, free everything it allocated (leak detection is on), write no
 * file, and abort -- a finding -- only on what is a bug in ferry.
 */
#pragma once

#include <glib.h>
#include <stddef.h>
#include <stdint.h>

/* The libFuzzer entry point; always returns 0. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/*
 * Called first by every harness: a GLib critical or warning (a
 * g_return_if_fail() that a peer's input reached, say) is a bug, so it
 * aborts and the fuzzer records the input.
 */
static inline void
fuzz_init(void)
{
    static gsize done;

    if (g_once_init_enter(&done)) {
        g_log_set_always_fatal(G_LOG_FATAL_MASK | G_LOG_LEVEL_CRITICAL | G_LOG_LEVEL_WARNING);
        g_once_init_leave(&done, 1);
    }
}

/* The input as a NUL-terminated string (cut at its first NUL byte, as a C
 * string from the wire would be). */
static inline char *
fuzz_strdup(const uint8_t *data, size_t size)
{
    return g_strndup((const char *)data, size);
}
