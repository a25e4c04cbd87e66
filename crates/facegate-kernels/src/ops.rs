//! The other layers the two networks use: residual add, max pooling, zero padding, average
//! pooling over a window, and a fully connected layer; and the per-channel ops of the ONNX
//! teachers (PReLU, a folded affine, squeeze-excitation's gate and sigmoid).

use crate::map::{Activation, Map, Pads, out_len};
use crate::{Result, err};

/// `a = act(a + b)`, element by element (a residual connection and the activation after it,
/// in one pass).
pub fn add_in_place(a: &mut Map, b: &Map, act: Activation) -> Result<()> {
    if (a.h, a.w, a.c) != (b.h, b.w, b.c) {
        return err(format!("cannot add a {}x{}x{} map to a {}x{}x{} one", b.h, b.w, b.c, a.h, a.w, a.c));
    }
    // `b` as one "row" repeated once: the same pass the convolutions' bias takes.
    act.apply_with_bias(&mut a.data, &b.data);
    Ok(())
}

/// Max pooling; padded cells never win (TF pads max pooling with -infinity).
pub fn max_pool(x: &Map, kernel: [usize; 2], stride: [usize; 2], pads: Pads) -> Result<Map> {
    let oh = out_len(x.h, pads.top, pads.bottom, kernel[0], stride[0]);
    let ow = out_len(x.w, pads.left, pads.right, kernel[1], stride[1]);
    if oh == 0 || ow == 0 || kernel[0] == 0 || kernel[1] == 0 {
        return err(format!("a {}x{} input does not fit a {kernel:?} pooling window", x.h, x.w));
    }
    let mut out = Map { h: oh, w: ow, c: x.c, data: vec![f32::NEG_INFINITY; oh * ow * x.c] };
    for oy in 0..oh {
        for ox in 0..ow {
            let acc = &mut out.data[(oy * ow + ox) * x.c..][..x.c];
            for ky in 0..kernel[0] {
                let Some(iy) = (oy * stride[0] + ky).checked_sub(pads.top).filter(|&i| i < x.h) else { continue };
                for kx in 0..kernel[1] {
                    let Some(ix) = (ox * stride[1] + kx).checked_sub(pads.left).filter(|&i| i < x.w) else { continue };
                    // A comparison, not `f32::max` (a call per value in wasm: see `Activation::apply`).
                    acc.iter_mut().zip(x.pixel(iy, ix)).for_each(|(a, &v)| *a = if v > *a { v } else { *a });
                }
            }
        }
    }
    Ok(out)
}

/// Zero padding of the rows, columns and channels (`channels`: before, after).
pub fn pad(x: &Map, pads: Pads, channels: (usize, usize)) -> Map {
    let (h, w, c) = (x.h + pads.top + pads.bottom, x.w + pads.left + pads.right, x.c + channels.0 + channels.1);
    let mut out = Map::zeros(h, w, c);
    for y in 0..x.h {
        for xx in 0..x.w {
            let at = ((y + pads.top) * w + xx + pads.left) * c + channels.0;
            out.data[at..at + x.c].copy_from_slice(x.pixel(y, xx));
        }
    }
    out
}

/// The mean of each channel over rows `rows` and columns `cols` of the map.
pub fn mean_window(x: &Map, rows: std::ops::Range<usize>, cols: std::ops::Range<usize>) -> Result<Vec<f32>> {
    if rows.is_empty() || cols.is_empty() || rows.end > x.h || cols.end > x.w {
        return err(format!("window {rows:?} x {cols:?} is not inside a {}x{} map", x.h, x.w));
    }
    let mut sum = vec![0f32; x.c];
    for y in rows.clone() {
        for xx in cols.clone() {
            sum.iter_mut().zip(x.pixel(y, xx)).for_each(|(s, &v)| *s += v);
        }
    }
    let n = (rows.len() * cols.len()) as f32;
    Ok(sum.into_iter().map(|s| s / n).collect())
}

/// `x [din] . weight [din, dout] + bias [dout]`.
pub fn linear(x: &[f32], weight: &[f32], bias: &[f32]) -> Result<Vec<f32>> {
    let dout = bias.len();
    if weight.len() != x.len() * dout {
        return err(format!("a {}x{dout} layer has {} weights", x.len(), weight.len()));
    }
    let mut out = bias.to_vec();
    for (&v, row) in x.iter().zip(weight.chunks_exact(dout.max(1))) {
        out.iter_mut().zip(row).for_each(|(o, &w)| *o += v * w);
    }
    Ok(out)
}

/// Checks that `per` (one value per channel, or one for all) repeats a whole number of times.
fn channels_of(len: usize, per: &[f32], what: &str) -> Result<usize> {
    let c = per.len();
    if c == 0 || !len.is_multiple_of(c) {
        return err(format!("{c} {what} values for {len} values of channels innermost"));
    }
    Ok(c)
}

/// PReLU, `x > 0 ? x : x * slope`, channels innermost with `slope` repeated along `data` (one
/// per channel, or one for all). NaN stays NaN.
pub fn prelu(data: &mut [f32], slope: &[f32]) -> Result<()> {
    channels_of(data.len(), slope, "slope")?;
    for row in data.chunks_exact_mut(slope.len()) {
        row.iter_mut().zip(slope).for_each(|(v, &s)| *v = if *v > 0.0 { *v } else { *v * s });
    }
    Ok(())
}

