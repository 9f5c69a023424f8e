/*
 * ledger.model._compose: compose_batch in C, the native twin of ledger.model.compose._py_compose_batch.
 *
 * It builds an institution-signed batch's RFC 9162 tree over the statement hashes, every leaf's
 * inclusion proof and every entry's canonical bytes in one call, hashing through the toolkit's
 * kernels (ledger.tlog._native's _C_API capsule, ledger/tlog/_native_api.h), so the kernel
 * choice (SHA-NI or libcrypto) is the toolkit's. tests/model/test_compose.py compares it byte for
 * byte with the pure twin; bad input raises TypeError/ValueError, never a crash.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "../tlog/_native_api.h"

static const eduledger_hash_api *H;

/* ---- compose_batch: the entries of an institution-signed batch ---------------------------- */

/* The batch tree of ledger/model/submission.py: leaf hashes of the statements, the RFC 9162 tree over
   them, every leaf's inclusion proof, and every entry's canonical bytes (the format of
   ledger.model.entries.compose_entry, whose Python definition tests/test_native_differential.py
   compares byte for byte):
     {"auth":{"batch":{"index":I,"proof":["<b64>",...],"size":N},"key":"<key>","sig":"<sig>"}, + statement[1:]
   Node ids: leaves are 0..n-1, inner nodes n..2n-2 in the order they are made. */

typedef struct {
    unsigned char *nodes;   /* 32 bytes per node id */
    uint32_t *proof;        /* 64 slots per leaf: node ids, leaf to root */
    unsigned char *depth;   /* proof length per leaf */
    uint32_t next;          /* next inner node id */
} batch_tree;

static uint32_t batch_mth(batch_tree *t, uint32_t lo, uint32_t hi) {
    if (hi - lo == 1) return lo;
    uint32_t k = 1;
    while (k << 1 < hi - lo) k <<= 1; /* the largest power of two below hi - lo */
    uint32_t l = batch_mth(t, lo, lo + k), r = batch_mth(t, lo + k, hi);
    for (uint32_t i = lo; i < lo + k; i++) t->proof[(size_t)i * 64 + t->depth[i]++] = r;
    for (uint32_t i = lo + k; i < hi; i++) t->proof[(size_t)i * 64 + t->depth[i]++] = l;
    uint32_t id = t->next++;
    H->node(t->nodes + (size_t)HASH * l, t->nodes + (size_t)HASH * r, t->nodes + (size_t)HASH * id);
    return id;
}

static const char B64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static void b64_hash(const unsigned char *h, char *out) { /* 32 bytes -> 44 characters, padded */
    int o = 0;
    for (int i = 0; i < 30; i += 3) {
        uint32_t v = (uint32_t)h[i] << 16 | (uint32_t)h[i + 1] << 8 | h[i + 2];
        out[o++] = B64[v >> 18]; out[o++] = B64[(v >> 12) & 63]; out[o++] = B64[(v >> 6) & 63]; out[o++] = B64[v & 63];
    }
    uint32_t v = (uint32_t)h[30] << 16 | (uint32_t)h[31] << 8;
    out[o++] = B64[v >> 18]; out[o++] = B64[(v >> 12) & 63]; out[o++] = B64[(v >> 6) & 63]; out[o] = '=';
}

/* A str of base64 characters (the caller has checked it is canonical base64). */
static const char *b64_arg(PyObject *o, Py_ssize_t *len, const char *what) {
    if (!PyUnicode_Check(o)) {
        PyErr_Format(PyExc_TypeError, "compose_batch: %s must be a str, not %.100s", what, Py_TYPE(o)->tp_name);
        return NULL;
    }
    const char *s = PyUnicode_AsUTF8AndSize(o, len);
    if (!s) return NULL;
    for (Py_ssize_t i = 0; i < *len; i++) {
        char c = s[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '/' || c == '=')) {
            PyErr_Format(PyExc_ValueError, "compose_batch: %s is not base64", what);
            return NULL;
        }
    }
    return s;
}

#define MAX_BATCH_ITEMS 1000000

