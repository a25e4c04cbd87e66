//! `facegate eval sessions`: does a person enrolled today get in tomorrow?
//!
//! The committed student is run exactly as the browser runs it: through
//! [`facegate_engine::Engine`], with the face detector its weight file's header names (read from
//! the human-models package) and the thresholds stored in the file (unless overridden).
//!
//! Protocol (NUAA `ClientRaw`, live camera frames named `ID_glasses_pos_session_picNo.jpg`):
//!
//! 1. Every live image of `ClientRaw/<subject>/` is used (not only the split lists). A subject
//!    filmed in two or more sessions (the 4th field) takes part as an enrolled person.
//! 2. Enrolment of (subject S, session A): `Engine::enroll` on 5 frames of that session spread
//!    evenly over it (frames sorted by picture number: positions `i * n / 5`, i = 0..5). If the
//!    engine refuses them (too few good live frames), the next frames are tried (every
//!    position moved on by one, up to `n / 5 - 1` times); an enrolment that never succeeds is
//!    reported as failed and makes no log-ins. One template per (S, A), used for every B.
//! 3. Genuine log-ins, for each ordered pair of different sessions (A, B): the frames of
//!    (S, B), sorted by picture number, cut into consecutive non-overlapping groups of 5 (a
//!    last short group is dropped). As the engine decides (`Thresholds::decide`, which the npm
//!    package's `verify` calls): a log-in is accepted when the
//!    mean liveness score of its 5 verifications reaches the liveness threshold and their
//!    mean similarity reaches the matching threshold; otherwise it is refused as not live
//!    (checked first, as the page does) or as not matching. A frame on which `verify` fails
//!    (no face, several faces) refuses the whole attempt (`refused_no_face`). (The page
//!    itself skips such a frame and waits for another; here the frames are fixed, so the
//!    count shows how often that would happen.)
//! 4. Impostor log-ins: every template of step 2 against every other subject of `ClientRaw`
//!    (all 15, any session): that subject's frames sorted by (session, picture number), cut
//!    into groups of 5 within a session, at most 20 groups per subject (evenly spread over
//!    its groups, deterministic). The accepted share is the false accept rate of a whole
//!    log-in.
//! 5. `--celeba DIR`: the held-out CelebA identities (every 10th identity folder in name
//!    order, `facegate_datasets::sources::celeba_split`, the identities the match threshold was fixed on).
//!    Each image's embedding is the one `verify` compares (the student's embedding of the one
//!    face in view; a single-frame template is the same vector, scaled to unit length, so the
//!    cosine is the same); images without exactly one face are left out and counted. All
//!    same-identity pairs are genuine, all others impostor: TAR and FMR at the matching
//!    threshold.
//!
//! Each image goes through the detector and the student once: its liveness score and
//! embedding are cached (`Engine::face_crop` + `Engine::student_outputs`, the steps `verify`
//! takes) and the similarity against a template is `facegate_engine::cosine`, as in `verify`.
//! A parity check compares the cached figures with `Engine::verify` itself on the first
//! frames of the genuine log-ins and fails the run on any difference. Enrolment frames go
//! through `Engine::enroll` itself.

use crate::faces::check_dir;
use crate::progress::Progress;
use facegate_datasets::faces::celeba;
use facegate_datasets::sources::celeba_split;
use facegate_datasets::{DataError, is_image, load_rgb};
use facegate_engine::{Engine, EngineError, RgbImage, Template, Thresholds, cosine};
use facegate_teachers::teachers_dir;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

/// Frames per enrolment and per log-in, as the npm package's sessions take them (`SESSION` in
/// `pkg-templates/session.js`).
pub const ENROL_FRAMES: usize = 5;
pub const LOGIN_FRAMES: usize = 5;
/// Impostor log-in groups per other subject (at most).
pub const IMPOSTOR_GROUPS: usize = 20;
/// Frames on which the cached figures are compared with `Engine::verify`.
const PARITY_FRAMES: usize = 8;

pub struct SessionsArgs<'a> {
    pub model: &'a Path,
    pub nuaa: &'a Path,
    pub celeba: Option<&'a Path>,
    pub liveness_threshold: Option<f32>,
    pub match_threshold: Option<f32>,
    /// At most this many genuine log-in groups per (subject, session) and impostor groups per
    /// other subject (evenly spread); None: every genuine group, IMPOSTOR_GROUPS impostor ones.
    pub max_groups: Option<usize>,
}

