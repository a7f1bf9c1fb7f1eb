/*
 * qemu-user.c: QEMU as an unprivileged user, and the files ferryd hands to
 * it (see qemu-user.h for what this owns).
 *
 * Why ask the kernel rather than compute permissions: whether the user may
 * open a file depends on modes, owners, supplementary groups and ACLs of the
 * file and of every directory above it.  A child process that takes the
 * user's credentials and calls access(2) gets the answer QEMU will get.
 */
#include "ferry-config.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <grp.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "qemu/qemu-storage.h"
#include "qemu/qemu-user.h"
#include "util/confine.h"
#include "util/error.h"
#include "util/json-util.h"
#include "util/user.h"

/* The owner a file had before any QEMU held it, and how many hold it. */
#define OWNER_XATTR "trusted.ferry.owner"
/* Where the group may search (and nothing more). */
#define SEARCH_MODE 0710

gboolean
qemu_user_enabled(qemu_driver_state *state)
{
    return state->qemu_uid != 0;
}

/* Sets @path's group to the QEMU group and its mode to @mode (owner kept). */
static gboolean
set_dir(const char *path, uid_t uid, gid_t gid, mode_t mode, GError **error)
{
    if (chown(path, uid, gid) < 0 || chmod(path, mode) < 0) {
        ferry_set_error_errno(error, FERRY_ERROR_SYSTEM, errno,
                              "cannot let the QEMU user reach directory '%s'", path);
        return FALSE;
    }
    return TRUE;
}

gboolean
qemu_user_init(qemu_driver_state *state, GError **error)
{
    const char *user = state->config.user;
    const char *group = state->config.group;
    g_autofree char *qemu_dir = g_build_filename(state->config.state_dir, "qemu", NULL);
    uid_t uid = 0;
    gid_t gid = 0;

    if (user && !ferry_user_lookup(user, &uid, &gid)) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_CONFIG,
                    "setting 'user': there is no user '%s'", user);
        return FALSE;
    }
    if (group && !ferry_group_lookup(group, &gid)) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_CONFIG,
                    "setting 'group': there is no group '%s'", group);
        return FALSE;
    }
    state->qemu_uid = uid;
    state->qemu_gid = gid;
    /* Root's again when a previous configuration had a user. */
    if (!qemu_user_enabled(state))
        return set_dir(state->relay_dir, 0, 0, 0700, error);
    state->qemu_user_name = g_strdup(user);
    if (group)
        state->qemu_switch_error = g_strdup_printf("ferry: cannot run QEMU as user '%s' (uid "
                                                   "%u) with only group '%s' (gid %u): ",
                                                   user, uid, group, gid);
    else
        state->qemu_switch_error = g_strdup_printf("ferry: cannot run QEMU as user '%s' (uid "
                                                   "%u) with only its group (gid %u): ",
                                                   user, uid, gid);
    /* QEMU opens its pid file in the run directory and the images in a
     * default storage directory: the group may search the way there. */
    if (!set_dir(state->config.state_dir, 0, gid, SEARCH_MODE, error) ||
        !set_dir(qemu_dir, 0, gid, SEARCH_MODE, error) ||
        !set_dir(state->run_dir, 0, gid, SEARCH_MODE, error) ||
        !set_dir(state->relay_dir, uid, gid, 0700, error))
        return FALSE;
    g_message("QEMU runs as user '%s' (uid %u), group %u", user, uid, gid);
    return TRUE;
}

/* Writes @s to stderr from the child (async-signal-safe). */
static void
child_say(const char *s)
{
    ssize_t ignored = write(STDERR_FILENO, s, strlen(s));

    (void)ignored;
}

static void
child_fail(qemu_driver_state *state, const char *step)
{
    int err = errno;
    const char *desc = strerrordesc_np(err);

    child_say(state->qemu_switch_error);
    child_say(step);
    child_say(": ");
    child_say(desc ? desc : "unknown error");
    child_say("\n");
    _exit(126);
}

void
qemu_user_child_setup(gpointer data)
{
    qemu_driver_state *state = data;
    gid_t gid = state->qemu_gid;

    /* Its own session: a signal to ferryd's process group (Ctrl-C in a
     * terminal) must not take the VMs down with it. */
    setsid();
    if (!qemu_user_enabled(state))
        return;
    /* Groups first: after setuid() there is no right to change them. */
    if (setgroups(1, &gid) < 0)
        child_fail(state, "setgroups");
    if (setgid(gid) < 0)
        child_fail(state, "setgid");
    if (setuid(state->qemu_uid) < 0)
        child_fail(state, "setuid");
}

