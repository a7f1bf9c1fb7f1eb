/*
 * test-qemu-user.c: the files ferryd hands to the QEMU user
 * (src/qemu/qemu-user.c) on a real tree: what is given, counted, given
 * back, refused, and what the status file keeps.  The user is "+4242", a
 * uid with no entry; changing owners needs root, so without it the tests
 * are skipped.
 */
#include "ferry-config.h"

#include <ferry/ferry.h>
#include <glib/gstdio.h>
#include <grp.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "qemu/qemu-user.h"
#include "util/json-util.h"

#define UID 4242

typedef struct {
    char *root;                 /* the test's directory, 0711 */
    char *images;               /* storage_dirs */
    char *files;                /* file_dirs */
    char *storage_dirs[2];
    char *file_dirs[2];
    qemu_driver_state state;
    ferry_domain_obj_list *list;
} fixture;

static void
write_file(const char *path, mode_t mode)
{
    g_assert_true(g_file_set_contents(path, "x", 1, NULL));
    g_assert_cmpint(g_chmod(path, mode), ==, 0);
}

static void
fixture_set_up(fixture *f, gconstpointer user)
{
    g_autofree char *qemu_dir = NULL;

    f->root = g_dir_make_tmp("ferry-qemu-user-XXXXXX", NULL);
    g_assert_nonnull(f->root);
    g_assert_cmpint(g_chmod(f->root, 0711), ==, 0);
    f->images = g_build_filename(f->root, "images", NULL);
    f->files = g_build_filename(f->root, "files", NULL);
    g_assert_cmpint(g_mkdir(f->images, 0755), ==, 0);
    g_assert_cmpint(g_mkdir(f->files, 0755), ==, 0);
    f->storage_dirs[0] = f->images;
    f->file_dirs[0] = f->files;
    f->state.config.state_dir = g_build_filename(f->root, "state", NULL);
    f->state.config.storage_dirs = f->storage_dirs;
    f->state.config.file_dirs = f->file_dirs;
    f->state.config.user = (char *)user;
    qemu_dir = g_build_filename(f->state.config.state_dir, "qemu", NULL);
    f->state.run_dir = g_build_filename(qemu_dir, "run", NULL);
    f->state.relay_dir = g_build_filename(f->state.run_dir, "relay", NULL);
    g_assert_cmpint(g_mkdir_with_parents(f->state.relay_dir, 0700), ==, 0);
    f->list = ferry_domain_obj_list_new();
}

static void
fixture_tear_down(fixture *f, gconstpointer user)
{
    g_autofree char *cmd = g_strdup_printf("rm -rf '%s'", f->root);

    ferry_domain_obj_list_free(f->list);
    g_assert_true(g_spawn_command_line_sync(cmd, NULL, NULL, NULL, NULL));
    g_free(f->state.config.state_dir);
    g_free(f->state.run_dir);
    g_free(f->state.relay_dir);
    g_free(f->state.qemu_user_name);
    g_free(f->state.qemu_switch_error);
    g_free(f->images);
    g_free(f->files);
    g_free(f->root);
}

/* A running domain of @name with a raw disk @image and its serial log in
 * file_dirs. */
static ferry_domain_obj *
add_domain(fixture *f, const char *name, const char *image)
{
    g_autofree char *xml = g_strdup_printf(
        "<domain type='qemu'><name>%s</name><memory unit='MiB'>16</memory><vcpu>1</vcpu>"
        "<os><type arch='x86_64' machine='pc'>hvm</type></os><devices>"
        "<disk type='file' device='disk'><driver name='qemu' type='raw'/>"
        "<source file='%s'/><target dev='hda' bus='ide'/></disk>"
        "<serial type='file'><source path='%s/%s.serial'/><target port='0'/></serial>"
        "</devices></domain>", name, image, f->files, name);
    g_autoptr(GError) error = NULL;
    ferry_domain_def *def = ferry_domain_def_parse_string(xml, NULL, 0, &error);
    ferry_domain_obj *obj;

    g_assert_no_error(error);
    obj = ferry_domain_obj_list_add_transient(f->list, def, &error);
    g_assert_no_error(error);
    return obj;
}

static char *
pid_path(fixture *f, const char *name)
{
    g_autofree char *file = g_strdup_printf("%s.pid", name);

    return g_build_filename(f->state.run_dir, file, NULL);
}

static void
assert_owner(const char *path, guint uid, guint gid, guint mode)
{
    GStatBuf st;

    g_assert_cmpint(g_stat(path, &st), ==, 0);
    g_assert_cmpuint(st.st_uid, ==, uid);
    g_assert_cmpuint(st.st_gid, ==, gid);
    g_assert_cmpuint(st.st_mode & 07777, ==, mode);
}

static char *
mark(const char *path)
{
    char buf[64];
    ssize_t n = getxattr(path, "trusted.ferry.owner", buf, sizeof(buf) - 1);

    return n < 0 ? NULL : g_strndup(buf, n);
}

