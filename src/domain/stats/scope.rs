//! What a figure is about: the dimensions a fact carries, and the scopes its sums are kept
//! under (the shop, a channel, a campaign, a campaign step, an action, a template, a template
//! variant).

use entity::{delivery, stat_fact};

/// The longest key kept (a link's target is cut there).
const MAX_KEY: usize = 500;

/// What a fact is about; every field that is set adds a scope.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Dims {
    pub channel: Option<String>,
    pub campaign_id: Option<i64>,
    pub step_id: Option<String>,
    pub action_id: Option<i64>,
    pub template_id: Option<i64>,
    /// The template variant's locale (`default` for the template's own texts).
    pub locale: Option<String>,
    /// A segment's joins and leaves count for the segment alone.
    pub segment_id: Option<i64>,
}

impl Dims {
    /// A message's dimensions, before it was rendered (no template variant yet).
    pub fn of_delivery(d: &delivery::Model) -> Self {
        Dims {
            channel: Some(d.channel.clone()),
            campaign_id: d.campaign_id,
            step_id: d.step_id.clone(),
            action_id: d.action_id,
            template_id: d.template_id,
            locale: None,
            segment_id: None,
        }
    }

    /// A sent message's dimensions: with the variant it was rendered in (`locale`, the
    /// template's own texts when `None`).
    pub fn of_sent(d: &delivery::Model, locale: Option<&str>) -> Self {
        Dims {
            locale: d
                .template_id
                .map(|_| locale.unwrap_or(DEFAULT_LOCALE).to_owned()),
            ..Dims::of_delivery(d)
        }
    }

    /// The dimensions a noted fact carries.
    pub fn of_fact(f: &stat_fact::Model) -> Self {
        Dims {
            channel: f.channel.clone(),
            campaign_id: f.campaign_id,
            step_id: f.step_id.clone(),
            action_id: f.action_id,
            template_id: f.template_id,
            locale: f.locale.clone(),
            segment_id: f.segment_id,
        }
    }

    /// A campaign run's dimensions (at `step`, when the figure is a step's).
    pub fn of_run(campaign_id: i64, step: Option<&str>) -> Self {
        Dims {
            campaign_id: Some(campaign_id),
            step_id: step.map(str::to_owned),
            ..Default::default()
        }
    }

    /// A segment's dimensions.
    pub fn of_segment(segment_id: i64) -> Self {
        Dims {
            segment_id: Some(segment_id),
            ..Default::default()
        }
    }

    /// A customer action's dimensions.
    pub fn of_action(action_id: i64) -> Self {
        Dims {
            action_id: Some(action_id),
            ..Default::default()
        }
    }

    /// The scopes a fact with these dimensions counts in.
    pub fn scopes(&self) -> Vec<Scope> {
        if let Some(segment) = self.segment_id {
            return vec![Scope::Segment(segment)];
        }
        let mut scopes = vec![Scope::Shop];
        if let Some(channel) = &self.channel {
            scopes.push(Scope::Channel(channel.clone()));
        }
        if let Some(campaign) = self.campaign_id {
            scopes.push(Scope::Campaign(campaign));
            if let Some(step) = &self.step_id {
                scopes.push(Scope::Step(campaign, step.clone()));
            }
        }
        if let Some(action) = self.action_id {
            scopes.push(Scope::Action(action));
        }
        if let Some(template) = self.template_id {
            scopes.push(Scope::Template(template));
            if let Some(locale) = &self.locale {
                scopes.push(Scope::Variant(template, locale.clone()));
            }
        }
        scopes
    }
}

/// The locale a template's own texts count under.
pub const DEFAULT_LOCALE: &str = "default";

/// What a sum is kept for.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scope {
    Shop,
    Channel(String),
    Campaign(i64),
    Step(i64, String),
    Action(i64),
    Template(i64),
    /// A template's variant in one locale.
    Variant(i64, String),
    /// A segment's joins and leaves.
    Segment(i64),
}

impl Scope {
    /// The stored text.
    pub fn key(&self) -> String {
        match self {
            Scope::Shop => "shop".into(),
            Scope::Channel(c) => format!("channel:{c}"),
            Scope::Campaign(id) => format!("campaign:{id}"),
            Scope::Step(id, step) => format!("step:{id}:{step}"),
            Scope::Action(id) => format!("action:{id}"),
            Scope::Template(id) => format!("template:{id}"),
            Scope::Variant(id, locale) => format!("variant:{id}:{locale}"),
            Scope::Segment(id) => format!("segment:{id}"),
        }
    }

    /// Whether a fact with `dims` counts in this scope.
    pub fn covers(&self, dims: &Dims) -> bool {
        match self {
            Scope::Shop => dims.segment_id.is_none(),
            Scope::Channel(c) => dims.channel.as_ref() == Some(c),
            Scope::Campaign(id) => dims.campaign_id == Some(*id),
            Scope::Step(id, step) => {
                dims.campaign_id == Some(*id) && dims.step_id.as_ref() == Some(step)
            }
            Scope::Action(id) => dims.action_id == Some(*id),
            Scope::Template(id) => dims.template_id == Some(*id),
            Scope::Variant(id, locale) => {
                dims.template_id == Some(*id) && dims.locale.as_ref() == Some(locale)
            }
            Scope::Segment(id) => dims.segment_id == Some(*id),
        }
    }
}

/// `key` cut to the longest kept, on a character boundary.
pub(super) fn clip_key(mut key: String) -> String {
    if key.len() > MAX_KEY {
        let mut end = MAX_KEY;
        while !key.is_char_boundary(end) {
            end -= 1;
        }
        key.truncate(end);
    }
    key
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fact_counts_in_every_scope_its_dimensions_name_and_no_other() {
        let dims = Dims {
            channel: Some("email".into()),
            campaign_id: Some(3),
            step_id: Some("s1".into()),
            template_id: Some(9),
            locale: Some("de".into()),
            ..Default::default()
        };
        let scopes = dims.scopes();
        assert_eq!(scopes.len(), 6);
        for scope in &scopes {
            assert!(scope.covers(&dims), "{scope:?}");
        }
        assert!(!Scope::Action(3).covers(&dims));
        assert!(!Scope::Step(3, "s2".into()).covers(&dims));
        assert!(!Scope::Variant(9, "fr".into()).covers(&dims));
    }

    #[test]
    fn a_long_key_is_cut_on_a_character_boundary() {
        let key = clip_key("é".repeat(400));
        assert!(key.len() <= MAX_KEY);
        assert!(key.chars().all(|c| c == 'é'));
    }
}
