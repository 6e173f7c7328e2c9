//! The tagged JSON values of a header's `params` and `attrs`
//! (`docs/format.md` §1.3): their grammar, and the memory decoding them may
//! take. Readers decode these values into Python objects (numpy arrays,
//! tuples, dicts) after this crate has accepted the header, so everything a
//! decoder relies on is checked here, on the writer's side too: what a
//! writer seals, every reader opens.
//!
//! A hostile header must not make a reader allocate much more than its own
//! size. Two bounds do that: [`MAX_HEADER_VALUES`] caps the number of JSON
//! values (each costs a parser tens of bytes whatever its length), and the
//! decoded arrays of all tagged values together may take at most
//! [`DECODE_BASE`] plus [`DECODE_FACTOR`] times the header's length (a
//! one-byte string with dtype `<U100000000` would otherwise take 400 MB).

use crate::error::{FormatError, Result};
use serde_json::{Map, Value};

/// Largest number of JSON values (scalars, arrays and objects) in a header.
pub const MAX_HEADER_VALUES: usize = 1 << 21;
/// Decoded bytes every header may use for its tagged arrays, whatever its size.
pub const DECODE_BASE: u64 = 1 << 20;
/// Decoded bytes a header may use for its tagged arrays per byte of JSON.
pub const DECODE_FACTOR: u64 = 16;
/// Deepest nesting of tagged values accepted (serde_json stops at 128 too).
const MAX_DEPTH: usize = 64;
/// What an object array's element costs once decoded, besides its text.
const OBJECT_ITEM_BYTES: u64 = 64;

/// An upper bound on the number of JSON values in `json`, counted without
/// parsing (so without allocating): one per `[`, `{`, `,` and `:` outside
/// strings, plus one. Every value but the first follows one of them.
pub fn count_values(json: &str) -> usize {
    let mut n = 1usize;
    let mut in_string = false;
    let mut escaped = false;
    for &b in json.as_bytes() {
        if in_string {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
            }
        } else {
            match b {
                b'"' => in_string = true,
                b'[' | b'{' | b',' | b':' => n += 1,
                _ => {}
            }
        }
    }
    n
}

/// Element type of a tagged array (`"dtype"`): numpy's little-endian dtype
/// string, from a closed list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Elem {
    Bool,
    Int {
        lo: i128,
        hi: i128,
        size: u64,
    },
    Float {
        size: u64,
    },
    /// `<U{n}`: strings of at most `n` characters.
    Str(u64),
    /// `|O`: all strings or all integers.
    Object,
}

/// Parses a tagged array's dtype string; `None` when it is not in the list.
fn elem(descr: &str) -> Option<Elem> {
    let int = |lo: i128, hi: i128, size| Some(Elem::Int { lo, hi, size });
    match descr {
        "|b1" => Some(Elem::Bool),
        "|i1" => int(i8::MIN.into(), i8::MAX.into(), 1),
        "<i2" => int(i16::MIN.into(), i16::MAX.into(), 2),
        "<i4" => int(i32::MIN.into(), i32::MAX.into(), 4),
        "<i8" => int(i64::MIN.into(), i64::MAX.into(), 8),
        "|u1" => int(0, u8::MAX.into(), 1),
        "<u2" => int(0, u16::MAX.into(), 2),
        "<u4" => int(0, u32::MAX.into(), 4),
        "<u8" => int(0, u64::MAX.into(), 8),
        "<f2" => Some(Elem::Float { size: 2 }),
        "<f4" => Some(Elem::Float { size: 4 }),
        "<f8" => Some(Elem::Float { size: 8 }),
        "|O" => Some(Elem::Object),
        _ => {
            let digits = descr.strip_prefix("<U")?;
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            digits.parse().ok().map(Elem::Str)
        }
    }
}

/// The dtype strings a tagged array may have, for error messages.
const DTYPES: &str = "|b1, |i1, <i2, <i4, <i8, |u1, <u2, <u4, <u8, <f2, <f4, <f8, <U{n}, |O";

