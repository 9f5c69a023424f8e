/*
 * ledger.tlog._native: the RFC 9162 hot loops in C.
 *
 * Every function gives exactly the results of its pure-Python twin in ledger/tlog/_hashing.py
 * (tests/test_native_differential.py checks bytes and accept/reject over random trees), and
 * refuses bad input with TypeError/ValueError, never a crash.
 *
 * Two SHA-256 kernels, chosen once at import:
 *
 *  - "sha-ni": on x86-64 CPUs with the SHA extensions, a compression function written with
 *    the SHA-NI intrinsics, fed straight from registers (a node's two padded blocks are built
 *    from the two child hashes without touching memory) and run two lanes at a time where
 *    hashes are independent (leaves, a tree level). One SHA-256 block is a chain of 32
 *    dependent sha256rnds2 instructions, so one stream is latency bound: that is the figure
 *    `openssl speed` reports; two interleaved streams keep the unit busy. It is checked against
 *    libcrypto on known inputs at import and not used if they ever differ.
 *  - "libcrypto": OpenSSL's SHA256_Init/Update/Final. Deprecated in OpenSSL 3 in favour of EVP,
 *    but measured here at ~95 ns per 65-byte node against ~125-175 ns for a reused EVP_MD_CTX,
 *    ~160-240 ns for EVP_Digest with a prefetched EVP_MD and ~350-550 ns for the one-shot
 *    SHA256(), which fetches an implementation on every call. If a libcrypto is built without
 *    the deprecated API, EVP_Digest with a prefetched EVP_MD is used instead.
 *
 * The GIL is released around every loop whose length depends on the input; before that, the
 * inputs are either copied or held by references this module owns, so another thread mutating
 * a list cannot free memory that is being hashed.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define OPENSSL_SUPPRESS_DEPRECATED 1
#include <openssl/opensslv.h>
#include <openssl/sha.h>
#if OPENSSL_VERSION_MAJOR >= 3 && (defined(OPENSSL_NO_DEPRECATED_3_0) || defined(EDULEDGER_FORCE_EVP))
#define USE_EVP 1
#include <openssl/evp.h>
static EVP_MD *evp_sha256;
#endif

#if defined(__x86_64__) && defined(__GNUC__)
#define HAVE_NI_CODE 1
#include <cpuid.h>
#include <immintrin.h>
#endif

#include "_native_api.h"

#define CHUNK 4096      /* leaves per perfect subtree reduced while in cache (a power of two) */
#define NOGIL_MIN 256   /* below this many hashes, releasing the GIL costs more than it frees */

static int use_ni; /* the sha-ni kernel is in use */

/* ---- libcrypto kernel ------------------------------------------------------------------- */

static void lc_prefixed(unsigned char prefix, const unsigned char *d, size_t len, unsigned char *out) {
#ifdef USE_EVP
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    if (c && EVP_DigestInit_ex2(c, evp_sha256, NULL) && EVP_DigestUpdate(c, &prefix, 1)
        && EVP_DigestUpdate(c, d, len) && EVP_DigestFinal_ex(c, out, NULL)) {
        EVP_MD_CTX_free(c);
        return;
    }
    abort(); /* allocation failure inside libcrypto while the GIL may be released */
#else
    SHA256_CTX c;
    SHA256_Init(&c);
    SHA256_Update(&c, &prefix, 1);
    SHA256_Update(&c, d, len);
    SHA256_Final(out, &c);
#endif
}

static void lc_node(const unsigned char *l, const unsigned char *r, unsigned char *out) {
    unsigned char buf[1 + 2 * HASH];
    buf[0] = 0x01;
    memcpy(buf + 1, l, HASH);
    memcpy(buf + 1 + HASH, r, HASH);
#ifdef USE_EVP
    if (!EVP_Digest(buf, sizeof buf, out, NULL, evp_sha256, NULL)) abort();
#else
    SHA256_CTX c;
    SHA256_Init(&c);
    SHA256_Update(&c, buf, sizeof buf);
    SHA256_Final(out, &c);
#endif
}

/* ---- SHA-NI kernel ---------------------------------------------------------------------- */

#ifdef HAVE_NI_CODE
#define NI __attribute__((target("sha,sse4.1,ssse3")))

/* FIPS 180-4 §4.2.2 */
static const uint32_t K256[64] __attribute__((aligned(16))) = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

/* The state lives in the two registers sha256rnds2 wants: ABEF and CDGH. */
typedef struct { __m128i abef, cdgh; } ni_state;

NI static inline __m128i ni_bswap(__m128i x) {
    return _mm_shuffle_epi8(x, _mm_set_epi64x(0x0c0d0e0f08090a0bULL, 0x0405060700010203ULL));
}

NI static inline void ni_init(ni_state *s) {
    s->abef = _mm_set_epi32(0x6a09e667, 0xbb67ae85, 0x510e527f, 0x9b05688c);
    s->cdgh = _mm_set_epi32(0x3c6ef372, 0xa54ff53a, 0x1f83d9ab, 0x5be0cd19);
}

/* W[t..t+3] from the previous sixteen words (the message schedule, four words at a time). */
#define NI_SCHEDULE(W, g) \
    (W)[(g) & 3] = _mm_sha256msg2_epu32( \
        _mm_add_epi32(_mm_sha256msg1_epu32((W)[(g) & 3], (W)[((g) + 1) & 3]), \
                      _mm_alignr_epi8((W)[((g) + 3) & 3], (W)[((g) + 2) & 3], 4)), \
        (W)[((g) + 3) & 3])

/* One compression of a block given as four big-endian-loaded word vectors. */
NI static inline void ni_compress(ni_state *s, __m128i w0, __m128i w1, __m128i w2, __m128i w3) {
    __m128i W[4] = {w0, w1, w2, w3}, a = s->abef, c = s->cdgh;
#pragma GCC unroll 16
    for (int g = 0; g < 16; g++) {
        if (g >= 4) NI_SCHEDULE(W, g);
        __m128i m = _mm_add_epi32(W[g & 3], _mm_load_si128((const __m128i *)&K256[4 * g]));
        c = _mm_sha256rnds2_epu32(c, a, m);
        a = _mm_sha256rnds2_epu32(a, c, _mm_shuffle_epi32(m, 0x0E));
    }
    s->abef = _mm_add_epi32(s->abef, a);
    s->cdgh = _mm_add_epi32(s->cdgh, c);
}