/* access(@path, @mode) as the QEMU user: 0, or the errno it fails with. */
static int
user_access(qemu_driver_state *state, const char *path, int mode)
{
    gid_t gid = state->qemu_gid;
    int status = 0;
    pid_t pid = fork();

    if (pid < 0)
        return errno;
    if (pid == 0) {
        if (setgroups(1, &gid) < 0 || setgid(gid) < 0 || setuid(state->qemu_uid) < 0)
            _exit(EPERM);
        _exit(access(path, mode) < 0 ? (errno & 0xff ? errno & 0xff : EACCES) : 0);
    }
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR)
            return errno;
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : EIO;
}

/* Says why the user cannot open @path: the first directory above it that
 * it may not search, or the file itself. */
static void
set_unreachable_error(qemu_driver_state *state, const char *what, const char *thing,
                      const char *path, int err, GError **error)
{
    g_autofree char *dir = g_path_get_dirname(path);
    g_autoptr(GPtrArray) above = g_ptr_array_new_with_free_func(g_free);

    while (strcmp(dir, "/") != 0) {
        g_ptr_array_insert(above, 0, g_strdup(dir));
        g_free(g_steal_pointer(&dir));
        dir = g_path_get_dirname(above->pdata[0]);
    }
    for (guint i = 0; i < above->len; i++) {
        if (user_access(state, above->pdata[i], X_OK) != 0) {
            g_set_error(error, FERRY_ERROR, FERRY_ERROR_OPERATION_FAILED,
                        "%s: user '%s' cannot reach %s '%s': it may not search directory "
                        "'%s'", what, state->qemu_user_name, thing, path,
                        (char *)above->pdata[i]);
            return;
        }
    }
    ferry_set_error_errno(error, FERRY_ERROR_OPERATION_FAILED, err,
                          "%s: user '%s' cannot open %s '%s'", what,
                          state->qemu_user_name, thing, path);
}

/* May ferryd give @path away: is it in storage_dirs, file_dirs or state_dir? */
static gboolean
may_hand(qemu_driver_state *state, const char *path)
{
    g_autoptr(GPtrArray) dirs = g_ptr_array_new();

    for (guint i = 0; state->config.storage_dirs && state->config.storage_dirs[i]; i++)
        g_ptr_array_add(dirs, state->config.storage_dirs[i]);
    for (guint i = 0; state->config.file_dirs && state->config.file_dirs[i]; i++)
        g_ptr_array_add(dirs, state->config.file_dirs[i]);
    g_ptr_array_add(dirs, state->config.state_dir);
    g_ptr_array_add(dirs, NULL);
    return ferry_confine_path(path, "file", (const char *const *)dirs->pdata, "", NULL);
}

static void
file_free(qemu_user_file *f)
{
    g_free(f->path);
    g_free(f);
}

/* The owner before and the holders recorded on @fd; FALSE if none is. */
static gboolean
read_owner(int fd, guint *uid, guint *gid, guint *holders)
{
    char buf[64];
    ssize_t n = fgetxattr(fd, OWNER_XATTR, buf, sizeof(buf) - 1);

    if (n <= 0)
        return FALSE;
    buf[n] = '\0';
    return sscanf(buf, "%u:%u:%u", uid, gid, holders) == 3 && *holders > 0;
}

static int
write_owner(int fd, guint uid, guint gid, guint holders)
{
    g_autofree char *value = g_strdup_printf("%u:%u:%u", uid, gid, holders);

    return fsetxattr(fd, OWNER_XATTR, value, strlen(value), 0);
}

