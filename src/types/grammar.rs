//! The distribution reference grammar (`distribution/reference`, as containerd and registries read
//! it), written once: registry hosts, repository path components and tags. [`super::ImageRef`] and
//! [`super::RegistryPrefix`] are built on it; nothing else parses these parts.

/// The longest repository name accepted (distribution's `NameTotalLengthMax`; registries answer
/// 500 beyond it).
pub const MAX_REPOSITORY_LEN: usize = 255;

/// The longest tag accepted.
pub const MAX_TAG_LEN: usize = 128;

/// What is wrong with a reference, a host or a repository path.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReferenceError {
    /// Nothing given.
    #[error("empty")]
    Empty,
    /// White space inside.
    #[error("contains white space")]
    WhiteSpace,
    /// A scheme (`https://`) where only a host and path belong.
    #[error("give HOST[:PORT][/PREFIX] without a scheme")]
    Scheme,
    /// No registry host.
    #[error("a registry host is missing")]
    NoHost,
    /// Not a host name or `[IPv6]` address.
    #[error("`{0}` is not a registry host[:port]")]
    Host(String),
    /// A port that is not 1 to 65535.
    #[error("`{0}`: the port must be a number from 1 to 65535")]
    Port(String),
    /// No repository.
    #[error("empty repository")]
    EmptyRepository,
    /// More than [`MAX_REPOSITORY_LEN`] characters.
    #[error("the repository is longer than {MAX_REPOSITORY_LEN} characters")]
    TooLong,
    /// Upper-case letters in the repository.
    #[error("the repository must be lower-case")]
    UpperCase,
    /// `a//b`, `a/`, `/a`.
    #[error("empty path component in the repository")]
    EmptyComponent,
    /// A path component outside the grammar.
    #[error("`{0}` is not a valid path component (lower-case [a-z0-9], separated by . _ __ or -)")]
    Component(String),
    /// `name:`.
    #[error("empty tag")]
    EmptyTag,
    /// A tag outside the grammar.
    #[error("`{0}` is not a valid tag ([A-Za-z0-9_][A-Za-z0-9_.-]{{0,127}})")]
    Tag(String),
    /// The digest after `@`.
    #[error(transparent)]
    Digest(#[from] super::DigestError),
}

/// `HOST[:PORT]`: dot-separated DNS labels or a bracketed IPv6 address, with an optional port from 1
/// to 65535.
pub fn check_host(host: &str) -> Result<(), ReferenceError> {
    let bad = || Err(ReferenceError::Host(host.to_string()));
    let (name, port) = if let Some(rest) = host.strip_prefix('[') {
        let Some((addr, after)) = rest.split_once(']') else {
            return bad();
        };
        if addr.is_empty() || !addr.bytes().all(|b| b.is_ascii_hexdigit() || b == b':') {
            return bad();
        }
        match after {
            "" => ("", None),
            p => match p.strip_prefix(':') {
                Some(port) => ("", Some(port)),
                None => return bad(),
            },
        }
    } else {
        match host.split_once(':') {
            Some((name, port)) => (name, Some(port)),
            None => (host, None),
        }
    };
    let label_ok = |l: &str| {
        let b = l.as_bytes();
        !b.is_empty()
            && b[0].is_ascii_alphanumeric()
            && b[b.len() - 1].is_ascii_alphanumeric()
            && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-')
    };
    if !host.starts_with('[') && !name.split('.').all(label_ok) {
        return bad();
    }
    if let Some(port) = port
        && (port.is_empty()
            || !port.bytes().all(|b| b.is_ascii_digit())
            || port.parse::<u16>().map_or(true, |p| p == 0))
    {
        return Err(ReferenceError::Port(host.to_string()));
    }
    Ok(())
}

/// Whether `part` is one repository path component: `[a-z0-9]+` joined by `.`, `_`, `__` or any
/// number of `-`.
pub fn valid_component(part: &str) -> bool {
    let b = part.as_bytes();
    let alnum = |c: &u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    if b.is_empty() || !alnum(&b[0]) || !alnum(&b[b.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        if alnum(&b[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && !alnum(&b[i]) {
            i += 1;
        }
        let sep = &b[start..i];
        if !(sep == b"." || sep == b"_" || sep == b"__" || sep.iter().all(|c| *c == b'-')) {
            return false;
        }
    }
    true
}

/// Lower-case path components separated by `/`, at most [`MAX_REPOSITORY_LEN`] characters.
pub fn check_repository(repository: &str) -> Result<(), ReferenceError> {
    if repository.is_empty() {
        return Err(ReferenceError::EmptyRepository);
    }
    if repository.len() > MAX_REPOSITORY_LEN {
        return Err(ReferenceError::TooLong);
    }
    if repository.bytes().any(|b| b.is_ascii_uppercase()) {
        return Err(ReferenceError::UpperCase);
    }
    check_path(repository)
}

/// Path components separated by `/` (no length limit: a prefix of a repository).
pub fn check_path(path: &str) -> Result<(), ReferenceError> {
    for part in path.split('/') {
        if part.is_empty() {
            return Err(ReferenceError::EmptyComponent);
        }
        if !valid_component(part) {
            return Err(ReferenceError::Component(part.to_string()));
        }
    }
    Ok(())
}

/// `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`.
pub fn check_tag(tag: &str) -> Result<(), ReferenceError> {
    let b = tag.as_bytes();
    if b.is_empty() {
        return Err(ReferenceError::EmptyTag);
    }
    let ok = b.len() <= MAX_TAG_LEN
        && (b[0].is_ascii_alphanumeric() || b[0] == b'_')
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || b"_.-".contains(c));
    if ok {
        Ok(())
    } else {
        Err(ReferenceError::Tag(tag.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts() {
        for ok in [
            "quay.io",
            "127.0.0.1:5000",
            "localhost",
            "[::1]:5000",
            "a-b.c",
        ] {
            assert!(check_host(ok).is_ok(), "{ok}");
        }
        for bad in [
            "bad_host.io",
            "-a.io",
            "[::1",
            "a:",
            "a:0",
            "a:70000",
            "a:5x",
        ] {
            assert!(check_host(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn components_and_tags() {
        for ok in ["a", "a.b", "a__b", "a---b", "registry.k8s.io", "x0"] {
            assert!(valid_component(ok), "{ok}");
        }
        for bad in [
            "",
            "A",
            "-a",
            "a-",
            "a..b",
            "a___b",
            "127.0.0.1:5000",
            "a._b",
        ] {
            assert!(!valid_component(bad), "{bad}");
        }
        assert!(check_tag("v1.13.9").is_ok() && check_tag("_x").is_ok());
        assert!(check_tag(".x").is_err() && check_tag("").is_err());
        assert!(check_tag(&"t".repeat(129)).is_err());
    }
}
