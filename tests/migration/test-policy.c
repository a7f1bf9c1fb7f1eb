/*
 * test-policy.c: the convergence policy (src/migration/migration-policy.c)
 * on the pass traces of tests/data/policy/ (a .trace file each): each line
 * a pass's figures and the decision the policy must take then.
 *
 * Trace format, one item per line ('#' starts a comment):
 *   config downtime=MS ceiling=MS postcopy=0|1 throttle=0|1
 *   pass N remaining=BYTES dirty=BYTES/S link=BYTES/S expect=STEP[:MS]
 * STEP is wait, downtime (with the new limit), postcopy, throttle, gave-up.
 */
#include "ferry-config.h"

#include <string.h>

#include "ferry/ferry.h"
#include "migration/migration-policy.h"

static guint64
field(char **words, const char *key)
{
    gsize len = strlen(key);

    for (gsize i = 0; words[i]; i++) {
        if (strncmp(words[i], key, len) == 0 && words[i][len] == '=')
            return g_ascii_strtoull(words[i] + len + 1, NULL, 10);
    }
    g_error("trace line lacks %s=", key);
    return 0;
}

static const char *
expect_of(char **words)
{
    for (gsize i = 0; words[i]; i++) {
        if (g_str_has_prefix(words[i], "expect="))
            return words[i] + strlen("expect=");
    }
    g_error("trace line lacks expect=");
    return NULL;
}

static void
run_trace(gconstpointer data)
{
    const char *path = data;
    g_autofree char *text = NULL;
    g_auto(GStrv) lines = NULL;
    g_autoptr(ferry_policy) policy = NULL;
    g_autoptr(GError) error = NULL;
    guint checked = 0;

    g_assert_true(g_file_get_contents(path, &text, NULL, &error));
    lines = g_strsplit(text, "\n", -1);
    for (gsize n = 0; lines[n]; n++) {
        g_auto(GStrv) words = g_strsplit_set(g_strstrip(lines[n]), " ", -1);
        ferry_policy_decision d;
        ferry_policy_sample s = { 0 };
        g_autofree char *got = NULL;
        const char *want;
        gboolean act;

        if (!words[0] || !*words[0] || words[0][0] == '#')
            continue;
        if (strcmp(words[0], "config") == 0) {
            ferry_policy_config c = {
                .downtime_ms = field(words, "downtime"),
                .ceiling_ms = field(words, "ceiling"),
                .postcopy_allowed = field(words, "postcopy") != 0,
                .throttle_allowed = field(words, "throttle") != 0,
            };

            g_clear_pointer(&policy, ferry_policy_free);
            policy = ferry_policy_new(&c);
            continue;
        }
        g_assert_cmpstr(words[0], ==, "pass");
        g_assert_nonnull(policy);
        s.pass = g_ascii_strtoull(words[1], NULL, 10);
        s.remaining = field(words, "remaining");
        s.dirty_rate_bps = field(words, "dirty");
        s.link_bps = field(words, "link");
        want = expect_of(words);
        act = ferry_policy_observe(policy, &s, &d);
        g_assert_cmpint(act, ==, d.step != FERRY_POLICY_WAIT);
        got = d.step == FERRY_POLICY_WAIT ? g_strdup("wait")
              : d.step == FERRY_POLICY_RAISE_DOWNTIME
                  ? g_strdup_printf("downtime:%" G_GUINT64_FORMAT, d.downtime_ms)
                  : g_strdup(ferry_policy_step_name(d.step));
        if (strcmp(got, want) != 0)
            g_error("%s:%" G_GSIZE_FORMAT ": the policy decided %s, the trace expects %s (%s)",
                    path, n + 1, got, want, d.reason);
        /* Every decision says why, with the figures. */
        if (act)
            g_assert_nonnull(strstr(d.reason, "pass "));
        checked++;
    }
    g_assert_cmpuint(checked, >, 0);
}

static gint
by_name(gconstpointer a, gconstpointer b)
{
    return g_strcmp0(*(const char *const *)a, *(const char *const *)b);
}

/* Which migrations the policy may switch to post-copy, or throttle, by
 * itself. */