/* Gives @path (resolved) to the user; fills @f with its owner before. */
static gboolean
give(qemu_driver_state *state, const char *path, qemu_user_file *f, const char *what,
     const char *thing, GError **error)
{
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    struct stat st;
    guint uid, gid, holders = 0;

    /* Another ferryd of this host (or of a host sharing the storage) may be
     * counting the same file: one at a time. */
    if (fd < 0 || flock(fd, LOCK_EX) < 0 || fstat(fd, &st) < 0)
        goto fail;
    if (!read_owner(fd, &uid, &gid, &holders)) {
        uid = st.st_uid;
        gid = st.st_gid;
        holders = 0;
    }
    /* Without extended attributes (some file systems) the status file
     * alone remembers the owner: a file two QEMUs share may then go back
     * while the second still holds it open. */
    if (write_owner(fd, uid, gid, holders + 1) < 0 && errno != ENOTSUP)
        goto fail;
    if ((st.st_uid != state->qemu_uid || st.st_gid != state->qemu_gid) &&
        fchown(fd, state->qemu_uid, state->qemu_gid) < 0) {
        int err = errno;

        if (holders > 0)
            write_owner(fd, uid, gid, holders);
        else
            fremovexattr(fd, OWNER_XATTR);
        errno = err;
        goto fail;
    }
    close(fd);
    f->path = g_strdup(path);
    f->uid = uid;
    f->gid = gid;
    return TRUE;

fail:
    ferry_set_error_errno(error, FERRY_ERROR_OPERATION_FAILED, errno,
                          "%s: cannot hand %s '%s' to user '%s'", what, thing, path,
                          state->qemu_user_name);
    if (fd >= 0)
        close(fd);
    return FALSE;
}

/* Gives @data (a qemu_user_file) back to its owner before, unless another
 * QEMU still holds it.  A GFunc. */
static void
give_back(gpointer data, gpointer unused)
{
    const qemu_user_file *f = data;
    int fd = open(f->path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    guint uid, gid, holders;

    if (fd < 0) {
        /* Removed since (an image a failed migration created): nothing to do. */
        if (errno != ENOENT)
            g_warning("cannot give '%s' back to uid %u gid %u: %s", f->path, f->uid, f->gid,
                      g_strerror(errno));
        return;
    }
    if (flock(fd, LOCK_EX) < 0) {
        g_warning("cannot give '%s' back to uid %u gid %u: %s", f->path, f->uid, f->gid,
                  g_strerror(errno));
        close(fd);
        return;
    }
    if (read_owner(fd, &uid, &gid, &holders) && holders > 1) {
        if (write_owner(fd, uid, gid, holders - 1) < 0)
            g_warning("'%s': cannot count its holders down: %s", f->path, g_strerror(errno));
        g_debug("'%s' is still held by %u QEMU(s): not given back yet", f->path, holders - 1);
    } else {
        fremovexattr(fd, OWNER_XATTR);
        if (fchown(fd, f->uid, f->gid) < 0)
            g_warning("cannot give '%s' back to uid %u gid %u: %s", f->path, f->uid, f->gid,
                      g_strerror(errno));
    }
    close(fd);
}

/* Does another QEMU hold @path (the user may open it because of that)? */
static gboolean
held(const char *path)
{
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    guint uid, gid, holders;
    gboolean ret;

    if (fd < 0)
        return FALSE;
    ret = read_owner(fd, &uid, &gid, &holders);
    close(fd);
    return ret;
}

/* Makes @path openable by the user with @mode (R_OK, R_OK | W_OK), giving
 * it away if need be; @handed gets what was given. */
static gboolean
hand(qemu_driver_state *state, GPtrArray *handed, const char *path, int mode,
     const char *what, const char *thing, GError **error)
{
    g_autofree char *real = realpath(path, NULL);
    qemu_user_file *f;
    int err;

    if (!real) {
        ferry_set_error_errno(error, FERRY_ERROR_OPERATION_FAILED, errno,
                              "%s: cannot hand %s '%s' to user '%s'", what, thing, path,
                              state->qemu_user_name);
        return FALSE;
    }
    for (guint i = 0; i < handed->len; i++) {
        if (strcmp(((qemu_user_file *)handed->pdata[i])->path, real) == 0)
            return TRUE;
    }
    /* Held by another QEMU, it is held once more: a disk both ends of a
     * migration use goes back when the second lets go, not the first. */
    if (user_access(state, real, mode) == 0 && !held(real))
        return TRUE;
    if (!may_hand(state, real)) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_OPERATION_FAILED,
                    "%s: user '%s' cannot open %s '%s', and ferryd gives it only files in "
                    "storage_dirs, file_dirs or state_dir", what, state->qemu_user_name,
                    thing, real);
        return FALSE;
    }
    f = g_new0(qemu_user_file, 1);
    if (!give(state, real, f, what, thing, error)) {
        file_free(f);
        return FALSE;
    }
    g_ptr_array_add(handed, f);
    err = user_access(state, real, mode);
    if (err != 0) {
        set_unreachable_error(state, what, thing, real, err, error);
        return FALSE;
    }
    return TRUE;
}

