//! The class view across students' machines: each student's app publishes its per-second aggregates
//! (one `seconds.csv` row, never frames, crops, landmarks or names) to an MQTT broker under a random
//! pseudonym; the teacher's app subscribes to the class and aggregates the students' seconds.
//!
//! Topics (`CLASS` is the class code, `P` a student's pseudonym):
//! - `emotion-monitor/v1/CLASS/students/P/seconds`: one [`SecondMessage`] per second, QoS 1;
//! - `emotion-monitor/v1/CLASS/students/P/status`: `online`, `paused`, `left`, or the broker's last will
//!   `gone`, QoS 1, not retained;
//! - `emotion-monitor/v1/CLASS/teacher/hello`: the teacher (re)joined; students answer by sending
//!   again the seconds they still hold (the teacher drops duplicates), so a teacher who joins late or
//!   reconnects after a broker restart misses nothing that the students kept.
//!
//! The broker, not this app, is the access control: see `deploy/mosquitto/` for a configuration
//! with passwords, TLS and ACLs under which a student can publish only under its own client ID
//! (= pseudonym) and read nothing but the teacher's hello.

pub mod student;
pub mod teacher;

use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::session::SecondRow;

/// Topic root; `v1` is the payload schema.
pub(crate) const TOPIC_ROOT: &str = "emotion-monitor/v1";
/// Env var holding the broker password (a password typed into a URL shows in `ps` and shell history).
pub const PASSWORD_ENV: &str = "EMOTION_MONITOR_MQTT_PASSWORD";
/// Env var naming a PEM file with the CA that signed the broker's certificate (`mqtts://`).
pub const CA_ENV: &str = "EMOTION_MONITOR_MQTT_CA";
/// The largest payload a student sends; a seconds message is about 300 bytes.
pub const MAX_PAYLOAD: usize = 1024;

/// What goes wrong at the sharing boundary.
#[derive(Debug, thiserror::Error)]
pub enum ShareError {
    #[error(
        "{0:?} is not a class address. Write mqtt://HOST[:PORT]/CLASSCODE or mqtts://HOST[:PORT]/CLASSCODE \
         (optionally USER@HOST; the password goes in {PASSWORD_ENV})"
    )]
    Address(String),
    #[error(
        "class code {0:?}: use 1 to 64 letters, digits, '-' or '_' (the teacher's class view shows the code to use)"
    )]
    ClassCode(String),
    #[error("cannot read the CA certificate {path}: {source}. Pass the PEM file that signed the broker's certificate.")]
    Ca { path: PathBuf, source: std::io::Error },
    #[error("cannot start the sharing thread: {0}")]
    Thread(std::io::Error),
    #[error("cannot write the class session: {0}")]
    Session(#[from] crate::session::SessionError),
}

/// `mqtt[s]://[USER@]HOST[:PORT]/CLASSCODE`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClassAddress {
    pub tls: bool,
    pub host: String,
    pub port: u16,
    pub class: String,
    pub username: Option<String>,
    /// From the URL (`USER:PASSWORD@`, discouraged) or [`PASSWORD_ENV`].
    pub password: Option<String>,
    /// `mqtts://` only: the CA that signed the broker's certificate (default: the system's roots).
    pub ca_file: Option<PathBuf>,
}

impl FromStr for ClassAddress {
    type Err = ShareError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || ShareError::Address(s.to_string());
        let (tls, rest) = if let Some(r) = s.strip_prefix("mqtts://") {
            (true, r)
        } else if let Some(r) = s.strip_prefix("mqtt://") {
            (false, r)
        } else {
            return Err(bad());
        };
        let (authority, class) = rest.split_once('/').ok_or_else(bad)?;
        let class = class.trim_end_matches('/');
        if class.is_empty()
            || class.len() > 64
            || !class.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(ShareError::ClassCode(class.to_string()));
        }
        let (user, hostport) = match authority.rsplit_once('@') {
            Some((u, h)) => (Some(u), h),
            None => (None, authority),
        };
        let (username, password) = match user.map(|u| u.split_once(':').map_or((u, None), |(u, p)| (u, Some(p)))) {
            Some((u, p)) if !u.is_empty() => (Some(u.to_string()), p.map(str::to_string)),
            Some(_) => return Err(bad()),
            None => (None, None),
        };
        let default_port = if tls { 8883 } else { 1883 };
        let (host, port) = match hostport.rsplit_once(':') {
            Some((h, p)) if !h.ends_with(']') || h.starts_with('[') => {
                (h, p.parse::<u16>().ok().filter(|&p| p > 0).ok_or_else(bad)?)
            }
            _ => (hostport, default_port),
        };
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if host.is_empty() || host.contains(['/', '?', '#', ' ']) {
            return Err(bad());
        }
        let password = password.or_else(|| std::env::var(PASSWORD_ENV).ok().filter(|p| !p.is_empty()));
        let ca_file = std::env::var_os(CA_ENV).filter(|p| !p.is_empty()).map(PathBuf::from);
        Ok(Self { tls, host: host.to_string(), port, class: class.to_string(), username, password, ca_file })
    }
}

