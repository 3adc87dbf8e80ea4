//! The student side: publishes the session's seconds to the class, and nothing else.
//!
//! One thread (`share`) owns the MQTT client and its connection. Seconds wait in a bounded ring
//! ([`RING_SECONDS`]) until the broker acknowledges them; a dropped connection is retried with
//! backoff (1 s doubling to 5 s), and on reconnection the seconds not yet acknowledged are sent again.
//! The teacher's hello makes it send the whole ring again (a teacher who joined late or lost its
//! connection). The teacher drops duplicates, so a second is never counted twice. Paused seconds are
//! never stored, so they never leave the machine.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};
use rumqttc::{Client, Event, LastWill, Outgoing, Packet, QoS};

use super::{ClassAddress, Net, NetThread, SecondMessage, ShareError, StudentStatus, new_pseudonym};
use crate::session::SecondRow;

/// Seconds kept for (re)sending: ten minutes of broker outage lose nothing.
pub(crate) const RING_SECONDS: usize = 600;
/// How long a stopping sharer waits for the broker to acknowledge what is left.
pub(crate) const STOP_GRACE: Duration = Duration::from_secs(5);
/// The longest [`Sharer::stop`] (and the program's exit) waits for the goodbye: the grace, saying
/// `left`, disconnecting.
pub(crate) const STOP_WAIT: Duration = Duration::from_secs(6);
const BACKOFF_FIRST: Duration = Duration::from_secs(1);
const BACKOFF_MAX: Duration = Duration::from_secs(5);

/// What the window shows about sharing (read from any thread).
#[derive(Debug, Default)]
pub struct ShareState {
    pub connected: AtomicBool,
    pub paused: AtomicBool,
    /// Seconds the broker acknowledged.
    pub delivered: AtomicU64,
    /// Seconds waiting (not yet acknowledged).
    pub waiting: AtomicU64,
    /// Seconds given up: the ring overflowed during a long outage.
    pub dropped: AtomicU64,
    pub last_error: std::sync::Mutex<Option<String>>,
}

/// What sharing did, returned by [`Sharer::stop`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShareReport {
    pub pseudonym: String,
    pub delivered: u64,
    /// Not acknowledged when sharing stopped (the broker was unreachable).
    pub undelivered: u64,
    pub dropped: u64,
}

impl std::fmt::Display for ShareReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "shared {} seconds as {}", self.delivered, self.pseudonym)?;
        if self.undelivered + self.dropped > 0 {
            write!(f, "; {} not delivered (broker unreachable)", self.undelivered + self.dropped)?;
        }
        Ok(())
    }
}

enum Cmd {
    Pause,
    Resume,
    Stop,
}

/// Publishes one student's seconds to a class. Feed it through [`seconds_sender`](Self::seconds_sender)
/// (e.g. [`crate::session::Recorder::send_seconds_to`]); stop it with [`stop`](Self::stop).
pub struct Sharer {
    pseudonym: String,
    state: Arc<ShareState>,
    rows: Sender<(i64, SecondRow)>,
    cmds: Sender<Cmd>,
    thread: Option<JoinHandle<()>>,
}

