/*
 * policy.c - C2SP tlog-policy files (c2sp.org/tlog-policy): known logs,
 * known witnesses, nested k-of-n witness groups and exactly one quorum.
 *
 * Guarantees: parsing is strict and bounded (TL_POLICY_MAX logs, witnesses
 * and groups; POLICY_FILE_MAX bytes); every mistake is reported as one line
 * naming the line number. Names are opaque octet strings (§"Character set");
 * a group or the quorum may only name things defined on earlier lines, so
 * group definitions cannot be circular and quorum evaluation is one pass in
 * definition order. Each name is a group member at most once in the whole
 * file (§"Defining a witness group"), so a witness counts in one way only.
 */
#include "signer/policy.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/dec.h"
#include "common/err.h"
#include "common/file.h"
#include "signer/checkpoint.h"

#define POLICY_FILE_MAX (1 << 20)
#define MEMBERS_MAX (2 * TL_POLICY_MAX)
#define TOKENS_MAX (3 + MEMBERS_MAX + 1)
#define REF_WITNESS 0
#define REF_GROUP 1

typedef struct ref {
    uint8_t kind; /* REF_WITNESS or REF_GROUP */
    uint8_t idx;
} ref;

typedef struct group {
    char *name;
    size_t k, n;
    ref members[MEMBERS_MAX];
} group;

struct tl_policy {
    tl_policy_log logs[TL_POLICY_MAX];
    size_t nlogs;
    tl_policy_witness wits[TL_POLICY_MAX];
    size_t nwits;
    group groups[TL_POLICY_MAX];
    size_t ngroups;
    uint8_t is_member[2][TL_POLICY_MAX]; /* [kind][idx]: already in a group */
    int has_quorum;
    int quorum_none;
    ref quorum;
};

typedef struct tok {
    const char *p;
    size_t len;
} tok;

static int tok_is(const tok *t, const char *s)
{
    return t->len == strlen(s) && memcmp(t->p, s, t->len) == 0;
}

static char *tok_dup(const tok *t)
{
    char *s = malloc(t->len + 1);
    if (s != NULL) {
        memcpy(s, t->p, t->len);
        s[t->len] = '\0';
    }
    return s;
}

/* Printable form of a token for messages (cut at 64 bytes). */
#define TOKF "%.*s"
#define TOKA(t) (int)((t)->len > 64 ? 64 : (t)->len), (t)->p

void tl_policy_free(tl_policy *p)
{
    size_t i;

    if (p == NULL)
        return;
    for (i = 0; i < p->nlogs; i++) {
        tl_verifier_free(p->logs[i].key);
        free(p->logs[i].url);
    }
    for (i = 0; i < p->nwits; i++) {
        free(p->wits[i].name);
        tl_verifier_free(p->wits[i].key);
        free(p->wits[i].url);
    }
    for (i = 0; i < p->ngroups; i++)
        free(p->groups[i].name);
    free(p);
}

/* Finds a witness or group by name. */
static int lookup(const tl_policy *p, const tok *t, ref *out)
{
    size_t i;

    for (i = 0; i < p->nwits; i++) {
        if (tok_is(t, p->wits[i].name)) {
            out->kind = REF_WITNESS;
            out->idx = (uint8_t)i;
            return 1;
        }
    }
    for (i = 0; i < p->ngroups; i++) {
        if (tok_is(t, p->groups[i].name)) {
            out->kind = REF_GROUP;
            out->idx = (uint8_t)i;
            return 1;
        }
    }
    return 0;
}

/* Parses a vkey token of the wanted type. Returns TL_OK or writes a reason. */
static int parse_key(const tok *t, uint8_t type, size_t line, const char *what, tl_verifier **out,
                     char *err, size_t cap)
{
    char *s = tok_dup(t);
    int r;

    if (s == NULL)
        return TL_ERR_NOMEM;
    r = tl_verifier_parse(s, out);
    free(s);
    if (r == TL_ERR_NOMEM)
        return r;
    if (r != TL_OK) {
        tl_errf(err, cap, "line %zu: malformed %s verifier key", line, what);
        return TL_ERR_INVALID;
    }
    if (tl_verifier_type(*out) != type) {
        tl_errf(err, cap, "line %zu: %s key must have signature type 0x%02x, not 0x%02x", line,
                what, type, tl_verifier_type(*out));
        tl_verifier_free(*out);
        *out = NULL;
        return TL_ERR_INVALID;
    }
    return TL_OK;
}

