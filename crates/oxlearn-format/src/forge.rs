//! Model files as a forger writes them: any header and arrays, sealed with
//! the array digests and the header checksum that a reader recomputes. For
//! tests and fuzzing only: the checksums detect damage, not intent, so a
//! reader must refuse whatever is wrong in such a file by its structure
//! alone, without panicking and without allocating much more than the
//! file's size. [`mutate`] makes the structural changes a forger would.

use crate::file::parse_file;
use crate::header::{checksum_of, digest_of, FILE_ALIGN};
use serde_json::{json, Map, Value};

/// A model file taken apart: its header as JSON, its arrays' bytes in
/// manifest order.
#[derive(Debug, Clone)]
pub struct Parts {
    /// The header.
    pub header: Map<String, Value>,
    /// Each array's bytes.
    pub arrays: Vec<Vec<u8>>,
}

/// Takes a (valid) model file apart; `None` if its layout does not parse.
pub fn split(file: &[u8]) -> Option<Parts> {
    let f = parse_file(file).ok()?;
    let header = serde_json::from_str::<Value>(f.header_json).ok()?;
    Some(Parts {
        header: header.as_object()?.clone(),
        arrays: f.arrays().iter().map(|a| a.data.to_vec()).collect(),
    })
}

/// Writes `parts` as a model file: each array's digest and offset written
/// into its manifest entry (when it has one), and the header's checksum
/// recomputed, `checksum` last, as a reader verifies it.
pub fn seal(parts: &Parts) -> Vec<u8> {
    let mut header = parts.header.clone();
    let mut offset = 0u64;
    if let Some(Value::Array(entries)) = header.get_mut("arrays") {
        for (e, data) in entries.iter_mut().zip(&parts.arrays) {
            if let Value::Object(e) = e {
                e.insert("xxh3".into(), json!(digest_of(data)));
                e.insert("offset".into(), json!(offset));
            }
            offset += (data.len() as u64).div_ceil(FILE_ALIGN) * FILE_ALIGN;
        }
    }
    header.remove("checksum");
    let body = serde_json::to_string(&header).unwrap_or_else(|_| "{}".into());
    let open = &body[..body.len() - 1];
    let sep = if header.is_empty() { "" } else { "," };
    let sum = checksum_of(&format!("{open}{sep}\"checksum\":\"\"}}"));
    let json = format!("{open}{sep}\"checksum\":\"{sum}\"}}");
    let padded = (8 + json.len() as u64).div_ceil(FILE_ALIGN) * FILE_ALIGN - 8;
    let mut out = Vec::with_capacity(padded as usize + 8 + offset as usize);
    out.extend_from_slice(&padded.to_le_bytes());
    out.extend_from_slice(json.as_bytes());
    out.resize(8 + padded as usize, b' ');
    let data_start = out.len();
    let mut pos = 0usize;
    for data in &parts.arrays {
        out.resize(data_start + pos, 0);
        out.extend_from_slice(data);
        pos += (data.len() as u64).div_ceil(FILE_ALIGN) as usize * FILE_ALIGN as usize;
    }
    out
}

/// A small deterministic generator (xorshift64*), so that a failing case is
/// replayed from its seed; or a tape of choices (a fuzzer's input), read
/// first, so that a coverage-guided fuzzer steers each choice by its bytes.
#[derive(Debug, Clone)]
pub struct Rng {
    state: u64,
    tape: Vec<u8>,
    at: usize,
}

impl Rng {
    /// A generator from `seed` (any value).
    pub fn new(seed: u64) -> Rng {
        Rng {
            state: seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1,
            tape: Vec::new(),
            at: 0,
        }
    }

    /// Choices read from `tape`, 8 bytes each, then from a generator seeded
    /// by the tape's length once it runs out.
    pub fn from_tape(tape: &[u8]) -> Rng {
        Rng {
            tape: tape.to_vec(),
            ..Rng::new(tape.len() as u64)
        }
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        if let Some(chunk) = self.tape.get(self.at..self.at + 8) {
            self.at += 8;
            let mut b = [0u8; 8];
            b.copy_from_slice(chunk);
            return u64::from_le_bytes(b);
        }
        self.state ^= self.state >> 12;
        self.state ^= self.state << 25;
        self.state ^= self.state >> 27;
        self.state.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number below `n` (0 when `n` is 0).
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next_u64() % n as u64) as usize
        }
    }
}

/// Values a forger tries: boundaries, wrong types, huge sizes.
fn nasty(rng: &mut Rng) -> Value {
    match rng.below(20) {
        0 => json!(0),
        1 => json!(-1),
        2 => json!(1),
        3 => json!(2),
        4 => json!(i32::MAX),
        5 => json!(1u64 << 40),
        6 => json!(u64::MAX),
        7 => json!(i64::MIN),
        8 => json!(1e308),
        9 => json!(-0.5),
        10 => json!(""),
        11 => json!("x"),
        12 => json!(true),
        13 => Value::Null,
        14 => json!([]),
        15 => json!({}),
        16 => json!([0, 1, 2]),
        17 => json!({"__ndarray__": ["a"], "dtype": "<U1000000000", "shape": [1]}),
        18 => json!({"__ndarray__": [1], "dtype": "<i8", "shape": [1u64 << 40]}),
        _ => json!({"__items__": [[1, 2], [2, [3]]]}),
    }
}

