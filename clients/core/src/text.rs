//! Text that came from the server or from another user (messages, names, error messages) is made safe to
//! display: a message cannot move the cursor, recolor the terminal, reorder what is shown or fake a status.

/// The Unicode bidirectional formatting characters (embeddings, overrides, isolates, marks): they can make
/// text display in another order than it is stored (e.g. hide a fingerprint or fake a status).
fn is_bidi_control(c: char) -> bool {
    matches!(
        c,
        '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{200e}' | '\u{200f}' | '\u{061c}'
    )
}

/// For display: removes bidi controls and replaces every other control character (except newline and
/// tab) with U+FFFD.
pub fn sanitize(text: &str) -> String {
    text.chars()
        .filter(|c| !is_bidi_control(*c))
        .map(|c| {
            if c.is_control() && c != '\n' && c != '\t' {
                '\u{fffd}'
            } else {
                c
            }
        })
        .collect()
}

/// For one-line display (error messages): removes bidi controls and replaces every control character,
/// newlines included, with a space.
pub fn sanitize_line(text: &str) -> String {
    text.chars()
        .filter(|c| !is_bidi_control(*c))
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// Whether `name` is a username as the server registers them (docs/openapi.yaml, register): NFC, 3–32 Unicode
/// scalar values, each a letter or digit, one of `_ . -`, or a combining mark after another character. The
/// same rule as the server's (`e2ee_storage::validate::normalize_username`): a name the server could not have
/// registered, or one that carries controls, bidi overrides or spaces, is never shown or pinned as a username.
pub fn is_username(name: &str) -> bool {
    use unicode_normalization::UnicodeNormalization as _;
    use unicode_normalization::char::is_combining_mark;
    let length = name.chars().count();
    (3..=32).contains(&length)
        && name.nfc().eq(name.chars())
        && name.chars().enumerate().all(|(position, c)| {
            c.is_alphanumeric()
                || matches!(c, '_' | '.' | '-')
                || (position > 0 && is_combining_mark(c))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_registrable_usernames_count_as_usernames() {
        for good in ["bob", "Bob_1", "a.b-c", "日本語", "हिन्दी", "Ren\u{e9}e"] {
            assert!(is_username(good), "{good}");
        }
        for bad in [
            "ab",
            "al ice",
            "bob\u{202e}",
            "zero\u{200b}width",
            "\u{301}abc",
            "Rene\u{301}e",
            "tab\tx",
            &"x".repeat(33),
        ] {
            assert!(!is_username(bad), "{bad:?}");
        }
    }

    #[test]
    fn control_characters_cannot_reach_the_terminal() {
        assert_eq!(
            sanitize("a\u{1b}[31mb\r\nc\td"),
            "a\u{fffd}[31mb\u{fffd}\nc\td"
        );
    }
}
