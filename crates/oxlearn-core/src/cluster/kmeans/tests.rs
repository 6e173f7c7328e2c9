//! Tests of k-means: against reference computations, thread counts, SIMD
//! levels and hostile input.

use super::*;

/// Deterministic pseudo-random numbers in [0, 1) (tests only).
struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// `n` points around `k` well-separated centres in `p` dimensions.
fn blobs(n: usize, p: usize, k: usize, seed: u64) -> (Vec<f64>, Vec<usize>) {
    let mut r = Lcg(seed);
    let centres: Vec<f64> = (0..k * p).map(|_| r.next() * 100.0).collect();
    let mut x = Vec::with_capacity(n * p);
    let mut truth = Vec::with_capacity(n);
    for i in 0..n {
        let c = i % k;
        truth.push(c);
        for f in 0..p {
            x.push(centres[c * p + f] + (r.next() - 0.5));
        }
    }
    (x, truth)
}

fn params(k: usize) -> KMeansParams {
    KMeansParams {
        n_clusters: k,
        max_iter: 100,
        tol: 1e-4,
        n_local_trials: 2 + (k as f64).ln() as usize,
        chunk_rows: 64,
    }
}

fn draws(k: usize, trials: usize, seed: u64) -> KMeansInit {
    let mut r = Lcg(seed);
    KMeansInit::PlusPlus((0..1 + (k - 1) * trials).map(|_| r.next()).collect())
}

#[test]
fn finds_separated_blobs() {
    let (n, p, k) = (1000, 5, 4);
    let (xs, truth) = blobs(n, p, k, 1);
    let x = MatRef::from_row_major_slice(&xs, n, p);
    let pr = params(k);
    let fit = fit_kmeans(x, None::<&[f64]>, &[draws(k, pr.n_local_trials, 2)], &pr).unwrap();
    // Same partition as the truth, up to a permutation of the labels.
    let mut map = vec![-1i32; k];
    for (&t, &l) in truth.iter().zip(&fit.labels) {
        if map[t] == -1 {
            map[t] = l;
        }
        assert_eq!(map[t], l);
    }
    // Inertia is the sum of squared distances to the assigned centres.
    let mut inertia = 0.0;
    for i in 0..n {
        let l = fit.labels[i] as usize;
        for f in 0..p {
            let d = xs[i * p + f] - fit.centers[l * p + f];
            inertia += d * d;
        }
    }
    assert!((inertia - fit.inertia).abs() <= 1e-9 * inertia);
    // Uniform noise of width 1: variance 1/12 per coordinate.
    assert!((fit.inertia / (n * p) as f64 - 1.0 / 12.0).abs() < 0.01);
    let mut pred = vec![0i32; n];
    predict_kmeans(
        x,
        MatRef::from_row_major_slice(&fit.centers, k, p),
        0,
        &mut pred,
    )
    .unwrap();
    assert_eq!(pred, fit.labels);
}

#[test]
fn independent_of_thread_count_and_layout() {
    // Large enough to run in parallel (see `parallel_for`).
    let (n, p, k) = (40_000, 7, 6);
    assert!(parallel_for(n, p));
    let (xs, _) = blobs(n, p, k, 3);
    let x = MatRef::from_row_major_slice(&xs, n, p);
    let xt: Vec<f64> = (0..n * p).map(|e| xs[(e % n) * p + e / n]).collect();
    let xc = MatRef::from_column_major_slice(&xt, n, p);
    let pr = params(k);
    let inits = [
        draws(k, pr.n_local_trials, 5),
        draws(k, pr.n_local_trials, 6),
    ];
    let run = |threads: usize, x: MatRef<'_, f64>| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap()
            .install(|| fit_kmeans(x, None::<&[f64]>, &inits, &pr).unwrap())
    };
    let one = run(1, x);
    for threads in [2, 3, 8] {
        assert_eq!(run(threads, x), one, "{threads} threads");
    }
    assert_eq!(run(2, xc), one, "column-major");
}

