/* otel-agents native hook: one agent-CLI hook payload in, one spool line out.
 *
 * The same contract as `otel-agents hook` (otel_agents/claude_code/capture.py): read stdin,
 * stamp the receive time, reduce the payload exactly as the Python hook does (content ->
 * {"len", "sha256"} of its canonical JSON text), append ONE line with ONE write on an
 * O_APPEND descriptor to <home>/<cli>/sessions/<session>.jsonl (claude-code, codex, gemini:
 * the first argument names the CLI, none is Claude Code), start the detached Python drain at
 * that CLI's drain events, print nothing, exit 0. As the Python hook, every CLI's problems go
 * to <home>/claude-code/hook.log and the cached config.toml is <home>/claude-code/config-cache.json.
 *
 * Whatever it cannot reproduce byte for byte (content capture on, a config.toml whose cached
 * form is stale, a parent context in AGENTS_OTEL_PARENT, input that is not UTF-8 or holds a
 * lone surrogate, duplicate keys, very deep nesting, huge integers) it hands to the Python
 * hook: the payload on its stdin, the receive time in OTEL_AGENTS_HOOK_RECEIVED_NS.
 *
 * C library only. Built by `otel-agents install-hooks --native` with -include of a generated
 * header defining OA_PYTHON, OA_PACKAGE_ROOT, OA_DRAIN_PROGRAM, OA_AGENT_DRAIN_PROGRAM and
 * OA_HOOK_PROGRAM.
 * Per-CLI rules (which fields are metadata, which are content) are the tables below.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef OA_PYTHON
#define OA_PYTHON "python3"
#endif
#ifndef OA_PACKAGE_ROOT
#define OA_PACKAGE_ROOT "."
#endif
#ifndef OA_DRAIN_PROGRAM
#define OA_DRAIN_PROGRAM "import os; os._exit(0)"
#endif
#ifndef OA_AGENT_DRAIN_PROGRAM
#define OA_AGENT_DRAIN_PROGRAM "import os; os._exit(0)"
#endif
#ifndef OA_HOOK_PROGRAM
#define OA_HOOK_PROGRAM "import os; os._exit(0)"
#endif

#define MAX_STDIN_BYTES (64u * 1024u * 1024u)
#define MAX_KEPT_CHARS 4096
#define MAX_DEPTH 200
#define MAX_INT_DIGITS 4000
#define LOG_ROTATE_BYTES (1024 * 1024)

/* ---- the per-CLI rules (capture.py: KEEP_FIELDS, CONTENT_FIELDS, EVENT_CONTENT_FIELDS,
 * DRAIN_EVENTS, AGENT_DRAIN_EVENTS). Another agent CLI is one more entry in RULES, chosen by
 * the program's first argument (`otel-agents-hook codex`); none: the first entry. Codex CLI
 * and Gemini CLI payloads are reduced by the same field tables as Claude Code's (capture.py
 * has one reduce_payload); they differ in their spool directory, their drain events and
 * their drain (agent_cli.export, told the CLI). ---- */
static const char *const CC_KEEP[] = {
    "session_id", "transcript_path", "cwd", "hook_event_name", "permission_mode", "prompt_id",
    "agent_id", "agent_type", "tool_name", "tool_use_id", "duration_ms", "source", "model",
    "reason", "trigger", "notification_type", "stop_hook_active", "is_interrupt",
    "agent_transcript_path", "turn_id", "task_id", "teammate_name", "team_name",
    "mcp_server_name", NULL};
static const char *const CC_CONTENT[] = {
    "prompt", "tool_input", "tool_response", "error", "last_assistant_message", "message",
    "custom_instructions", "error_details", "task_subject", "task_description",
    "compact_summary", NULL};
/* event, field that is content for that event only (a denial's reason can quote the command) */
static const char *const CC_EVENT_CONTENT[][2] = {{"PermissionDenied", "reason"}, {NULL, NULL}};
static const char *const CC_DRAIN[] = {"Stop", "StopFailure", "SessionEnd", NULL};
static const char *const AGENT_DRAIN[] = {"Stop", "AfterAgent", "SessionEnd", NULL};

typedef struct {
    const char *name;               /* the program's first argument */
    const char *spool_dir;          /* <home>/<spool_dir>/sessions/<session>.jsonl */
    const char *session_field, *event_field;
    const char *const *keep, *const *content, *const *drain;
    const char *const (*event_content)[2];
    const char *error_category_event; /* the event whose "error" word is copied to error_category */
    const char *drain_agent;        /* NULL: Claude Code's drain; else agent_cli.export's, told this CLI */
} rules_t;
static const rules_t RULES[] = {
    {"claude-code", "claude-code", "session_id", "hook_event_name", CC_KEEP, CC_CONTENT, CC_DRAIN, CC_EVENT_CONTENT, "StopFailure", NULL},
    {"codex", "codex", "session_id", "hook_event_name", CC_KEEP, CC_CONTENT, AGENT_DRAIN, CC_EVENT_CONTENT, "StopFailure", "codex"},
    {"gemini", "gemini", "session_id", "hook_event_name", CC_KEEP, CC_CONTENT, AGENT_DRAIN, CC_EVENT_CONTENT, "StopFailure", "gemini"},
};
/* where every CLI's problems and the cached config.toml go (layout.spool_root: Claude Code's) */
#define SHARED_DIR "claude-code"
static const rules_t *R = &RULES[0];
static const char *g_cli = "claude-code"; /* the CLI named by the first argument (handed over too) */

/* ---- growable buffer ---- */
typedef struct { char *p; size_t n, cap; int oom; } buf_t;
static void bput(buf_t *b, const void *s, size_t n) {
    if (b->oom) return;
    if (b->n + n + 1 > b->cap) {
        size_t c = b->cap ? b->cap : 256;
        while (c < b->n + n + 1) c *= 2;
        char *q = realloc(b->p, c);
        if (!q) { b->oom = 1; return; }
        b->p = q; b->cap = c;
    }
    memcpy(b->p + b->n, s, n); b->n += n; b->p[b->n] = 0;
}
static void bstr(buf_t *b, const char *s) { bput(b, s, strlen(s)); }
static void bch(buf_t *b, char c) { bput(b, &c, 1); }