/// A JSON integer as `i128` (both signs, the whole u64 range).
pub(crate) fn json_int(v: &Value) -> Option<i128> {
    v.as_i64()
        .map(i128::from)
        .or_else(|| v.as_u64().map(i128::from))
}

/// Walks tagged values, checking their grammar and adding up what they
/// decode to.
struct Walker {
    /// Decoded bytes still allowed.
    budget: u64,
    /// Decoded bytes allowed in all (for the message).
    limit: u64,
}

impl Walker {
    fn err(path: &str, reason: String) -> FormatError {
        FormatError::InvalidField {
            field: path.to_owned(),
            reason,
        }
    }

    fn spend(&mut self, path: &str, bytes: u64) -> Result<()> {
        self.budget = self.budget.checked_sub(bytes).ok_or_else(|| {
            Self::err(
                path,
                format!(
                    "its arrays would decode to more than the {} bytes a header of this size \
                     may use ({DECODE_BASE} + {DECODE_FACTOR} per header byte)",
                    self.limit
                ),
            )
        })?;
        Ok(())
    }

    /// A value as the encoder writes it: a JSON scalar, a list, or a tagged
    /// object. Plain objects are never written (dicts are `__dict__`).
    fn value(&mut self, v: &Value, path: &str, depth: usize) -> Result<()> {
        if depth > MAX_DEPTH {
            return Err(Self::err(
                path,
                format!("nested deeper than {MAX_DEPTH} levels"),
            ));
        }
        match v {
            Value::Null | Value::Bool(_) | Value::Number(_) | Value::String(_) => Ok(()),
            Value::Array(items) => items
                .iter()
                .enumerate()
                .try_for_each(|(i, x)| self.value(x, &format!("{path}[{i}]"), depth + 1)),
            Value::Object(obj) => self.tagged(obj, path, depth),
        }
    }

    fn tagged(&mut self, obj: &Map<String, Value>, path: &str, depth: usize) -> Result<()> {
        let only =
            |keys: &[&str]| obj.len() == keys.len() && keys.iter().all(|k| obj.contains_key(*k));
        if only(&["__float__"]) {
            return match obj["__float__"].as_str() {
                Some("nan" | "inf" | "-inf") => Ok(()),
                _ => Err(Self::err(
                    path,
                    format!(
                        "__float__ is {}; it must be \"nan\", \"inf\" or \"-inf\"",
                        obj["__float__"]
                    ),
                )),
            };
        }
        if only(&["__tuple__"]) {
            let items = obj["__tuple__"]
                .as_array()
                .ok_or_else(|| Self::err(path, "__tuple__ is not a list".into()))?;
            return items.iter().enumerate().try_for_each(|(i, x)| {
                self.value(x, &format!("{path}.__tuple__[{i}]"), depth + 1)
            });
        }
        if only(&["__dict__"]) {
            let d = obj["__dict__"]
                .as_object()
                .ok_or_else(|| Self::err(path, "__dict__ is not an object".into()))?;
            return d
                .iter()
                .try_for_each(|(k, x)| self.value(x, &format!("{path}.{k}"), depth + 1));
        }
        if only(&["__items__"]) {
            return self.items(&obj["__items__"], path, depth);
        }
        if only(&["__ndarray__", "dtype", "shape"]) {
            return self.ndarray(obj, path);
        }
        let keys: Vec<&str> = obj.keys().map(String::as_str).collect();
        Err(Self::err(
            path,
            format!(
                "an object with keys {keys:?} is not a tagged value (__float__, __tuple__, \
                 __dict__, __items__ or __ndarray__ with dtype and shape)"
            ),
        ))
    }

