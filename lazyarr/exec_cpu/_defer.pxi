# Deferred weight updates across a loop's steps (`Deferred`, planned by `exec_cpu/ahead.py`).

#: a block of deferred steps reads this many rows of the stacked argument at once
cdef Py_ssize_t g_defer_rows = 48


cdef Py_ssize_t g_deferred_blocks = 0


def deferred_blocks():
    """How many blocks of deferred updates have been applied (tests count the path)."""
    return g_deferred_blocks


def defer_rows():
    """Rows of the stacked argument per block of deferred steps (`set_defer_rows`)."""
    return g_defer_rows


def set_defer_rows(Py_ssize_t n):
    """Rows of the stacked argument per block of deferred steps (`Deferred`); returns the
    previous value (tests, A/B)."""
    global g_defer_rows
    cdef Py_ssize_t was = g_defer_rows
    g_defer_rows = n if n > 0 else 1
    return was


cdef class Deferred:
    """The carried float32 matrix ``W`` (K x N) of a loop whose step reads it as ``x_i @ W``
    (`product`, ``x_i`` the step's m rows of a stacked argument) and updates it in place as
    ``W += alpha_i * x_i.T @ d_i`` (`update`), and nothing else reads it. The updates of a
    block of ``R`` steps are applied together, one rank-``R*m`` gemm, and the block's products
    come from one gemm at its start: step ``q`` of the block takes
    ``x_q @ W_0 + (x_q @ X_<q.T) @ (alpha * D_<q)``, the product with the updated ``W`` (equal
    up to rounding). The block's Gram matrix ``X @ X.T`` is one more gemm at its start, so a
    step's correction is one small product (at one row per step the row kernel: OpenBLAS
    costs ~10 us a call at these sizes). Any step that does not fit applies the pending updates
    first and runs as a plain call."""
    cdef GemmThunk product, update
    cdef cnp.ndarray rows, pblock, dp, gram
    cdef object w
    cdef Py_ssize_t m, K, N, R, n, i, b, nb, r

    def __init__(self, GemmThunk product, GemmThunk update, cnp.ndarray rows, Py_ssize_t m,
                 Py_ssize_t n):
        """``rows``: the stacked argument as a C-contiguous float32 (steps * m, K) matrix;
        ``n`` steps."""
        self.product = product
        self.update = update
        self.rows = rows
        self.m = m
        self.K = cnp.PyArray_DIMS(rows)[1]
        self.n = n
        self.R = Deferred.block_steps(m)
        self.N = -1
        self.b = -1
        self.r = 0
        self.i = 0
        self.w = None

    @staticmethod
    def block_steps(Py_ssize_t m):
        """Steps per block for products of ``m`` rows (1: deferring gains nothing)."""
        return g_defer_rows // m if 0 < m <= g_defer_rows else 1

    def attach(self):
        """Take the two thunks over for the loop's steps (until `detach`)."""
        self.product.defer = self
        self.update.defer = self

    def detach(self):
        """Apply what is pending and hand the thunks back to plain calls."""
        try:
            self._flush()
        finally:
            self.product.defer = None
            self.update.defer = None

    def at(self, Py_ssize_t i):
        """The loop runs step ``i`` next."""
        self.i = i

    cdef int _flush(self) except -1:
        """``W += X_block.T @ D`` for the pending steps; no block open after."""
        global g_deferred_blocks, g_few_par
        g_few_par = False  # the block's gemm runs on OpenBLAS's threads (`g_few_par`)
        cdef Py_ssize_t rm = self.r * self.m
        cdef cnp.ndarray w
        if self.r > 0:
            w = <cnp.ndarray>self.w
            with nogil:
                _gemm_ab(cnp.NPY_FLOAT, b'N', b'T', <int>self.N, <int>self.K, <int>rm,
                         _one(cnp.NPY_FLOAT), cnp.PyArray_BYTES(self.dp), <int>self.N,
                         cnp.PyArray_BYTES(self.rows) + self.b * self.m * self.K * 4,
                         <int>self.K, _one(cnp.NPY_FLOAT), cnp.PyArray_BYTES(w),
                         <int>self.N)
            g_deferred_blocks += 1
        self.r = 0
        self.b = -1
        return 0

    cdef bint _row_of_step(self, cnp.ndarray a, bint transposed):
        """Whether ``a`` is this step's m rows of the stacked argument (``transposed``: their
        (K x m) transpose), read in place."""
        cdef char *want = cnp.PyArray_BYTES(self.rows) + self.i * self.m * self.K * 4
        cdef cnp.npy_intp *s = cnp.PyArray_STRIDES(a)
        cdef cnp.npy_intp *d = cnp.PyArray_DIMS(a)
        if cnp.PyArray_NDIM(a) != 2 or cnp.PyArray_BYTES(a) != want:
            return False
        if transposed:
            return (d[0] == self.K and d[1] == self.m and s[0] == 4
                    and (self.m == 1 or s[1] == 4 * self.K))
        return (d[0] == self.m and d[1] == self.K and s[1] == 4
                and (self.m == 1 or s[0] == 4 * self.K))

    cdef bint take(self, GemmThunk t, list storage) except -1:
        """Run ``t`` (the product or the update) deferred; False: run it as usual (pending
        updates applied first)."""
        global g_few_par
        g_few_par = False  # beside the deferred gemms on OpenBLAS's threads (`g_few_par`)
        if self.i >= self.n:
            self._flush()
            return False
        cdef PyObject *xs[5]
        cdef object o
        cdef int j
        for j in range(5):
            o = storage[<Py_ssize_t>t.ins[j]]
            if type(o) is not cnp.ndarray or not _plain(<cnp.ndarray>o, cnp.NPY_FLOAT):
                self._flush()
                return False
            xs[j] = <PyObject *>o
        if t is self.product:
            if self._product(storage, <cnp.ndarray>xs[0], <cnp.ndarray>xs[1],
                             <cnp.ndarray>xs[2], <cnp.ndarray>xs[3], <cnp.ndarray>xs[4]):
                return True
        elif self._update(storage, <cnp.ndarray>xs[0], <cnp.ndarray>xs[1],
                          <cnp.ndarray>xs[2], <cnp.ndarray>xs[3], <cnp.ndarray>xs[4]):
            return True
        self._flush()
        return False

    cdef bint _product(self, list storage, cnp.ndarray c, cnp.ndarray al, cnp.ndarray a,
                       cnp.ndarray w, cnp.ndarray be) except -1:
        cdef Py_ssize_t m = self.m, K = self.K, N, q, rr, jj, bm, left, blocks
        cdef char *xb
        if (cnp.PyArray_NDIM(w) != 2 or cnp.PyArray_DIMS(w)[0] != K
                or not cnp.PyArray_IS_C_CONTIGUOUS(w) or not cnp.PyArray_ISWRITEABLE(w)
                or not self._row_of_step(a, False) or cnp.PyArray_NDIM(al) != 0
                or cnp.PyArray_NDIM(be) != 0):
            return False
        N = cnp.PyArray_DIMS(w)[1]
        cdef float alpha = (<float *>cnp.PyArray_DATA(al))[0]
        cdef float beta = (<float *>cnp.PyArray_DATA(be))[0]
        cdef cnp.npy_intp csize = cnp.PyArray_SIZE(c)
        if N == 0 or not cnp.PyArray_IS_C_CONTIGUOUS(c) or not (
                csize == 1 or csize == m * N or (csize == N and (
                    cnp.PyArray_NDIM(c) == 1 or cnp.PyArray_DIMS(c)[0] == 1))):
            return False
        if beta == 0 and not np.isfinite(c).all():
            return False  # IEEE's NaN * 0: the plain path's rule
        if self.b >= 0 and (w is not self.w or self.i - self.b != self.r
                            or self.i - self.b >= self.nb):
            self._flush()
        cdef cnp.npy_intp shp[2]
        if self.b < 0:  # a new block: its products with W as it is now
            self.b = self.i
            # the steps left in blocks of at most R, as even as can be (fig1's 32-step loops
            # at R = 6: 6, 6, 5, 5, 5, 5 rather than five of 6 and one of 2)
            left = self.n - self.i
            blocks = (left + self.R - 1) // self.R
            self.nb = (left + blocks - 1) // blocks
            self.w = w
            if self.N != N or self.pblock is None:
                self.N = N
                shp[0] = self.R * m
                shp[1] = N
                self.pblock = cnp.PyArray_EMPTY(2, shp, cnp.NPY_FLOAT, 0)
                self.dp = cnp.PyArray_EMPTY(2, shp, cnp.NPY_FLOAT, 0)
                shp[0] = self.R * m
                shp[1] = self.R * m
                self.gram = cnp.PyArray_EMPTY(2, shp, cnp.NPY_FLOAT, 0)
            bm = self.nb * m
            xb = cnp.PyArray_BYTES(self.rows) + self.b * m * K * 4
            with nogil:
                _gemm_ab(cnp.NPY_FLOAT, b'N', b'N', <int>N, <int>bm, <int>K,
                         _one(cnp.NPY_FLOAT), cnp.PyArray_BYTES(w), <int>N, xb, <int>K,
                         _zero(cnp.NPY_FLOAT), cnp.PyArray_BYTES(self.pblock), <int>N)
                # the block's Gram matrix X @ X.T (bm x bm, row stride R * m)
                _gemm_ab(cnp.NPY_FLOAT, b'T', b'N', <int>bm, <int>bm, <int>K,
                         _one(cnp.NPY_FLOAT), xb, <int>K, xb, <int>K, _zero(cnp.NPY_FLOAT),
                         cnp.PyArray_BYTES(self.gram), <int>(self.R * m))
        q = self.i - self.b
        shp[0] = m
        shp[1] = N
        cdef cnp.ndarray out = _target(storage, <Py_ssize_t>self.product.outs[0], 2, shp,
                                       cnp.NPY_FLOAT)
        if out is None:
            out = cnp.PyArray_EMPTY(2, shp, cnp.NPY_FLOAT, 0)
        # out = alpha * (x_q @ W_0) + beta * c, row by row (c: full, a row, or one value)
        cdef float *po = <float *>cnp.PyArray_DATA(out)
        cdef const float *pb = <const float *>cnp.PyArray_DATA(self.pblock) + q * m * N
        cdef const float *pc = <const float *>cnp.PyArray_DATA(c)
        cdef const float *crow
        cdef float c0 = pc[0]
        for rr in range(m):
            if beta == 0:
                for jj in range(N):
                    po[rr * N + jj] = alpha * pb[rr * N + jj]
            elif csize == 1:
                for jj in range(N):
                    po[rr * N + jj] = alpha * pb[rr * N + jj] + beta * c0
            else:
                crow = pc + (rr * N if csize == m * N else 0)
                if alpha == 1 and beta == 1:
                    for jj in range(N):
                        po[rr * N + jj] = pb[rr * N + jj] + crow[jj]
                else:
                    for jj in range(N):
                        po[rr * N + jj] = alpha * pb[rr * N + jj] + beta * crow[jj]
        cdef Py_ssize_t ldg = self.R * m
        cdef const float *gq = <const float *>cnp.PyArray_DATA(self.gram) + q * m * ldg
        cdef const float *dpp = <const float *>cnp.PyArray_DATA(self.dp)
        if q > 0:  # + alpha * the pending updates' share, (x_q @ X_<q.T) @ (alpha_u * D_<q)
            if m == 1 and g_small and N >= 8:
                la_rowmv_f32(q, N, gq, 1, dpp, N, alpha, 1.0, po)
            else:
                with nogil:
                    _gemm_ab(cnp.NPY_FLOAT, b'N', b'N', <int>N, <int>m, <int>(q * m),
                             <char *>&alpha, <char *>dpp, <int>N, <char *>gq, <int>ldg,
                             _one(cnp.NPY_FLOAT), <char *>po, <int>N)
        storage[<Py_ssize_t>self.product.outs[0]] = out
        return True

    cdef bint _update(self, list storage, cnp.ndarray w, cnp.ndarray al, cnp.ndarray a,
                      cnp.ndarray d, cnp.ndarray be) except -1:
        cdef Py_ssize_t m = self.m, N = self.N, q = self.i - self.b, rr, jj
        if (self.b < 0 or w is not self.w or q != self.r or q >= self.nb
                or cnp.PyArray_NDIM(al) != 0 or cnp.PyArray_NDIM(be) != 0
                or (<float *>cnp.PyArray_DATA(be))[0] != 1.0
                or not self._row_of_step(a, True) or cnp.PyArray_NDIM(d) != 2
                or cnp.PyArray_DIMS(d)[0] != m or cnp.PyArray_DIMS(d)[1] != N
                or cnp.PyArray_STRIDES(d)[1] != 4 or cnp.PyArray_STRIDES(d)[0] % 4
                or cnp.PyArray_STRIDES(d)[0] < 0):
            return False
        cdef float alpha = (<float *>cnp.PyArray_DATA(al))[0]
        cdef const char *pd = cnp.PyArray_BYTES(d)
        cdef cnp.npy_intp sd = cnp.PyArray_STRIDES(d)[0]
        cdef float *dst = <float *>cnp.PyArray_DATA(self.dp) + q * m * N
        cdef const float *src
        for rr in range(m):
            src = <const float *>(pd + rr * sd)
            for jj in range(N):
                dst[rr * N + jj] = alpha * src[jj]
        self.r += 1
        if self.r == self.nb:
            self._flush()
        storage[<Py_ssize_t>self.update.outs[0]] = w
        return True