/// A random path to a value inside `v` (object keys and list indices), as
/// a JSON pointer: chosen on a shared borrow first, because a mutable
/// descent that may stop at any level cannot return its own root.
fn random_pointer(v: &Value, rng: &mut Rng) -> String {
    let mut pointer = String::new();
    let mut cur = v;
    for _ in 0..6 {
        if rng.below(4) == 0 {
            break;
        }
        let (step, next) = match cur {
            Value::Object(o) if !o.is_empty() => {
                let Some((k, child)) = o.iter().nth(rng.below(o.len())) else {
                    break;
                };
                (k.replace('~', "~0").replace('/', "~1"), child)
            }
            Value::Array(a) if !a.is_empty() => {
                let i = rng.below(a.len());
                (i.to_string(), &a[i])
            }
            _ => break,
        };
        pointer.push('/');
        pointer.push_str(&step);
        cur = next;
    }
    pointer
}

/// Replaces a random value inside `v` (possibly `v` itself) with `new`.
fn replace_random_leaf(v: &mut Value, rng: &mut Rng, new: Value) {
    let pointer = random_pointer(v, rng);
    match v.pointer_mut(&pointer) {
        Some(slot) => *slot = new,
        None => *v = new,
    }
}

const DTYPES: [&str; 8] = [
    "float64", "float32", "int64", "int32", "uint8", "bool", "int16", "f8",
];

fn itemsize(dtype: &Value) -> usize {
    match dtype.as_str() {
        Some("float64" | "int64") => 8,
        Some("float32" | "int32") => 4,
        _ => 1,
    }
}

/// Resizes array `i`'s bytes to what its (possibly changed) manifest entry
/// declares, when that is small: a forger keeps the layout consistent.
fn fit_data(parts: &mut Parts, i: usize) {
    let Some(Value::Array(entries)) = parts.header.get("arrays") else {
        return;
    };
    let Some(e) = entries.get(i) else { return };
    let mut n = itemsize(&e["dtype"]);
    for d in e["shape"].as_array().map(Vec::as_slice).unwrap_or(&[]) {
        n = n.saturating_mul(d.as_u64().unwrap_or(0) as usize);
    }
    if n <= 1 << 20 {
        if let Some(data) = parts.arrays.get_mut(i) {
            data.resize(n, 0);
        }
    }
}