    /// `{"__items__": [[key, value], ...]}`: a dict whose keys are not all
    /// strings (e.g. `class_weight={0: 1.0, 1: 2.0}`). Keys are strings,
    /// integers, finite numbers or booleans, and distinct.
    fn items(&mut self, v: &Value, path: &str, depth: usize) -> Result<()> {
        let pairs = v
            .as_array()
            .ok_or_else(|| Self::err(path, "__items__ is not a list".into()))?;
        let mut keys: Vec<&Value> = Vec::with_capacity(pairs.len());
        for (i, pair) in pairs.iter().enumerate() {
            let at = format!("{path}.__items__[{i}]");
            let [key, value] = pair.as_array().map(Vec::as_slice).unwrap_or(&[]) else {
                return Err(Self::err(&at, "is not a [key, value] pair".into()));
            };
            if !matches!(key, Value::String(_) | Value::Number(_) | Value::Bool(_)) {
                return Err(Self::err(
                    &at,
                    format!("key {key}: dict keys must be strings, numbers or booleans"),
                ));
            }
            // Python's dict would silently merge them (and 1 == 1.0 == True).
            let same = |a: &Value, b: &Value| match (a, b) {
                (Value::String(x), Value::String(y)) => x == y,
                (Value::String(_), _) | (_, Value::String(_)) => false,
                _ => key_number(a) == key_number(b),
            };
            if keys.iter().any(|k| same(k, key)) {
                return Err(Self::err(&at, format!("key {key} is repeated")));
            }
            keys.push(key);
            self.value(value, &format!("{at}[1]"), depth + 1)?;
        }
        Ok(())
    }

    /// `{"__ndarray__": [...], "dtype": D, "shape": [...]}`: D from the
    /// closed list, the shape's product equal to the number of elements,
    /// every element of D's type.
    fn ndarray(&mut self, obj: &Map<String, Value>, path: &str) -> Result<()> {
        let descr = obj["dtype"]
            .as_str()
            .ok_or_else(|| Self::err(path, format!("dtype {} is not a string", obj["dtype"])))?;
        let elem = elem(descr).ok_or_else(|| {
            Self::err(
                path,
                format!("dtype {descr:?} is not one a model stores (one of {DTYPES})"),
            )
        })?;
        let values = obj["__ndarray__"]
            .as_array()
            .ok_or_else(|| Self::err(path, "__ndarray__ is not a list".into()))?;
        let shape = obj["shape"]
            .as_array()
            .ok_or_else(|| Self::err(path, "shape is not a list".into()))?;
        if shape.len() > crate::header::MAX_NDIM {
            return Err(Self::err(
                path,
                format!(
                    "shape has {} dimensions, over the limit of {}",
                    shape.len(),
                    crate::header::MAX_NDIM
                ),
            ));
        }
        let mut count: u64 = 1;
        for d in shape {
            let d = d
                .as_u64()
                .ok_or_else(|| Self::err(path, format!("shape entry {d} is not a size")))?;
            count = count.saturating_mul(d);
        }
        if count != values.len() as u64 {
            return Err(Self::err(
                path,
                format!(
                    "shape {} holds {count} elements but __ndarray__ has {}",
                    obj["shape"],
                    values.len()
                ),
            ));
        }
        let bad = |i: usize, v: &Value| {
            Self::err(
                path,
                format!("element {i} ({v}) is not a value of dtype {descr}"),
            )
        };
        let item_bytes = match elem {
            Elem::Bool => {
                if let Some((i, v)) = values.iter().enumerate().find(|(_, v)| !v.is_boolean()) {
                    return Err(bad(i, v));
                }
                1
            }
            Elem::Int { lo, hi, size } => {
                let out = |v: &Value| json_int(v).is_none_or(|x| !(lo..=hi).contains(&x));
                if let Some((i, v)) = values.iter().enumerate().find(|(_, v)| out(v)) {
                    return Err(bad(i, v));
                }
                size
            }
            Elem::Float { size } => {
                let ok = |v: &Value| {
                    v.is_number()
                        || v.as_object().is_some_and(|o| {
                            o.len() == 1
                                && matches!(
                                    o.get("__float__").and_then(Value::as_str),
                                    Some("nan" | "inf" | "-inf")
                                )
                        })
                };
                if let Some((i, v)) = values.iter().enumerate().find(|(_, v)| !ok(v)) {
                    return Err(bad(i, v));
                }
                size
            }
            Elem::Str(width) => {
                for (i, v) in values.iter().enumerate() {
                    let s = v.as_str().ok_or_else(|| bad(i, v))?;
                    if s.chars().count() as u64 > width {
                        return Err(Self::err(
                            path,
                            format!("element {i} is longer than dtype {descr} allows"),
                        ));
                    }
                }
                width.saturating_mul(4)
            }
            Elem::Object => {
                let strings = values.iter().all(Value::is_string);
                let ints = values.iter().all(|v| {
                    json_int(v).is_some_and(|x| (i64::MIN.into()..=i64::MAX.into()).contains(&x))
                });
                if !(strings || ints) {
                    return Err(Self::err(
                        path,
                        "an object array (|O) holds all strings or all integers".into(),
                    ));
                }
                let text: u64 = values
                    .iter()
                    .filter_map(Value::as_str)
                    .map(|s| s.len() as u64)
                    .sum();
                self.spend(path, text)?;
                OBJECT_ITEM_BYTES
            }
        };
        self.spend(path, count.saturating_mul(item_bytes))
    }
}

