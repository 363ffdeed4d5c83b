/* version.h - the tlogd release version, printed by every program's --version. */
#ifndef TL_COMMON_VERSION_H
#define TL_COMMON_VERSION_H
#define TL_VERSION "0.1.0"
#endif
