//! Campaigns answer for the templates their message steps send: such a template keeps its
//! channel and cannot be deleted while a campaign sends it.

use super::{StepAction, list, walk};
use crate::db::WriteTxn;
use crate::domain::templates::Senders;
use crate::error::AppResult;
use futures_util::future::BoxFuture;

/// The campaigns, as the senders of templates.
pub struct CampaignSenders;

impl Senders for CampaignSenders {
    fn sender_of<'a>(
        &'a self,
        txn: &'a WriteTxn,
        template_id: i64,
    ) -> BoxFuture<'a, AppResult<Option<String>>> {
        Box::pin(async move {
            Ok(list(txn)
                .await?
                .into_iter()
                .find(|c| {
                    walk(&c.steps).into_iter().any(|(step, _)| {
                        matches!(step.action, StepAction::Message { template_id: id, .. } if id == template_id)
                    })
                })
                .map(|c| c.model.name))
        })
    }
}
