/*
 * record.h - the entries of an audit log and the receipts that prove an
 * event (the contract's "Records" and "Receipts"):
 *
 *   record   {"v":1,"time":<log time ms>,"commitment":"<b64 SHA-256(salt || canonical event)>"}
 *   receipt  {"event": <canonical event>, "salt": "<b64, 32 bytes>", "record": "<record>",
 *             "proof": "<C2SP tlog-proof of the record>"}
 *
 * The record is exact bytes: no spaces, canonical decimal, standard base64
 * with padding; its parser accepts nothing else. Pure: no I/O.
 */
#ifndef TL_AUDIT_RECORD_H
#define TL_AUDIT_RECORD_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "merkle/merkle.h"

#define TL_AUDIT_SALT 32
/* The longest record: {"v":1,"time":<20 digits>,"commitment":"<44>"} */
#define TL_AUDIT_RECORD_MAX 96

/* SHA-256(salt || canonical). */
void tl_audit_commitment(tl_hasher *h, const uint8_t salt[TL_AUDIT_SALT], const void *canon,
                         size_t len, tl_hash *out);
/* Appends the record of (time_ms, commitment) to out. */
int tl_audit_record_format(uint64_t time_ms, const tl_hash *commitment, tl_buf *out);
/* Parses a record: TL_OK, or TL_ERR_INVALID for anything but the exact form. */
int tl_audit_record_parse(const void *rec, size_t len, uint64_t *time_ms, tl_hash *commitment);

/* Appends a receipt: canon is the canonical event (written as it is),
 * record and proof are written as JSON strings. */
int tl_audit_receipt_format(const void *canon, size_t canon_len, const uint8_t salt[TL_AUDIT_SALT],
                            const void *record, size_t record_len, const char *proof,
                            size_t proof_len, tl_buf *out);

#endif