/* Two independent compressions, interleaved instruction by instruction. */
NI static inline void ni_compress2(ni_state *s, const __m128i *w, ni_state *t, const __m128i *v) {
    __m128i W[4] = {w[0], w[1], w[2], w[3]}, V[4] = {v[0], v[1], v[2], v[3]};
    __m128i a = s->abef, c = s->cdgh, a2 = t->abef, c2 = t->cdgh;
#pragma GCC unroll 16
    for (int g = 0; g < 16; g++) {
        if (g >= 4) {
            NI_SCHEDULE(W, g);
            NI_SCHEDULE(V, g);
        }
        __m128i k = _mm_load_si128((const __m128i *)&K256[4 * g]);
        __m128i m = _mm_add_epi32(W[g & 3], k), m2 = _mm_add_epi32(V[g & 3], k);
        c = _mm_sha256rnds2_epu32(c, a, m);
        c2 = _mm_sha256rnds2_epu32(c2, a2, m2);
        a = _mm_sha256rnds2_epu32(a, c, _mm_shuffle_epi32(m, 0x0E));
        a2 = _mm_sha256rnds2_epu32(a2, c2, _mm_shuffle_epi32(m2, 0x0E));
    }
    s->abef = _mm_add_epi32(s->abef, a);
    s->cdgh = _mm_add_epi32(s->cdgh, c);
    t->abef = _mm_add_epi32(t->abef, a2);
    t->cdgh = _mm_add_epi32(t->cdgh, c2);
}

NI static inline void ni_load(const unsigned char *p, __m128i *w) {
    for (int i = 0; i < 4; i++) w[i] = ni_bswap(_mm_loadu_si128((const __m128i *)(p + 16 * i)));
}

NI static inline void ni_store(const ni_state *s, unsigned char *out) {
    __m128i abef = _mm_shuffle_epi32(s->abef, 0x1B), cdgh = _mm_shuffle_epi32(s->cdgh, 0x1B);
    _mm_storeu_si128((__m128i *)out, ni_bswap(_mm_unpacklo_epi64(abef, cdgh)));
    _mm_storeu_si128((__m128i *)(out + 16), ni_bswap(_mm_unpackhi_epi64(abef, cdgh)));
}

/* The two blocks of SHA-256(0x01 || l || r), built in registers: the first is 0x01, l and
   r[0..30]; the second is r[31], the 0x80 pad byte, zeros and the bit length 520. */
NI static inline void ni_node_blocks(const unsigned char *l, const unsigned char *r, __m128i *b1, __m128i *b2) {
    __m128i l0 = _mm_loadu_si128((const __m128i *)l), l1 = _mm_loadu_si128((const __m128i *)(l + 16));
    __m128i r0 = _mm_loadu_si128((const __m128i *)r), r1 = _mm_loadu_si128((const __m128i *)(r + 16));
    b1[0] = ni_bswap(_mm_alignr_epi8(l0, _mm_set_epi32(0x01000000, 0, 0, 0), 15));
    b1[1] = ni_bswap(_mm_alignr_epi8(l1, l0, 15));
    b1[2] = ni_bswap(_mm_alignr_epi8(r0, l1, 15));
    b1[3] = ni_bswap(_mm_alignr_epi8(r1, r0, 15));
    b2[0] = _mm_set_epi32(0, 0, 0, (int)(((uint32_t)r[31] << 24) | 0x800000u));
    b2[1] = b2[2] = _mm_setzero_si128();
    b2[3] = _mm_set_epi32(520, 0, 0, 0);
}

NI static void ni_node(const unsigned char *l, const unsigned char *r, unsigned char *out) {
    __m128i b1[4], b2[4];
    ni_state s;
    ni_node_blocks(l, r, b1, b2);
    ni_init(&s);
    ni_compress(&s, b1[0], b1[1], b1[2], b1[3]);
    ni_compress(&s, b2[0], b2[1], b2[2], b2[3]);
    ni_store(&s, out);
}

/* out[i] = node(in[2i], in[2i+1]) for i < pairs; out may equal in (every load precedes its store). */
NI static void ni_level(const unsigned char *in, size_t pairs, unsigned char *out) {
    size_t i = 0;
    for (; i + 2 <= pairs; i += 2) {
        __m128i x1[4], x2[4], y1[4], y2[4];
        ni_state s, t;
        ni_node_blocks(in + 64 * i, in + 64 * i + 32, x1, x2);
        ni_node_blocks(in + 64 * i + 64, in + 64 * i + 96, y1, y2);
        ni_init(&s);
        ni_init(&t);
        ni_compress2(&s, x1, &t, y1);
        ni_compress2(&s, x2, &t, y2);
        ni_store(&s, out + 32 * i);
        ni_store(&t, out + 32 * i + 32);
    }
    if (i < pairs) ni_node(in + 64 * i, in + 64 * i + 32, out + 32 * i);
}

/* Pad a message of `rem` bytes already in buf (rem < 64, total length `total` bytes) into one or
   two final blocks; returns how many. */
static int pad_tail(unsigned char *buf, size_t rem, uint64_t total) {
    int blocks = rem < 56 ? 1 : 2;
    buf[rem] = 0x80;
    memset(buf + rem + 1, 0, (size_t)(64 * blocks - 8) - rem - 1);
    uint64_t bits = total * 8;
    for (int i = 0; i < 8; i++) buf[64 * blocks - 1 - i] = (unsigned char)(bits >> (8 * i));
    return blocks;
}

/* SHA-256(prefix || d), any length. */
NI static void ni_prefixed(unsigned char prefix, const unsigned char *d, size_t len, unsigned char *out) {
    unsigned char buf[128];
    __m128i w[4];
    ni_state s;
    uint64_t total = (uint64_t)len + 1;
    size_t rem;
    ni_init(&s);
    buf[0] = prefix;
    if (len >= 63) {
        memcpy(buf + 1, d, 63);
        ni_load(buf, w);
        ni_compress(&s, w[0], w[1], w[2], w[3]);
        d += 63;
        len -= 63;
        for (; len >= 64; d += 64, len -= 64) {
            ni_load(d, w);
            ni_compress(&s, w[0], w[1], w[2], w[3]);
        }
        memcpy(buf, d, len);
        rem = len;
    } else {
        memcpy(buf + 1, d, len);
        rem = len + 1;
    }
    int blocks = pad_tail(buf, rem, total);
    for (int b = 0; b < blocks; b++) {
        ni_load(buf + 64 * b, w);
        ni_compress(&s, w[0], w[1], w[2], w[3]);
    }
    ni_store(&s, out);
}

