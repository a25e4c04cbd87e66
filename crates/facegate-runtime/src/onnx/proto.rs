//! A protobuf reader for the parts of `onnx.proto` a model file needs, written by hand: the
//! wire format is five encodings, and a generated reader (prost + build script, or the
//! protobuf crate) would be the largest dependency of the crate for that.
//!
//! Fields are read by number; unknown fields are skipped, as protobuf requires, so newer
//! writers' additions do not break loading. Byte fields borrow from the file's buffer.

/// One field's payload as it sits on the wire.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Wire<'a> {
    Varint(u64),
    Fixed64(u64),
    Bytes(&'a [u8]),
    Fixed32(u32),
}

/// The fields of one message, in file order.
pub(crate) struct Fields<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Fields<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Self { buf, pos: 0 }
    }

    fn varint(&mut self) -> Result<u64, String> {
        let mut v = 0u64;
        for shift in (0..70).step_by(7) {
            let Some(&b) = self.buf.get(self.pos) else {
                return Err(format!("truncated varint at byte {} of {}", self.pos, self.buf.len()));
            };
            self.pos += 1;
            if shift == 63 && b > 1 {
                return Err(format!("varint overflows 64 bits at byte {}", self.pos - 1));
            }
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(format!("varint longer than 10 bytes at byte {}", self.pos))
    }

    fn take(&mut self, n: usize, field: u32) -> Result<&'a [u8], String> {
        let left = self.buf.len() - self.pos;
        if n > left {
            return Err(format!("field {field} needs {n} bytes at byte {}, only {left} left (truncated?)", self.pos));
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    fn field(&mut self) -> Result<(u32, Wire<'a>), String> {
        let at = self.pos;
        let key = self.varint()?;
        let (field, wire) = ((key >> 3) as u32, key & 7);
        if field == 0 || key >> 3 > u64::from(u32::MAX >> 3) {
            return Err(format!("invalid field number {} at byte {at}", key >> 3));
        }
        let value = match wire {
            0 => Wire::Varint(self.varint()?),
            1 => Wire::Fixed64(u64::from_le_bytes(self.take(8, field)?.try_into().expect("8 bytes"))),
            2 => {
                let n = self.varint()?;
                Wire::Bytes(self.take(usize::try_from(n).unwrap_or(usize::MAX), field)?)
            }
            5 => Wire::Fixed32(u32::from_le_bytes(self.take(4, field)?.try_into().expect("4 bytes"))),
            w => return Err(format!("wire type {w} (field {field}) at byte {at} is not one ONNX writes")),
        };
        Ok((field, value))
    }
}

impl<'a> Iterator for Fields<'a> {
    type Item = Result<(u32, Wire<'a>), String>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.pos >= self.buf.len() {
            return None;
        }
        let r = self.field();
        if r.is_err() {
            // One error ends the message: what follows a bad field cannot be framed.
            self.pos = self.buf.len();
        }
        Some(r)
    }
}

fn bytes<'a>(w: Wire<'a>, what: &str) -> Result<&'a [u8], String> {
    match w {
        Wire::Bytes(b) => Ok(b),
        w => Err(format!("{what}: expected a length-delimited field, got {w:?}")),
    }
}

fn string(w: Wire<'_>, what: &str) -> Result<String, String> {
    String::from_utf8(bytes(w, what)?.to_vec()).map_err(|_| format!("{what}: not UTF-8"))
}

fn int(w: Wire<'_>, what: &str) -> Result<i64, String> {
    match w {
        Wire::Varint(v) => Ok(v as i64),
        w => Err(format!("{what}: expected a varint, got {w:?}")),
    }
}

/// A repeated varint field, packed (one length-delimited run) or not (one value per field).
fn push_ints(w: Wire<'_>, out: &mut Vec<i64>, what: &str) -> Result<(), String> {
    match w {
        Wire::Varint(v) => out.push(v as i64),
        Wire::Bytes(b) => {
            let mut f = Fields::new(b);
            while f.pos < b.len() {
                out.push(f.varint().map_err(|e| format!("{what}: {e}"))? as i64);
            }
        }
        w => return Err(format!("{what}: expected varints, got {w:?}")),
    }
    Ok(())
}

