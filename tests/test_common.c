/*
 * test_common.c - CUnit tests of the shared helpers of common/: strict
 * decimals (dec.h), hex (hex.h), small files (file.h) and the libcurl
 * transfer setup (curl.h), the last against small HTTP and HTTPS servers
 * that this program runs on loopback, one connection each, with a
 * certificate it makes itself.
 */
#include <CUnit/Basic.h>
#include <CUnit/CUnit.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "common/buf.h"
#include "common/cafile.h"
#include "common/curl.h"
#include "common/dec.h"
#include "common/err.h"
#include "common/file.h"
#include "common/hex.h"

static char tmpdir[512];

static void tmp_path(char *out, size_t cap, const char *name)
{
    snprintf(out, cap, "%s/%s", tmpdir, name);
}

/* ---- decimals ------------------------------------------------------------ */

static int dec(const char *s, uint64_t max, uint64_t *out)
{
    return tl_dec_parse_u64(s, strlen(s), max, out);
}

static void test_dec(void)
{
    uint64_t v = 0;

    CU_ASSERT(dec("0", UINT64_MAX, &v) == TL_OK && v == 0);
    CU_ASSERT(dec("7", UINT64_MAX, &v) == TL_OK && v == 7);
    CU_ASSERT(dec("1234567890", UINT64_MAX, &v) == TL_OK && v == 1234567890);
    CU_ASSERT(dec("18446744073709551615", UINT64_MAX, &v) == TL_OK && v == UINT64_MAX);
    /* refused, and *out left alone */
    static const char *bad[] = {
        "",
        "00",
        "01",
        "007",
        "+1",
        "-1",
        " 1",
        "1 ",
        "1\n",
        "1a",
        "a1",
        "0x10",
        "1e3",
        "1.0",
        "1,0",
        "\xef\xbc\x91",
        "18446744073709551616",
        "99999999999999999999",
        "184467440737095516150",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        v = 42;
        CU_ASSERT(dec(bad[i], UINT64_MAX, &v) == TL_ERR_INVALID);
        CU_ASSERT(v == 42);
    }
    /* a NUL inside the given length is not a digit */
    CU_ASSERT(tl_dec_parse_u64("1\0", 2, UINT64_MAX, &v) == TL_ERR_INVALID);
    /* only len bytes are read */
    CU_ASSERT(tl_dec_parse_u64("123", 2, UINT64_MAX, &v) == TL_OK && v == 12);
    CU_ASSERT(tl_dec_parse_u64("5x", 1, UINT64_MAX, &v) == TL_OK && v == 5);
    /* the bound, at every digit position */
    CU_ASSERT(dec("10", 10, &v) == TL_OK && v == 10);
    CU_ASSERT(dec("11", 10, &v) == TL_ERR_INVALID);
    CU_ASSERT(dec("100", 10, &v) == TL_ERR_INVALID);
    CU_ASSERT(dec("19", 19, &v) == TL_OK && v == 19);
    CU_ASSERT(dec("20", 19, &v) == TL_ERR_INVALID);
    CU_ASSERT(dec("0", 0, &v) == TL_OK && v == 0);
    CU_ASSERT(dec("1", 0, &v) == TL_ERR_INVALID);
    CU_ASSERT(dec("18446744073709551614", UINT64_MAX - 1, &v) == TL_OK && v == UINT64_MAX - 1);
    CU_ASSERT(dec("18446744073709551615", UINT64_MAX - 1, &v) == TL_ERR_INVALID);
    CU_ASSERT(dec("9223372036854775807", INT64_MAX, &v) == TL_OK && v == INT64_MAX);
    CU_ASSERT(dec("9223372036854775808", INT64_MAX, &v) == TL_ERR_INVALID);
}

