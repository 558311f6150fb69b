//! MessagePack bytes as Python's `msgpack.dumps(value, use_bin_type=True)` writes a value that
//! came from JSON: the smallest encoding of each integer, floats as float 64, text as `str`
//! (`str8` allowed), maps in the value's own key order. What Ceilometer's `udp://` and `tcp://`
//! publishers send. Decoding is not this module's job.

use simd_json::StaticNode;

use super::json_write::{JsonView, View};

/// Appends the MessagePack encoding of `value` to `out`.
pub fn write_msgpack<V: JsonView>(out: &mut Vec<u8>, value: &V) {
    match value.view() {
        View::Static(node) => write_static(out, node),
        View::Str(s) => write_str(out, s),
        View::Array(items) => {
            write_len(out, items.len(), 0x90, 15, 0xdc, 0xdd);
            for item in items {
                write_msgpack(out, item);
            }
        }
        View::Object(len, entries) => {
            write_len(out, len, 0x80, 15, 0xde, 0xdf);
            for (key, item) in entries {
                write_str(out, key);
                write_msgpack(out, item);
            }
        }
    }
}

fn write_static(out: &mut Vec<u8>, node: StaticNode) {
    match node {
        StaticNode::Null => out.push(0xc0),
        StaticNode::Bool(false) => out.push(0xc2),
        StaticNode::Bool(true) => out.push(0xc3),
        StaticNode::I64(n) if n >= 0 => write_uint(out, n as u64),
        StaticNode::I64(n) => write_negative(out, n),
        StaticNode::U64(n) => write_uint(out, n),
        StaticNode::F64(f) => {
            out.push(0xcb);
            out.extend_from_slice(&f.to_be_bytes());
        }
        #[allow(unreachable_patterns)] // 128-bit integers, when simd-json has them enabled
        _ => out.push(0xc0),
    }
}

fn write_uint(out: &mut Vec<u8>, n: u64) {
    if n < 0x80 {
        out.push(n as u8);
    } else if n <= 0xff {
        out.extend_from_slice(&[0xcc, n as u8]);
    } else if n <= 0xffff {
        out.push(0xcd);
        out.extend_from_slice(&(n as u16).to_be_bytes());
    } else if n <= 0xffff_ffff {
        out.push(0xce);
        out.extend_from_slice(&(n as u32).to_be_bytes());
    } else {
        out.push(0xcf);
        out.extend_from_slice(&n.to_be_bytes());
    }
}

fn write_negative(out: &mut Vec<u8>, n: i64) {
    if n >= -32 {
        out.push(n as i8 as u8);
    } else if n >= i64::from(i8::MIN) {
        out.extend_from_slice(&[0xd0, n as i8 as u8]);
    } else if n >= i64::from(i16::MIN) {
        out.push(0xd1);
        out.extend_from_slice(&(n as i16).to_be_bytes());
    } else if n >= i64::from(i32::MIN) {
        out.push(0xd2);
        out.extend_from_slice(&(n as i32).to_be_bytes());
    } else {
        out.push(0xd3);
        out.extend_from_slice(&n.to_be_bytes());
    }
}

fn write_str(out: &mut Vec<u8>, s: &str) {
    if s.len() <= 31 {
        out.push(0xa0 | s.len() as u8);
    } else if s.len() <= 0xff {
        out.extend_from_slice(&[0xd9, s.len() as u8]);
    } else if s.len() <= 0xffff {
        out.push(0xda);
        out.extend_from_slice(&(s.len() as u16).to_be_bytes());
    } else {
        out.push(0xdb);
        out.extend_from_slice(&(s.len() as u32).to_be_bytes());
    }
    out.extend_from_slice(s.as_bytes());
}

/// A container header: `fix | len` up to `fix_max`, then the 16- and 32-bit forms.
fn write_len(out: &mut Vec<u8>, len: usize, fix: u8, fix_max: usize, m16: u8, m32: u8) {
    if len <= fix_max {
        out.push(fix | len as u8);
    } else if len <= 0xffff {
        out.push(m16);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        out.push(m32);
        out.extend_from_slice(&(len as u32).to_be_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::OwnedValue;

    fn packed(json: &str) -> String {
        let value: OwnedValue = simd_json::to_owned_value(&mut json.as_bytes().to_vec()).unwrap();
        let mut out = Vec::new();
        write_msgpack(&mut out, &value);
        hex::encode(out)
    }

    /// Each expected string is Python's `msgpack.dumps(json.loads(j), use_bin_type=True).hex()`
    /// (msgpack 1.x, in the Ceilometer venv).
    #[test]
    fn matches_python_msgpack() {
        for (json, want) in [
            ("null", "c0"),
            ("[true, false]", "92c3c2"),
            (
                "[0, 127, 128, 255, 256, 65535, 65536, 4294967295, 4294967296]",
                "99007fcc80ccffcd0100cdffffce00010000ceffffffffcf0000000100000000",
            ),
            (
                "[-1, -32, -33, -128, -129, -32768, -32769, -2147483648, -2147483649]",
                "99ffe0d0dfd080d1ff7fd18000d2ffff7fffd280000000d3ffffffff7fffffff",
            ),
            ("[1.5, 1e+16]", "92cb3ff8000000000000cb4341c37937e08000"),
            ("\"\"", "a0"),
            ("\"caf\u{e9}\"", "a5636166c3a9"),
        ] {
            assert_eq!(packed(json), want, "{json}");
        }
        let long = "x".repeat(40);
        assert_eq!(packed(&format!("\"{long}\"")), format!("d928{}", "78".repeat(40)));
        assert_eq!(packed(r#"{"b": 1, "a": [1]}"#), "82a16201a1619101");
    }
}