/// Makes one random structural change to `parts`, as a forger would: a
/// header value, an array's shape, dtype or elements (indices, labels,
/// counts), the manifest, the kind.
pub fn mutate(parts: &mut Parts, rng: &mut Rng) {
    let n_arrays = parts.arrays.len();
    // Composite models: a component's kind, or the components' order.
    if rng.below(10) == 0 {
        if let Some(Value::Array(list)) = parts.header.get_mut("parts") {
            if !list.is_empty() {
                let i = rng.below(list.len());
                match rng.below(3) {
                    0 => {
                        let kinds = crate::schema::known_kinds();
                        // A part an earlier mutation made a non-object stays as it is.
                        if let Some(part) = list[i].as_object_mut() {
                            part.insert("kind".into(), json!(kinds[rng.below(kinds.len())]));
                        }
                    }
                    1 => {
                        let j = rng.below(list.len());
                        list.swap(i, j);
                    }
                    _ => {
                        let copy = list[i].clone();
                        list.push(copy);
                    }
                }
                return;
            }
        }
    }
    match rng.below(9) {
        // Any header value, anywhere.
        0 | 1 => {
            let mut v = Value::Object(std::mem::take(&mut parts.header));
            let new = nasty(rng);
            replace_random_leaf(&mut v, rng, new);
            if let Value::Object(o) = v {
                parts.header = o;
            }
        }
        // A shape: one dimension changed, data resized to match.
        2 if n_arrays > 0 => {
            let i = rng.below(n_arrays);
            if let Some(Value::Array(shape)) = parts
                .header
                .get_mut("arrays")
                .and_then(|a| a.get_mut(i))
                .and_then(|e| e.get_mut("shape"))
            {
                if shape.is_empty() || rng.below(4) == 0 {
                    shape.push(json!(rng.below(4)));
                } else {
                    let d = rng.below(shape.len());
                    let old = shape[d].as_u64().unwrap_or(1);
                    shape[d] = json!(match rng.below(4) {
                        0 => 0,
                        1 => old + 1,
                        2 => old.saturating_sub(1),
                        _ => 1u64 << rng.below(48),
                    });
                }
            }
            fit_data(parts, i);
        }
        // Elements: indices, class numbers, counts, thresholds.
        3 | 4 if n_arrays > 0 => {
            let i = rng.below(n_arrays);
            let data = &mut parts.arrays[i];
            if !data.is_empty() {
                let width = [1, 4, 8][rng.below(3)];
                let at = rng.below(data.len()).min(data.len().saturating_sub(width));
                let value: i64 = match rng.below(6) {
                    0 => -1,
                    1 => 0,
                    2 => i64::from(i32::MAX),
                    3 => rng.below(64) as i64,
                    4 => -2,
                    _ => rng.next_u64() as i64,
                };
                let bytes = value.to_le_bytes();
                for (k, b) in data[at..].iter_mut().take(width).enumerate() {
                    *b = bytes[k];
                }
            }
        }
        // The manifest: an entry dropped or repeated.
        5 if n_arrays > 0 => {
            let i = rng.below(n_arrays);
            if let Some(Value::Array(entries)) = parts.header.get_mut("arrays") {
                if rng.below(2) == 0 && i < entries.len() {
                    entries.remove(i);
                    parts.arrays.remove(i);
                } else if i < entries.len() {
                    let e = entries[i].clone();
                    entries.push(e);
                    let d = parts.arrays[i].clone();
                    parts.arrays.push(d);
                }
            }
        }
        // A dtype.
        6 if n_arrays > 0 => {
            let i = rng.below(n_arrays);
            if let Some(e) = parts
                .header
                .get_mut("arrays")
                .and_then(|a| a.get_mut(i))
                .and_then(Value::as_object_mut)
            {
                e.insert("dtype".into(), json!(DTYPES[rng.below(DTYPES.len())]));
            }
            if rng.below(2) == 0 {
                fit_data(parts, i);
            }
        }
        // Another kind with this kind's arrays.
        7 => {
            let kinds = crate::schema::known_kinds();
            parts
                .header
                .insert("kind".into(), json!(kinds[rng.below(kinds.len())]));
        }
        // Labels: reordered, repeated or cut.
        _ => {
            for key in ["classes_", "_classes_list", "_classes_per_output"] {
                let Some(v) = parts.header.get_mut("attrs").and_then(|a| a.get_mut(key)) else {
                    continue;
                };
                let list = match v {
                    Value::Object(o) => o.get_mut("__ndarray__"),
                    other => Some(other),
                };
                if let Some(Value::Array(items)) = list {
                    match rng.below(3) {
                        0 => items.reverse(),
                        1 if !items.is_empty() => {
                            let x = items[0].clone();
                            items.push(x);
                        }
                        _ => {
                            items.pop();
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tape_is_read_first_then_the_generator_takes_over() {
        let mut tape = 7u64.to_le_bytes().to_vec();
        tape.extend_from_slice(&[1, 2, 3]);
        let mut rng = Rng::from_tape(&tape);
        assert_eq!(rng.next_u64(), 7);
        // The 3 bytes left are too few for a choice: the seeded generator.
        assert_eq!(rng.next_u64(), Rng::new(tape.len() as u64).next_u64());
    }

    #[test]
    fn split_then_seal_gives_back_an_openable_file() {
        let mut h = crate::header::Header {
            format_version: crate::header::FORMAT_VERSION.into(),
            kind: "linear_model.LinearRegression".into(),
            schema_version: 1,
            oxlearn_version: "0.1.0".into(),
            sklearn_version: "1.9.1".into(),
            numpy_version: "2.4.6".into(),
            python_version: "3.11.7".into(),
            device: "cpu".into(),
            array_namespace: None,
            fitted: true,
            dtype: Some(crate::header::DType::Float64),
            n_features_in: Some(2),
            feature_names_in: None,
            params: Map::new(),
            attrs: Map::new(),
            parts: Vec::new(),
            arrays: vec![],
            checksum: String::new(),
        };
        h.params.insert("fit_intercept".into(), json!(true));
        let coef: Vec<u8> = [1.0f64, 2.0].iter().flat_map(|x| x.to_le_bytes()).collect();
        let icpt = 0.5f64.to_le_bytes().to_vec();
        let views = [
            crate::header::ArrayView {
                name: "coef_",
                dtype: crate::header::DType::Float64,
                shape: &[2],
                data: &coef,
            },
            crate::header::ArrayView {
                name: "intercept_",
                dtype: crate::header::DType::Float64,
                shape: &[],
                data: &icpt,
            },
        ];
        let json = h.seal(&views, true).unwrap();
        let mut file = Vec::new();
        crate::file::write_file(&mut file, &json, &views).unwrap();
        let parts = split(&file).unwrap();
        let again = seal(&parts);
        let f = parse_file(&again).unwrap();
        let rt = crate::compat::Runtime::native();
        crate::compat::open_checked(f.header_json, &f.arrays(), &rt, false).unwrap();
        let mut rng = Rng::new(7);
        let mut forged = parts.clone();
        forged.arrays[0][0] ^= 1;
        assert_ne!(seal(&forged), again);
        for _ in 0..100 {
            let mut p = parts.clone();
            mutate(&mut p, &mut rng);
            let _ = parse_file(&seal(&p)); // never panics
        }
    }
}