/// A repeated float field, packed or not.
fn push_floats(w: Wire<'_>, out: &mut Vec<f32>, what: &str) -> Result<(), String> {
    match w {
        Wire::Fixed32(v) => out.push(f32::from_bits(v)),
        Wire::Bytes(b) if b.len().is_multiple_of(4) => out.extend(b.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))),
        w => return Err(format!("{what}: expected packed float32, got {w:?}")),
    }
    Ok(())
}

fn push_doubles(w: Wire<'_>, out: &mut Vec<f64>, what: &str) -> Result<(), String> {
    match w {
        Wire::Fixed64(v) => out.push(f64::from_bits(v)),
        Wire::Bytes(b) if b.len().is_multiple_of(8) => out.extend(b.chunks_exact(8).map(|c| f64::from_le_bytes(c.try_into().expect("8 bytes")))),
        w => return Err(format!("{what}: expected packed float64, got {w:?}")),
    }
    Ok(())
}

#[derive(Debug, Default)]
pub(crate) struct ModelProto<'a> {
    pub ir_version: i64,
    /// (domain, version); "" is the default ONNX domain.
    pub opsets: Vec<(String, i64)>,
    pub graph: Option<GraphProto<'a>>,
}

#[derive(Debug, Default)]
pub(crate) struct GraphProto<'a> {
    pub nodes: Vec<NodeProto<'a>>,
    pub initializers: Vec<TensorProto<'a>>,
    pub sparse_initializers: usize,
    pub inputs: Vec<ValueInfo>,
    pub outputs: Vec<ValueInfo>,
}

#[derive(Debug, Default)]
pub(crate) struct NodeProto<'a> {
    pub inputs: Vec<String>,
    pub outputs: Vec<String>,
    pub name: String,
    pub op_type: String,
    pub domain: String,
    pub attributes: Vec<Attribute<'a>>,
}

#[derive(Debug)]
pub(crate) struct Attribute<'a> {
    pub name: String,
    pub value: AttrValue<'a>,
}

#[derive(Debug)]
pub(crate) enum AttrValue<'a> {
    Float(f32),
    Int(i64),
    String(Vec<u8>),
    Tensor(TensorProto<'a>),
    Floats(Vec<f32>),
    Ints(Vec<i64>),
    /// Graphs, sparse tensors, type protos and lists of strings or tensors: nothing this
    /// importer reads, kept by AttributeProto.type so an error can name it.
    Other(#[allow(dead_code)] i64),
}

/// ONNX TensorProto.DataType values this crate reads.
pub(crate) mod dtype {
    pub const FLOAT: i32 = 1;
    pub const UINT8: i32 = 2;
    pub const INT8: i32 = 3;
    pub const INT32: i32 = 6;
    pub const INT64: i32 = 7;
    pub const DOUBLE: i32 = 11;
}

#[derive(Debug, Default)]
pub(crate) struct TensorProto<'a> {
    pub name: String,
    pub dims: Vec<i64>,
    pub data_type: i32,
    pub raw_data: Option<&'a [u8]>,
    pub float_data: Vec<f32>,
    pub int32_data: Vec<i64>,
    pub int64_data: Vec<i64>,
    pub double_data: Vec<f64>,
    /// data_location EXTERNAL: the values live in another file.
    pub external: bool,
    pub segmented: bool,
}

/// A graph input or output: name and, where declared, element type and shape.
#[derive(Debug, Default, Clone)]
pub(crate) struct ValueInfo {
    pub name: String,
    pub elem_type: i32,
    /// None: no shape declared; per dimension, None for a symbolic or unknown size.
    pub shape: Option<Vec<Option<i64>>>,
}

