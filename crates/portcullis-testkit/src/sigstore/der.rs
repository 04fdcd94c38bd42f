//! Just enough DER to build SCT lists, RFC 3161 tokens and to splice an extension into a
//! certificate: a writer for the handful of universal types those need, and a reader that
//! walks tag-length-value items without interpreting them.

use crate::{Error, Result};

/// A DER item of `tag` around `content`.
pub(crate) fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let len = content.len();
    let mut out = vec![tag];
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|b| **b == 0).count();
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
    out.extend_from_slice(content);
    out
}

/// SEQUENCE of already-encoded `parts`.
pub(crate) fn seq(parts: &[&[u8]]) -> Vec<u8> {
    tlv(0x30, &parts.concat())
}

/// SET of already-encoded `parts`, sorted as DER requires for SET OF.
pub(crate) fn set_of(parts: &[&[u8]]) -> Vec<u8> {
    let mut sorted = parts.to_vec();
    sorted.sort();
    tlv(0x31, &sorted.concat())
}

/// `[n]` EXPLICIT (constructed context tag) around `content`.
pub(crate) fn explicit(n: u8, content: &[u8]) -> Vec<u8> {
    tlv(0xa0 | n, content)
}

/// OBJECT IDENTIFIER of `arcs` (at least two arcs).
pub(crate) fn oid(arcs: &[u64]) -> Vec<u8> {
    let mut body = Vec::new();
    let (first, rest) = match arcs {
        [a, b, rest @ ..] => (a * 40 + b, rest),
        _ => (0, &[][..]),
    };
    for arc in std::iter::once(first).chain(rest.iter().copied()) {
        let mut chunk = vec![(arc & 0x7f) as u8];
        let mut v = arc >> 7;
        while v > 0 {
            chunk.push(0x80 | (v & 0x7f) as u8);
            v >>= 7;
        }
        chunk.reverse();
        body.extend(chunk);
    }
    tlv(0x06, &body)
}

/// INTEGER holding the unsigned big-endian `bytes`.
pub(crate) fn uint(bytes: &[u8]) -> Vec<u8> {
    let trimmed: Vec<u8> = bytes.iter().copied().skip_while(|b| *b == 0).collect();
    let mut body = Vec::with_capacity(trimmed.len() + 1);
    if trimmed.first().is_none_or(|b| b & 0x80 != 0) {
        body.push(0);
    }
    body.extend(trimmed);
    tlv(0x02, &body)
}

/// INTEGER `value`.
pub(crate) fn int(value: u64) -> Vec<u8> {
    uint(&value.to_be_bytes())
}

/// OCTET STRING.
pub(crate) fn octets(bytes: &[u8]) -> Vec<u8> {
    tlv(0x04, bytes)
}

/// BIT STRING with no unused bits.
pub(crate) fn bits(bytes: &[u8]) -> Vec<u8> {
    tlv(0x03, &[&[0u8][..], bytes].concat())
}

/// NULL.
pub(crate) fn null() -> Vec<u8> {
    vec![0x05, 0x00]
}

/// UTF8String.
pub(crate) fn utf8(text: &str) -> Vec<u8> {
    tlv(0x0c, text.as_bytes())
}

/// GeneralizedTime `YYYYMMDDHHMMSSZ` for `unix` seconds.
pub(crate) fn generalized_time(unix: i64) -> Result<Vec<u8>> {
    let t = time::OffsetDateTime::from_unix_timestamp(unix)
        .map_err(|e| Error::Invalid(format!("timestamp {unix}: {e}")))?;
    let text = format!(
        "{:04}{:02}{:02}{:02}{:02}{:02}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    );
    Ok(tlv(0x18, text.as_bytes()))
}

/// AlgorithmIdentifier for SHA-256 (with the NULL parameter, as TSAs write it).
pub(crate) fn sha256_algorithm() -> Vec<u8> {
    seq(&[&oid(&[2, 16, 840, 1, 101, 3, 4, 2, 1]), &null()])
}

/// AlgorithmIdentifier for ecdsa-with-SHA256 (no parameters).
pub(crate) fn ecdsa_sha256_algorithm() -> Vec<u8> {
    seq(&[&oid(&[1, 2, 840, 10045, 4, 3, 2])])
}

/// One parsed item: its tag, the whole encoding, and the content octets.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Tlv<'a> {
    /// The identifier octet (single-byte tags only).
    pub tag: u8,
    /// Header and content, exactly as encoded.
    pub raw: &'a [u8],
    /// The content octets.
    pub content: &'a [u8],
}

fn malformed(what: &str) -> Error {
    Error::Invalid(format!("malformed DER: {what}"))
}

/// Reads the first item of `input`; returns it and what follows.
pub(crate) fn read(input: &[u8]) -> Result<(Tlv<'_>, &[u8])> {
    let [tag, first, rest @ ..] = input else {
        return Err(malformed("truncated header"));
    };
    let (len, header) = if first & 0x80 == 0 {
        (usize::from(*first), 2)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return Err(malformed("bad length"));
        }
        let len = rest[..n]
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
        (len, 2 + n)
    };
    let end = header
        .checked_add(len)
        .filter(|end| *end <= input.len())
        .ok_or_else(|| malformed("length past the end"))?;
    let item = Tlv {
        tag: *tag,
        raw: &input[..end],
        content: &input[header..end],
    };
    Ok((item, &input[end..]))
}

/// The items inside a constructed item's `content`.
pub(crate) fn children(mut content: &[u8]) -> Result<Vec<Tlv<'_>>> {
    let mut out = Vec::new();
    while !content.is_empty() {
        let (item, rest) = read(content)?;
        out.push(item);
        content = rest;
    }
    Ok(out)
}

/// Reads exactly one item of `tag` filling `input`.
pub(crate) fn read_only(input: &[u8], tag: u8) -> Result<Tlv<'_>> {
    let (item, rest) = read(input)?;
    if item.tag != tag || !rest.is_empty() {
        return Err(malformed(&format!(
            "expected a single item of tag {tag:#04x}"
        )));
    }
    Ok(item)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_known_values() {
        assert_eq!(
            oid(&[1, 2, 840, 10045, 4, 3, 2]),
            [6, 8, 0x2a, 0x86, 0x48, 0xce, 0x3d, 4, 3, 2]
        );
        assert_eq!(int(0), [2, 1, 0]);
        assert_eq!(int(128), [2, 2, 0, 0x80]);
        assert_eq!(tlv(4, &[0; 200])[..3], [4, 0x81, 200]);
        assert_eq!(
            generalized_time(0).unwrap_or_default()[2..],
            *b"19700101000000Z"
        );
    }

    #[test]
    fn reads_back_what_it_writes_and_refuses_truncation() {
        let encoded = seq(&[&int(5), &utf8("x")]);
        let outer = read_only(&encoded, 0x30).ok();
        let kids = outer.map(|o| children(o.content).ok());
        assert_eq!(kids.flatten().map(|k| k.len()), Some(2));
        assert!(read(&encoded[..encoded.len() - 1]).is_err());
    }
}
