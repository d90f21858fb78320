//! Errors that point at a file, a line and a field.

use std::fmt;

/// One problem in one file, at one place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// Path as the user should see it.
    pub file: String,
    /// 1-based line (0 when unknown).
    pub line: u32,
    /// 1-based column (0 when unknown).
    pub column: u32,
    /// The field path, e.g. `versions[2].requires[0].range`, when known.
    pub field: Option<String>,
    /// What is wrong.
    pub message: String,
    /// What to do about it.
    pub hint: Option<String>,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if self.line > 0 {
            write!(f, ":{}", self.line)?;
            if self.column > 0 {
                write!(f, ":{}", self.column)?;
            }
        }
        write!(f, ": ")?;
        if let Some(field) = &self.field {
            write!(f, "{field}: ")?;
        }
        write!(f, "{}", self.message)?;
        if let Some(hint) = &self.hint {
            write!(f, "\n  hint: {hint}")?;
        }
        Ok(())
    }
}

/// The catalog could not be loaded: every problem found, each with its place.
#[derive(Debug, Clone, thiserror::Error)]
pub struct LoadError {
    /// The problems, in file order.
    pub diagnostics: Vec<Diagnostic>,
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.diagnostics.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{d}")?;
        }
        Ok(())
    }
}

/// The field path (`versions[2].requires[0].range`) of the node at `line`:`column` in a block-style
/// YAML document, found from indentation. Returns `None` when the place is outside any mapping.
pub fn field_path_at(text: &str, line: u32, column: u32) -> Option<String> {
    let lines: Vec<&str> = text.lines().collect();
    let idx = (line as usize).checked_sub(1)?;
    if idx >= lines.len() {
        return None;
    }
    // Segments from the innermost outwards.
    let mut segments: Vec<String> = Vec::new();
    // The column (0-based) the current node starts at; anything at a smaller indent is a parent.
    let mut limit = column.saturating_sub(1) as usize;
    let first = lines[idx];
    // The node at the error itself: a key on this line at or before the column.
    let (indent, content) = split_indent(first);
    let (key_indent, key_content) = strip_dash(indent, content);
    if let Some(key) = key_of(key_content) {
        if key_indent <= limit {
            segments.push(key.to_string());
            limit = key_indent;
            if key_indent > indent {
                // `- key:` — this line also starts a list item.
                segments.push(format!("[{}]", item_index(&lines, idx, indent)));
                limit = indent;
            }
        }
    } else if key_indent > indent {
        segments.push(format!("[{}]", item_index(&lines, idx, indent)));
        limit = indent;
    }
    for i in (0..idx).rev() {
        let l = lines[i];
        if l.trim().is_empty() || l.trim_start().starts_with('#') {
            continue;
        }
        let (indent, content) = split_indent(l);
        if indent >= limit {
            continue;
        }
        let (key_indent, key_content) = strip_dash(indent, content);
        if key_indent > indent {
            // a list item line: `- key: …` or `- value`
            if key_indent < limit
                && let Some(key) = key_of(key_content)
            {
                segments.push(key.to_string());
            }
            segments.push(format!("[{}]", item_index(&lines, i, indent)));
            limit = indent;
        } else if let Some(key) = key_of(content) {
            segments.push(key.to_string());
            limit = indent;
        }
        if limit == 0 {
            break;
        }
    }
    if segments.is_empty() {
        return None;
    }
    segments.reverse();
    let mut out = String::new();
    for s in segments {
        if !s.starts_with('[') && !out.is_empty() {
            out.push('.');
        }
        out.push_str(&s);
    }
    Some(out)
}

fn split_indent(l: &str) -> (usize, &str) {
    let trimmed = l.trim_start_matches(' ');
    (l.len() - trimmed.len(), trimmed)
}

fn strip_dash(indent: usize, content: &str) -> (usize, &str) {
    if let Some(rest) = content.strip_prefix("- ") {
        let inner = rest.trim_start_matches(' ');
        (indent + 2 + (rest.len() - inner.len()), inner)
    } else if content == "-" {
        (indent + 2, "")
    } else {
        (indent, content)
    }
}

fn key_of(content: &str) -> Option<&str> {
    // a YAML key ends in `: ` or at the line's end (`image:2.0` is a plain value, not a key)
    let end = content
        .find(": ")
        .or_else(|| content.find(":\t"))
        .or_else(|| content.ends_with(':').then(|| content.len() - 1))?;
    let key = &content[..end];
    let key = key.trim();
    if key.is_empty() || key.contains(' ') || key.starts_with(['"', '\'', '{', '[', '#']) {
        return None;
    }
    Some(key)
}

/// Index of the list item that starts on line `idx` with its dash at `indent`.
fn item_index(lines: &[&str], idx: usize, indent: usize) -> usize {
    let mut n = 0;
    for l in lines[..idx].iter().rev() {
        if l.trim().is_empty() || l.trim_start().starts_with('#') {
            continue;
        }
        let (i, content) = split_indent(l);
        if i < indent {
            break;
        }
        if i == indent {
            if content.starts_with("- ") || content == "-" {
                n += 1;
            } else {
                break;
            }
        }
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = "\
apiVersion: bundle/v1
name: x
versions:
  - version: 1.2.3
    requires:
      - name: kubernetes
        range: \">=1.0.0\"
  - version: 1.3.0
    lifecycle:
      released: 2024-13-01
    requires:
      - name: a
        range: x
      - name: b
        rnge: x
";

    #[test]
    fn paths_from_indentation() {
        assert_eq!(field_path_at(DOC, 2, 7).as_deref(), Some("name"));
        assert_eq!(
            field_path_at(DOC, 7, 16).as_deref(),
            Some("versions[0].requires[0].range")
        );
        assert_eq!(
            field_path_at(DOC, 10, 17).as_deref(),
            Some("versions[1].lifecycle.released")
        );
        assert_eq!(
            field_path_at(DOC, 15, 9).as_deref(),
            Some("versions[1].requires[1].rnge")
        );
        assert_eq!(
            field_path_at(DOC, 8, 5).as_deref(),
            Some("versions[1].version")
        );
    }
}