impl std::fmt::Display for ClassAddress {
    /// The address without the password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let scheme = if self.tls { "mqtts" } else { "mqtt" };
        let user = self.username.as_deref().map(|u| format!("{u}@")).unwrap_or_default();
        write!(f, "{scheme}://{user}{}:{}/{}", self.host, self.port, self.class)
    }
}

impl ClassAddress {
    pub(crate) fn seconds_topic(&self, pseudonym: &str) -> String {
        format!("{TOPIC_ROOT}/{}/students/{pseudonym}/seconds", self.class)
    }
    pub(crate) fn status_topic(&self, pseudonym: &str) -> String {
        format!("{TOPIC_ROOT}/{}/students/{pseudonym}/status", self.class)
    }
    /// Every student's topics of this class (the teacher's subscription).
    pub(crate) fn students_filter(&self) -> String {
        format!("{TOPIC_ROOT}/{}/students/+/+", self.class)
    }
    pub(crate) fn hello_topic(&self) -> String {
        format!("{TOPIC_ROOT}/{}/teacher/hello", self.class)
    }
    /// `(pseudonym, kind)` of a student topic of this class.
    pub(crate) fn parse_student_topic<'a>(&self, topic: &'a str) -> Option<(&'a str, &'a str)> {
        let rest = topic.strip_prefix(TOPIC_ROOT)?.strip_prefix('/')?;
        let rest = rest.strip_prefix(self.class.as_str())?.strip_prefix("/students/")?;
        let (p, kind) = rest.split_once('/')?;
        valid_pseudonym(p).then_some((p, kind))
    }

    /// Connection options: client ID, keep-alive, credentials, TLS.
    pub(crate) fn mqtt_options(&self, client_id: &str) -> Result<rumqttc::MqttOptions, ShareError> {
        let mut o = rumqttc::MqttOptions::new(client_id, self.host.clone(), self.port);
        o.set_keep_alive(Duration::from_secs(5));
        o.set_clean_session(true);
        if let Some(u) = &self.username {
            o.set_credentials(u.clone(), self.password.clone().unwrap_or_default());
        }
        if self.tls {
            let cfg = match &self.ca_file {
                Some(path) => {
                    let ca = std::fs::read(path).map_err(|source| ShareError::Ca { path: path.clone(), source })?;
                    rumqttc::TlsConfiguration::SimpleNative { ca, client_auth: None }
                }
                None => rumqttc::TlsConfiguration::Native,
            };
            o.set_transport(rumqttc::Transport::Tls(cfg));
        }
        Ok(o)
    }
}

/// A random pseudonym such as `S-K7Q2XM`: letters and digits without look-alikes (0/O, 1/I/L). A new
/// one every session, so that sessions cannot be linked to each other by the teacher either.
pub(crate) fn new_pseudonym() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHJKMNPQRSTUVWXYZ23456789";
    let mut x = random_u64();
    let code: String = (0..6)
        .map(|_| {
            let c = ALPHABET[(x % ALPHABET.len() as u64) as usize] as char;
            x /= ALPHABET.len() as u64;
            c
        })
        .collect();
    format!("S-{code}")
}

/// 64 random bits from the OS (std seeds every `RandomState` from the OS's random source).
fn random_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_nanos());
    h.finish()
}

/// A pseudonym as the topics carry it (also what mosquitto's `%c` ACL patterns accept).
pub(crate) fn valid_pseudonym(p: &str) -> bool {
    (1..=32).contains(&p.len()) && p.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// One student's second, as published: the student's `seconds.csv` row, stamped with Unix time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SecondMessage {
    /// Unix second this row covers (the student's session start + `second`).
    pub t: i64,
    /// The student's session second.
    pub second: i64,
    /// Analysed frames in this second.
    pub frames: u32,
    /// Faces found (normally 0 or 1 on a student's webcam).
    pub faces: u32,
    /// Faces that went away recently (counted as away).
    pub lost: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub engagement: Option<f32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attention: Option<f32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valence: Option<f32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arousal: Option<f32>,
    /// Shares of engaged, neutral, bored, away.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shares: Option<[f32; 4]>,
    /// Mean emotion probabilities (absent in attention-only sessions).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p: Option<crate::Probs>,
}