/// One NUAA live frame.
#[derive(Debug, Clone)]
struct Frame {
    path: PathBuf,
    subject: String,
    session: String,
    pic: u32,
}

/// What `verify` sees in one frame, independent of the template.
#[derive(Debug, Clone)]
enum Probe {
    Face {
        liveness: f32,
        embedding: Vec<f32>,
    },
    /// `verify` fails on this frame (the error code: NO_FACE, SEVERAL_FACES).
    Refused(&'static str),
}

/// `ClientRaw/<subject>/<ID>_<glasses>_<pos>_<session>_<picNo>.jpg`, sorted by subject,
/// session, picture number (then name).
fn nuaa_frames(nuaa: &Path) -> Result<Vec<Frame>, Box<dyn std::error::Error>> {
    check_dir(nuaa)?;
    let raw = nuaa.join("ClientRaw");
    check_dir(&raw)?;
    let mut frames = Vec::new();
    let io = |p: &Path| {
        let p = p.to_path_buf();
        move |e| DataError::Io { path: p, source: e }
    };
    let mut subjects: Vec<PathBuf> = std::fs::read_dir(&raw).map_err(io(&raw))?.map(|e| e.map(|e| e.path())).collect::<Result<_, _>>().map_err(io(&raw))?;
    subjects.retain(|p| p.is_dir());
    subjects.sort();
    for dir in subjects {
        let subject = dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        for entry in std::fs::read_dir(&dir).map_err(io(&dir))? {
            let path = entry.map_err(io(&dir))?.path();
            if !is_image(&path) {
                continue;
            }
            let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
            let fields: Vec<&str> = stem.split('_').collect();
            let pic = fields.get(4).and_then(|f| f.parse::<u32>().ok());
            match pic {
                Some(pic) if fields.len() == 5 && fields[..4].iter().all(|f| !f.is_empty() && f.bytes().all(|b| b.is_ascii_digit())) => {
                    frames.push(Frame { session: fields[3].to_string(), subject: subject.clone(), pic, path });
                }
                _ => return Err(DataError::Malformed { path, line: 0, reason: "expected ID_glasses_pos_session_picNo".into() }.into()),
            }
        }
    }
    if frames.is_empty() {
        return Err(DataError::Empty { path: raw }.into());
    }
    frames.sort_by(|a, b| (&a.subject, &a.session, a.pic, &a.path).cmp(&(&b.subject, &b.session, b.pic, &b.path)));
    Ok(frames)
}

/// `k` of `n` indices spread evenly (all of them when k >= n).
fn spread(n: usize, k: usize) -> Vec<usize> {
    if k >= n {
        return (0..n).collect();
    }
    (0..k).map(|i| i * n / k).collect()
}

/// Consecutive non-overlapping groups of LOGIN_FRAMES (the short tail dropped), at most
/// `cap` of them spread evenly.
fn groups(frames: &[usize], cap: Option<usize>) -> Vec<Vec<usize>> {
    let all: Vec<Vec<usize>> = frames.chunks_exact(LOGIN_FRAMES).map(|c| c.to_vec()).collect();
    match cap {
        Some(cap) => spread(all.len(), cap).into_iter().map(|i| all[i].clone()).collect(),
        None => all,
    }
}

/// Outcome counts of whole log-ins.
#[derive(Debug, Default, Clone)]
struct Tally {
    attempts: usize,
    accepted: usize,
    not_live: usize,
    no_match: usize,
    no_face: usize,
    /// Mean similarity at or above the matching threshold, whatever the liveness.
    similar: usize,
    /// Each attempt's mean similarity and mean liveness score (attempts with a face in
    /// every frame).
    sims: Vec<f32>,
    lives: Vec<f32>,
}

impl Tally {
    fn add(&mut self, o: &Tally) {
        self.attempts += o.attempts;
        self.accepted += o.accepted;
        self.not_live += o.not_live;
        self.no_match += o.no_match;
        self.no_face += o.no_face;
        self.similar += o.similar;
        self.sims.extend(&o.sims);
        self.lives.extend(&o.lives);
    }

