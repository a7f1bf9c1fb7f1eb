/*
 * test-lock-manager.c: leases (src/locking/): the nop manager, the fcntl
 * manager -- two managers in one process stand for two hosts, since OFD
 * locks belong to open file descriptions, and forked children stand for a
 * holder that dies -- the uuid rule, the lockspace checks, the holder
 * record and the lease state of the migration cookie.
 *
 * Every test works in a directory of its own under the system's temporary
 * directory and removes it.
 */
#include "ferry-config.h"

#include <errno.h>
#include <fcntl.h>
#include <ferry/ferry.h>
#include <glib/gstdio.h>
#include <grp.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "locking/lock-manager-private.h"

#define UUID1 "8d2c6b43-9f3e-4c8e-9a43-0a6f3c1b2d55"
#define UUID2 "0b6e1c7a-35d4-4f0e-8b2a-6c9d1e2f3a4b"
#define HOST_UUID_A "11111111-2222-4333-8444-555555555555"

/* "host 'NAME' (pid N) since YYYY-MM-DD HH:MM:SS UTC" */
#define HOLDER_RE(name) "host '" name "' \\(pid [0-9]+\\) since " \
    "[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2} UTC"

typedef struct {
    char *base;     /* the test's own temporary directory */
    char *dir;      /* BASE/leases: the lockspace */
} fixture;

static void
fixture_setup(fixture *f, gconstpointer data)
{
    g_autoptr(GError) error = NULL;

    f->base = g_dir_make_tmp("ferry-lease-XXXXXX", &error);
    g_assert_no_error(error);
    f->dir = g_build_filename(f->base, "leases", NULL);
    g_assert_cmpint(g_mkdir(f->dir, 0755), ==, 0);
}

/* Removes @path and what it holds: files, symbolic links and empty
 * directories (the tests make nothing deeper). */
static void
remove_dir(const char *path)
{
    g_autoptr(GDir) dir = g_dir_open(path, 0, NULL);
    const char *name;

    while (dir && (name = g_dir_read_name(dir))) {
        g_autofree char *child = g_build_filename(path, name, NULL);

        if (g_unlink(child) < 0)
            g_rmdir(child);
    }
    g_rmdir(path);
}

static void
fixture_teardown(fixture *f, gconstpointer data)
{
    g_chmod(f->dir, 0755);
    remove_dir(f->dir);
    remove_dir(f->base);
    g_free(f->base);
    g_free(f->dir);
}

static ferry_lock_manager *
new_fcntl(const char *dir)
{
    g_autoptr(GError) error = NULL;
    ferry_lock_manager *mgr = ferry_lock_manager_new_fcntl(dir, HOST_UUID_A, &error);

    g_assert_no_error(error);
    g_assert_nonnull(mgr);
    return mgr;
}

static char *
read_lease(fixture *f, const char *uuid)
{
    g_autofree char *name = g_strconcat(uuid, ".lease", NULL);
    g_autofree char *path = g_build_filename(f->dir, name, NULL);
    g_autoptr(GError) error = NULL;
    char *text = NULL;

    g_assert_true(g_file_get_contents(path, &text, NULL, &error));
    g_assert_no_error(error);
    return text;
}

static void
assert_matches(const char *text, const char *pattern)
{
    if (!g_regex_match_simple(pattern, text, 0, 0))
        g_error("'%s' does not match /%s/", text, pattern);
}

/* Nothing but the lockspace id is in @path. */
static void
assert_only_id_file(const char *path)
{
    g_autoptr(GDir) dir = g_dir_open(path, 0, NULL);
    const char *name;

    g_assert_nonnull(dir);
    while ((name = g_dir_read_name(dir)))
        g_assert_cmpstr(name, ==, "lockspace-id");
}

/* ---- arguments and construction ---------------------------------------- */

