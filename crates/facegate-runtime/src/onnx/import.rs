//! ONNX graph to [`ir::Graph`]: everything computable at load is computed at load.
//!
//! Nodes are visited in file order (ONNX requires topological order). Each value is either a
//! constant (initializers, graph inputs that have an initializer, and whatever is computed
//! from constants and static shapes: DequantizeLinear, Reshape, Shape, Gather, Unsqueeze,
//! Concat...) or a run-time value with a static shape (the batch is fixed to 1). Only the
//! run-time ops become IR nodes. An op outside the supported set is refused here, naming
//! it, so a model either loads completely or not at all.

use super::OnnxError;
use super::ir::{Graph, Node, Op, Value, ValueId};
use super::proto::{self, AttrValue, NodeProto, TensorProto, dtype};
use std::collections::{HashMap, HashSet};
use std::rc::Rc;

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Data {
    F32(Vec<f32>),
    /// Every integer type (int8 weights, int64 shapes), widened.
    I64(Vec<i64>),
}

/// A tensor known at load time.
#[derive(Debug, Clone)]
pub(crate) struct Const {
    pub shape: Vec<usize>,
    pub data: Rc<Data>,
}

impl Const {
    fn f32(shape: Vec<usize>, v: Vec<f32>) -> Self {
        Self { shape, data: Rc::new(Data::F32(v)) }
    }

    fn i64(shape: Vec<usize>, v: Vec<i64>) -> Self {
        Self { shape, data: Rc::new(Data::I64(v)) }
    }

    fn len(&self) -> usize {
        match &*self.data {
            Data::F32(v) => v.len(),
            Data::I64(v) => v.len(),
        }
    }

    fn floats(&self) -> Result<&[f32], Why> {
        match &*self.data {
            Data::F32(v) => Ok(v),
            Data::I64(_) => Err(Why::Format(format!("expected a float tensor, got an integer one of shape {:?}", self.shape))),
        }
    }

    fn ints(&self) -> Result<&[i64], Why> {
        match &*self.data {
            Data::I64(v) => Ok(v),
            Data::F32(_) => Err(Why::Format(format!("expected an integer tensor, got a float one of shape {:?}", self.shape))),
        }
    }

    fn with_shape(&self, shape: Vec<usize>) -> Self {
        Self { shape, data: Rc::clone(&self.data) }
    }
}

/// Why a node cannot be imported; turned into an [`OnnxError`] with the file and node.
#[derive(Debug)]
pub(crate) enum Why {
    /// The op, or this form of it, is not supported: the text names it (e.g. "Einsum",
    /// "Conv (auto_pad SAME_UPPER)").
    Unsupported(String),
    /// The model contradicts itself (shapes, missing inputs).
    Format(String),
}

fn format<T>(msg: impl Into<String>) -> Result<T, Why> {
    Err(Why::Format(msg.into()))
}

fn unsupported<T>(what: impl Into<String>) -> Result<T, Why> {
    Err(Why::Unsupported(what.into()))
}

/// An initializer's values.
pub(crate) fn decode_tensor(t: &TensorProto<'_>) -> Result<Const, String> {
    if t.external {
        return Err(format!("tensor '{}' keeps its values in an external file, which this loader does not read", t.name));
    }
    if t.segmented {
        return Err(format!("tensor '{}' is segmented", t.name));
    }
    let shape: Vec<usize> =
        t.dims.iter().map(|&d| usize::try_from(d).map_err(|_| format!("tensor '{}' has dimension {d}", t.name))).collect::<Result<_, _>>()?;
    let n = shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d)).ok_or_else(|| format!("tensor '{}' of shape {shape:?} is too large", t.name))?;
    let count =
        |got: usize, what: &str| if got == n { Ok(()) } else { Err(format!("tensor '{}' of shape {shape:?} has {got} {what} values, not {n}", t.name)) };
    let raw = |size: usize| -> Result<Option<&[u8]>, String> {
        match t.raw_data {
            Some(r) => {
                if r.len() != n * size {
                    return Err(format!("tensor '{}' of shape {shape:?} has {} bytes of raw data, not {}", t.name, r.len(), n * size));
                }
                Ok(Some(r))
            }
            None => Ok(None),
        }
    };
    let data = match t.data_type {
        dtype::FLOAT => match raw(4)? {
            Some(r) => Data::F32(r.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()),
            None => {
                count(t.float_data.len(), "float_data")?;
                Data::F32(t.float_data.clone())
            }
        },
        dtype::DOUBLE => match raw(8)? {
            Some(r) => Data::F32(r.chunks_exact(8).map(|c| f64::from_le_bytes(c.try_into().expect("8 bytes")) as f32).collect()),
            None => {
                count(t.double_data.len(), "double_data")?;
                Data::F32(t.double_data.iter().map(|&v| v as f32).collect())
            }
        },
        dtype::INT8 | dtype::UINT8 | dtype::INT32 => {
            let size = if t.data_type == dtype::INT32 { 4 } else { 1 };
            match raw(size)? {
                Some(r) if t.data_type == dtype::INT8 => Data::I64(r.iter().map(|&b| i64::from(b as i8)).collect()),
                Some(r) if t.data_type == dtype::UINT8 => Data::I64(r.iter().map(|&b| i64::from(b)).collect()),
                Some(r) => Data::I64(r.chunks_exact(4).map(|c| i64::from(i32::from_le_bytes([c[0], c[1], c[2], c[3]]))).collect()),
                None => {
                    count(t.int32_data.len(), "int32_data")?;
                    let v = t.int32_data.clone();
                    if t.data_type == dtype::UINT8 { Data::I64(v.into_iter().map(|x| x & 0xff).collect()) } else { Data::I64(v) }
                }
            }
        }
        dtype::INT64 => match raw(8)? {
            Some(r) => Data::I64(r.chunks_exact(8).map(|c| i64::from_le_bytes(c.try_into().expect("8 bytes"))).collect()),
            None => {
                count(t.int64_data.len(), "int64_data")?;
                Data::I64(t.int64_data.clone())
            }
        },
        d => return Err(format!("tensor '{}' has data type {d} (float32, float64, int8, uint8, int32 and int64 are read)", t.name)),
    };
    Ok(Const { shape, data: Rc::new(data) })
}

