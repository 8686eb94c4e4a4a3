//! The Redis server that holds the rate limits shared across replicas
//! (`--redis-url` / `LLMO_REDIS_URL` / config `redis_url`): `redis://`,
//! `rediss://` (TLS) or `redis+unix://` / `unix://` (a socket), as the
//! `redis` crate reads them. Parsed once, without connecting; a password is
//! a secret: [`RedisUrl`]'s `Display` (what logs, `/ready`, doctor and
//! errors show) masks it, and only [`RedisUrl::expose`] gives the whole URL,
//! to the client.
use std::fmt;

/// The schemes a `redis_url` may carry, as said in errors.
pub const SUPPORTED: &str =
    "`redis://[:PASSWORD@]HOST[:PORT][/DB]`, `rediss://` (TLS) or `redis+unix:///PATH/TO/SOCKET`";

/// A Redis connection URL.
#[derive(Clone, PartialEq, Eq)]
pub struct RedisUrl(String);

impl RedisUrl {
    /// Checks the scheme and the URL's shape (what the client would refuse
    /// at connect time is refused here), never connecting.
    pub fn parse(s: &str) -> Result<RedisUrl, String> {
        let shown = super::location::mask_url(s);
        let Some((scheme, _)) = s.split_once("://") else {
            return Err(format!("`{shown}` is not a URL: write {SUPPORTED}"));
        };
        let scheme = scheme.to_ascii_lowercase();
        if !matches!(
            scheme.as_str(),
            "redis" | "rediss" | "redis+unix" | "unix" | "valkey" | "valkeys"
        ) {
            return Err(format!(
                "unsupported Redis URL scheme `{scheme}://`: write {SUPPORTED}"
            ));
        }
        match redis::Client::open(s) {
            Ok(_) => Ok(RedisUrl(s.to_string())),
            // The client's own words may repeat the URL: not shown.
            Err(_) => Err(format!(
                "`{shown}` is not a valid Redis URL: write {SUPPORTED}"
            )),
        }
    }

    /// The whole URL, password included: only for the client.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RedisUrl {
    /// The URL with its password replaced by `***`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&super::location::mask_url(&self.0))
    }
}

impl fmt::Debug for RedisUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RedisUrl({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redis_urls_parse_and_show_masked() {
        for ok in [
            "redis://127.0.0.1:6379",
            "redis://:s3cret@cache.internal:6380/2",
            "rediss://user:s3cret@cache.internal",
            "redis+unix:///run/redis.sock",
        ] {
            let u = RedisUrl::parse(ok).unwrap();
            assert_eq!(u.expose(), ok);
            assert!(!u.to_string().contains("s3cret"), "{u}");
            assert!(!format!("{u:?}").contains("s3cret"));
        }
        assert_eq!(
            RedisUrl::parse("redis://:s3cret@h:1").unwrap().to_string(),
            "redis://:***@h:1"
        );
        let e = RedisUrl::parse("http://:s3cret@h").unwrap_err();
        assert!(e.contains("unsupported Redis URL scheme `http://`"), "{e}");
        let e = RedisUrl::parse("cache.internal:6379").unwrap_err();
        assert!(e.contains("is not a URL"), "{e}");
        let e = RedisUrl::parse("redis://:s3cret@h:notaport").unwrap_err();
        assert!(
            e.contains("not a valid Redis URL") && !e.contains("s3cret"),
            "{e}"
        );
    }
}
