/*
 * test-recovery.c: the recovery table of docs/recovery.md is the one the
 * code runs.  The document's table is parsed; every combination of role,
 * phase, state and what QEMU says is decided by
 * ferry_mig_recovery_decide() and must match the first row that applies.
 * A row no combination reaches is a mistake in the document too.
 */
#include "ferry-config.h"

#include <string.h>

#include "migration/migration-recovery.h"

typedef struct {
    int role;           /* -1: any */
    int phase;
    int state;
    int transfer;
    char *action;
    guint line;
    gboolean used;
} row;

static const char *const transfers[] = { "gone", "idle", "sending", "sent", "failed" };

static int
parse_cell(const char *cell, int (*from_string)(const char *), const char *what, guint line)
{
    int v;

    if (strcmp(cell, "any") == 0)
        return -1;
    if (strcmp(cell, "none") == 0 && from_string == ferry_mig_phase_from_string)
        return FERRY_MIG_PHASE_NONE;    /* written "" elsewhere */
    v = from_string(cell);
    if (v < 0)
        g_error("docs/recovery.md:%u: unknown %s '%s'", line, what, cell);
    return v;
}

static int
role_from(const char *s)
{
    return strcmp(s, "source") == 0 ? FERRY_MIG_ROLE_SOURCE
         : strcmp(s, "destination") == 0 ? FERRY_MIG_ROLE_DESTINATION : -1;
}

static int
transfer_from(const char *s)
{
    for (guint i = 0; i < G_N_ELEMENTS(transfers); i++)
        if (strcmp(s, transfers[i]) == 0)
            return (int)i;
    return -1;
}

/* The rows between the recovery-table markers. */
static GArray *
read_table(void)
{
    g_autofree char *path = g_build_filename(g_getenv("FERRY_SOURCE_DIR"), "docs",
                                             "recovery.md", NULL);
    g_autofree char *text = NULL;
    g_auto(GStrv) lines = NULL;
    g_autoptr(GError) error = NULL;
    GArray *rows = g_array_new(FALSE, TRUE, sizeof(row));
    gboolean inside = FALSE;

    g_assert_true(g_file_get_contents(path, &text, NULL, &error));
    g_assert_no_error(error);
    lines = g_strsplit(text, "\n", -1);
    for (guint i = 0; lines[i]; i++) {
        g_auto(GStrv) cells = NULL;
        row r = { 0 };

        if (g_str_has_prefix(lines[i], "<!-- recovery-table"))
            inside = TRUE;
        else if (g_str_has_prefix(lines[i], "<!-- end recovery-table"))
            inside = FALSE;
        if (!inside || lines[i][0] != '|' || strstr(lines[i], "---") ||
            strstr(lines[i], "QEMU says"))
            continue;
        cells = g_strsplit(lines[i] + 1, "|", -1);
        g_assert_cmpuint(g_strv_length(cells), ==, 6);
        for (guint c = 0; c < 5; c++)
            g_strstrip(cells[c]);
        r.line = i + 1;
        r.role = parse_cell(cells[0], role_from, "role", r.line);
        r.phase = parse_cell(cells[1], ferry_mig_phase_from_string, "phase", r.line);
        r.state = parse_cell(cells[2], ferry_mig_state_from_string, "state", r.line);
        r.transfer = parse_cell(cells[3], transfer_from, "QEMU answer", r.line);
        r.action = g_strdup(cells[4]);
        g_array_append_val(rows, r);
    }
    g_assert_cmpuint(rows->len, >, 5);
    return rows;
}

static gboolean
matches(int want, int have)
{
    return want < 0 || want == have;
}

