//! Engagement you can explain: per face and frame, the components (presence, head pose →
//! attention, emotion probabilities → valence/arousal), one score in [0, 1], its smoothing over
//! time and a per-face state with hysteresis.
//!
//! Everything here is a pure function of its inputs, so a researcher can recompute the score
//! from the columns of `frames.csv` (see `docs/ENGAGEMENT.md` for the formula and the sources).

use serde::{Deserialize, Serialize};

use crate::Probs;
use crate::detect::Detection;

/// Circumplex coordinates (pleasure/valence, arousal) for each class in [`crate::EMOTIONS`] order.
///
/// Pleasure and arousal values of the emotion terms *angry*, *disgusted*, *afraid/fearful*,
/// *happy*, *sad* and *surprised* from Russell & Mehrabian (1977), "Evidence for a three-factor
/// theory of emotions", Journal of Research in Personality 11(3), 273–294 (their table of 151
/// emotion terms, scaled to [-1, 1]). *Neutral* is not a term of that table: we place it at the
/// origin of the circumplex by definition. Dominance is not used.
pub(crate) const CIRCUMPLEX: [(f32, f32); 7] = [
    (-0.51, 0.59),  // angry
    (-0.60, 0.35),  // disgust
    (-0.64, 0.60),  // fear
    (0.81, 0.51),   // happy
    (0.0, 0.0),     // neutral (origin, our choice)
    (-0.63, -0.27), // sad
    (0.40, 0.67),   // surprise
];

/// How much each component counts in the engagement score. Only the ratios matter: the score is
/// divided by the sum of the weights.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct EngagementWeights {
    /// Weight of attention (facing the screen/teacher).
    pub attention: f32,
    /// Weight of valence, mapped from [-1, 1] to [0, 1].
    pub valence: f32,
    /// Weight of arousal, mapped from [-1, 1] to [0, 1].
    pub arousal: f32,
}

impl Default for EngagementWeights {
    fn default() -> Self {
        Self { attention: 0.6, valence: 0.15, arousal: 0.25 }
    }
}

/// Geometry constants of the head-pose estimate and the attention ramps (degrees).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AttentionConfig {
    /// Nose-tip depth in front of the eyes, in units of the inter-eye distance (yaw estimate).
    pub nose_depth: f32,
    /// (nose − eyes) / (mouth − eyes) vertical ratio of a face looking straight at the camera.
    pub frontal_nose_ratio: f32,
    /// Sensitivity of that ratio to tan(pitch) (pitch estimate).
    pub pitch_gain: f32,
    /// |yaw| up to this counts as fully attentive…
    pub yaw_full_deg: f32,
    /// …and from this on as not attentive at all (linear in between).
    pub yaw_zero_deg: f32,
    /// Looking down: full attention up to this many degrees…
    pub down_full_deg: f32,
    /// …none from this on.
    pub down_zero_deg: f32,
    /// Looking up: full attention up to this many degrees…
    pub up_full_deg: f32,
    /// …none from this on.
    pub up_zero_deg: f32,
    /// Attention used when the keypoints are unusable (degenerate geometry).
    pub unknown: f32,
}

impl Default for AttentionConfig {
    fn default() -> Self {
        Self {
            nose_depth: 0.5,
            frontal_nose_ratio: 0.5,
            pitch_gain: 0.4,
            yaw_full_deg: 15.0,
            yaw_zero_deg: 45.0,
            down_full_deg: 10.0,
            down_zero_deg: 35.0,
            up_full_deg: 15.0,
            up_zero_deg: 40.0,
            unknown: 0.5,
        }
    }
}

/// Thresholds and times of the per-face state machine.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct StateConfig {
    /// Time constant of the engagement smoothing, seconds.
    pub smoothing_tau_s: f64,
    /// Smoothed engagement at or above which a face becomes engaged…
    pub engaged_enter: f32,
    /// …and below which it stops being engaged.
    pub engaged_exit: f32,
    /// Smoothed engagement below which a face becomes bored…
    pub bored_enter: f32,
    /// …and above which it stops being bored.
    pub bored_exit: f32,
    /// A face stays at least this long in engaged/neutral/bored before changing (except to away).
    pub min_dwell_s: f64,
    /// Attention below this counts as looking away.
    pub away_attention: f32,
    /// Looking away (or not found) for longer than this makes a face away.
    pub away_after_s: f64,
    /// A face not found for longer than this is forgotten (no longer counted, even as away).
    pub forget_after_s: f64,
}