static int parse_url(const tok *t, char **url)
{
    *url = tok_dup(t);
    return *url ? TL_OK : TL_ERR_NOMEM;
}

/* Checks a new witness or group name: not `none`, not yet defined. */
static int check_new_name(const tl_policy *p, const tok *t, size_t line, char *err, size_t cap)
{
    ref dummy;

    if (tok_is(t, "none")) {
        tl_errf(err, cap, "line %zu: the name none is predefined", line);
        return TL_ERR_INVALID;
    }
    if (lookup(p, t, &dummy)) {
        tl_errf(err, cap, "line %zu: duplicate name " TOKF, line, TOKA(t));
        return TL_ERR_INVALID;
    }
    return TL_OK;
}

static int do_log(tl_policy *p, const tok *t, size_t nt, size_t line, char *err, size_t cap)
{
    tl_policy_log *l;
    tl_verifier *v = NULL;
    size_t i;
    int r;

    if (nt < 2 || nt > 3) {
        tl_errf(err, cap, "line %zu: want: log <vkey> [<url>]", line);
        return TL_ERR_INVALID;
    }
    if (p->nlogs == TL_POLICY_MAX) {
        tl_errf(err, cap, "line %zu: too many logs (at most %d)", line, TL_POLICY_MAX);
        return TL_ERR_INVALID;
    }
    r = parse_key(&t[1], TL_KEY_ED25519, line, "log", &v, err, cap);
    if (r != TL_OK)
        return r;
    for (i = 0; i < p->nlogs; i++) {
        if (memcmp(tl_verifier_pubkey(p->logs[i].key), tl_verifier_pubkey(v), 32) == 0) {
            tl_errf(err, cap, "line %zu: duplicate log key (same public key as log %s)", line,
                    tl_verifier_name(p->logs[i].key));
            tl_verifier_free(v);
            return TL_ERR_INVALID;
        }
    }
    l = &p->logs[p->nlogs];
    l->key = v;
    l->url = NULL;
    p->nlogs++;
    return nt == 3 ? parse_url(&t[2], &l->url) : TL_OK;
}

static int do_witness(tl_policy *p, const tok *t, size_t nt, size_t line, char *err, size_t cap)
{
    tl_policy_witness *w;
    tl_verifier *v = NULL;
    size_t i;
    int r;

    if (nt < 3 || nt > 4) {
        tl_errf(err, cap, "line %zu: want: witness <name> <vkey> [<url>]", line);
        return TL_ERR_INVALID;
    }
    if (p->nwits == TL_POLICY_MAX) {
        tl_errf(err, cap, "line %zu: too many witnesses (at most %d)", line, TL_POLICY_MAX);
        return TL_ERR_INVALID;
    }
    r = check_new_name(p, &t[1], line, err, cap);
    if (r != TL_OK)
        return r;
    r = parse_key(&t[2], TL_KEY_COSIG_V1, line, "witness", &v, err, cap);
    if (r != TL_OK)
        return r;
    for (i = 0; i < p->nwits; i++) {
        if (memcmp(tl_verifier_pubkey(p->wits[i].key), tl_verifier_pubkey(v), 32) == 0) {
            tl_errf(err, cap, "line %zu: duplicate witness key (same public key as witness %s)",
                    line, p->wits[i].name);
            tl_verifier_free(v);
            return TL_ERR_INVALID;
        }
    }
    w = &p->wits[p->nwits];
    memset(w, 0, sizeof *w);
    w->key = v;
    w->name = tok_dup(&t[1]);
    p->nwits++;
    if (w->name == NULL)
        return TL_ERR_NOMEM;
    return nt == 4 ? parse_url(&t[3], &w->url) : TL_OK;
}

