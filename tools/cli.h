/*
 * cli.h: what the files of the ferry command-line client share: the
 * invocation, the command table's type, and helpers to find a domain and to
 * print JSON.
 *
 * Owns: nothing at run time.  Must not: reach past the public API in
 * <ferry/ferry.h> (everything the CLI does, an application can do).
 *
 * Exit status: 0 on success, 1 when the operation failed, 2 on a usage
 * error.  A failure prints exactly one line on stderr: "ferry: error: ...".
 */
#pragma once

#include <ferry/ferry.h>
#include <json-c/json.h>

#include "util/json-util.h"

#define EXIT_USAGE 2
/* The shell's status for a process ended by SIGINT (Ctrl-C). */
#define EXIT_INTERRUPTED 130

/** cli: one invocation of the client. */
typedef struct {
    ferry_conn *conn;          /* opened on first use (cli_ensure_conn) */
    const char *uri;           /* -c URI, else $FERRY_DEFAULT_URI, else NULL */
    gboolean json;             /* --json was given */
} cli;

typedef struct command command;

/**
 * command_fn:
 * @c: the invocation
 * @cmd: the command being run
 * @args: its positional arguments, exactly cmd->n_args of them
 * @error: return location for an error
 *
 * An error in the G_OPTION_ERROR domain is a usage error (a bad
 * positional argument): it exits with EXIT_USAGE instead of 1.  A command
 * checks its arguments before it connects, so that a usage error never
 * depends on a host.
 *
 * Returns: TRUE on success.
 */
typedef gboolean (*command_fn)(cli *c, const command *cmd, char **args, GError **error);

/** command: one entry of the command table. */
struct command {
    const char *name;
    const char *args;          /* positional arguments, for usage */
    guint n_args;              /* exactly this many */
    const char *summary;
    command_fn run;
    gboolean has_json;         /* accepts --json */
    const GOptionEntry *options;
    gboolean (*check_usage)(GError **error); /* after parsing: options that
                                              * exclude or need each other */
};

/** The migration commands (cmd-migrate.c), listed after the others. */
extern const command cli_migrate_commands[];
/** How many entries cli_migrate_commands has. */
extern const gsize cli_migrate_n_commands;

/** The snapshot commands (cmd-snapshot.c), listed after the migration ones. */
extern const command cli_snapshot_commands[];
/** How many entries cli_snapshot_commands has. */
extern const gsize cli_snapshot_n_commands;

/**
 * cli_ensure_conn:
 * @c: the invocation
 * @error: return location for an error
 *
 * Opens c->conn from c->uri unless it is open already.
 *
 * Returns: TRUE when c->conn is open.
 */
gboolean cli_ensure_conn(cli *c, GError **error);

/**
 * cli_find_domain:
 * @c: the invocation
 * @key: a domain's name, or its uuid
 * @error: return location for an error
 *
 * Looks the domain up by name, and by uuid when @key looks like one and no
 * domain has that name.
 *
 * Returns: (transfer full): the domain, or NULL.
 */
ferry_domain *cli_find_domain(cli *c, const char *key, GError **error);

/**
 * cli_parse_number:
 * @name: how the user calls the argument or option, e.g. "--timeout" or "MS"
 * @value: what the user wrote
 * @min: the smallest value allowed
 * @max: the largest value allowed
 * @what: what the number counts, e.g. "seconds"
 * @ret_value: (out): the number, left untouched on failure
 * @error: return location for a usage error (G_OPTION_ERROR)
 *
 * Parses a whole decimal number; a sign, blanks or anything after the
 * digits are refused.  The error reads "NAME: 'VALUE' is not a whole number
 * of WHAT from MIN to MAX".
 *
 * Returns: TRUE if @value is such a number within [@min, @max].
 */
gboolean cli_parse_number(const char *name, const char *value, guint64 min, guint64 max,
                          const char *what, guint64 *ret_value, GError **error);

/**
 * cli_print_json:
 * @obj: a JSON value
 *
 * Prints @obj on stdout, pretty, with a newline.
 */
void cli_print_json(json_object *obj);

/**
 * cli_json_ms:
 * @ms: a duration in milliseconds; 0 or less means unknown
 *
 * Returns: (transfer full) (nullable): @ms as a JSON number, or NULL (JSON
 *   null) when unknown: a zero is never shown as a measurement.
 */
json_object *cli_json_ms(gint64 ms);

/**
 * cli_json_count:
 * @n: a count or a size in bytes
 *
 * Returns: (transfer full): @n as a JSON number (clamped to G_MAXINT64,
 *   json-c's largest).
 */
json_object *cli_json_count(guint64 n);

/**
 * cli_job_to_json:
 * @info: a job's information
 *
 * Returns: (transfer full): @info as the JSON object `domjobinfo --json`
 *   prints (durations null when unknown).
 */
json_object *cli_job_to_json(const ferry_job_info *info);
