//! The SMO solver of libsvm (Fan, Chen and Lin 2005): second-order
//! working-set selection (WSS3), shrinking with gradient reconstruction, a
//! size-bounded kernel cache, and libsvm's stopping rule, for
//!
//! `min 1/2 a'Qa + p'a` subject to `y'a = Δ`, `0 <= a_i <= C_i`,
//!
//! plus the ν variant, which also keeps `e'a` constant by choosing both
//! working-set indices among samples of one sign. Every choice, tie and
//! update is libsvm's, so the same problem gives the same support set.

use super::kernel::{Cache, KernelRows};
use super::lanes::{dispatch, eq_mask, pad, Lanes, Mask, WithLanes, W};

const TAU: f64 = 1e-12;
const INF: f64 = f64::INFINITY;

/// The `Q` matrix of a dual, with its diagonal, over the solver's order.
pub(crate) enum QMatrix {
    /// `Q_ij = y_i y_j K_ij` (`y = 1` everywhere for one-class).
    Direct {
        rows: KernelRows,
        cache: Cache,
        y: Option<Vec<f32>>,
    },
    /// ε- and ν-SVR: `2l` variables over `l` samples, `Q_ij = s_i s_j
    /// K(idx_i, idx_j)`; the kernel rows are cached per sample.
    Doubled {
        rows: KernelRows,
        cache: Cache,
        sign: Vec<f32>,
        index: Vec<usize>,
        bufs: [Vec<f32>; 2],
        /// The (position, length) each buffer holds, if still valid: the
        /// selection expands row i and the step asks for it again.
        held: [Option<(usize, usize)>; 2],
    },
}

impl QMatrix {
    /// `Q = diag(y) K diag(y)` (`y = None`: `Q = K`) and its diagonal.
    pub(crate) fn direct(
        rows: KernelRows,
        y: Option<Vec<f32>>,
        cache_bytes: usize,
    ) -> (Self, Vec<f64>) {
        let l = rows.len();
        let qd = (0..l).map(|i| rows.diag(i)).collect();
        let q = QMatrix::Direct {
            cache: Cache::new(l, cache_bytes),
            rows,
            y,
        };
        (q, qd)
    }

    /// The SVR matrix over `2l` variables and its diagonal.
    pub(crate) fn doubled(rows: KernelRows, cache_bytes: usize) -> (Self, Vec<f64>) {
        let l = rows.len();
        let diag: Vec<f64> = (0..l).map(|i| rows.diag(i)).collect();
        let q = QMatrix::Doubled {
            cache: Cache::new(l, cache_bytes),
            rows,
            sign: (0..2 * l).map(|k| if k < l { 1.0 } else { -1.0 }).collect(),
            index: (0..2 * l).map(|k| k % l).collect(),
            bufs: [vec![0.0; 2 * l], vec![0.0; 2 * l]],
            held: [None, None],
        };
        (q, diag.iter().chain(diag.iter()).copied().collect())
    }

    /// Applies the cache's deferred swaps; call before reading rows again.
    fn flush(&mut self) {
        if let QMatrix::Direct { cache, .. } = self {
            cache.flush();
        }
    }

    fn swap(&mut self, a: usize, b: usize) {
        match self {
            QMatrix::Direct { rows, cache, y } => {
                cache.swap(a, b);
                rows.swap(a, b);
                if let Some(y) = y {
                    y.swap(a, b);
                }
            }
            QMatrix::Doubled {
                sign, index, held, ..
            } => {
                sign.swap(a, b);
                index.swap(a, b);
                *held = [None, None];
            }
        }
    }

    /// Makes a kernel row available in the cache (`Direct`: position `i`'s
    /// first `len` values; `Doubled`: sample `i`'s full row). When row `i`
    /// is not held at all, the rows of `ahead` not held either are computed
    /// in the same pass over the training rows (see [`KernelRows::rows`]):
    /// the solver names the rows it expects to ask for next. Which rows are
    /// computed when never changes a value.
    fn fill(
        rows: &KernelRows,
        cache: &mut Cache,
        y: Option<&[f32]>,
        (i, len): (usize, usize),
        ahead: &[usize],
    ) {
        if cache.held(i) == 0 && !ahead.is_empty() {
            // One row fewer than fits, so that the row the solver holds
            // besides this block is never evicted by it.
            let fit = cache
                .rows_fitting(len)
                .saturating_sub(1)
                .min(ahead.len() + 1);
            let mut block = vec![i];
            for &h in ahead {
                if block.len() >= fit {
                    break;
                }
                if cache.held(h) == 0 && !block.contains(&h) {
                    block.push(h);
                }
            }
            if block.len() > 1 {
                block.sort_unstable();
                let outs = cache.get_fresh(&block, len);
                rows.rows(&block, 0, outs, y);
                // Row `i` the most recently used, as a lone fill leaves it.
                cache.get(i, len);
                return;
            }
        }
        let (data, start) = cache.get(i, len);
        if start < len {
            rows.row(i, start, &mut data[start..len], y);
        }
    }

    /// Whether asking for row `i` of `Q` (its first `len` values) computes
    /// no rows ahead: the row is at hand, or partly held ([`Self::fill`]
    /// only computes ahead for a row it holds nothing of), so the solver
    /// need not name the next rows.
    fn is_held(&self, i: usize, len: usize) -> bool {
        match self {
            QMatrix::Direct { cache, .. } => cache.held(i) > 0,
            QMatrix::Doubled {
                cache, index, held, ..
            } => matches!(held[0], Some((q, m)) if q == i && m >= len) || cache.held(index[i]) > 0,
        }
    }

    /// Makes row `j` (its first `len` values) available for the next
    /// request, computing the rows at positions `ahead` with it if it must be
    /// computed (see [`Self::fill`]); the rows handed out last stay valid.
    fn prefetch(&mut self, j: usize, len: usize, ahead: &[usize]) {
        match self {
            QMatrix::Direct { rows, cache, y } => {
                Self::fill(rows, cache, y.as_deref(), (j, len), ahead);
            }
            QMatrix::Doubled {
                rows, cache, index, ..
            } => {
                let ahead: Vec<usize> = ahead.iter().map(|&p| index[p]).collect();
                Self::fill(rows, cache, None, (index[j], rows.len()), &ahead);
            }
        }
    }

    /// The length of `G_bar` as this matrix keeps it: one value per
    /// variable, or for SVR one per sample (see [`Self::g_bar_add`]).
    fn g_bar_len(&self) -> usize {
        match self {
            QMatrix::Direct { rows, .. } | QMatrix::Doubled { rows, .. } => rows.len(),
        }
    }

    /// Whether `G_bar` follows the solver's order (and swaps with it).
    fn g_bar_by_position(&self) -> bool {
        matches!(self, QMatrix::Direct { .. })
    }

