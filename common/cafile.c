/*
 * cafile.c - the startup check of a CA certificate file (cafile.h): reads it
 * with OpenSSL's PEM reader, the way libcurl's OpenSSL backend will, and
 * counts the certificates. Non-certificate PEM blocks are skipped, as
 * libcurl skips them.
 */
#include "common/cafile.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "common/err.h"

int tl_cafile_check(const char *path, char *err, size_t cap)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, cap, "%s: %s", path, strerror(errno));
        return TL_ERR_IO;
    }
    size_t n = 0;
    X509 *x;
    ERR_clear_error();
    while ((x = PEM_read_X509(f, NULL, NULL, NULL)) != NULL) {
        X509_free(x);
        n++;
    }
    /* The loop ends at the end of the file (no further PEM start line), on
     * a read error, or on a certificate block that does not parse. */
    unsigned long e = ERR_peek_last_error();
    int rc = TL_OK;
    if (ferror(f)) {
        snprintf(err, cap, "%s: cannot read it", path);
        rc = TL_ERR_IO;
    } else if (e && !(ERR_GET_LIB(e) == ERR_LIB_PEM && ERR_GET_REASON(e) == PEM_R_NO_START_LINE)) {
        snprintf(err, cap, "%s: malformed PEM certificate after %zu good one(s)", path, n);
        rc = TL_ERR_INVALID;
    } else if (n == 0) {
        snprintf(err, cap, "%s: no PEM certificate in it", path);
        rc = TL_ERR_INVALID;
    }
    ERR_clear_error();
    fclose(f);
    return rc;
}