static void
test_uuid_rule(void)
{
    static const char *const bad[] = {
        "", "8D2C6B43-9F3E-4C8E-9A43-0A6F3C1B2D55", "8d2c6b43-9f3e-4c8e-9a43-0a6f3c1b2d5",
        "8d2c6b43-9f3e-4c8e-9a43-0a6f3c1b2d555", "8d2c6b439f3e-4c8e-9a43-0a6f3c1b2d55-",
        "../../../../../../../etc/passwd0000", "8d2c6b43-9f3e-4c8e-9a43-0a6f3c1b2d5/",
        "8d2c6b43-9f3e-4c8e-9a43-0a6f3c1b2d5g", "{8d2c6b43-9f3e-4c8e-9a43-0a6f3c1b2d5}",
    };
    g_autoptr(GError) error = NULL;

    g_assert_true(ferry_lease_uuid_check(UUID1, &error));
    g_assert_no_error(error);
    for (gsize i = 0; i < G_N_ELEMENTS(bad); i++) {
        g_autoptr(GError) e = NULL;

        g_assert_false(ferry_lease_uuid_check(bad[i], &e));
        g_assert_error(e, FERRY_ERROR, FERRY_ERROR_INVALID_ARG);
        g_assert_nonnull(strstr(e->message, "is not a canonical domain uuid"));
    }
    g_assert_false(ferry_lease_uuid_check(NULL, &error));
    g_assert_cmpstr(error->message, ==,
                    "'' is not a canonical domain uuid (expected the lower-case form "
                    "4f9a2c1e-0b7d-4c3a-9e51-8d2f6a7b3c10)");
}

static void
test_bad_uuid_fcntl(fixture *f, gconstpointer data)
{
    g_autoptr(ferry_lock_manager) mgr = new_fcntl(f->dir);
    g_autoptr(GError) error = NULL;
    gboolean held = TRUE;

    g_assert_false(ferry_lock_manager_acquire(mgr, "../leases/x", "web1", "hostA", &error));
    g_assert_error(error, FERRY_ERROR, FERRY_ERROR_INVALID_ARG);
    g_assert_cmpstr(error->message, ==,
                    "'../leases/x' is not a canonical domain uuid (expected the lower-case "
                    "form 4f9a2c1e-0b7d-4c3a-9e51-8d2f6a7b3c10)");
    g_clear_error(&error);
    g_assert_false(ferry_lock_manager_query(mgr, "x", &held, NULL, &error));
    g_assert_error(error, FERRY_ERROR, FERRY_ERROR_INVALID_ARG);
    g_assert_true(held);        /* untouched on failure */
    g_assert_false(ferry_lock_manager_holds(mgr, "x"));
    g_assert_false(ferry_lock_manager_release(mgr, "x"));
    assert_only_id_file(f->dir);
}

static void
test_nop(void)
{
    g_autoptr(ferry_lock_manager) mgr = ferry_lock_manager_new_nop();
    g_autoptr(ferry_lock_manager) from_config = NULL;
    g_autoptr(ferry_lease_state) state = NULL;
    g_autoptr(GError) error = NULL;
    g_autofree char *holder = NULL;
    gboolean held = TRUE;

    g_assert_cmpstr(ferry_lock_manager_get_name(mgr), ==, "nop");
    g_assert_null(ferry_lock_manager_get_lockspace_id(mgr));
    for (int i = 0; i < 2; i++) {
        g_assert_true(ferry_lock_manager_acquire(mgr, UUID1, "web1", "hostA", &error));
        g_assert_no_error(error);
    }
    g_assert_false(ferry_lock_manager_holds(mgr, UUID1));
    g_assert_true(ferry_lock_manager_query(mgr, UUID1, &held, &holder, &error));
    g_assert_false(held);
    g_assert_null(holder);
    g_assert_false(ferry_lock_manager_release(mgr, UUID1));
    state = ferry_lock_manager_get_lease_state(mgr, UUID1, &error);
    g_assert_no_error(error);
    g_assert_false(state->held);
    g_assert_null(state->lockspace);
    g_assert_null(state->holder);

    from_config = ferry_lock_manager_new("none", NULL, NULL, &error);
    g_assert_no_error(error);
    g_assert_cmpstr(ferry_lock_manager_get_name(from_config), ==, "nop");
    g_assert_true(ferry_lock_manager_ref(from_config) == from_config);
    ferry_lock_manager_unref(from_config);
    ferry_lock_manager_unref(NULL);
}