/* What @obj has been handed (NULL: nothing, or no private data yet). */
static GPtrArray *
handed(ferry_domain_obj *obj)
{
    return obj->priv ? ((qemu_domain_priv *)obj->priv)->handed : NULL;
}

static gboolean
need_root(void)
{
    if (geteuid() == 0)
        return TRUE;
    g_test_skip("changing owners needs root");
    return FALSE;
}

/* No user: nothing changes hands. */
static void
test_no_user(fixture *f, gconstpointer user)
{
    g_autofree char *image = g_build_filename(f->images, "a.raw", NULL);
    g_autofree char *pid = pid_path(f, "a");
    g_autoptr(ferry_domain_obj) obj = NULL;
    g_autoptr(GError) error = NULL;

    if (!need_root())
        return;
    write_file(image, 0600);
    obj = add_domain(f, "a", image);
    g_assert_true(qemu_user_init(&f->state, &error));
    g_assert_false(qemu_user_enabled(&f->state));
    g_assert_true(qemu_user_hand_domain(&f->state, obj, pid, &error));
    g_assert_no_error(error);
    assert_owner(image, 0, 0, 0600);
    g_assert_false(g_file_test(pid, G_FILE_TEST_EXISTS));
    g_assert_null(handed(obj));
}

/* Given, recorded (status and xattr), given back; the directories. */
static void
test_hand_and_give_back(fixture *f, gconstpointer user)
{
    g_autofree char *image = g_build_filename(f->images, "a.raw", NULL);
    g_autofree char *serial = g_build_filename(f->files, "a.serial", NULL);
    g_autofree char *pid = pid_path(f, "a");
    g_autofree char *image_mark = NULL;
    g_autoptr(ferry_domain_obj) obj = NULL;
    g_autoptr(GError) error = NULL;
    g_autoptr(json_object) json = NULL;
    g_autoptr(GPtrArray) back = NULL;
    qemu_domain_priv *priv;

    if (!need_root())
        return;
    write_file(image, 0600);
    obj = add_domain(f, "a", image);
    g_assert_true(qemu_user_init(&f->state, &error));
    g_assert_no_error(error);
    g_assert_true(qemu_user_enabled(&f->state));
    assert_owner(f->state.config.state_dir, 0, UID, 0710);
    assert_owner(f->state.run_dir, 0, UID, 0710);
    assert_owner(f->state.relay_dir, UID, UID, 0700);

    g_assert_true(qemu_user_hand_domain(&f->state, obj, pid, &error));
    g_assert_no_error(error);
    assert_owner(image, UID, UID, 0600);
    assert_owner(serial, UID, UID, 0600);
    assert_owner(pid, UID, UID, 0600);
    image_mark = mark(image);
    g_assert_cmpstr(image_mark, ==, "0:0:1");
    priv = obj->priv;
    g_assert_cmpuint(priv->handed->len, ==, 2);

    /* What the status file keeps reads back the same. */
    json = qemu_user_files_to_json(priv->handed);
    back = qemu_user_files_from_json(json);
    g_assert_cmpuint(back->len, ==, 2);
    for (guint i = 0; i < 2; i++) {
        qemu_user_file *a = priv->handed->pdata[i], *b = back->pdata[i];

        g_assert_cmpstr(a->path, ==, b->path);
        g_assert_cmpuint(b->uid, ==, 0);
        g_assert_cmpuint(b->gid, ==, 0);
    }

    qemu_user_restore_domain(&f->state, obj);
    assert_owner(image, 0, 0, 0600);
    assert_owner(serial, 0, 0, 0600);
    g_assert_null(mark(image));
    g_assert_null(priv->handed);
    /* Twice is once. */
    qemu_user_restore_domain(&f->state, obj);
    assert_owner(image, 0, 0, 0600);
}

/* One image, two QEMUs: back to its owner when the last lets go. */
static void
test_shared(fixture *f, gconstpointer user)
{
    g_autofree char *image = g_build_filename(f->images, "shared.raw", NULL);
    g_autofree char *pid_a = pid_path(f, "a");
    g_autofree char *pid_b = pid_path(f, "b");
    g_autofree char *two = NULL;
    g_autofree char *one = NULL;
    g_autoptr(ferry_domain_obj) a = NULL;
    g_autoptr(ferry_domain_obj) b = NULL;
    g_autoptr(GError) error = NULL;

    if (!need_root())
        return;
    write_file(image, 0640);
    g_assert_cmpint(chown(image, 0, 12), ==, 0);
    a = add_domain(f, "a", image);
    b = add_domain(f, "b", image);
    g_assert_true(qemu_user_init(&f->state, &error));
    g_assert_true(qemu_user_hand_domain(&f->state, a, pid_a, &error));
    g_assert_true(qemu_user_hand_domain(&f->state, b, pid_b, &error));
    g_assert_no_error(error);
    two = mark(image);
    g_assert_cmpstr(two, ==, "0:12:2");
    qemu_user_restore_domain(&f->state, a);
    assert_owner(image, UID, UID, 0640);
    one = mark(image);
    g_assert_cmpstr(one, ==, "0:12:1");
    qemu_user_restore_domain(&f->state, b);
    assert_owner(image, 0, 12, 0640);
    g_assert_null(mark(image));
}

