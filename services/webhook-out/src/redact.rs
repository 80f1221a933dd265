//! Credentials inside a webhook URL (`https://user:pass@host/…`) are a
//! secret like any other: logs and API listings show the URL with them
//! replaced, while deliveries still use the stored URL as written.

/// `raw` with its user name and password replaced by `***`; text that is not
/// a URL is returned as-is up to any `@` before the path, which is hidden.
pub fn url(raw: &str) -> String {
    match url::Url::parse(raw.trim()) {
        Ok(mut u) => {
            if u.username().is_empty() && u.password().is_none() {
                return u.to_string();
            }
            let _ = u.set_username("***");
            if u.password().is_some() {
                let _ = u.set_password(Some("***"));
            }
            u.to_string()
        }
        Err(_) => hide_userinfo(raw),
    }
}

/// For text the URL parser refused: hides whatever sits between `//` and
/// the last `@` of the authority.
fn hide_userinfo(raw: &str) -> String {
    let start = raw.find("//").map_or(0, |i| i + 2);
    let authority_end = raw[start..]
        .find(['/', '?', '#'])
        .map_or(raw.len(), |i| start + i);
    match raw[start..authority_end].rfind('@') {
        Some(at) => format!("{}***{}", &raw[..start], &raw[start + at..]),
        None => raw.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::url;

    #[test]
    fn credentials_are_hidden_and_the_rest_kept() {
        assert_eq!(
            url("https://crm:hunter2@crm.example/hook?a=1"),
            "https://***:***@crm.example/hook?a=1"
        );
        assert_eq!(
            url("https://token@crm.example/"),
            "https://***@crm.example/"
        );
        assert_eq!(url("https://crm.example/hook"), "https://crm.example/hook");
        let odd = url("ftp://u:hunter2@bad host/");
        assert!(!odd.contains("hunter2"), "{odd}");
    }
}
