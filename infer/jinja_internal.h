/*
 * Private to infer/jinja_*.c: the arena, the value model, tokens and the syntax tree.
 *
 * Memory: a compiled template owns one arena (tokens' decoded strings, nodes); a render owns
 * another (every value it creates), freed in one go, with a byte limit so a hostile template
 * cannot exhaust memory. Values are small structs passed by value; strings are (pointer,
 * length) slices that are never modified once made; lists and dicts are arena objects.
 */
#ifndef DT_INFER_JINJA_INTERNAL_H
#define DT_INFER_JINJA_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

struct jchunk;

struct jarena {
    struct jchunk *head;
    size_t n_bytes; /* allocated so far */
    size_t limit;   /* 0: none */
};

void *ja_alloc(struct jarena *a, size_t n_bytes); /* zeroed; NULL past the limit or on OOM */
void ja_release(struct jarena *a);

enum jv_type {
    JV_UNDEF,
    JV_NONE,
    JV_BOOL,
    JV_INT,
    JV_FLOAT,
    JV_STR,
    JV_LIST,
    JV_DICT,
    JV_MACRO, /* u.m: the N_MACRO node */
    JV_FUNC,  /* u.i: a builtin global (enum in jinja_eval.c) */
};

struct jlist;
struct jdict;
struct jnode;

typedef struct jv {
    enum jv_type t;
    union {
        int64_t i; /* JV_BOOL, JV_INT, JV_FUNC */
        double f;
        struct {
            const char *p;
            size_t n;
        } s;
        struct jlist *l;
        struct jdict *d;
        const struct jnode *m;
    } u;
} jv;

struct jlist {
    size_t n, cap;
    jv *v;
};

struct jdict { /* insertion-ordered; keys compared by value */
    size_t n, cap;
    jv *k, *v;
    int is_namespace;
};

enum jnode_kind {
    /* statements */
    N_BODY,     /* kids: statements */
    N_TEXT,     /* s, n */
    N_OUT,      /* a: expression */
    N_IF,       /* a: condition, body, orelse (N_IF for elif, N_BODY, or NULL) */
    N_FOR,      /* a: target (E_NAME or E_TUPLE), b: iterable, c: filter or NULL, body, orelse */
    N_SET,      /* a: target (E_NAME, E_TUPLE, E_ATTR), b: value */
    N_SETBLOCK, /* a: target, body */
    N_MACRO,    /* s: name, kids: parameters (E_NAME, a: default or NULL), body */
    N_BREAK,
    N_CONTINUE,
    /* expressions */
    E_LIT,    /* lit */
    E_NAME,   /* s, n */
    E_ATTR,   /* a . s */
    E_INDEX,  /* a [ b ] */
    E_SLICE,  /* a [ kids[0] : kids[1] : kids[2] ] (each may be NULL) */
    E_CALL,   /* a ( kids ), knames[i] non-NULL for keyword arguments */
    E_FILTER, /* a | s ( kids ) */
    E_TEST,   /* a is [not] s ( kids ); op = 1 when negated */
    E_NEG,    /* - a */
    E_NOT,    /* not a */
    E_BIN,    /* a op b */
    E_AND,
    E_OR,
    E_COND,  /* a if b else c (c may be NULL) */
    E_LIST,  /* kids */
    E_TUPLE, /* kids */
    E_DICT,  /* kids: key, value, key, value ... */
};

enum jbin_op {
    OP_ADD = 1,
    OP_SUB,
    OP_MUL,
    OP_DIV,
    OP_FLOORDIV,
    OP_MOD,
    OP_POW,
    OP_CONCAT,
    OP_EQ,
    OP_NE,
    OP_LT,
    OP_LE,
    OP_GT,
    OP_GE,
    OP_IN,
    OP_NOTIN,
};

struct jnode {
    enum jnode_kind kind;
    int op;
    unsigned line, col;
    const char *s;
    size_t n;
    jv lit;
    struct jnode *a, *b, *c, *body, *orelse;
    struct jnode **kids;
    const char **knames; /* NULL or n_kids entries */
    size_t n_kids;
};

/* The compiled template: the root N_BODY and the arena holding it. */
struct dt_jinja {
    struct jarena ar;
    struct jnode *root;
};

#endif
