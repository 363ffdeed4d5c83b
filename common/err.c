/* err.c - strings for the tlogd error enum, and one-line reasons. */
#include "common/err.h"

#include <stdarg.h>
#include <stdio.h>

const char *tl_strerror(int err)
{
    switch (err) {
    case TL_OK:
        return "success";
    case TL_ERR_NOMEM:
        return "out of memory";
    case TL_ERR_INVALID:
        return "malformed input";
    case TL_ERR_RANGE:
        return "out of range";
    case TL_ERR_PROOF:
        return "proof does not verify";
    case TL_ERR_SIG:
        return "signature does not verify";
    case TL_ERR_IO:
        return "I/O error";
    case TL_ERR_CORRUPT:
        return "stored data is corrupt";
    case TL_ERR_NOTFOUND:
        return "not found";
    case TL_ERR_BUSY:
        return "busy, try again later";
    case TL_ERR_CONFLICT:
        return "conflicts with signed state";
    case TL_ERR_LOCKED:
        return "in use by another process";
    case TL_ERR_CLOCK:
        return "clock went backwards";
    case TL_ERR_STOPPED:
        return "stopped";
    case TL_ERR_CRYPTO:
        return "cryptographic library error";
    case TL_ERR_TOOBIG:
        return "too large";
    case TL_ERR_NETWORK:
        return "network error";
    case TL_ERR_TIMEOUT:
        return "timed out";
    case TL_ERR_CLOSED:
        return "the log is closed: it takes no more entries";
    }
    return "unknown error";
}

void tl_errf(char *err, size_t cap, const char *fmt, ...)
{
    va_list ap;
    if (err == NULL || cap == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(err, cap, fmt, ap);
    va_end(ap);
}