/* Leaf hashes of n items; pairs of short items (one block each) go through two lanes. */
NI static void ni_leaves(const unsigned char *const *ptrs, const Py_ssize_t *lens, size_t n, unsigned char *const *outs) {
    size_t i = 0;
    while (i < n) {
        if (i + 1 < n && lens[i] <= 54 && lens[i + 1] <= 54) {
            unsigned char b1[64], b2[64];
            __m128i w[4], v[4];
            ni_state s, t;
            b1[0] = b2[0] = 0x00;
            memcpy(b1 + 1, ptrs[i], (size_t)lens[i]);
            memcpy(b2 + 1, ptrs[i + 1], (size_t)lens[i + 1]);
            pad_tail(b1, (size_t)lens[i] + 1, (uint64_t)lens[i] + 1);
            pad_tail(b2, (size_t)lens[i + 1] + 1, (uint64_t)lens[i + 1] + 1);
            ni_load(b1, w);
            ni_load(b2, v);
            ni_init(&s);
            ni_init(&t);
            ni_compress2(&s, w, &t, v);
            ni_store(&s, outs[i]);
            ni_store(&t, outs[i + 1]);
            i += 2;
        } else {
            ni_prefixed(0x00, ptrs[i], (size_t)lens[i], outs[i]);
            i += 1;
        }
    }
}

/* Is the CPU's SHA-NI usable (SHA, SSE4.1, SSSE3)? */
static int cpu_has_sha_ni(void) {
    unsigned int a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return 0;
    if (!(c & (1u << 19)) || !(c & (1u << 9))) return 0;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return 0;
    return (b & (1u << 29)) != 0;
}
#endif /* HAVE_NI_CODE */

/* ---- kernel dispatch -------------------------------------------------------------------- */

static inline void k_node(const unsigned char *l, const unsigned char *r, unsigned char *out) {
#ifdef HAVE_NI_CODE
    if (use_ni) { ni_node(l, r, out); return; }
#endif
    lc_node(l, r, out);
}

static void k_level(const unsigned char *in, size_t pairs, unsigned char *out) {
#ifdef HAVE_NI_CODE
    if (use_ni) { ni_level(in, pairs, out); return; }
#endif
    for (size_t i = 0; i < pairs; i++) lc_node(in + 64 * i, in + 64 * i + 32, out + 32 * i);
}

/* outs[i] = leaf hash of item i (outs may point into a contiguous buffer or into bytes objects). */
static void k_leaves(const unsigned char *const *ptrs, const Py_ssize_t *lens, size_t n, unsigned char *const *outs) {
#ifdef HAVE_NI_CODE
    if (use_ni) { ni_leaves(ptrs, lens, n, outs); return; }
#endif
    for (size_t i = 0; i < n; i++) lc_prefixed(0x00, ptrs[i], (size_t)lens[i], outs[i]);
}

/* RFC 9162 MTH of n >= 1 hashes in buf, left in buf[0..32). Adjacent nodes are paired level by
   level and an odd last node is carried up unchanged, which equals the recursive definition.
   Large inputs are first reduced in aligned CHUNK-leaf perfect subtrees (each while it is in
   cache): MTH over those subtree roots is MTH over the leaves, because every RFC 9162 split
   point of a range longer than CHUNK is a multiple of CHUNK. */
static void reduce_levels(unsigned char *buf, size_t n) {
    while (n > 1) {
        size_t pairs = n / 2;
        k_level(buf, pairs, buf);
        if (n & 1) memmove(buf + 32 * pairs, buf + 32 * (n - 1), HASH);
        n = pairs + (n & 1);
    }
}

static void reduce(unsigned char *buf, size_t n) {
    while (n > CHUNK) {
        size_t m = 0;
        for (size_t lo = 0; lo < n; lo += CHUNK) {
            size_t cnt = n - lo < CHUNK ? n - lo : CHUNK;
            reduce_levels(buf + 32 * lo, cnt);
            memmove(buf + 32 * m++, buf + 32 * lo, HASH);
        }
        n = m;
    }
    reduce_levels(buf, n);
}

/* ---- input parsing ---------------------------------------------------------------------- */

/* Copy a 32-byte hash out of any C-contiguous bytes-like object. */
static int copy_hash(PyObject *o, unsigned char *out, const char *what, Py_ssize_t pos) {
    if (PyBytes_CheckExact(o)) {
        if (PyBytes_GET_SIZE(o) != HASH) goto bad_len;
        memcpy(out, PyBytes_AS_STRING(o), HASH);
        return 0;
    }
    Py_buffer view;
    if (PyObject_GetBuffer(o, &view, PyBUF_SIMPLE) < 0) {
        PyErr_Clear();
        if (pos >= 0) PyErr_Format(PyExc_TypeError, "%s[%zd] must be a bytes-like object, not %.100s", what, pos, Py_TYPE(o)->tp_name);
        else PyErr_Format(PyExc_TypeError, "%s must be a bytes-like object, not %.100s", what, Py_TYPE(o)->tp_name);
        return -1;
    }
    Py_ssize_t len = view.len;
    if (len == HASH) memcpy(out, view.buf, HASH);
    PyBuffer_Release(&view);
    if (len == HASH) return 0;
    if (pos >= 0) PyErr_Format(PyExc_ValueError, "%s[%zd] has %zd bytes, want %d", what, pos, len, HASH);
    else PyErr_Format(PyExc_ValueError, "%s has %zd bytes, want %d", what, len, HASH);
    return -1;
bad_len:
    if (pos >= 0) PyErr_Format(PyExc_ValueError, "%s[%zd] has %zd bytes, want %d", what, pos, PyBytes_GET_SIZE(o), HASH);
    else PyErr_Format(PyExc_ValueError, "%s has %zd bytes, want %d", what, PyBytes_GET_SIZE(o), HASH);
    return -1;
}

