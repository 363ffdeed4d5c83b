/*
 * tilestore_dir.c - a tile store (tilestore.h) in a folder: file:///DIR as
 * tlogd serve --publish takes it (docs/PUBLISH.md). DIR holds the
 * tlog-tiles layout exactly as tlogd serves it (checkpoint, tile/<L>/<N>,
 * tile/entries/<N>, partial tiles under .p/<W>), ready for nginx or any
 * static server.
 *
 * Guarantees:
 *  - Write-once: an object is written to a temporary file in its folder
 *    (".tmp-<pid>-<n>", created exclusively, fsynced) and moved to its path
 *    only if nothing is there (renameat2 RENAME_NOREPLACE; where the file
 *    system lacks it, link(2), which never replaces either). Its folder is
 *    fsynced by sync, which the publisher calls before each checkpoint swap
 *    (and the swap itself calls): one fsync per folder and round rather than
 *    per object. A crash before it may lose an object, never leave a part of
 *    one (the file was fsynced before the rename), and the checkpoint that
 *    covers it is not yet written. A path already holding the same bytes is TL_OK; other
 *    bytes are TL_ERR_CONFLICT and the file is left as it is.
 *  - The checkpoint is replaced by compare-and-swap: under an exclusive
 *    flock(2) of DIR/.tlogd.lock, its current content is read and compared,
 *    then the new one is written by temporary file, fsync, rename over it
 *    and fsync of DIR. A second tlogd on the same DIR (or any process that
 *    takes the same lock) cannot interleave between the compare and the
 *    rename. Readers see the old checkpoint or the new, never a part.
 *  - Folders are created as needed (0755, each new one's parent fsynced);
 *    files are 0644 whatever the umask.
 *
 * Threads: one publisher thread at a time (tilestore.h); the lock is for
 * other processes.
 */

#include "log/tilestore.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/err.h"
#include "common/file.h"

typedef struct dirstore {
    tl_tilestore pub;
    char *dir;  /* without a trailing slash */
    char *name; /* "file://" dir */
    int lockfd;
    unsigned long tmpn;
#define DIRTY_MAX 32
    char *dirty[DIRTY_MAX]; /* folders with renames not yet fsynced */
    size_t ndirty;
} dirstore;

static int dir_sync(tl_tilestore *ts);

static int fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return TL_ERR_IO;
    int rc = fsync(fd) == 0 ? TL_OK : TL_ERR_IO;
    close(fd);
    return rc;
}

/* Creates the folders of full (a file path) below the store's DIR. */
static int make_parents(const char *full, size_t dirlen)
{
    char p[PATH_MAX];
    size_t n = strlen(full);
    if (n >= sizeof p)
        return TL_ERR_INVALID;
    memcpy(p, full, n + 1);
    for (size_t i = dirlen + 1; i < n; i++) {
        if (p[i] != '/')
            continue;
        p[i] = '\0';
        if (mkdir(p, 0755) == 0) {
            /* the umask may have narrowed it; the web server must read it */
            if (chmod(p, 0755) != 0)
                return TL_ERR_IO;
            char *slash = strrchr(p, '/');
            *slash = '\0';
            int rc = fsync_dir(p);
            *slash = '/';
            if (rc != TL_OK)
                return rc;
        } else if (errno != EEXIST) {
            return TL_ERR_IO;
        }
        p[i] = '/';
    }
    return TL_OK;
}

/* What full holds compared with data: TL_OK (the same bytes),
 * TL_ERR_CONFLICT (others), TL_ERR_NOTFOUND, or an I/O error. */
static int compare_file(const char *full, const void *data, size_t len)
{
    char *cur = NULL;
    size_t curlen = 0;
    int rc = tl_file_read(full, TL_TILESTORE_OBJECT_MAX, &cur, &curlen);
    if (rc == TL_ERR_IO && errno == ENOENT)
        return TL_ERR_NOTFOUND;
    if (rc == TL_ERR_TOOBIG)
        return TL_ERR_CONFLICT;
    if (rc != TL_OK)
        return rc;
    rc = curlen == len && (len == 0 || memcmp(cur, data, len) == 0) ? TL_OK : TL_ERR_CONFLICT;
    free(cur);
    return rc;
}

