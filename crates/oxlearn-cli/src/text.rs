//! Text from model files and inputs, made safe to print: a forged header
//! must not print lines of its own (a fake "loadable by this binary: yes")
//! or terminal control sequences.

/// Whether `c` must not reach a terminal as is: control characters (line
/// breaks, escape, C1 controls) and the bidirectional overrides that
/// reorder what is displayed.
fn unsafe_char(c: char) -> bool {
    c.is_control() || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// `s` with every unsafe character written as a Rust escape (`\n`, `\u{1b}`).
pub fn escape(s: &str) -> String {
    escape_but(s, false)
}

/// [`escape`], keeping line breaks: for multi-line messages of the binary
/// itself, whose file-supplied parts are short names.
pub fn escape_keep_lines(s: &str) -> String {
    escape_but(s, true)
}

fn escape_but(s: &str, keep_lines: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if unsafe_char(c) && !(keep_lines && c == '\n') {
            out.extend(c.escape_debug());
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_and_bidi_overrides_are_escaped() {
        assert_eq!(
            escape("cpu\nloadable by this binary: yes\x1b[2J\r"),
            "cpu\\nloadable by this binary: yes\\u{1b}[2J\\r"
        );
        assert_eq!(escape("a\u{202e}b\u{9b}c"), "a\\u{202e}b\\u{9b}c");
        assert_eq!(escape("plain é ✓"), "plain é ✓");
        assert_eq!(escape_keep_lines("a\nb\x1b"), "a\nb\\u{1b}");
    }
}