static void test_dec_range(void)
{
    uint64_t v = 0;

    CU_ASSERT(tl_dec_parse_range("1", 1, 10, &v) == TL_OK && v == 1);
    CU_ASSERT(tl_dec_parse_range("10", 1, 10, &v) == TL_OK && v == 10);
    CU_ASSERT(tl_dec_parse_range("0", 0, 65535, &v) == TL_OK && v == 0);
    CU_ASSERT(tl_dec_parse_range("65535", 0, 65535, &v) == TL_OK && v == 65535);
    CU_ASSERT(tl_dec_parse_range("3", 3, 3, &v) == TL_OK && v == 3);
    v = 42;
    CU_ASSERT(tl_dec_parse_range("0", 1, 10, &v) == TL_ERR_INVALID);
    CU_ASSERT(tl_dec_parse_range("11", 1, 10, &v) == TL_ERR_INVALID);
    CU_ASSERT(tl_dec_parse_range("65536", 0, 65535, &v) == TL_ERR_INVALID);
    CU_ASSERT(tl_dec_parse_range("010", 1, 10, &v) == TL_ERR_INVALID);
    CU_ASSERT(tl_dec_parse_range("+5", 1, 10, &v) == TL_ERR_INVALID);
    CU_ASSERT(tl_dec_parse_range(" 5", 1, 10, &v) == TL_ERR_INVALID);
    CU_ASSERT(tl_dec_parse_range("5 ", 1, 10, &v) == TL_ERR_INVALID);
    CU_ASSERT(tl_dec_parse_range("", 0, 10, &v) == TL_ERR_INVALID);
    CU_ASSERT(tl_dec_parse_range("18446744073709551616", 0, UINT64_MAX, &v) == TL_ERR_INVALID);
    CU_ASSERT(v == 42);
    CU_ASSERT(tl_dec_parse_range("18446744073709551615", 1, UINT64_MAX, &v) == TL_OK &&
              v == UINT64_MAX);
}

/* ---- hex ------------------------------------------------------------------ */

static void test_hex(void)
{
    uint8_t all[256], back[256], four[4] = {0}, keep[4] = {9, 9, 9, 9};
    char s[TL_HEX_LEN(256) + 1];

    tl_hex_encode((const uint8_t *)"\x00\x01\xab\xff", 4, s);
    CU_ASSERT_STRING_EQUAL(s, "0001abff");
    memset(s, 'z', sizeof s);
    tl_hex_encode(all, 0, s);
    CU_ASSERT(s[0] == '\0');
    CU_ASSERT(tl_hex_decode("0001abff", 8, four, 4) == TL_OK);
    CU_ASSERT(memcmp(four, "\x00\x01\xab\xff", 4) == 0);
    CU_ASSERT(tl_hex_decode("", 0, four, 0) == TL_OK);
    /* every byte value there and back */
    for (int i = 0; i < 256; i++)
        all[i] = (uint8_t)i;
    tl_hex_encode(all, 256, s);
    CU_ASSERT(strlen(s) == 512);
    CU_ASSERT(tl_hex_decode(s, 512, back, 256) == TL_OK && memcmp(all, back, 256) == 0);
    /* refused, and out left alone */
    static const char *bad[] = {
        "0001ABFF", "0001abfF", "0001abf",  "0001abff0", "0001abf ",
        " 001abff", "0001abfg", "0x01abff", "0001ab-f",  "+001abff",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        memcpy(four, keep, 4);
        CU_ASSERT(tl_hex_decode(bad[i], strlen(bad[i]), four, 4) == TL_ERR_INVALID);
        CU_ASSERT(memcmp(four, keep, 4) == 0);
    }
    CU_ASSERT(tl_hex_decode("0001\0bff", 8, four, 4) == TL_ERR_INVALID);
    CU_ASSERT(tl_hex_decode("00", 2, four, 2) == TL_ERR_INVALID);  /* wants 4 digits */
    CU_ASSERT(tl_hex_decode("000", 3, four, 1) == TL_ERR_INVALID); /* odd length */
}

/* ---- small files ------------------------------------------------------------ */

static void put(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    CU_ASSERT_FATAL(f != NULL);
    CU_ASSERT(fwrite(data, 1, len, f) == len);
    CU_ASSERT(fclose(f) == 0);
}

/* 1 if path holds exactly data[0..len). */
static int holds(const char *path, const void *data, size_t len)
{
    char *b = NULL;
    size_t n = 0;
    int ok = tl_file_read(path, len + 1, &b, &n) == TL_OK && n == len && memcmp(b, data, n) == 0;
    free(b);
    return ok;
}

