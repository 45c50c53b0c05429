//! Thrift types, servers and clients generated from `idl/` at build time.
//! Nothing here is written by hand but the `BizException` trait: edit the IDL instead.
#![allow(clippy::all, missing_docs, unused)]

mod r#gen {
    include!(concat!(env!("OUT_DIR"), "/volo_gen.rs"));
}

pub use r#gen::volo_gen::*;

/// A method's exception enum, which always wraps the one `base.BizError`.
pub trait BizException: Sized {
    fn from_biz(e: base::BizError) -> Self;
    fn into_biz(self) -> base::BizError;
}

include!(concat!(env!("OUT_DIR"), "/exceptions.rs"));