/// Three decimals are plenty for a class figure and keep the payload small.
fn round3(v: f32) -> f32 {
    (v * 1000.0).round() / 1000.0
}

impl SecondMessage {
    /// `row`, which covers Unix second `t`.
    pub fn from_row(row: &SecondRow, t: i64) -> Self {
        let r = |v: Option<f32>| v.filter(|v| v.is_finite()).map(round3);
        Self {
            t,
            second: row.second,
            frames: row.frames,
            faces: row.faces_present,
            lost: row.faces_lost,
            engagement: r(row.mean_engagement),
            attention: r(row.mean_attention),
            valence: r(row.mean_valence),
            arousal: r(row.mean_arousal),
            shares: row.shares.map(|s| s.map(round3)),
            p: row.mean_p.map(|p| p.map(round3)),
        }
    }

    /// The row at `second` of the class session.
    pub(crate) fn to_row(&self, second: i64) -> SecondRow {
        SecondRow {
            second,
            frames: self.frames,
            faces_present: self.faces,
            faces_lost: self.lost,
            mean_engagement: self.engagement,
            mean_attention: self.attention,
            mean_valence: self.valence,
            mean_arousal: self.arousal,
            shares: self.shares,
            mean_p: self.p,
        }
    }

    pub fn to_payload(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// A received payload; `None` for anything malformed, oversized, or with values out of range.
    pub(crate) fn from_payload(bytes: &[u8]) -> Option<Self> {
        if bytes.len() > MAX_PAYLOAD {
            return None;
        }
        let m: Self = serde_json::from_slice(bytes).ok()?;
        let unit = |v: &Option<f32>| v.is_none_or(|v| v.is_finite() && (-1.0..=1.0).contains(&v));
        let ok = [&m.engagement, &m.attention, &m.valence, &m.arousal].into_iter().all(unit)
            && m.shares.is_none_or(|s| s.iter().all(|v| v.is_finite() && (0.0..=1.0).contains(v)))
            && m.p.is_none_or(|p| p.iter().all(|v| v.is_finite() && (0.0..=1.0).contains(v)));
        ok.then_some(m)
    }
}

/// A student's status message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StudentStatus {
    Online,
    Paused,
    /// Stopped sharing on purpose.
    Left,
    /// The broker's last will: the student's connection dropped.
    Gone,
}

impl StudentStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Online => "online",
            Self::Paused => "paused",
            Self::Left => "left",
            Self::Gone => "gone",
        }
    }
    pub fn parse(s: &[u8]) -> Option<Self> {
        match s {
            b"online" => Some(Self::Online),
            b"paused" => Some(Self::Paused),
            b"left" => Some(Self::Left),
            b"gone" => Some(Self::Gone),
            _ => None,
        }
    }
}

/// What the network thread reports.
#[derive(Debug)]
pub(crate) enum Net {
    Event(rumqttc::Event),
    /// The connection failed or dropped; the thread retries after a backoff.
    Lost(String),
}

/// Drives one MQTT connection on its own thread, blocking on the network (a timeout around the event
/// loop would cancel a TLS handshake slower than the timeout, over and over). Retries with backoff.
pub(crate) struct NetThread {
    pub events: crossbeam_channel::Receiver<Net>,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    handle: Option<std::thread::JoinHandle<()>>,
}

impl NetThread {
    pub fn spawn(
        mut connection: rumqttc::Connection,
        name: &str,
        first_backoff: Duration,
        max_backoff: Duration,
    ) -> Result<Self, ShareError> {
        use std::sync::atomic::Ordering;
        let (tx, rx) = crossbeam_channel::unbounded();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = stop.clone();
        let handle = std::thread::Builder::new()
            .name(name.to_string())
            .spawn(move || {
                let mut backoff = first_backoff;
                while !flag.load(Ordering::Relaxed) {
                    match connection.recv() {
                        Ok(Ok(ev)) => {
                            if matches!(ev, rumqttc::Event::Incoming(rumqttc::Packet::ConnAck(_))) {
                                backoff = first_backoff;
                            }
                            if tx.send(Net::Event(ev)).is_err() {
                                return;
                            }
                        }
                        Ok(Err(e)) => {
                            if flag.load(Ordering::Relaxed) || tx.send(Net::Lost(e.to_string())).is_err() {
                                return;
                            }
                            let until = std::time::Instant::now() + backoff;
                            while std::time::Instant::now() < until && !flag.load(Ordering::Relaxed) {
                                std::thread::sleep(Duration::from_millis(20));
                            }
                            backoff = (backoff * 2).min(max_backoff);
                        }
                        // Every client handle dropped.
                        Err(_) => return,
                    }
                }
            })
            .map_err(ShareError::Thread)?;
        Ok(Self { events: rx, stop, handle: Some(handle) })
    }

