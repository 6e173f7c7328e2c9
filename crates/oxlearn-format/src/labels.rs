//! Class labels of classifiers (`classes_`).
//!
//! Labels whose numpy dtype the format stores (`int32`, `int64`, `uint8`,
//! `float32`, `float64`, `bool`) are an ordinary array. Any other labels
//! (strings; other integer widths) are a JSON value in the header's `attrs`
//! under the same name, in the form oxlearn uses for array-valued
//! parameters:
//!
//! ```json
//! {"__ndarray__": ["cat", "dog"], "dtype": "<U3", "shape": [2]}
//! ```
//!
//! with `dtype` one of `|i1`, `<i2`, `<i4`, `<i8`, `|u1`, `<u2`, `<u4`, `<u8`
//! (JSON integers in range), `<U{n}` (strings of at most `n` characters) or
//! `|O` (all strings, or all integers). Either way the labels must be
//! strictly increasing, as `numpy.unique` returns them: a reader can rely
//! on them being distinct and sorted.

use crate::error::{FormatError, Result};
use crate::header::{ArrayView, DType, Header};
use serde_json::Value;

/// Decoded class labels, with the numpy dtype to give them back.
#[derive(Debug, Clone, PartialEq)]
pub enum Labels {
    /// Signed integers; `descr` is their numpy dtype string (e.g. `<i8`).
    Int {
        /// The labels.
        values: Vec<i64>,
        /// numpy dtype string of the labels.
        descr: String,
    },
    /// Unsigned integers; `descr` is their numpy dtype string (e.g. `<u2`).
    UInt {
        /// The labels.
        values: Vec<u64>,
        /// numpy dtype string of the labels.
        descr: String,
    },
    /// Floating-point labels; `descr` is `<f8` or `<f4`.
    Float {
        /// The labels.
        values: Vec<f64>,
        /// numpy dtype string of the labels.
        descr: String,
    },
    /// `False`/`True`.
    Bool(Vec<bool>),
    /// Strings.
    Str(Vec<String>),
}

impl Labels {
    /// Number of labels.
    pub fn len(&self) -> usize {
        match self {
            Labels::Int { values, .. } => values.len(),
            Labels::UInt { values, .. } => values.len(),
            Labels::Float { values, .. } => values.len(),
            Labels::Bool(v) => v.len(),
            Labels::Str(v) => v.len(),
        }
    }

    /// Whether there are no labels.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The labels at positions `idx`, in that order (`None` if an index is
    /// out of range): predicted class indices to predicted labels.
    pub fn take(&self, idx: &[usize]) -> Option<Labels> {
        fn pick<T: Clone>(v: &[T], idx: &[usize]) -> Option<Vec<T>> {
            idx.iter().map(|&i| v.get(i).cloned()).collect()
        }
        Some(match self {
            Labels::Int { values, descr } => Labels::Int {
                values: pick(values, idx)?,
                descr: descr.clone(),
            },
            Labels::UInt { values, descr } => Labels::UInt {
                values: pick(values, idx)?,
                descr: descr.clone(),
            },
            Labels::Float { values, descr } => Labels::Float {
                values: pick(values, idx)?,
                descr: descr.clone(),
            },
            Labels::Bool(v) => Labels::Bool(pick(v, idx)?),
            Labels::Str(v) => Labels::Str(pick(v, idx)?),
        })
    }

