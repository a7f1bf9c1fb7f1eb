/*
 * log-filter.c: cutting, escaping and rate-limiting ferryd's log lines.
 *
 * The rate limit is a token bucket per peer: FERRY_LOG_PEER_BURST lines at
 * once, then FERRY_LOG_PEER_RATE a second.  What a peer's bucket refuses is
 * counted, and said in one line once the bucket has a token again: at the
 * peer's next line, or at the next line of anyone after that (a sweep, at
 * most once a second), so that a peer that stopped is reported too.
 * Buckets that are full and owe no report are forgotten in the sweep.
 */
#include "ferry-config.h"

#include <string.h>

#include "daemon/log-filter.h"

/* Peers followed apart; more share OVERFLOW_PEER's bucket, so that many
 * addresses cannot grow the table without end. */
#define MAX_PEERS 1024
#define OVERFLOW_PEER "(other peers)"
#define SWEEP_INTERVAL_US G_USEC_PER_SEC

/* ------------------------------------------------------------------ */
/* Cutting */

/* Appends the character of @n bytes at @p (@c as decoded, or a negative
 * value if those bytes are not UTF-8) in printable form. */
static void
append_printable(GString *out, const char *p, gsize n, gunichar c)
{
    if (c == (gunichar)-1 || c == (gunichar)-2) {
        g_string_append_printf(out, "\\x%02x", (guchar)*p);
    } else if (c == '\n') {
        g_string_append(out, "\\n");
    } else if (c == '\r') {
        g_string_append(out, "\\r");
    } else if (c == '\t') {
        g_string_append(out, "\\t");
    } else if (g_unichar_iscntrl(c)) {
        /* C0 and C1 controls: a terminal would act on them. */
        g_string_append_printf(out, "\\u%04x", c);
    } else {
        g_string_append_len(out, p, (gssize)n);
    }
}

char *
ferry_log_cut(const char *message, gsize value_max, gsize line_max)
{
    GString *out = g_string_new(NULL);
    const char *p = message;
    const char *end = message + strlen(message);
    gsize run = 0;          /* bytes of the current non-blank run kept */
    gsize dropped = 0;      /* bytes of it left out */

    while (p < end) {
        gunichar c = g_utf8_get_char_validated(p, end - p);
        gsize n = (c == (gunichar)-1 || c == (gunichar)-2) ? 1
                  : (gsize)(g_utf8_next_char(p) - p);

        if (*p == ' ') {
            if (dropped)
                g_string_append_printf(out, "...[+%" G_GSIZE_FORMAT " bytes]", dropped);
            run = dropped = 0;
        } else if (run >= value_max) {
            dropped += n;
            p += n;
            continue;
        }
        if (out->len >= line_max)
            break;
        append_printable(out, p, n, c);
        if (*p != ' ')
            run += n;
        p += n;
    }
    if (dropped)
        g_string_append_printf(out, "...[+%" G_GSIZE_FORMAT " bytes]", dropped);
    if (p < end)
        g_string_append_printf(out, "...[+%" G_GSIZE_FORMAT " bytes cut]", (gsize)(end - p));
    return g_string_free(out, FALSE);
}

/* ------------------------------------------------------------------ */
/* Rate limit */

typedef struct {
    double tokens;
    gint64 last_us;         /* when tokens was last refilled */
    guint64 suppressed;     /* lines refused since the last report */
} bucket;

struct ferry_log_filter {
    GMutex lock;
    guint burst;
    guint per_second;
    GHashTable *peers;      /* peer -> bucket* */
    gint64 last_sweep_us;
};

ferry_log_filter *
ferry_log_filter_new(guint burst, guint per_second)
{
    ferry_log_filter *filter = g_new0(ferry_log_filter, 1);

    g_mutex_init(&filter->lock);
    filter->burst = MAX(burst, 1);
    filter->per_second = MAX(per_second, 1);
    filter->peers = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    return filter;
}

void
ferry_log_filter_free(ferry_log_filter *filter)
{
    if (!filter)
        return;
    g_hash_table_unref(filter->peers);
    g_mutex_clear(&filter->lock);
    g_free(filter);
}

