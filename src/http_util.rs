//! Small HTTP helpers shared across the servers (the gateway's router, and
//! the admin API when it moves its own here): percent-decoding of a URL
//! path segment.
//!
//! Path segments and query strings decode differently: in a path `+` is a
//! plus and a malformed escape is kept as written (the segment names a
//! thing, e.g. a model `meta%2Fllama`); a query component
//! (`application/x-www-form-urlencoded`) reads `+` as a space and rejects a
//! malformed escape (that is the admin API's own `percent_decode`).

/// A path segment with `%XX` escapes decoded: a malformed escape is kept as
/// written, `+` stays a plus, and invalid UTF-8 is replaced (U+FFFD).
pub(crate) fn decode_path_segment(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            let hex = |c: u8| (c as char).to_digit(16);
            if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_ids_are_percent_decoded() {
        assert_eq!(decode_path_segment("meta%2Fllama"), "meta/llama");
        assert_eq!(decode_path_segment("plain"), "plain");
        assert_eq!(decode_path_segment("bad%zz"), "bad%zz");
        assert_eq!(decode_path_segment("end%2"), "end%2");
        assert_eq!(decode_path_segment("a+b"), "a+b");
    }
}