    /// `G_bar += c Q_i` (over every variable). SVR keeps `h`, one value per
    /// sample, with `G_bar_k = s_k h[idx_k]`: the update `h += c s_i K(idx_i,
    /// .)` is one pass over the cached kernel row, where the per-variable
    /// form gathers twice as many values. The bits are the same: each term
    /// `c (s_i s_k K)` only changes sign, and a sign flip commutes with every
    /// rounding of the sum.
    fn g_bar_add(&mut self, g_bar: &mut [f64], i: usize, c: f64) {
        match self {
            QMatrix::Direct { rows, cache, y } => {
                let l = g_bar.len();
                Self::fill(rows, cache, y.as_deref(), (i, l), &[]);
                axpy32(g_bar, &cache.row(i)[..l], c);
            }
            QMatrix::Doubled {
                rows,
                cache,
                sign,
                index,
                ..
            } => {
                Self::fill(rows, cache, None, (index[i], rows.len()), &[]);
                axpy32_signed(g_bar, cache.row(index[i]), sign[i], c);
            }
        }
    }

    /// `G_bar_j` from what [`Self::g_bar_add`] keeps.
    fn g_bar_at(&self, g_bar: &[f64], j: usize) -> f64 {
        match self {
            QMatrix::Direct { .. } => g_bar[j],
            QMatrix::Doubled { sign, index, .. } => f64::from(sign[j]) * g_bar[index[j]],
        }
    }

    /// Row `i` of `Q`, its first `len` values.
    pub(crate) fn row(&mut self, i: usize, len: usize) -> &[f32] {
        self.row_ahead(i, len, &[])
    }

    /// [`Self::row`], computing the rows at positions `ahead` with it if it
    /// must be computed (see [`Self::fill`]).
    pub(crate) fn row_ahead(&mut self, i: usize, len: usize, ahead: &[usize]) -> &[f32] {
        match self {
            QMatrix::Direct { rows, cache, y } => {
                Self::fill(rows, cache, y.as_deref(), (i, len), ahead);
                &cache.row(i)[..len]
            }
            QMatrix::Doubled {
                rows,
                cache,
                sign,
                index,
                bufs,
                held,
            } => {
                let [b0, _] = bufs;
                let ahead: Vec<usize> = ahead.iter().map(|&p| index[p]).collect();
                let src = (&*rows, &mut *cache, &sign[..], &index[..]);
                held_row(src, &mut held[0], b0, (i, len), &ahead);
                &bufs[0][..len]
            }
        }
    }

    /// Rows `i` and `j` (`i != j`) of `Q`, their first `len` values each.
    pub(crate) fn rows2(&mut self, i: usize, j: usize, len: usize) -> (&[f32], &[f32]) {
        match self {
            QMatrix::Direct { rows, cache, y, .. } => {
                // The cache holds at least two full rows and evicts the
                // least recently used first, so filling `j` keeps `i`.
                Self::fill(rows, cache, y.as_deref(), (i, len), &[]);
                Self::fill(rows, cache, y.as_deref(), (j, len), &[]);
                let c: &Cache = cache;
                (&c.row(i)[..len], &c.row(j)[..len])
            }
            QMatrix::Doubled {
                rows,
                cache,
                sign,
                index,
                bufs,
                held,
            } => {
                let [b0, b1] = bufs;
                let [h0, h1] = held;
                held_row(
                    (&*rows, &mut *cache, &sign[..], &index[..]),
                    h0,
                    b0,
                    (i, len),
                    &[],
                );
                held_row(
                    (&*rows, &mut *cache, &sign[..], &index[..]),
                    h1,
                    b1,
                    (j, len),
                    &[],
                );
                (&b0[..len], &b1[..len])
            }
        }
    }
}

/// Expands SVR row `p` into `buf` unless `held` says it is there already.
fn held_row(
    (rows, cache, sign, index): (&KernelRows, &mut Cache, &[f32], &[usize]),
    held: &mut Option<(usize, usize)>,
    buf: &mut [f32],
    (p, len): (usize, usize),
    ahead: &[usize],
) {
    if matches!(*held, Some((q, m)) if q == p && m >= len) {
        return;
    }
    QMatrix::fill(rows, cache, None, (index[p], rows.len()), ahead);
    expand(cache.row(index[p]), sign, index, p, &mut buf[..len]);
    *held = Some((p, len));
}

/// `out[k] = s_i s_k K(idx_i, idx_k)` from sample `idx_i`'s kernel row
/// (two halves in parallel for long rows: element-wise).
fn expand(krow: &[f32], sign: &[f32], index: &[usize], i: usize, out: &mut [f32]) {
    let si = sign[i];
    let n = out.len();
    if n < PAR_MIN || !halves() {
        return gather_signed(out, krow, &sign[..n], &index[..n], si);
    }
    let h = n / 2;
    let (o0, o1) = out.split_at_mut(h);
    rayon::join(
        || gather_signed(o0, krow, &sign[..h], &index[..h], si),
        || gather_signed(o1, krow, &sign[h..n], &index[h..n], si),
    );
}

crate::simd::multiversion! {
    /// `out[k] = si * sign[k] * krow[index[k]]`.
    fn gather_signed(out: &mut [f32], krow: &[f32], sign: &[f32], index: &[usize], si: f32) -> ()
        => gather_signed_portable
}

#[inline(always)]
fn gather_signed_portable(out: &mut [f32], krow: &[f32], sign: &[f32], index: &[usize], si: f32) {
    for ((o, &s), &ix) in out.iter_mut().zip(sign).zip(index) {
        *o = signed(krow, si * s, ix);
    }
}

/// `s K[ix]`: every index is a sample's (below `krow.len()`). Written as a
/// checked read with a NaN fallback rather than an index, so that the loops
/// vectorise with masked gathers (an index's panic path keeps them scalar).
#[inline(always)]
fn signed(krow: &[f32], s: f32, ix: usize) -> f32 {
    s * krow.get(ix).copied().unwrap_or(f32::NAN)
}

crate::simd::multiversion! {
    /// `g += c q`.
    fn axpy32(g: &mut [f64], q: &[f32], c: f64) -> () => axpy32_portable
}

crate::simd::multiversion! {
    /// `g += c (s q)` (`s = ±1`: the sign is exact in `f32`).
    fn axpy32_signed(g: &mut [f64], q: &[f32], s: f32, c: f64) -> () => axpy32_signed_portable
}

#[inline(always)]
fn axpy32_signed_portable(g: &mut [f64], q: &[f32], s: f32, c: f64) {
    for (g, &a) in g.iter_mut().zip(q) {
        *g += c * f64::from(s * a);
    }
}

#[inline(always)]
fn axpy32_portable(g: &mut [f64], q: &[f32], c: f64) {
    for (g, &a) in g.iter_mut().zip(q) {
        *g += c * f64::from(a);
    }
}

/// Where a variable sits in its box; bytes, so the selection loops vectorise.
type Status = u8;
const LOWER: Status = 0;
const UPPER: Status = 1;
const FREE: Status = 2;

/// Where `alpha` sits in its box `[0, c]`.
fn status_of(alpha: f64, c: f64) -> Status {
    if alpha >= c {
        UPPER
    } else if alpha <= 0.0 {
        LOWER
    } else {
        FREE
    }
}

/// Whether a variable of sign `y` and status `st` may move up (`I_up`).
#[inline(always)]
fn in_up(y: i8, st: Status) -> bool {
    if y == 1 {
        st != UPPER
    } else {
        st != LOWER
    }
}

/// How many rows the selection names for computing ahead with a row it must
/// compute: a tile of the training rows then serves `AHEAD + 1` rows.
const AHEAD: usize = 7;