static void
refill(ferry_log_filter *filter, bucket *b, gint64 now_us)
{
    double earned = (double)(now_us - b->last_us) * filter->per_second / G_USEC_PER_SEC;

    if (now_us > b->last_us)
        b->tokens = MIN((double)filter->burst, b->tokens + earned);
    b->last_us = MAX(b->last_us, now_us);
}

/* The report of what @b suppressed, which it then owes no more. */
static char *
take_report(ferry_log_filter *filter, const char *peer, bucket *b)
{
    char *line = g_strdup_printf("%s: %" G_GUINT64_FORMAT " messages suppressed (more than %u "
                                 "a second from this peer)", peer, b->suppressed,
                                 filter->per_second);

    b->suppressed = 0;
    return line;
}

/* Reports the peers other than @skip whose suppression has ended, and
 * forgets the quiet ones; at most once per SWEEP_INTERVAL_US. */
static void
sweep(ferry_log_filter *filter, const char *skip, gint64 now_us, GPtrArray *reports)
{
    GHashTableIter iter;
    gpointer key, value;

    if (now_us - filter->last_sweep_us < SWEEP_INTERVAL_US)
        return;
    filter->last_sweep_us = now_us;
    g_hash_table_iter_init(&iter, filter->peers);
    while (g_hash_table_iter_next(&iter, &key, &value)) {
        bucket *b = value;

        if (skip && strcmp(key, skip) == 0)
            continue;
        refill(filter, b, now_us);
        if (b->suppressed && b->tokens >= 1)
            g_ptr_array_add(reports, take_report(filter, key, b));
        else if (!b->suppressed && b->tokens >= filter->burst)
            g_hash_table_iter_remove(&iter);
    }
}

static bucket *
bucket_of(ferry_log_filter *filter, const char **peer, gint64 now_us)
{
    bucket *b = g_hash_table_lookup(filter->peers, *peer);

    if (b)
        return b;
    if (g_hash_table_size(filter->peers) >= MAX_PEERS) {
        *peer = OVERFLOW_PEER;
        b = g_hash_table_lookup(filter->peers, OVERFLOW_PEER);
        if (b)
            return b;
    }
    b = g_new0(bucket, 1);
    b->tokens = filter->burst;
    b->last_us = now_us;
    g_hash_table_insert(filter->peers, g_strdup(*peer), b);
    return b;
}

char *
ferry_log_filter_apply(ferry_log_filter *filter, const char *peer, const char *message,
                       gint64 now_us, GStrv *ret_reports)
{
    g_autoptr(GPtrArray) reports = g_ptr_array_new_with_free_func(g_free);
    g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&filter->lock);
    gboolean admitted = TRUE;

    sweep(filter, peer, now_us, reports);
    if (peer) {
        bucket *b = bucket_of(filter, &peer, now_us);

        refill(filter, b, now_us);
        admitted = b->tokens >= 1;
        if (!admitted) {
            b->suppressed++;
        } else {
            b->tokens -= 1;
            if (b->suppressed)
                g_ptr_array_add(reports, take_report(filter, peer, b));
        }
    }
    g_clear_pointer(&locker, g_mutex_locker_free);
    if (reports->len > 0) {
        g_ptr_array_add(reports, NULL);
        *ret_reports = (GStrv)g_ptr_array_free(g_steal_pointer(&reports), FALSE);
    } else {
        *ret_reports = NULL;
    }
    return admitted ? ferry_log_cut(message, FERRY_LOG_VALUE_MAX, FERRY_LOG_LINE_MAX) : NULL;
}

/* ------------------------------------------------------------------ */
/* The peer a thread works for */

static GPrivate thread_peer = G_PRIVATE_INIT(g_free);

void
ferry_log_set_thread_peer(const char *peer)
{
    g_private_replace(&thread_peer, g_strdup(peer));
}

const char *
ferry_log_get_thread_peer(void)
{
    return g_private_get(&thread_peer);
}