/* Makes tmpdir/tname holding "target\n" and tmpdir/lname, a symbolic link
 * to it; their paths go to target and link (700 bytes each). */
static void file_and_link(const char *tname, const char *lname, char *target, char *link)
{
    tmp_path(target, 700, tname);
    tmp_path(link, 700, lname);
    put(target, "target\n", 7);
    CU_ASSERT_FATAL(symlink(target, link) == 0);
}

static unsigned mode_of(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0 ? (unsigned)(st.st_mode & 07777) : 0xFFFFu;
}

/* Makes writes past n bytes fail with EFBIG (RLIMIT_FSIZE; SIGXFSZ is
 * ignored), or lifts the limit again with RLIM_INFINITY. */
static void limit_file_size(rlim_t n)
{
    struct rlimit r;
    CU_ASSERT_FATAL(getrlimit(RLIMIT_FSIZE, &r) == 0);
    r.rlim_cur = n == RLIM_INFINITY ? r.rlim_max : n;
    CU_ASSERT_FATAL(setrlimit(RLIMIT_FSIZE, &r) == 0);
}

/* 1 if writer fails to write 10 bytes to path when writes past 4 bytes
 * fail, with TL_ERR_IO and write's errno (EFBIG). */
static int fails_short(int (*writer)(const char *, const void *, size_t, unsigned),
                       const char *path)
{
    limit_file_size(4);
    errno = 0;
    int rc = writer(path, "0123456789", 10, 0600);
    int e = errno;
    limit_file_size(RLIM_INFINITY);
    return rc == TL_ERR_IO && e == EFBIG;
}

/* The number of entries of folder dir (without . and ..). */
static int entries(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int n = 0;
    if (d == NULL)
        return -1;
    while ((e = readdir(d)) != NULL)
        n += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
    closedir(d);
    return n;
}

static void test_file_read(void)
{
    char p[700], *b = NULL;
    size_t n = 99;
    int fds[2];

    tmp_path(p, sizeof p, "read");
    put(p, "abc\0def", 7);
    CU_ASSERT(tl_file_read(p, 7, &b, &n) == TL_OK);
    CU_ASSERT(b != NULL && n == 7 && memcmp(b, "abc\0def", 8) == 0); /* NUL kept, NUL added */
    free(b);
    b = NULL;
    /* one byte over the bound */
    errno = 0;
    CU_ASSERT(tl_file_read(p, 6, &b, &n) == TL_ERR_TOOBIG);
    CU_ASSERT(errno == EFBIG && b == NULL);
    /* empty file, and a bound of 0 */
    put(p, "", 0);
    CU_ASSERT(tl_file_read(p, 0, &b, &n) == TL_OK && n == 0 && b != NULL && b[0] == '\0');
    free(b);
    b = NULL;
    put(p, "x", 1);
    CU_ASSERT(tl_file_read(p, 0, &b, &n) == TL_ERR_TOOBIG && b == NULL);
    /* a file much larger than the first buffer, at and over a large bound */
    size_t big = 300001;
    char *data = malloc(big);
    CU_ASSERT_FATAL(data != NULL);
    for (size_t i = 0; i < big; i++)
        data[i] = (char)('a' + i % 26);
    put(p, data, big);
    CU_ASSERT(tl_file_read(p, big, &b, &n) == TL_OK && n == big && memcmp(b, data, big) == 0 &&
              b[big] == '\0');
    free(b);
    b = NULL;
    CU_ASSERT(tl_file_read(p, big - 1, &b, &n) == TL_ERR_TOOBIG && b == NULL);
    CU_ASSERT(tl_file_read(p, SIZE_MAX, &b, &n) == TL_OK && n == big);
    free(b);
    b = NULL;
    free(data);
    /* missing file: TL_ERR_IO with open's errno */
    tmp_path(p, sizeof p, "no-such-file");
    errno = 0;
    CU_ASSERT(tl_file_read(p, 100, &b, &n) == TL_ERR_IO);
    CU_ASSERT(errno == ENOENT && b == NULL);
    /* a folder: read fails with EISDIR */
    errno = 0;
    CU_ASSERT(tl_file_read(tmpdir, 100, &b, &n) == TL_ERR_IO);
    CU_ASSERT(errno == EISDIR);
    /* a pipe, as the client reads stdin */
    CU_ASSERT_FATAL(pipe(fds) == 0);
    CU_ASSERT(write(fds[1], "from a pipe\n", 12) == 12);
    close(fds[1]);
    CU_ASSERT(tl_file_read_fd(fds[0], 12, &b, &n) == TL_OK && n == 12 &&
              strcmp(b, "from a pipe\n") == 0);
    close(fds[0]);
    free(b);
}