/// DequantizeLinear, `(x - zero_point) * scale`: per tensor (one scale), per axis (`block` 0,
/// one scale per index along `axis`) or block-wise (scale has x's rank, and the index along
/// `axis` divided by `block` picks the scale; opset 21).
pub(crate) fn dequantize(
    x: &[i64],
    shape: &[usize],
    scale: &[f32],
    scale_shape: &[usize],
    zero: Option<&[i64]>,
    axis: i64,
    block: usize,
) -> Result<Vec<f32>, String> {
    if let Some(z) = zero
        && z.len() != scale.len()
    {
        return Err(format!("{} zero points for {} scales", z.len(), scale.len()));
    }
    let zp = |i: usize| zero.map_or(0, |z| z[i]);
    let deq = |v: i64, s: usize| (v - zp(s)) as f32 * scale[s];
    if scale.len() == 1 && scale_shape.len() <= 1 && block == 0 {
        return Ok(x.iter().map(|&v| deq(v, 0)).collect());
    }
    let rank = shape.len() as i64;
    let a = if axis < 0 { axis + rank } else { axis };
    if !(0..rank).contains(&a) {
        return Err(format!("axis {axis} of a rank-{rank} tensor"));
    }
    let a = a as usize;
    let (dim, inner) = (shape[a], shape[a + 1..].iter().product::<usize>());
    if block == 0 {
        if scale_shape.len() != 1 || scale.len() != dim {
            return Err(format!("per-axis scales of shape {scale_shape:?} for axis {a} of {shape:?}"));
        }
        return Ok(x.iter().enumerate().map(|(i, &v)| deq(v, (i / inner) % dim)).collect());
    }
    let blocks = dim.div_ceil(block);
    let fits = scale_shape.len() == shape.len() && scale_shape.iter().zip(shape).enumerate().all(|(d, (&s, &xd))| if d == a { s == blocks } else { s == xd });
    if !fits {
        return Err(format!("block-wise scales of shape {scale_shape:?} for blocks of {block} along axis {a} of {shape:?}"));
    }
    Ok(x.iter()
        .enumerate()
        .map(|(i, &v)| {
            let (outer, along, within) = (i / (inner * dim), (i / inner) % dim, i % inner);
            deq(v, (outer * blocks + along / block) * inner + within)
        })
        .collect())
}

/// Reshape's target: 0 copies the input's dimension (unless `allowzero`), -1 takes the rest.
pub(crate) fn reshape_target(from: &[usize], spec: &[i64], allowzero: bool) -> Result<Vec<usize>, String> {
    let total: usize = from.iter().product();
    let mut out = Vec::with_capacity(spec.len());
    let mut infer = None;
    for (i, &d) in spec.iter().enumerate() {
        match d {
            -1 if infer.is_none() => {
                infer = Some(i);
                out.push(1);
            }
            0 if !allowzero => out.push(*from.get(i).ok_or_else(|| format!("0 at {i} copies no dimension of {from:?}"))?),
            d if d >= 0 => out.push(d as usize),
            _ => return Err(format!("reshape {from:?} to {spec:?}")),
        }
    }
    let known: usize = out.iter().product();
    if let Some(i) = infer {
        if known == 0 || !total.is_multiple_of(known) {
            return Err(format!("reshape {from:?} ({total} values) to {spec:?}"));
        }
        out[i] = total / known;
    }
    if out.iter().product::<usize>() != total {
        return Err(format!("reshape {from:?} ({total} values) to {spec:?}"));
    }
    Ok(out)
}

/// A constant's broadcast over `x`'s shape that varies along one axis at most (NumPy rules,
/// right-aligned): that axis and the values (length 1 when it is constant everywhere).
fn along_axis(c: &Const, x: &[usize]) -> Option<(usize, Vec<f32>)> {
    let vals = c.floats().ok()?;
    if c.shape.len() > x.len() {
        return None;
    }
    let off = x.len() - c.shape.len();
    let varying: Vec<usize> = c.shape.iter().enumerate().filter(|(_, d)| **d != 1).map(|(i, _)| i + off).collect();
    match varying[..] {
        [] => Some((1.min(x.len().saturating_sub(1)), vec![vals[0]])),
        [a] if c.shape[a - off] == x[a] => Some((a, vals.to_vec())),
        _ => None,
    }
}

fn norm_axis(axis: i64, rank: usize) -> Result<usize, Why> {
    let a = if axis < 0 { axis + rank as i64 } else { axis };
    if (0..rank as i64).contains(&a) { Ok(a as usize) } else { format(format!("axis {axis} of a rank-{rank} tensor")) }
}

#[derive(Debug, Clone)]
enum Known<'a> {
    /// An initializer not decoded yet (most are read once, by the op that folds them).
    Init(&'a TensorProto<'a>),
    Const(Const),
    Run(ValueId),
}

struct Importer<'a> {
    known: HashMap<String, Known<'a>>,
    /// How many node inputs and graph outputs name each value.
    readers: HashMap<String, usize>,
    graph_outputs: HashSet<String>,
    values: Vec<Value>,
    nodes: Vec<Node>,
    names: HashMap<String, ValueId>,
    folded: HashMap<String, String>,
    counted: HashSet<String>,
    parameter_count: usize,
}

/// Node `n`'s attributes.
struct Attrs<'n, 'a>(&'n NodeProto<'a>);

