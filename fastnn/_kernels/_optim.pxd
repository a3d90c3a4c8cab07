# Optimizer updates, fused elementwise, in place, on flat arrays.
#
# The moving averages are exponentially weighted (beta * avg + (1 - beta) * new):
#     sgd:       w -= lr * g
#     momentum:  v = beta * v + (1 - beta) * g;               w -= lr * v
#     nesterov:  v = momentum * v + g;                         w -= lr * (g + momentum * v)
#                (torch.optim.SGD with nesterov=True)
#     rmsprop:   s = beta2 * s + (1 - beta2) * g^2;           w -= lr * g / (sqrt(s) + eps)
#     adam:      m = beta1 * m + (1 - beta1) * g
#                v = beta2 * v + (1 - beta2) * g^2
#                w -= lr * (m / c1) / (sqrt(v / c2) + eps),  c1 = 1 - beta1^t, c2 = 1 - beta2^t
#     adamw:     w -= lr * weight_decay * w, then adam without the L2 term
#                (decoupled weight decay, Loshchilov & Hutter 2019; torch.optim.AdamW)
#     nadam:     adam's m and v; d = sqrt(v / c2) + eps,
#                w -= lr (1 - mu_t) / (1 - P_t) * g / d + lr mu_t+1 / (1 - P_t mu_t+1) * m / d
#                mu_t = beta1 (1 - 0.5 * 0.96^(t psi)), P_t = mu_1 ... mu_t
#                (torch.optim.NAdam; P_t is carried in u.cache from step to step)
# Weight decay (L2) in the other rules adds weight_decay * w to g first
# (PyTorch's weight_decay=). It applies only where the caller says: the
# decay segments of the flat array (a model's weight matrices, not its
# biases or batch norm's gamma and beta).
# The caller passes the step number t (counting from 1). Each 1 - beta is taken
# in double, then rounded once to the arrays' type (1 - beta rounded to float32
# is off by up to 1e-5 relative for beta near 1).
# Adam is computed in the equivalent order of Kingma & Ba (2015, sec. 2),
#     w -= (lr * sqrt(c2) / c1) * m / (sqrt(v) + eps * sqrt(c2)),
# one division and one square root per parameter instead of three and one:
# the update is compute-bound, not memory-bound.
# A model keeps all its parameters in one flat buffer, so one call updates
# them all.
#
# Each rule is a row of RULES in fastnn/kinds.py and two functions here,
# named after it:
#     <name>_prepare(u, k)   the step's constants k[0..3] (bias corrections...)
#     <name>_apply(u, w, g, s, lo, n, k, wd)   the step on w[0:n], weight decay wd
# The build writes _rules.pxi from fastnn/kinds.py: the dispatch from a rule's
# number (its row) to its functions, included below.
#
# Cores: raw pointers, no GIL.

from cython cimport floating
from cython.parallel cimport prange
from libc.math cimport pow, sqrt, sqrtf
from libc.stdint cimport int64_t

from fastnn._kernels._parallel cimport PARALLEL_MIN, BLOCK, n_blocks

cdef enum:
    MAX_SLOTS = 4             # state arrays per rule, at most
    MAX_HYPER = 4             # hyperparameters per rule, at most


cdef struct Update:
    # One optimizer step over a flat parameter array.
    int rule
    Py_ssize_t size
    char* w                   # IN/OUT (size,) parameters
    char* g                   # IN     (size,) gradients
    char* s[MAX_SLOTS]        # IN/OUT (size,) state arrays, in the rule's order
    double lr
    double h[MAX_HYPER]       # the rule's hyperparameters, in its order
    double weight_decay
    const int64_t* decay      # (2 * n_decay,) sorted [start, end) segments weight decay applies to
    Py_ssize_t n_decay
    int64_t t                 # this step's number, counting from 1
    double cache[2]           # a rule's values carried from step to step (zeros at first)
    double decay_per_weight   # > 0: a training epoch sets each batch's weight decay to this
                              # over the batch's weight (scikit-learn's L2 of weighted batches)


cdef inline floating _sqrt(floating x) noexcept nogil:
    if floating is float:
        return sqrtf(x)
    else:
        return sqrt(x)


cdef inline void optim_update(const Update* u, bint is_double, int n_threads) noexcept nogil:
    optim_update_range(u, 0, u.size, is_double, n_threads)


