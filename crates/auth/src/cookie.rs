//! Finding Better Auth's session cookie in a `Cookie` request header.

/// Better Auth's session cookie names with its default prefix: the `__Secure-` one it sets
/// on HTTPS deployments first, then the plain one.
pub const DEFAULT_SESSION_COOKIE_NAMES: [&str; 2] = [
    "__Secure-better-auth.session_token",
    "better-auth.session_token",
];

/// The value of the first of `names` present in a `Cookie` header, as sent (still
/// URL-encoded; [`crate::Authenticator::authenticate`] decodes it). Names are tried in the
/// given order, so with both cookies present the first name wins; within one name the
/// first occurrence wins. `None` when no such cookie has a non-empty value.
///
/// ```
/// use auth::{DEFAULT_SESSION_COOKIE_NAMES, session_cookie_from_header};
/// let header = "theme=dark; better-auth.session_token=abc.def%3D";
/// assert_eq!(
///     session_cookie_from_header(header, &DEFAULT_SESSION_COOKIE_NAMES).as_deref(),
///     Some("abc.def%3D")
/// );
/// ```
pub fn session_cookie_from_header<S: AsRef<str>>(
    cookie_header: &str,
    names: &[S],
) -> Option<String> {
    names.iter().find_map(|name| {
        cookie_header.split(';').find_map(|pair| {
            let (key, value) = pair.split_once('=')?;
            if key.trim() != name.as_ref() {
                return None;
            }
            let value = value.trim();
            let value = value
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .unwrap_or(value);
            (!value.is_empty()).then(|| value.to_owned())
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn either_default_name_is_found() {
        for name in DEFAULT_SESSION_COOKIE_NAMES {
            let header = format!("a=1; {name}=tok.sig%3D; b=2");
            assert_eq!(
                session_cookie_from_header(&header, &DEFAULT_SESSION_COOKIE_NAMES).as_deref(),
                Some("tok.sig%3D")
            );
        }
    }

    #[test]
    fn the_first_configured_name_wins_when_both_are_present() {
        let header = "better-auth.session_token=plain; __Secure-better-auth.session_token=secure";
        assert_eq!(
            session_cookie_from_header(header, &DEFAULT_SESSION_COOKIE_NAMES).as_deref(),
            Some("secure")
        );
    }

    #[test]
    fn custom_names_replace_the_defaults() {
        let header = "better-auth.session_token=default; my_app.session_token=custom";
        assert_eq!(
            session_cookie_from_header(header, &["my_app.session_token".to_owned()]).as_deref(),
            Some("custom")
        );
    }

    #[test]
    fn quoted_values_are_unquoted() {
        let header = "better-auth.session_token=\"tok.sig\"";
        assert_eq!(
            session_cookie_from_header(header, &DEFAULT_SESSION_COOKIE_NAMES).as_deref(),
            Some("tok.sig")
        );
    }

    #[test]
    fn headers_without_the_cookie_yield_nothing() {
        for header in [
            "",
            ";;;",
            "better-auth.session_token",
            "better-auth.session_token=",
            "xbetter-auth.session_token=v",
            "better-auth.session_token_other=v",
            "better-auth.session_data=v",
        ] {
            assert_eq!(
                session_cookie_from_header(header, &DEFAULT_SESSION_COOKIE_NAMES),
                None,
                "{header:?}"
            );
        }
    }
}
