/*
 * test-engine.c: the migration job engine (src/migration/) on two
 * in-process test hosts: the transition table, the job records on disk at
 * every step, and what an abort, a destroy or a vanished client does in
 * each phase, on each side.
 *
 * The phases are driven by hand, as the library's sequence drives them
 * (src/migration/migration-sequence.c): after a failure the test goes on as
 * the sequence would (Finish with cancelled, Confirm with CANCELLED), so
 * that each case ends where a real migration ends.  The cases are
 * descriptors run by one runner.
 *
 * The invariant checked at the end of every case: the guest exists on
 * exactly one host -- running on the source (as it ran before) with
 * nothing left on the destination, or running on the destination with the
 * source gone -- and each host's last job says how it ended.
 */
#include "ferry-config.h"

#include <ferry/ferry.h>
#include <glib/gstdio.h>
#include <string.h>

#include "api/migrate-internal.h"
#include "migrate-test-util.h"
#include "migration/migration-job.h"
#include "test/test-driver.h"

#define SRC_UUID "a1e0c3d2-0f1b-4c5d-8e9f-0a1b2c3d4e5f"
#define DST_UUID "b2f1d4e3-1a2c-4d6e-9f0a-1b2c3d4e5f60"

/* ------------------------------------------------------------------------ */
/* The transition table                                                      */
/* ------------------------------------------------------------------------ */

/* Every move a source or destination job makes on the way to each end,
 * written out independently of the table: anything else must be refused. */
typedef struct {
    ferry_mig_role role;
    ferry_mig_phase from_phase;
    ferry_mig_state from_state;
    ferry_mig_phase to_phase;
    ferry_mig_state to_state;
} move;

#define P(x) FERRY_MIG_PHASE_##x
#define S(x) FERRY_MIG_STATE_##x
#define SRC FERRY_MIG_ROLE_SOURCE
#define DST FERRY_MIG_ROLE_DESTINATION

static const move legal[] = {
    { SRC, P(NONE), S(NEW), P(BEGIN), S(RUNNING) },
    { SRC, P(NONE), S(NEW), P(PERFORM), S(RUNNING) },
    { SRC, P(BEGIN), S(RUNNING), P(BEGIN), S(WAITING) },
    { SRC, P(BEGIN), S(RUNNING), P(BEGIN), S(ROLLBACK) },
    { SRC, P(BEGIN), S(WAITING), P(PERFORM), S(RUNNING) },
    { SRC, P(BEGIN), S(WAITING), P(CONFIRM), S(RUNNING) },
    { SRC, P(BEGIN), S(WAITING), P(BEGIN), S(ROLLBACK) },
    { SRC, P(PERFORM), S(RUNNING), P(PERFORM), S(WAITING) },
    { SRC, P(PERFORM), S(RUNNING), P(PERFORM), S(ROLLBACK) },
    { SRC, P(PERFORM), S(WAITING), P(CONFIRM), S(RUNNING) },
    { SRC, P(PERFORM), S(WAITING), P(FINISH), S(RUNNING) },
    { SRC, P(PERFORM), S(WAITING), P(CONFIRM), S(IN_DOUBT) },
    { SRC, P(FINISH), S(RUNNING), P(CONFIRM), S(RUNNING) },
    { SRC, P(FINISH), S(RUNNING), P(CONFIRM), S(IN_DOUBT) },
    { SRC, P(CONFIRM), S(IN_DOUBT), P(CONFIRM), S(RUNNING) },
    { SRC, P(CONFIRM), S(RUNNING), P(CONFIRM), S(IN_DOUBT) },
    { SRC, P(CONFIRM), S(RUNNING), P(CONFIRM), S(COMPLETED) },
    { SRC, P(CONFIRM), S(RUNNING), P(CONFIRM), S(ROLLBACK) },
    { SRC, P(BEGIN), S(ROLLBACK), P(BEGIN), S(FAILED) },
    { SRC, P(BEGIN), S(ROLLBACK), P(BEGIN), S(CANCELLED) },
    { SRC, P(PERFORM), S(ROLLBACK), P(PERFORM), S(FAILED) },
    { SRC, P(PERFORM), S(ROLLBACK), P(PERFORM), S(CANCELLED) },
    { SRC, P(CONFIRM), S(ROLLBACK), P(CONFIRM), S(FAILED) },
    { SRC, P(CONFIRM), S(ROLLBACK), P(CONFIRM), S(CANCELLED) },
    { DST, P(NONE), S(NEW), P(PREPARE), S(RUNNING) },
    { DST, P(PREPARE), S(RUNNING), P(PREPARE), S(WAITING) },
    { DST, P(PREPARE), S(RUNNING), P(PREPARE), S(ROLLBACK) },
    { DST, P(PREPARE), S(WAITING), P(FINISH), S(RUNNING) },
    { DST, P(PREPARE), S(WAITING), P(PREPARE), S(ROLLBACK) },
    { DST, P(FINISH), S(RUNNING), P(FINISH), S(COMMITTED) },
    { DST, P(FINISH), S(RUNNING), P(FINISH), S(ROLLBACK) },
    { DST, P(FINISH), S(COMMITTED), P(FINISH), S(COMPLETED) },
    { DST, P(FINISH), S(COMMITTED), P(FINISH), S(ROLLBACK) },
    { DST, P(PREPARE), S(ROLLBACK), P(PREPARE), S(FAILED) },
    { DST, P(PREPARE), S(ROLLBACK), P(PREPARE), S(CANCELLED) },
    { DST, P(FINISH), S(ROLLBACK), P(FINISH), S(FAILED) },
    { DST, P(FINISH), S(ROLLBACK), P(FINISH), S(CANCELLED) },
};