static void
assert_new_fails(const char *kind, const char *dir, int code, const char *message)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(ferry_lock_manager) mgr = ferry_lock_manager_new(kind, dir, NULL, &error);

    g_assert_null(mgr);
    g_assert_error(error, FERRY_ERROR, code);
    g_assert_cmpstr(error->message, ==, message);
}

static void
test_new_errors(fixture *f, gconstpointer data)
{
    g_autofree char *missing = g_build_filename(f->base, "missing", NULL);
    g_autofree char *file = g_build_filename(f->base, "file", NULL);
    g_autofree char *msg = NULL;

    assert_new_fails("flock", f->dir, FERRY_ERROR_CONFIG,
                     "unknown lock manager 'flock' (expected none or fcntl)");
    assert_new_fails("fcntl", NULL, FERRY_ERROR_CONFIG,
                     "lock manager 'fcntl' needs a lockspace directory (setting "
                     "'lockspace_dir')");
    assert_new_fails("fcntl", "leases", FERRY_ERROR_CONFIG,
                     "lockspace directory 'leases' is not an absolute path");
    msg = g_strdup_printf("lockspace directory '%s' cannot be used: %s", missing,
                          g_strerror(ENOENT));
    assert_new_fails("fcntl", missing, FERRY_ERROR_SYSTEM, msg);
    g_clear_pointer(&msg, g_free);

    g_assert_true(g_file_set_contents(file, "", 0, NULL));
    msg = g_strdup_printf("lockspace directory '%s' is not a directory", file);
    assert_new_fails("fcntl", file, FERRY_ERROR_SYSTEM, msg);
}

/* In a child that is not root (root may write anywhere), opens a lockspace
 * the child may not write; returns the error message it got. */
static char *
open_as_nobody(const char *dir)
{
    int fds[2];
    pid_t pid;
    int status = 0;
    char buf[512];
    gssize len;

    g_assert_cmpint(pipe(fds), ==, 0);
    pid = fork();
    g_assert_cmpint(pid, >=, 0);
    if (pid == 0) {
        GError *error = NULL;
        ferry_lock_manager *mgr;
        const char *msg;

        close(fds[0]);
        if (geteuid() == 0 && (setgroups(0, NULL) < 0 || setgid(65534) < 0 ||
                               setuid(65534) < 0))
            _exit(2);
        mgr = ferry_lock_manager_new_fcntl(dir, NULL, &error);
        msg = mgr ? "opened" : error->message;
        if (write(fds[1], msg, strlen(msg)) < 0)
            _exit(3);
        _exit(0);
    }
    close(fds[1]);
    len = read(fds[0], buf, sizeof(buf) - 1);
    close(fds[0]);
    g_assert_cmpint(waitpid(pid, &status, 0), ==, pid);
    g_assert_true(WIFEXITED(status));
    g_assert_cmpint(WEXITSTATUS(status), ==, 0);
    g_assert_cmpint(len, >, 0);
    buf[len] = '\0';
    return g_strdup(buf);
}

static void
test_not_writable(fixture *f, gconstpointer data)
{
    g_autofree char *msg = NULL;
    g_autofree char *expected = g_strdup_printf("lockspace directory '%s' is not writable: %s",
                                                f->dir, g_strerror(EACCES));

    /* The base is private to its owner; the child must reach the lockspace. */
    g_assert_cmpint(g_chmod(f->base, 0711), ==, 0);
    g_assert_cmpint(g_chmod(f->dir, 0555), ==, 0);
    msg = open_as_nobody(f->dir);
    g_assert_cmpstr(msg, ==, expected);
}