static void
test_table_matches_code(void)
{
    g_autoptr(GArray) rows = read_table();
    static const ferry_mig_probe_transfer order[] = {
        FERRY_MIG_PROBE_GONE, FERRY_MIG_PROBE_IDLE, FERRY_MIG_PROBE_SENDING,
        FERRY_MIG_PROBE_SENT, FERRY_MIG_PROBE_FAILED,
    };
    guint checked = 0;

    for (int role = FERRY_MIG_ROLE_SOURCE; role <= FERRY_MIG_ROLE_DESTINATION; role++) {
        for (int phase = 0; phase < FERRY_MIG_N_PHASES; phase++) {
            for (int state = 0; state < FERRY_MIG_N_STATES; state++) {
                for (guint t = 0; t < G_N_ELEMENTS(order); t++) {
                    ferry_mig_recovery_action got =
                        ferry_mig_recovery_decide(role, phase, state, order[t]);
                    row *hit = NULL;

                    for (guint i = 0; i < rows->len && !hit; i++) {
                        row *r = &g_array_index(rows, row, i);

                        if (matches(r->role, role) && matches(r->phase, phase) &&
                            matches(r->state, state) && matches(r->transfer, (int)t))
                            hit = r;
                    }
                    if (!hit)
                        g_error("docs/recovery.md has no row for %s (%s, %s), QEMU %s",
                                ferry_mig_role_to_string(role),
                                ferry_mig_phase_to_string(phase),
                                ferry_mig_state_to_string(state), transfers[t]);
                    hit->used = TRUE;
                    if (strcmp(hit->action, ferry_mig_recovery_action_to_string(got)) != 0)
                        g_error("%s (%s, %s), QEMU %s: docs/recovery.md:%u says %s, the code "
                                "does %s", ferry_mig_role_to_string(role),
                                ferry_mig_phase_to_string(phase),
                                ferry_mig_state_to_string(state), transfers[t], hit->line,
                                hit->action, ferry_mig_recovery_action_to_string(got));
                    checked++;
                }
            }
        }
    }
    for (guint i = 0; i < rows->len; i++) {
        row *r = &g_array_index(rows, row, i);

        if (!r->used)
            g_error("docs/recovery.md:%u: a row that no case reaches", r->line);
        g_free(r->action);
    }
    g_assert_cmpuint(checked, ==, 2 * FERRY_MIG_N_PHASES * FERRY_MIG_N_STATES * 5);
}

/* The safety rule, stated directly: a source whose destination may run
 * the guest is never rolled back (resumed) by recovery alone. */
static void
test_never_resume_in_doubt(void)
{
    static const ferry_mig_phase in_zone[] = { FERRY_MIG_PHASE_FINISH, FERRY_MIG_PHASE_CONFIRM };

    for (guint t = FERRY_MIG_PROBE_GONE; t <= FERRY_MIG_PROBE_FAILED; t++) {
        g_assert_cmpint(ferry_mig_recovery_decide(FERRY_MIG_ROLE_SOURCE, FERRY_MIG_PHASE_PERFORM,
                                                  FERRY_MIG_STATE_WAITING, t),
                        ==, FERRY_MIG_RECOVER_ASK);
        for (guint p = 0; p < G_N_ELEMENTS(in_zone); p++) {
            g_assert_cmpint(ferry_mig_recovery_decide(FERRY_MIG_ROLE_SOURCE, in_zone[p],
                                                      FERRY_MIG_STATE_RUNNING, t),
                            ==, FERRY_MIG_RECOVER_ASK);
            g_assert_cmpint(ferry_mig_recovery_decide(FERRY_MIG_ROLE_SOURCE, in_zone[p],
                                                      FERRY_MIG_STATE_IN_DOUBT, t),
                            ==, FERRY_MIG_RECOVER_ASK);
        }
        g_assert_cmpint(ferry_mig_recovery_decide(FERRY_MIG_ROLE_DESTINATION,
                                                  FERRY_MIG_PHASE_FINISH,
                                                  FERRY_MIG_STATE_COMMITTED, t),
                        ==, FERRY_MIG_RECOVER_ACTIVATE);
    }
    g_assert_cmpint(ferry_mig_recovery_decide(FERRY_MIG_ROLE_SOURCE, FERRY_MIG_PHASE_PERFORM,
                                              FERRY_MIG_STATE_RUNNING, FERRY_MIG_PROBE_SENT),
                    ==, FERRY_MIG_RECOVER_ASK);
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/recovery/table-matches-docs", test_table_matches_code);
    g_test_add_func("/recovery/never-resume-in-doubt", test_never_resume_in_doubt);
    return g_test_run();
}