static void test_file_write_new(void)
{
    char p[700], target[700], link[700];
    mode_t old = umask(077);

    /* the mode is exact whatever the umask */
    tmp_path(p, sizeof p, "new-0644");
    CU_ASSERT(tl_file_write_new(p, "public\n", 7, 0644) == TL_OK);
    CU_ASSERT(mode_of(p) == 0644);
    CU_ASSERT(holds(p, "public\n", 7));
    umask(0);
    tmp_path(p, sizeof p, "new-0600");
    CU_ASSERT(tl_file_write_new(p, "secret\n", 7, 0600) == TL_OK);
    CU_ASSERT(mode_of(p) == 0600);
    umask(old);
    /* never over an existing file */
    errno = 0;
    CU_ASSERT(tl_file_write_new(p, "other\n", 6, 0600) == TL_ERR_IO);
    CU_ASSERT(errno == EEXIST);
    CU_ASSERT(holds(p, "secret\n", 7));
    /* never through a symbolic link, to a file or to nowhere */
    file_and_link("new-target", "new-link", target, link);
    CU_ASSERT(tl_file_write_new(link, "evil\n", 5, 0644) == TL_ERR_IO);
    CU_ASSERT(holds(target, "target\n", 7));
    CU_ASSERT(unlink(link) == 0 && unlink(target) == 0);
    CU_ASSERT_FATAL(symlink(target, link) == 0); /* dangling */
    CU_ASSERT(tl_file_write_new(link, "evil\n", 5, 0644) == TL_ERR_IO);
    CU_ASSERT(access(target, F_OK) != 0);
    CU_ASSERT(unlink(link) == 0);
    /* a missing folder: open's errno */
    tmp_path(p, sizeof p, "no-such-dir/file");
    errno = 0;
    CU_ASSERT(tl_file_write_new(p, "x", 1, 0644) == TL_ERR_IO);
    CU_ASSERT(errno == ENOENT);
    /* an empty file */
    tmp_path(p, sizeof p, "new-empty");
    CU_ASSERT(tl_file_write_new(p, "", 0, 0600) == TL_OK && holds(p, "", 0));
    /* a file that cannot be written whole is removed, with write's errno */
    tmp_path(p, sizeof p, "new-short");
    CU_ASSERT(fails_short(tl_file_write_new, p));
    CU_ASSERT(access(p, F_OK) != 0);
}

