//! Greedy k-means++ seeding with scikit-learn's draws, in one process and
//! over MPI ranks.

use super::*;

/// The first row where the running sum of `value` exceeds `target`
/// (`right`: numpy's `searchsorted(cumsum, target, side="right")`) or
/// reaches it (`side="left"`), from the chunk sums `totals` folded in chunk
/// order and a scan inside the chunk where the target falls (the last row of
/// that chunk if rounding leaves the scan short of it); the last row if no
/// chunk reaches the target. `value(chunk, row)`.
pub(super) fn search(
    plan: ChunkPlan,
    totals: &[f64],
    target: f64,
    right: bool,
    value: impl Fn(usize, usize) -> f64,
) -> usize {
    let hit = |s: f64, t: f64| reaches(right, s, t);
    let mut acc = 0.0;
    for (c, &tot) in totals.iter().enumerate() {
        let local = target - acc;
        if hit(tot, local) {
            return scan_chunk(plan.range(c), c, local, right, &value);
        }
        acc += tot;
    }
    plan.n_rows.saturating_sub(1)
}

/// Whether a running sum `s` hits the target `t` (`right`: exceeds it,
/// else reaches it).
fn reaches(right: bool, s: f64, t: f64) -> bool {
    if right {
        s > t
    } else {
        s >= t
    }
}

/// The first row of chunk `ch` (rows `rows`, not empty) where the running
/// sum of `value` hits `local` (see [`reaches`]); its last row if rounding
/// leaves the scan short of it.
fn scan_chunk(
    rows: std::ops::Range<usize>,
    ch: usize,
    local: f64,
    right: bool,
    value: impl Fn(usize, usize) -> f64,
) -> usize {
    let last = rows.end - 1;
    let mut s = 0.0;
    for i in rows {
        s += value(ch, i);
        if reaches(right, s, local) {
            return i;
        }
    }
    last
}

crate::simd::multiversion! {
    /// One k-means++ step over the tiles of a chunk of `m = w.len()` rows:
    /// with `out` the chunk's m×l scratch laid out point-major
    /// (`out[t * m + i]`), sets `out[t][i] = min(out[prev][i], ‖x_i − c_t‖²)`
    /// for each point `t` of `panel` (without `prev`: the plain distance) and
    /// returns `Σ_i w_i out[t][i]` per point, summed in lanes combined in a
    /// fixed order.
    pub(super) fn plusplus_step(tiles: &[f64], w: &[f64], panel: &Panel, prev: Option<usize>, out: &mut [f64]) -> Vec<f64>
    => plusplus_step_portable
}

#[inline(always)]
pub(super) fn plusplus_step_portable(
    tiles: &[f64],
    w: &[f64],
    panel: &Panel,
    prev: Option<usize>,
    out: &mut [f64],
) -> Vec<f64> {
    let (k, p, m) = (panel.k, panel.p, w.len());
    let mut lanes = vec![[0.0f64; LANES]; k];
    if p == 0 || k == 0 {
        return vec![0.0; k];
    }
    for (g, n, t) in lane_groups(tiles, p, m) {
        // The nearest chosen centre's distance, read before any slot of
        // these rows is overwritten; zero weight for missing rows.
        let mut closest = [f64::INFINITY; LANES];
        let mut wl = [0.0f64; LANES];
        for l in 0..n {
            if let Some(pv) = prev {
                closest[l] = out[pv * m + g + l];
            }
            wl[l] = w[g + l];
        }
        for b in &panel.blocks {
            by_block!(
                b.size,
                plusplus_block(t, b, &closest, &wl, &mut lanes, out, m, g, n)
            );
        }
    }
    lanes.iter().map(lane_sum).collect()
}

#[allow(clippy::too_many_arguments)]
#[inline(always)]
pub(super) fn plusplus_block<const JB: usize>(
    t: &[f64],
    b: &Block,
    closest: &[f64; LANES],
    wl: &[f64; LANES],
    lanes: &mut [[f64; LANES]],
    out: &mut [f64],
    m: usize,
    g: usize,
    n: usize,
) {
    let acc = dist_block::<JB>(t, b);
    for (jj, a) in acc.iter().enumerate() {
        let point = b.j0 + jj;
        let mut nd = [0.0f64; LANES];
        for l in 0..LANES {
            nd[l] = if a[l] < closest[l] { a[l] } else { closest[l] };
            lanes[point][l] += wl[l] * nd[l];
        }
        out[point * m + g..point * m + g + n].copy_from_slice(&nd[..n]);
    }
}