/* ---- sha256 ---- */
typedef struct { uint32_t h[8]; uint64_t len; unsigned char blk[64]; size_t bn; } sha_t;
static const uint32_t K[64] = {
    0x428a2f98,0x71374491,0xb5c0fbcf,0xe9b5dba5,0x3956c25b,0x59f111f1,0x923f82a4,0xab1c5ed5,
    0xd807aa98,0x12835b01,0x243185be,0x550c7dc3,0x72be5d74,0x80deb1fe,0x9bdc06a7,0xc19bf174,
    0xe49b69c1,0xefbe4786,0x0fc19dc6,0x240ca1cc,0x2de92c6f,0x4a7484aa,0x5cb0a9dc,0x76f988da,
    0x983e5152,0xa831c66d,0xb00327c8,0xbf597fc7,0xc6e00bf3,0xd5a79147,0x06ca6351,0x14292967,
    0x27b70a85,0x2e1b2138,0x4d2c6dfc,0x53380d13,0x650a7354,0x766a0abb,0x81c2c92e,0x92722c85,
    0xa2bfe8a1,0xa81a664b,0xc24b8b70,0xc76c51a3,0xd192e819,0xd6990624,0xf40e3585,0x106aa070,
    0x19a4c116,0x1e376c08,0x2748774c,0x34b0bcb5,0x391c0cb3,0x4ed8aa4a,0x5b9cca4f,0x682e6ff3,
    0x748f82ee,0x78a5636f,0x84c87814,0x8cc70208,0x90befffa,0xa4506ceb,0xbef9a3f7,0xc67178f2};
