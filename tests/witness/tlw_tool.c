/*
 * tlw_tool.c - a test-only tool for the witness integration tests:
 *   tlw-tool keygen NAME DIR               writes DIR/log.key and DIR/log.vkey (Ed25519)
 *   tlw-tool request KEYFILE ORIGIN SEED OLD SIZE
 *        prints an add-checkpoint body for the synthetic tree SEED (leaf i =
 *        "SEED-i"): "old OLD", the consistency proof OLD -> SIZE, the
 *        checkpoint of SIZE signed with KEYFILE
 *   tlw-tool checkpoint KEYFILE ORIGIN SIZE ROOT-B64
 *        prints a checkpoint note with any root, signed with KEYFILE (forged
 *        forks of a real log, made with its own key)
 * Exit 2 on bad usage, 1 on failure.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/b64.h"
#include "common/dec.h"
#include "common/err.h"
#include "signer/note.h"
#include "tests/witness/wt_tree.h"

int main(int argc, char **argv)
{
    if (argc == 4 && strcmp(argv[1], "keygen") == 0) {
        tl_signer *s = NULL;
        char *vk = NULL, key[1024], vkey[1024];
        if (tl_signer_generate(argv[2], TL_KEY_ED25519, &s) != TL_OK ||
            tl_signer_vkey(s, &vk) != TL_OK)
            return 1;
        mkdir(argv[3], 0700);
        snprintf(key, sizeof(key), "%s/log.key", argv[3]);
        snprintf(vkey, sizeof(vkey), "%s/log.vkey", argv[3]);
        if (tl_signer_write(s, key, vkey) != TL_OK)
            return 1;
        printf("%s\n", vk);
        free(vk);
        tl_signer_free(s);
        return 0;
    }
    if (argc == 7 && strcmp(argv[1], "request") == 0) {
        uint64_t old, size;
        if (tl_dec_parse_range(argv[5], 0, UINT64_MAX, &old) != TL_OK ||
            tl_dec_parse_range(argv[6], 0, UINT64_MAX, &size) != TL_OK)
            return 2;
        tl_signer *s = NULL;
        if (tl_signer_load(argv[2], &s) != TL_OK)
            return 1;
        wt_tree *t = wt_tree_new(argv[4], size > old ? size : old);
        tl_buf out = TL_BUF_INIT;
        if (!t || wt_tree_request(t, s, argv[3], old, size, &out) != TL_OK)
            return 1;
        fwrite(out.data, 1, out.len, stdout);
        tl_buf_release(&out);
        wt_tree_free(t);
        tl_signer_free(s);
        return 0;
    }
    if (argc == 6 && strcmp(argv[1], "checkpoint") == 0) {
        uint64_t size;
        tl_hash root;
        size_t len;
        if (tl_dec_parse_range(argv[4], 0, UINT64_MAX, &size) != TL_OK ||
            tl_b64_decode(argv[5], strlen(argv[5]), root.b, 32, &len) != TL_OK || len != 32)
            return 2;
        tl_signer *s = NULL;
        if (tl_signer_load(argv[2], &s) != TL_OK)
            return 1;
        char *note = wt_checkpoint(s, argv[3], size, &root);
        if (!note)
            return 1;
        fputs(note, stdout);
        free(note);
        tl_signer_free(s);
        return 0;
    }
    fprintf(stderr, "usage: tlw-tool keygen NAME DIR | request KEYFILE ORIGIN SEED OLD SIZE |"
                    " checkpoint KEYFILE ORIGIN SIZE ROOT-B64\n");
    return 2;
}