static gboolean
is_legal(ferry_mig_role role, int fp, int fs, int tp, int ts)
{
    for (gsize i = 0; i < G_N_ELEMENTS(legal); i++) {
        const move *m = &legal[i];

        if (m->role == role && (int)m->from_phase == fp && (int)m->from_state == fs &&
            (int)m->to_phase == tp && (int)m->to_state == ts)
            return TRUE;
    }
    return FALSE;
}

static void
test_transition_table(void)
{
    const ferry_mig_role roles[] = { SRC, DST };
    guint allowed = 0;

    for (gsize r = 0; r < G_N_ELEMENTS(roles); r++) {
        for (int fp = 0; fp < FERRY_MIG_N_PHASES; fp++) {
            for (int fs = 0; fs < FERRY_MIG_N_STATES; fs++) {
                for (int tp = 0; tp < FERRY_MIG_N_PHASES; tp++) {
                    for (int ts = 0; ts < FERRY_MIG_N_STATES; ts++) {
                        gboolean want = is_legal(roles[r], fp, fs, tp, ts);
                        gboolean got = ferry_mig_transition_allowed(roles[r], fp, fs, tp, ts);

                        if (want != got)
                            g_test_fail_printf("%s (%s, %s) -> (%s, %s): table says %s",
                                               ferry_mig_role_to_string(roles[r]),
                                               ferry_mig_phase_to_string(fp),
                                               ferry_mig_state_to_string(fs),
                                               ferry_mig_phase_to_string(tp),
                                               ferry_mig_state_to_string(ts),
                                               got ? "legal" : "illegal");
                        allowed += got;
                    }
                }
            }
        }
    }
    g_assert_cmpuint(allowed, ==, G_N_ELEMENTS(legal));
    /* Nothing leaves an end. */
    for (int s = FERRY_MIG_STATE_COMPLETED; s <= FERRY_MIG_STATE_CANCELLED; s++)
        g_assert_false(ferry_mig_transition_allowed(SRC, P(CONFIRM), s, P(CONFIRM),
                                                    S(RUNNING)));
    g_assert_true(ferry_mig_state_is_final(S(CANCELLED)));
    g_assert_false(ferry_mig_state_is_final(S(IN_DOUBT)));
    g_assert_cmpint(ferry_mig_state_from_string("in-doubt"), ==, S(IN_DOUBT));
    g_assert_cmpint(ferry_mig_phase_from_string("confirm"), ==, P(CONFIRM));
    g_assert_cmpint(ferry_mig_state_from_string("nonsense"), ==, -1);
}

#undef SRC
#undef DST

/* ------------------------------------------------------------------------ */
/* Two hosts, their clients, their records                                   */
/* ------------------------------------------------------------------------ */

typedef struct {
    char *dir;              /* records: DIR/src, DIR/dst */
    ferry_conn *src;        /* the test's own view of each host */
    ferry_conn *dst;
    ferry_conn *csrc;       /* the "client" driving the migration */
    ferry_conn *cdst;
    ferry_domain *dom;      /* web1 on csrc */
    ferry_migrate_params params;
    char *xml;
    char *cookie_begin;
    char *cookie_prepare;
    char *cookie_perform;
    char *cookie_finish;
    char *uri;
} rig;

static char *
host_uri(const rig *r, const char *side, const char *uuid, const char *extra)
{
    return g_strdup_printf("test:///%s?host_uuid=%s&state_dir=%s/%s%s%s", side, uuid, r->dir,
                           side, extra ? "&" : "", extra ? extra : "");
}

static void
rig_open(rig *r, const char *src_extra, const char *dst_extra)
{
    g_autofree char *su = NULL;
    g_autofree char *du = NULL;
    g_autoptr(GError) error = NULL;
    g_autoptr(ferry_domain) mine = NULL;

    memset(r, 0, sizeof(*r));
    r->dir = g_dir_make_tmp("ferry-engine-XXXXXX", &error);
    g_assert_no_error(error);
    su = host_uri(r, "src", SRC_UUID, src_extra);
    du = host_uri(r, "dst", DST_UUID, dst_extra);
    r->src = mt_conn_open(su);
    r->dst = mt_conn_open(du);
    r->csrc = mt_conn_open("test:///client?host_uuid=" SRC_UUID);
    r->cdst = mt_conn_open("test:///client?host_uuid=" DST_UUID);
    mine = mt_domain_start(r->src, mt_web1_xml);
    r->dom = ferry_domain_lookup_by_name(r->csrc, "web1", &error);
    g_assert_no_error(error);
    r->params.flags = FERRY_MIGRATE_LIVE;
}

