//! Sending claimed rows: at most `concurrency` at once, outcomes recorded as sends finish.

use crate::error::AppResult;
use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use std::future::Future;
use std::pin::Pin;

/// Sends `claimed` with `send`, at most `concurrency` at once, and records what has finished
/// with `record` — whatever has finished, in one call, while the other sends go on. A row
/// counts against `concurrency` until its outcome is recorded, so a crash leaves at most
/// `concurrency` rows sent but unrecorded, not the whole claimed batch. Stops at the first
/// recording that fails (the rows not recorded are taken over when their leases end).
pub async fn pump<C, F, SF, RF>(
    claimed: Vec<C>,
    concurrency: usize,
    send: impl Fn(C) -> SF,
    record: impl Fn(Vec<F>) -> RF,
) -> AppResult<()>
where
    SF: Future<Output = F>,
    RF: Future<Output = AppResult<()>>,
{
    let mut waiting = claimed.into_iter();
    let mut in_flight = FuturesUnordered::new();
    let mut finished: Vec<F> = Vec::new();
    let mut recording: Option<(usize, Pin<Box<RF>>)> = None;
    let mut occupied = 0;
    loop {
        while occupied < concurrency.max(1)
            && let Some(next) = waiting.next()
        {
            in_flight.push(send(next));
            occupied += 1;
        }
        if recording.is_none() && !finished.is_empty() {
            let group = std::mem::take(&mut finished);
            recording = Some((group.len(), Box::pin(record(group))));
        }
        if in_flight.is_empty() && recording.is_none() {
            return Ok(());
        }
        tokio::select! {
            Some(done) = in_flight.next(), if !in_flight.is_empty() => finished.push(done),
            written = async {
                match recording.as_mut() {
                    Some((_, write)) => write.as_mut().await,
                    None => std::future::pending().await,
                }
            }, if recording.is_some() => {
                let count = recording.take().map_or(0, |(count, _)| count);
                occupied -= count;
                written?;
            }
        }
    }
}