pub(crate) fn model(buf: &[u8]) -> Result<ModelProto<'_>, String> {
    let mut m = ModelProto::default();
    for f in Fields::new(buf) {
        match f? {
            (1, w) => m.ir_version = int(w, "ModelProto.ir_version")?,
            (7, w) => m.graph = Some(graph(bytes(w, "ModelProto.graph")?).map_err(|e| format!("graph: {e}"))?),
            (8, w) => {
                let (mut domain, mut version) = (String::new(), 0);
                for f in Fields::new(bytes(w, "ModelProto.opset_import")?) {
                    match f? {
                        (1, w) => domain = string(w, "OperatorSetIdProto.domain")?,
                        (2, w) => version = int(w, "OperatorSetIdProto.version")?,
                        _ => {}
                    }
                }
                m.opsets.push((domain, version));
            }
            _ => {}
        }
    }
    Ok(m)
}

fn graph(buf: &[u8]) -> Result<GraphProto<'_>, String> {
    let mut g = GraphProto::default();
    for f in Fields::new(buf) {
        match f? {
            (1, w) => {
                let n = g.nodes.len();
                g.nodes.push(node(bytes(w, "GraphProto.node")?).map_err(|e| format!("node {n}: {e}"))?);
            }
            (5, w) => {
                let n = g.initializers.len();
                g.initializers.push(tensor(bytes(w, "GraphProto.initializer")?).map_err(|e| format!("initializer {n}: {e}"))?);
            }
            (11, w) => g.inputs.push(value_info(bytes(w, "GraphProto.input")?)?),
            (12, w) => g.outputs.push(value_info(bytes(w, "GraphProto.output")?)?),
            (15, _) => g.sparse_initializers += 1,
            _ => {}
        }
    }
    Ok(g)
}

fn node(buf: &[u8]) -> Result<NodeProto<'_>, String> {
    let mut n = NodeProto::default();
    for f in Fields::new(buf) {
        match f? {
            (1, w) => n.inputs.push(string(w, "NodeProto.input")?),
            (2, w) => n.outputs.push(string(w, "NodeProto.output")?),
            (3, w) => n.name = string(w, "NodeProto.name")?,
            (4, w) => n.op_type = string(w, "NodeProto.op_type")?,
            (5, w) => n.attributes.push(attribute(bytes(w, "NodeProto.attribute")?)?),
            (7, w) => n.domain = string(w, "NodeProto.domain")?,
            _ => {}
        }
    }
    Ok(n)
}

fn attribute(buf: &[u8]) -> Result<Attribute<'_>, String> {
    let (mut name, mut ty) = (String::new(), 0i64);
    let (mut f32v, mut i64v, mut s, mut t) = (None, None, None, None);
    let (mut floats, mut ints, mut other) = (Vec::new(), Vec::new(), 0);
    for f in Fields::new(buf) {
        match f? {
            (1, w) => name = string(w, "AttributeProto.name")?,
            (2, Wire::Fixed32(v)) => f32v = Some(f32::from_bits(v)),
            (3, w) => i64v = Some(int(w, "AttributeProto.i")?),
            (4, w) => s = Some(bytes(w, "AttributeProto.s")?.to_vec()),
            (5, w) => t = Some(tensor(bytes(w, "AttributeProto.t")?).map_err(|e| format!("attribute {name}: {e}"))?),
            (7, w) => push_floats(w, &mut floats, "AttributeProto.floats")?,
            (8, w) => push_ints(w, &mut ints, "AttributeProto.ints")?,
            (6 | 9..=12 | 15 | 16 | 22 | 23, _) => other += 1,
            (20, w) => ty = int(w, "AttributeProto.type")?,
            _ => {}
        }
    }
    // AttributeProto.type is required since IR 2; older files set only the one field used.
    let value = match ty {
        1 => AttrValue::Float(f32v.unwrap_or(0.0)),
        2 => AttrValue::Int(i64v.unwrap_or(0)),
        3 => AttrValue::String(s.unwrap_or_default()),
        4 => AttrValue::Tensor(t.ok_or_else(|| format!("attribute {name}: TENSOR without a tensor"))?),
        6 => AttrValue::Floats(floats),
        7 => AttrValue::Ints(ints),
        0 => match (f32v, i64v, s, t) {
            (Some(v), ..) => AttrValue::Float(v),
            (_, Some(v), ..) => AttrValue::Int(v),
            (_, _, Some(v), _) => AttrValue::String(v),
            (.., Some(v)) => AttrValue::Tensor(v),
            _ if !floats.is_empty() => AttrValue::Floats(floats),
            _ if !ints.is_empty() || other == 0 => AttrValue::Ints(ints),
            _ => AttrValue::Other(0),
        },
        ty => AttrValue::Other(ty),
    };
    Ok(Attribute { name, value })
}

