//! The `k` best candidates of one query, by reduced distance then index.
//!
//! Candidates are ordered by `(reduced distance, index)`: a total order, so
//! the `k` best are one set whatever order they arrive in (any engine, any
//! chunking, any thread count), and ties in distance go to the smaller
//! index, as the rule and scikit-learn's brute force do.

/// A bounded max-heap of `(reduced distance, index)`; the root is the worst
/// kept candidate.
#[derive(Debug, Clone)]
pub(crate) struct TopK {
    k: usize,
    heap: Vec<(f64, u32)>,
}

#[inline(always)]
fn worse(a: (f64, u32), b: (f64, u32)) -> bool {
    a.0 > b.0 || (a.0 == b.0 && a.1 > b.1)
}

impl TopK {
    pub(crate) fn new(k: usize) -> TopK {
        TopK {
            k,
            heap: Vec::with_capacity(k),
        }
    }

    /// The number of candidates kept.
    pub(crate) fn k(&self) -> usize {
        self.k
    }

    pub(crate) fn clear(&mut self) {
        self.heap.clear();
    }

    /// The reduced distance a candidate must not exceed to enter: the worst
    /// kept one once `k` are kept, infinity before.
    #[inline(always)]
    pub(crate) fn bound(&self) -> f64 {
        if self.heap.len() < self.k {
            f64::INFINITY
        } else if self.k == 0 {
            f64::NEG_INFINITY
        } else {
            self.heap[0].0
        }
    }

    /// Offers candidate `i` at reduced distance `rd`.
    #[inline(always)]
    pub(crate) fn push(&mut self, rd: f64, i: u32) {
        let c = (rd, i);
        if self.heap.len() < self.k {
            self.heap.push(c);
            let mut at = self.heap.len() - 1;
            while at > 0 {
                let parent = (at - 1) / 2;
                if worse(self.heap[at], self.heap[parent]) {
                    self.heap.swap(at, parent);
                    at = parent;
                } else {
                    break;
                }
            }
            return;
        }
        if self.k == 0 || !worse(self.heap[0], c) {
            return;
        }
        self.heap[0] = c;
        let n = self.heap.len();
        let mut at = 0;
        loop {
            let (l, r) = (2 * at + 1, 2 * at + 2);
            let mut top = at;
            if l < n && worse(self.heap[l], self.heap[top]) {
                top = l;
            }
            if r < n && worse(self.heap[r], self.heap[top]) {
                top = r;
            }
            if top == at {
                break;
            }
            self.heap.swap(at, top);
            at = top;
        }
    }

    /// Appends the kept candidates, best first, to `rds` and `idx`.
    pub(crate) fn drain_sorted(&mut self, rds: &mut Vec<f64>, idx: &mut Vec<u32>) {
        self.heap
            .sort_unstable_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        for &(rd, i) in &self.heap {
            rds.push(rd);
            idx.push(i);
        }
        self.heap.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_k_smallest_with_ties_to_the_smaller_index() {
        let vals = [3.0, 1.0, 2.0, 1.0, 0.5, 2.0, 1.0, 7.0];
        for order in [
            vec![0, 1, 2, 3, 4, 5, 6, 7],
            vec![7, 6, 5, 4, 3, 2, 1, 0],
            vec![3, 6, 1, 0, 7, 2, 5, 4],
        ] {
            let mut t = TopK::new(3);
            for &i in &order {
                t.push(vals[i], i as u32);
            }
            let (mut rd, mut idx) = (vec![], vec![]);
            t.drain_sorted(&mut rd, &mut idx);
            assert_eq!(idx, vec![4, 1, 3]);
            assert_eq!(rd, vec![0.5, 1.0, 1.0]);
        }
        let mut t = TopK::new(0);
        t.push(1.0, 0);
        assert_eq!(t.bound(), f64::NEG_INFINITY);
    }
}
