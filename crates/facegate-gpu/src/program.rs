//! A program for the WebGPU build: the WGSL kernels, the buffers' sizes and the dispatches of
//! one frame, in order. The browser's executor (`pkg-templates/webgpu.js`) knows nothing of
//! networks: it creates one pipeline per entry point, uploads the weights once, and replays
//! the steps, one command buffer and one readback per frame.

use serde::Serialize;

/// Bumped when the executor's contract changes (bindings, frame header, step fields).
pub const FORMAT: u32 = 1;
/// Invocations per workgroup of the element-wise entry points (`@workgroup_size(64)`).
pub const WORKGROUP: usize = 64;
/// Workgroups along x at most (WebGPU's `maxComputeWorkgroupsPerDimension` default).
pub const MAX_GROUPS: usize = 65535;
/// u32 parameters a step may have (`params: array<vec4<u32>, 8>`).
pub const MAX_PARAMS: usize = 32;

#[derive(Debug, Clone, Serialize)]
pub struct Step {
    /// The WGSL entry point.
    pub kernel: &'static str,
    pub params: Vec<u32>,
    /// Workgroups along x, y, z.
    pub groups: [u32; 3],
    /// What the step computes, for errors and traces.
    pub label: String,
}

/// A value a parity test reads back: `len` values at `at` in the arena, after step `after`.
#[derive(Debug, Clone, Serialize)]
pub struct Probe {
    pub name: String,
    /// The entry point that wrote it.
    pub kernel: &'static str,
    pub after: usize,
    pub at: usize,
    pub len: usize,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Program {
    pub format: u32,
    /// CRC-32 of the student file (hex, as `info().modelId`): the program belongs to one model.
    pub model_id: String,
    pub detector: String,
    pub wgsl: &'static str,
    /// f32 values of the activation arena and of the weights (`weights.bin`).
    pub arena: usize,
    pub weights: usize,
    /// Where the readback buffer lies in the arena, and its length (facegate-engine `readback`).
    pub result: usize,
    pub result_len: usize,
    pub steps: Vec<Step>,
    pub probes: Vec<Probe>,
}

/// One invocation per value: the workgroups for `n` of them.
pub fn groups_for(n: usize) -> [u32; 3] {
    let groups = n.div_ceil(WORKGROUP).max(1);
    let x = groups.min(MAX_GROUPS);
    [x as u32, groups.div_ceil(x) as u32, 1]
}

/// Bump allocation of f32 regions (the arena, the weights).
#[derive(Debug, Default)]
pub struct Regions {
    pub len: usize,
}

impl Regions {
    /// Regions start on 64-value boundaries, so no two values share a cache line's worth of
    /// a GPU's memory transaction.
    pub fn take(&mut self, n: usize) -> usize {
        let at = self.len.next_multiple_of(64);
        self.len = at + n;
        at
    }
}

impl Program {
    /// Offsets and lengths of every step against the buffers: a program that would read or
    /// write outside them is refused here, never sent to a GPU.
    pub fn check(&self) -> Result<(), String> {
        for (k, s) in self.steps.iter().enumerate() {
            if s.params.len() > MAX_PARAMS || s.groups.iter().any(|&g| g == 0 || g as usize > MAX_GROUPS) {
                return Err(format!("step {k} ({}): {} params, groups {:?}", s.label, s.params.len(), s.groups));
            }
        }
        for p in &self.probes {
            if p.at + p.len > self.arena || p.after >= self.steps.len() {
                return Err(format!("probe {} outside the arena or the steps", p.name));
            }
        }
        if self.result + self.result_len > self.arena {
            return Err("result outside the arena".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn large_dispatches_spill_into_y() {
        assert_eq!(groups_for(0), [1, 1, 1]);
        assert_eq!(groups_for(64), [1, 1, 1]);
        assert_eq!(groups_for(65), [2, 1, 1]);
        let n = WORKGROUP * (MAX_GROUPS + 1);
        let [x, y, _] = groups_for(n);
        assert_eq!((x as usize, y), (MAX_GROUPS, 2));
        assert!(x as usize * y as usize * WORKGROUP >= n);
    }

    #[test]
    fn regions_are_aligned_and_disjoint() {
        let mut r = Regions::default();
        let (a, b) = (r.take(10), r.take(3));
        assert_eq!((a, b, r.len), (0, 64, 67));
    }

    #[test]
    fn out_of_bounds_programs_are_refused() {
        let step = Step { kernel: "act", params: vec![0; 4], groups: [1, 1, 1], label: "x".into() };
        let mut p = Program {
            format: FORMAT,
            model_id: "0".into(),
            detector: "d".into(),
            wgsl: "",
            arena: 100,
            weights: 0,
            result: 90,
            result_len: 10,
            steps: vec![step.clone()],
            probes: vec![],
        };
        assert!(p.check().is_ok());
        p.result_len = 11;
        assert!(p.check().is_err());
        p.result_len = 10;
        p.steps[0].params = vec![0; MAX_PARAMS + 1];
        assert!(p.check().is_err());
        p.steps[0] = step;
        p.probes.push(Probe { name: "p".into(), kernel: "act", after: 0, at: 95, len: 6 });
        assert!(p.check().is_err());
    }
}