    fn json(&self) -> Value {
        let rate = |n: usize| if self.attempts == 0 { Value::Null } else { json!(n as f64 / self.attempts as f64) };
        json!({
            "attempts": self.attempts,
            "accepted": self.accepted,
            "rate": rate(self.accepted),
            "refused_not_live": self.not_live,
            "refused_no_match": self.no_match,
            "refused_no_face": self.no_face,
            "similarity_passed": self.similar,
            "similarity_pass_rate": rate(self.similar),
            "mean_similarity": summary(&self.sims),
            "mean_liveness": summary(&self.lives),
        })
    }
}

/// Median, 10th and 90th percentiles of per-attempt means.
fn summary(v: &[f32]) -> Value {
    if v.is_empty() {
        return Value::Null;
    }
    let mut s = v.to_vec();
    s.sort_by(f32::total_cmp);
    let q = |p: f64| s[((s.len() - 1) as f64 * p).round() as usize];
    json!({ "p10": q(0.1), "median": q(0.5), "p90": q(0.9) })
}

/// One log-in of `group` against `template`, decided by the engine's rule
/// ([`Thresholds::decide`]), as the npm package's `verify` decides.
fn login(group: &[usize], probes: &HashMap<usize, Probe>, template: &Template, t: &Thresholds, tally: &mut Tally) {
    tally.attempts += 1;
    let mut frames = Vec::with_capacity(group.len());
    for k in group {
        match &probes[k] {
            Probe::Face { liveness, embedding } => frames.push((*liveness, cosine(embedding, &template.embedding))),
            Probe::Refused(_) => {
                tally.no_face += 1;
                return;
            }
        }
    }
    let d = t.decide(&frames).expect("a group has frames, and the student's scores are finite");
    tally.sims.push(d.similarity as f32);
    tally.lives.push(d.liveness as f32);
    tally.similar += d.matched as usize;
    match d.reason {
        "notLive" => tally.not_live += 1,
        "noMatch" => tally.no_match += 1,
        _ => tally.accepted += 1,
    }
}

fn engine_for(model: &Path) -> Result<(Engine, String), Box<dyn std::error::Error>> {
    let bytes = std::fs::read(model).map_err(|e| format!("{}: {e}", model.display()))?;
    let meta = facegate_nets::weights::read_meta(&bytes).map_err(|e| format!("{}: {e}", model.display()))?;
    let detector = meta.detector().to_string();
    let dir = teachers_dir()?;
    let read = |ext: &str| {
        let p = dir.join(format!("{detector}.{ext}"));
        std::fs::read(&p).map_err(|e| format!("{}: {e}", p.display()))
    };
    let engine = Engine::from_bytes(&read("json")?, &read("bin")?, &bytes).map_err(|e| format!("{}: {e}", model.display()))?;
    Ok((engine, detector))
}

/// What `verify` computes from `frame` before it looks at a template.
fn probe(engine: &Engine, frame: &RgbImage, path: &Path) -> Result<Probe, Box<dyn std::error::Error>> {
    match engine.face_crop(frame) {
        Ok(crop) => {
            let (mut emb, p) = engine.student_outputs(&[crop]);
            let liveness = p.first().copied().filter(|s| s.is_finite()).unwrap_or(0.0);
            let embedding = emb.pop().ok_or_else(|| format!("{}: the student gave no embedding", path.display()))?;
            Ok(Probe::Face { liveness, embedding })
        }
        Err(e) if matches!(e.code(), "NO_FACE" | "SEVERAL_FACES") => Ok(Probe::Refused(e.code())),
        Err(e) => Err(format!("{}: {e}", path.display()).into()),
    }
}

/// Embeds every path once (in order), with a progress line.
fn probe_all(engine: &Engine, paths: &[&Path], label: &str) -> Result<Vec<Probe>, Box<dyn std::error::Error>> {
    let mut bar = Progress::new(label, paths.len());
    let mut out = Vec::with_capacity(paths.len());
    for p in paths {
        out.push(probe(engine, &load_rgb(p)?, p)?);
        bar.inc(1);
    }
    bar.finish();
    Ok(out)
}

/// Enrols (S, A) from `idx` (frame indices of that session in picture order): 5 spread
/// frames, moved on by one frame while the engine refuses them. Returns the template and the
/// shift used, or the last error.
fn enrol(engine: &Engine, frames: &[Frame], idx: &[usize]) -> Result<(Template, usize), String> {
    let base = spread(idx.len(), ENROL_FRAMES);
    let shifts = (idx.len() / ENROL_FRAMES).max(1);
    let mut last = String::from("too few frames");
    for shift in 0..shifts {
        let picks: Vec<usize> = base.iter().map(|&i| idx[(i + shift).min(idx.len() - 1)]).collect();
        let images = picks.iter().map(|&k| load_rgb(&frames[k].path).map_err(|e| e.to_string())).collect::<Result<Vec<_>, _>>()?;
        match engine.enroll(&images) {
            Ok(t) => return Ok((t, shift)),
            Err(e @ (EngineError::NotEnoughFrames { .. } | EngineError::NoFrames)) => last = e.to_string(),
            Err(e) => return Err(format!("{}: {e}", frames[picks[0]].path.display())),
        }
    }
    Err(last)
}

pub fn run(args: &SessionsArgs) -> Result<Value, Box<dyn std::error::Error>> {
    let started = std::time::Instant::now();
    let frames = nuaa_frames(args.nuaa)?;
    if let Some(dir) = args.celeba {
        check_dir(dir)?;
    }
    let (mut engine, detector) = engine_for(args.model)?;
    let stored = engine.thresholds();
    let t = Thresholds {
        liveness: args.liveness_threshold.unwrap_or(stored.liveness),
        matching: args.match_threshold.unwrap_or(stored.matching),
        min_enroll_frames: stored.min_enroll_frames,
    };
    engine.set_thresholds(t)?;

    // subject -> session -> frame indices (picture order).
    let mut by: BTreeMap<String, BTreeMap<String, Vec<usize>>> = BTreeMap::new();
    for (k, f) in frames.iter().enumerate() {
        by.entry(f.subject.clone()).or_default().entry(f.session.clone()).or_default().push(k);
    }
    let enrolled: Vec<&String> = by.iter().filter(|(_, s)| s.len() >= 2).map(|(n, _)| n).collect();
    if enrolled.is_empty() {
        return Err(format!("{}: no subject was filmed in two sessions", args.nuaa.join("ClientRaw").display()).into());
    }
    let impostor_cap = args.max_groups.unwrap_or(IMPOSTOR_GROUPS).min(IMPOSTOR_GROUPS);
    // Log-in groups: genuine per (subject, session), impostor per subject.
    let genuine_groups: BTreeMap<(&str, &str), Vec<Vec<usize>>> =
        enrolled.iter().flat_map(|s| by[*s].iter().map(move |(sess, idx)| ((s.as_str(), sess.as_str()), groups(idx, args.max_groups)))).collect();
    let impostor_groups: BTreeMap<&str, Vec<Vec<usize>>> = by
        .iter()
        .map(|(s, sessions)| {
            let all: Vec<Vec<usize>> = sessions.values().flat_map(|idx| groups(idx, None)).collect();
            let picked = spread(all.len(), impostor_cap).into_iter().map(|i| all[i].clone()).collect();
            (s.as_str(), picked)
        })
        .collect();

    // Templates, one per (subject, session) of the enrolled subjects.
    let mut templates: BTreeMap<(&str, &str), Template> = BTreeMap::new();
    let mut enrol_report = Vec::new();
    let (mut enrol_failed, mut enrol_retried) = (0usize, 0usize);
    let n_enrol: usize = enrolled.iter().map(|s| by[*s].len()).sum();
    let mut bar = Progress::new("enrolments", n_enrol);
    for s in &enrolled {
        for (sess, idx) in &by[*s] {
            match enrol(&engine, &frames, idx) {
                Ok((tpl, shift)) => {
                    enrol_retried += (shift > 0) as usize;
                    enrol_report.push(json!({ "subject": s, "session": sess, "ok": true, "shift": shift }));
                    templates.insert((s.as_str(), sess.as_str()), tpl);
                }
                Err(e) => {
                    enrol_failed += 1;
                    enrol_report.push(json!({ "subject": s, "session": sess, "ok": false, "error": e }));
                }
            }
            bar.inc(1);
        }
    }
    bar.finish();

    // Every frame a log-in uses, through the detector and the student once.
    let needed: BTreeSet<usize> = genuine_groups.values().chain(impostor_groups.values()).flatten().flatten().copied().collect();
    let needed: Vec<usize> = needed.into_iter().collect();
    let paths: Vec<&Path> = needed.iter().map(|&k| frames[k].path.as_path()).collect();
    let probes: HashMap<usize, Probe> = needed.iter().copied().zip(probe_all(&engine, &paths, "nuaa frames")?).collect();
    let refused_frames = |code: &str| probes.values().filter(|p| matches!(p, Probe::Refused(c) if *c == code)).count();

    // Parity: the cached figures against Engine::verify itself.
    let mut parity = (0usize, 0f32);
    'parity: for ((s, a), tpl) in &templates {
        for ((gs, b), gl) in &genuine_groups {
            if gs != s || b == a {
                continue;
            }
            for &k in gl.iter().flatten() {
                if parity.0 >= PARITY_FRAMES {
                    break 'parity;
                }
                let expected = engine.verify(&load_rgb(&frames[k].path)?, tpl);
                let diff = match (&probes[&k], expected) {
                    (Probe::Face { liveness, embedding }, Ok(v)) => {
                        (liveness - v.liveness_score).abs().max((cosine(embedding, &tpl.embedding) - v.similarity).abs())
                    }
                    (Probe::Refused(c), Err(e)) if *c == e.code() => 0.0,
                    (p, v) => return Err(format!("{}: cached {p:?} but verify gave {v:?}", frames[k].path.display()).into()),
                };
                if diff > 1e-6 {
                    return Err(format!("{}: cached figures differ from verify by {diff}", frames[k].path.display()).into());
                }
                parity = (parity.0 + 1, parity.1.max(diff));
            }
        }
    }