static void
remove_tree(const char *dir)
{
    const char *sides[] = { "src", "dst" };

    for (gsize i = 0; i < G_N_ELEMENTS(sides); i++) {
        g_autofree char *sub = g_build_filename(dir, sides[i], NULL);
        g_autoptr(GDir) d = g_dir_open(sub, 0, NULL);
        const char *name;

        while (d && (name = g_dir_read_name(d))) {
            g_autofree char *path = g_build_filename(sub, name, NULL);

            g_unlink(path);
        }
        g_rmdir(sub);
    }
    g_rmdir(dir);
}

static void
rig_close(rig *r)
{
    ferry_domain_unref(r->dom);
    ferry_conn_unref(r->csrc);
    ferry_conn_unref(r->cdst);
    ferry_conn_unref(r->src);
    ferry_conn_unref(r->dst);
    remove_tree(r->dir);
    g_free(r->dir);
    g_free(r->xml);
    g_free(r->cookie_begin);
    g_free(r->cookie_prepare);
    g_free(r->cookie_perform);
    g_free(r->cookie_finish);
    g_free(r->uri);
}

/* The record of web1 on @side ("src" or "dst"), or NULL. */
static ferry_mig_record *
record_of(const rig *r, const char *side)
{
    g_autofree char *dir = g_build_filename(r->dir, side, NULL);
    g_autofree char *path = ferry_mig_record_path(dir, MT_WEB1_UUID);

    if (!g_file_test(path, G_FILE_TEST_EXISTS))
        return NULL;
    return ferry_mig_record_read(path, NULL);
}

/* @side's record says (@phase, @state). */
static void
assert_record(const rig *r, const char *side, const char *phase, const char *state)
{
    g_autoptr(ferry_mig_record) rec = record_of(r, side);

    g_assert_nonnull(rec);
    g_assert_cmpstr(ferry_mig_phase_to_string(rec->phase), ==, phase);
    g_assert_cmpstr(ferry_mig_state_to_string(rec->state), ==, state);
}

/* The record and the job information of @side agree, and say @state. */
static void
assert_job(const rig *r, const char *side, const char *state)
{
    ferry_conn *conn = strcmp(side, "src") == 0 ? r->src : r->dst;
    g_autoptr(GError) error = NULL;
    g_autoptr(ferry_domain) dom = ferry_domain_new_handle(conn, "web1", MT_WEB1_UUID);
    g_autoptr(ferry_mig_record) rec = record_of(r, side);
    ferry_job_info info = { 0 };
    gboolean final = !strcmp(state, "completed") || !strcmp(state, "failed") ||
                     !strcmp(state, "cancelled");

    g_assert_nonnull(rec);
    /* The record is written before the move it announces: the job may
     * not be there yet. */
    for (gint64 deadline = g_get_monotonic_time() + 10 * G_TIME_SPAN_SECOND;;) {
        g_assert_true(ferry_domain_get_job_stats(dom, final ? FERRY_JOB_STATS_COMPLETED : 0,
                                                 &info, &error));
        g_assert_no_error(error);
        if (!strcmp(info.state, state) || g_get_monotonic_time() > deadline)
            break;
        g_usleep(2000);
    }
    g_assert_cmpstr(info.state, ==, state);
    g_assert_cmpstr(ferry_mig_state_to_string(rec->state), ==, state);
    /* An ended job is in no phase; its record keeps the one it ended in. */
    if (final)
        g_assert_cmpstr(info.phase, ==, "");
    else
        g_assert_cmpstr(ferry_mig_phase_to_string(rec->phase), ==, info.phase);
    g_assert_cmpstr(rec->id, ==, info.id);
}

/* Waits (iterating the default context: events and calls in threads come
 * back there) until @side's record says @state. */
static void
wait_record(const rig *r, const char *side, const char *state)
{
    gint64 deadline = g_get_monotonic_time() + 10 * G_TIME_SPAN_SECOND;

    for (;;) {
        g_autoptr(ferry_mig_record) rec = record_of(r, side);

        if (rec && !strcmp(ferry_mig_state_to_string(rec->state), state))
            return;
        g_assert_cmpint(g_get_monotonic_time(), <, deadline);
        g_main_context_iteration(NULL, FALSE);
        g_usleep(2000);
    }
}

/* Waits until the transfer held on host @uuid ("hold=perform") started:
 * acting "during the transfer" before it would race with its start. */
