//! The one rule for URLs that arrive in events (a page view's `url`): http
//! or https only.
//!
//! The CRM shows these URLs to people and links them; a `javascript:`,
//! `data:` or `file:` URL there would run or open something in the reader's
//! browser. A relative URL (`/news/s?utm_campaign=…`) is kept: it can only
//! resolve against the site's own base, which is http or https.

/// Why a URL field was refused (the `Display` text is the client's message,
/// prefixed by the field name).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum WebUrlError {
    /// An absolute URL with another scheme.
    #[error("must be an http or https URL")]
    Scheme,
    /// Not a URL at all (bad host, bad port, …).
    #[error("is not a valid URL")]
    Invalid,
}

/// Checks an absolute or relative URL.
pub fn check(url: &str) -> Result<(), WebUrlError> {
    match url::Url::parse(url) {
        Ok(parsed) if matches!(parsed.scheme(), "http" | "https") => Ok(()),
        Ok(_) => Err(WebUrlError::Scheme),
        Err(url::ParseError::RelativeUrlWithoutBase) => Ok(()),
        Err(_) => Err(WebUrlError::Invalid),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_https_and_relative_pass() {
        for ok in [
            "https://rc.example/news/s?utm_campaign=x",
            "HTTP://rc.example",
            "/news/s?utm_campaign=spring",
            "news/s",
            "//rc.example/x",
        ] {
            assert_eq!(check(ok), Ok(()), "{ok}");
        }
    }

    #[test]
    fn other_schemes_are_refused_however_disguised() {
        for bad in [
            "javascript:alert(1)",
            " javascript:alert(1)",
            "java\tscript:alert(1)",
            "JaVaScRiPt:alert(1)",
            "data:text/html,<script>alert(1)</script>",
            "file:///etc/passwd",
            "ftp://rc.example/x",
            "vbscript:msgbox(1)",
        ] {
            assert_eq!(check(bad), Err(WebUrlError::Scheme), "{bad:?}");
        }
        assert_eq!(check("http://exa mple.com/"), Err(WebUrlError::Invalid));
    }
}
