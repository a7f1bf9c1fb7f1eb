/*
 * lock-fcntl.c: the "fcntl" lock manager -- a lease is an open file
 * description holding an exclusive OFD lock (F_OFD_SETLK) on
 * LOCKSPACE/UUID.lease, a directory the hosts share.
 *
 * Owns: the lockspace directory's files (UUID.lease, lockspace-id) and the
 * descriptors of the leases this manager holds.  Must not: wait for a lock
 * (every lock attempt is non-blocking), delete a lease file (another host
 * may have it open: a new file would let two hosts lock "the same" lease),
 * build a path from anything but a checked uuid, or log above debug.
 *
 * The lock lives exactly as long as the open file description: closing the
 * descriptor or the death of the process drops it, and the kernel (or the
 * NFS server) forgets it with the process.  The text in the file only names
 * the holder for messages; the lock alone decides who holds the lease.
 */
#include "ferry-config.h"

#include <errno.h>
#include <fcntl.h>
#include <ferry/ferry.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "locking/lock-manager-private.h"
#include "util/error.h"

#define LOCKSPACE_ID_FILE "lockspace-id"

/* How many times acquire opens the lease file again when it finds that the
 * file it locked is no longer the one at its path (someone replaced it). */
#define LEASE_OPEN_ATTEMPTS 3

typedef struct {
    int fd;                         /* holds the OFD lock */
    ferry_lease_holder *holder;     /* what was written into the file */
} held_lease;

typedef struct {
    char *dir;
    char *host_uuid;                /* nullable */
    char *lockspace_id;
    GMutex lock;                    /* guards `held`; held across each acquire and
                                     * release so that they are atomic in-process */
    GHashTable *held;               /* domain uuid -> held_lease* */
} fcntl_manager;

/* ---- small file helpers ------------------------------------------------- */

static gboolean
write_all(int fd, const char *data, gsize len)
{
    gsize done = 0;

    while (done < len) {
        ssize_t n = pwrite(fd, data + done, len - done, (off_t)done);

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return FALSE;
        done += (gsize)n;
    }
    return TRUE;
}

/* Reads at most @size bytes from the start of @fd; -1 with errno on error. */
static gssize
read_head(int fd, char *buf, gsize size)
{
    gsize done = 0;

    while (done < size) {
        ssize_t n = pread(fd, buf + done, size - done, (off_t)done);

        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        if (n == 0)
            break;
        done += (gsize)n;
    }
    return (gssize)done;
}

/* Who the lease open on @fd names, or NULL if it names nobody readable. */
static ferry_lease_holder *
read_holder(int fd)
{
    g_autofree char *buf = g_malloc(FERRY_LEASE_RECORD_MAX + 1);
    gssize len = read_head(fd, buf, FERRY_LEASE_RECORD_MAX + 1);

    /* One byte too many makes the parser refuse an oversized record. */
    if (len <= 0)
        return NULL;
    return ferry_lease_holder_parse(buf, (gsize)len);
}

static void
lock_whole_file(struct flock *fl, short type)
{
    memset(fl, 0, sizeof(*fl));     /* l_pid must be 0 for OFD locks */
    fl->l_type = type;
    fl->l_whence = SEEK_SET;
    fl->l_start = 0;
    fl->l_len = 0;                  /* to the end, however long */
}

static char *
lease_path(fcntl_manager *m, const char *uuid)
{
    g_autofree char *base = g_strconcat(uuid, ".lease", NULL);

    return g_build_filename(m->dir, base, NULL);
}

/* ---- the lockspace id --------------------------------------------------- */

/* Writes a new id to a temporary file and links it into place: link()
 * fails if another host got there first, and a reader never sees a file
 * half written. */
static gboolean
lockspace_create_id(const char *dir, const char *id_path, GError **error)
{
    g_autofree char *tmp = g_build_filename(dir, ".lockspace-id.XXXXXX", NULL);
    g_autofree char *uuid = g_uuid_string_random();
    g_autofree char *text = g_strconcat(uuid, "\n", NULL);
    int fd = g_mkstemp_full(tmp, O_RDWR | O_CLOEXEC, 0644);
    int errsv = 0;

    if (fd < 0) {
        ferry_set_error_errno(error, FERRY_ERROR_SYSTEM, errno,
                              "lockspace directory '%s': cannot create '%s'", dir, tmp);
        return FALSE;
    }
    errno = 0;
    if (!write_all(fd, text, strlen(text)) || fsync(fd) < 0)
        errsv = errno ? errno : EIO;
    close(fd);
    if (!errsv && link(tmp, id_path) < 0 && errno != EEXIST)
        errsv = errno;
    unlink(tmp);
    if (errsv) {
        ferry_set_error_errno(error, FERRY_ERROR_SYSTEM, errsv,
                              "lockspace directory '%s': cannot create its id file '%s'",
                              dir, id_path);
        return FALSE;
    }
    return TRUE;
}