impl<'a> Attrs<'_, 'a> {
    fn get(&self, name: &str) -> Option<&AttrValue<'a>> {
        self.0.attributes.iter().find(|a| a.name == name).map(|a| &a.value)
    }

    fn int(&self, name: &str, default: i64) -> Result<i64, Why> {
        match self.get(name) {
            None => Ok(default),
            Some(AttrValue::Int(v)) => Ok(*v),
            Some(v) => format(format!("attribute {name} is {v:?}, not an int")),
        }
    }

    fn float(&self, name: &str, default: f32) -> Result<f32, Why> {
        match self.get(name) {
            None => Ok(default),
            Some(AttrValue::Float(v)) => Ok(*v),
            Some(v) => format(format!("attribute {name} is {v:?}, not a float")),
        }
    }

    fn ints(&self, name: &str) -> Result<Option<Vec<i64>>, Why> {
        match self.get(name) {
            None => Ok(None),
            Some(AttrValue::Ints(v)) => Ok(Some(v.clone())),
            Some(v) => format(format!("attribute {name} is {v:?}, not ints")),
        }
    }

    fn string(&self, name: &str) -> Result<Option<String>, Why> {
        match self.get(name) {
            None => Ok(None),
            Some(AttrValue::String(v)) => Ok(Some(String::from_utf8_lossy(v).into_owned())),
            Some(v) => format(format!("attribute {name} is {v:?}, not a string")),
        }
    }
}

fn to_usizes(v: &[i64], what: &str) -> Result<Vec<usize>, Why> {
    v.iter().map(|&d| usize::try_from(d).or_else(|_| format(format!("{what} {v:?}")))).collect()
}