cdef inline void optim_update_range(const Update* u, Py_ssize_t first, Py_ssize_t last,
                                    bint is_double, int n_threads) noexcept nogil:
    """The step on parameters [first, last) only: the rule is elementwise, so updating
    a model's parameters piece by piece gives the bits of one whole update."""
    if is_double:
        _update_range(u, <double*> u.w, first, last, n_threads)
    else:
        _update_range(u, <float*> u.w, first, last, n_threads)


cdef inline void _update_range(const Update* u, floating* w, Py_ssize_t first, Py_ssize_t last,
                               int n_threads) noexcept nogil:
    cdef Py_ssize_t b, lo, hi, pos, k, start, end, size = last - first
    cdef double c[4]
    c[0] = c[1] = c[2] = c[3] = 0
    _prepare(<Update*> u, c)       # the step's constants (a rule may carry values in u.cache)
    for b in prange(n_blocks(size, BLOCK), num_threads=n_threads, schedule='static',
                    use_threads_if=size >= PARALLEL_MIN):
        lo = first + b * BLOCK
        hi = min(BLOCK, last - lo) + lo
        if u.weight_decay == 0:
            _apply(u, w, lo, hi, c, 0)
            continue
        pos = lo                          # this block, cut at the decay segments' edges
        for k in range(u.n_decay):
            start, end = max(u.decay[2 * k], pos), min(u.decay[2 * k + 1], hi)
            if end <= start:
                continue
            if start > pos:
                _apply(u, w, pos, start, c, 0)
            _apply(u, w, start, end, c, u.weight_decay)
            pos = end
        if pos < hi:
            _apply(u, w, pos, hi, c, 0)


# ---------------------------------------------------------------- the rules
# One pair per row of RULES in fastnn/kinds.py. k: the step's constants.

cdef inline void sgd_prepare(Update* u, double* k) noexcept nogil:
    k[0] = u.lr


cdef inline void sgd_apply(const Update* u, floating* w, const floating* g, floating** s,
                           Py_ssize_t lo, Py_ssize_t n, const double* k,
                           double wd) noexcept nogil:
    _sgd(w, g, n, <floating> k[0], <floating> wd)


cdef inline void momentum_prepare(Update* u, double* k) noexcept nogil:
    k[0] = u.lr


cdef inline void momentum_apply(const Update* u, floating* w, const floating* g, floating** s,
                                Py_ssize_t lo, Py_ssize_t n, const double* k,
                                double wd) noexcept nogil:
    _momentum(w, g, s[0] + lo, n, <floating> k[0], <floating> u.h[0],
              <floating> (1.0 - u.h[0]), <floating> wd)


cdef inline void nesterov_prepare(Update* u, double* k) noexcept nogil:
    k[0] = u.lr


cdef inline void nesterov_apply(const Update* u, floating* w, const floating* g, floating** s,
                                Py_ssize_t lo, Py_ssize_t n, const double* k,
                                double wd) noexcept nogil:
    cdef floating* v = s[0] + lo
    cdef floating mu = <floating> u.h[0], lr = <floating> k[0], f = <floating> wd, gi
    cdef Py_ssize_t i
    for i in range(n):
        gi = g[i] + f * w[i]
        v[i] = mu * v[i] + gi
        w[i] = w[i] - lr * (gi + mu * v[i])


cdef inline void rmsprop_prepare(Update* u, double* k) noexcept nogil:
    k[0] = u.lr


cdef inline void rmsprop_apply(const Update* u, floating* w, const floating* g, floating** s,
                               Py_ssize_t lo, Py_ssize_t n, const double* k,
                               double wd) noexcept nogil:
    _rmsprop(w, g, s[0] + lo, n, <floating> k[0], <floating> u.h[0],
             <floating> (1.0 - u.h[0]), <floating> u.h[1], <floating> wd)


cdef inline void adam_prepare(Update* u, double* k) noexcept nogil:
    """The bias corrections folded into the step and eps."""
    cdef double root_c2 = sqrt(1.0 - pow(u.h[1], u.t))
    k[0] = u.lr * root_c2 / (1.0 - pow(u.h[0], u.t))
    k[1] = u.h[2] * root_c2


cdef inline void adam_apply(const Update* u, floating* w, const floating* g, floating** s,
                            Py_ssize_t lo, Py_ssize_t n, const double* k,
                            double wd) noexcept nogil:
    _adam(w, g, s[0] + lo, s[1] + lo, n, <floating> k[0], <floating> u.h[0],
          <floating> (1.0 - u.h[0]), <floating> u.h[1], <floating> (1.0 - u.h[1]),
          <floating> k[1], <floating> wd, 1)


