//! Copying rows by index: `out[i] = src[index[i]]` for rows of any fixed
//! size in bytes (any numpy dtype without references), in parallel over
//! blocks of output rows. The result does not depend on the thread count:
//! each output row is one copy. Also the argmax of a row, as the
//! classifiers pick their class.

use crate::error::{Error, Result};
use rayon::prelude::*;

/// numpy's `argmax` of a row of numbers: the first of equal maxima (0 for an
/// empty row). Compared with `>`, so a NaN is never chosen over the values
/// before it.
pub fn first_argmax<T: PartialOrd>(row: &[T]) -> usize {
    let mut best = 0;
    for (j, v) in row.iter().enumerate() {
        if *v > row[best] {
            best = j;
        }
    }
    best
}

/// Output rows per parallel task: large enough to amortise the task, small
/// enough to balance (about 1 MiB of rows).
fn block_rows(row_bytes: usize) -> usize {
    ((1 << 20) / row_bytes.max(1)).max(1)
}

/// Copies row `index[i]` of `src` (rows of `row_bytes` bytes) to row `i` of
/// `out`.
///
/// # Errors
/// `row_bytes` of 0, buffers whose lengths are not whole rows, `out` not
/// `index.len()` rows, or an index outside `0..rows of src` (nothing is
/// copied then).
pub fn take_rows(src: &[u8], row_bytes: usize, index: &[i64], out: &mut [u8]) -> Result<()> {
    if row_bytes == 0 || !src.len().is_multiple_of(row_bytes) {
        return Err(Error::InvalidParameter {
            name: "row_bytes",
            reason: format!(
                "{row_bytes} does not divide the source's {} bytes",
                src.len()
            ),
        });
    }
    let rows = src.len() / row_bytes;
    if out.len() != index.len().saturating_mul(row_bytes) {
        return Err(Error::ShapeMismatch {
            what: "output rows".into(),
            expected: index.len(),
            got: out.len() / row_bytes,
        });
    }
    if let Some(&bad) = index.iter().find(|&&i| i < 0 || i as u64 >= rows as u64) {
        return Err(Error::InvalidParameter {
            name: "indices",
            reason: format!("index {bad} is out of bounds for {rows} rows"),
        });
    }
    let block = block_rows(row_bytes);
    out.par_chunks_mut(block * row_bytes)
        .zip(index.par_chunks(block))
        .for_each(|(dst, idx)| {
            for (d, &i) in dst.chunks_exact_mut(row_bytes).zip(idx) {
                let at = i as usize * row_bytes;
                d.copy_from_slice(&src[at..at + row_bytes]);
            }
        });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_argmax_takes_the_first_of_equal_maxima() {
        assert_eq!(first_argmax(&[1.0, 3.0, 3.0, 2.0]), 1);
        assert_eq!(first_argmax(&[f64::NAN, 1.0, 0.5]), 0);
        assert_eq!(first_argmax(&[0.5, f64::NAN, 1.0]), 2);
        assert_eq!(first_argmax::<f64>(&[]), 0);
    }

    #[test]
    fn rows_are_copied_in_index_order() {
        let src: Vec<u8> = (0..24).collect(); // 6 rows of 4 bytes
        let idx = [5i64, 0, 3, 3];
        let mut out = vec![0u8; 16];
        take_rows(&src, 4, &idx, &mut out).unwrap();
        assert_eq!(
            out,
            [20, 21, 22, 23, 0, 1, 2, 3, 12, 13, 14, 15, 12, 13, 14, 15]
        );
    }

    #[test]
    fn bad_indices_and_shapes_are_errors_and_copy_nothing() {
        let src = [1u8; 8];
        let mut out = [0u8; 4];
        assert!(take_rows(&src, 4, &[2], &mut out).is_err());
        assert!(take_rows(&src, 4, &[-1], &mut out).is_err());
        assert!(take_rows(&src, 3, &[0], &mut out).is_err());
        assert!(take_rows(&src, 0, &[0], &mut out).is_err());
        assert!(take_rows(&src, 4, &[0, 1], &mut out).is_err());
        assert_eq!(out, [0; 4]);
    }

    #[test]
    fn many_blocks_give_the_same_rows() {
        let row_bytes = 3;
        let rows = 1_000_000;
        let src: Vec<u8> = (0..rows * row_bytes).map(|i| (i % 251) as u8).collect();
        let idx: Vec<i64> = (0..rows as i64).rev().step_by(3).collect();
        let mut out = vec![0u8; idx.len() * row_bytes];
        take_rows(&src, row_bytes, &idx, &mut out).unwrap();
        for (k, &i) in idx.iter().enumerate() {
            let i = i as usize;
            assert_eq!(&out[k * 3..k * 3 + 3], &src[i * 3..i * 3 + 3]);
        }
    }
}