static void
test_lockspace_id(fixture *f, gconstpointer data)
{
    g_autoptr(ferry_lock_manager) a = new_fcntl(f->dir);
    g_autofree char *link = g_build_filename(f->base, "mounted-elsewhere", NULL);
    g_autofree char *id_path = g_build_filename(f->dir, "lockspace-id", NULL);
    g_autofree char *text = NULL;
    g_autofree char *msg = NULL;
    const char *id = ferry_lock_manager_get_lockspace_id(a);

    g_assert_cmpstr(ferry_lock_manager_get_name(a), ==, "fcntl");
    g_assert_true(g_uuid_string_is_valid(id));
    g_assert_true(g_file_get_contents(id_path, &text, NULL, NULL));
    g_assert_true(g_str_has_prefix(text, id));
    /* Another host that mounts the same directory elsewhere sees the same id. */
    g_assert_cmpint(symlink(f->dir, link), ==, 0);
    {
        g_autoptr(ferry_lock_manager) b = new_fcntl(link);

        g_assert_cmpstr(ferry_lock_manager_get_lockspace_id(b), ==, id);
    }
    assert_only_id_file(f->dir);     /* no temporary file left behind */
    g_assert_true(g_file_set_contents(id_path, "not a uuid\n", -1, NULL));
    msg = g_strdup_printf("lockspace id file '%s' does not hold a uuid: remove it only if "
                          "no host uses this lockspace", id_path);
    assert_new_fails("fcntl", f->dir, FERRY_ERROR_SYSTEM, msg);
}

/* ---- two hosts ---------------------------------------------------------- */

static void
assert_acquire_held(ferry_lock_manager *mgr, const char *uuid, const char *holder_re)
{
    g_autoptr(GError) error = NULL;
    g_autofree char *pattern = g_strdup_printf("^domain 'web1': its lease is held by %s$",
                                               holder_re);

    g_assert_false(ferry_lock_manager_acquire(mgr, uuid, "web1", "hostX", &error));
    g_assert_error(error, FERRY_ERROR, FERRY_ERROR_LEASE_HELD);
    assert_matches(error->message, pattern);
    g_assert_false(ferry_lock_manager_holds(mgr, uuid));
}

static void
test_two_hosts(fixture *f, gconstpointer data)
{
    g_autoptr(ferry_lock_manager) a = new_fcntl(f->dir);
    g_autoptr(ferry_lock_manager) b = new_fcntl(f->dir);
    g_autoptr(GError) error = NULL;
    g_autofree char *record = NULL;
    g_autofree char *holder = NULL;
    const char *mine = "^" HOLDER_RE("hostA") "$";
    gboolean held = FALSE;

    g_assert_true(ferry_lock_manager_acquire(a, UUID1, "web1", "hostA", &error));
    g_assert_no_error(error);
    g_assert_true(ferry_lock_manager_holds(a, UUID1));
    /* Taking it again changes nothing. */
    g_assert_true(ferry_lock_manager_acquire(a, UUID1, "web1", "hostA", &error));
    g_assert_no_error(error);

    record = read_lease(f, UUID1);
    g_assert_nonnull(strstr(record, "\nhost=hostA\n"));
    g_assert_nonnull(strstr(record, "\nhost_uuid=" HOST_UUID_A "\n"));
    g_assert_nonnull(strstr(record, "\ndomain=web1\n"));
    g_assert_nonnull(strstr(record, "\npid="));
    g_assert_nonnull(strstr(record, "\nsince="));

    assert_acquire_held(b, UUID1, HOLDER_RE("hostA"));
    g_assert_true(ferry_lock_manager_query(b, UUID1, &held, &holder, &error));
    g_assert_true(held);
    assert_matches(holder, mine);
    g_clear_pointer(&holder, g_free);
    g_assert_true(ferry_lock_manager_query(a, UUID1, &held, &holder, &error));
    g_assert_true(held);
    assert_matches(holder, mine);
    g_clear_pointer(&holder, g_free);

    /* Another domain is another lease. */
    g_assert_true(ferry_lock_manager_acquire(b, UUID2, "web2", "hostB", &error));
    g_assert_no_error(error);

    g_assert_true(ferry_lock_manager_release(a, UUID1));
    g_assert_false(ferry_lock_manager_release(a, UUID1));
    g_assert_false(ferry_lock_manager_holds(a, UUID1));
    g_clear_pointer(&record, g_free);
    record = read_lease(f, UUID1);
    g_assert_cmpstr(record, ==, "");
    g_assert_true(ferry_lock_manager_query(b, UUID1, &held, &holder, &error));
    g_assert_false(held);
    g_assert_null(holder);

    g_assert_true(ferry_lock_manager_acquire(b, UUID1, "web1", "hostB", &error));
    g_assert_no_error(error);
    assert_acquire_held(a, UUID1, HOLDER_RE("hostB"));
}

