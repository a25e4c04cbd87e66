//! Four float32 lanes: one SIMD128 register in the browser's SIMD build, a plain array the
//! native compiler vectorises elsewhere (and the plain wasm build runs lane by lane).
//!
//! Why not leave it to the auto-vectoriser, as the element-wise loops do: the depthwise
//! kernel must keep its nine weight vectors in registers for a whole row, and the compiler
//! only does that when the loop is written over registers.

#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
mod imp {
    use core::arch::wasm32::*;

    #[derive(Clone, Copy)]
    pub struct F4(v128);

    impl F4 {
        /// # Safety
        /// `p` points to four readable f32 (no alignment needed).
        #[inline(always)]
        pub unsafe fn load(p: *const f32) -> Self {
            F4(unsafe { v128_load(p as *const v128) })
        }

        /// # Safety
        /// `p` points to four writable f32 (no alignment needed).
        #[inline(always)]
        pub unsafe fn store(self, p: *mut f32) {
            unsafe { v128_store(p as *mut v128, self.0) }
        }

        /// `self + a * b`, rounded twice (SIMD128 has no fused multiply-add).
        #[inline(always)]
        pub fn mul_add(self, a: F4, b: F4) -> F4 {
            F4(f32x4_add(self.0, f32x4_mul(a.0, b.0)))
        }

        /// `x > lo ? x : lo`, NaN to `lo`, as `Activation::apply` does.
        #[inline(always)]
        pub fn at_least(self, lo: f32) -> F4 {
            F4(f32x4_pmax(f32x4_splat(lo), self.0))
        }

        /// `x < hi ? x : hi`.
        #[inline(always)]
        pub fn at_most(self, hi: f32) -> F4 {
            F4(f32x4_pmin(f32x4_splat(hi), self.0))
        }
    }
}

#[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
mod imp {
    #[derive(Clone, Copy)]
    pub struct F4([f32; 4]);

    impl F4 {
        /// # Safety
        /// `p` points to four readable f32.
        #[inline(always)]
        pub unsafe fn load(p: *const f32) -> Self {
            F4(unsafe { (p as *const [f32; 4]).read_unaligned() })
        }

        /// # Safety
        /// `p` points to four writable f32.
        #[inline(always)]
        pub unsafe fn store(self, p: *mut f32) {
            unsafe { (p as *mut [f32; 4]).write_unaligned(self.0) }
        }

        #[inline(always)]
        pub fn mul_add(self, a: F4, b: F4) -> F4 {
            F4(std::array::from_fn(|i| self.0[i] + a.0[i] * b.0[i]))
        }

        #[inline(always)]
        pub fn at_least(self, lo: f32) -> F4 {
            F4(self.0.map(|v| if v > lo { v } else { lo }))
        }

        #[inline(always)]
        pub fn at_most(self, hi: f32) -> F4 {
            F4(self.0.map(|v| if v < hi { v } else { hi }))
        }
    }
}

pub(crate) use imp::F4;