    /// Asks the thread to end and waits up to `wait` (a connection attempt in progress may take longer:
    /// then the thread is left to end on its own).
    pub fn stop(&mut self, wait: Duration) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let until = std::time::Instant::now() + wait;
        while self.handle.as_ref().is_some_and(|h| !h.is_finished()) && std::time::Instant::now() < until {
            std::thread::sleep(Duration::from_millis(10));
        }
        if let Some(h) = self.handle.take().filter(|h| h.is_finished()) {
            let _ = h.join();
        }
    }
}

impl Drop for NetThread {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

/// Now as a Unix second.
pub fn unix_now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64)
}

/// Now as fractional Unix seconds.
pub(crate) fn unix_now_f64() -> f64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_parse_with_defaults_and_refuse_nonsense() {
        let a: ClassAddress = "mqtt://127.0.0.1/math-3".parse().unwrap();
        assert_eq!((a.tls, a.host.as_str(), a.port, a.class.as_str()), (false, "127.0.0.1", 1883, "math-3"));
        let a: ClassAddress = "mqtts://teacher@broker.school.kr:8884/A1".parse().unwrap();
        assert_eq!((a.tls, a.port, a.username.as_deref()), (true, 8884, Some("teacher")));
        assert_eq!(a.to_string(), "mqtts://teacher@broker.school.kr:8884/A1");
        let a: ClassAddress = "mqtt://u:secret@h/c".parse().unwrap();
        assert_eq!(a.password.as_deref(), Some("secret"));
        assert!(!a.to_string().contains("secret"));
        for bad in ["http://h/c", "mqtt://h", "mqtt://h/", "mqtt://h/a/b", "mqtt://h/+", "mqtt://h:0/c", "mqtt://:1/c"]
        {
            assert!(bad.parse::<ClassAddress>().is_err(), "{bad}");
        }
    }

    #[test]
    fn topics_round_trip_and_foreign_topics_are_ignored() {
        let a: ClassAddress = "mqtt://h/c1".parse().unwrap();
        let t = a.seconds_topic("S-ABC");
        assert_eq!(a.parse_student_topic(&t), Some(("S-ABC", "seconds")));
        let other: ClassAddress = "mqtt://h/c2".parse().unwrap();
        assert_eq!(other.parse_student_topic(&t), None);
        assert_eq!(a.parse_student_topic("emotion-monitor/v1/c1/students/a+b/seconds"), None);
    }

    #[test]
    fn pseudonyms_are_random_and_valid() {
        let a = new_pseudonym();
        let b = new_pseudonym();
        assert!(valid_pseudonym(&a) && a.starts_with("S-") && a.len() == 8);
        assert_ne!(a, b);
    }

    #[test]
    fn a_full_second_fits_in_a_kilobyte_and_reads_back() {
        let row = SecondRow {
            second: 12,
            frames: 30,
            faces_present: 1,
            faces_lost: 0,
            mean_engagement: Some(0.123_456_7),
            mean_attention: Some(0.9),
            mean_valence: Some(-0.333_333),
            mean_arousal: Some(0.25),
            shares: Some([1.0, 0.0, 0.0, 0.0]),
            mean_p: Some([0.011_111, 0.022_222, 0.033_333, 0.6, 0.2, 0.1, 0.023_334]),
        };
        let m = SecondMessage::from_row(&row, 1_700_000_012);
        let bytes = m.to_payload();
        assert!(bytes.len() <= MAX_PAYLOAD, "{} bytes", bytes.len());
        let back = SecondMessage::from_payload(&bytes).unwrap();
        assert_eq!(back, m);
        assert_eq!(back.t, 1_700_000_012);
        assert_eq!(back.to_row(12).mean_engagement, Some(0.123));
        assert!(SecondMessage::from_payload(b"{\"t\":1}").is_none());
        let mut hostile = m.clone();
        hostile.engagement = Some(7.0);
        assert!(SecondMessage::from_payload(&hostile.to_payload()).is_none());
    }
}
