/*
 * kind.c - the entry kinds this build knows (kind.h).
 */
#include "log/kind.h"

#include "log/kind_audit.h"

#include <string.h>

const tl_kind *const tl_kinds[] = {&tl_kind_blob, &tl_kind_audit, NULL};

const tl_kind *tl_kind_find(const char *name)
{
    for (size_t i = 0; tl_kinds[i]; i++)
        if (strcmp(tl_kinds[i]->name, name) == 0)
            return tl_kinds[i];
    return NULL;
}
