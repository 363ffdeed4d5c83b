/*
 * cafile.h - checks a PEM file of CA certificates before a program hands it
 * to libcurl (CURLOPT_CAINFO) as the only trust anchors of its HTTPS
 * client: tlogd's --witness-ca, tlog-witness's --log-ca.
 *
 * libcurl reads the file only when it first connects, so a missing or empty
 * file would otherwise show up much later as failed requests; the programs
 * call this at startup and refuse to start instead.
 */
#ifndef TL_COMMON_CAFILE_H
#define TL_COMMON_CAFILE_H

#include <stddef.h>

/* Returns TL_OK when path can be read and holds at least one PEM
 * certificate; otherwise TL_ERR_IO (cannot open or read it) or
 * TL_ERR_INVALID (no certificate, or a malformed one), with a one-line
 * reason naming path in err. */
int tl_cafile_check(const char *path, char *err, size_t cap);

#endif
