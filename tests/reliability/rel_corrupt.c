/*
 * rel_corrupt.c - test tool of the reliability suite: flips one byte of one
 * stored value in a tlogd LevelDB database through the store interface, so
 * the damage carries valid LevelDB checksums (what a bad disk controller or
 * a buggy writer leaves behind). faults.py then checks that tlogd detects
 * it and serves no wrong proof.
 *
 * Usage: rel_corrupt DB (tile LEVEL N | bundle N | key HEX) OFFSET
 * Keys come from the log's own layout (log/layout.h): the full tile or
 * bundle if stored, else the current partial one of that level. OFFSET is
 * taken modulo the value's length; -K means K bytes before the end. Exit 0
 * on success, 1 when the key is absent or the store fails, 2 on bad usage.
 */
#include <stdio.h>
#include <string.h>

#include "common/dec.h"
#include "common/hex.h"
#include "log/layout.h"
#include "store/store.h"

int main(int argc, char **argv)
{
    unsigned char key[128], key2[128];
    size_t klen = 0, klen2 = 0;
    uint64_t level, n, off;
    const char *o = argc >= 5 ? argv[argc - 1] : "";
    int from_end = o[0] == '-';
    int ok = tl_dec_parse_range(o + from_end, 0, UINT64_MAX, &off) == TL_OK;
    if (ok && argc == 6 && strcmp(argv[2], "tile") == 0 &&
        tl_dec_parse_range(argv[3], 0, 63, &level) == TL_OK &&
        tl_dec_parse_range(argv[4], 0, UINT64_MAX, &n) == TL_OK) {
        klen = tl_layout_key_tile(key, (int)level, n);
        klen2 = tl_layout_key_tpart(key2, (int)level);
    } else if (ok && argc == 5 && strcmp(argv[2], "bundle") == 0 &&
               tl_dec_parse_range(argv[3], 0, UINT64_MAX, &n) == TL_OK) {
        klen = tl_layout_key_bundle(key, n);
        memcpy(key2, tl_layout_key_bpart, sizeof(tl_layout_key_bpart));
        klen2 = sizeof(tl_layout_key_bpart);
    } else if (ok && argc == 5 && strcmp(argv[2], "key") == 0 &&
               strlen(argv[3]) / 2 <= sizeof(key)) {
        klen = strlen(argv[3]) / 2;
        if (tl_hex_decode(argv[3], strlen(argv[3]), key, klen) != TL_OK) {
            fprintf(stderr, "rel_corrupt: bad hex key\n");
            return 2;
        }
    } else {
        fprintf(stderr, "usage: rel_corrupt DB (tile L N | bundle N | key HEX) OFFSET\n");
        return 2;
    }
    char err[256];
    tl_store *s = NULL;
    int rc = tl_store_open_leveldb(argv[1], 0, &s, err, sizeof(err));
    if (rc != TL_OK) {
        fprintf(stderr, "rel_corrupt: %s\n", err);
        return 1;
    }
    tl_buf v = TL_BUF_INIT;
    rc = tl_store_get(s, key, klen, &v);
    if (rc == TL_ERR_NOTFOUND && klen2) {
        memcpy(key, key2, klen2);
        klen = klen2;
        rc = tl_store_get(s, key, klen, &v);
    }
    if (rc != TL_OK || v.len == 0) {
        fprintf(stderr, "rel_corrupt: key not found (%s)\n", tl_strerror(rc));
        tl_store_close(s);
        return 1;
    }
    size_t at = from_end ? (off <= v.len && off > 0 ? v.len - off : 0) : (size_t)(off % v.len);
    unsigned char old = v.data[at];
    v.data[at] ^= 0x01;
    tl_batch *b = tl_batch_new();
    rc = b ? tl_batch_put(b, key, klen, v.data, v.len) : TL_ERR_NOMEM;
    if (rc == TL_OK)
        rc = tl_store_write(s, b, 1);
    tl_batch_free(b);
    if (rc == TL_OK)
        printf("flipped byte %zu of %zu: %02x -> %02x\n", at, v.len, old, v.data[at]);
    else
        fprintf(stderr, "rel_corrupt: write failed: %s\n", tl_strerror(rc));
    tl_buf_release(&v);
    tl_store_close(s);
    return rc == TL_OK ? 0 : 1;
}
