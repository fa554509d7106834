//! Tests of short byte strings (a key, an address) 16 bytes at a time, with SIMD compares
//! (`wide`: SSE2 here, NEON on ARM, no `unsafe` in the crate), for the file check's tests of
//! every row's key.

use wide::u8x16;

/// Whether `test` holds for each 16-byte chunk of `bytes`, given with its offset: one from
/// every 16th byte, the last one ending with `bytes` (over bytes already given when the length
/// is not a multiple of 16, which give the same answers again). The chunks are read where they
/// are: a copy first made every load wait for the copy's stores (8 % of a 100 MiB check). A
/// string of less than 16 bytes is one chunk, zeros after it.
#[inline(always)]
pub(crate) fn all_chunks(bytes: &[u8], mut test: impl FnMut(usize, u8x16) -> bool) -> bool {
    let chunk = |at: usize| u8x16::new(bytes[at..at + 16].try_into().expect("16 bytes"));
    let Some(last) = bytes.len().checked_sub(16) else {
        let mut short = [0; 16];
        short[..bytes.len()].copy_from_slice(bytes);
        return test(0, u8x16::new(short));
    };
    let mut at = 0;
    // (A loop over iterator adapters was not inlined, and cost as much as the tests.)
    while at < last {
        if !test(at, chunk(at)) {
            return false;
        }
        at += 16;
    }
    test(last, chunk(last))
}

/// The bytes of `v` in `low..=high` (`low` at most `high`), as a mask (0xFF a byte).
#[inline(always)]
pub(crate) fn within(v: u8x16, low: u8, high: u8) -> u8x16 {
    v.max(u8x16::splat(low)).min(u8x16::splat(high)).cmp_eq(v)
}

/// The bit mask of a compare's bytes (bit i for byte i), placed at `at`.
#[inline(always)]
pub(crate) fn bits(hits: u8x16, at: usize) -> u64 {
    u64::from(hits.move_mask() as u16) << at
}

/// The capitals of `v` and its bytes past ASCII, as the high bits of a mask (a move mask's
/// bits): what a key as the vendors compare them does not have.
#[inline(always)]
pub(crate) fn capitals_or_high(v: u8x16) -> u8x16 {
    within(v, b'A', b'Z') | v
}

/// Whether `bytes` has a capital or a byte past ASCII ([`capitals_or_high`]), 16 bytes at a
/// time. (With this test, `normal_key` of a 29-byte key takes 74 instructions; with one eight
/// bytes at a time, 115.)
pub(crate) fn capital_or_not_ascii(bytes: &[u8]) -> bool {
    !all_chunks(bytes, |_, v| capitals_or_high(v).move_mask() == 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The chunks cover every byte with the right offset, and only the bytes there are.
    #[test]
    fn the_chunks_cover_every_byte_where_it_is() {
        for len in 0..70 {
            let bytes: Vec<u8> = (1..=len as u8).collect();
            let mut seen = vec![false; len];
            all_chunks(&bytes, |at, v| {
                for (i, &b) in v.to_array().iter().enumerate() {
                    match bytes.get(at + i) {
                        Some(&expected) => {
                            assert_eq!(b, expected, "{len}: byte {}", at + i);
                            seen[at + i] = true;
                        }
                        None => assert_eq!(b, 0, "{len}: past the end"),
                    }
                }
                true
            });
            assert!(seen.iter().all(|&s| s), "{len}");
        }
    }

    #[test]
    fn within_and_bits_mark_the_bytes_they_mean() {
        let mut rng = fastrand::Rng::with_seed(16);
        for _ in 0..10_000 {
            let bytes: [u8; 16] = std::array::from_fn(|_| rng.u8(..));
            let low = rng.u8(..);
            let (high, at) = (rng.u8(low..), rng.usize(..=48));
            let expected = (0..16).fold(0u64, |mask, i| {
                mask | u64::from((low..=high).contains(&bytes[i])) << (at + i)
            });
            assert_eq!(bits(within(u8x16::new(bytes), low, high), at), expected);
        }
    }
}
