//! The anti-spoofing teacher: MobileNet-v1 at 128x128 (3.2M parameters), one live/attack
//! logit. Depthwise-separable blocks keep it cheap to train on two CPU cores while the wide
//! late stages give it the capacity to learn print and screen texture.

use burn::module::{Module, Param};
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, Dropout, DropoutConfig, Linear, LinearConfig, PaddingConfig2d};
use burn::tensor::{Device, Tensor};

/// Input side in pixels; the crop is the pipeline's square face box.
pub const PADNET_INPUT: usize = 128;
pub const PADNET_ARCH: &str = "padnet-mobilenetv1-128";

#[derive(Module, Debug)]
pub struct ConvBn {
    conv: Conv2d,
    bn: BatchNorm,
}

impl ConvBn {
    pub fn new(cin: usize, cout: usize, kernel: usize, stride: usize, groups: usize, device: &Device) -> Self {
        let pad = kernel / 2;
        let conv = Conv2dConfig::new([cin, cout], [kernel, kernel])
            .with_stride([stride, stride])
            .with_padding(PaddingConfig2d::Explicit(pad, pad, pad, pad))
            .with_groups(groups)
            .with_bias(false)
            .init(device);
        Self { conv, bn: BatchNormConfig::new(cout).init(device) }
    }

    /// Replaces the kernel and the batch-norm affine terms (running statistics stay 0 / 1,
    /// which is how a folded batch norm is expressed).
    pub fn assign(&mut self, weight: Tensor<4>, gamma: Tensor<1>, beta: Tensor<1>) -> Result<(), String> {
        let device = self.conv.weight.val().device();
        let check = |what: &str, got: &[usize], want: &[usize]| {
            if got == want { Ok(()) } else { Err(format!("{what}: {got:?} where the layer has {want:?}")) }
        };
        check("kernel", &weight.dims(), &self.conv.weight.val().dims())?;
        check("scale", &gamma.dims(), &self.bn.gamma.val().dims())?;
        check("shift", &beta.dims(), &self.bn.beta.val().dims())?;
        let move_to = |t: Tensor<1>| Tensor::<1>::from_data(t.into_data(), &device);
        self.conv.weight = Param::from_tensor(Tensor::<4>::from_data(weight.into_data(), &device));
        self.bn.gamma = Param::from_tensor(move_to(gamma));
        self.bn.beta = Param::from_tensor(move_to(beta));
        Ok(())
    }

    /// Conv, batch norm, ReLU6.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        burn::tensor::activation::relu(self.bn.forward(self.conv.forward(x))).clamp_max(6.0)
    }
}

/// Depthwise 3x3 then pointwise 1x1.
#[derive(Module, Debug)]
pub struct SepBlock {
    dw: ConvBn,
    pw: ConvBn,
}

impl SepBlock {
    pub fn new(cin: usize, cout: usize, stride: usize, device: &Device) -> Self {
        Self { dw: ConvBn::new(cin, cin, 3, stride, cin, device), pw: ConvBn::new(cin, cout, 1, 1, 1, device) }
    }

    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        self.pw.forward(self.dw.forward(x))
    }
}

#[derive(Module, Debug)]
pub struct PadNet {
    stem: ConvBn,
    blocks: Vec<SepBlock>,
    dropout: Dropout,
    head: Linear,
}

impl PadNet {
    pub fn new(device: &Device) -> Self {
        // (out channels, stride) per block, MobileNet-v1.
        let plan = [(64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2), (512, 1), (512, 1), (512, 1), (512, 1), (512, 1), (1024, 2), (1024, 1)];
        let mut cin = 32;
        let mut blocks = Vec::new();
        for (cout, stride) in plan {
            blocks.push(SepBlock::new(cin, cout, stride, device));
            cin = cout;
        }
        Self {
            stem: ConvBn::new(3, 32, 3, 2, 1, device),
            blocks,
            dropout: DropoutConfig::new(0.2).init(),
            head: LinearConfig::new(1024, 1).init(device),
        }
    }

    /// `x`: NCHW, RGB scaled to -1..1. Returns the live logit, shape [N].
    pub fn forward(&self, x: Tensor<4>) -> Tensor<1> {
        let pooled = self.pooled(x);
        let n = pooled.dims()[0];
        self.head.forward(self.dropout.forward(pooled)).reshape([n])
    }

    /// The 1024-d globally pooled trunk features.
    pub fn pooled(&self, x: Tensor<4>) -> Tensor<2> {
        let mut h = self.stem.forward(x);
        for b in &self.blocks {
            h = b.forward(h);
        }
        let [n, c, _, _] = h.dims();
        h.mean_dims(&[2, 3]).reshape([n, c])
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

/// HWC RGB bytes or 0..255 floats of a `PADNET_INPUT` crop, batched into the net's input.
pub fn padnet_input(crops: &[&[f32]], device: &Device) -> Tensor<4> {
    let s = PADNET_INPUT;
    let mut data = Vec::with_capacity(crops.len() * s * s * 3);
    for c in crops {
        assert_eq!(c.len(), s * s * 3, "PadNet crops are {s}x{s} RGB");
        data.extend(c.iter().map(|v| v / 127.5 - 1.0));
    }
    Tensor::<4>::from_data(burn::tensor::TensorData::new(data, [crops.len(), s, s, 3]), device).permute([0, 3, 1, 2])
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
}