/* An int in 0..2^64-1 (bool refused). */
static int parse_u64(PyObject *o, uint64_t *v, const char *what) {
    if (!PyLong_Check(o) || PyBool_Check(o)) {
        PyErr_Format(PyExc_TypeError, "%s must be an int, not %.100s", what, Py_TYPE(o)->tp_name);
        return -1;
    }
    unsigned long long x = PyLong_AsUnsignedLongLong(o);
    if (x == (unsigned long long)-1 && PyErr_Occurred()) {
        PyErr_Clear();
        PyErr_Format(PyExc_ValueError, "%s is outside 0..2^64-1", what);
        return -1;
    }
    *v = (uint64_t)x;
    return 0;
}

static inline int bit_length(uint64_t x) { return x ? 64 - __builtin_clzll(x) : 0; }

/* RFC 9162 §2.1.3.2: proof hashes below (inner) and on the right border (border) of the tree. */
static inline void inclusion_shape(uint64_t index, uint64_t size, int *inner, int *border) {
    *inner = bit_length(index ^ (size - 1));
    *border = *inner >= 64 ? 0 : __builtin_popcountll(index >> *inner);
}

/* The leaf-to-root fold of RFC 9162 §2.1.3.2 steps 3-5 over n proof hashes. */
static inline void fold(unsigned char *r, uint64_t index, int inner, const unsigned char *const *proof, Py_ssize_t n) {
    for (Py_ssize_t i = 0; i < n; i++) {
        if (i < inner && !((index >> i) & 1)) k_node(r, proof[i], r);
        else k_node(proof[i], r, r);
    }
}

/* ---- hash_leaves, root, root_of_entries, hash_pairs ------------------------------------- */


static void entries_free(entries *e) {
    if (e->views) {
        for (Py_ssize_t i = 0; i < e->n; i++)
            if (e->views[i].obj) PyBuffer_Release(&e->views[i]);
        PyMem_Free(e->views);
    }
    PyMem_Free(e->ptrs);
    PyMem_Free(e->lens);
    Py_XDECREF(e->tuple);
}

/* Snapshot a sequence of bytes-like items (buffers of non-bytes items stay exported, so a
   bytearray cannot be resized under us). */
static int entries_get(PyObject *arg, entries *e, const char *fn) {
    memset(e, 0, sizeof *e);
    e->tuple = PySequence_Tuple(arg);
    if (!e->tuple) {
        if (PyErr_ExceptionMatches(PyExc_TypeError)) {
            PyErr_Clear();
            PyErr_Format(PyExc_TypeError, "%s takes an iterable of bytes-like objects, not %.100s", fn, Py_TYPE(arg)->tp_name);
        }
        return -1;
    }
    e->n = PyTuple_GET_SIZE(e->tuple);
    size_t cap = (size_t)(e->n ? e->n : 1);
    e->ptrs = PyMem_Malloc(cap * sizeof *e->ptrs);
    e->lens = PyMem_Malloc(cap * sizeof *e->lens);
    if (!e->ptrs || !e->lens) { PyErr_NoMemory(); return -1; }
    for (Py_ssize_t i = 0; i < e->n; i++) {
        PyObject *o = PyTuple_GET_ITEM(e->tuple, i);
        if (PyBytes_Check(o)) {
            e->ptrs[i] = (const unsigned char *)PyBytes_AS_STRING(o);
            e->lens[i] = PyBytes_GET_SIZE(o);
            continue;
        }
        if (!e->views) {
            e->views = PyMem_Calloc(cap, sizeof *e->views);
            if (!e->views) { PyErr_NoMemory(); return -1; }
        }
        if (PyObject_GetBuffer(o, &e->views[i], PyBUF_SIMPLE) < 0) {
            e->views[i].obj = NULL;
            PyErr_Clear();
            PyErr_Format(PyExc_TypeError, "%s: item %zd must be a bytes-like object, not %.100s", fn, i, Py_TYPE(o)->tp_name);
            return -1;
        }
        e->ptrs[i] = e->views[i].buf;
        e->lens[i] = e->views[i].len;
    }
    return 0;
}

/* hash_leaves(items: Iterable[bytes-like]) -> list[bytes] */
static PyObject *py_hash_leaves(PyObject *self, PyObject *arg) {
    entries e;
    PyObject *result = NULL;
    unsigned char **outs = NULL;
    if (entries_get(arg, &e, "hash_leaves") < 0) goto done;
    result = PyList_New(e.n);
    outs = PyMem_Malloc((size_t)(e.n ? e.n : 1) * sizeof *outs);
    if (!result || !outs) { PyErr_NoMemory(); Py_CLEAR(result); goto done; }
    /* The hashes are written straight into new bytes objects, which nothing else can see yet. */
    for (Py_ssize_t i = 0; i < e.n; i++) {
        PyObject *h = PyBytes_FromStringAndSize(NULL, HASH);
        if (!h) { Py_CLEAR(result); goto done; }
        PyList_SET_ITEM(result, i, h);
        outs[i] = (unsigned char *)PyBytes_AS_STRING(h);
    }
    if (e.n >= NOGIL_MIN) {
        Py_BEGIN_ALLOW_THREADS
        k_leaves(e.ptrs, e.lens, (size_t)e.n, outs);
        Py_END_ALLOW_THREADS
    } else {
        k_leaves(e.ptrs, e.lens, (size_t)e.n, outs);
    }
done:
    PyMem_Free(outs);
    entries_free(&e);
    return result;
}

