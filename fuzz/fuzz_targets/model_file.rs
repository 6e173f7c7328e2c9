//! Feeds arbitrary bytes to the model-file reader, the whole load-time check,
//! and (for a model that passes) the linear prediction path the `oxlearn`
//! binary uses. Any panic, overflow or out-of-bounds access is a bug.
#![no_main]

use libfuzzer_sys::fuzz_target;
use oxlearn_format::{open_checked, parse_file, DType, Runtime};

fuzz_target!(|data: &[u8]| {
    let Ok(file) = parse_file(data) else { return };
    let arrays = file.arrays();
    let Ok((header, _)) = open_checked(file.header_json, &arrays, &Runtime::native(), false) else {
        return;
    };
    // A model that validated must be usable without panicking.
    let (Some(coef), Some(intercept)) = (
        arrays.iter().find(|a| a.name == "coef_"),
        arrays.iter().find(|a| a.name == "intercept_"),
    ) else {
        return;
    };
    if coef.dtype != DType::Float64 || intercept.dtype != DType::Float64 {
        return;
    }
    let c: Vec<f64> = coef
        .data
        .chunks_exact(8)
        .map(|b| f64::from_le_bytes(b.try_into().unwrap_or([0; 8])))
        .collect();
    let t = if coef.shape.len() == 2 {
        coef.shape[0] as usize
    } else {
        1
    };
    let p = header.n_features_in.unwrap_or(0) as usize;
    let mut b: Vec<f64> = intercept
        .data
        .chunks_exact(8)
        .map(|b| f64::from_le_bytes(b.try_into().unwrap_or([0; 8])))
        .collect();
    if b.len() == 1 && t > 1 {
        b = vec![b[0]; t];
    }
    let x = vec![1.0f64; 3 * p];
    let mut out = vec![0.0f64; 3 * t];
    let _ = oxlearn_core::linear_model::predict_linear(
        faer::MatRef::from_row_major_slice(&x, 3, p),
        faer::MatRef::from_row_major_slice(&c, t, p),
        &b,
        &mut out,
    );
});