static void
wait_held(const char *uuid)
{
    gint64 deadline = g_get_monotonic_time() + 10 * G_TIME_SPAN_SECOND;

    while (!ferry_test_driver_held(uuid)) {
        g_assert_cmpint(g_get_monotonic_time(), <, deadline);
        g_main_context_iteration(NULL, FALSE);
        g_usleep(1000);
    }
}

/* ------------------------------------------------------------------------ */
/* The phases, by hand                                                       */
/* ------------------------------------------------------------------------ */

static gboolean
begin(rig *r, GError **error)
{
    r->xml = ferry_domain_migrate_begin3(r->dom, &r->params, &r->cookie_begin, error);
    return r->xml != NULL;
}

static gboolean
prepare(rig *r, GError **error)
{
    return ferry_conn_migrate_prepare3(r->cdst, &r->params, r->xml, r->cookie_begin,
                                       &r->cookie_prepare, &r->uri, error);
}

static gboolean
perform(rig *r, GError **error)
{
    ferry_migrate_params p = r->params;

    p.uri = r->uri;
    return ferry_domain_migrate_perform3(r->dom, &p, NULL, r->cookie_prepare,
                                         &r->cookie_perform, error);
}

static ferry_domain *
finish(rig *r, gboolean cancelled, GError **error)
{
    return ferry_conn_migrate_finish3(r->cdst, &r->params, "web1",
                                      r->cookie_perform ? r->cookie_perform : r->cookie_begin,
                                      &r->cookie_finish, cancelled, error);
}

static gboolean
confirm(rig *r, gboolean cancelled, GError **error)
{
    return ferry_domain_migrate_confirm3(r->dom, &r->params, cancelled ? NULL : r->cookie_finish,
                                         cancelled, error);
}

static void
store_result(GObject *source, GAsyncResult *result, gpointer data)
{
    *(GAsyncResult **)data = g_object_ref(result);
}

/* A phase call in a thread of its own (it waits on a hold). */
typedef struct {
    rig *r;
    gboolean (*fn)(rig *r, GError **error);
    ferry_domain *(*fn_dom)(rig *r, gboolean cancelled, GError **error);
    GThread *thread;
    gboolean ok;
    GError *error;
    ferry_domain *ddom;
} bg_call;

static gpointer
bg_thread(gpointer data)
{
    bg_call *c = data;

    if (c->fn) {
        c->ok = c->fn(c->r, &c->error);
    } else {
        c->ddom = c->fn_dom(c->r, FALSE, &c->error);
        c->ok = c->ddom != NULL;
    }
    return NULL;
}

static bg_call *
bg_start(rig *r, gboolean (*fn)(rig *, GError **), ferry_domain *(*fn_dom)(rig *, gboolean,
                                                                             GError **))
{
    bg_call *c = g_new0(bg_call, 1);

    c->r = r;
    c->fn = fn;
    c->fn_dom = fn_dom;
    c->thread = g_thread_new("phase", bg_thread, c);
    return c;
}

/* Joins the call; returns whether it succeeded, its error in @error. */
static gboolean
bg_join(bg_call *c, GError **error)
{
    gboolean ok;

    g_thread_join(c->thread);
    ok = c->ok;
    if (c->error)
        g_propagate_error(error, c->error);
    ferry_domain_unref(c->ddom);
    g_free(c);
    return ok;
}

/* ------------------------------------------------------------------------ */
/* The cases                                                                 */
/* ------------------------------------------------------------------------ */

/* Where a case acts. */
typedef enum {
    AT_BEGIN,       /* after Begin: the source waits for Perform */
    AT_PREPARE,     /* after Prepare: the destination waits for data */
    AT_PERFORM,     /* the transfer runs (hold=perform) */
    AT_SENT,        /* after Perform: the source is paused, Finish not sent */
    AT_FINISH,      /* Finish waits for the last data (hold=finish) */
    AT_CONFIRM,     /* after Finish: the destination runs the guest */
} stage;

typedef enum {
    DO_ABORT,
    DO_DESTROY,
    DO_VANISH,      /* the client of both hosts goes away */
} action;

typedef enum {
    ON_SOURCE,
    ON_DEST,
} side;

typedef enum {
    STAYS,          /* the guest runs on the source, nothing on the destination */
    MOVES,          /* the guest runs on the destination, the source is gone */
    DESTROYED,      /* the guest runs nowhere: it was destroyed */
} outcome;

typedef struct {
    const char *path;
    stage at;
    action what;
    side where;
    gboolean action_fails;      /* the abort is refused (too late) */
    outcome end;
    const char *src_job;        /* the source's last job ends so */
    const char *dst_job;        /* the destination's ("" when it had none) */
} engine_case;

