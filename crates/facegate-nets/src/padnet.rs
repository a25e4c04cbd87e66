//! The anti-spoofing teacher: MobileNet-v1 at 128x128 (3.2M parameters), one live/attack
//! logit. Depthwise-separable blocks keep it cheap to train on two CPU cores while the wide
//! late stages give it the capacity to learn print and screen texture.

use crate::blocks::{ConvBn, Fresh, Layers, SepBlock, Shell, nchw_input};
use burn::module::Module;
use burn::nn::{Dropout, DropoutConfig, Linear};
use burn::tensor::{Device, Tensor};

/// Input side in pixels.
pub const PADNET_INPUT: usize = 128;
/// The crop spans this many sides of the pipeline's square face box (`facegate_face::specs`):
/// attacks show at the face's surroundings (photo edges, fingers, bezels) as much as in its texture.
pub use facegate_face::specs::PADNET_VIEW;
/// Blocks whose outputs are the stride-4, 8 and 16 stages (128, 256, 512 channels), the same
/// places as `conv_pw_{3,5,11}` of the faceres graph.
pub const PADNET_STAGES: [usize; 3] = [2, 4, 10];
pub const PADNET_ARCH: &str = "padnet-mobilenetv1-128";

#[derive(Module, Debug)]
pub struct PadNet {
    stem: ConvBn,
    blocks: Vec<SepBlock>,
    dropout: Dropout,
    head: Linear,
}

/// (out channels, stride) per block, MobileNet-v1 (also the faceres graph's layer plan).
const PLAN: [(usize, usize); 13] =
    [(64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2), (512, 1), (512, 1), (512, 1), (512, 1), (512, 1), (1024, 2), (1024, 1)];

/// Multiply-accumulates of the MobileNet-v1 trunk at `input` x `input` (SAME padding).
pub fn mobilenet_v1_macs(input: usize) -> u64 {
    let mut side = input.div_ceil(2);
    let mut macs = (side * side * 27 * 32) as u64;
    let mut cin = 32;
    for (cout, stride) in PLAN {
        side = side.div_ceil(stride);
        macs += (side * side * cin * 9 + side * side * cin * cout) as u64;
        cin = cout;
    }
    macs
}

impl PadNet {
    /// Randomly initialised, to train.
    pub fn new(device: &Device) -> Self {
        Self::build::<Fresh>(device)
    }

    /// Shapes only, to load a weight file into.
    pub fn shell(device: &Device) -> Self {
        Self::build::<Shell>(device)
    }

    fn build<L: Layers>(device: &Device) -> Self {
        let mut cin = 32;
        let mut blocks = Vec::new();
        for (cout, stride) in PLAN {
            blocks.push(SepBlock::new::<L>(cin, cout, stride, device));
            cin = cout;
        }
        Self { stem: ConvBn::new::<L>(3, 32, 3, 2, 1, device), blocks, dropout: DropoutConfig::new(0.2).init(), head: L::linear(1024, 1, device) }
    }

    /// `x`: NCHW, RGB scaled to -1..1. Returns the live logit, shape [N].
    pub fn forward(&self, x: Tensor<4>) -> Tensor<1> {
        self.logit(self.pooled(x))
    }

    /// The 1024-d globally pooled trunk features.
    pub fn pooled(&self, x: Tensor<4>) -> Tensor<2> {
        self.forward_stages(x).1
    }

    /// The outputs of blocks [`PADNET_STAGES`] (the maps a student aligns with) and the
    /// pooled features.
    pub fn forward_stages(&self, x: Tensor<4>) -> (Vec<Tensor<4>>, Tensor<2>) {
        let mut h = self.stem.forward(x);
        let mut stages = Vec::new();
        for (i, b) in self.blocks.iter().enumerate() {
            h = b.forward(h);
            if PADNET_STAGES.contains(&i) {
                stages.push(h.clone());
            }
        }
        let [n, c, _, _] = h.dims();
        (stages, h.mean_dims(&[2, 3]).reshape([n, c]))
    }

    /// The live logit from pooled features.
    pub fn logit(&self, pooled: Tensor<2>) -> Tensor<1> {
        let n = pooled.dims()[0];
        self.head.forward(self.dropout.forward(pooled)).reshape([n])
    }

    /// Seeds the trunk from a MobileNet-v1 with the same layer plan, layer by layer:
    /// `layers[0]` is the stem, then (depthwise, pointwise) per block. Used to start the
    /// anti-spoofing teacher from the HSE face-recognition network instead of from noise.
    pub fn assign_trunk(&mut self, layers: Vec<(Tensor<4>, Tensor<1>, Tensor<1>)>) -> Result<(), String> {
        if layers.len() != 1 + 2 * self.blocks.len() {
            return Err(format!("{} layers for a trunk of {}", layers.len(), 1 + 2 * self.blocks.len()));
        }
        let mut it = layers.into_iter();
        let (w, g, b) = it.next().expect("stem");
        self.stem.assign(w, g, b).map_err(|e| format!("stem {e}"))?;
        for (i, block) in self.blocks.iter_mut().enumerate() {
            let (w, g, b) = it.next().expect("dw");
            block.dw.assign(w, g, b).map_err(|e| format!("block {i} depthwise {e}"))?;
            let (w, g, b) = it.next().expect("pw");
            block.pw.assign(w, g, b).map_err(|e| format!("block {i} pointwise {e}"))?;
        }
        Ok(())
    }
}

/// HWC 0..255 crops of `PADNET_INPUT` square, batched as the net's input.
pub fn padnet_input(crops: &[&[f32]], device: &Device) -> Tensor<4> {
    nchw_input(crops, PADNET_INPUT, device)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn has_teacher_capacity_and_one_logit_per_face() {
        let device = Device::flex();
        let net = PadNet::new(&device);
        assert!(net.num_params() >= 2_000_000, "{}", net.num_params());
        let crop = vec![100.0f32; PADNET_INPUT * PADNET_INPUT * 3];
        let x = padnet_input(&[&crop, &crop], &device);
        assert_eq!(net.forward(x).dims(), [2]);
    }

    #[test]
    fn mobilenet_cost_matches_the_published_figure() {
        // MobileNet-v1 1.0/224 is 569M multiply-adds (Howard et al. 2017, table 8).
        let m = mobilenet_v1_macs(224);
        assert!((560_000_000..580_000_000).contains(&m), "{m}");
    }
}