    // Genuine and impostor log-ins.
    let (mut genuine, mut impostor) = (Tally::default(), Tally::default());
    let mut per_subject = serde_json::Map::new();
    let mut impostor_accepted_by: BTreeMap<&str, usize> = BTreeMap::new();
    for s in &enrolled {
        let (mut sg, mut si) = (Tally::default(), Tally::default());
        let mut pairs = Vec::new();
        for a in by[*s].keys() {
            let Some(tpl) = templates.get(&(s.as_str(), a.as_str())) else { continue };
            for b in by[*s].keys().filter(|b| *b != a) {
                let mut pt = Tally::default();
                for g in &genuine_groups[&(s.as_str(), b.as_str())] {
                    login(g, &probes, tpl, &t, &mut pt);
                }
                sg.add(&pt);
                let mut p = pt.json();
                p["enrol_session"] = json!(a);
                p["login_session"] = json!(b);
                pairs.push(p);
            }
            for (other, gl) in &impostor_groups {
                if *other == s.as_str() {
                    continue;
                }
                let before = si.accepted;
                for g in gl {
                    login(g, &probes, tpl, &t, &mut si);
                }
                if si.accepted > before {
                    *impostor_accepted_by.entry(other).or_default() += si.accepted - before;
                }
            }
        }
        genuine.add(&sg);
        impostor.add(&si);
        let sessions: Vec<&String> = by[*s].keys().collect();
        let mut imp = si.json();
        imp["accepted_by"] = json!(std::mem::take(&mut impostor_accepted_by));
        per_subject.insert((*s).clone(), json!({ "sessions": sessions, "genuine": sg.json(), "impostor": imp, "pairs": pairs }));
    }