static void test_file_write_atomic(void)
{
    char dir[700], p[700], target[700], link[700];
    mode_t old;

    tmp_path(dir, sizeof dir, "atomic");
    CU_ASSERT_FATAL(mkdir(dir, 0700) == 0);
    tmp_path(p, sizeof p, "atomic/state");
    /* creates */
    CU_ASSERT(tl_file_write_atomic(p, "first version\n", 14, 0644) == TL_OK);
    CU_ASSERT(holds(p, "first version\n", 14));
    CU_ASSERT(entries(dir) == 1); /* no temporary file left */
    /* replaces, longer by shorter */
    CU_ASSERT(tl_file_write_atomic(p, "v2\n", 3, 0644) == TL_OK);
    CU_ASSERT(holds(p, "v2\n", 3));
    CU_ASSERT(entries(dir) == 1);
    CU_ASSERT(tl_file_write_atomic(p, "", 0, 0644) == TL_OK && holds(p, "", 0));
    /* the mode as open(2) takes it: the umask applies, never loosened */
    old = umask(022);
    CU_ASSERT(tl_file_write_atomic(p, "a", 1, 0644) == TL_OK && mode_of(p) == 0644);
    umask(077);
    CU_ASSERT(tl_file_write_atomic(p, "b", 1, 0644) == TL_OK && mode_of(p) == 0600);
    umask(old);
    CU_ASSERT(holds(p, "b", 1));
    /* a symbolic link at path is replaced, its target untouched */
    file_and_link("atomic/target", "atomic/link", target, link);
    CU_ASSERT(tl_file_write_atomic(link, "new\n", 4, 0644) == TL_OK);
    CU_ASSERT(holds(target, "target\n", 7));
    struct stat st;
    CU_ASSERT(lstat(link, &st) == 0 && S_ISREG(st.st_mode) && holds(link, "new\n", 4));
    CU_ASSERT(entries(dir) == 3);
    /* the rename fails (path is a folder): TL_ERR_IO, no temporary file left */
    char sub[700];
    tmp_path(sub, sizeof sub, "atomic/sub");
    CU_ASSERT_FATAL(mkdir(sub, 0700) == 0);
    errno = 0;
    CU_ASSERT(tl_file_write_atomic(sub, "x", 1, 0644) == TL_ERR_IO);
    CU_ASSERT(errno == EISDIR);
    CU_ASSERT(entries(dir) == 4 && entries(sub) == 0);
    /* a short write: TL_ERR_IO with write's errno, the old content kept */
    tmp_path(p, sizeof p, "atomic/state");
    CU_ASSERT(fails_short(tl_file_write_atomic, p));
    CU_ASSERT(holds(p, "b", 1));
    CU_ASSERT(entries(dir) == 4);
    /* a missing folder */
    tmp_path(p, sizeof p, "atomic/no-such-dir/state");
    errno = 0;
    CU_ASSERT(tl_file_write_atomic(p, "x", 1, 0644) == TL_ERR_IO);
    CU_ASSERT(errno == ENOENT);
    CU_ASSERT(entries(dir) == 4);
    /* a temporary name longer than PATH_MAX */
    char *longp = malloc(5000);
    CU_ASSERT_FATAL(longp != NULL);
    memset(longp, 'a', 4999);
    longp[4999] = '\0';
    errno = 0;
    CU_ASSERT(tl_file_write_atomic(longp, "x", 1, 0644) == TL_ERR_INVALID);
    CU_ASSERT(errno == ENAMETOOLONG);
    free(longp);
    /* a file name without a folder: written in the working folder */
    char cwd[700];
    CU_ASSERT_FATAL(getcwd(cwd, sizeof cwd) != NULL);
    CU_ASSERT_FATAL(chdir(dir) == 0);
    CU_ASSERT(tl_file_write_atomic("plain", "p", 1, 0644) == TL_OK);
    CU_ASSERT(holds("plain", "p", 1));
    CU_ASSERT_FATAL(chdir(cwd) == 0);
    CU_ASSERT(entries(dir) == 5);
}

/* ---- the libcurl setup ------------------------------------------------------ */

/* A server for one connection on 127.0.0.1: reads the request head, then
 * answers 200 with a body of body_len bytes (or, silent, nothing until the
 * client goes away). With tls, it speaks TLS first. */
struct srv {
    int lfd, port;
    pthread_t th;
    SSL_CTX *tls;
    size_t body_len;
    int silent;
    char req[8192];
    size_t req_len;
};

static ssize_t srv_read(SSL *ssl, int fd, void *p, size_t n)
{
    return ssl ? SSL_read(ssl, p, (int)n) : recv(fd, p, n, 0);
}

static ssize_t srv_write(SSL *ssl, int fd, const void *p, size_t n)
{
    return ssl ? SSL_write(ssl, p, (int)n) : send(fd, p, n, MSG_NOSIGNAL);
}

