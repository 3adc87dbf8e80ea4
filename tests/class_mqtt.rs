//! The class view over a real MQTT broker (mosquitto on 127.0.0.1, started by each test on a free port):
//! three students analysing the real clips and a headless teacher; the k-gate; payload sizes and what is
//! on the wire; a broker restart without lost or duplicated seconds; a wrong class code; the shipped ACL
//! (a student cannot read another student's data or publish under another pseudonym); TLS; and a load of
//! 200 simulated students for two minutes (teacher CPU and memory measured and bounded).

mod common;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::Read;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use emotion_monitor::session::SecondRow;
use emotion_monitor::share::student::Sharer;
use emotion_monitor::share::{ClassAddress, MAX_PAYLOAD, unix_now};

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_emotion-monitor"));
    c.env("RUST_LOG", "warn").env_remove(emotion_monitor::share::PASSWORD_ENV);
    c
}

fn mosquitto() -> Option<PathBuf> {
    let found = ["/usr/sbin/mosquitto", "/usr/bin/mosquitto", "/usr/local/sbin/mosquitto"]
        .into_iter()
        .map(PathBuf::from)
        .find(|p| p.is_file());
    if found.is_none() {
        common::skip("mosquitto not installed (apt-get install mosquitto; scripts/setup.sh does it)");
    }
    found
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A mosquitto process on 127.0.0.1 with a generated configuration; killed on drop.
struct Broker {
    exe: PathBuf,
    conf: PathBuf,
    port: u16,
    child: Option<Child>,
    _dir: tempfile::TempDir,
}

impl Broker {
    /// `extra`: configuration lines for the listener (auth, TLS); `{dir}` is the config folder.
    fn start(extra: &str) -> Option<Self> {
        let mut b = Self::configure(extra)?;
        b.spawn();
        Some(b)
    }

    /// The configuration only (start it with [`spawn`](Self::spawn)).
    fn configure(extra: &str) -> Option<Self> {
        let exe = mosquitto()?;
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let extra = extra.replace("{dir}", &dir.path().display().to_string());
        let conf = dir.path().join("mosquitto.conf");
        // `user root`: when the tests run as root, mosquitto would otherwise switch to a `mosquitto`
        // user that cannot read the temporary folder.
        std::fs::write(&conf, format!("user root\nper_listener_settings false\nlistener {port} 127.0.0.1\n{extra}\n"))
            .unwrap();
        Some(Self { exe, conf, port, child: None, _dir: dir })
    }

    fn spawn(&mut self) {
        let child = Command::new(&self.exe)
            .arg("-c")
            .arg(&self.conf)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start mosquitto");
        self.child = Some(child);
        let until = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            if let Some(Ok(Some(status))) = self.child.as_mut().map(|c| c.try_wait()) {
                let mut err = String::new();
                let _ = self.child.as_mut().unwrap().stderr.take().unwrap().read_to_string(&mut err);
                panic!("mosquitto exited ({status}): {err}");
            }
            assert!(Instant::now() < until, "mosquitto did not start listening on {}", self.port);
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    fn url(&self, class: &str) -> String {
        format!("mqtt://127.0.0.1:{}/{class}", self.port)
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The teacher, headless, as a user would run it.
fn teacher(url: &str, csv: &Path, sessions: &Path, duration_s: f64, k: Option<u32>) -> Child {
    teacher_env(url, csv, sessions, duration_s, k, &[])
}

/// [`teacher`] with environment variables (password, CA).
fn teacher_env(
    url: &str,
    csv: &Path,
    sessions: &Path,
    duration_s: f64,
    k: Option<u32>,
    env: &[(&str, String)],
) -> Child {
    let mut c = bin();
    c.envs(env.iter().map(|(k, v)| (k, v)));
    c.args(["class", url, "--csv"])
        .arg(csv)
        .arg("--duration")
        .arg(duration_s.to_string())
        .arg("--sessions")
        .arg(sessions)
        .stderr(Stdio::piped());
    if let Some(k) = k {
        c.arg("--min-students").arg(k.to_string());
    }
    c.spawn().expect("start the teacher")
}

fn wait_ok(mut child: Child, what: &str) -> String {
    let mut err = String::new();
    if let Some(mut e) = child.stderr.take() {
        let _ = e.read_to_string(&mut err);
    }
    let status = child.wait().unwrap();
    assert!(status.success(), "{what} failed ({status}): {err}");
    assert!(!err.contains("panicked"), "{what} panicked: {err}");
    err
}

type Rows = Vec<HashMap<String, String>>;

fn read_csv(path: &Path) -> Rows {
    let mut r = csv::Reader::from_path(path).unwrap();
    let headers = r.headers().unwrap().clone();
    r.records()
        .map(|rec| headers.iter().zip(rec.unwrap().iter()).map(|(h, v)| (h.into(), v.into())).collect())
        .collect()
}

/// Records every message under `filter` (a spy with the broker's permission to read everything).
fn spy(port: u16, filter: &str, creds: Option<(&str, &str)>) -> (Arc<Mutex<Vec<(String, Vec<u8>)>>>, rumqttc::Client) {
    let mut o = rumqttc::MqttOptions::new(format!("spy-{}", free_port()), "127.0.0.1", port);
    if let Some((u, p)) = creds {
        o.set_credentials(u, p);
    }
    let (client, mut conn) = rumqttc::Client::new(o, 100);
    let got = Arc::new(Mutex::new(Vec::new()));
    let sink = got.clone();
    let filter = filter.to_string();
    let c2 = client.clone();
    std::thread::spawn(move || {
        for ev in conn.iter() {
            match ev {
                Ok(rumqttc::Event::Incoming(rumqttc::Packet::ConnAck(_))) => {
                    let _ = c2.subscribe(filter.clone(), rumqttc::QoS::AtLeastOnce);
                }
                Ok(rumqttc::Event::Incoming(rumqttc::Packet::Publish(p))) => {
                    sink.lock().unwrap().push((p.topic.clone(), p.payload.to_vec()));
                }
                Ok(_) => {}
                Err(_) => break,
            }
        }
    });
    std::thread::sleep(Duration::from_millis(500));
    (got, client)
}

/// A student's second with plausible values.
fn second_row(second: i64, engagement: f32) -> SecondRow {
    SecondRow {
        second,
        frames: 15,
        faces_present: 1,
        faces_lost: 0,
        mean_engagement: Some(engagement),
        mean_attention: Some(0.9),
        mean_valence: Some(0.1),
        mean_arousal: Some(0.2),
        shares: Some([1.0, 0.0, 0.0, 0.0]),
        mean_p: Some([0.02, 0.01, 0.02, 0.3, 0.6, 0.03, 0.02]),
    }
}

fn student_rows(rows: &Rows) -> BTreeMap<String, Vec<i64>> {
    let mut by: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    for r in rows.iter().filter(|r| r["student"] != "class") {
        by.entry(r["student"].clone()).or_default().push(r["t_unix"].parse().unwrap());
    }
    by
}

#[test]
fn three_students_share_their_seconds_and_the_teacher_records_them_with_the_k_gate() {
    let Some(clips) = common::real_faces() else { return };
    let Some(broker) = Broker::start("allow_anonymous true") else { return };
    let tmp = tempfile::tempdir().unwrap();
    let (wire, _spy) = spy(broker.port, "#", None);
    let csv = tmp.path().join("class.csv");
    let other_csv = tmp.path().join("other.csv");
    let t = teacher(&broker.url("math-3"), &csv, &tmp.path().join("teacher"), 25.0, None);
    // A teacher with the wrong class code sees nothing.
    let wrong = teacher(&broker.url("math-4"), &other_csv, &tmp.path().join("wrong"), 25.0, None);
    std::thread::sleep(Duration::from_millis(1500));
    let inputs = [
        clips.join("openface_2015-10-15-15-14.avi"),
        clips.join("openface_changeLighting.wmv"),
        clips.join("openface_2015-10-15-15-14.avi"),
    ];
    let students: Vec<(PathBuf, Child)> = inputs
        .iter()
        .enumerate()
        .map(|(i, clip)| {
            let sessions = tmp.path().join(format!("student{i}"));
            let child = bin()
                .arg("analyze")
                .arg(clip)
                .args(["--quiet", "--duration", "12", "--share", &broker.url("math-3"), "--sessions"])
                .arg(&sessions)
                .stderr(Stdio::piped())
                .spawn()
                .unwrap();
            (sessions, child)
        })
        .collect();
    let mut expected: BTreeMap<String, usize> = BTreeMap::new();
    for (sessions, child) in students {
        let err = wait_ok(child, "student");
        let pseudonym = err
            .split_whitespace()
            .find(|w| w.starts_with("S-") && w.len() == 8)
            .unwrap_or_else(|| panic!("the student was not told its pseudonym: {err}"))
            .to_string();
        assert!(err.contains("no video, no images"), "{err}");
        let session = std::fs::read_dir(&sessions).unwrap().next().unwrap().unwrap().path();
        let seconds = read_csv(&session.join("seconds.csv")).len();
        assert!(seconds >= 6, "{seconds}");
        expected.insert(pseudonym, seconds);
    }
    wait_ok(t, "teacher");
    wait_ok(wrong, "teacher with the wrong class code");

    let rows = read_csv(&csv);
    let by_student = student_rows(&rows);
    let got: BTreeMap<String, usize> = by_student.iter().map(|(p, v)| (p.clone(), v.len())).collect();
    assert_eq!(got, expected, "every student's every second, exactly once");
    for v in by_student.values() {
        assert_eq!(v.iter().collect::<HashSet<_>>().len(), v.len(), "a duplicated second");
    }
    let class: Vec<_> = rows.iter().filter(|r| r["student"] == "class").collect();
    assert!(!class.is_empty());
    let mut full = 0;
    for r in &class {
        let n: u32 = r["students"].parse().unwrap();
        if n < 3 {
            assert_eq!(r["mean_engagement"], "", "a class figure from fewer than k students: {r:?}");
            assert_eq!(r["mean_p_happy"], "");
        } else {
            full += 1;
            assert_ne!(r["mean_engagement"], "", "{r:?}");
        }
    }
    assert!(full >= 3, "seconds that all three students reported: {full}");
    assert!(read_csv(&other_csv).is_empty(), "the wrong class code saw data");

    // On the wire: seconds and status only, each seconds payload at most 1 KB, no image-like content.
    let wire = wire.lock().unwrap();
    let seconds: Vec<_> = wire.iter().filter(|(t, _)| t.ends_with("/seconds")).collect();
    assert!(seconds.len() >= expected.values().sum::<usize>());
    let biggest = seconds.iter().map(|(_, p)| p.len()).max().unwrap();
    assert!(biggest <= MAX_PAYLOAD, "{biggest} bytes");
    eprintln!("payload: {biggest} bytes at most over {} seconds messages", seconds.len());
    for (topic, payload) in wire.iter() {
        let kind = topic.rsplit('/').next().unwrap();
        assert!(["seconds", "status", "hello"].contains(&kind), "unexpected topic {topic}");
        assert!(std::str::from_utf8(payload).is_ok(), "binary payload on {topic}");
    }
    // The class session folder reads like a local one.
    let session = std::fs::read_dir(tmp.path().join("teacher")).unwrap().next().unwrap().unwrap().path();
    let loaded = emotion_monitor::session::open_session(&session).unwrap();
    assert_eq!(loaded.info.status, "finished");
    assert!(session.join("report.png").is_file() && session.join("class.csv").is_file());
}

#[test]
fn a_broker_restart_loses_and_duplicates_no_second() {
    let Some(mut broker) = Broker::start("allow_anonymous true") else { return };
    let tmp = tempfile::tempdir().unwrap();
    let csv = tmp.path().join("class.csv");
    let url = broker.url("restart");
    let t = teacher(&url, &csv, &tmp.path().join("teacher"), 30.0, Some(1));
    std::thread::sleep(Duration::from_millis(1500));
    let sharer = Sharer::start(url.parse::<ClassAddress>().unwrap()).unwrap();
    let tx = sharer.seconds_sender();
    let t0 = unix_now();
    for i in 0..100 {
        tx.send((t0 + i, second_row(i, 0.5))).unwrap();
        std::thread::sleep(Duration::from_millis(100));
        if i == 30 {
            broker.stop();
        }
        if i == 50 {
            broker.spawn();
        }
    }
    let report = sharer.stop();
    assert_eq!((report.undelivered, report.dropped), (0, 0), "{report:?}");
    wait_ok(t, "teacher");
    let by = student_rows(&read_csv(&csv));
    assert_eq!(by.len(), 1);
    let got = by.values().next().unwrap();
    assert_eq!(got.len(), 100, "lost or duplicated seconds");
    assert_eq!(got.iter().collect::<HashSet<_>>().len(), 100);
}

#[test]
fn under_the_shipped_acl_a_student_reads_nothing_and_cannot_pose_as_another() {
    let Some(exe) = mosquitto() else { return };
    let passwd = exe.with_file_name("mosquitto_passwd");
    let passwd = if passwd.is_file() { passwd } else { PathBuf::from("/usr/bin/mosquitto_passwd") };
    let Some(mut broker) = secured_broker(&passwd) else { return };
    let port = broker.port;
    let tmp = tempfile::tempdir().unwrap();
    let csv = tmp.path().join("class.csv");
    let url = format!("mqtt://teacher@127.0.0.1:{port}/demo");
    let pw = [(emotion_monitor::share::PASSWORD_ENV, "teacher-pw".to_string())];
    let t = teacher_env(&url, &csv, &tmp.path().join("teacher"), 8.0, None, &pw);
    // A curious student: the class's every topic, and everything.
    let (seen, rogue) = spy(port, "emotion-monitor/#", Some(("student", "student-pw")));
    let _ = rogue.subscribe("#", rumqttc::QoS::AtLeastOnce);
    std::thread::sleep(Duration::from_millis(800));
    let honest = Sharer::start(format!("mqtt://student:student-pw@127.0.0.1:{port}/demo").parse().unwrap()).unwrap();
    let tx = honest.seconds_sender();
    let t0 = unix_now();
    for i in 0..5 {
        tx.send((t0 + i, second_row(i, 0.4))).unwrap();
    }
    // The rogue publishes under another student's pseudonym (its client ID is its own).
    let victim = honest.pseudonym().to_string();
    let forged = emotion_monitor::share::SecondMessage::from_row(&second_row(0, 1.0), t0 + 100);
    let _ = rogue.publish(
        format!("emotion-monitor/v1/demo/students/{victim}/seconds"),
        rumqttc::QoS::AtLeastOnce,
        false,
        forged.to_payload(),
    );
    std::thread::sleep(Duration::from_millis(1500));
    let report = honest.stop();
    assert_eq!(report.delivered, 5, "{report:?}");
    wait_ok(t, "teacher");
    let seen = seen.lock().unwrap();
    assert!(
        seen.iter().all(|(topic, _)| !topic.contains("/students/")),
        "a student read students' data: {:?}",
        seen.iter().map(|(t, _)| t).collect::<Vec<_>>()
    );
    let by = student_rows(&read_csv(&csv));
    assert_eq!(by.get(&victim).map(Vec::len), Some(5), "the teacher got the honest student's seconds: {by:?}");
    assert!(!by[&victim].contains(&(t0 + 100)), "a forged second under another pseudonym was accepted");
    // A wrong password is refused.
    let wrong = Sharer::start(format!("mqtt://student:nope@127.0.0.1:{port}/demo").parse().unwrap()).unwrap();
    std::thread::sleep(Duration::from_millis(800));
    assert!(!wrong.state().connected.load(std::sync::atomic::Ordering::Relaxed));
    drop(wrong);
    broker.stop();
}

/// The shipped ACL and a password file: students and the teacher as deployed.
fn secured_broker(passwd_tool: &Path) -> Option<Broker> {
    let acl = common::root().join("deploy/mosquitto/acl");
    assert!(acl.is_file(), "deploy/mosquitto/acl is shipped");
    let mut b =
        Broker::configure(&format!("allow_anonymous false\npassword_file {{dir}}/passwd\nacl_file {}", acl.display()))?;
    let file = b._dir.path().join("passwd");
    for (user, pw) in [("teacher", "teacher-pw"), ("student", "student-pw")] {
        let mut c = Command::new(passwd_tool);
        if file.exists() {
            c.args(["-b"]);
        } else {
            c.args(["-c", "-b"]);
        }
        let ok = c.arg(&file).args([user, pw]).status().unwrap();
        assert!(ok.success(), "mosquitto_passwd");
    }
    b.spawn();
    Some(b)
}

#[test]
fn seconds_travel_over_tls_with_the_schools_own_ca() {
    let Some(_) = mosquitto() else { return };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let openssl = |args: &[&str]| {
        let ok = Command::new("openssl").args(args).current_dir(d).stderr(Stdio::null()).status().unwrap();
        assert!(ok.success(), "openssl {args:?}");
    };
    openssl(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "2",
        "-subj",
        "/CN=test-ca",
        "-keyout",
        "ca.key",
        "-out",
        "ca.crt",
    ]);
    openssl(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        "/CN=localhost",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
    ]);
    std::fs::write(d.join("ext.cnf"), "subjectAltName=DNS:localhost,IP:127.0.0.1\n").unwrap();
    openssl(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.crt",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        "ext.cnf",
        "-out",
        "server.crt",
    ]);
    let Some(broker) = Broker::start(&format!(
        "allow_anonymous true\ncafile {0}/ca.crt\ncertfile {0}/server.crt\nkeyfile {0}/server.key",
        d.display()
    )) else {
        return;
    };
    let mut address: ClassAddress = format!("mqtts://localhost:{}/tls", broker.port).parse().unwrap();
    address.ca_file = Some(d.join("ca.crt"));
    let tmp = tempfile::tempdir().unwrap();
    let csv = tmp.path().join("class.csv");
    let ca = [(emotion_monitor::share::CA_ENV, d.join("ca.crt").display().to_string())];
    let t = teacher_env(&address.to_string(), &csv, &tmp.path().join("teacher"), 6.0, Some(1), &ca);
    std::thread::sleep(Duration::from_millis(1500));
    let s = Sharer::start(address.clone()).unwrap();
    let t0 = unix_now();
    for i in 0..3 {
        s.seconds_sender().send((t0 + i, second_row(i, 0.7))).unwrap();
    }
    std::thread::sleep(Duration::from_millis(1000));
    let why = s.state().last_error.lock().unwrap().clone();
    let report = s.stop();
    assert_eq!(report.delivered, 3, "{report:?} {why:?}");
    wait_ok(t, "teacher over TLS");
    assert_eq!(student_rows(&read_csv(&csv)).values().next().map(Vec::len), Some(3));
    // Without the CA, the broker's certificate is not trusted: nothing is sent.
    let mut untrusted = address.clone();
    untrusted.ca_file = None;
    let s = Sharer::start(untrusted).unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    assert!(!s.state().connected.load(std::sync::atomic::Ordering::Relaxed));
}

/// Reads utime+stime (clock ticks) and VmRSS (kB) of a process.
fn proc_usage(pid: u32) -> Option<(u64, u64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = stat.rsplit_once(')')?.1;
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let rss = status.lines().find(|l| l.starts_with("VmRSS:"))?.split_whitespace().nth(1)?.parse().ok()?;
    Some((ticks, rss))
}

#[test]
fn two_hundred_students_for_two_minutes_keep_the_teacher_light() {
    let students: usize = std::env::var("CLASS_LOAD_STUDENTS").ok().and_then(|v| v.parse().ok()).unwrap_or(200);
    let seconds: i64 = std::env::var("CLASS_LOAD_SECONDS").ok().and_then(|v| v.parse().ok()).unwrap_or(120);
    let Some(broker) = Broker::start("allow_anonymous true\nmax_queued_messages 100000") else { return };
    let tmp = tempfile::tempdir().unwrap();
    let csv = tmp.path().join("class.csv");
    let url = broker.url("load");
    let duration = seconds as f64 + 8.0;
    let t = teacher(&url, &csv, &tmp.path().join("teacher"), duration, None);
    let pid = t.id();
    std::thread::sleep(Duration::from_millis(1500));
    let sharers: Vec<Sharer> = (0..students).map(|_| Sharer::start(url.parse().unwrap()).unwrap()).collect();
    let t0 = unix_now() + 1;
    let start = Instant::now();
    let (first_ticks, _) = proc_usage(pid).unwrap();
    let mut peak_rss = 0;
    for i in 0..seconds {
        for (k, s) in sharers.iter().enumerate() {
            let _ = s.seconds_sender().send((t0 + i, second_row(i, (k % 10) as f32 / 10.0)));
        }
        if let Some((_, rss)) = proc_usage(pid) {
            peak_rss = peak_rss.max(rss);
        }
        let next = start + Duration::from_secs((i + 1) as u64);
        std::thread::sleep(next.saturating_duration_since(Instant::now()));
    }
    let sent_for = start.elapsed().as_secs_f64();
    let (last_ticks, rss) = proc_usage(pid).unwrap();
    peak_rss = peak_rss.max(rss);
    let reports: Vec<_> = sharers.into_iter().map(|s| s.stop()).collect();
    wait_ok(t, "teacher under load");
    let hz = 100.0; // USER_HZ on Linux
    let cpu = (last_ticks - first_ticks) as f64 / hz / sent_for;
    let rows = read_csv(&csv);
    let by = student_rows(&rows);
    let received: usize = by.values().map(Vec::len).sum();
    let delivered: u64 = reports.iter().map(|r| r.delivered).sum();
    let msgs_per_s = received as f64 / sent_for;
    eprintln!(
        "class load: {students} students x {seconds} s: {received} seconds received ({msgs_per_s:.0} messages/s), \
         {delivered} acknowledged; teacher CPU {:.1} % of one core, peak RSS {:.1} MB",
        cpu * 100.0,
        peak_rss as f64 / 1024.0
    );
    assert_eq!(by.len(), students);
    assert_eq!(received, students * seconds as usize, "lost or duplicated seconds under load");
    assert!(cpu < 0.5, "the teacher used {:.0} % of a core for {students} students", cpu * 100.0);
    assert!(peak_rss < 300 * 1024, "the teacher's memory grew to {} MB", peak_rss / 1024);
}

/// What the student-window tests need: the real clips, xvfb-run, a broker, and a spy on all it carries.
struct WindowRig {
    clips: PathBuf,
    broker: Broker,
    wire: Arc<Mutex<Vec<(String, Vec<u8>)>>>,
    _spy: rumqttc::Client,
    tmp: tempfile::TempDir,
}

fn window_rig() -> Option<WindowRig> {
    let clips = common::real_faces()?;
    if Command::new("xvfb-run").arg("--help").output().is_err() {
        common::skip("xvfb-run not installed (apt-get install xvfb xauth)");
        return None;
    }
    let broker = Broker::start("allow_anonymous true")?;
    let (wire, _spy) = spy(broker.port, "emotion-monitor/#", None);
    Some(WindowRig { clips, broker, wire, _spy, tmp: tempfile::tempdir().unwrap() })
}

/// The student's window: nothing leaves the machine until the student agrees (`--share` alone only
/// offers); with the agreement (`--share-now`, the same as clicking "Share") the session's seconds go out.
#[test]
fn the_window_shares_only_after_the_student_agrees() {
    let Some(WindowRig { clips, broker, wire, _spy, tmp }) = window_rig() else { return };
    let clip = clips.join("openface_2015-10-15-15-14.avi");
    let window = |agree: bool, sessions: &Path| {
        let mut c = Command::new("timeout");
        c.args(["120", "xvfb-run", "-a", "-s", "-screen 0 1400x1000x24", env!("CARGO_BIN_EXE_emotion-monitor")])
            .args(["--detector", "blazeface", "--sessions"])
            .arg(sessions)
            .args(["window", "--start", "--exit-after", "8", "--share", &broker.url("optin"), "--video"])
            .arg(&clip)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        if agree {
            c.arg("--share-now");
        }
        wait_ok(c.spawn().unwrap(), "the student's window")
    };
    window(false, &tmp.path().join("declined"));
    let before: Vec<String> = wire.lock().unwrap().iter().map(|(t, _)| t.clone()).collect();
    assert!(before.is_empty(), "something was sent before the student agreed: {before:?}");
    window(true, &tmp.path().join("agreed"));
    let wire = wire.lock().unwrap();
    let seconds = wire.iter().filter(|(t, _)| t.ends_with("/seconds")).count();
    assert!(seconds >= 3, "the agreed window sent {seconds} seconds");
    assert!(wire.iter().any(|(t, p)| t.ends_with("/status") && p == b"left"), "no 'left' when the window closed");
}

/// A student whose app dies (killed, crashed, cable pulled) is marked gone by the broker's last will, and the
/// teacher's class view counts them as gone.
#[test]
fn a_student_whose_app_dies_is_marked_gone_by_the_last_will() {
    let Some(WindowRig { clips, broker, wire, _spy, tmp }) = window_rig() else { return };
    let csv = tmp.path().join("class.csv");
    let teacher = teacher(&broker.url("will"), &csv, &tmp.path().join("teacher"), 20.0, Some(1));
    let marker = tmp.path().join("student-sessions");
    let mut student = Command::new("timeout")
        .args(["60", "xvfb-run", "-a", "-s", "-screen 0 1400x1000x24", env!("CARGO_BIN_EXE_emotion-monitor")])
        .args(["--detector", "blazeface", "--sessions"])
        .arg(&marker)
        .args(["window", "--start", "--share", &broker.url("will"), "--share-now", "--video"])
        .arg(clips.join("openface_2015-10-15-15-14.avi"))
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let has = |what: &str| wire.lock().unwrap().iter().any(|(t, p)| t.ends_with("/status") && p == what.as_bytes());
    let seconds = || wire.lock().unwrap().iter().filter(|(t, _)| t.ends_with("/seconds")).count();
    let until = Instant::now() + Duration::from_secs(40);
    while seconds() < 3 && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(has("online") && seconds() >= 3, "the student never shared");
    // SIGKILL to the app itself (not xvfb-run, whose Xvfb must still be cleaned up): no "left", no goodbye; only
    // the broker can tell.
    let pids = Command::new("pgrep").arg("-f").arg(marker.to_str().unwrap()).output().unwrap();
    let app: Vec<String> = String::from_utf8_lossy(&pids.stdout)
        .split_whitespace()
        .filter(|pid| std::fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.trim() == "emotion-monitor"))
        .map(str::to_string)
        .collect();
    assert_eq!(app.len(), 1, "the student's process: {app:?}");
    assert!(Command::new("kill").args(["-9", &app[0]]).status().unwrap().success());
    let until = Instant::now() + Duration::from_secs(15);
    while !has("gone") && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = student.kill();
    let _ = student.wait();
    assert!(has("gone"), "no last will after the student's app died");
    assert!(!has("left"), "a killed app cannot have said goodbye");
    wait_ok(teacher, "teacher");
    // The teacher kept the seconds the student sent before dying.
    assert!(student_rows(&read_csv(&csv)).values().next().is_some_and(|v| v.len() >= 2));
}