static const engine_case cases[] = {
    /* Abort, on the source */
    { "/engine/abort/source/begin", AT_BEGIN, DO_ABORT, ON_SOURCE, FALSE, STAYS,
      "cancelled", "cancelled" },
    { "/engine/abort/source/prepare", AT_PREPARE, DO_ABORT, ON_SOURCE, FALSE, STAYS,
      "cancelled", "cancelled" },
    { "/engine/abort/source/perform", AT_PERFORM, DO_ABORT, ON_SOURCE, FALSE, STAYS,
      "cancelled", "cancelled" },
    { "/engine/abort/source/sent", AT_SENT, DO_ABORT, ON_SOURCE, FALSE, STAYS,
      "cancelled", "cancelled" },
    { "/engine/abort/source/finish", AT_FINISH, DO_ABORT, ON_SOURCE, FALSE, STAYS,
      "cancelled", "cancelled" },
    { "/engine/abort/source/confirm", AT_CONFIRM, DO_ABORT, ON_SOURCE, TRUE, MOVES,
      "completed", "completed" },
    /* Abort, on the destination */
    { "/engine/abort/dest/prepare", AT_PREPARE, DO_ABORT, ON_DEST, FALSE, STAYS,
      "cancelled", "cancelled" },
    { "/engine/abort/dest/perform", AT_PERFORM, DO_ABORT, ON_DEST, FALSE, STAYS,
      "cancelled", "cancelled" },
    { "/engine/abort/dest/sent", AT_SENT, DO_ABORT, ON_DEST, FALSE, STAYS,
      "cancelled", "cancelled" },
    { "/engine/abort/dest/finish", AT_FINISH, DO_ABORT, ON_DEST, FALSE, STAYS,
      "cancelled", "cancelled" },
    { "/engine/abort/dest/confirm", AT_CONFIRM, DO_ABORT, ON_DEST, TRUE, MOVES,
      "completed", "completed" },
    /* Destroy, on the source: the guest is gone everywhere */
    { "/engine/destroy/source/begin", AT_BEGIN, DO_DESTROY, ON_SOURCE, FALSE, DESTROYED,
      "failed", "failed" },
    { "/engine/destroy/source/prepare", AT_PREPARE, DO_DESTROY, ON_SOURCE, FALSE, DESTROYED,
      "failed", "failed" },
    { "/engine/destroy/source/perform", AT_PERFORM, DO_DESTROY, ON_SOURCE, FALSE, DESTROYED,
      "failed", "failed" },
    { "/engine/destroy/source/sent", AT_SENT, DO_DESTROY, ON_SOURCE, FALSE, DESTROYED,
      "failed", "cancelled" },
    { "/engine/destroy/source/finish", AT_FINISH, DO_DESTROY, ON_SOURCE, FALSE, DESTROYED,
      "failed", "cancelled" },
    /* Destroy, on the destination: the source keeps the guest */
    { "/engine/destroy/dest/prepare", AT_PREPARE, DO_DESTROY, ON_DEST, FALSE, STAYS,
      "failed", "failed" },
    { "/engine/destroy/dest/perform", AT_PERFORM, DO_DESTROY, ON_DEST, FALSE, STAYS,
      "failed", "failed" },
    { "/engine/destroy/dest/sent", AT_SENT, DO_DESTROY, ON_DEST, FALSE, STAYS,
      "failed", "failed" },
    { "/engine/destroy/dest/finish", AT_FINISH, DO_DESTROY, ON_DEST, FALSE, STAYS,
      "failed", "failed" },
    /* The client vanishes: given up where nothing is in doubt, carried to
     * its end by the source's daemon once everything was sent. */
    { "/engine/vanish/begin", AT_BEGIN, DO_VANISH, ON_SOURCE, FALSE, STAYS,
      "cancelled", "" },
    { "/engine/vanish/prepare", AT_PREPARE, DO_VANISH, ON_SOURCE, FALSE, STAYS,
      "cancelled", "cancelled" },
    { "/engine/vanish/perform", AT_PERFORM, DO_VANISH, ON_SOURCE, FALSE, STAYS,
      "cancelled", "cancelled" },
    { "/engine/vanish/sent", AT_SENT, DO_VANISH, ON_SOURCE, FALSE, MOVES,
      "completed", "completed" },
    { "/engine/vanish/finish", AT_FINISH, DO_VANISH, ON_SOURCE, FALSE, MOVES,
      "completed", "completed" },
    { "/engine/vanish/confirm", AT_CONFIRM, DO_VANISH, ON_SOURCE, FALSE, MOVES,
      "completed", "completed" },
};

static void
act(rig *r, const engine_case *c)
{
    ferry_conn *conn = c->where == ON_SOURCE ? r->src : r->dst;
    g_autoptr(ferry_domain) dom = ferry_domain_new_handle(conn, "web1", MT_WEB1_UUID);
    g_autoptr(GError) error = NULL;
    gboolean ok = TRUE;

    switch (c->what) {
    case DO_ABORT:
        ok = ferry_domain_abort_job(dom, 0, &error);
        break;
    case DO_DESTROY:
        ok = ferry_domain_destroy(dom, &error);
        break;
    case DO_VANISH:
        /* As ferryd's dispatch does when a client's socket closes. */
        ferry_conn_client_gone(r->csrc);
        ferry_conn_client_gone(r->cdst);
        return;
    }
    if (c->action_fails) {
        g_assert_false(ok);
        g_assert_error(error, FERRY_ERROR, FERRY_ERROR_OPERATION_INVALID);
        g_assert_true(strstr(error->message, "too late") ||
                      strstr(error->message, "no migration job"));
    } else {
        g_assert_no_error(error);
        g_assert_true(ok);
    }
}