/// Positions of the `k` largest keys `key(vals[t])` above `-inf`, except
/// `skip`, largest first.
fn top_k(vals: &[f64], k: usize, skip: usize, key: impl Fn(f64) -> f64) -> Vec<usize> {
    let mut best: Vec<(f64, usize)> = Vec::with_capacity(k + 1);
    let mut floor = -INF;
    for (t, &v) in vals.iter().enumerate() {
        let v = key(v);
        if v > floor && t != skip {
            let at = best.partition_point(|&(b, _)| b >= v);
            best.insert(at, (v, t));
            if best.len() > k {
                best.pop();
            }
            if best.len() == k {
                floor = best[k - 1].0;
            }
        }
    }
    best.into_iter().map(|(_, t)| t).collect()
}

/// Below this many variables a selection or update pass runs on one thread:
/// splitting costs more than it saves.
const PAR_MIN: usize = 4096;

fn halves() -> bool {
    rayon::current_num_threads() >= 2
}

/// [`up_values`] over two halves in parallel: maxima are exact, so the
/// result does not depend on the split.
fn up_values_par(g: &[f64], y: &[i8], st: &[u8], vals: &mut [f64]) -> [f64; 2] {
    let n = vals.len();
    if n < PAR_MIN || !halves() {
        return up_values(g, y, st, vals);
    }
    let h = n / 2;
    let (v0, v1) = vals.split_at_mut(h);
    let (a, b) = rayon::join(
        || up_values(&g[..h], &y[..h], &st[..h], v0),
        || up_values(&g[h..], &y[h..], &st[h..], v1),
    );
    [a[0].max(b[0]), a[1].max(b[1])]
}

/// [`step_up_values`] over two halves in parallel (element-wise updates,
/// exact extremes).
fn step_up_values_par(
    g: &mut [f64],
    (qi, qj): (&[f32], &[f32]),
    da: (f64, f64),
    (y, st): (&[i8], &[u8]),
    vals: &mut [f64],
) -> [f64; 2] {
    let n = vals.len();
    if n < PAR_MIN || !halves() {
        return step_up_values(g, (qi, qj), da, (y, st), vals);
    }
    let h = n / 2;
    let (v0, v1) = vals.split_at_mut(h);
    let (g0, g1) = g.split_at_mut(h);
    let (a, b) = rayon::join(
        || step_up_values(g0, (&qi[..h], &qj[..h]), da, (&y[..h], &st[..h]), v0),
        || step_up_values(g1, (&qi[h..n], &qj[h..n]), da, (&y[h..], &st[h..]), v1),
    );
    [a[0].max(b[0]), a[1].max(b[1])]
}

/// [`low_values`] over two halves in parallel (exact extremes).
fn low_values_par(
    g: &[f64],
    y: &[i8],
    st: &[u8],
    qd: &[f64],
    (q_pos, q_neg): (&[f32], &[f32]),
    sel: &Sides,
    vals: &mut [f64],
) -> ([f64; 2], f64) {
    let n = vals.len();
    if n < PAR_MIN || !halves() {
        return low_values(g, y, st, qd, (q_pos, q_neg), sel, vals);
    }
    let h = n / 2;
    let (v0, v1) = vals.split_at_mut(h);
    let (lo, hi) = (..h, h..);
    let (a, b) = rayon::join(
        || {
            let q = (&q_pos[lo], &q_neg[lo]);
            low_values(&g[lo], &y[lo], &st[lo], &qd[lo], q, sel, v0)
        },
        || {
            let q = (&q_pos[hi.clone()], &q_neg[hi.clone()]);
            low_values(
                &g[hi.clone()],
                &y[hi.clone()],
                &st[hi.clone()],
                &qd[hi],
                q,
                sel,
                v1,
            )
        },
    );
    ([a.0[0].max(b.0[0]), a.0[1].max(b.0[1])], a.1.min(b.1))
}

/// The last index `t` with `vals[t] == target` and `keep(t)`.
fn last_equal(vals: &[f64], target: f64, keep: impl Fn(usize) -> bool) -> Option<usize> {
    dispatch(LastEqual { vals, target, keep })
}

struct LastEqual<'a, K> {
    vals: &'a [f64],
    target: f64,
    keep: K,
}

impl<K: Fn(usize) -> bool> WithLanes for LastEqual<'_, K> {
    type Output = Option<usize>;
    /// From the end: the tail one value at a time, then whole groups, whose
    /// equal lanes are tried last first.
    #[inline(always)]
    fn run<V: Lanes>(self) -> Option<usize> {
        let LastEqual { vals, target, keep } = self;
        let n = vals.len();
        let body = n - n % W;
        if let Some(t) = (body..n).rev().find(|&t| vals[t] == target && keep(t)) {
            return Some(t);
        }
        let want = V::splat(target);
        for c in (0..body).step_by(W).rev() {
            let mut hits = V::load(at(vals, c)).eq(want);
            while hits != 0 {
                let k = (Mask::BITS - 1 - hits.leading_zeros()) as usize;
                if keep(c + k) {
                    return Some(c + k);
                }
                hits &= !(1 << k);
            }
        }
        None
    }
}

/// `vals[t] = -y_t G_t` for `t` in `I_up`, else `-inf`; returns the
/// largest value among `y = +1` and among `y = -1`.
fn up_values(g: &[f64], y: &[i8], st: &[u8], vals: &mut [f64]) -> [f64; 2] {
    dispatch(UpValues {
        g: Gradient::Read(g),
        y,
        st,
        vals,
    })
}

/// The step's gradient update `g += qi da_i + qj da_j`, then [`up_values`]
/// of the updated gradient, in one pass: the step's last loop is the next
/// selection's first.
fn step_up_values(
    g: &mut [f64],
    (qi, qj): (&[f32], &[f32]),
    (da_i, da_j): (f64, f64),
    (y, st): (&[i8], &[u8]),
    vals: &mut [f64],
) -> [f64; 2] {
    dispatch(UpValues {
        g: Gradient::Step {
            g,
            qi,
            qj,
            da_i,
            da_j,
        },
        y,
        st,
        vals,
    })
}

/// The gradient the first selection loop reads.
enum Gradient<'a> {
    /// As it is.
    Read(&'a [f64]),
    /// After the step `g += qi da_i + qj da_j` (written back).
    Step {
        g: &'a mut [f64],
        qi: &'a [f32],
        qj: &'a [f32],
        da_i: f64,
        da_j: f64,
    },
}

impl Gradient<'_> {
    /// The gradient of variables `c .. c + width` (`width <= W`, zeros past
    /// it), updated and written back for a step.
    #[inline(always)]
    fn group<V: Lanes>(&mut self, c: usize, width: usize) -> V {
        let r = c..c + width;
        match self {
            Gradient::Read(g) => V::load(&pad(&g[r])),
            Gradient::Step {
                g,
                qi,
                qj,
                da_i,
                da_j,
            } => {
                // libsvm's `G[k] += Q_i[k] dA_i + Q_j[k] dA_j`: g + (qi da_i + qj da_j).
                let di = V::load_f32(&pad(&qi[r.clone()])).mul(V::splat(*da_i));
                let dj = V::load_f32(&pad(&qj[r.clone()])).mul(V::splat(*da_j));
                let new = V::load(&pad(&g[r.clone()])).add(di.add(dj));
                let mut out = [0.0; W];
                new.store(&mut out);
                g[r].copy_from_slice(&out[..width]);
                new
            }
        }
    }
}