impl Default for StateConfig {
    fn default() -> Self {
        Self {
            smoothing_tau_s: 2.0,
            engaged_enter: 0.65,
            engaged_exit: 0.55,
            bored_enter: 0.40,
            bored_exit: 0.50,
            min_dwell_s: 2.0,
            away_attention: 0.2,
            away_after_s: 2.0,
            forget_after_s: 10.0,
        }
    }
}

/// Everything that defines the engagement computation; stored in each session's `session.json`.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct EngagementConfig {
    pub weights: EngagementWeights,
    pub attention: AttentionConfig,
    pub state: StateConfig,
}

/// A face's engagement state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    Engaged,
    Neutral,
    Bored,
    Away,
}

impl State {
    /// All states, in the order of the `share_*` columns.
    pub const ALL: [State; 4] = [State::Engaged, State::Neutral, State::Bored, State::Away];

    pub fn as_str(self) -> &'static str {
        match self {
            State::Engaged => "engaged",
            State::Neutral => "neutral",
            State::Bored => "bored",
            State::Away => "away",
        }
    }

    pub fn parse(s: &str) -> Option<State> {
        State::ALL.into_iter().find(|st| st.as_str() == s)
    }

    /// Index into [`State::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }
}

/// Head orientation estimated from the detector's keypoints, degrees.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct HeadPose {
    /// Positive when the face turns towards the image's right (the subject's left).
    pub yaw_deg: f32,
    /// Positive when the face looks down.
    pub pitch_deg: f32,
}

/// Estimates yaw and pitch from the six keypoints, or `None` when they are degenerate
/// (eyes on top of each other, mouth not below the eyes).
///
/// Yaw: the nose tip sits `nose_depth` inter-eye distances in front of the eyes, so turning by
/// θ shifts it sideways from the eye midpoint by `nose_depth · tan θ` projected inter-eye distances.
/// Pitch: the nose tip's vertical position between eyes and mouth, `r = (nose − eyes) / (mouth −
/// eyes)`, grows when the head tilts down: `tan φ ≈ (r − frontal_nose_ratio) / pitch_gain`.
pub(crate) fn head_pose(det: &Detection, cfg: &AttentionConfig) -> Option<HeadPose> {
    let [re, le, nose, mouth, _, _] = det.keypoints;
    let eye_mid_x = (re.x + le.x) / 2.0;
    let eye_mid_y = (re.y + le.y) / 2.0;
    let ipd = ((le.x - re.x).powi(2) + (le.y - re.y).powi(2)).sqrt();
    let eyes_to_mouth = mouth.y - eye_mid_y;
    // Written positively so that NaN keypoints also count as degenerate.
    let usable = ipd > 1.0 && eyes_to_mouth > 1.0 && cfg.nose_depth.is_finite() && cfg.nose_depth > 0.0;
    if !usable {
        return None;
    }
    let dx = (nose.x - eye_mid_x) / ipd;
    let yaw = (dx / cfg.nose_depth).atan().to_degrees();
    let r = (nose.y - eye_mid_y) / eyes_to_mouth;
    let pitch = ((r - cfg.frontal_nose_ratio) / cfg.pitch_gain.max(1e-3)).atan().to_degrees();
    Some(HeadPose { yaw_deg: yaw, pitch_deg: pitch })
}

/// 1 up to `full`, 0 from `zero` on, linear in between.
fn ramp(x: f32, full: f32, zero: f32) -> f32 {
    if x <= full {
        1.0
    } else if x >= zero || zero <= full {
        0.0
    } else {
        1.0 - (x - full) / (zero - full)
    }
}

