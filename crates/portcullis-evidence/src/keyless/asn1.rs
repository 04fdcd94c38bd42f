//! A minimal DER walker for the structures that are verified over their exact bytes (a
//! certificate's TBS, CMS signed attributes, a TSTInfo): it splits TLVs without re-encoding
//! anything, so what is hashed or signed is always the bytes that were sent. Strict DER
//! lengths only (definite, minimal), single-byte tags only: anything else is malformed.

use x509_cert::der::Decode;
use x509_cert::der::oid::ObjectIdentifier;

/// Universal SEQUENCE, constructed.
pub(super) const SEQUENCE: u8 = 0x30;
/// Universal SET, constructed.
pub(super) const SET: u8 = 0x31;
/// Universal OCTET STRING.
pub(super) const OCTET_STRING: u8 = 0x04;
/// Universal OBJECT IDENTIFIER.
pub(super) const OID: u8 = 0x06;
/// Universal INTEGER.
pub(super) const INTEGER: u8 = 0x02;
/// Universal GeneralizedTime.
pub(super) const GENERALIZED_TIME: u8 = 0x18;

/// One DER element: its tag byte, its value, and its whole encoding (header + value).
#[derive(Clone, Copy, Debug)]
pub(super) struct Tlv<'a> {
    pub(super) tag: u8,
    pub(super) value: &'a [u8],
    pub(super) raw: &'a [u8],
}

impl<'a> Tlv<'a> {
    /// Reads exactly one element filling `bytes`.
    pub(super) fn parse_exact(bytes: &'a [u8]) -> Result<Self, String> {
        let (tlv, rest) = read(bytes)?;
        if !rest.is_empty() {
            return Err(format!("{} trailing bytes after DER element", rest.len()));
        }
        Ok(tlv)
    }

    /// The element, which must carry `tag` (`what` names it in the error).
    pub(super) fn expect(self, tag: u8, what: &str) -> Result<Self, String> {
        if self.tag == tag {
            Ok(self)
        } else {
            Err(format!("{what}: tag 0x{:02x}, want 0x{tag:02x}", self.tag))
        }
    }

    /// The elements inside a constructed value.
    pub(super) fn children(self) -> Result<Vec<Tlv<'a>>, String> {
        if self.tag & 0x20 == 0 {
            return Err(format!("tag 0x{:02x} is not constructed", self.tag));
        }
        let mut rest = self.value;
        let mut out = Vec::new();
        while !rest.is_empty() {
            let (tlv, tail) = read(rest)?;
            out.push(tlv);
            rest = tail;
        }
        Ok(out)
    }

    /// The value as an OBJECT IDENTIFIER.
    pub(super) fn oid(self) -> Result<ObjectIdentifier, String> {
        let tlv = self.expect(OID, "object identifier")?;
        ObjectIdentifier::from_der(tlv.raw).map_err(|e| format!("object identifier: {e}"))
    }
}

/// Splits the first DER element off `bytes`.
pub(super) fn read(bytes: &[u8]) -> Result<(Tlv<'_>, &[u8]), String> {
    let (&tag, after_tag) = bytes.split_first().ok_or("truncated DER: no tag")?;
    if tag & 0x1f == 0x1f {
        return Err(format!("unsupported multi-byte DER tag 0x{tag:02x}"));
    }
    let (&first, after_len) = after_tag.split_first().ok_or("truncated DER: no length")?;
    let (len, header_rest) = if first < 0x80 {
        (usize::from(first), after_len)
    } else {
        let count = usize::from(first & 0x7f);
        if count == 0 || count > 4 {
            return Err("indefinite or oversized DER length".into());
        }
        let len_bytes = after_len.get(..count).ok_or("truncated DER length")?;
        if len_bytes.first() == Some(&0) {
            return Err("non-minimal DER length".into());
        }
        let len = len_bytes
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
        if len < 0x80 {
            return Err("non-minimal DER length".into());
        }
        (len, after_len.get(count..).unwrap_or_default())
    };
    let value = header_rest.get(..len).ok_or("truncated DER value")?;
    let header_len = bytes.len() - header_rest.len();
    let raw = bytes.get(..header_len + len).ok_or("truncated DER value")?;
    let rest = header_rest.get(len..).unwrap_or_default();
    Ok((Tlv { tag, value, raw }, rest))
}

/// DER header + value for `tag` and `value` (used to rebuild a TBS without one extension and
/// to turn `[0] IMPLICIT` signed attributes back into the SET OF that was signed).
pub(super) fn encode(tag: u8, value: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = value.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let be = len.to_be_bytes();
        let skip = be.iter().take_while(|b| **b == 0).count();
        let significant = be.get(skip..).unwrap_or_default();
        out.push(0x80 | significant.len() as u8);
        out.extend_from_slice(significant);
    }
    out.extend_from_slice(value);
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    #[test]
    fn encode_and_read_round_trip_long_lengths() {
        for len in [0usize, 1, 127, 128, 255, 256, 70_000] {
            let value = vec![7u8; len];
            let der = encode(OCTET_STRING, &value);
            let tlv = Tlv::parse_exact(&der).unwrap();
            assert_eq!(
                (tlv.tag, tlv.value.len(), tlv.raw.len()),
                (OCTET_STRING, len, der.len())
            );
        }
    }

    #[test]
    fn non_der_lengths_are_rejected() {
        assert!(
            read(&[0x04, 0x81, 0x05, 1, 2, 3, 4, 5]).is_err(),
            "non-minimal long form"
        );
        assert!(read(&[0x30, 0x80, 0, 0]).is_err(), "indefinite length");
        assert!(read(&[0x04, 0x03, 1, 2]).is_err(), "truncated value");
        assert!(
            Tlv::parse_exact(&[0x04, 0x01, 1, 0]).is_err(),
            "trailing byte"
        );
    }
}