impl Sharer {
    /// Starts sharing to `address` under a new random pseudonym. Connecting happens in the background:
    /// an unreachable broker is retried, never an error here.
    pub fn start(address: ClassAddress) -> Result<Self, ShareError> {
        let pseudonym = new_pseudonym();
        let mut opts = address.mqtt_options(&pseudonym)?;
        let status_topic = address.status_topic(&pseudonym);
        opts.set_last_will(LastWill::new(&status_topic, StudentStatus::Gone.as_str(), QoS::AtLeastOnce, false));
        // The client's queue holds at most the ring plus a few status messages.
        let (client, connection) = Client::new(opts, RING_SECONDS + 16);
        let state = Arc::new(ShareState::default());
        let (rows_tx, rows_rx) = crossbeam_channel::bounded(RING_SECONDS);
        let (cmd_tx, cmd_rx) = crossbeam_channel::unbounded();
        let net = NetThread::spawn(connection, "share-net", BACKOFF_FIRST, BACKOFF_MAX)?;
        let worker = Worker {
            client,
            seconds_topic: address.seconds_topic(&pseudonym),
            status_topic,
            hello_topic: address.hello_topic(),
            state: state.clone(),
            ring: VecDeque::new(),
            awaiting: VecDeque::new(),
            inflight: HashMap::new(),
            paused: false,
        };
        let thread = std::thread::Builder::new()
            .name("share".into())
            .spawn(move || worker.run(net, rows_rx, cmd_rx))
            .map_err(ShareError::Thread)?;
        tracing::info!(%address, %pseudonym, "sharing per-second aggregates with the class");
        Ok(Self { pseudonym, state, rows: rows_tx, cmds: cmd_tx, thread: Some(thread) })
    }

    /// This session's pseudonym (show it to the student).
    pub fn pseudonym(&self) -> &str {
        &self.pseudonym
    }

    pub fn state(&self) -> &ShareState {
        &self.state
    }

    /// Where the session's seconds go: `(Unix second, row)`.
    pub fn seconds_sender(&self) -> Sender<(i64, SecondRow)> {
        self.rows.clone()
    }

    /// Stops sending (seconds during the pause are not kept) until [`resume`](Self::resume).
    pub(crate) fn pause(&self) {
        self.state.paused.store(true, Ordering::Relaxed);
        let _ = self.cmds.send(Cmd::Pause);
    }

    pub(crate) fn resume(&self) {
        self.state.paused.store(false, Ordering::Relaxed);
        let _ = self.cmds.send(Cmd::Resume);
    }

    /// Sends what is left (waiting at most [`STOP_GRACE`] for the broker), says `left`, disconnects;
    /// returns after the goodbye, or after [`STOP_WAIT`] with what was delivered by then.
    pub fn stop(self) -> ShareReport {
        self.stop_in_background().wait(STOP_WAIT)
    }

    /// Asks the sharer to send what is left and leave, and returns at once: the goodbye goes on in the
    /// background (up to [`STOP_GRACE`] and more while the broker is unreachable), so a window never waits for it.
    pub(crate) fn stop_in_background(mut self) -> Stopping {
        let _ = self.cmds.send(Cmd::Stop);
        Stopping { pseudonym: self.pseudonym.clone(), state: self.state.clone(), thread: self.thread.take() }
    }
}

impl Drop for Sharer {
    /// Says goodbye in the background (see [`Sharer::stop_in_background`]); never waits.
    fn drop(&mut self) {
        let _ = self.cmds.send(Cmd::Stop);
    }
}

/// A sharer saying goodbye in the background. Dropping it leaves the goodbye to finish on its own
/// (or to end with the program).
pub(crate) struct Stopping {
    pseudonym: String,
    state: Arc<ShareState>,
    thread: Option<JoinHandle<()>>,
}

impl Stopping {
    /// The goodbye is over: [`report`](Self::report) is final.
    pub(crate) fn is_finished(&self) -> bool {
        self.thread.as_ref().is_none_or(|t| t.is_finished())
    }

    /// What sharing delivered so far (final once [`is_finished`](Self::is_finished)).
    pub fn report(&self) -> ShareReport {
        ShareReport {
            pseudonym: self.pseudonym.clone(),
            delivered: self.state.delivered.load(Ordering::Relaxed),
            undelivered: self.state.waiting.load(Ordering::Relaxed),
            dropped: self.state.dropped.load(Ordering::Relaxed),
        }
    }

    /// Waits at most `wait` for the goodbye (the program's exit), then reports what was delivered.
    pub fn wait(mut self, wait: Duration) -> ShareReport {
        let until = Instant::now() + wait;
        while !self.is_finished() && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(10));
        }
        if let Some(t) = self.thread.take_if(|t| t.is_finished()) {
            let _ = t.join();
        }
        self.report()
    }
}