struct UpValues<'a> {
    g: Gradient<'a>,
    y: &'a [i8],
    st: &'a [u8],
    vals: &'a mut [f64],
}

/// `W` values of a slice as an array (`c + W <= s.len()`).
#[inline(always)]
fn at<T: Copy>(s: &[T], c: usize) -> &[T; W] {
    &s[c..c + W].as_chunks::<W>().0[0]
}

/// The lanes of `y` that are `+1`.
#[inline(always)]
fn positive(y: &[i8; W]) -> Mask {
    eq_mask(&y.map(i8::cast_unsigned), 1)
}

/// The largest lane (`>`: a NaN never replaces), or `-inf`. Extremes are
/// exact, so which lane holds one changes nothing but, for a zero, its sign,
/// which no later step can see (it is compared with `==`, or added to a
/// nonzero value).
#[inline(always)]
fn lane_max<V: Lanes>(v: V) -> f64 {
    let mut a = [0.0; W];
    v.store(&mut a);
    a.iter().fold(-INF, |m, &x| if x > m { x } else { m })
}

/// The running maxima of [`up_values`] per sign, lane by lane.
struct UpGroups<V> {
    pos: V,
    neg: V,
}

impl<V: Lanes> UpGroups<V> {
    /// One group of `W` variables (`valid`: the lanes that are variables).
    #[inline(always)]
    fn take(&mut self, gv: V, (y, st): (&[i8; W], &[u8; W]), valid: Mask, out: &mut [f64; W]) {
        let pos = positive(y);
        let (upper, lower) = (eq_mask(st, UPPER), eq_mask(st, LOWER));
        let ok = ((pos & !upper) | (!pos & !lower)) & valid;
        let v = V::splat(-INF).select(ok, gv.select(pos, gv.neg()));
        v.store(out);
        self.pos = self.pos.select(pos & v.gt(self.pos), v);
        self.neg = self.neg.select(!pos & v.gt(self.neg), v);
    }
}

impl WithLanes for UpValues<'_> {
    type Output = [f64; 2];
    #[inline(always)]
    fn run<V: Lanes>(self) -> [f64; 2] {
        let UpValues { mut g, y, st, vals } = self;
        let n = vals.len();
        let mut ext = UpGroups {
            pos: V::splat(-INF),
            neg: V::splat(-INF),
        };
        let body = n - n % W;
        for c in (0..body).step_by(W) {
            let out = &mut vals[c..c + W].as_chunks_mut::<W>().0[0];
            ext.take(g.group(c, W), (at(y, c), at(st, c)), Mask::MAX, out);
        }
        if body < n {
            let mut out = [0.0; W];
            let valid = (1 << (n - body)) - 1;
            let r = body..n;
            let gv = g.group(body, n - body);
            ext.take(gv, (&pad(&y[r.clone()]), &pad(&st[r])), valid, &mut out);
            vals[body..].copy_from_slice(&out[..n - body]);
        }
        [lane_max(ext.pos), lane_max(ext.neg)]
    }
}

/// The second index's parameters per sign of `y_j` (`[+1, -1]`): the first
/// index's gradient term, its `Q_ii`, and the factor of `Q_ij` in the
/// quadratic coefficient.
struct Sides {
    gmax: [f64; 2],
    qd_i: [f64; 2],
    scale: [f64; 2],
}

/// libsvm's second loop: `vals[j]` is the objective decrease of pairing
/// `j` in `I_low` with the first index (`+inf` for no candidate); returns
/// the largest `y_j G_j` over `I_low` per sign and the smallest decrease.
/// `q`: the first index's row for `y_j = +1` and for `y_j = -1` (the same
/// row in the C solver).
fn low_values(
    g: &[f64],
    y: &[i8],
    st: &[u8],
    qd: &[f64],
    q: (&[f32], &[f32]),
    sel: &Sides,
    vals: &mut [f64],
) -> ([f64; 2], f64) {
    dispatch(LowValues {
        g,
        y,
        st,
        qd,
        q,
        sel,
        vals,
    })
}

struct LowValues<'a> {
    g: &'a [f64],
    y: &'a [i8],
    st: &'a [u8],
    qd: &'a [f64],
    q: (&'a [f32], &'a [f32]),
    sel: &'a Sides,
    vals: &'a mut [f64],
}

/// The running extremes of [`low_values`], lane by lane, and the first
/// index's terms per lane sign.
struct LowGroups<'a, V> {
    sel: &'a Sides,
    g2p: V,
    g2n: V,
    min: V,
}

impl<V: Lanes> LowGroups<'_, V> {
    /// `v[0]` in the lanes of `pos`, `v[1]` elsewhere.
    #[inline(always)]
    fn side(v: [f64; 2], pos: Mask) -> V {
        V::splat(v[1]).select(pos, V::splat(v[0]))
    }

    /// One group of `W` variables (`valid`: the lanes that are variables).
    #[inline(always)]
    fn take(
        &mut self,
        (g, y, st, qd): (&[f64; W], &[i8; W], &[u8; W], &[f64; W]),
        (qp, qn): (&[f32; W], &[f32; W]),
        valid: Mask,
        out: &mut [f64; W],
    ) {
        let sel = self.sel;
        let pos = positive(y);
        let (upper, lower) = (eq_mask(st, UPPER), eq_mask(st, LOWER));
        let ok = ((pos & !lower) | (!pos & !upper)) & valid;
        let gl = V::load(g);
        let gv = gl.select(!pos, gl.neg());
        let grad_diff = Self::side(sel.gmax, pos).add(gv);
        let q = V::load_f32(qn).select(pos, V::load_f32(qp));
        // libsvm: QD[i] + QD[j] - 2 y_i Q_ij (y_j = +1), + 2 y_i Q_ij (y_j = -1).
        let quad = Self::side(sel.qd_i, pos)
            .add(V::load(qd))
            .add(Self::side(sel.scale, pos).mul(q));
        let zero = V::splat(0.0);
        let quad = V::splat(TAU).select(quad.gt(zero), quad);
        let obj = grad_diff.mul(grad_diff).neg().div(quad);
        let v = V::splat(INF).select(ok & grad_diff.gt(zero), obj);
        v.store(out);
        self.min = self.min.select(v.lt(self.min), v);
        let gv = V::splat(-INF).select(ok, gv);
        self.g2p = self.g2p.select(pos & gv.gt(self.g2p), gv);
        self.g2n = self.g2n.select(!pos & gv.gt(self.g2n), gv);
    }
}

