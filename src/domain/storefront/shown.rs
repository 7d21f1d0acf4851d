//! A banner as a shelf keeps it: its own id and display window, and its text, which the
//! customers shown the same banner share. A banner's text comes from the effect or step that
//! showed it, so a campaign that greets every new customer with one banner puts one text in
//! memory, not one a customer.

use entity::banner;
use std::hash::{BuildHasher, RandomState};
use std::sync::Arc;

/// What a banner says.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct BannerText {
    pub title: String,
    pub body_html: String,
    pub coupon_code: Option<String>,
}

impl BannerText {
    /// Roughly the bytes it takes.
    fn bytes(&self) -> u64 {
        let coupon = self.coupon_code.as_ref().map_or(0, String::len);
        (96 + self.title.len() + self.body_html.len() + coupon) as u64
    }
}

/// One customer's banner still to show (never dismissed: dismissed ones are not kept).
#[derive(Clone, Debug)]
pub struct ShownBanner {
    pub id: i64,
    pub starts_at: i64,
    pub ends_at: Option<i64>,
    pub text: Arc<BannerText>,
}

/// What a kept banner takes besides its text.
pub const BANNER_BYTES: u64 = 48;

/// The texts of the banners read lately, by a keyed hash of their content.
pub struct Texts {
    hasher: RandomState,
    kept: quick_cache::sync::Cache<u64, Arc<BannerText>, TextWeight>,
}

#[derive(Clone)]
struct TextWeight;

impl quick_cache::Weighter<u64, Arc<BannerText>> for TextWeight {
    fn weight(&self, _: &u64, text: &Arc<BannerText>) -> u64 {
        text.bytes()
    }
}

impl Texts {
    /// Texts in at most `bytes`.
    pub fn new(bytes: u64) -> Self {
        Texts {
            hasher: RandomState::new(),
            kept: quick_cache::sync::Cache::with_weighter(1_024, bytes.max(1), TextWeight),
        }
    }

    /// `banner` as a shelf keeps it, with the text kept already when it says the same, and
    /// the bytes it adds: its text's too when that is new.
    pub fn share(&self, banner: banner::Model) -> (ShownBanner, u64) {
        let mut shown = alone(banner);
        let key = self.hasher.hash_one(&*shown.text);
        match self.kept.get(&key) {
            Some(kept) if kept == shown.text => {
                shown.text = kept;
                (shown, BANNER_BYTES)
            }
            _ => {
                self.kept.insert(key, shown.text.clone());
                let bytes = BANNER_BYTES + shown.text.bytes();
                (shown, bytes)
            }
        }
    }
}

/// `banner` as shown, with a text of its own (when nothing is kept).
pub fn alone(banner: banner::Model) -> ShownBanner {
    ShownBanner {
        id: banner.id,
        starts_at: banner.starts_at,
        ends_at: banner.ends_at,
        text: Arc::new(BannerText {
            title: banner.title,
            body_html: banner.body_html,
            coupon_code: banner.coupon_code,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn banner(id: i64, title: &str) -> banner::Model {
        banner::Model {
            id,
            customer_id: id,
            action_id: None,
            firing_id: None,
            run_id: None,
            owner_key: format!("firing:{id}:effect:0"),
            effect_index: 0,
            title: title.into(),
            body_html: "<p>Use SHOES10</p>".into(),
            coupon_code: Some("SHOES10".into()),
            starts_at: 10 * id,
            ends_at: Some(100 * id),
            dismissed_at: None,
            created_at: 0,
        }
    }

    #[test]
    fn customers_shown_the_same_banner_share_its_text() {
        let texts = Texts::new(1 << 16);

        let (first, first_bytes) = texts.share(banner(1, "10% off shoes"));
        let (second, second_bytes) = texts.share(banner(2, "10% off shoes"));
        let (other, other_bytes) = texts.share(banner(3, "Free shipping"));

        assert!(Arc::ptr_eq(&first.text, &second.text));
        assert!(!Arc::ptr_eq(&first.text, &other.text));
        assert_eq!(second_bytes, BANNER_BYTES);
        assert!(first_bytes > BANNER_BYTES && other_bytes > BANNER_BYTES);
        // Each keeps its own id and window.
        assert_eq!(
            (second.id, second.starts_at, second.ends_at),
            (2, 20, Some(200))
        );
        assert_eq!(other.text.title, "Free shipping");
        assert_eq!(other.text.coupon_code.as_deref(), Some("SHOES10"));
    }
}