#[test]
fn plusplus_follows_the_draws() {
    // Two far groups: the first draw picks by weight, the later ones by
    // squared distance, so the second centre is in the other group.
    let xs = [0.0, 0.0, 0.1, 0.0, 10.0, 0.0, 10.1, 0.0];
    let x = MatRef::from_row_major_slice(&xs, 4, 2);
    let mut data = Data::new(x, None::<&[f64]>, 1);
    assert_eq!(data.plan.chunk_rows, LANES); // rounded up to whole tiles
    data.build_tiles().unwrap();
    let totals = vec![4.0];
    let mut scratch = Vec::new();
    // u0 = 0.6 → row 2 (cumulative 3 > 2.4); then any draw lands in the
    // far group {0, 1}.
    let c = plusplus(&data, 2, 2, &[0.6, 0.3, 0.9], &totals, &mut scratch).unwrap();
    assert_eq!(&c[..2], &[10.0, 0.0]);
    assert!(c[2] < 1.0);
    // Sample weights: zero weight rows are never picked first.
    let w = [0.0, 0.0, 0.0, 1.0];
    let mut data_w = Data::new(x, Some(&w[..]), 0);
    data_w.build_tiles().unwrap();
    let c = plusplus(&data_w, 1, 2, &[0.0], &[1.0], &mut scratch).unwrap();
    assert_eq!(c, vec![10.1, 0.0]);
}

#[test]
fn explicit_init_and_empty_cluster_relocation() {
    // Centre 2 starts far from every point: its cluster is empty after
    // the first E-step and takes the point farthest from its centre.
    let xs = [0.0, 1.0, 2.0, 10.0, 11.0, 30.0];
    let x = MatRef::from_row_major_slice(&xs, 6, 1);
    let pr = KMeansParams {
        chunk_rows: 2,
        ..params(3)
    };
    let init = KMeansInit::Centers(vec![0.0, 11.0, 1000.0]);
    let fit = fit_kmeans(x, None::<&[f64]>, &[init], &pr).unwrap();
    let mut c = fit.centers.clone();
    c.sort_by(f64::total_cmp);
    assert_eq!(c, vec![1.0, 10.5, 30.0]);
    assert!((fit.inertia - (2.0 + 0.5)).abs() < 1e-12);
}

#[test]
fn sample_weights_equal_repetition_with_fixed_init() {
    let xs = [0.0, 1.0, 5.0, 6.0, 7.0];
    let w = [2.0, 1.0, 1.0, 0.0, 3.0];
    let rep = [0.0, 0.0, 1.0, 5.0, 7.0, 7.0, 7.0];
    let pr = params(2);
    let init = [KMeansInit::Centers(vec![0.5, 6.0])];
    let a = fit_kmeans(
        MatRef::from_row_major_slice(&xs, 5, 1),
        Some(&w[..]),
        &init,
        &pr,
    )
    .unwrap();
    let b = fit_kmeans(
        MatRef::from_row_major_slice(&rep, 7, 1),
        None::<&[f64]>,
        &init,
        &pr,
    )
    .unwrap();
    for (u, v) in a.centers.iter().zip(&b.centers) {
        assert!((u - v).abs() < 1e-12);
    }
    assert!((a.inertia - b.inertia).abs() < 1e-12);
}

#[test]
fn float32_agrees_with_float64() {
    let (n, p, k) = (2000, 3, 3);
    let (xs, _) = blobs(n, p, k, 9);
    let x32: Vec<f32> = xs.iter().map(|&v| v as f32).collect();
    let x64: Vec<f64> = x32.iter().map(|&v| v as f64).collect();
    let pr = params(k);
    let init = [draws(k, pr.n_local_trials, 1)];
    let a = fit_kmeans(
        MatRef::from_row_major_slice(&x32, n, p),
        None::<&[f32]>,
        &init,
        &pr,
    )
    .unwrap();
    let b = fit_kmeans(
        MatRef::from_row_major_slice(&x64, n, p),
        None::<&[f64]>,
        &init,
        &pr,
    )
    .unwrap();
    // Both compute in f64 from the same values.
    assert_eq!(a, b);
}