/* Copy a sequence of 32-byte hashes into a new buffer; *n receives the count. */
static unsigned char *copy_hashes(PyObject *arg, Py_ssize_t *n, const char *fn) {
    PyObject *seq = PySequence_Fast(arg, "");
    if (!seq) {
        PyErr_Clear();
        PyErr_Format(PyExc_TypeError, "%s takes an iterable of 32-byte hashes, not %.100s", fn, Py_TYPE(arg)->tp_name);
        return NULL;
    }
    *n = PySequence_Fast_GET_SIZE(seq);
    unsigned char *buf = PyMem_RawMalloc((size_t)(*n ? *n : 1) * HASH);
    if (!buf) { Py_DECREF(seq); PyErr_NoMemory(); return NULL; }
    PyObject **items = PySequence_Fast_ITEMS(seq);
    for (Py_ssize_t i = 0; i < *n; i++) {
        /* copy_hash may run Python code (a buffer exporter): re-read the list each time */
        if (*n != PySequence_Fast_GET_SIZE(seq)) {
            PyMem_RawFree(buf);
            Py_DECREF(seq);
            PyErr_Format(PyExc_RuntimeError, "%s: the sequence changed size while being read", fn);
            return NULL;
        }
        if (copy_hash(items[i], buf + (size_t)i * HASH, fn, i) < 0) {
            PyMem_RawFree(buf);
            Py_DECREF(seq);
            return NULL;
        }
        items = PySequence_Fast_ITEMS(seq);
    }
    Py_DECREF(seq);
    return buf;
}

/* root(leaf_hashes: Iterable[32-byte bytes-like]) -> bytes; non-empty */
static PyObject *py_root(PyObject *self, PyObject *arg) {
    Py_ssize_t n;
    unsigned char *buf = copy_hashes(arg, &n, "root");
    if (!buf) return NULL;
    if (n == 0) {
        PyMem_RawFree(buf);
        PyErr_SetString(PyExc_ValueError, "root of no hashes: the empty tree is merkle.EMPTY_ROOT");
        return NULL;
    }
    if (n >= NOGIL_MIN) {
        Py_BEGIN_ALLOW_THREADS
        reduce(buf, (size_t)n);
        Py_END_ALLOW_THREADS
    } else {
        reduce(buf, (size_t)n);
    }
    PyObject *r = PyBytes_FromStringAndSize((const char *)buf, HASH);
    PyMem_RawFree(buf);
    return r;
}

/* root_of_entries(items: Iterable[bytes-like]) -> bytes; non-empty. Leaf hashing and the tree
   in one pass per CHUNK-leaf subtree: no per-leaf Python objects, no n*32-byte buffer. */
static PyObject *py_root_of_entries(PyObject *self, PyObject *arg) {
    entries e;
    PyObject *result = NULL;
    unsigned char *chunk = NULL, *roots = NULL, **outs = NULL;
    if (entries_get(arg, &e, "root_of_entries") < 0) goto done;
    if (e.n == 0) {
        PyErr_SetString(PyExc_ValueError, "root of no entries: the empty tree is merkle.EMPTY_ROOT");
        goto done;
    }
    size_t n = (size_t)e.n, nchunks = (n + CHUNK - 1) / CHUNK;
    chunk = PyMem_RawMalloc((size_t)CHUNK * HASH);
    roots = PyMem_RawMalloc(nchunks * HASH);
    outs = PyMem_RawMalloc((size_t)CHUNK * sizeof *outs);
    if (!chunk || !roots || !outs) { PyErr_NoMemory(); goto done; }
    for (size_t i = 0; i < CHUNK; i++) outs[i] = chunk + HASH * i;
    Py_BEGIN_ALLOW_THREADS
    for (size_t c = 0; c < nchunks; c++) {
        size_t lo = c * CHUNK, cnt = n - lo < CHUNK ? n - lo : CHUNK;
        k_leaves(e.ptrs + lo, e.lens + lo, cnt, outs);
        reduce_levels(chunk, cnt);
        memcpy(roots + HASH * c, chunk, HASH);
    }
    reduce(roots, nchunks);
    Py_END_ALLOW_THREADS
    result = PyBytes_FromStringAndSize((const char *)roots, HASH);
done:
    PyMem_RawFree(chunk);
    PyMem_RawFree(roots);
    PyMem_RawFree(outs);
    entries_free(&e);
    return result;
}

/* hash_pairs(hashes) -> list[bytes]: node(h[2i], h[2i+1]) for every complete pair (an odd last
   hash has no parent yet): one level of a tree, e.g. for a perfect-subtree cache. */
static PyObject *py_hash_pairs(PyObject *self, PyObject *arg) {
    Py_ssize_t n;
    unsigned char *buf = copy_hashes(arg, &n, "hash_pairs");
    if (!buf) return NULL;
    size_t pairs = (size_t)n / 2;
    if (pairs >= NOGIL_MIN) {
        Py_BEGIN_ALLOW_THREADS
        k_level(buf, pairs, buf);
        Py_END_ALLOW_THREADS
    } else {
        k_level(buf, pairs, buf);
    }
    PyObject *result = PyList_New((Py_ssize_t)pairs);
    for (size_t i = 0; result && i < pairs; i++) {
        PyObject *h = PyBytes_FromStringAndSize((const char *)buf + HASH * i, HASH);
        if (!h) { Py_CLEAR(result); break; }
        PyList_SET_ITEM(result, (Py_ssize_t)i, h);
    }
    PyMem_RawFree(buf);
    return result;
}

/* ---- inclusion ---------------------------------------------------------------------------- */

/* fold_inclusion(leaf, index, size, proof) -> bytes: the root the proof leads to, for
   0 <= index < size < 2^64 and 32-byte hashes (the proof length is the caller's check). */
static PyObject *py_fold_inclusion(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 4) {
        PyErr_Format(PyExc_TypeError, "fold_inclusion takes 4 arguments (%zd given)", nargs);
        return NULL;
    }
    unsigned char r[HASH], p[HASH];
    uint64_t index, size;
    if (copy_hash(args[0], r, "leaf", -1) < 0) return NULL;
    if (parse_u64(args[1], &index, "index") < 0 || parse_u64(args[2], &size, "size") < 0) return NULL;
    if (index >= size) {
        PyErr_Format(PyExc_ValueError, "index %llu is not below size %llu", (unsigned long long)index, (unsigned long long)size);
        return NULL;
    }
    PyObject *seq = PySequence_Fast(args[3], "proof must be a sequence of 32-byte hashes");
    if (!seq) return NULL;
    int inner, border;
    inclusion_shape(index, size, &inner, &border);
    for (Py_ssize_t i = 0; i < PySequence_Fast_GET_SIZE(seq); i++) {
        if (copy_hash(PySequence_Fast_GET_ITEM(seq, i), p, "proof", i) < 0) { Py_DECREF(seq); return NULL; }
        if (i < inner && !((index >> i) & 1)) k_node(r, p, r);
        else k_node(p, r, r);
    }
    Py_DECREF(seq);
    return PyBytes_FromStringAndSize((const char *)r, HASH);
}

