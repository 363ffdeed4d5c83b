/*
 * record.c - audit records, commitments and receipts (record.h).
 */
#include "audit/record.h"

#include <stdio.h>
#include <string.h>

#include "audit/jcs.h"
#include "common/b64.h"
#include "common/dec.h"
#include "common/err.h"

#define PREFIX "{\"v\":1,\"time\":"
#define MIDDLE ",\"commitment\":\""
#define SUFFIX "\"}"

void tl_audit_commitment(tl_hasher *h, const uint8_t salt[TL_AUDIT_SALT], const void *canon,
                         size_t len, tl_hash *out)
{
    tl_sha256_2(h, salt, TL_AUDIT_SALT, canon, len, out);
}

int tl_audit_record_format(uint64_t time_ms, const tl_hash *commitment, tl_buf *out)
{
    /* PREFIX time MIDDLE base64 SUFFIX, built in place (no printf) */
    char rec[sizeof(PREFIX) + 20 + sizeof(MIDDLE) + TL_B64_LEN(TL_HASH_SIZE) + sizeof(SUFFIX)];
    char digits[20];
    size_t n = 0, k = sizeof(digits);
    do {
        digits[--k] = (char)('0' + time_ms % 10);
        time_ms /= 10;
    } while (time_ms);
    memcpy(rec, PREFIX, sizeof(PREFIX) - 1);
    n = sizeof(PREFIX) - 1;
    memcpy(rec + n, digits + k, sizeof(digits) - k);
    n += sizeof(digits) - k;
    memcpy(rec + n, MIDDLE, sizeof(MIDDLE) - 1);
    n += sizeof(MIDDLE) - 1;
    tl_b64_encode(commitment->b, TL_HASH_SIZE, rec + n); /* writes a NUL after */
    n += TL_B64_LEN(TL_HASH_SIZE);
    memcpy(rec + n, SUFFIX, sizeof(SUFFIX) - 1);
    n += sizeof(SUFFIX) - 1;
    return tl_buf_add(out, rec, n);
}

int tl_audit_record_parse(const void *rec, size_t len, uint64_t *time_ms, tl_hash *commitment)
{
    const char *s = rec, *p, *q;
    size_t pl = strlen(PREFIX), ml = strlen(MIDDLE), sl = strlen(SUFFIX), hl;
    if (len < pl + 1 + ml + TL_B64_LEN(TL_HASH_SIZE) + sl || memcmp(s, PREFIX, pl) != 0 ||
        memcmp(s + len - sl, SUFFIX, sl) != 0)
        return TL_ERR_INVALID;
    p = s + pl;
    q = memchr(p, ',', len - pl);
    if (!q || (size_t)(s + len - q) != ml + TL_B64_LEN(TL_HASH_SIZE) + sl ||
        memcmp(q, MIDDLE, ml) != 0)
        return TL_ERR_INVALID;
    if (tl_dec_parse_u64(p, (size_t)(q - p), UINT64_MAX, time_ms) != TL_OK)
        return TL_ERR_INVALID;
    if (tl_b64_decode(q + ml, TL_B64_LEN(TL_HASH_SIZE), commitment->b, TL_HASH_SIZE, &hl) !=
            TL_OK ||
        hl != TL_HASH_SIZE)
        return TL_ERR_INVALID;
    return TL_OK;
}

int tl_audit_receipt_format(const void *canon, size_t canon_len, const uint8_t salt[TL_AUDIT_SALT],
                            const void *record, size_t record_len, const char *proof,
                            size_t proof_len, tl_buf *out)
{
    char b64[TL_B64_LEN(TL_AUDIT_SALT) + 1];
    int rc;
    tl_b64_encode(salt, TL_AUDIT_SALT, b64);
    if (tl_buf_adds(out, "{\"event\":") || tl_buf_add(out, canon, canon_len) ||
        tl_buf_addf(out, ",\"salt\":\"%s\",\"record\":", b64))
        return TL_ERR_NOMEM;
    rc = tl_jcs_string(record, record_len, out);
    if (rc == TL_OK && tl_buf_adds(out, ",\"proof\":"))
        rc = TL_ERR_NOMEM;
    if (rc == TL_OK)
        rc = tl_jcs_string(proof, proof_len, out);
    if (rc == TL_OK && tl_buf_adds(out, "}"))
        rc = TL_ERR_NOMEM;
    return rc;
}
