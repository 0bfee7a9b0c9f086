//! "Did you mean": how near a word that is no key is to a key.

/// How far `written` is from `key` when it is a near miss, or `None`: the
/// number of single-character edits (Levenshtein's distance) between the
/// two, case and underscores left out, when that is at most 2 and fewer
/// than the characters written (`ab` is not a near miss of `addr`). So 0 is
/// a word that differs only in case and underscores (`PortEnv`).
///
/// Plain loops over fixed arrays: iterator adapters and collections would
/// be most of what this costs the crate's build.
pub(crate) fn distance_of_near_miss(written: &str, key: &str) -> Option<usize> {
    // The key without underscores; keys are short ASCII words.
    let mut folded = [0_u8; 32];
    let mut len = 0;
    for &byte in key.as_bytes() {
        if byte != b'_' && len < folded.len() {
            folded[len] = byte;
            len += 1;
        }
    }
    // `row[j]`: the distance from what was read of `written` to
    // `folded[..j]`.
    let mut row = [0_usize; 33];
    let mut j = 0;
    while j <= len {
        row[j] = j;
        j += 1;
    }
    let mut read = 0;
    for c in written.chars() {
        if c == '_' {
            continue;
        }
        let c = c.to_ascii_lowercase();
        read += 1;
        let mut diagonal = row[0];
        row[0] = read;
        let mut j = 0;
        while j < len {
            let above = row[j + 1];
            let mut best = if c == char::from(folded[j]) {
                diagonal
            } else {
                diagonal + 1
            };
            if above + 1 < best {
                best = above + 1;
            }
            if row[j] + 1 < best {
                best = row[j] + 1;
            }
            row[j + 1] = best;
            diagonal = above;
            j += 1;
        }
    }
    let distance = row[len];
    if distance <= 2 && distance < read {
        Some(distance)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::distance_of_near_miss;

    #[test]
    fn the_distance_counts_single_character_edits() {
        assert_eq!(distance_of_near_miss("port", "port"), Some(0));
        assert_eq!(distance_of_near_miss("prt", "port"), Some(1));
        assert_eq!(distance_of_near_miss("prot", "port"), Some(2));
        assert_eq!(distance_of_near_miss("pört", "port"), Some(1));
        assert_eq!(distance_of_near_miss("bcklog", "backlog"), Some(1));
        assert_eq!(distance_of_near_miss("backlgo", "backlog"), Some(2));
        assert_eq!(distance_of_near_miss("retyr", "retry"), Some(2));
        assert_eq!(distance_of_near_miss("rety", "retry"), Some(1));
    }

    #[test]
    fn near_misses_are_close_or_differ_in_case_and_underscores() {
        assert_eq!(distance_of_near_miss("prt", "port"), Some(1));
        assert_eq!(distance_of_near_miss("Port", "port"), Some(0));
        assert_eq!(distance_of_near_miss("PortEnv", "port_env"), Some(0));
        assert_eq!(
            distance_of_near_miss("ABSTRACTNAME", "abstract_name"),
            Some(0)
        );
        assert_eq!(distance_of_near_miss("nonblock", "nonblocking"), None);
        assert_eq!(distance_of_near_miss("hots", "host"), Some(2));
        assert_eq!(distance_of_near_miss("ab", "addr"), None);
        assert_eq!(distance_of_near_miss("listen", "port"), None);
    }
}