static void
test_may(void)
{
    static const struct {
        guint flags;
        gboolean postcopy, throttle;
    } cases[] = {
        { 0, TRUE, TRUE },
        { FERRY_MIGRATE_LIVE | FERRY_MIGRATE_TLS | FERRY_MIGRATE_COMPRESSED, TRUE, TRUE },
        { FERRY_MIGRATE_NO_POSTCOPY, FALSE, TRUE },
        { FERRY_MIGRATE_NO_POLICY, FALSE, FALSE },
        { FERRY_MIGRATE_POSTCOPY, FALSE, FALSE },   /* asked for: nothing to offer */
        /* Copied disks are mirrored before memory moves. */
        { FERRY_MIGRATE_NON_SHARED_DISK, TRUE, TRUE },
        { FERRY_MIGRATE_NON_SHARED_INC, TRUE, TRUE },
        { FERRY_MIGRATE_PARALLEL, FALSE, TRUE },
        { FERRY_MIGRATE_RELAY, TRUE, TRUE },
        { FERRY_MIGRATE_AUTO_CONVERGE, TRUE, FALSE },
        { FERRY_MIGRATE_OFFLINE, FALSE, FALSE },
    };

    for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_test_message("flags 0x%x", cases[i].flags);
        g_assert_cmpint(ferry_policy_may_postcopy(cases[i].flags), ==, cases[i].postcopy);
        g_assert_cmpint(ferry_policy_may_throttle(cases[i].flags), ==, cases[i].throttle);
    }
}

/* ferry_policy_estimate(): the model played through on figures of the
 * sizes of issue #10's bench (MiB, MiB/s), each outcome worked out by
 * hand: a pass at 100 MiB/s sends 64 MiB in 640 ms, plus the fixed
 * 100 ms, plus the 5 ms switch. */
