//! The batch collector, shared by the writers (a batch per transaction) and the spool (a group
//! per fsync).

use tokio::sync::mpsc;

use crate::config;
use crate::message::Message;

/// Waits for a first message, then adds more to `batch` until it holds `limits.max_messages`
/// or `max_bytes` of topics and payloads, or `limits.max_delay()` has passed since the first.
/// The delay matters: the broker sends at most `max_inflight` un-acknowledged messages, so a
/// batch waiting to fill up could wait forever. False when the channel is closed and empty.
pub async fn collect(
    rx: &mut mpsc::Receiver<Message>,
    batch: &mut Vec<Message>,
    limits: &config::Batch,
    max_bytes: usize,
) -> bool {
    let Some(first) = rx.recv().await else {
        return false;
    };
    let deadline = tokio::time::Instant::now() + limits.max_delay();
    let mut bytes = first.payload.len() + first.topic.len();
    batch.push(first);
    while batch.len() < limits.max_messages && bytes < max_bytes {
        let Ok(Some(message)) = tokio::time::timeout_at(deadline, rx.recv()).await else {
            break;
        };
        bytes += message.payload.len() + message.topic.len();
        batch.push(message);
    }
    true
}