impl<'a> Importer<'a> {
    fn lookup(&self, name: &str) -> Result<Known<'a>, Why> {
        self.known.get(name).cloned().ok_or_else(|| Why::Format(format!("reads '{name}', which no initializer, input or earlier node produces")))
    }

    fn resolve(&self, k: Known<'a>) -> Result<Known<'a>, Why> {
        Ok(match k {
            Known::Init(t) => Known::Const(decode_tensor(t).map_err(Why::Format)?),
            k => k,
        })
    }

    /// Input `i` of `n`: None where absent (optional inputs are named "").
    fn input(&self, n: &NodeProto<'_>, i: usize) -> Result<Option<Known<'a>>, Why> {
        match n.inputs.get(i).map(String::as_str) {
            None | Some("") => Ok(None),
            Some(name) => Ok(Some(self.resolve(self.lookup(name)?)?)),
        }
    }

    fn need(&self, n: &NodeProto<'_>, i: usize) -> Result<Known<'a>, Why> {
        self.input(n, i)?.ok_or_else(|| Why::Format(format!("input {i} missing")))
    }

    /// A constant input, counted as a parameter when `param` (a weight the run-time op reads).
    fn constant(&mut self, n: &NodeProto<'_>, i: usize, param: bool) -> Result<Option<Const>, Why> {
        match self.input(n, i)? {
            None => Ok(None),
            Some(Known::Const(c)) => {
                if param && matches!(*c.data, Data::F32(_)) && self.counted.insert(n.inputs[i].clone()) {
                    self.parameter_count += c.len();
                }
                Ok(Some(c))
            }
            Some(_) => unsupported(format!("{} with a run-time value as input {i}", n.op_type)),
        }
    }

    fn need_const(&mut self, n: &NodeProto<'_>, i: usize, param: bool) -> Result<Const, Why> {
        self.constant(n, i, param)?.ok_or_else(|| Why::Format(format!("input {i} missing")))
    }

    fn shape_of(&self, k: &Known<'_>) -> Vec<usize> {
        match k {
            Known::Const(c) => c.shape.clone(),
            Known::Run(id) => self.values[*id].shape.clone(),
            Known::Init(t) => t.dims.iter().map(|&d| d.max(0) as usize).collect(),
        }
    }

    fn set_const(&mut self, name: &str, c: Const) {
        self.folded.insert(name.to_string(), "a constant, computed at load".into());
        self.known.insert(name.to_string(), Known::Const(c));
    }

    /// Adds a run-time node writing output 0 of `n`.
    fn emit(&mut self, n: &NodeProto<'_>, display: &str, op: Op, inputs: Vec<ValueId>, shape: Vec<usize>) -> ValueId {
        let name = n.outputs[0].clone();
        let id = self.values.len();
        self.values.push(Value { name: name.clone(), shape });
        self.nodes.push(Node { name: display.to_string(), onnx_op: n.op_type.clone(), op, inputs, output: id });
        self.known.insert(name.clone(), Known::Run(id));
        self.names.insert(name, id);
        id
    }

    fn alias(&mut self, name: &str, k: Known<'a>) {
        if let Known::Run(id) = k {
            self.names.insert(name.to_string(), id);
        } else {
            self.folded.insert(name.to_string(), "a constant, computed at load".into());
        }
        self.known.insert(name.to_string(), k);
    }

    fn run_input(&self, k: &Known<'_>, what: &str) -> Result<ValueId, Why> {
        match k {
            Known::Run(id) => Ok(*id),
            _ => unsupported(format!("{what} of constants")),
        }
    }

    fn node(&mut self, n: &NodeProto<'a>, display: &str) -> Result<(), Why> {
        if !(n.domain.is_empty() || n.domain == "ai.onnx") {
            return unsupported(format!("{} (domain {})", n.op_type, n.domain));
        }
        if n.outputs.is_empty() || n.outputs[0].is_empty() {
            return format("a node without an output");
        }
        let out = n.outputs[0].clone();
        let at = Attrs(n);
        // A second output (Dropout's mask, BatchNormalization's training statistics) that
        // something reads is not supported.
        if let Some(extra) = n.outputs.iter().skip(1).find(|o| !o.is_empty() && self.readers.get(*o).copied().unwrap_or(0) > 0) {
            return unsupported(format!("{} (its output '{extra}' is read)", n.op_type));
        }
        match n.op_type.as_str() {
            "Constant" => {
                let c = match (&n.attributes.first().map(|a| (a.name.as_str(), &a.value)), n.attributes.len()) {
                    (Some(("value", AttrValue::Tensor(t))), 1) => decode_tensor(t).map_err(Why::Format)?,
                    (Some(("value_float", AttrValue::Float(v))), 1) => Const::f32(vec![], vec![*v]),
                    (Some(("value_floats", AttrValue::Floats(v))), 1) => Const::f32(vec![v.len()], v.clone()),
                    (Some(("value_int", AttrValue::Int(v))), 1) => Const::i64(vec![], vec![*v]),
                    (Some(("value_ints", AttrValue::Ints(v))), 1) => Const::i64(vec![v.len()], v.clone()),
                    (a, _) => return unsupported(format!("Constant ({})", a.map_or("no value", |a| a.0))),
                };
                self.set_const(&out, c);
            }
            "Identity" | "Dropout" => {
                if n.op_type == "Dropout"
                    && let Some(Known::Const(c)) = self.input(n, 2)?
                    && c.ints().is_ok_and(|v| v.iter().any(|&t| t != 0))
                {
                    return unsupported("Dropout (training_mode)");
                }
                let x = self.lookup(&n.inputs[0])?;
                self.alias(&out, x);
            }
            "DequantizeLinear" => {
                let x = self.need_const(n, 0, false)?;
                let scale = self.need_const(n, 1, false)?;
                let zero = self.constant(n, 2, false)?;
                let (axis, block) = (at.int("axis", 1)?, at.int("block_size", 0)?);
                let block = usize::try_from(block).or_else(|_| format(format!("block_size {block}")))?;
                let zero = match &zero {
                    Some(z) => Some(z.ints()?),
                    None => None,
                };
                let y = dequantize(x.ints()?, &x.shape, scale.floats()?, &scale.shape, zero, axis, block).map_err(Why::Format)?;
                self.set_const(&out, Const::f32(x.shape.clone(), y));
            }
            "Shape" => {
                let s = self.shape_of(&self.lookup(&n.inputs[0])?);
                let r = s.len() as i64;
                let clamp = |v: i64| (if v < 0 { v + r } else { v }).clamp(0, r) as usize;
                let (start, end) = (clamp(at.int("start", 0)?), clamp(at.int("end", r)?));
                let v: Vec<i64> = s[start..end.max(start)].iter().map(|&d| d as i64).collect();
                self.set_const(&out, Const::i64(vec![v.len()], v));
            }
            "Gather" => {
                let data = self.need_const(n, 0, false)?;
                let idx = self.need_const(n, 1, false)?;
                let axis = norm_axis(at.int("axis", 0)?, data.shape.len())?;
                let c = gather(&data, &idx, axis)?;
                self.set_const(&out, c);
            }
            "Unsqueeze" | "Squeeze" => {
                let x = self.need(n, 0)?;
                let axes = match self.constant(n, 1, false)? {
                    Some(a) => Some(a.ints()?.to_vec()),
                    None => at.ints("axes")?,
                };
                let from = self.shape_of(&x);
                let shape = if n.op_type == "Unsqueeze" {
                    let axes = axes.ok_or_else(|| Why::Format("Unsqueeze without axes".into()))?;
                    let rank = from.len() + axes.len();
                    let mut axes: Vec<usize> = axes.iter().map(|&a| norm_axis(a, rank)).collect::<Result<_, _>>()?;
                    axes.sort_unstable();
                    let mut rest = from.iter();
                    (0..rank).map(|i| if axes.binary_search(&i).is_ok() { 1 } else { rest.next().copied().unwrap_or(1) }).collect()
                } else {
                    let axes: Vec<usize> = match axes {
                        Some(a) => a.iter().map(|&a| norm_axis(a, from.len())).collect::<Result<_, _>>()?,
                        None => (0..from.len()).filter(|&i| from[i] == 1).collect(),
                    };
                    if axes.iter().any(|&a| from[a] != 1) {
                        return format(format!("Squeeze {axes:?} of {from:?}"));
                    }
                    from.iter().enumerate().filter(|(i, _)| !axes.contains(i)).map(|(_, &d)| d).collect()
                };
                self.reshape_to(n, display, x, shape)?;
            }
            "Concat" => {
                let mut parts = Vec::new();
                for i in 0..n.inputs.len() {
                    parts.push(self.need_const(n, i, false)?);
                }
                let rank = parts.first().map_or(0, |p| p.shape.len());
                let axis = norm_axis(at.int("axis", 0)?, rank)?;
                let c = concat(&parts, axis)?;
                self.set_const(&out, c);
            }
            "Reshape" => {
                let x = self.need(n, 0)?;
                let spec = self.need_const(n, 1, false)?;
                let shape = reshape_target(&self.shape_of(&x), spec.ints()?, at.int("allowzero", 0)? != 0).map_err(Why::Format)?;
                self.reshape_to(n, display, x, shape)?;
            }
            "Flatten" => {
                let x = self.need(n, 0)?;
                let s = self.shape_of(&x);
                let axis = at.int("axis", 1)?;
                let a = if axis < 0 { axis + s.len() as i64 } else { axis };
                if !(0..=s.len() as i64).contains(&a) {
                    return format(format!("Flatten axis {axis} of {s:?}"));
                }
                let shape = vec![s[..a as usize].iter().product(), s[a as usize..].iter().product()];
                self.reshape_to(n, display, x, shape)?;
            }
            "Conv" => self.conv(n, display, &at)?,
            "BatchNormalization" => self.batch_norm(n, display, &at)?,
            "PRelu" => {
                let x = self.need(n, 0)?;
                let x = self.run_input(&x, "PRelu")?;
                let shape = self.values[x].shape.clone();
                let slope = self.need_const(n, 1, true)?;
                let Some((axis, slope)) = along_axis(&slope, &shape) else {
                    return unsupported(format!("PRelu (slope of shape {:?} on {shape:?})", slope.shape));
                };
                self.emit(n, display, Op::PRelu { axis, slope }, vec![x], shape);
            }
            "Relu" | "Sigmoid" => {
                let x = self.need(n, 0)?;
                let x = self.run_input(&x, &n.op_type)?;
                let shape = self.values[x].shape.clone();
                let op = if n.op_type == "Relu" { Op::Relu } else { Op::Sigmoid };
                self.emit(n, display, op, vec![x], shape);
            }
            "Add" | "Sub" | "Mul" => self.binary(n, display)?,
            "GlobalAveragePool" => {
                let x = self.need(n, 0)?;
                let x = self.run_input(&x, "GlobalAveragePool")?;
                let shape = self.values[x].shape.clone();
                if shape.len() != 4 {
                    return unsupported(format!("GlobalAveragePool of a rank-{} tensor", shape.len()));
                }
                self.emit(n, display, Op::GlobalAveragePool, vec![x], vec![shape[0], shape[1], 1, 1]);
            }
            "Gemm" | "MatMul" => self.gemm(n, display, &at)?,
            op => return unsupported(op),
        }
        Ok(())
    }

    /// Reshape, Flatten, (Un)Squeeze: a new shape for a constant, a Reshape node otherwise.
    fn reshape_to(&mut self, n: &NodeProto<'_>, display: &str, x: Known<'_>, shape: Vec<usize>) -> Result<(), Why> {
        let out = n.outputs[0].clone();
        match x {
            Known::Const(c) => {
                if c.len() != shape.iter().product::<usize>() {
                    return format(format!("{} of {:?} to {shape:?}", n.op_type, c.shape));
                }
                self.set_const(&out, c.with_shape(shape));
            }
            Known::Run(id) => {
                self.emit(n, display, Op::Reshape, vec![id], shape);
            }
            Known::Init(_) => unreachable!("resolved"),
        }
        Ok(())
    }

    fn conv(&mut self, n: &NodeProto<'_>, display: &str, at: &Attrs<'_, '_>) -> Result<(), Why> {
        let x = self.need(n, 0)?;
        let x = self.run_input(&x, "Conv")?;
        let xs = self.values[x].shape.clone();
        if let Some(p) = at.string("auto_pad")?
            && p != "NOTSET"
        {
            return unsupported(format!("Conv (auto_pad {p}; only NOTSET with explicit pads)"));
        }
        let w = self.need_const(n, 1, true)?;
        if xs.len() != 4 || w.shape.len() != 4 {
            return unsupported(format!("Conv of rank {} (2-D convolutions only)", xs.len()));
        }
        let [cout, cin_g, kh, kw] = [w.shape[0], w.shape[1], w.shape[2], w.shape[3]];
        if let Some(k) = at.ints("kernel_shape")?
            && k != [kh as i64, kw as i64]
        {
            return format(format!("kernel_shape {k:?} for weights of shape {:?}", w.shape));
        }
        if at.ints("dilations")?.is_some_and(|d| d.iter().any(|&v| v != 1)) {
            return unsupported("Conv (dilations other than 1)");
        }
        let stride = to_usizes(&at.ints("strides")?.unwrap_or(vec![1, 1]), "strides")?;
        let pads = to_usizes(&at.ints("pads")?.unwrap_or(vec![0; 4]), "pads")?;
        if stride.len() != 2 || pads.len() != 4 || stride.contains(&0) {
            return format(format!("strides {stride:?} and pads {pads:?} of a 2-D convolution"));
        }
        let group = at.int("group", 1)?;
        let c = xs[1];
        let depthwise = group > 1 && group as usize == c && cout == c && cin_g == 1;
        if group != 1 && !depthwise {
            return unsupported(format!("Conv (group {group} of {c} channels into {cout}: grouped convolution)"));
        }
        if c != cin_g * group as usize {
            return format(format!("a convolution with weights {:?} and group {group} on an input of shape {xs:?}", w.shape));
        }
        let bias = match self.constant(n, 2, true)? {
            Some(b) if b.len() == cout => b.floats()?.to_vec(),
            Some(b) => return format(format!("bias of shape {:?} for {cout} channels", b.shape)),
            None => vec![0.0; cout],
        };
        let out = |len: usize, before: usize, after: usize, k: usize, s: usize| (len + before + after).checked_sub(k).map(|v| v / s + 1);
        let (Some(oh), Some(ow)) = (out(xs[2], pads[0], pads[2], kh, stride[0]), out(xs[3], pads[1], pads[3], kw, stride[1])) else {
            return format(format!("a {kh}x{kw} kernel does not fit the {}x{} input padded by {pads:?}", xs[2], xs[3]));
        };
        let op = Op::Conv {
            weight: w.floats()?.to_vec(),
            bias,
            kernel: [kh, kw],
            stride: [stride[0], stride[1]],
            pads: [pads[0], pads[1], pads[2], pads[3]],
            group: group as usize,
        };
        self.emit(n, display, op, vec![x], vec![xs[0], cout, oh, ow]);
        Ok(())
    }

    /// Folded into the convolution that writes its input when nothing else reads that
    /// convolution's output; a per-channel affine otherwise.
    fn batch_norm(&mut self, n: &NodeProto<'_>, display: &str, at: &Attrs<'_, '_>) -> Result<(), Why> {
        if at.int("training_mode", 0)? != 0 {
            return unsupported("BatchNormalization (training_mode)");
        }
        let x = self.need(n, 0)?;
        let x = self.run_input(&x, "BatchNormalization")?;
        let shape = self.values[x].shape.clone();
        let c = *shape.get(1).ok_or_else(|| Why::Format(format!("BatchNormalization of shape {shape:?}")))?;
        let mut p = Vec::new();
        for i in 1..5 {
            let t = self.need_const(n, i, true)?;
            if t.len() != c {
                return format(format!("BatchNormalization input {i} of shape {:?} for {c} channels", t.shape));
            }
            p.push(t.floats()?.to_vec());
        }
        let eps = at.float("epsilon", 1e-5)?;
        // As onnxruntime computes it: y = x * s + (beta - mean * s), s = gamma / sqrt(var + eps).
        let scale: Vec<f32> = (0..c).map(|i| (1.0 / (p[3][i] + eps).sqrt()) * p[0][i]).collect();
        let shift: Vec<f32> = (0..c).map(|i| p[1][i] - p[2][i] * scale[i]).collect();
        let input_name = &self.values[x].name;
        let sole_reader = self.readers.get(input_name).copied() == Some(1) && !self.graph_outputs.contains(input_name);
        if let Some(last) = self.nodes.last_mut()
            && last.output == x
            && sole_reader
            && let Op::Conv { weight, bias, .. } = &mut last.op
        {
            let per = weight.len() / c;
            for (o, w) in weight.chunks_exact_mut(per).enumerate() {
                w.iter_mut().for_each(|v| *v *= scale[o]);
            }
            bias.iter_mut().zip(scale.iter().zip(&shift)).for_each(|(b, (s, t))| *b = *b * s + t);
            let (old, out) = (std::mem::take(&mut self.values[x].name), n.outputs[0].clone());
            self.names.remove(&old);
            self.folded.insert(old.clone(), format!("folded with BatchNormalization '{display}' into one convolution at load"));
            self.values[x].name = out.clone();
            self.names.insert(out.clone(), x);
            self.known.insert(out, Known::Run(x));
            return Ok(());
        }
        self.emit(n, display, Op::Affine { axis: 1, scale, shift }, vec![x], shape);
        Ok(())
    }

    fn binary(&mut self, n: &NodeProto<'_>, display: &str) -> Result<(), Why> {
        let (a, b) = (self.need(n, 0)?, self.need(n, 1)?);
        let op = n.op_type.as_str();
        match (a, b) {
            (Known::Run(a), Known::Run(b)) => {
                let (sa, sb) = (self.values[a].shape.clone(), self.values[b].shape.clone());
                let gate = |m: &[usize], g: &[usize]| m.len() == 4 && g == [m[0], m[1], 1, 1];
                let shape = if sa == sb || (op == "Mul" && gate(&sa, &sb)) {
                    sa
                } else if op == "Mul" && gate(&sb, &sa) {
                    sb
                } else {
                    return unsupported(format!("{op} of shapes {sa:?} and {sb:?} (broadcast)"));
                };
                let ir = match op {
                    "Add" => Op::Add,
                    "Mul" => Op::Mul,
                    _ => return unsupported(format!("{op} of two run-time values")),
                };
                self.emit(n, display, ir, vec![a, b], shape);
            }
            (Known::Run(x), Known::Const(_)) | (Known::Const(_), Known::Run(x)) => {
                let k = if matches!(self.need(n, 0)?, Known::Run(_)) { 1 } else { 0 };
                let c = self.need_const(n, k, true)?;
                let shape = self.values[x].shape.clone();
                let Some((axis, v)) = along_axis(&c, &shape) else {
                    return unsupported(format!("{op} by a constant of shape {:?} on {shape:?}", c.shape));
                };
                let ones = vec![1.0; v.len()];
                let zeros = vec![0.0; v.len()];
                // x - c as x + (-c), and c - x as -x + c: the same roundings as the subtraction.
                let (scale, shift) = match (op, k) {
                    ("Add", _) => (ones, v),
                    ("Mul", _) => (v, zeros),
                    ("Sub", 1) => (ones, v.iter().map(|t| -t).collect()),
                    _ => (ones.iter().map(|t| -t).collect(), v),
                };
                self.emit(n, display, Op::Affine { axis, scale, shift }, vec![x], shape);
            }
            _ => return unsupported(format!("{op} of constants")),
        }
        Ok(())
    }

    fn gemm(&mut self, n: &NodeProto<'_>, display: &str, at: &Attrs<'_, '_>) -> Result<(), Why> {
        let x = self.need(n, 0)?;
        let x = self.run_input(&x, &n.op_type)?;
        let xs = self.values[x].shape.clone();
        let w = self.need_const(n, 1, true)?;
        let is_gemm = n.op_type == "Gemm";
        if xs.len() != 2 || w.shape.len() != 2 {
            return unsupported(format!("{} of shapes {xs:?} and {:?} (2-D only)", n.op_type, w.shape));
        }
        if is_gemm && at.int("transA", 0)? != 0 {
            return unsupported("Gemm (transA)");
        }
        let trans_b = is_gemm && at.int("transB", 0)? != 0;
        let (k, nn) = if trans_b { (w.shape[1], w.shape[0]) } else { (w.shape[0], w.shape[1]) };
        if xs[1] != k {
            return format(format!("{} of {xs:?} by weights {:?}{}", n.op_type, w.shape, if trans_b { " (transposed)" } else { "" }));
        }
        let alpha = if is_gemm { at.float("alpha", 1.0)? } else { 1.0 };
        let beta = if is_gemm { at.float("beta", 1.0)? } else { 1.0 };
        let wv = w.floats()?;
        let mut weight = if trans_b { (0..k * nn).map(|i| wv[(i % nn) * k + i / nn]).collect() } else { wv.to_vec() };
        if alpha != 1.0 {
            weight.iter_mut().for_each(|v| *v *= alpha);
        }
        let bias = match if is_gemm { self.constant(n, 2, true)? } else { None } {
            None => vec![0.0; nn],
            Some(c) => {
                let v = c.floats()?;
                let ok = c.shape.iter().rev().skip(1).all(|&d| d == 1) && (v.len() == nn || v.len() == 1);
                if !ok {
                    return unsupported(format!("Gemm (bias of shape {:?} for output {:?})", c.shape, [xs[0], nn]));
                }
                (0..nn).map(|i| v[i % v.len()] * beta).collect()
            }
        };
        self.emit(n, display, Op::Gemm { weight, bias, k, n: nn }, vec![x], vec![xs[0], nn]);
        Ok(())
    }
}

fn gather(data: &Const, idx: &Const, axis: usize) -> Result<Const, Why> {
    let dim = data.shape[axis];
    let (outer, inner) = (data.shape[..axis].iter().product::<usize>(), data.shape[axis + 1..].iter().product::<usize>());
    let picks: Vec<usize> = idx
        .ints()?
        .iter()
        .map(|&i| {
            let j = if i < 0 { i + dim as i64 } else { i };
            if (0..dim as i64).contains(&j) { Ok(j as usize) } else { format(format!("Gather index {i} of a dimension of {dim}")) }
        })
        .collect::<Result<_, _>>()?;
    let mut shape = data.shape[..axis].to_vec();
    shape.extend(&idx.shape);
    shape.extend(&data.shape[axis + 1..]);
    fn pick<T: Copy>(v: &[T], outer: usize, dim: usize, inner: usize, picks: &[usize]) -> Vec<T> {
        let mut out = Vec::with_capacity(outer * picks.len() * inner);
        for o in 0..outer {
            for &p in picks {
                out.extend_from_slice(&v[(o * dim + p) * inner..][..inner]);
            }
        }
        out
    }
    Ok(match &*data.data {
        Data::F32(v) => Const::f32(shape, pick(v, outer, dim, inner, &picks)),
        Data::I64(v) => Const::i64(shape, pick(v, outer, dim, inner, &picks)),
    })
}

fn concat(parts: &[Const], axis: usize) -> Result<Const, Why> {
    let first = parts.first().ok_or_else(|| Why::Format("Concat of nothing".into()))?;
    let mut shape = first.shape.clone();
    shape[axis] = 0;
    for p in parts {
        let same = p.shape.len() == first.shape.len() && p.shape.iter().zip(&first.shape).enumerate().all(|(i, (a, b))| i == axis || a == b);
        if !same || std::mem::discriminant(&*p.data) != std::mem::discriminant(&*first.data) {
            return format(format!("Concat of {:?} and {:?} along {axis}", first.shape, p.shape));
        }
        shape[axis] += p.shape[axis];
    }
    let outer: usize = shape[..axis].iter().product();
    fn join<T: Copy>(parts: &[(&[T], usize)], outer: usize) -> Vec<T> {
        let mut out = Vec::new();
        for o in 0..outer {
            for (v, inner) in parts {
                out.extend_from_slice(&v[o * inner..][..*inner]);
            }
        }
        out
    }
    let inner = |p: &Const| p.shape[axis..].iter().product::<usize>();
    Ok(match &*first.data {
        Data::F32(_) => {
            let ps: Vec<(&[f32], usize)> = parts.iter().map(|p| (p.floats().expect("checked"), inner(p))).collect();
            Const::f32(shape, join(&ps, outer))
        }
        Data::I64(_) => {
            let ps: Vec<(&[i64], usize)> = parts.iter().map(|p| (p.ints().expect("checked"), inner(p))).collect();
            Const::i64(shape, join(&ps, outer))
        }
    })
}

/// Parses and folds a model file's bytes; `source` names it in errors.
pub fn import(bytes: &[u8], source: &str) -> Result<Graph, OnnxError> {
    let fmt = |reason: String| OnnxError::Format { path: source.to_string(), reason };
    let model = proto::model(bytes).map_err(fmt)?;
    let graph = model.graph.as_ref().ok_or_else(|| fmt("no graph (empty or not an ONNX model file)".into()))?;
    if graph.sparse_initializers > 0 {
        return Err(fmt("sparse initializers are not read".into()));
    }
    let mut imp = Importer {
        known: HashMap::new(),
        readers: HashMap::new(),
        graph_outputs: graph.outputs.iter().map(|o| o.name.clone()).collect(),
        values: Vec::new(),
        nodes: Vec::new(),
        names: HashMap::new(),
        folded: HashMap::new(),
        counted: HashSet::new(),
        parameter_count: 0,
    };
    for t in &graph.initializers {
        imp.known.insert(t.name.clone(), Known::Init(t));
        imp.folded.insert(t.name.clone(), "an initializer (constant)".into());
    }
    for n in &graph.nodes {
        for i in n.inputs.iter().filter(|i| !i.is_empty()) {
            *imp.readers.entry(i.clone()).or_default() += 1;
        }
    }
    for o in &graph.outputs {
        *imp.readers.entry(o.name.clone()).or_default() += 1;
    }
    // Graph inputs with an initializer are constants (older exporters list weights as
    // inputs); inputs nothing reads (SFace declares its pre-quantisation weights) are ignored.
    let data: Vec<_> = graph.inputs.iter().filter(|i| !imp.known.contains_key(&i.name) && imp.readers.contains_key(&i.name)).collect();
    let [input] = data[..] else {
        let names: Vec<&str> = data.iter().map(|i| i.name.as_str()).collect();
        return Err(fmt(format!("{} data inputs {names:?}; one image input is supported", names.len())));
    };
    let dims = input.shape.clone().unwrap_or_default();
    let chw: Option<Vec<usize>> = dims.iter().skip(1).map(|d| d.and_then(|v| usize::try_from(v).ok()).filter(|&v| v > 0)).collect();
    let batch_ok = dims.first().is_some_and(|d| d.is_none_or(|v| v == 1));
    let (Some(chw), true, 4, 1) = (chw, batch_ok, dims.len(), input.elem_type) else {
        let unsupported = OnnxError::Unsupported {
            path: source.into(),
            node: input.name.clone(),
            op: format!("graph input of type {} and shape {dims:?} (one float image [1 or N, C, H, W] with static C, H, W)", input.elem_type),
        };
        return Err(unsupported);
    };
    imp.values.push(Value { name: input.name.clone(), shape: vec![1, chw[0], chw[1], chw[2]] });
    imp.known.insert(input.name.clone(), Known::Run(0));
    imp.names.insert(input.name.clone(), 0);
    for (i, n) in graph.nodes.iter().enumerate() {
        let display = if n.name.is_empty() { format!("#{i}") } else { n.name.clone() };
        imp.node(n, &display).map_err(|why| match why {
            Why::Unsupported(op) => OnnxError::Unsupported { path: source.into(), node: display.clone(), op },
            Why::Format(reason) => fmt(format!("node '{display}' ({}): {reason}", n.op_type)),
        })?;
    }
    for o in &graph.outputs {
        if !imp.known.contains_key(&o.name) {
            return Err(fmt(format!("graph output '{}' is produced by no node", o.name)));
        }
    }
    Ok(Graph {
        source: source.to_string(),
        values: imp.values,
        input: 0,
        nodes: imp.nodes,
        outputs: graph.outputs.iter().map(|o| o.name.clone()).collect(),
        names: imp.names,
        folded: imp.folded,
        parameter_count: imp.parameter_count,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_wise_dequantisation_picks_the_block_scale() {
        // x [2, 5], blocks of 2 along axis 1: scale [2, 3] (ceil(5 / 2) = 3 blocks per row).
        let x = [1, 2, 3, 4, 5, -1, -2, -3, -4, -5];
        let scale = [1.0, 10.0, 100.0, 0.5, 0.25, 2.0];
        let zero = [0, 1, 2, 0, -1, 1];
        let y = dequantize(&x, &[2, 5], &scale, &[2, 3], Some(&zero), 1, 2).unwrap();
        assert_eq!(y, vec![1.0, 2.0, 20.0, 30.0, 300.0, -0.5, -1.0, -0.5, -0.75, -12.0]);
        // The same blocks along axis 0 of the transpose [5, 2]: scale [3, 2].
        let xt = [1, -1, 2, -2, 3, -3, 4, -4, 5, -5];
        let st = [1.0, 0.5, 10.0, 0.25, 100.0, 2.0];
        let zt = [0, 0, 1, -1, 2, 1];
        let yt = dequantize(&xt, &[5, 2], &st, &[3, 2], Some(&zt), 0, 2).unwrap();
        assert_eq!(yt, vec![1.0, -0.5, 2.0, -1.0, 20.0, -0.5, 30.0, -0.75, 300.0, -12.0]);
        assert!(dequantize(&x, &[2, 5], &scale, &[2, 2], None, 1, 2).is_err(), "wrong block count");
        assert!(dequantize(&x, &[2, 5], &scale, &[2, 3], Some(&zero[..2]), 1, 2).is_err(), "zero points of another shape");
    }

    #[test]
    fn per_tensor_and_per_axis_dequantisation() {
        assert_eq!(dequantize(&[0, 4, -4], &[3], &[0.5], &[], Some(&[2]), 1, 0).unwrap(), vec![-1.0, 1.0, -3.0]);
        // [2, 2, 2] per axis 1: channel = (i / 2) % 2.
        let y = dequantize(&[1, 1, 1, 1, 1, 1, 1, 1], &[2, 2, 2], &[1.0, 3.0], &[2], None, -2, 0).unwrap();
        assert_eq!(y, vec![1.0, 1.0, 3.0, 3.0, 1.0, 1.0, 3.0, 3.0]);
    }

    #[test]
    fn reshape_targets() {
        assert_eq!(reshape_target(&[1, 512, 1, 1], &[1, -1], false).unwrap(), vec![1, 512]);
        assert_eq!(reshape_target(&[2, 3, 4], &[0, -1], false).unwrap(), vec![2, 12]);
        assert_eq!(reshape_target(&[0, 3], &[0, 3], true).unwrap(), vec![0, 3]);
        assert!(reshape_target(&[2, 3], &[4, -1], false).is_err());
        assert!(reshape_target(&[2, 3], &[-1, -1], false).is_err());
    }

    #[test]
    fn gather_and_concat_of_shapes() {
        let s = Const::i64(vec![4], vec![1, 512, 1, 1]);
        let g = gather(&s, &Const::i64(vec![], vec![0]), 0).unwrap();
        assert_eq!((g.shape.clone(), g.ints().unwrap().to_vec()), (vec![], vec![1]));
        let m = Const::f32(vec![2, 3], vec![0.0, 1.0, 2.0, 3.0, 4.0, 5.0]);
        let g = gather(&m, &Const::i64(vec![2], vec![-1, 0]), 1).unwrap();
        assert_eq!((g.shape.clone(), g.floats().unwrap().to_vec()), (vec![2, 2], vec![2.0, 0.0, 5.0, 3.0]));
        let c = concat(&[Const::i64(vec![1], vec![1]), Const::i64(vec![1], vec![-1])], 0).unwrap();
        assert_eq!(c.ints().unwrap(), &[1, -1]);
        let c = concat(&[m.clone(), Const::f32(vec![2, 1], vec![9.0, 8.0])], 1).unwrap();
        assert_eq!((c.shape.clone(), c.floats().unwrap().to_vec()), (vec![2, 4], vec![0.0, 1.0, 2.0, 9.0, 3.0, 4.0, 5.0, 8.0]));
        assert!(concat(&[m, Const::i64(vec![2, 1], vec![1, 2])], 1).is_err(), "mixed types");
    }

    #[test]
    fn constants_broadcast_along_one_axis() {
        let x = [1, 8, 4, 4];
        let per = Const::f32(vec![8, 1, 1], (0..8).map(|v| v as f32).collect());
        assert_eq!(along_axis(&per, &x).map(|(a, v)| (a, v.len())), Some((1, 8)));
        assert_eq!(along_axis(&Const::f32(vec![1], vec![2.0]), &x), Some((1, vec![2.0])));
        assert_eq!(along_axis(&Const::f32(vec![4], vec![0.0; 4]), &x).map(|(a, _)| a), Some(3), "right-aligned: the last axis");
        assert!(along_axis(&Const::f32(vec![8, 4, 1], vec![0.0; 32]), &x).is_none());
    }
}