static int do_group(tl_policy *p, const tok *t, size_t nt, size_t line, char *err, size_t cap)
{
    group *g;
    size_t i, n;
    uint64_t k;
    int r;

    if (nt < 4) {
        tl_errf(err, cap, "line %zu: want: group <name> all|any|<k> <name>...", line);
        return TL_ERR_INVALID;
    }
    if (p->ngroups == TL_POLICY_MAX) {
        tl_errf(err, cap, "line %zu: too many groups (at most %d)", line, TL_POLICY_MAX);
        return TL_ERR_INVALID;
    }
    r = check_new_name(p, &t[1], line, err, cap);
    if (r != TL_OK)
        return r;
    n = nt - 3;
    if (tok_is(&t[2], "all")) {
        k = n;
    } else if (tok_is(&t[2], "any")) {
        k = 1;
    } else if (tl_dec_parse_u64(t[2].p, t[2].len, UINT64_MAX, &k) != TL_OK) {
        tl_errf(err, cap, "line %zu: threshold must be all, any or a decimal number, not " TOKF,
                line, TOKA(&t[2]));
        return TL_ERR_INVALID;
    } else if (k < 1 || k > n) {
        tl_errf(err, cap, "line %zu: threshold %llu out of range 1..%zu", line,
                (unsigned long long)k, n);
        return TL_ERR_INVALID;
    }
    g = &p->groups[p->ngroups];
    memset(g, 0, sizeof *g);
    for (i = 0; i < n; i++) {
        const tok *m = &t[3 + i];
        ref rf;
        size_t j;

        if (tok_is(m, "none")) {
            tl_errf(err, cap, "line %zu: none cannot be a group member", line);
            return TL_ERR_INVALID;
        }
        if (!lookup(p, m, &rf)) {
            tl_errf(err, cap, "line %zu: unknown name " TOKF " (define it on an earlier line)",
                    line, TOKA(m));
            return TL_ERR_INVALID;
        }
        for (j = 0; j < i; j++) {
            if (g->members[j].kind == rf.kind && g->members[j].idx == rf.idx) {
                tl_errf(err, cap, "line %zu: " TOKF " listed twice in the group", line, TOKA(m));
                return TL_ERR_INVALID;
            }
        }
        if (p->is_member[rf.kind][rf.idx]) {
            tl_errf(err, cap, "line %zu: " TOKF " is already a member of another group", line,
                    TOKA(m));
            return TL_ERR_INVALID;
        }
        g->members[i] = rf;
    }
    g->name = tok_dup(&t[1]);
    if (g->name == NULL)
        return TL_ERR_NOMEM;
    g->k = (size_t)k;
    g->n = n;
    for (i = 0; i < n; i++)
        p->is_member[g->members[i].kind][g->members[i].idx] = 1;
    p->ngroups++;
    return TL_OK;
}

static int do_quorum(tl_policy *p, const tok *t, size_t nt, size_t line, char *err, size_t cap)
{
    if (nt != 2) {
        tl_errf(err, cap, "line %zu: want: quorum <name>", line);
        return TL_ERR_INVALID;
    }
    if (p->has_quorum) {
        tl_errf(err, cap, "line %zu: a second quorum line (exactly one is allowed)", line);
        return TL_ERR_INVALID;
    }
    if (tok_is(&t[1], "none")) {
        p->quorum_none = 1;
    } else if (!lookup(p, &t[1], &p->quorum)) {
        tl_errf(err, cap, "line %zu: unknown name " TOKF " (define it on an earlier line)", line,
                TOKA(&t[1]));
        return TL_ERR_INVALID;
    }
    p->has_quorum = 1;
    return TL_OK;
}

/* Parses one line (s[0..len), no newline). */
static int parse_line(tl_policy *p, const char *s, size_t len, size_t line, char *err, size_t cap)
{
    tok t[TOKENS_MAX];
    size_t nt = 0, i = 0;

    for (i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c != '\t' && (c < 0x20 || c == 0x7F)) { /* §"Character set" */
            tl_errf(err, cap, "line %zu: invalid character 0x%02x", line, c);
            return TL_ERR_INVALID;
        }
    }
    for (i = 0; i < len;) {
        size_t start;
        while (i < len && (s[i] == ' ' || s[i] == '\t'))
            i++;
        if (i == len)
            break;
        if (nt == 0 && s[i] == '#')
            return TL_OK; /* comment */
        if (nt == TOKENS_MAX) {
            tl_errf(err, cap, "line %zu: too many items", line);
            return TL_ERR_INVALID;
        }
        start = i;
        while (i < len && s[i] != ' ' && s[i] != '\t')
            i++;
        t[nt].p = s + start;
        t[nt].len = i - start;
        nt++;
    }
    if (nt == 0)
        return TL_OK; /* empty line */
    if (tok_is(&t[0], "log"))
        return do_log(p, t, nt, line, err, cap);
    if (tok_is(&t[0], "witness"))
        return do_witness(p, t, nt, line, err, cap);
    if (tok_is(&t[0], "group"))
        return do_group(p, t, nt, line, err, cap);
    if (tok_is(&t[0], "quorum"))
        return do_quorum(p, t, nt, line, err, cap);
    tl_errf(err, cap, "line %zu: unknown keyword " TOKF, line, TOKA(&t[0]));
    return TL_ERR_INVALID;
}

