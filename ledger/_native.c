/*
 * ledger._native: the RFC 9162 hot loops over OpenSSL's libcrypto.
 *
 * Same results as the pure-Python functions in ledger/_hashing.py (checked by
 * tests/test_native_differential.py). libcrypto because it is already on every
 * machine that has Python's hashlib, and its SHA-256 uses the CPU's SHA
 * extensions; we call the one-shot SHA256() (deprecated in OpenSSL 3 in favour
 * of EVP, but several times cheaper per call for 33- and 65-byte inputs, which
 * is all a Merkle tree hashes). The GIL is released around the hashing loops.
 */
#define PY_SSIZE_T_CLEAN
#define OPENSSL_SUPPRESS_DEPRECATED 1
#include <Python.h>
#include <openssl/sha.h>
#include <string.h>

#define HASH 32

/* The low-level SHA256_* calls go straight to the SHA-NI code; OpenSSL 3's one-shot SHA256()
   fetches an EVP implementation on every call, which costs more than hashing 65 bytes. */
static void leaf(const unsigned char *data, Py_ssize_t len, unsigned char *scratch, unsigned char *out) {
    static const unsigned char zero = 0x00;
    SHA256_CTX c;
    (void)scratch;
    SHA256_Init(&c);
    SHA256_Update(&c, &zero, 1);
    SHA256_Update(&c, data, (size_t)len);
    SHA256_Final(out, &c);
}

static void node(const unsigned char *l, const unsigned char *r, unsigned char *out) {
    unsigned char buf[1 + 2 * HASH];
    SHA256_CTX c;
    buf[0] = 0x01;
    memcpy(buf + 1, l, HASH);
    memcpy(buf + 1 + HASH, r, HASH);
    SHA256_Init(&c);
    SHA256_Update(&c, buf, sizeof buf);
    SHA256_Final(out, &c);
}

/* hash_leaves(items: Sequence[bytes]) -> list[bytes] */
static PyObject *hash_leaves(PyObject *self, PyObject *arg) {
    PyObject *seq = PySequence_Fast(arg, "hash_leaves takes a sequence of bytes");
    if (!seq) return NULL;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    PyObject **items = PySequence_Fast_ITEMS(seq);
    Py_ssize_t maxlen = 0, total = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        if (!PyBytes_Check(items[i])) {
            Py_DECREF(seq);
            PyErr_SetString(PyExc_TypeError, "hash_leaves items must be bytes");
            return NULL;
        }
        Py_ssize_t len = PyBytes_GET_SIZE(items[i]);
        if (len > maxlen) maxlen = len;
        total += len;
    }
    (void)total;
    unsigned char *out = PyMem_RawMalloc((size_t)(n ? n : 1) * HASH);
    unsigned char *scratch = PyMem_RawMalloc((size_t)maxlen + 1);
    const unsigned char **ptrs = PyMem_RawMalloc(sizeof(*ptrs) * (size_t)(n ? n : 1));
    Py_ssize_t *lens = PyMem_RawMalloc(sizeof(*lens) * (size_t)(n ? n : 1));
    if (!out || !scratch || !ptrs || !lens) {
        PyMem_RawFree(out); PyMem_RawFree(scratch); PyMem_RawFree(ptrs); PyMem_RawFree(lens);
        Py_DECREF(seq);
        return PyErr_NoMemory();
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        ptrs[i] = (const unsigned char *)PyBytes_AS_STRING(items[i]);
        lens[i] = PyBytes_GET_SIZE(items[i]);
    }
    /* The bytes objects stay alive (seq holds them) and are immutable: safe without the GIL. */
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t i = 0; i < n; i++) leaf(ptrs[i], lens[i], scratch, out + (size_t)i * HASH);
    Py_END_ALLOW_THREADS
    PyObject *result = PyList_New(n);
    for (Py_ssize_t i = 0; result && i < n; i++) {
        PyObject *h = PyBytes_FromStringAndSize((const char *)out + (size_t)i * HASH, HASH);
        if (!h) { Py_CLEAR(result); break; }
        PyList_SET_ITEM(result, i, h);
    }
    PyMem_RawFree(out); PyMem_RawFree(scratch); PyMem_RawFree(ptrs); PyMem_RawFree(lens);
    Py_DECREF(seq);
    return result;
}

/* root(leaf_hashes: Sequence[bytes]) -> bytes  (non-empty, 32-byte items) */
static PyObject *root(PyObject *self, PyObject *arg) {
    PyObject *seq = PySequence_Fast(arg, "root takes a sequence of 32-byte hashes");
    if (!seq) return NULL;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    if (n == 0) {
        Py_DECREF(seq);
        PyErr_SetString(PyExc_ValueError, "root of an empty list: use merkle.root, which knows the empty tree");
        return NULL;
    }
    PyObject **items = PySequence_Fast_ITEMS(seq);
    unsigned char *level = PyMem_RawMalloc((size_t)n * HASH);
    if (!level) { Py_DECREF(seq); return PyErr_NoMemory(); }
    for (Py_ssize_t i = 0; i < n; i++) {
        if (!PyBytes_Check(items[i]) || PyBytes_GET_SIZE(items[i]) != HASH) {
            PyMem_RawFree(level);
            Py_DECREF(seq);
            PyErr_SetString(PyExc_ValueError, "root takes 32-byte bytes hashes");
            return NULL;
        }
        memcpy(level + (size_t)i * HASH, PyBytes_AS_STRING(items[i]), HASH);
    }
    Py_DECREF(seq);
    Py_BEGIN_ALLOW_THREADS
    /* Pair adjacent nodes level by level, carrying an odd last node up: equals RFC 9162 MTH. */
    while (n > 1) {
        Py_ssize_t pairs = n / 2;
        for (Py_ssize_t i = 0; i < pairs; i++)
            node(level + (size_t)(2 * i) * HASH, level + (size_t)(2 * i + 1) * HASH, level + (size_t)i * HASH);
        if (n & 1) memmove(level + (size_t)pairs * HASH, level + (size_t)(n - 1) * HASH, HASH);
        n = pairs + (n & 1);
    }
    Py_END_ALLOW_THREADS
    PyObject *result = PyBytes_FromStringAndSize((const char *)level, HASH);
    PyMem_RawFree(level);
    return result;
}

