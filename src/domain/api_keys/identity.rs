//! Storefront identity verification. A storefront key lives in browsers, so anyone can read
//! it; what it may do for one customer must not rest on the customer's external id alone
//! (often a sequential order-system number). The shop's backend, which knows who is signed
//! in, signs the external id with the key's identity secret (HMAC-SHA256, hex) and hands the
//! signature to the storefront; a verifying key refuses every customer read or write without
//! it.

use super::Scope;
use crate::db::begin_write;
use crate::error::{AppError, AppResult, ViolationCode};
use base64::Engine;
use entity::api_key;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sea_orm::{ActiveModelTrait, ActiveValue, DatabaseConnection};
use sha2::Sha256;
use std::fmt;

/// Whether a new storefront key verifies customers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verification {
    /// Customer-specific operations need the customer's signature (the default).
    Verified,
    /// The key stays on the shop's servers and is trusted with any customer.
    ServerSide,
}

impl Verification {
    /// [`Verification::Verified`] when `verify`, else [`Verification::ServerSide`].
    pub fn when(verify: bool) -> Self {
        if verify {
            Verification::Verified
        } else {
            Verification::ServerSide
        }
    }
}

/// The key of one storefront key's customer signatures. Its `Debug` shows nothing.
#[derive(Clone, PartialEq, Eq)]
pub struct IdentitySecret(String);

impl fmt::Debug for IdentitySecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("IdentitySecret(…)")
    }
}

impl IdentitySecret {
    /// A new random secret, `nis_` and 43 characters.
    pub fn generate() -> Self {
        let mut bytes = [0_u8; 32];
        rand::rng().fill_bytes(&mut bytes);
        Self(format!(
            "nis_{}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
        ))
    }

    pub(super) fn from_stored(secret: String) -> Self {
        Self(secret)
    }

    /// The secret itself, to show once or to store.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The signature of `external_id`: hex HMAC-SHA256 with this secret as the key.
    pub fn sign(&self, external_id: &str) -> String {
        hex::encode(self.mac(external_id).finalize().into_bytes())
    }

    /// Whether `signature` (hex, either case) signs `external_id`, compared in constant time.
    /// An empty secret signs nothing.
    pub fn verify(&self, external_id: &str, signature: &str) -> bool {
        if self.0.is_empty() {
            return false;
        }
        let Ok(bytes) = hex::decode(signature.trim()) else {
            return false;
        };
        self.mac(external_id).verify_slice(&bytes).is_ok()
    }

    fn mac(&self, external_id: &str) -> Hmac<Sha256> {
        // HMAC takes a key of any length.
        let mut mac =
            Hmac::<Sha256>::new_from_slice(self.0.as_bytes()).unwrap_or_else(|_| unreachable!());
        mac.update(external_id.as_bytes());
        mac
    }
}

/// Turns verification on for a storefront key with a new identity secret, returned this once
/// (calling it again rotates the secret: signatures made with the old one stop working).
/// `NOT_FOUND` for no such key; a key of another scope is a validation error.
pub async fn enable_identity(
    db: &DatabaseConnection,
    id: i64,
) -> AppResult<(api_key::Model, IdentitySecret)> {
    let secret = IdentitySecret::generate();
    let key = set_identity(db, id, Some(secret.clone())).await?;
    Ok((key, secret))
}

/// Turns verification off: the key is trusted with any customer (keep it on servers).
pub async fn disable_identity(db: &DatabaseConnection, id: i64) -> AppResult<api_key::Model> {
    set_identity(db, id, None).await
}

async fn set_identity(
    db: &DatabaseConnection,
    id: i64,
    secret: Option<IdentitySecret>,
) -> AppResult<api_key::Model> {
    let txn = begin_write(db).await?;
    let key = super::get(&txn, id).await?;
    if key.scope != Scope::Storefront.as_str() {
        return Err(AppError::invalid(
            &["id"],
            ViolationCode::Invalid,
            "only storefront keys verify customers",
        ));
    }
    let mut active: api_key::ActiveModel = key.into();
    active.identity_required = ActiveValue::Set(secret.is_some());
    active.identity_secret = ActiveValue::Set(secret.map(|s| s.0));
    let key = active.update(&txn).await?;
    txn.commit().await?;
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_verifies_only_its_own_external_id_and_secret() {
        let secret = IdentitySecret::from_stored("nis_test".into());
        let signature = secret.sign("shop-1001");

        assert!(secret.verify("shop-1001", &signature));
        assert!(secret.verify("shop-1001", &signature.to_uppercase()));
        assert!(!secret.verify("shop-1002", &signature));
        assert!(!IdentitySecret::generate().verify("shop-1001", &signature));
        assert!(!secret.verify("shop-1001", "not hex"));
        assert!(!IdentitySecret::from_stored(String::new()).verify("x", &signature));
        assert_eq!(format!("{secret:?}"), "IdentitySecret(…)");
        // The same value Python gives: hmac.new(b"nis_test", b"shop-1001", "sha256").hexdigest()
        assert_eq!(
            signature,
            "1aa12a5025b16f6b7f63bc61b1920fb7cb60652e38b96644f0cd5a0bbd811afd"
        );
    }
}