#[test]
fn bad_input_is_reported() {
    let xs = [0.0, 1.0, f64::NAN, 2.0];
    let x = MatRef::from_row_major_slice(&xs, 4, 1);
    let pr = params(2);
    let init = [KMeansInit::Centers(vec![0.0, 1.0])];
    let e = fit_kmeans(x, None::<&[f64]>, &init, &pr).unwrap_err();
    assert!(matches!(e, Error::NonFinite { row: 2, col: 0, .. }), "{e}");
    let ok = [0.0, 1.0, 3.0, 2.0];
    let x = MatRef::from_row_major_slice(&ok, 4, 1);
    let e = fit_kmeans(x, None::<&[f64]>, &init, &params(5)).unwrap_err();
    assert!(e.to_string().contains("n_clusters"), "{e}");
    let e = fit_kmeans(x, None::<&[f64]>, &[KMeansInit::Centers(vec![0.0])], &pr).unwrap_err();
    assert!(matches!(e, Error::ShapeMismatch { .. }), "{e}");
    let e = fit_kmeans(x, Some(&[0.0; 4][..]), &init, &pr).unwrap_err();
    assert!(e.to_string().contains("sample weights are zero"), "{e}");
    let e = fit_kmeans(x, None::<&[f64]>, &[KMeansInit::PlusPlus(vec![0.5])], &pr).unwrap_err();
    assert!(matches!(e, Error::ShapeMismatch { .. }), "{e}");
    let c = [0.0, 1.0];
    let mut out = [0i32; 4];
    let e = predict_kmeans(
        MatRef::from_row_major_slice(&ok, 2, 2),
        MatRef::from_row_major_slice(&c, 2, 1),
        0,
        &mut out[..2],
    )
    .unwrap_err();
    assert!(matches!(e, Error::ShapeMismatch { .. }), "{e}");
}

#[test]
fn predict_ties_go_to_the_lowest_index_and_transform_is_exact() {
    let c = [1.0, -1.0, 3.0];
    let xs = [0.0, 2.0, 5.0];
    let x = MatRef::from_row_major_slice(&xs, 3, 1);
    let cm = MatRef::from_row_major_slice(&c, 3, 1);
    let mut lab = vec![0i32; 3];
    predict_kmeans(x, cm, 0, &mut lab).unwrap();
    assert_eq!(lab, vec![0, 0, 2]); // 0 is equidistant from 1 and -1; 2 from 1 and 3
    let mut d = vec![0.0; 9];
    transform_kmeans(x, cm, 0, &mut d).unwrap();
    assert_eq!(d, vec![1.0, 1.0, 3.0, 1.0, 3.0, 1.0, 4.0, 6.0, 2.0]);
    let s = inertia_kmeans(x, Some(&[1.0, 2.0, 0.5][..]), cm, 0).unwrap();
    assert_eq!(s, 1.0 + 2.0 + 0.5 * 4.0);
}