/// Attention in [0, 1] from the head pose: the product of a yaw ramp and a pitch ramp (looking
/// down is penalised sooner than looking up).
pub fn attention(pose: Option<HeadPose>, cfg: &AttentionConfig) -> f32 {
    let Some(p) = pose else { return cfg.unknown.clamp(0.0, 1.0) };
    let yaw = ramp(p.yaw_deg.abs(), cfg.yaw_full_deg, cfg.yaw_zero_deg);
    let pitch = if p.pitch_deg >= 0.0 {
        ramp(p.pitch_deg, cfg.down_full_deg, cfg.down_zero_deg)
    } else {
        ramp(-p.pitch_deg, cfg.up_full_deg, cfg.up_zero_deg)
    };
    yaw * pitch
}

/// Valence and arousal in [-1, 1]: the probability-weighted mean of the classes' circumplex
/// coordinates ([`CIRCUMPLEX`]). Probabilities are renormalised to sum to 1.
pub(crate) fn valence_arousal(p: &Probs) -> (f32, f32) {
    let sum: f32 = p.iter().map(|x| x.max(0.0)).sum();
    if sum.is_nan() || sum <= 0.0 {
        return (0.0, 0.0);
    }
    let (mut v, mut a) = (0.0, 0.0);
    for (k, &pk) in p.iter().enumerate() {
        v += pk.max(0.0) * CIRCUMPLEX[k].0;
        a += pk.max(0.0) * CIRCUMPLEX[k].1;
    }
    (v / sum, a / sum)
}

/// The engagement score in [0, 1]:
///
/// `presence · (w_att·attention + w_val·(valence+1)/2 + w_aro·(arousal+1)/2) / (w_att + w_val + w_aro)`
///
/// A face that is not present scores 0. Negative weights count as 0; all-zero weights give 0.
pub fn engagement(present: bool, attention: f32, valence: f32, arousal: f32, w: &EngagementWeights) -> f32 {
    if !present {
        return 0.0;
    }
    let (wa, wv, wr) = (w.attention.max(0.0), w.valence.max(0.0), w.arousal.max(0.0));
    let total = wa + wv + wr;
    if total.is_nan() || total <= 0.0 {
        return 0.0;
    }
    let s = wa * attention.clamp(0.0, 1.0)
        + wv * ((valence.clamp(-1.0, 1.0) + 1.0) / 2.0)
        + wr * ((arousal.clamp(-1.0, 1.0) + 1.0) / 2.0);
    (s / total).clamp(0.0, 1.0)
}

/// The components of one face in one frame, before smoothing.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub(crate) struct Components {
    pub pose: Option<HeadPose>,
    pub attention: f32,
    /// `None` without emotion probabilities (attention-only mode).
    pub valence: Option<f32>,
    pub arousal: Option<f32>,
    /// This frame's engagement (not smoothed).
    pub engagement: f32,
}

/// Computes the components of a found face from its detection and (smoothed) probabilities. Without
/// probabilities (attention-only mode) the score is presence · attention: the affect weights drop out,
/// as if `w_val = w_aro = 0`, so the score stays in [0, 1] and uses the same state thresholds.
pub(crate) fn components(det: &Detection, probs: Option<&Probs>, cfg: &EngagementConfig) -> Components {
    let pose = head_pose(det, &cfg.attention);
    let att = attention(pose, &cfg.attention);
    let Some(probs) = probs else {
        return Components { pose, attention: att, valence: None, arousal: None, engagement: att.clamp(0.0, 1.0) };
    };
    let (v, a) = valence_arousal(probs);
    let engagement = engagement(true, att, v, a, &cfg.weights);
    Components { pose, attention: att, valence: Some(v), arousal: Some(a), engagement }
}

/// One face's smoothed engagement and state over time.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct FaceEngagementState {
    smoothed: f32,
    state: State,
    state_since_s: f64,
    last_t_s: f64,
    /// Since when the face has been looking away or not found (None while attentive).
    away_since_s: Option<f64>,
    last_seen_s: f64,
}

impl FaceEngagementState {
    /// A face first seen at `t_s` with these components: its state is decided from the raw score
    /// (no hysteresis yet), and the dwell time starts now.
    pub fn new(t_s: f64, c: &Components, cfg: &StateConfig) -> Self {
        let state = if c.engagement >= cfg.engaged_enter {
            State::Engaged
        } else if c.engagement < cfg.bored_enter {
            State::Bored
        } else {
            State::Neutral
        };
        let away_since_s = (c.attention < cfg.away_attention).then_some(t_s);
        Self { smoothed: c.engagement, state, state_since_s: t_s, last_t_s: t_s, away_since_s, last_seen_s: t_s }
    }