/* The files below @source in its backing chain (not @source itself). */
static GPtrArray *
backing_chain(const char *source, GError **error)
{
    const char *args[] = { "info", "-U", "--backing-chain", "--output=json", source, NULL };
    g_autofree char *out = qemu_storage_run_qemu_img(args, error);
    g_autoptr(json_object) root = out ? json_tokener_parse(out) : NULL;
    GPtrArray *chain;

    if (!out)
        return NULL;
    chain = g_ptr_array_new_with_free_func(g_free);
    /* One object per image, the top first; each names its backing file. */
    for (gsize i = 0; root && json_object_is_type(root, json_type_array) &&
                      i + 1 < json_object_array_length(root); i++) {
        json_object *image = json_object_array_get_idx(root, i);
        json_object *next = json_object_array_get_idx(root, i + 1);
        json_object *name = NULL;

        if (!json_object_object_get_ex(image, "full-backing-filename", &name) &&
            !json_object_object_get_ex(next, "filename", &name))
            break;
        g_ptr_array_add(chain, g_strdup(json_object_get_string(name)));
    }
    return chain;
}

/* Creates the serial log if missing, as QEMU would have (as root). */
static gboolean
ensure_file(const char *path, const char *what, GError **error)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_NOCTTY | O_CLOEXEC, 0600);

    if (fd < 0) {
        ferry_set_error_errno(error, FERRY_ERROR_OPERATION_FAILED, errno,
                              "%s: cannot create '%s'", what, path);
        return FALSE;
    }
    close(fd);
    return TRUE;
}

/* Creates the pid file QEMU writes, as the user's: QEMU cannot create files
 * in the run directory, only write this one.  Never replaced: a QEMU of the
 * domain that still runs holds its lock, and the new one must meet it. */
static gboolean
make_pid_file(qemu_driver_state *state, const char *path, const char *name, GError **error)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_NOFOLLOW | O_NOCTTY | O_CLOEXEC, 0600);

    if (fd < 0 || fchown(fd, state->qemu_uid, state->qemu_gid) < 0) {
        ferry_set_error_errno(error, FERRY_ERROR_OPERATION_FAILED, errno,
                              "domain '%s': cannot hand pid file '%s' to user '%s'", name,
                              path, state->qemu_user_name);
        if (fd >= 0)
            close(fd);
        return FALSE;
    }
    close(fd);
    return TRUE;
}

/* How errors name chardev @chr: "domain 'web1': serial 0", "... channel
 * 'org.qemu.guest_agent.0'". */
static char *
describe_chr(const ferry_domain_def *def, const ferry_chr_def *chr)
{
    if (chr->device == FERRY_CHR_DEVICE_CHANNEL)
        return g_strdup_printf("domain '%s': channel '%s'", def->name,
                               chr->target_name ? chr->target_name : "(unnamed)");
    return g_strdup_printf("domain '%s': %s %u", def->name,
                           chr->device == FERRY_CHR_DEVICE_SERIAL ? "serial" : "console",
                           chr->target_port);
}

/* A disk's files: its image, device node or medium, and the backing chain
 * below it.  A network disk has none (QEMU connects to its NBD server), nor
 * has a cdrom or floppy drive without a medium. */
static gboolean
hand_disk(qemu_driver_state *state, GPtrArray *handed, const ferry_domain_def *def,
          const ferry_disk_def *disk, GError **error)
{
    g_autofree char *what = g_strdup_printf("domain '%s': disk '%s'", def->name,
                                            disk->target);
    g_autoptr(GPtrArray) chain = NULL;
    /* A cdrom is read-only whatever the XML says: QEMU opens it so. */
    gboolean readonly = disk->readonly || disk->device == FERRY_DISK_DEVICE_CDROM;
    const char *thing = disk->type == FERRY_DISK_TYPE_BLOCK ? "block device"
                        : disk->device == FERRY_DISK_DEVICE_DISK ? "image" : "medium";

    if (disk->type == FERRY_DISK_TYPE_NETWORK || !disk->source)
        return TRUE;
    if (!hand(state, handed, disk->source, readonly ? R_OK : R_OK | W_OK, what, thing, error))
        return FALSE;
    if (disk->format == FERRY_DISK_FORMAT_RAW)
        return TRUE;
    chain = backing_chain(disk->source, error);
    if (!chain) {
        g_prefix_error(error, "%s: cannot read the backing chain of '%s': ", what,
                       disk->source);
        return FALSE;
    }
    for (guint j = 0; j < chain->len; j++) {
        if (!hand(state, handed, chain->pdata[j], R_OK, what, "backing file", error))
            return FALSE;
    }
    return TRUE;
}