int tl_policy_parse(const char *text, size_t len, tl_policy **out, char *err, size_t cap)
{
    tl_policy *p;
    size_t pos = 0, line = 0;
    int r = TL_OK;

    tl_errf(err, cap, "%s", "");
    if (len > POLICY_FILE_MAX) {
        tl_errf(err, cap, "policy larger than %d bytes", POLICY_FILE_MAX);
        return TL_ERR_INVALID;
    }
    p = calloc(1, sizeof *p);
    if (p == NULL) {
        tl_errf(err, cap, "out of memory");
        return TL_ERR_NOMEM;
    }
    /* Lines end in '\n'; a last line without one is accepted too. */
    while (pos < len) {
        const char *nl = memchr(text + pos, '\n', len - pos);
        size_t l = nl ? (size_t)(nl - (text + pos)) : len - pos;

        line++;
        r = parse_line(p, text + pos, l, line, err, cap);
        if (r != TL_OK)
            break;
        pos += l + 1;
    }
    if (r == TL_OK && !p->has_quorum) {
        tl_errf(err, cap, "no quorum line (use \"quorum none\" for no witnesses)");
        r = TL_ERR_INVALID;
    }
    if (r != TL_OK) {
        if (r == TL_ERR_NOMEM)
            tl_errf(err, cap, "out of memory");
        tl_policy_free(p);
        return r;
    }
    *out = p;
    return TL_OK;
}

int tl_policy_load(const char *path, tl_policy **out, char *err, size_t cap)
{
    char *buf = NULL;
    size_t n = 0;
    int r;

    r = tl_file_read(path, POLICY_FILE_MAX, &buf, &n);
    if (r != TL_OK) {
        tl_errf(err, cap, "%s: %s", path,
                r == TL_ERR_IO       ? strerror(errno)
                : r == TL_ERR_TOOBIG ? "policy file too large"
                                     : tl_strerror(r));
        return r == TL_ERR_TOOBIG ? TL_ERR_INVALID : r;
    }
    r = tl_policy_parse(buf, n, out, err, cap);
    free(buf);
    return r;
}

size_t tl_policy_nlogs(const tl_policy *p)
{
    return p->nlogs;
}

const tl_policy_log *tl_policy_log_at(const tl_policy *p, size_t i)
{
    return i < p->nlogs ? &p->logs[i] : NULL;
}

const tl_policy_log *tl_policy_find_log(const tl_policy *p, const char *origin)
{
    size_t i;

    for (i = 0; i < p->nlogs; i++)
        if (strcmp(tl_verifier_name(p->logs[i].key), origin) == 0)
            return &p->logs[i];
    return NULL;
}

size_t tl_policy_nwitnesses(const tl_policy *p)
{
    return p->nwits;
}

const tl_policy_witness *tl_policy_witness_at(const tl_policy *p, size_t i)
{
    return i < p->nwits ? &p->wits[i] : NULL;
}

int tl_policy_quorum_none(const tl_policy *p)
{
    return p->quorum_none;
}

/* Groups only name earlier groups, so one pass in definition order works. */
static int quorum_eval(const tl_policy *p, const unsigned char *wit_ok)
{
    unsigned char gmet[TL_POLICY_MAX];
    size_t g, i;

    if (p->quorum_none)
        return 1;
    for (g = 0; g < p->ngroups; g++) {
        size_t count = 0;
        for (i = 0; i < p->groups[g].n; i++) {
            ref m = p->groups[g].members[i];
            if (m.kind == REF_WITNESS ? wit_ok[m.idx] != 0 : gmet[m.idx] != 0)
                count++;
        }
        gmet[g] = count >= p->groups[g].k;
    }
    if (p->quorum.kind == REF_WITNESS)
        return wit_ok[p->quorum.idx] != 0;
    return gmet[p->quorum.idx];
}