static void
test_query_never_taken(fixture *f, gconstpointer data)
{
    g_autoptr(ferry_lock_manager) a = new_fcntl(f->dir);
    g_autoptr(GError) error = NULL;
    g_autofree char *path = g_build_filename(f->dir, UUID1 ".lease", NULL);
    gboolean held = TRUE;

    g_assert_true(ferry_lock_manager_query(a, UUID1, &held, NULL, &error));
    g_assert_no_error(error);
    g_assert_false(held);
    g_assert_false(g_file_test(path, G_FILE_TEST_EXISTS));
}

static void
test_unref_releases(fixture *f, gconstpointer data)
{
    ferry_lock_manager *a = new_fcntl(f->dir);
    g_autoptr(ferry_lock_manager) b = new_fcntl(f->dir);
    g_autoptr(GError) error = NULL;

    g_assert_true(ferry_lock_manager_acquire(a, UUID1, "web1", "hostA", &error));
    g_assert_true(ferry_lock_manager_acquire(a, UUID2, "web2", "hostA", &error));
    ferry_lock_manager_unref(a);
    g_assert_true(ferry_lock_manager_acquire(b, UUID1, "web1", "hostB", &error));
    g_assert_true(ferry_lock_manager_acquire(b, UUID2, "web2", "hostB", &error));
    g_assert_no_error(error);
}

/* Forks a child that takes UUID1 as host 'hostC' and then either exits
 * without releasing it or waits to be killed.  Returns its pid once it
 * holds the lease. */
static pid_t
fork_holder(const char *dir, gboolean linger)
{
    int ready[2];
    pid_t pid;
    char c = 0;

    g_assert_cmpint(pipe(ready), ==, 0);
    pid = fork();
    g_assert_cmpint(pid, >=, 0);
    if (pid == 0) {
        GError *error = NULL;
        ferry_lock_manager *mgr = ferry_lock_manager_new_fcntl(dir, NULL, &error);

        close(ready[0]);
        if (!mgr || !ferry_lock_manager_acquire(mgr, UUID1, "web1", "hostC", &error))
            _exit(1);
        if (write(ready[1], "y", 1) != 1)
            _exit(2);
        while (linger)
            pause();
        _exit(0);       /* no release, no unref: only the process's end drops it */
    }
    close(ready[1]);
    g_assert_cmpint(read(ready[0], &c, 1), ==, 1);
    g_assert_cmpint(c, ==, 'y');
    close(ready[0]);
    return pid;
}