#[test]
fn kernels_agree_with_naive_for_many_shapes() {
    let mut r = Lcg(11);
    for (m, p, k) in [
        (1usize, 1usize, 1usize),
        (7, 3, 9),
        (13, 17, 8),
        (5, 9, 17),
        (16, 2, 3),
    ] {
        let b: Vec<f64> = (0..m * p).map(|_| r.next() - 0.5).collect();
        let c: Vec<f64> = (0..k * p).map(|_| r.next() - 0.5).collect();
        let s: Vec<f64> = (0..p).map(|_| r.next() - 0.5).collect();
        let mut buf = vec![1.0; 3];
        let tiles = tiles_into(MatRef::from_row_major_slice(&b, m, p), &mut buf).to_vec();
        let panel = Panel::new(&c, k, p);
        let mut lab = vec![0i32; m];
        let mut best = vec![0.0; m];
        nearest(&tiles, &s, &panel, &mut lab, &mut best);
        let mut d = vec![0.0; m * k];
        sq_dists(&tiles, m, &panel, &mut d);
        for i in 0..m {
            let naive: Vec<f64> = (0..k)
                .map(|j| (0..p).map(|f| (b[i * p + f] - c[j * p + f]).powi(2)).sum())
                .collect();
            let shifted: Vec<f64> = (0..k)
                .map(|j| {
                    (0..p)
                        .map(|f| (b[i * p + f] - s[f] - c[j * p + f]).powi(2))
                        .sum()
                })
                .collect();
            let argmin = (0..k)
                .min_by(|&a, &b| shifted[a].total_cmp(&shifted[b]))
                .unwrap();
            assert_eq!(lab[i] as usize, argmin);
            for j in 0..k {
                assert!((d[i * k + j] - naive[j]).abs() < 1e-12);
            }
        }
    }
}

mod assigner_tests {
    use super::*;

    /// Labels by the textbook formula, counting its calls.
    struct Naive<'a> {
        x: MatRef<'a, f64>,
        shift: Vec<f64>,
        calls: usize,
    }

    impl LabelAssigner for Naive<'_> {
        fn prepare(&mut self, shift: &[f64]) -> Result<()> {
            self.shift = shift.to_vec();
            Ok(())
        }

        fn assign(&mut self, centers: &[f64], labels: &mut [i32]) -> Result<()> {
            self.calls += 1;
            let p = self.x.ncols();
            for (i, l) in labels.iter_mut().enumerate() {
                let mut best = (f64::INFINITY, 0);
                for (j, c) in centers.chunks_exact(p).enumerate() {
                    let cn: f64 = c.iter().map(|v| v * v).sum();
                    let dot: f64 = (0..p)
                        .map(|f| (self.x[(i, f)] - self.shift[f]) * c[f])
                        .sum();
                    let v = cn - 2.0 * dot;
                    if v < best.0 {
                        best = (v, j);
                    }
                }
                *l = best.1 as i32;
            }
            Ok(())
        }
    }

    #[test]
    fn an_assigner_gives_the_cpu_model() {
        let (n, p, k) = (3000, 5, 4);
        let mut s = 3u64;
        let xs: Vec<f64> = (0..n * p)
            .map(|i| {
                s = s
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                (s >> 11) as f64 / (1u64 << 53) as f64 + 5.0 * ((i / p) % k) as f64
            })
            .collect();
        let x = MatRef::from_row_major_slice(&xs, n, p);
        let params = KMeansParams {
            n_clusters: k,
            max_iter: 50,
            tol: 1e-4,
            n_local_trials: 2,
            chunk_rows: 0,
        };
        let draws: Vec<f64> = (0..1 + (k - 1) * 2)
            .map(|i| (i as f64 * 0.377) % 1.0)
            .collect();
        let inits = [
            KMeansInit::PlusPlus(draws),
            KMeansInit::Centers(xs[..k * p].to_vec()),
        ];
        let w: Vec<f64> = (0..n).map(|i| 1.0 + (i % 3) as f64).collect();
        for wt in [None, Some(&w[..])] {
            let cpu = fit_kmeans(x, wt, &inits, &params).unwrap();
            let mut a = Naive {
                x,
                shift: Vec::new(),
                calls: 0,
            };
            let with = fit_kmeans_with(x, wt, &inits, &params, Some(&mut a)).unwrap();
            assert!(a.calls >= 2);
            assert_eq!(with.labels, cpu.labels);
            assert_eq!(with.n_iter, cpu.n_iter);
            assert_eq!(with.centers, cpu.centers);
            assert_eq!(with.inertia, cpu.inertia);
        }
    }
}
