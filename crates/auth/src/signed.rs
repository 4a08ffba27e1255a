//! Better Auth's signed session tokens: `<token>.<signature>`, where the signature is the
//! standard base64 (with padding, 44 characters) of HMAC-SHA256 over the token, keyed
//! with the UTF-8 bytes of the Better Auth secret. Cookies carry the value URL-encoded;
//! the `bearer` plugin hands it out decoded. Both are accepted.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use crate::{AuthError, Secret};

/// Length of the base64 signature Better Auth appends (32 bytes, padded).
const SIGNATURE_LEN: usize = 44;

/// Longest session token accepted before any lookup, in bytes. Better Auth's are 32.
const MAX_TOKEN_LEN: usize = 255;

/// The token of a signed value whose signature is valid, or why it is not.
///
/// The signature is checked in constant time, and before anything else looks at the
/// token, so forged values never reach the session store.
pub(crate) fn verify_signed(value: &str, key: &SigningKey) -> Result<String, AuthError> {
    let decoded;
    let value = if value.contains('%') {
        decoded = percent_decode(value).ok_or(AuthError::Invalid("malformed session token"))?;
        decoded.as_str()
    } else {
        value
    };
    let (token, signature) = value
        .rsplit_once('.')
        .ok_or(AuthError::Invalid("session token is not signed"))?;
    if !is_plausible_token(token) {
        return Err(AuthError::Invalid("malformed session token"));
    }
    if signature.len() != SIGNATURE_LEN || !signature.ends_with('=') {
        return Err(AuthError::Invalid("malformed session token signature"));
    }
    let signature = STANDARD
        .decode(signature)
        .map_err(|_| AuthError::Invalid("malformed session token signature"))?;
    if !bool::from(key.sign(token).ct_eq(signature.as_slice())) {
        return Err(AuthError::Invalid("bad session token signature"));
    }
    Ok(token.to_owned())
}

/// Whether `token` may be a session token at all: 1 to 255 visible ASCII characters. Checked
/// before a raw token is looked up, so garbage never reaches the store.
pub(crate) fn is_plausible_token(token: &str) -> bool {
    !token.is_empty() && token.len() <= MAX_TOKEN_LEN && token.bytes().all(|b| b.is_ascii_graphic())
}

/// The HMAC-SHA256 key made from the Better Auth secret, prepared once.
#[derive(Clone)]
pub(crate) struct SigningKey(Hmac<Sha256>);

impl SigningKey {
    /// The key of a non-empty secret; `None` for an empty one.
    pub(crate) fn new(secret: &Secret) -> Option<Self> {
        if secret.expose().is_empty() {
            return None;
        }
        <Hmac<Sha256> as Mac>::new_from_slice(secret.expose().as_bytes())
            .ok()
            .map(Self)
    }

    /// HMAC-SHA256 of `token`.
    fn sign(&self, token: &str) -> [u8; 32] {
        let mut mac = self.0.clone();
        mac.update(token.as_bytes());
        mac.finalize().into_bytes().into()
    }
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SigningKey(<redacted>)")
    }
}

/// Decodes `%XX` escapes (as JavaScript's `decodeURIComponent` does; `+` stays `+`).
/// `None` for a broken escape or a result that is not UTF-8.
pub(crate) fn percent_decode(input: &str) -> Option<String> {
    let bytes = input.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3)?;
            let hex = std::str::from_utf8(hex).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Signs `token` as Better Auth does (tests and tools).