/* The failure path of the sequence after Perform failed with @why: Finish
 * learns why (and whether it was an abort) from Begin's cookie with a
 * result, then Confirm(cancelled). */
static void
give_up_like_the_sequence(rig *r, const GError *why)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(ferry_migration_cookie) c =
        ferry_migration_cookie_parse(r->cookie_begin, "Finish3", &error);
    g_autoptr(ferry_domain) ddom = NULL;

    g_assert_no_error(error);
    c->has_result = TRUE;
    c->result_aborted = g_error_matches(why, FERRY_ERROR, FERRY_ERROR_OPERATION_ABORTED);
    c->result_message = g_strdup(why->message);
    g_free(r->cookie_begin);
    r->cookie_begin = ferry_migration_cookie_format(c);
    ddom = finish(r, TRUE, &error);
    g_assert_null(ddom);
    g_clear_error(&error);
    confirm(r, TRUE, &error);
}

static void
assert_outcome(rig *r, const engine_case *c)
{
    switch (c->end) {
    case STAYS: {
        g_autoptr(GError) error = NULL;
        g_autoptr(ferry_domain) dom = ferry_domain_lookup_by_name(r->src, "web1", &error);
        int state = -1;

        g_assert_no_error(error);
        g_assert_true(ferry_domain_get_state(dom, &state, NULL, &error));
        g_assert_cmpstr(ferry_domain_state_to_string(state), ==, "running");
        break;
    }
    case MOVES:
        mt_assert_state(r->dst, "web1", FERRY_DOMAIN_RUNNING, FERRY_RUNNING_MIGRATED);
        mt_assert_state(r->src, "web1", FERRY_DOMAIN_SHUTOFF, FERRY_SHUTOFF_MIGRATED);
        break;
    case DESTROYED:
        mt_assert_state(r->src, "web1", FERRY_DOMAIN_SHUTOFF, FERRY_SHUTOFF_DESTROYED);
        break;
    }
    if (c->end != MOVES)
        g_assert_cmpuint(mt_count_domains(r->dst), ==, 0);
    wait_record(r, "src", c->src_job);
    assert_job(r, "src", c->src_job);
    if (*c->dst_job) {
        wait_record(r, "dst", c->dst_job);
        assert_job(r, "dst", c->dst_job);
    } else {
        g_autoptr(ferry_mig_record) rec = record_of(r, "dst");

        g_assert_null(rec);
    }
}

static void
run_case(gconstpointer data)
{
    const engine_case *c = data;
    g_autoptr(GError) error = NULL;
    g_autoptr(ferry_domain) ddom = NULL;
    bg_call *bg = NULL;
    gboolean ok;
    rig r;

    rig_open(&r, c->at == AT_PERFORM ? "hold=perform" : NULL,
             c->at == AT_FINISH ? "hold=finish" : NULL);

    g_assert_true(begin(&r, &error));
    g_assert_no_error(error);
    if (c->at == AT_BEGIN) {
        act(&r, c);
        if (c->what == DO_VANISH) {
            wait_record(&r, "src", "cancelled");
            goto check;
        }
    }
    ok = prepare(&r, &error);
    g_assert_no_error(error);
    g_assert_true(ok);
    if (c->at == AT_PREPARE) {
        act(&r, c);
        if (c->what == DO_VANISH) {
            wait_record(&r, "dst", "cancelled");
            goto check;
        }
    }

    if (c->at == AT_PERFORM) {
        bg = bg_start(&r, perform, NULL);
        wait_record(&r, "src", "running");
        assert_record(&r, "src", "perform", "running");
        wait_held(SRC_UUID);
        act(&r, c);
        /* What the hold kept back goes now (a cancelled transfer sends
         * nothing). */
        ferry_test_driver_release(SRC_UUID);
        ok = bg_join(bg, &error);
    } else {
        ok = perform(&r, &error);
    }
    if (!ok) {
        if (c->what != DO_VANISH)
            give_up_like_the_sequence(&r, error);
        g_clear_error(&error);
        goto check;
    }
    g_assert_no_error(error);
    assert_record(&r, "src", "perform", "waiting");
    if (c->at == AT_SENT) {
        act(&r, c);
        if (c->what == DO_VANISH) {
            wait_record(&r, "src", c->src_job);
            goto check;
        }
        /* A destroy returns once the guest is gone; the job then tells the
         * destination, before a Finish from the client (a Finish first
         * would be a race the destination wins: it runs the guest, the
         * one copy). */
        if (c->what == DO_DESTROY)
            wait_record(&r, c->where == ON_SOURCE ? "src" : "dst", "failed");
    }

    if (c->at == AT_FINISH) {
        bg = bg_start(&r, NULL, finish);
        wait_record(&r, "dst", "running");
        assert_record(&r, "dst", "finish", "running");
        act(&r, c);
        if (c->what == DO_VANISH) {
            /* The source's daemon now finishes it: its Finish joins ours. */
            ferry_test_driver_release(DST_UUID);
            bg_join(bg, &error);
            g_clear_error(&error);
            wait_record(&r, "src", c->src_job);
            goto check;
        }
        ok = bg_join(bg, &error);
    } else {
        ddom = finish(&r, FALSE, &error);
        ok = ddom != NULL;
    }
    if (!ok) {
        g_clear_error(&error);
        confirm(&r, TRUE, &error);
        g_clear_error(&error);
        goto check;
    }
    g_assert_no_error(error);
    if (c->at == AT_CONFIRM) {
        act(&r, c);
        if (c->what == DO_VANISH) {
            wait_record(&r, "src", c->src_job);
            goto check;
        }
    }
    ok = confirm(&r, FALSE, &error);
    g_assert_no_error(error);
    g_assert_true(ok);

check:
    assert_outcome(&r, c);
    rig_close(&r);
}