static void
test_estimate(void)
{
    static const struct {
        const char *what;
        guint64 data_mib, dirty_mib, rate_mib, max_downtime_ms;
        gboolean policy, postcopy, throttle;
        ferry_policy_step step;
        guint64 passes, total_ms, downtime_ms;
    } cases[] = {
        { "idle", 64, 0, 100, 0, TRUE, FALSE, TRUE,
          FERRY_POLICY_WAIT, 1, 745, 5 },
        /* 6.4 MiB dirtied during the first pass: 64 ms to send. */
        { "moderate", 64, 10, 100, 0, TRUE, FALSE, TRUE,
          FERRY_POLICY_WAIT, 1, 809, 69 },
        /* 60.8 MiB left: 608 ms, over 300 ms and under the 1 s ceiling. */
        { "raise", 64, 95, 100, 0, TRUE, FALSE, TRUE,
          FERRY_POLICY_RAISE_DOWNTIME, 1, 1353, 613 },
        /* The same with --max-downtime 300: a hard limit, never raised. */
        { "hard limit, post-copy", 64, 95, 100, 300, TRUE, TRUE, TRUE,
          FERRY_POLICY_POSTCOPY, 1, 100 + 640 + 608 + 5, 5 },
        /* Above the link: all 64 MiB dirty again each pass. */
        { "above the link, post-copy", 64, 150, 100, 0, TRUE, TRUE, FALSE,
          FERRY_POLICY_POSTCOPY, 1, 100 + 640 + 640 + 5, 5 },
        /* Without post-copy, raising the limit to 810 ms is better than
         * slowing the guest down. */
        { "above the link, raise", 64, 150, 100, 0, TRUE, FALSE, TRUE,
          FERRY_POLICY_RAISE_DOWNTIME, 1, 100 + 640 + 645, 645 },
        /* 128 MiB to resend: 1.28 s, over the ceiling. */
        { "above the link, throttle", 128, 150, 100, 0, TRUE, FALSE, TRUE,
          FERRY_POLICY_THROTTLE, 2, 0, 0 },
        { "above the link, policy off", 64, 150, 100, 0, FALSE, TRUE, TRUE,
          FERRY_POLICY_GIVE_UP, 0, 0, 0 },
        { "nothing carried", 64, 1, 0, 0, TRUE, TRUE, TRUE,
          FERRY_POLICY_GIVE_UP, 0, 0, 0 },
    };

    for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
        ferry_policy_estimate_input in = {
            .mem_data = cases[i].data_mib << 20,
            .dirty_rate_bps = cases[i].dirty_mib << 20,
            .rate_bps = cases[i].rate_mib << 20,
            .policy = cases[i].policy,
        };
        ferry_policy_estimate_result r;

        ferry_policy_config_init(&in.config, cases[i].max_downtime_ms, 0, cases[i].postcopy,
                                 cases[i].throttle);
        ferry_policy_estimate(&in, &r);
        g_test_message("%s: step %s, passes %" G_GUINT64_FORMAT ", total %" G_GUINT64_FORMAT
                       " ms, downtime %" G_GUINT64_FORMAT " ms: %s", cases[i].what,
                       ferry_policy_step_name(r.step), r.passes, r.total_ms, r.downtime_ms,
                       r.reason);
        g_assert_cmpint(r.step, ==, cases[i].step);
        g_assert_cmpuint(r.total_ms, ==, cases[i].total_ms);
        g_assert_cmpuint(r.downtime_ms, ==, cases[i].downtime_ms);
        if (r.total_ms)
            g_assert_cmpuint(r.passes, ==, cases[i].passes);
        g_assert_cmpuint(strlen(r.reason), >, 20);
    }
    {
        /* Above the link, but the guest rewrites only 8 MiB however long:
         * 80 ms left after the first pass. */
        ferry_policy_estimate_input in = { .mem_data = 64u << 20, .dirty_rate_bps = 150u << 20,
                                           .dirty_set = 8u << 20, .rate_bps = 100u << 20,
                                           .policy = TRUE };
        ferry_policy_estimate_result r;

        ferry_policy_config_init(&in.config, 0, 0, TRUE, FALSE);
        ferry_policy_estimate(&in, &r);
        g_assert_cmpint(r.step, ==, FERRY_POLICY_WAIT);
        g_assert_cmpuint(r.total_ms, ==, 100 + 640 + 85);
        g_assert_cmpuint(r.downtime_ms, ==, 85);

        /* --bandwidth 100 over a 1000 MiB/s link: QEMU switches over by
         * the limited rate, and sends the rest at the link's. */
        in.link_bps = 1000u << 20;
        ferry_policy_estimate(&in, &r);
        g_assert_cmpint(r.step, ==, FERRY_POLICY_WAIT);
        g_assert_cmpuint(r.downtime_ms, ==, 8 + 5);
        g_assert_cmpuint(r.total_ms, ==, 100 + 640 + 13);

        /* Post-copy after the first pass: the 8 MiB left go at the link's
         * rate (post-copy has no limit), or at --postcopy-bandwidth's. */
        in.dirty_set = 0;
        in.postcopy_after_precopy = TRUE;
        ferry_policy_estimate(&in, &r);
        g_assert_cmpint(r.step, ==, FERRY_POLICY_POSTCOPY);
        g_assert_cmpuint(r.passes, ==, 1);
        g_assert_cmpuint(r.total_ms, ==, 100 + 640 + 64 + 5);   /* 64 MiB at 1000 MiB/s */
        in.postcopy_rate_bps = 10u << 20;
        ferry_policy_estimate(&in, &r);
        g_assert_cmpuint(r.total_ms, ==, 100 + 640 + 6400 + 5);
        g_assert_cmpuint(r.downtime_ms, ==, 5);
    }
}

/* The figures the estimate starts from: a working set told from dirty
 * memory that keeps growing, and what multifd moves under a limit,
 * against what QEMU 7.2 was measured to move over four connections
 * (5 and 10 MiB/s: 5.1 and 10.2; 8, 12 and 16: 10.0, 14.9 and 20.2). */
static void
test_figures(void)
{
    static const struct {
        guint64 limit_mib, moved_mib;
    } multifd[] = { { 5, 5 }, { 8, 10 }, { 10, 10 }, { 12, 15 }, { 16, 20 }, { 100, 100 } };

    for (gsize i = 0; i < G_N_ELEMENTS(multifd); i++)
        g_assert_cmpuint(ferry_policy_multifd_rate(multifd[i].limit_mib << 20), ==,
                         multifd[i].moved_mib << 20);
    /* Two seconds dirtied twice what one did: it keeps growing. */
    g_assert_cmpuint(ferry_policy_dirty_set(16u << 20, 16u << 20), ==, 0);
    /* Two seconds dirtied no more than one: a working set of 16 MiB. */
    g_assert_cmpuint(ferry_policy_dirty_set(16u << 20, 8u << 20), ==, 16u << 20);
    /* Somewhat more (20 MiB in two seconds, 16 in one): 20 MiB. */
    g_assert_cmpuint(ferry_policy_dirty_set(16u << 20, 10u << 20), ==, 20u << 20);
    g_assert_cmpuint(ferry_policy_dirty_set(0, 0), ==, 0);
}