/* The lockspace's id, made by the first host that used it. */
static char *
lockspace_get_id(const char *dir, GError **error)
{
    g_autofree char *id_path = g_build_filename(dir, LOCKSPACE_ID_FILE, NULL);
    char buf[64];
    gssize len;
    int fd = open(id_path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);

    if (fd < 0 && errno == ENOENT) {
        if (!lockspace_create_id(dir, id_path, error))
            return NULL;
        fd = open(id_path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    }
    if (fd < 0) {
        ferry_set_error_errno(error, FERRY_ERROR_SYSTEM, errno,
                              "lockspace id file '%s' cannot be read", id_path);
        return NULL;
    }
    len = read_head(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (len >= 0) {
        buf[len] = '\0';
        g_strstrip(buf);
    }
    if (len < 0 || !g_uuid_string_is_valid(buf)) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_SYSTEM,
                    "lockspace id file '%s' does not hold a uuid: remove it only if "
                    "no host uses this lockspace", id_path);
        return NULL;
    }
    return g_ascii_strdown(buf, -1);
}

/* ---- the driver ---------------------------------------------------------- */

static void
held_lease_drop(held_lease *lease)
{
    /* Clear the name first: once the descriptor closes, the lock is gone
     * and the file may be someone else's. */
    if (ftruncate(lease->fd, 0) < 0)
        g_debug("cannot clear a lease file before releasing it: %s", g_strerror(errno));
    close(lease->fd);
    ferry_lease_holder_free(lease->holder);
    g_free(lease);
}

/* Opens and locks the lease file; -1 with @error (FERRY_ERROR_LEASE_HELD
 * naming the holder when someone else holds it). */
static int
lease_open_locked(const char *path, const char *dom_name, GError **error)
{
    for (guint attempt = 0; attempt < LEASE_OPEN_ATTEMPTS; attempt++) {
        struct flock fl;
        struct stat fst, pst;
        int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);

        if (fd < 0) {
            ferry_set_error_errno(error, FERRY_ERROR_SYSTEM, errno,
                                  "domain '%s': cannot open its lease file '%s'",
                                  dom_name, path);
            return -1;
        }
        lock_whole_file(&fl, F_WRLCK);
        if (fcntl(fd, F_OFD_SETLK, &fl) < 0) {
            int errsv = errno;

            if (errsv == EAGAIN || errsv == EACCES) {
                g_autoptr(ferry_lease_holder) holder = read_holder(fd);
                g_autofree char *who = ferry_lease_holder_describe(holder);

                g_set_error(error, FERRY_ERROR, FERRY_ERROR_LEASE_HELD,
                            "domain '%s': its lease is held by %s", dom_name, who);
            } else {
                ferry_set_error_errno(error, FERRY_ERROR_SYSTEM, errsv,
                                      "domain '%s': cannot lock its lease file '%s'",
                                      dom_name, path);
            }
            close(fd);
            return -1;
        }
        /* The file locked must still be the one at the path. */
        if (fstat(fd, &fst) == 0 && stat(path, &pst) == 0 &&
            fst.st_dev == pst.st_dev && fst.st_ino == pst.st_ino)
            return fd;
        close(fd);
    }
    g_set_error(error, FERRY_ERROR, FERRY_ERROR_SYSTEM,
                "domain '%s': its lease file '%s' was replaced while it was being locked",
                dom_name, path);
    return -1;
}

static gboolean
fcntl_acquire(gpointer self, const char *uuid, const char *dom_name,
              const char *owner_host, GError **error)
{
    fcntl_manager *m = self;
    g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&m->lock);
    g_autofree char *path = NULL;
    g_autofree char *record = NULL;
    held_lease *lease;
    int fd;

    if (g_hash_table_contains(m->held, uuid))
        return TRUE;
    path = lease_path(m, uuid);
    fd = lease_open_locked(path, dom_name, error);
    if (fd < 0)
        return FALSE;

    lease = g_new0(held_lease, 1);
    lease->fd = fd;
    lease->holder = ferry_lease_holder_new(owner_host, m->host_uuid, dom_name);
    record = ferry_lease_holder_format(lease->holder);
    errno = 0;
    if (ftruncate(fd, 0) < 0 || !write_all(fd, record, strlen(record)) ||
        fdatasync(fd) < 0) {
        ferry_set_error_errno(error, FERRY_ERROR_SYSTEM, errno ? errno : EIO,
                              "domain '%s': cannot write its lease file '%s'",
                              dom_name, path);
        held_lease_drop(lease);
        return FALSE;
    }
    g_hash_table_insert(m->held, g_strdup(uuid), lease);
    return TRUE;
}