static void *srv_main(void *arg)
{
    struct srv *s = arg;
    struct pollfd pfd = {s->lfd, POLLIN, 0};
    SSL *ssl = NULL;
    int fd;

    if (poll(&pfd, 1, 10000) != 1 || (fd = accept(s->lfd, NULL, NULL)) < 0)
        return NULL;
    struct timeval tv = {10, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    if (s->tls) {
        ssl = SSL_new(s->tls);
        SSL_set_fd(ssl, fd);
        if (SSL_accept(ssl) != 1)
            goto out;
    }
    while (s->req_len < sizeof s->req - 1) {
        ssize_t n = srv_read(ssl, fd, s->req + s->req_len, sizeof s->req - 1 - s->req_len);
        if (n <= 0)
            break;
        s->req_len += (size_t)n;
        s->req[s->req_len] = '\0';
        if (strstr(s->req, "\r\n\r\n"))
            break;
    }
    if (s->silent) {
        char c;
        while (srv_read(ssl, fd, &c, 1) > 0)
            ;
    } else if (s->req_len > 0) {
        char head[200];
        int hl = snprintf(head, sizeof head,
                          "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n",
                          s->body_len);
        char *body = malloc(s->body_len + 1);
        if (body) {
            memset(body, 'b', s->body_len);
            if (srv_write(ssl, fd, head, (size_t)hl) == hl)
                for (size_t off = 0; off < s->body_len;) {
                    ssize_t n = srv_write(ssl, fd, body + off, s->body_len - off);
                    if (n <= 0)
                        break;
                    off += (size_t)n;
                }
            free(body);
        }
    }
out:
    if (ssl) {
        SSL_shutdown(ssl);
        SSL_free(ssl);
    }
    close(fd);
    return NULL;
}

static void srv_start(struct srv *s, SSL_CTX *tls, size_t body_len, int silent)
{
    struct sockaddr_in a;
    socklen_t al = sizeof a;

    memset(s, 0, sizeof *s);
    s->tls = tls;
    s->body_len = body_len;
    s->silent = silent;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    s->lfd = socket(AF_INET, SOCK_STREAM, 0);
    CU_ASSERT_FATAL(s->lfd >= 0);
    CU_ASSERT_FATAL(bind(s->lfd, (struct sockaddr *)&a, sizeof a) == 0);
    CU_ASSERT_FATAL(listen(s->lfd, 4) == 0);
    CU_ASSERT_FATAL(getsockname(s->lfd, (struct sockaddr *)&a, &al) == 0);
    s->port = ntohs(a.sin_port);
    CU_ASSERT_FATAL(pthread_create(&s->th, NULL, srv_main, s) == 0);
}

static void srv_stop(struct srv *s)
{
    pthread_join(s->th, NULL);
    close(s->lfd);
}

/* One transfer of url through tl_curl_setup; returns curl's result. */
struct xfer {
    tl_buf body;
    tl_curl_sink sink;
    char errbuf[CURL_ERROR_SIZE];
    long status;
};

static CURLcode fetch(const char *url, const char *ca_file, int h2c, size_t max, long timeout_ms,
                      struct curl_slist *resolve, struct xfer *x)
{
    CURL *e = curl_easy_init();
    CU_ASSERT_FATAL(e != NULL);
    tl_buf_init(&x->body);
    x->sink = (tl_curl_sink){&x->body, max, 0};
    x->status = 0;
    strcpy(x->errbuf, "stale text");
    tl_curl_opts o = {.user_agent = "tl-test/1",
                      .ca_file = ca_file,
                      .connect_timeout_ms = 5000,
                      .timeout_ms = timeout_ms,
                      .h2c = h2c,
                      .errbuf = x->errbuf};
    CU_ASSERT_FATAL(tl_curl_setup(e, &o, &x->sink) == TL_OK);
    CU_ASSERT(x->errbuf[0] == '\0'); /* cleared for this transfer */
    curl_easy_setopt(e, CURLOPT_URL, url);
    if (resolve)
        curl_easy_setopt(e, CURLOPT_RESOLVE, resolve);
    CURLcode rc = curl_easy_perform(e);
    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &x->status);
    curl_easy_cleanup(e);
    return rc;
}