/* The downtime cap: what QEMU is told, how high the policy may go, and
 * the check at the switch-over. */
static void
test_cap(void)
{
    ferry_policy_config c;
    guint64 predicted;

    /* QEMU plans for the cap less the switch-over's own cost (20 ms, at
     * most half the cap); a lower --max-downtime stays. */
    g_assert_cmpuint(ferry_policy_cap_target(0, 0), ==, 300);
    g_assert_cmpuint(ferry_policy_cap_target(0, 300), ==, 280);
    g_assert_cmpuint(ferry_policy_cap_target(0, 1000), ==, 300);
    g_assert_cmpuint(ferry_policy_cap_target(100, 1000), ==, 100);
    g_assert_cmpuint(ferry_policy_cap_target(0, 30), ==, 15);
    g_assert_cmpuint(ferry_policy_cap_target(0, 1), ==, 1);

    /* The ceiling never goes above what the cap leaves. */
    ferry_policy_config_init(&c, 0, 500, FALSE, TRUE);
    g_assert_cmpuint(c.downtime_ms, ==, 300);
    g_assert_cmpuint(c.ceiling_ms, ==, 480);
    ferry_policy_config_init(&c, 0, 5000, FALSE, TRUE);
    g_assert_cmpuint(c.ceiling_ms, ==, FERRY_POLICY_CEILING_MS);
    ferry_policy_config_init(&c, 200, 300, FALSE, TRUE);
    g_assert_cmpuint(c.downtime_ms, ==, 200);
    g_assert_cmpuint(c.ceiling_ms, ==, 200);

    /* 61 MiB left at 16 MiB/s: 3.8 s, held back. */
    g_assert_false(ferry_policy_cap_fits(300, 61u << 20, 16u << 20, &predicted));
    g_assert_cmpuint(predicted, ==, 3812 + 20);
    /* 2 MiB at 16 MiB/s: 125 ms + 20, fits. */
    g_assert_true(ferry_policy_cap_fits(300, 2u << 20, 16u << 20, &predicted));
    g_assert_cmpuint(predicted, ==, 145);
    /* Exactly at the cap fits; a millisecond over does not. */
    g_assert_true(ferry_policy_cap_fits(145, 2u << 20, 16u << 20, &predicted));
    g_assert_false(ferry_policy_cap_fits(144, 2u << 20, 16u << 20, &predicted));
    /* Nothing left always fits; something at an unknown rate never. */
    g_assert_true(ferry_policy_cap_fits(10, 0, 0, &predicted));
    g_assert_cmpuint(predicted, ==, 5);
    g_assert_false(ferry_policy_cap_fits(2000000, 4096, 0, &predicted));
    g_assert_cmpuint(predicted, ==, G_MAXUINT64);
}

int
main(int argc, char **argv)
{
    g_autoptr(GDir) dir = NULL;
    g_autoptr(GPtrArray) paths = g_ptr_array_new_with_free_func(g_free);
    const char *name;

    g_test_init(&argc, &argv, NULL);
    dir = g_dir_open(POLICY_TRACES, 0, NULL);
    g_assert_nonnull(dir);
    while ((name = g_dir_read_name(dir))) {
        if (g_str_has_suffix(name, ".trace"))
            g_ptr_array_add(paths, g_build_filename(POLICY_TRACES, name, NULL));
    }
    g_ptr_array_sort(paths, by_name);
    for (guint i = 0; i < paths->len; i++) {
        g_autofree char *base = g_path_get_basename(paths->pdata[i]);
        g_autofree char *test = g_strdup_printf("/policy/%s", base);

        g_test_add_data_func(test, paths->pdata[i], run_trace);
    }
    g_test_add_func("/policy/may", test_may);
    g_test_add_func("/policy/estimate", test_estimate);
    g_test_add_func("/policy/figures", test_figures);
    g_test_add_func("/policy/cap", test_cap);
    g_assert_cmpuint(paths->len, >=, 6);
    return g_test_run();
}