struct Held {
    t: i64,
    payload: Vec<u8>,
    acked: bool,
}

struct Worker {
    client: Client,
    seconds_topic: String,
    status_topic: String,
    hello_topic: String,
    state: Arc<ShareState>,
    /// Seconds in time order, acknowledged or not (the teacher's hello gets them all again).
    ring: VecDeque<Held>,
    /// Publishes handed to the client, in order, waiting for their packet ID (`None`: a status).
    awaiting: VecDeque<Option<i64>>,
    /// Packet ID → second, sent and not yet acknowledged.
    inflight: HashMap<u16, Option<i64>>,
    paused: bool,
}

impl Worker {
    fn run(mut self, net: NetThread, rows: Receiver<(i64, SecondRow)>, cmds: Receiver<Cmd>) {
        let mut net = net;
        let mut connected = false;
        let mut stop_by: Option<Instant> = None;
        let mut rows = rows;
        let mut cmds = cmds;
        loop {
            if let Some(deadline) = stop_by {
                let all_sent = self.ring.iter().all(|h| h.acked);
                if (all_sent && rows.is_empty()) || Instant::now() >= deadline {
                    break;
                }
            }
            crossbeam_channel::select! {
                recv(cmds) -> c => match c {
                    Ok(Cmd::Pause) => {
                        self.paused = true;
                        self.send_status(connected, StudentStatus::Paused);
                    }
                    Ok(Cmd::Resume) => {
                        self.paused = false;
                        self.send_status(connected, StudentStatus::Online);
                    }
                    Ok(Cmd::Stop) | Err(_) => {
                        stop_by.get_or_insert(Instant::now() + STOP_GRACE);
                        cmds = crossbeam_channel::never();
                    }
                },
                recv(rows) -> r => match r {
                    Ok((t, row)) => self.add(t, &row, connected),
                    Err(_) => rows = crossbeam_channel::never(),
                },
                recv(net.events) -> ev => match ev {
                    Ok(Net::Event(ev)) => self.on_event(ev, &mut connected),
                    Ok(Net::Lost(e)) => {
                        if connected {
                            tracing::warn!("class broker connection lost: {e}; retrying");
                        } else {
                            tracing::debug!("class broker unreachable: {e}");
                        }
                        connected = false;
                        self.state.connected.store(false, Ordering::Relaxed);
                        *self.state.last_error.lock().unwrap_or_else(|e| e.into_inner()) = Some(e);
                        self.awaiting.clear();
                        self.inflight.clear();
                    }
                    Err(_) => break,
                },
                default(Duration::from_millis(100)) => {}
            }
        }
        if connected {
            self.send_status(true, StudentStatus::Left);
            let _ = self.client.try_disconnect();
            // Let the event loop write the status and the disconnect.
            let until = Instant::now() + Duration::from_millis(500);
            while let Ok(Net::Event(ev)) = net.events.recv_deadline(until) {
                if matches!(ev, Event::Outgoing(Outgoing::Disconnect)) {
                    break;
                }
            }
        }
        self.update_waiting();
        net.stop(Duration::from_millis(200));
    }