/* Refusals: a directory the user may not search (named, the file given
 * back), a file outside the directories (never touched). */
static void
test_refused(fixture *f, gconstpointer user)
{
    g_autofree char *secret = g_build_filename(f->images, "secret", NULL);
    g_autofree char *hidden = g_build_filename(secret, "hidden.raw", NULL);
    g_autofree char *outside_dir = g_build_filename(f->root, "elsewhere", NULL);
    g_autofree char *outside = g_build_filename(outside_dir, "x.raw", NULL);
    g_autofree char *pid = pid_path(f, "h");
    g_autofree char *want = NULL;
    g_autoptr(ferry_domain_obj) h = NULL;
    g_autoptr(ferry_domain_obj) o = NULL;
    g_autoptr(GError) error = NULL;

    if (!need_root())
        return;
    g_assert_cmpint(g_mkdir(secret, 0700), ==, 0);
    g_assert_cmpint(g_mkdir(outside_dir, 0755), ==, 0);
    write_file(hidden, 0600);
    write_file(outside, 0600);
    h = add_domain(f, "h", hidden);
    o = add_domain(f, "o", outside);
    g_assert_true(qemu_user_init(&f->state, &error));

    g_assert_false(qemu_user_hand_domain(&f->state, h, pid, &error));
    want = g_strdup_printf("domain 'h': disk 'hda': user '+4242' cannot reach image '%s': "
                           "it may not search directory '%s'", hidden, secret);
    g_assert_cmpstr(error->message, ==, want);
    assert_owner(hidden, 0, 0, 0600);
    g_assert_null(mark(hidden));
    g_assert_null(handed(h));
    g_clear_error(&error);
    g_free(want);

    g_assert_false(qemu_user_hand_domain(&f->state, o, pid, &error));
    want = g_strdup_printf("domain 'o': disk 'hda': user '+4242' cannot open image '%s', "
                           "and ferryd gives it only files in storage_dirs, file_dirs or "
                           "state_dir", outside);
    g_assert_cmpstr(error->message, ==, want);
    assert_owner(outside, 0, 0, 0600);
}

/* A switch that fails: the child says why on stderr (QEMU's log) and
 * exits 126, never going on as whoever it was. */
static void
test_switch_fails(fixture *f, gconstpointer user)
{
    g_autoptr(GError) error = NULL;
    g_autofree char *said = NULL;
    int fds[2];
    int status = 0;
    pid_t pid;

    if (!need_root())
        return;
    g_assert_true(qemu_user_init(&f->state, &error));
    g_assert_cmpint(pipe(fds), ==, 0);
    pid = fork();
    g_assert_cmpint(pid, >=, 0);
    if (pid == 0) {
        gid_t gid = 4343;

        /* No longer root: setgroups() is refused, as it would be to a
         * ferryd without CAP_SETGID. */
        dup2(fds[1], STDERR_FILENO);
        if (setgroups(1, &gid) < 0 || setgid(4343) < 0 || setuid(4343) < 0)
            _exit(1);
        qemu_user_child_setup(&f->state);
        _exit(0);
    }
    close(fds[1]);
    {
        GIOChannel *ch = g_io_channel_unix_new(fds[0]);

        g_io_channel_read_to_end(ch, &said, NULL, NULL);
        g_io_channel_unref(ch);
    }
    close(fds[0]);
    g_assert_cmpint(waitpid(pid, &status, 0), ==, pid);
    g_assert_true(WIFEXITED(status));
    g_assert_cmpint(WEXITSTATUS(status), ==, 126);
    g_assert_cmpstr(said, ==, "ferry: cannot run QEMU as user '+4242' (uid 4242) with only "
                              "its group (gid 4242): setgroups: Operation not permitted\n");
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add("/qemu-user/no-user", fixture, NULL, fixture_set_up, test_no_user,
               fixture_tear_down);
    g_test_add("/qemu-user/hand-and-give-back", fixture, "+4242", fixture_set_up,
               test_hand_and_give_back, fixture_tear_down);
    g_test_add("/qemu-user/shared", fixture, "+4242", fixture_set_up, test_shared,
               fixture_tear_down);
    g_test_add("/qemu-user/refused", fixture, "+4242", fixture_set_up, test_refused,
               fixture_tear_down);
    g_test_add("/qemu-user/switch-fails", fixture, "+4242", fixture_set_up,
               test_switch_fails, fixture_tear_down);
    return g_test_run();
}