pub(crate) fn tensor(buf: &[u8]) -> Result<TensorProto<'_>, String> {
    let mut t = TensorProto::default();
    for f in Fields::new(buf) {
        match f? {
            (1, w) => push_ints(w, &mut t.dims, "TensorProto.dims")?,
            (2, w) => t.data_type = int(w, "TensorProto.data_type")? as i32,
            (3, _) => t.segmented = true,
            (4, w) => push_floats(w, &mut t.float_data, "TensorProto.float_data")?,
            // int32_data holds INT8, UINT8, INT16, INT32 (...) values as int32 varints.
            (5, w) => {
                let from = t.int32_data.len();
                push_ints(w, &mut t.int32_data, "TensorProto.int32_data")?;
                t.int32_data[from..].iter_mut().for_each(|v| *v = *v as i32 as i64);
            }
            (7, w) => push_ints(w, &mut t.int64_data, "TensorProto.int64_data")?,
            (8, w) => t.name = string(w, "TensorProto.name")?,
            (9, w) => t.raw_data = Some(bytes(w, "TensorProto.raw_data")?),
            (10, w) => push_doubles(w, &mut t.double_data, "TensorProto.double_data")?,
            (14, w) => t.external = int(w, "TensorProto.data_location")? == 1,
            _ => {}
        }
    }
    Ok(t)
}

fn value_info(buf: &[u8]) -> Result<ValueInfo, String> {
    let mut v = ValueInfo::default();
    for f in Fields::new(buf) {
        match f? {
            (1, w) => v.name = string(w, "ValueInfoProto.name")?,
            (2, w) => {
                // TypeProto.tensor_type (1) -> Tensor { elem_type (1), shape (2) }.
                for f in Fields::new(bytes(w, "ValueInfoProto.type")?) {
                    if let (1, w) = f? {
                        for f in Fields::new(bytes(w, "TypeProto.tensor_type")?) {
                            match f? {
                                (1, w) => v.elem_type = int(w, "TypeProto.Tensor.elem_type")? as i32,
                                (2, w) => v.shape = Some(shape(bytes(w, "TypeProto.Tensor.shape")?)?),
                                _ => {}
                            }
                        }
                    }
                }
            }
            _ => {}
        }
    }
    Ok(v)
}

