//! The business outcome of a Thrift call, noted where a handler's error becomes the
//! `BizError` exception (`fanone_errno::to_rpc`) and read by the server's metrics
//! layer, which cannot look inside the generated response types. It lives in the
//! request's metainfo, so it is per call.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct BizCode(i32);

/// Note that the current call answers business error `code`.
pub fn note_error(code: i32) {
    let _ = metainfo::METAINFO.try_with(|m| m.borrow_mut().insert(BizCode(code)));
}

/// The business error code the current call answered, if any.
pub fn error_code() -> Option<i32> {
    metainfo::METAINFO
        .try_with(|m| m.borrow().get::<BizCode>().map(|c| c.0))
        .ok()
        .flatten()
}