impl WithLanes for LowValues<'_> {
    type Output = ([f64; 2], f64);
    #[inline(always)]
    fn run<V: Lanes>(self) -> ([f64; 2], f64) {
        let LowValues {
            g,
            y,
            st,
            qd,
            q: (q_pos, q_neg),
            sel,
            vals,
        } = self;
        let n = vals.len();
        let mut ext = LowGroups {
            sel,
            g2p: V::splat(-INF),
            g2n: V::splat(-INF),
            min: V::splat(INF),
        };
        let body = n - n % W;
        for c in (0..body).step_by(W) {
            let out = &mut vals[c..c + W].as_chunks_mut::<W>().0[0];
            let vars = (at(g, c), at(y, c), at(st, c), at(qd, c));
            ext.take(vars, (at(q_pos, c), at(q_neg, c)), Mask::MAX, out);
        }
        if body < n {
            let mut out = [0.0; W];
            let valid = (1 << (n - body)) - 1;
            let r = body..n;
            let (qp, qn) = (pad(&q_pos[r.clone()]), pad(&q_neg[r.clone()]));
            let (g, y) = (pad(&g[r.clone()]), pad(&y[r.clone()]));
            let (st, qd) = (pad(&st[r.clone()]), pad(&qd[r]));
            ext.take((&g, &y, &st, &qd), (&qp, &qn), valid, &mut out);
            vals[body..].copy_from_slice(&out[..n - body]);
        }
        let mut m = [0.0; W];
        ext.min.store(&mut m);
        let min = m.iter().fold(INF, |m, &x| if x < m { x } else { m });
        ([lane_max(ext.g2p), lane_max(ext.g2n)], min)
    }
}

/// What a solve returns.
pub(crate) struct Solution {
    /// The dual variables, in the caller's order.
    pub alpha: Vec<f64>,
    /// The offset `rho` (the decision function is `sum - rho`).
    pub rho: f64,
    /// ν variants: the scale `r` of the solution.
    pub r: f64,
    /// Iterations run.
    pub iterations: usize,
    /// Whether `max_iter` stopped the solver before convergence.
    pub hit_max_iter: bool,
}

/// Solves one dual. `alpha` is the feasible start; `max_iter < 0`: no limit.
#[allow(clippy::too_many_arguments)]
pub(crate) fn solve(
    (q, qd): (QMatrix, Vec<f64>),
    p: &[f64],
    y: &[i8],
    alpha: Vec<f64>,
    c: &[f64],
    eps: f64,
    shrinking: bool,
    max_iter: i64,
    nu: bool,
) -> Solution {
    let l = p.len();
    if qd.iter().any(|v| !v.is_finite()) {
        // Kernel values overflowed (inputs near f64's range): libsvm's
        // arithmetic turns them into NaN coefficients, and scikit-learn then
        // raises "The dual coefficients or intercepts are not finite".
        return Solution {
            alpha,
            rho: f64::NAN,
            r: 1.0,
            iterations: 0,
            hit_max_iter: false,
        };
    }
    let mut s = Solver {
        l,
        active_size: l,
        y: y.to_vec(),
        status: vec![LOWER; l],
        alpha,
        q,
        qd,
        eps,
        c: c.to_vec(),
        p: p.to_vec(),
        active_set: (0..l).collect(),
        g: p.to_vec(),
        g_bar: Vec::new(),
        unshrink: false,
        nu,
        vals: vec![0.0; l],
        up: None,
        zeros: vec![0.0; l],
    };
    s.g_bar = vec![0.0; s.q.g_bar_len()];
    for i in 0..l {
        s.update_status(i);
    }
    // Initial gradient from the starting alphas.
    for i in 0..l {
        if s.status[i] != LOWER {
            let (alpha_i, c_i, upper) = (s.alpha[i], s.c[i], s.status[i] == UPPER);
            axpy32(&mut s.g, s.q.row(i, l), alpha_i);
            if upper {
                s.q.g_bar_add(&mut s.g_bar, i, c_i);
            }
        }
    }
    let mut iter = 0usize;
    let mut hit_max_iter = false;
    let mut counter = l.min(1000) + 1;
    loop {
        if max_iter >= 0 && iter as i64 >= max_iter {
            hit_max_iter = true;
            break;
        }
        counter -= 1;
        if counter == 0 {
            counter = l.min(1000);
            if shrinking {
                s.do_shrinking();
            }
        }
        let (i, j) = match s.select_working_set() {
            Some(ij) => ij,
            None => {
                s.reconstruct_gradient();
                s.active_size = l;
                match s.select_working_set() {
                    Some(ij) => {
                        counter = 1; // shrink at the next iteration
                        ij
                    }
                    None => break,
                }
            }
        };
        iter += 1;
        s.take_step(i, j);
    }
    let (rho, r) = s.calculate_rho();
    let mut out = vec![0.0; l];
    for k in 0..l {
        out[s.active_set[k]] = s.alpha[k];
    }
    Solution {
        alpha: out,
        rho,
        r,
        iterations: iter,
        hit_max_iter,
    }
}

struct Solver {
    l: usize,
    active_size: usize,
    y: Vec<i8>,
    status: Vec<Status>,
    alpha: Vec<f64>,
    q: QMatrix,
    qd: Vec<f64>,
    eps: f64,
    c: Vec<f64>,
    p: Vec<f64>,
    active_set: Vec<usize>,
    g: Vec<f64>,
    /// `G_bar`, as the matrix keeps it ([`QMatrix::g_bar_add`]).
    g_bar: Vec<f64>,
    unshrink: bool,
    nu: bool,
    /// Scratch for the selection loops.
    vals: Vec<f64>,
    /// The first selection loop's maxima, computed with the last step's
    /// gradient update over this many active variables (values in `vals`).
    up: Option<(usize, [f64; 2])>,
    /// A row of zeros standing in for an absent row in the ν selection.
    zeros: Vec<f32>,
}

impl Solver {
    fn update_status(&mut self, i: usize) {
        self.status[i] = status_of(self.alpha[i], self.c[i]);
    }

    fn is_upper(&self, i: usize) -> bool {
        self.status[i] == UPPER
    }

    fn is_lower(&self, i: usize) -> bool {
        self.status[i] == LOWER
    }

    fn swap_index(&mut self, a: usize, b: usize) {
        self.q.swap(a, b);
        self.qd.swap(a, b);
        self.y.swap(a, b);
        self.g.swap(a, b);
        self.status.swap(a, b);
        self.alpha.swap(a, b);
        self.p.swap(a, b);
        self.active_set.swap(a, b);
        if self.q.g_bar_by_position() {
            self.g_bar.swap(a, b);
        }
        self.c.swap(a, b);
    }

