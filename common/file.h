/*
 * file.h - small files: key files, policies, proofs, the client's state.
 *
 *  - tl_file_read / tl_file_read_fd read a whole file of bounded size into
 *    a NUL-terminated buffer. The buffer may hold a secret (a signer key):
 *    the reader wipes every copy it lets go of (on growth and on failure),
 *    and callers that hold secrets wipe the result with OPENSSL_cleanse
 *    before they free it.
 *  - tl_file_write_new creates a file that must not exist yet (never over
 *    an existing file, never through a symbolic link) with an exact mode,
 *    whatever the umask; a file that could not be written completely and
 *    synced is removed.
 *  - tl_file_write_atomic replaces a file's content as one step: a
 *    temporary file in the same folder, fsync, rename over the target,
 *    fsync of the folder. Readers see the old content or the new, never a
 *    part.
 *
 * Every function returns TL_OK or a negative tl_err (common/err.h). On
 * TL_ERR_IO, errno is the failing call's, for callers that print
 * strerror(errno); TL_ERR_TOOBIG sets errno to EFBIG and TL_ERR_NOMEM to
 * ENOMEM. Reading "-" as stdin is the client's business, not this one's
 * (it passes fd 0 to tl_file_read_fd).
 */
#ifndef TL_COMMON_FILE_H
#define TL_COMMON_FILE_H

#include <stddef.h>

/* Reads all of fd (not closed) into a malloc'd *buf of *len bytes plus a
 * NUL. At most max bytes: a longer file gives TL_ERR_TOOBIG. Returns
 * TL_OK, TL_ERR_IO, TL_ERR_TOOBIG or TL_ERR_NOMEM; *buf is set only on
 * TL_OK. A NUL inside the data is kept (*len counts it): callers that want
 * text check strlen(*buf) == *len. */
int tl_file_read_fd(int fd, size_t max, char **buf, size_t *len);
/* The same for the file at path (opened read-only; links are followed). */
int tl_file_read(const char *path, size_t max, char **buf, size_t *len);

/* Creates path (O_CREAT|O_EXCL|O_NOFOLLOW: an existing file or a symbolic
 * link there, even a dangling one, fails with errno EEXIST) with exactly the given mode
 * (fchmod, so the umask does not matter), writes data and fsyncs it.
 * Returns TL_OK, or TL_ERR_IO with the file removed (if it was created). */
int tl_file_write_new(const char *path, const void *data, size_t len, unsigned mode);

/* Replaces path's content with data atomically: writes a new temporary
 * file "<path>.tmp.<pid>.<n>" in path's folder (created exclusively, never
 * through a link, with mode as open(2) takes it: the umask applies),
 * fsyncs it, renames it over path (a symbolic link at path is replaced,
 * not followed) and fsyncs the folder. Returns TL_OK, TL_ERR_INVALID (the
 * temporary name would be longer than PATH_MAX; errno ENAMETOOLONG), or
 * TL_ERR_IO. On failure no temporary file is left; when only the final
 * fsync of the folder failed, path already holds the new content but it
 * may not survive a crash. */
int tl_file_write_atomic(const char *path, const void *data, size_t len, unsigned mode);

#endif
