/*
 * migrate-test-util.h: what the migration tests share (tests/api and
 * tests/rpc): the test domain web1, opening and checking connections, and a
 * migration run in a thread while the test reads its job information.
 *
 * Every helper fails the test on an unexpected error.
 */
#pragma once

#include <ferry/ferry.h>

G_BEGIN_DECLS

#define MT_WEB1_UUID "3f1e6a2c-5b7d-4e8f-9a0b-1c2d3e4f5a6b"

/** mt_web1_xml: web1, 64 MiB, no disks. */
extern const char *const mt_web1_xml;

/** mt_web1_disks_xml: web1 with disks vda and vdb, and vdc read-only. */
extern const char *const mt_web1_disks_xml;

/**
 * mt_conn_open:
 * @uri: a connection URI
 *
 * Returns: (transfer full): the connection.
 */
ferry_conn *mt_conn_open(const char *uri);

/**
 * mt_open_test_host:
 * @name: the host's name in the URI
 * @params: (nullable): the URI's query, e.g. "migration=v2&fail=perform"
 *
 * Returns: (transfer full): a connection to `test:///NAME?PARAMS`.
 */
ferry_conn *mt_open_test_host(const char *name, const char *params);

/**
 * mt_domain_start:
 * @conn: a connection
 * @xml: a domain definition
 *
 * Defines the domain persistently and starts it.
 *
 * Returns: (transfer full): the domain.
 */
ferry_domain *mt_domain_start(ferry_conn *conn, const char *xml);

/** mt_count_domains: Returns: how many domains @conn lists (active or not). */
guint mt_count_domains(ferry_conn *conn);

/**
 * mt_assert_state:
 * @conn: a connection
 * @name: a domain that must exist on it
 * @state, @reason: what it must be in
 *
 * Compares as words, so that a failure reads "running" vs "paused".
 */
void mt_assert_state(ferry_conn *conn, const char *name, int state, int reason);

/** mt_assert_strv: @got and @want (both nullable) hold the same strings in order. */
void mt_assert_strv(char *const *got, const char *const *want);

/** mt_migration: ferry_domain_migrate() run in a thread of its own; opaque. */
typedef struct mt_migration mt_migration;

/**
 * mt_migration_start:
 * @dom: the domain on the source connection
 * @dconn: the destination
 * @params: (nullable): kept by pointer: it must live until mt_migration_finish()
 *
 * Subscribes to job-progress events of @dom's connection, then starts the
 * migration in a thread.
 */
mt_migration *mt_migration_start(ferry_domain *dom, ferry_conn *dconn,
                                 const ferry_migrate_params *params);

/**
 * mt_migration_wait_progress:
 * @m: a running migration
 *
 * Iterates the thread-default main context until a job-progress event came
 * (what a source opened with hold=perform emits when Perform waits for a
 * reader), failing the test if the migration returned first.
 */
void mt_migration_wait_progress(mt_migration *m);

/**
 * mt_migration_finish:
 * @m: (transfer full): a migration
 * @error: return location for the migration's error
 *
 * Joins the thread, unsubscribes and frees @m.
 *
 * Returns: (transfer full): what ferry_domain_migrate() returned.
 */
ferry_domain *mt_migration_finish(mt_migration *m, GError **error);

/**
 * mt_log_init:
 *
 * Records the warnings of the migration engine (log domain
 * "ferry-migration") instead of letting them abort the test: some tests
 * cause them on purpose.  Other warnings stay fatal.
 */
void mt_log_init(void);

/**
 * mt_log_take:
 * @substring: what the warning says
 *
 * Returns: how many recorded warnings contained @substring; they are
 *   forgotten.
 */
guint mt_log_take(const char *substring);

/**
 * mt_log_assert_empty:
 *
 * Fails the test if a recorded warning was not taken.
 */
void mt_log_assert_empty(void);

G_END_DECLS
