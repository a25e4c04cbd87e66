//! Layers both networks are built from (MobileNet-v1 style, ReLU6) and their input layout.

use burn::module::{Module, Param, RunningState};
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, Linear, LinearConfig, PaddingConfig2d};
use burn::tensor::{Device, Tensor};
use facegate_kernels::{Activation, ConvKind, Map, Pads};

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

/// Zero padding on each side of a [`ConvBn`] with this kernel: the output keeps the input's
/// size at stride 1.
pub fn conv_pad(kernel: usize) -> usize {
    kernel / 2
}

#[derive(Module, Debug)]
pub struct ConvBn {
    conv: Conv2d,
    bn: BatchNorm,
}

/// A [`ConvBn`] for facegate-kernels, with the zero padding it runs with.
#[derive(Debug, Clone)]
pub struct KernelLayer {
    pub conv: facegate_kernels::Conv2d,
    pub pads: Pads,
}

impl KernelLayer {
    /// A convolution and its (inference) batch norm, as stored (burn's `[out, in / groups,
    /// kh, kw]` kernel; gamma, beta, running mean and variance), as one layer: the batch norm
    /// folded into the kernel and a bias (per channel `y = conv(x) * s + t` is
    /// `conv_{w*s}(x) + t`, four element-wise passes fewer), TF's layout, ReLU6 in the same
    /// pass. `groups` is 1 (dense) or the channel count (depthwise).
    #[allow(clippy::too_many_arguments)]
    pub fn fold(
        weight: &[f32],
        [cout, per_group, kh, kw]: [usize; 4],
        groups: usize,
        stride: [usize; 2],
        pads: Pads,
        bn: &[Vec<f32>; 4],
        epsilon: f64,
    ) -> Result<Self, String> {
        let [gamma, beta, mean, var] = bn;
        if weight.len() != cout * per_group * kh * kw || bn.iter().any(|v| v.len() != cout) {
            return Err(format!(
                "a {cout}x{per_group}x{kh}x{kw} convolution with {} weights and batch norms of {:?}",
                weight.len(),
                bn.each_ref().map(Vec::len)
            ));
        }
        let depthwise = groups > 1;
        if depthwise && (groups != cout || per_group != 1) {
            return Err(format!("{groups} groups of a {cout}x{per_group} convolution: only dense and depthwise ones are supported"));
        }
        let scale: Vec<f32> = gamma.iter().zip(var).map(|(g, v)| g / (v + epsilon as f32).sqrt()).collect();
        let shift: Vec<f32> = beta.iter().zip(mean).zip(&scale).map(|((b, m), s)| b - m * s).collect();
        let cin = if depthwise { cout } else { per_group };
        // burn's [out, in / groups, kh, kw] to TF's [kh, kw, in, out] (depthwise: [kh, kw, c]).
        let mut tf = vec![0f32; weight.len()];
        for o in 0..cout {
            for c in 0..per_group {
                for y in 0..kh {
                    for x in 0..kw {
                        let at = if depthwise { (y * kw + x) * cout + o } else { ((y * kw + x) * cin + c) * cout + o };
                        tf[at] = weight[((o * per_group + c) * kh + y) * kw + x] * scale[o];
                    }
                }
            }
        }
        let kind = if depthwise { ConvKind::Depthwise } else { ConvKind::Dense };
        let conv = facegate_kernels::Conv2d::new(kind, [kh, kw], stride, cin, cout, tf, Some(shift), Activation::Relu6).map_err(|e| e.0)?;
        Ok(Self { conv, pads })
    }

    pub fn run(&self, x: &Map) -> Map {
        self.conv.run(x, self.pads).expect("layer shapes are fixed by the network that made it")
    }
}

impl ConvBn {
    pub fn new<L: Layers>(cin: usize, cout: usize, kernel: usize, stride: usize, groups: usize, device: &Device) -> Self {
        let pad = conv_pad(kernel);
        let conv = L::conv(cin, cout, kernel, stride, groups, PaddingConfig2d::Explicit(pad, pad, pad, pad), device);
        Self { conv, bn: L::batch_norm(cout, device) }
    }

    /// The layer for inference on facegate-kernels ([`KernelLayer::fold`]).
    pub fn kernels(&self) -> KernelLayer {
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
    pub fn kernels(&self) -> [KernelLayer; 2] {
        [self.dw.kernels(), self.pw.kernels()]
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
