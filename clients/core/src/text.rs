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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_cannot_reach_the_terminal() {
        assert_eq!(
            sanitize("a\u{1b}[31mb\r\nc\td"),
            "a\u{fffd}[31mb\u{fffd}\nc\td"
        );
    }
}