/* verify_inclusion(leaf, index, size, proof, root) -> None when the proof leads to root, else
   the calculated root. Only the exact types merkle.verify_inclusion sees in practice take this
   path (bytes, int, list or tuple of bytes); anything else, and any broken precondition, raises
   TypeError/ValueError, and merkle.verify_inclusion then runs its own checks, which say which. */
static PyObject *py_verify_inclusion(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 5) {
        PyErr_Format(PyExc_TypeError, "verify_inclusion takes 5 arguments (%zd given)", nargs);
        return NULL;
    }
    PyObject *leaf = args[0], *proof = args[3], *root = args[4];
    uint64_t index, size;
    if (!PyBytes_CheckExact(leaf) || !PyBytes_CheckExact(root) || !PyLong_CheckExact(args[1]) || !PyLong_CheckExact(args[2])
        || !(PyList_CheckExact(proof) || PyTuple_CheckExact(proof))) {
        PyErr_SetString(PyExc_TypeError, "verify_inclusion: not the fast path's types");
        return NULL;
    }
    if (parse_u64(args[1], &index, "index") < 0 || parse_u64(args[2], &size, "size") < 0) return NULL;
    if (PyBytes_GET_SIZE(leaf) != HASH || PyBytes_GET_SIZE(root) != HASH || index >= size) {
        PyErr_SetString(PyExc_ValueError, "verify_inclusion: a precondition does not hold");
        return NULL;
    }
    int inner, border;
    inclusion_shape(index, size, &inner, &border);
    Py_ssize_t n = PySequence_Fast_GET_SIZE(proof);
    if (n != inner + border) {
        PyErr_SetString(PyExc_ValueError, "verify_inclusion: wrong proof length");
        return NULL;
    }
    PyObject **items = PySequence_Fast_ITEMS(proof);
    const unsigned char *ptrs[128];
    for (Py_ssize_t i = 0; i < n; i++) {
        if (!PyBytes_CheckExact(items[i]) || PyBytes_GET_SIZE(items[i]) != HASH) {
            PyErr_SetString(PyExc_ValueError, "verify_inclusion: a proof hash is not 32 bytes");
            return NULL;
        }
        ptrs[i] = (const unsigned char *)PyBytes_AS_STRING(items[i]);
    }
    unsigned char r[HASH];
    memcpy(r, PyBytes_AS_STRING(leaf), HASH);
    fold(r, index, inner, ptrs, n); /* no Python code runs in here: the list cannot change */
    if (memcmp(r, PyBytes_AS_STRING(root), HASH) == 0) Py_RETURN_NONE;
    return PyBytes_FromStringAndSize((const char *)r, HASH);
}

/* ---- batch inclusion ---------------------------------------------------------------------- */

typedef struct {
    uint64_t index;
    Py_ssize_t pos;     /* position in the caller's list */
    Py_ssize_t first;   /* objs[first] is the leaf, objs[first+1 .. first+plen] the proof */
    int plen, inner;
} batch_item;

static int cmp_batch_item(const void *a, const void *b) {
    const batch_item *x = a, *y = b;
    if (x->index != y->index) return x->index < y->index ? -1 : 1;
    return x->pos < y->pos ? -1 : x->pos > y->pos;
}

/* The last accepted item's whole path, by depth below the root: node range [lo, hi), its hash,
   and the sibling its proof gave at that depth. Every entry is one chain, so an item that meets
   this path at some node, with the same hash there and the same siblings above, folds to
   exactly what that item folded to: the root. */
typedef struct {
    int len;                                /* proof length of that item: depths 0..len are valid */
    uint64_t lo[66], hi[66];
    unsigned char hash[66][HASH];
    const unsigned char *sib[66];
} batch_path;

/* Fold one item in sorted order against the previous accepted item's path.
   Returns 1 when it reaches the root (and the path becomes this item's), 0 otherwise. */
static int batch_fold(const batch_item *it, uint64_t size, const unsigned char *root, PyObject *const *objs,
                      batch_path *path, int have_path, batch_path *scratch) {
    const int L = it->plen, inner = it->inner;
    const uint64_t index = it->index;
    const unsigned char *proof[66];
    unsigned char r[HASH];
    uint64_t lo = index, hi = index + 1;
    for (int k = 0; k < L; k++) proof[k] = (const unsigned char *)PyBytes_AS_STRING(objs[it->first + 1 + k]);
    memcpy(r, PyBytes_AS_STRING(objs[it->first]), HASH);
    for (int k = 0;; k++) {
        int d = L - k; /* depth of the node r below the root */
        if (have_path && d <= path->len && path->lo[d] == lo && path->hi[d] == hi && memcmp(path->hash[d], r, HASH) == 0) {
            int same = 1;
            for (int j = 0; j < d && same; j++) same = memcmp(proof[k + j], path->sib[d - j], HASH) == 0;
            if (same) {
                /* Below depth d this item's nodes replace the path; above it they are the same. */
                for (int dd = d + 1; dd <= L; dd++) {
                    path->lo[dd] = scratch->lo[dd];
                    path->hi[dd] = scratch->hi[dd];
                    memcpy(path->hash[dd], scratch->hash[dd], HASH);
                    path->sib[dd] = scratch->sib[dd];
                }
                path->len = L;
                return 1;
            }
        }
        scratch->lo[d] = lo;
        scratch->hi[d] = hi;
        memcpy(scratch->hash[d], r, HASH);
        if (k == L) break;
        scratch->sib[d] = proof[k];
        if (k < inner) {
            if (!((index >> k) & 1)) k_node(r, proof[k], r);
            else k_node(proof[k], r, r);
            if (k + 1 < 64) {
                uint64_t width = (uint64_t)1 << (k + 1);
                lo = index & ~(width - 1);
                hi = size - lo > width ? lo + width : size;
            } else {
                lo = 0;
                hi = size;
            }
        } else {
            /* right border: the sibling is the perfect subtree ending where this node starts */
            k_node(proof[k], r, r);
            lo &= lo - 1;
        }
    }
    if (memcmp(r, root, HASH) != 0) return 0;
    for (int d = 0; d <= L; d++) {
        path->lo[d] = scratch->lo[d];
        path->hi[d] = scratch->hi[d];
        memcpy(path->hash[d], scratch->hash[d], HASH);
        path->sib[d] = scratch->sib[d];
    }
    path->len = L;
    return 1;
}

