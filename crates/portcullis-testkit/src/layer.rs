//! Builds image layers: minimal but valid uncompressed tar archives holding one
//! file of random bytes, so pulled images can really be unpacked.

use rand::RngCore;
use sha2::{Digest as _, Sha256};

/// Media type of the layers we produce (uncompressed tar, so diff_id == digest).
pub const LAYER_MEDIA_TYPE: &str = "application/vnd.oci.image.layer.v1.tar";

const BLOCK: usize = 512;

/// `sha256:<hex>` of `data`, the form registries and manifests use.
pub fn sha256_digest(data: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(data)))
}

/// A tar archive containing `name` with `size` random bytes.
pub fn random_tar_layer(name: &str, size: usize) -> Vec<u8> {
    let mut content = vec![0u8; size];
    rand::thread_rng().fill_bytes(&mut content);
    tar_with_file(name, &content)
}

/// A ustar archive holding a single regular file.
fn tar_with_file(name: &str, content: &[u8]) -> Vec<u8> {
    let mut header = [0u8; BLOCK];
    put(&mut header, 0, 100, name.as_bytes());
    put(&mut header, 100, 8, b"0000644\0");
    put(&mut header, 108, 8, b"0000000\0");
    put(&mut header, 116, 8, b"0000000\0");
    put(
        &mut header,
        124,
        12,
        format!("{:011o}\0", content.len()).as_bytes(),
    );
    put(&mut header, 136, 12, b"00000000000\0");
    header[156] = b'0';
    put(&mut header, 257, 6, b"ustar\0");
    put(&mut header, 263, 2, b"00");
    // The checksum is computed with its own field filled with spaces.
    put(&mut header, 148, 8, b"        ");
    let sum: u32 = header.iter().map(|b| u32::from(*b)).sum();
    put(&mut header, 148, 8, format!("{sum:06o}\0 ").as_bytes());

    let padded = content.len().div_ceil(BLOCK) * BLOCK;
    let mut out = Vec::with_capacity(BLOCK + padded + 2 * BLOCK);
    out.extend_from_slice(&header);
    out.extend_from_slice(content);
    out.resize(BLOCK + padded + 2 * BLOCK, 0);
    out
}

/// Copies `value` into `field` at `offset`, truncated to `len` bytes.
fn put(block: &mut [u8; BLOCK], offset: usize, len: usize, value: &[u8]) {
    let n = value.len().min(len);
    block[offset..offset + n].copy_from_slice(&value[..n]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tar_layer_is_block_aligned_and_random() {
        let a = random_tar_layer("a.bin", 1000);
        let b = random_tar_layer("a.bin", 1000);
        assert_eq!(a.len(), 512 + 1024 + 1024);
        assert_ne!(sha256_digest(&a), sha256_digest(&b));
        assert_eq!(&a[257..262], b"ustar");
    }
}