    /// Reads and validates the labels called `name` of a fitted model: the
    /// array of that name or the `attrs` entry, exactly one of them.
    pub fn read(h: &Header, arrays: &[ArrayView<'_>], name: &str) -> Result<Labels> {
        let array = arrays.iter().find(|a| a.name == name);
        let attr = h.attrs.get(name);
        let invalid = |reason: String| FormatError::InvalidField {
            field: format!("{name} (class labels)"),
            reason,
        };
        let labels = match (array, attr) {
            (Some(a), None) => from_array(a).map_err(invalid)?,
            (None, Some(v)) => from_attr(v).map_err(invalid)?,
            (Some(_), Some(_)) => {
                return Err(invalid(
                    "stored both as an array and as an attribute".into(),
                ))
            }
            (None, None) => return Err(invalid("missing".into())),
        };
        check_increasing(&labels).map_err(invalid)?;
        Ok(labels)
    }

    /// Reads and validates labels given as a JSON label object (the
    /// attribute form above), e.g. one output's labels of a multi-output
    /// classifier.
    pub fn from_json(v: &Value) -> std::result::Result<Labels, String> {
        let labels = from_attr(v)?;
        check_increasing(&labels)?;
        Ok(labels)
    }
}

fn from_array(a: &ArrayView<'_>) -> std::result::Result<Labels, String> {
    if a.shape.len() != 1 {
        return Err(format!("shape {:?}; labels are one-dimensional", a.shape));
    }
    let d = a.data;
    let chunks = |n: usize| d.chunks_exact(n);
    Ok(match a.dtype {
        DType::Int64 => Labels::Int {
            values: chunks(8)
                .map(|c| i64::from_le_bytes(c.try_into().unwrap_or([0; 8])))
                .collect(),
            descr: "<i8".into(),
        },
        DType::Int32 => Labels::Int {
            values: chunks(4)
                .map(|c| i64::from(i32::from_le_bytes(c.try_into().unwrap_or([0; 4]))))
                .collect(),
            descr: "<i4".into(),
        },
        DType::Uint8 => Labels::UInt {
            values: d.iter().map(|&b| u64::from(b)).collect(),
            descr: "|u1".into(),
        },
        DType::Float64 => Labels::Float {
            values: chunks(8)
                .map(|c| f64::from_le_bytes(c.try_into().unwrap_or([0; 8])))
                .collect(),
            descr: "<f8".into(),
        },
        DType::Float32 => Labels::Float {
            values: chunks(4)
                .map(|c| f64::from(f32::from_le_bytes(c.try_into().unwrap_or([0; 4]))))
                .collect(),
            descr: "<f4".into(),
        },
        DType::Bool => {
            let mut v = Vec::with_capacity(d.len());
            for &b in d {
                match b {
                    0 => v.push(false),
                    1 => v.push(true),
                    other => return Err(format!("boolean label byte {other} is neither 0 nor 1")),
                }
            }
            Labels::Bool(v)
        }
    })
}

/// Inclusive range of JSON integers a numpy integer dtype holds.
fn int_range(descr: &str) -> Option<(i128, i128)> {
    Some(match descr {
        "|i1" => (i8::MIN.into(), i8::MAX.into()),
        "<i2" => (i16::MIN.into(), i16::MAX.into()),
        "<i4" => (i32::MIN.into(), i32::MAX.into()),
        "<i8" => (i64::MIN.into(), i64::MAX.into()),
        "|u1" => (0, u8::MAX.into()),
        "<u2" => (0, u16::MAX.into()),
        "<u4" => (0, u32::MAX.into()),
        "<u8" => (0, u64::MAX.into()),
        _ => return None,
    })
}

fn json_int(v: &Value) -> Option<i128> {
    v.as_i64()
        .map(i128::from)
        .or_else(|| v.as_u64().map(i128::from))
}

fn from_attr(v: &Value) -> std::result::Result<Labels, String> {
    let obj = v
        .as_object()
        .ok_or_else(|| format!("{v}; expected an object with __ndarray__, dtype and shape"))?;
    if obj.len() != 3 {
        return Err("expected exactly the keys __ndarray__, dtype and shape".into());
    }
    let values = obj
        .get("__ndarray__")
        .and_then(Value::as_array)
        .ok_or("__ndarray__ is not a list")?;
    let descr = obj
        .get("dtype")
        .and_then(Value::as_str)
        .ok_or("dtype is not a string")?;
    let shape = obj
        .get("shape")
        .and_then(Value::as_array)
        .ok_or("shape is not a list")?;
    if shape.len() != 1 || shape[0].as_u64() != Some(values.len() as u64) {
        return Err(format!(
            "shape {shape:?} does not describe {} labels",
            values.len()
        ));
    }
    let ints = |lo: i128, hi: i128| -> std::result::Result<Vec<i128>, String> {
        values
            .iter()
            .map(|v| match json_int(v) {
                Some(i) if (lo..=hi).contains(&i) => Ok(i),
                _ => Err(format!("label {v} is not an integer of dtype {descr}")),
            })
            .collect()
    };
    let strings = || -> Option<Vec<String>> {
        values
            .iter()
            .map(|v| v.as_str().map(str::to_owned))
            .collect()
    };
    if let Some((lo, hi)) = int_range(descr) {
        let v = ints(lo, hi)?;
        return Ok(if lo < 0 {
            Labels::Int {
                values: v.into_iter().map(|i| i as i64).collect(),
                descr: descr.into(),
            }
        } else {
            Labels::UInt {
                values: v.into_iter().map(|i| i as u64).collect(),
                descr: descr.into(),
            }
        });
    }
    if let Some(width) = descr.strip_prefix("<U") {
        let width: usize = width
            .parse()
            .map_err(|_| format!("dtype {descr:?} is not a unicode string dtype"))?;
        let s =
            strings().ok_or_else(|| format!("dtype {descr} holds a label that is not a string"))?;
        if let Some(long) = s.iter().find(|s| s.chars().count() > width) {
            return Err(format!(
                "label {long:?} is longer than dtype {descr} allows"
            ));
        }
        return Ok(Labels::Str(s));
    }
    if descr == "|O" {
        if let Some(s) = strings() {
            return Ok(Labels::Str(s));
        }
        let v = ints(i64::MIN.into(), i64::MAX.into())
            .map_err(|_| "object labels must be all strings or all integers".to_owned())?;
        return Ok(Labels::Int {
            values: v.into_iter().map(|i| i as i64).collect(),
            descr: "<i8".into(),
        });
    }
    Err(format!(
        "dtype {descr:?} is not a label dtype (integers, <U strings or |O)"
    ))
}

fn check_increasing(labels: &Labels) -> std::result::Result<(), String> {
    fn check<T: PartialOrd + std::fmt::Debug>(v: &[T]) -> std::result::Result<(), String> {
        match v.windows(2).find(|w| w[0].partial_cmp(&w[1]) != Some(std::cmp::Ordering::Less)) {
            Some(w) => Err(format!(
                "labels {:?} and {:?} are not strictly increasing (labels must be sorted and distinct)",
                w[0], w[1]
            )),
            None => Ok(()),
        }
    }
    match labels {
        Labels::Int { values, .. } => check(values),
        Labels::UInt { values, .. } => check(values),
        Labels::Float { values, .. } => check(values),
        Labels::Bool(v) => check(v),
        // `str` orders by code point, as Python does.
        Labels::Str(v) => check(v),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn attr_forms() {
        let s = from_attr(&json!({"__ndarray__": ["a", "bb"], "dtype": "<U2", "shape": [2]}));
        assert_eq!(s.unwrap(), Labels::Str(vec!["a".into(), "bb".into()]));
        let s = from_attr(&json!({"__ndarray__": ["a", "bbb"], "dtype": "<U2", "shape": [2]}));
        assert!(s.unwrap_err().contains("longer"));
        let i = from_attr(&json!({"__ndarray__": [-3, 7], "dtype": "<i2", "shape": [2]}));
        assert_eq!(
            i.unwrap(),
            Labels::Int {
                values: vec![-3, 7],
                descr: "<i2".into()
            }
        );
        let big = from_attr(&json!({"__ndarray__": [300], "dtype": "|u1", "shape": [1]}));
        assert!(big.is_err());
        let u = from_attr(
            &json!({"__ndarray__": [0, 18446744073709551615u64], "dtype": "<u8", "shape": [2]}),
        );
        assert!(matches!(u.unwrap(), Labels::UInt { .. }));
        let o = from_attr(&json!({"__ndarray__": [1, "x"], "dtype": "|O", "shape": [2]}));
        assert!(o.is_err());
        let f = from_attr(&json!({"__ndarray__": [1.5], "dtype": "<f2", "shape": [1]}));
        assert!(f.is_err());
        let shape = from_attr(&json!({"__ndarray__": ["a"], "dtype": "|O", "shape": [2]}));
        assert!(shape.is_err());
    }

    #[test]
    fn take_selects_in_order() {
        let l = Labels::Str(vec!["a".into(), "b".into()]);
        assert_eq!(
            l.take(&[1, 0, 1]),
            Some(Labels::Str(vec!["b".into(), "a".into(), "b".into()]))
        );
        assert_eq!(l.take(&[2]), None);
    }

    #[test]
    fn order_is_checked() {
        assert!(check_increasing(&Labels::Str(vec!["b".into(), "a".into()])).is_err());
        assert!(check_increasing(&Labels::Str(vec!["B".into(), "a".into()])).is_ok());
        assert!(check_increasing(&Labels::Float {
            values: vec![0.0, f64::NAN],
            descr: "<f8".into()
        })
        .is_err());
        assert!(check_increasing(&Labels::Bool(vec![true, true])).is_err());
    }
}