#define ROR(x, n) (((x) >> (n)) | ((x) << (32 - (n))))
static void sha_block(sha_t *s, const unsigned char *p) {
    uint32_t w[64], a, b, c, d, e, f, g, h;
    for (int i = 0; i < 16; i++) w[i] = (uint32_t)p[4*i] << 24 | (uint32_t)p[4*i+1] << 16 | (uint32_t)p[4*i+2] << 8 | p[4*i+3];
    for (int i = 16; i < 64; i++) {
        uint32_t s0 = ROR(w[i-15], 7) ^ ROR(w[i-15], 18) ^ (w[i-15] >> 3);
        uint32_t s1 = ROR(w[i-2], 17) ^ ROR(w[i-2], 19) ^ (w[i-2] >> 10);
        w[i] = w[i-16] + s0 + w[i-7] + s1;
    }
    a = s->h[0]; b = s->h[1]; c = s->h[2]; d = s->h[3]; e = s->h[4]; f = s->h[5]; g = s->h[6]; h = s->h[7];
    for (int i = 0; i < 64; i++) {
        uint32_t t1 = h + (ROR(e, 6) ^ ROR(e, 11) ^ ROR(e, 25)) + ((e & f) ^ (~e & g)) + K[i] + w[i];
        uint32_t t2 = (ROR(a, 2) ^ ROR(a, 13) ^ ROR(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
        h = g; g = f; f = e; e = d + t1; d = c; c = b; b = a; a = t1 + t2;
    }
    s->h[0] += a; s->h[1] += b; s->h[2] += c; s->h[3] += d; s->h[4] += e; s->h[5] += f; s->h[6] += g; s->h[7] += h;
}
static void sha_init(sha_t *s) {
    static const uint32_t H0[8] = {0x6a09e667,0xbb67ae85,0x3c6ef372,0xa54ff53a,0x510e527f,0x9b05688c,0x1f83d9ab,0x5be0cd19};
    memcpy(s->h, H0, sizeof H0); s->len = 0; s->bn = 0;
}
static void sha_update(sha_t *s, const void *data, size_t n) {
    const unsigned char *p = data;
    s->len += n;
    while (n) {
        if (s->bn == 0 && n >= 64) { sha_block(s, p); p += 64; n -= 64; continue; }
        size_t k = 64 - s->bn < n ? 64 - s->bn : n;
        memcpy(s->blk + s->bn, p, k); s->bn += k; p += k; n -= k;
        if (s->bn == 64) { sha_block(s, s->blk); s->bn = 0; }
    }
}
static void sha_hex(sha_t *s, char out[65]) {
    uint64_t bits = s->len * 8;
    unsigned char pad = 0x80, z = 0, l[8];
    sha_update(s, &pad, 1);
    while (s->bn != 56) sha_update(s, &z, 1);
    for (int i = 0; i < 8; i++) l[i] = (unsigned char)(bits >> (56 - 8 * i));
    sha_update(s, l, 8);
    for (int i = 0; i < 8; i++) snprintf(out + 8 * i, 9, "%08x", s->h[i]);
}
static void sha256_hex(const void *p, size_t n, char out[65]) { sha_t s; sha_init(&s); sha_update(&s, p, n); sha_hex(&s, out); }

/* ---- JSON (Python's json.loads grammar, strict) ---- */
enum { J_NULL, J_TRUE, J_FALSE, J_INT, J_FLOAT, J_STR, J_ARR, J_OBJ };
typedef struct node { int type; char *s; size_t n; double d; struct node **kids; size_t nk; } node_t;
/* J_STR: decoded UTF-8 in s/n. J_INT: literal in s/n. J_OBJ: kids = k0,v0,k1,v1... (nk = 2*pairs) */

typedef struct { const unsigned char *p, *end; int delegate; int depth; } parser_t;
static void ws(parser_t *q) { while (q->p < q->end && (*q->p == ' ' || *q->p == '\t' || *q->p == '\n' || *q->p == '\r')) q->p++; }
static node_t *newnode(int t) { node_t *n = calloc(1, sizeof *n); if (n) n->type = t; return n; }
static int hex4(const unsigned char *p, unsigned *v) {
    *v = 0;
    for (int i = 0; i < 4; i++) {
        unsigned c = p[i], d;
        if (c >= '0' && c <= '9') d = c - '0'; else if (c >= 'a' && c <= 'f') d = c - 'a' + 10;
        else if (c >= 'A' && c <= 'F') d = c - 'A' + 10; else return 0;
        *v = *v * 16 + d;
    }
    return 1;
}
static void put_utf8(buf_t *b, unsigned cp) {
    char o[4];
    if (cp < 0x80) { o[0] = (char)cp; bput(b, o, 1); }
    else if (cp < 0x800) { o[0] = (char)(0xC0 | cp >> 6); o[1] = (char)(0x80 | (cp & 63)); bput(b, o, 2); }
    else if (cp < 0x10000) { o[0] = (char)(0xE0 | cp >> 12); o[1] = (char)(0x80 | ((cp >> 6) & 63)); o[2] = (char)(0x80 | (cp & 63)); bput(b, o, 3); }
    else { o[0] = (char)(0xF0 | cp >> 18); o[1] = (char)(0x80 | ((cp >> 12) & 63)); o[2] = (char)(0x80 | ((cp >> 6) & 63)); o[3] = (char)(0x80 | (cp & 63)); bput(b, o, 4); }
}
static node_t *parse_string(parser_t *q) {
    buf_t b = {0};
    q->p++; /* opening quote */
    while (q->p < q->end) {
        unsigned char c = *q->p;
        if (c == '"') {
            q->p++;
            node_t *n = newnode(J_STR);
            if (!n || b.oom) return NULL;
            n->s = b.p ? b.p : calloc(1, 1); n->n = b.n;
            return n;
        }
        if (c < 0x20) break; /* strict: control characters not allowed */
        if (c == '\\') {
            if (q->p + 1 >= q->end) break;
            unsigned char e = q->p[1];
            const char *m = NULL;
            switch (e) { case '"': m = "\""; break; case '\\': m = "\\"; break; case '/': m = "/"; break;
                case 'b': m = "\b"; break; case 'f': m = "\f"; break; case 'n': m = "\n"; break;
                case 'r': m = "\r"; break; case 't': m = "\t"; break; }
            if (m) { bput(&b, m, 1); q->p += 2; continue; }
            if (e != 'u' || q->end - q->p < 6) break;
            unsigned v, lo;
            if (!hex4(q->p + 2, &v)) break;
            q->p += 6;
            if (v >= 0xD800 && v <= 0xDBFF && q->end - q->p >= 6 && q->p[0] == '\\' && q->p[1] == 'u' && hex4(q->p + 2, &lo) && lo >= 0xDC00 && lo <= 0xDFFF) {
                v = 0x10000 + ((v - 0xD800) << 10) + (lo - 0xDC00);
                q->p += 6;
            }
            put_utf8(&b, v); /* a lone surrogate is kept as its 3 bytes ("surrogatepass", as digest) */
            continue;
        }
        bput(&b, q->p, 1); q->p++; /* raw bytes: the whole input was checked as UTF-8 */
    }
    free(b.p);
    return NULL;
}
static node_t *parse_value(parser_t *q);
static node_t *parse_number(parser_t *q) {
    const unsigned char *s = q->p;
    int isfloat = 0;
    if (q->p < q->end && *q->p == '-') q->p++;
    if (q->end - q->p >= 8 && memcmp(q->p, "Infinity", 8) == 0 && s != q->p) {
        q->p += 8; node_t *n = newnode(J_FLOAT); if (n) n->d = -INFINITY; return n;
    }
    if (q->p >= q->end || *q->p < '0' || *q->p > '9') return NULL;
    if (*q->p == '0') q->p++; else while (q->p < q->end && *q->p >= '0' && *q->p <= '9') q->p++;
    if (q->p + 1 < q->end && *q->p == '.' && q->p[1] >= '0' && q->p[1] <= '9') {
        isfloat = 1; q->p++;
        while (q->p < q->end && *q->p >= '0' && *q->p <= '9') q->p++;
    }
    if (q->p < q->end && (*q->p == 'e' || *q->p == 'E')) {
        const unsigned char *t = q->p + 1;
        if (t < q->end && (*t == '+' || *t == '-')) t++;
        if (t < q->end && *t >= '0' && *t <= '9') {
            isfloat = 1; q->p = t;
            while (q->p < q->end && *q->p >= '0' && *q->p <= '9') q->p++;
        }
    }
    size_t len = (size_t)(q->p - s);
    node_t *n = newnode(isfloat ? J_FLOAT : J_INT);
    if (!n) return NULL;
    if (isfloat) {
        char *tmp = malloc(len + 1); if (!tmp) return NULL;
        memcpy(tmp, s, len); tmp[len] = 0; n->d = strtod(tmp, NULL); free(tmp);
    } else {
        if (len > MAX_INT_DIGITS) { q->delegate = 1; return NULL; }
        if (len == 2 && s[0] == '-' && s[1] == '0') { s++; len = 1; } /* -0 is the int 0 */
        n->s = (char *)s; n->n = len;
    }
    return n;
}
static node_t *parse_value(parser_t *q) {
    ws(q);
    if (q->p >= q->end) return NULL;
    unsigned char c = *q->p;
    if (c == '"') return parse_string(q);
    if (c == '{' || c == '[') {
        if (++q->depth > MAX_DEPTH) { q->delegate = 1; return NULL; }
        int obj = c == '{';
        node_t *n = newnode(obj ? J_OBJ : J_ARR);
        size_t cap = 0;
        if (!n) return NULL;
        q->p++; ws(q);
        if (q->p < q->end && *q->p == (obj ? '}' : ']')) { q->p++; q->depth--; return n; }
        for (;;) {
            node_t *k = NULL, *v;
            if (obj) {
                ws(q);
                if (q->p >= q->end || *q->p != '"') return NULL;
                if (!(k = parse_string(q))) return NULL;
                ws(q);
                if (q->p >= q->end || *q->p != ':') return NULL;
                q->p++;
            }
            if (!(v = parse_value(q))) return NULL;
            if (n->nk + 2 > cap) {
                cap = cap ? cap * 2 : 8;
                node_t **kk = realloc(n->kids, cap * sizeof *kk); if (!kk) return NULL; n->kids = kk;
            }
            if (obj) n->kids[n->nk++] = k;
            n->kids[n->nk++] = v;
            ws(q);
            if (q->p < q->end && *q->p == ',') { q->p++; continue; }
            if (q->p < q->end && *q->p == (obj ? '}' : ']')) { q->p++; q->depth--; return n; }
            return NULL;
        }
    }
    if (q->end - q->p >= 4 && memcmp(q->p, "null", 4) == 0) { q->p += 4; return newnode(J_NULL); }
    if (q->end - q->p >= 4 && memcmp(q->p, "true", 4) == 0) { q->p += 4; return newnode(J_TRUE); }
    if (q->end - q->p >= 5 && memcmp(q->p, "false", 5) == 0) { q->p += 5; return newnode(J_FALSE); }
    if (q->end - q->p >= 3 && memcmp(q->p, "NaN", 3) == 0) { q->p += 3; node_t *n = newnode(J_FLOAT); if (n) n->d = NAN; return n; }
    if (q->end - q->p >= 8 && memcmp(q->p, "Infinity", 8) == 0) { q->p += 8; node_t *n = newnode(J_FLOAT); if (n) n->d = INFINITY; return n; }
    return parse_number(q);
}

/* ---- UTF-8 ---- */
static int valid_utf8(const unsigned char *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        unsigned c = s[i];
        if (c < 0x80) { i++; continue; }
        size_t k; unsigned cp;
        if (c >= 0xC2 && c <= 0xDF) { k = 1; cp = c & 0x1F; }
        else if (c >= 0xE0 && c <= 0xEF) { k = 2; cp = c & 0x0F; }
        else if (c >= 0xF0 && c <= 0xF4) { k = 3; cp = c & 0x07; }
        else return 0;
        if (i + k >= n) return 0;
        for (size_t j = 1; j <= k; j++) { if (i + j >= n || (s[i + j] & 0xC0) != 0x80) return 0; cp = cp << 6 | (s[i + j] & 0x3F); }
        if ((k == 2 && cp < 0x800) || (k == 3 && (cp < 0x10000 || cp > 0x10FFFF)) || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
        i += k + 1;
    }
    return 1;
}
static size_t cp_count(const char *s, size_t n) {
    size_t c = 0;
    for (size_t i = 0; i < n; i++) c += ((unsigned char)s[i] & 0xC0) != 0x80;
    return c;
}

/* ---- serialization (json.dumps) ---- */
static void put_float(buf_t *b, double d) {
    if (isnan(d)) { bstr(b, "NaN"); return; }
    if (isinf(d)) { bstr(b, d < 0 ? "-Infinity" : "Infinity"); return; }
    if (d == 0) { bstr(b, signbit(d) ? "-0.0" : "0.0"); return; }
    char t[64], digits[32];
    int prec;
    for (prec = 1; prec <= 17; prec++) { snprintf(t, sizeof t, "%.*e", prec - 1, d); if (strtod(t, NULL) == d) break; }
    const char *p = t; int nd = 0;
    if (*p == '-') { bch(b, '-'); p++; }
    for (; *p && *p != 'e'; p++) if (*p != '.') digits[nd++] = *p;
    int ex = atoi(p + 1);
    while (nd > 1 && digits[nd - 1] == '0') nd--;
    digits[nd] = 0;
    if (ex >= -4 && ex < 16) {
        if (ex >= 0) {
            for (int i = 0; i <= ex; i++) bch(b, i < nd ? digits[i] : '0');
            bch(b, '.');
            if (nd > ex + 1) bput(b, digits + ex + 1, (size_t)(nd - ex - 1)); else bch(b, '0');
        } else {
            bstr(b, "0.");
            for (int i = 0; i < -ex - 1; i++) bch(b, '0');
            bput(b, digits, (size_t)nd);
        }
    } else {
        bch(b, digits[0]);
        if (nd > 1) { bch(b, '.'); bput(b, digits + 1, (size_t)(nd - 1)); }
        char e[16]; snprintf(e, sizeof e, "e%c%02d", ex < 0 ? '-' : '+', ex < 0 ? -ex : ex);
        bstr(b, e);
    }
}
static void put_jstr(buf_t *b, const char *s, size_t n, int ascii) {
    bch(b, '"');
    for (size_t i = 0; i < n;) {
        unsigned char c = (unsigned char)s[i];
        char e[16];
        if (c == '"') { bstr(b, "\\\""); i++; }
        else if (c == '\\') { bstr(b, "\\\\"); i++; }
        else if (c == '\n') { bstr(b, "\\n"); i++; }
        else if (c == '\r') { bstr(b, "\\r"); i++; }
        else if (c == '\t') { bstr(b, "\\t"); i++; }
        else if (c == '\b') { bstr(b, "\\b"); i++; }
        else if (c == '\f') { bstr(b, "\\f"); i++; }
        else if (c < 0x20 || (ascii && c == 0x7f)) { snprintf(e, sizeof e, "\\u%04x", c); bstr(b, e); i++; }
        else if (c < 0x80 || !ascii) { bput(b, s + i, 1); i++; }
        else {
            unsigned cp; size_t k;
            if (c < 0xE0) { cp = c & 0x1F; k = 1; } else if (c < 0xF0) { cp = c & 0x0F; k = 2; } else { cp = c & 0x07; k = 3; }
            for (size_t j = 1; j <= k && i + j < n; j++) cp = cp << 6 | ((unsigned char)s[i + j] & 0x3F);
            i += k + 1;
            if (cp >= 0xD800 && cp <= 0xDFFF && ascii == 2) cp = 0xFFFD; /* text.clean_text */
            if (cp >= 0x10000) {
                cp -= 0x10000;
                snprintf(e, sizeof e, "\\u%04x\\u%04x", 0xD800 + (cp >> 10), 0xDC00 + (cp & 0x3FF));
            } else snprintf(e, sizeof e, "\\u%04x", cp);
            bstr(b, e);
        }
    }
    bch(b, '"');
}
static int keycmp(const void *a, const void *b) {
    const node_t *x = **(node_t *const *const *)a, *y = **(node_t *const *const *)b;
    size_t m = x->n < y->n ? x->n : y->n;
    int r = memcmp(x->s, y->s, m);
    return r ? r : (x->n > y->n) - (x->n < y->n);
}
static int g_delegate;
/* json.dumps(v, ensure_ascii=False, sort_keys=True, separators=(",", ":")) */
static void canon(buf_t *b, node_t *v) {
    switch (v->type) {
    case J_NULL: bstr(b, "null"); return;
    case J_TRUE: bstr(b, "true"); return;
    case J_FALSE: bstr(b, "false"); return;
    case J_INT: bput(b, v->s, v->n); return;
    case J_FLOAT: put_float(b, v->d); return;
    case J_STR: put_jstr(b, v->s, v->n, 0); return;
    case J_ARR:
        bch(b, '[');
        for (size_t i = 0; i < v->nk; i++) { if (i) bch(b, ','); canon(b, v->kids[i]); }
        bch(b, ']');
        return;
    case J_OBJ: {
        size_t np = v->nk / 2;
        node_t ***idx = malloc((np ? np : 1) * sizeof *idx);
        if (!idx) { b->oom = 1; return; }
        for (size_t i = 0; i < np; i++) idx[i] = &v->kids[2 * i];
        qsort(idx, np, sizeof *idx, keycmp);
        bch(b, '{');
        for (size_t i = 0; i < np; i++) {
            if (i && keycmp(&idx[i - 1], &idx[i]) == 0) g_delegate = 1; /* duplicate key */
            if (i) bch(b, ',');
            put_jstr(b, idx[i][0]->s, idx[i][0]->n, 0);
            bch(b, ':');
            canon(b, idx[i][1]);
        }
        bch(b, '}');
        free(idx);
        return;
    }
    }
}
/* {"len": N, "sha256": "..."} of a value's text (otel_agents.text.fingerprint) */
static void put_fingerprint(buf_t *out, node_t *v) {
    char hex[65], num[32];
    size_t len;
    if (v->type == J_STR) { sha256_hex(v->s, v->n, hex); len = cp_count(v->s, v->n); }
    else {
        buf_t t = {0};
        canon(&t, v);
        if (t.oom) g_delegate = 1;
        sha256_hex(t.p ? t.p : "", t.n, hex); len = cp_count(t.p ? t.p : "", t.n); free(t.p);
    }
    snprintf(num, sizeof num, "%zu", len);
    bstr(out, "{\"len\":"); bstr(out, num); bstr(out, ",\"sha256\":\""); bstr(out, hex); bstr(out, "\"}");
}
static int in_list(const char *const *l, const char *s, size_t n) {
    for (; *l; l++) if (strlen(*l) == n && memcmp(*l, s, n) == 0) return 1;
    return 0;
}
static int str_is(node_t *v, const char *s) { return v && v->type == J_STR && v->n == strlen(s) && memcmp(v->s, s, v->n) == 0; }
static void put_scalar(buf_t *b, node_t *v) {
    if (v->type == J_NULL) bstr(b, "null"); else if (v->type == J_TRUE) bstr(b, "true");
    else if (v->type == J_FALSE) bstr(b, "false"); else if (v->type == J_INT) bput(b, v->s, v->n);
    else put_float(b, v->d);
}
static int is_scalar(node_t *v) { return v->type != J_STR && v->type != J_ARR && v->type != J_OBJ; }

/* ---- files ---- */
static char *join(const char *a, const char *b) {
    size_t n = strlen(a);
    char *r = malloc(n + strlen(b) + 2);
    if (!r) return NULL;
    if (*b == '/' ) { strcpy(r, b); return r; }
    strcpy(r, a);
    if (n && a[n - 1] != '/') strcat(r, "/");
    strcat(r, b);
    return r;
}
static void makedirs(const char *path) {
    struct stat st;
    if (!*path || stat(path, &st) == 0) return;
    char *p = strdup(path); if (!p) return;
    char *slash = strrchr(p, '/');
    if (slash && slash != p) { *slash = 0; makedirs(p); }
    if (mkdir(path, 0700) == 0) chmod(path, 0700);
    free(p);
}
static char *dirname_of(const char *path) {
    char *d = strdup(path); if (!d) return NULL;
    char *s = strrchr(d, '/');
    if (s && s != d) *s = 0; else if (s) s[1] = 0; else strcpy(d, ".");
    return d;
}
/* one write on an O_APPEND descriptor; a short write is cut off again (layout.append_line) */
static int append_line(const char *path, const char *data, size_t n, int do_fsync) {
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0 && errno == ENOENT) {
        char *d = dirname_of(path); if (d) { makedirs(d); free(d); }
        fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    }
    if (fd < 0) return -1;
    ssize_t w = write(fd, data, n);
    int rc = 0;
    if (w != (ssize_t)n) {
        rc = -1;
        if (w > 0) {
            struct stat st;
            if (fstat(fd, &st) == 0 && st.st_size >= w) {
                char *tail = malloc((size_t)w);
                int r = open(path, O_RDONLY | O_CLOEXEC);
                if (tail && r >= 0 && pread(r, tail, (size_t)w, st.st_size - w) == w && memcmp(tail, data, (size_t)w) == 0)
                    if (ftruncate(fd, st.st_size - w)) {}
                if (r >= 0) close(r);
                free(tail);
            }
        }
    } else if (do_fsync) fsync(fd);
    close(fd);
    return rc;
}
static long long now_ns(void) { struct timespec ts; clock_gettime(CLOCK_REALTIME, &ts); return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec; }

static const char *g_home;
static const unsigned char *g_raw; static size_t g_rawn;
/* layout.log_problem: one JSON line in <home>/claude-code/hook.log */
static void log_problem(const char *kind, const char *detail, int with_raw) {
    buf_t b = {0};
    char num[64], hex[65];
    snprintf(num, sizeof num, "{\"t\": %lld, \"kind\": ", now_ns());
    bstr(&b, num); put_jstr(&b, kind, strlen(kind), 1);
    bstr(&b, ", \"detail\": "); put_jstr(&b, detail, strlen(detail), 1);
    snprintf(num, sizeof num, ", \"pid\": %d", (int)getpid()); bstr(&b, num);
    if (with_raw) {
        sha256_hex(g_raw ? (const void *)g_raw : "", g_rawn, hex);
        snprintf(num, sizeof num, ", \"bytes\": %zu, \"sha256\": \"", g_rawn);
        bstr(&b, num); bstr(&b, hex); bstr(&b, "\"");
    }
    bstr(&b, "}\n");
    char *root = join(g_home, SHARED_DIR), *path = root ? join(root, "hook.log") : NULL;
    if (path && !b.oom) {
        struct stat st;
        if (stat(path, &st) == 0 && st.st_size > LOG_ROTATE_BYTES) {
            char *old = malloc(strlen(path) + 3);
            if (old) { sprintf(old, "%s.1", path); rename(path, old); free(old); }
        }
        append_line(path, b.p, b.n, 0);
    }
    free(root); free(path); free(b.p);
}

/* ---- settings (capture.hook_settings) ---- */
static int to_bool(const char *v) { /* 1 on, 0 off, -1 neither */
    if (!v) return -1;
    while (*v == ' ' || (*v >= '\t' && *v <= '\r') || (*v >= 0x1c && *v <= 0x1f)) v++;
    size_t n = strlen(v);
    while (n && (v[n - 1] == ' ' || (v[n - 1] >= '\t' && v[n - 1] <= '\r') || (v[n - 1] >= 0x1c && v[n - 1] <= 0x1f))) n--;
    if (n == 0 || n > 5) return -1;
    char l[8]; for (size_t i = 0; i < n; i++) l[i] = (char)((v[i] >= 'A' && v[i] <= 'Z') ? v[i] + 32 : v[i]); l[n] = 0;
    if (!strcmp(l, "1") || !strcmp(l, "true") || !strcmp(l, "yes") || !strcmp(l, "on")) return 1;
    if (!strcmp(l, "0") || !strcmp(l, "false") || !strcmp(l, "no") || !strcmp(l, "off")) return 0;
    return -1;
}
static const char *const SETTING_NAMES[3] = {"capture_content", "claude_code.auto_drain", "claude_code.fsync"};
static const char *const SETTING_ENVS[3] = {"OTEL_AGENTS_CAPTURE_CONTENT", "OTEL_AGENTS_CLAUDE_CODE_AUTO_DRAIN", "OTEL_AGENTS_CLAUDE_CODE_FSYNC"};
/* returns 0, or -1 when the cached form of config.toml is missing or stale (the Python hook rebuilds it) */
static int settings(int out[3]) {
    out[0] = 0; out[1] = 1; out[2] = 0;
    char *cfg = join(g_home, "config.toml");
    struct stat st;
    int ok = 0;
    if (cfg && stat(cfg, &st) == 0) {
        ok = -1;
        char *root = join(g_home, SHARED_DIR), *cache = root ? join(root, "config-cache.json") : NULL;
        FILE *f = cache ? fopen(cache, "rb") : NULL;
        if (f) {
            char data[8192]; size_t n = fread(data, 1, sizeof data - 1, f); fclose(f);
            parser_t q = {(unsigned char *)data, (unsigned char *)data + n, 0, 0};
            node_t *v = n < sizeof data - 1 ? parse_value(&q) : NULL;
            if (v && v->type == J_OBJ) {
                char want[96];
                snprintf(want, sizeof want, "[%lld,%lld,%llu]", (long long)st.st_mtim.tv_sec * 1000000000LL + st.st_mtim.tv_nsec,
                         (long long)st.st_size, (unsigned long long)st.st_ino);
                node_t *key = NULL, *vals = NULL;
                for (size_t i = 0; i < v->nk; i += 2) {
                    if (str_is(v->kids[i], "key")) key = v->kids[i + 1];
                    if (str_is(v->kids[i], "values")) vals = v->kids[i + 1];
                }
                buf_t kb = {0};
                if (key) canon(&kb, key);
                if (key && kb.p && !strcmp(kb.p, want) && (!vals || vals->type == J_OBJ || vals->type == J_NULL)) {
                    ok = 0;
                    for (size_t i = 0; vals && vals->type == J_OBJ && i < vals->nk; i += 2)
                        for (int s = 0; s < 3; s++)
                            if (str_is(vals->kids[i], SETTING_NAMES[s])) {
                                int t = vals->kids[i + 1]->type;
                                if (t == J_TRUE) out[s] = 1; else if (t == J_FALSE) out[s] = 0; else ok = -1;
                            }
                }
                free(kb.p);
            }
        }
        free(root); free(cache);
    }
    free(cfg);
    for (int s = 0; s < 3; s++) { int b = to_bool(getenv(SETTING_ENVS[s])); if (b >= 0) out[s] = b; }
    return ok;
}

/* ---- handing over to the Python hook ---- */
static int g_frames; /* test mode (--frames): a hand-over is reported, not executed */
static void delegate(long long received) {
    if (g_frames) _exit(3);
    int fds[2];
    if (g_rawn <= 60000 && pipe(fds) == 0) {
        if (g_rawn && write(fds[1], g_raw, g_rawn) != (ssize_t)g_rawn) _exit(0);
        close(fds[1]);
        dup2(fds[0], 0); close(fds[0]);
    } else {
        FILE *t = tmpfile();
        if (!t) _exit(0);
        if (g_rawn && fwrite(g_raw, 1, g_rawn, t) != g_rawn) _exit(0);
        fflush(t); lseek(fileno(t), 0, SEEK_SET);
        dup2(fileno(t), 0);
    }
    char num[32]; snprintf(num, sizeof num, "%lld", received);
    setenv("OTEL_AGENTS_HOOK_RECEIVED_NS", num, 1);
    char *argv[] = {(char *)OA_PYTHON, (char *)"-c", (char *)OA_HOOK_PROGRAM, (char *)OA_PACKAGE_ROOT, (char *)g_cli, NULL};
    execv(OA_PYTHON, argv);
    _exit(0);
}
/* capture.spawn_drain: a new session (setsid), /dev/null streams, a new interpreter. One fork,
 * not waited for: the hook exits at once and the drain, orphaned, is reaped by init (the
 * Python hook's double fork gives the same; waiting for a first child cost a scheduling
 * round trip at every drain event). */
static void spawn_drain(const char *sid) {
    pid_t pid = fork();
    if (pid < 0) { log_problem("drain_spawn", "fork failed", 0); return; }
    if (pid) return;
    setsid();
    int null = open("/dev/null", O_RDWR);
    if (null >= 0) { dup2(null, 0); dup2(null, 1); dup2(null, 2); if (null > 2) close(null); }
    char *argv[] = {(char *)OA_PYTHON, (char *)"-c", (char *)OA_DRAIN_PROGRAM, (char *)g_home, (char *)sid, (char *)OA_PACKAGE_ROOT, NULL, NULL};
    if (R->drain_agent) { argv[2] = (char *)OA_AGENT_DRAIN_PROGRAM; argv[6] = (char *)R->drain_agent; }
    execv(OA_PYTHON, argv);
    log_problem("drain_spawn", "cannot start the drain: exec failed", 0);
    _exit(0);
}

static const char *session_stem(node_t *sid, char *hashed) {
    int plain = sid->n > 0 && cp_count(sid->s, sid->n) <= 128 && sid->s[0] != '.' && sid->s[0] != '-';
    for (size_t i = 0; plain && i < sid->n; i++) {
        char c = sid->s[i];
        plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.';
    }
    if (plain) return NULL;
    char hex[65]; sha256_hex(sid->s, sid->n, hex);
    memcpy(hashed, "x-", 2); memcpy(hashed + 2, hex, 40); hashed[42] = 0;
    return hashed;
}
static int ascii_ws_only(const unsigned char *s, size_t n) {
    for (size_t i = 0; i < n; i++) if (!(s[i] == ' ' || (s[i] >= '\t' && s[i] <= '\r') || (s[i] >= 0x1c && s[i] <= 0x1f))) return 0;
    return 1;
}
static int has_non_ascii(const unsigned char *s, size_t n) { for (size_t i = 0; i < n; i++) if (s[i] & 0x80) return 1; return 0; }

static void run(long long received) {
    const char *parent = getenv("AGENTS_OTEL_PARENT");
    if (parent && *parent) delegate(received); /* the executor's home and parent: Python reads them */
    const char *h = getenv("OTEL_AGENTS_HOME"), *proj = getenv("CLAUDE_PROJECT_DIR");
    static char cwd[4096];
    if (h && *h) g_home = h;
    else if (proj && *proj) g_home = join(proj, ".otel-agents");
    else g_home = join(getcwd(cwd, sizeof cwd) ? cwd : ".", ".otel-agents");
    if (!g_home) return;
    if (g_rawn > MAX_STDIN_BYTES) { log_problem("too_large", "payload over 67108864 bytes dropped", 1); return; }
    if (!valid_utf8(g_raw, g_rawn)) delegate(received); /* Python's replacement rules */
    if (ascii_ws_only(g_raw, g_rawn)) { log_problem("empty", "empty payload", 1); return; }
    parser_t q = {g_raw, g_raw + g_rawn, 0, 0};
    node_t *root = parse_value(&q);
    if (root) { ws(&q); if (q.p != q.end) root = NULL; }
    if (q.delegate || (!root && has_non_ascii(g_raw, g_rawn))) delegate(received);
    if (!root) { log_problem("malformed", "not JSON", 1); return; }
    if (root->type != J_OBJ) { log_problem("malformed", "payload is a JSON value, not an object", 1); return; }
    size_t np = root->nk / 2;
    node_t ***idx = malloc((np ? np : 1) * sizeof *idx);
    if (!idx) delegate(received);
    for (size_t i = 0; i < np; i++) idx[i] = &root->kids[2 * i];
    qsort(idx, np, sizeof *idx, keycmp);
    for (size_t i = 1; i < np; i++) if (keycmp(&idx[i - 1], &idx[i]) == 0) delegate(received); /* last value wins, first place */
    free(idx);
    node_t *sid = NULL, *event = NULL, *error = NULL;
    for (size_t i = 0; i < root->nk; i += 2) {
        if (str_is(root->kids[i], R->session_field)) sid = root->kids[i + 1];
        if (str_is(root->kids[i], R->event_field)) event = root->kids[i + 1];
        if (str_is(root->kids[i], "error")) error = root->kids[i + 1];
    }
    if (!sid || sid->type != J_STR || sid->n == 0) { log_problem("no_session", "payload without a string session_id", 1); return; }
    if (cp_count(sid->s, sid->n) > MAX_KEPT_CHARS) { log_problem("no_session", "session_id longer than 4096 characters", 1); return; }
    for (size_t i = 0; i + 2 < sid->n; i++) /* clean_text: a lone surrogate in the id becomes U+FFFD */
        if ((unsigned char)sid->s[i] == 0xED && (unsigned char)sid->s[i + 1] >= 0xA0) {
            sid->s[i] = (char)0xEF; sid->s[i + 1] = (char)0xBF; sid->s[i + 2] = (char)0xBD;
        }
    int set[3];
    if (settings(set) != 0 || set[0]) delegate(received); /* stale config cache, or content capture on */
    if (!event || event->type != J_STR) log_problem("wrong_type", "hook_event_name missing or not a string; recorded as unknown", 1);
    const char *evcontent = NULL;
    for (int i = 0; event && event->type == J_STR && R->event_content[i][0]; i++) if (str_is(event, R->event_content[i][0])) evcontent = R->event_content[i][1];

    buf_t b = {0};
    char num[48];
    snprintf(num, sizeof num, "{\"t\":%lld,\"e\":{", received);
    bstr(&b, num);
    int have_category = 0;
    /* StopFailure: error_category when "error" is a category word (capture.error_category) */
    char category[65] = {0};
    if (str_is(event, R->error_category_event) && error && error->type == J_STR && error->n > 0 && error->n <= 64) {
        int ok = 0;
        for (size_t i = 0; i < error->n; i++) {
            unsigned char c = (unsigned char)error->s[i];
            if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) ok = 1;
            else if (c != '_' && c != '-') { ok = 0; break; }
        }
        if (ok) { memcpy(category, error->s, error->n); have_category = 1; }
    }
    for (size_t i = 0; i < root->nk; i += 2) {
        node_t *k = root->kids[i], *v = root->kids[i + 1];
        if (i) bch(&b, ',');
        put_jstr(&b, k->s, k->n, 1);
        bch(&b, ':');
        if (have_category && str_is(k, "error_category")) { put_jstr(&b, category, strlen(category), 1); have_category = 2; continue; }
        int content_for_event = evcontent && k->n == strlen(evcontent) && memcmp(k->s, evcontent, k->n) == 0;
        if (content_for_event) put_fingerprint(&b, v);
        else if (in_list(R->keep, k->s, k->n)) {
            if (is_scalar(v)) put_scalar(&b, v);
            else if (v->type == J_STR && cp_count(v->s, v->n) <= MAX_KEPT_CHARS) put_jstr(&b, v->s, v->n, 2);
            else { bstr(&b, "{\"fingerprint\":"); put_fingerprint(&b, v); bch(&b, '}'); }
        } else if (in_list(R->content, k->s, k->n)) put_fingerprint(&b, v);
        else if (is_scalar(v)) put_scalar(&b, v);
        else { bstr(&b, "{\"fingerprint\":"); put_fingerprint(&b, v); bch(&b, '}'); }
    }
    if (have_category == 1) { if (root->nk) bch(&b, ','); bstr(&b, "\"error_category\":"); put_jstr(&b, category, strlen(category), 1); }
    bstr(&b, "}}\n");
    if (g_delegate || b.oom) delegate(received);

    char hashed[48];
    const char *stem = session_stem(sid, hashed);
    char *name = malloc((stem ? strlen(stem) : sid->n) + 7);
    if (!name) delegate(received);
    if (stem) strcpy(name, stem); else { memcpy(name, sid->s, sid->n); name[sid->n] = 0; }
    strcat(name, ".jsonl");
    char *r1 = join(g_home, R->spool_dir), *r2 = r1 ? join(r1, "sessions") : NULL, *path = r2 ? join(r2, name) : NULL;
    if (!path) return;
    if (append_line(path, b.p, b.n, set[2]) != 0) {
        char d[300]; snprintf(d, sizeof d, "OSError: cannot append to the spool: %s", strerror(errno));
        log_problem("internal", d, 1);
        return;
    }
    if (set[1] && event && event->type == J_STR) {
        for (int i = 0; R->drain[i]; i++) if (str_is(event, R->drain[i])) {
            char *s = malloc(sid->n + 1); if (!s) return;
            memcpy(s, sid->s, sid->n); s[sid->n] = 0;
            spawn_drain(s);
        }
    }
}