    /// The two-variable update of `alpha[i]`, `alpha[j]`, then `G` and `G_bar`.
    fn take_step(&mut self, i: usize, j: usize) {
        let active = self.active_size;
        let (c_i, c_j) = (self.c[i], self.c[j]);
        let (old_i, old_j) = (self.alpha[i], self.alpha[j]);
        let (qd_i, qd_j) = (self.qd[i], self.qd[j]);
        // Both rows once: the SVR matrix rebuilds them on every request.
        let (qi, qj) = self.q.rows2(i, j, active);
        let (ai, aj) = {
            let q_ij = f64::from(qi[j]);
            let (mut ai, mut aj) = (old_i, old_j);
            if self.y[i] != self.y[j] {
                let mut quad = qd_i + qd_j + 2.0 * q_ij;
                if quad <= 0.0 {
                    quad = TAU;
                }
                let delta = (-self.g[i] - self.g[j]) / quad;
                let diff = ai - aj;
                ai += delta;
                aj += delta;
                if diff > 0.0 {
                    if aj < 0.0 {
                        aj = 0.0;
                        ai = diff;
                    }
                } else if ai < 0.0 {
                    ai = 0.0;
                    aj = -diff;
                }
                if diff > c_i - c_j {
                    if ai > c_i {
                        ai = c_i;
                        aj = c_i - diff;
                    }
                } else if aj > c_j {
                    aj = c_j;
                    ai = c_j + diff;
                }
            } else {
                let mut quad = qd_i + qd_j - 2.0 * q_ij;
                if quad <= 0.0 {
                    quad = TAU;
                }
                let delta = (self.g[i] - self.g[j]) / quad;
                let sum = ai + aj;
                ai -= delta;
                aj += delta;
                if sum > c_i {
                    if ai > c_i {
                        ai = c_i;
                        aj = sum - c_i;
                    }
                } else if aj < 0.0 {
                    aj = 0.0;
                    ai = sum;
                }
                if sum > c_j {
                    if aj > c_j {
                        aj = c_j;
                        ai = sum - c_j;
                    }
                } else if ai < 0.0 {
                    ai = 0.0;
                    aj = sum;
                }
            }
            (ai, aj)
        };
        self.alpha[i] = ai;
        self.alpha[j] = aj;
        let (da_i, da_j) = (ai - old_i, aj - old_j);
        let (ui, uj) = (self.status[i] == UPPER, self.status[j] == UPPER);
        self.status[i] = status_of(ai, c_i);
        self.status[j] = status_of(aj, c_j);
        // The gradient update and the next selection's first loop in one
        // pass (the statuses it reads are the new ones, as the next
        // selection's would be).
        let (y, st) = (&self.y[..active], &self.status[..active]);
        let g = &mut self.g[..active];
        let maxima =
            step_up_values_par(g, (qi, qj), (da_i, da_j), (y, st), &mut self.vals[..active]);
        self.up = Some((active, maxima));
        if ui != self.is_upper(i) {
            self.q
                .g_bar_add(&mut self.g_bar, i, if ui { -c_i } else { c_i });
        }
        if uj != self.is_upper(j) {
            self.q
                .g_bar_add(&mut self.g_bar, j, if uj { -c_j } else { c_j });
        }
    }

    /// The first selection loop's maxima per sign, with its values in
    /// `vals`: from the last step's pass if it ran over this active set,
    /// else computed now.
    fn up_pass(&mut self) -> [f64; 2] {
        let active = self.active_size;
        match self.up.take() {
            Some((a, maxima)) if a == active => maxima,
            _ => {
                let (g, y, st) = (&self.g[..active], &self.y[..active], &self.status[..active]);
                up_values_par(g, y, st, &mut self.vals[..active])
            }
        }
    }

    /// WSS3: `None` when optimal within `eps`. libsvm's loops keep the last
    /// index among equal values (`>=`, `<=`); here each loop first computes
    /// its values and their extreme (vectorised), then finds that last index.
    fn select_working_set(&mut self) -> Option<(usize, usize)> {
        if self.nu {
            return self.select_working_set_nu();
        }
        let active = self.active_size;
        let [gmax_pos, gmax_neg] = self.up_pass();
        let (g, y, st) = (&self.g[..active], &self.y[..active], &self.status[..active]);
        let vals = &mut self.vals[..active];
        let gmax = if gmax_neg > gmax_pos {
            gmax_neg
        } else {
            gmax_pos
        };
        let gmax_idx = last_equal(vals, gmax, |t| in_up(y[t], st[t]));
        let i = gmax_idx.unwrap_or(0);
        // Without an i (gmax = -inf) no grad_diff is positive: Q_i is unused.
        let qi: &[f32] = match gmax_idx {
            Some(i) => {
                // The largest violators now are likely the next i's.
                let ahead = if self.q.is_held(i, active) {
                    Vec::new()
                } else {
                    top_k(vals, AHEAD, i, |v| v)
                };
                self.q.row_ahead(i, active, &ahead)
            }
            None => &self.zeros[..active],
        };
        let sel = Sides {
            gmax: [gmax, gmax],
            qd_i: [self.qd[i], self.qd[i]],
            // The quadratic term's sign: -y_i y_j Q_ij ... as libsvm writes it.
            scale: [-2.0 * f64::from(self.y[i]), 2.0 * f64::from(self.y[i])],
        };
        let vals = &mut self.vals[..active];
        let (gmax2, min) = low_values_par(g, y, st, &self.qd[..active], (qi, qi), &sel, vals);
        let gmin_idx = last_equal(vals, min, |_| true);
        match (gmax_idx, gmin_idx) {
            (Some(i), Some(j)) if gmax + gmax2[0].max(gmax2[1]) >= self.eps => {
                self.prefetch_second(j);
                Some((i, j))
            }
            _ => None,
        }
    }

    /// Before the step asks for the second index's row: if it must be
    /// computed, the best other second indices of this selection (`vals`,
    /// smallest first) are likely the next ones, and are computed with it.
    fn prefetch_second(&mut self, j: usize) {
        let active = self.active_size;
        if !self.q.is_held(j, active) {
            let ahead = top_k(&self.vals[..active], AHEAD, j, |v| -v);
            self.q.prefetch(j, active, &ahead);
        }
    }

    fn select_working_set_nu(&mut self) -> Option<(usize, usize)> {
        let active = self.active_size;
        let [gmaxp, gmaxn] = self.up_pass();
        let (g, y, st) = (&self.g[..active], &self.y[..active], &self.status[..active]);
        let vals = &mut self.vals[..active];
        let ip = last_equal(vals, gmaxp, |t| y[t] == 1 && in_up(y[t], st[t]));
        let in_ = last_equal(vals, gmaxn, |t| y[t] != 1 && in_up(y[t], st[t]));
        // Rows of the two candidates for i (an absent one is never read:
        // its grad_diff is never positive).
        let zeros = &self.zeros[..active];
        let (qip, qin): (&[f32], &[f32]) = match (ip, in_) {
            (Some(a), Some(b)) => self.q.rows2(a, b, active),
            (Some(a), None) => (self.q.row(a, active), zeros),
            (None, Some(b)) => (zeros, self.q.row(b, active)),
            (None, None) => (zeros, zeros),
        };
        let sel = Sides {
            gmax: [gmaxp, gmaxn],
            qd_i: [self.qd[ip.unwrap_or(0)], self.qd[in_.unwrap_or(0)]],
            scale: [-2.0, -2.0],
        };
        let vals = &mut self.vals[..active];
        let ([gmaxp2, gmaxn2], min) =
            low_values_par(g, y, st, &self.qd[..active], (qip, qin), &sel, vals);
        let j = last_equal(vals, min, |_| true)?;
        if (gmaxp + gmaxp2).max(gmaxn + gmaxn2) < self.eps {
            return None;
        }
        let i = if self.y[j] == 1 { ip } else { in_ };
        if i.is_some() {
            self.prefetch_second(j);
        }
        i.map(|i| (i, j))
    }

    fn be_shrunk(&self, i: usize, g1: f64, g2: f64, g3: f64, g4: f64) -> bool {
        let pos = self.y[i] == 1;
        if self.is_upper(i) {
            -self.g[i] > if pos { g1 } else { g4 }
        } else if self.is_lower(i) {
            self.g[i] > if pos { g2 } else { g3 }
        } else {
            false
        }
    }

