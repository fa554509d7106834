//! Tests of short byte strings eight bytes at a time, in a `u64` (SIMD within a register): the
//! e-mail test of an address too long for its masks (`preflight::is_ascii_email`). Each test
//! leaves the high bit of every byte of a word that passes it ([`HIGH`]), and no other bit.

/// The high bit of every byte.
pub(crate) const HIGH: u64 = 0x8080_8080_8080_8080;
const ONES: u64 = 0x0101_0101_0101_0101;

/// The bytes of `word`, all ASCII, that are `n` or more (`n` at most 0x80).
#[inline]
pub(crate) fn at_least(word: u64, n: u8) -> u64 {
    // A byte of at most 0x7F plus 0x80 - n carries into no other byte, and reaches 0x80 just
    // when it is n or more.
    word.wrapping_add(ONES * u64::from(0x80 - n)) & HIGH
}

/// The bytes of `word`, all ASCII, in `low..high` (`high` at most 0x80).
#[inline]
pub(crate) fn within(word: u64, low: u8, high: u8) -> u64 {
    at_least(word, low) & !at_least(word, high)
}

/// The bytes of `word`, all ASCII, equal to `byte` (ASCII).
#[inline]
pub(crate) fn equal(word: u64, byte: u8) -> u64 {
    // A byte that differs is 1 to 0x7F here: plus 0x7F, it reaches 0x80 and carries nowhere.
    let differs = word ^ (ONES * u64::from(byte));
    !differs.wrapping_add(ONES * 0x7F) & HIGH
}

/// Whether `test` holds for each of the words that cover `bytes` so that each pair of
/// neighbouring bytes is inside one of them: eight bytes from every seventh byte, the last
/// eight bytes last. A string of less than eight bytes is one word, filled up with `fill`.
#[inline(always)]
pub(crate) fn all_pair_words(bytes: &[u8], fill: u8, mut test: impl FnMut(u64) -> bool) -> bool {
    let last = bytes.len().saturating_sub(8);
    let mut at = 0;
    // (Loops over iterator adapters were not inlined, and cost as much as the tests.)
    while at < last {
        if !test(word(bytes, at, fill)) {
            return false;
        }
        at += 7;
    }
    test(word(bytes, last, fill))
}

/// The eight bytes of `bytes` from `at`, or those there are and `fill` after them.
#[inline(always)]
fn word(bytes: &[u8], at: usize, fill: u8) -> u64 {
    match bytes.get(at..at + 8) {
        Some(eight) => u64::from_le_bytes(eight.try_into().expect("eight bytes")),
        None => {
            let mut eight = [fill; 8];
            let rest = &bytes[at..];
            eight[..rest.len()].copy_from_slice(rest);
            u64::from_le_bytes(eight)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each test against its byte-at-a-time meaning, for every ASCII byte in every position.
    #[test]
    fn each_test_marks_the_bytes_it_means() {
        let mask = |bytes: [u8; 8], test: &dyn Fn(u8) -> bool| {
            bytes.iter().enumerate().fold(0u64, |mask, (i, &b)| {
                mask | (u64::from(test(b)) << (8 * i + 7))
            })
        };
        let mut rng = fastrand::Rng::with_seed(7);
        for _ in 0..20_000 {
            let bytes: [u8; 8] = std::array::from_fn(|_| rng.u8(..0x80));
            let word = u64::from_le_bytes(bytes);
            let n = rng.u8(..=0x80);
            let (low, high) = (rng.u8(..0x80), rng.u8(..=0x80));
            let byte = bytes[rng.usize(..8)];
            assert_eq!(at_least(word, n), mask(bytes, &|b| b >= n), "{bytes:?} {n}");
            assert_eq!(
                within(word, low, high),
                mask(bytes, &|b| (low..high).contains(&b)),
                "{bytes:?} {low}..{high}"
            );
            assert_eq!(equal(word, byte), mask(bytes, &|b| b == byte));
            assert_eq!(equal(word, byte ^ 1), mask(bytes, &|b| b == byte ^ 1));
        }
    }

    /// The words of [`all_pair_words`] cover every pair of neighbours, at every length.
    #[test]
    fn the_words_cover_every_pair() {
        for len in 0..40 {
            let bytes: Vec<u8> = (1..=len as u8).collect();
            let mut words = Vec::new();
            all_pair_words(&bytes, 0, |word| {
                words.push(word.to_le_bytes());
                true
            });
            for (i, b) in bytes.iter().enumerate() {
                assert!(words.iter().any(|w| w.contains(b)), "{len}: byte {i}");
                if i + 1 < len {
                    let pair = [*b, b + 1];
                    assert!(
                        words.iter().any(|w| w.windows(2).any(|w| w == pair)),
                        "{len}: pair {i}"
                    );
                }
            }
            // Only the bytes there are, and the fill after them.
            for w in &words {
                let fill = w.iter().position(|&b| b == 0).unwrap_or(8);
                assert!(w[fill..].iter().all(|&b| b == 0), "{len}: {w:?}");
                assert!(w[..fill].iter().all(|b| bytes.contains(b)), "{len}: {w:?}");
            }
        }
    }
}
