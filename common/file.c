/*
 * file.c - small files; see file.h. Every buffer that may have held file
 * data is wiped before it is freed, and errno survives the clean-up of a
 * failure (close, unlink) for callers that print it.
 */
#include "common/file.h"
#include "common/err.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>

#define READ_FIRST 4096 /* first buffer of a read; it doubles up to the bound */

static void wipe_free(char *b, size_t n)
{
    OPENSSL_cleanse(b, n);
    free(b);
}

int tl_file_read_fd(int fd, size_t max, char **buf, size_t *len)
{
    if (max > SIZE_MAX - 2)
        max = SIZE_MAX - 2;
    /* cap: bytes of data the buffer holds (plus one for the NUL). Reading
     * max + 1 bytes tells a file of max bytes from a longer one. */
    size_t cap = max < READ_FIRST ? max + 1 : READ_FIRST, n = 0;
    char *b = malloc(cap + 1);
    if (b == NULL) {
        errno = ENOMEM;
        return TL_ERR_NOMEM;
    }
    for (;;) {
        if (n == cap) {
            if (cap > max) {
                wipe_free(b, n);
                errno = EFBIG;
                return TL_ERR_TOOBIG;
            }
            size_t ncap = cap > (max + 1) / 2 ? max + 1 : 2 * cap;
            char *nb = malloc(ncap + 1);
            if (nb == NULL) {
                wipe_free(b, n);
                errno = ENOMEM;
                return TL_ERR_NOMEM;
            }
            memcpy(nb, b, n);
            wipe_free(b, n);
            b = nb;
            cap = ncap;
        }
        ssize_t got = read(fd, b + n, cap - n);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0) {
            int e = errno;
            wipe_free(b, n);
            errno = e;
            return TL_ERR_IO;
        }
        if (got == 0)
            break;
        n += (size_t)got;
    }
    b[n] = '\0';
    *buf = b;
    *len = n;
    return TL_OK;
}

int tl_file_read(const char *path, size_t max, char **buf, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return TL_ERR_IO;
    int rc = tl_file_read_fd(fd, max, buf, len);
    int e = errno;
    close(fd);
    errno = e;
    return rc;
}

/* Writes all of data; 0, or -1 with errno set. */
static int write_all(int fd, const void *data, size_t len)
{
    const char *p = data;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        if (n == 0) {
            errno = EIO;
            return -1;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Closes fd (if open) and removes path after a failure, keeping errno. */
static int undo(int fd, const char *path)
{
    int e = errno;
    if (fd >= 0)
        close(fd);
    unlink(path);
    errno = e;
    return TL_ERR_IO;
}

int tl_file_write_new(const char *path, const void *data, size_t len, unsigned mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, (mode_t)mode);
    if (fd < 0)
        return TL_ERR_IO; /* nothing created: nothing to remove */
    if (fchmod(fd, (mode_t)mode) != 0 || write_all(fd, data, len) != 0 || fsync(fd) != 0)
        return undo(fd, path);
    if (close(fd) != 0)
        return undo(-1, path);
    return TL_OK;
}

/* fsyncs the folder that holds path, so that a rename in it is durable. */
static int sync_folder(const char *path)
{
    char dir[PATH_MAX];
    const char *slash = strrchr(path, '/');
    if (slash == NULL) {
        strcpy(dir, ".");
    } else {
        size_t n = slash == path ? 1 : (size_t)(slash - path);
        memcpy(dir, path, n); /* path fits in PATH_MAX: its temporary name did */
        dir[n] = '\0';
    }
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return TL_ERR_IO;
    /* EINVAL: a file system that cannot sync folders (nothing to wait for) */
    int rc = (fsync(fd) == 0 || errno == EINVAL) ? TL_OK : TL_ERR_IO;
    int e = errno;
    close(fd);
    errno = e;
    return rc;
}

int tl_file_write_atomic(const char *path, const void *data, size_t len, unsigned mode)
{
    static unsigned counter; /* tells apart the temporary files of one process */
    char tmp[PATH_MAX];
    int fd = -1;

    for (int tries = 0; fd < 0; tries++) {
        unsigned k = __atomic_fetch_add(&counter, 1, __ATOMIC_RELAXED);
        if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp.%ld.%u", path, (long)getpid(), k) >=
            sizeof tmp) {
            errno = ENAMETOOLONG;
            return TL_ERR_INVALID;
        }
        fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, (mode_t)mode);
        /* EEXIST: left by a process that died with our pid; take the next name */
        if (fd < 0 && (errno != EEXIST || tries == 99))
            return TL_ERR_IO;
    }
    if (write_all(fd, data, len) != 0 || fsync(fd) != 0)
        return undo(fd, tmp);
    if (close(fd) != 0 || rename(tmp, path) != 0)
        return undo(-1, tmp);
    return sync_folder(path);
}