/* Remembers that folder dir (len bytes of it) needs an fsync. */
static int mark_dirty(dirstore *s, const char *dir, size_t len)
{
    for (size_t i = 0; i < s->ndirty; i++)
        if (strlen(s->dirty[i]) == len && memcmp(s->dirty[i], dir, len) == 0)
            return TL_OK;
    if (s->ndirty == DIRTY_MAX) {
        int rc = dir_sync(&s->pub);
        if (rc != TL_OK)
            return rc;
    }
    char *d = strndup(dir, len);
    if (!d)
        return TL_ERR_NOMEM;
    s->dirty[s->ndirty++] = d;
    return TL_OK;
}

static int dir_sync(tl_tilestore *ts)
{
    dirstore *s = (dirstore *)ts;
    while (s->ndirty) {
        int rc = fsync_dir(s->dirty[s->ndirty - 1]);
        if (rc != TL_OK)
            return rc;
        free(s->dirty[--s->ndirty]);
    }
    return TL_OK;
}

static int full_path(const dirstore *s, const char *path, char *out, size_t cap)
{
    if (!tl_tilestore_path_ok(path))
        return TL_ERR_INVALID;
    int n = snprintf(out, cap, "%s/%s", s->dir, path);
    return n > 0 && (size_t)n < cap ? TL_OK : TL_ERR_INVALID;
}

static int dir_put(tl_tilestore *ts, const char *path, const void *data, size_t len)
{
    dirstore *s = (dirstore *)ts;
    char full[PATH_MAX], tmp[PATH_MAX];
    int rc = full_path(s, path, full, sizeof full);
    if (rc != TL_OK)
        return rc;
    rc = compare_file(full, data, len);
    if (rc != TL_ERR_NOTFOUND)
        return rc;
    rc = make_parents(full, strlen(s->dir));
    if (rc != TL_OK)
        return rc;
    char *slash = strrchr(full, '/');
    int n = snprintf(tmp, sizeof tmp, "%.*s/.tmp-%ld-%lu", (int)(slash - full), full,
                     (long)getpid(), ++s->tmpn);
    if (n <= 0 || (size_t)n >= sizeof tmp)
        return TL_ERR_INVALID;
    unlink(tmp); /* a leftover of a crashed process with our pid */
    rc = tl_file_write_new(tmp, data, len, 0644);
    if (rc != TL_OK)
        return rc;
    int moved = renameat2(AT_FDCWD, tmp, AT_FDCWD, full, RENAME_NOREPLACE);
    if (moved != 0 && (errno == EINVAL || errno == ENOSYS)) {
        moved = link(tmp, full);
        unlink(tmp);
    }
    if (moved != 0) {
        int e = errno;
        unlink(tmp);
        /* another writer was first: it must have written the same bytes */
        return e == EEXIST ? compare_file(full, data, len) : TL_ERR_IO;
    }
    return mark_dirty(s, full, (size_t)(slash - full));
}

static int read_obj(const char *full, tl_buf *out)
{
    char *d = NULL;
    size_t n = 0;
    tl_buf_reset(out);
    int rc = tl_file_read(full, TL_TILESTORE_OBJECT_MAX, &d, &n);
    if (rc == TL_ERR_IO && errno == ENOENT)
        return TL_ERR_NOTFOUND;
    if (rc != TL_OK)
        return rc;
    tl_buf_attach(out, d, n);
    return TL_OK;
}

static int dir_get(tl_tilestore *ts, const char *path, tl_buf *out)
{
    char full[PATH_MAX];
    int rc = full_path((dirstore *)ts, path, full, sizeof full);
    return rc == TL_OK ? read_obj(full, out) : rc;
}