/// Numeric value of a non-string dict key, for the repeated-key check
/// (Python's `True == 1 == 1.0`).
fn key_number(v: &Value) -> Option<f64> {
    match v {
        Value::Bool(b) => Some(f64::from(u8::from(*b))),
        Value::Number(n) => n.as_f64(),
        _ => None,
    }
}

/// Checks every value of a header's `params` and `attrs` against the
/// tagged-value grammar, and that their arrays decode to at most
/// `DECODE_BASE + DECODE_FACTOR × header_len` bytes.
pub fn check_values(
    params: &Map<String, Value>,
    attrs: &Map<String, Value>,
    header_len: usize,
) -> Result<()> {
    let limit = DECODE_BASE.saturating_add(DECODE_FACTOR.saturating_mul(header_len as u64));
    let mut w = Walker {
        budget: limit,
        limit,
    };
    for (section, map) in [("params", params), ("attrs", attrs)] {
        for (k, v) in map {
            w.value(v, &format!("{section}.{k}"), 0)?;
        }
    }
    Ok(())
}

/// Checks one value as [`check_values`] does, with its own budget for
/// `text_len` bytes of JSON: for values a schema assembles from several
/// header fields (a neighbours model's label list and dtype).
pub(crate) fn check_value(v: &Value, path: &str, text_len: usize) -> Result<()> {
    let limit = DECODE_BASE.saturating_add(DECODE_FACTOR.saturating_mul(text_len as u64));
    Walker {
        budget: limit,
        limit,
    }
    .value(v, path, 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn check(v: Value) -> Result<()> {
        let mut params = Map::new();
        params.insert("p".into(), v);
        check_values(&params, &Map::new(), 1000)
    }

    #[test]
    fn counts_values_outside_strings() {
        assert_eq!(count_values("0"), 1);
        assert_eq!(count_values("[0,0,0]"), 4);
        assert_eq!(count_values(r#"{"a,b":"[,:{"}"#), 3);
        assert_eq!(count_values(r#"["\"[,", 1]"#), 3);
        let zeros = format!("[{}0]", "0,".repeat(1000));
        assert!(count_values(&zeros) > 1000);
    }

    #[test]
    fn accepts_what_the_encoder_writes() {
        for v in [
            json!(null),
            json!(1.5),
            json!("lbfgs"),
            json!([1, "a", null]),
            json!({"__float__": "-inf"}),
            json!({"__tuple__": [1, {"__float__": "nan"}]}),
            json!({"__dict__": {"p": 2, "w": [1.0]}}),
            json!({"__items__": [[0, 1.0], [1, 2.5], ["x", 3]]}),
            json!({"__ndarray__": [0.5, {"__float__": "inf"}], "dtype": "<f8", "shape": [2]}),
            json!({"__ndarray__": [], "dtype": "<f4", "shape": [0, 3]}),
            json!({"__ndarray__": ["ab", "c"], "dtype": "<U2", "shape": [2]}),
            json!({"__ndarray__": ["ab", "c"], "dtype": "|O", "shape": [2]}),
            json!({"__ndarray__": [true], "dtype": "|b1", "shape": [1]}),
            json!({"__ndarray__": [3], "dtype": "<i2", "shape": []}),
        ] {
            check(v.clone()).unwrap_or_else(|e| panic!("{v} refused: {e}"));
        }
    }

    #[test]
    fn refuses_forged_values() {
        for (v, needle) in [
            (json!({"__float__": "1e308"}), "__float__"),
            (json!({"__float__": "nan", "x": 1}), "not a tagged value"),
            (json!({"a": 1}), "not a tagged value"),
            (json!({"__tuple__": 1}), "not a list"),
            (json!({"__dict__": [1]}), "not an object"),
            (json!({"__items__": [[1]]}), "pair"),
            (json!({"__items__": [[[1], 2]]}), "dict keys"),
            (json!({"__items__": [[1, 2], [1.0, 3]]}), "repeated"),
            (json!({"__items__": [[true, 2], [1, 3]]}), "repeated"),
            (
                json!({"__ndarray__": ["x"], "dtype": "<U100000000", "shape": [1]}),
                "decode",
            ),
            (
                json!({"__ndarray__": [1.0], "dtype": "(10000,10000)<f8", "shape": [1]}),
                "dtype",
            ),
            (
                json!({"__ndarray__": [1.0], "dtype": ">f8", "shape": [1]}),
                "dtype",
            ),
            (
                json!({"__ndarray__": [1.0], "dtype": "<U+5", "shape": [1]}),
                "dtype",
            ),
            (
                json!({"__ndarray__": [1.0], "dtype": "<c16", "shape": [1]}),
                "dtype",
            ),
            (
                json!({"__ndarray__": [1.0], "dtype": "<f8", "shape": [2]}),
                "holds 2",
            ),
            (
                json!({"__ndarray__": [1.0], "dtype": "<f8", "shape": [-1]}),
                "size",
            ),
            (
                json!({"__ndarray__": [1.0], "dtype": "<f8", "shape": [1, 1, 1, 1, 1, 1, 1, 1, 1]}),
                "dimensions",
            ),
            (
                json!({"__ndarray__": [300], "dtype": "|u1", "shape": [1]}),
                "element 0",
            ),
            (
                json!({"__ndarray__": ["x"], "dtype": "<f8", "shape": [1]}),
                "element 0",
            ),
            (
                json!({"__ndarray__": [1], "dtype": "|b1", "shape": [1]}),
                "element 0",
            ),
            (
                json!({"__ndarray__": ["abc"], "dtype": "<U2", "shape": [1]}),
                "longer",
            ),
            (
                json!({"__ndarray__": ["a", 1], "dtype": "|O", "shape": [2]}),
                "all strings",
            ),
            (
                json!({"__ndarray__": [1], "dtype": 5, "shape": [1]}),
                "not a string",
            ),
        ] {
            let e = check(v.clone()).expect_err(&v.to_string()).to_string();
            assert!(e.contains(needle), "{v}: {e}");
        }
    }

    #[test]
    fn decoded_size_is_bounded_by_the_header_size() {
        // Within budget for a 1000-byte header: 1 MiB + 16 kB.
        let n = (DECODE_BASE / 8) as usize;
        let ok = json!({"__ndarray__": vec![0; n], "dtype": "<f8", "shape": [n]});
        check(ok).unwrap();
        let over = json!({"__ndarray__": vec![0; n + 3000], "dtype": "<f8", "shape": [n + 3000]});
        assert!(check(over).unwrap_err().to_string().contains("decode"));
    }

    #[test]
    fn deep_nesting_is_refused() {
        let mut v = json!(1);
        for _ in 0..(MAX_DEPTH + 2) {
            v = json!([v]);
        }
        assert!(check(v).unwrap_err().to_string().contains("nested"));
    }
}