static void
test_process_death(fixture *f, gconstpointer data)
{
    g_autoptr(ferry_lock_manager) b = new_fcntl(f->dir);
    g_autoptr(GError) error = NULL;
    g_autofree char *holder_re = NULL;
    int status = 0;
    pid_t pid;

    /* A holder that is killed. */
    pid = fork_holder(f->dir, TRUE);
    holder_re = g_strdup_printf("host 'hostC' \\(pid %d\\) since .* UTC", (int)pid);
    assert_acquire_held(b, UUID1, holder_re);
    g_assert_cmpint(kill(pid, SIGKILL), ==, 0);
    g_assert_cmpint(waitpid(pid, &status, 0), ==, pid);
    g_assert_true(WIFSIGNALED(status));
    g_assert_true(ferry_lock_manager_acquire(b, UUID1, "web1", "hostB", &error));
    g_assert_no_error(error);
    g_assert_true(ferry_lock_manager_release(b, UUID1));

    /* A holder that exits without releasing. */
    pid = fork_holder(f->dir, FALSE);
    g_assert_cmpint(waitpid(pid, &status, 0), ==, pid);
    g_assert_true(WIFEXITED(status));
    g_assert_cmpint(WEXITSTATUS(status), ==, 0);
    g_assert_true(ferry_lock_manager_acquire(b, UUID1, "web1", "hostB", &error));
    g_assert_no_error(error);
}

/* A lock taken by something that writes no record, or an unreadable one. */
static void
test_foreign_holder(fixture *f, gconstpointer data)
{
    static const char *const records[] = {
        "",
        "random words without any structure",
        "host=evil%0Ahost\npid=1\n",    /* a control character: refused */
        "host=a\nhost=b\n",
    };
    g_autoptr(ferry_lock_manager) b = new_fcntl(f->dir);
    g_autofree char *path = g_build_filename(f->dir, UUID1 ".lease", NULL);
    g_autofree char *big = g_strnfill(FERRY_LEASE_RECORD_MAX + 10, 'x');
    struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);

    g_assert_cmpint(fd, >=, 0);
    g_assert_cmpint(fcntl(fd, F_OFD_SETLK, &fl), ==, 0);
    for (gsize i = 0; i <= G_N_ELEMENTS(records); i++) {
        const char *text = i < G_N_ELEMENTS(records) ? records[i] : big;

        g_assert_cmpint(ftruncate(fd, 0), ==, 0);
        g_assert_cmpint(pwrite(fd, text, strlen(text), 0), ==, (gssize)strlen(text));
        assert_acquire_held(b, UUID1, "a process that has not written its name into "
                            "the lease");
    }
    /* A record with only some fields still names what it can. */
    g_assert_cmpint(ftruncate(fd, 0), ==, 0);
    g_assert_cmpint(pwrite(fd, "pid=77\n", 7, 0), ==, 7);
    assert_acquire_held(b, UUID1, "a host that gave no name \\(pid 77\\)");
    g_assert_cmpint(ftruncate(fd, 0), ==, 0);
    g_assert_cmpint(pwrite(fd, "host=h%20b\nsince=0\n", 19, 0), ==, 19);
    assert_acquire_held(b, UUID1, "host 'h b'");
    close(fd);
}

static void
test_lease_file_is_symlink(fixture *f, gconstpointer data)
{
    g_autoptr(ferry_lock_manager) a = new_fcntl(f->dir);
    g_autoptr(GError) error = NULL;
    g_autofree char *path = g_build_filename(f->dir, UUID1 ".lease", NULL);
    g_autofree char *target = g_build_filename(f->base, "elsewhere", NULL);

    g_assert_cmpint(symlink(target, path), ==, 0);
    g_assert_false(ferry_lock_manager_acquire(a, UUID1, "web1", "hostA", &error));
    g_assert_error(error, FERRY_ERROR, FERRY_ERROR_SYSTEM);
    g_assert_true(g_str_has_prefix(error->message, "domain 'web1': cannot open its lease "
                                   "file '"));
    g_assert_nonnull(strstr(error->message, path));
    g_assert_false(g_file_test(target, G_FILE_TEST_EXISTS));
}

typedef struct {
    const char *dir;
    ferry_lock_manager *mgr;
    gboolean won;
} racer;

static gpointer
race(gpointer data)
{
    racer *r = data;

    r->mgr = new_fcntl(r->dir);
    r->won = ferry_lock_manager_acquire(r->mgr, UUID1, "web1", "hostR", NULL);
    return NULL;
}

