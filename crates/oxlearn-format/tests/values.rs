//! Forged header values (issue 20's memory bombs and bad tags, generalised):
//! whatever a forger writes into `params`/`attrs`, the check never panics,
//! and what it accepts decodes within the budget.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use oxlearn_format::value::{DECODE_BASE, DECODE_FACTOR};
use oxlearn_format::{check_values, Header, MAX_HEADER_VALUES};
use proptest::prelude::*;
use serde_json::{json, Map, Value};

fn dtype() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("|b1".to_owned()),
        Just("<i8".to_owned()),
        Just("|u1".to_owned()),
        Just("<f8".to_owned()),
        Just("<f2".to_owned()),
        Just("|O".to_owned()),
        (0u64..1_000_000_000).prop_map(|n| format!("<U{n}")),
        Just("(10000,10000)<f8".to_owned()),
        Just(">f8".to_owned()),
        Just("<V8".to_owned()),
        Just("<U+3".to_owned()),
        "[<>|(]{1}[a-zA-Z0-9,)]{0,6}",
    ]
}

fn scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|i| json!(i)),
        any::<u64>().prop_map(|i| json!(i)),
        (-1e6f64..1e6).prop_map(|f| json!(f)),
        "[a-z]{0,12}".prop_map(Value::String),
        prop_oneof![Just("nan"), Just("inf"), Just("1e999")].prop_map(|f| json!({"__float__": f})),
    ]
}

fn value() -> impl Strategy<Value = Value> {
    scalar().prop_recursive(4, 64, 8, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            proptest::collection::vec(inner.clone(), 0..6).prop_map(|v| json!({"__tuple__": v})),
            proptest::collection::btree_map("[a-z_]{1,8}", inner.clone(), 0..4)
                .prop_map(|m| json!({"__dict__": m})),
            proptest::collection::vec((scalar(), inner.clone()), 0..4)
                .prop_map(|kv| json!({"__items__": kv.into_iter().map(|(k, v)| json!([k, v])).collect::<Vec<_>>()})),
            (
                proptest::collection::vec(scalar(), 0..8),
                dtype(),
                proptest::collection::vec(0u64..10, 0..3)
            )
                .prop_map(|(e, d, s)| json!({"__ndarray__": e, "dtype": d, "shape": s})),
            proptest::collection::btree_map("[a-z_]{1,8}", inner, 0..3)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// What an accepted value decodes to, at most (the check's own accounting,
/// recomputed independently here for the plain dtypes).
fn decoded(v: &Value) -> u64 {
    match v {
        Value::Array(items) => items.iter().map(decoded).sum(),
        Value::Object(o) => {
            if let (Some(Value::Array(e)), Some(Value::String(d))) =
                (o.get("__ndarray__"), o.get("dtype"))
            {
                let item = match d.as_str() {
                    "|b1" | "|u1" | "|i1" => 1,
                    "<f2" | "<i2" | "<u2" => 2,
                    "<f4" | "<i4" | "<u4" => 4,
                    "|O" => 64,
                    w if w.starts_with("<U") => 4 * w[2..].parse::<u64>().unwrap(),
                    _ => 8,
                };
                return item * e.len() as u64;
            }
            o.values().map(decoded).sum()
        }
        _ => 0,
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 3000, .. ProptestConfig::default() })]

    #[test]
    fn forged_values_never_panic_and_accepted_ones_fit_the_budget(
        params in proptest::collection::btree_map("[a-z_]{1,8}", value(), 0..4),
    ) {
        let params: Map<String, Value> = params.into_iter().collect();
        let text = serde_json::to_string(&params).unwrap().len() + 2;
        if check_values(&params, &Map::new(), text).is_ok() {
            prop_assert!(decoded(&Value::Object(params)) <= DECODE_BASE + DECODE_FACTOR * text as u64);
        }
    }

    #[test]
    fn the_value_count_bounds_what_parsing_builds(v in value()) {
        let text = json!({"v": v}).to_string();
        fn count(v: &Value) -> usize {
            1 + match v {
                Value::Array(a) => a.iter().map(count).sum(),
                Value::Object(o) => o.values().map(count).sum(),
                _ => 0,
            }
        }
        // Header::parse counts before it parses: never fewer than there are.
        let expected = count(&json!({"v": v}));
        prop_assert!(oxlearn_format::value::count_values(&text) >= expected);
    }
}

#[test]
fn a_header_of_many_values_is_refused_before_parsing() {
    let zeros = format!("[{}0]", "0,".repeat(MAX_HEADER_VALUES));
    let e = Header::parse(&zeros).unwrap_err().to_string();
    assert!(e.contains("JSON values is over the limit"), "{e}");
}