static void test_curl_http(void)
{
    struct srv s;
    struct xfer x;
    char url[100];

    /* a body at the limit arrives whole; the request carries the user agent */
    srv_start(&s, NULL, 100000, 0);
    snprintf(url, sizeof url, "http://127.0.0.1:%d/x", s.port);
    CU_ASSERT(fetch(url, NULL, 0, 100000, 5000, NULL, &x) == CURLE_OK);
    srv_stop(&s);
    CU_ASSERT(x.status == 200 && x.body.len == 100000 && !x.sink.over);
    CU_ASSERT(x.body.len > 0 && x.body.data[0] == 'b' && x.body.data[99999] == 'b');
    CU_ASSERT(strncmp(s.req, "GET /x HTTP/1.1\r\n", 17) == 0);
    CU_ASSERT(strstr(s.req, "\r\nUser-Agent: tl-test/1\r\n") != NULL);
    tl_buf_release(&x.body);
    /* one byte over the limit fails the transfer and says so */
    srv_start(&s, NULL, 100000, 0);
    snprintf(url, sizeof url, "http://127.0.0.1:%d/x", s.port);
    CU_ASSERT(fetch(url, NULL, 0, 99999, 5000, NULL, &x) == CURLE_WRITE_ERROR);
    srv_stop(&s);
    CU_ASSERT(x.sink.over == 1 && x.body.len <= 99999);
    CU_ASSERT(x.errbuf[0] != '\0');
    tl_buf_release(&x.body);
    /* h2c: HTTP/2 with prior knowledge (the connection preface) */
    srv_start(&s, NULL, 10, 0);
    snprintf(url, sizeof url, "http://127.0.0.1:%d/", s.port);
    fetch(url, NULL, 1, 1000, 5000, NULL, &x); /* the server answers HTTP/1.1: fails */
    srv_stop(&s);
    CU_ASSERT(strncmp(s.req, "PRI * HTTP/2.0\r\n\r\n", 18) == 0);
    tl_buf_release(&x.body);
    /* the whole-transfer timeout: a server that never answers */
    srv_start(&s, NULL, 0, 1);
    snprintf(url, sizeof url, "http://127.0.0.1:%d/", s.port);
    CU_ASSERT(fetch(url, NULL, 0, 1000, 300, NULL, &x) == CURLE_OPERATION_TIMEDOUT);
    srv_stop(&s);
    CU_ASSERT(s.req_len > 0); /* it did connect and send */
    tl_buf_release(&x.body);
    /* other protocols are refused before anything is read */
    CU_ASSERT(fetch("file:///etc/hostname", NULL, 0, 1000, 5000, NULL, &x) ==
              CURLE_UNSUPPORTED_PROTOCOL);
    CU_ASSERT(x.body.len == 0);
    tl_buf_release(&x.body);
    CU_ASSERT(fetch("ftp://127.0.0.1:1/", NULL, 0, 1000, 5000, NULL, &x) ==
              CURLE_UNSUPPORTED_PROTOCOL);
    tl_buf_release(&x.body);
}

/* A self-signed certificate for the name tlog.test (its own CA), written
 * to cert_path. */
static void make_cert(const char *cert_path, EVP_PKEY **key, X509 **cert)
{
    EVP_PKEY *k = EVP_EC_gen("P-256");
    X509 *x = X509_new();
    CU_ASSERT_FATAL(k != NULL && x != NULL);
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
    X509_gmtime_adj(X509_getm_notBefore(x), -3600);
    X509_gmtime_adj(X509_getm_notAfter(x), 3600);
    X509_set_pubkey(x, k);
    X509_NAME *name = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"tlog.test", -1, -1,
                               0);
    X509_set_issuer_name(x, name);
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
    X509_EXTENSION *san = X509V3_EXT_conf_nid(NULL, &ctx, NID_subject_alt_name, "DNS:tlog.test");
    X509_EXTENSION *bc = X509V3_EXT_conf_nid(NULL, &ctx, NID_basic_constraints, "CA:TRUE");
    CU_ASSERT_FATAL(san != NULL && bc != NULL);
    X509_add_ext(x, san, -1);
    X509_add_ext(x, bc, -1);
    X509_EXTENSION_free(san);
    X509_EXTENSION_free(bc);
    CU_ASSERT_FATAL(X509_sign(x, k, EVP_sha256()) > 0);
    FILE *f = fopen(cert_path, "w");
    CU_ASSERT_FATAL(f != NULL);
    CU_ASSERT(PEM_write_X509(f, x) == 1);
    fclose(f);
    *key = k;
    *cert = x;
}