/* What QEMU opens for a chardev: a file it appends to (created first, as
 * QEMU would have as root), the directory it creates a listening unix
 * socket in, or the unix socket it connects to.  A pty, a TCP socket or
 * null needs nothing.  The socket of another program is not given away
 * (and a socket cannot be opened to change its owner safely): the user
 * must already be able to connect, or the error says where it cannot. */
static gboolean
hand_chr(qemu_driver_state *state, GPtrArray *handed, const ferry_domain_def *def,
         const ferry_chr_def *chr, GError **error)
{
    g_autofree char *what = NULL;
    g_autofree char *dir = NULL;
    int err;

    if (!chr->source.path)
        return TRUE;
    if (chr->source.type == FERRY_CHR_FILE) {
        what = describe_chr(def, chr);
        return ensure_file(chr->source.path, what, error) &&
               hand(state, handed, chr->source.path, W_OK, what, "log file", error);
    }
    if (chr->source.type != FERRY_CHR_UNIX)
        return TRUE;
    what = describe_chr(def, chr);
    /* Binding creates the socket: the directory is written to (QEMU also
     * removes a socket a previous QEMU left there). */
    if (chr->source.server) {
        dir = g_path_get_dirname(chr->source.path);
        return hand(state, handed, dir, W_OK | X_OK, what, "socket directory", error);
    }
    err = user_access(state, chr->source.path, W_OK);
    if (err != 0) {
        set_unreachable_error(state, what, "socket", chr->source.path, err, error);
        return FALSE;
    }
    return TRUE;
}

static gboolean
hand_all(qemu_driver_state *state, const ferry_domain_def *def, GPtrArray *handed,
         GError **error)
{
    g_autofree char *dom = g_strdup_printf("domain '%s'", def->name);
    /* Read-write when QEMU writes it: a pflash loader not said read-only. */
    int loader_mode = def->loader_readonly || g_strcmp0(def->loader_type, "rom") == 0
                      ? R_OK : R_OK | W_OK;

    if (def->kernel && !hand(state, handed, def->kernel, R_OK, dom, "kernel", error))
        return FALSE;
    if (def->initrd && !hand(state, handed, def->initrd, R_OK, dom, "initrd", error))
        return FALSE;
    if (def->dtb && !hand(state, handed, def->dtb, R_OK, dom, "device tree", error))
        return FALSE;
    if (def->loader && !hand(state, handed, def->loader, loader_mode, dom, "loader", error))
        return FALSE;
    if (def->nvram && !hand(state, handed, def->nvram, R_OK | W_OK, dom, "nvram", error))
        return FALSE;
    if (def->serial_log && (!ensure_file(def->serial_log, dom, error) ||
                            !hand(state, handed, def->serial_log, W_OK, dom, "serial log",
                                  error)))
        return FALSE;
    for (guint i = 0; i < def->disks->len; i++) {
        if (!hand_disk(state, handed, def, def->disks->pdata[i], error))
            return FALSE;
    }
    for (guint i = 0; def->chardevs && i < def->chardevs->len; i++) {
        if (!hand_chr(state, handed, def, def->chardevs->pdata[i], error))
            return FALSE;
    }
    return TRUE;
}

gboolean
qemu_user_hand_domain(qemu_driver_state *state, ferry_domain_obj *obj, const char *pid_path,
                      GError **error)
{
    g_autoptr(GPtrArray) handed = NULL;
    g_autoptr(ferry_domain_def) def = NULL;
    qemu_domain_priv *priv;

    if (!qemu_user_enabled(state))
        return TRUE;
    g_mutex_lock(&obj->lock);
    def = ferry_domain_def_copy(obj->live);
    g_mutex_unlock(&obj->lock);
    handed = g_ptr_array_new_with_free_func((GDestroyNotify)file_free);
    if (!make_pid_file(state, pid_path, def->name, error) ||
        !hand_all(state, def, handed, error)) {
        g_ptr_array_foreach(handed, give_back, NULL);
        return FALSE;
    }
    g_mutex_lock(&obj->lock);
    priv = qemu_domain_priv_get(obj);
    g_clear_pointer(&priv->handed, g_ptr_array_unref);
    priv->handed = g_steal_pointer(&handed);
    g_mutex_unlock(&obj->lock);
    return TRUE;
}