/* compose_batch(statements, key, sig) -> (root, statement_hashes, proofs, entries) */
static PyObject *py_compose_batch(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 3) {
        PyErr_SetString(PyExc_TypeError, "compose_batch(statements, key, sig) takes 3 arguments");
        return NULL;
    }
    Py_ssize_t key_len, sig_len;
    const char *key = b64_arg(args[1], &key_len, "key");
    if (!key) return NULL;
    const char *sig = b64_arg(args[2], &sig_len, "sig");
    if (!sig) return NULL;
    entries e;
    batch_tree t = {0};
    PyObject *result = NULL, *hashes = NULL, *proofs = NULL, *datas = NULL, **node_objs = NULL;
    char *spelled = NULL;
    if (H->entries_get(args[0], &e, "compose_batch") < 0) goto done;
    Py_ssize_t n = e.n;
    if (n < 1 || n > MAX_BATCH_ITEMS) {
        PyErr_Format(PyExc_ValueError, "compose_batch: a batch has 1 to %d statements, got %zd", MAX_BATCH_ITEMS, n);
        goto done;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        if (e.lens[i] < 2 || e.ptrs[i][0] != '{') {
            PyErr_Format(PyExc_ValueError, "compose_batch: statement %zd is not a JSON object's canonical bytes", i);
            goto done;
        }
    }
    size_t nodes = 2 * (size_t)n - 1;
    t.nodes = PyMem_Malloc(nodes * HASH);
    t.proof = PyMem_Malloc((size_t)n * 64 * sizeof *t.proof);
    t.depth = PyMem_Calloc((size_t)n, 1);
    spelled = PyMem_Malloc(nodes * 44);
    node_objs = PyMem_Calloc(nodes, sizeof *node_objs);
    unsigned char **outs = PyMem_Malloc((size_t)n * sizeof *outs);
    if (!t.nodes || !t.proof || !t.depth || !spelled || !node_objs || !outs) { PyMem_Free(outs); PyErr_NoMemory(); goto done; }
    for (Py_ssize_t i = 0; i < n; i++) outs[i] = t.nodes + (size_t)HASH * i;
    t.next = (uint32_t)n;
    uint32_t root_id;
    Py_BEGIN_ALLOW_THREADS
    H->leaves(e.ptrs, e.lens, (size_t)n, outs);
    root_id = batch_mth(&t, 0, (uint32_t)n);
    for (size_t i = 0; i < nodes; i++) b64_hash(t.nodes + HASH * i, spelled + 44 * i);
    Py_END_ALLOW_THREADS
    PyMem_Free(outs);

    hashes = PyList_New(n);
    proofs = PyList_New(n);
    datas = PyList_New(n);
    if (!hashes || !proofs || !datas) goto done;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *h = PyBytes_FromStringAndSize((const char *)t.nodes + HASH * i, HASH);
        if (!h) goto done;
        PyList_SET_ITEM(hashes, i, h);
    }
    char head[96], tail[32];
    int tail_len = snprintf(tail, sizeof tail, "],\"size\":%zd},\"key\":\"", n);
    for (Py_ssize_t i = 0; i < n; i++) {
        int d = t.depth[i];
        const uint32_t *ids = t.proof + (size_t)i * 64;
        PyObject *tuple = PyTuple_New(d);
        if (!tuple) goto done;
        PyList_SET_ITEM(proofs, i, tuple);
        for (int j = 0; j < d; j++) {
            uint32_t id = ids[j];
            if (!node_objs[id]) {
                node_objs[id] = PyBytes_FromStringAndSize((const char *)t.nodes + HASH * (size_t)id, HASH);
                if (!node_objs[id]) goto done;
            }
            Py_INCREF(node_objs[id]);
            PyTuple_SET_ITEM(tuple, j, node_objs[id]);
        }
        int head_len = snprintf(head, sizeof head, "{\"auth\":{\"batch\":{\"index\":%zd,\"proof\":[", i);
        Py_ssize_t len = head_len + (d ? 47 * d - 1 : 0) + tail_len + key_len + 9 + sig_len + 3 + (e.lens[i] - 1);
        PyObject *data = PyBytes_FromStringAndSize(NULL, len);
        if (!data) goto done;
        PyList_SET_ITEM(datas, i, data);
        char *p = PyBytes_AS_STRING(data);
        memcpy(p, head, (size_t)head_len); p += head_len;
        for (int j = 0; j < d; j++) {
            if (j) *p++ = ',';
            *p++ = '"';
            memcpy(p, spelled + 44 * (size_t)ids[j], 44); p += 44;
            *p++ = '"';
        }
        memcpy(p, tail, (size_t)tail_len); p += tail_len;
        memcpy(p, key, (size_t)key_len); p += key_len;
        memcpy(p, "\",\"sig\":\"", 9); p += 9;
        memcpy(p, sig, (size_t)sig_len); p += sig_len;
        memcpy(p, "\"},", 3); p += 3;
        memcpy(p, e.ptrs[i] + 1, (size_t)e.lens[i] - 1);
    }
    PyObject *root = PyBytes_FromStringAndSize((const char *)t.nodes + HASH * (size_t)root_id, HASH);
    if (!root) goto done;
    result = PyTuple_Pack(4, root, hashes, proofs, datas);
    Py_DECREF(root);
done:
    Py_XDECREF(hashes);
    Py_XDECREF(proofs);
    Py_XDECREF(datas);
    if (node_objs) {
        for (size_t i = 0; i < 2 * (size_t)(e.n > 0 ? e.n : 1) - 1; i++) Py_XDECREF(node_objs[i]);
        PyMem_Free(node_objs);
    }
    PyMem_Free(spelled);
    PyMem_Free(t.nodes);
    PyMem_Free(t.proof);
    PyMem_Free(t.depth);
    H->entries_free(&e);
    return result;
}

static PyMethodDef methods[] = {
    {"compose_batch", (PyCFunction)(void (*)(void))py_compose_batch, METH_FASTCALL, "compose_batch(statements, key, sig) -> (root, statement_hashes, proofs, entries): a signed batch's tree and entry bytes."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "ledger.model._compose",
    .m_doc = "compose_batch: a signed batch's tree, proofs and entry bytes, hashed by ledger.tlog._native's kernels.",
    .m_size = -1,
    .m_methods = methods,
};

PyMODINIT_FUNC PyInit__compose(void) {
    H = (const eduledger_hash_api *)PyCapsule_Import(EDULEDGER_HASH_API_CAPSULE, 0);
    if (!H) return NULL;
    if (H->version != EDULEDGER_HASH_API_VERSION) {
        PyErr_Format(PyExc_ImportError, "ledger.tlog._native has C API version %d, want %d", H->version, EDULEDGER_HASH_API_VERSION);
        return NULL;
    }
    return PyModule_Create(&module);
}
