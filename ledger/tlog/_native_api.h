/*
 * The C interface of ledger.tlog._native for other extensions of the project.
 *
 * ledger.tlog._native exports a capsule (``_C_API``) holding an eduledger_hash_api: the SHA-256
 * kernels (whichever one the module selected: SHA-NI or libcrypto) and the helper that snapshots a
 * Python sequence of bytes-like items. ledger/model/_compose.c, which composes the entries of a
 * signed batch, hashes through it, so the toolkit's kernels know nothing of entries.
 */
#ifndef EDULEDGER_NATIVE_API_H
#define EDULEDGER_NATIVE_API_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#define HASH 32
#define EDULEDGER_HASH_API_CAPSULE "ledger.tlog._native._C_API"
#define EDULEDGER_HASH_API_VERSION 1

/* A snapshot of a sequence of bytes-like items (see entries_get in _native.c). */
typedef struct {
    PyObject *tuple;        /* our own snapshot of the items: immutable while the GIL is released */
    const unsigned char **ptrs;
    Py_ssize_t *lens;
    Py_buffer *views;       /* only for items that are not bytes */
    Py_ssize_t n;
} entries;

typedef struct {
    int version;
    /* out = SHA-256(0x01 || l || r): an RFC 9162 node hash; callable without the GIL */
    void (*node)(const unsigned char *l, const unsigned char *r, unsigned char *out);
    /* outs[i] = SHA-256(0x00 || item i); callable without the GIL */
    void (*leaves)(const unsigned char *const *ptrs, const Py_ssize_t *lens, size_t n, unsigned char *const *outs);
    /* snapshot ``arg`` into ``e`` (0, or -1 with a Python exception set); ``fn`` names the caller in errors */
    int (*entries_get)(PyObject *arg, entries *e, const char *fn);
    void (*entries_free)(entries *e);
} eduledger_hash_api;

#endif