cdef inline void adamw_prepare(Update* u, double* k) noexcept nogil:
    adam_prepare(u, k)


cdef inline void adamw_apply(const Update* u, floating* w, const floating* g, floating** s,
                             Py_ssize_t lo, Py_ssize_t n, const double* k,
                             double wd) noexcept nogil:
    _adam(w, g, s[0] + lo, s[1] + lo, n, <floating> k[0], <floating> u.h[0],
          <floating> (1.0 - u.h[0]), <floating> u.h[1], <floating> (1.0 - u.h[1]),
          <floating> k[1], 0, <floating> (1.0 - u.lr * wd))


cdef inline double _nadam_mu(const Update* u, int64_t t) noexcept nogil:
    return u.h[0] * (1.0 - 0.5 * pow(0.96, t * u.h[3]))


cdef inline void nadam_prepare(Update* u, double* k) noexcept nogil:
    cdef int64_t j
    cdef double product, mu, mu_next
    if u.cache[0] != u.t:             # P_t: from P_(t-1) when the last step left it, else anew
        if u.t > 1 and u.cache[0] == u.t - 1:
            product = u.cache[1] * _nadam_mu(u, u.t)
        else:
            product = 1.0
            for j in range(1, u.t + 1):
                product = product * _nadam_mu(u, j)
        u.cache[0], u.cache[1] = u.t, product
    mu, mu_next, product = _nadam_mu(u, u.t), _nadam_mu(u, u.t + 1), u.cache[1]
    k[0] = u.lr * (1.0 - mu) / (1.0 - product)
    k[1] = u.lr * mu_next / (1.0 - product * mu_next)
    k[2] = 1.0 - pow(u.h[1], u.t)


cdef inline void nadam_apply(const Update* u, floating* w, const floating* g, floating** s,
                             Py_ssize_t lo, Py_ssize_t n, const double* k,
                             double wd) noexcept nogil:
    cdef floating* m = s[0] + lo
    cdef floating* v = s[1] + lo
    cdef floating b1 = <floating> u.h[0], c1 = <floating> (1.0 - u.h[0])
    cdef floating b2 = <floating> u.h[1], c2 = <floating> (1.0 - u.h[1])
    cdef floating a = <floating> k[0], b = <floating> k[1], bc2 = <floating> k[2]
    cdef floating eps = <floating> u.h[2], f = <floating> wd, gi, d
    cdef Py_ssize_t i
    for i in range(n):
        gi = g[i] + f * w[i]
        m[i] = b1 * m[i] + c1 * gi
        v[i] = b2 * v[i] + c2 * gi * gi
        d = _sqrt(v[i] / bc2) + eps
        w[i] = w[i] - a * gi / d
        w[i] = w[i] - b * m[i] / d


include "_rules.pxi"


cdef inline void _sgd(floating* w, const floating* g, Py_ssize_t n, floating lr,
                      floating wd) noexcept nogil:
    cdef Py_ssize_t i
    for i in range(n):
        w[i] -= lr * (g[i] + wd * w[i])


cdef inline void _momentum(floating* w, const floating* g, floating* v, Py_ssize_t n,
                           floating lr, floating b1, floating c1, floating wd) noexcept nogil:
    cdef Py_ssize_t i
    for i in range(n):
        v[i] = b1 * v[i] + c1 * (g[i] + wd * w[i])
        w[i] -= lr * v[i]


cdef inline void _rmsprop(floating* w, const floating* g, floating* s, Py_ssize_t n,
                          floating lr, floating b2, floating c2, floating eps,
                          floating wd) noexcept nogil:
    cdef Py_ssize_t i
    cdef floating gi
    for i in range(n):
        gi = g[i] + wd * w[i]
        s[i] = b2 * s[i] + c2 * gi * gi
        w[i] -= lr * gi / (_sqrt(s[i]) + eps)


cdef inline void _adam(floating* w, const floating* g, floating* m, floating* v, Py_ssize_t n,
                       floating lr, floating b1, floating c1, floating b2, floating c2,
                       floating eps, floating wd, floating shrink) noexcept nogil:
    """Adam; wd adds L2 to the gradient, shrink (1 - lr * weight_decay) decouples it (AdamW)."""
    cdef Py_ssize_t i
    cdef floating gi
    for i in range(n):
        gi = g[i] + wd * w[i]
        m[i] = b1 * m[i] + c1 * gi
        v[i] = b2 * v[i] + c2 * gi * gi
        w[i] = w[i] * shrink - lr * m[i] / (_sqrt(v[i]) + eps)