    fn do_shrinking(&mut self) {
        // Swaps move variables: the step's selection values are stale.
        self.up = None;
        // (g1, g2) for y = +1 and (g3, g4) for y = -1 in the ν solver; the
        // C solver pools both signs: g1 = g3 = max -y G over I_up and
        // g2 = g4 = max y G over I_low.
        let (mut g1, mut g2, mut g3, mut g4) = (-INF, -INF, -INF, -INF);
        for i in 0..self.active_size {
            let (gi, pos) = (self.g[i], self.y[i] == 1);
            if self.nu {
                if !self.is_upper(i) {
                    if pos {
                        if -gi > g1 {
                            g1 = -gi;
                        }
                    } else if -gi > g4 {
                        g4 = -gi;
                    }
                }
                if !self.is_lower(i) {
                    if pos {
                        if gi > g2 {
                            g2 = gi;
                        }
                    } else if gi > g3 {
                        g3 = gi;
                    }
                }
            } else if pos {
                if !self.is_upper(i) && -gi >= g1 {
                    g1 = -gi;
                }
                if !self.is_lower(i) && gi >= g2 {
                    g2 = gi;
                }
            } else {
                if !self.is_upper(i) && -gi >= g2 {
                    g2 = -gi;
                }
                if !self.is_lower(i) && gi >= g1 {
                    g1 = gi;
                }
            }
        }
        let (b1, b2, b3, b4) = if self.nu {
            (g1, g2, g3, g4)
        } else {
            // C solver: be_shrunk(upper, y=+1) uses Gmax1, (upper, y=-1)
            // Gmax2, (lower, y=+1) Gmax2, (lower, y=-1) Gmax1.
            (g1, g2, g1, g2)
        };
        let gap = if self.nu {
            (g1 + g2).max(g3 + g4)
        } else {
            g1 + g2
        };
        if !self.unshrink && gap <= self.eps * 10.0 {
            self.unshrink = true;
            self.reconstruct_gradient();
            self.active_size = self.l;
        }
        let mut i = 0;
        while i < self.active_size {
            if self.be_shrunk(i, b1, b2, b3, b4) {
                self.active_size -= 1;
                while self.active_size > i {
                    if !self.be_shrunk(self.active_size, b1, b2, b3, b4) {
                        self.swap_index(i, self.active_size);
                        break;
                    }
                    self.active_size -= 1;
                }
            }
            i += 1;
        }
        self.q.flush();
    }

    fn reconstruct_gradient(&mut self) {
        self.up = None;
        let (l, active) = (self.l, self.active_size);
        if active == l {
            return;
        }
        for j in active..l {
            self.g[j] = self.q.g_bar_at(&self.g_bar, j) + self.p[j];
        }
        let nr_free = (0..active).filter(|&j| self.status[j] == FREE).count();
        if nr_free * l > 2 * active * (l - active) {
            for i in active..l {
                let qi = self.q.row(i, active).to_vec();
                let mut gi = self.g[i];
                for j in 0..active {
                    if self.status[j] == FREE {
                        gi += self.alpha[j] * f64::from(qi[j]);
                    }
                }
                self.g[i] = gi;
            }
        } else {
            for i in 0..active {
                if self.status[i] == FREE {
                    let alpha_i = self.alpha[i];
                    let qi = self.q.row(i, l);
                    axpy32(&mut self.g[active..], &qi[active..], alpha_i);
                }
            }
        }
    }

