//! Every environment variable gyre reads, in one place. Precedence everywhere: command-line
//! flag > environment variable > `gyre.toml` > default.

/// Metadata store URL (`sqlite://PATH` or `postgres://…`); overrides `[store] url`.
pub const STORE_URL: &str = "GYRE_STORE_URL";

/// Where objects live (`s3://BUCKET/PREFIX`); overrides `[store] objects`.
pub const OBJECTS_URL: &str = "GYRE_OBJECTS_URL";
/// The bucket `gyre push`/`gyre pull` exchange objects with; overrides `[store] remote`.
pub const REMOTE_URL: &str = "GYRE_REMOTE_URL";

/// Seconds a lease (triggers, monitoring, a pipeline's run) lasts unless renewed; default 15.
pub const LEASE_SECONDS: &str = "GYRE_LEASE_SECONDS";

/// Who is acting, recorded on every change; defaults to `USER`, then `LOGNAME`.
pub const USER: &str = "GYRE_USER";
/// An API token the CLI acts as where a role must be shown (`gyre approve`).
pub const TOKEN: &str = "GYRE_TOKEN";

/// The acting user's name for audit records made on this machine (the server records the
/// token's name instead): `GYRE_USER`, `USER`, `LOGNAME`, else the process's numeric user id
/// (`uid:1000`), which a service manager's environment always has even when the names are
/// unset.
pub fn actor() -> String {
    [USER, "USER", "LOGNAME"]
        .iter()
        .find_map(|v| std::env::var(v).ok().filter(|s| !s.is_empty()))
        .unwrap_or_else(|| {
            use std::os::unix::fs::MetadataExt;
            std::fs::metadata("/proc/self")
                .map(|m| format!("uid:{}", m.uid()))
                .unwrap_or_else(|_| "unknown".into())
        })
}

/// Shows a store URL without its password, for messages and logs.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            match creds.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..s + 3], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn passwords_never_show() {
        assert_eq!(
            super::redact_url("postgres://gyre:s3cret@db:5432/gyre"),
            "postgres://gyre:***@db:5432/gyre"
        );
        assert_eq!(
            super::redact_url("sqlite:///x/.gyre/gyre.db"),
            "sqlite:///x/.gyre/gyre.db"
        );
    }
}
