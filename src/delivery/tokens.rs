//! Signed tokens for tracking links: an open pixel, a click redirect, the unsubscribe page and
//! "view in browser". A token names only a delivery id, what it is for and a link's index —
//! no personal data — and an HMAC-SHA256 (truncated to 128 bits) proves Nudge made it.

use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;

const ENGINE: base64::engine::GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;
const TAG_BYTES: usize = 16;

/// What a token opens.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenPurpose {
    Open,
    /// The link with this index in the delivery's links.
    Click(u32),
    Unsubscribe,
    View,
}

/// A verified token.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Token {
    pub delivery_id: i64,
    pub purpose: TokenPurpose,
}

/// Signs and checks tokens with one secret.
#[derive(Clone)]
pub struct TokenSigner {
    key: Vec<u8>,
}

impl TokenSigner {
    pub fn new(key: impl Into<Vec<u8>>) -> Self {
        Self { key: key.into() }
    }

    /// The token for `purpose` of delivery `delivery_id`.
    pub fn sign(&self, delivery_id: i64, purpose: TokenPurpose) -> String {
        let payload = match purpose {
            TokenPurpose::Open => format!("o.{delivery_id}"),
            TokenPurpose::Click(index) => format!("c.{delivery_id}.{index}"),
            TokenPurpose::Unsubscribe => format!("u.{delivery_id}"),
            TokenPurpose::View => format!("v.{delivery_id}"),
        };
        self.seal(&payload)
    }

    /// `payload` and its tag, as a token.
    fn seal(&self, payload: &str) -> String {
        let tag = self.tag(payload.as_bytes());
        format!("{}.{}", ENGINE.encode(payload), ENGINE.encode(tag))
    }

    /// The token's meaning, or `None` when it is malformed or was not signed with this key.
    pub fn verify(&self, token: &str) -> Option<Token> {
        let text = self.open(token)?;
        let mut parts = text.split('.');
        let kind = parts.next()?;
        let delivery_id = parts.next()?.parse().ok()?;
        let purpose = match (kind, parts.next()) {
            ("o", None) => TokenPurpose::Open,
            ("c", Some(index)) => TokenPurpose::Click(index.parse().ok()?),
            ("u", None) => TokenPurpose::Unsubscribe,
            ("v", None) => TokenPurpose::View,
            _ => return None,
        };
        if parts.next().is_some() {
            return None;
        }
        Some(Token {
            delivery_id,
            purpose,
        })
    }

    /// The token of predicted cart `cart_id`'s page, valid until `expires_at_ms`.
    pub fn sign_cart(&self, cart_id: i64, expires_at_ms: i64) -> String {
        self.seal(&format!("r.{cart_id}.{}", expires_at_ms.div_euclid(1000)))
    }

    /// The address of predicted cart `cart_id`'s page (`{public_url}/r/{token}`), working
    /// until `expires_at_ms`.
    pub fn cart_page(&self, public_url: &str, cart_id: i64, expires_at_ms: i64) -> String {
        format!("{public_url}/r/{}", self.sign_cart(cart_id, expires_at_ms))
    }

    /// The cart a page token opens, or `None` when it is malformed, was not signed with this
    /// key, or expired before `now_ms`.
    pub fn verify_cart(&self, token: &str, now_ms: i64) -> Option<i64> {
        let text = self.open(token)?;
        let mut parts = text.split('.');
        if parts.next()? != "r" {
            return None;
        }
        let cart_id = parts.next()?.parse().ok()?;
        let expires_secs: i64 = parts.next()?.parse().ok()?;
        if parts.next().is_some() || now_ms.div_euclid(1000) >= expires_secs {
            return None;
        }
        Some(cart_id)
    }

    /// The payload a token signs, when its tag is this key's.
    fn open(&self, token: &str) -> Option<String> {
        let (payload, tag) = token.split_once('.')?;
        let payload = ENGINE.decode(payload).ok()?;
        let tag = ENGINE.decode(tag).ok()?;
        if tag.len() != TAG_BYTES {
            return None;
        }
        let mut mac = self.mac();
        mac.update(&payload);
        mac.verify_truncated_left(&tag).ok()?;
        String::from_utf8(payload).ok()
    }

    fn mac(&self) -> Hmac<Sha256> {
        // HMAC takes a key of any length.
        Hmac::<Sha256>::new_from_slice(&self.key).unwrap_or_else(|_| unreachable!())
    }

    fn tag(&self, payload: &[u8]) -> Vec<u8> {
        let mut mac = self.mac();
        mac.update(payload);
        mac.finalize().into_bytes()[..TAG_BYTES].to_vec()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_verifies_with_its_key_only() {
        let signer = TokenSigner::new("secret");
        let token = signer.sign(42, TokenPurpose::Click(3));
        assert_eq!(
            signer.verify(&token),
            Some(Token {
                delivery_id: 42,
                purpose: TokenPurpose::Click(3)
            })
        );
        assert_eq!(TokenSigner::new("other").verify(&token), None);
    }

    #[test]
    fn a_cart_token_opens_its_cart_until_it_expires_and_no_tracking_token_opens_one() {
        let signer = TokenSigner::new("secret");
        let token = signer.sign_cart(7, 10_000_000);
        assert_eq!(signer.verify_cart(&token, 9_999_000), Some(7));
        assert_eq!(signer.verify_cart(&token, 10_000_000), None);
        assert_eq!(signer.verify(&token), None);
        assert_eq!(
            signer.verify_cart(&signer.sign(7, TokenPurpose::View), 0),
            None
        );
        let (_, tag) = token.split_once('.').unwrap_or_default();
        let longer = format!("{}.{tag}", ENGINE.encode("r.7.99999999"));
        assert_eq!(signer.verify_cart(&longer, 0), None);
    }

    #[test]
    fn a_changed_token_is_refused() {
        let signer = TokenSigner::new("secret");
        let token = signer.sign(42, TokenPurpose::Unsubscribe);
        let (_, tag) = token.split_once('.').unwrap_or_default();
        let forged = format!("{}.{tag}", ENGINE.encode("u.43"));
        assert_eq!(signer.verify(&forged), None);
        assert_eq!(signer.verify("garbage"), None);
    }
}
