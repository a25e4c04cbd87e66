//! Layers both networks are built from (MobileNet-v1 style, ReLU6) and their input layout.

use burn::module::{Module, Param, RunningState};
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, Linear, LinearConfig, PaddingConfig2d};
use burn::tensor::{Device, Tensor};
use facegate_kernels::Pads;

/// Where a network's first weights come from. Training draws burn's initialisers ([`Fresh`]);
/// loading a weight file only needs the shapes ([`Shell`]). A build that never names `Fresh`
/// (the browser's) never links the initialisers, which pull in QR and scatter: 350 KB of wasm.
pub trait Layers {
    fn conv(cin: usize, cout: usize, kernel: usize, stride: usize, groups: usize, padding: PaddingConfig2d, device: &Device) -> Conv2d;
    fn batch_norm(channels: usize, device: &Device) -> BatchNorm;
    fn linear(din: usize, dout: usize, device: &Device) -> Linear;
}

/// burn's default initialisers, for training.
pub struct Fresh;

/// Placeholders a weight file overwrites (the loader checks every shape).
pub struct Shell;

impl Layers for Fresh {
    fn conv(cin: usize, cout: usize, kernel: usize, stride: usize, groups: usize, padding: PaddingConfig2d, device: &Device) -> Conv2d {
        Conv2dConfig::new([cin, cout], [kernel, kernel]).with_stride([stride, stride]).with_padding(padding).with_groups(groups).with_bias(false).init(device)
    }

    fn batch_norm(channels: usize, device: &Device) -> BatchNorm {
        BatchNormConfig::new(channels).init(device)
    }

    fn linear(din: usize, dout: usize, device: &Device) -> Linear {
        LinearConfig::new(din, dout).init(device)
    }
}

impl Layers for Shell {
    fn conv(cin: usize, cout: usize, kernel: usize, stride: usize, groups: usize, padding: PaddingConfig2d, device: &Device) -> Conv2d {
        Conv2d {
            weight: Param::from_tensor(Tensor::zeros([cout, cin / groups, kernel, kernel], device)),
            bias: None,
            stride: [stride, stride],
            kernel_size: [kernel, kernel],
            dilation: [1, 1],
            groups,
            padding,
        }
    }

    fn batch_norm(channels: usize, device: &Device) -> BatchNorm {
        let config = BatchNormConfig::new(channels);
        BatchNorm {
            gamma: Param::from_tensor(Tensor::ones([channels], device)),
            beta: Param::from_tensor(Tensor::zeros([channels], device)),
            training: Param::from_bool(true),
            running_mean: RunningState::new(Tensor::zeros([channels], device)),
            running_var: RunningState::new(Tensor::ones([channels], device)),
            momentum: config.momentum,
            epsilon: config.epsilon,
        }
    }

    fn linear(din: usize, dout: usize, device: &Device) -> Linear {
        Linear { weight: Param::from_tensor(Tensor::zeros([din, dout], device)), bias: Some(Param::from_tensor(Tensor::zeros([dout], device))) }
    }
}

pub use facegate_runtime::student::{KernelLayer, conv_pad};

#[derive(Module, Debug)]
pub struct ConvBn {
    conv: Conv2d,
    bn: BatchNorm,
}

impl ConvBn {
    pub fn new<L: Layers>(cin: usize, cout: usize, kernel: usize, stride: usize, groups: usize, device: &Device) -> Self {
        let pad = conv_pad(kernel);
        let conv = L::conv(cin, cout, kernel, stride, groups, PaddingConfig2d::Explicit(pad, pad, pad, pad), device);
        Self { conv, bn: L::batch_norm(cout, device) }
    }

    /// The layer for inference on facegate-kernels ([`KernelLayer::fold`]).
    pub fn to_runtime(&self) -> KernelLayer {
        let host = |t: Tensor<1>| t.into_data().try_to_vec::<f32>().expect("f32 params");
        let w = self.conv.weight.val();
        let dims = w.dims();
        let pads = match self.conv.padding {
            PaddingConfig2d::Explicit(top, left, bottom, right) => Pads { top, bottom, left, right },
            _ => unreachable!("ConvBn pads explicitly"),
        };
        let bn = [host(self.bn.gamma.val()), host(self.bn.beta.val()), host(self.bn.running_mean.value()), host(self.bn.running_var.value())];
        KernelLayer::fold(&w.into_data().try_to_vec::<f32>().expect("f32 params"), dims, self.conv.groups, self.conv.stride, pads, &bn, self.bn.epsilon)
            .expect("a ConvBn's own shapes")
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
        let y = self.bn.forward(self.conv.forward(x));
        burn::tensor::activation::relu(y).clamp_max(6.0)
    }
}

/// Depthwise 3x3 then pointwise 1x1.
#[derive(Module, Debug)]
pub struct SepBlock {
    pub(crate) dw: ConvBn,
    pub(crate) pw: ConvBn,
}

impl SepBlock {
    pub fn new<L: Layers>(cin: usize, cout: usize, stride: usize, device: &Device) -> Self {
        Self { dw: ConvBn::new::<L>(cin, cin, 3, stride, cin, device), pw: ConvBn::new::<L>(cin, cout, 1, 1, 1, device) }
    }

    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        self.pw.forward(self.dw.forward(x))
    }

    /// Depthwise then pointwise, for facegate-kernels.
    pub fn to_runtime(&self) -> [KernelLayer; 2] {
        [self.dw.to_runtime(), self.pw.to_runtime()]
    }
}

/// HWC 0..255 crops of `side` square -> NCHW scaled to -1..1.
pub fn nchw_input(crops: &[&[f32]], side: usize, device: &Device) -> Tensor<4> {
    let mut data = Vec::with_capacity(crops.len() * side * side * 3);
    for c in crops {
        assert_eq!(c.len(), side * side * 3, "crops are {side}x{side} RGB");
        data.extend(c.iter().map(|v| v / 127.5 - 1.0));
    }
    Tensor::<4>::from_data(burn::tensor::TensorData::new(data, [crops.len(), side, side, 3]), device).permute([0, 3, 1, 2])
}
