//! Signing as the Standard Webhooks specification says, so any receiver library written for it
//! verifies Nudge's calls. An endpoint's secret is `whsec_` and the base64 of 24 to 64 random
//! bytes; a message is signed over `{webhook-id}.{webhook-timestamp}.{body}` with HMAC-SHA256
//! of the decoded bytes, and its `webhook-signature` header is `v1,` and the base64 of that, one
//! per secret, separated by spaces while a rotated secret still overlaps the new one.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;

/// What every secret starts with.
pub const PREFIX: &str = "whsec_";
/// The fewest and the most random bytes a secret may hold.
pub const MIN_BYTES: usize = 24;
pub const MAX_BYTES: usize = 64;
/// The bytes of a secret Nudge makes.
const NEW_BYTES: usize = 32;

/// An endpoint's signing secret, decoded.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Vec<u8>);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(…)")
    }
}

/// Why a text is not a secret.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refused {
    /// It does not start with `whsec_`.
    Prefix,
    /// What follows is not base64.
    Encoding,
    /// It decodes to fewer than [`MIN_BYTES`] or more than [`MAX_BYTES`] bytes.
    Length(usize),
}

impl Secret {
    /// A new random secret.
    pub fn generate() -> Secret {
        let mut bytes = vec![0_u8; NEW_BYTES];
        rand::rng().fill_bytes(&mut bytes);
        Secret(bytes)
    }

    /// The secret `text` spells (`whsec_…`).
    pub fn parse(text: &str) -> Result<Secret, Refused> {
        let encoded = text.strip_prefix(PREFIX).ok_or(Refused::Prefix)?;
        let bytes = STANDARD.decode(encoded).map_err(|_| Refused::Encoding)?;
        if !(MIN_BYTES..=MAX_BYTES).contains(&bytes.len()) {
            return Err(Refused::Length(bytes.len()));
        }
        Ok(Secret(bytes))
    }

    /// The secret as it is shown once and stored: `whsec_` and its base64.
    pub fn expose(&self) -> String {
        format!("{PREFIX}{}", STANDARD.encode(&self.0))
    }

    /// `v1,` and the signature of message `id` sent at `timestamp` (seconds) with `body`.
    pub fn sign(&self, id: &str, timestamp: i64, body: &[u8]) -> String {
        // HMAC takes a key of any length.
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.0).unwrap_or_else(|_| unreachable!());
        mac.update(id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
    }
}

/// The `webhook-signature` header: one signature per secret, space-separated.
pub fn header(secrets: &[Secret], id: &str, timestamp: i64, body: &[u8]) -> String {
    secrets
        .iter()
        .map(|secret| secret.sign(id, timestamp, body))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The specification's published vector (its reference libraries' signing test).
    #[test]
    fn the_specifications_vector_signs_alike() {
        let secret = Secret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let signed = secret.sign(
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1_614_265_330,
            br#"{"test": 2432232314}"#,
        );
        assert_eq!(signed, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }

    #[test]
    fn during_a_rotation_each_secret_signs_and_the_header_carries_both() {
        let (old, new) = (Secret::generate(), Secret::generate());
        let both = header(&[new.clone(), old.clone()], "msg_1", 1, b"{}");
        assert_eq!(
            both,
            format!(
                "{} {}",
                new.sign("msg_1", 1, b"{}"),
                old.sign("msg_1", 1, b"{}")
            )
        );
        assert_ne!(new.sign("msg_1", 1, b"{}"), old.sign("msg_1", 1, b"{}"));
    }

    #[test]
    fn a_secret_is_shown_as_it_parses_and_bad_ones_say_why() {
        let secret = Secret::generate();
        assert_eq!(Secret::parse(&secret.expose()), Ok(secret.clone()));
        assert!(secret.expose().starts_with("whsec_"));
        assert_eq!(format!("{secret:?}"), "Secret(…)");
        assert_eq!(
            Secret::parse("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"),
            Err(Refused::Prefix)
        );
        assert_eq!(Secret::parse("whsec_!!!"), Err(Refused::Encoding));
        assert_eq!(
            Secret::parse(&format!("whsec_{}", STANDARD.encode([1_u8; 16]))),
            Err(Refused::Length(16))
        );
    }
}