static void test_curl_tls(void)
{
    char ca[700], url[100], rs[100], err[300];
    EVP_PKEY *key;
    X509 *cert;
    struct srv s;
    struct xfer x;

    tmp_path(ca, sizeof ca, "ca.pem");
    make_cert(ca, &key, &cert);
    CU_ASSERT(tl_cafile_check(ca, err, sizeof err) == TL_OK);
    SSL_CTX *tls = SSL_CTX_new(TLS_server_method());
    CU_ASSERT_FATAL(tls != NULL);
    CU_ASSERT_FATAL(SSL_CTX_use_certificate(tls, cert) == 1);
    CU_ASSERT_FATAL(SSL_CTX_use_PrivateKey(tls, key) == 1);

    /* the CA file verifies the server's certificate and name */
    srv_start(&s, tls, 5, 0);
    snprintf(url, sizeof url, "https://tlog.test:%d/", s.port);
    snprintf(rs, sizeof rs, "tlog.test:%d:127.0.0.1", s.port);
    struct curl_slist *resolve = curl_slist_append(NULL, rs);
    CU_ASSERT(fetch(url, ca, 0, 100, 5000, resolve, &x) == CURLE_OK);
    srv_stop(&s);
    CU_ASSERT(x.status == 200 && x.body.len == 5);
    tl_buf_release(&x.body);
    /* without it (the system store) the peer is not trusted */
    srv_start(&s, tls, 5, 0);
    snprintf(url, sizeof url, "https://tlog.test:%d/", s.port);
    curl_slist_free_all(resolve);
    snprintf(rs, sizeof rs, "tlog.test:%d:127.0.0.1", s.port);
    resolve = curl_slist_append(NULL, rs);
    CU_ASSERT(fetch(url, NULL, 0, 100, 5000, resolve, &x) == CURLE_PEER_FAILED_VERIFICATION);
    srv_stop(&s);
    CU_ASSERT(s.req_len == 0 && x.body.len == 0);
    tl_buf_release(&x.body);
    curl_slist_free_all(resolve);
    /* a trusted certificate for another name: the host check refuses it */
    srv_start(&s, tls, 5, 0);
    snprintf(url, sizeof url, "https://127.0.0.1:%d/", s.port);
    CU_ASSERT(fetch(url, ca, 0, 100, 5000, NULL, &x) == CURLE_PEER_FAILED_VERIFICATION);
    srv_stop(&s);
    CU_ASSERT(s.req_len == 0 && x.body.len == 0);
    tl_buf_release(&x.body);

    SSL_CTX_free(tls);
    X509_free(cert);
    EVP_PKEY_free(key);
}

/* ---- main --------------------------------------------------------------- */

int main(void)
{
    const char *t = getenv("TMPDIR");
    CU_pSuite s;
    unsigned fails;
    char cmd[700];

    signal(SIGPIPE, SIG_IGN); /* a client that stops reading is the test, not a death */
    signal(SIGXFSZ, SIG_IGN); /* so is a write past RLIMIT_FSIZE */
    snprintf(tmpdir, sizeof tmpdir, "%s/tl-common-XXXXXX", t && *t ? t : "/tmp");
    if (mkdtemp(tmpdir) == NULL) {
        perror("mkdtemp");
        return 1;
    }
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return 1;
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    s = CU_add_suite("common", NULL, NULL);
    CU_add_test(s, "decimals", test_dec);
    CU_add_test(s, "decimals in a range", test_dec_range);
    CU_add_test(s, "hex", test_hex);
    CU_add_test(s, "file read", test_file_read);
    CU_add_test(s, "file write new", test_file_write_new);
    CU_add_test(s, "file write atomic", test_file_write_atomic);
    CU_add_test(s, "curl over http", test_curl_http);
    CU_add_test(s, "curl over https", test_curl_tls);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    fails = CU_get_number_of_failures();
    CU_cleanup_registry();
    curl_global_cleanup();
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", tmpdir);
    return fails == 0 ? 0 : 1;
}