/* verify_inclusion_batch(items, size, root) -> None | int
   items: list or tuple of (leaf, index, proof) tuples/lists of exact types (bytes, int, list or
   tuple of bytes); size an int, root 32 bytes. Returns None when every item verifies, else the
   position of the first item (in the caller's order) that merkle.verify_inclusion would refuse,
   for a broken precondition or a root mismatch alike. Any other type raises TypeError (the
   caller then normalizes and calls again). Each node shared by several accepted items is hashed
   once: items are folded in index order, each against the path of the previous accepted one. */
static PyObject *py_verify_inclusion_batch(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 3) {
        PyErr_Format(PyExc_TypeError, "verify_inclusion_batch takes 3 arguments (%zd given)", nargs);
        return NULL;
    }
    PyObject *items = args[0], *rootobj = args[2];
    uint64_t size;
    if (!(PyList_CheckExact(items) || PyTuple_CheckExact(items)) || !PyLong_CheckExact(args[1]) || !PyBytes_CheckExact(rootobj)) {
        PyErr_SetString(PyExc_TypeError, "verify_inclusion_batch: not the fast path's types");
        return NULL;
    }
    if (parse_u64(args[1], &size, "size") < 0) return NULL;
    if (PyBytes_GET_SIZE(rootobj) != HASH) {
        PyErr_SetString(PyExc_ValueError, "verify_inclusion_batch: root is not 32 bytes");
        return NULL;
    }
    Py_ssize_t n = PySequence_Fast_GET_SIZE(items), m = n, nobjs = 0;
    PyObject **its = PySequence_Fast_ITEMS(items);

    /* Pass 1, input order: types, then preconditions; stop at the first broken one (m). No
       Python code runs here, so the containers cannot change under us. */
    for (Py_ssize_t pos = 0; pos < n; pos++) {
        PyObject *it = its[pos];
        if (!(PyTuple_CheckExact(it) || PyList_CheckExact(it)) || PySequence_Fast_GET_SIZE(it) != 3) goto not_fast;
        PyObject *leaf = PySequence_Fast_GET_ITEM(it, 0), *idx = PySequence_Fast_GET_ITEM(it, 1), *proof = PySequence_Fast_GET_ITEM(it, 2);
        if (!PyBytes_CheckExact(leaf) || !PyLong_CheckExact(idx) || !(PyList_CheckExact(proof) || PyTuple_CheckExact(proof))) goto not_fast;
        Py_ssize_t plen = PySequence_Fast_GET_SIZE(proof);
        PyObject **ps = PySequence_Fast_ITEMS(proof);
        for (Py_ssize_t j = 0; j < plen; j++)
            if (!PyBytes_CheckExact(ps[j])) goto not_fast;
        uint64_t index;
        int inner, border, ok = 0;
        unsigned long long x = PyLong_AsUnsignedLongLong(idx);
        if (x == (unsigned long long)-1 && PyErr_Occurred()) PyErr_Clear();
        else if (PyBytes_GET_SIZE(leaf) == HASH && (index = x) < size) {
            inclusion_shape(index, size, &inner, &border);
            ok = plen == inner + border;
            for (Py_ssize_t j = 0; ok && j < plen; j++) ok = PyBytes_GET_SIZE(ps[j]) == HASH;
        }
        if (!ok) { m = pos; break; }
        nobjs += 1 + plen;
    }

    /* Own a reference to every hash folded below, and take them out of their containers. */
    batch_item *bi = PyMem_RawMalloc(sizeof *bi * (size_t)(m ? m : 1));
    PyObject **objs = PyMem_RawMalloc(sizeof *objs * (size_t)(nobjs ? nobjs : 1));
    batch_path *path = PyMem_RawMalloc(sizeof *path * 2);
    if (!bi || !objs || !path) {
        PyMem_RawFree(bi); PyMem_RawFree(objs); PyMem_RawFree(path);
        return PyErr_NoMemory();
    }
    Py_ssize_t o = 0;
    for (Py_ssize_t pos = 0; pos < m; pos++) {
        PyObject *it = its[pos], *proof = PySequence_Fast_GET_ITEM(it, 2);
        Py_ssize_t plen = PySequence_Fast_GET_SIZE(proof);
        PyObject **ps = PySequence_Fast_ITEMS(proof);
        int border;
        bi[pos].index = (uint64_t)PyLong_AsUnsignedLongLong(PySequence_Fast_GET_ITEM(it, 1));
        bi[pos].pos = pos;
        bi[pos].first = o;
        bi[pos].plen = (int)plen;
        inclusion_shape(bi[pos].index, size, &bi[pos].inner, &border);
        objs[o] = PySequence_Fast_GET_ITEM(it, 0);
        Py_INCREF(objs[o++]);
        for (Py_ssize_t j = 0; j < plen; j++) {
            objs[o] = ps[j];
            Py_INCREF(objs[o++]);
        }
    }
    unsigned char root[HASH];
    memcpy(root, PyBytes_AS_STRING(rootobj), HASH);
    Py_ssize_t bad = m;

    Py_BEGIN_ALLOW_THREADS
    int sorted = 1;
    for (Py_ssize_t i = 1; i < m && sorted; i++) sorted = bi[i - 1].index <= bi[i].index;
    if (!sorted) qsort(bi, (size_t)m, sizeof *bi, cmp_batch_item);
    int have_path = 0;
    for (Py_ssize_t i = 0; i < 2 && i < m; i++)
        for (int k = 0; k <= bi[i].plen; k++) __builtin_prefetch(PyBytes_AS_STRING(objs[bi[i].first + k]));
    for (Py_ssize_t i = 0; i < m; i++) {
        /* The hashes live in scattered bytes objects: fetch them two items ahead of the fold. */
        if (i + 2 < m) {
            const batch_item *nx = &bi[i + 2];
            for (int k = 0; k <= nx->plen; k++) __builtin_prefetch(PyBytes_AS_STRING(objs[nx->first + k]));
        }
        if (batch_fold(&bi[i], size, root, objs, &path[0], have_path, &path[1])) have_path = 1;
        else if (bi[i].pos < bad) bad = bi[i].pos;
    }
    Py_END_ALLOW_THREADS

    for (Py_ssize_t i = 0; i < nobjs; i++) Py_DECREF(objs[i]);
    PyMem_RawFree(bi);
    PyMem_RawFree(objs);
    PyMem_RawFree(path);
    if (bad == n) Py_RETURN_NONE;
    return PyLong_FromSsize_t(bad);