    fn on_event(&mut self, ev: Event, connected: &mut bool) {
        match ev {
            Event::Incoming(Packet::ConnAck(_)) => {
                *connected = true;
                self.state.connected.store(true, Ordering::Relaxed);
                *self.state.last_error.lock().unwrap_or_else(|e| e.into_inner()) = None;
                let _ = self.client.try_subscribe(self.hello_topic.clone(), QoS::AtMostOnce);
                let status = if self.paused { StudentStatus::Paused } else { StudentStatus::Online };
                self.send_status(true, status);
                // A new connection starts a new MQTT session: the client forgot its unacknowledged
                // publishes, so send them again from the ring.
                self.resend(|h| !h.acked);
            }
            Event::Outgoing(Outgoing::Publish(pkid)) => {
                if let Some(t) = self.awaiting.pop_front() {
                    self.inflight.insert(pkid, t);
                }
            }
            Event::Incoming(Packet::PubAck(ack)) => {
                if let Some(Some(t)) = self.inflight.remove(&ack.pkid)
                    && let Some(h) = self.ring.iter_mut().find(|h| h.t == t)
                    && !h.acked
                {
                    h.acked = true;
                    self.state.delivered.fetch_add(1, Ordering::Relaxed);
                }
                self.update_waiting();
            }
            Event::Incoming(Packet::Publish(p)) if p.topic == self.hello_topic => {
                tracing::info!("the teacher joined: sending the seconds held again");
                self.resend(|_| true);
            }
            _ => {}
        }
    }

    fn add(&mut self, t: i64, row: &SecondRow, connected: bool) {
        if self.paused || self.ring.iter().any(|h| h.t == t) {
            return;
        }
        let payload = SecondMessage::from_row(row, t).to_payload();
        if self.ring.len() >= RING_SECONDS
            && let Some(old) = self.ring.pop_front()
            && !old.acked
        {
            self.state.dropped.fetch_add(1, Ordering::Relaxed);
        }
        if connected {
            self.publish(Some(t), payload.clone());
        }
        self.ring.push_back(Held { t, payload, acked: false });
        self.update_waiting();
    }

    fn resend(&mut self, which: impl Fn(&Held) -> bool) {
        let again: Vec<(i64, Vec<u8>)> =
            self.ring.iter().filter(|h| which(h)).map(|h| (h.t, h.payload.clone())).collect();
        for (t, payload) in again {
            self.publish(Some(t), payload);
        }
    }

    fn publish(&mut self, t: Option<i64>, payload: Vec<u8>) {
        let topic = if t.is_some() { &self.seconds_topic } else { &self.status_topic };
        // A full queue (a burst during a slow connection): the second stays unacknowledged in the ring
        // and goes again with the next reconnection or hello.
        if self.client.try_publish(topic.clone(), QoS::AtLeastOnce, false, payload).is_ok() {
            self.awaiting.push_back(t);
        }
    }

    fn send_status(&mut self, connected: bool, s: StudentStatus) {
        if connected {
            self.publish(None, s.as_str().as_bytes().to_vec());
        }
    }

    fn update_waiting(&self) {
        let waiting = self.ring.iter().filter(|h| !h.acked).count() as u64;
        self.state.waiting.store(waiting, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stopping_with_an_unreachable_broker_returns_at_once_and_the_goodbye_goes_on_in_the_background() {
        // A port nobody listens on: every connection attempt is refused.
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let sharer = Sharer::start(format!("mqtt://127.0.0.1:{port}/c1").parse().unwrap()).unwrap();
        // One second that the broker can never acknowledge: the goodbye waits STOP_GRACE for it.
        let row = SecondRow {
            second: 0,
            frames: 10,
            faces_present: 1,
            faces_lost: 0,
            mean_engagement: Some(0.5),
            mean_attention: Some(1.0),
            mean_valence: None,
            mean_arousal: None,
            shares: None,
            mean_p: None,
        };
        sharer.seconds_sender().send((1_700_000_000, row)).unwrap();
        let until = Instant::now() + Duration::from_secs(30);
        while sharer.state().waiting.load(Ordering::Relaxed) == 0 && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(5));
        }
        let stopping = sharer.stop_in_background();
        assert!(!stopping.is_finished(), "stop returned while the goodbye still runs, without joining it");
        // The exit waits only as long as it is told, and reports the second as not delivered.
        let report = stopping.wait(Duration::from_millis(50));
        assert_eq!((report.delivered, report.undelivered + report.dropped), (0, 1), "{report}");
    }
}