/* fold_inclusion(leaf, index, size, proof) -> bytes: the root an inclusion proof leads to.
   Shape (proof length) must already be checked by the caller. */
static PyObject *fold_inclusion(PyObject *self, PyObject *args) {
    Py_buffer leafbuf;
    unsigned long long index, size;
    PyObject *proof;
    if (!PyArg_ParseTuple(args, "y*KKO", &leafbuf, &index, &size, &proof)) return NULL;
    if (leafbuf.len != HASH || size == 0 || index >= size) {
        PyBuffer_Release(&leafbuf);
        PyErr_SetString(PyExc_ValueError, "fold_inclusion needs a 32-byte leaf and index < size");
        return NULL;
    }
    PyObject *seq = PySequence_Fast(proof, "proof must be a sequence");
    if (!seq) { PyBuffer_Release(&leafbuf); return NULL; }
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    PyObject **items = PySequence_Fast_ITEMS(seq);
    unsigned char r[HASH];
    memcpy(r, leafbuf.buf, HASH);
    PyBuffer_Release(&leafbuf);
    unsigned long long x = index ^ (size - 1);
    int inner = 0;
    while (x) { inner++; x >>= 1; }
    for (Py_ssize_t i = 0; i < n; i++) {
        if (!PyBytes_Check(items[i]) || PyBytes_GET_SIZE(items[i]) != HASH) {
            Py_DECREF(seq);
            PyErr_SetString(PyExc_ValueError, "proof hashes are 32-byte bytes");
            return NULL;
        }
        const unsigned char *p = (const unsigned char *)PyBytes_AS_STRING(items[i]);
        if (i < inner && !((index >> i) & 1)) node(r, p, r);
        else node(p, r, r);
    }
    Py_DECREF(seq);
    return PyBytes_FromStringAndSize((const char *)r, HASH);
}

/* verify_inclusion(leaf, index, size, proof, root) -> None if the proof leads to root, else the
   calculated root. Any precondition failure raises ValueError/TypeError; the Python wrapper then
   re-runs its own checks to raise the precise MalformedError. */
static PyObject *verify_inclusion(PyObject *self, PyObject *args) {
    PyObject *leaf, *proof, *rootobj;
    unsigned long long index, size;
    if (!PyArg_ParseTuple(args, "SKKOS", &leaf, &index, &size, &proof, &rootobj)) return NULL;
    if (PyBytes_GET_SIZE(leaf) != HASH || PyBytes_GET_SIZE(rootobj) != HASH || index >= size || !PyList_CheckExact(proof)) {
        PyErr_SetString(PyExc_ValueError, "precondition");
        return NULL;
    }
    unsigned long long x = index ^ (size - 1);
    int inner = 0, border = 0;
    while (x) { inner++; x >>= 1; }
    for (unsigned long long y = inner < 64 ? index >> inner : 0; y; y >>= 1) border += (int)(y & 1);
    Py_ssize_t n = PyList_GET_SIZE(proof);
    if (n != inner + border) {
        PyErr_SetString(PyExc_ValueError, "precondition");
        return NULL;
    }
    unsigned char r[HASH];
    memcpy(r, PyBytes_AS_STRING(leaf), HASH);
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *h = PyList_GET_ITEM(proof, i);
        if (!PyBytes_Check(h) || PyBytes_GET_SIZE(h) != HASH) {
            PyErr_SetString(PyExc_ValueError, "precondition");
            return NULL;
        }
        const unsigned char *p = (const unsigned char *)PyBytes_AS_STRING(h);
        if (i < inner && !((index >> i) & 1)) node(r, p, r);
        else node(p, r, r);
    }
    if (memcmp(r, PyBytes_AS_STRING(rootobj), HASH) == 0) Py_RETURN_NONE;
    return PyBytes_FromStringAndSize((const char *)r, HASH);
}

static PyMethodDef methods[] = {
    {"verify_inclusion", verify_inclusion, METH_VARARGS, "Fast path of merkle.verify_inclusion (None when valid)."},
    {"hash_leaves", hash_leaves, METH_O, "RFC 9162 leaf hashes of a sequence of bytes."},
    {"root", root, METH_O, "RFC 9162 root of a non-empty sequence of 32-byte leaf hashes."},
    {"fold_inclusion", fold_inclusion, METH_VARARGS, "Root an inclusion proof leads to (shape pre-checked)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "ledger._native", "RFC 9162 hashing over libcrypto.", -1, methods};

PyMODINIT_FUNC PyInit__native(void) { return PyModule_Create(&module); }