/// `x * scale + shift` per channel (channels innermost; `scale` and `shift` of one length, one
/// per channel or one for all): a batch normalisation or an input normalisation folded at load.
pub fn affine(data: &mut [f32], scale: &[f32], shift: &[f32]) -> Result<()> {
    channels_of(data.len(), scale, "scale")?;
    if shift.len() != scale.len() {
        return err(format!("{} shifts for {} scales", shift.len(), scale.len()));
    }
    for row in data.chunks_exact_mut(scale.len()) {
        row.iter_mut().zip(scale.iter().zip(shift)).for_each(|(v, (&a, &b))| *v = *v * a + b);
    }
    Ok(())
}

/// Each channel of the map times its gate (squeeze-excitation's reweighting).
pub fn scale_channels(x: &mut Map, gate: &[f32]) -> Result<()> {
    if gate.len() != x.c {
        return err(format!("{} gates for {} channels", gate.len(), x.c));
    }
    for px in x.data.chunks_exact_mut(x.c.max(1)) {
        px.iter_mut().zip(gate).for_each(|(v, &g)| *v *= g);
    }
    Ok(())
}

/// The logistic function, `1 / (1 + e^-x)`, in place.
pub fn sigmoid(data: &mut [f32]) {
    data.iter_mut().for_each(|v| *v = 1.0 / (1.0 + (-*v).exp()));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ramp(h: usize, w: usize, c: usize) -> Map {
        Map::new(h, w, c, (0..h * w * c).map(|v| v as f32).collect()).unwrap()
    }

    #[test]
    fn max_pool_ignores_padding() {
        let x = Map::new(3, 3, 1, vec![-1.0, -2.0, -3.0, -4.0, -5.0, -6.0, -7.0, -8.0, -9.0]).unwrap();
        let y = max_pool(&x, [2, 2], [2, 2], Pads { top: 0, bottom: 1, left: 0, right: 1 }).unwrap();
        assert_eq!((y.h, y.w), (2, 2));
        assert_eq!(y.data, vec![-1.0, -3.0, -7.0, -9.0]);
        let y = max_pool(&ramp(4, 4, 2), [2, 2], [2, 2], Pads::default()).unwrap();
        assert_eq!(y.data, vec![10.0, 11.0, 14.0, 15.0, 26.0, 27.0, 30.0, 31.0]);
    }

    #[test]
    fn pad_places_the_map_and_zero_fills() {
        let x = ramp(1, 2, 2);
        let y = pad(&x, Pads { top: 1, bottom: 0, left: 0, right: 1 }, (0, 1));
        assert_eq!((y.h, y.w, y.c), (2, 3, 3));
        assert_eq!(y.data, vec![0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 2.0, 3.0, 0.0, 0.0, 0.0, 0.0]);
    }

    #[test]
    fn add_mean_and_linear() {
        let mut a = ramp(2, 2, 1);
        add_in_place(&mut a, &ramp(2, 2, 1), Activation::None).unwrap();
        assert_eq!(a.data, vec![0.0, 2.0, 4.0, 6.0]);
        let minus = Map::new(2, 2, 1, vec![-1.0, -1.0, -9.0, -3.0]).unwrap();
        add_in_place(&mut a, &minus, Activation::Relu6).unwrap();
        assert_eq!(a.data, vec![0.0, 1.0, 0.0, 3.0]);
        assert!(add_in_place(&mut a, &ramp(2, 2, 2), Activation::None).is_err());
        assert_eq!(mean_window(&ramp(3, 3, 1), 1..3, 0..2).unwrap(), vec![(3.0 + 4.0 + 6.0 + 7.0) / 4.0]);
        assert!(mean_window(&ramp(3, 3, 1), 1..4, 0..2).is_err());
        assert_eq!(linear(&[1.0, 2.0], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &[0.5, 0.0, 0.0]).unwrap(), vec![9.5, 12.0, 15.0]);
        assert!(linear(&[1.0], &[1.0, 2.0], &[0.0]).is_err());
    }

    #[test]
    fn per_channel_ops() {
        let mut x = vec![-2.0, 3.0, -4.0, 5.0, f32::NAN, -1.0];
        prelu(&mut x, &[0.5, -1.0]).unwrap();
        assert_eq!(&x[..4], &[-1.0, 3.0, -2.0, 5.0]);
        assert!(x[4].is_nan());
        assert_eq!(x[5], 1.0);
        let mut y = vec![1.0, 2.0, 3.0, 4.0];
        prelu(&mut y, &[0.1]).unwrap();
        assert_eq!(y, vec![1.0, 2.0, 3.0, 4.0]);
        assert!(prelu(&mut y, &[0.1, 0.2, 0.3]).is_err());
        let mut z = vec![1.0, 2.0, 3.0, 4.0];
        affine(&mut z, &[2.0, -1.0], &[0.5, 0.0]).unwrap();
        assert_eq!(z, vec![2.5, -2.0, 6.5, -4.0]);
        assert!(affine(&mut z, &[1.0], &[1.0, 2.0]).is_err());
        let mut m = ramp(1, 2, 2);
        scale_channels(&mut m, &[2.0, 0.5]).unwrap();
        assert_eq!(m.data, vec![0.0, 0.5, 4.0, 1.5]);
        assert!(scale_channels(&mut m, &[1.0]).is_err());
        let mut s = vec![0.0, 100.0, -100.0];
        sigmoid(&mut s);
        assert_eq!(s, vec![0.5, 1.0, 0.0]);
    }
}