/// One k-means++ step over every chunk of `data` (in parallel, into the
/// chunks' slices of `cand`, `l` slots per row): the per-chunk potentials
/// of `panel`'s points, in chunk order. `closest`: the slot holding each
/// row's distance to its nearest chosen centre.
fn step_partials<T: Real>(
    data: &Data<'_, T>,
    cand: &mut [f64],
    l: usize,
    panel: &Panel,
    closest: Option<usize>,
) -> Result<Vec<Vec<f64>>> {
    chunk_pass(
        data.plan,
        parallel_for(data.n(), data.p()),
        cand,
        l,
        usize::MAX,
        Vec::new(),
        |rows, out| {
            let w = data.weights(rows.clone());
            Ok(plusplus_step(data.tiles_of(&rows), &w, panel, closest, out))
        },
        |mut acc: Vec<Vec<f64>>, part| {
            acc.push(part);
            acc
        },
    )
}

/// Row `i` of chunk `ch`'s weighted distance in slot `prev` of `cand`
/// (`l` slots per row): the value sampled by the candidate draws.
fn candidate_value<'a, T: Real>(
    data: &'a Data<'_, T>,
    cand: &'a [f64],
    l: usize,
    prev: usize,
) -> impl Fn(usize, usize) -> f64 + Copy + 'a {
    let plan = data.plan;
    let cr = plan.chunk_rows;
    move |ch: usize, i: usize| {
        let r = plan.range(ch);
        data.weight(i) * cand[ch * cr * l + prev * r.len() + (i - r.start)]
    }
}

/// Each of the `m` points' potential: its per-chunk partials summed in
/// chunk order.
fn point_pots(partials: &[Vec<f64>], m: usize) -> Vec<f64> {
    (0..m)
        .map(|t| partials.iter().map(|v| v[t]).sum())
        .collect()
}

/// The index of the lowest potential (the first of equals).
fn lowest(pots: &[f64]) -> usize {
    let mut best = 0;
    for t in 1..pots.len() {
        if pots[t] < pots[best] {
            best = t;
        }
    }
    best
}

/// Greedy k-means++ (scikit-learn's `_kmeans_plusplus`) in the data's
/// coordinates, with squared distances from direct differences; `cand` is
/// scratch (n × n_local_trials).
pub(super) fn plusplus<T: Real>(
    data: &Data<'_, T>,
    k: usize,
    trials: usize,
    draws: &[f64],
    weight_totals: &[f64],
    cand: &mut Vec<f64>,
) -> Result<Vec<f64>> {
    let (n, p) = (data.n(), data.p());
    let l = trials.max(1);
    let plan = data.plan;
    cand.clear();
    cand.resize(n * l, 0.0);
    let total_w: f64 = weight_totals.iter().sum();
    let first = search(plan, weight_totals, draws[0] * total_w, true, |_, i| {
        data.weight(i)
    });
    let mut ids = vec![first];
    // In each chunk's slice of `cand` (point-major), slot `prev` holds each
    // row's squared distance to its nearest chosen centre and the other
    // slots the candidates' (capped by it).
    let mut prev = 0usize;
    let mut partials: Vec<Vec<f64>> = Vec::new();
    // With one cluster the first centre is all there is.
    for c in 0..if k > 1 { k } else { 0 } {
        let points: Vec<usize> = if c == 0 {
            vec![first]
        } else {
            let totals: Vec<f64> = partials.iter().map(|v| v[prev]).collect();
            let pot: f64 = totals.iter().sum();
            let u = &draws[1 + (c - 1) * trials..1 + c * trials];
            let value = candidate_value(data, cand, l, prev);
            u.iter()
                .map(|&u| search(plan, &totals, u * pot, false, value))
                .collect()
        };
        let coords: Vec<f64> = points.iter().flat_map(|&i| data.row(i)).collect();
        let panel = Panel::new(&coords, points.len(), p);
        let closest = (c > 0).then_some(prev);
        partials = step_partials(data, cand, l, &panel, closest)?;
        if c == 0 {
            prev = 0;
            continue;
        }
        let pots = point_pots(&partials, points.len());
        let best = lowest(&pots);
        prev = best;
        ids.push(points[best]);
    }
    Ok(ids.iter().flat_map(|&i| data.row(i)).collect())
}