static gboolean
fcntl_release(gpointer self, const char *uuid)
{
    fcntl_manager *m = self;
    g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&m->lock);
    gpointer key = NULL, lease = NULL;

    if (!g_hash_table_steal_extended(m->held, uuid, &key, &lease))
        return FALSE;
    g_free(key);
    held_lease_drop(lease);
    return TRUE;
}

static gboolean
fcntl_holds(gpointer self, const char *uuid)
{
    fcntl_manager *m = self;
    g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&m->lock);

    return g_hash_table_contains(m->held, uuid);
}

static gboolean
fcntl_query(gpointer self, const char *uuid, gboolean *ret_held,
            ferry_lease_holder **ret_holder, GError **error)
{
    fcntl_manager *m = self;
    g_autofree char *path = lease_path(m, uuid);
    struct flock fl;
    int fd;

    {
        g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&m->lock);
        held_lease *mine = g_hash_table_lookup(m->held, uuid);

        if (mine) {
            *ret_held = TRUE;
            *ret_holder = ferry_lease_holder_copy(mine->holder);
            return TRUE;
        }
    }
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0 && errno == ENOENT) {
        /* Never taken: a lease file is created by the first acquire. */
        *ret_held = FALSE;
        *ret_holder = NULL;
        return TRUE;
    }
    if (fd < 0) {
        ferry_set_error_errno(error, FERRY_ERROR_SYSTEM, errno,
                              "lease file '%s' cannot be read", path);
        return FALSE;
    }
    lock_whole_file(&fl, F_WRLCK);
    if (fcntl(fd, F_OFD_GETLK, &fl) < 0) {
        ferry_set_error_errno(error, FERRY_ERROR_SYSTEM, errno,
                              "lease file '%s': cannot test its lock", path);
        close(fd);
        return FALSE;
    }
    *ret_held = fl.l_type != F_UNLCK;
    *ret_holder = *ret_held ? read_holder(fd) : NULL;
    close(fd);
    return TRUE;
}

static const char *
fcntl_lockspace_id(gpointer self)
{
    fcntl_manager *m = self;

    return m->lockspace_id;
}

static void
fcntl_free(gpointer self)
{
    fcntl_manager *m = self;

    g_hash_table_destroy(m->held);      /* drops every lease still held */
    g_mutex_clear(&m->lock);
    g_free(m->dir);
    g_free(m->host_uuid);
    g_free(m->lockspace_id);
    g_free(m);
}

static const ferry_lock_driver fcntl_driver = {
    .name = "fcntl",
    .acquire = fcntl_acquire,               /* since 0.1 */
    .release = fcntl_release,               /* since 0.1 */
    .holds = fcntl_holds,                   /* since 0.1 */
    .query = fcntl_query,                   /* since 0.1 */
    .lockspace_id = fcntl_lockspace_id,     /* since 0.1 */
    .free = fcntl_free,                     /* since 0.1 */
};

ferry_lock_manager *
ferry_lock_manager_new_fcntl(const char *lockspace_dir, const char *host_uuid,
                             GError **error)
{
    fcntl_manager *m;
    g_autofree char *id = NULL;
    struct stat st;

    g_return_val_if_fail(lockspace_dir != NULL, NULL);

    if (!g_path_is_absolute(lockspace_dir)) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_CONFIG,
                    "lockspace directory '%s' is not an absolute path", lockspace_dir);
        return NULL;
    }
    if (stat(lockspace_dir, &st) < 0) {
        ferry_set_error_errno(error, FERRY_ERROR_SYSTEM, errno,
                              "lockspace directory '%s' cannot be used", lockspace_dir);
        return NULL;
    }
    if (!S_ISDIR(st.st_mode)) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_SYSTEM,
                    "lockspace directory '%s' is not a directory", lockspace_dir);
        return NULL;
    }
    if (access(lockspace_dir, W_OK | X_OK) < 0) {
        ferry_set_error_errno(error, FERRY_ERROR_SYSTEM, errno,
                              "lockspace directory '%s' is not writable", lockspace_dir);
        return NULL;
    }
    id = lockspace_get_id(lockspace_dir, error);
    if (!id)
        return NULL;

    m = g_new0(fcntl_manager, 1);
    m->dir = g_strdup(lockspace_dir);
    m->host_uuid = g_strdup(host_uuid);
    m->lockspace_id = g_steal_pointer(&id);
    g_mutex_init(&m->lock);
    m->held = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
                                    (GDestroyNotify)held_lease_drop);
    return ferry_lock_manager_new_with_driver(&fcntl_driver, m);
}