/* [cli] --frames: the fuzz suite's fast path. Frames on stdin (8-byte big-endian length, payload);
 * each is handled by a forked child exactly as one hook process handles its stdin, and one
 * line answers it: "native" or "python" (handed over; the suite runs the Python hook on it). */
static int frames(void) {
    unsigned char hdr[8];
    g_frames = 1;
    for (;;) {
        size_t got = 0;
        while (got < 8) { ssize_t r = read(0, hdr + got, 8 - got); if (r <= 0) return 0; got += (size_t)r; }
        uint64_t len = 0;
        for (int i = 0; i < 8; i++) len = len << 8 | hdr[i];
        unsigned char *data = malloc(len ? len : 1);
        if (!data) return 1;
        for (got = 0; got < len;) { ssize_t r = read(0, data + got, len - got); if (r <= 0) return 1; got += (size_t)r; }
        pid_t pid = fork();
        if (pid == 0) {
            g_raw = data; g_rawn = len;
            int null = open("/dev/null", O_RDWR);
            if (null >= 0) { dup2(null, 0); dup2(null, 1); dup2(null, 2); }
            run(now_ns());
            _exit(0);
        }
        int status = 0;
        if (pid > 0) waitpid(pid, &status, 0);
        free(data);
        const char *ans = pid < 0 ? "error\n" : WIFEXITED(status) && WEXITSTATUS(status) == 3 ? "python\n" : WIFEXITED(status) && WEXITSTATUS(status) == 0 ? "native\n" : "crashed\n";
        if (write(1, ans, strlen(ans)) < 0) return 1;
    }
}

