//! Eight bytes at a time in a `u64` ("SIMD within a register"): the byte tests shared by the
//! requested-header scan (`request`), the case-insensitive key comparison and the keys' hash
//! (`matcher`), the escaping of error documents (`xml_escape`) and the memo's key comparison
//! and fingerprint (`memo`).

pub(crate) const ONES: u64 = 0x0101_0101_0101_0101;
pub(crate) const HIGH: u64 = 0x8080_8080_8080_8080;

/// The high bit of every byte of `word` equal to `b` (exact: the additions stay within each
/// byte). Eight bytes tested in a handful of instructions.
pub(crate) fn bytes_equal(word: u64, b: u8) -> u64 {
    let x = word ^ (ONES * u64::from(b));
    !(((x & !HIGH) + !HIGH) | x) & HIGH
}

/// `word` with its ASCII capitals (eight bytes at a time) made small.
pub(crate) fn lowercase_word(word: u64) -> u64 {
    let low7 = word & !HIGH;
    let at_least_a = low7 + ONES * u64::from(0x80 - b'A');
    let past_z = low7 + ONES * u64::from(0x80 - b'Z' - 1);
    let capitals = at_least_a & !past_z & !word & HIGH;
    word | (capitals >> 2)
}

/// `a == b`, eight bytes a step, inline: for the memo's short keys, compared on every
/// preflight, where two library calls cost more than the comparison (an origin matched
/// against one pattern is not: there `==` is as fast).
#[inline]
pub(crate) fn same_bytes(mut a: &[u8], mut b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    while let (Some((x, rest_a)), Some((y, rest_b))) =
        (a.split_first_chunk::<8>(), b.split_first_chunk::<8>())
    {
        if x != y {
            return false;
        }
        (a, b) = (rest_a, rest_b);
    }
    a.iter().zip(b).all(|(x, y)| x == y)
}

/// A 64-bit hash of `bytes` (and their length), eight bytes at a time, FxHash-style, each word
/// ORed with `fold` first. Not keyed: for lookups whose keys a request does not choose, and
/// for fingerprints that a full comparison confirms.
#[inline]
pub(crate) fn hash_words(bytes: &[u8], fold: u64) -> u64 {
    const K: u64 = 0xf135_7aea_2e62_a9c5;
    let mix = |hash: u64, word: u64| (hash.rotate_left(5) ^ (word | fold)).wrapping_mul(K);
    let mut hash = bytes.len() as u64;
    let mut rest = bytes;
    while let Some((word, tail)) = rest.split_first_chunk::<8>() {
        hash = mix(hash, u64::from_le_bytes(*word));
        rest = tail;
    }
    // The last 1..=7 bytes: the last eight bytes of the key when it has them (overlapping
    // some already hashed), else two overlapping four-byte reads, else three bytes.
    if !rest.is_empty() {
        let n = bytes.len();
        let word = if let Some(last) = bytes.last_chunk::<8>() {
            u64::from_le_bytes(*last)
        } else if let (Some(first), Some(last)) = (bytes.first_chunk::<4>(), bytes.last_chunk::<4>()) {
            u64::from(u32::from_le_bytes(*first)) | u64::from(u32::from_le_bytes(*last)) << 32
        } else {
            let at = |i: usize| u64::from(bytes.get(i).copied().unwrap_or(0));
            at(0) | at(n / 2) << 8 | at(n - 1) << 16
        };
        hash = mix(hash, word);
    }
    // The multiply leaves the low bits (the probe position) weakest: fold the high ones in.
    hash ^ (hash >> 29)
}