#[cfg(test)]
pub(crate) fn sign_token(token: &str, secret: &Secret) -> String {
    let key = SigningKey::new(secret).expect("a non-empty secret");
    format!("{token}.{}", STANDARD.encode(key.sign(token)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret() -> Secret {
        Secret::new("better-auth-secret-for-tests-0123456789")
    }

    fn key() -> SigningKey {
        SigningKey::new(&secret()).expect("non-empty")
    }

    const TOKEN: &str = "BzxIAPVQbtx9R9EbEJXjYCINzvTJwwiI";

    #[test]
    fn a_value_signed_with_the_secret_yields_its_token() {
        let signed = sign_token(TOKEN, &secret());
        assert_eq!(verify_signed(&signed, &key()).expect("valid"), TOKEN);
    }

    #[test]
    fn a_url_encoded_value_is_accepted_too() {
        let signed = sign_token(TOKEN, &secret())
            .replace('=', "%3D")
            .replace('+', "%2B")
            .replace('/', "%2F");
        assert_eq!(verify_signed(&signed, &key()).expect("valid"), TOKEN);
    }

    #[test]
    fn a_real_better_auth_cookie_verifies_with_its_secret() {
        let secret = Secret::new(include_str!("../testdata/better-auth-1.7.25/secret.txt"));
        let key = SigningKey::new(&secret).expect("non-empty");
        let set_cookie = include_str!("../testdata/better-auth-1.7.25/set-cookie.txt");
        let value = set_cookie
            .split(';')
            .next()
            .and_then(|pair| pair.split_once('='))
            .map(|(_, value)| value)
            .expect("a name=value pair");
        assert_eq!(
            verify_signed(value, &key).expect("valid"),
            "BzxIAPVQbtx9R9EbEJXjYCINzvTJwwiI"
        );
        let bearer = include_str!("../testdata/better-auth-1.7.25/set-auth-token.txt");
        assert_eq!(
            verify_signed(bearer, &key).expect("valid"),
            "BzxIAPVQbtx9R9EbEJXjYCINzvTJwwiI"
        );
    }

    #[test]
    fn a_tampered_signature_is_rejected() {
        let signed = sign_token(TOKEN, &secret());
        let (token, signature) = signed.rsplit_once('.').expect("signed");
        let mut chars: Vec<char> = signature.chars().collect();
        chars[3] = if chars[3] == 'A' { 'B' } else { 'A' };
        let tampered = format!("{token}.{}", chars.into_iter().collect::<String>());
        assert!(matches!(
            verify_signed(&tampered, &key()),
            Err(AuthError::Invalid(_))
        ));
    }

    #[test]
    fn a_tampered_token_is_rejected() {
        let signed = sign_token(TOKEN, &secret());
        let tampered = signed.replacen('B', "C", 1);
        assert!(matches!(
            verify_signed(&tampered, &key()),
            Err(AuthError::Invalid(_))
        ));
    }

    #[test]
    fn a_value_signed_with_another_secret_is_rejected() {
        let signed = sign_token(TOKEN, &Secret::new("another-secret-0123456789abcdef"));
        assert!(matches!(
            verify_signed(&signed, &key()),
            Err(AuthError::Invalid(_))
        ));
    }

    #[test]
    fn an_empty_secret_makes_no_key() {
        assert!(SigningKey::new(&Secret::new("")).is_none());
    }

    #[test]
    fn malformed_values_are_rejected() {
        let good = sign_token(TOKEN, &secret());
        let signature = good.rsplit_once('.').map(|(_, s)| s).expect("signed");
        let cases = [
            String::new(),
            ".".to_owned(),
            TOKEN.to_owned(),
            format!("{TOKEN}."),
            format!(".{signature}"),
            format!("{TOKEN}.{}", &signature[..43]),
            format!("{TOKEN}.{}A", &signature[..43]),
            format!("{TOKEN}.{}", "!".repeat(43) + "="),
            format!("{TOKEN}%.{signature}"),
            format!("{TOKEN}%zz.{signature}"),
            format!("{TOKEN}%ff.{signature}"),
            format!("to ken.{signature}"),
            format!("{}.{signature}", "a".repeat(256)),
        ];
        for case in cases {
            assert!(
                matches!(verify_signed(&case, &key()), Err(AuthError::Invalid(_))),
                "{case:?} was accepted"
            );
        }
    }

    #[test]
    fn percent_decoding_follows_decode_uri_component() {
        assert_eq!(percent_decode("a%3Db%2Bc+d").as_deref(), Some("a=b+c+d"));
        assert_eq!(percent_decode("%E2%82%AC").as_deref(), Some("€"));
        assert_eq!(percent_decode("%4"), None);
        assert_eq!(percent_decode("%C3"), None);
    }
}