int main(int argc, char **argv) {
    /* argv[1]: the CLI (none: Claude Code); `--frames` (alone or after the CLI): the fuzz suite's mode */
    const char *cli = argc > 1 && strcmp(argv[1], "--frames") != 0 ? argv[1] : NULL;
    int framed = (argc > 1 && strcmp(argv[1], "--frames") == 0) || (cli && argc > 2 && strcmp(argv[2], "--frames") == 0);
    int known = cli == NULL;
    if (cli) g_cli = cli;
    for (size_t i = 0; !known && i < sizeof RULES / sizeof RULES[0]; i++)
        if (strcmp(cli, RULES[i].name) == 0) { R = &RULES[i]; known = 1; }
    if (framed) return known ? frames() : 2;
    long long received = now_ns();
    const char *given = getenv("OTEL_AGENTS_HOOK_RECEIVED_NS"); /* stamped by whoever received it first */
    if (given && *given && strspn(given, "0123456789") == strlen(given) && strlen(given) <= 19) received = strtoll(given, NULL, 10);
    /* stdin: at most MAX_STDIN_BYTES + 1 kept, the rest read and dropped */
    size_t cap = 1 << 16, n = 0;
    unsigned char *data = malloc(cap);
    if (data) {
        for (;;) {
            if (n == cap) {
                if (cap > MAX_STDIN_BYTES) { char sink[65536]; while (read(0, sink, sizeof sink) > 0) {} break; }
                size_t c = cap * 2 > (size_t)MAX_STDIN_BYTES + 1 ? (size_t)MAX_STDIN_BYTES + 1 : cap * 2;
                unsigned char *q = realloc(data, c);
                if (!q) { char sink[65536]; while (read(0, sink, sizeof sink) > 0) {} break; }
                data = q; cap = c;
            }
            ssize_t r = read(0, data + n, cap - n);
            if (r < 0 && errno == EINTR) continue;
            if (r <= 0) break;
            n += (size_t)r;
        }
    }
    g_raw = data; g_rawn = data ? n : 0;
    int null = open("/dev/null", O_WRONLY); /* print nothing, whatever happens */
    if (null >= 0) { dup2(null, 1); dup2(null, 2); if (null > 2) close(null); }
    if (!known) delegate(received); /* a CLI without rules here: the Python hook */
    run(received);
    return 0;
}