/* ------------------------------------------------------------------------ */
/* The record at every step                                                  */
/* ------------------------------------------------------------------------ */

static void
test_records(void)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(ferry_domain) ddom = NULL;
    rig r;

    rig_open(&r, NULL, NULL);
    g_assert_null(record_of(&r, "src"));
    g_assert_true(begin(&r, &error));
    assert_job(&r, "src", "waiting");
    assert_record(&r, "src", "begin", "waiting");
    g_assert_null(record_of(&r, "dst"));

    g_assert_true(prepare(&r, &error));
    assert_job(&r, "dst", "waiting");
    assert_record(&r, "dst", "prepare", "waiting");
    assert_record(&r, "src", "begin", "waiting");

    g_assert_true(perform(&r, &error));
    assert_job(&r, "src", "waiting");
    assert_record(&r, "src", "perform", "waiting");

    ddom = finish(&r, FALSE, &error);
    g_assert_no_error(error);
    g_assert_nonnull(ddom);
    assert_job(&r, "dst", "completed");
    assert_record(&r, "dst", "finish", "completed");
    assert_record(&r, "src", "perform", "waiting");

    g_assert_true(confirm(&r, FALSE, &error));
    g_assert_no_error(error);
    assert_job(&r, "src", "completed");
    assert_record(&r, "src", "confirm", "completed");
    {
        g_autoptr(ferry_mig_record) s = record_of(&r, "src");
        g_autoptr(ferry_mig_record) d = record_of(&r, "dst");

        /* One migration, one id on both hosts; each knows the other. */
        g_assert_cmpstr(s->id, ==, d->id);
        g_assert_cmpint(s->role, ==, FERRY_MIG_ROLE_SOURCE);
        g_assert_cmpint(d->role, ==, FERRY_MIG_ROLE_DESTINATION);
        g_assert_cmpstr(s->peer_uri, ==, "test:///peer?host_uuid=" DST_UUID);
        g_assert_cmpstr(d->peer_uri, ==, "test:///peer?host_uuid=" SRC_UUID);
    }
    {
        /* The final statistics follow the outcome into the record (written
         * once more after the callers had their answer): what a restarted
         * daemon answers to domjobinfo --completed. */
        g_autoptr(ferry_domain) dom = ferry_domain_new_handle(r.src, "web1", MT_WEB1_UUID);
        ferry_job_info info = { 0 };
        g_autoptr(ferry_mig_record) s = NULL;

        g_assert_true(ferry_domain_get_job_stats(dom, FERRY_JOB_STATS_COMPLETED, &info, NULL));
        for (gint64 deadline = g_get_monotonic_time() + 10 * G_TIME_SPAN_SECOND;;) {
            g_clear_pointer(&s, ferry_mig_record_free);
            s = record_of(&r, "src");
            if ((s && s->stats) || g_get_monotonic_time() > deadline)
                break;
            g_usleep(2000);
        }
        g_assert_nonnull(s);
        g_assert_nonnull(s->stats);
        g_assert_cmpint(s->stats->elapsed_ms, ==, info.elapsed_ms);
        g_assert_cmpuint(s->stats->mem_total, ==, info.mem_total);
        g_assert_cmpuint(s->stats->mem_processed, ==, info.mem_processed);
        g_assert_cmpint(s->stats->total_ms, ==, info.total_ms);
        g_assert_cmpint(s->stats->protocol, ==, info.protocol);
        g_assert_cmpstr(s->stats->postcopy, ==, info.postcopy);
    }
    rig_close(&r);
}

