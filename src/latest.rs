//! The newest-wins channel: a bounded channel whose sender, when it is full, throws the oldest message away.
//! Frames travel this way (camera → capture thread → inference → window): the consumer always gets the
//! newest picture and no queue builds up behind a slow stage.

use crossbeam_channel::{Receiver, Sender, TrySendError};

/// A bounded channel's sending end that, when the channel is full, throws the oldest message away
/// to make room: the consumer always gets the newest data and never a backlog.
pub struct LatestSender<T> {
    tx: Sender<T>,
    /// Kept to evict stale messages; also keeps the channel open when the consumer is gone.
    rx: Receiver<T>,
}

impl<T> Clone for LatestSender<T> {
    fn clone(&self) -> Self {
        Self { tx: self.tx.clone(), rx: self.rx.clone() }
    }
}

impl<T> LatestSender<T> {
    /// Sends `msg`; returns how many older messages were dropped to make room.
    pub fn send(&self, mut msg: T) -> u64 {
        let mut dropped = 0;
        loop {
            match self.tx.try_send(msg) {
                Ok(()) => return dropped,
                Err(TrySendError::Full(m)) => {
                    if self.rx.try_recv().is_ok() {
                        dropped += 1;
                    }
                    msg = m;
                }
                // Cannot happen while we hold `rx`; nothing to deliver to anyway.
                Err(TrySendError::Disconnected(_)) => return dropped,
            }
        }
    }
}

/// A bounded channel whose sender drops the oldest message instead of blocking.
pub fn latest_channel<T>(capacity: usize) -> (LatestSender<T>, Receiver<T>) {
    let (tx, rx) = crossbeam_channel::bounded(capacity.max(1));
    (LatestSender { tx, rx: rx.clone() }, rx)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latest_sender_keeps_the_newest() {
        let (tx, rx) = latest_channel::<u32>(1);
        assert_eq!(tx.send(1), 0);
        assert_eq!(tx.send(2), 1);
        assert_eq!(tx.send(3), 1);
        assert_eq!(rx.try_recv().ok(), Some(3));
        assert!(rx.try_recv().is_err());
    }
}