/// [`plusplus`] over rows spread across ranks: the chunks of every rank,
/// in rank order, play the role of one process's chunks. Each draw is
/// located in the gathered per-chunk totals, the rank holding it finds the
/// row and shares it, and each candidate's potential is summed over ranks;
/// every rank picks the same centres. Chunk boundaries differ from one
/// process's, so a draw within rounding of a sampling boundary may pick a
/// neighbouring row.
pub(super) fn plusplus_distributed<T: Real>(
    data: &Data<'_, T>,
    k: usize,
    trials: usize,
    draws: &[f64],
    weight_totals: &[f64],
    cand: &mut Vec<f64>,
    coll: &mut dyn Collective,
) -> Result<Vec<f64>> {
    let (n, p) = (data.n(), data.p());
    let l = trials.max(1);
    cand.clear();
    cand.resize(n * l, 0.0);
    let first = pick_rows(coll, data, weight_totals, &[draws[0]], true, |_, i| {
        data.weight(i)
    })?;
    let mut centers = first.clone();
    let mut prev = 0usize;
    let mut partials: Vec<Vec<f64>> = Vec::new();
    for c in 0..if k > 1 { k } else { 0 } {
        let coords: Vec<f64> = if c == 0 {
            first.clone()
        } else {
            let totals: Vec<f64> = partials.iter().map(|v| v[prev]).collect();
            let u = &draws[1 + (c - 1) * trials..1 + c * trials];
            let value = candidate_value(data, cand, l, prev);
            pick_rows(coll, data, &totals, u, false, value)?
        };
        let m = coords.len() / p;
        let panel = Panel::new(&coords, m, p);
        let closest = (c > 0).then_some(prev);
        partials = step_partials(data, cand, l, &panel, closest)?;
        if c == 0 {
            prev = 0;
            continue;
        }
        let mut pots = point_pots(&partials, m);
        sum_over_ranks(coll, &mut pots)?;
        let best = lowest(&pots);
        prev = best;
        centers.extend_from_slice(&coords[best * p..(best + 1) * p]);
    }
    Ok(centers)
}

/// The rows (concatenated coordinates, in `draws` order) that [`search`]
/// finds for targets `u · Σ totals` over every rank's chunks (`totals`:
/// this rank's per-chunk sums of `value`, rank order after gathering).
pub(super) fn pick_rows<T: Real>(
    coll: &mut dyn Collective,
    data: &Data<'_, T>,
    totals: &[f64],
    draws: &[f64],
    right: bool,
    value: impl Fn(usize, usize) -> f64,
) -> Result<Vec<f64>> {
    let p = data.p();
    let all = coll.allgather(totals)?;
    let grand: f64 = all.iter().flatten().sum();
    let hit = |s: f64, t: f64| reaches(right, s, t);
    // For each draw: (owner rank, its chunk, the target left in that chunk).
    let mut owners = Vec::with_capacity(draws.len());
    for &u in draws {
        let target = u * grand;
        let mut acc = 0.0;
        let mut found = None;
        'ranks: for (r, tots) in all.iter().enumerate() {
            for (ch, &tot) in tots.iter().enumerate() {
                if hit(tot, target - acc) {
                    found = Some((r, Some(ch), target - acc));
                    break 'ranks;
                }
                acc += tot;
            }
        }
        // No chunk reaches the target: the last row of the last rank with rows.
        let found = found.unwrap_or_else(|| {
            let r = all.iter().rposition(|t| !t.is_empty()).unwrap_or(0);
            (r, None, 0.0)
        });
        owners.push(found);
    }
    let rank = coll.rank();
    let mut post = Vec::new();
    for (t, &(r, ch, local)) in owners.iter().enumerate() {
        if r != rank || data.n() == 0 {
            continue;
        }
        let row = match ch {
            Some(ch) => scan_chunk(data.plan.range(ch), ch, local, right, &value),
            None => data.n() - 1,
        };
        post.push(t as f64);
        post.extend(data.row(row));
    }
    let mut coords = vec![0.0; draws.len() * p];
    for part in coll.allgather(&post)? {
        for rec in part.chunks_exact(p + 1) {
            let t = rec[0] as usize;
            coords[t * p..(t + 1) * p].copy_from_slice(&rec[1..]);
        }
    }
    Ok(coords)
}