    let celeba_report = match args.celeba {
        Some(dir) => Some(celeba_pairs(&engine, dir, t.matching)?),
        None => None,
    };

    let sessions: BTreeMap<&String, Vec<&String>> = by.iter().map(|(s, ss)| (s, ss.keys().collect())).collect();
    let mut report = json!({
        "model": args.model.display().to_string(),
        "detector": detector,
        "thresholds": {
            "liveness": t.liveness,
            "matching": t.matching,
            "min_enroll_frames": t.min_enroll_frames,
            "stored_liveness": stored.liveness,
            "stored_matching": stored.matching,
            "overridden": args.liveness_threshold.is_some() || args.match_threshold.is_some(),
        },
        "protocol": {
            "data": args.nuaa.join("ClientRaw").display().to_string(),
            "enrolment": format!("Engine::enroll on {ENROL_FRAMES} frames of (subject, session A) spread evenly in picture order; refused -> every frame moved on by one; one template per (subject, session)"),
            "genuine": format!("frames of (subject, session B != A) in picture order, consecutive groups of {LOGIN_FRAMES}; accepted when mean liveness >= liveness threshold and mean similarity >= matching threshold (Thresholds::decide in facegate-engine, as the npm package's verify); a frame verify refuses (no face, several faces) refuses the attempt"),
            "impostor": format!("every template against every other subject's frames (any session), groups of {LOGIN_FRAMES} within a session, at most {impostor_cap} per subject spread evenly"),
            "max_groups": args.max_groups,
            "celeba": "held-out CelebA identities (every 10th in name order); one embedding per image as verify computes it; all same-identity pairs genuine, all others impostor; TAR/FMR at the matching threshold",
        },
        "subjects": enrolled,
        "sessions": sessions,
        "enrolment": { "templates": templates.len(), "failed": enrol_failed, "retried": enrol_retried, "each": enrol_report },
        "frames": { "processed": needed.len(), "no_face": refused_frames("NO_FACE"), "several_faces": refused_frames("SEVERAL_FACES"), "verify_parity_checked": parity.0, "verify_parity_max_diff": parity.1 },
        "genuine": genuine.json(),
        "impostor": impostor.json(),
        "login_similarity_auc": facegate_metrics::auc(&genuine.sims, &impostor.sims),
        "per_subject": per_subject,
    });
    if let Some(c) = celeba_report {
        report["celeba"] = c;
    }
    report["seconds"] = json!(started.elapsed().as_secs_f64());
    Ok(report)
}

