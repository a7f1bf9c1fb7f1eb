/*
 * golden.h: data-driven tests with expected ("golden") files.
 *
 * A case is an input file under tests/data/<suite>/; its expected result is
 * a sibling file named after it.  Running a test program with
 * FERRY_TEST_REGENERATE=1 in the environment rewrites the expected files
 * from what the code produces now instead of comparing: review the diff
 * before committing it.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/**
 * golden_transform:
 * @input: the text of a case's input file
 * @source: the input's file name, for error messages
 * @error: return location for the error the case expects, if any
 *
 * Parses @input and formats the result.
 *
 * Returns: (transfer full): the formatted text, or NULL with @error set.
 */
typedef char *(*golden_transform)(const char *input, const char *source, GError **error);

/**
 * golden_add_cases:
 * @suite: a directory under tests/data/
 * @transform: what a case runs
 *
 * Adds one test, "/conf/<suite>/data/<case>", per <case>.xml in the directory
 * (not counting *.out.xml).  A case passes when @transform fails with the
 * FERRY_ERROR_XML message in <case>.err (one line), or succeeds with the
 * text of <case>.out.xml, which @transform must give back unchanged.
 */
void golden_add_cases(const char *suite, golden_transform transform);

/**
 * golden_add_cases_with_code:
 * @suite, @transform: as for golden_add_cases()
 * @code: the FERRY_ERROR code a failing case must report, e.g.
 *   FERRY_ERROR_COOKIE
 *
 * golden_add_cases() for documents whose errors are not FERRY_ERROR_XML.
 */
void golden_add_cases_with_code(const char *suite, golden_transform transform, int code);

/**
 * golden_data_dir:
 * @suite: a directory name under tests/data/
 *
 * Returns: (transfer full): its path, found from G_TEST_SRCDIR (set by
 *   meson's test_env) or else the configured source tree.
 */
char *golden_data_dir(const char *suite);

/**
 * golden_list_cases:
 * @dir: a directory of cases
 * @suffix: the inputs' suffix, e.g. ".xml"
 * @not_suffix: (nullable): names with this suffix are not inputs
 *
 * Returns: (transfer full): the case names (file names without @suffix),
 *   sorted.
 */
GStrv golden_list_cases(const char *dir, const char *suffix, const char *not_suffix);

/**
 * golden_check:
 * @path: an expected file
 * @actual: what the code produced
 *
 * Compares @actual with the file's contents, or, when regenerating, writes
 * @actual to the file.
 */
void golden_check(const char *path, const char *actual);

/**
 * golden_read:
 * @path: a file that must exist
 *
 * Returns: (transfer full): its contents; the test fails if unreadable.
 */
char *golden_read(const char *path);

G_END_DECLS
