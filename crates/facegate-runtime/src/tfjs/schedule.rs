//! Which nodes a run evaluates and when each value can go, shared by the kernel graph
//! ([`super::KernelGraph::run`]) and training's burn runner (`facegate-tfjs`).

use super::error::{Result, TfjsError};
use std::collections::HashMap;

pub struct Schedule {
    /// The requested nodes, in request order.
    pub targets: Vec<usize>,
    /// Nodes the targets depend on (themselves included), in the graph's topological order.
    pub needed: Vec<bool>,
    /// The last node that reads each value; targets are never dropped.
    last_use: Vec<usize>,
}

impl Schedule {
    /// `inputs[i]`: the data inputs of node `i`, nodes in topological order.
    pub fn new(index: &HashMap<String, usize>, inputs: &[&[usize]], outputs: &[&str]) -> Result<Self> {
        let targets: Vec<usize> = outputs.iter().map(|n| index.get(*n).copied().ok_or_else(|| TfjsError::UnknownNode(n.to_string()))).collect::<Result<_>>()?;
        let mut needed = vec![false; inputs.len()];
        let mut stack = targets.clone();
        while let Some(i) = stack.pop() {
            if !std::mem::replace(&mut needed[i], true) {
                stack.extend(inputs[i]);
            }
        }
        let mut last_use = vec![0usize; inputs.len()];
        for i in (0..inputs.len()).filter(|&i| needed[i]) {
            for &j in inputs[i] {
                last_use[j] = last_use[j].max(i);
            }
        }
        for &t in &targets {
            last_use[t] = usize::MAX;
        }
        Ok(Self { targets, needed, last_use })
    }

    /// Whether node `i` is the last to read value `j`.
    pub fn last_reader(&self, i: usize, j: usize) -> bool {
        self.last_use[j] == i
    }

    /// Node `i`'s input values: its last reader takes a value (so the kernel can reuse its
    /// buffer in place), earlier readers get a copy; `kept` values (constants) are always copied.
    pub fn args<V: Clone>(&self, i: usize, ins: &[usize], values: &mut [Option<V>], kept: impl Fn(usize) -> bool) -> Vec<V> {
        ins.iter()
            .enumerate()
            .map(|(k, &j)| {
                let take = self.last_reader(i, j) && !ins[k + 1..].contains(&j) && !kept(j);
                let v = if take { values[j].take() } else { values[j].clone() };
                v.expect("inputs evaluated in topological order")
            })
            .collect()
    }
}