/// TAR and FMR of single-image pairs of the held-out CelebA identities at `matching`.
fn celeba_pairs(engine: &Engine, dir: &Path, matching: f32) -> Result<Value, Box<dyn std::error::Error>> {
    let (_, mut held_out) = celeba_split(celeba(dir)?);
    held_out.sort_by(|a, b| a.path.cmp(&b.path));
    let paths: Vec<&Path> = held_out.iter().map(|s| s.path.as_path()).collect();
    let probes = probe_all(engine, &paths, "celeba held-out")?;
    let faces: Vec<(&str, &Vec<f32>)> = held_out
        .iter()
        .zip(&probes)
        .filter_map(|(s, p)| match p {
            Probe::Face { embedding, .. } => Some((s.group.as_str(), embedding)),
            Probe::Refused(_) => None,
        })
        .collect();
    let (mut gp, mut ga, mut ip, mut ia) = (0usize, 0usize, 0usize, 0usize);
    for i in 0..faces.len() {
        for j in i + 1..faces.len() {
            let ok = cosine(faces[i].1, faces[j].1) >= matching;
            if faces[i].0 == faces[j].0 {
                gp += 1;
                ga += ok as usize;
            } else {
                ip += 1;
                ia += ok as usize;
            }
        }
    }
    let rate = |a: usize, n: usize| if n == 0 { Value::Null } else { json!(a as f64 / n as f64) };
    let identities: BTreeSet<&str> = held_out.iter().map(|s| s.group.as_str()).collect();
    Ok(json!({
        "identities": identities.len(),
        "images": held_out.len(),
        "no_face": held_out.len() - faces.len(),
        "genuine_pairs": gp,
        "impostor_pairs": ip,
        "genuine_accepted": ga,
        "impostor_accepted": ia,
        "tar": rate(ga, gp),
        "fmr": rate(ia, ip),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spread_and_groups() {
        assert_eq!(spread(10, 5), vec![0, 2, 4, 6, 8]);
        assert_eq!(spread(3, 5), vec![0, 1, 2]);
        let idx: Vec<usize> = (0..23).collect();
        let g = groups(&idx, None);
        assert_eq!(g.len(), 4);
        assert_eq!(g[1], vec![5, 6, 7, 8, 9]);
        assert_eq!(groups(&idx, Some(2)), vec![vec![0, 1, 2, 3, 4], vec![10, 11, 12, 13, 14]]);
    }
}