    /// `(rho, r)`; `r` is 0 for the C solver.
    fn calculate_rho(&self) -> (f64, f64) {
        if self.nu {
            let mut nr_free = [0usize; 2];
            let mut ub = [INF; 2];
            let mut lb = [-INF; 2];
            let mut sum_free = [0.0; 2];
            for i in 0..self.active_size {
                let k = usize::from(self.y[i] != 1);
                let gi = self.g[i];
                if self.is_upper(i) {
                    lb[k] = lb[k].max(gi);
                } else if self.is_lower(i) {
                    ub[k] = ub[k].min(gi);
                } else {
                    nr_free[k] += 1;
                    sum_free[k] += gi;
                }
            }
            let r = |k: usize| {
                if nr_free[k] > 0 {
                    sum_free[k] / nr_free[k] as f64
                } else {
                    (ub[k] + lb[k]) / 2.0
                }
            };
            let (r1, r2) = (r(0), r(1));
            return ((r1 - r2) / 2.0, (r1 + r2) / 2.0);
        }
        let (mut ub, mut lb, mut sum_free, mut nr_free) = (INF, -INF, 0.0, 0usize);
        for i in 0..self.active_size {
            let yg = f64::from(self.y[i]) * self.g[i];
            if self.is_upper(i) {
                if self.y[i] == -1 {
                    ub = ub.min(yg);
                } else {
                    lb = lb.max(yg);
                }
            } else if self.is_lower(i) {
                if self.y[i] == 1 {
                    ub = ub.min(yg);
                } else {
                    lb = lb.max(yg);
                }
            } else {
                nr_free += 1;
                sum_free += yg;
            }
        }
        let rho = if nr_free > 0 {
            sum_free / nr_free as f64
        } else {
            (ub + lb) / 2.0
        };
        (rho, 0.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::svm::lanes::Portable;

    /// libsvm's loops, one variable at a time (the solver's code before the
    /// lanes): the reference the lane forms must equal bit for bit.
    fn up_reference(g: &[f64], y: &[i8], st: &[u8], vals: &mut [f64]) -> [f64; 2] {
        let (mut mp, mut mn) = (-INF, -INF);
        for t in 0..vals.len() {
            let pos = y[t] == 1;
            let v = if in_up(y[t], st[t]) {
                if pos {
                    -g[t]
                } else {
                    g[t]
                }
            } else {
                -INF
            };
            vals[t] = v;
            if pos {
                mp = if v > mp { v } else { mp };
            } else {
                mn = if v > mn { v } else { mn };
            }
        }
        [mp, mn]
    }

    fn low_reference(
        (g, y, st, qd): (&[f64], &[i8], &[u8], &[f64]),
        (q_pos, q_neg): (&[f32], &[f32]),
        sel: &Sides,
        vals: &mut [f64],
    ) -> ([f64; 2], f64) {
        let (mut g2p, mut g2n, mut min) = (-INF, -INF, INF);
        for j in 0..vals.len() {
            let pos = y[j] == 1;
            let ok = if pos { st[j] != LOWER } else { st[j] != UPPER };
            let gv = if pos { g[j] } else { -g[j] };
            let k = usize::from(!pos);
            let grad_diff = sel.gmax[k] + gv;
            let q = f64::from(if pos { q_pos[j] } else { q_neg[j] });
            let quad = sel.qd_i[k] + qd[j] + sel.scale[k] * q;
            let quad = if quad > 0.0 { quad } else { TAU };
            let obj = -(grad_diff * grad_diff) / quad;
            let v = if ok && grad_diff > 0.0 { obj } else { INF };
            vals[j] = v;
            min = if v < min { v } else { min };
            let gv = if ok { gv } else { -INF };
            if pos {
                g2p = if gv > g2p { gv } else { g2p };
            } else {
                g2n = if gv > g2n { gv } else { g2n };
            }
        }
        ([g2p, g2n], min)
    }

    fn bits(v: &[f64]) -> Vec<u64> {
        v.iter().map(|x| x.to_bits()).collect()
    }

    /// Every lane form of both selection loops gives libsvm's values and
    /// extremes, for every length around the group size (the padded tail),
    /// with ties, values that cancel to zero, and non-positive `quad`.
    fn selection_loops_are_libsvms<V: Lanes>() {
        let mut seed = 7u64;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for n in [0, 1, 2, 7, 8, 9, 15, 16, 17, 31, 100, 257] {
            // A few distinct values, so that extremes tie across lanes.
            let g: Vec<f64> = (0..n)
                .map(|_| [0.5, -0.5, 1.25, -2.0, 0.0][next() as usize % 5])
                .collect();
            let y: Vec<i8> = (0..n)
                .map(|_| if next() % 2 == 0 { 1 } else { -1 })
                .collect();
            let st: Vec<u8> = (0..n).map(|_| (next() % 3) as u8).collect();
            let qd: Vec<f64> = (0..n)
                .map(|_| [1.0, 0.5, 2.0][next() as usize % 3])
                .collect();
            let qp: Vec<f32> = (0..n)
                .map(|_| [0.25f32, -0.75, 1.0, 3.0][next() as usize % 4])
                .collect();
            let qn: Vec<f32> = (0..n)
                .map(|_| [0.5f32, -1.0, 2.0][next() as usize % 3])
                .collect();

            let (mut want, mut got) = (vec![0.0; n], vec![0.0; n]);
            let w = up_reference(&g, &y, &st, &mut want);
            let u = UpValues {
                g: Gradient::Read(&g),
                y: &y,
                st: &st,
                vals: &mut got,
            }
            .run::<V>();
            assert_eq!(bits(&u), bits(&w), "up extremes, n {n}");
            assert_eq!(bits(&got), bits(&want), "up values, n {n}");

            // A step's update first, then the same loop.
            let (da_i, da_j) = (0.3, -1.7);
            let stepped: Vec<f64> = (0..n)
                .map(|k| g[k] + (f64::from(qp[k]) * da_i + f64::from(qn[k]) * da_j))
                .collect();
            let w = up_reference(&stepped, &y, &st, &mut want);
            let mut g_got = g.clone();
            let u = UpValues {
                g: Gradient::Step {
                    g: &mut g_got,
                    qi: &qp,
                    qj: &qn,
                    da_i,
                    da_j,
                },
                y: &y,
                st: &st,
                vals: &mut got,
            }
            .run::<V>();
            assert_eq!(bits(&g_got), bits(&stepped), "stepped gradient, n {n}");
            assert_eq!(bits(&u), bits(&w), "stepped up extremes, n {n}");
            assert_eq!(bits(&got), bits(&want), "stepped up values, n {n}");

            for sel in [
                Sides {
                    gmax: [1.25, 1.25],
                    qd_i: [1.0, 1.0],
                    scale: [-2.0, 2.0],
                },
                Sides {
                    gmax: [0.5, 2.0],
                    qd_i: [0.5, 2.0],
                    scale: [-2.0, -2.0],
                },
            ] {
                let w = low_reference((&g, &y, &st, &qd), (&qp, &qn), &sel, &mut want);
                let u = LowValues {
                    g: &g,
                    y: &y,
                    st: &st,
                    qd: &qd,
                    q: (&qp, &qn),
                    sel: &sel,
                    vals: &mut got,
                }
                .run::<V>();
                assert_eq!(
                    (bits(&u.0), u.1.to_bits()),
                    (bits(&w.0), w.1.to_bits()),
                    "low extremes, n {n}"
                );
                assert_eq!(bits(&got), bits(&want), "low values, n {n}");
            }
        }
    }

    /// The lane search finds what a backwards scan finds, at every length
    /// around the group size, with a filter that rejects some equal values.
    fn last_equal_is_the_backward_scan<V: Lanes>() {
        for n in [0, 1, 5, 8, 9, 16, 23, 64, 65] {
            let vals: Vec<f64> = (0..n)
                .map(|t| [1.0, -0.0, 2.0, f64::NAN][(t * 7 + t / 3) % 4])
                .collect();
            for target in [1.0, 0.0, 2.0, f64::NAN, 5.0] {
                for modulus in [1, 2, 3] {
                    let keep = |t: usize| t.is_multiple_of(modulus);
                    let want = (0..n).rev().find(|&t| vals[t] == target && keep(t));
                    let got = LastEqual {
                        vals: &vals,
                        target,
                        keep,
                    }
                    .run::<V>();
                    assert_eq!(got, want, "n {n} target {target} modulus {modulus}");
                }
            }
        }
    }

    #[test]
    fn selection_loops_at_every_level_are_libsvms() {
        selection_loops_are_libsvms::<Portable>();
        last_equal_is_the_backward_scan::<Portable>();
        #[cfg(target_arch = "x86_64")]
        {
            use crate::svm::lanes::{Avx2, Avx512};
            if std::arch::is_x86_feature_detected!("avx2") {
                selection_loops_are_libsvms::<Avx2>();
                last_equal_is_the_backward_scan::<Avx2>();
            }
            if std::arch::is_x86_feature_detected!("avx512f") {
                selection_loops_are_libsvms::<Avx512>();
                last_equal_is_the_backward_scan::<Avx512>();
            }
        }
    }

    /// SVR's per-sample `G_bar` gives every bit of the per-variable one:
    /// the same problem as a `Direct` matrix over `2l` positions (each sample
    /// twice, signs `+1` then `-1`), the same updates and swaps, then every
    /// `G_bar_j` compared.
    #[test]
    fn svr_g_bar_per_sample_is_the_per_variable_one() {
        let (l, d) = (13, 3);
        let x: Vec<f64> = (0..l * d)
            .map(|v| ((v * 37) % 11) as f64 * 0.3 - 1.1)
            .collect();
        let kernel = crate::svm::Kernel::Rbf { gamma: 0.7 };
        let own: Vec<usize> = (0..l).collect();
        let twice: Vec<usize> = (0..2 * l).map(|k| k % l).collect();
        let sign: Vec<f32> = (0..2 * l).map(|k| if k < l { 1.0 } else { -1.0 }).collect();
        let (mut samples, _) = QMatrix::doubled(KernelRows::new(kernel, &x, d, &own), 1 << 20);
        let (mut direct, _) =
            QMatrix::direct(KernelRows::new(kernel, &x, d, &twice), Some(sign), 1 << 20);
        let mut gs = vec![0.0; samples.g_bar_len()];
        let mut gd = vec![0.0; direct.g_bar_len()];
        assert_eq!((gs.len(), gd.len()), (l, 2 * l));
        let mut seed = 3u64;
        for step in 0..200 {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let (a, b) = (
                (seed >> 33) as usize % (2 * l),
                (seed >> 17) as usize % (2 * l),
            );
            if step % 5 == 4 {
                // The solver's swap: the matrices, and G_bar where it follows them.
                for (q, g) in [(&mut samples, &mut gs), (&mut direct, &mut gd)] {
                    q.swap(a, b);
                    q.flush();
                    if q.g_bar_by_position() {
                        g.swap(a, b);
                    }
                }
            } else {
                let c = [1.0, -1.0, 0.3, -2.5][step % 4];
                samples.g_bar_add(&mut gs, a, c);
                direct.g_bar_add(&mut gd, a, c);
            }
        }
        for j in 0..2 * l {
            let (s, t) = (samples.g_bar_at(&gs, j), direct.g_bar_at(&gd, j));
            assert_eq!(s.to_bits(), t.to_bits(), "G_bar_{j}: {s} != {t}");
        }
    }
}