/* Many "hosts" at once: exactly one gets the lease. */
static void
test_race(fixture *f, gconstpointer data)
{
    racer racers[8];
    GThread *threads[G_N_ELEMENTS(racers)];
    guint winners = 0;

    for (gsize i = 0; i < G_N_ELEMENTS(racers); i++) {
        racers[i] = (racer){ .dir = f->dir };
        threads[i] = g_thread_new("racer", race, &racers[i]);
    }
    for (gsize i = 0; i < G_N_ELEMENTS(racers); i++)
        g_thread_join(threads[i]);
    for (gsize i = 0; i < G_N_ELEMENTS(racers); i++) {
        winners += racers[i].won;
        g_assert_true(ferry_lock_manager_holds(racers[i].mgr, UUID1) == racers[i].won);
        ferry_lock_manager_unref(racers[i].mgr);
    }
    g_assert_cmpuint(winners, ==, 1);
}

/* ---- the lease state of the cookie -------------------------------------- */

static void
test_lease_state_of_manager(fixture *f, gconstpointer data)
{
    g_autoptr(ferry_lock_manager) a = new_fcntl(f->dir);
    g_autoptr(ferry_lock_manager) b = new_fcntl(f->dir);
    g_autoptr(ferry_lease_state) free_state = NULL;
    g_autoptr(ferry_lease_state) mine = NULL;
    g_autoptr(ferry_lease_state) theirs = NULL;
    g_autoptr(GError) error = NULL;

    free_state = ferry_lock_manager_get_lease_state(a, UUID1, &error);
    g_assert_no_error(error);
    g_assert_false(free_state->held);
    g_assert_cmpstr(free_state->lockspace, ==, ferry_lock_manager_get_lockspace_id(a));
    g_assert_null(free_state->holder);

    g_assert_true(ferry_lock_manager_acquire(a, UUID1, "web1", "hostA", &error));
    mine = ferry_lock_manager_get_lease_state(a, UUID1, &error);
    theirs = ferry_lock_manager_get_lease_state(b, UUID1, &error);
    g_assert_no_error(error);
    g_assert_true(mine->held && theirs->held);
    g_assert_cmpstr(mine->holder, ==, "hostA");
    g_assert_cmpstr(theirs->holder, ==, "hostA");
    g_assert_cmpstr(mine->lockspace, ==, theirs->lockspace);

    g_assert_null(ferry_lock_manager_get_lease_state(a, "nope", &error));
    g_assert_error(error, FERRY_ERROR, FERRY_ERROR_INVALID_ARG);
}

static void
test_lease_state_format(void)
{
    g_autoptr(ferry_lease_state) state = ferry_lease_state_new(TRUE, UUID2, "host a;b=c%");
    g_autoptr(ferry_lease_state) copy = ferry_lease_state_copy(state);
    g_autoptr(ferry_lease_state) back = NULL;
    g_autoptr(ferry_lease_state) none = ferry_lease_state_new(FALSE, NULL, NULL);
    g_autofree char *text = ferry_lease_state_format(state);
    g_autofree char *none_text = ferry_lease_state_format(none);
    g_autoptr(GError) error = NULL;

    g_assert_null(ferry_lease_state_copy(NULL));
    g_assert_true(copy != state && copy->lockspace != state->lockspace);
    g_assert_cmpstr(text, ==, "held=yes;lockspace=" UUID2 ";holder=host%20a%3Bb%3Dc%25");
    back = ferry_lease_state_parse(text, &error);
    g_assert_no_error(error);
    g_assert_true(back->held);
    g_assert_cmpstr(back->lockspace, ==, copy->lockspace);
    g_assert_cmpstr(back->holder, ==, "host a;b=c%");

    g_assert_cmpstr(none_text, ==, "held=no");
    g_clear_pointer(&back, ferry_lease_state_free);
    back = ferry_lease_state_parse("held=no;future_field=1;", &error);
    g_assert_no_error(error);
    g_assert_false(back->held);
    g_assert_null(back->lockspace);
    g_assert_null(back->holder);
}

