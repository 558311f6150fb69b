//! The expression language against Python's results (values checked in python3).

use std::sync::Arc;

use super::eval::Node;
use super::*;
use crate::model::OwnedValue;
use simd_json::prelude::*;

fn sample(volume: OwnedValue, metadata: OwnedValue) -> Sample {
    Sample {
        name: Arc::from("cpu"),
        sample_type: Arc::from("cumulative"),
        unit: Arc::from("ns"),
        volume,
        user_id: OwnedValue::from("u"),
        user_name: OwnedValue::null(),
        project_id: OwnedValue::from("p"),
        project_name: OwnedValue::null(),
        resource_id: OwnedValue::from("r"),
        timestamp: OwnedValue::from("2024-01-01T00:00:00"),
        resource_metadata: Arc::new(metadata),
        source: Arc::from("openstack"),
        id: "id".into(),
        monotonic_time: OwnedValue::null(),
    }
}

fn eval_scale(text: &str, s: &Sample) -> Result<Val, EvalError> {
    Expr::compile(text, Dialect::Scale).unwrap().eval(&[s])
}

fn md(json: &str) -> OwnedValue {
    let mut b = json.as_bytes().to_vec();
    simd_json::to_owned_value(&mut b).unwrap()
}

#[test]
fn python_number_semantics() {
    let s = sample(OwnedValue::from(2048), md("{}"));
    assert_eq!(
        eval_scale("volume * 1.0 / 1024", &s),
        Ok(Val::Num(Num::Float(2.0)))
    );
    assert_eq!(eval_scale("volume / 1024", &s), Ok(Val::Num(Num::Float(2.0))));
    assert_eq!(eval_scale("volume * 2", &s), Ok(Val::Num(Num::Int(4096))));
    assert_eq!(eval_scale("volume // 1000", &s), Ok(Val::Num(Num::Int(2))));
    assert_eq!(eval_scale("-7 // 2", &s), Ok(Val::Num(Num::Int(-4))));
    assert_eq!(eval_scale("-7 % 3", &s), Ok(Val::Num(Num::Int(2))));
    assert_eq!(eval_scale("7 % -3", &s), Ok(Val::Num(Num::Int(-2))));
    assert_eq!(eval_scale("2 ** 3 ** 2", &s), Ok(Val::Num(Num::Int(512))));
    assert_eq!(eval_scale("-2 ** 2", &s), Ok(Val::Num(Num::Int(-4))));
    assert_eq!(eval_scale("2 ** -1", &s), Ok(Val::Num(Num::Float(0.5))));
    assert_eq!(eval_scale("10**9", &s), Ok(Val::Num(Num::Int(1_000_000_000))));
    assert_eq!(eval_scale("1e3 + .5", &s), Ok(Val::Num(Num::Float(1000.5))));
    assert_eq!(eval_scale("max(1, volume, 3)", &s), Ok(Val::Num(Num::Int(2048))));
    assert_eq!(eval_scale("volume > 1 and 5", &s), Ok(Val::Num(Num::Int(5))));
    assert!(eval_scale("volume / 0", &s).is_err());
}

#[test]
fn cpu_util_scale_with_and_without_cpu_number() {
    let text = "100.0 / (10**9 * (resource_metadata.cpu_number or 1))";
    let e = Expr::compile(text, Dialect::Scale).unwrap();
    let with = sample(OwnedValue::from(0), md(r#"{"cpu_number": 4}"#));
    let without = sample(OwnedValue::from(0), md(r#"{"flavor": {"vcpus": 2}}"#));
    let nested = sample(OwnedValue::from(0), md(r#"{"flavor": {"vcpus": 2}}"#));
    assert_eq!(e.eval_num(&[&with]), Ok(Num::Float(100.0 / 4e9)));
    assert_eq!(e.eval_num(&[&without]), Ok(Num::Float(100.0 / 1e9)));
    let flavor = Expr::compile("resource_metadata.flavor.vcpus", Dialect::Scale).unwrap();
    assert_eq!(flavor.eval_num(&[&nested]), Ok(Num::Int(2)));
    let subscript = Expr::compile("resource_metadata['flavor']['vcpus']", Dialect::Scale).unwrap();
    assert_eq!(subscript.eval_num(&[&nested]), Ok(Num::Int(2)));
}

#[test]
fn arithmetic_references_get_slots_in_order() {
    let e = Expr::compile(
        "$(memory.usage) * 100 / $(memory) + $(memory.usage).resource_metadata.x",
        Dialect::Arithmetic,
    )
    .unwrap();
    assert_eq!(e.meters(), ["memory.usage", "memory"]);
    let usage = sample(OwnedValue::from(512), md(r#"{"x": 1}"#));
    let total = sample(OwnedValue::from(2048), md("{}"));
    assert_eq!(e.eval_num(&[&usage, &total]), Ok(Num::Float(26.0)));
}

#[test]
fn parse_errors_name_the_column() {
    let cases = [
        (
            "100.0 / (10**9 * (resource_metadata.cpu_number or 1)",
            Dialect::Scale,
            "expected ')'",
        ),
        ("volume * ", Dialect::Scale, "unexpected end"),
        ("volumes * 2", Dialect::Scale, "unknown name \"volumes\""),
        ("$(cpu) * 2", Dialect::Scale, "only allowed in arithmetic"),
        ("volume * 2", Dialect::Arithmetic, "refer to meters"),
        ("$(cpu) @ 2", Dialect::Arithmetic, "unexpected text"),
        ("__import__('os')", Dialect::Scale, "unknown name"),
        ("1 < 2 < 3", Dialect::Scale, "chained"),
    ];
    for (text, dialect, want) in cases {
        let err = Expr::compile(text, dialect).unwrap_err();
        assert!(err.to_string().contains(want), "{text}: {err}");
    }
    let err = Expr::compile("volume * * 2", Dialect::Scale).unwrap_err();
    assert_eq!(err.column, 10);
}

#[test]
fn constants_are_folded_at_compile_time() {
    let e = Expr::compile("100.0 / (10**9 * 2)", Dialect::Scale).unwrap();
    assert_eq!(e.root, Node::Const(Val::Num(Num::Float(5e-8))));
}

#[test]
fn nesting_past_the_limit_is_an_error_instead_of_a_stack_overflow() {
    let parens = |n: usize| format!("{}volume{}", "(".repeat(n), ")".repeat(n));
    let s = sample(OwnedValue::from(3), md("{}"));
    assert_eq!(eval_scale(&parens(100), &s), Ok(Val::Num(Num::Int(3))));
    let deep = [
        parens(101),
        parens(100_000),
        format!("{}volume", "-".repeat(100_000)),
        format!("{}volume", "not ".repeat(100_000)),
        format!("{}volume{}", "abs(".repeat(100_000), ")".repeat(100_000)),
        format!("volume{}", " ** -2".repeat(100_000)),
    ];
    for text in deep {
        let err = Expr::compile(&text, Dialect::Scale).unwrap_err();
        assert!(
            err.to_string().contains("nested more than 100 levels deep"),
            "{err}"
        );
    }
}