size_t tl_policy_ngroups(const tl_policy *p)
{
    return p->ngroups;
}

const char *tl_policy_group_at(const tl_policy *p, size_t i, size_t *k, size_t *n)
{
    *k = p->groups[i].k;
    *n = p->groups[i].n;
    return p->groups[i].name;
}

tl_policy_ref tl_policy_group_member(const tl_policy *p, size_t group, size_t j)
{
    ref m = p->groups[group].members[j];
    tl_policy_ref r = {m.kind == REF_GROUP, m.idx};
    return r;
}

int tl_policy_quorum_root(const tl_policy *p, tl_policy_ref *out)
{
    if (p->quorum_none)
        return 0;
    out->is_group = p->quorum.kind == REF_GROUP;
    out->idx = p->quorum.idx;
    return 1;
}

int tl_policy_quorum_met(const tl_policy *p, const unsigned char *cosigned)
{
    return quorum_eval(p, cosigned);
}

int tl_policy_quorum_reachable_with_urls(const tl_policy *p)
{
    unsigned char has_url[TL_POLICY_MAX];
    size_t i;

    for (i = 0; i < p->nwits; i++)
        has_url[i] = p->wits[i].url != NULL;
    return quorum_eval(p, has_url);
}

int tl_policy_verify_checkpoint(const tl_policy *p, const char *note, size_t len,
                                struct tl_checkpoint *cp, char *err, size_t cap)
{
    unsigned char cosigned[TL_POLICY_MAX];
    tl_checkpoint c;
    tl_note n;
    size_t i, known = 0, ok = 0, count = 0;
    int r;

    tl_errf(err, cap, "%s", "");
    r = tl_note_parse(note, len, &n);
    if (r != TL_OK) {
        tl_errf(err, cap, "malformed signed note (c2sp.org/signed-note)");
        return r == TL_ERR_NOMEM ? r : TL_ERR_INVALID;
    }
    /* Parse the body in the caller's buffer so that cp->ext stays valid. */
    r = tl_checkpoint_parse(note, n.text_len, &c);
    if (r != TL_OK) {
        tl_errf(err, cap, "malformed checkpoint body (c2sp.org/tlog-checkpoint)");
        tl_note_release(&n);
        return TL_ERR_INVALID;
    }
    /* A signature by a listed log whose key name is the origin. */
    for (i = 0; i < p->nlogs; i++) {
        if (strcmp(tl_verifier_name(p->logs[i].key), c.origin) != 0)
            continue;
        known++;
        r = tl_note_verify(&n, p->logs[i].key);
        if (r == TL_OK) {
            ok++;
        } else if (r != TL_ERR_NOTFOUND) {
            tl_errf(err, cap, "log signature by %s does not verify", c.origin);
            tl_note_release(&n);
            return TL_ERR_SIG;
        }
    }
    if (known == 0 || ok == 0) {
        tl_errf(err, cap,
                known == 0 ? "no log with origin \"%.256s\" in the policy"
                           : "checkpoint carries no signature by the log key of %.256s",
                c.origin);
        tl_note_release(&n);
        return TL_ERR_SIG;
    }
    /* Cosignatures by the listed witnesses (unknown ones are ignored). */
    for (i = 0; i < p->nwits; i++) {
        r = tl_cosig_verify(&n, p->wits[i].key, NULL);
        if (r != TL_OK && r != TL_ERR_NOTFOUND) {
            tl_errf(err, cap, "cosignature by witness %s does not verify", p->wits[i].name);
            tl_note_release(&n);
            return TL_ERR_SIG;
        }
        cosigned[i] = r == TL_OK;
        count += cosigned[i];
    }
    tl_note_release(&n);
    if (!quorum_eval(p, cosigned)) {
        tl_errf(err, cap, "witness quorum not met (%zu of %zu witnesses cosigned)", count,
                p->nwits);
        return TL_ERR_SIG;
    }
    if (cp != NULL)
        *cp = c;
    return TL_OK;
}
