//! Synthetic face caches for the training tests: no data files, no detector.

use facegate_datasets::cache::{FaceCache, Index, Record, VERSION};

/// Live = smooth shading; attack = fine moire stripes (what print and screens add).
pub fn synthetic(n: usize, size: usize, all_live: bool) -> FaceCache {
    let mut records = Vec::new();
    let mut crops = Vec::new();
    for i in 0..n {
        let live = all_live || i % 2 == 0;
        for y in 0..size {
            for x in 0..size {
                let base = 60.0 + 120.0 * (x + y) as f32 / (2 * size) as f32 + (i * 7 % 30) as f32;
                let v = if live { base } else { base + if (x + 2 * y) % 4 < 2 { 45.0 } else { -45.0 } };
                let p = v.clamp(0.0, 255.0) as u8;
                crops.extend([p, p.saturating_sub(10), p.saturating_sub(20)]);
            }
        }
        records.push(Record {
            path: format!("synthetic/{i}.png"),
            attack: if live { None } else { Some("print".into()) },
            group: "synthetic".into(),
            found: true,
            score: 1.0,
            square: [0.0, 0.0, size as f32, size as f32],
            landmarks: [[0.0; 2]; 6],
        });
    }
    FaceCache::from_parts(Index { version: VERSION, key: "synthetic".into(), size, records }, crops).unwrap()
}
