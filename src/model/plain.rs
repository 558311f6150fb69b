//! How much of a text needs no escaping: printable ASCII (space to `~`) without the few bytes
//! a writer quotes (`"` and `\` for JSON, also `'` for a Python repr). Escaping writers copy
//! such runs whole; this finds where a run ends eight bytes at a time.

/// The length of the longest prefix of `bytes` made of printable ASCII other than `specials`.
#[inline]
pub fn plain_prefix_len(bytes: &[u8], specials: &[u8]) -> usize {
    let mut i = 0;
    while let Some(word) = bytes.get(i..i + 8) {
        if !word_is_plain(u64::from_le_bytes(word.try_into().unwrap_or([0; 8])), specials) {
            break;
        }
        i += 8;
    }
    i + bytes[i..]
        .iter()
        .position(|&b| !is_plain(b, specials))
        .unwrap_or(bytes.len() - i)
}

/// Printable ASCII and not one of `specials`.
#[inline]
fn is_plain(b: u8, specials: &[u8]) -> bool {
    (b' '..=b'~').contains(&b) && !specials.contains(&b)
}

/// [`is_plain`] for all eight bytes of `word` at once. Each term sets a byte's high bit where
/// that byte is not plain (a borrow or carry only ever spills out of a byte that is not):
/// below a space, DEL or above, or a special.
#[inline]
fn word_is_plain(word: u64, specials: &[u8]) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let zero_byte = |w: u64| w.wrapping_sub(ONES) & !w;
    let control = word.wrapping_sub(ONES * 0x20) & !word;
    let del_or_above = word.wrapping_add(ONES) | word;
    let special = specials
        .iter()
        .fold(0, |acc, &s| acc | zero_byte(word ^ (ONES * u64::from(s))));
    (control | del_or_above | special) & HIGH == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPECIALS: &[u8] = b"\"\\'";

    #[test]
    fn a_word_is_plain_exactly_when_each_of_its_bytes_is() {
        for b in 0..=255u8 {
            for pos in 0..8 {
                let mut word = *b"abcdefgh";
                word[pos] = b;
                let plain = is_plain(b, SPECIALS);
                assert_eq!(
                    word_is_plain(u64::from_le_bytes(word), SPECIALS),
                    plain,
                    "{b:#x} at {pos}"
                );
                // Next to a byte whose arithmetic carries or borrows (0xff, 0x00).
                for neighbour in [0x00, 0xff, b'~', b' '] {
                    let mut word = word;
                    word[(pos + 1) % 8] = neighbour;
                    let plain = plain && is_plain(neighbour, SPECIALS);
                    assert_eq!(
                        word_is_plain(u64::from_le_bytes(word), SPECIALS),
                        plain,
                        "{b:#x}/{neighbour:#x}"
                    );
                }
            }
        }
    }

    #[test]
    fn the_prefix_ends_at_the_first_byte_that_is_not_plain() {
        for len in 0..20 {
            for at in 0..=len {
                let mut text = vec![b'x'; len];
                if at < len {
                    text[at] = b'\'';
                }
                assert_eq!(plain_prefix_len(&text, SPECIALS), at, "{len} {at}");
                assert_eq!(plain_prefix_len(&text, b""), len, "' is plain without specials");
            }
        }
    }
}