typedef struct {
    const char *text;
    const char *message;
} bad_state;

static const bad_state bad_states[] = {
    { "", "lease state: field 'held' is missing" },
    { "lockspace=x", "lease state: field 'held' is missing" },
    { "held=maybe", "lease state: field 'held': expected yes or no, got 'maybe'" },
    { "held=yes", "lease state: a held lease needs field 'lockspace'" },
    { "held=yes;held=no", "lease state: field 'held' appears twice" },
    { "held", "lease state: piece 1 is not 'name=value'" },
    { "held=no;Bad=1", "lease state: piece 2 is not 'name=value'" },
    { "held=no;holder=%0A", "lease state: field 'holder': its value is not printable "
                            "escaped UTF-8" },
    { "held=no;holder=%00", "lease state: field 'holder': its value is not printable "
                            "escaped UTF-8" },
    { "held=no;holder=%ff", "lease state: field 'holder': its value is not printable "
                            "escaped UTF-8" },
    { "held=no;holder=%zz", "lease state: field 'holder': its value is not printable "
                            "escaped UTF-8" },
};

static void
test_lease_state_bad(gconstpointer data)
{
    const bad_state *bs = data;
    g_autoptr(GError) error = NULL;

    g_assert_null(ferry_lease_state_parse(bs->text, &error));
    g_assert_error(error, FERRY_ERROR, FERRY_ERROR_COOKIE);
    g_assert_cmpstr(error->message, ==, bs->message);
}

static void
test_lease_state_oversized(void)
{
    g_autofree char *big = g_strnfill(FERRY_LEASE_RECORD_MAX + 1, 'a');
    g_autoptr(GError) error = NULL;

    g_assert_null(ferry_lease_state_parse(big, &error));
    g_assert_error(error, FERRY_ERROR, FERRY_ERROR_COOKIE);
    g_assert_cmpstr(error->message, ==, "lease state: 4097 bytes is more than the 4096 allowed");
}

static void
test_error_code(void)
{
    g_assert_cmpstr(ferry_error_code_to_string(FERRY_ERROR_LEASE_HELD), ==, "lease-held");
}

static void
add_fixture_test(const char *path, void (*func)(fixture *, gconstpointer))
{
    g_test_add(path, fixture, NULL, fixture_setup, func, fixture_teardown);
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/locking/uuid-rule", test_uuid_rule);
    g_test_add_func("/locking/nop", test_nop);
    g_test_add_func("/locking/error-code", test_error_code);
    add_fixture_test("/locking/fcntl/bad-uuid", test_bad_uuid_fcntl);
    add_fixture_test("/locking/fcntl/new-errors", test_new_errors);
    add_fixture_test("/locking/fcntl/not-writable", test_not_writable);
    add_fixture_test("/locking/fcntl/lockspace-id", test_lockspace_id);
    add_fixture_test("/locking/fcntl/two-hosts", test_two_hosts);
    add_fixture_test("/locking/fcntl/query-never-taken", test_query_never_taken);
    add_fixture_test("/locking/fcntl/unref-releases", test_unref_releases);
    add_fixture_test("/locking/fcntl/process-death", test_process_death);
    add_fixture_test("/locking/fcntl/foreign-holder", test_foreign_holder);
    add_fixture_test("/locking/fcntl/lease-file-is-symlink", test_lease_file_is_symlink);
    add_fixture_test("/locking/fcntl/race", test_race);
    add_fixture_test("/locking/lease-state/of-manager", test_lease_state_of_manager);
    g_test_add_func("/locking/lease-state/format", test_lease_state_format);
    g_test_add_func("/locking/lease-state/oversized", test_lease_state_oversized);
    for (gsize i = 0; i < G_N_ELEMENTS(bad_states); i++) {
        g_autofree char *path = g_strdup_printf("/locking/lease-state/bad/%zu", i);

        g_test_add_data_func(path, &bad_states[i], test_lease_state_bad);
    }
    return g_test_run();
}