void
qemu_user_restore_domain(qemu_driver_state *state, ferry_domain_obj *obj)
{
    g_autoptr(GPtrArray) handed = NULL;

    g_mutex_lock(&obj->lock);
    if (obj->priv)
        handed = g_steal_pointer(&((qemu_domain_priv *)obj->priv)->handed);
    g_mutex_unlock(&obj->lock);
    if (!handed)
        return;
    g_ptr_array_foreach(handed, give_back, NULL);
    g_debug("domain '%s': %u file(s) given back from the QEMU user", obj->name, handed->len);
}

gboolean
qemu_user_hand_socket(qemu_driver_state *state, const char *path, const char *what,
                      GError **error)
{
    if (!qemu_user_enabled(state))
        return TRUE;
    /* lchown: the relay directory is the user's, who could have put a
     * symlink there; the socket ferryd made is what is given, or nothing. */
    if (lchown(path, state->qemu_uid, state->qemu_gid) < 0) {
        ferry_set_error_errno(error, FERRY_ERROR_OPERATION_FAILED, errno,
                              "%s: cannot hand socket '%s' to user '%s'", what, path,
                              state->qemu_user_name);
        return FALSE;
    }
    return TRUE;
}

gboolean
qemu_user_private_dir(qemu_driver_state *state, const char *dir, GError **error)
{
    if (!qemu_user_enabled(state))
        return set_dir(dir, 0, 0, 0700, error);
    return set_dir(dir, state->qemu_uid, state->qemu_gid, 0500, error);
}

gboolean
qemu_user_copy_private(qemu_driver_state *state, const char *source, const char *dest,
                       GError **error)
{
    g_autofree char *data = NULL;
    gsize len = 0;
    int fd;

    if (!g_file_get_contents(source, &data, &len, error))
        return FALSE;
    g_unlink(dest);
    fd = open(dest, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0400);
    if (fd < 0 || fchown(fd, state->qemu_uid, state->qemu_gid) < 0 ||
        write(fd, data, len) != (ssize_t)len) {
        ferry_set_error_errno(error, FERRY_ERROR_SYSTEM, errno,
                              "cannot copy '%s' to '%s' for user '%s'", source, dest,
                              state->qemu_user_name);
        if (fd >= 0)
            close(fd);
        return FALSE;
    }
    close(fd);
    return TRUE;
}

json_object *
qemu_user_files_to_json(GPtrArray *files)
{
    json_object *array = json_object_new_array();

    for (guint i = 0; files && i < files->len; i++) {
        const qemu_user_file *f = files->pdata[i];
        json_object *o = json_object_new_object();

        json_object_object_add(o, "path", json_object_new_string(f->path));
        json_object_object_add(o, "uid", json_object_new_int64(f->uid));
        json_object_object_add(o, "gid", json_object_new_int64(f->gid));
        json_object_array_add(array, o);
    }
    return array;
}

GPtrArray *
qemu_user_files_from_json(json_object *array)
{
    GPtrArray *files;

    if (!array || !json_object_is_type(array, json_type_array) ||
        json_object_array_length(array) == 0)
        return NULL;
    files = g_ptr_array_new_with_free_func((GDestroyNotify)file_free);
    for (gsize i = 0; i < json_object_array_length(array); i++) {
        json_object *o = json_object_array_get_idx(array, i);
        json_object *path, *uid, *gid;
        qemu_user_file *f;

        if (!json_object_object_get_ex(o, "path", &path) ||
            !json_object_is_type(path, json_type_string) ||
            !json_object_object_get_ex(o, "uid", &uid) ||
            !json_object_is_type(uid, json_type_int) ||
            !json_object_object_get_ex(o, "gid", &gid) ||
            !json_object_is_type(gid, json_type_int)) {
            g_warning("status file: handed file %zu is not well formed: skipped", i);
            continue;
        }
        f = g_new0(qemu_user_file, 1);
        f->path = g_strdup(json_object_get_string(path));
        f->uid = (guint)json_object_get_int64(uid);
        f->gid = (guint)json_object_get_int64(gid);
        g_ptr_array_add(files, f);
    }
    return files;
}
