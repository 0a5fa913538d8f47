//! Registry scopes as notation validates them (distribution's domain and repository grammar):
//! a registry host with an optional port, then lowercase path components; no tag, digest or
//! wildcard. Written out here because it is a few lines of grammar, and a regex crate for it
//! would cost more than it saves.

/// notation's `validateRegistryScopeFormat`, with its reason on failure.
pub fn check(scope: &str) -> Result<(), String> {
    if valid(scope) {
        Ok(())
    } else if scope.len() > 1 && scope.contains('*') {
        Err(format!(
            "registry scope '{scope}' has a wildcard: notation scopes are exact repositories (a '*' may only stand alone)"
        ))
    } else {
        Err(format!(
            "registry scope '{scope}' is not a fully qualified repository such as registry.example/team/app (no scheme, tag or digest)"
        ))
    }
}

/// Whether `scope` is a fully qualified repository notation accepts as a registry scope.
pub fn valid(scope: &str) -> bool {
    let Some((registry, repository)) = scope.split_once('/') else {
        return false;
    };
    let (host, port) = registry.split_once(':').unwrap_or((registry, ""));
    let host_ok = !host.is_empty()
        && host.split('.').all(|label| {
            !label.is_empty()
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        });
    let port_ok =
        registry.contains(':') != port.is_empty() && port.bytes().all(|b| b.is_ascii_digit());
    host_ok && port_ok && repository.split('/').all(path_component)
}

/// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`
fn path_component(c: &str) -> bool {
    let b = c.as_bytes();
    let alnum = |x: u8| x.is_ascii_lowercase() || x.is_ascii_digit();
    let mut i = 0;
    loop {
        let start = i;
        while i < b.len() && alnum(b[i]) {
            i += 1;
        }
        if i == start {
            return false;
        }
        if i == b.len() {
            return true;
        }
        let sep = i;
        while i < b.len() && !alnum(b[i]) {
            i += 1;
        }
        match &c[sep..i] {
            "." | "_" | "__" => {}
            s if s.bytes().all(|x| x == b'-') => {}
            _ => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::valid;

    #[test]
    fn scopes_follow_the_reference_grammar() {
        for ok in [
            "registry.example/app",
            "registry.example:5000/team/app",
            "localhost/a",
            "local/my-layout",
            "r.example/a_b/c__d/e--f/g.h",
            "R.Example/app",
        ] {
            assert!(valid(ok), "{ok}");
        }
        for bad in [
            "app",
            "registry.example/",
            "registry.example/App",
            "registry.example/team/*",
            "*",
            "registry.example/app:tag",
            "registry.example/app@sha256:ab",
            "https://registry.example/app",
            "registry.example:/app",
            "-r.example/app",
            "r.example/a..b",
            "r.example/a___b",
            "r.example/a/",
        ] {
            assert!(!valid(bad), "{bad}");
        }
    }
}