fn shape(buf: &[u8]) -> Result<Vec<Option<i64>>, String> {
    let mut dims = Vec::new();
    for f in Fields::new(buf) {
        if let (1, w) = f? {
            let mut d = None;
            for f in Fields::new(bytes(w, "TensorShapeProto.dim")?) {
                if let (1, w) = f? {
                    d = Some(int(w, "Dimension.dim_value")?);
                }
            }
            dims.push(d);
        }
    }
    Ok(dims)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// The other half of the wire format, enough to write test messages.
    #[derive(Default)]
    pub(crate) struct Enc(pub Vec<u8>);

    impl Enc {
        pub fn varint(&mut self, mut v: u64) -> &mut Self {
            loop {
                let b = (v & 0x7f) as u8;
                v >>= 7;
                if v == 0 {
                    self.0.push(b);
                    return self;
                }
                self.0.push(b | 0x80);
            }
        }
        pub fn int(&mut self, field: u32, v: i64) -> &mut Self {
            self.varint(u64::from(field) << 3).varint(v as u64)
        }
        pub fn bytes(&mut self, field: u32, b: &[u8]) -> &mut Self {
            self.varint(u64::from(field) << 3 | 2).varint(b.len() as u64);
            self.0.extend_from_slice(b);
            self
        }
        pub fn str(&mut self, field: u32, s: &str) -> &mut Self {
            self.bytes(field, s.as_bytes())
        }
        pub fn float(&mut self, field: u32, v: f32) -> &mut Self {
            self.varint(u64::from(field) << 3 | 5);
            self.0.extend_from_slice(&v.to_le_bytes());
            self
        }
        pub fn packed_ints(&mut self, field: u32, vs: &[i64]) -> &mut Self {
            let mut inner = Enc::default();
            vs.iter().for_each(|&v| {
                inner.varint(v as u64);
            });
            self.bytes(field, &inner.0)
        }
    }

    #[test]
    fn reads_varints_fixed_and_nested_fields() {
        let mut dims = Enc::default();
        dims.int(1, 2).int(1, 3); // unpacked repeated dims
        let mut t = Enc::default();
        t.0.extend_from_slice(&dims.0);
        t.int(2, dtype::INT8 as i64).packed_ints(5, &[-1, 127, -128, 0, 5, 6]).str(8, "w").int(99, 7); // unknown field skipped
        let parsed = tensor(&t.0).unwrap();
        assert_eq!(parsed.dims, vec![2, 3]);
        assert_eq!(parsed.data_type, dtype::INT8);
        assert_eq!(parsed.int32_data, vec![-1, 127, -128, 0, 5, 6]);
        assert_eq!(parsed.name, "w");

        let mut a = Enc::default();
        a.str(1, "alpha").float(2, 0.25).int(20, 1);
        let mut b = Enc::default();
        b.str(1, "pads").packed_ints(8, &[1, 1, 0, -1]).int(20, 7);
        let mut n = Enc::default();
        n.str(1, "x").str(1, "w").str(2, "y").str(3, "conv0").str(4, "Conv").bytes(5, &a.0).bytes(5, &b.0);
        let node = node(&n.0).unwrap();
        assert_eq!((node.inputs.len(), node.outputs[0].as_str(), node.op_type.as_str()), (2, "y", "Conv"));
        assert!(matches!(node.attributes[0].value, AttrValue::Float(v) if v == 0.25));
        assert!(matches!(&node.attributes[1].value, AttrValue::Ints(v) if v == &[1, 1, 0, -1]));
    }

    #[test]
    fn raw_and_typed_float_data() {
        let raw: Vec<u8> = [1.5f32, -2.0].iter().flat_map(|v| v.to_le_bytes()).collect();
        let mut t = Enc::default();
        t.packed_ints(1, &[2]).int(2, 1).bytes(9, &raw);
        assert_eq!(tensor(&t.0).unwrap().raw_data, Some(&raw[..]));
        let mut t = Enc::default();
        t.packed_ints(1, &[2]).int(2, 1).bytes(4, &raw).float(4, 3.0);
        assert_eq!(tensor(&t.0).unwrap().float_data, vec![1.5, -2.0, 3.0]);
    }

    #[test]
    fn truncated_and_corrupt_input_are_errors() {
        let mut n = Enc::default();
        n.str(3, "a node name").str(4, "Relu");
        for cut in 1..n.0.len() {
            if cut == 13 {
                continue; // the end of the first field: a valid, shorter message
            }
            assert!(node(&n.0[..cut]).is_err(), "cut at {cut}");
        }
        assert!(Fields::new(&[0x80; 11]).next().unwrap().is_err(), "an endless varint");
        assert!(Fields::new(&[0x0b]).next().unwrap().is_err(), "wire type 3 (group)");
        assert!(Fields::new(&[0x00, 0x00]).next().unwrap().is_err(), "field number 0");
        // One error ends the iteration.
        let mut f = Fields::new(&[0x0f, 0x08, 0x01]);
        assert!(f.next().unwrap().is_err());
        assert!(f.next().is_none());
    }
}