    pub fn smoothed(&self) -> f32 {
        self.smoothed
    }
    pub fn state(&self) -> State {
        self.state
    }
    pub(crate) fn last_seen_s(&self) -> f64 {
        self.last_seen_s
    }

    /// The face was found at `t_s` with these components.
    pub(crate) fn update(&mut self, t_s: f64, c: &Components, cfg: &StateConfig) {
        let dt = (t_s - self.last_t_s).max(0.0);
        let a = crate::track::smoothing_weight(dt, cfg.smoothing_tau_s);
        self.smoothed += a * (c.engagement - self.smoothed);
        self.last_t_s = self.last_t_s.max(t_s);
        self.last_seen_s = self.last_seen_s.max(t_s);
        if c.attention < cfg.away_attention {
            self.away_since_s.get_or_insert(t_s);
        } else {
            self.away_since_s = None;
        }
        self.step(t_s, cfg);
    }

    fn step(&mut self, t_s: f64, cfg: &StateConfig) {
        let away_long = self.away_since_s.is_some_and(|s| t_s - s >= cfg.away_after_s);
        let next = if away_long {
            State::Away
        } else if self.state == State::Away {
            if self.away_since_s.is_some() {
                State::Away // still looking away, not yet attentive again
            } else if self.smoothed >= cfg.engaged_enter {
                State::Engaged
            } else if self.smoothed < cfg.bored_enter {
                State::Bored
            } else {
                State::Neutral
            }
        } else if t_s - self.state_since_s < cfg.min_dwell_s {
            self.state
        } else {
            let s = self.smoothed;
            match self.state {
                State::Engaged if s < cfg.bored_enter => State::Bored,
                State::Engaged if s < cfg.engaged_exit => State::Neutral,
                State::Neutral if s >= cfg.engaged_enter => State::Engaged,
                State::Neutral if s < cfg.bored_enter => State::Bored,
                State::Bored if s >= cfg.engaged_enter => State::Engaged,
                State::Bored if s > cfg.bored_exit => State::Neutral,
                st => st,
            }
        };
        if next != self.state {
            self.state = next;
            self.state_since_s = t_s;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::geometry::{BBox, Point};

    /// A 100-px face: eyes 40 px apart, nose shifted by (dx, dy) from its frontal place.
    fn face(nose_dx: f32, nose_dy: f32) -> Detection {
        let p = |x, y| Point { x, y };
        Detection {
            bbox: BBox { x: 0.0, y: 0.0, w: 100.0, h: 100.0 },
            score: 0.9,
            keypoints: [
                p(30.0, 40.0),
                p(70.0, 40.0),
                p(50.0 + nose_dx, 60.0 + nose_dy),
                p(50.0, 80.0),
                p(10.0, 50.0),
                p(90.0, 50.0),
            ],
        }
    }
    const NEUTRAL: Probs = [0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0];
    const HAPPY: Probs = [0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0];
    const SAD: Probs = [0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0];
    const CFG: EngagementConfig = EngagementConfig {
        weights: EngagementWeights { attention: 0.6, valence: 0.15, arousal: 0.25 },
        attention: ATT,
        state: ST,
    };
    const ATT: AttentionConfig = AttentionConfig {
        nose_depth: 0.5,
        frontal_nose_ratio: 0.5,
        pitch_gain: 0.4,
        yaw_full_deg: 15.0,
        yaw_zero_deg: 45.0,
        down_full_deg: 10.0,
        down_zero_deg: 35.0,
        up_full_deg: 15.0,
        up_zero_deg: 40.0,
        unknown: 0.5,
    };
    const ST: StateConfig = StateConfig {
        smoothing_tau_s: 2.0,
        engaged_enter: 0.65,
        engaged_exit: 0.55,
        bored_enter: 0.40,
        bored_exit: 0.50,
        min_dwell_s: 2.0,
        away_attention: 0.2,
        away_after_s: 2.0,
        forget_after_s: 10.0,
    };

    #[test]
    fn defaults_are_the_documented_constants() {
        assert_eq!(EngagementConfig::default(), CFG);
    }

    #[test]
    fn a_frontal_face_has_zero_yaw_and_pitch_and_full_attention() {
        let pose = head_pose(&face(0.0, 0.0), &ATT).unwrap();
        assert!(pose.yaw_deg.abs() < 1e-4 && pose.pitch_deg.abs() < 1e-4, "{pose:?}");
        assert_eq!(attention(Some(pose), &ATT), 1.0);
    }

    #[test]
    fn turning_away_lowers_attention_symmetrically_and_signs_follow_the_image() {
        let right = head_pose(&face(12.0, 0.0), &ATT).unwrap();
        let left = head_pose(&face(-12.0, 0.0), &ATT).unwrap();
        assert!(right.yaw_deg > 20.0 && left.yaw_deg < -20.0, "{right:?} {left:?}");
        assert!((right.yaw_deg + left.yaw_deg).abs() < 1e-4);
        let a = attention(Some(right), &ATT);
        assert!(a > 0.0 && a < 1.0, "{a}");
        assert_eq!(a, attention(Some(left), &ATT));
        // Profile view: nose well outside the eyes.
        assert_eq!(attention(head_pose(&face(40.0, 0.0), &ATT), &ATT), 0.0);
    }

    #[test]
    fn looking_down_lowers_attention_sooner_than_looking_up() {
        let down = head_pose(&face(0.0, 8.0), &ATT).unwrap();
        let up = head_pose(&face(0.0, -8.0), &ATT).unwrap();
        assert!(down.pitch_deg > 20.0 && up.pitch_deg < -20.0, "{down:?} {up:?}");
        assert!(attention(Some(down), &ATT) < attention(Some(up), &ATT));
        assert_eq!(attention(head_pose(&face(0.0, 14.0), &ATT), &ATT), 0.0, "reading notes on the desk");
    }

    #[test]
    fn degenerate_keypoints_give_no_pose_and_the_configured_attention() {
        let mut d = face(0.0, 0.0);
        d.keypoints = [Point::default(); 6];
        assert_eq!(head_pose(&d, &ATT), None);
        assert_eq!(attention(None, &ATT), 0.5);
    }

    #[test]
    fn valence_and_arousal_are_the_probability_weighted_circumplex_coordinates() {
        assert_eq!(valence_arousal(&HAPPY), (0.81, 0.51));
        assert_eq!(valence_arousal(&NEUTRAL), (0.0, 0.0));
        let (v, a) = valence_arousal(&[0.0, 0.0, 0.0, 0.5, 0.0, 0.5, 0.0]);
        assert!((v - 0.09).abs() < 1e-6 && (a - 0.12).abs() < 1e-6, "{v} {a}");
        // Unnormalised input is renormalised; all-zero input is neutral.
        assert_eq!(valence_arousal(&[0.0, 0.0, 0.0, 2.0, 0.0, 0.0, 0.0]), (0.81, 0.51));
        assert_eq!(valence_arousal(&[0.0; 7]), (0.0, 0.0));
    }

    #[test]
    fn engagement_follows_the_documented_formula() {
        let w = EngagementWeights::default();
        // Attentive and neutral: 0.6·1 + 0.15·0.5 + 0.25·0.5 = 0.8.
        assert!((engagement(true, 1.0, 0.0, 0.0, &w) - 0.8).abs() < 1e-6);
        // Looking away and sad scores low; absent is 0.
        let (v, a) = valence_arousal(&SAD);
        let e = engagement(true, 0.0, v, a, &w);
        assert!((e - (0.15 * 0.185 + 0.25 * 0.365)).abs() < 1e-5, "{e}");
        assert_eq!(engagement(false, 1.0, 1.0, 1.0, &w), 0.0);
        // Bounds and weight scaling.
        assert_eq!(engagement(true, 1.0, 1.0, 1.0, &w), 1.0);
        assert_eq!(engagement(true, 0.0, -1.0, -1.0, &w), 0.0);
        let doubled = EngagementWeights { attention: 1.2, valence: 0.3, arousal: 0.5 };
        assert!((engagement(true, 0.7, 0.3, -0.2, &w) - engagement(true, 0.7, 0.3, -0.2, &doubled)).abs() < 1e-6);
        // Only attention counts when the affect weights are 0.
        let att_only = EngagementWeights { attention: 1.0, valence: 0.0, arousal: 0.0 };
        assert_eq!(engagement(true, 0.37, 0.9, 0.9, &att_only), 0.37);
        assert_eq!(
            engagement(true, 0.5, 0.0, 0.0, &EngagementWeights { attention: 0.0, valence: 0.0, arousal: 0.0 }),
            0.0
        );
    }

    #[test]
    fn happy_attentive_outscores_neutral_attentive_outscores_looking_down() {
        let happy = components(&face(0.0, 0.0), Some(&HAPPY), &CFG).engagement;
        let neutral = components(&face(0.0, 0.0), Some(&NEUTRAL), &CFG).engagement;
        let down = components(&face(0.0, 14.0), Some(&NEUTRAL), &CFG).engagement;
        assert!(happy > neutral && neutral > down, "{happy} {neutral} {down}");
    }

    #[test]
    fn without_emotions_the_score_is_attention_alone() {
        let facing = components(&face(0.0, 0.0), None, &CFG);
        assert_eq!((facing.valence, facing.arousal), (None, None));
        assert_eq!(facing.engagement, 1.0);
        let down = components(&face(0.0, 14.0), None, &CFG);
        assert_eq!(down.engagement, down.attention);
        assert!(down.engagement < 1.0);
    }

    fn comp(engagement: f32, attention: f32) -> Components {
        Components { pose: None, attention, valence: Some(0.0), arousal: Some(0.0), engagement }
    }

    #[test]
    fn the_state_does_not_flicker_around_a_threshold() {
        let mut s = FaceEngagementState::new(0.0, &comp(0.8, 1.0), &ST);
        assert_eq!(s.state(), State::Engaged);
        // Raw score alternating across the exit threshold every frame for 20 s at 30 fps.
        let mut changes = 0;
        let mut last = s.state();
        for i in 1..600 {
            let e = if i % 2 == 0 { 0.62 } else { 0.50 };
            s.update(i as f64 / 30.0, &comp(e, 1.0), &ST);
            if s.state() != last {
                changes += 1;
                last = s.state();
            }
        }
        assert!(changes <= 1, "{changes} state changes");
    }

    #[test]
    fn a_lasting_drop_leads_to_bored_and_a_recovery_back_through_hysteresis() {
        let mut s = FaceEngagementState::new(0.0, &comp(0.8, 1.0), &ST);
        let mut t = 0.0;
        let mut run = |s: &mut FaceEngagementState, secs: f64, e: f32| {
            let end = t + secs;
            while t < end {
                t += 1.0 / 30.0;
                s.update(t, &comp(e, 1.0), &ST);
            }
        };
        run(&mut s, 1.0, 0.2);
        assert_eq!(s.state(), State::Engaged, "one second is not enough to leave engaged");
        run(&mut s, 10.0, 0.2);
        assert_eq!(s.state(), State::Bored);
        run(&mut s, 10.0, 0.45);
        assert_eq!(s.state(), State::Bored, "between bored_enter and bored_exit it stays bored");
        run(&mut s, 10.0, 0.6);
        assert_eq!(s.state(), State::Neutral);
        run(&mut s, 10.0, 0.9);
        assert_eq!(s.state(), State::Engaged);
    }

    #[test]
    fn looking_away_or_missing_for_long_enough_is_away_and_attention_brings_it_back() {
        let mut s = FaceEngagementState::new(0.0, &comp(0.8, 1.0), &ST);
        s.update(0.5, &comp(0.3, 0.1), &ST);
        s.update(2.0, &comp(0.3, 0.1), &ST);
        assert_ne!(s.state(), State::Away, "a glance away is not away");
        s.update(2.6, &comp(0.3, 0.1), &ST);
        assert_eq!(s.state(), State::Away);
        s.update(3.0, &comp(0.9, 1.0), &ST);
        assert_ne!(s.state(), State::Away);
    }
}