static int dir_cas_checkpoint(tl_tilestore *ts, const char *old, size_t oldlen, const char *note,
                              size_t len)
{
    dirstore *s = (dirstore *)ts;
    char full[PATH_MAX];
    int rc = full_path(s, "checkpoint", full, sizeof full);
    if (rc == TL_OK)
        rc = dir_sync(ts); /* every object before the checkpoint that covers it */
    if (rc != TL_OK)
        return rc;
    while (flock(s->lockfd, LOCK_EX) != 0)
        if (errno != EINTR)
            return TL_ERR_IO;
    rc = compare_file(full, old ? old : "", oldlen);
    if (rc == TL_ERR_NOTFOUND)
        rc = old ? TL_ERR_CONFLICT : TL_OK;
    else if (rc == TL_OK && !old)
        rc = TL_ERR_CONFLICT; /* an empty checkpoint file where none was expected */
    if (rc == TL_OK)
        rc = tl_file_write_atomic(full, note, len, 0644);
    if (rc == TL_OK && chmod(full, 0644) != 0)
        rc = TL_ERR_IO;
    flock(s->lockfd, LOCK_UN);
    return rc;
}

static int dir_get_checkpoint(tl_tilestore *ts, tl_buf *out)
{
    return dir_get(ts, "checkpoint", out);
}

static void dir_close(tl_tilestore *ts)
{
    dirstore *s = (dirstore *)ts;
    if (s->lockfd >= 0)
        close(s->lockfd);
    dir_sync(ts);
    while (s->ndirty)
        free(s->dirty[--s->ndirty]);
    free(s->dir);
    free(s->name);
    free(s);
}

/* A new file renamed over the old one (and the folder synced). */
static int dir_replace(tl_tilestore *ts, const char *path, const void *data, size_t len)
{
    dirstore *s = (dirstore *)ts;
    char full[PATH_MAX];
    int rc = full_path(s, path, full, sizeof full);
    if (rc == TL_OK)
        rc = make_parents(full, strlen(s->dir));
    if (rc == TL_OK)
        rc = tl_file_write_atomic(full, data, len, 0644);
    return rc;
}

static const struct tl_tilestore_ops dir_ops = {
    dir_put, dir_get, dir_cas_checkpoint, dir_get_checkpoint, dir_close, dir_sync, dir_replace};

/* mkdir -p of an absolute path. */
static int mkdir_all(const char *dir)
{
    char p[PATH_MAX];
    size_t n = strlen(dir);
    if (n == 0 || n >= sizeof p)
        return -1;
    memcpy(p, dir, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (p[i] != '/' && p[i] != '\0')
            continue;
        char c = p[i];
        p[i] = '\0';
        if (mkdir(p, 0755) != 0 && errno != EEXIST)
            return -1;
        p[i] = c;
    }
    return 0;
}

int tl_tilestore_open_dir(const char *dir, tl_tilestore **out, char *err, size_t cap)
{
    *out = NULL;
    size_t n = strlen(dir);
    while (n > 1 && dir[n - 1] == '/')
        n--;
    dirstore *s = calloc(1, sizeof *s);
    if (!s || !(s->dir = strndup(dir, n)) || !(s->name = malloc(n + 8))) {
        if (s)
            free(s->dir);
        free(s);
        snprintf(err, cap, "out of memory");
        return TL_ERR_NOMEM;
    }
    snprintf(s->name, n + 8, "file://%s", s->dir);
    s->pub.ops = &dir_ops;
    s->pub.name = s->name;
    s->lockfd = -1;
    struct stat st;
    char lock[PATH_MAX];
    if (mkdir_all(s->dir) != 0 || stat(s->dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        snprintf(err, cap, "%s: cannot create the folder: %s", s->name, strerror(errno));
        dir_close(&s->pub);
        return TL_ERR_IO;
    }
    snprintf(lock, sizeof lock, "%s/.tlogd.lock", s->dir);
    s->lockfd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (s->lockfd < 0) {
        snprintf(err, cap, "%s: cannot open %s: %s", s->name, lock, strerror(errno));
        dir_close(&s->pub);
        return TL_ERR_IO;
    }
    *out = &s->pub;
    return TL_OK;
}
