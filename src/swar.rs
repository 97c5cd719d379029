//! Eight bytes at a time in a `u64` ("SIMD within a register"): the byte tests shared by the
//! requested-header scan (`request`), the case-insensitive key comparison (`matcher`), the
//! escaping of error documents (`xml_escape`) and the memo's key comparison (`memo`).

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