/* Confirm told "unknown" (Finish's answer was lost), waited for. */
static gboolean
confirm_unknown(rig *r, GError **error)
{
    g_autoptr(GMainContext) context = g_main_context_new();
    g_autoptr(GAsyncResult) result = NULL;
    g_autoptr(ferry_phase_result) answer = NULL;

    g_main_context_push_thread_default(context);
    ferry_domain_migrate_confirm3_async(r->dom, &r->params, r->cookie_perform,
                                        FERRY_CONFIRM_UNKNOWN, NULL, store_result, &result);
    while (!result)
        g_main_context_iteration(context, TRUE);
    g_main_context_pop_thread_default(context);
    answer = ferry_phase_finish(result, error);
    return answer != NULL;
}

/* Finish's answer lost after the destination ran the guest: the source
 * asks, learns it runs there, and goes. */
static void
test_in_doubt_completed(void)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(ferry_domain) ddom = NULL;
    g_autoptr(ferry_mig_record) rec = NULL;
    g_autofree char *message = NULL;
    int status = -1;
    rig r;

    rig_open(&r, NULL, NULL);
    g_assert_true(begin(&r, &error));
    g_assert_true(prepare(&r, &error));
    g_assert_true(perform(&r, &error));
    ddom = finish(&r, FALSE, &error);
    g_assert_nonnull(ddom);
    rec = record_of(&r, "dst");
    g_assert_nonnull(rec);
    /* What the source's daemon asks the destination's. */
    g_assert_true(ferry_conn_migrate_query(r.cdst, rec->id, &status, &message, &error));
    g_assert_no_error(error);
    g_assert_cmpint(status, ==, FERRY_MIGRATION_COMPLETED);
    g_assert_true(confirm_unknown(&r, &error));
    g_assert_no_error(error);
    mt_assert_state(r.dst, "web1", FERRY_DOMAIN_RUNNING, FERRY_RUNNING_MIGRATED);
    mt_assert_state(r.src, "web1", FERRY_DOMAIN_SHUTOFF, FERRY_SHUTOFF_MIGRATED);
    assert_job(&r, "src", "completed");
    rig_close(&r);
}

/* Finish never reached the destination: asked, the destination's daemon
 * finishes it (the source's daemon runs Finish itself). */
static void
test_in_doubt_unfinished(void)
{
    g_autoptr(GError) error = NULL;
    rig r;

    rig_open(&r, NULL, NULL);
    g_assert_true(begin(&r, &error));
    g_assert_true(prepare(&r, &error));
    g_assert_true(perform(&r, &error));
    g_assert_true(confirm_unknown(&r, &error));
    g_assert_no_error(error);
    mt_assert_state(r.dst, "web1", FERRY_DOMAIN_RUNNING, FERRY_RUNNING_MIGRATED);
    mt_assert_state(r.src, "web1", FERRY_DOMAIN_SHUTOFF, FERRY_SHUTOFF_MIGRATED);
    assert_job(&r, "src", "completed");
    assert_job(&r, "dst", "completed");
    rig_close(&r);
}

/* The destination gave it up before the source asked: the source runs the
 * guest again, and a late Finish is refused. */
static void
test_in_doubt_refused(void)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(ferry_domain) late = NULL;
    g_autoptr(ferry_domain) ddom = NULL;
    rig r;

    rig_open(&r, NULL, NULL);
    g_assert_true(begin(&r, &error));
    g_assert_true(prepare(&r, &error));
    g_assert_true(perform(&r, &error));
    ddom = ferry_domain_new_handle(r.dst, "web1", MT_WEB1_UUID);
    g_assert_true(ferry_domain_abort_job(ddom, 0, &error));
    g_assert_no_error(error);
    /* The destination told the source, which runs the guest again. */
    wait_record(&r, "src", "cancelled");
    g_assert_false(confirm_unknown(&r, &error));
    g_clear_error(&error);
    late = finish(&r, FALSE, &error);
    g_assert_null(late);
    g_assert_error(error, FERRY_ERROR, FERRY_ERROR_OPERATION_ABORTED);
    g_clear_error(&error);
    mt_assert_state(r.src, "web1", FERRY_DOMAIN_RUNNING, FERRY_RUNNING_MIGRATION_CANCELED);
    g_assert_cmpuint(mt_count_domains(r.dst), ==, 0);
    assert_job(&r, "src", "cancelled");
    assert_job(&r, "dst", "cancelled");
    rig_close(&r);
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/engine/transition-table", test_transition_table);
    g_test_add_func("/engine/records", test_records);
    g_test_add_func("/engine/in-doubt/completed", test_in_doubt_completed);
    g_test_add_func("/engine/in-doubt/unfinished", test_in_doubt_unfinished);
    g_test_add_func("/engine/in-doubt/refused", test_in_doubt_refused);
    for (gsize i = 0; i < G_N_ELEMENTS(cases); i++)
        g_test_add_data_func(cases[i].path, &cases[i], run_case);
    return g_test_run();
}
