//! kombu's body compression. A service whose oslo.messaging has `[oslo_messaging_rabbit]
//! kombu_compression` set (`gzip` or `bz2`) publishes its notifications with the body
//! compressed and a `compression` header naming the codec (`application/x-gzip`, which is
//! zlib's format, or `application/x-bz2`); kombu's consumer, and so Ceilometer, reads them back
//! before anything else. [`decompress`] does the same, bounded: a small body must not expand
//! into more memory than the largest body ceilo takes.

use std::io::Read;

/// The codecs oslo's `kombu_compression` offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Codec {
    Zlib,
    Bzip2,
}

impl Codec {
    /// The codec a `compression` header names: kombu's content type, or one of its aliases.
    pub fn named(header: &str) -> Option<Codec> {
        match header {
            "application/x-gzip" | "gzip" | "zlib" => Some(Codec::Zlib),
            "application/x-bz2" | "bzip2" | "bzip" => Some(Codec::Bzip2),
            _ => None,
        }
    }
}

/// Why a compressed body was not read.
#[derive(Debug, thiserror::Error)]
pub enum DecompressError {
    #[error("compressed as {0:?}, which ceilo does not read (it reads kombu's gzip and bz2)")]
    Unknown(String),
    #[error("more than {limit} bytes once decompressed")]
    TooLarge { limit: usize },
    #[error("not {codec} data: {source}")]
    Corrupt {
        codec: &'static str,
        source: std::io::Error,
    },
}

/// `body`, compressed as the `compression` header `header` says, decompressed into `out`
/// (cleared first); more than `limit` bytes of it is an error, found without making more.
pub fn decompress(header: &str, body: &[u8], limit: usize, out: &mut Vec<u8>) -> Result<(), DecompressError> {
    let codec = Codec::named(header).ok_or_else(|| DecompressError::Unknown(header.to_owned()))?;
    out.clear();
    let (reader, name): (Box<dyn Read + '_>, _) = match codec {
        Codec::Zlib => (Box::new(flate2::read::ZlibDecoder::new(body)), "zlib"),
        // Python's bz2.decompress reads streams one after another, as this decoder does.
        Codec::Bzip2 => (Box::new(bzip2::read::MultiBzDecoder::new(body)), "bz2"),
    };
    let corrupt = |source| DecompressError::Corrupt { codec: name, source };
    reader.take(limit as u64 + 1).read_to_end(out).map_err(corrupt)?;
    if out.len() > limit {
        return Err(DecompressError::TooLarge { limit });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    /// `text` compressed by Python's kombu codec `codec` (zlib.compress or bz2.compress), as the
    /// bytes a service sends.
    fn python_compressed(module: &str, text: &str) -> Vec<u8> {
        let out = Command::new("python3")
            .args([
                "-c",
                &format!(
                    "import sys, {module}; sys.stdout.buffer.write({module}.compress(sys.argv[1].encode()))"
                ),
                text,
            ])
            .output()
            .expect("python3");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        out.stdout
    }

    #[test]
    fn what_kombus_codecs_compress_is_read_back_under_each_name_kombu_accepts() {
        let text = r#"{"oslo.version": "2.0", "oslo.message": "{\"event_type\": \"x\"}"}"#;
        let mut out = Vec::new();
        for (module, names) in [
            ("zlib", ["application/x-gzip", "gzip", "zlib"]),
            ("bz2", ["application/x-bz2", "bzip2", "bzip"]),
        ] {
            let body = python_compressed(module, text);
            for name in names {
                decompress(name, &body, 1 << 20, &mut out).unwrap();
                assert_eq!(out, text.as_bytes(), "{name}");
            }
        }
    }

    #[test]
    fn a_body_expanding_past_the_limit_is_refused_without_expanding_it() {
        let body = python_compressed("zlib", &"x".repeat(100_000));
        assert!(body.len() < 1_000);
        let mut out = Vec::new();
        let e = decompress("gzip", &body, 4096, &mut out).unwrap_err();
        assert_eq!(e.to_string(), "more than 4096 bytes once decompressed");
        assert!(out.len() <= 4097);
        decompress("gzip", &body, 100_000, &mut out).unwrap();
        assert_eq!(out.len(), 100_000);
    }

    #[test]
    fn unknown_codecs_and_broken_data_are_named() {
        let mut out = Vec::new();
        let e = decompress("application/x-lzma", b"", 10, &mut out).unwrap_err();
        assert_eq!(
            e.to_string(),
            "compressed as \"application/x-lzma\", which ceilo does not read (it reads kombu's gzip and bz2)"
        );
        let e = decompress("gzip", b"{\"plain\": 1}", 100, &mut out).unwrap_err();
        assert!(e.to_string().starts_with("not zlib data: "), "{e}");
        let e = decompress("bzip2", b"{\"plain\": 1}", 100, &mut out).unwrap_err();
        assert!(e.to_string().starts_with("not bz2 data: "), "{e}");
        let whole = python_compressed("zlib", "some text long enough to be cut");
        let e = decompress("gzip", &whole[..whole.len() - 6], 100, &mut out);
        assert!(
            e.is_err(),
            "a cut stream is refused, as zlib.decompress refuses it"
        );
    }
}