not_fast:
    PyErr_SetString(PyExc_TypeError, "verify_inclusion_batch: not the fast path's types");
    return NULL;
}


/* ---- kernel selection --------------------------------------------------------------------- */

static PyObject *py_kernel(PyObject *self, PyObject *unused) {
    return PyUnicode_FromString(use_ni ? "sha-ni" : "libcrypto");
}

static int ni_available;

/* _set_kernel(name) -> previous name: for the differential tests and the benchmarks only. */
static PyObject *py_set_kernel(PyObject *self, PyObject *arg) {
    const char *name = PyUnicode_Check(arg) ? PyUnicode_AsUTF8(arg) : NULL;
    if (!name) {
        PyErr_SetString(PyExc_TypeError, "kernel name must be a str");
        return NULL;
    }
    PyObject *prev = py_kernel(self, NULL);
    if (strcmp(name, "libcrypto") == 0) use_ni = 0;
    else if (strcmp(name, "sha-ni") == 0 && ni_available) use_ni = 1;
    else {
        Py_XDECREF(prev);
        PyErr_Format(PyExc_ValueError, "kernel %R is not available here", arg);
        return NULL;
    }
    return prev;
}

#ifdef HAVE_NI_CODE
/* Known-answer check of the SHA-NI kernel against libcrypto, on every length class. */
static int ni_self_test(void) {
    unsigned char data[300], a[HASH], b[HASH];
    for (int i = 0; i < (int)sizeof data; i++) data[i] = (unsigned char)(i * 151 + 17);
    for (size_t len = 0; len <= sizeof data; len++) {
        ni_prefixed(0x00, data, len, a);
        lc_prefixed(0x00, data, len, b);
        if (memcmp(a, b, HASH)) return 0;
    }
    ni_node(data, data + 32, a);
    lc_node(data, data + 32, b);
    if (memcmp(a, b, HASH)) return 0;
    unsigned char lvl[4 * HASH], out[2 * HASH];
    memcpy(lvl, data + 5, sizeof lvl);
    ni_level(lvl, 2, out);
    lc_node(lvl, lvl + 32, b);
    if (memcmp(out, b, HASH)) return 0;
    lc_node(lvl + 64, lvl + 96, b);
    if (memcmp(out + 32, b, HASH)) return 0;
    const unsigned char *ptrs[3] = {data, data + 7, data + 40};
    Py_ssize_t lens[3] = {54, 33, 200};
    unsigned char leaves[3][HASH], *outs[3] = {leaves[0], leaves[1], leaves[2]};
    ni_leaves(ptrs, lens, 3, outs);
    for (int i = 0; i < 3; i++) {
        lc_prefixed(0x00, ptrs[i], (size_t)lens[i], b);
        if (memcmp(leaves[i], b, HASH)) return 0;
    }
    return 1;
}
#endif

static PyMethodDef methods[] = {
    {"hash_leaves", py_hash_leaves, METH_O, "hash_leaves(items) -> list[bytes]: SHA-256(0x00 || item) of each bytes-like item."},
    {"root", py_root, METH_O, "root(leaf_hashes) -> bytes: RFC 9162 MTH of a non-empty sequence of 32-byte hashes."},
    {"root_of_entries", py_root_of_entries, METH_O, "root_of_entries(items) -> bytes: MTH over the leaf hashes of a non-empty sequence of bytes-like items."},
    {"hash_pairs", py_hash_pairs, METH_O, "hash_pairs(hashes) -> list[bytes]: the node hash of each complete adjacent pair."},
    {"fold_inclusion", (PyCFunction)(void (*)(void))py_fold_inclusion, METH_FASTCALL, "fold_inclusion(leaf, index, size, proof) -> bytes: the root an inclusion proof leads to."},
    {"verify_inclusion", (PyCFunction)(void (*)(void))py_verify_inclusion, METH_FASTCALL, "verify_inclusion(leaf, index, size, proof, root) -> None | bytes (fast path of merkle.verify_inclusion)."},
    {"verify_inclusion_batch", (PyCFunction)(void (*)(void))py_verify_inclusion_batch, METH_FASTCALL, "verify_inclusion_batch(items, size, root) -> None | int (fast path of merkle.verify_inclusion_batch)."},
    {"kernel", py_kernel, METH_NOARGS, "kernel() -> 'sha-ni' | 'libcrypto': the SHA-256 implementation in use."},
    {"_set_kernel", py_set_kernel, METH_O, "_set_kernel(name) -> previous: for tests and benchmarks."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "ledger.tlog._native",
    .m_doc = "RFC 9162 hashing: SHA-NI or OpenSSL libcrypto.",
    .m_size = -1,
    .m_methods = methods,
};

PyMODINIT_FUNC PyInit__native(void) {
#ifdef USE_EVP
    evp_sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
    if (!evp_sha256) {
        PyErr_SetString(PyExc_ImportError, "libcrypto has no SHA256");
        return NULL;
    }
#endif
#ifdef HAVE_NI_CODE
    ni_available = cpu_has_sha_ni() && ni_self_test();
    use_ni = ni_available;
#endif
    PyObject *m = PyModule_Create(&module);
    if (!m) return NULL;
    /* The kernels, for the model layer's extension (ledger/model/_compose.c): it calls them
       through this table, so both modules share one kernel choice (use_ni). */
    static const eduledger_hash_api api = {EDULEDGER_HASH_API_VERSION, k_node, k_leaves, entries_get, entries_free};
    PyObject *capsule = PyCapsule_New((void *)&api, EDULEDGER_HASH_API_CAPSULE, NULL);
    if (!capsule || PyModule_AddObject(m, "_C_API", capsule) < 0) {
        Py_XDECREF(capsule);
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
